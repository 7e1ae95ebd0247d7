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
/// kind, after a cool-down since its last failure and a run of successes long
/// enough that the flaky period's own failure rate would have broken it with
/// probability `RESOLVE_CONFIDENCE` (at least `rate_resolve_runs` successes,
/// at most twice the window): a 20 % flaky period needs 21 successes in a
/// row, a 50 % one 10. A quiet stretch that a flaky period produces by chance
/// is not its end.
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
    /// Failures and outcome runs of the open episode, from the window that
    /// opened it to its last failure: the flaky period's own rate.
    #[serde(default)]
    ep_fail: f64,
    #[serde(default)]
    ep_runs: f64,
}

/// How sure a run of successes must make us that a flaky period is over.
const RESOLVE_CONFIDENCE: f64 = 0.99;

/// Successes in a row that a period failing at `rate` would break with
/// probability `RESOLVE_CONFIDENCE`, within [`floor`, `cap`].
fn quiet_streak(rate: f64, floor: usize, cap: usize) -> usize {
    if !(rate > 0.0 && rate < 1.0) {
        return floor;
    }
    let l = ((1.0 - RESOLVE_CONFIDENCE).ln() / (1.0 - rate).ln()).ceil();
    (l as usize).clamp(floor, cap.max(floor))
}

impl FailureRate {
    fn hysteresis(&self, ctx: &Ctx) -> Hysteresis {
        let floor = ctx.cfg.rate_resolve_runs;
        let rate = if self.ep_runs > 0.0 {
            self.ep_fail / self.ep_runs
        } else {
            0.0
        };
        Hysteresis {
            quiet_runs: quiet_streak(rate, floor, 2 * ctx.cfg.rate_window_runs),
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
        let hyst = self.hysteresis(ctx);
        let at = end_of(run);
        if self.life.settle(at, hyst, out) {
            self.absorb_from = at;
        }
        let series = outcome_series(hist, run, cfg.failure_streak);
        let w = cfg.rate_window_runs.min(series.len());
        // The windows tested: `rate_window_runs`, and twice that for a sparse
        // flaky period (six failures spread over 30 runs).
        let long = (2 * cfg.rate_window_runs).min(series.len());
        // The run that just left the long window joins the baseline, unless an
        // episode is open (frozen) or it was inside the last episode's window:
        // no run under test is part of what it is tested against.
        if series.len() > long && !self.life.is_open() {
            self.absorb(ctx, series[series.len() - long - 1]);
        }
        let p0 = (self.base_fail + cfg.rate_prior_rate * cfg.rate_prior_runs)
            / (self.base_n + cfg.rate_prior_runs);
        let (k, n) = tally(&series[series.len() - w..]);
        let failed = run.outcome == Outcome::Failed;
        if let Some(ep) = self.life.episode_mut() {
            if failed {
                ep.details["window_failures"] = json!(k);
            }
            if failed {
                // Any failure keeps the flaky period alive: the cool-down and
                // the run of successes start again from it.
                self.ep_fail += 1.0;
                // The successes since its last failure, and this failure.
                self.ep_runs += self.life.quiet() as f64 + 1.0;
                self.life.anomalous(at, || unreachable!("episode is open"));
                return;
            }
            self.life.normal(at, hyst);
            return;
        }
        if !failed || k < cfg.rate_min_failures || n < cfg.rate_window_runs / 2 {
            return;
        }
        // Each window at half the alpha (Bonferroni).
        let (k2, n2) = tally(&series[series.len() - long..]);
        let (k, n, p) = [(k, n), (k2, n2)]
            .into_iter()
            .map(|(k, n)| (k, n, binomial_sf(k as u32, n as u32, p0)))
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .expect("two windows");
        if p < cfg.rate_alpha / 2.0 {
            // The period's rate starts as the window's: counting from its
            // first failure would favour the cluster that made it significant.
            self.ep_fail = k as f64;
            self.ep_runs = n as f64;
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
        self.life.finish(now, self.hysteresis(ctx), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    /// Hourly runs of `pattern` and their `failure_rate_spike` episodes as of
    /// the last run's end.
    fn spikes(pattern: &str, cfg: &DetectConfig) -> (Vec<Run>, Vec<Episode>) {
        let runs = hourly(pattern);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, cfg),
            AlertKind::FailureRateSpike,
        );
        (runs, eps)
    }

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
        let (_, eps) = spikes(&p, &cfg);
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].occurrences >= 8, "{eps:?}");
        assert!(eps[0].resolved_at.is_some());
        // Its failures never entered the baseline: a second flaky period two
        // days later is judged against the clean rate and found as quickly as
        // the first (by its 6th failure, alerts.md Timeliness).
        let mut p2 = p.clone();
        p2.push_str("SFSFFSFSSFSF");
        p2.push_str(&"S".repeat(20));
        let (runs, eps) = spikes(&p2, &cfg);
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
        let (_, eps) = spikes(&p, &cfg);
        assert_eq!(eps.len(), 1, "{eps:?}");
    }

    #[test]
    fn a_quiet_stretch_that_a_flaky_period_produces_by_chance_does_not_end_it() {
        let cfg = DetectConfig::default();
        // Behaviour 1: hourly job failing about one run in five; 14 successes in
        // a row inside the period (well past the 6 h cool-down) happen by chance
        // at that rate (0.8^14 ≈ 4 %): one flaky period, one alert.
        let mut p = "S".repeat(150);
        for _ in 0..6 {
            p.push_str("SSSSF");
        }
        p.push_str(&"S".repeat(14));
        for _ in 0..6 {
            p.push_str("SSSFS");
        }
        p.push_str(&"S".repeat(60));
        let (runs, eps) = spikes(&p, &cfg);
        assert_eq!(eps.len(), 1, "{eps:?}");
        // It ends after the run of successes that the period's own rate (about
        // one in six) would break with 99 % probability (about 25 runs), not at
        // the first quiet hours, and not much later.
        let last_f = p.rfind('F').unwrap();
        let resolved = eps[0].resolved_at.expect("resolved");
        assert!(resolved >= end(&runs[last_f + 15]), "{eps:?}");
        assert!(resolved <= end(&runs[last_f + 41]), "{eps:?}");
    }

    #[test]
    fn a_sparse_flaky_period_is_found_by_its_sixth_failure() {
        let cfg = DetectConfig::default();
        // One failure in seven runs against a clean history: the 20-run window
        // never holds more than three of them, the 40-run window holds all six.
        let mut p = "S".repeat(150);
        for _ in 0..8 {
            p.push_str("SSSSSSF");
        }
        p.push_str(&"S".repeat(60));
        let (runs, eps) = spikes(&p, &cfg);
        assert_eq!(eps.len(), 1, "{eps:?}");
        let sixth = (150..p.len())
            .filter(|&i| &p[i..i + 1] == "F")
            .nth(5)
            .unwrap();
        assert!(eps[0].started_at <= end(&runs[sixth]), "{eps:?}");
    }
}
