//! Honesty tests of the scorer: a perfect alert set scores 1.0, an empty one 0,
//! junk lowers precision, explained and duplicate alerts are neutral.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::*;
use crate::generate::truth::{LineCounts, PipelineTruth, Related};
use crate::generate::{GenerateOptions, generate};

const H: Millis = 3_600_000;
const T0: Millis = GenerateOptions::DEFAULT_START;

fn generated() -> Truth {
    generate(&GenerateOptions {
        pipelines: 30,
        days: 14,
        seed: 9,
        start: T0,
    })
    .unwrap()
    .truth
}

fn perfect(truth: &Truth) -> Vec<AlertRecord> {
    truth
        .incidents
        .iter()
        .map(AlertRecord::perfect_for)
        .collect()
}

fn health_rows(truth: &Truth) -> Vec<Map<String, Value>> {
    truth
        .pipelines
        .iter()
        .map(|p| {
            json!({
                "pipeline_id": p.pipeline_id, "runs_total": p.runs_total,
                "runs_success": p.runs_success, "runs_failed": p.runs_failed,
                "runs_cancelled": p.runs_cancelled, "runs_skipped": p.runs_skipped,
                "runs_in_progress": p.runs_in_progress,
            })
            .as_object()
            .unwrap()
            .clone()
        })
        .collect()
}

fn input(truth: &Truth, alerts: Vec<AlertRecord>) -> EvalInput {
    EvalInput {
        alerts: Some(alerts),
        health: Some(health_rows(truth)),
        rejected: Some(truth.lines.rejected),
        throughput: Some(Throughput {
            lines: 2_000_000,
            seconds: 4.0,
            events_per_second: 500_000.0,
            reference_rows_per_second: Some(450_000.0),
        }),
        plans: Some(vec![PlanCheck {
            name: "runs_by_pipeline".into(),
            plan: "SEARCH run_state USING INDEX".into(),
            ok: true,
        }]),
        health_query_ms: Some(50.0),
        speed_events: 2_000_000,
        quick: false,
        pending: BTreeSet::new(),
        pending_kinds: BTreeSet::new(),
        problems: Default::default(),
    }
}

fn kind<'a>(r: &'a Report, k: &str) -> &'a KindScore {
    r.kinds.iter().find(|s| s.kind == k).unwrap()
}

#[test]
fn generated_truth_has_every_kind() {
    let truth = generated();
    for k in AlertKind::ALL {
        assert!(
            truth.incidents.iter().any(|i| i.kind == k.as_str()),
            "no {k} incident"
        );
    }
}

#[test]
fn perfect_alerts_score_one() {
    let truth = generated();
    let r = score(&truth, &input(&truth, perfect(&truth)));
    for k in &r.kinds {
        assert_eq!((k.precision, k.recall), (1.0, 1.0), "{}", k.kind);
        assert_eq!(
            k.false_positives + k.duplicates + k.explained,
            0,
            "{}",
            k.kind
        );
    }
    assert_eq!(r.severity.accuracy, 1.0);
    assert_eq!(r.team.accuracy, 1.0);
    assert_eq!(r.score, 6);
    assert!(r.satisfied(6));
}

#[test]
fn empty_alerts_score_zero_recall() {
    let truth = generated();
    let r = score(&truth, &input(&truth, Vec::new()));
    for k in &r.kinds {
        assert_eq!(k.recall, 0.0, "{}", k.kind);
        assert_eq!(k.true_positives, 0);
    }
    assert_eq!(r.severity.matched, 0);
    let failed: Vec<u32> = r
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| c.number)
        .collect();
    assert_eq!(failed, vec![1, 2, 4, 5]);
    assert_eq!(r.score, 2);
    assert!(!r.satisfied(6));
}

#[test]
fn junk_alerts_lower_precision() {
    let truth = generated();
    let mut alerts = perfect(&truth);
    let victim = truth.pipelines[0].pipeline_id.clone();
    // Alerts on a pipeline at an hour before any incident could start.
    for (n, k) in ["pipeline_failed", "duration_anomaly", "missed_run"]
        .iter()
        .enumerate()
    {
        for j in 0..5 {
            alerts.push(AlertRecord {
                id: Some(10_000 + (n * 10 + j) as i64),
                kind: k.to_string(),
                pipeline_id: Some(victim.clone()),
                severity: "high".into(),
                team: "x".into(),
                started_at: T0 + (j as i64 + 1) * 60_000,
                run_id: None,
                affected: Vec::new(),
            });
        }
    }
    let r = score(&truth, &input(&truth, alerts));
    for k in ["pipeline_failed", "duration_anomaly", "missed_run"] {
        let s = kind(&r, k);
        assert_eq!(s.false_positives, 5, "{k}");
        assert!(s.precision < 1.0, "{k}");
        assert_eq!(s.recall, 1.0, "{k}");
    }
    assert_eq!(kind(&r, "volume_anomaly").precision, 1.0);
}

/// A hand-made truth: one step slowdown, one failure episode, one systemic outage.
fn small_truth() -> Truth {
    let inc = |id: &str, kind: &str, p: Option<&str>, start: Millis, latest: Millis| Incident {
        id: id.into(),
        kind: kind.into(),
        pipeline_id: p.map(str::to_string),
        start,
        end: None,
        deadline: latest,
        severity: "medium".into(),
        team: "growth".into(),
        run_id: None,
        affected_pipelines: Vec::new(),
        error_signature: None,
        related: Vec::new(),
        note: String::new(),
    };
    let mut step = inc(
        "I1",
        "performance_degradation",
        Some("a"),
        T0 + 10 * H,
        T0 + 20 * H,
    );
    step.end = Some(T0 + 40 * H);
    step.related.push(Related {
        kind: "duration_anomaly".into(),
        from: T0 + 10 * H,
        until: Some(T0 + 41 * H),
    });
    let mut failed = inc("I2", "pipeline_failed", Some("b"), T0 + 5 * H, T0 + 6 * H);
    failed.severity = "high".into();
    let mut sys = inc("I3", "systemic_failure", None, T0 + 30 * H, T0 + 31 * H);
    sys.severity = "critical".into();
    sys.team = "platform".into();
    sys.affected_pipelines = vec!["a".into(), "b".into(), "c".into()];
    let pipe = |id: &str| PipelineTruth {
        pipeline_id: id.into(),
        team: "growth".into(),
        priority: "medium".into(),
        schedule: None,
        upstream: Vec::new(),
        cadence_ms: H,
        median_duration_ms: 1000,
        p95_duration_ms: 1500,
        first_run: None,
        runs_without_started: Vec::new(),
        runs_total: 10,
        runs_success: 9,
        runs_failed: 1,
        runs_cancelled: 0,
        runs_skipped: 0,
        runs_in_progress: 0,
    };
    Truth {
        format_version: 1,
        seed: 0,
        days: 2,
        start: T0,
        end: T0 + 48 * H,
        data_end: T0 + 48 * H,
        warmup_end: T0,
        lines: LineCounts {
            rejected: 3,
            ..Default::default()
        },
        pipelines: vec![pipe("a"), pipe("b"), pipe("c")],
        incidents: vec![step, failed, sys],
        benign: Vec::new(),
    }
}

fn alert(kind: &str, p: Option<&str>, at: Millis, severity: &str, team: &str) -> AlertRecord {
    AlertRecord {
        id: None,
        kind: kind.into(),
        pipeline_id: p.map(str::to_string),
        severity: severity.into(),
        team: team.into(),
        started_at: at,
        run_id: None,
        affected: Vec::new(),
    }
}

#[test]
fn explained_and_duplicate_alerts_are_neutral() {
    let truth = small_truth();
    let alerts = vec![
        alert(
            "performance_degradation",
            Some("a"),
            T0 + 15 * H,
            "medium",
            "growth",
        ),
        // A second alert inside the same incident's window: a duplicate.
        alert(
            "performance_degradation",
            Some("a"),
            T0 + 16 * H,
            "medium",
            "growth",
        ),
        // A duration anomaly inside the slowdown: explained.
        alert("duration_anomaly", Some("a"), T0 + 12 * H, "low", "growth"),
        // The same on another pipeline: blamed.
        alert("duration_anomaly", Some("c"), T0 + 12 * H, "low", "growth"),
        // After the deadline of b's failure: late (a miss, not a false positive).
        alert("pipeline_failed", Some("b"), T0 + 7 * H, "high", "growth"),
        // Before any incident of b: blamed.
        alert("pipeline_failed", Some("b"), T0 + H, "high", "growth"),
    ];
    let r = score(&truth, &input(&truth, alerts));
    let perf = kind(&r, "performance_degradation");
    assert_eq!(
        (perf.true_positives, perf.duplicates, perf.false_positives),
        (1, 1, 0)
    );
    let dur = kind(&r, "duration_anomaly");
    assert_eq!((dur.explained, dur.false_positives), (1, 1));
    assert_eq!(dur.precision, 0.0);
    let pf = kind(&r, "pipeline_failed");
    assert_eq!((pf.recall, pf.precision), (0.0, 0.0));
    assert_eq!((pf.late, pf.false_positives, pf.true_positives), (1, 1, 0));
    assert!(
        pf.late_alerts[0].starts_with("I2 b late by 1h00m"),
        "{:?}",
        pf.late_alerts
    );
}

#[test]
fn late_alert_is_a_miss_and_a_refire_is_noise() {
    let truth = small_truth();
    // b's failure: deadline T0+6h. In time, then twice more inside the episode.
    let at = |h: i64| alert("pipeline_failed", Some("b"), T0 + h * H, "high", "growth");
    let r = score(&truth, &input(&truth, vec![at(6), at(8), at(30)]));
    let pf = kind(&r, "pipeline_failed");
    assert_eq!(
        (
            pf.true_positives,
            pf.duplicates,
            pf.late,
            pf.false_positives
        ),
        (1, 2, 0, 0)
    );
    assert_eq!(pf.noise, 2.0);
    assert_eq!((pf.ttd_median_ms, pf.ttd_max_ms), (Some(H), Some(H)));
    assert_eq!(pf.deadline_use_max, Some(1.0));
    // One millisecond after the deadline: late, so the incident is missed; its
    // re-fire is noise, not a false positive.
    let mut late = at(6);
    late.started_at += 1;
    let r = score(&truth, &input(&truth, vec![late, at(9)]));
    let pf = kind(&r, "pipeline_failed");
    assert_eq!(
        (pf.recall, pf.late, pf.duplicates, pf.false_positives),
        (0.0, 1, 1, 0)
    );
    assert_eq!(pf.f1, 0.0);
}

#[test]
fn benign_surges_are_neither_credited_nor_blamed() {
    let mut truth = small_truth();
    truth.benign.push(crate::generate::truth::Benign {
        pipeline_id: "c".into(),
        kinds: vec!["volume_anomaly".into(), "duration_anomaly".into()],
        from: T0 + 24 * H,
        until: T0 + 26 * H,
        note: "month start".into(),
    });
    let alerts = vec![
        alert("volume_anomaly", Some("c"), T0 + 25 * H, "medium", "growth"),
        // Another kind in the span, or the same kind outside it: blamed.
        alert("missed_run", Some("c"), T0 + 25 * H, "high", "growth"),
        alert("volume_anomaly", Some("c"), T0 + 27 * H, "medium", "growth"),
    ];
    let r = score(&truth, &input(&truth, alerts));
    let v = kind(&r, "volume_anomaly");
    assert_eq!((v.benign, v.false_positives, v.true_positives), (1, 1, 0));
    assert_eq!(kind(&r, "missed_run").false_positives, 1);
}

#[test]
fn f1_is_the_harmonic_mean() {
    assert_eq!(f1(1.0, 1.0), 1.0);
    assert_eq!(f1(0.0, 0.0), 0.0);
    assert!((f1(0.5, 1.0) - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn import_speed_is_judged_as_a_ratio_to_the_reference() {
    let truth = small_truth();
    let mut inp = input(&truth, perfect(&truth));
    // 500k/s against a 450k/s reference: 1.11, passes.
    assert_eq!(score(&truth, &inp).checks[2].status, CheckStatus::Pass);
    // A slow machine: 60k/s against 70k/s is 0.86, still a pass (no absolute rate).
    let t2 = inp.throughput.as_mut().unwrap();
    t2.events_per_second = 60_000.0;
    t2.reference_rows_per_second = Some(70_000.0);
    let r = score(&truth, &inp);
    assert_eq!(
        r.checks[2].status,
        CheckStatus::Pass,
        "{}",
        r.checks[2].figure
    );
    assert!(r.checks[2].figure.contains("0.86 × the in-run reference"));
    // Half the reference fails; no reference measured fails too.
    let t3 = inp.throughput.as_mut().unwrap();
    t3.reference_rows_per_second = Some(120_000.0);
    assert_eq!(score(&truth, &inp).checks[2].status, CheckStatus::Fail);
    inp.throughput.as_mut().unwrap().reference_rows_per_second = None;
    assert_eq!(score(&truth, &inp).checks[2].status, CheckStatus::Fail);
}

#[test]
fn pending_kinds_are_waived_in_checks_one_and_two() {
    let truth = small_truth();
    // Everything perfect but the degradation, which is missed.
    let alerts: Vec<AlertRecord> = perfect(&truth)
        .into_iter()
        .filter(|a| a.kind != "performance_degradation")
        .collect();
    let mut inp = input(&truth, alerts);
    assert_eq!(score(&truth, &inp).checks[1].status, CheckStatus::Fail);
    inp.pending_kinds = BTreeSet::from(["performance_degradation".to_string()]);
    let r = score(&truth, &inp);
    assert_eq!(r.checks[1].status, CheckStatus::Pass);
    assert!(r.checks[1].figure.contains("(not yet required)"));
}

#[test]
fn systemic_matches_by_time_and_affected_pipelines() {
    let truth = small_truth();
    let mut right = alert(
        "systemic_failure",
        None,
        T0 + 30 * H + 1,
        "critical",
        "platform",
    );
    right.affected = vec!["b".into(), "c".into(), "z".into()];
    let mut wrong = alert(
        "systemic_failure",
        None,
        T0 + 30 * H + 2,
        "critical",
        "platform",
    );
    wrong.affected = vec!["x".into(), "y".into(), "z".into()];
    let r = score(&truth, &input(&truth, vec![wrong.clone(), right]));
    let s = kind(&r, "systemic_failure");
    assert_eq!((s.true_positives, s.false_positives), (1, 1));
    let r = score(&truth, &input(&truth, vec![wrong]));
    assert_eq!(kind(&r, "systemic_failure").recall, 0.0);
}

#[test]
fn severity_and_team_are_judged_on_matched_alerts() {
    let truth = small_truth();
    let alerts = vec![
        alert(
            "performance_degradation",
            Some("a"),
            T0 + 15 * H,
            "high",
            "growth",
        ),
        alert("pipeline_failed", Some("b"), T0 + 5 * H, "high", "unowned"),
        alert("systemic_failure", None, T0 + 30 * H, "critical", "growth"),
        // Unmatched alerts do not count towards either accuracy.
        alert("volume_anomaly", Some("c"), T0, "low", "nobody"),
    ];
    let r = score(&truth, &input(&truth, alerts));
    assert_eq!((r.severity.matched, r.severity.correct), (3, 2));
    assert_eq!((r.team.matched, r.team.correct), (3, 1));
    let c = |n: u32| r.checks.iter().find(|c| c.number == n).unwrap().status;
    assert_eq!(c(4), CheckStatus::Fail);
    assert_eq!(c(5), CheckStatus::Fail);
}

#[test]
fn health_counts_must_be_exact() {
    let truth = small_truth();
    let mut inp = input(&truth, perfect(&truth));
    assert!(score(&truth, &inp).health.unwrap().ok);
    inp.health.as_mut().unwrap()[1].insert("runs_failed".into(), json!(2));
    let h = score(&truth, &inp).health.unwrap();
    assert_eq!((h.correct, h.ok), (2, false));
    assert!(h.mismatches[0].contains("runs_failed 2 (expected 1)"));
    inp.health = Some(health_rows(&truth));
    inp.health
        .as_mut()
        .unwrap()
        .push(json!({"pipeline_id": "ghost"}).as_object().unwrap().clone());
    assert_eq!(score(&truth, &inp).health.unwrap().unexpected_rows, 1);
    inp.rejected = Some(2);
    let r = score(&truth, &inp);
    assert_eq!(r.checks[0].status, CheckStatus::Fail);
}

#[test]
fn quick_and_pending_checks_are_not_required() {
    let truth = small_truth();
    let mut inp = input(&truth, Vec::new());
    inp.quick = true;
    inp.speed_events = 20_000;
    let r = score(&truth, &inp);
    let st: Vec<CheckStatus> = r.checks.iter().map(|c| c.status).collect();
    assert_eq!(st[2], CheckStatus::NotJudged);
    assert_eq!(st[5], CheckStatus::NotJudged);
    assert_eq!(r.required, 4);
    assert!(!r.satisfied(6));
    inp.pending = BTreeSet::from([1, 2, 4, 5]);
    let r = score(&truth, &inp);
    assert_eq!((r.required, r.required_passed, r.score), (0, 0, 0));
    assert!(r.satisfied(6));
    assert!(super::render::text(&r).contains("not yet required"));
}

#[test]
fn speed_checks_need_a_million_events() {
    let truth = small_truth();
    let mut inp = input(&truth, perfect(&truth));
    inp.speed_events = 50_000;
    let r = score(&truth, &inp);
    assert_eq!(r.checks[2].status, CheckStatus::Fail);
    assert_eq!(r.checks[5].status, CheckStatus::Fail);
    inp.speed_events = 1_500_000;
    inp.health_query_ms = Some(250.0);
    let r = score(&truth, &inp);
    assert_eq!(r.checks[2].status, CheckStatus::Pass);
    assert_eq!(r.checks[5].status, CheckStatus::Fail);
}

#[test]
fn alert_records_read_the_alerts_output_format() {
    let v = json!({
        "id": 7, "fingerprint": "f", "kind": "systemic_failure", "severity": "critical",
        "status": "resolved", "pipeline_id": null, "team": "platform", "receivers": [],
        "started_at": "2026-10-02T01:00:00.000Z", "resolved_at": null,
        "last_seen_at": "2026-10-02T01:00:00.000Z", "occurrences": 3, "run_id": null,
        "summary": "s", "details": {"affected_pipelines": ["a", "b"]},
        "silenced": false, "inhibited": false
    });
    let a = AlertRecord::from_json(&v).unwrap();
    assert_eq!(a.id, Some(7));
    assert_eq!(a.pipeline_id, None);
    assert_eq!(a.affected, vec!["a", "b"]);
    assert_eq!(a.started_at, T0 + 25 * H);
    assert!(AlertRecord::from_json(&json!({"kind": "x"})).is_err());
    let objs = parse_objects("{\"a\":1}\n\n{\"a\":2}\n").unwrap();
    assert_eq!(objs.len(), 2);
    assert_eq!(parse_objects("[{\"a\":1}]").unwrap().len(), 1);
}
