//! Why an alert fired, in plain words, from its `details`: what was observed, what
//! was expected, over which window, against which threshold. The detectors record
//! their evidence as numbers; people reading a report at 3 a.m. want sentences.

use serde_json::{Map, Value};

use crate::time::format_duration;

fn num(d: &Map<String, Value>, k: &str) -> Option<f64> {
    d.get(k).and_then(Value::as_f64)
}

fn int(d: &Map<String, Value>, k: &str) -> Option<i64> {
    d.get(k)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

fn text<'a>(d: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    d.get(k).and_then(Value::as_str)
}

fn dur(d: &Map<String, Value>, k: &str) -> Option<String> {
    int(d, k).map(format_duration)
}

/// The baselines a duration or volume verdict consulted, as "recent median 15m55s
/// (z 4.4)" phrases; `key` is `median_ms` or `median_records`.
fn baselines(d: &Map<String, Value>, key: &str) -> Option<String> {
    let list = d.get("baselines")?.as_array()?;
    let parts: Vec<String> = list
        .iter()
        .filter_map(|b| {
            let name = b.get("baseline")?.as_str()?.replace('_', " ");
            let m = b.get(key)?.as_i64()?;
            let z = b.get("z")?.as_f64()?;
            let value = if key == "median_ms" {
                format_duration(m)
            } else {
                format!("{m} records")
            };
            Some(format!("{name} median {value} (z {z:+.1})"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Sentences explaining an alert of `kind` with these `details`.
pub fn explain(kind: &str, details: &Map<String, Value>) -> Vec<String> {
    let d = details;
    let mut out = Vec::new();
    match kind {
        "pipeline_failed" => {
            let runs = int(d, "failed_runs").unwrap_or(1);
            out.push(format!(
                "The run ended in a final failure (after {} attempt(s)); {runs} failed run(s) in this episode.",
                int(d, "attempts").unwrap_or(1)
            ));
            if let Some(e) = text(d, "last_error") {
                out.push(format!("Last error: {e}."));
            }
            if let Some(t) = text(d, "task_id") {
                out.push(format!("Failing task: {t}."));
            }
        }
        "consecutive_failures" => {
            out.push(format!(
                "{} final failures in a row, threshold {} (cancelled and skipped runs neither break nor extend a streak).",
                int(d, "streak").unwrap_or(0),
                int(d, "threshold").unwrap_or(0)
            ));
            if let Some(f) = text(d, "first_failure_at") {
                out.push(format!("The streak began at {f}."));
            }
            if let Some(s) = text(d, "signature") {
                out.push(format!("Error: {s}."));
            }
        }
        "failure_rate_spike" => {
            out.push(format!(
                "Observed {} failures in the last {} runs, against a baseline failure rate of {:.2}% (over {:.0} runs).",
                int(d, "window_failures").unwrap_or(0),
                int(d, "window_runs").unwrap_or(0),
                num(d, "baseline_rate").unwrap_or(0.0) * 100.0,
                num(d, "baseline_runs").unwrap_or(0.0)
            ));
            out.push(format!(
                "Binomial test: p = {:.2e}, below the threshold α = {:.0e}.",
                num(d, "p_value").unwrap_or(f64::NAN),
                num(d, "alpha").unwrap_or(f64::NAN)
            ));
        }
        "duration_anomaly" => {
            out.push(format!(
                "The run took {} against an expected {} ({:.1}× as long).",
                dur(d, "observed_ms").unwrap_or_default(),
                dur(d, "expected_ms").unwrap_or_default(),
                num(d, "ratio").unwrap_or(f64::NAN)
            ));
            out.push(format!(
                "It was {:.1} robust standard deviations above every baseline; the threshold is {}.",
                num(d, "score").unwrap_or(f64::NAN),
                num(d, "threshold").unwrap_or(f64::NAN)
            ));
            if let Some(r) = num(d, "record_ratio") {
                out.push(format!(
                    "No run of the last four weeks took more than {r:.1}× its expectation."
                ));
            }
            if let Some(b) = baselines(d, "median_ms") {
                out.push(format!("Baselines: {b}."));
            }
        }
        "performance_degradation" => {
            out.push(format!(
                "The level of the recent runs rose from a baseline of {} to {} ({:.2}×).",
                dur(d, "baseline_median_ms").unwrap_or_default(),
                dur(d, "recent_median_ms").unwrap_or_default(),
                num(d, "ratio").unwrap_or(f64::NAN)
            ));
            out.push(format!(
                "Cumulative evidence (CUSUM) reached {:.1}, threshold {}.",
                num(d, "score").unwrap_or(f64::NAN),
                num(d, "threshold").unwrap_or(f64::NAN)
            ));
            if let Some(r) = dur(d, "recovered_median_ms") {
                out.push(format!(
                    "It resolved when the recent median was back at {r}."
                ));
            }
        }
        "volume_anomaly" => {
            let dir = if text(d, "direction") == Some("explosion") {
                "jumped"
            } else {
                "collapsed"
            };
            out.push(format!(
                "Records processed {dir}: {} against an expected {}.",
                int(d, "observed_records").unwrap_or(0),
                int(d, "expected_records").unwrap_or(0)
            ));
            out.push(format!(
                "Every baseline disagreed by more than the threshold of {} robust standard deviations.",
                num(d, "threshold").unwrap_or(f64::NAN)
            ));
            if let Some(b) = baselines(d, "median_records") {
                out.push(format!("Baselines: {b}."));
            }
        }
        "stuck_run" => {
            out.push(format!(
                "The run started at {} and was still running after {}; the threshold is {} ({}).",
                text(d, "run_started_at").unwrap_or("?"),
                dur(d, "ran_ms").unwrap_or_default(),
                dur(d, "threshold_ms").unwrap_or_default(),
                text(d, "threshold_basis").unwrap_or("learned")
            ));
            if let Some(o) = text(d, "outcome") {
                out.push(format!("It later ended as {o}."));
            }
        }
        "missed_run" => {
            out.push(format!(
                "A run was expected at {} ({}, every {}) and none had started within the tolerance of {}.",
                text(d, "expected_at").unwrap_or("?"),
                text(d, "schedule").unwrap_or("learned cadence"),
                dur(d, "period_ms").unwrap_or_default(),
                dur(d, "tolerance_ms").unwrap_or_default()
            ));
            if let Some(l) = text(d, "last_run_started_at") {
                out.push(format!("The last run before it started at {l}."));
            }
            if d.get("retired").and_then(Value::as_bool) == Some(true) {
                out.push("Resolved as retired: the pipeline stayed silent for 7 days.".into());
            }
        }
        "systemic_failure" => {
            out.push(format!(
                "{} pipelines failed with the same error signature within {}; the threshold is {} pipelines.",
                int(d, "affected_count").unwrap_or(0),
                dur(d, "window_ms").unwrap_or_default(),
                int(d, "threshold_pipelines").unwrap_or(0)
            ));
            if let Some(s) = text(d, "signature") {
                out.push(format!("Signature: {s}."));
            }
            if let Some(list) = d.get("affected_pipelines").and_then(Value::as_array) {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                out.push(format!("Affected: {}.", names.join(", ")));
            }
        }
        _ => {}
    }
    for (key, what) in [
        ("silenced_by", "Silenced by"),
        ("muted_by", "Muted by"),
        ("inhibited_by", "Inhibited by"),
    ] {
        if let Some(v) = d.get(key).filter(|v| !v.is_null()) {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(format!("{what}: {s}."));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duration_anomaly_names_observed_expected_and_threshold() {
        let d = json!({"observed_ms": 2_164_190, "expected_ms": 955_040, "ratio": 2.266,
            "score": 4.35, "threshold": 4.0,
            "baselines": [{"baseline": "same_hour", "median_ms": 955_040, "z": 7.6}]});
        let s = explain("duration_anomaly", d.as_object().unwrap()).join(" ");
        assert!(s.contains("36m04s"), "{s}");
        assert!(s.contains("15m55s"), "{s}");
        assert!(s.contains("2.3×"), "{s}");
        assert!(s.contains("threshold is 4"), "{s}");
        assert!(s.contains("same hour median 15m55s (z +7.6)"), "{s}");
        assert!(!s.contains("last four weeks"), "{s}");
        let d = json!({"observed_ms": 600_000, "expected_ms": 100_000, "ratio": 6.0,
            "score": 3.9, "threshold": 3.5, "record_ratio": 2.46});
        let s = explain("duration_anomaly", d.as_object().unwrap()).join(" ");
        assert!(s.contains("more than 2.5× its expectation"), "{s}");
    }

    #[test]
    fn silenced_alerts_say_by_what() {
        let d = json!({"streak": 3, "threshold": 3, "silenced_by": [4]});
        let s = explain("consecutive_failures", d.as_object().unwrap());
        assert_eq!(s.last().unwrap(), "Silenced by: [4].");
    }
}
