//! Hostile input, overlapping cron jobs and an unlucky operator, driven through the
//! real binary: far-future and far-past timestamps, a byte order mark, a directory
//! given as input, an input with nothing usable, writers beside a process holding the
//! write lock, and many evaluations started at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{Value, json};
use tempfile::TempDir;

const T0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;

fn pipemon(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipemon"));
    c.arg("--db")
        .arg(db)
        .env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG")
        .env_remove("PIPEMON_LOCK_TIMEOUT")
        .stdin(Stdio::null());
    c
}

fn run(db: &Path, args: &[&str]) -> Output {
    pipemon(db).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// One hourly pipeline (`0 * * * *`) with `runs` successful runs from T0: the data
/// end is the last run's end, T0 + (runs - 1) h + 5 min.
fn hourly(runs: i64) -> Vec<String> {
    let mut out = Vec::new();
    for r in 0..runs {
        let start = T0 + r * 60 * MIN;
        let run = format!("hourly@{r}");
        out.push(
            json!({"event_id": format!("{run}/s"), "pipeline_id": "hourly", "run_id": run,
                "status": "started", "timestamp": start, "schedule": "0 * * * *", "team": "data"})
            .to_string(),
        );
        out.push(
            json!({"event_id": format!("{run}/e"), "pipeline_id": "hourly", "run_id": run,
                "status": "success", "timestamp": start + 5 * MIN, "records_processed": 100})
            .to_string(),
        );
    }
    out
}

fn import_json(db: &Path, file: &Path) -> (Output, Value) {
    let o = run(
        db,
        &[
            "--format",
            "json",
            "import",
            "--no-progress",
            file.to_str().unwrap(),
        ],
    );
    let summary = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o, summary)
}

fn data_end(db: &Path) -> Option<i64> {
    let c = Connection::open(db).unwrap();
    c.query_row("SELECT value FROM meta WHERE key = 'data_end'", [], |r| {
        r.get(0)
    })
    .ok()
}

fn setup() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("p.db");
    (dir, db)
}

#[test]
fn far_future_and_far_past_times_are_refused_in_either_form() {
    let (dir, db) = setup();
    let base = dir.path().join("base.jsonl");
    write_lines(&base, &hourly(48));
    let (o, _) = import_json(&db, &base);
    assert!(o.status.success(), "{}", stderr(&o));
    let end = T0 + 47 * 60 * MIN + 5 * MIN;
    assert_eq!(data_end(&db), Some(end));

    // 9999-12-31 and year 1 as text and as integers, a scheduled time far ahead, and
    // one event within the allowed day ahead of the clock.
    let now = chrono::Utc::now().timestamp_millis();
    let soon = now + 3_600_000;
    let ev = |id: &str, ts: Value| {
        json!({"event_id": id, "pipeline_id": "hourly", "run_id": format!("x-{id}"),
            "status": "started", "timestamp": ts})
    };
    let mut sched = ev("sched", json!(end));
    sched["scheduled_at"] = json!("9999-12-31T00:00:00Z");
    let hostile = vec![
        ev("f-text", json!("9999-12-31T23:59:59Z")).to_string(),
        ev("f-int", json!(253_402_214_400_000_i64)).to_string(),
        ev("p-text", json!("0001-01-01T00:00:00Z")).to_string(),
        ev("p-int", json!(-62_135_596_800_000_i64)).to_string(),
        ev("tomorrow-plus", json!(now + 2 * 86_400_000)).to_string(),
        sched.to_string(),
        ev("soon", json!(soon)).to_string(),
    ];
    let file = dir.path().join("hostile.jsonl");
    write_lines(&file, &hostile);
    let (o, s) = import_json(&db, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s["inserted"], 1, "{s}");
    assert_eq!(s["rejected"], 6, "{s}");
    assert_eq!(s["rejected_by_reason"]["bad_timestamp"], 6, "{s}");
    // Only the event an hour ahead moved the data end.
    assert_eq!(data_end(&db), Some(soon));

    let err = stderr(&o);
    assert!(err.contains("hostile.jsonl:1: bad_timestamp: the event time 9999-12-31T23:59:59.000Z is more than 24h after the importer's clock"), "{err}");
    assert!(err.contains("hostile.jsonl:3: bad_timestamp: `timestamp` `0001-01-01T00:00:00Z` is before 1973-03-03T09:46:40.000Z"), "{err}");
}

#[test]
fn a_far_future_event_neither_moves_the_data_end_nor_opens_missed_runs() {
    let (dir, db) = setup();
    let mut lines = hourly(48);
    lines.insert(
        10,
        json!({"event_id": "bad", "pipeline_id": "hourly", "run_id": "hourly@far",
            "status": "started", "timestamp": "9999-12-31T00:00:00Z"})
        .to_string(),
    );
    let file = dir.path().join("e.jsonl");
    write_lines(&file, &lines);
    let (o, s) = import_json(&db, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s["rejected_by_reason"]["bad_timestamp"], 1, "{s}");
    let end = T0 + 47 * 60 * MIN + 5 * MIN;
    assert_eq!(data_end(&db), Some(end));

    let o = run(&db, &["evaluate", "--now", "data-end", "--no-notify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&db, &["--format", "json", "alerts", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let alerts = String::from_utf8_lossy(&o.stdout);
    assert_eq!(alerts.trim(), "", "a healthy hourly pipeline raised alerts");
    // A later real evaluation, an hour on, is accepted.
    let later = chrono::DateTime::from_timestamp_millis(end + 60 * MIN)
        .unwrap()
        .to_rfc3339();
    let o = run(&db, &["evaluate", "--now", &later, "--no-notify"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_byte_order_mark_on_the_first_line_is_not_json_trouble() {
    let (dir, db) = setup();
    let lines = hourly(2);
    let file = dir.path().join("bom.jsonl");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    for l in &lines {
        bytes.extend_from_slice(l.as_bytes());
        bytes.push(b'\n');
    }
    // A mark inside the file is not stripped: only an input's first line may carry one.
    bytes.extend_from_slice(b"\xEF\xBB\xBF{\"pipeline_id\":\"x\"}\n");
    std::fs::write(&file, &bytes).unwrap();
    let (o, s) = import_json(&db, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s["inserted"], 4, "{s}");
    assert_eq!(s["rejected"], 1, "{s}");
    assert_eq!(s["rejected_by_reason"]["invalid_json"], 1, "{s}");
    assert!(
        stderr(&o).contains("bom.jsonl:5: invalid_json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_directory_is_named_in_the_error() {
    let (dir, db) = setup();
    let sub = dir.path().join("events");
    std::fs::create_dir(&sub).unwrap();
    let o = run(&db, &["import", sub.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "Error: cannot import {0}: it is a directory\nhint: name the files inside it, e.g. `pipemon import {0}/*.jsonl`\n",
            sub.display()
        )
    );
}

#[test]
fn an_input_with_nothing_usable_exits_1_and_others_exit_0() {
    let (dir, db) = setup();
    let bad = dir.path().join("bad.jsonl");
    write_lines(
        &bad,
        &["not json".to_string(), String::new(), "[1, 2]".to_string()],
    );
    let o = run(&db, &["import", "--no-progress", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.ends_with(&format!(
        "no event accepted from {}: every non-blank line was rejected (see `pipemon rejected`)\n",
        bad.display()
    )), "{err}");
    // The summary still went out, and the rejected lines are kept.
    let (o, s) = import_json(&db, &bad);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(s["rejected"], 2, "{s}");
    assert_eq!(s["blank"], 1, "{s}");

    // Beside a good file, the bad one is still reported.
    let good = dir.path().join("good.jsonl");
    write_lines(&good, &hourly(3));
    let o = run(
        &db,
        &[
            "import",
            "--no-progress",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("no event accepted from {}:", bad.display())));

    // Duplicates only (a re-import), blank only, and empty inputs are fine.
    let blank = dir.path().join("blank.jsonl");
    write_lines(&blank, &[String::new(), "  ".to_string()]);
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    for f in [&good, &blank, &empty] {
        let o = run(&db, &["import", "--no-progress", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", f.display(), stderr(&o));
    }
}

/// Holds the write lock from this (separate) process for `hold`, like a long
/// evaluation does, while `cmds` run; returns each command's output and duration.
fn beside_a_writer(db: &Path, hold: Duration, cmds: &[Vec<String>]) -> Vec<(Output, Duration)> {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('holder', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1;")
        .unwrap();
    let started = Instant::now();
    let children: Vec<_> = cmds
        .iter()
        .map(|args| {
            pipemon(db)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(hold);
    conn.execute_batch("COMMIT").unwrap();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            (o, started.elapsed())
        })
        .collect()
}

#[test]
fn writers_wait_for_a_long_writer_instead_of_failing() {
    let (dir, db) = setup();
    let file = dir.path().join("e.jsonl");
    write_lines(&file, &hourly(24));
    let (o, _) = import_json(&db, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    let more = dir.path().join("more.jsonl");
    write_lines(&more, &hourly(30)[48..]);

    let hold = Duration::from_secs(4);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let outs = beside_a_writer(
        &db,
        hold,
        &[
            s(&["import", "--no-progress", more.to_str().unwrap()]),
            s(&["evaluate", "--now", "data-end", "--no-notify"]),
            s(&["notify"]),
        ],
    );
    for (o, took) in &outs {
        assert!(o.status.success(), "{}", stderr(o));
        assert!(*took >= hold, "finished before the lock was released");
    }
    assert_eq!(data_end(&db), Some(T0 + 29 * 60 * MIN + 5 * MIN));

    // A lock timeout shorter than the hold: a clear error, exit 2, nothing changed.
    let outs = beside_a_writer(
        &db,
        Duration::from_secs(3),
        &[s(&["--lock-timeout", "500ms", "evaluate", "--no-notify"])],
    );
    let (o, _) = &outs[0];
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(o),
        "Error: waiting for the database write lock\n\
         Caused by: the database stayed locked by another writer (an evaluation, import or notify) for the whole lock timeout (500ms)\n\
         hint: wait for the other pipemon process to finish, or wait longer with --lock-timeout (or PIPEMON_LOCK_TIMEOUT), e.g. --lock-timeout 30m\n"
    );
}

#[test]
fn many_evaluations_started_at_once_all_succeed_in_order() {
    let (dir, db) = setup();
    let file = dir.path().join("e.jsonl");
    write_lines(&file, &hourly(24));
    let (o, _) = import_json(&db, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    const N: usize = 16;
    let children: Vec<_> = (0..N)
        .map(|_| {
            pipemon(&db)
                .args(["evaluate", "--no-notify"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let failed: Vec<String> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|o| !o.status.success())
        .map(|o| stderr(&o))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {N} failed: {failed:?}",
        failed.len()
    );
    let c = Connection::open(&db).unwrap();
    let nows: Vec<i64> = c
        .prepare("SELECT now FROM evaluations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(nows.len(), N);
    assert!(nows.windows(2).all(|w| w[0] <= w[1]), "{nows:?}");
}
