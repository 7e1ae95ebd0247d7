//! Detection and alerting together through the real binary: events are imported,
//! `evaluate` detects, applies ownership rules, routes, inhibits by a configured rule
//! and delivers to a file receiver in the same run.

use assert_cmd::Command;
use serde_json::{Value, json};

fn event(p: &str, run: &str, status: &str, ts: &str, extra: Value) -> String {
    let mut e = json!({"pipeline_id": p, "run_id": run, "status": status, "timestamp": ts, "team": "finance"});
    if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
        o.extend(x.clone());
    }
    e.to_string()
}

#[test]
fn evaluate_routes_inhibits_and_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    // Hourly runs of billing_daily: six successes, then three final failures.
    for h in 0..9 {
        let run = format!("r{h}");
        lines.push(event(
            "billing_daily",
            &run,
            "started",
            &format!("2026-11-02T{h:02}:00:00Z"),
            json!({}),
        ));
        let (status, extra) = if h < 6 {
            ("success", json!({"records_processed": 1000}))
        } else {
            (
                "failed",
                json!({"error_type": "TimeoutError", "error_message": "query timed out"}),
            )
        };
        lines.push(event(
            "billing_daily",
            &run,
            status,
            &format!("2026-11-02T{h:02}:05:00Z"),
            extra,
        ));
    }
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("payments.jsonl");
    std::fs::write(
        dir.path().join("pipemon.toml"),
        format!(
            r#"
[[ownership]]
match = "billing_*"
team = "payments"

[route]
receiver = "default"
[[route.routes]]
matchers = ["team=payments"]
receiver = "payments"
group_by = ["pipeline_id"]
group_wait = "0s"

[[receivers]]
name = "payments"
type = "file"
path = "{}"

[[inhibit_rules]]
source_matchers = ["kind=consecutive_failures"]
target_matchers = ["kind=pipeline_failed"]
equal = ["pipeline_id"]
"#,
            out.display()
        ),
    )
    .unwrap();
    let pipemon = || {
        let mut c = Command::cargo_bin("pipemon").unwrap();
        c.current_dir(dir.path())
            .env_remove("PIPEMON_CONFIG")
            .env_remove("PIPEMON_DB");
        c
    };
    pipemon()
        .args(["import", "events.jsonl", "--no-progress"])
        .assert()
        .success();
    pipemon()
        .args(["evaluate", "--now", "2026-11-02T08:30:00Z"])
        .assert()
        .success();
    let listed = pipemon()
        .args(["--format", "json", "alerts"])
        .output()
        .unwrap();
    let alerts: Vec<Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_kind = |k: &str| {
        alerts
            .iter()
            .find(|a| a["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} in {alerts:?}"))
            .clone()
    };
    let failed = by_kind("pipeline_failed");
    let streak = by_kind("consecutive_failures");
    for a in [&failed, &streak] {
        assert_eq!(a["team"], "payments", "ownership rule applied: {a}");
        assert_eq!(a["receivers"], json!(["payments"]));
    }
    assert_eq!(failed["inhibited"], true);
    assert_eq!(streak["inhibited"], false);
    assert_eq!(streak["severity"], "critical");
    // One notification, carrying the streak only (the single failure is inhibited).
    let sent: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    let kinds: Vec<&str> = sent[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["consecutive_failures"]);
    assert_eq!(
        sent[0]["groupLabels"],
        json!({"pipeline_id": "billing_daily"})
    );
}
