//! `pipemon metrics`: the database's figures in the Prometheus text exposition
//! format, for node_exporter's textfile collector (cron writes the file, the
//! collector serves it; pipemon runs no server).
//!
//! Conventions: base units (seconds, ratios 0-1), counters end in `_total`, every
//! family has `# HELP` and `# TYPE`, label values are escaped. Cardinality is
//! bounded by the data's own sets: per pipeline a fixed number of series (4 run
//! outcomes, 2 duration quantiles, a few timestamps), open alerts only for the
//! (kind, severity) pairs that are firing (at most 9 × 4 per pipeline, in practice a
//! handful fleet-wide), one series per configured receiver and status, one per
//! rejection reason (a fixed list of 9).

use std::fmt::Write as _;

use anyhow::Result;
use rusqlite::Connection;

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A number as the exposition format writes it.
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One metric family being written: its header once, then samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&value(v));
        self.out.push('\n');
    }
}

fn family<'a>(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

/// Per-pipeline figures, one row per pipeline.
struct PipelineRow {
    id: String,
    team: String,
    counts: [i64; 4],
    in_progress: i64,
    success_rate: Option<f64>,
    last_run_at: Option<i64>,
    last_success_at: Option<i64>,
    p50: Option<i64>,
    p95: Option<i64>,
    last_records: Option<i64>,
}

const OUTCOMES: [&str; 4] = ["success", "failed", "cancelled", "skipped"];

fn pipelines(conn: &Connection) -> Result<Vec<PipelineRow>> {
    let mut stmt = conn.prepare(
        "SELECT p.pipeline_id, coalesce(p.team_override, p.team, 'unowned'),
                coalesce(s.runs_success, 0), coalesce(s.runs_failed, 0),
                coalesce(s.runs_cancelled, 0), coalesce(s.runs_skipped, 0),
                coalesce(s.runs_in_progress, 0),
                1.0 * s.runs_success / nullif(s.runs_success + s.runs_failed, 0),
                s.last_run_at, s.last_success_at, s.duration_p50_ms, s.duration_p95_ms,
                (SELECT r.records_processed FROM run_state r
                  WHERE r.pipeline_id = p.pipeline_id AND r.first_event_at IS NOT NULL
                  ORDER BY r.start_at DESC, r.run_id DESC LIMIT 1)
         FROM pipelines p LEFT JOIN pipeline_stats s USING (pipeline_id)
         ORDER BY p.pipeline_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(PipelineRow {
            id: r.get(0)?,
            team: r.get(1)?,
            counts: [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
            in_progress: r.get(6)?,
            success_rate: r.get(7)?,
            last_run_at: r.get(8)?,
            last_success_at: r.get(9)?,
            p50: r.get(10)?,
            p95: r.get(11)?,
            last_records: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Per receiver, how many notifications are in each outbox status: (receiver,
/// sent, failed, pending). Read from the outbox (`notifications`).
pub fn receiver_delivery(conn: &Connection) -> Result<Vec<(String, i64, i64, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT receiver, sum(status = 'sent'), sum(status = 'failed'), sum(status = 'pending')
         FROM notifications GROUP BY receiver ORDER BY receiver",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The whole exposition text.
pub fn render(conn: &Connection) -> Result<String> {
    crate::query::shadow_stale_stats(conn)?;
    let rows = pipelines(conn)?;
    let mut out = String::with_capacity(256 * rows.len() + 4096);

    let mut f = family(
        &mut out,
        "pipemon_pipelines",
        "gauge",
        "Pipelines known to pipemon.",
    );
    f.sample(&[], rows.len() as f64);

    let mut f = family(
        &mut out,
        "pipemon_pipeline_runs_total",
        "counter",
        "Finished runs by final outcome (retries that succeed count as success).",
    );
    for p in &rows {
        for (i, o) in OUTCOMES.iter().enumerate() {
            f.sample(
                &[("pipeline_id", &p.id), ("team", &p.team), ("outcome", o)],
                p.counts[i] as f64,
            );
        }
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_runs_in_progress",
        "gauge",
        "Runs started and not yet finished.",
    );
    for p in &rows {
        f.sample(
            &[("pipeline_id", &p.id), ("team", &p.team)],
            p.in_progress as f64,
        );
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_success_ratio",
        "gauge",
        "Successful runs / (successful + failed runs), over all history; absent before the first finished run.",
    );
    for p in &rows {
        if let Some(r) = p.success_rate {
            f.sample(&[("pipeline_id", &p.id), ("team", &p.team)], r);
        }
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_last_run_timestamp_seconds",
        "gauge",
        "Start of the latest run, Unix time.",
    );
    for p in &rows {
        if let Some(t) = p.last_run_at {
            f.sample(&[("pipeline_id", &p.id), ("team", &p.team)], secs(t));
        }
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_last_success_timestamp_seconds",
        "gauge",
        "Start of the latest successful run, Unix time.",
    );
    for p in &rows {
        if let Some(t) = p.last_success_at {
            f.sample(&[("pipeline_id", &p.id), ("team", &p.team)], secs(t));
        }
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_duration_p50_seconds",
        "gauge",
        "Median duration of successful runs (nearest rank).",
    );
    for p in &rows {
        if let Some(d) = p.p50 {
            f.sample(&[("pipeline_id", &p.id), ("team", &p.team)], secs(d));
        }
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_duration_p95_seconds",
        "gauge",
        "95th percentile duration of successful runs (nearest rank).",
    );
    for p in &rows {
        if let Some(d) = p.p95 {
            f.sample(&[("pipeline_id", &p.id), ("team", &p.team)], secs(d));
        }
    }
    let mut f = family(
        &mut out,
        "pipemon_pipeline_last_run_records",
        "gauge",
        "records_processed of the latest run that reported it.",
    );
    for p in &rows {
        if let Some(n) = p.last_records {
            f.sample(&[("pipeline_id", &p.id), ("team", &p.team)], n as f64);
        }
    }

    // Open alerts: per pipeline, only the firing (kind, severity) pairs.
    let mut stmt = conn.prepare(
        "SELECT a.pipeline_id, coalesce(p.team_override, p.team, a.team), a.kind, a.severity, count(*)
         FROM alerts a LEFT JOIN pipelines p USING (pipeline_id)
         WHERE a.status = 'firing' AND a.pipeline_id IS NOT NULL
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 4",
    )?;
    let open: Vec<(String, String, String, String, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut f = family(
        &mut out,
        "pipemon_pipeline_open_alerts",
        "gauge",
        "Firing alerts of a pipeline by kind and severity (only pairs that are firing).",
    );
    for (p, team, kind, sev, n) in &open {
        f.sample(
            &[
                ("pipeline_id", p),
                ("team", team),
                ("kind", kind),
                ("severity", sev),
            ],
            *n as f64,
        );
    }
    let mut stmt = conn.prepare(
        "SELECT kind, severity, count(*) FROM alerts WHERE status = 'firing' GROUP BY 1, 2",
    )?;
    let fleet: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut f = family(
        &mut out,
        "pipemon_open_alerts",
        "gauge",
        "Firing alerts fleet-wide (systemic ones included) by kind and severity; every pair present, zero or not.",
    );
    for kind in crate::model::AlertKind::ALL {
        for sev in ["low", "medium", "high", "critical"] {
            let n = fleet
                .iter()
                .find(|(k, s, _)| k == kind.as_str() && s == sev)
                .map_or(0, |r| r.2);
            f.sample(&[("kind", kind.as_str()), ("severity", sev)], n as f64);
        }
    }

    let delivery = receiver_delivery(conn)?;
    let mut f = family(
        &mut out,
        "pipemon_notifications_sent_total",
        "counter",
        "Notifications delivered, per receiver.",
    );
    for (r, sent, _, _) in &delivery {
        f.sample(&[("receiver", r)], *sent as f64);
    }
    let mut f = family(
        &mut out,
        "pipemon_notifications_failed_total",
        "counter",
        "Notifications given up on, per receiver.",
    );
    for (r, _, failed, _) in &delivery {
        f.sample(&[("receiver", r)], *failed as f64);
    }
    let mut f = family(
        &mut out,
        "pipemon_notifications_pending",
        "gauge",
        "Notifications waiting to be sent or retried, per receiver.",
    );
    for (r, _, _, pending) in &delivery {
        f.sample(&[("receiver", r)], *pending as f64);
    }

    let eval: Option<(i64, i64, i64)> = conn
        .query_row(
            "SELECT now, evaluated_at, elapsed_ms FROM evaluations ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok();
    let evals: i64 = conn.query_row("SELECT count(*) FROM evaluations", [], |r| r.get(0))?;
    let mut f = family(
        &mut out,
        "pipemon_evaluations_total",
        "counter",
        "Evaluations recorded.",
    );
    f.sample(&[], evals as f64);
    if let Some((now, at, ms)) = eval {
        let mut f = family(
            &mut out,
            "pipemon_last_evaluation_timestamp_seconds",
            "gauge",
            "When the latest evaluation ran, Unix time.",
        );
        f.sample(&[], secs(at));
        let mut f = family(
            &mut out,
            "pipemon_last_evaluation_as_of_timestamp_seconds",
            "gauge",
            "The time the latest evaluation evaluated as of (its --now), Unix time.",
        );
        f.sample(&[], secs(now));
        let mut f = family(
            &mut out,
            "pipemon_last_evaluation_duration_seconds",
            "gauge",
            "How long the latest evaluation took.",
        );
        f.sample(&[], secs(ms));
    }

    let (imports, lines, inserted, duplicates, rejected, last): (
        i64,
        i64,
        i64,
        i64,
        i64,
        Option<i64>,
    ) = conn.query_row(
        "SELECT count(*), coalesce(sum(lines), 0), coalesce(sum(inserted), 0),
                coalesce(sum(duplicates), 0), coalesce(sum(rejected), 0), max(finished_at)
         FROM imports",
        [],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    let mut f = family(
        &mut out,
        "pipemon_imports_total",
        "counter",
        "Imports run (one per input file or standard input).",
    );
    f.sample(&[], imports as f64);
    let mut f = family(
        &mut out,
        "pipemon_import_lines_total",
        "counter",
        "Input lines read by imports.",
    );
    f.sample(&[], lines as f64);
    let mut f = family(
        &mut out,
        "pipemon_import_events_inserted_total",
        "counter",
        "Events accepted and stored by imports.",
    );
    f.sample(&[], inserted as f64);
    let mut f = family(
        &mut out,
        "pipemon_import_duplicates_total",
        "counter",
        "Events skipped as duplicates by imports.",
    );
    f.sample(&[], duplicates as f64);
    let mut f = family(
        &mut out,
        "pipemon_import_rejected_lines_total",
        "counter",
        "Lines rejected by imports (a line rejected again on re-import counts again).",
    );
    f.sample(&[], rejected as f64);
    if let Some(t) = last {
        let mut f = family(
            &mut out,
            "pipemon_last_import_timestamp_seconds",
            "gauge",
            "When the latest finished import ended, Unix time.",
        );
        f.sample(&[], secs(t));
    }
    let mut stmt = conn
        .prepare("SELECT reason, count(*) FROM rejected_events GROUP BY reason ORDER BY reason")?;
    let reasons: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut f = family(
        &mut out,
        "pipemon_rejected_lines",
        "gauge",
        "Distinct rejected lines kept in the database, by reason code.",
    );
    for (reason, n) in &reasons {
        f.sample(&[("reason", reason)], *n as f64);
    }
    out.push_str("# EOF\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn numbers_are_plain() {
        assert_eq!(value(3.0), "3");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::NAN), "NaN");
    }
}
