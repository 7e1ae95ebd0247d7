//! Silences: label matchers with a start and an end. A silence stops notifications,
//! not alerts: a silenced alert is recorded and shown silenced, its notifications are
//! held back, and when the silence ends while it still fires it is notified at its
//! group's next flush.

use anyhow::{Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

use crate::alert::matcher::{self, Labels, Matcher};
use crate::model::Millis;

/// A stored silence, its matchers parsed.
#[derive(Debug, Clone)]
pub struct Silence {
    pub id: i64,
    pub matchers: Vec<Matcher>,
    pub raw_matchers: Vec<String>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub comment: String,
    pub author: Option<String>,
    pub created_at: Millis,
}

impl Silence {
    pub fn active_at(&self, t: Millis) -> bool {
        self.starts_at <= t && t < self.ends_at
    }

    pub fn state(&self, now: Millis) -> &'static str {
        if now < self.starts_at {
            "pending"
        } else if now < self.ends_at {
            "active"
        } else {
            "expired"
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        matcher::all_match(&self.matchers, labels)
    }
}

/// Adds a silence; the matchers are validated first.
pub fn add(
    conn: &Connection,
    raw: &[String],
    starts_at: Millis,
    ends_at: Millis,
    comment: &str,
    author: Option<&str>,
    now: Millis,
) -> Result<i64> {
    if let Err((i, e)) = matcher::parse_all(raw) {
        bail!(crate::error::hinted(
            format!("--match {:?}: {e}", raw[i]),
            "write label=value, label!=value, label=~regex or label!~regex; labels: team, severity, kind, pipeline_id, environment, priority",
        ));
    }
    if ends_at <= starts_at {
        bail!(crate::error::hinted(
            "the silence ends before it starts",
            "give a positive --duration, or an --until after --starts",
        ));
    }
    conn.execute(
        "INSERT INTO silences (matchers, starts_at, ends_at, comment, author, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            serde_json::to_string(raw)?,
            starts_at,
            ends_at,
            comment,
            author,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Ends a silence at `now` (a pending one ends before it began: it never applies).
/// Returns false when it had already ended.
pub fn expire(conn: &Connection, id: i64, now: Millis) -> Result<bool> {
    let row: Option<(Millis, Millis)> = conn
        .query_row(
            "SELECT starts_at, ends_at FROM silences WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((starts, ends)) = row else {
        bail!(crate::error::hinted(
            format!("no silence with id {id}"),
            "see `pipemon silence list --all`",
        ));
    };
    if ends <= now {
        return Ok(false);
    }
    let end = now.max(starts);
    conn.execute(
        "UPDATE silences SET ends_at = ?2, expired_at = ?3, starts_at = min(starts_at, ?2) WHERE id = ?1",
        params![id, end, now],
    )?;
    Ok(true)
}

/// Silences, newest first; `include_expired` false keeps those not yet ended at `now`.
pub fn list(conn: &Connection, now: Millis, include_expired: bool) -> Result<Vec<Silence>> {
    let sql = if include_expired {
        "SELECT id, matchers, starts_at, ends_at, comment, author, created_at
         FROM silences WHERE ?1 = ?1"
    } else {
        UNEXPIRED_SQL
    };
    read(conn, sql, now)
}

/// Silences not yet ended at ?1 (served by `silences_by_end`; sorted newest first in
/// Rust, so the planner keeps the range scan instead of walking rowids).
pub const UNEXPIRED_SQL: &str =
    "SELECT id, matchers, starts_at, ends_at, comment, author, created_at
     FROM silences WHERE ends_at > ?1";

fn read(conn: &Connection, sql: &str, now: Millis) -> Result<Vec<Silence>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params![now], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, raw, starts_at, ends_at, comment, author, created_at) = row?;
        let raw_matchers: Vec<String> = serde_json::from_str(&raw)?;
        // Stored matchers were validated on insert; one that no longer parses (a
        // hand-edited row) silences nothing rather than everything.
        let Ok(matchers) = matcher::parse_all(&raw_matchers) else {
            continue;
        };
        out.push(Silence {
            id,
            matchers,
            raw_matchers,
            starts_at,
            ends_at,
            comment,
            author,
            created_at,
        });
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.id));
    Ok(out)
}

/// Silences active at `now`.
pub fn active(conn: &Connection, now: Millis) -> Result<Vec<Silence>> {
    Ok(list(conn, now, false)?
        .into_iter()
        .filter(|s| s.active_at(now))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::matcher::labels;

    fn db() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn lifecycle_and_matching() {
        let (_d, store) = db();
        let c = store.conn().unwrap();
        let m = vec![
            "team=ml".to_string(),
            "kind=~missed_run|stuck_run".to_string(),
        ];
        let id = add(&c, &m, 1_000, 10_000, "upgrade", Some("ops"), 500).unwrap();
        let s = &list(&c, 500, false).unwrap()[0];
        assert_eq!(s.state(500), "pending");
        assert_eq!(s.state(1_000), "active");
        assert!(s.matches(&labels(&[("team", "ml"), ("kind", "stuck_run")])));
        assert!(!s.matches(&labels(&[("team", "ml"), ("kind", "pipeline_failed")])));
        assert!(!s.matches(&labels(&[("team", "data"), ("kind", "stuck_run")])));
        assert_eq!(active(&c, 999).unwrap().len(), 0);
        assert_eq!(active(&c, 1_000).unwrap().len(), 1);
        assert!(expire(&c, id, 5_000).unwrap());
        assert!(!expire(&c, id, 6_000).unwrap());
        assert_eq!(active(&c, 5_000).unwrap().len(), 0);
        assert_eq!(list(&c, 6_000, false).unwrap().len(), 0);
        assert_eq!(list(&c, 6_000, true).unwrap()[0].ends_at, 5_000);
        assert!(add(&c, &["team".to_string()], 0, 1, "", None, 0).is_err());
        assert!(expire(&c, 99, 0).is_err());
    }
}
