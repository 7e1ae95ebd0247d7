//! A run's start when its `started` event was lost, and the final attempt of a
//! retried run: generated runs whose true start and attempts are known, imported in
//! several orders and splits, read back from `run_state`, from the events rebuilt
//! as of a moment, and from a database upgraded from before migration 0007.

use std::path::{Path, PathBuf};

use pipemon::detect::load;
use pipemon::model::{Run, StartSource};
use pipemon::store::Store;
use pipemon::store::import::{ImportOptions, import_paths};
use pipemon::store::migrate::{MIGRATIONS, migrate_to};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use tempfile::TempDir;

const T0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;

/// What a generated run must come out as.
#[derive(Debug, Clone, PartialEq)]
struct Truth {
    pipeline: String,
    run: String,
    start_at: i64,
    source: StartSource,
    duration_ms: Option<i64>,
    final_attempt_ms: Option<i64>,
    /// The latest `started`, `running` or `retrying` event, or the start.
    last_alive_at: i64,
    heartbeats: i64,
}

/// A small deterministic generator (splitmix64), so the test needs no seed file.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Runs of three pipelines cycling through seven shapes of lost and retried
/// events; returns the event lines and what each run must be.
fn build(runs_per_pipeline: usize, mix: &mut Mix) -> (Vec<String>, Vec<Truth>) {
    let mut lines = Vec::new();
    let mut truth = Vec::new();
    for p in 0..3 {
        let pipeline = format!("p{p}");
        for r in 0..runs_per_pipeline {
            let run = format!("{pipeline}@{r}");
            let start = T0 + r as i64 * 60 * MIN + p * 1000;
            let dur = (5 + mix.below(20) as i64) * MIN + mix.below(1000) as i64;
            let end = start + dur;
            let mut n = 0;
            let mut ev = |status: &str, ts: i64, extra: Value| {
                n += 1;
                let mut o = json!({"event_id": format!("{run}/{n}"), "pipeline_id": pipeline,
                    "run_id": run, "status": status, "timestamp": ts});
                for (k, v) in extra.as_object().unwrap() {
                    o[k] = v.clone();
                }
                lines.push(o.to_string());
            };
            let t = |start_at, source, duration_ms, final_attempt_ms, alive, heartbeats| Truth {
                pipeline: pipeline.clone(),
                run: run.clone(),
                start_at,
                source,
                duration_ms,
                final_attempt_ms,
                last_alive_at: alive,
                heartbeats,
            };
            let retry_at = start + dur / 3;
            let second = retry_at + 2 * MIN;
            match r % 7 {
                // Complete: started, a heartbeat, success with its duration.
                0 => {
                    ev("started", start, json!({}));
                    ev("running", start + MIN, json!({}));
                    ev("success", end, json!({"duration_ms": dur}));
                    truth.push(t(
                        start,
                        StartSource::Started,
                        Some(dur),
                        Some(dur),
                        start + MIN,
                        1,
                    ));
                }
                // `started` lost; the terminal event carries the duration.
                1 => {
                    ev("running", start + 2 * MIN, json!({}));
                    ev("success", end, json!({"duration_ms": dur}));
                    truth.push(t(
                        start,
                        StartSource::Duration,
                        Some(dur),
                        Some(dur),
                        start + 2 * MIN,
                        1,
                    ));
                }
                // `started` lost, no duration: the scheduled time.
                2 => {
                    ev("running", start + MIN, json!({"scheduled_at": start}));
                    ev("failed", end, json!({"scheduled_at": start}));
                    truth.push(t(start, StartSource::Scheduled, None, None, start + MIN, 1));
                }
                // Nothing but a heartbeat and the end: the earliest event.
                3 => {
                    ev("running", start + 3 * MIN, json!({}));
                    ev("success", end, json!({}));
                    truth.push(t(
                        start + 3 * MIN,
                        StartSource::FirstEvent,
                        None,
                        None,
                        start + 3 * MIN,
                        1,
                    ));
                }
                // Retried: the final attempt starts at its own `started`.
                4 => {
                    ev("started", start, json!({"attempt": 1}));
                    ev("retrying", retry_at, json!({"attempt": 1}));
                    ev("started", second, json!({"attempt": 2}));
                    ev("success", end, json!({"attempt": 2}));
                    truth.push(t(
                        start,
                        StartSource::Started,
                        Some(dur),
                        Some(end - second),
                        second,
                        0,
                    ));
                }
                // Retried, the second `started` lost: from the `retrying` event.
                5 => {
                    ev("started", start, json!({"attempt": 1}));
                    ev("retrying", retry_at, json!({"attempt": 1}));
                    ev("success", end, json!({"attempt": 2, "duration_ms": dur}));
                    truth.push(t(
                        start,
                        StartSource::Started,
                        Some(dur),
                        Some(end - retry_at),
                        retry_at,
                        0,
                    ));
                }
                // Retried and the first `started` lost: start from the duration.
                _ => {
                    ev("retrying", retry_at, json!({"attempt": 1}));
                    ev("started", second, json!({"attempt": 2}));
                    ev("success", end, json!({"attempt": 2, "duration_ms": dur}));
                    // The first `started` seen is the second attempt's, so it is
                    // not the run's start (migration 0008).
                    truth.push(t(
                        start,
                        StartSource::Duration,
                        Some(dur),
                        Some(end - second),
                        second,
                        0,
                    ));
                }
            }
        }
    }
    (lines, truth)
}

fn write_files(dir: &Path, tag: &str, lines: &[String], parts: usize) -> Vec<PathBuf> {
    let chunk = lines.len().div_ceil(parts);
    lines
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            let path = dir.join(format!("{tag}-{i}.jsonl"));
            std::fs::write(&path, c.join("\n") + "\n").unwrap();
            path
        })
        .collect()
}

fn import(db: &Path, files: &[PathBuf]) -> Store {
    let store = Store::open(db).unwrap();
    import_paths(&store, files, &ImportOptions::default()).unwrap();
    store
}

/// Every run as `run_state` gives it, by (pipeline, run).
fn stored(store: &Store) -> Vec<Truth> {
    let conn = store.conn().unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT pipeline_id, run_id, start_at, start_source, duration_ms, final_attempt_ms,
                    max(start_at, coalesce(last_started_at, start_at),
                        coalesce(last_retry_at, start_at), coalesce(last_running_at, start_at)),
                    n_running
             FROM run_state ORDER BY pipeline_id, run_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Truth {
            pipeline: r.get(0)?,
            run: r.get(1)?,
            start_at: r.get(2)?,
            source: StartSource::parse(&r.get::<_, String>(3)?).unwrap(),
            duration_ms: r.get(4)?,
            final_attempt_ms: r.get(5)?,
            last_alive_at: r.get(6)?,
            heartbeats: r.get(7)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn sorted(mut v: Vec<Truth>) -> Vec<Truth> {
    v.sort_by(|a, b| (&a.pipeline, &a.run).cmp(&(&b.pipeline, &b.run)));
    v
}

fn as_truth(r: &Run) -> Truth {
    Truth {
        pipeline: r.pipeline_id.clone(),
        run: r.run_id.clone(),
        start_at: r.start_at,
        source: r.start_source,
        duration_ms: r.duration_ms,
        final_attempt_ms: r.final_attempt_ms,
        last_alive_at: r.last_alive_at,
        heartbeats: r.heartbeats,
    }
}

#[test]
fn lost_starts_and_final_attempts_come_out_right_in_any_order_and_split() {
    let dir = TempDir::new().unwrap();
    let mut mix = Mix(7);
    let (mut lines, truth) = build(42, &mut mix);
    let truth = sorted(truth);

    // In order, one file.
    let a = import(
        &dir.path().join("a.db"),
        &write_files(dir.path(), "a", &lines, 1),
    );
    assert_eq!(stored(&a), truth);

    // Shuffled, over five files (each file's runs merge into the stored rows).
    mix.shuffle(&mut lines);
    let b = import(
        &dir.path().join("b.db"),
        &write_files(dir.path(), "b", &lines, 5),
    );
    assert_eq!(stored(&b), truth);

    // Reversed, one file per event pair, and then all of it again (idempotent).
    lines.reverse();
    let files = write_files(dir.path(), "c", &lines, lines.len() / 2);
    let c = import(&dir.path().join("c.db"), &files);
    import_paths(&c, &files, &ImportOptions::default()).unwrap();
    assert_eq!(stored(&c), truth);

    // The detectors' two reads agree: run_state, and runs rebuilt from events.
    let conn = c.conn().unwrap();
    for p in ["p0", "p1", "p2"] {
        let from_state = load::runs_after(&conn, p, None).unwrap();
        let rebuilt = load::runs_as_of(&conn, p, i64::MAX).unwrap();
        assert_eq!(from_state, rebuilt, "pipeline {p}");
        let want: Vec<Truth> = truth.iter().filter(|t| t.pipeline == p).cloned().collect();
        assert_eq!(sorted(from_state.iter().map(as_truth).collect()), want);
        // In start order, by the derived start.
        assert!(
            from_state
                .windows(2)
                .all(|w| (w[0].start_at, &w[0].run_id) <= (w[1].start_at, &w[1].run_id))
        );
    }
}

#[test]
fn a_start_seen_later_replaces_a_derived_one_and_the_change_is_pending() {
    // The terminal event with a duration arrives first; the `started` event a later
    // import. The start moves from the derived value to the real one, and the
    // pipeline is marked changed from no later than either.
    let dir = TempDir::new().unwrap();
    let line = |id: &str, status: &str, ts: i64, extra: Value| {
        let mut o = json!({"event_id": id, "pipeline_id": "p", "run_id": "r",
            "status": status, "timestamp": ts});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o.to_string() + "\n"
    };
    let f1 = dir.path().join("1.jsonl");
    let f2 = dir.path().join("2.jsonl");
    std::fs::write(
        &f1,
        line(
            "e",
            "success",
            T0 + 30 * MIN,
            json!({"duration_ms": 20 * MIN}),
        ),
    )
    .unwrap();
    std::fs::write(&f2, line("s", "started", T0 + 5 * MIN, json!({}))).unwrap();
    let store = import(&dir.path().join("p.db"), &[f1]);
    let (start, source): (i64, String) = store
        .conn()
        .unwrap()
        .query_row("SELECT start_at, start_source FROM run_state", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((start, source.as_str()), (T0 + 10 * MIN, "duration"));
    store
        .conn()
        .unwrap()
        .execute("DELETE FROM pending_changes", [])
        .unwrap();
    import_paths(&store, &[f2], &ImportOptions::default()).unwrap();
    let conn = store.conn().unwrap();
    let (start, source, duration): (i64, String, i64) = conn
        .query_row(
            "SELECT start_at, start_source, duration_ms FROM run_state",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (start, source.as_str(), duration),
        (T0 + 5 * MIN, "started", 20 * MIN)
    );
    let earliest: i64 = conn
        .query_row("SELECT earliest_start FROM pending_changes", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(earliest <= T0 + 5 * MIN, "{earliest}");
    let view: String = conn
        .query_row("SELECT start_source FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(view, "started");
}

/// The schema version just before migration 0007.
fn version_before_run_start() -> i64 {
    MIGRATIONS
        .iter()
        .position(|(name, _)| *name == "0007_run_start")
        .unwrap() as i64
}

fn schema(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn upgrade_derives_starts_rebuilds_the_index_and_equals_a_fresh_import() {
    // A database written before 0007 holds events and runs merged by the old rules
    // (start = first `started`, else the earliest event). After the upgrade every
    // run must read as a fresh import of the same events reads, through the index.
    let dir = TempDir::new().unwrap();
    let mut mix = Mix(11);
    let (lines, truth) = build(21, &mut mix);
    let truth = sorted(truth);
    let files = write_files(dir.path(), "in", &lines, 1);
    let fresh = import(&dir.path().join("fresh.db"), &files);

    let old = dir.path().join("old.db");
    {
        let mut conn = Connection::open(&old).unwrap();
        migrate_to(&mut conn, version_before_run_start()).unwrap();
        let fresh_conn = fresh.conn().unwrap();
        // Copy events and the run columns that existed before 0007.
        let mut events = fresh_conn
            .prepare(
                "SELECT pipeline_id, event_key, run_id, status, ts, attempt, duration_ms,
                        scheduled_at FROM events",
            )
            .unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut rows = events.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                tx.execute(
                    "INSERT INTO events (pipeline_id, event_key, run_id, status, ts, attempt,
                         duration_ms, scheduled_at, import_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
                    params![
                        r.get::<_, String>(0).unwrap(),
                        r.get::<_, String>(1).unwrap(),
                        r.get::<_, String>(2).unwrap(),
                        r.get::<_, String>(3).unwrap(),
                        r.get::<_, i64>(4).unwrap(),
                        r.get::<_, i64>(5).unwrap(),
                        r.get::<_, Option<i64>>(6).unwrap(),
                        r.get::<_, Option<i64>>(7).unwrap(),
                    ],
                )
                .unwrap();
            }
        }
        let cols = "pipeline_id, run_id, first_event_at, last_event_at, started_at, scheduled_at,
            max_attempt, n_events, n_retrying, n_failed_terms, max_records, term_ts,
            term_attempt, term_rank, term_key, term_status, term_duration_ms, term_records";
        let mut runs = fresh_conn
            .prepare(&format!("SELECT {cols} FROM run_state"))
            .unwrap();
        {
            let mut rows = runs.query([]).unwrap();
            let marks: Vec<String> = (1..=18).map(|i| format!("?{i}")).collect();
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO run_state ({cols}) VALUES ({})",
                    marks.join(", ")
                ))
                .unwrap();
            while let Some(r) = rows.next().unwrap() {
                let v: Vec<rusqlite::types::Value> = (0..18).map(|i| r.get(i).unwrap()).collect();
                insert.execute(rusqlite::params_from_iter(v)).unwrap();
            }
        }
        tx.commit().unwrap();
        // Before the upgrade, a run with a lost `started` starts at its first event.
        let (old_start, n): (i64, i64) = conn
            .query_row(
                "SELECT start_at, count(*) FROM run_state WHERE run_id = 'p0@1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(old_start, T0 + 60 * MIN + 2 * MIN);
    }

    let upgraded = Store::open(&old).unwrap();
    let conn = upgraded.conn().unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(stored(&upgraded), truth);
    assert_eq!(schema(&conn), schema(&fresh.conn().unwrap()));
    for p in ["p0", "p1", "p2"] {
        // runs_after reads through runs_by_pipeline_start: the rebuilt index.
        assert_eq!(
            load::runs_after(&conn, p, None).unwrap(),
            load::runs_after(&fresh.conn().unwrap(), p, None).unwrap()
        );
    }
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM run_state WHERE pipeline_id = 'p0' AND start_at = ?1",
            [T0 + 60 * MIN],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "the index finds the run by its derived start");
}

fn pipemon(db: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipemon"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn on_time_runs_whose_started_was_lost_are_not_missed() {
    // An hourly cron; every run starts on the hour and takes 40-50 minutes. Most
    // `started` events are lost: the start must come from the terminal event's
    // duration, or else each run would seem to start at its end and every next
    // hour would look missed. The last four hours really are missed.
    let dir = TempDir::new().unwrap();
    let mut mix = Mix(3);
    let mut lines = Vec::new();
    let hours = 72;
    for h in 0..hours {
        let start = T0 + h * 60 * MIN + 20_000;
        let dur = (40 + mix.below(10) as i64) * MIN;
        let base = json!({"pipeline_id": "hourly", "run_id": format!("r{h}"),
            "schedule": "0 * * * *"});
        let ev = |id: &str, status: &str, ts: i64, extra: Value| {
            let mut o = base.clone();
            o["event_id"] = json!(format!("{h}{id}"));
            o["status"] = json!(status);
            o["timestamp"] = json!(ts);
            for (k, v) in extra.as_object().unwrap() {
                o[k] = v.clone();
            }
            o.to_string()
        };
        if mix.below(4) == 0 {
            lines.push(ev("s", "started", start, json!({})));
        }
        lines.push(ev("e", "success", start + dur, json!({"duration_ms": dur})));
    }
    // The data goes on four hours after the last run (another pipeline's events).
    let end = T0 + (hours + 4) * 60 * MIN;
    lines.push(
        json!({"event_id": "x", "pipeline_id": "other", "run_id": "x", "status": "success",
               "timestamp": end})
        .to_string(),
    );
    mix.shuffle(&mut lines);
    let db = dir.path().join("p.db");
    let files = write_files(dir.path(), "in", &lines, 3);
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["import", "--no-progress"];
    args.extend(paths);
    pipemon(&db, &args);
    pipemon(&db, &["evaluate", "--no-notify", "--now", "data-end"]);
    let out = pipemon(&db, &["alerts", "--all", "--format", "json"]);
    let missed: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["kind"] == "missed_run" && a["pipeline_id"] == "hourly")
        .collect();
    // One alert: the start expected right after the last run, still firing.
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["status"], "firing");
    assert_eq!(
        missed[0]["details"]["expected_at"],
        json!("2026-11-04T00:00:00.000Z")
    );
    // Durations are the reported ones, whatever the start's source.
    let store = Store::open(&db).unwrap();
    let conn = store.conn().unwrap();
    let bad: i64 = conn
        .query_row(
            "SELECT count(*) FROM run_state WHERE pipeline_id = 'hourly'
               AND (duration_ms <> term_duration_ms OR start_at <> term_ts - term_duration_ms)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0);
}
