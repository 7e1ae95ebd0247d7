//! `pipemon notifications [--status pending|sent|failed]`: the outbox, newest first.
//! `next_attempt_at` is shown for pending rows waiting out a retry (wall-clock time).

use anyhow::Result;
use serde_json::{Value, json};

use super::Context;
use crate::cli::NotificationsArgs;
use crate::output::Rows;
use crate::time::format_ms;

pub fn run(ctx: &Context, args: &NotificationsArgs) -> Result<()> {
    let store = ctx.open_read_only()?;
    let conn = store.conn()?;
    let mut stmt = conn.prepare(
        "SELECT id, created_at, receiver, receiver_type, reason, status, n_firing, n_resolved,
                alert_ids, attempts, next_attempt_at, sent_at, last_status, last_error, dedup_key
         FROM notifications WHERE ?1 IS NULL OR status = ?1
         ORDER BY id DESC LIMIT ?2",
    )?;
    let limit = args.limit.map_or(-1, |l| l as i64);
    let mut rows = Rows::new(&[
        "id",
        "created_at",
        "receiver",
        "type",
        "reason",
        "status",
        "firing",
        "resolved",
        "alert_ids",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_status",
        "last_error",
        "dedup_key",
    ]);
    let ts = |v: Option<i64>| v.map_or(Value::Null, |t| json!(format_ms(t)));
    let mut q = stmt.query(rusqlite::params![args.status, limit])?;
    while let Some(r) = q.next()? {
        let status: String = r.get(5)?;
        let ids: String = r.get(8)?;
        rows.rows.push(vec![
            json!(r.get::<_, i64>(0)?),
            ts(Some(r.get(1)?)),
            json!(r.get::<_, String>(2)?),
            json!(r.get::<_, String>(3)?),
            json!(r.get::<_, String>(4)?),
            json!(status),
            json!(r.get::<_, i64>(6)?),
            json!(r.get::<_, i64>(7)?),
            serde_json::from_str(&ids).unwrap_or(Value::Null),
            json!(r.get::<_, i64>(9)?),
            // A row never tried is due at once (0); retries are due on the wall clock.
            if status == "pending" && r.get::<_, i64>(10)? > 0 {
                ts(Some(r.get(10)?))
            } else {
                Value::Null
            },
            ts(r.get(11)?),
            json!(r.get::<_, Option<i64>>(12)?),
            json!(r.get::<_, Option<String>>(13)?),
            json!(r.get::<_, String>(14)?),
        ]);
    }
    ctx.print(&rows, args.limit.is_some())?;
    Ok(())
}
