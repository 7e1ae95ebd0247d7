//! `pipemon report`: one self-contained HTML file showing fleet health, failing
//! first, down to each pipeline's charts and each alert's evidence.
//!
//! The page is data plus a small renderer. Rust gathers everything from the
//! database (the same `pipeline_health` rows `pipemon query` prints, the alerts of
//! alerts.md, the detector's bands) and inlines it as JSON: one block for the
//! overview and alerts, and one block per pipeline for its run series, which the
//! page parses only when that pipeline is opened. `assets/report.js` draws tables and
//! SVG charts from it; `assets/report.css` styles them. Nothing is fetched when the
//! file is opened: a Content-Security-Policy forbids every network source.

pub mod band;
pub mod read;
pub mod why;

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use globset::GlobMatcher;
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use crate::detect::DetectConfig;
use crate::detect::alerts::{AlertFilter, list_json};
use crate::model::{Millis, Outcome, Run};
use crate::time::{format_ms, parse_rfc3339};

const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Where the report's charts start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before the latest event in the database.
    Before(i64),
    /// This instant.
    At(Millis),
}

/// What `pipemon report` was asked for.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub since: Since,
    pub team: Option<String>,
    pub pipeline: Option<GlobMatcher>,
    /// When the report is written (shown on the page).
    pub generated_at: Millis,
}

/// Alert kinds that make a pipeline `failing`, `late` or `degraded` while firing.
const FAILING_KINDS: [&str; 4] = [
    "pipeline_failed",
    "consecutive_failures",
    "stuck_run",
    "systemic_failure",
];
const LATE_KINDS: [&str; 1] = ["missed_run"];

/// A pipeline's state from its current failure streak and its firing alerts:
/// `failing` (a final failure not yet followed by a success, or a firing failure
/// or stuck-run alert), else `late` (a firing missed_run), else `degraded` (any
/// other firing alert: duration, degradation, volume, failure rate), else `healthy`.
pub fn state(consecutive_failures: i64, firing_kinds: &[&str]) -> &'static str {
    if consecutive_failures > 0 || firing_kinds.iter().any(|k| FAILING_KINDS.contains(k)) {
        "failing"
    } else if firing_kinds.iter().any(|k| LATE_KINDS.contains(k)) {
        "late"
    } else if !firing_kinds.is_empty() {
        "degraded"
    } else {
        "healthy"
    }
}

/// What the report holds, before it is written out as HTML.
pub struct ReportData {
    /// Overview, teams, alerts: the page's first JSON block.
    pub main: Value,
    /// Per pipeline (in `main.pipelines` order), its series block.
    pub series: Vec<String>,
}

/// Gathers the report from the database.
pub fn gather(conn: &Connection, cfg: &DetectConfig, opts: &ReportOptions) -> Result<ReportData> {
    crate::query::shadow_stale_stats(conn)?;
    let data_end: Option<Millis> = conn
        .query_row("SELECT value FROM meta WHERE key = 'data_end'", [], |r| {
            r.get(0)
        })
        .ok();
    let end = data_end.unwrap_or(opts.generated_at);
    let window_start = match opts.since {
        Since::Before(ms) => end - ms,
        Since::At(t) => t,
    };

    let health = crate::query::select_rows(
        conn,
        "SELECT * FROM pipeline_health ORDER BY pipeline_id",
        &[],
    )?;
    let mut pipelines: Vec<Map<String, Value>> = Vec::new();
    for row in health.rows {
        let obj: Map<String, Value> = health.columns.iter().cloned().zip(row).collect();
        let id = obj["pipeline_id"].as_str().unwrap_or_default();
        if opts
            .team
            .as_deref()
            .is_some_and(|t| obj["team"].as_str() != Some(t))
        {
            continue;
        }
        if opts.pipeline.as_ref().is_some_and(|g| !g.is_match(id)) {
            continue;
        }
        pipelines.push(obj);
    }
    let index: HashMap<String, usize> = pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| (p["pipeline_id"].as_str().unwrap_or_default().to_string(), i))
        .collect();

    // Alerts: firing ones, and every alert that started inside the window, of the
    // pipelines shown (systemic ones when they touch one of them).
    let all = list_json(
        conn,
        &AlertFilter {
            all: true,
            ..AlertFilter::default()
        },
    )?;
    let mut alerts: Vec<Map<String, Value>> = Vec::new();
    for a in all {
        let firing = a["status"] == "firing";
        let started = a["started_at"]
            .as_str()
            .and_then(parse_rfc3339)
            .unwrap_or(0);
        if !firing && started < window_start {
            continue;
        }
        let shown = match a["pipeline_id"].as_str() {
            Some(p) => index.contains_key(p),
            None => {
                affected(&a).iter().any(|p| index.contains_key(*p))
                    || (opts.team.is_none() && opts.pipeline.is_none())
            }
        };
        if shown {
            alerts.push(a);
        }
    }
    let history = notification_history(conn)?;

    let mut firing_kinds: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in &alerts {
        if a["status"] != "firing" {
            continue;
        }
        let kind = a["kind"].as_str().unwrap_or_default();
        match a["pipeline_id"].as_str() {
            Some(p) => firing_kinds.entry(p).or_default().push(kind),
            None => {
                for p in affected(a) {
                    firing_kinds.entry(p).or_default().push(kind);
                }
            }
        }
    }
    let states: Vec<&str> = pipelines
        .iter()
        .map(|p| {
            let id = p["pipeline_id"].as_str().unwrap_or_default();
            let streak = p["consecutive_failures"].as_i64().unwrap_or(0);
            state(streak, firing_kinds.get(id).map_or(&[][..], |v| &v[..]))
        })
        .collect();

    // Per pipeline, its alerts (by index in `alerts`): the runs behind each are
    // picked by the worker that has the pipeline's runs, which are then dropped.
    let mut alerts_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, a) in alerts.iter().enumerate() {
        if let Some(p) = a["pipeline_id"].as_str() {
            alerts_of.entry(p).or_default().push(k);
        }
    }
    let mut series: Vec<String> = vec![String::new(); pipelines.len()];
    let mut behind: Vec<Vec<Value>> = vec![Vec::new(); alerts.len()];
    // The replay is the cost: this thread reads pipelines' runs from the store and
    // hands them to one worker per core, which build the series and the alerts' runs.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    type Done = (usize, String, Vec<(usize, Vec<Value>)>);
    let (to_work, work) = std::sync::mpsc::sync_channel::<(usize, String, Vec<Run>)>(4 * workers);
    let work = std::sync::Mutex::new(work);
    let (to_done, done) = std::sync::mpsc::channel::<Done>();
    let read = std::thread::scope(|scope| {
        for _ in 0..workers {
            let (work, to_done) = (&work, to_done.clone());
            let (alerts, alerts_of) = (&alerts, &alerts_of);
            scope.spawn(move || {
                loop {
                    let next = work
                        .lock()
                        .map_err(|_| ())
                        .and_then(|w| w.recv().map_err(|_| ()));
                    let Ok((i, id, runs)) = next else { break };
                    let s = series_json(cfg, &runs, window_start);
                    let runs_of_alerts = alerts_of
                        .get(id.as_str())
                        .map(|ks| {
                            ks.iter()
                                .map(|&k| (k, runs_behind(&alerts[k], &runs)))
                                .collect()
                        })
                        .unwrap_or_default();
                    drop(runs);
                    if to_done.send((i, s, runs_of_alerts)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(to_done);
        let read = read::each_pipeline_runs(conn, |id, runs| {
            if let Some(&i) = index.get(id) {
                let _ = to_work.send((i, id.to_string(), runs));
            }
        });
        drop(to_work);
        for (i, s, runs_of_alerts) in done.iter() {
            series[i] = s;
            for (k, runs) in runs_of_alerts {
                behind[k] = runs;
            }
        }
        read
    });
    read.context("reading runs")?;
    for s in series.iter_mut().filter(|s| s.is_empty()) {
        *s = series_json(cfg, &[], window_start);
    }

    let mut alert_values = Vec::with_capacity(alerts.len());
    for (a, runs) in alerts.iter().zip(behind) {
        let id = a["id"].as_i64().unwrap_or(0);
        let details = a["details"].as_object().cloned().unwrap_or_default();
        let mut v = a.clone();
        v.insert(
            "why".into(),
            json!(why::explain(a["kind"].as_str().unwrap_or(""), &details)),
        );
        v.insert("runs".into(), Value::Array(runs));
        v.insert(
            "notifications".into(),
            json!(history.get(&id).cloned().unwrap_or_default()),
        );
        v.insert(
            "start_ms".into(),
            json!(a["started_at"].as_str().and_then(parse_rfc3339)),
        );
        alert_values.push(Value::Object(v));
    }

    let mut teams: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pipelines {
        *teams
            .entry(p["team"].as_str().unwrap_or("unowned").to_string())
            .or_default() += 1;
    }
    let last_eval = conn
        .query_row(
            "SELECT now, evaluated_at, elapsed_ms FROM evaluations ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .ok();
    let pipelines: Vec<Value> = pipelines
        .into_iter()
        .zip(&states)
        .map(|(mut p, s)| {
            p.insert("state".into(), json!(s));
            Value::Object(p)
        })
        .collect();
    let main = json!({
        "generated_at": format_ms(opts.generated_at),
        "data_end": data_end.map(format_ms),
        "window_start": format_ms(window_start),
        "window_start_ms": window_start,
        "window_end_ms": end,
        "filter": {"team": opts.team, "pipeline": opts.pipeline.as_ref().map(|g| g.glob().glob().to_string())},
        "last_evaluation": last_eval.map(|(now, at, ms)| json!({"as_of": format_ms(now), "at": format_ms(at), "seconds": ms as f64 / 1000.0})),
        "teams": teams,
        "pipelines": pipelines,
        "alerts": alert_values,
        "alert_run_fields": RUN_FIELDS,
    });
    Ok(ReportData { main, series })
}

/// The pipelines a systemic alert lists in its details.
fn affected(a: &Map<String, Value>) -> Vec<&str> {
    a["details"]
        .get("affected_pipelines")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn outcome_letter(o: Outcome) -> char {
    match o {
        Outcome::Success => 's',
        Outcome::Failed => 'f',
        Outcome::Cancelled => 'c',
        Outcome::Skipped => 'k',
        Outcome::Running => 'r',
    }
}

/// Steps of the log-quantised values (durations, records and their bands): 1/200 in
/// natural log, 0.5 %, finer than a pixel on any chart.
const LOG_STEPS_PER_LN: f64 = 200.0;

/// Band points per chart at most: the band is smooth, so a pipeline running every
/// five minutes needs no more points for it than the chart has room for (200 on a
/// 1,000-unit-wide chart: one every 5 units). Each point costs a Student-t quantile
/// per band, the report's largest cost.
const BAND_POINTS: usize = 200;

/// The unit of the series' start times.
const MINUTE_MS: i64 = 60_000;

/// `x` on the log scale of its series, in 1/200 steps: ln(ms), durations floored at
/// 1 ms, or ln(1 + records).
fn log_step(x: f64, volume: bool) -> i64 {
    let l = if volume {
        x.max(0.0).ln_1p()
    } else {
        x.max(1.0).ln()
    };
    (l * LOG_STEPS_PER_LN).round() as i64
}

/// Writes `"key":[…]`: integers, or null.
fn int_list(out: &mut String, key: &str, items: impl Iterator<Item = Option<i64>>) {
    use std::fmt::Write as _;
    let _ = write!(out, "\"{key}\":[");
    for (k, v) in items.enumerate() {
        if k > 0 {
            out.push(',');
        }
        match v {
            Some(v) => {
                let _ = write!(out, "{v}");
            }
            None => out.push_str("null"),
        }
    }
    out.push(']');
}

/// Writes `"key":[…]` of values on the log scale ([`log_step`]), each as the
/// difference from the list's previous value (nulls kept, and skipped over).
fn log_list(out: &mut String, key: &str, items: impl Iterator<Item = Option<f64>>, volume: bool) {
    let mut last = 0i64;
    int_list(
        out,
        key,
        items.map(|x| {
            x.map(|x| {
                let q = log_step(x, volume);
                let d = q - last;
                last = q;
                d
            })
        }),
    );
}

/// A pipeline's runs inside the window, compactly, as JSON text (`report.js`
/// decodes it when the pipeline's page is opened):
/// - `t`: start times in whole minutes (a chart unit is 20 minutes at 14 days), as
///   minutes after the previous run (the first after the window start);
/// - `d`, `r`: durations (ms) and records, log-quantised ([`log_step`]: within
///   0.25 %, below a pixel) and delta-coded as in [`log_list`], null where unknown;
/// - `o`: outcome letters, run-length coded (`120sf3s`: 120 successes, a failure,
///   three successes);
/// - `y`: retried runs only, as pairs (runs since the previous retried run, retries);
/// - `bs` and the duration and records bands (`de`/`du`/`dl`, `ve`/`vu`/`vl`:
///   expected, upper, lower) at every `bs`-th run and the last, log-quantised and
///   delta-coded like `d` and `r` (null before a baseline exists).
///
/// The bands come from replaying every run, not only those shown.
fn series_json(cfg: &DetectConfig, runs: &[Run], window_start: Millis) -> String {
    use std::fmt::Write as _;
    let shown: Vec<usize> = (0..runs.len())
        .filter(|&i| runs[i].start_at >= window_start)
        .collect();
    let n = shown.len();
    let stride = n.div_ceil(BAND_POINTS).max(1);
    let points: Vec<usize> = (0..n)
        .filter(|k| k % stride == 0 || *k + 1 == n)
        .map(|k| shown[k])
        .collect();
    // Every run is replayed into the model; thresholds only at the chart's points.
    let mut drawn = vec![false; runs.len()];
    for &i in &points {
        drawn[i] = true;
    }
    let bands = band::bands_at(cfg, runs, |i| drawn[i]);
    let mut out = String::with_capacity(12 * n + 64);
    out.push('{');
    let mut prev = window_start.div_euclid(MINUTE_MS);
    int_list(
        &mut out,
        "t",
        shown.iter().map(|&i| {
            let s = runs[i].start_at.div_euclid(MINUTE_MS);
            let d = s - prev;
            prev = s;
            Some(d)
        }),
    );
    out.push(',');
    log_list(
        &mut out,
        "d",
        shown.iter().map(|&i| runs[i].duration_ms.map(|v| v as f64)),
        false,
    );
    out.push(',');
    log_list(
        &mut out,
        "r",
        shown
            .iter()
            .map(|&i| runs[i].records_processed.map(|v| v as f64)),
        true,
    );
    out.push_str(",\"o\":\"");
    let mut k = 0;
    while k < n {
        let letter = outcome_letter(runs[shown[k]].outcome);
        let len = shown[k..]
            .iter()
            .take_while(|&&i| outcome_letter(runs[i].outcome) == letter)
            .count();
        if len > 1 {
            let _ = write!(out, "{len}");
        }
        out.push(letter);
        k += len;
    }
    out.push_str("\",");
    let mut at = 0usize;
    int_list(
        &mut out,
        "y",
        shown
            .iter()
            .enumerate()
            .filter(|&(_, &i)| runs[i].retries > 0)
            .flat_map(|(k, &i)| {
                let gap = k - at;
                at = k;
                [Some(gap as i64), Some(runs[i].retries)]
            }),
    );
    let _ = write!(out, ",\"bs\":{stride}");
    type Pick = fn(&(Option<band::Band>, Option<band::Band>)) -> Option<f64>;
    let picks: [(&str, Pick, bool); 6] = [
        ("de", |b| b.0.map(|b| b.expected), false),
        ("du", |b| b.0.map(|b| b.upper), false),
        ("dl", |b| b.0.map(|b| b.lower), false),
        ("ve", |b| b.1.map(|b| b.expected), true),
        ("vu", |b| b.1.map(|b| b.upper), true),
        ("vl", |b| b.1.map(|b| b.lower), true),
    ];
    for (key, pick, volume) in picks {
        out.push(',');
        log_list(
            &mut out,
            key,
            points.iter().map(|&i| pick(&bands[i])),
            volume,
        );
    }
    out.push('}');
    out
}

/// The runs an alert rests on: those overlapping its episode (from the first
/// failure or the alert's start to its resolution or last sighting), the run it
/// names, and for a failure-rate spike the window of runs the test looked at.
/// At most the `RUNS_BEHIND` latest, each as an array of `RUN_FIELDS`.
/// Runs listed under an alert, at most.
const RUNS_BEHIND: usize = 15;

/// The fields of a run listed under an alert, in the order of its array.
pub const RUN_FIELDS: [&str; 8] = [
    "run_id",
    "started_at",
    "ended_at",
    "outcome",
    "attempts",
    "duration_ms",
    "records",
    "error",
];

fn runs_behind(a: &Map<String, Value>, runs: &[Run]) -> Vec<Value> {
    let d = &a["details"];
    let ts = |k: &str| a[k].as_str().and_then(parse_rfc3339);
    let started = ts("started_at").unwrap_or(0);
    let mut from = d
        .get("first_failure_at")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(started)
        .min(started);
    let to = ts("resolved_at").or(ts("last_seen_at")).unwrap_or(started);
    let run_id = a["run_id"].as_str();
    if a["kind"] == "failure_rate_spike"
        && let Some(n) = d.get("window_runs").and_then(Value::as_u64)
        && let Some(pos) = runs.iter().position(|r| Some(r.run_id.as_str()) == run_id)
    {
        from = runs[pos.saturating_sub(n as usize - 1)].start_at.min(from);
    }
    let named: Vec<&str> = [
        run_id,
        d.get("last_run_id").and_then(Value::as_str),
        d.get("resolved_by_run_id").and_then(Value::as_str),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut out: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            named.contains(&r.run_id.as_str())
                || (r.start_at <= to && r.ended_at.unwrap_or(Millis::MAX) >= from)
        })
        .collect();
    if out.len() > RUNS_BEHIND {
        out.drain(..out.len() - RUNS_BEHIND);
    }
    // Arrays rather than objects (the keys were 40 % of them), in `RUN_FIELDS` order.
    out.into_iter()
        .map(|r| {
            json!([
                r.run_id,
                format_ms(r.start_at),
                r.ended_at.map(format_ms),
                r.outcome.as_str(),
                r.attempts,
                r.duration_ms,
                r.records_processed,
                r.error_type.as_ref().map(|t| match &r.error_message {
                    Some(m) => format!("{t}: {m}"),
                    None => t.clone(),
                }),
            ])
        })
        .collect()
}

/// Per alert id, its notifications: receiver, why (reason), status, when queued and
/// sent, attempts, and the last error. Read from the outbox (`notifications`), which
/// lists the alerts each notification carried.
pub fn notification_history(conn: &Connection) -> Result<HashMap<i64, Vec<Value>>> {
    let mut stmt = conn.prepare(
        "SELECT CAST(j.value AS INTEGER), n.receiver, n.receiver_type, n.reason, n.status,
                n.created_at, n.sent_at, n.attempts, n.last_error
         FROM notifications n, json_each(n.alert_ids) j
         ORDER BY n.id",
    )?;
    let mut out: HashMap<i64, Vec<Value>> = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let attempts: i64 = r.get(7)?;
        out.entry(r.get(0)?).or_default().push(json!({
            "receiver": r.get::<_, String>(1)?,
            "receiver_type": r.get::<_, String>(2)?,
            "reason": r.get::<_, String>(3)?,
            "status": r.get::<_, String>(4)?,
            "queued_at": format_ms(r.get(5)?),
            "sent_at": r.get::<_, Option<i64>>(6)?.map(format_ms),
            "attempts": attempts,
            "retries": (attempts - 1).max(0),
            "last_error": r.get::<_, Option<String>>(8)?,
        }));
    }
    Ok(out)
}

/// JSON made safe inside a `<script>` element: `<` written as `\u003c`, so no
/// `</script>` or `<!--` can appear, whatever the pipeline names hold.
fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML page. Series blocks come before the renderer so a page opened at a
/// pipeline's address (`#p/ID`) finds its data.
pub fn render(data: &ReportData) -> String {
    let mut html = String::with_capacity(1 << 20);
    let title = match data.main["filter"]["team"].as_str() {
        Some(t) => format!("pipemon report: {}", escape_html(t)),
        None => "pipemon report".to_string(),
    };
    html.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n");
    html.push_str(&format!(
        "<title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n"
    ));
    html.push_str("<header><a href=\"#\" class=\"brand\">pipemon</a><nav id=\"crumbs\" aria-label=\"Breadcrumb\"></nav><span id=\"asof\"></span></header>\n");
    html.push_str("<main id=\"app\"><noscript>This report draws its tables and charts with JavaScript; please enable it.</noscript></main>\n");
    html.push_str("<script type=\"application/json\" id=\"pipemon-data\">");
    html.push_str(&script_json(&data.main));
    html.push_str("</script>\n");
    for (i, s) in data.series.iter().enumerate() {
        html.push_str(&format!("<script type=\"application/json\" id=\"s{i}\">"));
        // Numbers and outcome letters only: nothing to escape.
        html.push_str(s);
        html.push_str("</script>\n");
    }
    html.push_str("<script>\n");
    html.push_str(JS);
    html.push_str("</script>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_rank_failures_first() {
        assert_eq!(state(2, &[]), "failing");
        assert_eq!(state(0, &["stuck_run", "missed_run"]), "failing");
        assert_eq!(state(0, &["missed_run", "volume_anomaly"]), "late");
        assert_eq!(state(0, &["volume_anomaly"]), "degraded");
        assert_eq!(state(0, &[]), "healthy");
    }

    fn run(i: i64, outcome: Outcome, duration_ms: Option<i64>, records: Option<i64>) -> Run {
        let start = 1_700_000_000_000 + i * 300_000 + (i % 7) * 1_234;
        Run {
            pipeline_id: "p".into(),
            run_id: format!("r{i:05}"),
            start_at: start,
            first_event_at: start,
            last_event_at: start + duration_ms.unwrap_or(0),
            started_at: Some(start),
            ended_at: duration_ms.map(|d| start + d),
            outcome,
            attempts: 1 + i % 11 / 10,
            retries: i % 11 / 10,
            duration_ms,
            records_processed: records,
            error_type: None,
            error_message: None,
            task_id: None,
            scheduled_at: None,
            start_source: crate::model::StartSource::Started,
            final_attempt_ms: duration_ms,
            last_alive_at: start,
            heartbeats: 0,
        }
    }

    /// What `report.js` does with a series block: values per run, bands at points.
    fn decode(s: &str) -> Value {
        let v: Value = serde_json::from_str(s).unwrap();
        let ints = |k: &str| -> Vec<Option<i64>> {
            v[k].as_array().unwrap().iter().map(Value::as_i64).collect()
        };
        let logs = |k: &str, vol: bool| -> Vec<Option<f64>> {
            let mut acc = 0;
            ints(k)
                .into_iter()
                .map(|d| {
                    d.map(|d| {
                        acc += d;
                        let x = (acc as f64 / 200.0).exp();
                        if vol { x - 1.0 } else { x }
                    })
                })
                .collect()
        };
        let mut o = String::new();
        let mut count = String::new();
        for c in v["o"].as_str().unwrap().chars() {
            if c.is_ascii_digit() {
                count.push(c);
            } else {
                let k = if count.is_empty() {
                    1
                } else {
                    count.parse().unwrap()
                };
                o.extend(std::iter::repeat_n(c, k));
                count.clear();
            }
        }
        let n = v["t"].as_array().unwrap().len();
        let mut y = vec![0; n];
        let mut at = 0;
        for pair in ints("y").chunks(2) {
            at += pair[0].unwrap() as usize;
            y[at] = pair[1].unwrap();
        }
        json!({"t": ints("t"), "d": logs("d", false), "r": logs("r", true), "o": o, "y": y,
               "bs": v["bs"], "de": logs("de", false), "vu": logs("vu", true)})
    }

    /// The compact series block gives back every run in the window: start, outcome,
    /// retries exactly, duration and records within 0.25 %; bands at every `bs`-th
    /// run and the last, as the detectors' bands.
    #[test]
    fn series_block_round_trips() {
        let cfg = DetectConfig::default();
        let runs: Vec<Run> = (0..1_000)
            .map(|i| {
                let outcome = match i % 97 {
                    5..=7 => Outcome::Failed,
                    40 => Outcome::Cancelled,
                    _ => Outcome::Success,
                };
                let d = (i % 53 != 3).then_some(60_000 + (i * 7_919) % 30_000);
                let r = (i % 61 != 4).then_some((i * 104_729) % 5_000);
                run(i, outcome, d, r)
            })
            .collect();
        let from = runs[300].start_at;
        let shown = &runs[300..];
        let s = decode(&series_json(&cfg, &runs, from));
        let close = |got: &Value, want: Option<i64>| match (got.as_f64(), want) {
            (Some(g), Some(w)) => (g - w as f64).abs() <= 0.0026 * (w as f64 + 1.0),
            (None, None) => true,
            _ => false,
        };
        let mut t = from.div_euclid(MINUTE_MS);
        for (k, r) in shown.iter().enumerate() {
            t += s["t"][k].as_i64().unwrap();
            assert_eq!(t, r.start_at.div_euclid(MINUTE_MS));
            assert!(
                close(&s["d"][k], r.duration_ms),
                "{k}: {} {:?}",
                s["d"][k],
                r.duration_ms
            );
            assert!(
                close(&s["r"][k], r.records_processed),
                "{k}: {} {:?}",
                s["r"][k],
                r.records_processed
            );
            assert_eq!(
                s["o"].as_str().unwrap().as_bytes()[k] as char,
                outcome_letter(r.outcome)
            );
            assert_eq!(s["y"][k].as_i64(), Some(r.retries));
        }
        assert_eq!(s["o"].as_str().unwrap().len(), shown.len());
        let bs = s["bs"].as_u64().unwrap() as usize;
        let points: Vec<usize> = (0..shown.len())
            .filter(|k| k % bs == 0 || k + 1 == shown.len())
            .collect();
        assert!(points.len() <= BAND_POINTS + 1);
        let bands = band::bands(&cfg, &runs, from);
        for (j, &k) in points.iter().enumerate() {
            let (d, v) = bands[300 + k];
            let want = d.map(|b| b.expected);
            match (s["de"][j].as_f64(), want) {
                (Some(g), Some(w)) => assert!((g / w - 1.0).abs() < 0.0026, "{j}: {g} {w}"),
                (g, w) => assert_eq!(g.is_some(), w.is_some(), "{j}"),
            }
            match (s["vu"][j].as_f64(), v.map(|b| b.upper)) {
                (Some(g), Some(w)) => assert!(((g + 1.0) / (w + 1.0) - 1.0).abs() < 0.0026),
                (g, w) => assert_eq!(g.is_some(), w.is_some(), "{j}"),
            }
        }
    }

    #[test]
    fn script_json_cannot_close_its_element() {
        let v = json!({"pipeline_id": "</script><script>alert(1)</script>"});
        let s = script_json(&v);
        assert!(!s.contains("</"));
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }
}
