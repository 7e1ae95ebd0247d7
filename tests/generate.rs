//! The generator's output against its own truth, checked independently: lines are
//! parsed with pipemon's parser, runs are rebuilt here from the contract's rules, and
//! every injected incident is looked for in the events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use assert_cmd::Command;
use pipemon::cli::InputFormat;
use pipemon::generate::truth::{Incident, Truth};
use pipemon::generate::{Dataset, GenerateOptions, generate};
use pipemon::ingest::parse_line;
use pipemon::model::{Event, Millis, Status};

fn dataset(seed: u64) -> Dataset {
    generate(&GenerateOptions {
        pipelines: 40,
        days: 20,
        seed,
        start: GenerateOptions::DEFAULT_START,
    })
    .unwrap()
}

/// The main data set, generated and parsed once for all tests.
fn shared() -> &'static (Dataset, Parsed) {
    static SHARED: OnceLock<(Dataset, Parsed)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ds = dataset(5);
        let p = parse(&ds.lines);
        (ds, p)
    })
}

#[derive(Debug, Default, Clone)]
struct Run {
    pipeline: String,
    run_id: String,
    start: Millis,
    started: Option<Millis>,
    /// (ts, attempt, rank, status, event)
    terminal: Option<(Millis, i64, i64, Status)>,
    duration: Option<i64>,
    records: Option<i64>,
    error: Option<String>,
}

impl Run {
    fn outcome(&self) -> &'static str {
        match self.terminal.map(|t| t.3) {
            None => "running",
            Some(Status::Success) => "success",
            Some(Status::Failed) => "failed",
            Some(Status::Cancelled) => "cancelled",
            Some(Status::Skipped) => "skipped",
            Some(_) => unreachable!(),
        }
    }

    fn end(&self) -> Option<Millis> {
        self.terminal.map(|t| t.0)
    }

    fn length(&self) -> Option<i64> {
        self.duration
            .or_else(|| Some(self.end()? - self.started.unwrap_or(self.start)))
    }
}

struct Parsed {
    blank: u64,
    rejected: BTreeMap<String, u64>,
    distinct: u64,
    duplicates: u64,
    runs: BTreeMap<(String, String), Run>,
}

/// Parses every line and rebuilds runs by the contract (events.md "Meaning").
fn parse(lines: &[String]) -> Parsed {
    let mut p = Parsed {
        blank: 0,
        rejected: BTreeMap::new(),
        distinct: 0,
        duplicates: 0,
        runs: BTreeMap::new(),
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut events: Vec<Event> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            p.blank += 1;
            continue;
        }
        match parse_line(line, InputFormat::Native) {
            Ok(e) => {
                if seen.insert((e.pipeline_id.clone(), e.event_key.clone())) {
                    p.distinct += 1;
                    events.push(e);
                } else {
                    p.duplicates += 1;
                }
            }
            Err(r) => *p.rejected.entry(r.reason.as_str().to_string()).or_default() += 1,
        }
    }
    for e in events {
        let run = p
            .runs
            .entry((e.pipeline_id.clone(), e.run_id.clone()))
            .or_insert_with(|| Run {
                pipeline: e.pipeline_id.clone(),
                run_id: e.run_id.clone(),
                start: e.ts,
                ..Default::default()
            });
        run.start = run.start.min(e.ts);
        if e.status == Status::Started {
            run.started = Some(run.started.map_or(e.ts, |s| s.min(e.ts)));
        }
        if e.status.is_terminal() {
            let key = (e.ts, e.attempt, e.status.terminal_rank(), e.status);
            if run
                .terminal
                .is_none_or(|t| (key.0, key.1, key.2) > (t.0, t.1, t.2))
            {
                run.terminal = Some(key);
                run.duration = e.duration_ms;
                run.records = e.records_processed;
                run.error = e.error_message.clone();
            }
        }
    }
    for run in p.runs.values_mut() {
        if let Some(s) = run.started {
            run.start = s;
        }
    }
    p
}

fn pipeline_runs<'a>(p: &'a Parsed, id: &str) -> Vec<&'a Run> {
    let mut v: Vec<&Run> = p.runs.values().filter(|r| r.pipeline == id).collect();
    v.sort_by_key(|r| r.start);
    v
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[test]
fn lines_parse_or_are_deliberately_malformed() {
    let (ds, p) = shared();
    let t = &ds.truth;
    assert_eq!(ds.lines.len() as u64, t.lines.total);
    assert_eq!(p.blank, t.lines.blank);
    assert_eq!(p.distinct, t.lines.events);
    assert_eq!(p.duplicates, t.lines.duplicates);
    assert_eq!(p.rejected, t.lines.rejected_by_reason);
    assert_eq!(p.rejected.values().sum::<u64>(), t.lines.rejected);
    for reason in [
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "unknown_status",
        "bad_timestamp",
        "negative_number",
        "invalid_value",
    ] {
        assert!(p.rejected.get(reason).copied().unwrap_or(0) > 0, "{reason}");
    }
    // Noise of every sort is present.
    assert!(t.lines.duplicates > 0 && t.lines.blank > 0);
    let without_id = ds
        .lines
        .iter()
        .filter(|l| l.starts_with('{') && !l.contains("event_id"))
        .count();
    assert!(without_id > 100);
    assert!(ds.lines.iter().any(|l| l.contains("\"timestamp\":17")));
    assert!(
        ds.lines
            .iter()
            .any(|l| l.contains("+09:00\"") || l.contains("-05:00\""))
    );
    assert!(
        ds.lines
            .iter()
            .any(|l| l.contains("\"status\":\"up_for_retry\""))
    );
}

#[test]
fn health_counts_match_rebuilt_runs() {
    let (ds, p) = shared();
    let mut counts: HashMap<&str, [u64; 6]> = HashMap::new();
    for r in p.runs.values() {
        let c = counts.entry(&r.pipeline).or_default();
        c[0] += 1;
        let i = match r.outcome() {
            "success" => 1,
            "failed" => 2,
            "cancelled" => 3,
            "skipped" => 4,
            _ => 5,
        };
        c[i] += 1;
    }
    assert_eq!(counts.len(), ds.truth.pipelines.len());
    for pt in &ds.truth.pipelines {
        let want = [
            pt.runs_total,
            pt.runs_success,
            pt.runs_failed,
            pt.runs_cancelled,
            pt.runs_skipped,
            pt.runs_in_progress,
        ];
        assert_eq!(counts[pt.pipeline_id.as_str()], want, "{}", pt.pipeline_id);
    }
    let total: [u64; 6] = counts.values().fold([0; 6], |mut a, c| {
        for i in 0..6 {
            a[i] += c[i];
        }
        a
    });
    // Every outcome occurs.
    assert!(total.iter().all(|n| *n > 0), "{total:?}");
}

fn incidents<'a>(t: &'a Truth, kind: &str) -> Vec<&'a Incident> {
    let v: Vec<&Incident> = t.incidents.iter().filter(|i| i.kind == kind).collect();
    assert!(!v.is_empty(), "no {kind} incident");
    v
}

#[test]
fn injected_incidents_are_in_the_events() {
    let (ds, p) = shared();
    let t = &ds.truth;
    let pid = |i: &Incident| i.pipeline_id.clone().unwrap();
    let by_run = |i: &Incident| {
        p.runs
            .get(&(pid(i), i.run_id.clone().unwrap()))
            .unwrap_or_else(|| panic!("{}: run missing", i.id))
    };

    for i in incidents(t, "consecutive_failures") {
        let runs = pipeline_runs(p, &pid(i));
        let k = runs.iter().position(|r| r.start == i.start).unwrap();
        assert!(
            runs[k..k + 3].iter().all(|r| r.outcome() == "failed"),
            "{}",
            i.id
        );
        assert!(i.start >= t.warmup_end || i.note.contains("streak"));
    }
    for i in incidents(t, "pipeline_failed") {
        assert_eq!(by_run(i).outcome(), "failed", "{}", i.id);
    }
    for i in incidents(t, "stuck_run") {
        let r = by_run(i);
        match i.end {
            None => assert_eq!(r.outcome(), "running", "{}", i.id),
            Some(end) => assert_eq!((r.outcome(), r.end()), ("cancelled", Some(end))),
        }
        // Long enough before the data end to be detectable.
        assert!(i.latest_detection < t.data_end, "{}", i.id);
    }
    for i in incidents(t, "missed_run") {
        let until = i.end.unwrap_or(t.data_end);
        let starts = pipeline_runs(p, &pid(i))
            .iter()
            .filter(|r| r.start >= i.start && r.start < until)
            .count();
        assert_eq!(starts, 0, "{}: a run started during the outage", i.id);
        assert!(i.latest_detection < until, "{}", i.id);
    }
    for i in incidents(t, "duration_anomaly") {
        let runs = pipeline_runs(p, &pid(i));
        let normal = median(
            runs.iter()
                .filter(|r| r.outcome() == "success")
                .filter_map(|r| r.length())
                .map(|d| d as f64)
                .collect(),
        );
        let r = by_run(i);
        assert_eq!(r.outcome(), "success");
        assert!(r.length().unwrap() as f64 >= 3.5 * normal, "{}", i.id);
    }
    for i in incidents(t, "volume_anomaly") {
        let runs = pipeline_runs(p, &pid(i));
        let k = runs.iter().position(|r| r.start == i.start).unwrap();
        let around: Vec<f64> = runs[k.saturating_sub(3)..(k + 4).min(runs.len())]
            .iter()
            .filter(|r| r.start != i.start && r.outcome() == "success")
            .filter_map(|r| r.records.map(|x| x as f64))
            .collect();
        let got = by_run(i).records.unwrap() as f64;
        let ratio = got / median(around);
        assert!(!(0.2..=3.0).contains(&ratio), "{}: ratio {ratio}", i.id);
    }
    for i in incidents(t, "failure_rate_spike") {
        let window: Vec<&Run> = pipeline_runs(p, &pid(i))
            .into_iter()
            .filter(|r| r.start >= i.start && r.start <= i.end.unwrap())
            .collect();
        let fails = window.iter().filter(|r| r.outcome() == "failed").count();
        assert!(fails * 4 >= window.len(), "{}", i.id);
        assert!(
            window
                .windows(3)
                .all(|w| w.iter().any(|r| r.outcome() != "failed")),
            "{}: a streak inside a flaky window",
            i.id
        );
    }
    for i in incidents(t, "performance_degradation") {
        let runs = pipeline_runs(p, &pid(i));
        let dur = |r: &&Run| r.length().map(|d| d as f64);
        let before = median(
            runs.iter()
                .filter(|r| r.start < i.start && r.start > i.start - 2 * 86_400_000)
                .filter(|r| r.outcome() == "success")
                .filter_map(dur)
                .collect(),
        );
        let late: Vec<f64> = runs
            .iter()
            .filter(|r| r.start >= i.start && r.start <= i.latest_detection)
            .filter(|r| r.outcome() == "success")
            .filter_map(dur)
            .collect();
        let last = late[late.len().saturating_sub(5)..].to_vec();
        assert!(median(last) >= 1.8 * before, "{}", i.id);
    }
    for i in incidents(t, "systemic_failure") {
        assert!(i.affected_pipelines.len() >= 3);
        let teams: HashSet<&str> = i
            .affected_pipelines
            .iter()
            .map(|a| t.pipeline(a).unwrap().team.as_str())
            .collect();
        assert!(teams.len() >= 2, "{}", i.id);
        for a in &i.affected_pipelines {
            let hit = pipeline_runs(p, a).into_iter().any(|r| {
                r.outcome() == "failed"
                    && r.end()
                        .is_some_and(|e| e >= i.start && e <= i.start + 30 * 60_000)
                    && r.error
                        .as_deref()
                        .is_some_and(|m| m.starts_with("could not connect to 10."))
            });
            assert!(hit, "{}: {a} has no systemic failure", i.id);
        }
        assert_eq!(
            (i.team.as_str(), i.severity.as_str()),
            ("platform", "critical")
        );
    }
}

/// Natural failures are isolated: two failed runs in a row only happen inside an
/// injected streak or flaky window.
#[test]
fn natural_failures_stay_isolated() {
    let ds = dataset(11);
    let t = &ds.truth;
    let p = &parse(&ds.lines);
    for pt in &t.pipelines {
        let runs = pipeline_runs(p, &pt.pipeline_id);
        for w in runs.windows(2) {
            if w[0].outcome() == "failed" && w[1].outcome() == "failed" {
                let covered = t.incidents.iter().any(|i| {
                    i.pipeline_id.as_deref() == Some(&pt.pipeline_id)
                        && matches!(
                            i.kind.as_str(),
                            "consecutive_failures" | "failure_rate_spike"
                        )
                        && i.start <= w[0].start
                        && w[1].start <= i.end.unwrap_or(Millis::MAX)
                });
                assert!(
                    covered,
                    "{}: {} and {}",
                    pt.pipeline_id, w[0].run_id, w[1].run_id
                );
            }
        }
    }
    // Incidents come after the warm-up (natural failures may come any time).
    for i in &t.incidents {
        if !matches!(i.kind.as_str(), "pipeline_failed" | "consecutive_failures") {
            assert!(i.start >= t.warmup_end, "{} starts in the warm-up", i.id);
        }
    }
}

#[test]
fn severities_follow_the_policy() {
    let t = &shared().0.truth;
    for i in &t.incidents {
        let Some(p) = i.pipeline_id.as_deref().and_then(|id| t.pipeline(id)) else {
            assert_eq!(i.severity, "critical");
            continue;
        };
        let base = ["low", "medium", "high", "critical"];
        let b: usize = match i.kind.as_str() {
            "pipeline_failed" | "failure_rate_spike" | "stuck_run" | "missed_run" => 2,
            "consecutive_failures" => 3,
            "duration_anomaly" => 0,
            _ => 1,
        };
        let want = match p.priority.as_str() {
            "critical" => (b + 1).min(3),
            "low" => b.saturating_sub(1),
            _ => b,
        };
        assert_eq!(i.severity, base[want], "{}", i.id);
        assert_eq!(i.team, p.team);
    }
    assert!(t.pipelines.iter().any(|p| p.team == "unowned"));
    let priorities: HashSet<&str> = t.pipelines.iter().map(|p| p.priority.as_str()).collect();
    assert_eq!(priorities.len(), 4);
}

#[test]
fn binary_is_deterministic_by_seed_and_gzip_holds_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str, gzip: bool| {
        let out = dir.path().join(name);
        let mut cmd = Command::cargo_bin("pipemon").unwrap();
        cmd.args([
            "generate",
            "--pipelines",
            "12",
            "--days",
            "5",
            "--seed",
            seed,
            "--out",
        ])
        .arg(&out);
        if gzip {
            cmd.arg("--gzip");
        }
        cmd.assert().success();
        out
    };
    let a = run("a", "3", false);
    let b = run("b", "3", false);
    let c = run("c", "4", false);
    let g = run("g", "3", true);
    let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
    assert_eq!(read(a.join("events.jsonl")), read(b.join("events.jsonl")));
    assert_eq!(read(a.join("truth.json")), read(b.join("truth.json")));
    assert_ne!(read(a.join("events.jsonl")), read(c.join("events.jsonl")));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(g.join("events.jsonl.gz")).unwrap())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, read(a.join("events.jsonl")));
    let truth: Truth = serde_json::from_slice(&read(a.join("truth.json"))).unwrap();
    assert_eq!(truth.seed, 3);
}

/// The committed sample is exactly what the generator makes from its documented
/// command, so its ground truth describes the code that is shipped.
#[test]
fn committed_sample_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("pipemon")
        .unwrap()
        .args([
            "generate",
            "--pipelines",
            "60",
            "--days",
            "30",
            "--seed",
            "42",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let same = |a: &str, b: &str| {
        std::fs::read(dir.path().join(a)).unwrap() == std::fs::read(root.join(b)).unwrap()
    };
    assert!(same("events.jsonl", "pipeline_executions.jsonl"));
    assert!(same("truth.json", "ground_truth.json"));
}
