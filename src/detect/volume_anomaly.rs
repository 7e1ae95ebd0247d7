//! `volume_anomaly`: a successful run's `records_processed` far from expected.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::baseline::*;
use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::{History, log_records};
use crate::model::{AlertKind, Millis, Outcome, Run};
/// `records_processed` of a successful run far from its seasonal baselines
/// (robust z on ln(1 + records) against every applicable baseline, plus a ratio
/// gate): a drop to zero, a collapse, an explosion. Resolves at the next
/// successful run of normal volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VolumeAnomaly {
    /// The first run's start: volume is judged once a week of history exists.
    first_start: Option<Millis>,
    open: Option<Episode>,
}

impl Detector for VolumeAnomaly {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
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
        let at = end_of(run);
        let verdict = if run.start_at - first >= ctx.cfg.volume_min_span.ms() {
            judge_volume(ctx, hist, run.start_at, r)
        } else {
            None
        };
        single_run_episode(&mut self.open, verdict, at, out, |details| {
            let expected = details["expected_records"].as_i64().unwrap_or(0);
            let what = if (r as f64) < expected as f64 {
                "dropped"
            } else {
                "jumped"
            };
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
        });
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

fn judge_volume(ctx: &Ctx, hist: &History, start: Millis, r: i64) -> Option<serde_json::Value> {
    let cfg = ctx.cfg;
    let x = log_records(r);
    let ratio_log = cfg.volume_min_ratio.ln();
    let bases = baselines(ctx, hist, start, true, |b| {
        let z = (x - b.median) / b.sd;
        (z < -cfg.volume_z && x - b.median < -ratio_log)
            || (z > cfg.volume_z && x - b.median > ratio_log)
    });
    if bases.is_empty() {
        return None;
    }
    let mut used = Vec::new();
    let mut closest: Option<f64> = None;
    let mut all_low = true;
    let mut all_high = true;
    for b in &bases {
        let z = (x - b.median) / b.sd;
        all_low &= z < -cfg.volume_z && x - b.median < -ratio_log;
        all_high &= z > cfg.volume_z && x - b.median > ratio_log;
        if closest.is_none_or(|c| (x - b.median).abs() < (x - c).abs()) {
            closest = Some(b.median);
        }
        used.push(json!({"baseline": b.name, "median_records": (b.median.exp() - 1.0).round() as i64, "z": z}));
    }
    let expected = (closest?.exp() - 1.0).round() as i64;
    (all_low || all_high).then(|| {
        json!({
            "observed_records": r,
            "expected_records": expected,
            "direction": if all_low { "collapse" } else { "explosion" },
            "threshold": cfg.volume_z,
            "baselines": used,
        })
    })
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
            .filter(|e| e.started_at > T0 + 36 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
        runs[80].records_processed = Some(0); // a Wednesday: collapse to zero
        runs[90].records_processed = Some(200_000); // explosion
        let eps = of(&detect(&runs, now, None, &cfg), AlertKind::VolumeAnomaly);
        let late: Vec<_> = eps
            .iter()
            .filter(|e| e.started_at > T0 + 36 * DAY)
            .collect();
        assert_eq!(late.len(), 2, "{late:?}");
        assert_eq!(late[0].started_at, end(&runs[80]));
        assert_eq!(late[0].details["direction"], json!("collapse"));
        assert_eq!(late[0].resolved_at, Some(end(&runs[81])));
        assert_eq!(late[1].details["direction"], json!("explosion"));
    }
}
