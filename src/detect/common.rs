//! Small helpers every per-pipeline detector needs (a run's end, the floor on
//! log-scale spreads), kept apart so the detector files hold only their model.

use crate::model::{Millis, Run};
/// Smallest robust sd on log scales: ~10 %, so a metronome-regular job is not
/// alarmed by ordinary jitter.
pub(super) const MIN_LOG_SD: f64 = 0.1;

pub(super) fn end_of(run: &Run) -> Millis {
    run.ended_at.unwrap_or(run.start_at)
}
