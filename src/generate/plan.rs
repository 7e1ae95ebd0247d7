//! Run plans: each pipeline's nominal runs, the incidents injected into them after the
//! warm-up, and the natural noise (retries, cancels, skips, rare isolated failures).
//!
//! Guarantees that keep the truth true:
//! - incidents of one pipeline never overlap: each reserves its time span plus
//!   margins before and after, so a baseline is clean again before the next one;
//! - natural noise never lands on a protected run (inside or next to an incident), and
//!   natural failures are at least 20 runs and two days apart, so they stay isolated
//!   single failures (no chance streak, no chance failure-rate spike);
//! - pipelines with downstreams get no noise that could starve a downstream run: only
//!   the one deliberate starvation incident does that.

use crate::model::{AlertKind, Millis};

use super::world::{DAY, Dice, HOUR, MINUTE, Pipe};

/// What happens to a planned run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    Success,
    Failed,
    Cancelled,
    Skipped,
    /// Started, then no terminal event; killed (cancelled) at `kill_at` if given.
    Stuck {
        kill_at: Option<Millis>,
    },
    /// The scheduler never started it.
    Missing,
}

/// Why a failed run failed.
#[derive(Debug, Clone, PartialEq)]
pub enum FailCause {
    /// The pipeline's own error (a signature no other pipeline shares).
    Own,
    /// The shared systemic error, against this host, after this many attempts.
    Systemic { host: String, attempts: i64 },
}

#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub nominal: Millis,
    pub start: Millis,
    pub fate: Fate,
    pub cause: FailCause,
    /// Multiplies the run's natural duration.
    pub dur_factor: f64,
    /// Multiplies the run's natural records (0 = nothing processed).
    pub vol_factor: f64,
    /// A first attempt fails and a second succeeds.
    pub retry: bool,
    /// Inside or next to an incident: no natural noise here.
    pub protected: bool,
}

impl PlannedRun {
    fn normal(nominal: Millis, start: Millis) -> PlannedRun {
        PlannedRun {
            nominal,
            start,
            fate: Fate::Success,
            cause: FailCause::Own,
            dur_factor: 1.0,
            vol_factor: 1.0,
            retry: false,
            protected: false,
        }
    }
}

/// An injected incident, in terms of planned runs; its times are fixed once the runs
/// are realised (terminal times depend on drawn durations).
#[derive(Debug, Clone)]
pub enum Injected {
    Outlier {
        pipe: usize,
        run: usize,
        factor: f64,
    },
    Step {
        pipe: usize,
        first: usize,
        last: usize,
        recovers: bool,
        factor: f64,
    },
    Drift {
        pipe: usize,
        first: usize,
        established: usize,
        last: usize,
        recovers: bool,
        rate: f64,
    },
    Volume {
        pipe: usize,
        run: usize,
        factor: f64,
    },
    Stuck {
        pipe: usize,
        run: usize,
        offset: i64,
        kill_at: Option<Millis>,
    },
    Outage {
        pipe: usize,
        first: usize,
        resume: usize,
    },
    Flaky {
        pipe: usize,
        first: usize,
        last: usize,
        rate: f64,
    },
    Streak {
        pipe: usize,
        first: usize,
        len: usize,
    },
    Starve {
        pipe: usize,
        first: usize,
        len: usize,
    },
    Systemic {
        runs: Vec<(usize, usize)>,
    },
}

impl Injected {
    pub fn kind(&self) -> Option<AlertKind> {
        Some(match self {
            Injected::Outlier { .. } => AlertKind::DurationAnomaly,
            Injected::Step { .. } | Injected::Drift { .. } => AlertKind::PerformanceDegradation,
            Injected::Volume { .. } => AlertKind::VolumeAnomaly,
            Injected::Stuck { .. } => AlertKind::StuckRun,
            Injected::Outage { .. } => AlertKind::MissedRun,
            Injected::Flaky { .. } => AlertKind::FailureRateSpike,
            Injected::Systemic { .. } => AlertKind::SystemicFailure,
            // Their alerts (pipeline_failed, consecutive_failures, and the downstream
            // missed runs) are derived from the realised runs.
            Injected::Streak { .. } | Injected::Starve { .. } => return None,
        })
    }
}

/// The stuck threshold the truth allows for: a detector must flag a stuck run by
/// `start + stuck_allowance + slack`.
pub fn stuck_allowance(median: f64) -> i64 {
    ((10.0 * median) as i64).max(3 * HOUR)
}

/// How long after a missed run's expected start its alert may come.
pub fn missed_allowance(period: i64) -> i64 {
    (3 * period).max(HOUR) + 15 * MINUTE
}

/// The nominal runs of a scheduled pipeline over `[start, end)`.
pub fn grid(p: &Pipe, start: Millis, end: Millis, dice: &mut Dice) -> Vec<PlannedRun> {
    let mut runs = Vec::new();
    let mut nominal = start + p.phase;
    // Schedulers start a little late, never early; more so for long cadences.
    let max_delay = (p.period / 40).clamp(2_000, 90_000);
    while nominal < end {
        let delay = dice.int(500, max_delay);
        runs.push(PlannedRun::normal(nominal, nominal + delay));
        nominal += p.period;
    }
    runs
}

/// Per-pipeline reserved time spans; incidents on one pipeline never overlap.
pub struct Occupancy(Vec<Vec<(Millis, Millis)>>);

impl Occupancy {
    pub fn new(n: usize) -> Occupancy {
        Occupancy(vec![Vec::new(); n])
    }

    fn free(&self, pipe: usize, a: Millis, b: Millis) -> bool {
        self.0[pipe].iter().all(|&(x, y)| b < x || a > y)
    }

    fn take(&mut self, pipe: usize, a: Millis, b: Millis) {
        self.0[pipe].push((a, b));
    }
}

/// The window where incidents may start, and placement bookkeeping.
pub struct Planner<'a> {
    pub pipes: &'a [Pipe],
    pub runs: &'a mut [Vec<PlannedRun>],
    pub occupancy: Occupancy,
    pub from: Millis,
    pub until: Millis,
    pub injected: Vec<Injected>,
}

/// Margins reserved around an incident on its pipeline.
fn margins(p: &Pipe) -> (i64, i64) {
    (DAY.max(5 * p.period), DAY.max(20 * p.period))
}

impl Planner<'_> {
    /// Pipelines outside the lineage (neither upstream nor downstream) with a cadence
    /// no longer than `max_period` and the extra condition.
    fn eligible(&self, max_period: i64, cond: impl Fn(&Pipe) -> bool) -> Vec<usize> {
        (0..self.pipes.len())
            .filter(|&i| {
                let p = &self.pipes[i];
                p.upstream.is_none()
                    && p.downstreams.is_empty()
                    && p.period <= max_period
                    && cond(p)
            })
            .collect()
    }

    /// Reserves runs `first..=last` of `pipe` (plus margins) if free and inside the
    /// window; marks them and `guard` runs either side protected.
    fn reserve(&mut self, pipe: usize, first: usize, last: usize, pre: i64, post: i64) -> bool {
        let runs = &self.runs[pipe];
        if last >= runs.len() || first > last {
            return false;
        }
        if !self.can_reserve(pipe, first, last, pre, post) {
            return false;
        }
        let a = runs[first].nominal;
        let b = runs[last].nominal + self.pipes[pipe].period;
        self.occupancy.take(pipe, a - pre, b + post);
        let lo = first.saturating_sub(3);
        let hi = (last + 3).min(self.runs[pipe].len() - 1);
        for r in &mut self.runs[pipe][lo..=hi] {
            r.protected = true;
        }
        true
    }

    /// Whether runs `first..=last` start inside the window and are free on `pipe`.
    fn can_reserve(&self, pipe: usize, first: usize, last: usize, pre: i64, post: i64) -> bool {
        let runs = &self.runs[pipe];
        if last >= runs.len() || first > last {
            return false;
        }
        let a = runs[first].nominal;
        let b = runs[last].nominal + self.pipes[pipe].period;
        a >= self.from && a <= self.until && self.occupancy.free(pipe, a - pre, b + post)
    }

    /// A run index whose nominal time falls at a random point of the window.
    fn random_run(&self, pipe: usize, dice: &mut Dice, tail: i64) -> Option<usize> {
        let runs = &self.runs[pipe];
        let hi = self.until - tail;
        if hi <= self.from {
            return None;
        }
        let t = dice.int(self.from, hi);
        runs.iter().position(|r| r.nominal >= t)
    }

    pub fn outliers(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(6 * HOUR, |p| {
            p.median >= 60_000.0 && max_factor(p, 1.45) >= 5.0
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let run = pl.random_run(pipe, dice, 2 * DAY)?;
            let (pre, post) = margins(p);
            let factor = dice.uniform(5.0, max_factor(p, 1.45).min(10.0));
            if !pl.reserve(pipe, run, run, pre, post) {
                return None;
            }
            pl.runs[pipe][run].dur_factor = factor;
            Some(Injected::Outlier { pipe, run, factor })
        });
    }

    pub fn steps(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(2 * HOUR, |p| {
            p.median >= 30_000.0 && max_factor(p, 1.45) >= 3.0
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let len = 40.max((8 * HOUR / p.period) as usize);
            let first = pl.random_run(pipe, dice, len as i64 * p.period + DAY)?;
            let recovers = dice.chance(0.6);
            let last = if recovers {
                first + len - 1
            } else {
                pl.runs[pipe].len() - 1
            };
            let (pre, post) = margins(p);
            let factor = dice.uniform(2.0, 3.0);
            if !pl.reserve(pipe, first, last, pre, post) {
                return None;
            }
            for r in &mut pl.runs[pipe][first..=last] {
                r.dur_factor = factor;
            }
            Some(Injected::Step {
                pipe,
                first,
                last,
                recovers,
                factor,
            })
        });
    }

    pub fn drifts(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(2 * HOUR, |p| {
            p.median >= 30_000.0 && max_factor(p, 1.45) >= 3.0
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let rate: f64 = dice.uniform(0.04, 0.07);
            let to_top = (3.0f64.ln() / rate.ln_1p()).ceil() as usize;
            let established = (2.5f64.ln() / rate.ln_1p()).ceil() as usize;
            let len = to_top + 20;
            let first = pl.random_run(pipe, dice, len as i64 * p.period + DAY)?;
            let recovers = dice.chance(0.5);
            let last = if recovers {
                first + len - 1
            } else {
                pl.runs[pipe].len() - 1
            };
            let (pre, post) = margins(p);
            if !pl.reserve(pipe, first, last, pre, post) {
                return None;
            }
            for (j, r) in pl.runs[pipe][first..=last].iter_mut().enumerate() {
                r.dur_factor = (1.0 + rate).powi(j as i32 + 1).min(3.0);
            }
            Some(Injected::Drift {
                pipe,
                first,
                established: first + established - 1,
                last,
                recovers,
                rate,
            })
        });
    }

    pub fn volumes(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(6 * HOUR, |_| true);
        let mut k = 0usize;
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let run = pl.random_run(pipe, dice, 2 * DAY)?;
            let (pre, post) = margins(p);
            if !pl.reserve(pipe, run, run, pre, post) {
                return None;
            }
            let factor = [0.0, 0.05, 10.0][k % 3];
            k += 1;
            pl.runs[pipe][run].vol_factor = factor;
            Some(Injected::Volume { pipe, run, factor })
        });
    }

    pub fn stuck(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(6 * HOUR, |p| p.median <= 30.0 * MINUTE as f64);
        let mut k = 0usize;
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let offset = stuck_allowance(p.median);
            let open = k.is_multiple_of(2);
            let tail = offset + if open { 8 * HOUR } else { offset + 12 * HOUR };
            let run = pl.random_run(pipe, dice, tail)?;
            let start = pl.runs[pipe][run].start;
            let (kill_at, last) = if open {
                (None, pl.runs[pipe].len() - 1)
            } else {
                let kill = start + offset + dice.int(HOUR, 6 * HOUR);
                let last = pl.runs[pipe]
                    .iter()
                    .rposition(|r| r.nominal < kill)
                    .unwrap_or(run);
                (Some(kill), last)
            };
            let (pre, post) = margins(p);
            let guard = (last + 1).min(pl.runs[pipe].len() - 1);
            if !pl.reserve(pipe, run, guard, pre, post) {
                return None;
            }
            k += 1;
            pl.runs[pipe][run].fate = Fate::Stuck { kill_at };
            // The scheduler runs one at a time: the stuck run holds up the schedule.
            for r in &mut pl.runs[pipe][run + 1..=last] {
                r.fate = Fate::Missing;
            }
            Some(Injected::Stuck {
                pipe,
                run,
                offset,
                kill_at,
            })
        });
    }

    pub fn outages(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(DAY, |_| true);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let len = 4.max(((2 * HOUR) as f64 / p.period as f64).ceil() as usize);
            let first = pl.random_run(pipe, dice, (len as i64 + 2) * p.period)?;
            let resume = first + len;
            let (pre, post) = margins(p);
            if !pl.reserve(pipe, first, resume, pre, post) {
                return None;
            }
            for r in &mut pl.runs[pipe][first..resume] {
                r.fate = Fate::Missing;
            }
            Some(Injected::Outage {
                pipe,
                first,
                resume,
            })
        });
    }

    pub fn flaky(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(HOUR, |_| true);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let len = 24
                .max((6 * HOUR / p.period) as usize)
                .min((DAY / p.period) as usize);
            let first = pl.random_run(pipe, dice, len as i64 * p.period + DAY)?;
            let last = first + len - 1;
            let (_, post) = margins(p);
            if !pl.reserve(pipe, first, last, 3 * DAY, post) {
                return None;
            }
            let rate = dice.uniform(0.3, 0.5);
            // Failures mixed with successes: never three in a row (that would be a
            // streak, another kind), and at least a quarter of the window.
            let pattern = loop {
                let mut fails = Vec::with_capacity(len);
                for j in 0..len {
                    let two_before = j >= 2 && fails[j - 1] && fails[j - 2];
                    fails.push(!two_before && dice.chance(rate));
                }
                // The window opens with a failure and closes with a success.
                fails[0] = true;
                fails[len - 1] = false;
                if len >= 3 && fails[1] && fails[2] {
                    fails[2] = false;
                }
                let count = fails.iter().filter(|f| **f).count();
                if count * 4 >= len {
                    break fails;
                }
            };
            for (r, fail) in pl.runs[pipe][first..=last].iter_mut().zip(pattern) {
                if fail {
                    r.fate = Fate::Failed;
                }
            }
            Some(Injected::Flaky {
                pipe,
                first,
                last,
                rate,
            })
        });
    }

    /// Reserves `len` consecutive runs of `pipe` (with margins) at a random place and
    /// makes them all fail; the first run's index, or None where none fits.
    fn fail_span(&mut self, pipe: usize, len: usize, dice: &mut Dice) -> Option<usize> {
        let p = &self.pipes[pipe];
        let first = self.random_run(pipe, dice, (len as i64 + 3) * p.period)?;
        let (pre, post) = margins(p);
        if !self.reserve(pipe, first, first + len, pre, post) {
            return None;
        }
        for r in &mut self.runs[pipe][first..first + len] {
            r.fate = Fate::Failed;
        }
        Some(first)
    }

    pub fn streaks(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(DAY, |_| true);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let len = dice.int(3, 6) as usize;
            let first = pl.fail_span(pipe, len, dice)?;
            Some(Injected::Streak { pipe, first, len })
        });
    }

    /// An upstream fails long enough that its downstreams miss at least four runs
    /// (and two hours): they are starved.
    pub fn starvation(&mut self, n: usize, dice: &mut Dice) {
        let cands: Vec<usize> = (0..self.pipes.len())
            .filter(|&i| !self.pipes[i].downstreams.is_empty())
            .collect();
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let len = 4.max(((2 * HOUR) as f64 / p.period as f64).ceil() as usize);
            let first = pl.fail_span(pipe, len, dice)?;
            Some(Injected::Starve { pipe, first, len })
        });
    }

    /// One error (a database host unreachable) fails 3-5 pipelines of at least two
    /// teams within a quarter of an hour.
    pub fn systemic(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(HOUR, |_| true);
        let mut made = 0;
        for _ in 0..200 {
            if made >= n {
                break;
            }
            let hi = self.until - 2 * HOUR;
            if hi <= self.from {
                break;
            }
            let t = dice.int(self.from, hi);
            let mut chosen: Vec<(usize, usize)> = Vec::new();
            let mut order = cands.clone();
            dice.shuffle(&mut order);
            for pipe in order {
                if chosen.len() >= 5 {
                    break;
                }
                let Some(run) = self.runs[pipe]
                    .iter()
                    .position(|r| r.start >= t && r.start < t + 15 * MINUTE)
                else {
                    continue;
                };
                let margin = DAY.max(5 * self.pipes[pipe].period);
                if self.can_reserve(pipe, run, run, margin, margin) {
                    chosen.push((pipe, run));
                }
            }
            let mut teams: Vec<String> = chosen
                .iter()
                .map(|(p, _)| self.pipes[*p].team_or_unowned())
                .collect();
            teams.sort();
            teams.dedup();
            if chosen.len() < 3 || teams.len() < 2 {
                continue;
            }
            let net = dice.int(1, 250);
            for &(pipe, run) in &chosen {
                let margin = DAY.max(5 * self.pipes[pipe].period);
                self.reserve(pipe, run, run, margin, margin);
                let host = format!("10.{net}.{}.{}", dice.int(0, 255), dice.int(2, 254));
                let r = &mut self.runs[pipe][run];
                r.fate = Fate::Failed;
                r.cause = FailCause::Systemic {
                    host,
                    attempts: dice.int(2, 4),
                };
            }
            self.injected.push(Injected::Systemic { runs: chosen });
            made += 1;
        }
    }

    /// Tries up to 40 times per wanted incident to place one on a random candidate.
    fn place(
        &mut self,
        n: usize,
        cands: &[usize],
        dice: &mut Dice,
        mut attempt: impl FnMut(&mut Self, usize, &mut Dice) -> Option<Injected>,
    ) {
        if cands.is_empty() {
            return;
        }
        let mut made = 0;
        let mut tries = 0;
        while made < n && tries < 40 * n {
            tries += 1;
            let pipe = *dice.pick(cands);
            if let Some(inj) = attempt(self, pipe, dice) {
                self.injected.push(inj);
                made += 1;
            }
        }
    }
}

/// The largest duration factor a run can take without running into the next one.
fn max_factor(p: &Pipe, seasonal_headroom: f64) -> f64 {
    0.8 * p.period as f64 / (p.median * seasonal_headroom)
}

/// Natural noise on runs that are not protected: retries that succeed, cancelled and
/// skipped runs, and rare isolated failures (about one per ten days on most
/// pipelines, never two within 20 runs or two days).
pub fn add_noise(p: &Pipe, runs: &mut [PlannedRun], days: u32, dice: &mut Dice) {
    let feeds_others = !p.downstreams.is_empty();
    for r in runs.iter_mut() {
        if r.protected || r.fate != Fate::Success {
            continue;
        }
        let x = dice.unit();
        if x < 0.03 {
            r.retry = true;
        } else if !feeds_others && x < 0.034 {
            r.fate = Fate::Cancelled;
        } else if !feeds_others && x < 0.041 {
            r.fate = Fate::Skipped;
        }
    }
    if feeds_others || runs.is_empty() || !dice.chance(0.6) {
        return;
    }
    let wanted = (days as f64 / 10.0 + dice.unit()).floor() as usize;
    let gap_runs = 20usize.max((2 * DAY / p.period) as usize);
    for _ in 0..wanted {
        for _try in 0..20 {
            let k = dice.index(runs.len());
            let lo = k.saturating_sub(gap_runs);
            let hi = (k + gap_runs).min(runs.len() - 1);
            let clear = runs[lo..=hi]
                .iter()
                .all(|r| !matches!(r.fate, Fate::Failed | Fate::Stuck { .. }))
                && runs[k.saturating_sub(3)..=(k + 3).min(runs.len() - 1)]
                    .iter()
                    .all(|r| !r.protected && r.fate == Fate::Success);
            if clear {
                runs[k].fate = Fate::Failed;
                runs[k].retry = false;
                let hi = (k + 3).min(runs.len() - 1);
                for r in &mut runs[k.saturating_sub(3)..=hi] {
                    r.protected = true;
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::world::{Dice, make_pipes};

    #[test]
    fn allowances_table() {
        assert_eq!(stuck_allowance(60_000.0), 3 * HOUR);
        assert_eq!(stuck_allowance(30.0 * MINUTE as f64), 5 * HOUR);
        assert_eq!(missed_allowance(5 * MINUTE), HOUR + 15 * MINUTE);
        assert_eq!(missed_allowance(DAY), 3 * DAY + 15 * MINUTE);
    }

    #[test]
    fn natural_failures_are_isolated_and_avoid_protected_runs() {
        let start = crate::generate::GenerateOptions::DEFAULT_START;
        let mut dice = Dice::new(5);
        let pipes = make_pipes(60, start, &mut dice);
        let mut failures = 0;
        for p in pipes
            .iter()
            .filter(|p| p.downstreams.is_empty() && p.upstream.is_none())
        {
            let mut runs = grid(p, start, start + 60 * DAY, &mut dice);
            let n = runs.len();
            if n < 20 {
                continue;
            }
            for r in &mut runs[n / 2..n / 2 + 5] {
                r.protected = true;
            }
            add_noise(p, &mut runs, 60, &mut dice);
            let fails: Vec<usize> = (0..n).filter(|&k| runs[k].fate == Fate::Failed).collect();
            failures += fails.len();
            for w in fails.windows(2) {
                assert!(w[1] - w[0] > 20, "{}: failures {} and {}", p.id, w[0], w[1]);
                assert!(runs[w[1]].nominal - runs[w[0]].nominal > 2 * DAY);
            }
            assert!(
                runs[n / 2..n / 2 + 5]
                    .iter()
                    .all(|r| r.fate == Fate::Success && !r.retry)
            );
        }
        assert!(failures > 10, "some natural failures happen ({failures})");
    }
}
