//! `volume_anomaly`: a successful run's `records_processed` far from expected.
//!
//! Expected is the seasonal model of ln(1 + records) (`expected`): a weekend
//! night that is always light is expected to be light. A run is anomalous when
//! its residual passes the two-sided threshold the false-alarm budget sets and
//! the volume is also `volume_min_ratio` times above or below what was
//! expected (squared, while less than `volume_min_span` of history exists:
//! the weekly rhythm not yet seen once). Zero records after a history of
//! non-zero volume is always an anomaly. Runs of an open episode never enter the baseline;
//! a run as far off as the run at the same hour a week before, with the same volume,
//! is the weekly rhythm (`WeeklyEcho`): reported once, then learned.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::{WeeklyEcho, anomaly_hysteresis, end_of};
use super::episode::{Ctx, Detector, Episode, Notes};
use super::expected::Seasonal;
use super::history::{History, log_records};
use super::lifecycle::Lifecycle;
use crate::model::{AlertKind, Millis, Outcome, Run};

/// Standardised residuals within this are never anomalous (see duration_anomaly).
const SUSPECT_Z: f64 = 2.0;
/// Non-zero runs that make a zero-record run an anomaly by itself.
const ZERO_AFTER_RUNS: u32 = 3;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VolumeAnomaly {
    /// The first run's start: the ratio test waits until `volume_min_span` of
    /// history exists (the weekly rhythm seen once).
    first_start: Option<Millis>,
    vol: Seasonal,
    nonzero: u32,
    zeros: u32,
    /// Runs of the last week that passed the threshold: (start, log records).
    #[serde(default)]
    unusual: WeeklyEcho,
    life: Lifecycle,
}

impl Detector for VolumeAnomaly {
    fn observe(
        &mut self,
        ctx: &Ctx,
        _hist: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let first = *self.first_start.get_or_insert(run.start_at);
        if run.outcome != Outcome::Success {
            return;
        }
        let Some(r) = run.records_processed else {
            return;
        };
        let cfg = ctx.cfg;
        let hyst = anomaly_hysteresis(cfg);
        let at = end_of(run);
        self.life.settle(at, hyst, out);
        if let Some(ep) = self.life.episode_mut()
            && at - ep.started_at > cfg.baseline_half_life.ms()
        {
            self.life.close(at, out);
            *self = VolumeAnomaly {
                first_start: Some(run.start_at),
                ..VolumeAnomaly::default()
            };
        }
        let t = run.start_at;
        let x = log_records(r);
        let e = self.vol.expect(cfg, t);
        let mut verdict = None;
        if r == 0 && self.nonzero >= ZERO_AFTER_RUNS && self.zeros == 0 {
            verdict = Some(json!({
                "observed_records": 0,
                "expected_records": e.map_or(0, |e| e.mean.exp_m1().round() as i64),
                "direction": "collapse",
                "rule": "zero after non-zero history",
                "baseline_runs": self.vol.runs(),
            }));
        } else if let Some(e) = e
            && self.vol.runs() as usize >= cfg.anomaly_min_history
            && e.z(x).abs() > SUSPECT_Z
        {
            let z = e.z(x);
            // Two-sided: half the budget for collapses, half for explosions.
            let p = self.vol.tail_probability(cfg.false_alarms_per_month) / 2.0;
            let threshold = self.vol.threshold(cfg, &e, p, z > 0.0);
            // Until the weekly rhythm has been seen once, a weekday the model
            // has not met may explain a few times the volume: the run must
            // then be `volume_min_ratio` squared away from expected.
            let seen_week = run.start_at - first >= cfg.volume_min_span.ms();
            let ratio = cfg.volume_min_ratio.ln() * if seen_week { 1.0 } else { 2.0 };
            // As far off as the run at the same hour a week ago was, with the
            // same volume: the weekly rhythm (a cell that a young pipeline's
            // one-off surge set high, a weekly load that is always light),
            // which the model learns from this run on.
            if z.abs() > threshold && (x - e.mean).abs() > ratio && !self.unusual.repeats(t, x) {
                let expected = e.mean.exp_m1().round() as i64;
                verdict = Some(json!({
                    "observed_records": r,
                    "expected_records": expected,
                    "lower_records": (e.mean - threshold * e.sd).exp_m1().max(0.0).round() as i64,
                    "upper_records": (e.mean + threshold * e.sd).exp_m1().round() as i64,
                    "direction": if z < 0.0 { "collapse" } else { "explosion" },
                    "score": z,
                    "threshold": threshold,
                    "tail_probability": p,
                    "baseline_runs": self.vol.runs(),
                }));
            }
        }
        match verdict {
            Some(details) => self.life.anomalous(at, || {
                let expected = details["expected_records"].as_i64().unwrap_or(0);
                let what = if r < expected { "dropped" } else { "jumped" };
                Episode::open(
                    AlertKind::VolumeAnomaly,
                    ctx.pipeline_id,
                    at,
                    Some(&run.run_id),
                    format!(
                        "{} volume {what}: {r} records (expected about {expected})",
                        ctx.pipeline_id
                    ),
                    details,
                )
            }),
            None => {
                self.life.normal(at, hyst);
                if !self.life.is_open() {
                    self.vol.absorb(cfg, t, x, None);
                    if r == 0 {
                        self.zeros = self.zeros.saturating_add(1);
                    } else {
                        self.nonzero = self.nonzero.saturating_add(1);
                    }
                }
            }
        }
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        self.life.finish(now, anomaly_hysteresis(ctx.cfg), out);
    }
}

impl VolumeAnomaly {
    /// The seasonal models, for the checkpoint's binary part.
    pub fn models(&self) -> [&Seasonal; 1] {
        [&self.vol]
    }

    pub fn models_mut(&mut self) -> [&mut Seasonal; 1] {
        [&mut self.vol]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn volume_anomalies_collapse_and_explosion_with_weekend_dips() {
        let cfg = DetectConfig::default();
        // Daily job; weekends process a fifth of a weekday's volume.
        let vol = |i: usize| {
            let dow = i % 7; // T0 is a Monday
            let base = if dow >= 5 { 2_000.0 } else { 10_000.0 };
            (base * (1.0 + 0.1 * noise(i))) as i64
        };
        let mut runs: Vec<Run> = (0..100)
            .map(|i| {
                run(
                    i,
                    T0 + i as i64 * DAY,
                    Outcome::Success,
                    300_000,
                    Some(vol(i)),
                )
            })
            .collect();
        let now = end(&runs[99]);
        let eps = detect(&runs, now, None, &cfg);
        let late: Vec<_> = eps
            .iter()
            .filter(|e| e.started_at > T0 + 22 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
        runs[80].records_processed = Some(400); // a Wednesday: collapse
        runs[90].records_processed = Some(200_000); // explosion
        let eps = of(&detect(&runs, now, None, &cfg), AlertKind::VolumeAnomaly);
        let late: Vec<_> = eps
            .iter()
            .filter(|e| e.started_at > T0 + 22 * DAY)
            .collect();
        assert_eq!(late.len(), 2, "{late:?}");
        assert_eq!(late[0].started_at, end(&runs[80]));
        assert_eq!(late[0].details["direction"], json!("collapse"));
        assert_eq!(
            late[0].resolved_at,
            Some(end(&runs[82]).max(end(&runs[80]) + cfg.anomaly_cooldown.ms()))
        );
        assert_eq!(late[1].details["direction"], json!("explosion"));
    }

    #[test]
    fn hourly_job_with_light_weekend_nights_is_quiet() {
        let cfg = DetectConfig::default();
        // Behaviour 2: hourly job, weekends × 0.4 and nights × 0.3, multiplied.
        let runs: Vec<Run> = (0..(6 * 168))
            .map(|i| {
                let t = T0 + i as i64 * HOUR;
                let (h, d) = crate::detect::history::slots(t);
                let f = if d == 0 || d == 6 { 0.4 } else { 1.0 } * if h < 6 { 0.3 } else { 1.0 };
                let r = (50_000.0 * f * (1.0 + 0.15 * noise(i))) as i64;
                run(i, t, Outcome::Success, 300_000, Some(r))
            })
            .collect();
        let eps = detect(&runs, end(runs.last().unwrap()), None, &cfg);
        let late: Vec<_> = eps
            .iter()
            .filter(|e| e.started_at > T0 + 14 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
    }

    #[test]
    fn a_young_hourly_job_reports_a_twentyfold_explosion_but_not_its_first_weekend() {
        let cfg = DetectConfig::default();
        // Behaviour 7: an hourly job three days old (Friday to Sunday, T0 + 4 d
        // is a Friday) whose Saturday and Sunday process a quarter of a weekday's
        // volume: the weekly rhythm, not yet seen, is no anomaly ...
        let start = T0 + 4 * DAY;
        let mut runs: Vec<Run> = (0..72)
            .map(|i| {
                let t = start + i as i64 * HOUR;
                let (_, d) = crate::detect::history::slots(t);
                let f = if d == 0 || d == 6 { 0.25 } else { 1.0 };
                let r = (500_000.0 * f * (1.0 + 0.05 * noise(i))) as i64;
                run(i, t, Outcome::Success, 5_000, Some(r))
            })
            .collect();
        let quiet = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::VolumeAnomaly,
        );
        assert!(quiet.is_empty(), "{quiet:?}");
        // ... but one run with twenty times the records is.
        runs[30].records_processed = Some(10_000_000);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::VolumeAnomaly,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert_eq!(eps[0].started_at, end(&runs[30]));
    }

    /// A two-hourly job first seen on a Saturday (T0 + 5 d) whose first
    /// Tuesday carried `surge` times its usual records all day (a month-start
    /// load, which a pipeline this young cannot tell from a heavy weekday),
    /// then ordinary volume for four more weeks.
    fn surge_on_its_first_tuesday(surge: f64) -> Vec<Run> {
        let start = T0 + 5 * DAY;
        (0..12 * 7 * 5)
            .map(|i| {
                let t = start + i as i64 * 2 * HOUR;
                let (_, d) = crate::detect::history::slots(t);
                let f = if d == 2 && t < start + 7 * DAY {
                    surge
                } else {
                    1.0
                };
                let r = (2_000_000.0 * f * (1.0 + 0.05 * noise(i))) as i64;
                run(i, t, Outcome::Success, 60_000, Some(r))
            })
            .collect()
    }

    #[test]
    fn a_weekday_a_young_surge_taught_wrong_is_reported_once_then_learned() {
        let cfg = DetectConfig::default();
        // Behaviour 8: the surge entered the young model's Tuesday cells. The
        // next Tuesday's ordinary volume is a fifth of that: reported once.
        // Every Tuesday after is as low as that one, at the same hours: the
        // model learns it then, and the alert does not come back each week.
        let runs = surge_on_its_first_tuesday(5.0);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::VolumeAnomaly,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        let (_, d) = crate::detect::history::slots(eps[0].started_at);
        assert_eq!(d, 2, "{eps:?}");
        assert!(eps[0].started_at > T0 + 12 * DAY, "{eps:?}");
        assert_eq!(eps[0].details["direction"], json!("collapse"));
        // Without the surge the same history raises nothing.
        let runs = surge_on_its_first_tuesday(1.0);
        let quiet = detect(&runs, end(runs.last().unwrap()), None, &cfg);
        assert!(quiet.is_empty(), "{quiet:?}");
    }

    #[test]
    fn zero_after_nonzero_history_is_always_an_anomaly() {
        let cfg = DetectConfig::default();
        // Behaviour 7: a young daily job (4 days old) that suddenly processes nothing.
        let mut runs: Vec<Run> = (0..6)
            .map(|i| run(i, T0 + i as i64 * DAY, Outcome::Success, 300_000, Some(800)))
            .collect();
        runs[4].records_processed = Some(0);
        let eps = of(
            &detect(&runs, end(&runs[5]), None, &cfg),
            AlertKind::VolumeAnomaly,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert_eq!(eps[0].started_at, end(&runs[4]));
        // A pipeline that often processes nothing is not alarmed by another zero.
        let runs: Vec<Run> = (0..30)
            .map(|i| {
                let r = if i % 3 == 0 { 0 } else { 800 };
                run(i, T0 + i as i64 * DAY, Outcome::Success, 300_000, Some(r))
            })
            .collect();
        let eps = of(
            &detect(&runs, end(&runs[29]), None, &cfg),
            AlertKind::VolumeAnomaly,
        );
        assert!(eps.iter().all(|e| e.details["rule"].is_null()), "{eps:?}");
    }
}
