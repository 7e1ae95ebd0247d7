//! The expected band drawn behind a pipeline's duration and records charts.
//!
//! A chart is only honest if its band is the detector's own: the seasonal
//! expectation and false-alarm thresholds come from `detect::expected`
//! (`duration_band`, `volume_band`), the model `duration_anomaly` and
//! `volume_anomaly` judge runs by. This module adds the materiality gates of
//! `[detect]` that an alert must also pass (`duration_min_ratio` and
//! `duration_min_excess` above, `volume_min_ratio` on both sides of the records),
//! so no alert lies inside the band; a run outside it is an alert unless the
//! detector's volume adjustment or an open episode explains it.

use std::collections::HashMap;

use crate::detect::DetectConfig;
use crate::detect::expected;
use crate::model::{Millis, Run};

/// Expected value and thresholds for one run, in the series' unit (ms or records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Per run of `runs` (sorted by start), the duration band and the records band the
/// detectors held when that run arrived; None where the detectors had no
/// expectation yet (or the run was not a success), and for runs that started
/// before `from` (replayed into the model, not drawn).
pub fn bands(cfg: &DetectConfig, runs: &[Run], from: Millis) -> Vec<(Option<Band>, Option<Band>)> {
    let by_run = |bands: Vec<expected::Band>| -> HashMap<String, expected::Band> {
        bands.into_iter().map(|b| (b.run_id.clone(), b)).collect()
    };
    let durations = by_run(expected::duration_band(cfg, runs));
    let volumes = by_run(expected::volume_band(cfg, runs));
    let ratio = cfg.volume_min_ratio;
    runs.iter()
        .map(|run| {
            if run.start_at < from {
                return (None, None);
            }
            let d = durations.get(&run.run_id).map(|b| Band {
                expected: b.expected,
                lower: b.lower,
                upper: b
                    .upper
                    .max(b.expected * cfg.duration_min_ratio)
                    .max(b.expected + cfg.duration_min_excess.ms() as f64),
            });
            // Records are modelled on ln(1 + records): the ratio gate applies there.
            let v = volumes.get(&run.run_id).map(|b| Band {
                expected: b.expected,
                lower: b.lower.min((b.expected + 1.0) / ratio - 1.0).max(0.0),
                upper: b.upper.max((b.expected + 1.0) * ratio - 1.0),
            });
            (d, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    fn run(i: i64, duration_ms: i64, records: i64) -> Run {
        Run {
            pipeline_id: "p".into(),
            run_id: format!("r{i}"),
            start_at: i * 3_600_000,
            first_event_at: i * 3_600_000,
            last_event_at: i * 3_600_000 + duration_ms,
            started_at: Some(i * 3_600_000),
            ended_at: Some(i * 3_600_000 + duration_ms),
            outcome: Outcome::Success,
            attempts: 1,
            retries: 0,
            duration_ms: Some(duration_ms),
            records_processed: Some(records),
            error_type: None,
            error_message: None,
            task_id: None,
            scheduled_at: None,
            start_source: crate::model::StartSource::Started,
            final_attempt_ms: Some(duration_ms),
            last_alive_at: i * 3_600_000,
            heartbeats: 0,
        }
    }

    #[test]
    fn constant_runs_give_the_materiality_floors() {
        let cfg = DetectConfig::default();
        // 10 minutes and 1,000 records every hour for 10 days.
        let runs: Vec<Run> = (0..240).map(|i| run(i, 600_000, 1000)).collect();
        let b = bands(&cfg, &runs, 0);
        // The first run has no history: no expectation.
        assert!(b[0].0.is_none() && b[0].1.is_none());
        let (d, v) = b[239];
        let d = d.expect("duration band");
        assert!((d.expected - 600_000.0).abs() < 600.0, "{d:?}");
        // A constant history: the upper edge is at least the 2x ratio gate.
        assert!(d.upper >= 2.0 * d.expected - 1.0, "{d:?}");
        assert!(d.lower < d.expected);
        let v = v.expect("volume band");
        assert!((v.expected - 1000.0).abs() < 1.0, "{v:?}");
        // The 3x ratio gate bounds both edges at least that far out.
        assert!(v.upper >= (v.expected + 1.0) * 3.0 - 1.0 - 1e-6, "{v:?}");
        assert!(v.lower <= (v.expected + 1.0) / 3.0 - 1.0 + 1e-6, "{v:?}");
    }

    #[test]
    fn a_short_job_gets_the_absolute_excess_floor() {
        let cfg = DetectConfig::default();
        let runs: Vec<Run> = (0..30).map(|i| run(i, 5_000, 10)).collect();
        let d = bands(&cfg, &runs, 0)[29].0.expect("band");
        // 5 s expected: 2x is 10 s, but the alert needs duration_min_excess more.
        let floor = d.expected + cfg.duration_min_excess.ms() as f64;
        assert!(d.upper >= floor - 1.0, "{d:?}");
        assert!(floor > 2.0 * d.expected);
    }

    #[test]
    fn runs_before_the_window_are_not_drawn() {
        let cfg = DetectConfig::default();
        let runs: Vec<Run> = (0..48).map(|i| run(i, 600_000, 1000)).collect();
        let b = bands(&cfg, &runs, 24 * 3_600_000);
        assert!(b[..24].iter().all(|(d, v)| d.is_none() && v.is_none()));
        assert!(b[24..].iter().all(|(d, v)| d.is_some() && v.is_some()));
    }
}
