-- pipemon schema, version 6: announcements per alert and receiver.
--
-- What each receiver was told is tracked per alert episode (fingerprint and
-- started_at, the alert's identity that survives `evaluate --rebuild`), not per
-- fingerprint: a new episode of a condition is a new announcement, and an alert that
-- opened and resolved between two evaluations is still announced. Groups keep deciding
-- when and with what a notification goes; this table says what it must carry.
--
-- state:
--   'pending'   routed to the receiver, its firing not yet announced
--   'announced' its firing was queued to the receiver; its resolution is owed
--   'closed'    done: its resolution was queued (or the receiver takes no resolutions)
--   'history'   it had resolved before the backfill line (`meta.notify_since`):
--               recorded, never sent
--   'muted'     it resolved while silenced or inhibited, never announced: not sent
CREATE TABLE announcements (
    receiver       TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    -- The alert row it is about now (re-pointed when a rebuild re-derives the alert).
    alert_id       INTEGER NOT NULL,
    -- The notification group that carries it; 'alertmanager' for Alertmanager
    -- receivers, which get alerts re-posted instead of grouped.
    group_key      TEXT    NOT NULL,
    state          TEXT    NOT NULL
                   CHECK (state IN ('pending', 'announced', 'closed', 'history', 'muted')),
    recorded_at    INTEGER NOT NULL,
    -- When (evaluation time) its firing and its resolution were queued.
    firing_sent_at   INTEGER,
    resolved_sent_at INTEGER,
    -- Alertmanager receivers: when its state was last posted.
    last_posted_at INTEGER,
    PRIMARY KEY (receiver, fingerprint, started_at)
) STRICT, WITHOUT ROWID;

-- Serves a group's flush: the open announcements of one group.
CREATE INDEX announcements_open_by_group ON announcements (group_key, receiver)
    WHERE state IN ('pending', 'announced');

-- Carry over what 0004's per-fingerprint tables knew: group members (notified means
-- announced) and what was posted to Alertmanagers.
INSERT OR IGNORE INTO announcements
    (receiver, fingerprint, started_at, alert_id, group_key, state, recorded_at, firing_sent_at)
SELECT g.receiver, a.fingerprint, a.started_at, a.id, m.group_key,
       CASE WHEN m.notified = 1 THEN 'announced' ELSE 'pending' END, g.created_at,
       CASE WHEN m.notified = 1 THEN g.created_at END
FROM notify_members m
JOIN notify_groups g ON g.group_key = m.group_key
JOIN alerts a ON a.id = m.alert_id;

INSERT OR IGNORE INTO announcements
    (receiver, fingerprint, started_at, alert_id, group_key, state, recorded_at,
     firing_sent_at, resolved_sent_at, last_posted_at)
SELECT f.receiver, a.fingerprint, a.started_at, a.id, 'alertmanager',
       CASE WHEN f.resolved_posted = 1 THEN 'closed' ELSE 'announced' END, f.last_posted_at,
       f.last_posted_at, CASE WHEN f.resolved_posted = 1 THEN f.last_posted_at END,
       f.last_posted_at
FROM am_forwarded f
JOIN alerts a ON a.id = f.alert_id;

DROP TABLE notify_members;
DROP TABLE am_forwarded;

-- Every episode known before this version is history unless it was carried over:
-- upgrading must not announce alerts that resolved long ago.
INSERT OR IGNORE INTO meta (key, value)
SELECT 'notify_since', max(now) FROM evaluations HAVING count(*) > 0;

-- The outbox's delivery clock: when the row was queued and when it is next due, in
-- wall-clock time of the machine (evaluation time may be any data time). Retries,
-- backoff and giving up run on this clock.
ALTER TABLE notifications ADD COLUMN queued_at INTEGER;
UPDATE notifications SET queued_at = created_at;

-- Per receiver delivery state, for people and for metrics: how many notifications
-- were sent, are pending (with how many of those already failed an attempt), and
-- failed for good, and the latest attempt's outcome and error.
CREATE VIEW notification_status AS
SELECT n.receiver,
       max(n.receiver_type) AS receiver_type,
       count(*) FILTER (WHERE n.status = 'sent') AS sent,
       count(*) FILTER (WHERE n.status = 'pending') AS pending,
       count(*) FILTER (WHERE n.status = 'pending' AND n.attempts > 0) AS retrying,
       count(*) FILTER (WHERE n.status = 'failed') AS failed,
       max(n.sent_at) AS last_sent_at,
       (SELECT d.outcome FROM delivery_attempts d JOIN notifications x ON x.id = d.notification_id
         WHERE x.receiver = n.receiver ORDER BY d.id DESC LIMIT 1) AS last_outcome,
       (SELECT d.error FROM delivery_attempts d JOIN notifications x ON x.id = d.notification_id
         WHERE x.receiver = n.receiver ORDER BY d.id DESC LIMIT 1) AS last_error
FROM notifications n
GROUP BY n.receiver;

-- The notification log numbers each group's notifications (their dedup keys); it
-- outlives the group, so a group formed again never reuses a key. Its firing and
-- resolved columns now hold the alert ids the last notification carried.
ALTER TABLE notify_log ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE notify_log SET seq = coalesce(
    (SELECT g.seq FROM notify_groups g WHERE g.group_key = notify_log.group_key), 0);

-- The process holding a row's lease: a run may take over the lease of a sender that
-- was killed without waiting for the lease to expire.
ALTER TABLE notifications ADD COLUMN lease_pid INTEGER;
