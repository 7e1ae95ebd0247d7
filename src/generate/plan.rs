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
    /// Started, then hangs: no terminal event until `until` (never, if None), when it
    /// is killed (cancelled) or, if `finishes`, finally succeeds.
    Stuck {
        until: Option<Millis>,
        finishes: bool,
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
    /// Failed attempts (each followed by a backoff) before the one that succeeds.
    pub retries: u32,
    /// The collector loses this run's `started` event.
    pub drop_started: bool,
    /// Part of a benign one-off surge.
    pub benign: bool,
    /// An injected single-run anomaly: its noise never pulls it back towards normal.
    pub pure: bool,
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
            retries: 0,
            drop_started: false,
            benign: false,
            pure: false,
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
        until: Option<Millis>,
        finishes: bool,
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
    /// A benign one-off surge of volume and duration (month start): not an incident.
    Surge {
        pipe: usize,
        first: usize,
        last: usize,
        factor: f64,
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
            Injected::Streak { .. } | Injected::Starve { .. } | Injected::Surge { .. } => {
                return None;
            }
        })
    }
}

/// An upper bound of a pipeline's natural wall durations, for planning hangs: the
/// peak seasonal duration at the noise bound and the volume bound, plus a retry.
pub fn duration_bound(p: &Pipe) -> f64 {
    2.0 * p.peak_duration() * p.natural_bound() + 3.0 * p.backoff as f64
}

/// The stuck-run deadline's allowance (alerts.md Timeliness) for a p95 duration.
pub fn stuck_allowance(p95: i64) -> i64 {
    (4 * p95).max(p95 + HOUR)
}

/// How long after a missed run's expected start its alert may come: three periods.
pub fn missed_allowance(period: i64) -> i64 {
    3 * period
}

/// The nominal runs of a scheduled pipeline over `[start, end)`.
pub fn grid(p: &Pipe, start: Millis, end: Millis, dice: &mut Dice) -> Vec<PlannedRun> {
    let mut runs = Vec::new();
    let mut nominal = p.born.max(start);
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
        a >= self.from(pipe) && a <= self.until && self.occupancy.free(pipe, a - pre, b + post)
    }

    /// Where incidents may start on `pipe`: after the warm-up, and on a young pipeline
    /// after two days and a dozen runs of its own history.
    fn from(&self, pipe: usize) -> Millis {
        let p = &self.pipes[pipe];
        self.from.max(p.born + (2 * DAY).max(12 * p.period))
    }

    /// A run index whose nominal time falls at a random point of the window.
    fn random_run(&self, pipe: usize, dice: &mut Dice, tail: i64) -> Option<usize> {
        let runs = &self.runs[pipe];
        let from = self.from(pipe);
        let hi = self.until - tail;
        if hi <= from {
            return None;
        }
        let t = dice.int(from, hi);
        runs.iter().position(|r| r.nominal >= t)
    }

    /// One run far longer than anything natural: at least five times its expected
    /// duration and twice the pipeline's noise bound.
    pub fn outliers(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(6 * HOUR, |p| {
            p.median >= 30_000.0 && room(p) >= outlier_floor(p) + 1.0
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let run = pl.random_run(pipe, dice, 2 * DAY)?;
            let (pre, post) = margins(p);
            let lo = outlier_floor(p);
            let factor = dice.uniform(lo, room(p).min(lo + 5.0));
            if !pl.reserve(pipe, run, run, pre, post) {
                return None;
            }
            pl.runs[pipe][run].dur_factor = factor;
            pl.runs[pipe][run].pure = true;
            Some(Injected::Outlier { pipe, run, factor })
        });
    }

    /// A step slowdown: every run from one point on takes 2-4× (more on loose
    /// pipelines), for at least a day or two dozen runs, then recovers or lasts.
    pub fn steps(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(2 * HOUR, |p| {
            p.median >= 20_000.0 && room(p) >= step_floor(p) + 1.0
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let len = 24.max((dice.int(DAY, 3 * DAY) / p.period) as usize);
            let first = pl.random_run(pipe, dice, 14 * p.period + DAY)?;
            let recovers = dice.chance(0.6);
            let last = if recovers {
                (first + len - 1).min(pl.runs[pipe].len() - 1)
            } else {
                pl.runs[pipe].len() - 1
            };
            if last < first + 13 {
                return None;
            }
            let (pre, post) = margins(p);
            let lo = step_floor(p);
            let factor = dice.uniform(lo, room(p).min(lo + 1.0));
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

    /// A gradual drift: each run 2-7 % slower than the one before, up to 3× (more on
    /// loose pipelines); "degraded" from the run where it passes 1.5×.
    pub fn drifts(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(2 * HOUR, |p| {
            p.median >= 20_000.0 && room(p) >= drift_top(p) + 0.5
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let rate: f64 = dice.uniform(0.02, 0.07);
            let top = drift_top(p);
            let to_top = (top.ln() / rate.ln_1p()).ceil() as usize;
            let degraded = (1.5f64.ln() / rate.ln_1p()).ceil() as usize;
            let len = to_top + 20;
            let first = pl.random_run(pipe, dice, (degraded as i64 + 14) * p.period + DAY)?;
            let recovers = dice.chance(0.5);
            let last = if recovers {
                (first + len - 1).min(pl.runs[pipe].len() - 1)
            } else {
                pl.runs[pipe].len() - 1
            };
            if last < first + degraded + 12 {
                return None;
            }
            let (pre, post) = margins(p);
            if !pl.reserve(pipe, first, last, pre, post) {
                return None;
            }
            for (j, r) in pl.runs[pipe][first..=last].iter_mut().enumerate() {
                r.dur_factor = (1.0 + rate).powi(j as i32 + 1).min(top);
            }
            Some(Injected::Drift {
                pipe,
                first,
                established: first + degraded - 1 + 11,
                last,
                recovers,
                rate,
            })
        });
    }

    /// One run's records: zero, a collapse to a few percent, or an explosion.
    pub fn volumes(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(DAY, |p| room(p) >= 2.5);
        let mut k = dice.index(3);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let run = pl.random_run(pipe, dice, 2 * DAY)?;
            let (pre, post) = margins(p);
            if !pl.reserve(pipe, run, run, pre, post) {
                return None;
            }
            let factor = match k % 3 {
                0 => 0.0,
                1 => dice.uniform(0.005, 0.08),
                _ => dice.uniform(8.0, 25.0),
            };
            k += 1;
            pl.runs[pipe][run].vol_factor = factor;
            pl.runs[pipe][run].pure = true;
            Some(Injected::Volume { pipe, run, factor })
        });
    }

    /// A run that hangs (heartbeats, if any, stop): to the end of the data, or killed
    /// later, or finishing late; the schedule waits meanwhile. Any duration, from a
    /// 10-second job to a two-hour one.
    pub fn stuck(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(6 * HOUR, |_| true);
        let mut k = dice.index(3);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let allowed = stuck_allowance(duration_bound(p) as i64);
            let variant = k % 3;
            let tail = allowed + if variant == 0 { 6 * HOUR } else { 14 * HOUR };
            let run = pl.random_run(pipe, dice, tail)?;
            let start = pl.runs[pipe][run].start;
            let (until, last) = if variant == 0 {
                (None, pl.runs[pipe].len() - 1)
            } else {
                let end = start + allowed + dice.int(HOUR, 8 * HOUR);
                let last = pl.runs[pipe]
                    .iter()
                    .rposition(|r| r.nominal < end)
                    .unwrap_or(run);
                (Some(end), last)
            };
            let (pre, post) = margins(p);
            let guard = (last + 1).min(pl.runs[pipe].len() - 1);
            if !pl.reserve(pipe, run, guard, pre, post) {
                return None;
            }
            k += 1;
            let finishes = variant == 2;
            pl.runs[pipe][run].fate = Fate::Stuck { until, finishes };
            // The scheduler runs one at a time: the stuck run holds up the schedule.
            for r in &mut pl.runs[pipe][run + 1..=last] {
                r.fate = Fate::Missing;
            }
            Some(Injected::Stuck {
                pipe,
                run,
                until,
                finishes,
            })
        });
    }

    pub fn outages(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(DAY, |_| true);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let len = 4.max(((2 * HOUR) as f64 / p.period as f64).ceil() as usize) + dice.index(4);
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

    /// A flaky period: failures mixed with successes (never three in a row), at a rate
    /// of 20-60 %, from a dozen runs to three days long, with at least six failures.
    pub fn flaky(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(2 * HOUR, |_| true);
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let longest = ((3 * DAY / p.period) as usize).clamp(16, 240);
            let len = dice.log_uniform(12.0, longest as f64).round() as usize;
            let first = pl.random_run(pipe, dice, len as i64 * p.period + DAY)?;
            let last = first + len - 1;
            let (_, post) = margins(p);
            if !pl.reserve(pipe, first, last, 3 * DAY, post) {
                return None;
            }
            let rate = dice.uniform(0.2, 0.6);
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
                if fails.iter().filter(|f| **f).count() >= 6 {
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

    /// Benign one-off surges: on the first day of a month (or, when the data holds no
    /// month start after the warm-up, one quarter-close day), a pipeline processes 3-8×
    /// its records and takes up to 2.5× longer. Nothing in its history predicts it.
    pub fn surges(&mut self, n: usize, dice: &mut Dice) {
        let cands = self.eligible(DAY, |p| room(p) >= 3.0);
        let day = month_start_after(self.from + DAY, self.until - DAY).unwrap_or_else(|| {
            let t = dice.int(self.from + DAY, (self.until - DAY).max(self.from + DAY + 1));
            t - t % DAY
        });
        self.place(n, &cands, dice, |pl, pipe, dice| {
            let p = &pl.pipes[pipe];
            let runs = &pl.runs[pipe];
            let first = runs.iter().position(|r| r.nominal >= day)?;
            let last = runs.iter().rposition(|r| r.nominal < day + DAY)?;
            if last < first {
                return None;
            }
            let (pre, post) = margins(p);
            if !pl.reserve(pipe, first, last, pre, post) {
                return None;
            }
            let factor = dice.uniform(3.0, 8.0);
            let extra = dice.uniform(1.0, 1.6);
            for r in &mut pl.runs[pipe][first..=last] {
                r.vol_factor = factor;
                r.dur_factor = extra;
                r.benign = true;
            }
            Some(Injected::Surge {
                pipe,
                first,
                last,
                factor,
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

    /// One error (a database host unreachable) fails 3-6 pipelines of at least two
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
                if chosen.len() >= 6 {
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
fn room(p: &Pipe) -> f64 {
    0.8 * p.period as f64 / (p.peak_duration() * p.natural_bound())
}

/// The smallest injected outlier factor: at least 5× and twice anything natural.
fn outlier_floor(p: &Pipe) -> f64 {
    5.0f64.max(2.0 * p.natural_bound())
}

/// The smallest step factor: 2×, more where the noise is loose.
fn step_floor(p: &Pipe) -> f64 {
    2.0f64.max((2.0 * p.noise.sigma).exp())
}

/// Where a drift levels off: 3×, more where the noise is loose.
fn drift_top(p: &Pipe) -> f64 {
    3.0f64.max((3.0 * p.noise.sigma).exp())
}

/// The first midnight UTC of a month in [from, until), if any.
fn month_start_after(from: Millis, until: Millis) -> Option<Millis> {
    use chrono::{Datelike, TimeZone, Utc};
    let mut t = from - from.rem_euclid(DAY);
    while t < until {
        if t >= from && Utc.timestamp_millis_opt(t).single()?.day() == 1 {
            return Some(t);
        }
        t += DAY;
    }
    None
}

/// Natural noise on runs that are not protected: retries that succeed (one or two
/// failed attempts, each followed by a backoff), cancelled and skipped runs, lost
/// `started` events, and rare isolated failures (about one per ten days on most
/// pipelines, never two within 20 runs or two days).
pub fn add_noise(p: &Pipe, runs: &mut [PlannedRun], days: u32, dice: &mut Dice) {
    let feeds_others = !p.downstreams.is_empty();
    // A lost `started` leaves the start derivable: from `duration_ms`, or `scheduled_at`.
    let can_drop = p.sends_duration || p.airflow_ids;
    for r in runs.iter_mut() {
        if r.protected || r.fate != Fate::Success {
            continue;
        }
        let x = dice.unit();
        if x < 0.03 {
            r.retries = if dice.chance(0.8) { 1 } else { 2 };
        } else if !feeds_others && x < 0.034 {
            r.fate = Fate::Cancelled;
        } else if !feeds_others && x < 0.041 {
            r.fate = Fate::Skipped;
        }
        if can_drop && r.fate != Fate::Skipped && dice.chance(p.drop_started) {
            r.drop_started = true;
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
                runs[k].retries = 0;
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
    fn allowances_follow_the_timeliness_rules() {
        // A 10-minute job: p95 + 1 h; a 2-hour one: 4 × p95.
        assert_eq!(stuck_allowance(10 * MINUTE), 70 * MINUTE);
        assert_eq!(stuck_allowance(2 * HOUR), 8 * HOUR);
        assert_eq!(stuck_allowance(20 * MINUTE), 80 * MINUTE);
        assert_eq!(missed_allowance(5 * MINUTE), 15 * MINUTE);
        assert_eq!(missed_allowance(DAY), 3 * DAY);
    }

    #[test]
    fn month_starts_are_found() {
        let oct1 = crate::generate::GenerateOptions::DEFAULT_START;
        assert_eq!(
            month_start_after(oct1 + DAY, oct1 + 40 * DAY),
            Some(oct1 + 31 * DAY)
        );
        assert_eq!(month_start_after(oct1, oct1 + 2 * DAY), Some(oct1));
        assert_eq!(month_start_after(oct1 + DAY, oct1 + 20 * DAY), None);
    }

    #[test]
    fn natural_failures_are_isolated_and_avoid_protected_runs() {
        let start = crate::generate::GenerateOptions::DEFAULT_START;
        let mut dice = Dice::new(5);
        let pipes = make_pipes(60, start, 60, &mut dice);
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
                    .all(|r| r.fate == Fate::Success && r.retries == 0)
            );
        }
        assert!(failures > 10, "some natural failures happen ({failures})");
    }
}
