//! Notification groups and the notification log (Alertmanager's dispatcher and dedup
//! stage, made durable in SQLite).
//!
//! Firing alerts routed to the same receiver through the same route with the same
//! `group_by` values form a group. A group is first flushed `group_wait` after it was
//! created, then every `group_interval`. At a flush, the group's current state (firing
//! fingerprints not silenced/inhibited/acknowledged-away, resolved fingerprints whose
//! firing was notified) is compared with the notification log's last entry for the
//! group: only a change, or `repeat_interval` since the last notification, queues a
//! notification. Because both the schedule and the log live in the database, repeated
//! cron invocations make the same decisions one long-running process would.
//!
//! Flapping: an alert that resolved less than `flap_hold_down` ago still counts as
//! firing; when its condition returns, the new alert (same fingerprint) takes its place
//! in the group and, its fingerprint being in the log already, is not re-notified.

use std::collections::{BTreeMap, BTreeSet};

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

/// The last notification of a group to a receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEntry {
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
    pub sent_at: Millis,
}

/// Why a group is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// New alerts fire (or the first notification of the group).
    Firing,
    /// Alerts resolved.
    Resolved,
    /// Nothing changed, but `repeat_interval` passed.
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

/// Whether the group's current state needs a notification, given the log.
///
/// `firing`: fingerprints that fire and are not muted; `resolved`: resolved fingerprints
/// whose firing was notified; `repeat_wanted`: some firing alert is not acknowledged.
/// The decision follows Alertmanager's dedup stage: first notification only when
/// something fires; any firing alert not in the last notification is a change; an
/// all-resolved group is told once (even with send_resolved off, the log is cleared);
/// new resolutions are a change when the receiver wants them; otherwise only a repeat.
pub fn decide(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_interval: i64,
    repeat_wanted: bool,
    now: Millis,
) -> Option<Reason> {
    let Some(entry) = entry else {
        return (!firing.is_empty()).then_some(Reason::Firing);
    };
    if !firing.is_subset(&entry.firing) {
        return Some(Reason::Firing);
    }
    let new_resolved = !resolved.is_empty() && !resolved.is_subset(&entry.resolved);
    if firing.is_empty() {
        return (!entry.firing.is_empty() || (send_resolved && new_resolved))
            .then_some(Reason::Resolved);
    }
    if send_resolved && new_resolved {
        return Some(Reason::Resolved);
    }
    (repeat_wanted && entry.sent_at + repeat_interval <= now).then_some(Reason::Repeat)
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

/// Places firing alerts into their groups (creating groups with their first flush
/// `group_wait` from now) and takes them out of groups they no longer route to.
pub fn assign(
    conn: &Connection,
    policy: &Policy,
    alerts: &[AlertRow],
    labels: &[Labels],
    now: Millis,
) -> Result<()> {
    let mut create = conn.prepare_cached(
        "INSERT INTO notify_groups (group_key, receiver, route_path, group_labels, created_at, next_flush_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (group_key) DO NOTHING",
    )?;
    let mut member = conn.prepare_cached(
        "INSERT INTO notify_members (group_key, fingerprint, alert_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (group_key, fingerprint) DO UPDATE SET alert_id = excluded.alert_id",
    )?;
    let mut current =
        conn.prepare_cached("SELECT group_key FROM notify_members WHERE fingerprint = ?1")?;
    let mut leave = conn
        .prepare_cached("DELETE FROM notify_members WHERE group_key = ?1 AND fingerprint = ?2")?;
    for (a, l) in alerts.iter().zip(labels) {
        if !a.is_firing() {
            continue;
        }
        let mut wanted = BTreeSet::new();
        for r in policy.route.matches(l) {
            let grouped = policy
                .receivers
                .get(&r.receiver)
                .is_some_and(|rc| crate::alert::groups(rc.kind));
            if !grouped {
                continue;
            }
            let (key, gl) = group_key(r, l);
            create.execute(params![
                key,
                r.receiver,
                r.path,
                serde_json::to_string(&gl)?,
                now,
                now + r.group_wait
            ])?;
            member.execute(params![key, a.fingerprint, a.id])?;
            wanted.insert(key);
        }
        let held: Vec<String> = current
            .query_map([&a.fingerprint], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for k in held.iter().filter(|k| !wanted.contains(*k)) {
            leave.execute(params![k, a.fingerprint])?;
        }
    }
    Ok(())
}

fn read_log(conn: &Connection, key: &str, receiver: &str) -> Result<Option<LogEntry>> {
    let row: Option<(String, String, Millis)> = conn
        .query_row(
            "SELECT firing, resolved, sent_at FROM notify_log WHERE group_key = ?1 AND receiver = ?2",
            params![key, receiver],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        None => None,
        Some((f, r, t)) => Some(LogEntry {
            firing: serde_json::from_str(&f)?,
            resolved: serde_json::from_str(&r)?,
            sent_at: t,
        }),
    })
}

/// The groups due at ?1 (served by `notify_groups_due`).
pub const DUE_GROUPS_SQL: &str =
    "SELECT group_key, receiver, route_path, group_labels, next_flush_at, seq
     FROM notify_groups WHERE next_flush_at <= ?1 ORDER BY next_flush_at, group_key";

/// Flushes every group due at `now`, then re-posts to Alertmanager receivers.
pub fn flush_due(conn: &Connection, policy: &Policy, now: Millis) -> Result<()> {
    let due: Vec<(String, String, String, String, Millis, i64)> = {
        let mut stmt = conn.prepare(DUE_GROUPS_SQL)?;
        stmt.query_map([now], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    for (key, receiver, path, glabels, next_at, seq) in due {
        flush_group(
            conn, policy, now, &key, &receiver, &path, &glabels, next_at, seq,
        )?;
    }
    forward_to_alertmanagers(conn, policy, now)
}

#[allow(clippy::too_many_arguments)]
fn flush_group(
    conn: &Connection,
    policy: &Policy,
    now: Millis,
    key: &str,
    receiver: &str,
    path: &str,
    glabels: &str,
    next_at: Millis,
    seq: i64,
) -> Result<()> {
    let route = policy.route.find(path).filter(|r| r.receiver == receiver);
    let rcfg = policy
        .receivers
        .get(receiver)
        .filter(|r| crate::alert::groups(r.kind));
    let (Some(route), Some(rcfg)) = (route, rcfg) else {
        // The configuration no longer has this route or receiver: its alerts are
        // re-grouped where they route now.
        conn.execute("DELETE FROM notify_groups WHERE group_key = ?1", [key])?;
        return Ok(());
    };
    let reschedule = |conn: &Connection| -> Result<()> {
        conn.execute(
            "UPDATE notify_groups SET next_flush_at = ?2 WHERE group_key = ?1",
            params![key, next_flush(next_at, route.group_interval, now)],
        )?;
        Ok(())
    };
    if policy.route_muted(route, now).is_some() {
        return reschedule(conn);
    }
    let members: Vec<(String, i64, bool)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT fingerprint, alert_id, notified FROM notify_members WHERE group_key = ?1",
        )?;
        stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let ids: Vec<i64> = members.iter().map(|m| m.1).collect();
    let mut rows: BTreeMap<i64, AlertRow> = load_alerts(
        conn,
        "id IN (SELECT value FROM json_each(?1))",
        [serde_json::to_string(&ids)?],
    )?
    .into_iter()
    .map(|a| (a.id, a))
    .collect();
    // A member whose row is gone (`evaluate --rebuild` re-derives alerts with new ids)
    // follows the newest alert of its fingerprint, so a resolution still owed is sent.
    let mut members = members;
    for m in members.iter_mut() {
        if rows.contains_key(&m.1) {
            continue;
        }
        if let Some(a) = load_alerts(
            conn,
            "id = (SELECT max(id) FROM alerts WHERE fingerprint = ?1)",
            [&m.0],
        )?
        .pop()
        {
            m.1 = a.id;
            conn.execute(
                "UPDATE notify_members SET alert_id = ?3 WHERE group_key = ?1 AND fingerprint = ?2",
                params![key, m.0, a.id],
            )?;
            rows.insert(a.id, a);
        }
    }

    let mut firing = BTreeSet::new();
    let mut resolved = BTreeSet::new();
    let mut done: Vec<String> = Vec::new();
    let mut current: Vec<NotifyAlert> = Vec::new();
    let mut repeat_wanted = false;
    for (fp, id, notified) in &members {
        let Some(a) = rows.get(id) else {
            // The alert row is gone (a rebuild re-derives alerts): forget it here.
            done.push(fp.clone());
            continue;
        };
        let held_down = a
            .resolved_at
            .is_some_and(|r| r + policy.flap_hold_down > now);
        let is_firing = a.is_firing() || held_down;
        if is_firing {
            if !a.silenced && !a.inhibited {
                firing.insert(fp.clone());
                repeat_wanted |= a.acked_at.is_none();
                current.push(NotifyAlert {
                    alert: a.clone(),
                    firing: true,
                });
            }
        } else {
            done.push(fp.clone());
            if *notified {
                resolved.insert(fp.clone());
                current.push(NotifyAlert {
                    alert: a.clone(),
                    firing: false,
                });
            }
        }
    }
    // Firing first, then resolved; each in the order the alerts were raised.
    current.sort_by_key(|n| (!n.firing, n.alert.id));
    let entry = read_log(conn, key, receiver)?;
    let decision = decide(
        entry.as_ref(),
        &firing,
        &resolved,
        rcfg.send_resolved,
        route.repeat_interval,
        repeat_wanted,
        now,
    );
    if let Some(reason) = decision {
        let prev = entry.clone().unwrap_or_default();
        let selected: Vec<NotifyAlert> = current
            .into_iter()
            .filter(|n| n.firing || rcfg.send_resolved)
            // An acknowledged alert is not repeated (it is still in change notifications).
            .filter(|n| reason != Reason::Repeat || n.alert.acked_at.is_none())
            .filter(|n| {
                // Changes only: what the receiver has not been told (a repeat re-sends
                // everything that still fires).
                !rcfg.send_changes_only
                    || reason == Reason::Repeat
                    || if n.firing {
                        !prev.firing.contains(&n.alert.fingerprint)
                    } else {
                        !prev.resolved.contains(&n.alert.fingerprint)
                    }
            })
            .collect();
        let group_labels: Labels = serde_json::from_str(glabels)?;
        if !selected.is_empty() {
            let items = payload::build(rcfg, key, &group_labels, &selected, policy);
            queue(
                conn,
                rcfg.name.as_str(),
                rcfg.kind,
                key,
                seq + 1,
                reason,
                &items,
                now,
            )?;
        }
        conn.execute(
            "INSERT INTO notify_log (group_key, receiver, sent_at, firing, resolved)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (group_key, receiver) DO UPDATE SET
               sent_at = excluded.sent_at, firing = excluded.firing, resolved = excluded.resolved",
            params![
                key,
                receiver,
                now,
                serde_json::to_string(&firing)?,
                serde_json::to_string(&resolved)?
            ],
        )?;
        conn.execute(
            "UPDATE notify_groups SET seq = seq + 1 WHERE group_key = ?1",
            [key],
        )?;
        let mut mark = conn.prepare_cached(
            "UPDATE notify_members SET notified = 1 WHERE group_key = ?1 AND fingerprint = ?2",
        )?;
        for fp in &firing {
            mark.execute(params![key, fp])?;
        }
    }
    let mut drop = conn
        .prepare_cached("DELETE FROM notify_members WHERE group_key = ?1 AND fingerprint = ?2")?;
    for fp in &done {
        drop.execute(params![key, fp])?;
    }
    let left: i64 = conn.query_row(
        "SELECT count(*) FROM notify_members WHERE group_key = ?1",
        [key],
        |r| r.get(0),
    )?;
    if left == 0 {
        conn.execute("DELETE FROM notify_groups WHERE group_key = ?1", [key])?;
        Ok(())
    } else {
        reschedule(conn)
    }
}

/// Hex of a short stable hash (group keys in dedup keys and lanes).
pub fn short_hash(s: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(s.as_bytes()))
}

/// Writes notifications to the outbox.
#[allow(clippy::too_many_arguments)]
fn queue(
    conn: &Connection,
    receiver: &str,
    kind: ReceiverType,
    lane_key: &str,
    seq: i64,
    reason: Reason,
    items: &[Item],
    now: Millis,
) -> Result<()> {
    let lane = short_hash(lane_key);
    let mut insert = conn.prepare_cached(
        "INSERT INTO notifications (dedup_key, receiver, receiver_type, lane, reason, status,
                alert_ids, n_firing, n_resolved, payload, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT (dedup_key) DO NOTHING",
    )?;
    for item in items {
        let dedup = format!("{receiver}/{lane}/{seq}{}", item.suffix);
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
            now
        ])?;
    }
    Ok(())
}

/// Re-posts alert state to Alertmanager receivers as Alertmanager expects: firing
/// alerts at least every `resend_interval` with `endsAt` = now + `alert_ttl`, and a
/// resolution (endsAt = resolved time) once, after the flap hold-down. Silenced and
/// inhibited alerts are not posted (an earlier post lapses at its endsAt).
fn forward_to_alertmanagers(conn: &Connection, policy: &Policy, now: Millis) -> Result<()> {
    for rcfg in policy
        .receivers
        .values()
        .filter(|r| r.kind == ReceiverType::Alertmanager)
    {
        let resend = rcfg.resend_interval.map_or(60_000, |d| d.ms());
        let ttl = rcfg.alert_ttl.map_or(15 * 60_000, |d| d.ms());
        let routed = "EXISTS (SELECT 1 FROM json_each(alerts.receivers) WHERE value = ?1)";
        let firing = load_alerts(
            conn,
            &format!("status = 'firing' AND silenced = 0 AND inhibited = 0 AND {routed}"),
            [&rcfg.name],
        )?;
        let posted: BTreeMap<String, (i64, Millis, bool)> = {
            let mut stmt = conn.prepare_cached(
                "SELECT fingerprint, alert_id, last_posted_at, resolved_posted FROM am_forwarded WHERE receiver = ?1",
            )?;
            stmt.query_map([&rcfg.name], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let mut batch: Vec<NotifyAlert> = Vec::new();
        for a in firing {
            let due = match posted.get(&a.fingerprint) {
                None => true,
                Some((id, last, resolved_posted)) => {
                    *id != a.id || *resolved_posted || last + resend <= now
                }
            };
            if due {
                batch.push(NotifyAlert {
                    alert: a,
                    firing: true,
                });
            }
        }
        if rcfg.send_resolved {
            let resolved = load_alerts(
                conn,
                "status = 'resolved' AND resolved_at <= ?2 AND id IN
                   (SELECT alert_id FROM am_forwarded WHERE receiver = ?1 AND resolved_posted = 0)",
                params![rcfg.name, now - policy.flap_hold_down],
            )?;
            let firing_fps: BTreeSet<String> =
                batch.iter().map(|n| n.alert.fingerprint.clone()).collect();
            for a in resolved {
                if !firing_fps.contains(&a.fingerprint) {
                    batch.push(NotifyAlert {
                        alert: a,
                        firing: false,
                    });
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        let body = payload::alertmanager_alerts(&batch, policy, now, ttl);
        let ids: Vec<i64> = batch.iter().map(|n| n.alert.id).collect();
        let n_firing = batch.iter().filter(|n| n.firing).count() as i64;
        let item = Item {
            suffix: String::new(),
            payload: body,
            alert_ids: ids,
            n_firing,
            n_resolved: batch.len() as i64 - n_firing,
        };
        let seq_key = format!("am/{now}/{}", short_hash(&item.payload.to_string()));
        queue(
            conn,
            &rcfg.name,
            rcfg.kind,
            "alertmanager",
            0,
            if n_firing > 0 {
                Reason::Firing
            } else {
                Reason::Resolved
            },
            &[Item {
                suffix: format!("/{seq_key}"),
                ..item
            }],
            now,
        )?;
        let mut up = conn.prepare_cached(
            "INSERT INTO am_forwarded (receiver, fingerprint, alert_id, last_posted_at, resolved_posted)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (receiver, fingerprint) DO UPDATE SET alert_id = excluded.alert_id,
               last_posted_at = excluded.last_posted_at, resolved_posted = excluded.resolved_posted",
        )?;
        for n in &batch {
            up.execute(params![
                rcfg.name,
                n.alert.fingerprint,
                n.alert.id,
                now,
                !n.firing
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    fn entry(f: &[&str], r: &[&str], at: Millis) -> LogEntry {
        LogEntry {
            firing: set(f),
            resolved: set(r),
            sent_at: at,
        }
    }

    #[test]
    fn notification_log_decisions() {
        const H: i64 = 3_600_000;
        let e = entry(&["a", "b"], &[], 0);
        let e_res = entry(&["a"], &["b"], 0);
        let all_resolved = entry(&[], &["a", "b"], 0);
        let empty = entry(&[], &[], 0);
        // (entry, firing, resolved, send_resolved, repeat_wanted, now, expected)
        type Case<'a> = (
            Option<&'a LogEntry>,
            &'a [&'a str],
            &'a [&'a str],
            bool,
            bool,
            Millis,
            Option<Reason>,
        );
        let cases: Vec<Case> = vec![
            // First notification only when something fires.
            (None, &["a"], &[], true, true, 0, Some(Reason::Firing)),
            (None, &[], &["a"], true, true, 0, None),
            // Nothing new: nothing until the repeat interval.
            (Some(&e), &["a", "b"], &[], true, true, H, None),
            (
                Some(&e),
                &["a", "b"],
                &[],
                true,
                true,
                4 * H,
                Some(Reason::Repeat),
            ),
            // Acknowledged: no repeat.
            (Some(&e), &["a", "b"], &[], true, false, 4 * H, None),
            // A muted alert leaving the firing set is not a change.
            (Some(&e), &["a"], &[], true, true, H, None),
            // A new firing alert is a change.
            (
                Some(&e),
                &["a", "b", "c"],
                &[],
                true,
                true,
                H,
                Some(Reason::Firing),
            ),
            // A new resolution is a change if the receiver wants resolutions.
            (
                Some(&e),
                &["a"],
                &["b"],
                true,
                true,
                H,
                Some(Reason::Resolved),
            ),
            (Some(&e), &["a"], &["b"], false, true, H, None),
            (Some(&e_res), &["a"], &["b"], true, true, H, None),
            // All resolved: told once, even without send_resolved (clears the log).
            (
                Some(&e),
                &[],
                &["a", "b"],
                false,
                true,
                H,
                Some(Reason::Resolved),
            ),
            (Some(&all_resolved), &[], &["a", "b"], true, true, H, None),
            // Fired and resolved between two notifications the receiver never saw.
            (Some(&empty), &[], &[], true, true, H, None),
        ];
        for (i, (en, f, r, sr, rw, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                decide(en, &set(f), &set(r), sr, 4 * H, rw, now),
                want,
                "case {i}"
            );
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
