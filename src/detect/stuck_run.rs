//! `stuck_run`: a run in progress far longer than its pipeline's runs take.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::History;
use super::stats::quantile;
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::{format_duration, format_ms};
/// The stuck threshold for a pipeline given its history.
pub fn stuck_threshold(ctx: &Ctx, hist: &History) -> (i64, &'static str) {
    let cfg = ctx.cfg;
    let durs: Vec<f64> = hist.recent_success(cfg.anomaly_baseline_runs, |p| {
        p.duration_ms
            .filter(|_| p.outcome == Outcome::Success)
            .map(|d| d as f64)
    });
    if durs.len() < cfg.stuck_min_history {
        return (cfg.stuck_default.ms().max(cfg.stuck_floor.ms()), "default");
    }
    let p95 = quantile(&durs, 0.95).unwrap_or(0.0);
    (
        ((cfg.stuck_factor * p95) as i64).max(cfg.stuck_floor.ms()),
        "learned",
    )
}

/// A run that started and has no terminal event long after its expected
/// duration: `max(floor, factor × p95)` of its pipeline's successful runs, or a
/// default with little history. Never for streaming pipelines. Opens at start +
/// threshold, resolves when the run ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StuckRun {
    /// Runs in progress when observed: (run_id, start, threshold, basis).
    running: Vec<(String, Millis, i64, String)>,
}

fn stuck_episode(ctx: &Ctx, run_id: &str, start: Millis, thr: i64, basis: &str) -> Episode {
    Episode::open(
        AlertKind::StuckRun,
        ctx.pipeline_id,
        start + thr,
        Some(run_id),
        format!(
            "{} run {run_id} still running after {} (started {})",
            ctx.pipeline_id,
            format_duration(thr),
            format_ms(start)
        ),
        json!({
            "run_started_at": format_ms(start),
            "threshold_ms": thr,
            "threshold_basis": basis,
        }),
    )
}

impl Detector for StuckRun {
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if ctx.streaming {
            return;
        }
        // The threshold is never below the floor: a run that ended sooner was not stuck.
        if run
            .ended_at
            .is_some_and(|e| e - run.start_at <= ctx.cfg.stuck_floor.ms())
        {
            return;
        }
        let (thr, basis) = stuck_threshold(ctx, hist);
        match run.ended_at {
            None => self
                .running
                .push((run.run_id.clone(), run.start_at, thr, basis.to_string())),
            Some(end) if end - run.start_at > thr => {
                notes.stuck = true;
                let mut ep = stuck_episode(ctx, &run.run_id, run.start_at, thr, basis).resolve(end);
                ep.last_seen_at = end;
                ep.details["ran_ms"] = json!(end - run.start_at);
                ep.details["outcome"] = json!(run.outcome.as_str());
                out.push(ep);
            }
            Some(_) => {}
        }
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        for (run_id, start, thr, basis) in &self.running {
            if now >= start + thr {
                let mut ep = stuck_episode(ctx, run_id, *start, *thr, basis);
                ep.last_seen_at = now;
                ep.details["running_ms"] = json!(now - start);
                out.push(ep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn stuck_run_then_no_duration_anomaly() {
        let cfg = DetectConfig {
            stuck_floor: crate::detect::Dur::mins(15),
            ..DetectConfig::default()
        };
        let mut d = noisy(30, 300_000.0, 0);
        d.push(4 * HOUR);
        d.push(300_000);
        let runs = with_durations(&d, 6 * HOUR);
        let eps = detect(&runs, T0 + 100 * DAY, None, &cfg);
        let stuck = of(&eps, AlertKind::StuckRun);
        assert_eq!(stuck.len(), 1);
        let thr = stuck[0].details["threshold_ms"].as_i64().unwrap();
        assert!((25 * MIN..35 * MIN).contains(&thr), "{thr}");
        assert_eq!(stuck[0].started_at, runs[30].start_at + thr);
        assert_eq!(stuck[0].resolved_at, Some(end(&runs[30])));
        assert!(of(&eps, AlertKind::DurationAnomaly).is_empty());
        // Still running at `now`: open, from start + threshold; not before it.
        let mut runs = with_durations(&noisy(30, 300_000.0, 0), 6 * HOUR);
        let start = T0 + 30 * 6 * HOUR;
        runs.push(run(30, start, Outcome::Running, 0, None));
        let open = of(
            &detect(&runs, start + HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(open.len(), 1);
        assert!(open[0].is_open());
        assert!(
            of(
                &detect(&runs, start + 10 * MIN, None, &cfg),
                AlertKind::StuckRun
            )
            .is_empty()
        );
        // Little history: the default threshold.
        let short = vec![run(0, T0, Outcome::Running, 0, None)];
        let eps = of(
            &detect(&short, T0 + 7 * HOUR, None, &cfg),
            AlertKind::StuckRun,
        );
        assert_eq!(eps[0].started_at, T0 + 6 * HOUR);
        // Streaming pipelines are never stuck.
        let ctx = Ctx {
            cfg: &cfg,
            pipeline_id: "p",
            schedule: None,
            streaming: true,
        };
        assert!(detect_all(&cfg, &ctx, &short, T0 + 100 * DAY).is_empty());
    }
}
