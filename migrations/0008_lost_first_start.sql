-- pipemon schema: a retried run whose first attempt's `started` was lost.
--
-- start_at took the first `started` event whenever there was one. When the first
-- attempt's `started` never arrived but its `running` or `retrying` events did, the
-- first `started` is the second attempt's: the run seemed to begin at its retry, which
-- made an on-time run look late (a false missed_run) and shortened what the start
-- says of it. A `started` that follows earlier events of a run that was retried
-- (an attempt above 1, or a `retrying` event) is no longer the run's start; the
-- other rules apply, as for a run with no `started` at all: the deciding terminal
-- event's time minus its duration_ms (which covers every attempt), the scheduled
-- time, the earliest event, each no later than the earliest event. A run that was
-- not retried keeps its `started` even after an earlier event (an OpenLineage
-- OTHER facet may come before START).
--
-- As in 0007, start_at and start_source are VIRTUAL generated columns: only the
-- stored CREATE TABLE text changes, and the indexes on start_at are rebuilt.

PRAGMA writable_schema = RESET;
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(replace(sql,
    'coalesce(started_at,',
    'coalesce(CASE WHEN NOT (coalesce(first_event_at < started_at, 0)
                                       AND (max_attempt > 1 OR n_retrying > 0))
                                  THEN started_at END,'),
    'CASE WHEN started_at IS NOT NULL THEN ''started''',
    'CASE WHEN started_at IS NOT NULL
              AND NOT (coalesce(first_event_at < started_at, 0)
                       AND (max_attempt > 1 OR n_retrying > 0)) THEN ''started''')
WHERE type = 'table' AND name = 'run_state';

PRAGMA writable_schema = RESET;

REINDEX runs_by_pipeline_start;
REINDEX runs_in_progress;
