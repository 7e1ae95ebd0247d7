//! `stuck_run`: a run in progress far longer than its pipeline's runs take, whose
//! heartbeats stopped, or that holds up the pipeline's next expected start.
//!
//! Three kinds of evidence, each a moment at which the run became detectably
//! stuck; the alert starts at the earliest one the run lived past:
//! - duration: start + max(factor × p95, p95 + slack) − margin, p95 being the
//!   largest of the recent, same-hour and same-weekday p95s of the pipeline's
//!   successful durations — the contract's deadline, a few minutes early; with
//!   few durations, the same rule with a p95 estimated from the longest of them
//!   (`young_p95`: the longest of a handful of runs falls short of the p95);
//!   with none, a configured default;
//! - heartbeats: for a pipeline whose runs send `running` events, the run's last
//!   sign of life + factor × the pipeline's median heartbeat interval (at least a
//!   floor of minutes);
//! - the schedule: while the pipeline's p95 is not yet learned, the moment the
//!   run holds up the next expected start past its tolerance (`missed_run`
//!   reports that moment in `Notes` and raises nothing for it).
//!
//! A run that passed the duration threshold and then succeeded within the
//! deadline that its pipeline's longest successful run would give (the p95 is
//! estimated, and no p95 the history allows made it hung) is judged by
//! `duration_anomaly` too; past that deadline the stuck alert is the one alert.
//!
//! Every moment is computed from the run and the history before it, so a run
//! seen in progress and the same run seen finished give the same alert.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::DetectConfig;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::expected::normal_quantile;
use super::history::History;
use super::stats::quantile;
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::{format_duration, format_ms};

/// How the duration threshold was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// From the seasonal p95 of enough successful runs.
    Learned,
    /// From the median of a few successful runs.
    Young,
    /// No successful duration yet: the configured default.
    Default,
}

impl Basis {
    fn as_str(self) -> &'static str {
        match self {
            Basis::Learned => "learned",
            Basis::Young => "young",
            Basis::Default => "default",
        }
    }
}

/// The largest p95 (ms) of the recent successful durations (`recent_p95`) and
/// of the same hour of day and day of week as `t`, where those slots hold
/// enough runs.
fn seasonal_p95(ctx: &Ctx, hist: &History, t: Millis, recent_p95: f64) -> f64 {
    let mut p95 = recent_p95;
    for logs in [hist.same_hour(t, false), hist.same_weekday(t, false)] {
        if logs.len() >= ctx.cfg.seasonal_min_runs.max(ctx.cfg.stuck_min_history)
            && let Some(q) = quantile(&logs, 0.95)
        {
            p95 = p95.max(q.exp() * 1000.0);
        }
    }
    p95
}

/// The learned threshold (ms after the start) a p95 gives; never below the
/// p95, and never smaller for a larger p95.
fn learned_threshold(ctx: &Ctx, p95: f64) -> i64 {
    let cfg = ctx.cfg;
    let slack = cfg.stuck_slack.ms() as f64;
    let thr = (cfg.stuck_factor * p95).max(p95 + slack) - cfg.stuck_margin.ms() as f64;
    (thr as i64).max(p95 as i64 + 1)
}

/// The stuck threshold (ms after the start) for a run starting at `t`, given the
/// history before it.
pub fn stuck_threshold(ctx: &Ctx, hist: &History, t: Millis) -> (i64, Basis) {
    match stuck_threshold_below(ctx, hist, t, None) {
        (Some(thr), basis) => (thr, basis),
        (None, _) => unreachable!("no bound"),
    }
}

/// [`stuck_threshold`], the threshold None when it is not below `bound`. A learned
/// threshold is never below the one the recent p95 alone gives (the seasonal
/// p95 is the largest of three), so a run that ended well within it needs no
/// per-slot p95s at all.
fn stuck_threshold_below(
    ctx: &Ctx,
    hist: &History,
    t: Millis,
    bound: Option<i64>,
) -> (Option<i64>, Basis) {
    let cfg = ctx.cfg;
    let durs: Vec<f64> = hist.recent_success(cfg.anomaly_baseline_runs, |p| {
        p.duration_ms
            .filter(|_| p.outcome == Outcome::Success)
            .map(|d| d as f64)
    });
    let slack = cfg.stuck_slack.ms() as f64;
    let (thr, basis) = if durs.is_empty() {
        (cfg.stuck_default.ms(), Basis::Default)
    } else if durs.len() < cfg.stuck_min_history {
        // Too few runs for a p95: it is estimated from the longest of them
        // (so one heavy-tailed early run cannot make its slower siblings look
        // hung), raised by how far a p95 lies above the longest of so few.
        let longest = durs.iter().copied().fold(0.0, f64::max);
        let p95 = young_p95(cfg, longest, durs.len());
        (
            ((cfg.stuck_factor * p95).max(p95 + slack)) as i64,
            Basis::Young,
        )
    } else {
        let recent = quantile(&durs, 0.95).unwrap_or(0.0);
        if bound.is_some_and(|b| learned_threshold(ctx, recent) >= b) {
            return (None, Basis::Learned);
        }
        let p95 = seasonal_p95(ctx, hist, t, recent);
        (learned_threshold(ctx, p95), Basis::Learned)
    };
    (bound.is_none_or(|b| thr < b).then_some(thr), basis)
}

/// The p95 that the longest of `n` successful durations stands for. The
/// longest of `n` runs sits near their n/(n+1) quantile, short of the p95 (one
/// run is the median); with log-normal durations of the prior spread
/// (`prior_log_sd`, ±35 %) the p95 is exp(spread × (z₀.₉₅ − z_{n/(n+1)})) times
/// the longest: 1.78 × for one run, 1.52 × for two, 1.33 × for four. Without it a
/// job whose second run is its slowest in a month was reported hung.
fn young_p95(cfg: &DetectConfig, longest: f64, n: usize) -> f64 {
    let z_longest = normal_quantile(1.0 / (n.max(1) as f64 + 1.0));
    longest * (cfg.prior_log_sd * (normal_quantile(0.05) - z_longest)).exp()
}

/// The stuck deadline (ms after the start) that the longest successful duration
/// in the history would give as p95: `i64::MIN` when fewer runs than a learned
/// threshold needs are known (no run then counts as merely slow).
fn slow_not_hung(ctx: &Ctx, hist: &History) -> i64 {
    let cfg = ctx.cfg;
    let durs = hist.recent_success(cfg.history_runs, |p| {
        p.duration_ms
            .filter(|_| p.outcome == Outcome::Success)
            .map(|d| d as f64)
    });
    if durs.len() < cfg.stuck_min_history {
        return i64::MIN;
    }
    let longest = durs.iter().copied().fold(0.0, f64::max);
    (cfg.stuck_factor * longest).max(longest + cfg.stuck_slack.ms() as f64) as i64
}

/// Heartbeat intervals remembered per pipeline.
const HEARTBEATS_KEEP: usize = 32;

/// A run in progress, as observed: what is needed to tell, at any later moment,
/// whether and since when it is stuck.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Watch {
    run_id: String,
    start: Millis,
    /// The candidate moments: (when, evidence, details of the evidence).
    moments: Vec<(Millis, String, serde_json::Value)>,
}

/// See the module comment. Never for streaming pipelines. Opens at the earliest
/// moment the run lived past, resolves when the run ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StuckRun {
    /// Runs in progress when observed.
    running: Vec<Watch>,
    /// Mean heartbeat interval (ms) of recent completed runs with heartbeats.
    heartbeat_ms: Vec<i64>,
}

impl StuckRun {
    /// The pipeline's usual silence limit: factor × the median heartbeat interval,
    /// at least the floor; None while the pipeline has not shown heartbeats.
    fn silence_limit(&self, ctx: &Ctx) -> Option<i64> {
        let cfg = ctx.cfg;
        if self.heartbeat_ms.len() < cfg.stuck_heartbeat_runs {
            return None;
        }
        let v: Vec<f64> = self.heartbeat_ms.iter().map(|&x| x as f64).collect();
        let median = quantile(&v, 0.5)?;
        Some(((cfg.stuck_heartbeat_factor * median) as i64).max(cfg.stuck_heartbeat_min.ms()))
    }

    /// Every moment at which `run` counts as stuck, earliest evidence first.
    fn moments(
        &self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &Notes,
    ) -> Vec<(Millis, String, serde_json::Value)> {
        self.moments_before(ctx, hist, run, notes, None)
    }

    /// The moments of [`StuckRun::moments`] before `end` (all when None), in
    /// the same order: for a run that ended at `end`, the others never count.
    fn moments_before(
        &self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &Notes,
        end: Option<Millis>,
    ) -> Vec<(Millis, String, serde_json::Value)> {
        let before = |t: Millis| end.is_none_or(|e| t < e);
        let mut out = Vec::new();
        let bound = end.map(|e| e - run.start_at);
        let (thr, basis) = stuck_threshold_below(ctx, hist, run.start_at, bound);
        if let Some(thr) = thr {
            out.push((
                run.start_at + thr,
                "duration".to_string(),
                json!({"threshold_ms": thr, "threshold_basis": basis.as_str()}),
            ));
        }
        if let Some(limit) = self.silence_limit(ctx)
            && before(run.last_alive_at + limit)
        {
            out.push((
                run.last_alive_at + limit,
                "heartbeat".to_string(),
                json!({"last_sign_of_life_at": format_ms(run.last_alive_at), "silence_limit_ms": limit}),
            ));
        }
        if basis != Basis::Learned
            && let Some(at) = notes.held_up_at
            && at > run.start_at
            && before(at)
        {
            out.push((
                at,
                "schedule".to_string(),
                json!({"next_start_due_by": format_ms(at)}),
            ));
        }
        out.sort_by_key(|m| m.0);
        out
    }

    /// Remembers a completed run's heartbeat interval (successful runs without
    /// retries that sent at least two heartbeats).
    fn learn_heartbeats(&mut self, run: &Run) {
        if run.outcome != Outcome::Success || run.retries > 0 || run.heartbeats < 2 {
            return;
        }
        let span = run.last_alive_at - run.start_at;
        if span <= 0 {
            return;
        }
        if self.heartbeat_ms.len() == HEARTBEATS_KEEP {
            self.heartbeat_ms.remove(0);
        }
        self.heartbeat_ms.push(span / run.heartbeats);
    }
}

fn stuck_episode(
    ctx: &Ctx,
    run_id: &str,
    start: Millis,
    moment: &(Millis, String, serde_json::Value),
) -> Episode {
    let (at, evidence, details) = moment;
    let why = match evidence.as_str() {
        "heartbeat" => "its heartbeats stopped".to_string(),
        "schedule" => "it holds up the next scheduled run".to_string(),
        _ => format!("still running after {}", format_duration(at - start)),
    };
    let mut d = json!({
        "run_started_at": format_ms(start),
        "evidence": evidence,
        "stuck_after_ms": at - start,
    });
    for (k, v) in details.as_object().into_iter().flatten() {
        d[k] = v.clone();
    }
    Episode::open(
        AlertKind::StuckRun,
        ctx.pipeline_id,
        *at,
        Some(run_id),
        format!(
            "{} run {run_id} is stuck: {why} (started {})",
            ctx.pipeline_id,
            format_ms(start)
        ),
        d,
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
        match run.ended_at {
            None => self.running.push(Watch {
                run_id: run.run_id.clone(),
                start: run.start_at,
                moments: self.moments(ctx, hist, run, notes),
            }),
            Some(end) => {
                // The first moment the run lived past (it ended later).
                let moments = self.moments_before(ctx, hist, run, notes, Some(end));
                if let Some(m) = moments.first() {
                    // The threshold is the contract's deadline from an estimated
                    // p95, a few minutes early. A run that then succeeds within
                    // the deadline that the longest successful run seen would
                    // give was slow rather than hung by any p95 its history
                    // allows: `duration_anomaly` judges it as well, and the
                    // stuck alert stands as the early warning it was.
                    notes.past_threshold = true;
                    notes.stuck = !(run.outcome == Outcome::Success
                        && end - run.start_at < slow_not_hung(ctx, hist));
                    let mut ep = stuck_episode(ctx, &run.run_id, run.start_at, m).resolve(end);
                    ep.last_seen_at = end;
                    ep.details["ran_ms"] = json!(end - run.start_at);
                    ep.details["outcome"] = json!(run.outcome.as_str());
                    out.push(ep);
                }
                self.learn_heartbeats(run);
            }
        }
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        for w in &self.running {
            if let Some(m) = w.moments.iter().find(|m| m.0 <= now) {
                let mut ep = stuck_episode(ctx, &w.run_id, w.start, m);
                ep.last_seen_at = now;
                ep.details["running_ms"] = json!(now - w.start);
                out.push(ep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    /// The contract's deadline for a run starting at `start`, from the successful
    /// durations the test generated (nearest-rank p95, computed here).
    fn deadline(start: i64, durs: &[i64]) -> i64 {
        let mut d = durs.to_vec();
        d.sort();
        let p95 = d[((d.len() as f64) * 0.95).ceil() as usize - 1];
        start + (4 * p95).max(p95 + HOUR)
    }

    /// Asserts that a stuck alert at `at` for a run started at `start` came by
    /// the contract's deadline, which counts the runs of `natural` that no
    /// incident `touched`.
    fn assert_by_deadline(at: i64, start: i64, natural: &[i64], touched: impl Fn(usize) -> bool) {
        let untouched: Vec<i64> = natural
            .iter()
            .enumerate()
            .filter(|&(i, _)| !touched(i))
            .map(|(_, &d)| d)
            .collect();
        assert!(
            at <= deadline(start, &untouched),
            "stuck after {} min",
            (at - start) / MIN
        );
    }

    /// 40 hourly runs of about 10 minutes, then the run under test.
    fn ten_minute_job() -> (Vec<i64>, Vec<Run>) {
        let durs = noisy(40, 10.0 * MIN as f64, 3);
        (durs.clone(), with_durations(&durs, HOUR))
    }

    #[test]
    fn a_hung_ten_minute_job_is_reported_within_about_an_hour() {
        let cfg = DetectConfig::default();
        let (durs, mut runs) = ten_minute_job();
        let start = T0 + 40 * HOUR;
        runs.push(run(40, start, Outcome::Running, 0, None));
        let eps = of(
            &detect(&runs, start + 3 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let at = eps[0].started_at;
        assert!(eps[0].is_open());
        assert!(at <= deadline(start, &durs), "after the deadline");
        assert!(at - start <= 75 * MIN, "{} min", (at - start) / MIN);
        // A margin of minutes, not a floor of hours: well past the usual 11 minutes.
        assert!(at - start >= 50 * MIN, "{} min", (at - start) / MIN);
        // Not before its moment.
        let early = of(&detect(&runs, at - 1, None, &cfg), AlertKind::StuckRun);
        assert!(early.is_empty());
    }

    #[test]
    fn an_outlier_of_the_same_slot_does_not_delay_a_hang() {
        // Behaviour 8: a 6-hourly job of 3 minutes had one run of 27 minutes
        // (a duration_anomaly) on a Saturday morning; the next Saturday
        // morning's run hangs. The outlier is no sample of its slot's normal
        // durations: the hang is reported by the contract's deadline, which
        // counts natural runs only.
        let cfg = DetectConfig::default();
        let natural = noisy(48, 3.0 * MIN as f64, 5);
        let mut durs = natural.clone();
        durs[20] = 27 * MIN;
        let mut runs = with_durations(&durs, 6 * HOUR);
        let start = T0 + 48 * 6 * HOUR;
        runs.push(run(48, start, Outcome::Running, 0, None));
        let eps = detect(&runs, start + 3 * HOUR, None, &cfg);
        let da = of(&eps, AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{eps:?}");
        assert_eq!(da[0].run_id.as_deref(), Some("r0020"));
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1, "{eps:?}");
        assert_by_deadline(stuck[0].started_at, start, &natural, |i| i == 20);
    }

    #[test]
    fn a_degradations_runs_do_not_delay_a_later_hang() {
        // Behaviour 8: a 10-minute hourly job ran 4× as long for a day (a
        // performance_degradation) from its eleventh day, then recovered; on
        // its fourteenth day, a run hangs. Each hour's p95 holds the last 12
        // runs of that hour, one of them from the slow day: the slowdown's
        // runs are no sample of what the pipeline takes.
        let cfg = DetectConfig::default();
        let natural = noisy(13 * 24 + 20, 10.0 * MIN as f64, 7);
        let mut durs = natural.clone();
        for d in &mut durs[10 * 24..11 * 24] {
            *d *= 4;
        }
        let mut runs = with_durations(&durs, HOUR);
        let start = T0 + (13 * 24 + 20) as i64 * HOUR;
        runs.push(run(durs.len(), start, Outcome::Running, 0, None));
        let eps = detect(&runs, start + 4 * HOUR, None, &cfg);
        let deg = of(&eps, AlertKind::PerformanceDegradation);
        assert_eq!(deg.len(), 1, "{eps:?}");
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1, "{eps:?}");
        assert_by_deadline(stuck[0].started_at, start, &natural, |i| {
            (10 * 24..11 * 24).contains(&i)
        });
    }

    #[test]
    fn a_slowdown_longer_than_the_memory_keeps_the_threshold_learned() {
        // A 1-minute job run every 5 minutes slowed to 2.5 minutes from its
        // eleventh day and stayed slow for three days, far more runs than the
        // history remembers. Its durations then teach the p95s again (the
        // slowdown is the pipeline's level): a 20-minute run that holds up two
        // starts is slow, not a hang found by the schedule for want of a p95.
        let cfg = DetectConfig::default();
        let days = 24 * 12;
        let mut durs = noisy(13 * days, MIN as f64, 11);
        for d in &mut durs[10 * days..] {
            *d = *d * 5 / 2;
        }
        durs.push(20 * MIN);
        durs.extend(noisy(12, 2.5 * MIN as f64, 3));
        let runs = with_durations(&durs, 5 * MIN);
        let eps = detect(&runs, end(runs.last().unwrap()), None, &cfg);
        assert_eq!(
            of(&eps, AlertKind::PerformanceDegradation).len(),
            1,
            "{eps:?}"
        );
        let stuck = of(&eps, AlertKind::StuckRun);
        assert!(stuck.is_empty(), "{stuck:?}");
    }

    #[test]
    fn a_two_hour_finisher_was_stuck_while_running_and_raises_no_duration_anomaly() {
        let cfg = DetectConfig::default();
        let (durs, mut runs) = ten_minute_job();
        let start = T0 + 40 * HOUR;
        runs.push(run(40, start, Outcome::Success, 2 * HOUR, Some(1000)));
        runs.push(run(
            41,
            T0 + 43 * HOUR,
            Outcome::Success,
            10 * MIN,
            Some(1000),
        ));
        let eps = detect(&runs, T0 + 50 * HOUR, None, &cfg);
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1, "{eps:?}");
        let thr = stuck[0].details["threshold_ms"].as_i64().unwrap();
        assert_eq!(stuck[0].started_at, start + thr);
        assert!(stuck[0].started_at <= deadline(start, &durs));
        assert_eq!(stuck[0].resolved_at, Some(start + 2 * HOUR));
        assert!(of(&eps, AlertKind::DurationAnomaly).is_empty());
        // The same run seen while it was running gave the same alert.
        let mut running = runs[..40].to_vec();
        running.push(run(40, start, Outcome::Running, 0, None));
        let open = of(
            &detect(&running, start + 90 * MIN, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(open[0].started_at, stuck[0].started_at);
        // A run of 40 minutes (slow, not stuck) is not.
        let mut slow = runs[..40].to_vec();
        slow.push(run(40, start, Outcome::Success, 40 * MIN, Some(1000)));
        assert!(
            of(
                &detect(&slow, T0 + 50 * HOUR, None, &cfg),
                AlertKind::StuckRun
            )
            .is_empty()
        );
    }

    #[test]
    fn a_run_past_the_estimated_threshold_that_ends_within_the_longest_runs_deadline_is_also_slow()
    {
        let cfg = DetectConfig::default();
        // A 6-hourly 20-minute job, ±10 %, that once took 40 minutes: the p95
        // estimate (about 22 min) puts the stuck threshold near 1 h 25 min; the
        // longest run seen would put the deadline at 2 h 40 min.
        let mut durs = noisy(30, 1_200_000.0, 0);
        durs[12] = 2_400_000;
        let mut runs = with_durations(&durs, 6 * HOUR);
        let start = T0 + 30 * 6 * HOUR;
        runs.push(run(30, start, Outcome::Success, 2 * HOUR, Some(1000)));
        runs.push(run(
            31,
            start + 6 * HOUR,
            Outcome::Success,
            20 * MIN,
            Some(1000),
        ));
        let eps = detect(&runs, start + 12 * HOUR, None, &cfg);
        // Stuck when it passed the threshold (the early warning stands) ...
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1, "{eps:?}");
        assert!(stuck[0].started_at < start + 2 * HOUR, "{eps:?}");
        // ... and, having ended within the longest run's deadline, slow too.
        let slow = of(&eps, AlertKind::DurationAnomaly);
        assert_eq!(slow.len(), 1, "{eps:?}");
        assert_eq!(slow[0].started_at, start + 2 * HOUR);
        // Ending past that deadline (3 h), it was stuck, and only that.
        runs[30] = run(30, start, Outcome::Success, 3 * HOUR, Some(1000));
        let eps = detect(&runs, start + 12 * HOUR, None, &cfg);
        assert_eq!(of(&eps, AlertKind::StuckRun).len(), 1, "{eps:?}");
        assert!(of(&eps, AlertKind::DurationAnomaly).is_empty(), "{eps:?}");
    }

    #[test]
    fn a_hang_does_not_teach_the_p95s_that_hangs_are_normal() {
        let cfg = DetectConfig::default();
        // Behaviour 8: a 6-hourly 20-minute job that hangs for 2 h on two
        // Fridays at noon, a week apart (T0 is a Monday). The first hang's
        // duration stays out of the same-weekday and same-hour p95s, so the
        // second is reported as quickly as the first.
        let mut durs = noisy(84, 1_200_000.0, 0);
        let (a, b) = (4 * 4 + 2 + 28, 4 * 4 + 2 + 56);
        durs[a] = 7_500_000;
        durs[b] = 7_500_000;
        let runs = with_durations(&durs, 6 * HOUR);
        let eps = of(
            &detect(&runs, end(&runs[83]), None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps.len(), 2, "{eps:?}");
        let after = |i: usize| eps[i].details["stuck_after_ms"].as_i64().unwrap();
        assert!(after(1) <= after(0) + 5 * MIN, "{eps:?}");
        let normal: Vec<i64> = durs.iter().copied().filter(|&d| d < 2_000_000).collect();
        assert!(
            eps[1].started_at <= deadline(runs[b].start_at, &normal),
            "{eps:?}"
        );
    }

    /// Hourly runs of about an hour that send a heartbeat every minute.
    fn heartbeating(n: usize) -> Vec<Run> {
        (0..n)
            .map(|i| {
                let start = T0 + i as i64 * 2 * HOUR;
                let dur = (HOUR as f64 * (1.0 + 0.1 * noise(i))) as i64;
                let mut r = run(i, start, Outcome::Success, dur, Some(1000));
                r.heartbeats = dur / MIN;
                r.last_alive_at = start + r.heartbeats * MIN;
                r
            })
            .collect()
    }

    #[test]
    fn heartbeats_that_stop_are_a_hang_before_the_duration_threshold() {
        let cfg = DetectConfig::default();
        let mut runs = heartbeating(20);
        let start = T0 + 40 * HOUR;
        let mut hung = run(20, start, Outcome::Running, 0, None);
        hung.heartbeats = 20;
        hung.last_alive_at = start + 20 * MIN;
        runs.push(hung.clone());
        // Silence limit: max(5 × 1 min, 10 min) after the last heartbeat.
        let eps = of(
            &detect(&runs, start + 45 * MIN, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert_eq!(eps[0].started_at, start + 30 * MIN);
        assert_eq!(eps[0].details["evidence"], json!("heartbeat"));
        assert!(
            of(
                &detect(&runs, start + 29 * MIN, None, &cfg),
                AlertKind::StuckRun
            )
            .is_empty()
        );
        // Killed hours later: the one-pass view of the finished run agrees.
        let mut ended = hung;
        ended.outcome = Outcome::Failed;
        ended.ended_at = Some(start + 5 * HOUR);
        ended.duration_ms = Some(5 * HOUR);
        *runs.last_mut().unwrap() = ended;
        let done = of(
            &detect(&runs, start + 6 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].started_at, start + 30 * MIN);
        assert_eq!(done[0].resolved_at, Some(start + 5 * HOUR));
        // Heartbeats that go on: an ordinary run, nothing.
        let ok = heartbeating(21);
        assert!(
            of(
                &detect(&ok, T0 + 50 * HOUR, None, &cfg),
                AlertKind::StuckRun
            )
            .is_empty()
        );
    }

    #[test]
    fn a_run_holding_up_the_schedule_is_stuck_not_missed_on_a_young_pipeline() {
        let cfg = DetectConfig::default();
        let hourly = Schedule::parse("0 * * * *").unwrap();
        // Three runs of 40 minutes: too few for a p95 (young threshold 3 h 45 min).
        let mut runs: Vec<Run> = (0..3)
            .map(|i| {
                run(
                    i,
                    T0 + i as i64 * HOUR + MIN,
                    Outcome::Success,
                    40 * MIN,
                    None,
                )
            })
            .collect();
        let start = T0 + 3 * HOUR + MIN;
        runs.push(run(3, start, Outcome::Running, 0, None));
        let now = T0 + 9 * HOUR;
        let eps = detect(&runs, now, Some(&hourly), &cfg);
        assert!(of(&eps, AlertKind::MissedRun).is_empty(), "{eps:?}");
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1, "{eps:?}");
        // Young threshold: the longest of three runs is short of their p95 by
        // exp(0.35 × (1.645 − 0.674)) = 1.404, so p95 ≈ 56.2 min and the
        // threshold is 4 × 56.2 = 224.7 min; the next start (04:00) plus its
        // 15-minute tolerance comes sooner.
        assert_eq!(stuck[0].started_at, T0 + 4 * HOUR + 15 * MIN);
        assert_eq!(stuck[0].details["evidence"], json!("schedule"));
        // Without a schedule the young threshold applies.
        let eps = of(&detect(&runs, now, None, &cfg), AlertKind::StuckRun);
        let at = eps[0].started_at - start;
        assert!((224 * MIN..226 * MIN).contains(&at), "{}", at / MIN);
        assert_eq!(eps[0].details["threshold_basis"], json!("young"));
    }

    #[test]
    fn a_young_heavy_tailed_daily_job_running_long_is_not_hung() {
        let cfg = DetectConfig::default();
        // Behaviour 6 and 7: a daily job two days old, 42 and 44 minutes, then
        // a run of 2 h 23 min that succeeds (3.4 × the median, inside what
        // four times the p95 the longest implies allows): slow, not hung. A
        // run still going after that is reported: the longest of two runs is
        // short of their p95 by exp(0.35 × (1.645 − 0.431)) = 1.530, so the
        // p95 is about 67.3 min and the threshold 4 × 67.3 = 269.2 min.
        let durs = [42 * MIN, 44 * MIN, 143 * MIN];
        let runs: Vec<Run> = durs
            .iter()
            .enumerate()
            .map(|(i, &d)| run(i, T0 + i as i64 * DAY, Outcome::Success, d, None))
            .collect();
        let eps = detect(&runs, T0 + 3 * DAY, None, &cfg);
        assert!(of(&eps, AlertKind::StuckRun).is_empty(), "{eps:?}");
        let mut hung = runs[..2].to_vec();
        hung.push(run(2, T0 + 2 * DAY, Outcome::Running, 0, None));
        let eps = of(
            &detect(&hung, T0 + 2 * DAY + 4 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert!(eps.is_empty(), "not yet: {eps:?}");
        let eps = of(
            &detect(&hung, T0 + 2 * DAY + 5 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let at = eps[0].started_at - (T0 + 2 * DAY);
        assert!((269 * MIN..270 * MIN).contains(&at), "{}", at / MIN);
    }

    #[test]
    fn a_second_run_that_is_the_slowest_in_weeks_is_not_hung() {
        let cfg = DetectConfig::default();
        // A daily job's first run took an hour; its second takes 6 h 16 min
        // and succeeds. One run is about the median, not the p95: the p95 it
        // implies is exp(0.35 × 1.645) = 1.78 × 60 = 106.7 min, and the
        // threshold 4 × 106.7 = 7 h 7 min. Four times the first run (4 h)
        // would have called it hung.
        let runs = vec![
            run(0, T0, Outcome::Success, HOUR, None),
            run(1, T0 + DAY, Outcome::Success, 376 * MIN, None),
        ];
        let eps = detect(&runs, T0 + 2 * DAY, None, &cfg);
        assert!(of(&eps, AlertKind::StuckRun).is_empty(), "{eps:?}");
        // Still running at 7 h 10 min, it is.
        let hung = vec![runs[0].clone(), run(1, T0 + DAY, Outcome::Running, 0, None)];
        let eps = of(
            &detect(&hung, T0 + DAY + 430 * MIN, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let at = eps[0].started_at - (T0 + DAY);
        assert!((426 * MIN..428 * MIN).contains(&at), "{}", at / MIN);
    }

    #[test]
    fn no_history_uses_the_default_and_streaming_is_never_stuck() {
        let cfg = DetectConfig::default();
        let short = vec![run(0, T0, Outcome::Running, 0, None)];
        let eps = of(
            &detect(&short, T0 + 7 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps[0].started_at, T0 + cfg.stuck_default.ms());
        let ctx = Ctx {
            cfg: &cfg,
            pipeline_id: "p",
            schedule: None,
            streaming: true,
        };
        assert!(detect_all(&cfg, &ctx, &short, T0 + 100 * DAY).is_empty());
    }
}
