-- Readable views: what `pipemon query NAME` prints is `SELECT * FROM NAME` (plus
-- filters), so a person at a sqlite3 prompt sees the same rows. Times are shown as
-- RFC 3339 UTC with milliseconds; durations stay in milliseconds.

-- One row per run (skips rows that hold only OpenLineage OTHER facets).
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
       strftime('%Y-%m-%dT%H:%M:%fZ', r.scheduled_at / 1000.0, 'unixepoch') AS scheduled_at
FROM run_state r
WHERE r.first_event_at IS NOT NULL;

-- Final failures, newest first.
CREATE VIEW failures AS
SELECT r.pipeline_id,
       coalesce(p.team_override, p.team, 'unowned')                     AS team,
       r.run_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', r.term_ts / 1000.0, 'unixepoch')   AS failed_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', r.start_at / 1000.0, 'unixepoch')  AS started_at,
       r.max_attempt                                                    AS attempts,
       coalesce(r.term_error_type, r.err_type)                          AS error_type,
       coalesce(r.term_error_message, r.err_message)                    AS error_message,
       r.task_id,
       r.duration_ms
FROM run_state r
JOIN pipelines p USING (pipeline_id)
WHERE r.term_status = 'failed'
ORDER BY r.term_ts DESC, r.pipeline_id, r.run_id;

-- Per pipeline health. Counts and durations come from pipeline_stats (kept current
-- by import); runs_last_24h counts runs started in the 24 h before the latest event
-- in the database, and open_alerts the pipeline's firing alerts.
CREATE VIEW pipeline_health AS
SELECT p.pipeline_id,
       coalesce(p.team_override, p.team, 'unowned')                     AS team,
       coalesce(p.priority_override, p.priority, 'medium')              AS priority,
       coalesce(p.environment_override, p.environment)                  AS environment,
       coalesce(s.runs_total, 0)                                        AS runs_total,
       coalesce(s.runs_success, 0)                                      AS runs_success,
       coalesce(s.runs_failed, 0)                                       AS runs_failed,
       coalesce(s.runs_cancelled, 0)                                    AS runs_cancelled,
       coalesce(s.runs_skipped, 0)                                      AS runs_skipped,
       coalesce(s.runs_in_progress, 0)                                  AS runs_in_progress,
       round(1.0 * s.runs_success / nullif(s.runs_success + s.runs_failed, 0), 4) AS success_rate,
       coalesce(s.consecutive_failures, 0)                              AS consecutive_failures,
       round(1.0 * s.runs_retried / nullif(s.runs_success + s.runs_failed, 0), 4) AS retry_rate,
       coalesce(s.runs_retried, 0)                                      AS runs_retried,
       s.last_status,
       strftime('%Y-%m-%dT%H:%M:%fZ', s.last_run_at / 1000.0, 'unixepoch')     AS last_run_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', s.last_success_at / 1000.0, 'unixepoch') AS last_success_at,
       s.duration_p50_ms,
       s.duration_p95_ms,
       s.duration_max_ms,
       round(s.avg_records, 1)                                          AS avg_records,
       (SELECT count(*) FROM run_state r
         WHERE r.pipeline_id = p.pipeline_id
           AND r.start_at > (SELECT value FROM meta WHERE key = 'data_end') - 86400000
           AND r.first_event_at IS NOT NULL)                            AS runs_last_24h,
       (SELECT count(*) FROM alerts a
         WHERE a.pipeline_id = p.pipeline_id AND a.status = 'firing')   AS open_alerts
FROM pipelines p
LEFT JOIN pipeline_stats s USING (pipeline_id);

-- Health rolled up per owning team.
CREATE VIEW team_health AS
SELECT team,
       count(*)                                                         AS pipelines,
       sum(runs_total)                                                  AS runs_total,
       sum(runs_success)                                                AS runs_success,
       sum(runs_failed)                                                 AS runs_failed,
       sum(runs_cancelled)                                              AS runs_cancelled,
       sum(runs_skipped)                                                AS runs_skipped,
       sum(runs_in_progress)                                            AS runs_in_progress,
       round(1.0 * sum(runs_success) / nullif(sum(runs_success) + sum(runs_failed), 0), 4) AS success_rate,
       round(1.0 * sum(runs_retried) / nullif(sum(runs_success) + sum(runs_failed), 0), 4) AS retry_rate,
       sum(consecutive_failures > 0)                                    AS pipelines_failing,
       max(last_run_at)                                                 AS last_run_at,
       max(last_success_at)                                             AS last_success_at,
       sum(runs_last_24h)                                               AS runs_last_24h,
       sum(open_alerts)                                                 AS open_alerts
FROM pipeline_health
GROUP BY team;

-- How each pipeline runs: cadence (median gap between run starts, and the declared
-- schedule), the most common start hour (UTC), runs per weekday, mean time between
-- failures (first to last final failure, over the gaps) and mean time to recovery
-- (first failure of an episode → the success that ends it).
CREATE VIEW execution_patterns AS
WITH r AS (
    SELECT pipeline_id, start_at, ended_at, outcome,
           lag(start_at) OVER (PARTITION BY pipeline_id ORDER BY start_at, run_id) AS prev_start
    FROM run_state
    WHERE first_event_at IS NOT NULL
),
gaps AS (
    SELECT pipeline_id, start_at - prev_start AS gap,
           row_number() OVER (PARTITION BY pipeline_id ORDER BY start_at - prev_start) AS rn,
           count(*) OVER (PARTITION BY pipeline_id) AS n
    FROM r
    WHERE prev_start IS NOT NULL
),
cadence AS (
    SELECT pipeline_id, gap AS median_interval_ms FROM gaps WHERE rn = (n + 1) / 2
),
hours AS (
    SELECT pipeline_id, CAST(strftime('%H', start_at / 1000, 'unixepoch') AS INTEGER) AS hour,
           count(*) AS c
    FROM r GROUP BY 1, 2
),
top_hour AS (
    SELECT pipeline_id, hour
    FROM (SELECT pipeline_id, hour,
                 row_number() OVER (PARTITION BY pipeline_id ORDER BY c DESC, hour) AS rn
          FROM hours)
    WHERE rn = 1
),
days AS (
    SELECT pipeline_id,
           count(*) AS runs,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '1') AS mon,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '2') AS tue,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '3') AS wed,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '4') AS thu,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '5') AS fri,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '6') AS sat,
           sum(strftime('%w', start_at / 1000, 'unixepoch') = '0') AS sun,
           (max(CASE WHEN outcome = 'failed' THEN ended_at END)
              - min(CASE WHEN outcome = 'failed' THEN ended_at END))
             / nullif(sum(outcome = 'failed') - 1, 0) AS mtbf_ms
    FROM r GROUP BY pipeline_id
),
finished AS (
    SELECT pipeline_id, outcome, ended_at,
           sum(outcome = 'success') OVER (PARTITION BY pipeline_id ORDER BY start_at
                                          ROWS UNBOUNDED PRECEDING)
             - (outcome = 'success') AS episode
    FROM r
    WHERE outcome IN ('success', 'failed')
),
episodes AS (
    SELECT pipeline_id,
           min(CASE WHEN outcome = 'failed' THEN ended_at END)  AS failed_at,
           min(CASE WHEN outcome = 'success' THEN ended_at END) AS recovered_at
    FROM finished GROUP BY pipeline_id, episode
),
recovery AS (
    SELECT pipeline_id, CAST(avg(recovered_at - failed_at) AS INTEGER) AS mttr_ms,
           count(*) AS recoveries
    FROM episodes
    WHERE failed_at IS NOT NULL AND recovered_at IS NOT NULL
    GROUP BY pipeline_id
)
SELECT p.pipeline_id,
       coalesce(p.team_override, p.team, 'unowned') AS team,
       p.schedule                                   AS declared_schedule,
       cadence.median_interval_ms,
       top_hour.hour                                AS typical_start_hour_utc,
       coalesce(days.runs, 0)                       AS runs,
       coalesce(days.mon, 0) AS runs_mon, coalesce(days.tue, 0) AS runs_tue,
       coalesce(days.wed, 0) AS runs_wed, coalesce(days.thu, 0) AS runs_thu,
       coalesce(days.fri, 0) AS runs_fri, coalesce(days.sat, 0) AS runs_sat,
       coalesce(days.sun, 0) AS runs_sun,
       days.mtbf_ms,
       recovery.mttr_ms,
       coalesce(recovery.recoveries, 0)             AS recoveries
FROM pipelines p
LEFT JOIN cadence  USING (pipeline_id)
LEFT JOIN top_hour USING (pipeline_id)
LEFT JOIN days     USING (pipeline_id)
LEFT JOIN recovery USING (pipeline_id);

-- Rejected input lines, readable.
CREATE VIEW rejected AS
SELECT id, source, line, reason, message,
       strftime('%Y-%m-%dT%H:%M:%fZ', rejected_at / 1000.0, 'unixepoch') AS rejected_at,
       raw
FROM rejected_events;
