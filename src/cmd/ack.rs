//! `pipemon ack ID [--comment …]`: acknowledge a firing alert. Its group is not
//! re-sent for it (no repeats) until it resolves; changes are still notified.

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};

use super::Context;
use crate::cli::AckArgs;

pub fn run(ctx: &Context, args: &AckArgs) -> Result<()> {
    let store = ctx.open_store()?;
    let conn = store.conn()?;
    let status: Option<String> = conn
        .query_row("SELECT status FROM alerts WHERE id = ?1", [args.id], |r| {
            r.get(0)
        })
        .optional()?;
    match status.as_deref() {
        None => bail!(crate::error::hinted(
            format!("no alert with id {}", args.id),
            "see `pipemon alerts` for firing alerts and their ids",
        )),
        Some("resolved") => bail!(crate::error::hinted(
            format!("alert {} is already resolved", args.id),
            "only firing alerts can be acknowledged",
        )),
        _ => {}
    }
    let now = crate::time::now_ms();
    conn.execute(
        "UPDATE alerts SET acked_at = ?2, ack_comment = ?3, updated_at = ?2 WHERE id = ?1",
        params![args.id, now, args.comment],
    )?;
    println!(
        "acknowledged alert {} at {}",
        args.id,
        crate::time::format_ms(now)
    );
    Ok(())
}
