//! Reading the `alerts` table in the output format of alerts.md: one JSON object
//! per alert with exactly the documented fields and types (timestamps RFC 3339,
//! `receivers` an array, `details` an object, `silenced`/`inhibited` booleans).
//! `pipemon alerts`, `pipemon evaluate --format json` and the scorer all read
//! alerts through here, so they agree.

use anyhow::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row};
use serde_json::{Map, Value, json};

use crate::output::Rows;
use crate::time::format_ms;

/// The fields of an alert, in output order (alerts.md).
pub const FIELDS: [&str; 17] = [
    "id",
    "fingerprint",
    "kind",
    "severity",
    "status",
    "pipeline_id",
    "team",
    "receivers",
    "started_at",
    "resolved_at",
    "last_seen_at",
    "occurrences",
    "run_id",
    "summary",
    "details",
    "silenced",
    "inhibited",
];

/// Which alerts to list. Every field narrows; the default is firing alerts.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Every alert, firing and resolved (ignored when `status` is set).
    pub all: bool,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub team: Option<String>,
    pub severity: Option<String>,
    pub pipeline: Option<String>,
    pub ids: Option<Vec<i64>>,
    pub limit: Option<u64>,
}

const SELECT: &str = "SELECT id, fingerprint, kind, severity, status, pipeline_id, team, receivers,
    started_at, resolved_at, last_seen_at, occurrences, run_id, summary, details, silenced,
    inhibited FROM alerts";

fn object(r: &Row) -> rusqlite::Result<Map<String, Value>> {
    let ts = |i: usize| -> rusqlite::Result<Value> {
        Ok(r.get::<_, Option<i64>>(i)?
            .map_or(Value::Null, |v| json!(format_ms(v))))
    };
    let parsed = |i: usize, empty: Value| -> rusqlite::Result<Value> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or(empty))
    };
    let mut m = Map::new();
    m.insert("id".into(), json!(r.get::<_, i64>(0)?));
    m.insert("fingerprint".into(), json!(r.get::<_, String>(1)?));
    m.insert("kind".into(), json!(r.get::<_, String>(2)?));
    m.insert("severity".into(), json!(r.get::<_, String>(3)?));
    m.insert("status".into(), json!(r.get::<_, String>(4)?));
    m.insert("pipeline_id".into(), json!(r.get::<_, Option<String>>(5)?));
    m.insert("team".into(), json!(r.get::<_, String>(6)?));
    m.insert("receivers".into(), parsed(7, json!([]))?);
    m.insert("started_at".into(), ts(8)?);
    m.insert("resolved_at".into(), ts(9)?);
    m.insert("last_seen_at".into(), ts(10)?);
    m.insert("occurrences".into(), json!(r.get::<_, i64>(11)?));
    m.insert("run_id".into(), json!(r.get::<_, Option<String>>(12)?));
    m.insert("summary".into(), json!(r.get::<_, String>(13)?));
    m.insert("details".into(), parsed(14, json!({}))?);
    m.insert("silenced".into(), json!(r.get::<_, i64>(15)? != 0));
    m.insert("inhibited".into(), json!(r.get::<_, i64>(16)? != 0));
    Ok(m)
}

/// Alerts matching `filter`, newest first, as alerts.md JSON objects.
pub fn list_json(conn: &Connection, filter: &AlertFilter) -> Result<Vec<Map<String, Value>>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let mut eq = |col: &str, v: &Option<String>| {
        if let Some(v) = v {
            params.push(SqlValue::Text(v.clone()));
            clauses.push(format!("{col} = ?{}", params.len()));
        }
    };
    let default_firing = filter.status.is_none() && !filter.all && filter.ids.is_none();
    eq("status", &filter.status);
    eq("kind", &filter.kind);
    eq("team", &filter.team);
    eq("severity", &filter.severity);
    eq("pipeline_id", &filter.pipeline);
    if default_firing {
        clauses.push("status = 'firing'".into());
    }
    if let Some(ids) = &filter.ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        clauses.push(format!("id IN ({})", list.join(",")));
    }
    let mut sql = SELECT.to_string();
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" ORDER BY started_at DESC, id DESC");
    if let Some(n) = filter.limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), object)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One alert by id.
pub fn get_json(conn: &Connection, id: i64) -> Result<Option<Map<String, Value>>> {
    let filter = AlertFilter {
        ids: Some(vec![id]),
        ..AlertFilter::default()
    };
    Ok(list_json(conn, &filter)?.into_iter().next())
}

/// Alerts as output rows: for JSON, the objects as they are; for a table or
/// CSV, the arrays and objects written compactly in one cell.
pub fn to_rows(alerts: &[Map<String, Value>], wide: bool) -> Rows {
    let columns: Vec<&str> = if wide {
        FIELDS.to_vec()
    } else {
        vec![
            "id",
            "kind",
            "severity",
            "status",
            "pipeline_id",
            "team",
            "started_at",
            "resolved_at",
            "occurrences",
            "summary",
        ]
    };
    let mut rows = Rows::new(&columns);
    for a in alerts {
        rows.rows.push(
            columns
                .iter()
                .map(|c| a.get(*c).cloned().unwrap_or(Value::Null))
                .collect(),
        );
    }
    rows
}
