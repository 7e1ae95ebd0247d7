//! `pipemon evaluate` and `pipemon alerts` end to end, on temp databases, with a
//! small constructed history whose incidents are known: replaying it day by day
//! gives the alerts one evaluation gives; evaluating twice changes nothing; two
//! evaluations at once never double an alert; `--now` sees the world as of then.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use tempfile::TempDir;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// 2026-10-01T00:00:00Z
const T0: i64 = 1_790_812_800_000;
const DAYS: i64 = 30;

/// Deterministic noise in [-1, 1].
fn noise(i: i64) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 33) % 2001) as f64 / 1000.0 - 1.0
}

struct Ev {
    ts: i64,
    line: String,
}

/// A month of hourly runs for a few pipelines, with known incidents:
/// - `streak`: 4 final failures in a row on day 12 (pipeline_failed + consecutive_failures);
/// - `outage`: no run for 5 hours on day 15 (missed_run);
/// - `stuck`: a run on day 18 hangs 8 hours and is cancelled; the schedule waits (stuck_run);
/// - `sys_a`, `sys_b`, `sys_c`: fail within 15 minutes on day 20 with one error (systemic_failure);
/// - `slow`: durations triple from day 22 on (performance_degradation);
/// - `volume`: one run processes 0 records on day 25 (volume_anomaly);
/// - `outlier`: one run takes 8x on day 10 (duration_anomaly);
/// - `steady`: nothing happens.
fn history() -> Vec<Ev> {
    let pipes = [
        "steady", "streak", "outage", "stuck", "sys_a", "sys_b", "sys_c", "slow", "volume",
        "outlier",
    ];
    let mut evs = Vec::new();
    for (pi, p) in pipes.iter().enumerate() {
        let schedule = if pi % 2 == 0 { "0 * * * *" } else { "1h" };
        let mut held_until = 0;
        for h in 0..DAYS * 24 {
            let nominal = T0 + h * HOUR;
            if nominal < held_until {
                continue;
            }
            let day = h / 24;
            let hour = h % 24;
            if *p == "outage" && day == 15 && (3..8).contains(&hour) {
                continue;
            }
            let i = h + pi as i64 * 10_000;
            let start = nominal + 20_000 + (10_000.0 * noise(i)) as i64;
            let mut dur = (300_000.0 * (1.0 + 0.08 * noise(i + 1))) as i64;
            let mut records = (10_000.0 * (1.0 + 0.05 * noise(i + 2))) as i64;
            let mut status = "success";
            let mut error = None;
            let run_id = format!("{p}@{h}");
            if *p == "streak" && day == 12 && (5..9).contains(&hour) {
                status = "failed";
                error = Some(format!("KeyError: missing column {h}"));
            }
            if p.starts_with("sys_") && day == 20 && hour == 10 {
                status = "failed";
                error = Some(format!(
                    "OperationalError: could not connect to 10.4.{}.{}:5432 (attempt {})",
                    pi,
                    h % 200,
                    pi % 3 + 1
                ));
            }
            if *p == "slow" && day >= 22 {
                dur *= 3;
            }
            if *p == "volume" && day == 25 && hour == 14 {
                records = 0;
            }
            if *p == "outlier" && day == 10 && hour == 9 {
                dur *= 8;
            }
            let started = format!(
                r#"{{"event_id":"{run_id}-s","pipeline_id":"{p}","run_id":"{run_id}","status":"started","timestamp":{start},"team":"team_{pi}","priority":"high","schedule":"{schedule}"}}"#
            );
            evs.push(Ev {
                ts: start,
                line: started,
            });
            if *p == "stuck" && day == 18 && hour == 2 {
                let kill = start + 8 * HOUR;
                held_until = kill;
                evs.push(Ev {
                    ts: kill,
                    line: format!(
                        r#"{{"event_id":"{run_id}-t","pipeline_id":"{p}","run_id":"{run_id}","status":"cancelled","timestamp":{kill}}}"#
                    ),
                });
                continue;
            }
            let end = start + dur;
            let mut line = format!(
                r#"{{"event_id":"{run_id}-t","pipeline_id":"{p}","run_id":"{run_id}","status":"{status}","timestamp":{end},"duration_ms":{dur},"records_processed":{records}"#
            );
            if let Some(e) = error {
                let (ty, msg) = e.split_once(": ").unwrap();
                write!(line, r#","error_type":"{ty}","error_message":"{msg}""#).unwrap();
            }
            line.push('}');
            evs.push(Ev { ts: end, line });
        }
    }
    evs
}

fn write(path: &Path, evs: &[&Ev]) {
    let mut text = String::new();
    for e in evs {
        text.push_str(&e.line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn pipemon(db: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(db)
        .env_remove("PIPEMON_CONFIG")
        .env_remove("PIPEMON_DB")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pipemon {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn import(db: &Path, file: &Path) {
    pipemon(db, &["import", "--no-progress", file.to_str().unwrap()]);
}

fn evaluate(db: &Path, now: &str) -> String {
    let out = pipemon(db, &["evaluate", "--no-notify", "--now", now]);
    String::from_utf8(out.stderr).unwrap()
}

fn alerts(db: &Path) -> Vec<Value> {
    let out = pipemon(db, &["alerts", "--all", "--format", "json"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (kind, pipeline, started_at, resolved_at) of every alert.
fn identity(alerts: &[Value]) -> BTreeSet<(String, String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["pipeline_id"].as_str().unwrap_or("").to_string(),
                a["started_at"].as_str().unwrap().to_string(),
                a["resolved_at"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn setup() -> (TempDir, PathBuf, Vec<Ev>) {
    let dir = TempDir::new().unwrap();
    let evs = history();
    let all = dir.path().join("all.jsonl");
    write(&all, &evs.iter().collect::<Vec<_>>());
    (dir, all, evs)
}

fn kinds_of(alerts: &[Value], pipeline: &str) -> BTreeSet<String> {
    alerts
        .iter()
        .filter(|a| a["pipeline_id"].as_str() == Some(pipeline))
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn replay_day_by_day_gives_the_alerts_of_one_evaluation() {
    let (dir, all, evs) = setup();
    let once = dir.path().join("once.db");
    import(&once, &all);
    evaluate(&once, "data-end");
    let whole = alerts(&once);

    // The known incidents are there (so the comparison below is not vacuous).
    let want = [
        ("streak", "consecutive_failures"),
        ("streak", "pipeline_failed"),
        ("outage", "missed_run"),
        ("stuck", "stuck_run"),
        ("slow", "performance_degradation"),
        ("volume", "volume_anomaly"),
        ("outlier", "duration_anomaly"),
    ];
    for (p, k) in want {
        assert!(kinds_of(&whole, p).contains(k), "{p} lacks {k}: {whole:#?}");
    }
    assert!(kinds_of(&whole, "steady").is_empty(), "steady alerted");
    assert!(
        !kinds_of(&whole, "stuck").contains("missed_run"),
        "stuck run also missed"
    );
    let systemic: Vec<&Value> = whole
        .iter()
        .filter(|a| a["kind"] == "systemic_failure")
        .collect();
    assert_eq!(systemic.len(), 1);
    assert_eq!(systemic[0]["team"], "platform");
    assert_eq!(systemic[0]["pipeline_id"], Value::Null);
    assert_eq!(
        systemic[0]["details"]["affected_pipelines"],
        serde_json::json!(["sys_a", "sys_b", "sys_c"])
    );

    // Day by day, split by event time, evaluating at each day's data end.
    let daily = dir.path().join("daily.db");
    for day in 0..=DAYS {
        let lo = T0 + day * DAY;
        let part: Vec<&Ev> = evs
            .iter()
            .filter(|e| e.ts >= lo && e.ts < lo + DAY)
            .collect();
        if part.is_empty() {
            continue;
        }
        let file = dir.path().join(format!("day{day:02}.jsonl"));
        write(&file, &part);
        import(&daily, &file);
        evaluate(&daily, "data-end");
    }
    let stepwise = alerts(&daily);
    assert_eq!(identity(&whole), identity(&stepwise));
    assert_eq!(whole.len(), stepwise.len(), "an alert was doubled");
}

#[test]
fn evaluating_twice_changes_nothing_and_json_follows_the_contract() {
    let (dir, all, _) = setup();
    let db = dir.path().join("t.db");
    import(&db, &all);
    evaluate(&db, "data-end");
    let first = alerts(&db);
    let again = evaluate(&db, "data-end");
    assert!(again.contains("0 opened"), "{again}");
    assert!(again.contains("0 resolved"), "{again}");
    assert_eq!(first, alerts(&db));

    let fields = [
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
    for a in &first {
        let obj = a.as_object().unwrap();
        let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, fields.iter().copied().collect(), "{a}");
        assert!(a["id"].is_i64() && a["occurrences"].is_i64());
        assert!(a["receivers"].is_array() && a["details"].is_object());
        assert!(a["silenced"].is_boolean() && a["inhibited"].is_boolean());
        let started = a["started_at"].as_str().unwrap();
        assert!(started.ends_with('Z') && started.len() == 24, "{started}");
        assert!(["firing", "resolved"].contains(&a["status"].as_str().unwrap()));
        assert_eq!(a["status"] == "resolved", a["resolved_at"].is_string());
    }
    // Severity follows priority: the pipelines are `high` priority, so base severities.
    let failed = first
        .iter()
        .find(|a| a["kind"] == "pipeline_failed")
        .unwrap();
    assert_eq!(failed["severity"], "high");
    assert!(failed["details"]["signature"].is_string());
    let streak = first
        .iter()
        .find(|a| a["kind"] == "consecutive_failures")
        .unwrap();
    assert_eq!(streak["severity"], "critical");
    assert_eq!(streak["team"], "team_1");

    // Filters narrow the listing.
    let out = pipemon(
        &db,
        &[
            "alerts",
            "--all",
            "--kind",
            "missed_run",
            "--format",
            "json",
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.is_empty());
    assert!(text.lines().all(|l| l.contains("\"kind\":\"missed_run\"")));
    let id = failed["id"].as_i64().unwrap().to_string();
    let shown = pipemon(&db, &["alerts", "show", &id]);
    assert!(
        String::from_utf8(shown.stdout)
            .unwrap()
            .contains("signature")
    );
}

#[test]
fn concurrent_evaluations_never_double_an_alert() {
    let (dir, all, _) = setup();
    let db = dir.path().join("c.db");
    import(&db, &all);
    let spawn = || {
        Command::cargo_bin("pipemon")
            .unwrap()
            .arg("--db")
            .arg(&db)
            .env_remove("PIPEMON_CONFIG")
            .args(["evaluate", "--no-notify", "--now", "data-end"])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let both = alerts(&db);

    let single = dir.path().join("s.db");
    import(&single, &all);
    evaluate(&single, "data-end");
    assert_eq!(identity(&both), identity(&alerts(&single)));
    assert_eq!(both.len(), alerts(&single).len());
}

#[test]
fn now_sees_the_world_as_of_then() {
    let (dir, all, evs) = setup();
    // The stuck run starts on day 18 at about 02:00:20 and hangs 8 hours.
    let stuck_start = T0 + 18 * DAY + 2 * HOUR;
    let at = |t: i64| {
        chrono::DateTime::from_timestamp_millis(t)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };

    // Everything imported, evaluated as of 50 minutes into the hang: nothing yet.
    let db = dir.path().join("n.db");
    import(&db, &all);
    evaluate(&db, &at(stuck_start + 50 * 60_000));
    let early = alerts(&db);
    assert!(!kinds_of(&early, "stuck").contains("stuck_run"));
    // No alert may start after the evaluation time.
    assert!(
        early
            .iter()
            .all(|a| a["started_at"].as_str().unwrap() <= at(stuck_start + 50 * 60_000).as_str())
    );

    // Four hours in: stuck, firing, from start + threshold: max(4 × p95, p95 + 1 h)
    // − 5 min for a 5-minute job, about an hour.
    evaluate(&db, &at(stuck_start + 4 * HOUR));
    let later = alerts(&db);
    let stuck: Vec<&Value> = later
        .iter()
        .filter(|a| a["pipeline_id"] == "stuck" && a["kind"] == "stuck_run")
        .collect();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0]["status"], "firing");
    let thr = stuck[0]["details"]["threshold_ms"].as_i64().unwrap();
    assert!((60 * 60_000..62 * 60_000).contains(&thr), "{thr}");

    // An earlier time is refused, with a hint; --rebuild is allowed.
    let out = Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(&db)
        .env_remove("PIPEMON_CONFIG")
        .args(["evaluate", "--no-notify", "--now", &at(stuck_start)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("earlier than the previous evaluation") && err.contains("--rebuild"),
        "{err}"
    );
    pipemon(
        &db,
        &[
            "evaluate",
            "--no-notify",
            "--rebuild",
            "--now",
            &at(stuck_start),
        ],
    );
    assert!(!kinds_of(&alerts(&db), "stuck").contains("stuck_run"));

    // As of T over all events equals importing only the events up to T.
    let t = T0 + 18 * DAY + 12 * HOUR;
    let full = dir.path().join("f.db");
    import(&full, &all);
    evaluate(&full, &at(t));
    let part = dir.path().join("p.db");
    let file = dir.path().join("upto.jsonl");
    write(&file, &evs.iter().filter(|e| e.ts <= t).collect::<Vec<_>>());
    import(&part, &file);
    evaluate(&part, &at(t));
    assert_eq!(identity(&alerts(&full)), identity(&alerts(&part)));
    // ...and the stuck run, ended by then, resolved at its end.
    let s = alerts(&full)
        .into_iter()
        .find(|a| a["pipeline_id"] == "stuck" && a["kind"] == "stuck_run")
        .unwrap();
    assert_eq!(s["status"], "resolved");
}
