//! `systemic_failure`: one error signature failing several distinct pipelines
//! within a short window. Pure over the list of final failures (any order).
//!
//! Per signature, failures are scanned in time order with a sliding window: the
//! episode opens at the failure that brings the window to N distinct pipelines
//! (each pipeline counted once), counts every later failure of that signature
//! that comes within one window of the previous one, and resolves one window
//! after the last of them. The whole failure list is re-scanned each evaluation
//! (final failures are few; their signatures are memoised), so the result never
//! depends on how the history was split into evaluations.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::json;

use super::DetectConfig;
use super::episode::Episode;
use crate::model::{AlertKind, Millis};
use crate::time::{format_duration, format_ms};

/// One final failure with its error signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub at: Millis,
    pub pipeline_id: String,
    pub run_id: String,
    pub signature: String,
}

/// The fingerprint of a systemic condition: kind plus a digest of the signature.
pub fn fingerprint(signature: &str) -> String {
    format!(
        "systemic_failure/{:016x}",
        xxhash_rust::xxh3::xxh3_64(signature.as_bytes())
    )
}

/// Systemic episodes among `failures` as of `now`.
pub fn detect(cfg: &DetectConfig, failures: &[Failure], now: Millis) -> Vec<Episode> {
    let window = cfg.systemic_window.ms();
    let mut by_sig: BTreeMap<&str, Vec<&Failure>> = BTreeMap::new();
    for f in failures.iter().filter(|f| f.at <= now) {
        by_sig.entry(&f.signature).or_default().push(f);
    }
    let mut out = Vec::new();
    for (sig, mut fs) in by_sig {
        fs.sort_by(|a, b| {
            (a.at, &a.pipeline_id, &a.run_id).cmp(&(b.at, &b.pipeline_id, &b.run_id))
        });
        let mut win: VecDeque<&Failure> = VecDeque::new();
        let mut open: Option<(Episode, BTreeSet<String>, Millis)> = None;
        for f in fs {
            if let Some((ep, affected, last)) = &mut open {
                if f.at - *last <= window {
                    ep.seen(f.at);
                    affected.insert(f.pipeline_id.clone());
                    *last = f.at;
                    continue;
                }
                let (ep, affected, last) = open.take().expect("open");
                out.push(close(ep, &affected, last, window));
            }
            win.push_back(f);
            while win.front().is_some_and(|g| f.at - g.at > window) {
                win.pop_front();
            }
            let distinct: BTreeSet<&str> = win.iter().map(|g| g.pipeline_id.as_str()).collect();
            if distinct.len() >= cfg.systemic_pipelines {
                let affected: BTreeSet<String> = distinct.iter().map(|s| s.to_string()).collect();
                let ep = Episode {
                    kind: AlertKind::SystemicFailure,
                    pipeline_id: None,
                    fingerprint: fingerprint(sig),
                    started_at: f.at,
                    resolved_at: None,
                    last_seen_at: f.at,
                    occurrences: win.len() as i64,
                    run_id: Some(f.run_id.clone()),
                    summary: String::new(),
                    details: json!({
                        "signature": sig,
                        "window_ms": window,
                        "threshold_pipelines": cfg.systemic_pipelines,
                        "first_failure_at": format_ms(win.front().map_or(f.at, |g| g.at)),
                        "triggering_pipeline": f.pipeline_id,
                    }),
                };
                win.clear();
                open = Some((ep, affected, f.at));
            }
        }
        if let Some((ep, affected, last)) = open {
            if last + window <= now {
                out.push(close(ep, &affected, last, window));
            } else {
                out.push(describe(ep, &affected));
            }
        }
    }
    out
}

fn describe(mut ep: Episode, affected: &BTreeSet<String>) -> Episode {
    let sig = ep.details["signature"].as_str().unwrap_or("").to_string();
    let short: String = sig.chars().take(120).collect();
    ep.summary = format!(
        "{} pipelines failing with the same error within {}: {short}",
        affected.len(),
        format_duration(ep.details["window_ms"].as_i64().unwrap_or(0))
    );
    ep.details["affected_pipelines"] = json!(affected);
    ep.details["affected_count"] = json!(affected.len());
    ep
}

fn close(ep: Episode, affected: &BTreeSet<String>, last: Millis, window: i64) -> Episode {
    let mut ep = describe(ep, affected).resolve(last + window);
    ep.last_seen_at = last;
    ep
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn f(at_min: i64, p: &str, sig: &str) -> Failure {
        Failure {
            at: at_min * MIN,
            pipeline_id: p.to_string(),
            run_id: format!("{p}-{at_min}"),
            signature: sig.to_string(),
        }
    }

    #[test]
    fn three_pipelines_in_window_fire_at_the_third() {
        let cfg = DetectConfig::default();
        let fs = vec![
            f(0, "a", "E: x"),
            f(5, "a", "E: x"),
            f(10, "b", "E: x"),
            f(20, "c", "E: x"),
            f(25, "d", "E: x"),
            f(200, "e", "E: x"),
        ];
        let eps = detect(&cfg, &fs, 1000 * MIN);
        assert_eq!(eps.len(), 1);
        let e = &eps[0];
        assert_eq!(e.started_at, 20 * MIN);
        assert_eq!(e.resolved_at, Some(55 * MIN));
        assert_eq!(e.pipeline_id, None);
        assert_eq!(e.details["affected_pipelines"], json!(["a", "b", "c", "d"]));
        assert_eq!(e.occurrences, 5);
    }

    #[test]
    fn quiet_cases() {
        let cfg = DetectConfig::default();
        let cases: Vec<Vec<Failure>> = vec![
            // One pipeline failing three times is not systemic.
            vec![f(0, "a", "E"), f(1, "a", "E"), f(2, "a", "E")],
            // Three pipelines, but spread over more than a window.
            vec![f(0, "a", "E"), f(20, "b", "E"), f(51, "c", "E")],
            // Three pipelines within the window with different errors.
            vec![f(0, "a", "E1"), f(1, "b", "E2"), f(2, "c", "E3")],
        ];
        for fs in cases {
            assert!(detect(&cfg, &fs, 1000 * MIN).is_empty(), "{fs:?}");
        }
    }

    #[test]
    fn open_until_a_window_passes_and_order_does_not_matter() {
        let cfg = DetectConfig::default();
        let mut fs = vec![f(0, "a", "E"), f(1, "b", "E"), f(2, "c", "E")];
        let open = detect(&cfg, &fs, 10 * MIN);
        assert_eq!(open.len(), 1);
        assert!(open[0].is_open());
        fs.reverse();
        let closed = detect(&cfg, &fs, 100 * MIN);
        assert_eq!(closed[0].started_at, 2 * MIN);
        assert_eq!(closed[0].resolved_at, Some(32 * MIN));
        // Events after `now` are not seen.
        assert!(detect(&cfg, &fs, MIN).is_empty());
    }
}
