//! The per-pipeline detectors, one per alert kind (systemic failures span
//! pipelines and live in `systemic`). Each is an online state machine behind the
//! `Detector` trait: it sees a pipeline's runs in start order and the history
//! before each run, and emits episodes. No I/O: tested on constructed series.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::{History, Past, log_duration, log_records};
use super::signature::signature;
use super::stats::{binomial_sf, quantile, robust_location};
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::schedule::Schedule;
use crate::time::{format_duration, format_ms};

/// Smallest robust sd on log scales: ~10 %, so a metronome-regular job is not
/// alarmed by ordinary jitter.
const MIN_LOG_SD: f64 = 0.1;

fn end_of(run: &Run) -> Millis {
    run.ended_at.unwrap_or(run.start_at)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn error_text(run: &Run) -> String {
    match (&run.error_type, &run.error_message) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "no error message".to_string(),
    }
}

// ---------------------------------------------------------------------------
// pipeline_failed

/// One episode per failure episode: opens at the first final failure, counts the
/// failures that follow, resolves at the next success.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineFailed {
    open: Option<Episode>,
}

impl Detector for PipelineFailed {
    fn observe(
        &mut self,
        ctx: &Ctx,
        _h: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let at = end_of(run);
        match run.outcome {
            Outcome::Failed => {
                let sig = signature(run.error_type.as_deref(), run.error_message.as_deref());
                if let Some(ep) = &mut self.open {
                    ep.seen(at);
                    ep.details["failed_runs"] = json!(ep.occurrences);
                    ep.details["last_run_id"] = json!(run.run_id);
                    ep.details["last_error"] = json!(error_text(run));
                    if let Some(s) = sig
                        && let Some(list) = ep.details["signatures"].as_array_mut()
                        && !list.iter().any(|v| v == &json!(s))
                        && list.len() < 5
                    {
                        list.push(json!(s));
                    }
                } else {
                    let summary = format!(
                        "{} failed: {}",
                        ctx.pipeline_id,
                        clip(&error_text(run), 140)
                    );
                    self.open = Some(Episode::open(
                        AlertKind::PipelineFailed,
                        ctx.pipeline_id,
                        at,
                        Some(&run.run_id),
                        summary,
                        json!({
                            "signature": sig,
                            "signatures": sig.iter().collect::<Vec<_>>(),
                            "error_type": run.error_type,
                            "error_message": run.error_message,
                            "task_id": run.task_id,
                            "attempts": run.attempts,
                            "failed_runs": 1,
                            "last_run_id": run.run_id,
                            "last_error": error_text(run),
                        }),
                    ));
                }
            }
            Outcome::Success => {
                if let Some(ep) = self.open.take() {
                    let mut ep = ep.resolve(at);
                    ep.details["resolved_by_run_id"] = json!(run.run_id);
                    out.push(ep);
                }
            }
            _ => {}
        }
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

// ---------------------------------------------------------------------------
// consecutive_failures

/// Fires at the Nth consecutive final failure; cancelled and skipped runs neither
/// break nor extend a streak; resolves at the next success.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsecutiveFailures {
    streak: usize,
    first_failure_at: Option<Millis>,
    open: Option<Episode>,
}

impl Detector for ConsecutiveFailures {
    fn observe(
        &mut self,
        ctx: &Ctx,
        _h: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let at = end_of(run);
        match run.outcome {
            Outcome::Failed => {
                self.streak += 1;
                if self.streak == 1 {
                    self.first_failure_at = Some(at);
                }
                if let Some(ep) = &mut self.open {
                    ep.seen(at);
                    ep.details["streak"] = json!(self.streak);
                    ep.summary =
                        format!("{} failed {} runs in a row", ctx.pipeline_id, self.streak);
                } else if self.streak >= ctx.cfg.failure_streak {
                    let sig = signature(run.error_type.as_deref(), run.error_message.as_deref());
                    self.open = Some(Episode::open(
                        AlertKind::ConsecutiveFailures,
                        ctx.pipeline_id,
                        at,
                        Some(&run.run_id),
                        format!("{} failed {} runs in a row", ctx.pipeline_id, self.streak),
                        json!({
                            "streak": self.streak,
                            "threshold": ctx.cfg.failure_streak,
                            "first_failure_at": self.first_failure_at.map(format_ms),
                            "signature": sig,
                            "error_type": run.error_type,
                            "error_message": run.error_message,
                            "task_id": run.task_id,
                        }),
                    ));
                }
            }
            Outcome::Success => {
                self.streak = 0;
                self.first_failure_at = None;
                if let Some(ep) = self.open.take() {
                    let mut ep = ep.resolve(at);
                    ep.details["resolved_by_run_id"] = json!(run.run_id);
                    out.push(ep);
                }
            }
            _ => {}
        }
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

// ---------------------------------------------------------------------------
// failure_rate_spike

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

// ---------------------------------------------------------------------------
// Seasonal robust baselines shared by duration and volume anomalies.

/// One baseline a value is judged against.
struct Baseline {
    name: &'static str,
    median: f64,
    sd: f64,
}

/// The baselines that apply to a run starting at `t`: the recent successful runs,
/// and the same hour of day and the same day of week where those slots hold
/// enough runs. A value is anomalous only if it is anomalous against all of
/// them: a Monday run that is always slow is normal against past Mondays.
///
/// `anomalous` says whether a value is anomalous against one baseline: the list
/// stops at the first baseline against which it is not (the verdict is already
/// "normal"), so the seasonal slots are only summarised for the rare suspect run.
fn baselines(
    ctx: &Ctx,
    hist: &History,
    t: Millis,
    volume: bool,
    anomalous: impl Fn(&Baseline) -> bool,
) -> Vec<Baseline> {
    let cfg = ctx.cfg;
    let f: fn(&Past) -> Option<f64> = if volume {
        Past::log_records
    } else {
        Past::log_duration
    };
    let recent = hist.recent_success(cfg.anomaly_baseline_runs, f);
    if recent.len() < cfg.anomaly_min_history {
        return Vec::new();
    }
    let mut out = Vec::new();
    let Some((m, sd)) = robust_location(&recent, MIN_LOG_SD) else {
        return out;
    };
    out.push(Baseline {
        name: "recent",
        median: m,
        sd,
    });
    if !anomalous(&out[0]) {
        return out;
    }
    for name in ["same_hour", "same_weekday"] {
        let vals = if name == "same_hour" {
            hist.same_hour(t, volume)
        } else {
            hist.same_weekday(t, volume)
        };
        if vals.len() >= cfg.seasonal_min_runs
            && let Some((m, sd)) = robust_location(&vals, MIN_LOG_SD)
        {
            let b = Baseline {
                name,
                median: m,
                sd,
            };
            let stop = !anomalous(&b);
            out.push(b);
            if stop {
                return out;
            }
        }
    }
    out
}

/// The lifecycle shared by the single-run anomaly kinds (duration, volume): the
/// first anomalous run opens an episode (`open` builds it from the evidence), later
/// anomalous runs are occurrences, and the first run judged normal resolves it.
fn single_run_episode(
    open: &mut Option<Episode>,
    verdict: Option<serde_json::Value>,
    at: Millis,
    out: &mut Vec<Episode>,
    open_with: impl FnOnce(serde_json::Value) -> Episode,
) {
    match (verdict, open.as_mut()) {
        (Some(_), Some(ep)) => ep.seen(at),
        (Some(details), None) => *open = Some(open_with(details)),
        (None, Some(_)) => out.extend(open.take().map(|ep| ep.resolve(at))),
        (None, None) => {}
    }
}

// ---------------------------------------------------------------------------
// duration_anomaly

/// One successful run far slower than its baselines (robust z on log duration,
/// every seasonal baseline agreeing, plus a ratio and an absolute floor);
/// resolves at the next successful run of normal duration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DurationAnomaly {
    open: Option<Episode>,
}

impl Detector for DurationAnomaly {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if run.outcome != Outcome::Success {
            return;
        }
        let Some(d) = run.duration_ms else { return };
        let at = end_of(run);
        let verdict = if notes.stuck || notes.degraded {
            None
        } else {
            judge_duration(ctx, hist, run.start_at, d)
        };
        // Inside a degradation or a stuck run the condition is someone else's
        // (verdict None); otherwise a None is a normal run. Either way it ends here.
        single_run_episode(&mut self.open, verdict, at, out, |details| {
            let expected = details["expected_ms"].as_i64().unwrap_or(0);
            Episode::open(
                AlertKind::DurationAnomaly,
                ctx.pipeline_id,
                at,
                Some(&run.run_id),
                format!(
                    "{} run took {} (expected about {})",
                    ctx.pipeline_id,
                    format_duration(d),
                    format_duration(expected)
                ),
                details,
            )
        });
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

/// Evidence if a duration is anomalous for a run starting at `start`.
fn judge_duration(ctx: &Ctx, hist: &History, start: Millis, d: i64) -> Option<serde_json::Value> {
    let cfg = ctx.cfg;
    let x = log_duration(d);
    let bases = baselines(ctx, hist, start, false, |b| {
        let expected = b.median.exp() * 1000.0;
        (x - b.median) / b.sd > cfg.duration_z
            && d as f64 >= expected * cfg.duration_min_ratio
            && d as f64 - expected >= cfg.duration_min_excess.ms() as f64
    });
    if bases.is_empty() {
        return None;
    }
    let mut min_z = f64::INFINITY;
    let mut expected_log = f64::NEG_INFINITY;
    let mut used = Vec::new();
    for b in &bases {
        let z = (x - b.median) / b.sd;
        min_z = min_z.min(z);
        expected_log = expected_log.max(b.median);
        used.push(json!({"baseline": b.name, "median_ms": (b.median.exp() * 1000.0).round() as i64, "z": z}));
    }
    let expected_ms = (expected_log.exp() * 1000.0).round() as i64;
    let anomalous = min_z > cfg.duration_z
        && d as f64 >= expected_ms as f64 * cfg.duration_min_ratio
        && d - expected_ms >= cfg.duration_min_excess.ms();
    anomalous.then(|| {
        json!({
            "observed_ms": d,
            "expected_ms": expected_ms,
            "ratio": d as f64 / expected_ms.max(1) as f64,
            "score": min_z,
            "threshold": cfg.duration_z,
            "baselines": used,
        })
    })
}

// ---------------------------------------------------------------------------
// performance_degradation

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

// ---------------------------------------------------------------------------
// volume_anomaly

/// `records_processed` of a successful run far from its seasonal baselines
/// (robust z on ln(1 + records) against every applicable baseline, plus a ratio
/// gate): a drop to zero, a collapse, an explosion. Resolves at the next
/// successful run of normal volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VolumeAnomaly {
    /// The first run's start: volume is judged once a week of history exists.
    first_start: Option<Millis>,
    open: Option<Episode>,
}

impl Detector for VolumeAnomaly {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let first = *self.first_start.get_or_insert(run.start_at);
        if run.outcome != Outcome::Success {
            return;
        }
        let Some(r) = run.records_processed else {
            return;
        };
        let at = end_of(run);
        let verdict = if run.start_at - first >= ctx.cfg.volume_min_span.ms() {
            judge_volume(ctx, hist, run.start_at, r)
        } else {
            None
        };
        single_run_episode(&mut self.open, verdict, at, out, |details| {
            let expected = details["expected_records"].as_i64().unwrap_or(0);
            let what = if (r as f64) < expected as f64 {
                "dropped"
            } else {
                "jumped"
            };
            Episode::open(
                AlertKind::VolumeAnomaly,
                ctx.pipeline_id,
                at,
                Some(&run.run_id),
                format!(
                    "{} volume {what}: {r} records (expected about {expected})",
                    ctx.pipeline_id
                ),
                details,
            )
        });
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

fn judge_volume(ctx: &Ctx, hist: &History, start: Millis, r: i64) -> Option<serde_json::Value> {
    let cfg = ctx.cfg;
    let x = log_records(r);
    let ratio_log = cfg.volume_min_ratio.ln();
    let bases = baselines(ctx, hist, start, true, |b| {
        let z = (x - b.median) / b.sd;
        (z < -cfg.volume_z && x - b.median < -ratio_log)
            || (z > cfg.volume_z && x - b.median > ratio_log)
    });
    if bases.is_empty() {
        return None;
    }
    let mut used = Vec::new();
    let mut closest: Option<f64> = None;
    let mut all_low = true;
    let mut all_high = true;
    for b in &bases {
        let z = (x - b.median) / b.sd;
        all_low &= z < -cfg.volume_z && x - b.median < -ratio_log;
        all_high &= z > cfg.volume_z && x - b.median > ratio_log;
        if closest.is_none_or(|c| (x - b.median).abs() < (x - c).abs()) {
            closest = Some(b.median);
        }
        used.push(json!({"baseline": b.name, "median_records": (b.median.exp() - 1.0).round() as i64, "z": z}));
    }
    let expected = (closest?.exp() - 1.0).round() as i64;
    (all_low || all_high).then(|| {
        json!({
            "observed_records": r,
            "expected_records": expected,
            "direction": if all_low { "collapse" } else { "explosion" },
            "threshold": cfg.volume_z,
            "baselines": used,
        })
    })
}

// ---------------------------------------------------------------------------
// stuck_run

/// The stuck threshold for a pipeline given its history.
pub fn stuck_threshold(ctx: &Ctx, hist: &History) -> (i64, &'static str) {
    let cfg = ctx.cfg;
    let durs: Vec<f64> = hist.recent_success(cfg.anomaly_baseline_runs, |p| {
        p.duration_ms
            .filter(|_| p.outcome == Outcome::Success)
            .map(|d| d as f64)
    });
    if durs.len() < cfg.stuck_min_history {
        return (cfg.stuck_default.ms().max(cfg.stuck_floor.ms()), "default");
    }
    let p95 = quantile(&durs, 0.95).unwrap_or(0.0);
    (
        ((cfg.stuck_factor * p95) as i64).max(cfg.stuck_floor.ms()),
        "learned",
    )
}

/// A run that started and has no terminal event long after its expected
/// duration: `max(floor, factor × p95)` of its pipeline's successful runs, or a
/// default with little history. Never for streaming pipelines. Opens at start +
/// threshold, resolves when the run ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StuckRun {
    /// Runs in progress when observed: (run_id, start, threshold, basis).
    running: Vec<(String, Millis, i64, String)>,
}

fn stuck_episode(ctx: &Ctx, run_id: &str, start: Millis, thr: i64, basis: &str) -> Episode {
    Episode::open(
        AlertKind::StuckRun,
        ctx.pipeline_id,
        start + thr,
        Some(run_id),
        format!(
            "{} run {run_id} still running after {} (started {})",
            ctx.pipeline_id,
            format_duration(thr),
            format_ms(start)
        ),
        json!({
            "run_started_at": format_ms(start),
            "threshold_ms": thr,
            "threshold_basis": basis,
        }),
    )
}

impl Detector for StuckRun {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if ctx.streaming {
            return;
        }
        // The threshold is never below the floor: a run that ended sooner was not stuck.
        if run
            .ended_at
            .is_some_and(|e| e - run.start_at <= ctx.cfg.stuck_floor.ms())
        {
            return;
        }
        let (thr, basis) = stuck_threshold(ctx, hist);
        match run.ended_at {
            None => self
                .running
                .push((run.run_id.clone(), run.start_at, thr, basis.to_string())),
            Some(end) if end - run.start_at > thr => {
                notes.stuck = true;
                let mut ep = stuck_episode(ctx, &run.run_id, run.start_at, thr, basis).resolve(end);
                ep.last_seen_at = end;
                ep.details["ran_ms"] = json!(end - run.start_at);
                ep.details["outcome"] = json!(run.outcome.as_str());
                out.push(ep);
            }
            Some(_) => {}
        }
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        for (run_id, start, thr, basis) in &self.running {
            if now >= start + thr {
                let mut ep = stuck_episode(ctx, run_id, *start, *thr, basis);
                ep.last_seen_at = now;
                ep.details["running_ms"] = json!(now - start);
                out.push(ep);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// missed_run

/// How a pipeline's next start is expected.
#[derive(Debug, Clone, PartialEq)]
enum Cadence<'a> {
    Declared(&'a Schedule),
    Learned(i64),
}

/// No run started within the expected cadence plus a tolerance. The cadence is
/// the declared schedule, else the median interval between recent starts (only
/// when they are regular). The tolerance is a fraction of the period (clamped)
/// plus twice the pipeline's own recent lateness. Fire times that fall while the
/// latest run is still in progress are held up by it, not missed. A pipeline
/// silent for `missed_retire_after` is taken as retired: its episode resolves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MissedRun {
    /// The latest run start seen: (start, end or None while running, run_id).
    anchor: Option<(Millis, Option<Millis>, String)>,
    runs_seen: usize,
    /// Recent lateness of starts against the cadence, ms (newest last).
    lateness: Vec<i64>,
    /// The learned cadence (period, lateness margin), re-estimated every
    /// `RELEARN_EVERY` runs; None while the starts are irregular.
    learned: Option<(i64, i64)>,
    /// `runs_seen` when the cadence was last estimated (0: never).
    learned_checked: usize,
}

/// Runs between re-estimates of a learned cadence.
const RELEARN_EVERY: usize = 16;

const LATENESS_KEEP: usize = 32;
/// A run this much before a cron fire time still counts for it.
const EARLY_GRACE_MS: i64 = 5 * 60_000;

impl MissedRun {
    /// The cadence, how it was found, and a lateness margin (ms) learned from
    /// the pipeline's own irregularity.
    fn cadence<'a>(&self, ctx: &Ctx<'a>) -> Option<(Cadence<'a>, String, i64)> {
        if let Some(s) = ctx.schedule {
            if self.runs_seen < ctx.cfg.missed_min_runs {
                return None;
            }
            let late: Vec<f64> = self.lateness.iter().map(|v| *v as f64).collect();
            let margin = quantile(&late, 0.95).map_or(0, |q| (2.0 * q) as i64);
            return Some((Cadence::Declared(s), "declared".to_string(), margin));
        }
        let (m, margin) = self.learned?;
        Some((
            Cadence::Learned(m),
            format!("learned every {}", format_duration(m)),
            margin,
        ))
    }

    /// Re-estimates the learned cadence from recent starts: the median gap, if the
    /// gaps are regular (p10 ≥ half and p90 ≤ 1.5 × the median), with twice the
    /// p95 excess as lateness margin.
    fn relearn(&mut self, ctx: &Ctx, hist: &History) {
        if ctx.schedule.is_some()
            || self.runs_seen < ctx.cfg.missed_learn_min_runs
            || (self.learned_checked > 0 && self.runs_seen < self.learned_checked + RELEARN_EVERY)
        {
            return;
        }
        self.learned_checked = self.runs_seen;
        self.learned = None;
        let starts: Vec<Millis> = hist.runs().iter().rev().take(33).map(|p| p.start).collect();
        if starts.len() < ctx.cfg.missed_learn_min_runs {
            return;
        }
        let mut gaps: Vec<f64> = starts.windows(2).map(|w| (w[0] - w[1]) as f64).collect();
        gaps.sort_by(f64::total_cmp);
        let at = |q: f64| gaps[((gaps.len() - 1) as f64 * q).round() as usize];
        let (m, lo, hi, q95) = (at(0.5), at(0.1), at(0.9), at(0.95));
        // Irregular (triggered, ad-hoc) pipelines have no cadence to miss.
        if m < 60_000.0 || hi > 1.5 * m || lo < 0.5 * m {
            return;
        }
        self.learned = Some((m as i64, (2.0 * (q95 - m)) as i64));
    }

    fn period(c: &Cadence, at: Millis) -> Option<i64> {
        match c {
            Cadence::Declared(s) => s.period_at(at),
            Cadence::Learned(p) => Some(*p),
        }
    }

    /// The first fire time the anchor run does not cover.
    fn first_expected(c: &Cadence, anchor: Millis) -> Option<Millis> {
        match c {
            Cadence::Declared(s @ Schedule::Cron(_)) => {
                let covered = s.prev_at_or_before(anchor + EARLY_GRACE_MS)?;
                s.next_after(covered)
            }
            Cadence::Declared(s) => s.next_after(anchor),
            Cadence::Learned(p) => Some(anchor + p),
        }
    }

    fn next_fire(c: &Cadence, f: Millis) -> Option<Millis> {
        match c {
            Cadence::Declared(Schedule::Cron(cr)) => cr.next_after(f),
            other => Some(f + Self::period(other, f)?),
        }
    }

    fn tolerance(ctx: &Ctx, period: i64, margin: i64) -> i64 {
        let cfg = ctx.cfg;
        let base = ((period as f64 * cfg.missed_tolerance_fraction) as i64).clamp(
            cfg.missed_tolerance_min.ms(),
            cfg.missed_tolerance_max
                .ms()
                .max(cfg.missed_tolerance_min.ms()),
        );
        base.max(margin)
    }

    /// The missed episode in the gap after the anchor, up to `until` (the next
    /// run's start, or `now` when `open`).
    fn gap(&self, ctx: &Ctx, until: Millis, open: bool) -> Option<Episode> {
        let (anchor, anchor_end, anchor_run) = self.anchor.as_ref()?;
        let (cadence, basis, margin) = self.cadence(ctx)?;
        // Held up by the latest run while it is in progress.
        let busy_until = (*anchor_end)?;
        let mut f = Self::first_expected(&cadence, *anchor)?;
        let mut guard = 0;
        while f <= busy_until {
            f = Self::next_fire(&cadence, f)?;
            guard += 1;
            if guard > 100_000 {
                return None;
            }
        }
        let period = Self::period(&cadence, f)?;
        let tol = Self::tolerance(ctx, period, margin);
        let deadline = f + tol;
        if deadline >= until {
            return None;
        }
        let retire_at = deadline + ctx.cfg.missed_retire_after.ms();
        let retired = until > retire_at;
        let end = if retired { retire_at } else { until };
        // Count the fire times missed while the episode was open.
        let mut occurrences = 1;
        let mut last = deadline;
        let mut g = f;
        while occurrences < 100_000 {
            let Some(n) = Self::next_fire(&cadence, g) else {
                break;
            };
            if n + tol >= end {
                break;
            }
            occurrences += 1;
            last = n + tol;
            g = n;
        }
        let schedule_text = match &cadence {
            Cadence::Declared(Schedule::Cron(c)) => format!("cron `{}`", c.source()),
            Cadence::Declared(Schedule::Interval(ms)) => format!("every {}", format_duration(*ms)),
            Cadence::Learned(p) => format!("about every {} (learned)", format_duration(*p)),
        };
        let mut ep = Episode::open(
            AlertKind::MissedRun,
            ctx.pipeline_id,
            deadline,
            None,
            format!(
                "{} did not start a run expected at {} ({schedule_text}); last run started {}",
                ctx.pipeline_id,
                format_ms(f),
                format_ms(*anchor)
            ),
            json!({
                "expected_at": format_ms(f),
                "tolerance_ms": tol,
                "period_ms": period,
                "cadence": basis,
                "schedule": schedule_text,
                "last_run_started_at": format_ms(*anchor),
                "last_run_id": anchor_run,
                "retired": retired,
            }),
        );
        ep.occurrences = occurrences;
        ep.last_seen_at = last;
        if retired || !open {
            ep = ep.resolve(end);
            ep.last_seen_at = last.min(end);
        }
        Some(ep)
    }
}

impl Detector for MissedRun {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if ctx.streaming {
            return;
        }
        self.relearn(ctx, hist);
        if let Some(ep) = self.gap(ctx, run.start_at, false) {
            let mut ep = ep;
            ep.details["resolved_by_run_id"] = json!(run.run_id);
            out.push(ep);
        }
        // Lateness against the cadence, for the tolerance.
        let late = match (ctx.schedule, &self.anchor) {
            (Some(s @ Schedule::Cron(_)), _) => s
                .prev_at_or_before(run.start_at + EARLY_GRACE_MS)
                .map(|f| (run.start_at - f).max(0)),
            (Some(Schedule::Interval(p)), Some((a, _, _))) => {
                let gap = run.start_at - a;
                // Only a gap near one interval says how late this run was.
                (gap < 2 * p).then(|| (gap - p).max(0))
            }
            _ => None,
        };
        if let Some(l) = late {
            self.lateness.push(l);
            if self.lateness.len() > LATENESS_KEEP {
                self.lateness.remove(0);
            }
        }
        // Runs are observed in start order; the latest start is the anchor.
        self.anchor = Some((run.start_at, run.ended_at, run.run_id.clone()));
        self.runs_seen += 1;
    }

    fn finish(&self, ctx: &Ctx, _hist: &History, now: Millis, out: &mut Vec<Episode>) {
        if ctx.streaming {
            return;
        }
        out.extend(self.gap(ctx, now, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::DetectConfig;
    use crate::detect::engine::detect_all;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;
    /// 2026-11-02T00:00:00Z, a Monday.
    const T0: i64 = 1_793_577_600_000;

    fn run(i: usize, start: i64, outcome: Outcome, dur: i64, records: Option<i64>) -> Run {
        Run {
            pipeline_id: "p".into(),
            run_id: format!("r{i:04}"),
            start_at: start,
            first_event_at: start,
            last_event_at: start + dur,
            started_at: Some(start),
            ended_at: (outcome != Outcome::Running).then_some(start + dur),
            outcome,
            attempts: 1,
            retries: 0,
            duration_ms: (outcome != Outcome::Running).then_some(dur),
            records_processed: records,
            error_type: (outcome == Outcome::Failed).then(|| "ConnectionError".to_string()),
            error_message: (outcome == Outcome::Failed)
                .then(|| format!("could not connect to 10.0.0.{}:5432", i % 7)),
            task_id: None,
            scheduled_at: None,
        }
    }

    /// Deterministic noise in [-1, 1].
    fn noise(i: usize) -> f64 {
        let x = (i as u64)
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % 2001) as f64 / 1000.0 - 1.0
    }

    /// Hourly runs with outcomes from `pattern` (S, F, C, K=skipped, R=running),
    /// ~5 min durations with ±10 % noise and ~1000 records.
    fn hourly(pattern: &str) -> Vec<Run> {
        pattern
            .chars()
            .filter(|c| !c.is_whitespace())
            .enumerate()
            .map(|(i, c)| {
                let o = match c {
                    'S' => Outcome::Success,
                    'F' => Outcome::Failed,
                    'C' => Outcome::Cancelled,
                    'K' => Outcome::Skipped,
                    _ => Outcome::Running,
                };
                let d = (300_000.0 * (1.0 + 0.1 * noise(i))) as i64;
                run(
                    i,
                    T0 + i as i64 * HOUR,
                    o,
                    d,
                    Some((1000.0 * (1.0 + 0.1 * noise(i + 7))) as i64),
                )
            })
            .collect()
    }

    fn detect(
        runs: &[Run],
        now: i64,
        schedule: Option<&Schedule>,
        cfg: &DetectConfig,
    ) -> Vec<Episode> {
        let ctx = Ctx {
            cfg,
            pipeline_id: "p",
            schedule,
            streaming: false,
        };
        detect_all(cfg, &ctx, runs, now)
    }

    fn of(eps: &[Episode], kind: AlertKind) -> Vec<Episode> {
        eps.iter().filter(|e| e.kind == kind).cloned().collect()
    }

    fn end(r: &Run) -> i64 {
        r.ended_at.unwrap()
    }

    #[test]
    fn pipeline_failed_is_one_alert_per_failure_episode() {
        let cfg = DetectConfig::default();
        let runs = hourly("SSFCFSSFS");
        let eps = of(
            &detect(&runs, T0 + 100 * DAY, None, &cfg),
            AlertKind::PipelineFailed,
        );
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].started_at, end(&runs[2]));
        assert_eq!(eps[0].occurrences, 2);
        assert_eq!(eps[0].resolved_at, Some(end(&runs[5])));
        assert_eq!(
            eps[0].details["signature"],
            json!("ConnectionError: could not connect to <ip>")
        );
        assert_eq!(eps[1].started_at, end(&runs[7]));
        assert_eq!(eps[1].resolved_at, Some(end(&runs[8])));
        // A run that succeeded after retries is a success.
        let mut retried = hourly("SSS");
        retried[1].retries = 2;
        retried[1].attempts = 3;
        assert!(detect(&retried, T0 + DAY, None, &cfg).is_empty());
        // Still failing at the end: open.
        let open = of(
            &detect(&hourly("SSF"), T0 + DAY, None, &cfg),
            AlertKind::PipelineFailed,
        );
        assert!(open[0].is_open());
    }

    #[test]
    fn consecutive_failures_fire_at_the_nth_and_ignore_cancelled() {
        let cases: [(&str, usize, Option<usize>); 5] = [
            ("SFFF S", 3, Some(3)),
            ("SFFCKF S", 3, Some(5)),
            ("SFFSFFS", 3, None),
            ("SFFFS", 4, None),
            ("SFFFFS", 4, Some(4)),
        ];
        for (pattern, n, fires_at) in cases {
            let cfg = DetectConfig {
                failure_streak: n,
                ..DetectConfig::default()
            };
            let runs = hourly(pattern);
            let eps = of(
                &detect(&runs, T0 + 100 * DAY, None, &cfg),
                AlertKind::ConsecutiveFailures,
            );
            match fires_at {
                Some(i) => {
                    assert_eq!(eps.len(), 1, "{pattern}");
                    assert_eq!(eps[0].started_at, end(&runs[i]), "{pattern}");
                    assert_eq!(
                        eps[0].resolved_at,
                        Some(end(runs.last().unwrap())),
                        "{pattern}"
                    );
                }
                None => assert!(eps.is_empty(), "{pattern}"),
            }
        }
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

    fn with_durations(durs: &[i64], every: i64) -> Vec<Run> {
        durs.iter()
            .enumerate()
            .map(|(i, d)| run(i, T0 + i as i64 * every, Outcome::Success, *d, Some(1000)))
            .collect()
    }

    fn noisy(n: usize, base: f64, from: usize) -> Vec<i64> {
        (from..from + n)
            .map(|i| (base * (1.0 + 0.1 * noise(i))) as i64)
            .collect()
    }

    #[test]
    fn duration_anomaly_on_outliers_only() {
        let cfg = DetectConfig::default();
        // 5-minute job; one run takes 14 min (below the stuck threshold of 3 × p95).
        let mut d = noisy(40, 300_000.0, 0);
        d.push(840_000);
        d.extend(noisy(5, 300_000.0, 50));
        let runs = with_durations(&d, 2 * HOUR);
        let eps = detect(&runs, T0 + 100 * DAY, None, &cfg);
        let da = of(&eps, AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{eps:?}");
        assert_eq!(da[0].started_at, end(&runs[40]));
        assert_eq!(da[0].resolved_at, Some(end(&runs[41])));
        assert!(of(&eps, AlertKind::StuckRun).is_empty());
        // Too little history: quiet.
        let mut d = noisy(5, 300_000.0, 0);
        d.push(840_000);
        assert!(detect(&with_durations(&d, 2 * HOUR), T0 + DAY, None, &cfg).is_empty());
        // A 2-second job taking 5 seconds is not news (absolute floor).
        let mut d = noisy(40, 2_000.0, 0);
        d.push(5_000);
        assert!(
            of(
                &detect(&with_durations(&d, HOUR), T0 + DAY, None, &cfg),
                AlertKind::DurationAnomaly
            )
            .is_empty()
        );
    }

    #[test]
    fn duration_anomaly_respects_weekly_seasonality() {
        let cfg = DetectConfig::default();
        // Daily job, Mondays always 3× slower: no alert on Mondays after the first weeks.
        let d: Vec<i64> = (0..120)
            .map(|i| {
                let base = if i % 7 == 0 { 900_000.0 } else { 300_000.0 };
                (base * (1.0 + 0.05 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, DAY);
        let eps = detect(&runs, end(&runs[119]), None, &cfg);
        let late: Vec<_> = of(&eps, AlertKind::DurationAnomaly)
            .into_iter()
            .filter(|e| e.started_at > T0 + 35 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
    }

    #[test]
    fn stuck_run_then_no_duration_anomaly() {
        let cfg = DetectConfig {
            stuck_floor: crate::detect::Dur::mins(15),
            ..DetectConfig::default()
        };
        let mut d = noisy(30, 300_000.0, 0);
        d.push(4 * HOUR);
        d.push(300_000);
        let runs = with_durations(&d, 6 * HOUR);
        let eps = detect(&runs, T0 + 100 * DAY, None, &cfg);
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1);
        let thr = stuck[0].details["threshold_ms"].as_i64().unwrap();
        assert!((25 * MIN..35 * MIN).contains(&thr), "{thr}");
        assert_eq!(stuck[0].started_at, runs[30].start_at + thr);
        assert_eq!(stuck[0].resolved_at, Some(end(&runs[30])));
        assert!(of(&eps, AlertKind::DurationAnomaly).is_empty());
        // Still running at `now`: open, from start + threshold; not before it.
        let mut runs = with_durations(&noisy(30, 300_000.0, 0), 6 * HOUR);
        let start = T0 + 30 * 6 * HOUR;
        runs.push(run(30, start, Outcome::Running, 0, None));
        let open = of(
            &detect(&runs, start + HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(open.len(), 1);
        assert!(open[0].is_open());
        assert!(
            of(
                &detect(&runs, start + 10 * MIN, None, &cfg),
                AlertKind::StuckRun
            )
            .is_empty()
        );
        // Little history: the default threshold.
        let short = vec![run(0, T0, Outcome::Running, 0, None)];
        let eps = of(
            &detect(&short, T0 + 7 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps[0].started_at, T0 + 6 * HOUR);
        // Streaming pipelines are never stuck.
        let ctx = Ctx {
            cfg: &cfg,
            pipeline_id: "p",
            schedule: None,
            streaming: true,
        };
        assert!(detect_all(&cfg, &ctx, &short, T0 + 100 * DAY).is_empty());
    }

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

    #[test]
    fn volume_anomalies_collapse_and_explosion_with_weekend_dips() {
        let cfg = DetectConfig::default();
        // Daily job; weekends process a fifth of a weekday's volume.
        let vol = |i: usize| {
            let dow = i % 7; // T0 is a Monday
            let base = if dow >= 5 { 2_000.0 } else { 10_000.0 };
            (base * (1.0 + 0.1 * noise(i))) as i64
        };
        let mut runs: Vec<Run> = (0..100)
            .map(|i| {
                run(
                    i,
                    T0 + i as i64 * DAY,
                    Outcome::Success,
                    300_000,
                    Some(vol(i)),
                )
            })
            .collect();
        let now = end(&runs[99]);
        let eps = detect(&runs, now, None, &cfg);
        let late: Vec<_> = eps
            .iter()
            .filter(|e| e.started_at > T0 + 36 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
        runs[80].records_processed = Some(0); // a Wednesday: collapse to zero
        runs[90].records_processed = Some(200_000); // explosion
        let eps = of(&detect(&runs, now, None, &cfg), AlertKind::VolumeAnomaly);
        let late: Vec<_> = eps
            .iter()
            .filter(|e| e.started_at > T0 + 36 * DAY)
            .collect();
        assert_eq!(late.len(), 2, "{late:?}");
        assert_eq!(late[0].started_at, end(&runs[80]));
        assert_eq!(late[0].details["direction"], json!("collapse"));
        assert_eq!(late[0].resolved_at, Some(end(&runs[81])));
        assert_eq!(late[1].details["direction"], json!("explosion"));
    }

    #[test]
    fn missed_runs_on_declared_and_learned_cadence() {
        let cfg = DetectConfig::default();
        let hourly_cron = Schedule::parse("0 * * * *").unwrap();
        // Hourly runs a minute after the hour; hours 20-24 missing.
        let mut runs: Vec<Run> = (0..40)
            .filter(|i| !(20..25).contains(i))
            .map(|i| {
                run(
                    i,
                    T0 + i as i64 * HOUR + MIN,
                    Outcome::Success,
                    300_000,
                    None,
                )
            })
            .collect();
        let eps = of(
            &detect(&runs, T0 + 40 * HOUR, Some(&hourly_cron), &cfg),
            AlertKind::MissedRun,
        );
        // Expected at 20:00, tolerance max(10 min, 15 min, 2 × lateness) = 15 min.
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert_eq!(eps[0].started_at, T0 + 20 * HOUR + 15 * MIN);
        assert_eq!(eps[0].resolved_at, Some(T0 + 25 * HOUR + MIN));
        assert_eq!(eps[0].occurrences, 5);
        // The same without a declared schedule: the cadence is learned.
        let eps = of(
            &detect(&runs, T0 + 40 * HOUR, None, &cfg),
            AlertKind::MissedRun,
        );
        assert_eq!(eps.len(), 1);
        // Still silent at `now`: open; silent for over a week: resolved as retired.
        runs.truncate(15);
        let open = of(
            &detect(&runs, T0 + 20 * HOUR, Some(&hourly_cron), &cfg),
            AlertKind::MissedRun,
        );
        assert!(open[0].is_open());
        let retired = of(
            &detect(&runs, T0 + 30 * DAY, Some(&hourly_cron), &cfg),
            AlertKind::MissedRun,
        );
        assert_eq!(retired[0].details["retired"], json!(true));
        assert_eq!(
            retired[0].resolved_at,
            Some(retired[0].started_at + 7 * DAY)
        );
        // Held up by a run still in progress: not missed.
        let mut held = runs.clone();
        held.push(run(15, T0 + 15 * HOUR + MIN, Outcome::Running, 0, None));
        let eps = of(
            &detect(&held, T0 + 20 * HOUR, Some(&hourly_cron), &cfg),
            AlertKind::MissedRun,
        );
        assert!(eps.is_empty(), "{eps:?}");
        // Irregular starts without a schedule: nothing to miss.
        let irregular: Vec<Run> = (0..40)
            .map(|i| {
                run(
                    i,
                    T0 + (i * i) as i64 * 7 * MIN,
                    Outcome::Success,
                    60_000,
                    None,
                )
            })
            .collect();
        assert!(
            of(
                &detect(&irregular, T0 + 100 * DAY, None, &cfg),
                AlertKind::MissedRun
            )
            .is_empty()
        );
    }

    #[test]
    fn resuming_from_a_checkpoint_gives_the_same_episodes() {
        use crate::detect::engine::{PipelineState, run_pipeline};
        let cfg = DetectConfig::default();
        let mut p = "S".repeat(30);
        p.push_str("FFFFSSFSFSSFSFSS");
        p.push_str(&"S".repeat(20));
        let runs = hourly(&p);
        let ctx = Ctx {
            cfg: &cfg,
            pipeline_id: "p",
            schedule: None,
            streaming: false,
        };
        let now = end(runs.last().unwrap());
        let all = detect_all(&cfg, &ctx, &runs, now);
        // Resume in three steps through the encoded checkpoint.
        let mut state = PipelineState::new(&cfg);
        let mut closed = Vec::new();
        for chunk in [&runs[..20], &runs[20..37], &runs[37..]] {
            let r = run_pipeline(state, &ctx, chunk, end(chunk.last().unwrap()));
            closed.extend(r.episodes.into_iter().filter(|e| !e.is_open()));
            state = PipelineState::decode(&r.checkpoint.unwrap().encode()).unwrap();
        }
        let mut tail = Vec::new();
        state.finish(&ctx, now, &mut tail);
        closed.extend(tail);
        let key = |e: &Episode| {
            (
                e.fingerprint.clone(),
                e.started_at,
                e.resolved_at,
                e.occurrences,
            )
        };
        let mut a: Vec<_> = all.iter().map(key).collect();
        let mut b: Vec<_> = closed.iter().map(key).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }
}
