//! `failure_rate_spike`: a recent failure rate significantly above the pipeline's
//! own baseline rate.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::History;
use super::lifecycle::{Hysteresis, Lifecycle};
use super::signature::signature;
use super::stats::binomial_sf;
use crate::model::{AlertKind, Millis, Outcome, Run};
/// Outcome runs (success or failure) of the history plus `run`, oldest first, as
/// (start, failed, counted): failures that belong to a streak of `streak` or
/// more are not counted (a streak is `consecutive_failures`' business, not a
/// rate).
fn outcome_series(hist: &History, run: &Run, streak: usize) -> Vec<(Millis, bool, bool)> {
    let mut v: Vec<(Millis, bool)> = hist
        .runs()
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Success | Outcome::Failed))
        .map(|p| (p.start, p.outcome == Outcome::Failed))
        .collect();
    v.push((run.start_at, run.outcome == Outcome::Failed));
    let mut out: Vec<(Millis, bool, bool)> = v.iter().map(|&(t, f)| (t, f, f)).collect();
    let mut i = 0;
    while i < v.len() {
        if v[i].1 {
            let mut j = i;
            while j < v.len() && v[j].1 {
                j += 1;
            }
            if j - i >= streak {
                for o in &mut out[i..j] {
                    o.2 = false;
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Failures counted, and runs counted (streak failures are in neither).
fn tally(runs: &[(Millis, bool, bool)]) -> (usize, usize) {
    let k = runs.iter().filter(|o| o.2).count();
    let n = runs.iter().filter(|o| !o.1 || o.2).count();
    (k, n)
}

/// Binomial test of the recent window's failures against the pipeline's own
/// baseline rate, so a pipeline that fails 1 run in 200 does not alert on its
/// one failure, and a flaky stretch does. The baseline is a decayed count of
/// the runs that left the window (half-life `baseline_half_life`, with a Beta
/// prior), and it is frozen while an episode is open: runs of a flaky period
/// never enter it. An episode closes, with the hysteresis of every anomaly
/// kind, after `rate_resolve_runs / 2` runs in a row at which the last
/// `rate_resolve_runs` are no longer significant at 5 %, and a cool-down since
/// its last failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FailureRate {
    /// Decayed failures and runs of the baseline, and when they were decayed to.
    base_fail: f64,
    base_n: f64,
    base_at: Option<Millis>,
    /// Runs that started before this never enter the baseline (they were in the
    /// window of the last episode).
    absorb_from: Millis,
    life: Lifecycle,
}

impl FailureRate {
    fn hysteresis(ctx: &Ctx) -> Hysteresis {
        Hysteresis {
            quiet_runs: ctx.cfg.rate_resolve_runs.div_ceil(2),
            cooldown: ctx.cfg.anomaly_cooldown.ms(),
        }
    }

    fn absorb(&mut self, ctx: &Ctx, (t, failed, counted): (Millis, bool, bool)) {
        if t < self.absorb_from || (failed && !counted) {
            return;
        }
        if let Some(a) = self.base_at
            && t > a
        {
            let f = 0.5f64.powf((t - a) as f64 / ctx.cfg.baseline_half_life.ms() as f64);
            self.base_fail *= f;
            self.base_n *= f;
        }
        self.base_at = Some(self.base_at.map_or(t, |a| a.max(t)));
        self.base_n += 1.0;
        if failed {
            self.base_fail += 1.0;
        }
    }
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
        if !matches!(run.outcome, Outcome::Success | Outcome::Failed) {
            return;
        }
        let cfg = ctx.cfg;
        let hyst = Self::hysteresis(ctx);
        let at = end_of(run);
        if self.life.settle(at, hyst, out) {
            self.absorb_from = at;
        }
        let series = outcome_series(hist, run, cfg.failure_streak);
        let w = cfg.rate_window_runs.min(series.len());
        // The run that just left the window joins the baseline, unless an
        // episode is open (frozen) or it was inside the last episode's window.
        if series.len() > w && !self.life.is_open() {
            self.absorb(ctx, series[series.len() - w - 1]);
        }
        let p0 = (self.base_fail + cfg.rate_prior_rate * cfg.rate_prior_runs)
            / (self.base_n + cfg.rate_prior_runs);
        let (k, n) = tally(&series[series.len() - w..]);
        let failed = run.outcome == Outcome::Failed;
        if let Some(ep) = self.life.episode_mut() {
            if failed {
                ep.details["window_failures"] = json!(k);
            }
            let r = cfg.rate_resolve_runs.min(series.len());
            let (kr, nr) = tally(&series[series.len() - r..]);
            if binomial_sf(kr as u32, nr as u32, p0) > 0.05 {
                self.life.normal(at, hyst);
                if failed {
                    // Any failure keeps the flaky period alive: the cool-down
                    // runs from the last failure, not the last significant one.
                    self.life.touch(at);
                }
            } else if failed {
                self.life.anomalous(at, || unreachable!("episode is open"));
            }
            return;
        }
        if !failed || k < cfg.rate_min_failures || n < cfg.rate_window_runs / 2 {
            return;
        }
        let p = binomial_sf(k as u32, n as u32, p0);
        if p < cfg.rate_alpha {
            let base_n = self.base_n;
            self.life.anomalous(at, || {
                Episode::open(
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
                )
            });
        }
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        self.life.finish(now, Self::hysteresis(ctx), out);
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

    #[test]
    fn one_alert_per_flaky_period_and_no_leak_into_the_baseline() {
        let cfg = DetectConfig::default();
        // Behaviour 1: hourly job; a flaky period with a quiet stretch of 8 runs
        // inside it is one alert, not two.
        let mut p = "S".repeat(150);
        p.push_str("SFSFFSFSSFSF");
        p.push_str("SSSSSSSS");
        p.push_str("FSFSFFSFSF");
        p.push_str(&"S".repeat(40));
        let runs = hourly(&p);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::FailureRateSpike,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].occurrences >= 8, "{eps:?}");
        assert!(eps[0].resolved_at.is_some());
        // Its failures never entered the baseline: a second flaky period two
        // days later is judged against the clean rate and found as quickly as
        // the first (by its 6th failure, alerts.md Timeliness).
        let mut p2 = p.clone();
        p2.push_str("SFSFFSFSSFSF");
        p2.push_str(&"S".repeat(20));
        let runs = hourly(&p2);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::FailureRateSpike,
        );
        assert_eq!(eps.len(), 2, "{eps:?}");
        let start = p.len();
        let sixth = (start..p2.len())
            .filter(|&i| &p2[i..i + 1] == "F")
            .nth(5)
            .unwrap();
        assert!(eps[1].started_at <= end(&runs[sixth]), "{eps:?}");
        assert!(eps[1].details["baseline_rate"].as_f64().unwrap() < 0.02);
    }

    #[test]
    fn a_long_modest_flaky_period_is_one_alert() {
        let cfg = DetectConfig {
            anomaly_cooldown: crate::detect::Dur::hours(12),
            ..DetectConfig::default()
        };
        // A dense flaky stretch, then 40 h in which failures come every 10 runs
        // (the last 10 runs are never significant on their own, but the
        // period goes on: each failure restarts the 12 h cool-down), then dense
        // again: one flaky period, one alert.
        let mut p = "S".repeat(150);
        p.push_str("SFSFFSFSSF");
        for _ in 0..4 {
            p.push_str("SSSSSSSSSF");
        }
        p.push_str("SFSFFSFSSF");
        p.push_str(&"S".repeat(40));
        let runs = hourly(&p);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::FailureRateSpike,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
    }
}
