//! The synthetic world: pipelines with owners, priorities, cadences, duration and
//! volume profiles, and lineage; plus the seeded random helpers everything draws from.
//!
//! Every pipeline's error text carries a phrase of plain words unique to it, so no two
//! pipelines' own failures share an error signature: only the injected systemic outage
//! makes several pipelines fail with one signature.

use chrono::{Datelike, TimeZone, Timelike, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{Millis, Priority};

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
pub const WEEK: i64 = 7 * DAY;

/// Seeded randomness with the few distributions the generator needs.
pub struct Dice(ChaCha8Rng);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A child stream, so one part's draws do not shift another's.
    pub fn fork(&mut self) -> Dice {
        Dice::new(self.0.random::<u64>())
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [lo, hi); `lo` when the range is empty.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.0.random_range(lo..hi)
        }
    }

    pub fn index(&mut self, len: usize) -> usize {
        if len <= 1 {
            0
        } else {
            self.0.random_range(0..len)
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// Index drawn with the given (non-negative) weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Standard normal truncated to ±k: natural noise never produces an outlier that
    /// would itself be an incident.
    pub fn bounded_normal(&mut self, k: f64) -> f64 {
        loop {
            let z = self.normal();
            if z.abs() <= k {
                return z;
            }
        }
    }

    /// Student's t with `df` degrees of freedom (integer df: a normal over the root of
    /// a chi-square drawn as a sum of squared normals).
    pub fn student_t(&mut self, df: u32) -> f64 {
        let chi2: f64 = (0..df.max(1)).map(|_| self.normal().powi(2)).sum();
        self.normal() / (chi2 / df.max(1) as f64).sqrt().max(1e-9)
    }

    /// Log-uniform in [lo, hi].
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
    }

    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.index(i + 1);
            xs.swap(i, j);
        }
    }
}

/// How a pipeline's cadence is known to a monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum Cadence {
    /// Declared as a 5-field cron expression (UTC).
    Cron(String),
    /// Declared as an interval (`15m`, `1h`, `1d`).
    Interval(String),
    /// Not declared: a monitor has to learn it from history.
    Learned,
}

impl Cadence {
    pub fn declared(&self) -> Option<&str> {
        match self {
            Cadence::Cron(s) | Cadence::Interval(s) => Some(s),
            Cadence::Learned => None,
        }
    }
}

/// One synthetic pipeline and everything that shapes its runs.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub id: String,
    /// None: its events never name a team (routed to `unowned`).
    pub team: Option<String>,
    /// None: its events never give a priority (the default, medium).
    pub priority: Option<Priority>,
    pub environment: &'static str,
    pub period: i64,
    /// Offset of the first nominal run from the start of the data.
    pub phase: i64,
    pub cadence: Cadence,
    /// Median duration in ms, before seasonality.
    pub median: f64,
    /// Duration noise around the seasonal expectation (heavy-tailed, bounded).
    pub noise: Noise,
    /// Hour of the daily peak (UTC) and the seasonal profile.
    pub hod_peak: f64,
    pub season: Season,
    /// Median records per run on a weekday at the peak hour.
    pub records: f64,
    /// Log-scale spread of volume noise (bounded at 2.5 sd).
    pub volume_sigma: f64,
    /// Durations follow volume: duration ∝ (records / expected records)^vol_beta.
    pub vol_beta: f64,
    /// First nominal run: young pipelines start mid-history.
    pub born: Millis,
    /// `running` heartbeats every this many ms during an attempt (None: none).
    pub heartbeat: Option<i64>,
    /// Share of runs whose `started` event the collector loses.
    pub drop_started: f64,
    /// Backoff before the first retry (doubling for later ones).
    pub backoff: i64,
    pub upstream: Option<usize>,
    pub downstreams: Vec<usize>,
    /// Plain words unique to this pipeline, used in its error messages.
    pub phrase: String,
    pub error_type: &'static str,
    pub tasks: [&'static str; 3],
    /// Airflow-style run ids (`scheduled__<time>`), which repeat across pipelines.
    pub airflow_ids: bool,
    pub sends_event_ids: bool,
    pub sends_duration: bool,
    /// Attributes on every event instead of only on `started`.
    pub attrs_everywhere: bool,
}

impl Pipe {
    /// The effective team as a monitor must route it.
    pub fn team_or_unowned(&self) -> String {
        self.team.clone().unwrap_or_else(|| "unowned".to_string())
    }

    pub fn effective_priority(&self) -> Priority {
        self.priority.unwrap_or_default()
    }

    /// Expected duration and records of a run starting at `t`, before noise.
    pub fn expected(&self, t: Millis) -> (f64, f64) {
        let (d, v) = self.season.log_factors(t, self.period, self.hod_peak);
        (self.median * d.exp(), self.records * v.exp())
    }

    /// Expected duration of a run starting at `t`, before noise.
    pub fn seasonal_duration(&self, t: Millis) -> f64 {
        self.expected(t).0
    }

    /// Expected records of a successful run starting at `t`, before noise.
    pub fn seasonal_records(&self, t: Millis) -> f64 {
        self.expected(t).1
    }

    /// The largest ratio of a natural duration to its seasonal expectation: the noise
    /// bound times the most that following volume can add.
    pub fn natural_bound(&self) -> f64 {
        self.noise.cap * (2.5 * self.volume_sigma * self.vol_beta).exp().min(2.0)
    }

    /// The largest expected duration over the week (an upper bound for planning).
    pub fn peak_duration(&self) -> f64 {
        (0..7 * 24)
            .map(|h| self.seasonal_duration(self.born + h * HOUR))
            .fold(0.0, f64::max)
    }
}

/// Shape of a pipeline's duration noise: log-scale spread, tail family, and the bound
/// (as a ratio) that natural noise never exceeds either way, so that an injected
/// outlier is always beyond anything natural.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    pub sigma: f64,
    pub tail: Tail,
    pub cap: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tail {
    Normal,
    /// Student's t with this many degrees of freedom.
    StudentT(u32),
    /// A normal with a share of draws from a component this many times wider.
    Mixture {
        share: f64,
        wide: f64,
    },
}

impl Noise {
    /// One multiplicative noise factor in [1/cap, cap].
    pub fn factor(&self, dice: &mut Dice) -> f64 {
        let z = match self.tail {
            Tail::Normal => dice.normal(),
            Tail::StudentT(df) => dice.student_t(df),
            Tail::Mixture { share, wide } => {
                let z = dice.normal();
                if dice.chance(share) { z * wide } else { z }
            }
        };
        let bound = self.cap.ln();
        (self.sigma * z).clamp(-bound, bound).exp()
    }
}

/// Hour-of-week profile on the log scale. Frequent jobs are shorter and lighter at
/// night and at weekends; at weekends the daily curve is also flattened (a weekday ×
/// hour interaction); Monday morning may carry a backlog. Durations follow the volume
/// profile to the power `dur_follows`, plus their own part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Season {
    /// ln of the night/day ratio of volume (≤ 0) and of duration's own part.
    pub night_vol: f64,
    pub night_dur: f64,
    /// ln of the weekend/weekday ratio.
    pub weekend_vol: f64,
    pub weekend_dur: f64,
    /// How much of the daily curve is left at weekends (0..1).
    pub weekend_flatten: f64,
    /// ln of the Monday-morning backlog factor (≥ 0).
    pub monday: f64,
    pub dur_follows: f64,
}

impl Season {
    /// (ln duration factor, ln volume factor) at `t`.
    pub fn log_factors(&self, t: Millis, period: i64, peak: f64) -> (f64, f64) {
        let dt = Utc.timestamp_millis_opt(t).single().unwrap_or_default();
        let hour = dt.hour() as f64 + dt.minute() as f64 / 60.0;
        let wd = dt.weekday().num_days_from_monday();
        let weekend = wd >= 5;
        let (mut v, mut d) = (0.0, 0.0);
        if period < DAY {
            // 1 at the peak hour, 0 twelve hours away.
            let day = 0.5 * (1.0 + (std::f64::consts::TAU * (hour - peak) / 24.0).cos());
            let amp = if weekend { self.weekend_flatten } else { 1.0 };
            v += self.night_vol * (1.0 - day) * amp;
            d += self.night_dur * (1.0 - day) * amp;
            if wd == 0 && hour < 12.0 {
                let fade = 1.0 - hour / 12.0;
                v += self.monday * fade;
                d += self.monday * fade;
            }
        } else if wd == 0 {
            v += self.monday;
            d += self.monday;
        }
        if weekend {
            v += self.weekend_vol;
            d += self.weekend_dur;
        }
        (d + self.dur_follows * v, v)
    }
}

/// Per-seed habits of a world: how spread, tailed, seasonal and lossy its pipelines
/// tend to be. Drawn once per seed, so two worlds differ in kind, not only in detail.
#[derive(Debug, Clone)]
pub struct Style {
    pub cadence_weights: Vec<f64>,
    pub max_sigma: f64,
    pub tail_weights: [f64; 3],
    pub seasonal_share: f64,
    pub follow_share: f64,
    pub young_share: f64,
    pub heartbeat_share: f64,
    pub max_drop_started: f64,
}

impl Style {
    pub fn draw(dice: &mut Dice) -> Style {
        Style {
            cadence_weights: CADENCES
                .iter()
                .map(|c| c.1 * dice.log_uniform(0.4, 2.5))
                .collect(),
            max_sigma: dice.uniform(0.25, 0.6),
            tail_weights: [
                dice.uniform(0.1, 1.0),
                dice.uniform(0.2, 1.0),
                dice.uniform(0.1, 1.0),
            ],
            seasonal_share: dice.uniform(0.4, 0.9),
            follow_share: dice.uniform(0.3, 0.8),
            young_share: dice.uniform(0.05, 0.2),
            heartbeat_share: dice.uniform(0.2, 0.7),
            max_drop_started: dice.uniform(0.005, 0.04),
        }
    }
}

const TEAMS: [&str; 8] = [
    "payments",
    "growth",
    "finance",
    "logistics",
    "search",
    "ml",
    "marketing",
    "data-eng",
];
const NOUNS: [&str; 20] = [
    "orders",
    "invoices",
    "customers",
    "sessions",
    "clicks",
    "payouts",
    "refunds",
    "carts",
    "shipments",
    "inventory",
    "ledger",
    "campaigns",
    "features",
    "embeddings",
    "reviews",
    "tickets",
    "accounts",
    "prices",
    "events",
    "returns",
];
const ADJECTIVES: [&str; 24] = [
    "amber", "brisk", "cobalt", "dusty", "eager", "frosty", "gentle", "hollow", "ivory", "jolly",
    "keen", "lunar", "mellow", "nimble", "olive", "proud", "quiet", "rustic", "silver", "tidy",
    "urban", "vivid", "woolly", "zesty",
];
const THINGS: [&str; 24] = [
    "badger", "canyon", "delta", "ember", "falcon", "glacier", "harbor", "island", "jungle",
    "kettle", "lantern", "meadow", "nectar", "orchard", "pebble", "quarry", "river", "saddle",
    "thicket", "upland", "valley", "willow", "yonder", "zephyr",
];
const EXTRA: [&str; 8] = [
    "north", "south", "east", "west", "upper", "lower", "inner", "outer",
];
const ERROR_TYPES: [&str; 6] = [
    "DataQualityError",
    "SchemaMismatchError",
    "ValueError",
    "KeyError",
    "IntegrityError",
    "AssertionError",
];
const TASKS: [[&str; 3]; 4] = [
    ["extract", "transform", "load"],
    ["sensor", "compute", "publish"],
    ["ingest", "validate", "write_warehouse"],
    ["fetch", "aggregate", "export"],
];

/// Cadences with their weights: mostly hourly and daily, a few very frequent or weekly.
const CADENCES: [(i64, f64, &str); 10] = [
    (5 * MINUTE, 0.5, "5min"),
    (10 * MINUTE, 0.5, "10min"),
    (15 * MINUTE, 1.0, "15min"),
    (30 * MINUTE, 1.5, "30min"),
    (HOUR, 4.0, "hourly"),
    (2 * HOUR, 2.0, "2h"),
    (6 * HOUR, 2.0, "6h"),
    (12 * HOUR, 1.0, "12h"),
    (DAY, 5.0, "daily"),
    (WEEK, 1.5, "weekly"),
];

/// A unique phrase of plain words for pipeline `i` (no digits, so no signature
/// normaliser masks it away).
fn phrase(i: usize) -> String {
    let a = ADJECTIVES[i % ADJECTIVES.len()];
    let t = THINGS[(i / ADJECTIVES.len()) % THINGS.len()];
    let e = EXTRA[(i / (ADJECTIVES.len() * THINGS.len())) % EXTRA.len()];
    let lap = i / (ADJECTIVES.len() * THINGS.len() * EXTRA.len());
    let mut s = format!("{e} {a} {t}");
    // Beyond 4608 pipelines, repeat the extra word to stay unique.
    for _ in 0..lap {
        s.insert_str(0, "far ");
    }
    s
}

fn interval_text(period: i64) -> String {
    if period % WEEK == 0 {
        format!("{}w", period / WEEK)
    } else if period % DAY == 0 {
        format!("{}d", period / DAY)
    } else if period % HOUR == 0 {
        format!("{}h", period / HOUR)
    } else {
        format!("{}m", period / MINUTE)
    }
}

/// A cron expression whose firing times are `start + phase + k * period`, given that
/// `start` is a midnight UTC.
fn cron_text(period: i64, phase: i64, start: Millis) -> String {
    let minute = (phase % HOUR) / MINUTE;
    let hour = (phase % DAY) / HOUR;
    match period {
        p if p < HOUR => {
            // The first firing minute of every hour: the phase's minute taken
            // back by whole periods (a 47-minute phase of a 5-minute job fires
            // at :02, :07, …, not only from :47).
            let step = p / MINUTE;
            let first = minute % step.max(1);
            if first == 0 {
                format!("*/{step} * * * *")
            } else {
                format!("{first}-59/{step} * * * *")
            }
        }
        HOUR => format!("{minute} * * * *"),
        p if p < DAY => {
            // Likewise the first firing hour of the day: a 6-hourly job phased
            // at 19:04 fires at 01:04, 07:04, 13:04 and 19:04 (`19-23/6` would
            // be 19:04 alone, a daily schedule the runs do not keep).
            let step = p / HOUR;
            let first = hour % step.max(1);
            format!("{minute} {first}-23/{step} * * *")
        }
        DAY => format!("{minute} {hour} * * *"),
        _ => {
            let day = Utc
                .timestamp_millis_opt(start + phase)
                .single()
                .unwrap_or_default()
                .weekday()
                .num_days_from_sunday();
            format!("{minute} {hour} * * {day}")
        }
    }
}

/// Builds `n` pipelines over data starting at `start` (a midnight UTC; cron phases
/// rely on it) and lasting `days`.
pub fn make_pipes(n: usize, start: Millis, days: u32, dice: &mut Dice) -> Vec<Pipe> {
    let style = Style::draw(dice);
    let span = days as i64 * DAY;
    let mut pipes: Vec<Pipe> = Vec::with_capacity(n);
    for i in 0..n {
        let (period, _, tag) = CADENCES[dice.weighted(&style.cadence_weights)];
        let team_ix = dice.index(TEAMS.len());
        let team = if i % 25 == 24 {
            None
        } else {
            Some(TEAMS[team_ix].to_string())
        };
        let priority = if i % 10 == 7 {
            None
        } else {
            Some(
                [
                    Priority::Critical,
                    Priority::High,
                    Priority::Medium,
                    Priority::Low,
                ][dice.weighted(&[0.15, 0.25, 0.4, 0.2])],
            )
        };
        // Phase: a whole minute inside the period (and inside the day for longer ones).
        let phase_span = period.min(DAY);
        let mut phase = dice.int(0, phase_span / MINUTE) * MINUTE
            + if period == WEEK {
                dice.int(0, 7) * DAY
            } else {
                0
            };
        // Young pipelines: the first run comes a fifth to three fifths into the data,
        // on the pipeline's own grid (so a cron expression still describes it).
        if period < WEEK && i % 3 != 0 && dice.chance(style.young_share) && days >= 10 {
            let late = dice.int(span / 5, span * 3 / 5);
            phase += late - late % period;
        }
        // Durations: seconds to hours, always well inside the period.
        let max_median = (0.25 * period as f64).min(2.0 * HOUR as f64);
        let median = dice.log_uniform(4_000.0, max_median.max(6_000.0));
        let noun = NOUNS[dice.index(NOUNS.len())];
        let domain = team.as_deref().unwrap_or("shared").replace('-', "_");
        let cadence = if period == WEEK {
            Cadence::Cron(cron_text(period, phase, start))
        } else {
            match dice.weighted(&[0.4, 0.2, 0.4]) {
                0 => Cadence::Cron(cron_text(period, phase, start)),
                1 => Cadence::Interval(interval_text(period)),
                _ => Cadence::Learned,
            }
        };
        let sigma = dice.log_uniform(0.015, style.max_sigma);
        let tail = match dice.weighted(&style.tail_weights) {
            0 => Tail::Normal,
            1 => Tail::StudentT(dice.int(2, 7) as u32),
            _ => Tail::Mixture {
                share: dice.uniform(0.02, 0.12),
                wide: dice.uniform(2.5, 5.0),
            },
        };
        let noise = Noise {
            sigma,
            tail,
            cap: (5.0 * sigma).exp().clamp(1.6, 3.0),
        };
        let seasonal = dice.chance(style.seasonal_share);
        let follows = dice.chance(style.follow_share);
        let frequent = period < DAY;
        let season = Season {
            night_vol: if seasonal && frequent {
                dice.uniform(0.25, 0.9f64).ln()
            } else {
                0.0
            },
            night_dur: if seasonal && frequent {
                dice.uniform(0.7, 1.0f64).ln()
            } else {
                0.0
            },
            weekend_vol: if seasonal {
                dice.uniform(0.2, 0.85f64).ln()
            } else if dice.chance(0.3) {
                dice.uniform(0.7, 1.0f64).ln()
            } else {
                0.0
            },
            weekend_dur: if seasonal && frequent {
                dice.uniform(0.75, 1.0f64).ln()
            } else {
                0.0
            },
            weekend_flatten: dice.uniform(0.2, 1.0),
            monday: if dice.chance(0.35) {
                dice.uniform(1.1, 1.4f64).ln()
            } else {
                0.0
            },
            dur_follows: if follows { dice.uniform(0.3, 0.9) } else { 0.0 },
        };
        let heartbeat = if dice.chance(style.heartbeat_share) {
            Some(((median / 12.0) as i64).clamp(MINUTE, 15 * MINUTE) / MINUTE * MINUTE)
        } else {
            None
        };
        pipes.push(Pipe {
            id: format!("{domain}_{noun}_{tag}_{i:03}"),
            team,
            priority,
            environment: if dice.chance(0.9) { "prod" } else { "staging" },
            period,
            phase,
            cadence,
            median,
            noise,
            hod_peak: dice.uniform(8.0, 20.0),
            season,
            records: dice.log_uniform(200.0, 5_000_000.0),
            volume_sigma: dice.log_uniform(0.02, 0.3),
            vol_beta: if follows { dice.uniform(0.4, 1.0) } else { 0.0 },
            born: start + phase,
            heartbeat,
            drop_started: dice.uniform(0.0, style.max_drop_started),
            backoff: dice.log_uniform(20_000.0, 8.0 * MINUTE as f64) as i64,
            upstream: None,
            downstreams: Vec::new(),
            phrase: phrase(i),
            error_type: ERROR_TYPES[dice.index(ERROR_TYPES.len())],
            tasks: TASKS[dice.index(TASKS.len())],
            airflow_ids: dice.chance(0.35),
            sends_event_ids: dice.chance(0.85),
            sends_duration: dice.chance(0.8),
            attrs_everywhere: dice.chance(0.2),
        });
    }
    link_lineage(&mut pipes, dice);
    pipes
}

/// About one pipeline in seven (hourly to daily) becomes the downstream of an earlier
/// pipeline with the same cadence: it starts a few minutes after its upstream ends and
/// declares no schedule (its cadence is learned). An upstream is kept short so the
/// downstream's start time hardly wanders.
fn link_lineage(pipes: &mut [Pipe], dice: &mut Dice) {
    for i in 1..pipes.len() {
        let period = pipes[i].period;
        if !(HOUR..=DAY).contains(&period) || !dice.chance(0.15) {
            continue;
        }
        let candidates: Vec<usize> = (0..i)
            .filter(|&j| {
                pipes[j].period == period
                    && pipes[j].upstream.is_none()
                    && pipes[j].downstreams.len() < 3
            })
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let up = *dice.pick(&candidates);
        pipes[i].upstream = Some(up);
        pipes[i].cadence = Cadence::Learned;
        pipes[up].downstreams.push(i);
        pipes[up].median = pipes[up].median.min(0.04 * period as f64);
        pipes[up].noise.sigma = pipes[up].noise.sigma.min(0.12);
        pipes[up].noise.cap = pipes[up].noise.cap.min(1.6);
        // A downstream is as old as its upstream.
        pipes[i].born = pipes[up].born;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_unique_and_free_of_digits() {
        let all: std::collections::HashSet<String> = (0..6000).map(phrase).collect();
        assert_eq!(all.len(), 6000);
        assert!(all.iter().all(|p| !p.chars().any(|c| c.is_ascii_digit())));
    }

    #[test]
    fn cron_text_matches_phase() {
        let start = crate::time::parse_rfc3339("2026-10-01T00:00:00Z").unwrap();
        let table = [
            (5 * MINUTE, 0, "*/5 * * * *"),
            (15 * MINUTE, 7 * MINUTE, "7-59/15 * * * *"),
            (5 * MINUTE, 47 * MINUTE, "2-59/5 * * * *"),
            (10 * MINUTE, 40 * MINUTE, "*/10 * * * *"),
            (HOUR, 42 * MINUTE, "42 * * * *"),
            (6 * HOUR, 3 * HOUR + 5 * MINUTE, "5 3-23/6 * * *"),
            (6 * HOUR, 19 * HOUR + 4 * MINUTE, "4 1-23/6 * * *"),
            (12 * HOUR, 14 * HOUR, "0 2-23/12 * * *"),
            (DAY, 2 * HOUR + 30 * MINUTE, "30 2 * * *"),
            // 2026-10-01 is a Thursday; two days later is Saturday (6).
            (WEEK, 2 * DAY + HOUR, "0 1 * * 6"),
        ];
        for (period, phase, want) in table {
            assert_eq!(cron_text(period, phase, start), want);
        }
    }

    #[test]
    fn interval_text_table() {
        for (p, want) in [
            (15 * MINUTE, "15m"),
            (2 * HOUR, "2h"),
            (DAY, "1d"),
            (WEEK, "1w"),
        ] {
            assert_eq!(interval_text(p), want);
        }
    }

    #[test]
    fn dice_is_deterministic_and_bounded() {
        let mut a = Dice::new(7);
        let mut b = Dice::new(7);
        for _ in 0..1000 {
            let (x, y) = (a.bounded_normal(2.5), b.bounded_normal(2.5));
            assert_eq!(x, y);
            assert!(x.abs() <= 2.5);
        }
        let noise = Noise {
            sigma: 0.4,
            tail: Tail::StudentT(2),
            cap: 2.0,
        };
        let draws: Vec<f64> = (0..5000).map(|_| noise.factor(&mut a)).collect();
        assert!(draws.iter().all(|f| (0.5..=2.0).contains(f)));
        // Heavy tails reach the bound now and then; a normal of that spread rarely would.
        assert!(draws.iter().filter(|f| **f >= 1.999).count() > 25);
    }
}
