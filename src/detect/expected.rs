//! The one notion of "expected" every anomaly kind is judged against: a
//! pipeline's seasonal level of a log-scale quantity (log duration, log volume),
//! its robust residual spread, widened while history is short, and the
//! threshold that a per-pipeline false-alarm budget implies.
//!
//! Model. A value `x` (log seconds, or ln(1 + records)) of a run starting at `t`
//! is `level + hour[h(t)] + weekday[d(t)] + cell[h, d] + noise`: an hour-of-day
//! and a day-of-week effect fitted jointly (additive on the log scale, so
//! multiplicative in the original units), plus an hour-of-week interaction.
//! Each effect is shrunk toward the level above it by a pseudo-count
//! (`seasonal_prior_runs`; the interaction twice as hard), so a slot with one
//! run barely moves the estimate and a slot with weeks of runs speaks for
//! itself. Every run's weight halves every `baseline_half_life` of event time,
//! so a baseline spans weeks of time whatever the run frequency.
//!
//! Spread. The residual of each run against the prediction made before it
//! (clipped at `CLIP_SD` current spreads, so one outlier cannot inflate it) is
//! averaged with the same decay; the spread is combined with a conservative
//! prior (`prior_log_sd`, weight `prior_runs`) like a t-interval, so a young
//! pipeline gets wide intervals that narrow run by run.
//!
//! Threshold. The per-run tail probability is the false-alarm budget
//! (`false_alarms_per_month`) divided by the pipeline's runs per month; the
//! threshold is that quantile of the pipeline's tail: beyond two spreads an
//! exponential tail whose rate and mean excess are the pipeline's own, pooled
//! with a Student-t with `min(tail_df, runs seen)` degrees of freedom. A young
//! pipeline is judged by the t, so heavy-tailed noise does not turn into an
//! alarm a week; an hourly job with weeks of bounded noise by its own bound,
//! so a run four times its usual length is not lost in the t's far tail.
//!
//! Callers keep the model frozen while an episode of theirs is open: a run that
//! belongs to an anomaly never becomes part of what is expected.

use serde::{Deserialize, Serialize};

use super::DetectConfig;
use super::history::{get_u32, log_duration, log_records, put_u32, slots, take};
use crate::model::{Millis, Outcome, Run};

/// Cells of the week: hour of day × day of week (index `weekday * 24 + hour`).
pub const CELLS: usize = 168;
const MONTH_MS: f64 = 30.0 * 86_400_000.0;
/// Residuals are clipped at this many spreads before they update the spread.
const CLIP_SD: f64 = 4.0;
/// Smallest spread on log scales (about 5 %): a metronome-regular job is not
/// alarmed by ordinary jitter.
pub const MIN_LOG_SD: f64 = 0.05;
/// Where the tail model starts (standardised residuals), and the most one
/// residual's excess over it may count (an outlier that slipped into the
/// baseline cannot stretch the tail without bound).
const TAIL_U: f64 = 2.0;
const TAIL_MAX_EXCESS: f64 = 6.0;
/// Bounds of the per-run tail probability a budget may ask for. The upper
/// one binds for pipelines that run less than every six hours or so: a daily
/// job is judged at one run in 250, not the budget's one in 90, because its
/// spread rests on a few weeks of runs at most (chosen on the training seeds:
/// 0.01 let a daily job's natural 3× runs page; 0.002 began to miss volume
/// collapses of daily jobs).
const P_MIN: f64 = 1e-7;
const P_MAX: f64 = 0.004;
/// The excess kurtosis assumed of duration residuals when judging how well a
/// few runs pin their spread down (`with_scale_uncertainty`): 6, that of a
/// Student-t with 5 degrees of freedom. Chosen on training seeds 1001-1200
/// from 2, 3, 6 and 10 (duration errors 43, 44, 39 and 48; 53 without).
const SCALE_KURTOSIS: f64 = 6.0;
/// The record test never brings a threshold below the one for this many times
/// the budget's tail probability: a pipeline whose few runs all happened to be
/// close together still has its heavy tail allowed for.
const RECORD_TAIL_FACTOR: f64 = 10.0;
/// The record test's factor is `duration_record_factor` for a record of this
/// many runs, and scales as (this / runs)^`RECORD_TAIL_SCALE` (`record_factor`).
const RECORD_REFERENCE_RUNS: f64 = 100.0;
/// The assumed scale of the upper tail of log residuals, as in
/// P(r > x) ∝ exp(-x / scale): each tenfold of runs in the record window
/// lets the record lie about scale × ln 10 further out, so the margin beyond
/// it that keeps a new run's chance of passing it by chance the same shrinks
/// by that much. Chosen on training seeds 1001-1200 (duration errors 26 with
/// a flat factor, 21 at 0.1; 20 at 0.15 and 0.2 with the factor clamped to
/// 1.5-2.5, an extra pair of settings for one error).
const RECORD_TAIL_SCALE: f64 = 0.1;
/// The per-cell sums are rescaled to the current time once their anchor is
/// this many half-lives behind (a factor of 2^40 stays far inside f32 range).
const RENORMALISE_HALF_LIVES: i64 = 40;

/// The hour-of-week cell of a time (UTC).
pub fn cell_of(t: Millis) -> usize {
    let (h, d) = slots(t);
    d * 24 + h
}

/// The seasonal model of one log-scale quantity of one pipeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seasonal {
    /// Event time the weights are current at.
    at: Option<Millis>,
    /// First and latest absorbed run start, and runs absorbed (not decayed).
    first: Option<Millis>,
    last: Option<Millis>,
    n: u32,
    /// Time the per-cell sums are scaled to (None: `at`). The sums are decayed
    /// lazily: a run at `t` adds `2^((t - anchor) / half_life)`, and the true
    /// decayed sums at `at` are the stored ones times `2^(-(at - anchor) / half_life)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor: Option<Millis>,
    /// Per cell: decayed weight and decayed weighted sum of values (scaled to
    /// `anchor`). Not in the JSON: checkpoints carry them in binary
    /// (`encode_cells`).
    #[serde(skip)]
    w: Vec<f32>,
    #[serde(skip)]
    s: Vec<f32>,
    /// Decayed weight and weighted sum of squared (clipped) residuals.
    rw: f64,
    rss: f64,
    /// The tails the pipeline has shown: decayed count of standardised
    /// residuals beyond `TAIL_U`, and decayed sum of their excesses over it,
    /// for the upper tail (index 0) and the lower one (index 1).
    #[serde(default)]
    tails: [[f64; 2]; 2],
    #[serde(skip)]
    fit: Option<Fit>,
}

impl PartialEq for Seasonal {
    fn eq(&self, o: &Seasonal) -> bool {
        (
            self.at,
            self.anchor,
            self.first,
            self.last,
            self.n,
            &self.w,
            &self.s,
            self.rw,
            self.rss,
            self.tails,
        ) == (
            o.at, o.anchor, o.first, o.last, o.n, &o.w, &o.s, o.rw, o.rss, o.tails,
        )
    }
}

/// The fitted main effects (a pure function of the sums, cached); the
/// interaction of a cell is computed when that cell is asked for.
#[derive(Debug, Clone)]
struct Fit {
    level: f64,
    hour: [f64; 24],
    day: [f64; 7],
    /// Decayed weight of each hour of day and of each weekday (the margins the
    /// effects were fitted from).
    hour_w: [f64; 24],
    day_w: [f64; 7],
    /// Factor from the stored (anchored) sums to the decayed sums at `at`.
    scale: f64,
}

/// What is expected of one run: a location and spread on the log scale, and the
/// degrees of freedom of the reference distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    /// Expected log value.
    pub mean: f64,
    /// Predictive spread (log scale), widened for a short history.
    pub sd: f64,
    /// Degrees of freedom of the Student-t reference.
    pub df: f64,
    /// Runs the model has absorbed.
    pub runs: u32,
}

impl Expectation {
    /// Standardised residual of `x`.
    pub fn z(&self, x: f64) -> f64 {
        (x - self.mean) / self.sd
    }
    /// The threshold, in standardised units, whose upper tail is `p`.
    pub fn z_for(&self, p: f64) -> f64 {
        student_t_quantile(p, self.df)
    }
}

impl Seasonal {
    /// Runs absorbed so far.
    pub fn runs(&self) -> u32 {
        self.n
    }

    /// Event time spanned by the absorbed runs.
    pub fn span(&self) -> i64 {
        match (self.first, self.last) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }

    /// Runs per month, from the absorbed runs' spacing (one a day until two are in).
    pub fn runs_per_month(&self) -> f64 {
        let span = self.span();
        if self.n < 2 || span <= 0 {
            return 30.0;
        }
        ((self.n - 1) as f64 * MONTH_MS / span as f64).max(1.0)
    }

    /// The per-run tail probability that spends `per_month` false alarms a month.
    pub fn tail_probability(&self, per_month: f64) -> f64 {
        (per_month / self.runs_per_month()).clamp(P_MIN, P_MAX)
    }

    /// Moves the weights' time to `t` (never back). The residual sums decay
    /// here; the per-cell sums only when their anchor falls too far behind.
    fn decay_to(&mut self, t: Millis, half_life: i64) {
        if self.w.len() != CELLS {
            self.w = vec![0.0; CELLS];
            self.s = vec![0.0; CELLS];
        }
        if let Some(a) = self.at
            && t > a
        {
            let f = 0.5f64.powf((t - a) as f64 / half_life.max(1) as f64);
            self.rw *= f;
            self.rss *= f;
            for side in &mut self.tails {
                side[0] *= f;
                side[1] *= f;
            }
        }
        self.at = Some(self.at.map_or(t, |a| a.max(t)));
        let at = self.at.expect("set");
        let anchor = *self.anchor.get_or_insert(at);
        if at - anchor > RENORMALISE_HALF_LIVES * half_life.max(1) {
            let f = 0.5f64.powf((at - anchor) as f64 / half_life.max(1) as f64);
            for (w, s) in self.w.iter_mut().zip(self.s.iter_mut()) {
                *w = (*w as f64 * f) as f32;
                *s = (*s as f64 * f) as f32;
            }
            self.anchor = Some(at);
        }
    }

    /// Factor from stored sums to decayed sums at `at` (its inverse is the
    /// weight a run at `at` is stored with).
    fn scale(&self, half_life: i64) -> f64 {
        match (self.at, self.anchor) {
            (Some(at), Some(anchor)) if at != anchor => {
                0.5f64.powf((at - anchor) as f64 / half_life.max(1) as f64)
            }
            _ => 1.0,
        }
    }

    fn fitted(&mut self, cfg: &DetectConfig) -> &Fit {
        if self.fit.is_none() {
            let scale = self.scale(cfg.baseline_half_life.ms());
            self.fit = Some(shared_fit(&self.w, &self.s, scale, cfg.seasonal_prior_runs));
        }
        self.fit.as_ref().expect("fitted")
    }

    /// The expected level at `t` from the level, hour and weekday effects
    /// alone, without the hour-of-week cell (None before the first run).
    pub fn main_level(&mut self, cfg: &DetectConfig, t: Millis) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let f = self.fitted(cfg);
        let (h, d) = slots(t);
        Some(f.level + f.hour[h] + f.day[d])
    }

    /// The expected level (log scale) at `t`, without the spread; None before
    /// the first run.
    pub fn level(&mut self, cfg: &DetectConfig, t: Millis) -> Option<f64> {
        let main = self.main_level(cfg, t)?;
        let k = cfg.seasonal_prior_runs;
        let scale = self.fit.as_ref().expect("fitted").scale;
        let c = cell_of(t);
        let (w, s) = if self.w.len() == CELLS {
            (self.w[c] as f64 * scale, self.s[c] as f64 * scale)
        } else {
            (0.0, 0.0)
        };
        Some(main + (s - w * main) / (w + 2.0 * k))
    }

    /// The variance (log scale) of the seasonal effects at `t` that the history
    /// has not pinned down yet: for the weekday and the hour of `t`, the spread
    /// of the effects fitted for the other weekdays (hours), times the share of
    /// the prior in that slot's estimate, `k / (k + weight)`. A slot seen for
    /// weeks adds nothing; a weekday never seen (a young pipeline's first
    /// Monday) adds the whole between-day variance, so its first runs are not
    /// mistaken for a shift. Zero before the first run.
    pub fn slot_variance(&mut self, cfg: &DetectConfig, t: Millis) -> f64 {
        if self.n == 0 || self.w.len() != CELLS {
            return 0.0;
        }
        let k = cfg.seasonal_prior_runs;
        let f = self.fitted(cfg);
        // Between-slot variance of the effects, each slot weighted by how much
        // of its estimate is its own data.
        fn between(effects: &[f64], weights: &[f64], k: f64) -> f64 {
            let (mut sw, mut swe) = (0.0, 0.0);
            for (&e, &w) in effects.iter().zip(weights) {
                let own = w / (w + k);
                sw += own;
                swe += own * e * e;
            }
            if sw > 0.0 { swe / sw } else { 0.0 }
        }
        let (h, d) = slots(t);
        between(&f.day, &f.day_w, k) * k / (k + f.day_w[d])
            + between(&f.hour, &f.hour_w, k) * k / (k + f.hour_w[h])
    }

    /// The decayed weight of the runs absorbed on the weekday of `t` (any hour).
    pub fn weekday_weight(&mut self, cfg: &DetectConfig, t: Millis) -> f64 {
        if self.n == 0 || self.w.len() != CELLS {
            return 0.0;
        }
        self.fitted(cfg).day_w[slots(t).1]
    }

    /// The raw residual spread (log scale) of the runs absorbed, before widening.
    pub fn residual_sd(&self) -> Option<f64> {
        (self.rw > 0.0).then(|| (self.rss / self.rw).sqrt())
    }

    /// What is expected of a run starting at `t`: None before the first run.
    pub fn expect(&mut self, cfg: &DetectConfig, t: Millis) -> Option<Expectation> {
        let mean = self.level(cfg, t)?;
        let (sd, df) = self.spread(cfg);
        Some(Expectation {
            mean,
            sd,
            df,
            runs: self.n,
        })
    }

    /// The threshold, in standardised units of `e`, that a run passes with
    /// probability `p` (upper tail, or the lower one when `upper` is false).
    ///
    /// Beyond `TAIL_U` spreads the tail is modelled as exponential in the
    /// standardised residual (peaks over a threshold, the generalised Pareto
    /// with shape 0): P(z > TAIL_U + y) = π · exp(-y / β). π and β are the
    /// pipeline's own exceedance rate and mean excess, pooled with those of
    /// the Student-t reference (`e.df`) at a weight of `tail_prior_runs` runs.
    /// A young pipeline is judged by the t; one with months of history by the
    /// tail it has shown: a job whose noise is bounded gets a threshold near
    /// its bound, one whose noise is heavier than the t a higher one.
    pub fn threshold(&self, cfg: &DetectConfig, e: &Expectation, p: f64, upper: bool) -> f64 {
        let df = e.df;
        if df <= 1.5 {
            return e.z_for(p);
        }
        let pi0 = student_t_sf(TAIL_U, df);
        let beta0 = student_t_mean_excess(TAIL_U, df);
        let m = cfg.tail_prior_runs;
        let [own_w, own_excess] = self.tails[usize::from(!upper)];
        let pi = (m * pi0 + own_w) / (m + self.rw);
        let beta = (m * pi0 * beta0 + own_excess) / (m * pi0 + own_w);
        if p >= pi {
            // Not beyond the tail's start: the t's body answers.
            return e.z_for(p).min(TAIL_U);
        }
        TAIL_U + beta * (pi / p).ln()
    }

    /// `e` with the uncertainty of a spread estimated from heavy-tailed runs
    /// (for durations, whose noise has long slow tails). The pooled variance
    /// is part prior, part the pipeline's own runs; the own part, from n runs
    /// of excess kurtosis κ, has a relative variance of about (2 + κ) / n,
    /// which the pooled estimate inherits in proportion to the own share w of
    /// it: (w² (2 + κ) / n). As degrees of freedom, 2 / that; combined with
    /// the reference's as a sum of tails (harmonically). A tight young
    /// pipeline, whose pooled spread is mostly the (wider) prior, is judged as
    /// before; a loose one whose spread rests on a fortnight of its own
    /// heavy-tailed runs gets the heavier tail its few runs leave room for.
    pub fn with_scale_uncertainty(&self, cfg: &DetectConfig, e: Expectation) -> Expectation {
        let own_n = self.n.saturating_sub(1) as f64;
        let own = own_n * self.residual_sd().unwrap_or(0.0).powi(2);
        let total = cfg.prior_runs * cfg.prior_log_sd.powi(2) + own;
        if own_n < 1.0 || own <= 0.0 || total <= 0.0 {
            return e;
        }
        let w = own / total;
        let df_scale = 2.0 * own_n / (w * w * (2.0 + SCALE_KURTOSIS));
        Expectation {
            df: (1.0 / (1.0 / e.df + 1.0 / df_scale)).max(1.0),
            ..e
        }
    }

    /// The upper threshold of [`Seasonal::threshold`], brought down by the
    /// record test: with `record` the largest residual (log ratio to its
    /// expectation) of the runs of the record window, a run `factor` times as
    /// far beyond its expectation as that is beyond anything the pipeline has
    /// shown lately, whatever the shape of its tail. Never below the threshold
    /// of `RECORD_TAIL_FACTOR` times `p`, and only once
    /// `duration_record_min_runs` runs are in (in the record itself, where
    /// `record_runs` says it holds fewer than the window: `Record::refilled`).
    pub fn record_threshold(
        &self,
        cfg: &DetectConfig,
        e: &Expectation,
        p: f64,
        record: Option<f64>,
        record_runs: Option<u32>,
    ) -> f64 {
        let budget = self.threshold(cfg, e, p, true);
        let Some(r) = record else { return budget };
        let runs = record_runs.map_or(self.n, |k| k.min(self.n));
        if (runs as usize) < cfg.duration_record_min_runs {
            return budget;
        }
        let floor = self.threshold(cfg, e, (p * RECORD_TAIL_FACTOR).min(0.5), true);
        let beyond = (r + self.record_factor(cfg, record_runs).ln()) / e.sd;
        budget.min(floor.max(beyond))
    }

    /// How many times its expectation beyond the record a run must be to pass
    /// the record test: `duration_record_factor` for a record window of
    /// `RECORD_REFERENCE_RUNS` runs, more for fewer (twenty runs of a six-hourly
    /// job bound its tail loosely: 2.35), less for more (the 1,340 runs of a
    /// half-hourly job's four weeks: 1.54), never below 1. `record_runs`: the
    /// runs a record holds when it is younger than its window.
    pub fn record_factor(&self, cfg: &DetectConfig, record_runs: Option<u32>) -> f64 {
        let runs = (self.n as f64)
            .min(self.runs_per_month() * record_window(cfg) as f64 / MONTH_MS)
            .min(record_runs.map_or(f64::INFINITY, f64::from))
            .max(1.0);
        (cfg.duration_record_factor * (RECORD_REFERENCE_RUNS / runs).powf(RECORD_TAIL_SCALE))
            .max(1.0)
    }

    /// The predictive spread and degrees of freedom (needs at least one run).
    fn spread(&self, cfg: &DetectConfig) -> (f64, f64) {
        // Residuals exist from the second run on; the prior stands in before.
        let own_n = self.n.saturating_sub(1) as f64;
        let own_var = self.residual_sd().unwrap_or(0.0).powi(2);
        let n0 = cfg.prior_runs;
        let var = (n0 * cfg.prior_log_sd.powi(2) + own_n * own_var) / (n0 + own_n).max(1e-9);
        // The level itself is uncertain while few runs are in (predictive interval).
        let sd = (var * (1.0 + 1.0 / self.n as f64)).sqrt().max(MIN_LOG_SD);
        let df = (n0 + own_n).clamp(1.0, cfg.tail_df);
        (sd, df)
    }

    /// Takes in a run's value `x` at `t`. `residual` is what the caller judged
    /// (`x` minus its expectation, after any adjustment such as volume); None
    /// uses `x` minus the seasonal level.
    pub fn absorb(&mut self, cfg: &DetectConfig, t: Millis, x: f64, residual: Option<f64>) {
        if !x.is_finite() {
            return;
        }
        // The fit is needed only when the caller has no residual of its own.
        let prior = if self.n == 0 {
            None
        } else {
            let r = match residual {
                Some(r) => r,
                None => x - self.level(cfg, t).expect("runs absorbed"),
            };
            Some((r, self.spread(cfg).0))
        };
        let half_life = cfg.baseline_half_life.ms();
        self.decay_to(t, half_life);
        if let Some((r, sd)) = prior {
            let c = r.clamp(-CLIP_SD * sd, CLIP_SD * sd);
            self.rw += 1.0;
            self.rss += c * c;
            let z = r / sd;
            let side = usize::from(z < 0.0);
            if z.abs() > TAIL_U {
                self.tails[side][0] += 1.0;
                self.tails[side][1] += (z.abs() - TAIL_U).min(TAIL_MAX_EXCESS);
            }
        }
        let i = cell_of(t);
        let g = 1.0 / self.scale(half_life);
        self.w[i] = (self.w[i] as f64 + g) as f32;
        self.s[i] = (self.s[i] as f64 + g * x) as f32;
        self.n = self.n.saturating_add(1);
        self.first.get_or_insert(t);
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
        self.fit = None;
    }
}

/// The window of runs the record test's record is taken over: two half-lives
/// of the baseline (four weeks by default).
pub fn record_window(cfg: &DetectConfig) -> Millis {
    2 * cfg.baseline_half_life.ms()
}

/// The longest runs of a sliding window, each relative to what was expected
/// of it when it was judged: (start, log residual), residuals decreasing, so
/// the first entry inside the window is its maximum (a monotone queue: each
/// run enters once and leaves once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    best: Vec<(Millis, f64)>,
    /// Since when the record last forgot an episode's runs, and how many runs
    /// it has taken in since (None if it never did, or its window has passed
    /// since): until the window has passed, all that the record holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refilled: Option<(Millis, u32)>,
}

impl Record {
    /// Takes in the residual `r` of a run starting at `t` (starts in order).
    pub fn push(&mut self, t: Millis, r: f64) {
        if !r.is_finite() {
            return;
        }
        if let Some((_, k)) = &mut self.refilled {
            *k = k.saturating_add(1);
        }
        while self.best.last().is_some_and(|&(_, q)| q <= r) {
            self.best.pop();
        }
        self.best.push((t, r));
    }

    /// Forgets the runs started at or after `since` (they turned out to belong
    /// to an episode). The earlier runs they had displaced from the queue are
    /// not restored: what is left are the earlier runs larger than every one
    /// forgotten, often none, and until later runs fill it the budget's
    /// threshold alone judges.
    pub fn forget_since(&mut self, since: Millis) {
        self.best.retain(|&(s, _)| s < since);
        self.refilled = Some((since, 0));
    }

    /// The runs the record holds when, at `t`, it forgot an episode's runs
    /// less than `window` before (those taken in since), else None.
    pub fn refilled(&mut self, t: Millis, window: Millis) -> Option<u32> {
        match self.refilled {
            Some((since, k)) if t - since <= window => Some(k),
            _ => {
                self.refilled = None;
                None
            }
        }
    }

    /// The largest residual of the runs started within `window` before `t`;
    /// older runs leave for good.
    pub fn max_within(&mut self, t: Millis, window: Millis) -> Option<f64> {
        let old = self
            .best
            .iter()
            .position(|&(s, _)| t - s <= window)
            .unwrap_or(self.best.len());
        self.best.drain(..old);
        self.best.first().map(|&(_, r)| r)
    }
}

/// Fits recently computed on this thread, with the exact inputs they came from.
const FIT_CACHE: usize = 4;

struct FitEntry {
    scale: u64,
    k: u64,
    w: Vec<f32>,
    s: Vec<f32>,
    fit: Fit,
}

#[derive(Default)]
struct FitCache {
    entries: Vec<FitEntry>,
    next: usize,
}

thread_local! {
    static FITS: std::cell::RefCell<FitCache> = std::cell::RefCell::default();
}

/// The same bits (not merely equal values: the fit must be the one `fit` gives).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// `fit`, shared between models whose sums are bit for bit the same. A pipeline
/// keeps several models of one quantity (duration_anomaly and
/// performance_degradation each model log duration and log volume, and
/// volume_anomaly log volume) which, while no episode sets their inputs apart,
/// absorb the same runs: each run's fit is then computed once, not per model.
/// A fit is a pure function of (w, s, scale, k), so a hit is exactly the fit
/// the model would have computed itself.
fn shared_fit(w: &[f32], s: &[f32], scale: f64, k: f64) -> Fit {
    FITS.with(|c| {
        let mut c = c.borrow_mut();
        let (sb, kb) = (scale.to_bits(), k.to_bits());
        if let Some(e) = c
            .entries
            .iter()
            .find(|e| e.scale == sb && e.k == kb && same_bits(&e.s, s) && same_bits(&e.w, w))
        {
            return e.fit.clone();
        }
        let f = fit(w, s, scale, k);
        if c.entries.len() < FIT_CACHE {
            c.entries.push(FitEntry {
                scale: sb,
                k: kb,
                w: w.to_vec(),
                s: s.to_vec(),
                fit: f.clone(),
            });
        } else {
            let i = c.next;
            c.next = (i + 1) % FIT_CACHE;
            let e = &mut c.entries[i];
            (e.scale, e.k, e.fit) = (sb, kb, f.clone());
            e.w.clear();
            e.w.extend_from_slice(w);
            e.s.clear();
            e.s.extend_from_slice(s);
        }
        f
    })
}

/// Bytes of a non-zero-cell mask.
const MASK_BYTES: usize = CELLS.div_ceil(8);

/// Binary form of the per-cell sums of `models`, in order: each array is empty,
/// the same bits as an earlier one (a pipeline's models of one quantity usually
/// hold the same sums, and every model's weights depend only on run times), or
/// its non-zero cells (bit for bit, so a model restored is the model saved).
pub fn encode_cells(models: &[&Seasonal], out: &mut Vec<u8>) {
    let arrays: Vec<&[f32]> = models.iter().flat_map(|m| [&m.w[..], &m.s[..]]).collect();
    for (i, a) in arrays.iter().enumerate() {
        if a.is_empty() {
            out.push(0);
        } else if let Some(j) = arrays[..i].iter().position(|b| same_bits(a, b)) {
            out.push(1);
            out.push(j as u8);
        } else if a.len() == CELLS {
            out.push(2);
            let mut mask = [0u8; MASK_BYTES];
            for (c, v) in a.iter().enumerate() {
                if v.to_bits() != 0 {
                    mask[c / 8] |= 1 << (c % 8);
                }
            }
            out.extend_from_slice(&mask);
            for v in a.iter().filter(|v| v.to_bits() != 0) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        } else {
            out.push(3);
            put_u32(out, a.len() as u32);
            for v in a.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Reads what `encode_cells` wrote into `models`; None on any inconsistency.
pub fn decode_cells(models: &mut [&mut Seasonal], buf: &mut &[u8]) -> Option<()> {
    let mut arrays: Vec<Vec<f32>> = Vec::with_capacity(2 * models.len());
    for _ in 0..2 * models.len() {
        let f32_at = |b: &mut &[u8]| Some(f32::from_le_bytes(take(b, 4)?.try_into().ok()?));
        let a = match *take(buf, 1)?.first()? {
            0 => Vec::new(),
            1 => arrays.get(*take(buf, 1)?.first()? as usize)?.clone(),
            2 => {
                let mask = take(buf, MASK_BYTES)?;
                let mut a = vec![0.0f32; CELLS];
                for (c, v) in a.iter_mut().enumerate() {
                    if mask[c / 8] & (1 << (c % 8)) != 0 {
                        *v = f32_at(buf)?;
                    }
                }
                a
            }
            3 => {
                let n = get_u32(buf)? as usize;
                (0..n).map(|_| f32_at(buf)).collect::<Option<_>>()?
            }
            _ => return None,
        };
        arrays.push(a);
    }
    let mut it = arrays.into_iter();
    for m in models.iter_mut() {
        m.w = it.next()?;
        m.s = it.next()?;
        m.fit = None;
    }
    Some(())
}

/// Jointly fitted additive effects from per-cell decayed sums (stored sums
/// times `scale`): backfitting of hour and weekday effects around the overall
/// level, each shrunk by the pseudo-count `k`; the hour-of-week interaction
/// (shrunk by `2k`) is left to `Seasonal::level`.
fn fit(w: &[f32], s: &[f32], scale: f64, k: f64) -> Fit {
    let mut wf = [0.0f64; CELLS];
    let mut sf = [0.0f64; CELLS];
    if w.len() == CELLS && s.len() == CELLS {
        for c in 0..CELLS {
            wf[c] = w[c] as f64 * scale;
            sf[c] = s[c] as f64 * scale;
        }
    }
    let (w, s) = (&wf, &sf);
    // Margins: per hour of day and per weekday, weight and weighted sum.
    let (mut wh, mut sh) = ([0.0f64; 24], [0.0f64; 24]);
    let (mut wd, mut sd) = ([0.0f64; 7], [0.0f64; 7]);
    for d in 0..7 {
        let row = d * 24;
        for h in 0..24 {
            let c = row + h;
            wh[h] += w[c];
            sh[h] += s[c];
            wd[d] += w[c];
            sd[d] += s[c];
        }
    }
    let tw: f64 = wd.iter().sum();
    let level = if tw > 0.0 {
        sd.iter().sum::<f64>() / tw
    } else {
        0.0
    };
    // Backfitting: the sum over a margin of s - w (level + other effect) is
    // that margin's sum - level × its weight - Σ w × other effect.
    let mut hour = [0.0; 24];
    let mut day = [0.0; 7];
    for pass in 0..3 {
        let mut acc = [0.0f64; 24];
        if pass > 0 {
            for (d, &de) in day.iter().enumerate() {
                let row = &w[d * 24..d * 24 + 24];
                for (a, &wc) in acc.iter_mut().zip(row) {
                    *a += wc * de;
                }
            }
        }
        for h in 0..24 {
            hour[h] = (sh[h] - level * wh[h] - acc[h]) / (k + wh[h]);
        }
        for d in 0..7 {
            let row = &w[d * 24..d * 24 + 24];
            let mut part = [0.0f64; 4];
            for (i, (&wc, &he)) in row.iter().zip(hour.iter()).enumerate() {
                part[i % 4] += wc * he;
            }
            let dot = (part[0] + part[1]) + (part[2] + part[3]);
            day[d] = (sd[d] - level * wd[d] - dot) / (k + wd[d]);
        }
    }
    Fit {
        level,
        hour,
        day,
        hour_w: wh,
        day_w: wd,
        scale,
    }
}

/// Robust, decayed regression of one residual on another (duration residual on
/// volume residual): least squares on residuals clipped at `CLIP_SD` spreads,
/// used only while the correlation is material and significant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slope {
    at: Option<Millis>,
    sw: f64,
    suu: f64,
    suv: f64,
    svv: f64,
}

/// Smallest correlation, and t statistic, for duration to be judged given volume.
const SLOPE_MIN_CORR: f64 = 0.3;
const SLOPE_MIN_T: f64 = 3.0;
/// A run's volume is ordinary within this many spreads of its expectation:
/// the range the slope is learned on.
const ORDINARY_VOLUME_Z: f64 = 2.0;

/// Whether `v` lies within the ordinary range of the volume expectation `ev`.
pub fn ordinary_volume(v: f64, ev: &Expectation) -> bool {
    ev.z(v).abs() <= ORDINARY_VOLUME_Z
}

impl Slope {
    /// The slope, when the history shows `v` moving with `u`.
    pub fn beta(&self) -> Option<f64> {
        if self.sw < 8.0 || self.suu <= 0.0 || self.svv <= 0.0 {
            return None;
        }
        let r = self.suv / (self.suu * self.svv).sqrt();
        let t = r * ((self.sw - 2.0) / (1.0 - r * r).max(1e-12)).sqrt();
        (r >= SLOPE_MIN_CORR && t >= SLOPE_MIN_T).then(|| self.suv / self.suu)
    }

    /// How much longer (log scale) a run whose volume is `v` is expected to
    /// take than one of the expected volume `ev`. Where the history shows
    /// durations following volume, the slope times the volume residual; the
    /// slope is learned on ordinary volumes, and a volume far below them is
    /// read at the edge of that range (`ORDINARY_VOLUME_Z` spreads down): a
    /// weekend's light volume on a pipeline whose durations keep their
    /// weekday length, or a collapse to a few records (the volume detector's
    /// news), does not make an ordinary run look slow. Above the range the
    /// residual counts in full: a surge of records excuses a long run. Where
    /// no slope is established (a young pipeline, or durations that did not
    /// move with ordinary volumes), a volume above the ordinary range excuses
    /// the duration in proportion to its excess over the range's edge: a
    /// young job's first Monday that processed six times its weekend's records
    /// is not a slow run for taking four times as long.
    pub fn adjustment(&self, v: f64, ev: &Expectation) -> f64 {
        let edge = ORDINARY_VOLUME_Z * ev.sd;
        match self.beta() {
            Some(b) => b * (v - ev.mean).max(-edge),
            None => (v - ev.mean - edge).max(0.0),
        }
    }

    /// Takes in one pair of residuals (`u`, `v`), each with its spread for clipping.
    pub fn absorb(&mut self, t: Millis, half_life: i64, u: f64, su: f64, v: f64, sv: f64) {
        if let Some(a) = self.at
            && t > a
        {
            let f = 0.5f64.powf((t - a) as f64 / half_life.max(1) as f64);
            self.sw *= f;
            self.suu *= f;
            self.suv *= f;
            self.svv *= f;
        }
        self.at = Some(self.at.map_or(t, |a| a.max(t)));
        let u = u.clamp(-CLIP_SD * su, CLIP_SD * su);
        let v = v.clamp(-CLIP_SD * sv, CLIP_SD * sv);
        self.sw += 1.0;
        self.suu += u * u;
        self.suv += u * v;
        self.svv += v * v;
    }
}

// ---------------------------------------------------------------------------
// Student-t tail

/// ln Γ(x) for x > 0 (Lanczos, |error| < 1e-13).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the regularised incomplete beta (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// Regularised incomplete beta I_x(a, b).
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T > t) for a Student-t with `df` degrees of freedom.
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// E[T - u | T > u] for a Student-t with `df` > 1 degrees of freedom: from
/// ∫_u^∞ t f(t) dt = (df + u²) / (df - 1) · f(u).
pub fn student_t_mean_excess(u: f64, df: f64) -> f64 {
    (df + u * u) / (df - 1.0) * student_t_density(df)(u) / student_t_sf(u, df) - u
}

/// The density of a Student-t with `df` degrees of freedom.
fn student_t_density(df: f64) -> impl Fn(f64) -> f64 {
    // ln of the constant: Γ((ν+1)/2) / (√(νπ) Γ(ν/2)).
    let ln_c =
        ln_gamma(0.5 * (df + 1.0)) - ln_gamma(0.5 * df) - 0.5 * (df * std::f64::consts::PI).ln();
    move |t: f64| (ln_c - 0.5 * (df + 1.0) * (t * t / df).ln_1p()).exp()
}

/// The standard normal's `z` with P(Z > z) = `p` (0 < p ≤ 0.5): the Student-t
/// quantile at a million degrees of freedom, equal to the normal's to six
/// digits.
pub fn normal_quantile(p: f64) -> f64 {
    student_t_quantile(p, 1e6)
}

/// The `t` with P(T > t) = `p` (0 < p < 0.5): Newton's method on the tail
/// (its derivative is the density), kept inside a bracket that bisection
/// narrows whenever a Newton step would leave it. A handful of tail
/// evaluations instead of the forty a bisection to the same precision needs.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let p = p.clamp(1e-300, 0.5);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while student_t_sf(hi, df) > p && hi < 1e12 {
        lo = hi;
        hi *= 2.0;
    }
    let density = student_t_density(df);
    let mut t = 0.5 * (lo + hi);
    for _ in 0..100 {
        let excess = student_t_sf(t, df) - p;
        if excess > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        // The tail falls as t grows: step = excess / density.
        let next = t + excess / density(t).max(1e-300);
        let next = if next > lo && next < hi {
            next
        } else {
            0.5 * (lo + hi)
        };
        if (next - t).abs() < 1e-12 * t.max(1.0) || hi - lo < 1e-12 * hi.max(1.0) {
            return next;
        }
        t = next;
    }
    t
}

// ---------------------------------------------------------------------------
// Bands for charts

/// The expected value and the alerting thresholds for one run, in the run's
/// own units (milliseconds for durations, records for volumes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub run_id: String,
    pub start_at: Millis,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The expected duration band of each successful run of one pipeline, as the
/// detectors saw it when the run arrived: `expected` is the seasonal level in
/// ms, `upper` the duration above which the run is a `duration_anomaly`
/// (before the materiality gates `duration_min_ratio` and
/// `duration_min_excess`), `lower` the mirror threshold below. `runs` in start
/// order; runs before the first success, and non-successful runs, get no band.
/// Volume adjustment is not applied (the band is the seasonal expectation), so
/// the record test lowers `upper` whatever the run's volume.
pub fn duration_band(cfg: &DetectConfig, runs: &[Run]) -> Vec<Band> {
    duration_band_at(cfg, runs, &|_| true)
        .into_iter()
        .flatten()
        .collect()
}

/// The expected volume band of each successful run of one pipeline (records):
/// `expected` is the seasonal level, `lower` and `upper` the volumes beyond
/// which the run is a `volume_anomaly` (before the `volume_min_ratio` gate).
pub fn volume_band(cfg: &DetectConfig, runs: &[Run]) -> Vec<Band> {
    volume_band_at(cfg, runs, &|_| true)
        .into_iter()
        .flatten()
        .collect()
}

/// [`duration_band`] by run index, computed only for the runs `wanted` accepts
/// (None for the others): every run still enters the model, only the threshold
/// (from the tail model) of a run nobody asked for is skipped.
pub fn duration_band_at(
    cfg: &DetectConfig,
    runs: &[Run],
    wanted: &dyn Fn(usize) -> bool,
) -> Vec<Option<Band>> {
    band_at(
        cfg,
        runs,
        wanted,
        |r| r.duration_ms.map(log_duration),
        |x| x.exp() * 1000.0,
        1.0,
        true,
    )
}

/// [`volume_band`] by run index, as [`duration_band_at`].
pub fn volume_band_at(
    cfg: &DetectConfig,
    runs: &[Run],
    wanted: &dyn Fn(usize) -> bool,
) -> Vec<Option<Band>> {
    band_at(
        cfg,
        runs,
        wanted,
        |r| r.records_processed.map(log_records),
        |x| x.exp_m1().max(0.0),
        2.0,
        false,
    )
}

fn band_at(
    cfg: &DetectConfig,
    runs: &[Run],
    wanted: &dyn Fn(usize) -> bool,
    value: impl Fn(&Run) -> Option<f64>,
    back: impl Fn(f64) -> f64,
    sides: f64,
    // Durations: the reference carries its spread's uncertainty, as
    // `duration_anomaly` judges it.
    heavy: bool,
) -> Vec<Option<Band>> {
    let mut m = Seasonal::default();
    let mut record = Record::default();
    let window = record_window(cfg);
    let mut out = vec![None; runs.len()];
    for (i, run) in runs.iter().enumerate() {
        if run.outcome != Outcome::Success {
            continue;
        }
        let Some(x) = value(run) else { continue };
        let e = m.expect(cfg, run.start_at);
        if let (true, Some(e)) = (wanted(i), e) {
            let e = if heavy {
                m.with_scale_uncertainty(cfg, e)
            } else {
                e
            };
            let p = m.tail_probability(cfg.false_alarms_per_month) / sides;
            let zl = m.threshold(cfg, &e, p, false);
            let zu = if heavy {
                let rec = record.max_within(run.start_at, window);
                m.record_threshold(cfg, &e, p, rec, None)
            } else {
                m.threshold(cfg, &e, p, true)
            };
            out[i] = Some(Band {
                run_id: run.run_id.clone(),
                start_at: run.start_at,
                expected: back(e.mean),
                lower: back(e.mean - zl * e.sd),
                upper: back(e.mean + zu * e.sd),
            });
        }
        if heavy && let Some(e) = e {
            record.push(run.start_at, x - e.mean);
        }
        m.absorb(cfg, run.start_at, x, None);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn student_t_matches_tables() {
        // Two-sided 95 % and one-sided 99.95 % points from standard tables.
        for (p, df, want) in [
            (0.025, 4.0, 2.776),
            (0.025, 30.0, 2.042),
            (0.0005, 5.0, 6.869),
            (0.05, 1.0, 6.314),
            (0.005, 10.0, 3.169),
        ] {
            let got = student_t_quantile(p, df);
            assert!(
                (got - want).abs() < 2e-3,
                "t({p}, {df}) = {got}, want {want}"
            );
        }
        // Standard normal points: 95 %, 80 %, 75 %, 2/3 and the median.
        for (p, want) in [
            (0.05, 1.644_854),
            (0.2, 0.841_621),
            (0.25, 0.674_490),
            (1.0 / 3.0, 0.430_727),
            (0.5, 0.0),
        ] {
            let got = normal_quantile(p);
            assert!((got - want).abs() < 1e-5, "z({p}) = {got}, want {want}");
        }
        assert!((student_t_sf(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((student_t_sf(-2.776, 4.0) - 0.975).abs() < 1e-3);
        // The quantile inverts the tail to near machine precision, from the
        // tiny tails of a budget to the median, for every df the model uses.
        for df in [1.0, 2.5, 3.0, 4.0, 6.0, 30.0] {
            for p in [1e-7, 3e-6, 1e-4, 0.003, 0.01, 0.2, 0.5] {
                let t = student_t_quantile(p, df);
                let back = student_t_sf(t, df);
                assert!(
                    (back / p - 1.0).abs() < 1e-9,
                    "df={df} p={p}: t={t}, tail {back}"
                );
            }
        }
    }

    /// Log value of an hourly job whose weekends run at 60 % and whose nights
    /// (00-06 UTC) run at 50 %, multiplied, with ±10 % noise.
    fn rhythm(t: Millis, i: usize) -> f64 {
        let (h, d) = slots(t);
        let weekend = if d == 0 || d == 6 { 0.6 } else { 1.0 };
        let night = if h < 6 { 0.5 } else { 1.0 };
        (600.0 * weekend * night * (1.0 + 0.1 * noise(i))).ln()
    }

    #[test]
    fn weekly_times_daily_rhythm_is_expected() {
        let cfg = DetectConfig::default();
        let mut m = Seasonal::default();
        // Five weeks of hourly runs.
        for i in 0..(5 * 168) {
            let t = T0 + i as i64 * HOUR;
            m.absorb(&cfg, t, rhythm(t, i), None);
        }
        // The next week: each hour's expectation is within 8 % of the truth,
        // including Saturday night (0.3 ×) and Monday morning (1 ×).
        for i in (5 * 168)..(6 * 168) {
            let t = T0 + i as i64 * HOUR;
            let (h, d) = slots(t);
            let truth =
                600.0 * if d == 0 || d == 6 { 0.6 } else { 1.0 } * if h < 6 { 0.5 } else { 1.0 };
            let e = m.expect(&cfg, t).unwrap();
            assert!(
                (e.mean.exp() / truth - 1.0).abs() < 0.08,
                "hour {h} day {d}: {} vs {truth}",
                e.mean.exp()
            );
            // Ordinary noise is far inside the threshold.
            let z = e.z(rhythm(t, i));
            assert!(z.abs() < e.z_for(m.tail_probability(cfg.false_alarms_per_month)));
        }
    }

    #[test]
    fn short_history_widens_the_interval() {
        let cfg = DetectConfig::default();
        let mut m = Seasonal::default();
        let mut widths = Vec::new();
        for i in 0..40 {
            let t = T0 + i as i64 * DAY;
            if let Some(e) = m.expect(&cfg, t) {
                widths.push(e.sd * e.z_for(m.tail_probability(cfg.false_alarms_per_month)));
            }
            m.absorb(&cfg, t, (300.0 * (1.0 + 0.05 * noise(i))).ln(), None);
        }
        // The threshold narrows as runs come in, from wide to tight.
        assert!(widths[1] > 2.0 * widths[30], "{widths:?}");
        // After 3 daily runs a run five times as long is already out of range…
        let mut m = Seasonal::default();
        for i in 0..3 {
            m.absorb(
                &cfg,
                T0 + i * DAY,
                (300.0f64 * (1.0 + 0.05 * noise(i as usize))).ln(),
                None,
            );
        }
        let e = m.expect(&cfg, T0 + 3 * DAY).unwrap();
        let p = m.tail_probability(cfg.false_alarms_per_month);
        assert!(e.z(1500.0f64.ln()) > e.z_for(p));
        // …while +30 % is not.
        assert!(e.z(390.0f64.ln()) < e.z_for(p));
    }

    #[test]
    fn budget_sets_the_tail_probability_by_run_frequency() {
        let cfg = DetectConfig::default();
        let mut hourly = Seasonal::default();
        let mut daily = Seasonal::default();
        for i in 0..60 {
            hourly.absorb(&cfg, T0 + i * HOUR, 1.0, None);
            daily.absorb(&cfg, T0 + i * DAY, 1.0, None);
        }
        let ph = hourly.tail_probability(1.0);
        let pd = daily.tail_probability(1.0);
        assert!((ph - 1.0 / 720.0).abs() < 1e-6, "{ph}");
        assert!((pd - 1.0 / 30.0).abs() < 1e-6 || pd == P_MAX, "{pd}");
        // Heavier budgets, lower thresholds.
        let e = hourly.expect(&cfg, T0 + 60 * HOUR).unwrap();
        assert!(e.z_for(hourly.tail_probability(0.1)) > e.z_for(ph));
    }

    #[test]
    fn a_record_of_few_runs_asks_for_more_and_one_of_many_for_less() {
        // The record window is four weeks (two half-lives). Twenty runs of a
        // six-hourly job bound its tail loosely; six weeks of a half-hourly
        // job hold 1,344 runs in the window, however many it has run.
        let cfg = DetectConfig::default();
        let factor = |every: i64, n: i64| {
            let mut m = Seasonal::default();
            for i in 0..n {
                m.absorb(&cfg, T0 + i * every, 1.0, None);
            }
            m.record_factor(&cfg, None)
        };
        let want = |runs: f64| 2.0 * (100.0 / runs).powf(0.1);
        let few = factor(6 * HOUR, 20);
        assert!((few - want(20.0)).abs() < 1e-9 && few > 2.3, "{few}");
        assert!((factor(DAY / 4, 100) - 2.0).abs() < 1e-9);
        let many = factor(HOUR / 2, 42 * 48);
        assert!((many - want(1344.0)).abs() < 0.01 && many < 1.6, "{many}");
        // Never below the record itself, however many runs.
        assert!(factor(60_000, 60 * 24 * 30) >= 1.0);
    }

    /// Standard normal draw number `i` of stream `salt` (Box-Muller).
    fn normal(i: usize, salt: u64) -> f64 {
        let u1 = (0.5 * (hnoise(i, salt) + 1.0)).max(1e-12);
        let u2 = 0.5 * (hnoise(i, salt + 7777) + 1.0);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    #[test]
    fn a_spread_from_few_heavy_tailed_runs_is_judged_as_uncertain() {
        let cfg = DetectConfig::default();
        // Behaviours 7 and 9: 4,000 daily jobs, each with 12 runs of Student-t
        // noise (2 degrees of freedom, scale 0.3 on the log scale: loose and
        // heavy-tailed, so their own runs, not the prior, set the spread, and
        // a dozen of them pin it down poorly). How often does the 13th run
        // pass the threshold set for a tail probability of 0.004?
        let p = 0.004;
        let (mut plain, mut judged, mut df_sum, mut n) = (0, 0, 0.0, 0.0);
        let t2 = |i: usize, salt: u64| {
            let chi2: f64 = (0..2).map(|k| normal(i, salt * 10 + k).powi(2)).sum();
            0.3 * normal(i, salt * 10 + 9) / (chi2 / 2.0).sqrt()
        };
        for job in 0..4000u64 {
            let mut m = Seasonal::default();
            for i in 0..12 {
                m.absorb(&cfg, T0 + i as i64 * DAY, 600f64.ln() + t2(i, job), None);
            }
            let t = T0 + 12 * DAY;
            let e = m.expect(&cfg, t).unwrap();
            let u = m.with_scale_uncertainty(&cfg, e);
            assert!(u.df < e.df && u.mean == e.mean && u.sd == e.sd);
            df_sum += u.df;
            n += 1.0;
            let z = e.z(600f64.ln() + t2(12, job));
            plain += usize::from(z > m.threshold(&cfg, &e, p, true));
            judged += usize::from(z > m.threshold(&cfg, &u, p, true));
        }
        let (plain, judged) = (plain as f64 / 4000.0, judged as f64 / 4000.0);
        // Judged as if 12 runs pinned the spread down, such a job passes the
        // threshold three times as often as it should (0.013); with the
        // spread's uncertainty, within the budget (0.002).
        assert!(plain > 2.5 * p, "plain {plain}");
        assert!(judged < 1.5 * p, "judged {judged} (plain {plain})");
        assert!(df_sum / n > 1.5, "mean df {}", df_sum / n);
        // A tight young job's spread is mostly the (wider) prior: its
        // reference hardly changes, so a 4× on its fifth day is still news.
        let mut m = Seasonal::default();
        for i in 0..4 {
            m.absorb(
                &cfg,
                T0 + i as i64 * DAY,
                600f64.ln() + 0.03 * hnoise(i, 5),
                None,
            );
        }
        let e = m.expect(&cfg, T0 + 4 * DAY).unwrap();
        let u = m.with_scale_uncertainty(&cfg, e);
        assert!(u.df > 0.97 * e.df, "{} vs {}", u.df, e.df);
    }

    /// Four weeks of an hourly 5-minute job whose log-duration noise is
    /// `noise(i)`, then the threshold for its budget.
    fn tail_after(noise: impl Fn(usize) -> f64) -> (Seasonal, Expectation, f64) {
        let cfg = DetectConfig::default();
        let mut m = Seasonal::default();
        for i in 0..(28 * 24) {
            m.absorb(&cfg, T0 + i as i64 * HOUR, 300f64.ln() + noise(i), None);
        }
        let e = m.expect(&cfg, T0 + 28 * DAY).unwrap();
        let p = m.tail_probability(cfg.false_alarms_per_month);
        (m, e, p)
    }

    #[test]
    fn the_threshold_follows_the_tail_the_pipeline_has_shown() {
        let cfg = DetectConfig::default();
        // Behaviour 9. Bounded noise (uniform ±30 %) never strays past 1.8
        // spreads: after four weeks its threshold sits well inside the t's.
        let (bounded, e, p) = tail_after(|i| 0.3 * hnoise(i, 1));
        let zb = bounded.threshold(&cfg, &e, p, true);
        assert!(zb < e.z_for(p) - 1.0, "{zb} vs t {}", e.z_for(p));
        // So a run 2.5× its expected duration (five spreads, three times the
        // noise bound) passes it, which the t alone would let through.
        let slow = e.z(300f64.ln() + 2.5f64.ln());
        assert!(slow > zb && slow < e.z_for(p), "{slow} {zb}");
        // Heavy-tailed noise (one run in ten eight times as spread) earns a
        // higher threshold in its own spreads, and a fortnight more of the
        // same noise, judged run by run, raises no alarm.
        let heavy = |i: usize| {
            let wide = if hnoise(i, 2) > 0.8 { 0.8 } else { 0.1 };
            wide * hnoise(i, 3)
        };
        let (mut m, e, p) = tail_after(heavy);
        assert!(m.threshold(&cfg, &e, p, true) > zb);
        for i in (28 * 24)..(42 * 24) {
            let t = T0 + i as i64 * HOUR;
            let x = 300f64.ln() + heavy(i);
            let e = m.expect(&cfg, t).unwrap();
            let p = m.tail_probability(cfg.false_alarms_per_month);
            assert!(e.z(x) < m.threshold(&cfg, &e, p, true), "run {i}");
            assert!(-e.z(x) < m.threshold(&cfg, &e, p, false), "run {i}");
            m.absorb(&cfg, t, x, None);
        }
        // A young pipeline has shown too little: the t decides, within 10 %.
        let mut young = Seasonal::default();
        for i in 0..5 {
            young.absorb(
                &cfg,
                T0 + i * DAY,
                300f64.ln() + 0.3 * hnoise(i as usize, 1),
                None,
            );
        }
        let e = young.expect(&cfg, T0 + 5 * DAY).unwrap();
        let p = young.tail_probability(cfg.false_alarms_per_month);
        let zy = young.threshold(&cfg, &e, p, true);
        assert!(
            (zy / e.z_for(p) - 1.0).abs() < 0.1,
            "{zy} vs {}",
            e.z_for(p)
        );
    }

    #[test]
    fn t_mean_excess_matches_the_integrated_tail() {
        // E[T - u | T > u] = ∫_u^∞ P(T > t) dt / P(T > u), integrated here by
        // the trapezoid rule on the tail function alone.
        for (u, df) in [(2.0, 6.0), (2.0, 3.0), (1.0, 30.0), (3.0, 10.0)] {
            let (mut area, step) = (0.0, 0.005);
            let mut t = u;
            while t < u + 60.0 {
                area += 0.5 * step * (student_t_sf(t, df) + student_t_sf(t + step, df));
                t += step;
            }
            let want = area / student_t_sf(u, df);
            let got = student_t_mean_excess(u, df);
            assert!(
                (got / want - 1.0).abs() < 0.01,
                "u={u} df={df}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn old_runs_fade_out_of_the_baseline() {
        let cfg = DetectConfig::default();
        let mut m = Seasonal::default();
        for i in 0..200 {
            m.absorb(&cfg, T0 + i * HOUR, 2.0, None);
        }
        // Ten weeks later the level has moved; a few weeks of new runs dominate.
        let later = T0 + 70 * DAY;
        for i in 0..(21 * 24) {
            m.absorb(&cfg, later + i * HOUR, 3.0, None);
        }
        let e = m.expect(&cfg, later + 21 * DAY).unwrap();
        assert!((e.mean - 3.0).abs() < 0.05, "{}", e.mean);
    }

    #[test]
    fn the_record_is_the_largest_residual_of_its_window() {
        // Against a brute-force maximum over the window, for residuals in
        // every order (rising, falling, repeated) and gaps that empty it.
        let mut rec = Record::default();
        let mut seen: Vec<(Millis, f64)> = Vec::new();
        let window = 10 * HOUR;
        let mut t = T0;
        for i in 0..400 {
            t += if i % 97 == 0 { 12 * HOUR } else { HOUR };
            let want = seen
                .iter()
                .filter(|&&(s, _)| t - s <= window)
                .map(|&(_, r)| r)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
            assert_eq!(rec.max_within(t, window), want, "run {i}");
            let r = ((i % 7) as f64 - 3.0) * 0.1 + 0.5 * hnoise(i, 11);
            rec.push(t, r);
            seen.push((t, r));
        }
        // A run's own residual never counts before it is pushed, and a
        // non-finite one never does.
        rec.push(t + HOUR, f64::NAN);
        assert!(rec.max_within(t + HOUR, window).is_some_and(f64::is_finite));
    }

    #[test]
    fn a_record_forgets_the_runs_an_episode_claims() {
        // Hourly residuals 0.2, 0.3, 0.6, then a degradation's first runs at
        // 0.9 and 1.1 (judged ordinary while its evidence gathered). When the
        // episode opens they leave, and with them the smaller runs they had
        // displaced from the queue: no record, so the budget's threshold alone
        // judges until later runs make one.
        let window = 10 * HOUR;
        let mut rec = Record::default();
        for (i, r) in [0.2, 0.3, 0.6, 0.9, 1.1].into_iter().enumerate() {
            rec.push(T0 + i as i64 * HOUR, r);
        }
        assert_eq!(rec.max_within(T0 + 5 * HOUR, window), Some(1.1));
        rec.forget_since(T0 + 3 * HOUR);
        assert_eq!(rec.max_within(T0 + 5 * HOUR, window), None);
        rec.push(T0 + 6 * HOUR, 0.4);
        assert_eq!(rec.max_within(T0 + 7 * HOUR, window), Some(0.4));
        // A run before them that was larger than all of them stays the record.
        let mut rec = Record::default();
        for (i, r) in [0.2, 1.3, 0.6, 0.9, 1.1].into_iter().enumerate() {
            rec.push(T0 + i as i64 * HOUR, r);
        }
        rec.forget_since(T0 + 3 * HOUR);
        assert_eq!(rec.max_within(T0 + 5 * HOUR, window), Some(1.3));
        // It counts the runs it takes in until its window has passed.
        assert_eq!(rec.refilled(T0 + 5 * HOUR, window), Some(0));
        for i in 5..8 {
            rec.push(T0 + i * HOUR, 0.1);
        }
        assert_eq!(rec.refilled(T0 + 8 * HOUR, window), Some(3));
        assert_eq!(rec.refilled(T0 + 14 * HOUR, window), None);
    }

    #[test]
    fn a_refilled_record_is_judged_by_the_runs_it_holds() {
        // A half-hourly job with four weeks of runs: its record stands for
        // 1,344 runs (1.54×). A record that forgot an episode's runs and has
        // taken in 30 since stands for 30 (2.27×), and below
        // `duration_record_min_runs` for nothing: the budget's threshold.
        let cfg = DetectConfig::default();
        let mut m = Seasonal::default();
        for i in 0..(28 * 48) {
            m.absorb(
                &cfg,
                T0 + i * 30 * MIN,
                1.0 + 0.2 * hnoise(i as usize, 4),
                None,
            );
        }
        let want = |runs: f64| 2.0 * (100.0 / runs).powf(0.1);
        assert!((m.record_factor(&cfg, None) - want(1344.0)).abs() < 1e-6);
        assert!((m.record_factor(&cfg, Some(30)) - want(30.0)).abs() < 1e-9);
        let e = m.expect(&cfg, T0 + 28 * DAY).expect("learned");
        let p = m.tail_probability(cfg.false_alarms_per_month);
        let budget = m.threshold(&cfg, &e, p, true);
        let full = m.record_threshold(&cfg, &e, p, Some(0.1), None);
        let young = m.record_threshold(&cfg, &e, p, Some(0.1), Some(30));
        assert!(full < young && young <= budget, "{full} {young} {budget}");
        assert_eq!(m.record_threshold(&cfg, &e, p, Some(0.1), Some(19)), budget);
    }

    #[test]
    fn cells_round_trip_bit_for_bit() {
        let cfg = DetectConfig::default();
        let mut a = Seasonal::default();
        for i in 0..50 {
            a.absorb(&cfg, T0 + i * 3 * HOUR, 1.0 + 0.01 * i as f64, None);
        }
        let same = a.clone();
        let mut other = a.clone();
        other.absorb(&cfg, T0 + 200 * HOUR, -2.5, None);
        other.s[5] = -0.0;
        let empty = Seasonal::default();
        let mut buf = Vec::new();
        encode_cells(&[&a, &same, &other, &empty], &mut buf);
        let mut back = vec![Seasonal::default(); 4];
        let mut refs: Vec<&mut Seasonal> = back.iter_mut().collect();
        let mut slice = buf.as_slice();
        decode_cells(&mut refs, &mut slice).unwrap();
        drop(refs);
        assert!(slice.is_empty());
        for (got, want) in back.iter().zip([&a, &same, &other, &empty]) {
            assert!(same_bits(&got.w, &want.w) && same_bits(&got.s, &want.s));
        }
        // A copy of an earlier array costs two bytes.
        assert!(buf.len() < 3 * (MASK_BYTES + 4 * CELLS));
        let mut again = vec![Seasonal::default(); 4];
        let mut refs: Vec<&mut Seasonal> = again.iter_mut().collect();
        assert_eq!(decode_cells(&mut refs, &mut &buf[..buf.len() - 1]), None);
    }

    #[test]
    fn slope_only_where_durations_follow_volume() {
        let mut s = Slope::default();
        let mut flat = Slope::default();
        for i in 0..100 {
            let u = hnoise(i, 1);
            s.absorb(
                T0 + i as i64 * HOUR,
                14 * DAY,
                u,
                0.5,
                0.8 * u + 0.05 * hnoise(i, 2),
                0.5,
            );
            flat.absorb(
                T0 + i as i64 * HOUR,
                14 * DAY,
                u,
                0.5,
                0.3 * hnoise(i, 3),
                0.5,
            );
        }
        let b = s.beta().unwrap();
        assert!((b - 0.8).abs() < 0.05, "{b}");
        assert_eq!(flat.beta(), None);
        // With a slope: the slope times the volume residual within the
        // ordinary range and above it; below it, held at its edge (two spreads).
        let ev = Expectation {
            mean: 7.0,
            sd: 0.5,
            df: 30.0,
            runs: 100,
        };
        let near = |a: f64, want: f64| assert!((a - want).abs() < 1e-12, "{a} vs {want}");
        near(s.adjustment(7.4, &ev), b * 0.4);
        near(s.adjustment(6.2, &ev), b * -0.8);
        near(s.adjustment(9.5, &ev), b * 2.5);
        near(s.adjustment(4.0, &ev), -b);
        near(s.adjustment(1.0, &ev), -b);
        // Without a slope: nothing within the range or below it; above it,
        // the excess over its edge, in proportion.
        assert_eq!(flat.adjustment(7.9, &ev), 0.0);
        assert_eq!(flat.adjustment(1.0, &ev), 0.0);
        near(flat.adjustment(9.5, &ev), 1.5);
    }

    #[test]
    fn bands_bracket_ordinary_runs_in_run_units() {
        let cfg = DetectConfig::default();
        let runs: Vec<Run> = (0..60)
            .map(|i| {
                let d = (300_000.0 * (1.0 + 0.1 * noise(i))) as i64;
                run(
                    i,
                    T0 + i as i64 * HOUR,
                    Outcome::Success,
                    d,
                    Some(1000 + i as i64),
                )
            })
            .collect();
        let b = duration_band(&cfg, &runs);
        assert_eq!(b.len(), 59);
        let last = b.last().unwrap();
        assert!((last.expected / 300_000.0 - 1.0).abs() < 0.05, "{last:?}");
        assert!(last.lower < 270_000.0 && last.upper > 330_000.0, "{last:?}");
        let v = volume_band(&cfg, &runs);
        let last = v.last().unwrap();
        assert!(last.lower < 1000.0 && last.upper > 1100.0, "{last:?}");
    }
}
