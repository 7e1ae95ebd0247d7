//! `pipemon alerts [--all] [--status S] [--kind K] [--team T] [--severity S]
//! [--pipeline P]` lists alerts (firing by default), newest first; `pipemon alerts
//! show ID` shows one with its evidence. `--format json` prints exactly the
//! alerts.md objects, one per line.

use anyhow::{Result, bail};

use super::Context;
use crate::cli::{AlertsAction, AlertsArgs, Format};
use crate::detect::alerts::{AlertFilter, FIELDS, get_json, list_json, to_rows};
use crate::model::{AlertKind, Severity};

pub fn run(ctx: &Context, args: &AlertsArgs) -> Result<()> {
    let store = ctx.open_read_only()?;
    let conn = store.conn()?;
    if let Some(AlertsAction::Show { id }) = &args.action {
        return show(ctx, &conn, *id);
    }
    if let Some(k) = &args.kind
        && AlertKind::parse(k).is_none()
    {
        let kinds: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
        bail!(crate::error::hinted(
            format!("--kind `{k}` is not an alert kind"),
            format!("use one of {}", kinds.join(", ")),
        ));
    }
    if let Some(s) = &args.severity
        && Severity::parse(s).is_none()
    {
        bail!(crate::error::hinted(
            format!("--severity `{s}` is not a severity"),
            "use low, medium, high or critical",
        ));
    }
    let filter = AlertFilter {
        all: args.all,
        status: args.status.clone(),
        kind: args.kind.clone(),
        team: args.team.clone(),
        severity: args.severity.clone(),
        pipeline: args.pipeline.clone(),
        ids: None,
        limit: args.limit,
    };
    let alerts = list_json(&conn, &filter)?;
    to_rows(&alerts, ctx.format != Format::Table).print(ctx.format)?;
    Ok(())
}

fn show(ctx: &Context, conn: &rusqlite::Connection, id: i64) -> Result<()> {
    let Some(alert) = get_json(conn, id)? else {
        bail!(crate::error::hinted(
            format!("no alert with id {id}"),
            "list alerts with `pipemon alerts --all`",
        ));
    };
    if ctx.format != Format::Table {
        return to_rows(&[alert], true)
            .print(ctx.format)
            .map_err(Into::into);
    }
    let mut out = String::new();
    for k in FIELDS.iter().filter(|k| **k != "details") {
        let v = alert.get(*k).cloned().unwrap_or(serde_json::Value::Null);
        out.push_str(&format!("{k:>13}: {}\n", crate::output::cell(&v)));
    }
    out.push_str("      details:\n");
    let pretty = serde_json::to_string_pretty(&alert["details"])?;
    for line in pretty.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    print!("{out}");
    Ok(())
}
