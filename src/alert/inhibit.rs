//! Inhibition: which alerts are muted by other alerts.
//!
//! Three sources, each recorded in the target's `details.inhibited_by`:
//! - `systemic_failure` mutes the `pipeline_failed`/`consecutive_failures` alerts whose
//!   `details.signature` equals its own, when their episodes overlap — also those that
//!   fired before it, so one page reaches the platform team instead of one per team.
//! - Lineage: while an upstream (transitively, through `pipelines.upstream`) of P has a
//!   failure or stuck alert, P's `missed_run`, `stuck_run` and `pipeline_failed` alerts
//!   are symptoms; they are muted and listed on the upstream alert as impacted.
//! - Configured rules with Alertmanager semantics: a firing source matching the source
//!   matchers mutes a target matching the target matchers when the `equal` labels agree;
//!   an alert matching both sides is not muted by another that also matches both.
//!
//! A firing target is judged against firing sources (inhibition lasts while the cause
//! fires); a target that is already resolved when first seen (history) is judged against
//! the sources that were open when it started.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::{Value, json};

use crate::alert::AlertRow;
use crate::alert::matcher::{self, Labels};
use crate::alert::policy::Policy;

const FAILURE_KINDS: [&str; 3] = ["pipeline_failed", "consecutive_failures", "stuck_run"];
const LINEAGE_TARGETS: [&str; 3] = ["missed_run", "stuck_run", "pipeline_failed"];
const SYSTEMIC_TARGETS: [&str; 2] = ["pipeline_failed", "consecutive_failures"];

/// Result of inhibition over a set of alerts.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per alert (same index as the input): why it is inhibited; empty = not inhibited.
    pub inhibited_by: Vec<Vec<Value>>,
    /// Upstream alert id → downstream pipelines whose alerts it inhibits.
    pub impacted: BTreeMap<i64, BTreeSet<String>>,
}

fn signature(a: &AlertRow) -> Option<&str> {
    a.details.get("signature").and_then(Value::as_str)
}

/// Every signature a failure alert carries: `details.signature` (its first failure's)
/// and `details.signatures` (those of the failures that followed in the episode).
fn signatures(a: &AlertRow) -> BTreeSet<&str> {
    let mut all: BTreeSet<&str> = signature(a).into_iter().collect();
    if let Some(list) = a.details.get("signatures").and_then(Value::as_array) {
        all.extend(list.iter().filter_map(Value::as_str));
    }
    all
}

/// Whether source `s` applies to target `t` in time (see the module comment).
fn overlaps(s: &AlertRow, t: &AlertRow) -> bool {
    if t.status == "firing" {
        s.status == "firing"
    } else {
        s.started_at <= t.started_at && s.resolved_at.is_none_or(|r| r > t.started_at)
    }
}

/// Every ancestor of `p` through the upstream graph (cycles are harmless).
fn ancestors(p: &str, upstream: &HashMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&str> = VecDeque::from([p]);
    while let Some(x) = queue.pop_front() {
        for u in upstream.get(x).into_iter().flatten() {
            if u != p && seen.insert(u.clone()) {
                queue.push_back(u);
            }
        }
    }
    seen
}

/// Computes inhibition for `alerts` (with their `labels`); `systemic` holds every
/// systemic_failure alert (firing or resolved) so overlapping episodes are found.
pub fn compute(
    alerts: &[AlertRow],
    labels: &[Labels],
    systemic: &[AlertRow],
    upstream: &HashMap<String, Vec<String>>,
    policy: &Policy,
) -> Outcome {
    let mut out = Outcome {
        inhibited_by: vec![Vec::new(); alerts.len()],
        impacted: BTreeMap::new(),
    };
    // Failure/stuck alerts by pipeline, for lineage.
    let mut failing: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in alerts.iter().enumerate() {
        if let Some(p) = &a.pipeline_id
            && FAILURE_KINDS.contains(&a.kind.as_str())
        {
            failing.entry(p.as_str()).or_default().push(i);
        }
    }
    for (ti, t) in alerts.iter().enumerate() {
        let why = &mut out.inhibited_by[ti];
        let t_sigs = signatures(t);
        if policy.systemic_inhibition
            && SYSTEMIC_TARGETS.contains(&t.kind.as_str())
            && !t_sigs.is_empty()
        {
            let t_end = t.resolved_at.unwrap_or(i64::MAX);
            for s in systemic {
                let s_end = s.resolved_at.unwrap_or(i64::MAX);
                let overlap = s.started_at <= t_end && s_end >= t.started_at;
                let Some(sig) = signature(s).filter(|x| t_sigs.contains(x)) else {
                    continue;
                };
                if overlap && s.id != t.id {
                    why.push(
                        json!({"reason": "systemic_failure", "alert_id": s.id, "signature": sig}),
                    );
                }
            }
        }
        if policy.lineage_inhibition
            && LINEAGE_TARGETS.contains(&t.kind.as_str())
            && let Some(p) = &t.pipeline_id
        {
            for anc in ancestors(p, upstream) {
                for &si in failing.get(anc.as_str()).into_iter().flatten() {
                    let s = &alerts[si];
                    if overlaps(s, t) {
                        why.push(json!({"reason": "upstream", "alert_id": s.id, "pipeline_id": anc, "kind": s.kind}));
                        out.impacted.entry(s.id).or_default().insert(p.clone());
                    }
                }
            }
        }
        for (ri, rule) in policy.inhibit_rules.iter().enumerate() {
            if !matcher::all_match(&rule.target, &labels[ti]) {
                continue;
            }
            let t_is_source = matcher::all_match(&rule.source, &labels[ti]);
            for (si, s) in alerts.iter().enumerate() {
                if si == ti || !overlaps(s, t) || !matcher::all_match(&rule.source, &labels[si]) {
                    continue;
                }
                // Alertmanager: a target that also matches the source side is not muted
                // by a source that also matches the target side.
                if t_is_source && matcher::all_match(&rule.target, &labels[si]) {
                    continue;
                }
                let equal = rule
                    .equal
                    .iter()
                    .all(|n| labels[si].get(n) == labels[ti].get(n));
                if equal {
                    why.push(json!({"reason": "rule", "rule": ri, "alert_id": s.id}));
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::policy::alert_labels;

    fn alert(
        id: i64,
        kind: &str,
        pipeline: Option<&str>,
        firing: bool,
        sig: Option<&str>,
    ) -> AlertRow {
        let mut a = AlertRow::test(id, kind, pipeline);
        if !firing {
            a.status = "resolved".into();
            a.resolved_at = Some(a.started_at + 1000);
        }
        if let Some(s) = sig {
            a.details = json!({ "signature": s });
        }
        a
    }

    fn run(alerts: &[AlertRow], config: &str, up: &[(&str, &[&str])]) -> Outcome {
        let policy = Policy::new(&crate::config::check(config).unwrap().alert).unwrap();
        let labels: Vec<Labels> = alerts
            .iter()
            .map(|a| {
                alert_labels(
                    &a.kind,
                    &a.severity,
                    &a.team,
                    a.pipeline_id.as_deref(),
                    a.environment.as_deref(),
                    None,
                )
            })
            .collect();
        let systemic: Vec<AlertRow> = alerts
            .iter()
            .filter(|a| a.kind == "systemic_failure")
            .cloned()
            .collect();
        let upstream = up
            .iter()
            .map(|(p, us)| (p.to_string(), us.iter().map(|s| s.to_string()).collect()))
            .collect();
        compute(alerts, &labels, &systemic, &upstream, &policy)
    }

    fn inhibited(o: &Outcome) -> Vec<bool> {
        o.inhibited_by.iter().map(|w| !w.is_empty()).collect()
    }

    #[test]
    fn systemic_inhibits_same_signature_only() {
        let alerts = vec![
            alert(1, "systemic_failure", None, true, Some("S")),
            alert(2, "pipeline_failed", Some("a"), true, Some("S")),
            // Fired earlier and already resolved: still explained by the systemic failure.
            {
                let mut a = alert(3, "consecutive_failures", Some("b"), false, Some("S"));
                a.started_at -= 500;
                a
            },
            alert(4, "pipeline_failed", Some("c"), true, Some("OTHER")),
            alert(5, "missed_run", Some("d"), true, Some("S")),
            // Its episode began with another error; a later failure carried S.
            {
                let mut a = alert(6, "pipeline_failed", Some("e"), true, Some("FIRST"));
                a.details["signatures"] = json!(["FIRST", "S"]);
                a
            },
        ];
        let o = run(&alerts, "", &[]);
        assert_eq!(inhibited(&o), [false, true, true, false, false, true]);
        assert_eq!(o.inhibited_by[1][0]["reason"], "systemic_failure");
        let off = run(&alerts, "[alerting]\nsystemic_inhibition = false\n", &[]);
        assert_eq!(inhibited(&off), [false; 6]);
    }

    #[test]
    fn lineage_inhibits_transitive_downstream_symptoms() {
        // raw -> clean -> report ; other unrelated.
        let up: &[(&str, &[&str])] = &[("clean", &["raw"]), ("report", &["clean"]), ("other", &[])];
        let alerts = vec![
            alert(1, "pipeline_failed", Some("raw"), true, None),
            alert(2, "missed_run", Some("clean"), true, None),
            alert(3, "stuck_run", Some("report"), true, None),
            alert(4, "volume_anomaly", Some("report"), true, None),
            alert(5, "missed_run", Some("other"), true, None),
        ];
        let o = run(&alerts, "", up);
        assert_eq!(inhibited(&o), [false, true, true, false, false]);
        assert_eq!(
            o.impacted
                .get(&1)
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            ["clean", "report"]
        );
        // A resolved upstream failure does not mute a still-firing downstream alert.
        let mut alerts2 = alerts.clone();
        alerts2[0] = alert(1, "pipeline_failed", Some("raw"), false, None);
        assert_eq!(inhibited(&run(&alerts2, "", up)), [false; 5]);
    }

    #[test]
    fn rules_follow_alertmanager_semantics() {
        let config = r#"
[[inhibit_rules]]
source_matchers = ["severity=critical"]
target_matchers = ["severity=~high|critical"]
equal = ["team"]
"#;
        let mut a1 = alert(1, "consecutive_failures", Some("a"), true, None);
        a1.severity = "critical".into();
        let mut a2 = alert(2, "pipeline_failed", Some("b"), true, None);
        a2.severity = "high".into();
        let mut a3 = alert(3, "pipeline_failed", Some("c"), true, None);
        a3.severity = "high".into();
        a3.team = "other".into();
        // Matches both sides, as does a1: neither mutes the other.
        let mut a4 = alert(4, "consecutive_failures", Some("d"), true, None);
        a4.severity = "critical".into();
        let o = run(
            &[a1.clone(), a2.clone(), a3.clone(), a4.clone()],
            config,
            &[],
        );
        assert_eq!(inhibited(&o), [false, true, false, false]);
        // A resolved source mutes nothing.
        a1.status = "resolved".into();
        a1.resolved_at = Some(a1.started_at + 1);
        a4.status = "resolved".into();
        a4.resolved_at = Some(a4.started_at + 1);
        let o = run(&[a1, a2, a3, a4], config, &[]);
        assert!(!o.inhibited_by[1].iter().any(|w| w["reason"] == "rule"));
    }
}
