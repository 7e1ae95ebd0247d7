//! `pipemon eval` end to end: the real binary generates, imports, evaluates and
//! scores in a temporary directory; exit status follows the required checks.

use assert_cmd::Command;
use serde_json::Value;

fn pipemon(cwd: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("pipemon").unwrap();
    cmd.current_dir(cwd)
        .env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG");
    cmd
}

#[test]
fn quick_eval_reports_six_checks_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipemon(dir.path())
        .args([
            "--format",
            "json",
            "eval",
            "--quick",
            "--seed",
            "3",
            "--min-score",
            "0",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "one JSON object");
    let r: Value = serde_json::from_str(&text).unwrap();
    let checks = r["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    // Quick mode: the speed checks are reported, not judged.
    assert_eq!(checks[2]["status"], "not_judged");
    assert_eq!(checks[5]["status"], "not_judged");
    assert_eq!(r["kinds"].as_array().unwrap().len(), 9);
    // The importer's run accounting agrees with the generator's truth.
    let h = &r["health"];
    assert_eq!(h["correct"], h["pipelines"], "{h}");
    assert_eq!(h["unexpected_rows"], 0);
    assert_eq!(r["rejected"]["ok"], true);
    assert!(r["throughput"]["lines"].as_u64().unwrap() > 5_000);
}

#[test]
fn pending_checks_are_reported_not_required() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("eval-pending.toml"),
        "not_yet_required = [1, 2, 4, 5]\n",
    )
    .unwrap();
    let out = pipemon(dir.path())
        .args(["eval", "--quick", "--seed", "4"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("not yet required: eval-pending.toml"),
        "{text}"
    );
    assert!(text.contains("not judged: --quick"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("score: "),
        "{text}"
    );
}

#[test]
fn a_failing_required_check_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    pipemon(dir.path())
        .args([
            "generate",
            "--pipelines",
            "12",
            "--days",
            "6",
            "--seed",
            "8",
            "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    // Claim one rejected line more than the data holds: check 1 must fail.
    let path = data.join("truth.json");
    let mut truth: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let n = truth["lines"]["rejected"].as_u64().unwrap();
    truth["lines"]["rejected"] = Value::from(n + 1);
    std::fs::write(&path, truth.to_string()).unwrap();
    std::fs::write(
        dir.path().join("eval-pending.toml"),
        "not_yet_required = [2, 4, 5]\n",
    )
    .unwrap();
    let assert = pipemon(dir.path())
        .args(["eval", "--quick", "--data"])
        .arg(&data)
        .assert()
        .code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains(&format!("rejected lines: {n} (expected {})", n + 1)),
        "{out}"
    );
    assert!(out.contains("[FAIL] 1. failure detection"), "{out}");
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("0/1 required checks passed"), "{err}");
}

#[test]
fn data_without_truth_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let assert = pipemon(dir.path())
        .args(["eval", "--data", "."])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("hint: --data takes a directory written by `pipemon generate`"),
        "{err}"
    );
}

/// A suite runs one world per seed and reports per-kind medians and worst seeds; its
/// exit status follows the required targets (pending kinds are waived).
#[test]
fn a_suite_reports_medians_and_worst_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let every_kind = r#"kinds_not_yet_required = ["pipeline_failed", "consecutive_failures", "failure_rate_spike", "duration_anomaly", "performance_degradation", "volume_anomaly", "stuck_run", "missed_run", "systemic_failure"]"#;
    std::fs::write(
        dir.path().join("eval-pending.toml"),
        format!("not_yet_required = [4, 5]\n{every_kind}\n"),
    )
    .unwrap();
    let out = pipemon(dir.path())
        .args([
            "--format",
            "json",
            "eval",
            "--seeds",
            "31,32",
            "--pipelines",
            "12",
            "--days",
            "8",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(r["seeds"], serde_json::json!([31, 32]));
    let worlds = r["worlds"].as_array().unwrap();
    assert_eq!(worlds.len(), 2);
    // Different seeds are different worlds: other start days, other line counts.
    assert_ne!(worlds[0]["start"], worlds[1]["start"]);
    assert_ne!(worlds[0]["lines"], worlds[1]["lines"]);
    assert_eq!(r["accounting_ok"], true, "{}", r["failures"]);
    let kinds = r["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 9);
    for k in kinds {
        let (m, w) = (
            k["f1_median"].as_f64().unwrap(),
            k["f1_worst"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&w) && w <= m, "{k}");
        assert_eq!(k["pending"], true);
    }
    // Every seed's pipeline_failed incidents are counted.
    let pf = kinds
        .iter()
        .find(|k| k["kind"] == "pipeline_failed")
        .unwrap();
    let per_seed: u64 = worlds
        .iter()
        .map(|w| {
            w["report"]["kinds"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["kind"] == "pipeline_failed")
                .unwrap()["incidents"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(pf["incidents"].as_u64().unwrap(), per_seed);
    assert!(per_seed > 0);

    // Without the waivers, a target the detectors miss fails the run with exit 1,
    // naming it; the text form ends with what was missed.
    std::fs::write(dir.path().join("eval-pending.toml"), "").unwrap();
    let assert = pipemon(dir.path())
        .args(["eval", "--seeds", "31", "--pipelines", "12", "--days", "8"])
        .assert();
    let output = assert.get_output().clone();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("suite: 1 worlds of 12 pipelines × 8 days; seeds 31"),
        "{text}"
    );
    // Each kind with a miss or a false alarm in the table has its errors listed
    // under the seed, and no other kind does.
    for row in text.lines().skip(2).take(9) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let n = |i: usize| cols[i].parse::<u64>().unwrap();
        let (kind, incidents, found, fp) = (cols[0], n(1), n(2), n(4));
        let listed = text
            .lines()
            .any(|l| l.starts_with(&format!("  {kind} ")) && l.contains("seed 31:"));
        assert_eq!(listed, found < incidents || fp > 0, "{kind}: {text}");
    }
    if text.contains("required target missed") {
        assert_eq!(output.status.code(), Some(1), "{text}");
        let err = String::from_utf8(output.stderr).unwrap();
        assert!(err.contains("the suite missed"), "{err}");
    } else {
        assert_eq!(output.status.code(), Some(0), "{text}");
        assert!(text.contains("suite: every required target met"), "{text}");
    }
}

/// `--config` is read by the commands a suite runs in its own work directory: a
/// relative path still names the caller's file, and a world that cannot be
/// evaluated is an error naming the seed, never a score of zero.
#[test]
fn a_suite_reads_a_relative_config_and_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eval-pending.toml"), "").unwrap();
    std::fs::write(
        dir.path().join("tight.toml"),
        "[detect]\nfailure_streak = 2\n",
    )
    .unwrap();
    let suite = |config: &str, format: &str| {
        pipemon(dir.path())
            .args([
                "--format",
                format,
                "--config",
                config,
                "eval",
                "--seeds",
                "31",
                "--pipelines",
                "12",
                "--days",
                "8",
            ])
            .assert()
            .get_output()
            .clone()
    };
    let scored = |out: &std::process::Output| -> Value {
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = scored(&suite("/dev/null", "json"));
    let tight = scored(&suite("tight.toml", "json"));
    let count = |r: &Value| {
        r["worlds"][0]["report"]["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == "consecutive_failures")
            .unwrap()["alerts"]
            .as_u64()
            .unwrap()
    };
    // Streaks of two are alerted too: the relative file was read.
    assert!(
        count(&tight) > count(&plain),
        "{} vs {}",
        count(&tight),
        count(&plain)
    );
    // The text form lists where the errors are: the streaks of two are false
    // alarms of seed 31, named with their pipeline.
    let out = suite("tight.toml", "table");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("  consecutive_failures ") && l.contains("seed 31:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("false #"), "{line}");

    // A world whose evaluation fails (the configuration is gone by the time the
    // commands run; here, a directory) stops the suite with exit 2.
    std::fs::create_dir(dir.path().join("gone.toml")).unwrap();
    let out = suite("gone.toml", "json");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("seed 31"), "{err}");
}

#[test]
fn bad_seed_specs_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let assert = pipemon(dir.path())
        .args(["eval", "--seeds", "trains"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("`trains` is not a seed"), "{err}");
    assert!(err.contains("hint: --seeds takes train, test"), "{err}");
}
