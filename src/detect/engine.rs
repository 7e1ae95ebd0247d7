//! Runs one pipeline's detectors over its runs, and checkpoints them.
//!
//! Runs are observed in start order. The prefix of runs before the first run
//! still in progress is final (until a late event changes one of them, which
//! `pending_changes` reports and which makes the pipeline start over), so the
//! detector state after that prefix is saved: the next evaluation resumes there
//! and reads only newer runs. The runs from the first one in progress onward are
//! the tail: observed on a copy of the state every evaluation, never saved.
//! Because the state after a prefix depends only on the runs in it, resuming
//! gives exactly the episodes a single pass over all runs gives.

use serde::{Deserialize, Serialize};

use super::DetectConfig;
use super::consecutive_failures::ConsecutiveFailures;
use super::duration_anomaly::DurationAnomaly;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::expected::{Seasonal, decode_cells, encode_cells};
use super::failure_rate_spike::FailureRate;
use super::history::{History, Past, get_u32, put_u32, take};
use super::missed_run::MissedRun;
use super::performance_degradation::Degradation;
use super::pipeline_failed::PipelineFailed;
use super::stuck_run::StuckRun;
use super::volume_anomaly::VolumeAnomaly;
use crate::model::{Millis, Outcome, Run};

/// First word of a checkpoint in this layout (an older checkpoint began with its
/// JSON's length, never this large, and makes its pipeline start over).
const CHECKPOINT_MAGIC: u32 = u32::from_le_bytes(*b"PMC2");

/// Every per-pipeline detector's state, plus the pipeline's history and where
/// the observed prefix ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineState {
    #[serde(skip, default = "empty_history")]
    pub hist: History,
    /// (start_at, run_id) of the last run observed.
    pub cursor: Option<(Millis, String)>,
    stuck: StuckRun,
    degradation: Degradation,
    duration: DurationAnomaly,
    volume: VolumeAnomaly,
    failed: PipelineFailed,
    consecutive: ConsecutiveFailures,
    rate: FailureRate,
    missed: MissedRun,
}

fn empty_history() -> History {
    History::new(1, 1)
}

impl PipelineState {
    pub fn new(cfg: &DetectConfig) -> PipelineState {
        PipelineState {
            hist: History::new(cfg.history_runs, cfg.seasonal_runs),
            cursor: None,
            stuck: StuckRun::default(),
            degradation: Degradation::default(),
            duration: DurationAnomaly::default(),
            volume: VolumeAnomaly::default(),
            failed: PipelineFailed::default(),
            consecutive: ConsecutiveFailures::default(),
            rate: FailureRate::default(),
            missed: MissedRun::default(),
        }
    }

    /// Observes one run with every detector, in the order that lets one cause
    /// raise one alert (stuck and degradation speak before duration).
    pub fn observe(&mut self, ctx: &Ctx, run: &Run, out: &mut Vec<Episode>) {
        let mut notes = Notes::default();
        let h = &self.hist;
        // Missed first: it tells stuck when this run holds up the next start.
        self.missed.observe(ctx, h, run, &mut notes, out);
        self.stuck.observe(ctx, h, run, &mut notes, out);
        self.degradation.observe(ctx, h, run, &mut notes, out);
        self.duration.observe(ctx, h, run, &mut notes, out);
        self.volume.observe(ctx, h, run, &mut notes, out);
        self.failed.observe(ctx, h, run, &mut notes, out);
        self.consecutive.observe(ctx, h, run, &mut notes, out);
        self.rate.observe(ctx, h, run, &mut notes, out);
        if run.outcome != Outcome::Running {
            let mut past = Past::from_run(run);
            // A hung (or stuck-then-slow) run's duration would teach the p95s
            // that hangs are normal, an outlier's that a run nine times as
            // long as usual is, a degradation's that its slowdown is: its
            // outcome and start count, its duration does not. A slowdown that
            // outlasts the remembered durations is the pipeline's level, and
            // its runs then keep the p95s learned.
            let degraded = notes.degraded && self.hist.durations() >= ctx.cfg.anomaly_baseline_runs;
            if notes.past_threshold || notes.outlier || degraded {
                past.duration_ms = None;
            }
            self.hist.push(past);
        }
        self.cursor = Some((run.start_at, run.run_id.clone()));
    }

    /// Emits what is open as of `now` (and what the clock shows for stuck and
    /// missed runs).
    pub fn finish(&self, ctx: &Ctx, now: Millis, out: &mut Vec<Episode>) {
        let h = &self.hist;
        self.stuck.finish(ctx, h, now, out);
        self.degradation.finish(ctx, h, now, out);
        self.duration.finish(ctx, h, now, out);
        self.volume.finish(ctx, h, now, out);
        self.failed.finish(ctx, h, now, out);
        self.consecutive.finish(ctx, h, now, out);
        self.rate.finish(ctx, h, now, out);
        self.missed.finish(ctx, h, now, out);
    }

    /// The seasonal models' sums, in the checkpoint's order.
    fn models(&self) -> [&Seasonal; 5] {
        let [a, b] = self.degradation.models();
        let [c, d] = self.duration.models();
        let [e] = self.volume.models();
        [a, b, c, d, e]
    }

    /// Binary checkpoint: the detectors as JSON (without the seasonal models'
    /// per-cell sums), then the history, then those sums in binary.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("detector state serialises");
        let mut out = Vec::with_capacity(json.len() + 8192);
        put_u32(&mut out, CHECKPOINT_MAGIC);
        put_u32(&mut out, json.len() as u32);
        out.extend_from_slice(&json);
        self.hist.encode(&mut out);
        encode_cells(&self.models(), &mut out);
        out
    }

    /// Reads a checkpoint; None if it does not parse (the pipeline starts over).
    pub fn decode(buf: &[u8]) -> Option<PipelineState> {
        let mut b = buf;
        if get_u32(&mut b)? != CHECKPOINT_MAGIC {
            return None;
        }
        let n = get_u32(&mut b)? as usize;
        let json = take(&mut b, n)?;
        let mut st: PipelineState = serde_json::from_slice(json).ok()?;
        st.hist = History::decode(&mut b)?;
        let [a, b2] = st.degradation.models_mut();
        let [c, d] = st.duration.models_mut();
        let [e] = st.volume.models_mut();
        decode_cells(&mut [a, b2, c, d, e], &mut b)?;
        b.is_empty().then_some(st)
    }
}

/// The result of running one pipeline.
pub struct PipelineResult {
    /// State after the final prefix, to save (None: nothing new to save).
    pub checkpoint: Option<PipelineState>,
    pub episodes: Vec<Episode>,
}

/// Observes `runs` (all runs after the state's cursor, in start order) and
/// finishes at `now`.
pub fn run_pipeline(
    mut state: PipelineState,
    ctx: &Ctx,
    runs: &[Run],
    now: Millis,
) -> PipelineResult {
    let mut episodes = Vec::new();
    let split = runs
        .iter()
        .position(|r| r.outcome == Outcome::Running)
        .unwrap_or(runs.len());
    for r in &runs[..split] {
        state.observe(ctx, r, &mut episodes);
    }
    let advanced = split > 0;
    if split == runs.len() {
        state.finish(ctx, now, &mut episodes);
        return PipelineResult {
            checkpoint: advanced.then_some(state),
            episodes,
        };
    }
    let checkpoint = advanced.then(|| state.clone());
    for r in &runs[split..] {
        state.observe(ctx, r, &mut episodes);
    }
    state.finish(ctx, now, &mut episodes);
    PipelineResult {
        checkpoint,
        episodes,
    }
}

/// Episodes of one pipeline from all its runs at once (what a rebuild computes).
pub fn detect_all(cfg: &DetectConfig, ctx: &Ctx, runs: &[Run], now: Millis) -> Vec<Episode> {
    run_pipeline(PipelineState::new(cfg), ctx, runs, now).episodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn resuming_from_a_checkpoint_gives_the_same_episodes() {
        use crate::detect::engine::{PipelineState, run_pipeline};
        let cfg = DetectConfig::default();
        let mut p = "S".repeat(30);
        p.push_str("FFFFSSFSFSSFSFSS");
        p.push_str(&"S".repeat(20));
        let runs = hourly(&p);
        let ctx = Ctx {
            cfg: &cfg,
            pipeline_id: "p",
            schedule: None,
            streaming: false,
        };
        let now = end(runs.last().unwrap());
        let all = detect_all(&cfg, &ctx, &runs, now);
        // Resume in three steps through the encoded checkpoint.
        let mut state = PipelineState::new(&cfg);
        let mut closed = Vec::new();
        for chunk in [&runs[..20], &runs[20..37], &runs[37..]] {
            let r = run_pipeline(state, &ctx, chunk, end(chunk.last().unwrap()));
            closed.extend(r.episodes.into_iter().filter(|e| !e.is_open()));
            state = PipelineState::decode(&r.checkpoint.unwrap().encode()).unwrap();
        }
        let mut tail = Vec::new();
        state.finish(&ctx, now, &mut tail);
        closed.extend(tail);
        let key = |e: &Episode| {
            (
                e.fingerprint.clone(),
                e.started_at,
                e.resolved_at,
                e.occurrences,
            )
        };
        let mut a: Vec<_> = all.iter().map(key).collect();
        let mut b: Vec<_> = closed.iter().map(key).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }
}
