//! Small helpers every per-pipeline detector needs (a run's end, the duration a
//! run is judged on, the hysteresis of the anomaly kinds), kept apart so the
//! detector files hold only their model.

use serde::{Deserialize, Serialize};

use super::DetectConfig;
use super::lifecycle::Hysteresis;
use crate::model::{Millis, Run};

pub(super) fn end_of(run: &Run) -> Millis {
    run.ended_at.unwrap_or(run.start_at)
}

/// The duration a successful run is judged on: its final attempt's wall time
/// when the events show it, so a retried run is not slow because of its failed
/// attempt and backoff; else its duration.
pub(super) fn judged_duration(run: &Run) -> Option<i64> {
    run.final_attempt_ms.or(run.duration_ms)
}

/// When a duration or volume anomaly closes.
pub(super) fn anomaly_hysteresis(cfg: &DetectConfig) -> Hysteresis {
    Hysteresis {
        quiet_runs: cfg.anomaly_quiet_runs,
        cooldown: cfg.anomaly_cooldown.ms(),
    }
}

/// A week, and how far from a week apart two unusual runs may start to count as
/// the same hour of the week.
const WEEK: Millis = 7 * 86_400_000;
const WEEKLY_SLACK: Millis = 3_600_000;
/// …and how alike their values (log duration, log records) must be: a weekly
/// job's unusual run repeats itself; two unrelated outliers rarely agree
/// within half again.
const WEEKLY_SIMILAR: f64 = 1.5;

/// The runs of the last week that passed an anomaly threshold (start, log
/// value). A run that passes it like the one at the same hour a week before is
/// the weekly rhythm (a Monday-noon compaction, a Tuesday-night job that always
/// loads little), which the seasonal model learns from it on, not news: reported
/// the first week, then absorbed. Without it each alert keeps its run out of the
/// baseline, the hour-of-week cell never learns, and the alert returns every week.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct WeeklyEcho(Vec<(Millis, f64)>);

impl WeeklyEcho {
    /// Records an unusual run; true when it repeats one from a week before.
    pub(super) fn repeats(&mut self, t: Millis, x: f64) -> bool {
        let weekly = self.0.iter().any(|&(s, xs)| {
            ((t - s) - WEEK).abs() <= WEEKLY_SLACK && (x - xs).abs() <= WEEKLY_SIMILAR.ln()
        });
        self.0.retain(|&(s, _)| t - s <= WEEK + WEEKLY_SLACK);
        self.0.push((t, x));
        weekly
    }
}
