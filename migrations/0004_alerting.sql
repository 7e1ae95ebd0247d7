-- pipemon schema: alerting state. Silences, notification groups and their members,
-- the notification log (what each group last told each receiver), the outbox of
-- notifications with their delivery attempts, and what was forwarded to Alertmanagers.
-- Times are INTEGER epoch milliseconds (UTC).

-- Silences: label matchers (a JSON array of `label=value` … strings) with a start and
-- an end. `silence expire` sets ends_at to the moment of expiry.
CREATE TABLE silences (
    id          INTEGER PRIMARY KEY,
    matchers    TEXT    NOT NULL CHECK (json_valid(matchers)),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    author      TEXT,
    created_at  INTEGER NOT NULL,
    expired_at  INTEGER,
    CHECK (ends_at >= starts_at)
) STRICT;

-- Serves the lookup of silences active at time T (ends_at > T) and `silence list`.
CREATE INDEX silences_by_end ON silences (ends_at);

-- Aggregation groups: alerts routed through one route to one receiver with the same
-- group_by label values. next_flush_at is when the group is next examined (group_wait
-- after creation, then every group_interval).
CREATE TABLE notify_groups (
    group_key     TEXT    PRIMARY KEY NOT NULL,
    receiver      TEXT    NOT NULL,
    route_path    TEXT    NOT NULL,
    group_labels  TEXT    NOT NULL CHECK (json_valid(group_labels)),
    created_at    INTEGER NOT NULL,
    next_flush_at INTEGER NOT NULL,
    -- Notifications queued for this group so far: numbers their dedup keys.
    seq           INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Serves the scan for groups due at time T.
CREATE INDEX notify_groups_due ON notify_groups (next_flush_at);

-- The alerts of each group, one per fingerprint (a flapping condition's new alert
-- takes its predecessor's place). notified: its firing was included in a queued
-- notification of this group, so its resolution is owed.
CREATE TABLE notify_members (
    group_key   TEXT    NOT NULL REFERENCES notify_groups (group_key) ON DELETE CASCADE,
    fingerprint TEXT    NOT NULL,
    alert_id    INTEGER NOT NULL,
    notified    INTEGER NOT NULL DEFAULT 0 CHECK (notified IN (0, 1)),
    PRIMARY KEY (group_key, fingerprint)
) STRICT, WITHOUT ROWID;

-- Serves "which groups hold condition F" when an alert is (re-)routed.
CREATE INDEX notify_members_by_fingerprint ON notify_members (fingerprint);

-- The notification log: per group and receiver, the firing and resolved fingerprints
-- of the last notification and when it was queued. Deciding from this log (not from
-- memory) makes grouping exact across separate cron invocations.
CREATE TABLE notify_log (
    group_key  TEXT    NOT NULL,
    receiver   TEXT    NOT NULL,
    sent_at    INTEGER NOT NULL,
    firing     TEXT    NOT NULL CHECK (json_valid(firing)),
    resolved   TEXT    NOT NULL CHECK (json_valid(resolved)),
    PRIMARY KEY (group_key, receiver)
) STRICT;

-- The outbox: every notification is a row before anything is sent. dedup_key is
-- stable across retries (receivers can drop repeats); lanes (receiver, lane) are
-- delivered in order so a resolution never overtakes its firing.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    dedup_key       TEXT    NOT NULL UNIQUE,
    receiver        TEXT    NOT NULL,
    receiver_type   TEXT    NOT NULL,
    lane            TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending','sent','failed')),
    alert_ids       TEXT    NOT NULL CHECK (json_valid(alert_ids)),
    n_firing        INTEGER NOT NULL,
    n_resolved      INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- A sender holds a lease while a request is in flight (wall-clock ms), so two
    -- overlapping runs do not send the same row at once; an expired lease is free.
    lease_until     INTEGER,
    sent_at         INTEGER,
    last_status     INTEGER,
    last_error      TEXT
) STRICT;

-- Serves the sender's scan of pending rows in queue order (few rows are pending; sent
-- ones are skipped by the key) and `pipemon notifications --status S`.
CREATE INDEX notifications_by_status ON notifications (status, id);

-- Serves the sender's per-lane order check (an earlier pending row of the same lane).
CREATE INDEX notifications_by_lane ON notifications (receiver, lane, id);

-- One row per delivery attempt: when, the outcome and why.
CREATE TABLE delivery_attempts (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempted_at    INTEGER NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('sent','retry','failed')),
    http_status     INTEGER,
    error           TEXT
) STRICT;

-- Serves the attempt history of one notification.
CREATE INDEX delivery_attempts_by_notification ON delivery_attempts (notification_id);

-- Alertmanager receivers get each alert's state re-posted periodically (Alertmanager
-- resolves an alert that is not re-sent before its endsAt): what was last posted.
CREATE TABLE am_forwarded (
    receiver        TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    alert_id        INTEGER NOT NULL,
    last_posted_at  INTEGER NOT NULL,
    resolved_posted INTEGER NOT NULL DEFAULT 0 CHECK (resolved_posted IN (0, 1)),
    PRIMARY KEY (receiver, fingerprint)
) STRICT, WITHOUT ROWID;

-- Readable outbox for people at a sqlite3 prompt.
CREATE VIEW outbox AS
SELECT id, receiver, receiver_type, reason, status, attempts,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created,
       strftime('%Y-%m-%dT%H:%M:%fZ', next_attempt_at / 1000.0, 'unixepoch') AS next_attempt,
       strftime('%Y-%m-%dT%H:%M:%fZ', sent_at / 1000.0, 'unixepoch') AS sent,
       last_status, last_error, dedup_key
FROM notifications;
