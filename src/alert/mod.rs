//! Alerting after detection: ownership and severity policy, routing, silences,
//! maintenance windows, inhibition, grouping with a notification log, and delivery
//! through an outbox.
//!
//! `process` runs inside evaluate's transaction after detection changed the alerts
//! table. It decides (and records on each alert) its team, severity, receivers,
//! `silenced` and `inhibited`; places firing alerts in notification groups; and queues
//! the notifications that are due as outbox rows. `deliver` flushes due groups and
//! sends due outbox rows. All timing decisions read `now` and SQLite state only, so
//! separate cron invocations behave like one long-running process, and the clock can
//! be injected in tests.

pub mod config;
pub mod group;
pub mod inhibit;
pub mod matcher;
pub mod payload;
pub mod policy;
pub mod route;
pub mod send;
pub mod silence;
pub mod timeinterval;

use std::collections::{BTreeSet, HashMap};

use anyhow::Result;
use rusqlite::{Connection, Row, TransactionBehavior, params};
use serde_json::{Map, Value, json};

use crate::alert::config::{AlertConfig, ReceiverType};
use crate::model::{AlertKind, Millis, Priority};
use crate::store::Store;

pub use policy::{Policy, alert_labels, validate};

/// An alert row as alerting reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub fingerprint: String,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub pipeline_id: Option<String>,
    pub team: String,
    pub environment: Option<String>,
    pub priority: Option<String>,
    pub run_id: Option<String>,
    pub started_at: Millis,
    pub resolved_at: Option<Millis>,
    pub last_seen_at: Millis,
    pub occurrences: i64,
    pub summary: String,
    pub details: Value,
    pub receivers: Vec<String>,
    pub silenced: bool,
    pub inhibited: bool,
    pub acked_at: Option<Millis>,
    pub ack_comment: Option<String>,
}

/// The column list `AlertRow::from_row` reads, in order.
pub const ALERT_COLUMNS: &str = "id, fingerprint, kind, severity, status, pipeline_id, team, environment, priority, run_id, started_at, resolved_at, last_seen_at, occurrences, summary, details, receivers, silenced, inhibited, acked_at, ack_comment";

impl AlertRow {
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
        let details: String = r.get(15)?;
        let receivers: String = r.get(16)?;
        Ok(AlertRow {
            id: r.get(0)?,
            fingerprint: r.get(1)?,
            kind: r.get(2)?,
            severity: r.get(3)?,
            status: r.get(4)?,
            pipeline_id: r.get(5)?,
            team: r.get(6)?,
            environment: r.get(7)?,
            priority: r.get(8)?,
            run_id: r.get(9)?,
            started_at: r.get(10)?,
            resolved_at: r.get(11)?,
            last_seen_at: r.get(12)?,
            occurrences: r.get(13)?,
            summary: r.get(14)?,
            details: serde_json::from_str(&details).unwrap_or_else(|_| json!({})),
            receivers: serde_json::from_str(&receivers).unwrap_or_default(),
            silenced: r.get(17)?,
            inhibited: r.get(18)?,
            acked_at: r.get(19)?,
            ack_comment: r.get(20)?,
        })
    }

    /// Its labels for matching and grouping.
    pub fn labels(&self) -> matcher::Labels {
        alert_labels(
            &self.kind,
            &self.severity,
            &self.team,
            self.pipeline_id.as_deref(),
            self.environment.as_deref(),
            self.priority.as_deref(),
        )
    }

    pub fn is_firing(&self) -> bool {
        self.status == "firing"
    }

    /// A fixture for unit tests: a firing alert of `kind` on `pipeline`.
    #[doc(hidden)]
    pub fn test(id: i64, kind: &str, pipeline: Option<&str>) -> AlertRow {
        AlertRow {
            id,
            fingerprint: format!("{kind}:{}", pipeline.unwrap_or("-")),
            kind: kind.into(),
            severity: "high".into(),
            status: "firing".into(),
            pipeline_id: pipeline.map(String::from),
            team: "data".into(),
            environment: None,
            priority: None,
            run_id: None,
            started_at: 1_000_000,
            resolved_at: None,
            last_seen_at: 1_000_000,
            occurrences: 1,
            summary: format!("{kind} on {}", pipeline.unwrap_or("-")),
            details: json!({}),
            receivers: Vec::new(),
            silenced: false,
            inhibited: false,
            acked_at: None,
            ack_comment: None,
        }
    }
}

/// Reads alerts with a WHERE clause (and parameters).
pub fn load_alerts(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<AlertRow>> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE {filter} ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params, AlertRow::from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Writes the configuration's ownership rules into `pipelines.*_override` so views,
/// detection and alerting all see the effective team, priority and environment.
/// Pipelines no rule matches get their overrides cleared.
pub fn apply_ownership(conn: &Connection, config: &AlertConfig) -> Result<()> {
    let policy = Policy::new(config)?;
    apply_ownership_with(conn, &policy)
}

fn apply_ownership_with(conn: &Connection, policy: &Policy) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT pipeline_id, team_override, priority_override, environment_override FROM pipelines",
    )?;
    type Overrides = (String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Overrides> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = conn.prepare_cached(
        "UPDATE pipelines SET team_override = ?2, priority_override = ?3, environment_override = ?4
         WHERE pipeline_id = ?1",
    )?;
    for (p, team, prio, env) in rows {
        let (t, pr, e) = policy.ownership_for(&p);
        let pr = pr.map(|x| x.as_str().to_string());
        if (t.as_ref(), pr.as_ref(), e.as_ref()) != (team.as_ref(), prio.as_ref(), env.as_ref()) {
            update.execute(params![p, t, pr, e])?;
        }
    }
    Ok(())
}

/// A pipeline's effective ownership and lineage.
#[derive(Debug, Clone)]
struct PipelineInfo {
    team: String,
    priority: String,
    environment: Option<String>,
}

/// Each pipeline's upstream pipelines (from `pipelines.upstream`).
type Upstream = HashMap<String, Vec<String>>;

fn load_pipelines(conn: &Connection) -> Result<(HashMap<String, PipelineInfo>, Upstream)> {
    let mut stmt = conn.prepare(
        "SELECT pipeline_id,
                coalesce(team_override, team, 'unowned'),
                coalesce(priority_override, priority, 'medium'),
                coalesce(environment_override, environment),
                upstream
         FROM pipelines",
    )?;
    let mut info = HashMap::new();
    let mut upstream = HashMap::new();
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    for row in rows {
        let (p, team, priority, environment, up) = row?;
        if let Some(up) = up
            && let Ok(list) = serde_json::from_str::<Vec<String>>(&up)
        {
            upstream.insert(p.clone(), list);
        }
        info.insert(
            p,
            PipelineInfo {
                team,
                priority,
                environment,
            },
        );
    }
    Ok((info, upstream))
}

/// Applies policy to the alerts table after detection changed it, inside the same
/// transaction: ownership, severity, routing (`receivers`), silences, maintenance
/// windows, inhibition, group membership, and queueing the notifications now due.
pub fn process(conn: &Connection, config: &AlertConfig, now: Millis) -> Result<()> {
    let policy = Policy::new(config)?;
    apply_ownership_with(conn, &policy)?;
    let (pipelines, upstream) = load_pipelines(conn)?;

    // Firing alerts, and alerts never routed (history that resolved before any
    // evaluation saw it firing): both get policy applied.
    let mut alerts = load_alerts(conn, "status = 'firing' OR receivers = '[]'", [])?;
    let systemic = load_alerts(conn, "kind = 'systemic_failure'", [])?;
    let before = alerts.clone();

    for a in alerts.iter_mut() {
        if let Some(p) = a.pipeline_id.as_ref().and_then(|p| pipelines.get(p)) {
            a.team = p.team.clone();
            a.priority = Some(p.priority.clone());
            a.environment = p.environment.clone();
        }
        if let Some(kind) = AlertKind::parse(&a.kind) {
            let prio = a
                .priority
                .as_deref()
                .and_then(Priority::parse)
                .unwrap_or_default();
            a.severity = policy
                .severity(kind, prio, a.pipeline_id.as_deref(), &a.team)
                .as_str()
                .to_string();
        }
    }
    let labels: Vec<matcher::Labels> = alerts.iter().map(AlertRow::labels).collect();

    let silences = silence::active(conn, now)?;
    let inhibition = inhibit::compute(&alerts, &labels, &systemic, &upstream, &policy);

    for (i, a) in alerts.iter_mut().enumerate() {
        let routes = policy.route.matches(&labels[i]);
        let mut receivers: Vec<String> = Vec::new();
        for r in &routes {
            if !receivers.contains(&r.receiver) {
                receivers.push(r.receiver.clone());
            }
        }
        let first_seen = a.receivers.is_empty();
        a.receivers = receivers;
        // Every alert here fires or is seen for the first time (it may have opened
        // and resolved since the last evaluation); resolved alerts seen before keep
        // the state they had and are not reloaded. Silences and maintenance windows
        // apply to both.
        let firing = a.is_firing() || first_seen;
        let silenced_by: Vec<i64> = if firing {
            silences
                .iter()
                .filter(|s| s.matches(&labels[i]))
                .map(|s| s.id)
                .collect()
        } else {
            Vec::new()
        };
        // Muted by maintenance windows only when every route it takes is muted.
        let muted_by: Vec<String> = if firing {
            let m: Vec<String> = routes
                .iter()
                .filter_map(|r| policy.route_muted(r, now))
                .collect();
            if m.len() == routes.len() {
                m
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        if !a.details.is_object() {
            a.details = json!({});
        }
        let Some(d) = a.details.as_object_mut() else {
            continue;
        };
        set_list(
            d,
            "silenced_by",
            silenced_by.iter().map(|x| json!(x)).collect(),
        );
        set_list(d, "muted_by", muted_by.iter().map(|x| json!(x)).collect());
        set_list(d, "inhibited_by", inhibition.inhibited_by[i].clone());
        a.silenced = !silenced_by.is_empty() || !muted_by.is_empty();
        a.inhibited = !inhibition.inhibited_by[i].is_empty();
    }
    // Upstream alerts list the downstream pipelines they hold up (accumulated: a
    // pipeline once impacted stays in the record).
    for (id, impacted) in &inhibition.impacted {
        let target = match alerts.iter_mut().find(|a| a.id == *id) {
            Some(a) => a,
            None => continue,
        };
        if let Some(d) = target.details.as_object_mut() {
            let mut all: BTreeSet<String> = d
                .get("impacted_downstream")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            all.extend(impacted.iter().cloned());
            d.insert("impacted_downstream".into(), json!(all));
        }
    }
    let mut update = conn.prepare_cached(
        "UPDATE alerts SET team = ?2, environment = ?3, priority = ?4, severity = ?5,
                receivers = ?6, silenced = ?7, inhibited = ?8, details = ?9, updated_at = ?10
         WHERE id = ?1",
    )?;
    for (a, b) in alerts.iter().zip(&before) {
        if a != b {
            update.execute(params![
                a.id,
                a.team,
                a.environment,
                a.priority,
                a.severity,
                serde_json::to_string(&a.receivers)?,
                a.silenced,
                a.inhibited,
                a.details.to_string(),
                now
            ])?;
        }
    }

    group::assign(conn, &policy, &alerts, &labels, now)?;
    group::flush_due(conn, &policy, now)?;
    Ok(())
}

fn set_list(d: &mut Map<String, Value>, key: &str, list: Vec<Value>) {
    if list.is_empty() {
        d.remove(key);
    } else {
        d.insert(key.into(), Value::Array(list));
    }
}

/// Sends the notifications that are due: flushes notification groups whose time has
/// come at `now` (so `pipemon notify` from cron keeps grouping timers exact without a
/// new evaluation), then sends due outbox rows with retries on the wall clock.
pub fn deliver(store: &Store, config: &AlertConfig, now: Millis) -> Result<send::DeliveryReport> {
    deliver_with(
        store,
        config,
        now,
        send::SendOptions {
            clock: crate::time::now_ms(),
            fsync: false,
        },
    )
}

/// `deliver` with the delivery clock and durability chosen by the caller (tests
/// inject the clock; the delivery bench measures with and without fsync).
pub fn deliver_with(
    store: &Store,
    config: &AlertConfig,
    now: Millis,
    opts: send::SendOptions,
) -> Result<send::DeliveryReport> {
    let policy = Policy::new(config)?;
    {
        let mut conn = store.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        group::flush_due(&tx, &policy, now)?;
        tx.commit()?;
    }
    send::send_due(store, config, &policy, opts)
}

/// Whether a receiver type groups (everything but alertmanager, which is re-posted
/// per alert, and none, which delivers nothing).
pub fn groups(kind: ReceiverType) -> bool {
    !matches!(kind, ReceiverType::None | ReceiverType::Alertmanager)
}
