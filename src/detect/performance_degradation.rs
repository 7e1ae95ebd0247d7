//! `performance_degradation`: a sustained upward shift of a pipeline's durations.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::{History, log_duration};
use super::stats::robust_location;
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::format_duration;
/// A sustained upward shift of log durations, found by a one-sided CUSUM against
/// a baseline frozen while evidence accumulates (refreshed only when the CUSUM is
/// at rest, so a gradual drift cannot drag its own reference along). Opens at the
/// run where the CUSUM crosses `h` and the recent median is materially above the
/// baseline; resolves when the recent median is back near it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Degradation {
    reference: Option<(f64, f64)>,
    /// Hour-of-day (0-23) then day-of-week (24-30) offsets of log duration,
    /// frozen with the reference: the CUSUM sees deseasonalised durations.
    offsets: Vec<f64>,
    /// Successful runs since the offsets were last estimated.
    since_offsets: u32,
    cusum: f64,
    /// Runs since the CUSUM last rested at 0.
    accumulating: u32,
    /// The first run's start: degradation is judged once a day of history exists
    /// (so hour-of-day offsets are known).
    first_start: Option<Millis>,
    recent: Vec<f64>,
    open: Option<Episode>,
}

/// Runs between re-estimates of the seasonal offsets (they move slowly).
const OFFSETS_EVERY: u32 = 24;
/// Runs a slot needs before its offset is estimated (a median of fewer is noise).
const OFFSET_SLOT_MIN_RUNS: usize = 4;

/// Seasonal offsets of log duration from the hour and weekday slots: each slot's
/// median minus the median of all slots; 0 where a slot holds too few runs. The
/// weekday slots of a job that runs more than twice a day hold only that day's
/// last few hours (an hour-of-day effect, not a weekday one), so such jobs get no
/// weekday offsets.
fn seasonal_offsets(hist: &History, min_runs: usize) -> Vec<f64> {
    let mut out = vec![0.0; 31];
    let starts: Vec<f64> = hist.runs().iter().map(|p| p.start as f64).collect();
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let sub_daily = super::stats::median(&gaps).is_none_or(|g| g < 12.0 * 3_600_000.0);
    for (base, n, get) in [
        (
            0usize,
            24usize,
            History::hour_values as fn(&History, usize, bool) -> Vec<f64>,
        ),
        (24, 7, History::weekday_values),
    ] {
        if base == 24 && sub_daily {
            continue;
        }
        let slots: Vec<Vec<f64>> = (0..n).map(|i| get(hist, i, false)).collect();
        let pooled: Vec<f64> = slots.iter().flatten().copied().collect();
        let Some(m) = super::stats::median(&pooled) else {
            continue;
        };
        for (i, v) in slots.iter().enumerate() {
            if v.len() >= min_runs {
                out[base + i] = super::stats::median(v).unwrap_or(m) - m;
            }
        }
    }
    out
}

impl Degradation {
    fn offset(&self, t: Millis) -> f64 {
        if self.offsets.len() != 31 {
            return 0.0;
        }
        let (h, d) = super::history::slots(t);
        self.offsets[h] + self.offsets[24 + d]
    }
}

impl Detector for Degradation {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let cfg = ctx.cfg;
        let first = *self.first_start.get_or_insert(run.start_at);
        if run.outcome != Outcome::Success
            || notes.stuck
            || run.start_at - first < cfg.degradation_min_span.ms()
        {
            notes.degraded = self.open.is_some();
            return;
        }
        let Some(d) = run.duration_ms else {
            notes.degraded = self.open.is_some();
            return;
        };
        let at = end_of(run);
        let at_rest = self.reference.is_none() || self.cusum == 0.0 && self.open.is_none();
        if at_rest {
            if self.offsets.is_empty() || self.since_offsets >= OFFSETS_EVERY {
                self.offsets = seasonal_offsets(hist, OFFSET_SLOT_MIN_RUNS);
                self.since_offsets = 0;
            }
            let base: Vec<f64> = hist
                .runs()
                .iter()
                .rev()
                .filter_map(|p| p.log_duration().map(|x| x - self.offset(p.start)))
                .take(cfg.degradation_baseline_runs)
                .collect();
            if base.len() >= cfg.anomaly_min_history {
                self.reference = robust_location(&base, MIN_LOG_SD);
            }
        }
        self.since_offsets += 1;
        let x = log_duration(d) - self.offset(run.start_at);
        let Some((mu, sd)) = self.reference else {
            notes.degraded = false;
            return;
        };
        self.recent.push(x);
        let keep = cfg.degradation_recent_runs.max(1);
        if self.recent.len() > keep {
            self.recent.remove(0);
        }
        let recent_median = super::stats::median(&self.recent).unwrap_or(x);
        if let Some(ep) = &mut self.open {
            // Back near the baseline: the recent median within half a step of it
            // (and within max(1 sd, 10 %)), once enough post-shift runs are in.
            let shift = ep.details["shift_log"].as_f64().unwrap_or(0.0);
            let near = (0.5 * shift).max(sd).max(0.1_f64.ln_1p());
            if self.recent.len() >= keep && recent_median <= mu + near {
                let mut ep = self.open.take().expect("open").resolve(at);
                ep.details["recovered_median_ms"] =
                    json!((recent_median.exp() * 1000.0).round() as i64);
                out.push(ep);
                self.cusum = 0.0;
                self.recent.clear();
                self.reference = None;
            } else {
                ep.seen(at);
                ep.details["recent_median_ms"] =
                    json!((recent_median.exp() * 1000.0).round() as i64);
            }
            notes.degraded = self.open.is_some();
            return;
        }
        let z = (x - mu) / sd;
        self.cusum = (self.cusum + z - cfg.degradation_k).max(0.0);
        // Evidence that builds up over more than a baseline window without crossing
        // is a slow change of level (a weekday-and-hour swell on a frequent job),
        // not the step or drift of a few percent per run this detector is for:
        // re-baseline rather than alarm on it.
        self.accumulating = if self.cusum > 0.0 {
            self.accumulating + 1
        } else {
            0
        };
        if self.accumulating as usize > cfg.degradation_baseline_runs
            && self.cusum <= cfg.degradation_h
        {
            self.cusum = 0.0;
            self.accumulating = 0;
            notes.degraded = false;
            return;
        }
        if self.cusum > cfg.degradation_h {
            let base_ms = mu.exp() * 1000.0;
            let now_ms = recent_median.exp() * 1000.0;
            if now_ms >= base_ms * cfg.degradation_min_ratio
                && now_ms - base_ms >= cfg.degradation_min_excess.ms() as f64
            {
                self.open = Some(Episode::open(
                    AlertKind::PerformanceDegradation,
                    ctx.pipeline_id,
                    at,
                    Some(&run.run_id),
                    format!(
                        "{} runs slowed from about {} to {}",
                        ctx.pipeline_id,
                        format_duration(base_ms as i64),
                        format_duration(now_ms as i64)
                    ),
                    json!({
                        "baseline_median_ms": base_ms.round() as i64,
                        "baseline_log_sd": sd,
                        "recent_median_ms": now_ms.round() as i64,
                        "ratio": now_ms / base_ms,
                        "score": self.cusum,
                        "threshold": cfg.degradation_h,
                        "method": "cusum",
                        "shift_log": recent_median - mu,
                    }),
                ));
            } else {
                // Statistically shifted but too small to matter: stay alert
                // without letting the sum run away.
                self.cusum = cfg.degradation_h;
            }
        }
        notes.degraded = self.open.is_some();
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
    fn degradation_on_steps_and_drifts_not_noise() {
        let cfg = DetectConfig::default();
        // Step: 5 min → 9 min (below the stuck threshold), then back.
        let mut d = noisy(40, 300_000.0, 0);
        d.extend(noisy(20, 540_000.0, 100));
        d.extend(noisy(20, 300_000.0, 200));
        let runs = with_durations(&d, 2 * HOUR);
        let eps = of(
            &detect(&runs, T0 + 100 * DAY, None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let at = eps[0].started_at;
        assert!(
            at >= end(&runs[41]) && at <= end(&runs[48]),
            "step found late"
        );
        let resolved = eps[0].resolved_at.unwrap();
        assert!(resolved >= end(&runs[60]) && resolved <= end(&runs[66]));
        // Drift: +3 % per run from run 40.
        let d: Vec<i64> = (0..90)
            .map(|i| {
                let f = if i < 40 {
                    1.0
                } else {
                    1.03f64.powi(i as i32 - 40)
                };
                (300_000.0 * f * (1.0 + 0.1 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, 2 * HOUR);
        let eps = of(
            &detect(&runs, T0 + 100 * DAY, None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1);
        assert!(eps[0].started_at <= end(&runs[70]));
        // Noise only.
        let runs = with_durations(&noisy(200, 300_000.0, 0), 2 * HOUR);
        let eps = detect(&runs, end(&runs[199]), None, &cfg);
        assert!(eps.is_empty(), "{eps:?}");
    }
}
