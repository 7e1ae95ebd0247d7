//! `pipemon rejected`: the lines an import could not accept, newest first, with their
//! reason code, message, source and line, and raw text.

use anyhow::Result;
use rusqlite::ToSql;

use super::Context;
use crate::cli::RejectedArgs;
use crate::query::select_rows;

pub fn run(ctx: &Context, args: &RejectedArgs) -> Result<()> {
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
    select_rows(&conn, &sql, &params)?.print(ctx.format)?;
    Ok(())
}
