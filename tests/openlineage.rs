//! OpenLineage input, end to end with the real OpenLineage Python client.
//!
//! `tests/openlineage/emit_history.py` writes a known 14-day history through the client's
//! `FileTransport(append=True)`; these tests read exactly what the client wrote. The
//! expected values below are written out by hand from the scenario in that script's
//! docstring, not computed by pipemon.
//!
//! The interpreter is `$PIPEMON_TEST_PYTHON`, else `<repo>/.venv/bin/python`, with the
//! pinned `tests/openlineage/requirements.txt` installed. Without it the tests fail and
//! say how to install it: a missing client must not pass silently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use pipemon::cli::InputFormat;
use pipemon::ingest::parse_line;
use pipemon::model::{Event, Status};
use serde_json::Value;

const LOAD: &str = "airflow/orders_daily.load";
const DAG: &str = "airflow/orders_daily";
const BILLING: &str = "airflow/billing_daily.export";
const MARKETING: &str = "airflow/marketing_daily.report";
const INVENTORY: &str = "spark/inventory_snapshot";
const STREAM: &str = "flink/clickstream_sessionize";
const DBT: [&str; 3] = [
    "dbt/analytics.stg_orders",
    "dbt/analytics.stg_payments",
    "dbt/analytics.fct_revenue",
];

/// Lines the client writes for the scenario, the duplicate delivery included.
const EMITTED: usize = 278;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let path = match std::env::var_os("PIPEMON_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => repo().join(".venv/bin/python"),
    };
    assert!(
        path.exists(),
        "the OpenLineage tests need a Python with the pinned openlineage-python client, and \
         {} does not exist.\nInstall it with:\n  python3 -m venv .venv && .venv/bin/pip install \
         -r tests/openlineage/requirements.txt\nor point PIPEMON_TEST_PYTHON at such an interpreter.",
        path.display()
    );
    path
}

/// The version pinned in requirements.txt (`openlineage-python==X`).
fn pinned_version() -> String {
    let text = std::fs::read_to_string(repo().join("tests/openlineage/requirements.txt"))
        .expect("read requirements.txt");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("openlineage-python=="))
        .expect("openlineage-python is pinned with ==")
        .to_string()
}

/// Runs the emitter into `dir/history.jsonl` and returns the file's path.
fn emit_history(dir: &Path) -> PathBuf {
    let out = dir.join("history.jsonl");
    let run = Command::new(python())
        .arg(repo().join("tests/openlineage/emit_history.py"))
        .arg(&out)
        .output()
        .expect("run the emitter");
    assert!(
        run.status.success(),
        "emit_history.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: Value = serde_json::from_slice(&run.stdout).expect("emitter summary JSON");
    assert_eq!(summary["events"], EMITTED);
    assert_eq!(
        summary["client_version"].as_str(),
        Some(pinned_version().as_str()),
        "the interpreter's openlineage-python is not the pinned one"
    );
    out
}

fn parse_all(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).expect("read history");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), EMITTED, "one event per line");
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            parse_line(line, InputFormat::Auto)
                .unwrap_or_else(|r| panic!("line {}: {:?}: {}", i + 1, r.reason, r.message))
        })
        .collect()
}

fn of<'a>(events: &'a [Event], pipeline: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.pipeline_id == pipeline)
        .collect()
}

fn extra(e: &Event) -> Value {
    serde_json::from_str(e.extra.as_deref().expect("extra")).expect("extra JSON")
}

#[test]
fn every_line_the_client_writes_maps_as_the_scenario_says() {
    let dir = tempfile::tempdir().unwrap();
    let events = parse_all(&emit_history(dir.path()));

    // Events and runs per pipeline (tries of one task share their DAG run's id).
    let per_pipeline: BTreeMap<&str, (usize, usize)> = [
        (DAG, (29, 14)),
        (LOAD, (30, 14)),
        (BILLING, (36, 14)),
        (MARKETING, (28, 14)),
        (INVENTORY, (41, 14)),
        (STREAM, (30, 1)),
        (DBT[0], (28, 14)),
        (DBT[1], (28, 14)),
        (DBT[2], (28, 14)),
    ]
    .into_iter()
    .collect();
    let mut seen = BTreeMap::new();
    for e in &events {
        let entry = seen
            .entry(e.pipeline_id.as_str())
            .or_insert((0, BTreeSet::new()));
        entry.0 += 1;
        entry.1.insert(e.run_id.as_str());
    }
    let seen: BTreeMap<&str, (usize, usize)> = seen
        .into_iter()
        .map(|(p, (n, r))| (p, (n, r.len())))
        .collect();
    assert_eq!(seen, per_pipeline);

    // The load task's runs are its DAG's runs; day 5 has two tries (two own runIds).
    let runs =
        |p: &str| -> BTreeSet<String> { of(&events, p).iter().map(|e| e.run_id.clone()).collect() };
    assert_eq!(runs(LOAD), runs(DAG));
    // The three dbt models of one dbt command run share its runId.
    assert_eq!(runs(DBT[0]), runs(DBT[1]));
    assert_eq!(runs(DBT[0]), runs(DBT[2]));
    let own_ids: BTreeSet<String> = of(&events, LOAD)
        .iter()
        .map(|e| extra(e)["ol_run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(own_ids.len(), 15);
    let retried: Vec<&Event> = of(&events, LOAD)
        .into_iter()
        .filter(|e| e.attempt == 2)
        .collect();
    assert_eq!(retried.len(), 2, "try 2 of day 5: START and COMPLETE");
    let day5 = &retried[0].run_id;
    let day5_events: Vec<(Status, i64)> = of(&events, LOAD)
        .iter()
        .filter(|e| &e.run_id == day5)
        .map(|e| (e.status, e.attempt))
        .collect();
    assert_eq!(
        day5_events,
        [
            (Status::Started, 1),
            // Try 1 of 2 (retries: 1) failed: Airflow retries it.
            (Status::Retrying, 1),
            (Status::Started, 2),
            (Status::Success, 2)
        ]
    );

    // Teams from the ownership facet.
    let teams: BTreeMap<&str, &str> = events
        .iter()
        .map(|e| {
            (
                e.pipeline_id.as_str(),
                e.team.as_deref().expect("every job has owners"),
            )
        })
        .collect();
    let want: BTreeMap<&str, &str> = [
        (DAG, "payments"),
        (LOAD, "payments"),
        (BILLING, "billing"),
        (MARKETING, "marketing-analytics"),
        (INVENTORY, "inventory"),
        (STREAM, "growth"),
        (DBT[0], "analytics-eng"),
        (DBT[1], "analytics-eng"),
        (DBT[2], "analytics-eng"),
    ]
    .into_iter()
    .collect();
    assert_eq!(teams, want);

    // Failed tries and their error types from the Python stack traces: a try within
    // the task's retries is `retrying`, the last try `failed`.
    let failures: Vec<(&str, Status, &str)> = events
        .iter()
        .filter(|e| matches!(e.status, Status::Failed | Status::Retrying))
        .map(|e| {
            let kind = e.error_type.as_deref().unwrap();
            (e.pipeline_id.as_str(), e.status, kind)
        })
        .collect();
    let mut want = vec![(LOAD, Status::Retrying, "ConnectionError")];
    for _ in 11..=14 {
        want.push((BILLING, Status::Retrying, "UndefinedTable"));
        want.push((BILLING, Status::Failed, "UndefinedTable"));
    }
    want.push((MARKETING, Status::Failed, "ValueError"));
    want.extend(DBT.map(|p| (p, Status::Failed, "OperationalError")));
    assert_eq!(failures, want);
    let marketing_fail = of(&events, MARKETING)
        .into_iter()
        .find(|e| e.status == Status::Failed)
        .unwrap();
    assert_eq!(
        marketing_fail.error_message.as_deref(),
        Some("campaign id 'c-0042' has no budget row")
    );

    // Streaming flag, the OTHER event before START, nominal time and row counts.
    for e in &events {
        assert_eq!(
            e.streaming,
            Some(e.pipeline_id == STREAM),
            "{}",
            e.pipeline_id
        );
        assert_eq!(e.priority, None);
        assert_eq!(e.environment, None);
    }
    let stream = of(&events, STREAM);
    assert_eq!(stream[0].status, Status::Other);
    assert_eq!(stream[1].status, Status::Started);
    assert_eq!(
        stream
            .iter()
            .filter(|e| e.status == Status::Running)
            .count(),
        28
    );
    let marketing_day1 = of(&events, MARKETING)
        .into_iter()
        .find(|e| e.status == Status::Success)
        .unwrap();
    assert_eq!(marketing_day1.records_processed, Some(9_010));
    // 2026-11-01T06:00:00Z
    assert_eq!(marketing_day1.scheduled_at, Some(1_793_512_800_000));
    assert_eq!(
        of(&events, INVENTORY)
            .iter()
            .filter(|e| e.status.is_terminal())
            .count(),
        13,
        "day 14 never ends"
    );

    // The re-delivered DAG COMPLETE is the only duplicate key.
    let keys: BTreeSet<(&str, &str)> = events
        .iter()
        .map(|e| (e.pipeline_id.as_str(), e.event_key.as_str()))
        .collect();
    assert_eq!(keys.len(), EMITTED - 1);
}

/// The real binary on a temporary database.
struct Pipemon {
    db: PathBuf,
}

impl Pipemon {
    fn new(dir: &Path) -> Pipemon {
        Pipemon {
            db: dir.join("pipemon.db"),
        }
    }

    /// Runs `pipemon --db DB ARGS…`, asserts success, returns stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = assert_cmd::Command::cargo_bin("pipemon")
            .unwrap()
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pipemon {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that prints JSON Lines and parses every line.
    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let mut full = args.to_vec();
        full.extend(["--format", "json"]);
        self.run(&full)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Appends the four malformed OpenLineage lines of the contract, derived from the
/// client's first line, and returns the file.
fn with_malformed_lines(history: &Path) -> PathBuf {
    let text = std::fs::read_to_string(history).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let mut bad_uuid = first.clone();
    bad_uuid["run"]["runId"] = Value::from("scheduled__2026-11-01T03:00:00+00:00");
    let mut no_time = first.clone();
    no_time.as_object_mut().unwrap().remove("eventTime");
    let mut bad_type = first.clone();
    bad_type["eventType"] = Value::from("RESUME");
    let mut no_run_id = first;
    no_run_id["run"].as_object_mut().unwrap().remove("runId");
    let mut out = text;
    for v in [bad_uuid, no_time, bad_type, no_run_id] {
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let path = history.with_file_name("history_and_bad_lines.jsonl");
    std::fs::write(&path, out).unwrap();
    path
}

fn by_key<'a>(rows: &'a [Value], key: &str, value: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r[key] == value).collect()
}

#[test]
fn imported_history_gives_the_runs_and_health_of_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let file = with_malformed_lines(&emit_history(dir.path()));
    let file = file.to_str().unwrap();
    let pm = Pipemon::new(dir.path());

    // Import: one duplicate delivery, four rejected lines, each with its reason.
    let summary = pm.json_lines(&["import", file, "--no-progress"]);
    let s = &summary[0];
    assert_eq!(s["lines"], EMITTED + 4);
    assert_eq!(s["inserted"], EMITTED - 1);
    assert_eq!(s["duplicates"], 1);
    assert_eq!(s["rejected"], 4);
    let reasons = &s["rejected_by_reason"];
    assert_eq!(reasons["invalid_openlineage"], 1);
    assert_eq!(reasons["missing_field"], 2);
    assert_eq!(reasons["unknown_status"], 1);
    // Importing the same file again changes nothing.
    let again = pm.json_lines(&["import", file, "--no-progress"]);
    assert_eq!(again[0]["inserted"], 0);
    assert_eq!(again[0]["duplicates"], EMITTED);

    // Runs.
    let runs = pm.json_lines(&["query", "runs"]);
    assert_eq!(runs.len(), 14 * 8 + 1);
    let outcomes = |p: &str| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in by_key(&runs, "pipeline_id", p) {
            *m.entry(r["outcome"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        m
    };
    let counts = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(outcomes(DAG), counts(&[("success", 14)]));
    assert_eq!(outcomes(LOAD), counts(&[("success", 14)]));
    assert_eq!(outcomes(BILLING), counts(&[("failed", 4), ("success", 10)]));
    assert_eq!(
        outcomes(MARKETING),
        counts(&[("failed", 1), ("success", 13)])
    );
    assert_eq!(
        outcomes(INVENTORY),
        counts(&[("running", 1), ("success", 13)])
    );
    assert_eq!(outcomes(STREAM), counts(&[("running", 1)]));
    for p in DBT {
        assert_eq!(
            outcomes(p),
            counts(&[("failed", 1), ("success", 13)]),
            "{p}"
        );
    }

    // The task that failed once and succeeded on its second try: one run, a success
    // with one retry, from the first try's start to the second try's end.
    let retried: Vec<&Value> = by_key(&runs, "pipeline_id", LOAD)
        .into_iter()
        .filter(|r| r["retries"] != 0)
        .collect();
    assert_eq!(retried.len(), 1);
    let r = retried[0];
    assert_eq!(r["outcome"], "success");
    assert_eq!(r["attempts"], 2);
    assert_eq!(r["retries"], 1);
    assert_eq!(r["started_at"], "2026-11-05T03:00:05.000Z");
    assert_eq!(r["ended_at"], "2026-11-05T03:29:15.000Z");
    assert_eq!(r["duration_ms"], 1_750_000);
    assert_eq!(r["records_processed"], 1_845_000);
    assert_eq!(r["scheduled_at"], "2026-11-05T03:00:00.000Z");

    for r in by_key(&runs, "pipeline_id", BILLING)
        .into_iter()
        .filter(|r| r["outcome"] == "failed")
    {
        assert_eq!(r["error_type"], "UndefinedTable");
        assert_eq!(
            r["error_message"],
            "relation \"billing.invoices_v2\" does not exist"
        );
        assert_eq!(
            (r["attempts"].clone(), r["retries"].clone()),
            (2.into(), 1.into())
        );
    }
    let failed_marketing: Vec<&Value> = by_key(&runs, "pipeline_id", MARKETING)
        .into_iter()
        .filter(|r| r["outcome"] == "failed")
        .collect();
    assert_eq!(failed_marketing[0]["error_type"], "ValueError");
    assert_eq!(
        failed_marketing[0]["started_at"],
        "2026-11-07T06:00:04.000Z"
    );
    let stuck = by_key(&runs, "pipeline_id", INVENTORY)
        .into_iter()
        .find(|r| r["outcome"] == "running")
        .unwrap();
    assert_eq!(stuck["started_at"], "2026-11-14T01:00:00.000Z");
    // The OTHER event at 00:00:00 carries facets, not a start.
    let stream = by_key(&runs, "pipeline_id", STREAM)[0];
    assert_eq!(stream["started_at"], "2026-11-01T00:00:01.000Z");
    assert_eq!(stream["ended_at"], Value::Null);

    // Health table.
    let health = pm.json_lines(&["query", "pipeline_health"]);
    assert_eq!(health.len(), 9);
    let row = |p: &str| by_key(&health, "pipeline_id", p)[0].clone();
    let pick = |p: &str, keys: &[&str]| -> Vec<Value> {
        let r = row(p);
        keys.iter().map(|k| r[*k].clone()).collect()
    };
    let keys = [
        "team",
        "priority",
        "runs_total",
        "runs_success",
        "runs_failed",
        "runs_in_progress",
        "consecutive_failures",
        "last_status",
    ];
    let want =
        |team: &str, total: u64, ok: u64, failed: u64, running: u64, streak: u64, last: &str| {
            vec![
                Value::from(team),
                Value::from("medium"),
                Value::from(total),
                Value::from(ok),
                Value::from(failed),
                Value::from(running),
                Value::from(streak),
                Value::from(last),
            ]
        };
    assert_eq!(
        pick(DAG, &keys),
        want("payments", 14, 14, 0, 0, 0, "success")
    );
    assert_eq!(
        pick(LOAD, &keys),
        want("payments", 14, 14, 0, 0, 0, "success")
    );
    assert_eq!(
        pick(BILLING, &keys),
        want("billing", 14, 10, 4, 0, 4, "failed")
    );
    assert_eq!(
        pick(MARKETING, &keys),
        want("marketing-analytics", 14, 13, 1, 0, 0, "success")
    );
    assert_eq!(
        pick(INVENTORY, &keys),
        want("inventory", 14, 13, 0, 1, 0, "running")
    );
    assert_eq!(
        pick(STREAM, &keys),
        want("growth", 1, 0, 0, 1, 0, "running")
    );
    for p in DBT {
        assert_eq!(
            pick(p, &keys),
            want("analytics-eng", 14, 13, 1, 0, 0, "success")
        );
    }
    assert_eq!(row(LOAD)["runs_retried"], 1);
    assert_eq!(row(BILLING)["last_success_at"], "2026-11-10T04:05:10.000Z");
    assert_eq!(row(BILLING)["environment"], Value::Null);
}

#[test]
fn native_and_openlineage_lines_share_a_file_unless_the_format_is_forced() {
    let dir = tempfile::tempdir().unwrap();
    let native = r#"{"pipeline_id":"orders_daily","run_id":"r1","status":"success","timestamp":"2026-11-01T03:20:00Z","team":"payments"}"#;
    let ol = r#"{"eventTime": "2026-11-01T03:00:00.000+00:00", "eventType": "START", "inputs": [], "job": {"facets": {}, "name": "orders_daily.load", "namespace": "airflow"}, "outputs": [], "producer": "https://example.com/p", "run": {"facets": {}, "runId": "0190a8c4-7b2e-7d41-9f3a-2c5d6e7f8091"}, "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}"#;
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, format!("{native}\n{ol}\n")).unwrap();
    let file = file.to_str().unwrap();

    let cases = [("auto", 2, 0), ("native", 1, 1), ("openlineage", 1, 1)];
    for (format, inserted, missing) in cases {
        let pm = Pipemon::new(&dir.path().join(format));
        std::fs::create_dir_all(dir.path().join(format)).unwrap();
        let s = pm.json_lines(&["import", file, "--no-progress", "--input-format", format]);
        assert_eq!(s[0]["inserted"], inserted, "{format}");
        assert_eq!(
            s[0]["rejected_by_reason"]["missing_field"], missing,
            "{format}"
        );
    }

    let pm = Pipemon::new(&dir.path().join("auto"));
    let runs = pm.json_lines(&["query", "runs"]);
    let ids: BTreeSet<(&str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["pipeline_id"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(&str, &str)> = [
        ("orders_daily", "success"),
        ("airflow/orders_daily.load", "running"),
    ]
    .into_iter()
    .collect();
    assert_eq!(ids, want);
}

#[test]
fn evaluating_the_history_raises_the_scenario_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let file = emit_history(dir.path());
    let pm = Pipemon::new(dir.path());
    pm.run(&["import", file.to_str().unwrap(), "--no-progress"]);
    pm.run(&["evaluate", "--now", "data-end"]);
    let alerts = pm.json_lines(&["alerts", "--all"]);

    // Failure, stuck and systemic alerts: exactly the scenario's, with their teams,
    // severities (base severity, default priority) and times (event time).
    type Row = (String, String, String, String, String, String, String);
    let row = |a: &Value| -> Row {
        let s = |k: &str| a[k].as_str().unwrap_or("-").to_string();
        (
            s("kind"),
            s("pipeline_id"),
            s("team"),
            s("severity"),
            s("status"),
            s("started_at"),
            s("resolved_at"),
        )
    };
    let judged = [
        "pipeline_failed",
        "consecutive_failures",
        "systemic_failure",
    ];
    let got: BTreeSet<Row> = alerts
        .iter()
        .filter(|a| judged.contains(&a["kind"].as_str().unwrap()))
        .map(row)
        .collect();
    let r = |kind: &str, p: &str, team: &str, sev: &str, status: &str, start: &str, end: &str| {
        (
            kind.to_string(),
            p.to_string(),
            team.to_string(),
            sev.to_string(),
            status.to_string(),
            start.to_string(),
            end.to_string(),
        )
    };
    let want: BTreeSet<Row> = [
        r(
            "pipeline_failed",
            BILLING,
            "billing",
            "high",
            "firing",
            "2026-11-11T04:07:30.000Z",
            "-",
        ),
        r(
            "consecutive_failures",
            BILLING,
            "billing",
            "critical",
            "firing",
            "2026-11-13T04:07:30.000Z",
            "-",
        ),
        r(
            "pipeline_failed",
            MARKETING,
            "marketing-analytics",
            "high",
            "resolved",
            "2026-11-07T06:03:00.000Z",
            "2026-11-08T06:15:32.000Z",
        ),
        r(
            "pipeline_failed",
            DBT[0],
            "analytics-eng",
            "high",
            "resolved",
            "2026-11-09T05:01:40.000Z",
            "2026-11-10T05:02:20.000Z",
        ),
        r(
            "pipeline_failed",
            DBT[1],
            "analytics-eng",
            "high",
            "resolved",
            "2026-11-09T05:03:20.000Z",
            "2026-11-10T05:04:51.000Z",
        ),
        r(
            "pipeline_failed",
            DBT[2],
            "analytics-eng",
            "high",
            "resolved",
            "2026-11-09T05:05:00.000Z",
            "2026-11-10T05:07:03.000Z",
        ),
        r(
            "systemic_failure",
            "-",
            "platform",
            "critical",
            "resolved",
            "2026-11-09T05:05:00.000Z",
            "2026-11-09T05:35:00.000Z",
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);

    let systemic = alerts
        .iter()
        .find(|a| a["kind"] == "systemic_failure")
        .unwrap();
    assert_eq!(
        systemic["details"]["affected_pipelines"],
        serde_json::json!([DBT[2], DBT[0], DBT[1]])
    );

    // The outage explains the three dbt failures: their alerts are inhibited by the
    // systemic one, and no other alert is. Without configuration every alert goes to
    // the `default` receiver.
    let inhibited: BTreeSet<(&str, &str)> = alerts
        .iter()
        .filter(|a| a["inhibited"] == true)
        .map(|a| {
            (
                a["kind"].as_str().unwrap(),
                a["pipeline_id"].as_str().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(&str, &str)> = DBT.iter().map(|p| ("pipeline_failed", *p)).collect();
    assert_eq!(inhibited, want);
    for a in &alerts {
        assert_eq!(a["receivers"], serde_json::json!(["default"]), "{a}");
    }

    // The run that never ends is stuck; the streaming job, running for two weeks, is not.
    let stuck: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "stuck_run").collect();
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    let stuck = stuck[0];
    assert_eq!(
        (
            &stuck["pipeline_id"],
            &stuck["team"],
            &stuck["severity"],
            &stuck["status"]
        ),
        (
            &Value::from(INVENTORY),
            &Value::from("inventory"),
            &Value::from("high"),
            &Value::from("firing")
        )
    );
    let stuck_run = pm
        .json_lines(&["query", "runs", "--pipeline", INVENTORY])
        .into_iter()
        .find(|r| r["outcome"] == "running")
        .unwrap();
    assert_eq!(stuck["run_id"], stuck_run["run_id"]);
    let started = stuck["started_at"].as_str().unwrap();
    assert!(
        started > "2026-11-14T01:00:00.000Z" && started <= "2026-11-14T22:00:00.000Z",
        "stuck from the run's start plus a threshold, before the data end: {started}"
    );

    // A task that failed once and succeeded on retry raises no failure alert at all,
    // and nothing about the streaming job is missed or stuck.
    for a in &alerts {
        let kind = a["kind"].as_str().unwrap();
        let p = a["pipeline_id"].as_str().unwrap_or("-");
        assert!(
            !([LOAD, DAG].contains(&p)
                && [
                    "pipeline_failed",
                    "consecutive_failures",
                    "failure_rate_spike"
                ]
                .contains(&kind)),
            "{a}"
        );
        assert!(
            !(p == STREAM && ["stuck_run", "missed_run"].contains(&kind)),
            "{a}"
        );
    }
    // Every pipeline alert goes to the team its ownership facet names.
    let owner: BTreeMap<&str, &str> = [
        (DAG, "payments"),
        (LOAD, "payments"),
        (BILLING, "billing"),
        (MARKETING, "marketing-analytics"),
        (INVENTORY, "inventory"),
        (STREAM, "growth"),
        (DBT[0], "analytics-eng"),
        (DBT[1], "analytics-eng"),
        (DBT[2], "analytics-eng"),
    ]
    .into_iter()
    .collect();
    for a in alerts.iter().filter(|a| !a["pipeline_id"].is_null()) {
        let p = a["pipeline_id"].as_str().unwrap();
        assert_eq!(a["team"].as_str(), Some(owner[p]), "{a}");
    }

    // The health table counts each pipeline's firing alerts.
    let health = pm.json_lines(&["query", "pipeline_health"]);
    assert_eq!(health.len(), 9);
    for h in &health {
        let p = h["pipeline_id"].as_str().unwrap();
        let firing = alerts
            .iter()
            .filter(|a| a["pipeline_id"] == p && a["status"] == "firing")
            .count();
        assert_eq!(h["open_alerts"], firing, "{p}");
    }
    assert_eq!(
        health.iter().find(|h| h["pipeline_id"] == BILLING).unwrap()["open_alerts"],
        2
    );
}

/// Splits the history at `cut` (event time): events at or before it, and the rest.
fn split_at(history: &Path, cut: &str) -> (PathBuf, PathBuf) {
    let cut = pipemon::time::parse_rfc3339(cut).unwrap();
    let (mut early, mut late) = (String::new(), String::new());
    for line in std::fs::read_to_string(history).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let t = pipemon::time::parse_rfc3339(v["eventTime"].as_str().unwrap()).unwrap();
        let part = if t <= cut { &mut early } else { &mut late };
        part.push_str(line);
        part.push('\n');
    }
    let paths = (
        history.with_file_name("early.jsonl"),
        history.with_file_name("late.jsonl"),
    );
    std::fs::write(&paths.0, early).unwrap();
    std::fs::write(&paths.1, late).unwrap();
    paths
}

#[test]
fn evaluating_between_two_tries_raises_no_failure() {
    let dir = tempfile::tempdir().unwrap();
    // Day 5: try 1 of orders_daily.load fails at 03:04:10, try 2 starts at 03:09:10.
    let between = "2026-11-05T03:05:00.000Z";
    let (early, late) = split_at(&emit_history(dir.path()), between);
    let pm = Pipemon::new(dir.path());

    pm.run(&["import", early.to_str().unwrap(), "--no-progress"]);
    pm.run(&["evaluate", "--now", between]);
    let quiet = |alerts: &[Value]| {
        for a in alerts {
            assert!(a["pipeline_id"] != LOAD && a["pipeline_id"] != DAG, "{a}");
        }
    };
    quiet(&pm.json_lines(&["alerts", "--all"]));
    let day5 = |pm: &Pipemon| {
        pm.json_lines(&["query", "runs", "--pipeline", LOAD])
            .into_iter()
            .find(|r| r["started_at"] == "2026-11-05T03:00:05.000Z")
            .unwrap()
    };
    let run = day5(&pm);
    assert_eq!(
        (&run["outcome"], &run["retries"]),
        (&Value::from("running"), &Value::from(1))
    );

    pm.run(&["import", late.to_str().unwrap(), "--no-progress"]);
    pm.run(&["evaluate", "--now", "data-end"]);
    quiet(&pm.json_lines(&["alerts", "--all"]));
    let run = day5(&pm);
    assert_eq!(
        (&run["outcome"], &run["retries"], &run["attempts"]),
        (&Value::from("success"), &Value::from(1), &Value::from(2))
    );
}
