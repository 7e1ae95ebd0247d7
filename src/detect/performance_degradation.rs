//! `performance_degradation`: a sustained upward shift of a pipeline's durations.
//!
//! Each successful run's log duration is standardised against the seasonal
//! expectation (`expected`, given volume where durations follow it), clipped
//! at `CLIP_Z` so one heavy-tailed outlier cannot make a shift, scaled down by
//! how much more neighbouring runs wander together than independent ones
//! (`Blocks`), and fed to a one-sided CUSUM. Its decision limit comes from the false-alarm budget: the
//! in-control average run length (Siegmund's approximation) equals the
//! pipeline's runs per budgeted false alarm. While evidence accumulates the
//! reference is frozen (the suspect runs are held back, and absorbed only if
//! the CUSUM returns to rest), so a shift cannot drag its own baseline along.
//! A crossing opens an episode when the level the suspect runs have reached
//! (the Hodges-Lehmann location of their latest runs, or where their trend
//! line ends while they keep rising) is also materially slower (`degradation_min_ratio`,
//! `degradation_min_excess`), against the full expectation and against its
//! level, hour and weekday effects alone (a noisy week's hour-of-week cell is
//! no slowdown); it closes when the median of the last
//! `degradation_recent_runs` is back near the reference, with the hysteresis
//! every anomaly kind shares.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::{end_of, judged_duration};
use super::episode::{Ctx, Detector, Episode, Notes};
use super::expected::{Seasonal, Slope};
use super::history::{History, log_duration, log_records};
use super::lifecycle::{Hysteresis, Lifecycle};
use super::stats::{hodges_lehmann, mann_kendall_z, median, theil_sen};
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::format_duration;

/// Standardised residuals are clipped here before they enter the CUSUM.
const CLIP_Z: f64 = 3.0;

/// How many times the spread gate a pipeline younger than
/// `degradation_min_span` must pass: its spread rests on days, not weeks, and
/// part of its rhythm is still unseen. Chosen on training seeds 1001-1200
/// (errors 66 at 2, 59 at 1.75, 61 at 1.5; at 1 false alarms went 24 -> 124).
const YOUNG_SPREADS: f64 = 1.75;

/// How strongly the suspect runs must keep rising (Mann-Kendall z) before
/// the end of their trend line, not the window's median, is taken as the
/// level they have reached.
const TREND_Z: f64 = 3.0;
/// The trend is read from at most this many of the latest suspect runs: a
/// small shift held above the limit can keep its runs for long, and the
/// statistics cost the square of their number.
const TREND_MAX_RUNS: usize = 60;

/// The level (log residual) the suspect runs `held` have reached, judged on
/// their last `window`: its Hodges-Lehmann location (the median of its
/// pairwise averages: read from ten runs it wanders less than their median,
/// and one wild run cannot carry it), or, while they keep rising (a drift, whose
/// window location lags it by half a window), the end of their robust
/// trend line, at most the window's slowest run. Ranks and pairwise slopes,
/// not sizes, decide, so one heavy-tailed run makes no trend.
fn reached(held: &[f64], window: &[f64]) -> Option<f64> {
    let med = hodges_lehmann(window)?;
    if mann_kendall_z(held) < TREND_Z {
        return Some(med);
    }
    let Some((slope, intercept)) = theil_sen(held).filter(|(b, _)| *b > 0.0) else {
        return Some(med);
    };
    let end = intercept + slope * (held.len() - 1) as f64;
    let top = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(med.max(end.min(top)))
}

/// Runs per block, forgetting per block, and prior weight (in blocks of
/// independent runs) of the variance-inflation estimate (`Blocks`).
const BLOCK_RUNS: u32 = 10;
const BLOCK_FORGET: f64 = 0.95;
const BLOCK_PRIOR: f64 = 3.0;
/// The most the inflation may widen the CUSUM's increments (as a variance).
const MAX_INFLATION: f64 = 4.0;

/// How much more a run of consecutive in-control residuals wanders than
/// independent ones would: real pipelines have good and bad days and hours
/// (a day's data is larger, a shared cluster is busier for an afternoon), so
/// neighbouring residuals share part of their error, and a CUSUM calibrated
/// for independent increments crosses on an ordinary slow afternoon. Over
/// blocks of `BLOCK_RUNS` absorbed runs, the inflation is
/// E[(Σz)² / m] / E[Σz² / m]: 1 for independent residuals, up to m when a
/// whole block moves together. Decayed per block, pooled with
/// `BLOCK_PRIOR` blocks of independent runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Blocks {
    sum: f64,
    sq: f64,
    n: u32,
    between: f64,
    within: f64,
}

impl Blocks {
    fn absorb(&mut self, z: f64) {
        self.sum += z;
        self.sq += z * z;
        self.n += 1;
        if self.n == BLOCK_RUNS {
            let m = BLOCK_RUNS as f64;
            self.between = self.between * BLOCK_FORGET + self.sum * self.sum / m;
            self.within = self.within * BLOCK_FORGET + self.sq / m;
            (self.sum, self.sq, self.n) = (0.0, 0.0, 0);
        }
    }

    /// The variance inflation of the CUSUM's increments (≥ 1).
    fn inflation(&self) -> f64 {
        ((self.between + BLOCK_PRIOR) / (self.within + BLOCK_PRIOR)).clamp(1.0, MAX_INFLATION)
    }
}

/// A suspect run held back from the reference while the CUSUM is above rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Held {
    t: Millis,
    x: f64,
    v: Option<f64>,
    residual: f64,
    /// The residual against the level, hour and weekday effects alone (None
    /// in a checkpoint written before it was kept: the residual stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    main: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Degradation {
    first_start: Option<Millis>,
    dur: Seasonal,
    vol: Seasonal,
    slope: Slope,
    cusum: f64,
    held: Vec<Held>,
    /// Residuals of the latest runs while an episode is open.
    recent: VecDeque<f64>,
    #[serde(default)]
    blocks: Blocks,
    life: Lifecycle,
}

/// Siegmund's approximation of a one-sided CUSUM's in-control average run
/// length for slack `k` and limit `h` (standard normal increments).
fn arl0(k: f64, h: f64) -> f64 {
    let b = h + 1.166;
    if k < 1e-6 {
        return b * b;
    }
    let a = 2.0 * k * b;
    (a.exp() - a - 1.0) / (2.0 * k * k)
}

/// The CUSUM limit whose in-control run length is `runs`.
pub fn cusum_limit(k: f64, runs: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 200.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if arl0(k, mid) < runs {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

impl Degradation {
    fn hysteresis(ctx: &Ctx) -> Hysteresis {
        Hysteresis {
            quiet_runs: ctx.cfg.degradation_recent_runs.div_ceil(2),
            cooldown: ctx.cfg.anomaly_cooldown.ms(),
        }
    }

    fn absorb(&mut self, ctx: &Ctx, h: Held) {
        let cfg = ctx.cfg;
        let e = self.dur.expect(cfg, h.t);
        if let Some(e) = e
            && self.dur.runs() as usize >= cfg.anomaly_min_history
        {
            self.blocks
                .absorb((h.residual / e.sd).clamp(-CLIP_Z, CLIP_Z));
        }
        if let (Some(v), Some(e), Some(ev)) = (h.v, e, h.v.and_then(|_| self.vol.expect(cfg, h.t)))
        {
            self.slope.absorb(
                h.t,
                cfg.baseline_half_life.ms(),
                v - ev.mean,
                ev.sd,
                h.x - e.mean,
                e.sd,
            );
        }
        self.dur.absorb(cfg, h.t, h.x, Some(h.residual));
        if let Some(v) = h.v {
            self.vol.absorb(cfg, h.t, v, None);
        }
    }

    fn release_held(&mut self, ctx: &Ctx) {
        for h in std::mem::take(&mut self.held) {
            self.absorb(ctx, h);
        }
    }
}

impl Detector for Degradation {
    fn observe(
        &mut self,
        ctx: &Ctx,
        _hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let cfg = ctx.cfg;
        let first = *self.first_start.get_or_insert(run.start_at);
        let d = judged_duration(run);
        if run.outcome != Outcome::Success || notes.stuck || d.is_none() {
            notes.degraded = self.life.is_open();
            return;
        }
        let d = d.expect("checked");
        let at = end_of(run);
        let hyst = Self::hysteresis(ctx);
        if self.life.settle(at, hyst, out) {
            self.recent.clear();
            self.cusum = 0.0;
        }
        if let Some(ep) = self.life.episode_mut()
            && at - ep.started_at > cfg.baseline_half_life.ms()
        {
            // Slower for longer than the baseline remembers: the new level is
            // the baseline now.
            self.life.close(at, out);
            *self = Degradation {
                first_start: Some(run.start_at),
                ..Degradation::default()
            };
        }
        let t = run.start_at;
        let x = log_duration(d);
        let v = run.records_processed.map(log_records);
        let Some(e) = self.dur.expect(cfg, t) else {
            self.absorb(
                ctx,
                Held {
                    t,
                    x,
                    v,
                    residual: 0.0,
                    main: Some(0.0),
                },
            );
            notes.degraded = false;
            return;
        };
        let adjust = v
            .and_then(|v| {
                self.vol
                    .expect(cfg, t)
                    .map(|ev| self.slope.adjustment(v, &ev))
            })
            .unwrap_or(0.0);
        let residual = x - e.mean - adjust;
        let main = x - self.dur.main_level(cfg, t).unwrap_or(e.mean) - adjust;
        let held = Held {
            t,
            x,
            v,
            residual,
            main: Some(main),
        };
        let limit_now = |d: &Self| {
            cusum_limit(
                cfg.degradation_k,
                d.dur.runs_per_month() / cfg.false_alarms_per_month,
            )
        };
        // A week of history covers the weekly rhythm. Younger (from two days)
        // a run is judged on a weekday the pipeline has already been seen on,
        // with the slots not yet pinned down widening the reference. A run on
        // an unseen weekday is absorbed to learn that weekday, unless a shift
        // is open, or has crossed the limit on seen days and only waits for
        // its full window of runs: then it is one of the shift's runs, and
        // absorbing it would teach the young model a slow weekday instead.
        let age = run.start_at - first;
        let young = age < cfg.degradation_min_span.ms();
        // (The limit is solved only when there is a sum to hold against it.)
        let established = |d: &Self| {
            d.life.is_open()
                || (d.held.len() < cfg.degradation_recent_runs
                    && d.cusum > 0.0
                    && d.cusum > limit_now(d))
        };
        let judged = self.dur.runs() as usize >= cfg.anomaly_min_history
            && (age >= cfg.degradation_min_span.ms()
                || (age >= cfg.degradation_young_span.ms()
                    && (established(self)
                        || self.dur.weekday_weight(cfg, t) >= cfg.seasonal_prior_runs)));
        if !judged {
            self.absorb(ctx, held);
            notes.degraded = false;
            return;
        }
        let base_ms = (e.mean + adjust).exp() * 1000.0;
        if let Some(ep) = self.life.episode_mut() {
            let keep = cfg.degradation_recent_runs;
            self.recent.push_back(residual);
            while self.recent.len() > keep {
                self.recent.pop_front();
            }
            let med = median(self.recent.make_contiguous()).unwrap_or(residual);
            let shift = ep.details["shift_log"].as_f64().unwrap_or(0.0);
            let near = (0.5 * shift).max(e.sd).max(0.1_f64.ln_1p());
            ep.details["recent_median_ms"] =
                json!(((e.mean + adjust + med).exp() * 1000.0).round() as i64);
            if self.recent.len() >= keep && med <= near {
                self.life.normal(at, hyst);
            } else {
                self.life.anomalous(at, || unreachable!("episode is open"));
            }
            notes.degraded = true;
            return;
        }
        // Slots the history has not pinned down (a young pipeline's first
        // Monday) widen the reference, so the rhythm is not taken for a shift.
        let sd = (e.sd * e.sd + self.dur.slot_variance(cfg, t)).sqrt();
        // Neighbouring runs that share a slow day count as less evidence.
        let z = (residual / sd).clamp(-CLIP_Z, CLIP_Z) / self.blocks.inflation().sqrt();
        self.cusum = (self.cusum + z - cfg.degradation_k).max(0.0);
        if self.cusum == 0.0 {
            self.release_held(ctx);
            self.absorb(ctx, held);
            notes.degraded = false;
            return;
        }
        self.held.push(held);
        let limit = limit_now(self);
        if self.cusum <= limit {
            if self.held.len() > cfg.degradation_baseline_runs {
                // Evidence gathered over more than the allowed runs without
                // crossing: a slow change of level, which the baseline learns.
                self.cusum = 0.0;
                self.release_held(ctx);
            }
            notes.degraded = false;
            return;
        }
        if self.held.len() < cfg.degradation_recent_runs {
            // "Shifted and stayed": not before a full recent window of runs
            // has been slower, however large the first few.
            notes.degraded = false;
            return;
        }
        let n = cfg.degradation_recent_runs.max(1);
        let tail: Vec<f64> = self.held[self.held.len() - n..]
            .iter()
            .map(|h| h.residual)
            .collect();
        let held: Vec<f64> = self.held[self.held.len().saturating_sub(TREND_MAX_RUNS)..]
            .iter()
            .map(|h| h.residual)
            .collect();
        let shift = reached(&held, &tail).unwrap_or(residual);
        let now_ms = base_ms * shift.exp();
        // The hour-of-week cells are learned from few runs each: the shift
        // must also stand against the level, hour and weekday effects alone,
        // so one cell that a noisy week set low is not taken for a slowdown.
        let main_held: Vec<f64> = self.held[self.held.len().saturating_sub(TREND_MAX_RUNS)..]
            .iter()
            .map(|h| h.main.unwrap_or(h.residual))
            .collect();
        let main_tail = &main_held[main_held.len().saturating_sub(n)..];
        let shift_main = reached(&main_held, main_tail).unwrap_or(shift);
        let gated = shift.min(shift_main);
        if gated.exp() >= cfg.degradation_min_ratio
            && gated >= cfg.degradation_min_spreads * sd * if young { YOUNG_SPREADS } else { 1.0 }
            && now_ms - base_ms >= cfg.degradation_min_excess.ms() as f64
        {
            let score = self.cusum;
            self.life.anomalous(at, || {
                Episode::open(
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
                        "baseline_log_sd": e.sd,
                        "judged_log_sd": sd,
                        "recent_median_ms": now_ms.round() as i64,
                        "ratio": now_ms / base_ms,
                        "score": score,
                        "threshold": limit,
                        "method": "cusum",
                        "shift_log": shift,
                        "shift_log_main_effects": shift_main,
                        "degraded_runs": self.held.len(),
                    }),
                )
            });
            // The suspect runs belong to the episode: they never enter the
            // baseline, and the other detectors hear where they began.
            notes.degraded_since = self.held.first().map(|h| h.t);
            self.held.clear();
            self.recent = tail.into();
        } else {
            // Statistically shifted but too small to matter: stay alert
            // without letting the sum run away.
            self.cusum = limit;
        }
        notes.degraded = self.life.is_open();
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        self.life.finish(now, Self::hysteresis(ctx), out);
    }
}

impl Degradation {
    /// The seasonal models, for the checkpoint's binary part.
    pub fn models(&self) -> [&Seasonal; 2] {
        [&self.dur, &self.vol]
    }

    pub fn models_mut(&mut self) -> [&mut Seasonal; 2] {
        [&mut self.dur, &mut self.vol]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn cusum_limit_inverts_the_run_length() {
        for (k, runs) in [(0.5, 100.0), (0.5, 2000.0), (0.25, 500.0), (0.0, 50.0)] {
            let h = cusum_limit(k, runs);
            assert!(
                (arl0(k, h) / runs - 1.0).abs() < 1e-6,
                "k={k} runs={runs} h={h}"
            );
        }
        // Siegmund: k = 0.5, h = 4 gives an in-control ARL of about 336.
        assert!((arl0(0.5, 4.0) - 336.0).abs() < 5.0);
        // More runs per false alarm, a higher limit.
        assert!(cusum_limit(0.5, 5000.0) > cusum_limit(0.5, 500.0));
    }

    #[test]
    fn degradation_on_steps_and_drifts_not_noise() {
        let cfg = DetectConfig::default();
        // Step: 5 min → 9 min (below the stuck threshold) after 10 days of runs
        // every 2 h, then back.
        let mut d = noisy(120, 300_000.0, 0);
        d.extend(noisy(20, 540_000.0, 300));
        d.extend(noisy(20, 300_000.0, 400));
        let runs = with_durations(&d, 2 * HOUR);
        let eps = of(
            &detect(&runs, end(&runs[159]) + DAY, None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let at = eps[0].started_at;
        // Established by the 12th degraded run (alerts.md Timeliness).
        assert!(
            at >= end(&runs[120]) && at <= end(&runs[131]),
            "step found late"
        );
        let resolved = eps[0].resolved_at.unwrap();
        assert!(resolved >= end(&runs[140]) && resolved <= end(&runs[150]) + DAY);
        // Drift: +3 % per run from run 120.
        let d: Vec<i64> = (0..180)
            .map(|i| {
                let f = if i < 120 {
                    1.0
                } else {
                    1.03f64.powi(i as i32 - 120)
                };
                (300_000.0 * f * (1.0 + 0.1 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, 2 * HOUR);
        let eps = of(
            &detect(&runs, end(&runs[179]), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1);
        assert!(eps[0].started_at <= end(&runs[150]));
        // Noise only.
        let runs = with_durations(&noisy(400, 300_000.0, 0), 2 * HOUR);
        let eps = detect(&runs, end(&runs[399]), None, &cfg);
        assert!(eps.is_empty(), "{eps:?}");
    }

    /// A 5-minute job run every 10 minutes, with ±50 % (log) noise of its
    /// own and a level that moves ±`hour` (log) from one hour to the next (a
    /// shared cluster busier for a while); `step` multiplies every run from
    /// run `from` on.
    fn busy_and_quiet_hours(n: usize, hour: f64, from: usize, step: f64) -> Vec<Run> {
        let d: Vec<i64> = (0..n)
            .map(|i| {
                let level = hour * hnoise(i / 6, 9);
                let f = if i >= from { step } else { 1.0 };
                (300_000.0 * f * (level + 0.5 * hnoise(i, 4)).exp()) as i64
            })
            .collect();
        with_durations(&d, 10 * 60_000)
    }

    /// A 5-minute job of 30 s (±0.4 on the log scale) for three weeks from a
    /// Monday; on the second Thursday from 15:00 to 17:00 it ran at half its
    /// usual duration (a one-off quiet afternoon); from run `step_at` every run
    /// takes `step` times as long.
    fn quiet_thursday_once(step_at: usize, step: f64) -> Vec<Run> {
        let every = 5 * MIN;
        let d: Vec<i64> = (0..21 * 288)
            .map(|i| {
                let t = i as i64 * every;
                let (day, hour) = (t / DAY, (t % DAY) / HOUR);
                let quiet = day == 10 && (15..17).contains(&hour);
                let f = if quiet { 0.5 } else { 1.0 } * if i >= step_at { step } else { 1.0 };
                (30_000.0 * f * (0.4 * hnoise(i, 21)).exp()) as i64
            })
            .collect();
        with_durations(&d, every)
    }

    #[test]
    fn a_cell_that_one_quiet_week_set_low_is_not_a_shift() {
        // Behaviour 8: the Thursday 15:00-17:00 cells learned one week of
        // half-length runs, trusted at three quarters; the next Thursday's
        // ordinary runs there are not a slowdown, because against the level,
        // hour and weekday effects they are not slow at all.
        let cfg = DetectConfig::default();
        let runs = quiet_thursday_once(usize::MAX, 1.0);
        let now = end(runs.last().unwrap());
        let eps = of(
            &detect(&runs, now, None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert!(eps.is_empty(), "{eps:?}");
        // A real tripling in that same afternoon is still found, by its 12th run.
        let step_at = 17 * 288 + 15 * 12;
        let runs = quiet_thursday_once(step_at, 3.0);
        let eps = of(
            &detect(&runs, now, None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].started_at <= end(&runs[step_at + 11]), "{eps:?}");
        let main = eps[0].details["shift_log_main_effects"].as_f64().unwrap();
        assert!(main > 0.8, "{main}");
    }

    #[test]
    fn busy_and_quiet_hours_are_not_a_shift() {
        let cfg = DetectConfig::default();
        // Behaviour 8: neighbouring runs share their hour's level, so a CUSUM
        // built for independent runs crosses in an ordinary busy hour (it
        // does here with the inflation held at 1); measured on blocks of
        // runs, the wander is noise. Four weeks, no alert.
        let n = 4 * 7 * 144;
        let runs = busy_and_quiet_hours(n, 0.2, n, 1.0);
        let eps = of(
            &detect(&runs, end(&runs[n - 1]), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert!(eps.is_empty(), "{eps:?}");
        // A real tripling on such a job is still found by its 12th slow run.
        let from = 3 * 7 * 144 + 10;
        let runs = busy_and_quiet_hours(from + 40, 0.2, from, 3.0);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].started_at <= end(&runs[from + 11]), "late: {eps:?}");
    }

    /// `from` runs of a 10-minute job every 2 h with log noise uniform in
    /// ±`spread`, then a drift of `rate` per run; the index (counted from the
    /// drift's first run) of the run whose end opened the alert.
    fn drift_found_at(from: usize, spread: f64, rate: f64) -> Option<usize> {
        let d: Vec<i64> = (0..from + 60)
            .map(|i| {
                let grown = (1.0 + rate).powi(i.saturating_sub(from) as i32);
                (600_000.0 * grown * (spread * hnoise(i, 21)).exp()) as i64
            })
            .collect();
        let runs = with_durations(&d, 2 * HOUR);
        let eps = of(
            &detect(
                &runs,
                end(runs.last().unwrap()),
                None,
                &DetectConfig::default(),
            ),
            AlertKind::PerformanceDegradation,
        );
        let first = eps.first()?;
        runs.iter()
            .position(|r| end(r) == first.started_at)
            .map(|i| i - from)
    }

    #[test]
    fn a_drift_is_judged_on_where_it_has_got_to() {
        // Behaviour 7 and 9: a drift of 4 % per run passes 1.5x at its 11th
        // run, so the contract wants it by its 22nd. On a job 3 1/3 days old
        // (±10 %) its first runs taught the young model a slower level, and the
        // median of the last 10 runs, which lags a drift by five runs, reached
        // the gates only at run 44. The rising runs' trend line says where the
        // drift has got to.
        let at = drift_found_at(40, 0.1, 0.04).expect("drift found");
        assert!((11..=22).contains(&at), "found at run {at}");
        // Three weeks old, 3 % per run: passes 1.5x at run 14, due by run 25.
        let at = drift_found_at(252, 0.1, 0.03).expect("drift found");
        assert!((14..=25).contains(&at), "found at run {at}");
        // No drift, no alert; nor on a loose job's noise.
        assert_eq!(drift_found_at(40, 0.1, 0.0), None);
        assert_eq!(drift_found_at(252, 0.6, 0.0), None);
    }

    #[test]
    fn young_pipeline_step_is_caught_on_a_weekday_it_has_seen() {
        let cfg = DetectConfig::default();
        // Behaviour 7: an hourly job four days old (Monday to Thursday, ±10 %)
        // triples on Thursday afternoon. Thursday has been seen since midnight,
        // so the step is judged before a week of history exists, and found by
        // the 12th slow run (the deadline).
        // Hourly runs of 5 min (±10 %), three times as long from `first_slow`.
        let tripled = |first_slow: usize, n: usize| {
            let d: Vec<i64> = (0..n)
                .map(|i| {
                    let f = if i >= first_slow { 3.0 } else { 1.0 };
                    (300_000.0 * f * (1.0 + 0.1 * noise(i))) as i64
                })
                .collect();
            with_durations(&d, HOUR)
        };
        let first_slow = 3 * 24 + 14;
        let runs = tripled(first_slow, first_slow + 30);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].started_at >= end(&runs[first_slow]));
        assert!(eps[0].started_at <= end(&runs[first_slow + 11]), "late");
        // A step on Wednesday evening whose slow runs run on into Thursday,
        // a weekday not seen yet. The shift was established on Wednesday; the
        // Thursday runs that would otherwise teach the young model its
        // Thursday are judged as part of it (absorbed, they would make
        // Thursday look slow and hide the step), so it is still found by the
        // 12th slow run.
        let first_slow = 2 * 24 + 19;
        let runs = tripled(first_slow, first_slow + 30);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].started_at >= end(&runs[first_slow]));
        assert!(eps[0].started_at <= end(&runs[first_slow + 11]), "late");
        // The same job a day old: too young to judge at all.
        let runs = tripled(20, 60);
        let eps = of(
            &detect(&runs, end(&runs[40]), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert!(eps.is_empty(), "{eps:?}");
    }

    #[test]
    fn two_slow_runs_are_not_a_shift_that_stayed() {
        let cfg = DetectConfig::default();
        // A daily job (±10 %) with two consecutive runs at 2.5× and normal
        // runs after: an outlier pair for duration_anomaly, not a degradation.
        let mut d = noisy(30, 600_000.0, 0);
        d.extend([1_500_000, 1_520_000]);
        d.extend(noisy(10, 600_000.0, 40));
        let runs = with_durations(&d, DAY);
        let eps = detect(&runs, end(runs.last().unwrap()), None, &cfg);
        assert!(
            of(&eps, AlertKind::PerformanceDegradation).is_empty(),
            "{eps:?}"
        );
        // Kept up for a recent window (10 runs): it is one.
        let mut d = noisy(30, 600_000.0, 0);
        d.extend(noisy(12, 1_500_000.0, 40));
        let runs = with_durations(&d, DAY);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::PerformanceDegradation,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert!(eps[0].started_at >= end(&runs[36]) && eps[0].started_at <= end(&runs[39]));
    }

    #[test]
    fn the_shift_must_pass_the_pipelines_own_spread() {
        // A 1.8× step on a tight job (±10 %, log spread ≈ 0.06) is a shift of
        // many spreads: a degradation, with the gate recorded in its details.
        // Asking for twice the spreads the step has silences it.
        let d: Vec<i64> = (0..400)
            .map(|i| {
                let f = if (250..330).contains(&i) { 1.8 } else { 1.0 };
                (300_000.0 * f * (1.0 + 0.1 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, 2 * HOUR);
        let opened = |cfg: &DetectConfig| {
            of(
                &detect(&runs, end(&runs[399]), None, cfg),
                AlertKind::PerformanceDegradation,
            )
        };
        let eps = opened(&DetectConfig::default());
        assert_eq!(eps.len(), 1, "{eps:?}");
        let (shift, sd) = (
            eps[0].details["shift_log"].as_f64().unwrap(),
            eps[0].details["judged_log_sd"].as_f64().unwrap(),
        );
        assert!(shift >= 1.25 * sd && shift / sd < 20.0, "{shift} {sd}");
        let strict = DetectConfig {
            degradation_min_spreads: 2.0 * shift / sd,
            ..DetectConfig::default()
        };
        assert!(opened(&strict).is_empty());
    }

    #[test]
    fn monday_morning_after_a_light_weekend_is_not_a_degradation() {
        let cfg = DetectConfig::default();
        // Behaviour 2: hourly job, weekend runs take half as long (nights too,
        // multiplied), ±20 % heavy-ish noise. Six weeks: no alert at all.
        let runs: Vec<Run> = (0..(6 * 168))
            .map(|i| {
                let t = T0 + i as i64 * HOUR;
                let (h, d) = crate::detect::history::slots(t);
                let f = if d == 0 || d == 6 { 0.5 } else { 1.0 } * if h < 6 { 0.6 } else { 1.0 };
                let n = noise(i);
                let dur = 900_000.0 * f * (1.0 + 0.2 * n * n * n.signum());
                run(i, t, Outcome::Success, dur as i64, Some(1000))
            })
            .collect();
        let eps = detect(&runs, end(runs.last().unwrap()), None, &cfg);
        let bad: Vec<_> = eps
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    AlertKind::PerformanceDegradation | AlertKind::DurationAnomaly
                )
            })
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
    }
}
