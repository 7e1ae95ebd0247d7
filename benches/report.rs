//! Report and metrics benchmark on a fleet-sized database: `pipemon report` (wall
//! time, file size) and `pipemon metrics`, each against a reference measured in the
//! same run on the same database, and the report's first contentful paint in headless
//! chromium against the paint of a one-line page in the same browser.
//!
//! References: for `report`, one scan of every run row (the columns the charts
//! need), the least any report of all runs must read; for `metrics`, the
//! `pipeline_health` query, which reads the same aggregates. Ratios survive a noisy,
//! shared machine better than seconds.
//!
//! Run: `cargo bench --bench report`. Knobs (environment): `BENCH_PIPELINES` (2000),
//! `BENCH_DAYS` (30), `BENCH_SEED` (7), `BENCH_DIR` (`target/bench-report`; the
//! generated, imported and evaluated database is reused when present).

#[path = "../tests/browser/mod.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rusqlite::Connection;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pipemon(db: &Path, args: &[&str]) -> f64 {
    let began = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pipemon"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPEMON_CONFIG")
        .output()
        .unwrap();
    let secs = began.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "pipemon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn prepare(dir: &Path, pipelines: u32, days: u32, seed: u64) -> PathBuf {
    let db = dir.join("pipemon.db");
    let done = dir.join("evaluated");
    if done.exists() {
        return db;
    }
    let data = dir.join("data");
    let _ = std::fs::remove_file(&db);
    let t = pipemon(
        &db,
        &[
            "generate",
            "--pipelines",
            &pipelines.to_string(),
            "--days",
            &days.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            data.to_str().unwrap(),
        ],
    );
    eprintln!("generated in {t:.1}s");
    let t = pipemon(
        &db,
        &[
            "import",
            "--no-progress",
            data.join("events.jsonl").to_str().unwrap(),
        ],
    );
    eprintln!("imported in {t:.1}s");
    let t = pipemon(&db, &["evaluate", "--now", "data-end", "--no-notify"]);
    eprintln!("evaluated in {t:.1}s");
    std::fs::write(&done, "").unwrap();
    db
}

/// Reads every run's start, outcome, duration and records once, in primary-key
/// order (the scan the report makes).
fn scan_runs(db: &Path) -> (f64, u64) {
    let began = Instant::now();
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT pipeline_id, start_at, coalesce(term_status, 'running'), duration_ms,
                    records_processed, max_attempt
             FROM run_state WHERE first_event_at IS NOT NULL ORDER BY pipeline_id, run_id",
        )
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut n = 0u64;
    let mut sum = 0i64;
    while let Some(r) = rows.next().unwrap() {
        n += 1;
        sum = sum.wrapping_add(r.get::<_, i64>(1).unwrap());
        sum = sum.wrapping_add(r.get::<_, Option<i64>>(3).unwrap().unwrap_or(0));
    }
    std::hint::black_box(sum);
    (began.elapsed().as_secs_f64(), n)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let pipelines: u32 = env_or("BENCH_PIPELINES", 2000);
    let days: u32 = env_or("BENCH_DAYS", 30);
    let seed: u64 = env_or("BENCH_SEED", 7);
    let dir = PathBuf::from(env_or(
        "BENCH_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-report").to_string(),
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = prepare(&dir, pipelines, days, seed);
    let conn = Connection::open(&db).unwrap();
    let runs: i64 = conn
        .query_row("SELECT count(*) FROM run_state", [], |r| r.get(0))
        .unwrap();
    let alerts: i64 = conn
        .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    println!("database: {pipelines} pipelines x {days} days, {runs} runs, {alerts} alerts");

    let scan = median((0..3).map(|_| scan_runs(&db).0).collect());
    let health = median(
        (0..3)
            .map(|_| pipemon(&db, &["--format", "json", "query", "pipeline_health"]))
            .collect(),
    );
    println!("reference: scan of every run row {scan:.2}s; `query pipeline_health` {health:.2}s");

    let mut pages = Vec::new();
    for since in ["14d", &format!("{days}d")] {
        let out = dir.join(format!("report-{since}.html"));
        let t = median(
            (0..3)
                .map(|_| {
                    pipemon(
                        &db,
                        &["report", "--since", since, "--out", out.to_str().unwrap()],
                    )
                })
                .collect(),
        );
        let size = std::fs::metadata(&out).unwrap().len() as f64 / (1024.0 * 1024.0);
        println!(
            "report --since {since}: {t:.2}s (median of 3), {size:.1} MiB; report / run scan = {:.1}",
            t / scan
        );
        pages.push(out);
    }
    let prom = dir.join("metrics.prom");
    let t = median(
        (0..3)
            .map(|_| pipemon(&db, &["metrics", "--out", prom.to_str().unwrap()]))
            .collect(),
    );
    let size = std::fs::metadata(&prom).unwrap().len() as f64 / 1024.0;
    let series = std::fs::read_to_string(&prom)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    println!(
        "metrics: {t:.2}s (median of 3), {size:.0} KiB, {series} series; metrics / pipeline_health = {:.2}",
        t / health
    );

    // First contentful paint, in a fresh tab per page, against a trivial page.
    let tiny = dir.join("tiny.html");
    std::fs::write(&tiny, "<!doctype html><title>t</title><p>pipemon</p>").unwrap();
    let mut b = browser::Browser::launch(1280, 900);
    let fcp = |b: &mut browser::Browser, path: &Path| -> (f64, f64) {
        b.navigate(&format!("file://{}", path.display()));
        let v = b.eval(
            "new Promise(r => { const f = () => { const e = performance.getEntriesByName('first-contentful-paint')[0];
               if (e) r([e.startTime, performance.getEntriesByType('navigation')[0].loadEventEnd]); else setTimeout(f, 20); }; f(); })",
        );
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    };
    let reference = median((0..3).map(|_| fcp(&mut b, &tiny).0).collect());
    println!("browser reference: first contentful paint of a one-line page {reference:.0} ms");
    for page in &pages {
        let (paint, load): (Vec<f64>, Vec<f64>) = (0..3).map(|_| fcp(&mut b, page)).unzip();
        let (paint, load) = (median(paint), median(load));
        // Opening the busiest pipeline: parse its series and draw three charts.
        let open = b.eval(
            "new Promise(r => { const d = JSON.parse(document.getElementById('pipemon-data').textContent);
               let best = 0, len = -1;
               d.pipelines.forEach((p, i) => { const n = document.getElementById('s' + i).textContent.length; if (n > len) { len = n; best = i; } });
               const t0 = performance.now(); location.hash = '#p/' + d.pipelines[best].pipeline_id;
               requestAnimationFrame(() => requestAnimationFrame(() => r([performance.now() - t0, d.pipelines[best].pipeline_id]))); })",
        );
        println!(
            "{}: first contentful paint {paint:.0} ms (x{:.1} the reference), load event {load:.0} ms; busiest pipeline page ({}) drawn in {:.0} ms",
            page.file_name().unwrap().to_string_lossy(),
            paint / reference,
            open[1].as_str().unwrap(),
            open[0].as_f64().unwrap()
        );
    }
    let errors = b.errors();
    assert!(errors.is_empty(), "the report logged errors: {errors:#?}");
}
