-- pipemon schema, version 1: events, runs, pipelines, rejected lines, imports, alerts.
--
-- Timestamps are INTEGER epoch milliseconds (UTC) in every table; the views in
-- 0002_views.sql show them as RFC 3339 text for people at a sqlite3 prompt.
-- Runs and pipelines are materialised from events by merges that are commutative
-- (min/max over a total order), so the same set of events gives the same rows in
-- whatever order the lines arrive.

-- One row per import of one input (a file or standard input).
CREATE TABLE imports (
    id           INTEGER PRIMARY KEY,
    source       TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    lines        INTEGER NOT NULL DEFAULT 0,
    blank        INTEGER NOT NULL DEFAULT 0,
    inserted     INTEGER NOT NULL DEFAULT 0,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    rejected     INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Every accepted event, once. The primary key is the deduplication key: a repeated
-- (pipeline_id, event_key) is a duplicate delivery. event_key is the event's
-- event_id, or 'h:' + a hash of its canonical JSON when it has none. Clustering on
-- pipeline_id also makes "events of one pipeline up to time T" a range scan
-- (evaluate --now T before the end of the data).
CREATE TABLE events (
    pipeline_id       TEXT    NOT NULL,
    event_key         TEXT    NOT NULL,
    run_id            TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN
                        ('started','running','success','failed','retrying','cancelled','skipped','other')),
    ts                INTEGER NOT NULL,
    attempt           INTEGER NOT NULL CHECK (attempt >= 1),
    duration_ms       INTEGER CHECK (duration_ms >= 0),
    records_processed INTEGER CHECK (records_processed >= 0),
    error_type        TEXT,
    error_message     TEXT,
    task_id           TEXT,
    scheduled_at      INTEGER,
    extra             TEXT CHECK (extra IS NULL OR json_valid(extra)),
    import_id         INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, event_key)
) STRICT, WITHOUT ROWID;

-- One row per run, merged from its events (the readable view is `runs`). term_* describe the deciding terminal
-- event: the greatest by (term_ts, term_attempt, term_rank, term_key), where term_rank
-- orders failed(3) > cancelled(2) > skipped(1) > success(0). The other columns are
-- min/max/count merges. Generated columns give the readable answers.
CREATE TABLE run_state (
    pipeline_id      TEXT    NOT NULL,
    run_id           TEXT    NOT NULL,
    -- Earliest state-changing event. NULL while the run has only OpenLineage OTHER
    -- events (facets without state): such a row is not yet a run, and every reader
    -- of run_state (the `runs` view, the detectors) skips it.
    first_event_at   INTEGER,
    last_event_at    INTEGER NOT NULL,
    started_at       INTEGER,
    scheduled_at     INTEGER,
    max_attempt      INTEGER NOT NULL DEFAULT 1,
    n_events         INTEGER NOT NULL DEFAULT 0,
    n_retrying       INTEGER NOT NULL DEFAULT 0,
    n_failed_terms   INTEGER NOT NULL DEFAULT 0,
    max_records      INTEGER,
    term_ts          INTEGER,
    term_attempt     INTEGER,
    term_rank        INTEGER,
    term_key         TEXT,
    term_status      TEXT CHECK (term_status IN ('success','failed','cancelled','skipped')),
    term_duration_ms INTEGER,
    term_records     INTEGER,
    term_error_type  TEXT,
    term_error_message TEXT,
    err_ts           INTEGER,
    err_key          TEXT,
    err_type         TEXT,
    err_message      TEXT,
    task_ts          INTEGER,
    task_key         TEXT,
    task_id          TEXT,
    -- Readable, derived.
    outcome     TEXT    GENERATED ALWAYS AS (coalesce(term_status, 'running')) VIRTUAL,
    start_at    INTEGER GENERATED ALWAYS AS (coalesce(started_at, first_event_at)) VIRTUAL,
    ended_at    INTEGER GENERATED ALWAYS AS (term_ts) VIRTUAL,
    duration_ms INTEGER GENERATED ALWAYS AS (
                    coalesce(term_duration_ms,
                             CASE WHEN term_ts IS NOT NULL AND started_at IS NOT NULL
                                  THEN max(term_ts - started_at, 0) END)) VIRTUAL,
    records_processed INTEGER GENERATED ALWAYS AS (coalesce(term_records, max_records)) VIRTUAL,
    retries     INTEGER GENERATED ALWAYS AS (
                    max(max_attempt - 1, n_retrying,
                        n_failed_terms - (CASE WHEN term_status = 'failed' THEN 1 ELSE 0 END))) VIRTUAL,
    PRIMARY KEY (pipeline_id, run_id)
) STRICT, WITHOUT ROWID;

-- Serves the detectors' per-pipeline history scan (runs of P ordered by start),
-- `query runs --pipeline P`, and runs_last_24h in pipeline_health.
CREATE INDEX runs_by_pipeline_start ON run_state (pipeline_id, start_at);

-- Serves `query failures` (recent final failures, newest first) and systemic
-- failure detection (final failures in a time window).
CREATE INDEX runs_failed_by_end ON run_state (term_ts) WHERE term_status = 'failed';

-- Serves stuck-run detection: runs with no terminal event.
CREATE INDEX runs_in_progress ON run_state (pipeline_id, start_at) WHERE term_status IS NULL;

-- Pipeline attributes: each the value of the latest event (by event time) that
-- carried it; *_ts is that event's time (ties broken by the greater value).
CREATE TABLE pipelines (
    pipeline_id    TEXT    PRIMARY KEY NOT NULL,
    team           TEXT,
    team_ts        INTEGER,
    priority       TEXT CHECK (priority IN ('critical','high','medium','low')),
    priority_ts    INTEGER,
    environment    TEXT,
    environment_ts INTEGER,
    schedule       TEXT,
    schedule_ts    INTEGER,
    upstream       TEXT CHECK (upstream IS NULL OR json_valid(upstream)),
    upstream_ts    INTEGER,
    streaming      INTEGER CHECK (streaming IN (0, 1)),
    streaming_ts   INTEGER,
    first_event_at INTEGER NOT NULL,
    last_event_at  INTEGER NOT NULL,
    -- Set from the configuration's ownership rules (they win over events).
    team_override        TEXT,
    priority_override    TEXT CHECK (priority_override IN ('critical','high','medium','low')),
    environment_override TEXT
) STRICT;

-- Health figures per pipeline over all history, refreshed by each import for the
-- pipelines it touched (the `pipeline_health` view reads them; `query
-- pipeline_health --since T` computes the same columns on the fly).
CREATE TABLE pipeline_stats (
    pipeline_id          TEXT    PRIMARY KEY NOT NULL,
    runs_total           INTEGER NOT NULL,
    runs_success         INTEGER NOT NULL,
    runs_failed          INTEGER NOT NULL,
    runs_cancelled       INTEGER NOT NULL,
    runs_skipped         INTEGER NOT NULL,
    runs_in_progress     INTEGER NOT NULL,
    runs_retried         INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    last_status          TEXT,
    last_run_at          INTEGER,
    last_success_at      INTEGER,
    duration_p50_ms      INTEGER,
    duration_p95_ms      INTEGER,
    duration_max_ms      INTEGER,
    avg_records          REAL
) STRICT;

-- Pipelines whose pipeline_stats row is out of date: written in the same
-- transaction as the events that made it so, cleared when the stats are refreshed
-- (at the end of each import, or by the next command that reads health).
CREATE TABLE stats_stale (
    pipeline_id TEXT PRIMARY KEY NOT NULL
) STRICT;

-- Pipelines whose runs changed since the last evaluation, with the earliest start
-- of a changed run: evaluate re-examines only these, from that point on.
CREATE TABLE pending_changes (
    pipeline_id    TEXT    PRIMARY KEY NOT NULL,
    earliest_start INTEGER NOT NULL
) STRICT;

-- Small facts about the whole database (data_end: the latest event time seen).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value ANY
) STRICT;

-- Lines that could not be accepted, with why and their raw text. The same raw
-- line is recorded once, however often it is imported.
CREATE TABLE rejected_events (
    id          INTEGER PRIMARY KEY,
    raw_hash    TEXT    NOT NULL UNIQUE,
    source      TEXT    NOT NULL,
    line        INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    import_id   INTEGER NOT NULL,
    rejected_at INTEGER NOT NULL
) STRICT;

-- Serves `pipemon rejected --reason R`.
CREATE INDEX rejected_by_reason ON rejected_events (reason, id);

-- Alerts and their lifecycle. One row per episode of a condition: fingerprint is the
-- condition's identity (kind + pipeline, + signature for systemic_failure); a
-- condition that returns after resolving is a new row with the same fingerprint.
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN
                    ('pipeline_failed','consecutive_failures','failure_rate_spike',
                     'duration_anomaly','performance_degradation','volume_anomaly',
                     'stuck_run','missed_run','systemic_failure')),
    severity      TEXT    NOT NULL CHECK (severity IN ('low','medium','high','critical')),
    status        TEXT    NOT NULL CHECK (status IN ('firing','resolved')),
    pipeline_id   TEXT,
    team          TEXT    NOT NULL,
    environment   TEXT,
    priority      TEXT,
    run_id        TEXT,
    started_at    INTEGER NOT NULL,
    resolved_at   INTEGER,
    last_seen_at  INTEGER NOT NULL,
    occurrences   INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    summary       TEXT    NOT NULL,
    details       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    receivers     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(receivers)),
    silenced      INTEGER NOT NULL DEFAULT 0 CHECK (silenced IN (0, 1)),
    inhibited     INTEGER NOT NULL DEFAULT 0 CHECK (inhibited IN (0, 1)),
    acked_at      INTEGER,
    ack_comment   TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK (status = 'firing' OR resolved_at IS NOT NULL)
) STRICT;

-- One open alert per condition; also serves the lookup of a condition's open alert.
CREATE UNIQUE INDEX alerts_open_by_fingerprint ON alerts (fingerprint) WHERE status = 'firing';

-- Serves open_alerts in pipeline_health and `pipemon alerts --pipeline P`.
CREATE INDEX alerts_by_pipeline ON alerts (pipeline_id, status);

-- Serves `pipemon alerts` (firing, newest first) and `--all`.
CREATE INDEX alerts_by_status_start ON alerts (status, started_at);
