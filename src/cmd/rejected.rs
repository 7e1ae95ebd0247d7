//! `pipemon rejected`: the lines an import could not accept, newest first, with their
//! reason code, message, source and line, and raw text.

use anyhow::Result;
use rusqlite::ToSql;

use super::Context;
use crate::cli::RejectedArgs;
use crate::ingest::RejectReason;
use crate::query::select_rows;

pub fn run(ctx: &Context, args: &RejectedArgs) -> Result<()> {
    if let Some(r) = &args.reason
        && !RejectReason::ALL.iter().any(|k| k.as_str() == r)
    {
        let codes: Vec<&str> = RejectReason::ALL.iter().map(|k| k.as_str()).collect();
        anyhow::bail!(crate::error::hinted(
            format!("--reason `{r}` is not a rejection reason"),
            format!("use one of {}", codes.join(", ")),
        ));
    }
    let store = ctx.open_read_only()?;
    let conn = store.conn()?;
    let mut sql = String::from("SELECT * FROM rejected");
    let mut params: Vec<&dyn ToSql> = Vec::new();
    if let Some(reason) = &args.reason {
        sql.push_str(" WHERE reason = ?1");
        params.push(reason);
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(limit) = args.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let rows = select_rows(&conn, &sql, &params)?;
    ctx.print(&rows, args.limit.is_some())?;
    Ok(())
}
