//! `pipemon notify`: flush due notification groups and send due outbox rows (run from
//! cron between evaluations, or after a receiver came back).

use anyhow::Result;

use super::Context;
use crate::cli::NotifyArgs;

pub fn run(ctx: &Context, args: &NotifyArgs) -> Result<()> {
    let config = crate::config::load(ctx.config.as_deref())?;
    let now = match &args.now {
        None => crate::time::now_ms(),
        Some(raw) => crate::time::parse_user_time(raw).ok_or_else(|| {
            crate::error::hinted(
                format!("--now {raw:?} is not a time"),
                "use RFC 3339, e.g. 2026-11-28T14:00:00Z",
            )
        })?,
    };
    let store = ctx.open_store()?;
    let before: i64 = store.conn()?.query_row(
        "SELECT coalesce(max(id), 0) FROM delivery_attempts",
        [],
        |r| r.get(0),
    )?;
    crate::alert::deliver(&store, &config.alert, now)?;
    let conn = store.conn()?;
    let (sent, retry, failed): (i64, i64, i64) = conn.query_row(
        "SELECT count(*) FILTER (WHERE outcome = 'sent'), count(*) FILTER (WHERE outcome = 'retry'),
                count(*) FILTER (WHERE outcome = 'failed')
         FROM delivery_attempts WHERE id > ?1",
        [before],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM notifications WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?;
    eprintln!("sent {sent}, will retry {retry}, failed {failed}; {pending} pending in the outbox");
    Ok(())
}
