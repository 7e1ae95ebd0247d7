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
    let mut out = bands_at(cfg, runs, |i| runs[i].start_at >= from);
    for (i, run) in runs.iter().enumerate() {
        if run.start_at < from {
            out[i] = (None, None);
        }
    }
    out
}

/// As [`bands`], but only for the runs whose index `wanted` accepts (None for the
/// others): the detectors' bands by index (`expected::duration_band_at`,
/// `volume_band_at`), with the materiality gates.
pub fn bands_at(
    cfg: &DetectConfig,
    runs: &[Run],
    wanted: impl Fn(usize) -> bool,
) -> Vec<(Option<Band>, Option<Band>)> {
    let d = expected::duration_band_at(cfg, runs, &wanted);
    let v = expected::volume_band_at(cfg, runs, &wanted);
    let ratio = cfg.volume_min_ratio;
    d.into_iter()
        .zip(v)
        .map(|(d, v)| {
            let d = d.map(|b| Band {
                expected: b.expected,
                lower: b.lower,
                upper: b
                    .upper
                    .max(b.expected * cfg.duration_min_ratio)
                    .max(b.expected + cfg.duration_min_excess.ms() as f64),
            });
            // Records are modelled on ln(1 + records): the ratio gate applies there.
            let v = v.map(|b| Band {
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

    /// A seasonal, noisy history with failures and missing values: the bands drawn
    /// are exactly the detectors' own (`expected::duration_band`/`volume_band`, with
    /// the materiality gates), at every run and when only some runs are asked for.
    #[test]
    fn agrees_with_the_detectors_band() {
        let cfg = DetectConfig::default();
        let mut seed = 12345u64;
        let mut noise = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let runs: Vec<Run> = (0..600)
            .map(|i| {
                let hour = (i % 24) as f64;
                let ms = (600_000.0 * (1.0 + 0.3 * (hour / 4.0).sin() + 0.2 * noise())) as i64;
                let mut r = run(i, ms, (1000.0 * (1.0 + 0.5 * noise())) as i64);
                if i % 37 == 5 {
                    r.outcome = Outcome::Failed;
                }
                if i % 53 == 7 {
                    r.records_processed = None;
                }
                r
            })
            .collect();
        let all = bands(&cfg, &runs, 0);
        let some = bands_at(&cfg, &runs, |i| i % 7 == 0);
        let d = expected::duration_band(&cfg, &runs);
        let v = expected::volume_band(&cfg, &runs);
        let find = |bs: &[expected::Band], id: &str| bs.iter().find(|b| b.run_id == id).cloned();
        for (i, r) in runs.iter().enumerate() {
            let (bd, bv) = all[i];
            match find(&d, &r.run_id) {
                Some(b) => {
                    let bd = bd.expect("duration band");
                    assert_eq!((bd.expected, bd.lower), (b.expected, b.lower));
                    let gate = b
                        .upper
                        .max(b.expected * cfg.duration_min_ratio)
                        .max(b.expected + cfg.duration_min_excess.ms() as f64);
                    assert_eq!(bd.upper, gate);
                }
                None => assert!(bd.is_none()),
            }
            match find(&v, &r.run_id) {
                Some(b) => assert_eq!(bv.expect("volume band").expected, b.expected),
                None => assert!(bv.is_none()),
            }
            if i % 7 == 0 {
                assert_eq!(some[i], all[i]);
            } else {
                assert_eq!(some[i], (None, None));
            }
        }
    }
}
