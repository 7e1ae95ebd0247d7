-- pipemon schema: a run's start when its `started` event never arrived, and the
-- wall time of a retried run's final attempt.
--
-- start_at was coalesce(started_at, first_event_at): a run whose `started` was lost
-- seemed to start when its first surviving event (often the terminal one) arrived,
-- which made on-time runs look late or missed. The best estimate is now, in order:
-- the first `started` event ('started'); the deciding terminal event's time minus
-- its duration_ms ('duration'); the scheduled (nominal) time ('scheduled'); the
-- earliest event ('first_event'). A derived start is never later than the run's
-- earliest event. start_source names the rule that gave start_at.
--
-- start_at is a VIRTUAL generated column, so no row is rewritten: only the stored
-- CREATE TABLE text changes (as in 0005), and the two indexes on start_at are
-- rebuilt, since their keys were computed with the old expression.

-- An earlier migration may have rewritten the stored CREATE TABLE text on this
-- same connection (0005 does); ALTER TABLE ADD COLUMN edits that text at offsets
-- taken from the parsed schema, so the schema is reloaded first.
PRAGMA writable_schema = RESET;

-- The latest `started` and the latest `retrying` event (max merges, like the other
-- columns): the final attempt began at the later of the two. The latest `running`
-- event and the count of them: when a run last showed signs of life, and how often
-- its heartbeats come (stuck-run detection).
ALTER TABLE run_state ADD COLUMN last_started_at INTEGER;
ALTER TABLE run_state ADD COLUMN last_retry_at INTEGER;
ALTER TABLE run_state ADD COLUMN last_running_at INTEGER;
ALTER TABLE run_state ADD COLUMN n_running INTEGER NOT NULL DEFAULT 0;

ALTER TABLE run_state ADD COLUMN start_source TEXT GENERATED ALWAYS AS (
    CASE WHEN started_at IS NOT NULL THEN 'started'
         WHEN term_ts - term_duration_ms IS NOT NULL AND first_event_at IS NOT NULL
              THEN 'duration'
         WHEN scheduled_at IS NOT NULL AND first_event_at IS NOT NULL THEN 'scheduled'
         ELSE 'first_event' END) VIRTUAL;

-- The final attempt's wall time: the whole duration for a run without retries;
-- for a retried run, from the later of its latest `started` and latest `retrying`
-- event to its terminal event; NULL while running or when the events do not show it.
ALTER TABLE run_state ADD COLUMN final_attempt_ms INTEGER GENERATED ALWAYS AS (
    CASE WHEN term_ts IS NULL THEN NULL
         WHEN retries = 0 THEN duration_ms
         WHEN max(coalesce(last_started_at, last_retry_at), coalesce(last_retry_at, last_started_at))
              <= term_ts
              THEN term_ts - max(coalesce(last_started_at, last_retry_at),
                                 coalesce(last_retry_at, last_started_at))
         END) VIRTUAL;

PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
    'start_at    INTEGER GENERATED ALWAYS AS (coalesce(started_at, first_event_at)) VIRTUAL,',
    'start_at    INTEGER GENERATED ALWAYS AS (
                    coalesce(started_at,
                             min(term_ts - term_duration_ms, first_event_at),
                             min(scheduled_at, first_event_at),
                             first_event_at)) VIRTUAL,')
WHERE type = 'table' AND name = 'run_state';

-- RESET also makes this connection reload the schema, so that REINDEX below
-- computes keys with the new expression.
PRAGMA writable_schema = RESET;

-- Rows written before this version: the new columns from their events.
UPDATE run_state
SET last_started_at = e.last_started_at, last_retry_at = e.last_retry_at,
    last_running_at = e.last_running_at, n_running = e.n_running
FROM (SELECT pipeline_id, run_id,
             max(CASE WHEN status = 'started' THEN ts END)  AS last_started_at,
             max(CASE WHEN status = 'retrying' THEN ts END) AS last_retry_at,
             max(CASE WHEN status = 'running' THEN ts END)  AS last_running_at,
             count(CASE WHEN status = 'running' THEN 1 END) AS n_running
      FROM events
      WHERE status = 'started' OR status = 'retrying' OR status = 'running'
      GROUP BY pipeline_id, run_id) AS e
WHERE run_state.pipeline_id = e.pipeline_id AND run_state.run_id = e.run_id;

REINDEX runs_by_pipeline_start;
REINDEX runs_in_progress;

DROP VIEW runs;

-- One row per run (skips rows that hold only OpenLineage OTHER facets). started_at
-- is the best estimate of the start; start_source says where it came from.
CREATE VIEW runs AS
SELECT r.pipeline_id,
       r.run_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', r.start_at / 1000.0, 'unixepoch')  AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', r.ended_at / 1000.0, 'unixepoch')  AS ended_at,
       r.outcome,
       r.max_attempt                                                    AS attempts,
       r.retries,
       r.duration_ms,
       r.records_processed,
       coalesce(r.term_error_type, r.err_type)                          AS error_type,
       coalesce(r.term_error_message, r.err_message)                    AS error_message,
       r.task_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', r.scheduled_at / 1000.0, 'unixepoch') AS scheduled_at,
       r.start_source,
       r.final_attempt_ms
FROM run_state r
WHERE r.first_event_at IS NOT NULL;
