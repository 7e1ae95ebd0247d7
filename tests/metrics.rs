//! `pipemon metrics` on generated data with known line counts, evaluated with a
//! configuration that delivers to one receiver and fails to reach another: the
//! output passes the real `promtool check metrics` (Debian's prometheus package),
//! and every value equals what the database says through other doors (`pipemon
//! query pipeline_health`, `pipemon alerts`, the outbox, the generator's truth).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

const PROMTOOL: &str = "/usr/bin/promtool";

fn pipemon(db: &Path, config: &Path, args: &[&str]) -> String {
    let out = Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pipemon {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

type Key = (String, BTreeMap<String, String>);

/// Parses the exposition text; checks every sample's family was announced by
/// `# HELP` and `# TYPE` first, and that label values unescape.
fn parse(text: &str) -> BTreeMap<Key, f64> {
    let mut help = std::collections::BTreeSet::new();
    let mut typed = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i..]),
            None => line.split_at(line.find(' ').unwrap()),
        };
        assert!(
            help.contains(name) && typed.contains(name),
            "{name} has no HELP/TYPE"
        );
        let mut labels = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert_eq!(chars.next(), Some('"'));
                let mut value = String::new();
                loop {
                    match chars.next().unwrap() {
                        '\\' => match chars.next().unwrap() {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("bad label list in `{line}`: {other:?}"),
                }
            }
        }
        let v: String = chars.collect();
        let v: f64 = v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad value in `{line}`"));
        assert!(
            out.insert((name.to_string(), labels), v).is_none(),
            "duplicate series: {line}"
        );
    }
    out
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    (
        name.to_string(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn secs(rfc3339: &Value) -> Option<f64> {
    let s = rfc3339.as_str()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis() as f64
            / 1000.0,
    )
}

#[test]
fn metrics_pass_promtool_and_equal_the_database() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} not found: the metrics test needs Debian's prometheus package \
         (`apt-get install prometheus`, or `bash .ci/setup`)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = dir.path().join("pipemon.db");
    let config = dir.path().join("pipemon.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[route]
receiver = "log"
group_by = ["..."]
group_wait = "0s"

[[route.routes]]
receiver = "hook"
matchers = ["severity=~critical|high"]
continue = true

[[route.routes]]
receiver = "log"

[[receivers]]
name = "log"
type = "file"
path = "{}"

# Nothing listens on port 9: every delivery is retried, so these stay pending.
[[receivers]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/"
timeout = "2s"
"#,
            dir.path().join("notes.jsonl").display()
        ),
    )
    .unwrap();
    pipemon(
        &db,
        &config,
        &[
            "generate",
            "--pipelines",
            "25",
            "--days",
            "16",
            "--seed",
            "32",
            "--out",
            data.to_str().unwrap(),
        ],
    );
    pipemon(
        &db,
        &config,
        &[
            "import",
            "--no-progress",
            data.join("events.jsonl").to_str().unwrap(),
        ],
    );
    // The webhook is unreachable, so evaluate reports failing deliveries (status 3).
    let evaluated = Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .args(["evaluate", "--now", "data-end"])
        .output()
        .unwrap();
    assert_eq!(
        evaluated.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&evaluated.stderr)
    );

    let out = dir.path().join("metrics.prom");
    pipemon(&db, &config, &["metrics", "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        pipemon(&db, &config, &["metrics"]),
        "--out and stdout differ"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // promtool: the format parses and lints clean (no output, exit 0).
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = child.wait_with_output().unwrap();
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let m = parse(&text);
    let get = |name: &str, labels: &[(&str, &str)]| m.get(&key(name, labels)).copied();

    // Per pipeline: the figures of `query pipeline_health`.
    let health = jsonl(&pipemon(
        &db,
        &config,
        &["--format", "json", "query", "pipeline_health"],
    ));
    assert_eq!(get("pipemon_pipelines", &[]), Some(health.len() as f64));
    for h in &health {
        let id = h["pipeline_id"].as_str().unwrap();
        let team = h["team"].as_str().unwrap();
        let l = [("pipeline_id", id), ("team", team)];
        for (outcome, col) in [
            ("success", "runs_success"),
            ("failed", "runs_failed"),
            ("cancelled", "runs_cancelled"),
            ("skipped", "runs_skipped"),
        ] {
            assert_eq!(
                get(
                    "pipemon_pipeline_runs_total",
                    &[l[0], l[1], ("outcome", outcome)]
                ),
                h[col].as_f64(),
                "{id} {outcome}"
            );
        }
        assert_eq!(
            get("pipemon_pipeline_runs_in_progress", &l),
            h["runs_in_progress"].as_f64()
        );
        match h["success_rate"].as_f64() {
            Some(r) => {
                let got = get("pipemon_pipeline_success_ratio", &l).unwrap();
                assert!((got - r).abs() <= 5e-5, "{id}: success ratio {got} vs {r}");
            }
            None => assert_eq!(get("pipemon_pipeline_success_ratio", &l), None),
        }
        assert_eq!(
            get("pipemon_pipeline_last_run_timestamp_seconds", &l),
            secs(&h["last_run_at"]),
            "{id}"
        );
        assert_eq!(
            get("pipemon_pipeline_last_success_timestamp_seconds", &l),
            secs(&h["last_success_at"]),
            "{id}"
        );
        assert_eq!(
            get("pipemon_pipeline_duration_p50_seconds", &l),
            h["duration_p50_ms"].as_f64().map(|v| v / 1000.0)
        );
        assert_eq!(
            get("pipemon_pipeline_duration_p95_seconds", &l),
            h["duration_p95_ms"].as_f64().map(|v| v / 1000.0)
        );
        let open: f64 = m
            .iter()
            .filter(|((n, ls), _)| n == "pipemon_pipeline_open_alerts" && ls["pipeline_id"] == id)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(Some(open), h["open_alerts"].as_f64(), "{id} open alerts");
        // Records of the latest run, from `query runs` (newest first).
        let runs = jsonl(&pipemon(
            &db,
            &config,
            &[
                "--format",
                "json",
                "query",
                "runs",
                "--pipeline",
                id,
                "--limit",
                "1",
            ],
        ));
        assert_eq!(
            get("pipemon_pipeline_last_run_records", &l),
            runs[0]["records_processed"].as_f64(),
            "{id}"
        );
    }

    // Fleet-wide open alerts by kind and severity: `pipemon alerts` (firing).
    let firing = jsonl(&pipemon(&db, &config, &["--format", "json", "alerts"]));
    assert!(
        !firing.is_empty(),
        "the generated data should leave alerts firing"
    );
    let total: f64 = m
        .iter()
        .filter(|((n, _), _)| n == "pipemon_open_alerts")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, firing.len() as f64);
    for a in &firing {
        let (k, s) = (a["kind"].as_str().unwrap(), a["severity"].as_str().unwrap());
        let n = firing
            .iter()
            .filter(|b| b["kind"] == k && b["severity"] == s)
            .count();
        assert_eq!(
            get("pipemon_open_alerts", &[("kind", k), ("severity", s)]),
            Some(n as f64)
        );
    }

    // Per receiver: the outbox, as `pipemon notifications` shows it.
    let outbox = jsonl(&pipemon(
        &db,
        &config,
        &["--format", "json", "notifications"],
    ));
    let count = |r: &str, s: &str| {
        outbox
            .iter()
            .filter(|n| n["receiver"] == r && n["status"] == s)
            .count() as f64
    };
    assert!(
        count("log", "sent") > 0.0,
        "the file receiver should have delivered"
    );
    assert!(
        count("hook", "pending") > 0.0,
        "the unreachable webhook should be pending"
    );
    for r in ["log", "hook"] {
        assert_eq!(
            get("pipemon_notifications_sent_total", &[("receiver", r)]),
            Some(count(r, "sent"))
        );
        assert_eq!(
            get("pipemon_notifications_failed_total", &[("receiver", r)]),
            Some(count(r, "failed"))
        );
        assert_eq!(
            get("pipemon_notifications_pending", &[("receiver", r)]),
            Some(count(r, "pending"))
        );
    }

    // Imports and rejections: the generator's truth.
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("truth.json")).unwrap()).unwrap();
    let lines = &truth["lines"];
    assert_eq!(get("pipemon_imports_total", &[]), Some(1.0));
    assert_eq!(
        get("pipemon_import_lines_total", &[]),
        lines["total"].as_f64()
    );
    assert_eq!(
        get("pipemon_import_events_inserted_total", &[]),
        lines["events"].as_f64()
    );
    assert_eq!(
        get("pipemon_import_duplicates_total", &[]),
        lines["duplicates"].as_f64()
    );
    assert_eq!(
        get("pipemon_import_rejected_lines_total", &[]),
        lines["rejected"].as_f64()
    );
    for (reason, n) in lines["rejected_by_reason"].as_object().unwrap() {
        assert_eq!(
            get("pipemon_rejected_lines", &[("reason", reason)]),
            n.as_f64(),
            "{reason}"
        );
    }
    // The evaluation: one, as of the data's end.
    assert_eq!(get("pipemon_evaluations_total", &[]), Some(1.0));
    assert_eq!(
        get("pipemon_last_evaluation_as_of_timestamp_seconds", &[]),
        secs(&truth["data_end"])
    );
    let took = get("pipemon_last_evaluation_duration_seconds", &[]).unwrap();
    assert!(took > 0.0 && took < 600.0, "evaluation took {took}s?");
}

#[test]
fn label_values_are_escaped_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pipemon.db");
    let config = dir.path().join("none.toml");
    std::fs::write(&config, "").unwrap();
    let events = dir.path().join("e.jsonl");
    // A pipeline id and a team with a quote, a backslash and a line feed.
    let odd_id = "odd \"quoted\" \\ path\nnext";
    let odd_team = "team \"x\"";
    let mut f = std::fs::File::create(&events).unwrap();
    for (i, status) in ["started", "success"].iter().enumerate() {
        let ev = serde_json::json!({
            "event_id": format!("e{i}"), "pipeline_id": odd_id, "run_id": "r1",
            "status": status, "timestamp": format!("2026-10-01T00:0{i}:00Z"),
            "team": odd_team, "duration_ms": 60000, "records_processed": 5,
        });
        writeln!(f, "{ev}").unwrap();
    }
    drop(f);
    pipemon(
        &db,
        &config,
        &["import", "--no-progress", events.to_str().unwrap()],
    );
    let text = pipemon(&db, &config, &["metrics"]);
    assert!(
        text.contains(r#"pipeline_id="odd \"quoted\" \\ path\nnext",team="team \"x\"""#),
        "{text}"
    );
    let m = parse(&text);
    let l = [
        ("pipeline_id", odd_id),
        ("team", odd_team),
        ("outcome", "success"),
    ];
    assert_eq!(m.get(&key("pipemon_pipeline_runs_total", &l)), Some(&1.0));
    assert_eq!(
        m.get(&key("pipemon_pipeline_last_run_records", &l[..2])),
        Some(&5.0)
    );
}
