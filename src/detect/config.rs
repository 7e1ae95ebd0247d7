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
    /// Runs a seasonal slot needs before it is used as a baseline for duration and
    /// volume anomalies. Default 1: a daily job has seen one Saturday after a week,
    /// and one Saturday is enough to know a weekend dip is normal (the ratio gates
    /// keep a single noisy slot from hiding a real collapse).
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

    /// Successful runs needed before duration and volume anomalies are judged. Default 10.
    pub anomaly_min_history: usize,
    /// Successful runs in the duration and volume baselines. Default 50.
    pub anomaly_baseline_runs: usize,
    /// Robust z-score (median/MAD on log duration) above which a run is slow. Default 4.
    pub duration_z: f64,
    /// A slow run must also take at least this many times the expected duration. Default 2.
    pub duration_min_ratio: f64,
    /// …and at least this much longer than expected. Default 60s.
    pub duration_min_excess: Dur,

    /// CUSUM slack per run, in robust standard deviations. Default 0.5.
    pub degradation_k: f64,
    /// CUSUM decision threshold, in robust standard deviations. Default 8.
    pub degradation_h: f64,
    /// The recent median must be at least this many times the baseline. Default 1.75.
    pub degradation_min_ratio: f64,
    /// …and at least this much longer. Default 10s.
    pub degradation_min_excess: Dur,
    /// Successful runs in the frozen baseline. Default 30.
    pub degradation_baseline_runs: usize,
    /// History a pipeline needs before degradation is judged (a day, so the
    /// hour-of-day pattern has been seen). Default 1d.
    pub degradation_min_span: Dur,
    /// Recent runs whose median measures the shift (to open and to resolve). Default 7.
    pub degradation_recent_runs: usize,

    /// Robust z-score on ln(1 + records) beyond which a volume is anomalous. Default 4.
    pub volume_z: f64,
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
    /// `stuck_min_history` − 1 of them: max(3 × median, median + `stuck_slack`).)
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
            anomaly_min_history: 10,
            anomaly_baseline_runs: 50,
            duration_z: 4.0,
            duration_min_ratio: 2.0,
            duration_min_excess: Dur::secs(60),
            degradation_k: 0.5,
            degradation_h: 8.0,
            degradation_min_ratio: 1.75,
            degradation_min_excess: Dur::secs(10),
            degradation_baseline_runs: 30,
            degradation_recent_runs: 7,
            degradation_min_span: Dur::days(1),
            volume_z: 4.0,
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
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, key: &str, what: &str| {
            if !ok {
                problems.push(format!("detect.{key}: {what}"));
            }
        };
        need(
            self.history_runs >= 16,
            "history_runs",
            "must be at least 16",
        );
        need(
            self.seasonal_runs >= 1,
            "seasonal_runs",
            "must be at least 1",
        );
        need(
            self.failure_streak >= 2,
            "failure_streak",
            "must be at least 2",
        );
        need(
            self.rate_window_runs >= 5,
            "rate_window_runs",
            "must be at least 5",
        );
        need(
            self.rate_window_runs < self.history_runs,
            "rate_window_runs",
            "must be below history_runs",
        );
        need(
            self.rate_alpha > 0.0 && self.rate_alpha < 0.5,
            "rate_alpha",
            "must be in (0, 0.5)",
        );
        need(
            self.rate_prior_rate > 0.0 && self.rate_prior_rate < 1.0,
            "rate_prior_rate",
            "must be in (0, 1)",
        );
        need(
            self.rate_prior_runs >= 0.0,
            "rate_prior_runs",
            "must be ≥ 0",
        );
        need(
            self.anomaly_min_history >= 3,
            "anomaly_min_history",
            "must be at least 3",
        );
        need(
            self.duration_min_ratio >= 1.0,
            "duration_min_ratio",
            "must be ≥ 1",
        );
        need(
            self.volume_min_ratio > 1.0,
            "volume_min_ratio",
            "must be > 1",
        );
        need(self.degradation_h > 0.0, "degradation_h", "must be > 0");
        need(self.degradation_k >= 0.0, "degradation_k", "must be ≥ 0");
        need(self.stuck_factor >= 1.0, "stuck_factor", "must be ≥ 1");
        need(
            self.stuck_heartbeat_factor >= 1.0,
            "stuck_heartbeat_factor",
            "must be ≥ 1",
        );
        need(
            self.stuck_heartbeat_runs >= 1,
            "stuck_heartbeat_runs",
            "must be at least 1",
        );
        need(
            self.missed_learned_tolerance_fraction >= 0.0,
            "missed_learned_tolerance_fraction",
            "must be ≥ 0",
        );
        need(
            self.missed_tolerance_fraction >= 0.0,
            "missed_tolerance_fraction",
            "must be ≥ 0",
        );
        need(
            self.systemic_pipelines >= 2,
            "systemic_pipelines",
            "must be at least 2",
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
}
