-- Health aggregates for the pipelines in temp.stats_scope, over runs that started at
-- or after :since. Durations and percentiles use successful runs (a failed run's
-- duration is where it broke, not how long the work takes); percentiles are nearest
-- rank. The current failure streak counts final failures after the latest success
-- (cancelled and skipped runs neither extend nor break it).
INSERT INTO pipeline_stats (pipeline_id, runs_total, runs_success, runs_failed,
    runs_cancelled, runs_skipped, runs_in_progress, runs_retried, consecutive_failures,
    last_status, last_run_at, last_success_at, duration_p50_ms, duration_p95_ms,
    duration_max_ms, avg_records)
WITH r AS (
    SELECT pipeline_id, run_id, outcome, start_at, ended_at, duration_ms,
           records_processed, retries
    FROM run_state
    WHERE pipeline_id IN (SELECT pipeline_id FROM temp.stats_scope)
      AND first_event_at IS NOT NULL
      AND start_at >= :since
),
agg AS (
    SELECT pipeline_id,
           count(*)                                   AS runs_total,
           sum(outcome = 'success')                   AS runs_success,
           sum(outcome = 'failed')                    AS runs_failed,
           sum(outcome = 'cancelled')                 AS runs_cancelled,
           sum(outcome = 'skipped')                   AS runs_skipped,
           sum(outcome = 'running')                   AS runs_in_progress,
           sum(retries > 0 AND outcome IN ('success', 'failed')) AS runs_retried,
           max(start_at)                              AS last_run_at,
           max(CASE WHEN outcome = 'success' THEN ended_at END) AS last_success_at,
           max(CASE WHEN outcome = 'success' THEN start_at END) AS last_success_start,
           max(CASE WHEN outcome = 'success' THEN duration_ms END) AS duration_max_ms,
           avg(CASE WHEN outcome = 'success' THEN records_processed END) AS avg_records
    FROM r
    GROUP BY pipeline_id
),
streak AS (
    SELECT r.pipeline_id, count(*) AS n
    FROM r JOIN agg USING (pipeline_id)
    WHERE r.outcome = 'failed'
      AND (agg.last_success_start IS NULL OR r.start_at > agg.last_success_start)
    GROUP BY r.pipeline_id
),
latest AS (
    SELECT pipeline_id, outcome AS last_status
    FROM (SELECT pipeline_id, outcome,
                 row_number() OVER (PARTITION BY pipeline_id
                                    ORDER BY start_at DESC, run_id DESC) AS rn
          FROM r)
    WHERE rn = 1
),
ranked AS (
    SELECT pipeline_id, duration_ms,
           row_number() OVER (PARTITION BY pipeline_id ORDER BY duration_ms) AS rn,
           count(*) OVER (PARTITION BY pipeline_id) AS n
    FROM r
    WHERE outcome = 'success' AND duration_ms IS NOT NULL
),
pct AS (
    SELECT pipeline_id,
           max(CASE WHEN rn = (50 * n + 99) / 100 THEN duration_ms END) AS p50,
           max(CASE WHEN rn = (95 * n + 99) / 100 THEN duration_ms END) AS p95
    FROM ranked
    GROUP BY pipeline_id
)
SELECT s.pipeline_id,
       coalesce(agg.runs_total, 0), coalesce(agg.runs_success, 0),
       coalesce(agg.runs_failed, 0), coalesce(agg.runs_cancelled, 0),
       coalesce(agg.runs_skipped, 0), coalesce(agg.runs_in_progress, 0),
       coalesce(agg.runs_retried, 0), coalesce(streak.n, 0),
       latest.last_status, agg.last_run_at, agg.last_success_at,
       pct.p50, pct.p95, agg.duration_max_ms, agg.avg_records
FROM temp.stats_scope s
LEFT JOIN agg USING (pipeline_id)
LEFT JOIN streak USING (pipeline_id)
LEFT JOIN latest USING (pipeline_id)
LEFT JOIN pct USING (pipeline_id)
WHERE s.pipeline_id IN (SELECT pipeline_id FROM pipelines)
