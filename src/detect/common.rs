//! Small helpers every per-pipeline detector needs (a run's end, the duration a
//! run is judged on, the hysteresis of the anomaly kinds), kept apart so the
//! detector files hold only their model.

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
