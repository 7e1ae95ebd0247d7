//! Notification groups and announcements (Alertmanager's dispatcher, made durable in
//! SQLite, with what was announced tracked per alert and receiver).
//!
//! Two questions are kept apart. *When, and together with what, is a receiver
//! notified?* Groups answer it as Alertmanager does: alerts routed to one receiver
//! through one route with the same `group_by` values form a group, first flushed
//! `group_wait` after it was created, then every `group_interval`; with nothing new, a
//! group that still fires is repeated every `repeat_interval`. *What must a receiver
//! be told?* The `announcements` table answers it, one row per alert episode
//! (fingerprint and start) and receiver: `pending` until its firing was queued,
//! `announced` until its resolution was, then `closed`. A flush carries every alert
//! whose announcement is due, so a new episode of a condition that fired before is
//! announced again, an alert that opened and resolved between two evaluations is
//! announced (once, as resolved, with its start and end), and no receiver is sent a
//! resolution of an alert it was never told was firing. A storm of episodes is bounded
//! by the group timers, never by dropping alerts.
//!
//! History: alerts that had resolved before the backfill line (`meta.notify_since`:
//! the first evaluation's time, or what `evaluate --notify-since` set) are recorded
//! as `history` and never sent.
//!
//! Flapping: a resolution alone triggers a notification only once the alert has been
//! resolved for `flap_hold_down`; a notification that goes earlier (the condition's
//! next episode firing, say) carries it.
//!
//! Because the schedule and the announcements live in the database, repeated cron
//! invocations make the same decisions one long-running process would.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::alert::config::ReceiverType;
use crate::alert::matcher::Labels;
use crate::alert::payload::{self, Item, NotifyAlert};
use crate::alert::policy::Policy;
use crate::alert::route::Route;
use crate::alert::{AlertRow, load_alerts};
use crate::model::Millis;

/// The group key under which Alertmanager receivers' announcements are kept (they are
/// re-posted per alert, not grouped).
pub const ALERTMANAGER_GROUP: &str = "alertmanager";

/// Why a group is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Alerts not yet announced (firing, or fired and resolved since the last flush).
    Firing,
    /// Announced alerts resolved.
    Resolved,
    /// Nothing new, but `repeat_interval` passed and alerts still fire.
    Repeat,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Firing => "firing",
            Reason::Resolved => "resolved",
            Reason::Repeat => "repeat",
        }
    }
}

/// What a group's flush found owed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owed {
    /// Alerts never announced to the receiver and not muted (firing or already resolved).
    pub new_alerts: usize,
    /// Announced alerts that resolved at least `flap_hold_down` ago (the receiver
    /// takes resolutions).
    pub ripe_resolutions: usize,
    /// Announced, unmuted, unacknowledged alerts that still fire.
    pub repeatable: usize,
}

/// Whether a flush sends, and why: anything new; else a resolution past the hold-down;
/// else a repeat once `repeat_interval` passed since the group's last notification.
pub fn decide(
    owed: Owed,
    last_sent: Option<Millis>,
    repeat_interval: i64,
    now: Millis,
) -> Option<Reason> {
    if owed.new_alerts > 0 {
        return Some(Reason::Firing);
    }
    if owed.ripe_resolutions > 0 {
        return Some(Reason::Resolved);
    }
    let repeat_due = last_sent.is_some_and(|t| t + repeat_interval <= now);
    (owed.repeatable > 0 && repeat_due).then_some(Reason::Repeat)
}

/// The next flush after `due`, on the group's cadence, strictly after `now`.
pub fn next_flush(due: Millis, interval: i64, now: Millis) -> Millis {
    let interval = interval.max(1);
    if due > now {
        return due;
    }
    due + ((now - due) / interval + 1) * interval
}

/// The group key of an alert on a route.
pub fn group_key(route: &Route, labels: &Labels) -> (String, Labels) {
    let gl = route.group_by.key_labels(labels);
    let key = format!(
        "{}|{}|{}",
        route.path,
        route.receiver,
        serde_json::to_string(&gl).unwrap_or_default()
    );
    (key, gl)
}

/// The backfill line: alerts resolved before it are history. Set by the first
/// evaluation that applies alerting (to its `now`) unless `--notify-since` set it.
pub fn notify_since(conn: &Connection, now: Millis) -> Result<Millis> {
    if let Some(t) = crate::store::meta_get(conn, "notify_since")? {
        return Ok(t);
    }
    crate::store::meta_set(conn, "notify_since", now)?;
    Ok(now)
}

/// Records an announcement per receiver for each alert (firing, or seen for the first
/// time) and creates the groups that carry them (first flush `group_wait` from now).
/// A still-pending announcement follows the alert when its routing changes; one
/// already announced stays, so its resolution is still owed.
pub fn assign(
    conn: &Connection,
    policy: &Policy,
    alerts: &[AlertRow],
    labels: &[Labels],
    now: Millis,
) -> Result<()> {
    let since = notify_since(conn, now)?;
    let mut create = conn.prepare_cached(
        "INSERT INTO notify_groups (group_key, receiver, route_path, group_labels, created_at, next_flush_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (group_key) DO NOTHING",
    )?;
    let mut announce = conn.prepare_cached(
        "INSERT INTO announcements (receiver, fingerprint, started_at, alert_id, group_key, state, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (receiver, fingerprint, started_at) DO UPDATE SET
           alert_id = excluded.alert_id,
           group_key = CASE WHEN state = 'pending' THEN excluded.group_key ELSE group_key END
         RETURNING state, group_key",
    )?;
    let mut leave = conn.prepare_cached(
        "DELETE FROM announcements WHERE fingerprint = ?1 AND started_at = ?2 AND state = 'pending'
           AND receiver NOT IN (SELECT value FROM json_each(?3))",
    )?;
    for (a, l) in alerts.iter().zip(labels) {
        let history = a.resolved_at.is_some_and(|r| r < since) && !a.is_firing();
        let mut wanted: Vec<&str> = Vec::new();
        for r in policy.route.matches(l) {
            let Some(rc) = policy.receivers.get(&r.receiver) else {
                continue;
            };
            let grouped = crate::alert::groups(rc.kind);
            if !grouped && rc.kind != ReceiverType::Alertmanager {
                continue;
            }
            let (key, gl) = if grouped {
                group_key(r, l)
            } else {
                (ALERTMANAGER_GROUP.to_string(), Labels::new())
            };
            let state = if history { "history" } else { "pending" };
            let (stored, stored_key): (String, String) = announce.query_row(
                params![
                    r.receiver,
                    a.fingerprint,
                    a.started_at,
                    a.id,
                    key,
                    state,
                    now
                ],
                |x| Ok((x.get(0)?, x.get(1)?)),
            )?;
            if grouped && stored_key == key && matches!(stored.as_str(), "pending" | "announced") {
                create.execute(params![
                    key,
                    r.receiver,
                    r.path,
                    serde_json::to_string(&gl)?,
                    now,
                    now + r.group_wait
                ])?;
            }
            wanted.push(r.receiver.as_str());
        }
        if a.is_firing() {
            leave.execute(params![
                a.fingerprint,
                a.started_at,
                json!(wanted).to_string()
            ])?;
        }
    }
    Ok(())
}

/// The groups due at ?1 (served by `notify_groups_due`).
pub const DUE_GROUPS_SQL: &str =
    "SELECT group_key, receiver, route_path, group_labels, next_flush_at
     FROM notify_groups WHERE next_flush_at <= ?1 ORDER BY next_flush_at, group_key";

/// A group as the flush reads it.
struct Group {
    key: String,
    receiver: String,
    path: String,
    labels: String,
    next_at: Millis,
}

/// Flushes every group due at `now`, then re-posts to Alertmanager receivers.
pub fn flush_due(conn: &Connection, policy: &Policy, now: Millis) -> Result<()> {
    let due: Vec<Group> = {
        let mut stmt = conn.prepare(DUE_GROUPS_SQL)?;
        stmt.query_map([now], |r| {
            Ok(Group {
                key: r.get(0)?,
                receiver: r.get(1)?,
                path: r.get(2)?,
                labels: r.get(3)?,
                next_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    for g in &due {
        flush_group(conn, policy, now, g)?;
    }
    forward_to_alertmanagers(conn, policy, now)
}

/// An open announcement with its alert.
struct Open {
    fingerprint: String,
    started_at: Millis,
    state: String,
    alert: Option<AlertRow>,
}

/// The open (pending or announced) announcements of `key` at `receiver`, with their
/// alert rows (None when the row is gone).
fn open_announcements(conn: &Connection, key: &str, receiver: &str) -> Result<Vec<Open>> {
    let rows: Vec<(String, Millis, i64, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT fingerprint, started_at, alert_id, state FROM announcements
             WHERE group_key = ?1 AND receiver = ?2 AND state IN ('pending', 'announced')",
        )?;
        stmt.query_map(params![key, receiver], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let mut alerts: BTreeMap<i64, AlertRow> = load_alerts(
        conn,
        "id IN (SELECT value FROM json_each(?1))",
        [serde_json::to_string(&ids)?],
    )?
    .into_iter()
    .map(|a| (a.id, a))
    .collect();
    Ok(rows
        .into_iter()
        .map(|(fingerprint, started_at, id, state)| {
            // The row must still be this episode (a rebuild may reuse ids).
            let alert = alerts
                .remove(&id)
                .filter(|a| a.fingerprint == fingerprint && a.started_at == started_at);
            Open {
                fingerprint,
                started_at,
                state,
                alert,
            }
        })
        .collect())
}

/// Moves announcements to a new state, stamping when their firing / resolution went.
fn set_state(
    conn: &Connection,
    receiver: &str,
    items: &[(&str, Millis)],
    state: &str,
    firing_sent: Option<Millis>,
    resolved_sent: Option<Millis>,
) -> Result<()> {
    let mut up = conn.prepare_cached(
        "UPDATE announcements SET state = ?4,
                firing_sent_at = coalesce(firing_sent_at, ?5),
                resolved_sent_at = coalesce(resolved_sent_at, ?6)
         WHERE receiver = ?1 AND fingerprint = ?2 AND started_at = ?3",
    )?;
    for (fp, start) in items {
        up.execute(params![
            receiver,
            fp,
            start,
            state,
            firing_sent,
            resolved_sent
        ])?;
    }
    Ok(())
}

fn flush_group(conn: &Connection, policy: &Policy, now: Millis, g: &Group) -> Result<()> {
    let key = g.key.as_str();
    let route = policy
        .route
        .find(&g.path)
        .filter(|r| r.receiver == g.receiver);
    let rcfg = policy
        .receivers
        .get(&g.receiver)
        .filter(|r| crate::alert::groups(r.kind));
    let (Some(route), Some(rcfg)) = (route, rcfg) else {
        // The configuration no longer has this route or receiver: pending
        // announcements are re-recorded where the alerts route now.
        conn.execute(
            "DELETE FROM announcements WHERE group_key = ?1 AND receiver = ?2 AND state = 'pending'",
            params![key, g.receiver],
        )?;
        conn.execute(
            "UPDATE announcements SET state = 'closed' WHERE group_key = ?1 AND receiver = ?2 AND state = 'announced'",
            params![key, g.receiver],
        )?;
        conn.execute("DELETE FROM notify_groups WHERE group_key = ?1", [key])?;
        return Ok(());
    };
    let reschedule = |conn: &Connection| -> Result<()> {
        conn.execute(
            "UPDATE notify_groups SET next_flush_at = ?2 WHERE group_key = ?1",
            params![key, next_flush(g.next_at, route.group_interval, now)],
        )?;
        Ok(())
    };
    if policy.route_muted(route, now).is_some() {
        return reschedule(conn);
    }
    let open = open_announcements(conn, key, &g.receiver)?;

    // Sort every open announcement into what it owes.
    let mut new_firing: Vec<&Open> = Vec::new();
    let mut new_resolved: Vec<&Open> = Vec::new();
    let mut owed_resolution: Vec<&Open> = Vec::new();
    let mut still_firing: Vec<&Open> = Vec::new();
    let mut close_quietly: Vec<(&str, Millis)> = Vec::new();
    let mut muted_away: Vec<(&str, Millis)> = Vec::new();
    let mut owed = Owed::default();
    for o in &open {
        let id = (o.fingerprint.as_str(), o.started_at);
        let Some(a) = &o.alert else {
            // The alert is gone (a rebuild that no longer derives it): nothing to say.
            close_quietly.push(id);
            continue;
        };
        let muted = a.silenced || a.inhibited;
        match (o.state.as_str(), a.is_firing()) {
            ("pending", true) => {
                if !muted {
                    new_firing.push(o);
                    owed.new_alerts += 1;
                }
            }
            ("pending", false) => {
                if muted {
                    muted_away.push(id);
                } else {
                    new_resolved.push(o);
                    owed.new_alerts += 1;
                }
            }
            (_, true) => {
                if !muted {
                    still_firing.push(o);
                    if a.acked_at.is_none() {
                        owed.repeatable += 1;
                    }
                }
            }
            (_, false) => {
                if rcfg.send_resolved {
                    owed_resolution.push(o);
                    if a.resolved_at.unwrap_or(now) + policy.flap_hold_down <= now {
                        owed.ripe_resolutions += 1;
                    }
                } else {
                    close_quietly.push(id);
                }
            }
        }
    }
    set_state(conn, &g.receiver, &close_quietly, "closed", None, None)?;
    set_state(conn, &g.receiver, &muted_away, "muted", None, None)?;

    let (last_sent, last_seq): (Option<Millis>, i64) = conn
        .query_row(
            "SELECT sent_at, seq FROM notify_log WHERE group_key = ?1 AND receiver = ?2",
            params![key, g.receiver],
            |r| Ok((Some(r.get(0)?), r.get(1)?)),
        )
        .optional()?
        .unwrap_or((None, 0));
    if let Some(reason) = decide(owed, last_sent, route.repeat_interval, now) {
        let as_item = |o: &&Open, firing: bool| NotifyAlert {
            alert: o
                .alert
                .clone()
                .expect("sorted announcements have their alert"),
            firing,
        };
        let mut selected: Vec<NotifyAlert> = Vec::new();
        selected.extend(new_firing.iter().map(|o| as_item(o, true)));
        selected.extend(
            still_firing
                .iter()
                // Changes only: what the receiver was told already is not repeated,
                // except by a repeat; a repeat skips acknowledged alerts.
                .filter(|o| match reason {
                    Reason::Repeat => o.alert.as_ref().is_some_and(|a| a.acked_at.is_none()),
                    _ => !rcfg.send_changes_only,
                })
                .map(|o| as_item(o, true)),
        );
        selected.extend(new_resolved.iter().map(|o| as_item(o, false)));
        selected.extend(owed_resolution.iter().map(|o| as_item(o, false)));
        // Firing first, then resolved; each in the order the alerts were raised.
        selected.sort_by_key(|n| (!n.firing, n.alert.id));
        let group_labels: Labels = serde_json::from_str(&g.labels)?;
        // Numbered by the log, which outlives the group: a key is never reused.
        let seq = last_seq + 1;
        let items = payload::build(rcfg, key, &group_labels, &selected, policy);
        queue(
            conn,
            rcfg.name.as_str(),
            rcfg.kind,
            key,
            &format!("n{seq}"),
            reason,
            &items,
            now,
        )?;
        let ids = |v: &[&Open]| -> Vec<i64> {
            v.iter()
                .filter_map(|o| o.alert.as_ref().map(|a| a.id))
                .collect()
        };
        let firing_ids: Vec<i64> = ids(&new_firing)
            .into_iter()
            .chain(ids(&still_firing))
            .collect();
        let resolved_ids: Vec<i64> = ids(&new_resolved)
            .into_iter()
            .chain(ids(&owed_resolution))
            .collect();
        conn.execute(
            "INSERT INTO notify_log (group_key, receiver, sent_at, firing, resolved, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (group_key, receiver) DO UPDATE SET sent_at = excluded.sent_at,
               firing = excluded.firing, resolved = excluded.resolved, seq = excluded.seq",
            params![
                key,
                g.receiver,
                now,
                json!(firing_ids).to_string(),
                json!(resolved_ids).to_string(),
                seq
            ],
        )?;
        conn.execute(
            "UPDATE notify_groups SET seq = seq + 1 WHERE group_key = ?1",
            [key],
        )?;
        set_state(
            conn,
            &g.receiver,
            &keys(&new_firing),
            "announced",
            Some(now),
            None,
        )?;
        set_state(
            conn,
            &g.receiver,
            &keys(&new_resolved),
            "closed",
            Some(now),
            Some(now),
        )?;
        set_state(
            conn,
            &g.receiver,
            &keys(&owed_resolution),
            "closed",
            None,
            Some(now),
        )?;
    }
    let left: i64 = conn.query_row(
        "SELECT count(*) FROM announcements
         WHERE group_key = ?1 AND receiver = ?2 AND state IN ('pending', 'announced')",
        params![key, g.receiver],
        |r| r.get(0),
    )?;
    if left == 0 {
        conn.execute("DELETE FROM notify_groups WHERE group_key = ?1", [key])?;
        Ok(())
    } else {
        reschedule(conn)
    }
}

/// The episode keys of announcements.
fn keys<'a>(v: &[&'a Open]) -> Vec<(&'a str, Millis)> {
    v.iter()
        .map(|o| (o.fingerprint.as_str(), o.started_at))
        .collect()
}

/// Hex of a short stable hash (group keys in dedup keys and lanes).
pub fn short_hash(s: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(s.as_bytes()))
}

/// Writes notifications to the outbox. The dedup key is
/// `receiver/lane/<unique part><item suffix>`: stable across retries, never reused.
#[allow(clippy::too_many_arguments)]
fn queue(
    conn: &Connection,
    receiver: &str,
    kind: ReceiverType,
    lane_key: &str,
    unique: &str,
    reason: Reason,
    items: &[Item],
    now: Millis,
) -> Result<()> {
    let lane = short_hash(lane_key);
    let mut insert = conn.prepare_cached(
        "INSERT INTO notifications (dedup_key, receiver, receiver_type, lane, reason, status,
                alert_ids, n_firing, n_resolved, payload, created_at, next_attempt_at, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, ?10, 0, ?11)",
    )?;
    let wall = crate::time::now_ms();
    for item in items {
        let dedup = format!("{receiver}/{lane}/{unique}{}", item.suffix);
        insert.execute(params![
            dedup,
            receiver,
            kind.as_str(),
            lane,
            reason.as_str(),
            json!(item.alert_ids).to_string(),
            item.n_firing,
            item.n_resolved,
            item.payload.to_string(),
            now,
            wall
        ])?;
    }
    Ok(())
}

/// Re-posts alert state to Alertmanager receivers as Alertmanager expects: an alert
/// not yet announced is posted at once; a firing one again every `resend_interval`
/// with endsAt = now + `alert_ttl` (so Alertmanager keeps it firing while it fires);
/// its resolution once, with endsAt = its resolution time. An alert that opened and
/// resolved between two evaluations is posted once, resolved. Silenced and inhibited
/// alerts are not posted (an earlier post lapses at its endsAt). A resolution is not
/// posted while a later episode of the same condition fires there (Alertmanager
/// knows both as one alert, by labels).
fn forward_to_alertmanagers(conn: &Connection, policy: &Policy, now: Millis) -> Result<()> {
    for rcfg in policy
        .receivers
        .values()
        .filter(|r| r.kind == ReceiverType::Alertmanager)
    {
        let resend = rcfg.resend_interval.map_or(60_000, |d| d.ms());
        let ttl = rcfg.alert_ttl.map_or(15 * 60_000, |d| d.ms());
        let open = open_announcements(conn, ALERTMANAGER_GROUP, &rcfg.name)?;
        let posted: BTreeMap<(String, Millis), Option<Millis>> = {
            let mut stmt = conn.prepare_cached(
                "SELECT fingerprint, started_at, last_posted_at FROM announcements
                 WHERE group_key = ?1 AND receiver = ?2 AND state IN ('pending', 'announced')",
            )?;
            stmt.query_map(params![ALERTMANAGER_GROUP, rcfg.name], |r| {
                Ok(((r.get(0)?, r.get(1)?), r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let firing_fps: std::collections::BTreeSet<&str> = open
            .iter()
            .filter(|o| o.alert.as_ref().is_some_and(|a| a.is_firing()))
            .map(|o| o.fingerprint.as_str())
            .collect();
        let mut batch: Vec<NotifyAlert> = Vec::new();
        let mut now_announced: Vec<(&str, Millis)> = Vec::new();
        let mut reposted: Vec<(&str, Millis)> = Vec::new();
        let mut closed: Vec<(&str, Millis)> = Vec::new();
        let mut quiet: Vec<(&str, Millis)> = Vec::new();
        let mut muted_away: Vec<(&str, Millis)> = Vec::new();
        for o in &open {
            let id = (o.fingerprint.as_str(), o.started_at);
            let Some(a) = &o.alert else {
                quiet.push(id);
                continue;
            };
            let muted = a.silenced || a.inhibited;
            let pending = o.state == "pending";
            if a.is_firing() {
                if muted {
                    continue;
                }
                let last = posted
                    .get(&(o.fingerprint.clone(), o.started_at))
                    .copied()
                    .flatten();
                if pending {
                    now_announced.push(id);
                } else if last.is_none_or(|t| t + resend <= now) {
                    reposted.push(id);
                } else {
                    continue;
                }
                batch.push(NotifyAlert {
                    alert: a.clone(),
                    firing: true,
                });
            } else if pending && muted {
                muted_away.push(id);
            } else if firing_fps.contains(o.fingerprint.as_str())
                || (!pending && !rcfg.send_resolved)
            {
                quiet.push(id);
            } else {
                closed.push(id);
                batch.push(NotifyAlert {
                    alert: a.clone(),
                    firing: false,
                });
            }
        }
        set_state(conn, &rcfg.name, &quiet, "closed", None, None)?;
        set_state(conn, &rcfg.name, &muted_away, "muted", None, None)?;
        if batch.is_empty() {
            continue;
        }
        let body = payload::alertmanager_alerts(&batch, policy, now, ttl);
        let ids: Vec<i64> = batch.iter().map(|n| n.alert.id).collect();
        let n_firing = batch.iter().filter(|n| n.firing).count() as i64;
        let unique = format!("{now}/{}", short_hash(&body.to_string()));
        queue(
            conn,
            &rcfg.name,
            rcfg.kind,
            ALERTMANAGER_GROUP,
            &unique,
            if n_firing > 0 {
                Reason::Firing
            } else {
                Reason::Resolved
            },
            &[Item {
                suffix: String::new(),
                payload: body,
                alert_ids: ids,
                n_firing,
                n_resolved: batch.len() as i64 - n_firing,
            }],
            now,
        )?;
        set_state(
            conn,
            &rcfg.name,
            &now_announced,
            "announced",
            Some(now),
            None,
        )?;
        set_state(conn, &rcfg.name, &closed, "closed", Some(now), Some(now))?;
        let mut stamp = conn.prepare_cached(
            "UPDATE announcements SET last_posted_at = ?4
             WHERE receiver = ?1 AND fingerprint = ?2 AND started_at = ?3",
        )?;
        for (fp, start) in now_announced.iter().chain(&reposted).chain(&closed) {
            stamp.execute(params![rcfg.name, fp, start, now])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_decisions() {
        const H: i64 = 3_600_000;
        let o = |n, r, p| Owed {
            new_alerts: n,
            ripe_resolutions: r,
            repeatable: p,
        };
        // (owed, last sent, now, expected); repeat interval 4h.
        let cases = [
            // Nothing owed, nothing sent.
            (o(0, 0, 0), None, 0, None),
            // Anything new is sent at once, whatever was sent before.
            (o(1, 0, 0), None, 0, Some(Reason::Firing)),
            (o(2, 1, 3), Some(0), H, Some(Reason::Firing)),
            // A ripe resolution is sent.
            (o(0, 1, 3), Some(0), H, Some(Reason::Resolved)),
            // Still firing: only once the repeat interval passed.
            (o(0, 0, 3), Some(0), H, None),
            (o(0, 0, 3), Some(0), 4 * H, Some(Reason::Repeat)),
            // Nothing repeatable (acknowledged or muted): no repeat.
            (o(0, 0, 0), Some(0), 8 * H, None),
        ];
        for (i, (owed, last, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide(owed, last, 4 * H, now), want, "case {i}");
        }
    }

    #[test]
    fn flush_cadence() {
        assert_eq!(next_flush(100, 50, 10), 100);
        assert_eq!(next_flush(100, 50, 100), 150);
        assert_eq!(next_flush(100, 50, 149), 150);
        assert_eq!(next_flush(100, 50, 260), 300);
    }
}
