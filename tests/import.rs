//! Import, run materialisation and queries, driven through the real binary on temp
//! databases, with event sets whose runs and counts are known by construction.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

const T0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;

fn pipemon(db: &Path) -> Command {
    let mut c = Command::cargo_bin("pipemon").unwrap();
    c.arg("--db")
        .arg(db)
        .env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG");
    c
}

/// What a constructed run should come out as.
struct Expected {
    pipeline: String,
    run: String,
    outcome: &'static str,
    attempts: i64,
    retries: i64,
    duration_ms: Option<i64>,
}

/// A deterministic event set: `n_pipelines` pipelines × `n_runs` runs each, cycling
/// through success, retried success, final failure, cancelled, and in-progress runs,
/// with a duplicate delivery and an id-less duplicate line per few runs.
fn build(n_pipelines: usize, n_runs: usize) -> (Vec<String>, Vec<Expected>) {
    let mut lines = Vec::new();
    let mut expected = Vec::new();
    for p in 0..n_pipelines {
        let pipeline = format!("pipe_{p:02}");
        for r in 0..n_runs {
            let run = format!("{pipeline}@{r}");
            let start = T0 + (r as i64) * 60 * MIN + p as i64 * 1000;
            let kind = (p + r) % 5;
            let ev = |id: &str, status: &str, ts: i64, extra: Value| {
                let mut o = json!({"event_id": format!("{run}/{id}"), "pipeline_id": pipeline,
                    "run_id": run, "status": status, "timestamp": ts, "team": format!("team_{}", p % 3)});
                for (k, v) in extra.as_object().unwrap() {
                    o[k] = v.clone();
                }
                o.to_string()
            };
            lines.push(ev("s", "started", start, json!({"attempt": 1})));
            match kind {
                0 => {
                    lines.push(ev(
                        "e",
                        "success",
                        start + 5 * MIN,
                        json!({"records_processed": 100 + r}),
                    ));
                    expected.push(Expected {
                        pipeline: pipeline.clone(),
                        run: run.clone(),
                        outcome: "success",
                        attempts: 1,
                        retries: 0,
                        duration_ms: Some(5 * MIN),
                    });
                }
                1 => {
                    lines.push(ev(
                        "r",
                        "up_for_retry",
                        start + 2 * MIN,
                        json!({"attempt": 1, "error_type": "IOError"}),
                    ));
                    lines.push(ev(
                        "e",
                        "succeeded",
                        start + 7 * MIN,
                        json!({"attempt": 2, "duration_ms": 400_000}),
                    ));
                    expected.push(Expected {
                        pipeline: pipeline.clone(),
                        run: run.clone(),
                        outcome: "success",
                        attempts: 2,
                        retries: 1,
                        duration_ms: Some(400_000),
                    });
                }
                2 => {
                    lines.push(ev("r", "retrying", start + MIN, json!({"attempt": 1})));
                    lines.push(ev("e", "failed", start + 3 * MIN, json!({"attempt": 2, "error_type": "ValueError", "error_message": "bad row 17"})));
                    expected.push(Expected {
                        pipeline: pipeline.clone(),
                        run: run.clone(),
                        outcome: "failed",
                        attempts: 2,
                        retries: 1,
                        duration_ms: Some(3 * MIN),
                    });
                }
                3 => {
                    lines.push(ev("e", "killed", start + MIN, json!({})));
                    expected.push(Expected {
                        pipeline: pipeline.clone(),
                        run: run.clone(),
                        outcome: "cancelled",
                        attempts: 1,
                        retries: 0,
                        duration_ms: Some(MIN),
                    });
                }
                _ => {
                    lines.push(ev(
                        "h",
                        "heartbeat",
                        start + MIN,
                        json!({"task_id": "extract"}),
                    ));
                    expected.push(Expected {
                        pipeline: pipeline.clone(),
                        run: run.clone(),
                        outcome: "running",
                        attempts: 1,
                        retries: 0,
                        duration_ms: None,
                    });
                }
            }
            if r % 4 == 0 {
                // A duplicate delivery of the start event, and an id-less event twice
                // with different key order and spacing.
                lines.push(lines[lines.len() - 1].clone());
                let a = json!({"pipeline_id": pipeline, "run_id": run, "status": "running", "timestamp": start + 30_000});
                lines.push(a.to_string());
                lines.push(format!(
                    "{{ \"timestamp\": {}, \"status\": \"running\", \"run_id\": \"{run}\", \"pipeline_id\": \"{pipeline}\" }}",
                    start + 30_000
                ));
            }
        }
    }
    (lines, expected)
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path
}

/// A deterministic shuffle (xorshift), so failures reproduce.
fn shuffled(lines: &[String], seed: u64) -> Vec<String> {
    let mut v = lines.to_vec();
    let mut s = seed.max(1);
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn query(db: &Path, name: &str) -> Vec<Value> {
    let out = pipemon(db)
        .args(["--format", "json", "query", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout)
}

fn import_json(db: &Path, files: &[&Path]) -> Value {
    let out = pipemon(db)
        .args(["--format", "json", "import"])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sqlite_dump(db: &Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The rows of every table an import writes, for before/after comparisons.
fn every_table(db: &Path) -> Vec<Vec<Vec<rusqlite::types::Value>>> {
    [
        "events",
        "run_state",
        "pipelines",
        "rejected_events",
        "imports",
        "pipeline_stats",
    ]
    .iter()
    .map(|t| sqlite_dump(db, &format!("SELECT * FROM {t}")))
    .collect()
}

const RUNS_SQL: &str = "SELECT * FROM run_state ORDER BY pipeline_id, run_id";
const PIPELINES_SQL: &str = "SELECT * FROM pipelines ORDER BY pipeline_id";

#[test]
fn runs_match_construction_and_reimport_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let (lines, expected) = build(6, 20);
    let file = write(dir.path(), "events.jsonl", &lines);
    let db = dir.path().join("a.db");

    let first = import_json(&db, &[&file]);
    let unique_events: usize = {
        let mut seen = std::collections::HashSet::new();
        lines
            .iter()
            .filter(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                seen.insert(match v.get("event_id") {
                    Some(id) => id.to_string(),
                    None => format!("{}|{}", v["run_id"], v["timestamp"]),
                })
            })
            .count()
    };
    assert_eq!(first["lines"], lines.len());
    assert_eq!(first["inserted"], unique_events);
    assert_eq!(first["duplicates"], lines.len() - unique_events);
    assert_eq!(first["rejected"], 0);

    let runs = query(&db, "runs");
    assert_eq!(runs.len(), expected.len());
    for e in &expected {
        let r = runs
            .iter()
            .find(|r| r["pipeline_id"] == e.pipeline.as_str() && r["run_id"] == e.run.as_str())
            .unwrap_or_else(|| panic!("run {} missing", e.run));
        assert_eq!(r["outcome"], e.outcome, "{}", e.run);
        assert_eq!(r["attempts"], e.attempts, "{}", e.run);
        assert_eq!(r["retries"], e.retries, "{}", e.run);
        assert_eq!(r["duration_ms"].as_i64(), e.duration_ms, "{}", e.run);
    }

    let before = (sqlite_dump(&db, RUNS_SQL), sqlite_dump(&db, PIPELINES_SQL));
    let again = import_json(&db, &[&file]);
    assert_eq!(again["inserted"], 0);
    assert_eq!(again["duplicates"], lines.len());
    assert_eq!(
        (sqlite_dump(&db, RUNS_SQL), sqlite_dump(&db, PIPELINES_SQL)),
        before
    );

    // Health counts agree with the construction.
    let health = query(&db, "pipeline_health");
    assert_eq!(health.len(), 6);
    for h in &health {
        let pid = h["pipeline_id"].as_str().unwrap();
        let count = |o: &str| {
            expected
                .iter()
                .filter(|e| e.pipeline == pid && e.outcome == o)
                .count()
        };
        assert_eq!(
            h["runs_total"],
            expected.iter().filter(|e| e.pipeline == pid).count()
        );
        assert_eq!(h["runs_success"], count("success"));
        assert_eq!(h["runs_failed"], count("failed"));
        assert_eq!(h["runs_cancelled"], count("cancelled"));
        assert_eq!(h["runs_in_progress"], count("running"));
        let (s, f) = (count("success") as f64, count("failed") as f64);
        let rate = h["success_rate"].as_f64().unwrap();
        assert!((rate - s / (s + f)).abs() < 1e-3, "{pid}: {rate}");
        assert_eq!(
            h["team"],
            format!("team_{}", pid[5..].parse::<usize>().unwrap() % 3)
        );
    }
}

#[test]
fn shuffled_and_split_input_gives_identical_runs() {
    let dir = TempDir::new().unwrap();
    let (lines, _) = build(5, 24);
    let ordered = write(dir.path(), "ordered.jsonl", &lines);
    let db_a = dir.path().join("a.db");
    import_json(&db_a, &[&ordered]);

    let mixed = shuffled(&lines, 42);
    let (x, y) = mixed.split_at(mixed.len() / 3);
    let fx = write(dir.path(), "x.jsonl", x);
    let fy = write(dir.path(), "y.jsonl", y);
    let db_b = dir.path().join("b.db");
    // Second half first: late events for runs the first file completes.
    import_json(&db_b, &[&fy]);
    import_json(&db_b, &[&fx]);

    assert_eq!(sqlite_dump(&db_a, RUNS_SQL), sqlite_dump(&db_b, RUNS_SQL));
    assert_eq!(
        sqlite_dump(&db_a, PIPELINES_SQL),
        sqlite_dump(&db_b, PIPELINES_SQL)
    );
    assert_eq!(
        query(&db_a, "pipeline_health"),
        query(&db_b, "pipeline_health")
    );
}

#[test]
fn terminal_ties_and_latest_attributes_do_not_depend_on_line_order() {
    let dir = TempDir::new().unwrap();
    let lines = vec![
        json!({"pipeline_id":"p","run_id":"r","status":"success","timestamp":T0 + 5000,"event_id":"a"}).to_string(),
        json!({"pipeline_id":"p","run_id":"r","status":"failed","timestamp":T0 + 5000,"event_id":"b"}).to_string(),
        json!({"pipeline_id":"p","run_id":"r","status":"started","timestamp":T0,"team":"old","event_id":"c"}).to_string(),
        json!({"pipeline_id":"p","run_id":"r2","status":"started","timestamp":T0 + 9000,"team":"new","priority":"high","event_id":"d"}).to_string(),
        json!({"pipeline_id":"p","run_id":"r2","status":"success","timestamp":T0 + 9500,"attempt":2,"event_id":"e"}).to_string(),
        json!({"pipeline_id":"p","run_id":"r2","status":"cancelled","timestamp":T0 + 9500,"attempt":1,"event_id":"f"}).to_string(),
    ];
    let mut results = Vec::new();
    for (i, order) in [lines.clone(), lines.iter().rev().cloned().collect()]
        .iter()
        .enumerate()
    {
        let db = dir.path().join(format!("{i}.db"));
        let f = write(dir.path(), &format!("{i}.jsonl"), order);
        import_json(&db, &[&f]);
        let runs = query(&db, "runs");
        let health = query(&db, "pipeline_health");
        results.push((runs, health));
    }
    assert_eq!(results[0], results[1]);
    let (runs, health) = &results[0];
    let outcome = |id: &str| runs.iter().find(|r| r["run_id"] == id).unwrap()["outcome"].clone();
    assert_eq!(outcome("r"), "failed", "same instant: failed beats success");
    assert_eq!(
        outcome("r2"),
        "success",
        "same instant: higher attempt wins"
    );
    assert_eq!(health[0]["team"], "new");
    assert_eq!(health[0]["priority"], "high");
}

#[test]
fn gzip_and_stdin_inputs() {
    let dir = TempDir::new().unwrap();
    let (lines, expected) = build(3, 10);
    let text = lines.join("\n") + "\n";
    let gz = dir.path().join("events.jsonl.gz");
    {
        let f = std::fs::File::create(&gz).unwrap();
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    }
    let db_gz = dir.path().join("gz.db");
    import_json(&db_gz, &[&gz]);
    let db_in = dir.path().join("stdin.db");
    let out = pipemon(&db_in)
        .args(["--format", "json", "import", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["files"], json!(["<stdin>"]));
    assert_eq!(query(&db_gz, "runs").len(), expected.len());
    assert_eq!(sqlite_dump(&db_gz, RUNS_SQL), sqlite_dump(&db_in, RUNS_SQL));
}

/// One bad line per reason code, with the reason it must get.
fn bad_lines() -> Vec<(&'static str, String)> {
    let ok = |extra: &str| {
        format!(r#"{{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":{T0}{extra}}}"#)
    };
    vec![
        ("invalid_json", "{\"pipeline_id\": \"p\",".to_string()),
        ("not_an_object", "[1, 2, 3]".to_string()),
        (
            "missing_field",
            r#"{"pipeline_id":"p","status":"ok","timestamp":1793491200000}"#.to_string(),
        ),
        ("wrong_type", ok(r#","records_processed":true"#)),
        (
            "unknown_status",
            r#"{"pipeline_id":"p","run_id":"r","status":"exploded","timestamp":1793491200000}"#
                .to_string(),
        ),
        (
            "bad_timestamp",
            r#"{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":"2026-11-01 03:00"}"#
                .to_string(),
        ),
        ("negative_number", ok(r#","duration_ms":-3"#)),
        ("invalid_value", ok(r#","priority":"urgent""#)),
    ]
}

#[test]
fn every_rejection_reason_is_counted_kept_and_listed() {
    let dir = TempDir::new().unwrap();
    let mut lines =
        vec![json!({"pipeline_id":"p","run_id":"r0","status":"ok","timestamp":T0}).to_string()];
    let bad = bad_lines();
    lines.extend(bad.iter().map(|(_, l)| l.clone()));
    lines.push("   ".to_string());
    let file = write(dir.path(), "mixed.jsonl", &lines);
    let db = dir.path().join("r.db");
    let out = pipemon(&db)
        .args(["--format", "json", "import"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["inserted"], 1);
    assert_eq!(summary["blank"], 1);
    assert_eq!(summary["rejected"], bad.len());
    for (reason, _) in &bad {
        assert_eq!(summary["rejected_by_reason"][reason], 1, "{reason}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mixed.jsonl:2: invalid_json"), "{stderr}");

    let listed = pipemon(&db)
        .args(["--format", "json", "rejected"])
        .output()
        .unwrap();
    let rows = json_lines(&listed.stdout);
    assert_eq!(rows.len(), bad.len());
    for (i, (reason, raw)) in bad.iter().enumerate() {
        let row = rows.iter().find(|r| r["reason"] == *reason).unwrap();
        assert_eq!(row["raw"], raw.as_str());
        assert_eq!(row["line"], i + 2);
    }
    // Importing again records no rejected line twice.
    import_json(&db, &[&file]);
    let again = pipemon(&db)
        .args(["--format", "json", "rejected"])
        .output()
        .unwrap();
    assert_eq!(json_lines(&again.stdout).len(), bad.len());
}

#[test]
fn strict_stops_at_the_first_bad_line_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let (good, _) = build(2, 5);
    let db = dir.path().join("s.db");
    let base = write(dir.path(), "base.jsonl", &good[..10]);
    import_json(&db, &[&base]);
    let before = every_table(&db);

    let mut lines = good[10..].to_vec();
    lines.insert(7, "oops".to_string());
    let file = write(dir.path(), "bad.jsonl", &lines);
    let out = pipemon(&db)
        .args(["import", "--strict"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.jsonl:8: invalid_json"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    let after = every_table(&db);
    assert_eq!(before, after);
}

#[test]
fn views_equal_cli_output() {
    let dir = TempDir::new().unwrap();
    let (lines, _) = build(4, 15);
    let file = write(dir.path(), "e.jsonl", &lines);
    let db = dir.path().join("v.db");
    import_json(&db, &[&file]);
    for (name, order) in [
        ("pipeline_health", "pipeline_id"),
        ("team_health", "team"),
        ("execution_patterns", "pipeline_id"),
    ] {
        let out = pipemon(&db)
            .args(["--format", "csv", "query", name])
            .output()
            .unwrap();
        let cli = String::from_utf8(out.stdout).unwrap();
        let view = sqlite_dump(&db, &format!("SELECT * FROM {name} ORDER BY {order}"));
        let cli_rows: Vec<&str> = cli.lines().skip(1).collect();
        assert_eq!(cli_rows.len(), view.len(), "{name}");
        for (line, row) in cli_rows.iter().zip(&view) {
            let cells: Vec<String> = row
                .iter()
                .map(|v| match v {
                    rusqlite::types::Value::Null => String::new(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(f) => {
                        let s = format!("{f:.4}");
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    }
                    rusqlite::types::Value::Text(t) => t.clone(),
                    rusqlite::types::Value::Blob(_) => unreachable!(),
                })
                .collect();
            assert_eq!(*line, cells.join(","), "{name}");
        }
    }
}

#[test]
fn since_filters_health_without_touching_stored_figures() {
    let dir = TempDir::new().unwrap();
    let (lines, expected) = build(2, 20);
    let file = write(dir.path(), "e.jsonl", &lines);
    let db = dir.path().join("w.db");
    import_json(&db, &[&file]);
    // Runs start hourly from T0; since T0 + 10h keeps runs 10..19.
    let since = "2026-11-01T10:00:00Z";
    let out = pipemon(&db)
        .args([
            "--format",
            "json",
            "query",
            "pipeline_health",
            "--since",
            since,
        ])
        .output()
        .unwrap();
    let rows = json_lines(&out.stdout);
    for row in &rows {
        let pid = row["pipeline_id"].as_str().unwrap();
        let want = expected
            .iter()
            .filter(|e| {
                e.pipeline == pid && e.run.rsplit('@').next().unwrap().parse::<i64>().unwrap() >= 10
            })
            .count();
        assert_eq!(row["runs_total"], want);
    }
    let all = query(&db, "pipeline_health");
    assert_eq!(all[0]["runs_total"], 20);
}

#[test]
fn take_home_interface_imports_and_answers() {
    let dir = TempDir::new().unwrap();
    let (lines, _) = build(3, 4);
    let file = write(dir.path(), "e.jsonl", &lines);
    let db = dir.path().join("t.db");
    let out = pipemon(&db)
        .args(["--format", "json", "--data-file"])
        .arg(&file)
        .args(["--query", "pipeline_health"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(json_lines(&out.stdout).len(), 3);
}

#[test]
fn unknown_query_is_an_error_with_a_hint() {
    let dir = TempDir::new().unwrap();
    let out = pipemon(&dir.path().join("x.db"))
        .args(["query", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown query `nope`") && err.contains("hint: the queries are"),
        "{err}"
    );
}

#[test]
fn a_killed_import_leaves_whole_commits_and_a_second_import_completes_it() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    // 200 pipelines × 26 days is about 333,000 lines: more than one commit's worth
    // (COMMIT_LINES), however fast the build.
    let generated = Command::cargo_bin("pipemon")
        .unwrap()
        .args([
            "generate",
            "--pipelines",
            "200",
            "--days",
            "26",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let file = data.join("events.jsonl");

    let killed = dir.path().join("killed.db");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pipemon"))
        .arg("--db")
        .arg(&killed)
        .args(["import", "--no-progress"])
        .arg(&file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first commit to be visible, then kill the importer mid-file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let committed = loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let n = rusqlite::Connection::open(&killed)
            .and_then(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .unwrap_or(0);
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(committed > 0, "no commit became visible");

    let conn = rusqlite::Connection::open(&killed).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let unfinished: i64 = conn
        .query_row(
            "SELECT count(*) FROM imports WHERE finished_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unfinished, 1, "the killed import is recorded as unfinished");
    let partial: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    drop(conn);

    let clean = dir.path().join("clean.db");
    let full = import_json(&clean, &[&file]);
    let inserted_total = full["inserted"].as_i64().unwrap();
    assert!(
        full["lines"].as_u64().unwrap() as usize > pipemon::store::import::COMMIT_LINES,
        "the file must span more than one commit"
    );
    assert!(
        partial < inserted_total,
        "the kill came after the last commit"
    );
    let resumed = import_json(&killed, &[&file]);
    assert_eq!(
        resumed["inserted"].as_i64().unwrap(),
        inserted_total - partial
    );
    assert_eq!(
        sqlite_dump(&killed, RUNS_SQL),
        sqlite_dump(&clean, RUNS_SQL)
    );
    assert_eq!(
        sqlite_dump(&killed, PIPELINES_SQL),
        sqlite_dump(&clean, PIPELINES_SQL)
    );
    assert_eq!(
        query(&killed, "pipeline_health"),
        query(&clean, "pipeline_health")
    );
}
