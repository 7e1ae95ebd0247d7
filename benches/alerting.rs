//! Alerting benchmark: the cost of one `alert::process` + `alert::deliver` pass at scale.
//!
//! Run: `cargo bench --bench alerting`. Knobs (environment): `BENCH_PIPELINES` (5000),
//! `BENCH_HISTORY` (resolved alerts per pipeline, 5). Builds a temp database with one
//! firing alert per pipeline plus resolved history, a routing tree of 20 team routes with
//! a file receiver, and times: the first pass (routes all history), a steady-state pass
//! (nothing changed), and the pass that flushes every group and writes the outbox, then
//! delivery of that outbox (one fsync'd append per notification).
//!
//! Then delivery throughput to a local webhook receiver (`BENCH_NOTIFICATIONS`, 1000
//! notifications on 127.0.0.1), with and without fsync of the outbox after each attempt,
//! each as a ratio to the reference measured in the same run: the same number of plain
//! HTTP POSTs of the same bodies to the same receiver, one client per request as the
//! sender does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Instant;

use pipemon::store::Store;
use rusqlite::params;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A webhook receiver on 127.0.0.1 that answers 200 to everything; returns its URL.
fn receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end().to_ascii_lowercase();
                        if h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/hook")
}

/// Queues `n` notifications (one group per pipeline) to a webhook at `url`; returns the
/// store, its config and the delivery time.
fn outbox(
    dir: &std::path::Path,
    name: &str,
    n: i64,
    url: &str,
) -> (Store, pipemon::config::Config, i64) {
    let store = Store::open(&dir.join(name)).unwrap();
    let t0: i64 = 1_793_613_600_000;
    {
        let mut c = store.conn().unwrap();
        let tx = c.transaction().unwrap();
        for p in 0..n {
            tx.execute(
                "INSERT INTO alerts (fingerprint, kind, severity, status, pipeline_id, team, started_at,
                    last_seen_at, summary, created_at, updated_at)
                 VALUES (?1, 'pipeline_failed', 'high', 'firing', ?2, 'data', ?3, ?3, 's', ?3, ?3)",
                params![format!("pipeline_failed:p{p}"), format!("p{p}"), t0],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let text = format!(
        "[route]\nreceiver = \"hook\"\ngroup_by = [\"pipeline_id\"]\ngroup_wait = \"0s\"\n\n[[receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{url}\"\n"
    );
    let config = pipemon::config::check(&text).unwrap();
    let mut c = store.conn().unwrap();
    let tx = c.transaction().unwrap();
    pipemon::alert::process(&tx, &config.alert, t0).unwrap();
    tx.commit().unwrap();
    (store, config, t0)
}

fn delivery_throughput() {
    let n: i64 = env_or("BENCH_NOTIFICATIONS", 1000);
    let url = receiver();
    let dir = tempfile::tempdir().unwrap();
    let mut rates = Vec::new();
    for fsync in [false, true] {
        let (store, config, t0) = outbox(dir.path(), &format!("d{fsync}.db"), n, &url);
        let start = Instant::now();
        let report = pipemon::alert::deliver_with(
            &store,
            &config.alert,
            t0,
            pipemon::alert::send::SendOptions {
                clock: pipemon::time::now_ms(),
                fsync,
            },
        )
        .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(report.receivers["hook"].sent as i64, n);
        rates.push(n as f64 / secs);
    }
    // Reference: the same bodies POSTed plainly, a new client per request.
    let (store, _, _) = outbox(dir.path(), "ref.db", n, &url);
    let bodies: Vec<String> = {
        let c = store.conn().unwrap();
        let mut s = c.prepare("SELECT payload FROM notifications").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let start = Instant::now();
    for b in &bodies {
        let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
        agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(b.as_str())
            .unwrap();
    }
    let reference = bodies.len() as f64 / start.elapsed().as_secs_f64();
    println!("delivery to a local webhook, {n} notifications:");
    println!("  reference (plain POSTs):        {reference:.0}/s");
    println!(
        "  outbox, no fsync:               {:.0}/s (ratio {:.2})",
        rates[0],
        rates[0] / reference
    );
    println!(
        "  outbox, fsync after each:       {:.0}/s (ratio {:.2})",
        rates[1],
        rates[1] / reference
    );
}

fn main() {
    if std::env::var("BENCH_ONLY").as_deref() == Ok("delivery") {
        delivery_throughput();
        return;
    }
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
    delivery_throughput();
}
