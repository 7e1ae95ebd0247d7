//! `failure_rate_spike`: a recent failure rate significantly above the pipeline's
//! own baseline rate.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::History;
use super::signature::signature;
use super::stats::binomial_sf;
use crate::model::{AlertKind, Millis, Outcome, Run};
/// Outcome runs (success or failure) of the history plus `run`, oldest first,
/// with failures that belong to a streak of `streak` or more marked as excluded:
/// a streak is `consecutive_failures`' business, not a rate.
fn outcome_series(hist: &History, run: &Run, streak: usize) -> Vec<(bool, bool)> {
    let mut v: Vec<bool> = hist
        .runs()
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Success | Outcome::Failed))
        .map(|p| p.outcome == Outcome::Failed)
        .collect();
    v.push(run.outcome == Outcome::Failed);
    // (failed, counted)
    let mut out: Vec<(bool, bool)> = v.iter().map(|f| (*f, *f)).collect();
    let mut i = 0;
    while i < v.len() {
        if v[i] {
            let mut j = i;
            while j < v.len() && v[j] {
                j += 1;
            }
            if j - i >= streak {
                for o in &mut out[i..j] {
                    o.1 = false;
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Binomial test of the recent window's failures against the pipeline's own
/// baseline rate (Beta prior + older history), so a pipeline that fails 1 run in
/// 200 does not alert on its one failure, and a flaky stretch does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FailureRate {
    open: Option<Episode>,
}

impl Detector for FailureRate {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        // A success can only end an open episode; only a failure can start one.
        if run.outcome != Outcome::Failed
            && (run.outcome != Outcome::Success || self.open.is_none())
        {
            return;
        }
        let cfg = ctx.cfg;
        let at = end_of(run);
        let series = outcome_series(hist, run, cfg.failure_streak);
        let w = cfg.rate_window_runs.min(series.len());
        let (base, recent) = series.split_at(series.len() - w);
        let base_fail = base.iter().filter(|o| o.1).count() as f64;
        // Streak failures are left out of the baseline's numerator and denominator.
        let base_n = base.iter().filter(|o| !o.0 || o.1).count() as f64;
        let p0 = (base_fail + cfg.rate_prior_rate * cfg.rate_prior_runs)
            / (base_n + cfg.rate_prior_runs);
        let k = recent.iter().filter(|o| o.1).count();
        let n = recent.iter().filter(|o| !o.0 || o.1).count();
        if let Some(ep) = &mut self.open {
            if run.outcome == Outcome::Failed {
                ep.seen(at);
                ep.details["window_failures"] = json!(k);
                return;
            }
            let r = cfg.rate_resolve_runs.min(series.len());
            let tail = &series[series.len() - r..];
            let kr = tail.iter().filter(|o| o.1).count();
            let nr = tail.iter().filter(|o| !o.0 || o.1).count();
            if binomial_sf(kr as u32, nr as u32, p0) > 0.05 {
                let ep = self.open.take().expect("open").resolve(at);
                out.push(ep);
            }
            return;
        }
        if run.outcome != Outcome::Failed
            || k < cfg.rate_min_failures
            || n < cfg.rate_window_runs / 2
        {
            return;
        }
        let p = binomial_sf(k as u32, n as u32, p0);
        if p < cfg.rate_alpha {
            self.open = Some(Episode::open(
                AlertKind::FailureRateSpike,
                ctx.pipeline_id,
                at,
                Some(&run.run_id),
                format!(
                    "{} failed {k} of its last {n} runs (baseline failure rate {:.1}%)",
                    ctx.pipeline_id,
                    p0 * 100.0
                ),
                json!({
                    "window_runs": n,
                    "window_failures": k,
                    "baseline_rate": p0,
                    "baseline_runs": base_n,
                    "p_value": p,
                    "alpha": cfg.rate_alpha,
                    "signature": signature(run.error_type.as_deref(), run.error_message.as_deref()),
                }),
            ));
        }
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn failure_rate_spike_needs_a_significant_excess() {
        let cfg = DetectConfig::default();
        // One failure in 200 runs: not a spike.
        let mut p = "S".repeat(120);
        p.push('F');
        p.push_str(&"S".repeat(79));
        assert!(
            of(
                &detect(&hourly(&p), T0 + 100 * DAY, None, &cfg),
                AlertKind::FailureRateSpike
            )
            .is_empty()
        );
        // A flaky stretch: failures mixed with successes.
        let mut p = "S".repeat(100);
        p.push_str("SFSSFSFSSFSFSSFS");
        p.push_str(&"S".repeat(30));
        let runs = hourly(&p);
        let eps = of(
            &detect(&runs, T0 + 100 * DAY, None, &cfg),
            AlertKind::FailureRateSpike,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].started_at >= end(&runs[104]) && eps[0].started_at <= end(&runs[110]));
        assert!(eps[0].resolved_at.is_some());
        // A streak is consecutive_failures' business, not a rate.
        let mut p = "S".repeat(100);
        p.push_str("FFFFFF");
        p.push_str(&"S".repeat(10));
        let eps = detect(&hourly(&p), T0 + 100 * DAY, None, &cfg);
        assert!(of(&eps, AlertKind::FailureRateSpike).is_empty());
        assert_eq!(of(&eps, AlertKind::ConsecutiveFailures).len(), 1);
    }
}
