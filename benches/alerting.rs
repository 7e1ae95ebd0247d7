//! Alerting benchmark: the cost of one `alert::process` + `alert::deliver` pass at scale.
//!
//! Run: `cargo bench --bench alerting`. Knobs (environment): `BENCH_PIPELINES` (5000),
//! `BENCH_HISTORY` (resolved alerts per pipeline, 5). Builds a temp database with one
//! firing alert per pipeline plus resolved history, a routing tree of 20 team routes with
//! a file receiver, and times: the first pass (routes all history), a steady-state pass
//! (nothing changed), and the pass that flushes every group and writes the outbox, then
//! delivery of that outbox (one fsync'd append per notification).

use std::time::Instant;

use pipemon::store::Store;
use rusqlite::params;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let pipelines: i64 = env_or("BENCH_PIPELINES", 5000);
    let history: i64 = env_or("BENCH_HISTORY", 5);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let t0: i64 = 1_793_613_600_000;
    {
        let mut c = store.conn().unwrap();
        let tx = c.transaction().unwrap();
        for p in 0..pipelines {
            let id = format!("pipe_{p:05}");
            let up = (p % 10 != 0).then(|| format!("[\"pipe_{:05}\"]", p - 1));
            tx.execute(
                "INSERT INTO pipelines (pipeline_id, team, priority, upstream, first_event_at, last_event_at)
                 VALUES (?1, ?2, 'medium', ?3, 0, 0)",
                params![id, format!("team{}", p % 20), up],
            )
            .unwrap();
            for h in 0..history {
                let start = t0 - (history - h) * 86_400_000;
                tx.execute(
                    "INSERT INTO alerts (fingerprint, kind, severity, status, pipeline_id, team, started_at,
                        resolved_at, last_seen_at, summary, created_at, updated_at)
                     VALUES (?1, 'duration_anomaly', 'low', 'resolved', ?2, 'x', ?3, ?4, ?4, 's', ?3, ?3)",
                    params![format!("duration_anomaly:{id}"), id, start, start + 3_600_000],
                )
                .unwrap();
            }
            // Every tenth pipeline heads a chain of nine and fails; the rest miss runs.
            let kind = if p % 10 == 0 {
                "pipeline_failed"
            } else {
                "missed_run"
            };
            tx.execute(
                "INSERT INTO alerts (fingerprint, kind, severity, status, pipeline_id, team, started_at,
                    last_seen_at, summary, created_at, updated_at)
                 VALUES (?1, ?4, 'high', 'firing', ?2, 'x', ?3, ?3, 's', ?3, ?3)",
                params![format!("{kind}:{id}"), id, t0, kind],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let mut text = format!(
        "[route]\nreceiver = \"file\"\ngroup_by = [\"team\", \"kind\"]\n\n[[receivers]]\nname = \"file\"\ntype = \"file\"\npath = \"{}\"\n",
        dir.path().join("out.jsonl").display()
    );
    for t in 0..20 {
        text.push_str(&format!(
            "\n[[route.routes]]\nmatchers = [\"team=team{t}\"]\nreceiver = \"file\"\ngroup_by = [\"pipeline_id\"]\n"
        ));
    }
    let config = pipemon::config::check(&text).unwrap();
    let pass = |now: i64| {
        let mut c = store.conn().unwrap();
        let tx = c.transaction().unwrap();
        let start = Instant::now();
        pipemon::alert::process(&tx, &config.alert, now).unwrap();
        tx.commit().unwrap();
        start.elapsed()
    };
    let first = pass(t0);
    let steady = pass(t0 + 1_000);
    let flush = pass(t0 + 31_000);
    let start = Instant::now();
    pipemon::alert::deliver(&store, &config.alert, t0 + 31_000).unwrap();
    let deliver = start.elapsed();
    let c = store.conn().unwrap();
    let (alerts, firing, inhibited): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE status = 'firing'), sum(inhibited) FROM alerts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let sent: i64 = c
        .query_row(
            "SELECT count(*) FROM notifications WHERE status = 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    println!(
        "alerts: {alerts} ({firing} firing, {inhibited} inhibited by lineage), {pipelines} pipelines"
    );
    println!(
        "process, first pass (routes all history): {:.1} ms",
        first.as_secs_f64() * 1e3
    );
    println!(
        "process, steady state:                     {:.1} ms",
        steady.as_secs_f64() * 1e3
    );
    println!(
        "process, flushing every group:             {:.1} ms",
        flush.as_secs_f64() * 1e3
    );
    println!(
        "deliver {sent} notifications to a file:    {:.1} ms",
        deliver.as_secs_f64() * 1e3
    );
}
