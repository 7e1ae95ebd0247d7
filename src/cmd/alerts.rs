//! `pipemon alerts [--all] [--status S] [--kind K] [--team T] [--severity S]
//! [--pipeline P]` lists alerts (firing by default). The table puts what needs a
//! person first (firing and not acked, silenced or inhibited; then by severity) and
//! says in a `state` column who quieted an alert and how; `pipemon alerts show ID`
//! shows one with its evidence. `--format json` prints exactly the alerts.md
//! objects, one per line, newest first.

use std::collections::HashSet;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

use super::Context;
use crate::cli::{AlertsAction, AlertsArgs, Format};
use crate::detect::alerts::{AlertFilter, FIELDS, get_json, list_json, to_rows};
use crate::model::{AlertKind, Severity};
use crate::output::Rows;

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
        limit: if ctx.format == Format::Table {
            None
        } else {
            args.limit
        },
    };
    let alerts = list_json(&conn, &filter)?;
    if ctx.format != Format::Table {
        ctx.print(&to_rows(&alerts, true), true)?;
        return Ok(());
    }
    let acked = acked_ids(&conn)?;
    let mut people: Vec<(u8, u8, String, Map<String, Value>)> = alerts
        .into_iter()
        .map(|a| {
            let (state, quiet) = state_of(&a, &acked);
            let firing = a["status"] == "firing";
            let sev = Severity::parse(a["severity"].as_str().unwrap_or("")).map_or(0, |s| {
                Severity::ALL.iter().position(|x| *x == s).unwrap_or(0) as u8
            });
            // Failing first: firing before resolved, then alerts nobody has quieted,
            // then the most severe; list_json already put the newest first.
            let rank = match (firing, quiet) {
                (true, false) => 0,
                (true, true) => 1,
                (false, _) => 2,
            };
            (rank, u8::MAX - sev, state, a)
        })
        .collect();
    people.sort_by_key(|(rank, sev, _, _)| (*rank, *sev));
    if let Some(n) = args.limit {
        people.truncate(n as usize);
    }
    let mut rows = Rows::new(&[
        "id",
        "state",
        "severity",
        "kind",
        "pipeline_id",
        "started_at",
        "summary",
        "team",
        "resolved_at",
        "occurrences",
    ]);
    for (_, _, state, a) in people {
        rows.rows.push(vec![
            a["id"].clone(),
            Value::String(state),
            a["severity"].clone(),
            a["kind"].clone(),
            a["pipeline_id"].clone(),
            a["started_at"].clone(),
            a["summary"].clone(),
            a["team"].clone(),
            a["resolved_at"].clone(),
            a["occurrences"].clone(),
        ]);
    }
    ctx.print(&rows, args.limit.is_some())?;
    Ok(())
}

/// Ids of acknowledged alerts.
fn acked_ids(conn: &rusqlite::Connection) -> Result<HashSet<i64>> {
    let mut stmt = conn.prepare("SELECT id FROM alerts WHERE acked_at IS NOT NULL")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

/// What a person needs to know about an alert's state, and whether someone quieted
/// it: `firing`, `firing, acked`, `silenced by #3`, `muted by night`,
/// `inhibited by #12 (systemic_failure)`, `resolved`.
pub fn state_of(a: &Map<String, Value>, acked: &HashSet<i64>) -> (String, bool) {
    let id = a["id"].as_i64().unwrap_or(-1);
    if a["status"] != "firing" {
        return ("resolved".to_string(), false);
    }
    let d = &a["details"];
    let list = |k: &str| -> Vec<Value> { d[k].as_array().cloned().unwrap_or_default() };
    let mut parts = vec!["firing".to_string()];
    let mut quiet = false;
    if acked.contains(&id) {
        parts.push("acked".into());
        quiet = true;
    }
    let silences: Vec<String> = list("silenced_by")
        .iter()
        .map(|v| format!("#{v}"))
        .collect();
    if !silences.is_empty() {
        parts.push(format!("silenced by silence {}", silences.join(", ")));
        quiet = true;
    }
    let muted: Vec<String> = list("muted_by")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !muted.is_empty() {
        parts.push(format!("muted by {}", muted.join(", ")));
        quiet = true;
    }
    let inhibitors: Vec<String> = list("inhibited_by")
        .iter()
        .map(|w| {
            let reason = w["reason"].as_str().unwrap_or("rule");
            match w["alert_id"].as_i64() {
                Some(src) => format!("#{src} ({reason})"),
                None => reason.to_string(),
            }
        })
        .collect();
    if !inhibitors.is_empty() {
        parts.push(format!("inhibited by {}", inhibitors.join(", ")));
        quiet = true;
    } else if a["inhibited"] == true {
        parts.push("inhibited".into());
        quiet = true;
    }
    (parts.join(", "), quiet)
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
