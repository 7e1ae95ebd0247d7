//! `[detect]` in the configuration file: every threshold, window and tolerance of
//! the detectors, each with a documented default. Durations are written like
//! `30m`, `90s`, `2h`, `7d`. Unknown keys are errors.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A duration in milliseconds, written in the configuration as `30m`, `2h`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub i64);

impl Dur {
    pub const fn secs(s: i64) -> Dur {
        Dur(s * 1000)
    }
    pub const fn mins(m: i64) -> Dur {
        Dur(m * 60_000)
    }
    pub const fn hours(h: i64) -> Dur {
        Dur(h * 3_600_000)
    }
    pub const fn days(d: i64) -> Dur {
        Dur(d * 86_400_000)
    }
    pub fn ms(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::time::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        crate::time::parse_duration_ms(&s).map(Dur).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration; write it like `90s`, `30m`, `2h` or `7d`"
            ))
        })
    }
}

/// Detector thresholds (`[detect]` in the configuration). The defaults are the
/// values the detectors were tuned with against `pipemon eval`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Team that receives `systemic_failure` alerts. Default `platform`.
    pub platform_team: String,
    /// Completed runs remembered per pipeline for baselines. Default 128.
    pub history_runs: usize,
    /// Successful runs remembered per hour-of-day and per day-of-week slot. Default 12.
    pub seasonal_runs: usize,
    /// Runs an hour-of-day or day-of-week slot needs before its p95 counts toward
    /// the stuck threshold (never fewer than `stuck_min_history`). Default 1.
    pub seasonal_min_runs: usize,

    /// Consecutive final failures that raise `consecutive_failures`. Default 3.
    pub failure_streak: usize,

    /// Recent outcome runs (success or failure) tested by `failure_rate_spike`. Default 20.
    pub rate_window_runs: usize,
    /// Significance level of the binomial test. Default 0.0001.
    pub rate_alpha: f64,
    /// Fewest failures in the window before the test may fire. Default 3.
    pub rate_min_failures: usize,
    /// Prior failure rate of a pipeline with little history. Default 0.02.
    pub rate_prior_rate: f64,
    /// Weight of the prior, in runs. Default 50.
    pub rate_prior_runs: f64,
    /// Runs checked for resolution (the rate is back near the baseline when these
    /// are no longer significant at 5 %). Default 10.
    pub rate_resolve_runs: usize,

    /// Event time over which a run's weight in every anomaly baseline halves, so
    /// baselines span weeks of time whatever the run frequency. Default 14d.
    pub baseline_half_life: Dur,
    /// False alarms per pipeline per month each anomaly kind may spend: the
    /// per-run tail probability is this over the pipeline's runs per month.
    /// Default 0.33 (one false alarm per pipeline per kind every three months).
    pub false_alarms_per_month: f64,
    /// Degrees of freedom of the Student-t reference for residuals: few, because
    /// real noise is heavy-tailed. Default 6 (chosen on the training seeds: 4
    /// put the threshold of a 15-minute job near 15 spreads and missed a 17×
    /// volume explosion; 6 and 10 scored alike there, and 6 is the heavier tail).
    pub tail_df: f64,
    /// Weight, in runs, of that Student-t reference against the tail a
    /// pipeline has shown beyond two spreads (`expected::Seasonal::threshold`):
    /// a young pipeline is judged by the t, one with weeks of frequent runs
    /// mostly by its own tail. Default 200.
    pub tail_prior_runs: f64,
    /// Prior spread of log durations and log volumes (≈ ±35 %) that a young
    /// pipeline's own spread is combined with. Default 0.35.
    pub prior_log_sd: f64,
    /// Weight of that prior, in runs. Default 3.
    pub prior_runs: f64,
    /// Pseudo-count shrinking hour-of-day and weekday effects toward the
    /// pipeline's overall level (the hour-of-week interaction twice as hard). Default 2.
    pub seasonal_prior_runs: f64,
    /// Normal runs in a row that close a duration or volume anomaly… Default 2.
    pub anomaly_quiet_runs: usize,
    /// …and the cool-down after its last anomalous run; an anomaly inside it is
    /// the same alert. Default 6h.
    pub anomaly_cooldown: Dur,
    /// Successful runs absorbed before duration and volume anomalies are judged. Default 3.
    pub anomaly_min_history: usize,
    /// Successful runs whose p95 duration sets the stuck threshold. Default 50.
    pub anomaly_baseline_runs: usize,
    /// A slow run must also take at least this many times the expected duration. Default 2.
    pub duration_min_ratio: f64,
    /// …and at least this much longer than expected. Default 60s.
    pub duration_min_excess: Dur,
    /// The record test: a run at least this many times as long, relative to
    /// its expectation, as every run of the last two half-lives was relative
    /// to theirs is beyond anything the pipeline's own history shows, and its
    /// threshold comes down to there (never below the threshold of ten times
    /// the budget's tail probability). This is the factor for a record of 100
    /// runs; it scales as (100 / runs)^0.1, so a record of few runs asks for
    /// more and one of many for less. Default 2.
    pub duration_record_factor: f64,
    /// Successful runs absorbed before the record test applies. Default 20.
    pub duration_record_min_runs: usize,

    /// CUSUM slack per run, in robust standard deviations. Default 0.5.
    pub degradation_k: f64,
    /// The level the suspect runs have reached (the Hodges-Lehmann location of the
    /// last `degradation_recent_runs`) must be at least this many times the baseline. Default 1.5.
    pub degradation_min_ratio: f64,
    /// …and the shift (log scale) at least this many of the pipeline's residual
    /// spreads: a shift its own noise does not explain (1.75 times as many while younger than `degradation_min_span`). Default 1.25.
    pub degradation_min_spreads: f64,
    /// …and at least this much longer. Default 10s.
    pub degradation_min_excess: Dur,
    /// Successful runs the CUSUM may gather evidence over without crossing before
    /// the change is taken as a slow change of level and the reference re-learns. Default 30.
    pub degradation_baseline_runs: usize,
    /// History a pipeline needs before degradation is judged (a week, so the
    /// reference covers the weekly rhythm). Default 7d.
    pub degradation_min_span: Dur,
    /// A younger pipeline (from this much history) is judged on the weekdays it
    /// has already been seen on. Default 2d.
    pub degradation_young_span: Dur,
    /// Recent runs whose median measures the shift (to open and to resolve). Default 10
    /// (the contract wants a degradation reported by its 12th run).
    pub degradation_recent_runs: usize,

    /// The volume must also be this many times above, or this many times below,
    /// what was expected. Default 3.
    pub volume_min_ratio: f64,
    /// History a pipeline needs before its volume is judged, so a weekly pattern
    /// (weekend dips) has been seen once. Default 7d.
    pub volume_min_span: Dur,

    /// A run is stuck after max(`stuck_factor` × p95, p95 + `stuck_slack`) −
    /// `stuck_margin`, p95 being the largest of the recent and the same-hour and
    /// same-weekday p95s of its successful durations (the contract's deadline, a
    /// margin early). Defaults 4, 1h, 5m.
    pub stuck_factor: f64,
    pub stuck_slack: Dur,
    pub stuck_margin: Dur,
    /// Threshold while there are no successful durations. Default 6h. (With 1 to
    /// `stuck_min_history` − 1 of them, the p95 is estimated from the longest.)
    pub stuck_default: Dur,
    /// Successful runs needed to learn the p95. Default 5.
    pub stuck_min_history: usize,
    /// A run whose heartbeats (`running` events) stop for `stuck_heartbeat_factor`
    /// × the pipeline's median heartbeat interval, and at least
    /// `stuck_heartbeat_min`, is hung; the interval is learned from
    /// `stuck_heartbeat_runs` completed runs with heartbeats. Defaults 5, 10m, 3.
    pub stuck_heartbeat_factor: f64,
    pub stuck_heartbeat_min: Dur,
    pub stuck_heartbeat_runs: usize,

    /// Tolerance after an expected start, as a fraction of the period… Default 0.25.
    pub missed_tolerance_fraction: f64,
    /// …at least this… Default 10m.
    pub missed_tolerance_min: Dur,
    /// …and, before the pipeline's own lateness is added, at most this. Default 2h.
    pub missed_tolerance_max: Dur,
    /// The tolerance's fraction for a learned cadence, whose period is an
    /// estimate and whose starts drift with whatever they wait for. Default 0.5.
    pub missed_learned_tolerance_fraction: f64,
    /// Runs seen before a declared schedule is enforced. Default 3.
    pub missed_min_runs: usize,
    /// Runs needed to learn a cadence when none is declared. Default 8.
    pub missed_learn_min_runs: usize,
    /// A silent pipeline's missed-run alert resolves (as retired) after this. Default 7d.
    pub missed_retire_after: Dur,

    /// Distinct pipelines failing with one error signature that make a systemic failure. Default 3.
    pub systemic_pipelines: usize,
    /// The window they must fail within. Default 30m.
    pub systemic_window: Dur,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            platform_team: "platform".to_string(),
            history_runs: 128,
            seasonal_runs: 12,
            seasonal_min_runs: 1,
            failure_streak: 3,
            rate_window_runs: 20,
            rate_alpha: 1e-4,
            rate_min_failures: 3,
            rate_prior_rate: 0.02,
            rate_prior_runs: 50.0,
            rate_resolve_runs: 10,
            baseline_half_life: Dur::days(14),
            false_alarms_per_month: 0.33,
            tail_df: 6.0,
            tail_prior_runs: 200.0,
            prior_log_sd: 0.35,
            prior_runs: 3.0,
            seasonal_prior_runs: 2.0,
            anomaly_quiet_runs: 2,
            anomaly_cooldown: Dur::hours(6),
            anomaly_min_history: 3,
            anomaly_baseline_runs: 50,
            duration_min_ratio: 2.0,
            duration_min_excess: Dur::secs(60),
            duration_record_factor: 2.0,
            duration_record_min_runs: 20,
            degradation_k: 0.5,
            degradation_min_ratio: 1.5,
            degradation_min_spreads: 1.25,
            degradation_min_excess: Dur::secs(10),
            degradation_baseline_runs: 30,
            degradation_recent_runs: 10,
            degradation_min_span: Dur::days(7),
            degradation_young_span: Dur::days(2),
            volume_min_ratio: 3.0,
            volume_min_span: Dur::days(7),
            stuck_factor: 4.0,
            stuck_slack: Dur::hours(1),
            stuck_margin: Dur::mins(5),
            stuck_heartbeat_factor: 5.0,
            stuck_heartbeat_min: Dur::mins(10),
            stuck_heartbeat_runs: 3,
            stuck_default: Dur::hours(6),
            stuck_min_history: 5,
            missed_tolerance_fraction: 0.25,
            missed_learned_tolerance_fraction: 0.5,
            missed_tolerance_min: Dur::mins(10),
            missed_tolerance_max: Dur::hours(2),
            missed_min_runs: 3,
            missed_learn_min_runs: 8,
            missed_retire_after: Dur::days(7),
            systemic_pipelines: 3,
            systemic_window: Dur::mins(30),
        }
    }
}

impl DetectConfig {
    /// Checks values serde cannot (ranges); returns every problem with its key.
    /// Every number has a range: a value accepted here never makes detection
    /// panic, overflow or divide by zero (a property test holds it to that).
    pub fn validate(&self) -> Result<(), String> {
        const MAX_RUNS: usize = 100_000;
        let mut problems = Vec::new();
        let mut need = |ok: bool, key: &str, what: &str| {
            if !ok {
                problems.push(format!("detect.{key}: {what}"));
            }
        };
        let count = |v: usize, lo: usize, hi: usize| (lo..=hi).contains(&v);
        let real = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        // Durations parse as positive; the bound keeps event-time arithmetic far
        // from overflow.
        let max_dur = Dur::days(3650).ms();
        let dur = |d: Dur| d.ms() > 0 && d.ms() <= max_dur;

        need(
            !self.platform_team.trim().is_empty(),
            "platform_team",
            "must not be empty",
        );
        need(
            count(self.history_runs, 16, MAX_RUNS),
            "history_runs",
            "must be between 16 and 100000",
        );
        need(
            count(self.seasonal_runs, 1, 255),
            "seasonal_runs",
            "must be between 1 and 255",
        );
        need(
            count(self.seasonal_min_runs, 0, 255),
            "seasonal_min_runs",
            "must be between 0 and 255",
        );
        need(
            count(self.failure_streak, 2, 1000),
            "failure_streak",
            "must be between 2 and 1000",
        );
        need(
            self.rate_window_runs >= 5 && self.rate_window_runs < self.history_runs,
            "rate_window_runs",
            "must be at least 5 and below history_runs",
        );
        need(
            real(self.rate_alpha, f64::MIN_POSITIVE, 0.5) && self.rate_alpha < 0.5,
            "rate_alpha",
            "must be in (0, 0.5)",
        );
        need(
            count(self.rate_min_failures, 1, self.rate_window_runs),
            "rate_min_failures",
            "must be between 1 and rate_window_runs",
        );
        need(
            real(self.rate_prior_rate, f64::MIN_POSITIVE, 1.0) && self.rate_prior_rate < 1.0,
            "rate_prior_rate",
            "must be in (0, 1)",
        );
        need(
            real(self.rate_prior_runs, 0.0, 1e6),
            "rate_prior_runs",
            "must be between 0 and 1000000",
        );
        need(
            count(self.rate_resolve_runs, 1, self.rate_window_runs),
            "rate_resolve_runs",
            "must be between 1 and rate_window_runs",
        );
        need(
            dur(self.baseline_half_life) && self.baseline_half_life.ms() >= Dur::hours(1).ms(),
            "baseline_half_life",
            "must be between 1h and 3650d",
        );
        need(
            real(self.false_alarms_per_month, 1e-6, 1000.0),
            "false_alarms_per_month",
            "must be between 0.000001 and 1000",
        );
        need(
            real(self.tail_df, 1.0, 1000.0),
            "tail_df",
            "must be between 1 and 1000",
        );
        need(
            real(self.tail_prior_runs, 1.0, 1e6),
            "tail_prior_runs",
            "must be between 1 and 1000000",
        );
        need(
            real(self.prior_log_sd, 0.01, 5.0),
            "prior_log_sd",
            "must be between 0.01 and 5",
        );
        need(
            real(self.prior_runs, 0.1, 1000.0),
            "prior_runs",
            "must be between 0.1 and 1000",
        );
        need(
            real(self.seasonal_prior_runs, 0.01, 1000.0),
            "seasonal_prior_runs",
            "must be between 0.01 and 1000",
        );
        need(
            count(self.anomaly_quiet_runs, 1, 1000),
            "anomaly_quiet_runs",
            "must be between 1 and 1000",
        );
        need(
            dur(self.anomaly_cooldown),
            "anomaly_cooldown",
            "must be at most 3650d",
        );
        need(
            count(self.anomaly_min_history, 1, MAX_RUNS),
            "anomaly_min_history",
            "must be between 1 and 100000",
        );
        need(
            count(self.anomaly_baseline_runs, 1, self.history_runs),
            "anomaly_baseline_runs",
            "must be between 1 and history_runs",
        );
        need(
            real(self.duration_min_ratio, 1.0, 1e6),
            "duration_min_ratio",
            "must be between 1 and 1000000",
        );
        need(
            dur(self.duration_min_excess),
            "duration_min_excess",
            "must be at most 3650d",
        );
        need(
            real(self.duration_record_factor, 1.0, 1e6),
            "duration_record_factor",
            "must be between 1 and 1000000",
        );
        need(
            count(self.duration_record_min_runs, 1, MAX_RUNS),
            "duration_record_min_runs",
            "must be between 1 and 100000",
        );
        need(
            real(self.degradation_k, 0.0, 100.0),
            "degradation_k",
            "must be between 0 and 100",
        );
        need(
            real(self.degradation_min_spreads, 0.0, 100.0),
            "degradation_min_spreads",
            "must be between 0 and 100",
        );
        need(
            real(self.degradation_min_ratio, 1.0, 1e6),
            "degradation_min_ratio",
            "must be between 1 and 1000000",
        );
        need(
            dur(self.degradation_min_excess),
            "degradation_min_excess",
            "must be at most 3650d",
        );
        need(
            count(self.degradation_baseline_runs, 1, MAX_RUNS),
            "degradation_baseline_runs",
            "must be between 1 and 100000",
        );
        need(
            dur(self.degradation_young_span)
                && self.degradation_young_span.ms() <= self.degradation_min_span.ms(),
            "degradation_young_span",
            "must be at most degradation_min_span",
        );
        need(
            dur(self.degradation_min_span),
            "degradation_min_span",
            "must be at most 3650d",
        );
        need(
            count(self.degradation_recent_runs, 1, 1000),
            "degradation_recent_runs",
            "must be between 1 and 1000",
        );
        need(
            real(self.volume_min_ratio, 1.0, 1e6) && self.volume_min_ratio > 1.0,
            "volume_min_ratio",
            "must be above 1 and at most 1000000",
        );
        need(
            dur(self.volume_min_span),
            "volume_min_span",
            "must be at most 3650d",
        );
        need(
            real(self.stuck_factor, 1.0, 1e4),
            "stuck_factor",
            "must be between 1 and 10000",
        );
        need(
            dur(self.stuck_slack),
            "stuck_slack",
            "must be at most 3650d",
        );
        need(
            dur(self.stuck_margin) && self.stuck_margin.ms() <= self.stuck_slack.ms(),
            "stuck_margin",
            "must be at most stuck_slack",
        );
        need(
            real(self.stuck_heartbeat_factor, 1.0, 1e4),
            "stuck_heartbeat_factor",
            "must be between 1 and 10000",
        );
        need(
            dur(self.stuck_heartbeat_min),
            "stuck_heartbeat_min",
            "must be at most 3650d",
        );
        need(
            count(self.stuck_heartbeat_runs, 1, MAX_RUNS),
            "stuck_heartbeat_runs",
            "must be between 1 and 100000",
        );
        need(
            dur(self.stuck_default),
            "stuck_default",
            "must be at most 3650d",
        );
        need(
            count(self.stuck_min_history, 1, self.history_runs),
            "stuck_min_history",
            "must be between 1 and history_runs",
        );
        need(
            real(self.missed_learned_tolerance_fraction, 0.0, 100.0),
            "missed_learned_tolerance_fraction",
            "must be between 0 and 100",
        );
        need(
            real(self.missed_tolerance_fraction, 0.0, 100.0),
            "missed_tolerance_fraction",
            "must be between 0 and 100",
        );
        need(
            dur(self.missed_tolerance_min),
            "missed_tolerance_min",
            "must be at most 3650d",
        );
        need(
            dur(self.missed_tolerance_max)
                && self.missed_tolerance_max.ms() >= self.missed_tolerance_min.ms(),
            "missed_tolerance_max",
            "must be at least missed_tolerance_min and at most 3650d",
        );
        need(
            count(self.missed_min_runs, 1, MAX_RUNS),
            "missed_min_runs",
            "must be between 1 and 100000",
        );
        // A cadence is learned from the intervals between starts: it takes at
        // least three starts (two intervals) to tell a rhythm.
        need(
            count(self.missed_learn_min_runs, 3, self.history_runs),
            "missed_learn_min_runs",
            "must be between 3 and history_runs",
        );
        need(
            dur(self.missed_retire_after),
            "missed_retire_after",
            "must be at most 3650d",
        );
        need(
            count(self.systemic_pipelines, 2, 100_000),
            "systemic_pipelines",
            "must be between 2 and 100000",
        );
        need(
            dur(self.systemic_window),
            "systemic_window",
            "must be at most 3650d",
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// A stable digest of the settings: detector state saved under other settings
    /// is not resumed.
    pub fn digest(&self) -> String {
        format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(format!("{self:?}").as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_rejects_unknown_keys() {
        let c: DetectConfig =
            toml::from_str("failure_streak = 4\nsystemic_window = \"45m\"").unwrap();
        assert_eq!(c.failure_streak, 4);
        assert_eq!(c.systemic_window, Dur::mins(45));
        assert_eq!(c.stuck_slack, Dur::hours(1));
        assert!(toml::from_str::<DetectConfig>("no_such_key = 1").is_err());
        assert!(toml::from_str::<DetectConfig>("stuck_slack = \"soon\"").is_err());
        assert!(DetectConfig::default().validate().is_ok());
        let bad = DetectConfig {
            failure_streak: 1,
            ..DetectConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("detect.failure_streak")
        );
    }

    #[test]
    fn out_of_range_numbers_are_refused_with_their_key() {
        for (text, key) in [
            ("missed_learn_min_runs = 0", "missed_learn_min_runs"),
            ("missed_learn_min_runs = 1", "missed_learn_min_runs"),
            ("false_alarms_per_month = -1.0", "false_alarms_per_month"),
            ("false_alarms_per_month = 0.0", "false_alarms_per_month"),
            ("false_alarms_per_month = inf", "false_alarms_per_month"),
            ("false_alarms_per_month = nan", "false_alarms_per_month"),
            ("tail_df = 0.5", "tail_df"),
            ("volume_min_ratio = -5.0", "volume_min_ratio"),
            ("anomaly_baseline_runs = 0", "anomaly_baseline_runs"),
            ("degradation_recent_runs = 0", "degradation_recent_runs"),
            ("seasonal_runs = 256", "seasonal_runs"),
            ("stuck_factor = nan", "stuck_factor"),
            ("rate_alpha = 0.0", "rate_alpha"),
            ("missed_tolerance_max = \"5m\"", "missed_tolerance_max"),
        ] {
            let c: DetectConfig = toml::from_str(text).unwrap();
            let err = c.validate().unwrap_err();
            assert!(err.contains(&format!("detect.{key}:")), "{text}: {err}");
        }
    }
}

/// No `[detect]` configuration that `validate` accepts makes detection panic,
/// on generated histories of every outcome, gaps, volumes and runs in progress.
#[cfg(test)]
mod property {
    use proptest::prelude::*;

    use super::*;
    use crate::detect::testutil::*;

    const FIELDS: usize = 48;

    fn raw_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(-1.0),
            Just(2.0),
            Just(3.0),
            Just(0.5),
            Just(255.0),
            Just(1e6),
            Just(f64::NAN),
            Just(f64::INFINITY),
            0.0f64..10.0,
            0.0f64..300.0,
            1e-7f64..1e-2,
        ]
    }

    fn count(v: f64) -> usize {
        if v.is_finite() && v >= 0.0 {
            v.min(1e6) as usize
        } else {
            0
        }
    }

    fn config(raw: &[Option<f64>]) -> DetectConfig {
        let mut c = DetectConfig::default();
        if let Some(v) = raw[0] {
            c.history_runs = count(v);
        }
        if let Some(v) = raw[1] {
            c.seasonal_runs = count(v);
        }
        if let Some(v) = raw[2] {
            c.seasonal_min_runs = count(v);
        }
        if let Some(v) = raw[3] {
            c.failure_streak = count(v);
        }
        if let Some(v) = raw[4] {
            c.rate_window_runs = count(v);
        }
        if let Some(v) = raw[5] {
            c.rate_min_failures = count(v);
        }
        if let Some(v) = raw[6] {
            c.rate_resolve_runs = count(v);
        }
        if let Some(v) = raw[7] {
            c.anomaly_quiet_runs = count(v);
        }
        if let Some(v) = raw[8] {
            c.anomaly_min_history = count(v);
        }
        if let Some(v) = raw[9] {
            c.anomaly_baseline_runs = count(v);
        }
        if let Some(v) = raw[10] {
            c.degradation_baseline_runs = count(v);
        }
        if let Some(v) = raw[11] {
            c.degradation_recent_runs = count(v);
        }
        if let Some(v) = raw[12] {
            c.stuck_min_history = count(v);
        }
        if let Some(v) = raw[13] {
            c.stuck_heartbeat_runs = count(v);
        }
        if let Some(v) = raw[14] {
            c.missed_min_runs = count(v);
        }
        if let Some(v) = raw[15] {
            c.missed_learn_min_runs = count(v);
        }
        if let Some(v) = raw[16] {
            c.systemic_pipelines = count(v);
        }
        if let Some(v) = raw[17] {
            c.rate_alpha = v;
        }
        if let Some(v) = raw[18] {
            c.rate_prior_rate = v;
        }
        if let Some(v) = raw[19] {
            c.rate_prior_runs = v;
        }
        if let Some(v) = raw[20] {
            c.false_alarms_per_month = v;
        }
        if let Some(v) = raw[21] {
            c.tail_df = v;
        }
        if let Some(v) = raw[22] {
            c.prior_log_sd = v;
        }
        if let Some(v) = raw[23] {
            c.prior_runs = v;
        }
        if let Some(v) = raw[24] {
            c.seasonal_prior_runs = v;
        }
        if let Some(v) = raw[25] {
            c.duration_min_ratio = v;
        }
        if let Some(v) = raw[26] {
            c.degradation_k = v;
        }
        if let Some(v) = raw[27] {
            c.degradation_min_ratio = v;
        }
        if let Some(v) = raw[28] {
            c.volume_min_ratio = v;
        }
        if let Some(v) = raw[29] {
            c.stuck_factor = v;
        }
        if let Some(v) = raw[30] {
            c.stuck_heartbeat_factor = v;
        }
        if let Some(v) = raw[31] {
            c.missed_tolerance_fraction = v;
        }
        if let Some(v) = raw[32] {
            c.baseline_half_life = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[33] {
            c.anomaly_cooldown = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[34] {
            c.duration_min_excess = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[35] {
            c.degradation_min_excess = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[36] {
            c.degradation_min_span = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[37] {
            c.volume_min_span = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[38] {
            c.stuck_slack = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[39] {
            c.stuck_margin = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[40] {
            c.stuck_heartbeat_min = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[41] {
            c.stuck_default = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[42] {
            c.missed_tolerance_min = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[43] {
            c.missed_tolerance_max = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[44] {
            c.missed_retire_after = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[45] {
            c.systemic_window = Dur((v * 3_600_000.0) as i64);
        }
        if let Some(v) = raw[46] {
            c.duration_record_factor = v;
        }
        if let Some(v) = raw[47] {
            c.duration_record_min_runs = count(v);
        }
        c
    }

    fn history(spec: &[(u16, u8, u32, u32)]) -> Vec<Run> {
        let mut t = T0;
        spec.iter()
            .enumerate()
            .map(|(i, &(gap, o, dur, rec))| {
                t += gap as i64 * MIN;
                let outcome = match o % 8 {
                    0 => Outcome::Failed,
                    1 => Outcome::Cancelled,
                    2 => Outcome::Skipped,
                    3 if i + 3 >= spec.len() => Outcome::Running,
                    _ => Outcome::Success,
                };
                let records = (rec % 5 != 0).then_some((rec % 100_000) as i64);
                run(i, t, outcome, (dur % 20_000_000) as i64, records)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn accepted_configs_never_panic_detection(
            changes in proptest::collection::vec((0..FIELDS, raw_value()), 1..4),
            spec in proptest::collection::vec((0u16..3000, any::<u8>(), any::<u32>(), any::<u32>()), 1..100),
        ) {
            let mut raw = vec![None; FIELDS];
            for (i, v) in changes {
                raw[i] = Some(v);
            }
            let cfg = config(&raw);
            prop_assume!(cfg.validate().is_ok());
            let runs = history(&spec);
            let last = runs.last().map_or(T0, |r| r.start_at);
            let eps = detect(&runs, last + 30 * DAY, None, &cfg);
            for e in &eps {
                prop_assert!(e.resolved_at.is_none_or(|r| r >= e.started_at));
            }
        }
    }
}
