//! Named queries: each is a view in the database (`SELECT * FROM <name>`), so what the
//! CLI prints is what a person sees at a sqlite3 prompt. Filters add WHERE clauses on the
//! view's readable columns; `--since` on the health views recomputes their aggregates
//! for the window in temporary copies private to the connection, so a query never
//! writes the database (it runs on a read-only file).

use anyhow::{Result, bail};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ToSql};
use serde::Serialize;
use serde_json::Value;

use crate::model::Millis;
use crate::output::Rows;
use crate::store::import::compute_stats;

/// The named queries, in the order `--help` lists them.
pub const NAMES: &[&str] = &[
    "pipeline_health",
    "team_health",
    "runs",
    "failures",
    "execution_patterns",
];

/// Filters common to the named queries.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub pipeline: Option<String>,
    pub team: Option<String>,
    pub since: Option<Millis>,
    pub limit: Option<u64>,
    /// The rows are for a table: failing pipelines and teams first (JSON and CSV keep
    /// the key order, which programs can rely on).
    pub failing_first: bool,
}

/// Runs a named query, reading only: stale health figures (a killed import may have
/// left some) and `--since` windows are recomputed in connection-private copies.
pub fn run_named(conn: &Connection, name: &str, filter: &Filter) -> Result<Rows> {
    if !NAMES.contains(&name) {
        bail!(crate::error::hinted(
            format!("unknown query `{name}`"),
            format!("the queries are: {}", NAMES.join(", ")),
        ));
    }
    let mut sql = format!("SELECT * FROM {name}");
    let mut wheres: Vec<String> = Vec::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(p) = &filter.pipeline {
        if name == "team_health" {
            bail!("--pipeline does not apply to team_health (it is per team)");
        }
        args.push(Box::new(p.clone()));
        wheres.push(format!("pipeline_id = ?{}", args.len()));
    }
    if let Some(t) = &filter.team {
        if name == "runs" {
            args.push(Box::new(t.clone()));
            wheres.push(format!(
                "pipeline_id IN (SELECT pipeline_id FROM pipelines \
                 WHERE coalesce(team_override, team, 'unowned') = ?{})",
                args.len()
            ));
        } else {
            args.push(Box::new(t.clone()));
            wheres.push(format!("team = ?{}", args.len()));
        }
    }
    let window = filter.since.is_some() && matches!(name, "pipeline_health" | "team_health");
    if let Some(since) = filter.since {
        let text = crate::time::format_ms(since);
        match name {
            "runs" => {
                args.push(Box::new(text));
                wheres.push(format!("started_at >= ?{}", args.len()));
            }
            "failures" => {
                args.push(Box::new(text));
                wheres.push(format!("failed_at >= ?{}", args.len()));
            }
            "execution_patterns" => {
                bail!("--since does not apply to execution_patterns (patterns need all history)")
            }
            _ => {}
        }
    }
    if !wheres.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&wheres.join(" AND "));
    }
    sql.push_str(match name {
        "pipeline_health" if !filter.failing_first => " ORDER BY pipeline_id",
        "team_health" if !filter.failing_first => " ORDER BY team",
        // Failing first: what needs a person tops the table.
        "pipeline_health" => {
            " ORDER BY consecutive_failures > 0 DESC, open_alerts DESC, \
             coalesce(success_rate, 1) ASC, pipeline_id"
        }
        "team_health" => " ORDER BY pipelines_failing DESC, open_alerts DESC, team",
        "execution_patterns" => " ORDER BY pipeline_id",
        "runs" => " ORDER BY started_at DESC, pipeline_id, run_id",
        _ => "",
    });
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let stale: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM stats_stale)", [], |r| {
        r.get(0)
    })?;
    if window || stale {
        // Health figures for a window, or for pipelines a killed import left stale,
        // are computed into connection-private copies; the file is never written.
        let scope = if window {
            "SELECT pipeline_id FROM pipelines"
        } else {
            "SELECT pipeline_id FROM stats_stale"
        };
        shadow_stats(conn, scope, filter.since.unwrap_or(i64::MIN))?;
        let result = select_rows(conn, &sql, &params);
        drop_shadow(conn)?;
        result
    } else {
        select_rows(conn, &sql, &params)
    }
}

/// For a command that reads health figures through its own queries (`report`,
/// `metrics`): when a killed import left some pipelines' figures stale, recomputes
/// them into connection-private copies that the rest of this connection's reads
/// see. The file is never written.
pub fn shadow_stale_stats(conn: &Connection) -> Result<()> {
    let stale: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM stats_stale)", [], |r| {
        r.get(0)
    })?;
    if stale {
        shadow_stats(conn, "SELECT pipeline_id FROM stats_stale", i64::MIN)?;
    }
    Ok(())
}

/// Views copied into `temp` by `shadow_stats`, so `drop_shadow` can remove them.
const SHADOW_LIST: &str = "temp.shadowed_views";

/// Makes `temp.pipeline_stats` (a copy of the stored figures, recomputed for the
/// pipelines `scope` selects, counting runs from `since`) and temp copies of every
/// view that reads it, directly or through another view. Unqualified names resolve
/// to `temp` first, so the named queries then read the recomputed figures, on a
/// read-only connection too; only this connection sees them.
fn shadow_stats(conn: &Connection, scope: &str, since: Millis) -> Result<()> {
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS temp.pipeline_stats;
         CREATE TEMP TABLE pipeline_stats AS SELECT * FROM main.pipeline_stats;
         DROP TABLE IF EXISTS temp.stats_scope;
         CREATE TEMP TABLE stats_scope (pipeline_id TEXT PRIMARY KEY) WITHOUT ROWID;
         INSERT INTO temp.stats_scope {scope};
         DROP TABLE IF EXISTS {SHADOW_LIST};
         CREATE TEMP TABLE shadowed_views (name TEXT);"
    ))?;
    compute_stats(conn, since)?;
    // sqlite_master lists views in creation order, so a view comes after those it reads.
    let views: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM main.sqlite_master WHERE type = 'view' ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut shadowed: Vec<String> = vec!["pipeline_stats".to_string()];
    for (name, sql) in views {
        if !shadowed.iter().any(|t| mentions(&sql, t)) {
            continue;
        }
        let body = sql
            .get(sql.find(" AS").map_or(0, |i| i + 3)..)
            .unwrap_or_default();
        conn.execute_batch(&format!("CREATE TEMP VIEW \"{name}\" AS {body}"))?;
        conn.execute(&format!("INSERT INTO {SHADOW_LIST} VALUES (?1)"), [&name])?;
        shadowed.push(name);
    }
    Ok(())
}

/// Removes what `shadow_stats` made.
fn drop_shadow(conn: &Connection) -> Result<()> {
    let names: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM {SHADOW_LIST} ORDER BY rowid DESC"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for n in names {
        conn.execute_batch(&format!("DROP VIEW temp.\"{n}\""))?;
    }
    conn.execute_batch(&format!(
        "DROP TABLE {SHADOW_LIST}; DROP TABLE temp.stats_scope; DROP TABLE temp.pipeline_stats;"
    ))?;
    Ok(())
}

/// Whether SQL text names `table` as a whole word.
fn mentions(sql: &str, table: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.match_indices(table).any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        let after = sql[i + table.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Runs a SELECT and returns its rows as JSON values, columns in order.
pub fn select_rows(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<Rows> {
    let mut stmt = conn.prepare(sql)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let n = columns.len();
    let mut out = Rows {
        columns,
        rows: Vec::new(),
    };
    let mut rows = stmt.query(params)?;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::from(v),
                ValueRef::Real(v) => serde_json::Number::from_f64(v)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
            });
        }
        out.rows.push(values);
    }
    Ok(out)
}

/// One hot query and whether its plan uses the index meant for it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanCheck {
    pub name: String,
    pub sql: String,
    pub plan: String,
    pub expected_index: String,
    pub ok: bool,
}

/// The queries pipemon runs most, each with the index it must use.
pub const HOT_QUERIES: &[(&str, &str, &str)] = &[
    (
        "event deduplication (import)",
        "SELECT 1 FROM events WHERE pipeline_id = 'p' AND event_key = 'k'",
        "PRIMARY KEY",
    ),
    (
        "run upsert lookup (import)",
        "SELECT term_ts FROM run_state WHERE pipeline_id = 'p' AND run_id = 'r'",
        "PRIMARY KEY",
    ),
    (
        "health totals per pipeline (pipeline_stats refresh after import)",
        "SELECT pipeline_id, outcome, start_at FROM run_state \
         WHERE pipeline_id IN ('p', 'q') AND +start_at >= 0 AND first_event_at IS NOT NULL \
         ORDER BY pipeline_id",
        "PRIMARY KEY",
    ),
    (
        "pipeline history scan (detectors, query runs --pipeline)",
        "SELECT run_id, outcome, duration_ms FROM run_state \
         WHERE pipeline_id = 'p' AND start_at >= 0 ORDER BY start_at",
        "runs_by_pipeline_start",
    ),
    (
        "recent final failures (query failures, systemic detection)",
        "SELECT pipeline_id, run_id FROM run_state \
         WHERE term_status = 'failed' AND term_ts >= 0 ORDER BY term_ts DESC",
        "runs_failed_by_end",
    ),
    (
        "runs in progress (stuck-run detection)",
        "SELECT run_id, start_at FROM run_state \
         WHERE pipeline_id = 'p' AND term_status IS NULL ORDER BY start_at",
        "runs_in_progress",
    ),
    (
        "runs in the last 24 h (pipeline_health)",
        "SELECT count(*) FROM run_state WHERE pipeline_id = 'p' AND start_at > 0",
        "runs_by_pipeline_start",
    ),
    (
        "open alerts of a pipeline (pipeline_health, alerts --pipeline)",
        "SELECT count(*) FROM alerts WHERE pipeline_id = 'p' AND status = 'firing'",
        "alerts_by_pipeline",
    ),
    (
        "open alert of a condition (evaluate)",
        "SELECT id FROM alerts WHERE fingerprint = 'f' AND status = 'firing'",
        "alerts_open_by_fingerprint",
    ),
];

/// Runs EXPLAIN QUERY PLAN on every hot query and checks it names its index.
pub fn check_hot_query_plans(conn: &Connection) -> Result<Vec<PlanCheck>> {
    let mut out = Vec::new();
    for (name, sql, index) in HOT_QUERIES {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let details: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(3))?
            .collect::<rusqlite::Result<_>>()?;
        let plan = details.join("; ");
        let uses = if *index == "PRIMARY KEY" {
            plan.contains("USING PRIMARY KEY")
        } else {
            plan.contains(&format!("INDEX {index}"))
        };
        let full_scan = details
            .iter()
            .any(|d| d.starts_with("SCAN ") && !d.contains("INDEX"));
        out.push(PlanCheck {
            name: name.to_string(),
            sql: sql.to_string(),
            plan,
            expected_index: index.to_string(),
            ok: uses && !full_scan,
        });
    }
    Ok(out)
}
