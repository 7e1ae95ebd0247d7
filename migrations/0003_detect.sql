-- pipemon schema, version 3: detection bookkeeping.
--
-- `evaluations` records every `pipemon evaluate` (its as-of time, what it saw and
-- what it changed), so a later evaluation can refuse to go back in time and can
-- tell whether the saved detector state matches the data it will read.
-- `detector_state` holds each pipeline's detectors checkpointed after the last run
-- that was final, so an incremental evaluation reads only newer runs.

CREATE TABLE evaluations (
    id            INTEGER PRIMARY KEY,
    now           INTEGER NOT NULL,
    data_end      INTEGER,
    -- 'full' (every pipeline from its first run), 'incremental' (resumed from
    -- checkpoints), 'as_of' (runs rebuilt from events up to `now`).
    mode          TEXT    NOT NULL CHECK (mode IN ('full', 'incremental', 'as_of')),
    config_digest TEXT    NOT NULL,
    evaluated_at  INTEGER NOT NULL,
    elapsed_ms    INTEGER NOT NULL,
    pipelines     INTEGER NOT NULL,
    runs          INTEGER NOT NULL,
    opened        INTEGER NOT NULL,
    resolved      INTEGER NOT NULL,
    firing        INTEGER NOT NULL
) STRICT;

-- Detector checkpoints: the state after observing every run up to (cursor_start,
-- cursor_run) in start order; `state` is the binary encoding of engine::PipelineState.
CREATE TABLE detector_state (
    pipeline_id   TEXT    PRIMARY KEY NOT NULL,
    config_digest TEXT    NOT NULL,
    cursor_start  INTEGER NOT NULL,
    cursor_run    TEXT    NOT NULL,
    state         BLOB    NOT NULL
) STRICT;

-- Memoised error signatures (normalising text is the costly part of systemic
-- detection): keyed by a digest of (error_type, error_message).
CREATE TABLE error_signatures (
    text_hash  INTEGER PRIMARY KEY NOT NULL,
    signature  TEXT    NOT NULL
) STRICT;

-- Serves reconciliation (find the alert of one episode: fingerprint + start), and
-- makes a doubled alert impossible: one row per episode of a condition.
CREATE UNIQUE INDEX alerts_by_fingerprint_start ON alerts (fingerprint, started_at);
