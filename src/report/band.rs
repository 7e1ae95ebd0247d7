//! The expected band drawn behind a pipeline's duration and records charts.
//!
//! A chart is only honest if its band is the detector's own: this module replays a
//! pipeline's runs through the same `History` the detectors keep and, for every run,
//! takes the "recent" baseline every duration and volume alert must exceed first
//! (robust median and sd of the last `anomaly_baseline_runs` successful runs, in log
//! space) and turns it back into milliseconds and records, with the thresholds of
//! `[detect]` applied: `z`, the minimum ratio and, for durations, the minimum excess.
//! A run above `upper` (or, for volume, below `lower`) fails this first gate; the
//! detector then also checks the same-hour and same-weekday baselines, so not every
//! run outside the band is an alert, but no alert lies inside it.
//!
//! `report::band::bands` is the one call the report makes; when the detectors expose
//! their bands directly, only its body changes.

use crate::detect::DetectConfig;
use crate::detect::history::{History, Past};
use crate::detect::stats::robust_location;
use crate::model::{Millis, Outcome, Run};

/// The detectors' floor on a baseline's log-space sd (`detect::detectors`).
const MIN_LOG_SD: f64 = 0.1;

/// Expected value and thresholds for one run, in the series' unit (ms or records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Per run of `runs` (sorted by start), the duration band and the records band the
/// detectors held when that run arrived; None before a baseline exists, and for runs
/// that started before `from` (replayed into the history, not judged).
pub fn bands(cfg: &DetectConfig, runs: &[Run], from: Millis) -> Vec<(Option<Band>, Option<Band>)> {
    let mut hist = History::new(cfg.history_runs, cfg.seasonal_runs);
    let first = runs.first().map(|r| r.start_at);
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        if run.start_at >= from {
            out.push((
                duration_band(cfg, &hist),
                volume_band(cfg, &hist, first, run.start_at),
            ));
        } else {
            out.push((None, None));
        }
        if run.outcome != Outcome::Running {
            hist.push(Past::from_run(run));
        }
    }
    out
}

/// The duration band from the recent baseline: log durations are of seconds, floored
/// at one second. Upper: the least duration that passes every gate of
/// `duration_anomaly` on this baseline (z, ratio and excess).
pub fn duration_band(cfg: &DetectConfig, hist: &History) -> Option<Band> {
    let recent = hist.recent_success(cfg.anomaly_baseline_runs, Past::log_duration);
    if recent.len() < cfg.anomaly_min_history {
        return None;
    }
    let (m, sd) = robust_location(&recent, MIN_LOG_SD)?;
    let expected = m.exp() * 1000.0;
    let by_z = (m + cfg.duration_z * sd).exp() * 1000.0;
    let upper = by_z
        .max(expected * cfg.duration_min_ratio)
        .max(expected + cfg.duration_min_excess.ms() as f64);
    let lower = (m - cfg.duration_z * sd).exp() * 1000.0;
    Some(Band {
        expected,
        lower,
        upper,
    })
}

/// The records band from the recent baseline on ln(1 + records); judged only once
/// `volume_min_span` of history exists, as `volume_anomaly` does.
pub fn volume_band(
    cfg: &DetectConfig,
    hist: &History,
    first_start: Option<Millis>,
    start: Millis,
) -> Option<Band> {
    if start - first_start? < cfg.volume_min_span.ms() {
        return None;
    }
    let recent = hist.recent_success(cfg.anomaly_baseline_runs, Past::log_records);
    if recent.len() < cfg.anomaly_min_history {
        return None;
    }
    let (m, sd) = robust_location(&recent, MIN_LOG_SD)?;
    let ratio_log = cfg.volume_min_ratio.ln();
    let back = |x: f64| (x.exp() - 1.0).max(0.0);
    Some(Band {
        expected: back(m),
        lower: back((m - cfg.volume_z * sd).min(m - ratio_log)),
        upper: back((m + cfg.volume_z * sd).max(m + ratio_log)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn constant_runs_give_the_detector_floors() {
        let cfg = DetectConfig::default();
        // 10 minutes and 1,000 records every hour for 10 days.
        let runs: Vec<Run> = (0..240).map(|i| run(i, 600_000, 1000)).collect();
        let b = bands(&cfg, &runs, 0);
        // Fewer than anomaly_min_history (10) runs: no band yet.
        assert!(b[..10].iter().all(|(d, _)| d.is_none()));
        let (d, v) = b[239];
        let d = d.expect("duration band");
        assert!((d.expected - 600_000.0).abs() < 1.0);
        // MAD is 0, so sd is the floor 0.1: exp(0.4) = 1.49 < the 2x ratio gate.
        assert!((d.upper - 1_200_000.0).abs() < 1.0);
        assert!((d.lower - 600_000.0 * (-0.4f64).exp()).abs() < 1.0);
        // Volume is judged after 7 days (168 hourly runs).
        assert!(b[167].1.is_none() && b[168].1.is_some());
        let v = v.expect("volume band");
        assert!((v.expected - 1000.0).abs() < 1e-6);
        // ln 3 > 0.4: the ratio gate decides both edges.
        assert!((v.upper - (1001.0 * 3.0 - 1.0)).abs() < 1e-6);
        assert!((v.lower - (1001.0 / 3.0 - 1.0)).abs() < 1e-6);
    }

    #[test]
    fn a_short_job_gets_the_absolute_excess_floor() {
        let cfg = DetectConfig::default();
        let runs: Vec<Run> = (0..30).map(|i| run(i, 5_000, 10)).collect();
        let d = bands(&cfg, &runs, 0)[29].0.expect("band");
        // 5 s expected: 2x is 10 s, but the alert needs 60 s more than expected.
        assert!((d.upper - 65_000.0).abs() < 1.0);
    }
}
