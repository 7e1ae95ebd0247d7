//! `duration_anomaly`: a single successful run far slower than expected.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::baseline::*;
use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::{History, log_duration};
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::format_duration;
/// One successful run far slower than its baselines (robust z on log duration,
/// every seasonal baseline agreeing, plus a ratio and an absolute floor);
/// resolves at the next successful run of normal duration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DurationAnomaly {
    open: Option<Episode>,
}

impl Detector for DurationAnomaly {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if run.outcome != Outcome::Success {
            return;
        }
        let Some(d) = run.duration_ms else { return };
        let at = end_of(run);
        let verdict = if notes.stuck || notes.degraded {
            None
        } else {
            judge_duration(ctx, hist, run.start_at, d)
        };
        // Inside a degradation or a stuck run the condition is someone else's
        // (verdict None); otherwise a None is a normal run. Either way it ends here.
        single_run_episode(&mut self.open, verdict, at, out, |details| {
            let expected = details["expected_ms"].as_i64().unwrap_or(0);
            Episode::open(
                AlertKind::DurationAnomaly,
                ctx.pipeline_id,
                at,
                Some(&run.run_id),
                format!(
                    "{} run took {} (expected about {})",
                    ctx.pipeline_id,
                    format_duration(d),
                    format_duration(expected)
                ),
                details,
            )
        });
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

/// Evidence if a duration is anomalous for a run starting at `start`.
fn judge_duration(ctx: &Ctx, hist: &History, start: Millis, d: i64) -> Option<serde_json::Value> {
    let cfg = ctx.cfg;
    let x = log_duration(d);
    let bases = baselines(ctx, hist, start, false, |b| {
        let expected = b.median.exp() * 1000.0;
        (x - b.median) / b.sd > cfg.duration_z
            && d as f64 >= expected * cfg.duration_min_ratio
            && d as f64 - expected >= cfg.duration_min_excess.ms() as f64
    });
    if bases.is_empty() {
        return None;
    }
    let mut min_z = f64::INFINITY;
    let mut expected_log = f64::NEG_INFINITY;
    let mut used = Vec::new();
    for b in &bases {
        let z = (x - b.median) / b.sd;
        min_z = min_z.min(z);
        expected_log = expected_log.max(b.median);
        used.push(json!({"baseline": b.name, "median_ms": (b.median.exp() * 1000.0).round() as i64, "z": z}));
    }
    let expected_ms = (expected_log.exp() * 1000.0).round() as i64;
    let anomalous = min_z > cfg.duration_z
        && d as f64 >= expected_ms as f64 * cfg.duration_min_ratio
        && d - expected_ms >= cfg.duration_min_excess.ms();
    anomalous.then(|| {
        json!({
            "observed_ms": d,
            "expected_ms": expected_ms,
            "ratio": d as f64 / expected_ms.max(1) as f64,
            "score": min_z,
            "threshold": cfg.duration_z,
            "baselines": used,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn duration_anomaly_on_outliers_only() {
        let cfg = DetectConfig::default();
        // 5-minute job; one run takes 14 min (below the stuck threshold of 3 × p95).
        let mut d = noisy(40, 300_000.0, 0);
        d.push(840_000);
        d.extend(noisy(5, 300_000.0, 50));
        let runs = with_durations(&d, 2 * HOUR);
        let eps = detect(&runs, T0 + 100 * DAY, None, &cfg);
        let da = of(&eps, AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{eps:?}");
        assert_eq!(da[0].started_at, end(&runs[40]));
        assert_eq!(da[0].resolved_at, Some(end(&runs[41])));
        assert!(of(&eps, AlertKind::StuckRun).is_empty());
        // Too little history: quiet.
        let mut d = noisy(5, 300_000.0, 0);
        d.push(840_000);
        assert!(detect(&with_durations(&d, 2 * HOUR), T0 + DAY, None, &cfg).is_empty());
        // A 2-second job taking 5 seconds is not news (absolute floor).
        let mut d = noisy(40, 2_000.0, 0);
        d.push(5_000);
        assert!(
            of(
                &detect(&with_durations(&d, HOUR), T0 + DAY, None, &cfg),
                AlertKind::DurationAnomaly
            )
            .is_empty()
        );
    }

    #[test]
    fn duration_anomaly_respects_weekly_seasonality() {
        let cfg = DetectConfig::default();
        // Daily job, Mondays always 3× slower: no alert on Mondays after the first weeks.
        let d: Vec<i64> = (0..120)
            .map(|i| {
                let base = if i % 7 == 0 { 900_000.0 } else { 300_000.0 };
                (base * (1.0 + 0.05 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, DAY);
        let eps = detect(&runs, end(&runs[119]), None, &cfg);
        let late: Vec<_> = of(&eps, AlertKind::DurationAnomaly)
            .into_iter()
            .filter(|e| e.started_at > T0 + 35 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
    }
}
