//! `missed_run`: no run started within the expected cadence plus a tolerance.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::History;
use super::stats::quantile;
use crate::model::{AlertKind, Millis, Run};
use crate::schedule::Schedule;
use crate::time::{format_duration, format_ms};
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
/// Fire times of a cron counted one by one in a missed episode; beyond, the
/// count is extrapolated (a week of `* * * * *` is 10,080 fire times).
const MAX_COUNTED: i64 = 1_000;

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

    /// The first fire time after `t`, given a fire time `f ≤ t` of the cadence:
    /// arithmetic for a fixed period, one search for a cron.
    fn next_fire_after(c: &Cadence, f: Millis, t: Millis) -> Option<Millis> {
        match c {
            Cadence::Declared(Schedule::Cron(cr)) => cr.next_after(t),
            other => {
                let p = Self::period(other, f)?.max(1);
                let k = (t - f).div_euclid(p) + 1;
                f.checked_add(k.checked_mul(p)?)
            }
        }
    }

    /// How many fire times from `f` on passed their deadline (`+ tol`) before
    /// `end`, and the last such deadline: arithmetic for a fixed period; for a
    /// cron, counted fire by fire up to `MAX_COUNTED`, and then extrapolated at
    /// the cron's period (the count is evidence for a person, not a decision).
    fn missed_fires(c: &Cadence, f: Millis, tol: i64, end: Millis) -> (i64, Millis) {
        let deadline = f + tol;
        match c {
            Cadence::Declared(Schedule::Cron(cr)) => {
                let (mut n, mut last, mut g) = (1, deadline, f);
                while n < MAX_COUNTED {
                    match cr.next_after(g) {
                        Some(next) if next + tol < end => {
                            n += 1;
                            last = next + tol;
                            g = next;
                        }
                        _ => return (n, last),
                    }
                }
                let p = (last - deadline) / (n - 1).max(1);
                if p <= 0 {
                    return (n, last);
                }
                let more = (end - 1 - last).div_euclid(p).max(0);
                (n + more, last + more * p)
            }
            other => {
                let p = Self::period(other, f).unwrap_or(1).max(1);
                let more = (end - 1 - deadline).div_euclid(p).max(0);
                (1 + more, deadline + more * p)
            }
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

    /// When a run starting at `start` holds up the pipeline's next expected start:
    /// the first fire time it does not cover, plus the tolerance. None without a
    /// cadence.
    fn holds_up(&self, ctx: &Ctx, start: Millis) -> Option<Millis> {
        let (cadence, _, margin) = self.cadence(ctx)?;
        let f = Self::first_expected(&cadence, start)?;
        let period = Self::period(&cadence, f)?;
        Some(f + Self::tolerance(ctx, period, margin))
    }

    /// The missed episode in the gap after the anchor, up to `until` (the next
    /// run's start, or `now` when `open`).
    fn gap(&self, ctx: &Ctx, until: Millis, open: bool) -> Option<Episode> {
        let (anchor, anchor_end, anchor_run) = self.anchor.as_ref()?;
        let (cadence, basis, margin) = self.cadence(ctx)?;
        // Held up by the latest run while it is in progress.
        let busy_until = (*anchor_end)?;
        let mut f = Self::first_expected(&cadence, *anchor)?;
        if f <= busy_until {
            // One step to the first fire time after the run ended, however many it
            // covered (a long run on a frequent cron covers a great many).
            f = Self::next_fire_after(&cadence, f, busy_until)?;
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
        let (occurrences, last) = Self::missed_fires(&cadence, f, tol, end);
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
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if ctx.streaming {
            return;
        }
        self.relearn(ctx, hist);
        notes.held_up_at = self.holds_up(ctx, run.start_at);
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
    use crate::detect::testutil::*;

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
    fn long_runs_on_a_frequent_cron_cover_their_fire_times_in_one_step() {
        let cfg = DetectConfig::default();
        let every_minute = Schedule::parse("* * * * *").unwrap();
        // A run a minute, each lasting 70 days: each covers ~100,000 fire times,
        // and the next run always starts while the previous one is running.
        let long: Vec<Run> = (0..200)
            .map(|i| {
                run(
                    i,
                    T0 + i as i64 * MIN + 1000,
                    Outcome::Success,
                    70 * DAY,
                    None,
                )
            })
            .collect();
        let now = T0 + 60 * DAY;
        assert!(
            of(
                &detect(&long, now, Some(&every_minute), &cfg),
                AlertKind::MissedRun
            )
            .is_empty()
        );
        // After the last run ends, the first fire time after its end is expected.
        let last_end = end(long.last().unwrap());
        let eps = of(
            &detect(&long, last_end + DAY, Some(&every_minute), &cfg),
            AlertKind::MissedRun,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let first_after = (last_end / MIN + 1) * MIN;
        let tol = eps[0].details["tolerance_ms"].as_i64().unwrap();
        assert_eq!(eps[0].started_at, first_after + tol);
        // Occurrences: every fire time whose deadline passed, counted exactly up
        // to 1,000 and at the cron's period beyond (a day has 1,440 minutes).
        let n = (last_end + DAY - 1 - (first_after + tol)) / MIN + 1;
        assert_eq!(eps[0].occurrences, n);
        // An interval schedule: arithmetic, the same answer as stepping.
        let every_5m = Schedule::parse("5m").unwrap();
        let eps = of(
            &detect(&long, last_end + DAY, Some(&every_5m), &cfg),
            AlertKind::MissedRun,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let tol = eps[0].details["tolerance_ms"].as_i64().unwrap();
        let anchor = long.last().unwrap().start_at;
        let k = (last_end - (anchor + 5 * MIN)).div_euclid(5 * MIN) + 1;
        let f = anchor + 5 * MIN + k * 5 * MIN;
        assert_eq!(eps[0].started_at, f + tol);
        assert_eq!(
            eps[0].occurrences,
            (last_end + DAY - 1 - (f + tol)) / (5 * MIN) + 1
        );
    }
}
