//! Import benchmark: generated events → `pipemon import`, against a reference measured
//! in the same run — the plain insert rate of the same rows into a table with no
//! secondary indexes (`pipemon::eval::reference`, which `pipemon eval` uses too) — so
//! the result is a ratio that survives a noisy, shared machine.
//! The reference table has the events table's primary key (the deduplication key,
//! which is not a secondary index); the rate of a keyless rowid table is printed too.
//!
//! Run: `cargo bench --bench import` (release profile). Knobs (environment):
//! `BENCH_PIPELINES` (2000), `BENCH_DAYS` (days of history to generate; default sized
//! for about 2,000,000 events), `BENCH_SEED` (7), `BENCH_DIR` (a temp dir).
//! Prints events/s, the reference rates, the ratios, peak RSS of the import process,
//! and the median `pipeline_health` time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pipemon::eval::reference::{self, Table};
use pipemon::query::{Filter, run_named};
use pipemon::store::Store;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pipemon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipemon"))
}

/// Runs a command to completion and returns (exit ok, stdout, stderr, peak RSS in MiB)
/// of that one child, read with wait4 (RUSAGE_CHILDREN would include `generate`).
// The child is reaped by wait4 (to read its own rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> (bool, Vec<u8>, Vec<u8>, f64) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).unwrap();
        buf
    });
    let mut errbuf = Vec::new();
    err.read_to_end(&mut errbuf).unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child and writes into values we own.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (
        ok,
        out_reader.join().unwrap(),
        errbuf,
        usage.ru_maxrss as f64 / 1024.0,
    )
}

fn events_file(dir: &Path) -> PathBuf {
    for name in ["events.jsonl", "events.jsonl.gz"] {
        let p = dir.join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("generate wrote no events file in {}", dir.display());
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters nothing here.
    let pipelines: u32 = env_or("BENCH_PIPELINES", 2000);
    let days: u32 = env_or("BENCH_DAYS", 18);
    let seed: u64 = env_or("BENCH_SEED", 7);
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");

    if !data.join("truth.json").exists() {
        let t = Instant::now();
        let status = pipemon()
            .args([
                "generate",
                "--pipelines",
                &pipelines.to_string(),
                "--days",
                &days.to_string(),
            ])
            .args(["--seed", &seed.to_string(), "--out"])
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success(), "generate failed");
        eprintln!("generated in {:.1}s", t.elapsed().as_secs_f64());
    }
    let file = events_file(&data);
    let size_mib = std::fs::metadata(&file).unwrap().len() as f64 / (1 << 20) as f64;

    // pipemon import, end to end, as a user runs it.
    let db = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let (ok, stdout, stderr, rss) = run_measured(
        pipemon()
            .arg("--db")
            .arg(&db)
            .args(["--format", "json", "import", "--no-progress"])
            .arg(&file),
    );
    assert!(ok, "{}", String::from_utf8_lossy(&stderr));
    let summary: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let rate = summary["events_per_second"].as_f64().unwrap();
    let accepted = summary["inserted"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap();

    // The references, in the same run, from the same parsed rows (the function
    // `pipemon eval` judges check 3 with).
    let keyed = reference::measure(&file, &dir.join("reference-keyed.db"), Table::Keyed).unwrap();
    let plain = reference::measure(&file, &dir.join("reference-plain.db"), Table::Keyless).unwrap();
    let (keyed_rate, plain_rate, ref_rows) =
        (keyed.rows_per_second, plain.rows_per_second, keyed.rows);

    // pipeline_health over the imported database: median of 7.
    let store = Store::open(&db).unwrap();
    let conn = store.conn().unwrap();
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            let rows = run_named(&conn, "pipeline_health", &Filter::default()).unwrap();
            assert_eq!(rows.rows.len(), pipelines as usize);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());

    println!(
        "input: {} ({size_mib:.0} MiB, {} lines, {accepted} events)",
        file.display(),
        summary["lines"]
    );
    println!(
        "import:    {rate:>10.0} events/s  ({:.2}s, {} inserted, {} duplicates, {} rejected)",
        summary["seconds"].as_f64().unwrap(),
        summary["inserted"],
        summary["duplicates"],
        summary["rejected"]
    );
    println!(
        "reference: {keyed_rate:>10.0} rows/s    (INSERT of the {ref_rows} parsed rows into a table with the events primary key, no secondary index)"
    );
    println!(
        "ratio:     {:>10.2}  (import / reference)",
        rate / keyed_rate
    );
    println!(
        "keyless:   {plain_rate:>10.0} rows/s    (the same rows appended to a rowid table with no key at all); ratio {:.2}",
        rate / plain_rate
    );
    println!("peak RSS of import: {rss:.0} MiB");
    println!(
        "pipeline_health median of 7: {:.1} ms (min {:.1}, max {:.1})",
        times[3], times[0], times[6]
    );
}
