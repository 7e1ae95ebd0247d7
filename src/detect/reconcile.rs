//! Writing episodes into the `alerts` table: one row per episode, matched by
//! (fingerprint, started_at) — which a unique index enforces — so evaluating
//! again updates rows instead of adding them. New episodes are inserted with
//! their severity, team, environment and priority; known ones get their
//! occurrences, last sighting, resolution and evidence updated; a firing alert
//! whose condition no evaluation reports any more is resolved.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use super::episode::Episode;
use super::load::PipelineInfo;
use crate::model::{AlertKind, Millis, Priority, Severity};

/// Severity per alerts.md: the kind's base, raised one level for `critical`
/// pipelines, lowered one for `low`; `systemic_failure` is always critical.
pub fn severity(kind: AlertKind, priority: Priority) -> Severity {
    let base = kind.base_severity();
    if kind == AlertKind::SystemicFailure {
        return Severity::Critical;
    }
    match priority {
        Priority::Critical => base.raised(),
        Priority::Low => base.lowered(),
        Priority::High | Priority::Medium => base,
    }
}

/// What a reconciliation changed.
#[derive(Debug, Default)]
pub struct Changes {
    pub opened: Vec<i64>,
    pub resolved: Vec<i64>,
}

/// Writes `episodes` into `alerts` as of `now`.
pub fn reconcile(
    conn: &Connection,
    mut episodes: Vec<Episode>,
    pipelines: &HashMap<String, PipelineInfo>,
    platform_team: &str,
    now: Millis,
) -> Result<Changes> {
    // One episode per (fingerprint, start): the last emitted is the most recent
    // view (a tail pass after a prefix pass).
    let mut seen = HashMap::new();
    for (i, e) in episodes.iter().enumerate() {
        seen.insert((e.fingerprint.clone(), e.started_at), i);
    }
    let keep: HashSet<usize> = seen.into_values().collect();
    let mut i = 0;
    episodes.retain(|_| {
        i += 1;
        keep.contains(&(i - 1))
    });
    episodes.sort_by(|a, b| (a.started_at, &a.fingerprint).cmp(&(b.started_at, &b.fingerprint)));
    // One condition fires once: when several episodes of one fingerprint are open
    // (two runs stuck at once), each is superseded by the next, and only the
    // latest stays open. Deterministic in the episode set, so evaluating in steps
    // or at once agrees.
    let mut latest_open: HashMap<&str, usize> = HashMap::new();
    let mut successor: HashMap<usize, Millis> = HashMap::new();
    for (i, e) in episodes.iter().enumerate() {
        if e.is_open()
            && let Some(prev) = latest_open.insert(e.fingerprint.as_str(), i)
        {
            successor.insert(prev, e.started_at);
        }
    }
    for (i, at) in successor {
        let e = &mut episodes[i];
        e.resolved_at = Some(at.max(e.started_at));
        e.details["resolution"] = serde_json::json!("superseded by a newer episode");
    }

    let mut changes = Changes::default();
    let mut open_now: HashSet<String> = HashSet::new();
    let mut find = conn.prepare_cached(
        "SELECT id, status, resolved_at, last_seen_at, occurrences, summary, details, run_id
         FROM alerts WHERE fingerprint = ?1 AND started_at = ?2",
    )?;
    let mut update = conn.prepare_cached(
        "UPDATE alerts SET status = ?2, resolved_at = ?3, last_seen_at = ?4, occurrences = ?5,
             summary = ?6, details = ?7, run_id = ?8, updated_at = ?9
         WHERE id = ?1",
    )?;
    let mut firing_other = conn.prepare_cached(
        "SELECT id, last_seen_at, started_at FROM alerts
         WHERE fingerprint = ?1 AND status = 'firing' AND started_at <> ?2",
    )?;
    let mut close = conn.prepare_cached(
        "UPDATE alerts SET status = 'resolved', resolved_at = ?2, updated_at = ?3,
             details = json_set(details, '$.resolution', ?4)
         WHERE id = ?1",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO alerts (fingerprint, kind, severity, status, pipeline_id, team, environment,
             priority, run_id, started_at, resolved_at, last_seen_at, occurrences, summary,
             details, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
    )?;

    for ep in &episodes {
        let status = if ep.is_open() { "firing" } else { "resolved" };
        let details = serde_json::to_string(&ep.details)?;
        if ep.is_open() {
            open_now.insert(ep.fingerprint.clone());
        }
        let existing = find
            .query_row(params![ep.fingerprint, ep.started_at], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .optional()?;
        // A new firing episode supersedes an older firing row of the same
        // condition (only one may fire at a time).
        if ep.is_open() {
            let others: Vec<(i64, i64, i64)> = firing_other
                .query_map(params![ep.fingerprint, ep.started_at], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (id, last_seen, started) in others {
                let at = last_seen.max(started).min(ep.started_at.max(started));
                close.execute(params![id, at, now, "superseded by a newer episode"])?;
                changes.resolved.push(id);
            }
        }
        match existing {
            Some((
                id,
                old_status,
                old_resolved,
                old_last,
                old_occ,
                old_summary,
                old_details,
                old_run,
            )) => {
                if old_status == "resolved" && ep.is_open() {
                    // Reopening a resolved row is not allowed by the lifecycle: a
                    // returning condition is a new episode with a new start.
                    continue;
                }
                let changed = old_status != status
                    || old_resolved != ep.resolved_at
                    || old_last != ep.last_seen_at
                    || old_occ != ep.occurrences
                    || old_summary != ep.summary
                    || old_details != details
                    || old_run != ep.run_id;
                if changed {
                    update.execute(params![
                        id,
                        status,
                        ep.resolved_at,
                        ep.last_seen_at,
                        ep.occurrences,
                        ep.summary,
                        details,
                        ep.run_id,
                        now
                    ])?;
                }
                if old_status == "firing" && !ep.is_open() {
                    changes.resolved.push(id);
                }
            }
            None => {
                let info = ep.pipeline_id.as_ref().and_then(|p| pipelines.get(p));
                let priority = info.map_or(Priority::Medium, |i| i.priority);
                let team = match (ep.kind, info) {
                    (AlertKind::SystemicFailure, _) => platform_team.to_string(),
                    (_, Some(i)) => i.team.clone(),
                    (_, None) => "unowned".to_string(),
                };
                insert.execute(params![
                    ep.fingerprint,
                    ep.kind.as_str(),
                    severity(ep.kind, priority).as_str(),
                    status,
                    ep.pipeline_id,
                    team,
                    info.and_then(|i| i.environment.clone()),
                    info.map(|i| i.priority.as_str()),
                    ep.run_id,
                    ep.started_at,
                    ep.resolved_at,
                    ep.last_seen_at,
                    ep.occurrences,
                    ep.summary,
                    details,
                    now
                ])?;
                let id = conn.last_insert_rowid();
                changes.opened.push(id);
                if !ep.is_open() {
                    changes.resolved.push(id);
                }
            }
        }
    }

    // Firing alerts no detector reports as open any more (their condition was
    // re-derived differently, e.g. after late events): resolve them.
    let stale: Vec<(i64, String, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, fingerprint, last_seen_at, started_at FROM alerts WHERE status = 'firing'",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, fp, last_seen, started) in stale {
        if !open_now.contains(&fp) {
            close.execute(params![
                id,
                last_seen.max(started),
                now,
                "condition no longer present in the data"
            ])?;
            changes.resolved.push(id);
        }
    }
    changes.resolved.sort_unstable();
    changes.resolved.dedup();
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_policy() {
        use AlertKind::*;
        let cases = [
            (PipelineFailed, Priority::Medium, Severity::High),
            (PipelineFailed, Priority::Critical, Severity::Critical),
            (PipelineFailed, Priority::Low, Severity::Medium),
            (DurationAnomaly, Priority::Low, Severity::Low),
            (DurationAnomaly, Priority::Critical, Severity::Medium),
            (ConsecutiveFailures, Priority::Critical, Severity::Critical),
            (ConsecutiveFailures, Priority::Low, Severity::High),
            (VolumeAnomaly, Priority::High, Severity::Medium),
            (SystemicFailure, Priority::Low, Severity::Critical),
        ];
        for (kind, prio, want) in cases {
            assert_eq!(severity(kind, prio), want, "{kind} {prio}");
        }
    }
}
