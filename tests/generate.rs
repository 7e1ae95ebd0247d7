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
    /// Highest attempt seen, and whether any attempt was retried.
    max_attempt: i64,
    retried: bool,
    /// Whether a `started` of attempt 1 arrived.
    first_started: bool,
    heartbeats: Vec<Millis>,
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
        run.max_attempt = run.max_attempt.max(e.attempt);
        run.retried |= e.status == Status::Retrying;
        if e.status == Status::Running {
            run.heartbeats.push(e.ts);
        }
        if e.status == Status::Started {
            run.started = Some(run.started.map_or(e.ts, |s| s.min(e.ts)));
            run.first_started |= e.attempt == 1;
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

/// The runs of a pipeline that no incident, benign span or retry touches.
fn plain_runs<'a>(t: &Truth, p: &'a Parsed, id: &str) -> Vec<&'a Run> {
    let spans: Vec<(Millis, Millis)> = t
        .incidents
        .iter()
        .filter(|i| {
            i.pipeline_id.as_deref() == Some(id) || i.affected_pipelines.iter().any(|a| a == id)
        })
        .map(|i| (i.start - 86_400_000, i.end.unwrap_or(t.end) + 86_400_000))
        .chain(
            t.benign
                .iter()
                .filter(|b| b.pipeline_id == id)
                .map(|b| (b.from, b.until)),
        )
        .collect();
    pipeline_runs(p, id)
        .into_iter()
        .filter(|r| r.outcome() == "success" && !r.retried && r.first_started)
        .filter(|r| spans.iter().all(|(a, b)| r.start < *a || r.start > *b))
        .collect()
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
        // The deadline is the third failure itself.
        assert_eq!(runs[k + 2].end(), Some(i.deadline), "{}", i.id);
    }
    for i in incidents(t, "pipeline_failed") {
        let r = by_run(i);
        assert_eq!(r.outcome(), "failed", "{}", i.id);
        assert_eq!(
            r.end(),
            Some(i.deadline),
            "{}: deadline is the failure",
            i.id
        );
    }
    for i in incidents(t, "stuck_run") {
        let r = by_run(i);
        let pt = t.pipeline(&pid(i)).unwrap();
        // start + max(4 × p95, p95 + 1 h), p95 the largest seasonal one.
        let p95 = pt.p95_duration_ms;
        assert!(p95 > 0, "{}", i.id);
        assert_eq!(
            i.deadline,
            r.start + (4 * p95).max(p95 + 3_600_000),
            "{}",
            i.id
        );
        // No terminal event before the deadline; the run is still hanging, or ends
        // (killed, or finishing late) after it.
        match r.end() {
            None => assert_eq!(r.outcome(), "running", "{}", i.id),
            Some(end) => {
                assert!(end > i.deadline, "{}: ends before its deadline", i.id);
                assert!(matches!(r.outcome(), "cancelled" | "success"), "{}", i.id);
            }
        }
        // A hang stops heartbeating well before the deadline.
        assert!(r.heartbeats.iter().all(|h| *h < i.deadline), "{}", i.id);
        assert!(i.deadline < t.data_end, "{}", i.id);
        // Far beyond the pipeline's ordinary runs.
        let longest = plain_runs(t, p, &pid(i))
            .iter()
            .filter_map(|r| r.length())
            .max()
            .unwrap_or(0);
        assert!(i.deadline - r.start > longest, "{}", i.id);
    }
    for i in incidents(t, "missed_run") {
        let until = i.end.unwrap_or(t.data_end);
        let starts = pipeline_runs(p, &pid(i))
            .iter()
            .filter(|r| r.start >= i.start && r.start < until)
            .count();
        assert_eq!(starts, 0, "{}: a run started during the outage", i.id);
        let period = t.pipeline(&pid(i)).unwrap().cadence_ms;
        assert_eq!(i.deadline, i.start + 3 * period, "{}", i.id);
        assert!(i.deadline < until, "{}", i.id);
    }
    for i in incidents(t, "duration_anomaly") {
        let plain: Vec<i64> = plain_runs(t, p, &pid(i))
            .iter()
            .filter_map(|r| r.length())
            .collect();
        let r = by_run(i);
        assert_eq!(r.outcome(), "success");
        assert_eq!(i.deadline, r.end().unwrap() + 600_000, "{}", i.id);
        // At least five times the typical run, and beyond every ordinary one.
        let len = r.length().unwrap();
        assert!(
            len as f64 >= 3.0 * median(plain.iter().map(|d| *d as f64).collect()),
            "{}",
            i.id
        );
        assert!(len > *plain.iter().max().unwrap(), "{}", i.id);
    }
    for i in incidents(t, "volume_anomaly") {
        let r = by_run(i);
        let plain: Vec<f64> = plain_runs(t, p, &pid(i))
            .iter()
            .filter_map(|r| r.records.map(|x| x as f64))
            .collect();
        let got = r.records.unwrap() as f64;
        let (lo, hi) = (
            plain.iter().copied().fold(f64::MAX, f64::min),
            plain.iter().copied().fold(0.0, f64::max),
        );
        // A drop to zero or a collapse below the pipeline's smallest ordinary volume,
        // or an explosion above its largest.
        assert!(
            got < 0.5 * lo || got > 2.0 * hi,
            "{}: {got} vs {lo}..{hi}",
            i.id
        );
        assert_eq!(i.deadline, r.end().unwrap() + 600_000, "{}", i.id);
    }
    for i in incidents(t, "failure_rate_spike") {
        let window: Vec<&Run> = pipeline_runs(p, &pid(i))
            .into_iter()
            .filter(|r| r.start >= i.start && r.start <= i.end.unwrap())
            .collect();
        let fails: Vec<&&Run> = window.iter().filter(|r| r.outcome() == "failed").collect();
        assert!(fails.len() >= 6, "{}", i.id);
        // The deadline: 10 minutes after the sixth failure of the flaky period.
        assert_eq!(i.deadline, fails[5].end().unwrap() + 600_000, "{}", i.id);
        assert!(
            window
                .windows(3)
                .all(|w| w.iter().any(|r| r.outcome() != "failed")),
            "{}: a streak inside a flaky window",
            i.id
        );
    }
    for i in incidents(t, "performance_degradation") {
        let dur = |r: &&Run| r.length().map(|d| d as f64);
        let before = median(plain_runs(t, p, &pid(i)).iter().filter_map(dur).collect());
        let late: Vec<f64> = pipeline_runs(p, &pid(i))
            .iter()
            .filter(|r| r.start >= i.start && r.end().is_some_and(|e| e + 600_000 <= i.deadline))
            .filter(|r| r.outcome() == "success")
            .filter_map(dur)
            .collect();
        assert!(
            late.len() >= 12,
            "{}: {} runs before the deadline",
            i.id,
            late.len()
        );
        let last = late[late.len() - 6..].to_vec();
        assert!(median(last) >= 1.4 * before, "{}", i.id);
    }
    let outages: Vec<Millis> = incidents(t, "systemic_failure")
        .iter()
        .map(|i| i.start)
        .collect();
    for (a, b) in outages.iter().zip(outages.iter().skip(1)) {
        // One signature: outages hours apart are separate conditions.
        assert!(b - a >= 3 * 3_600_000, "systemic outages at {a} and {b}");
    }
    for i in incidents(t, "systemic_failure") {
        assert!(i.affected_pipelines.len() >= 3);
        let teams: HashSet<&str> = i
            .affected_pipelines
            .iter()
            .map(|a| t.pipeline(a).unwrap().team.as_str())
            .collect();
        assert!(teams.len() >= 2, "{}", i.id);
        let mut ends = Vec::new();
        for a in &i.affected_pipelines {
            let hit = pipeline_runs(p, a).into_iter().find(|r| {
                r.outcome() == "failed"
                    && r.end()
                        .is_some_and(|e| e >= i.start && e <= i.start + 30 * 60_000)
                    && r.error
                        .as_deref()
                        .is_some_and(|m| m.starts_with("could not connect to 10."))
            });
            let hit = hit.unwrap_or_else(|| panic!("{}: {a} has no systemic failure", i.id));
            ends.push(hit.end().unwrap());
        }
        ends.sort();
        // The deadline: the fifth distinct pipeline's failure (the last, when fewer).
        assert_eq!(i.deadline, ends[ends.len().min(5) - 1], "{}", i.id);
        assert_eq!(
            (i.team.as_str(), i.severity.as_str()),
            ("platform", "critical")
        );
    }
}

/// What is benign stays out of the truth's incidents: surges are marked benign, and
/// retries that succeed, lost `started` events and heartbeats raise nothing.
#[test]
fn benign_behaviour_is_not_an_incident() {
    let (ds, p) = shared();
    let t = &ds.truth;
    assert!(!t.benign.is_empty(), "no benign surge");
    for b in &t.benign {
        let anomaly = t.incidents.iter().any(|i| {
            i.pipeline_id.as_deref() == Some(&b.pipeline_id)
                && !matches!(i.kind.as_str(), "pipeline_failed" | "consecutive_failures")
                && i.start <= b.until
                && i.end.unwrap_or(t.end) >= b.from
        });
        assert!(
            !anomaly,
            "{}: an incident inside a benign surge",
            b.pipeline_id
        );
        // Each surge run against ordinary runs at the same hour of the week.
        let hour_of_week = |ms: Millis| (ms.rem_euclid(7 * 86_400_000)) / 3_600_000;
        let plain = plain_runs(t, p, &b.pipeline_id);
        let day = b.from - b.from.rem_euclid(86_400_000);
        let mut compared = 0;
        for r in pipeline_runs(p, &b.pipeline_id)
            .into_iter()
            .filter(|r| r.start >= b.from && r.start < day + 86_400_000 && r.outcome() == "success")
        {
            let same: Vec<f64> = plain
                .iter()
                .filter(|q| hour_of_week(q.start) == hour_of_week(r.start))
                .filter_map(|q| q.records.map(|x| x as f64))
                .collect();
            if same.is_empty() {
                continue;
            }
            compared += 1;
            let got = r.records.unwrap() as f64;
            assert!(
                got > 1.3 * median(same.clone()),
                "{}/{}: no surge: {got} vs {same:?} ({})",
                b.pipeline_id,
                r.run_id,
                b.note
            );
        }
        assert!(compared > 0 || plain.len() < 10, "{}", b.pipeline_id);
    }
    let by_run: HashMap<(&str, &str), ()> = t
        .incidents
        .iter()
        .filter_map(|i| Some(((i.pipeline_id.as_deref()?, i.run_id.as_deref()?), ())))
        .collect();
    let mut retried = 0;
    for r in p.runs.values() {
        if r.retried && r.outcome() == "success" {
            retried += 1;
            assert!(r.max_attempt >= 2);
            assert!(
                !by_run.contains_key(&(r.pipeline.as_str(), r.run_id.as_str())),
                "{}/{}: a retry that succeeded is an incident",
                r.pipeline,
                r.run_id
            );
        }
    }
    assert!(retried > 20, "{retried} retried runs");
    assert!(p.runs.values().any(|r| !r.heartbeats.is_empty()));
}

/// Runs whose `started` was lost are listed in the truth, and only those.
#[test]
fn lost_started_events_are_marked() {
    let (ds, p) = shared();
    let mut marked = 0;
    for pt in &ds.truth.pipelines {
        let listed: HashSet<&str> = pt.runs_without_started.iter().map(String::as_str).collect();
        marked += listed.len();
        for r in pipeline_runs(p, &pt.pipeline_id) {
            let lost = !r.first_started && r.outcome() != "skipped";
            assert_eq!(
                lost,
                listed.contains(r.run_id.as_str()),
                "{}/{}",
                pt.pipeline_id,
                r.run_id
            );
            if lost {
                assert!(
                    r.terminal.is_some(),
                    "{}: a lost start with no end",
                    r.run_id
                );
            }
        }
    }
    assert!(marked > 0, "no lost started event");
}

/// Two seeds give worlds that differ in kind (cadences, spreads, incidents), not
/// only in their random draws.
#[test]
fn seeds_give_different_worlds() {
    let a = &shared().0.truth;
    let b = dataset(6).truth;
    let cadences = |t: &Truth| {
        let mut v: Vec<i64> = t.pipelines.iter().map(|p| p.cadence_ms).collect();
        v.sort();
        v
    };
    assert_ne!(cadences(a), cadences(&b));
    let ids = |t: &Truth| {
        t.pipelines
            .iter()
            .map(|p| p.pipeline_id.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(ids(a), ids(&b));
    // Spreads run from very tight to loose within a world.
    let spread: Vec<f64> = a
        .pipelines
        .iter()
        .filter(|p| p.median_duration_ms > 0 && p.runs_success > 20)
        .map(|p| p.p95_duration_ms as f64 / p.median_duration_ms as f64)
        .collect();
    let (lo, hi) = (
        spread.iter().copied().fold(f64::MAX, f64::min),
        spread.iter().copied().fold(0.0, f64::max),
    );
    assert!(lo < 1.3 && hi > 1.8, "p95/median from {lo} to {hi}");
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

/// A declared cron keeps the cadence the pipeline's runs keep: every gap between
/// two consecutive firings (over two days, so midnight is crossed) is the period.
/// A 6-hourly job phased at 19:04 must be `4 1-23/6 * * *`, not `4 19-23/6`,
/// which fires once a day.
#[test]
fn declared_crons_fire_at_the_pipelines_cadence() {
    use pipemon::schedule::Schedule;
    let mut checked = 0;
    let mut sub_daily = 0;
    for seed in [5, 6, 11] {
        let ds = dataset(seed);
        for p in &ds.truth.pipelines {
            let Some(text) = &p.schedule else { continue };
            let Ok(s @ Schedule::Cron(_)) = Schedule::parse(text) else {
                continue;
            };
            let until = GenerateOptions::DEFAULT_START + 2 * 86_400_000 + p.cadence_ms;
            let mut prev = s.next_after(GenerateOptions::DEFAULT_START).expect("fires");
            while prev < until {
                let next = s.next_after(prev).expect("fires");
                assert_eq!(
                    next - prev,
                    p.cadence_ms,
                    "{}: `{text}` fires {} ms apart at {next}, its runs every {} ms",
                    p.pipeline_id,
                    next - prev,
                    p.cadence_ms
                );
                prev = next;
            }
            checked += 1;
            if p.cadence_ms > 3_600_000 && p.cadence_ms < 86_400_000 {
                sub_daily += 1;
            }
        }
    }
    assert!(
        checked >= 20 && sub_daily >= 3,
        "{checked} crons, {sub_daily} sub-daily"
    );
}
