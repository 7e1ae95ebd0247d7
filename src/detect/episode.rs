//! What detectors produce: alert episodes (one condition, from when it became
//! detectable to when it ended), and the context and trait they share.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DetectConfig;
use super::history::History;
use crate::model::{AlertKind, Millis, Run};
use crate::schedule::Schedule;

/// One episode of a condition: the unit the `alerts` table stores one row for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    #[serde(with = "kind_name")]
    pub kind: AlertKind,
    pub pipeline_id: Option<String>,
    pub fingerprint: String,
    /// When the condition became detectable (event time).
    pub started_at: Millis,
    /// None while the condition holds.
    pub resolved_at: Option<Millis>,
    pub last_seen_at: Millis,
    pub occurrences: i64,
    pub run_id: Option<String>,
    pub summary: String,
    pub details: Value,
}

impl Episode {
    /// A new episode of a per-pipeline kind.
    pub fn open(
        kind: AlertKind,
        pipeline_id: &str,
        at: Millis,
        run_id: Option<&str>,
        summary: String,
        details: Value,
    ) -> Episode {
        Episode {
            kind,
            pipeline_id: Some(pipeline_id.to_string()),
            fingerprint: fingerprint(kind, pipeline_id),
            started_at: at,
            resolved_at: None,
            last_seen_at: at,
            occurrences: 1,
            run_id: run_id.map(str::to_string),
            summary,
            details,
        }
    }

    /// Counts one more sighting while open.
    pub fn seen(&mut self, at: Millis) {
        self.occurrences += 1;
        self.last_seen_at = self.last_seen_at.max(at);
    }

    /// Ends the episode at `at` (never before it started).
    pub fn resolve(mut self, at: Millis) -> Episode {
        let at = at.max(self.started_at);
        self.resolved_at = Some(at);
        self.last_seen_at = self.last_seen_at.max(self.started_at);
        self
    }

    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// The stable identity of a per-pipeline condition.
pub fn fingerprint(kind: AlertKind, pipeline_id: &str) -> String {
    format!("{}/{pipeline_id}", kind.as_str())
}

/// What a detector knows about the pipeline besides its runs.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub cfg: &'a DetectConfig,
    pub pipeline_id: &'a str,
    /// The declared schedule, when one parses.
    pub schedule: Option<&'a Schedule>,
    /// Streaming pipelines are not expected to end (never stuck, never missed).
    pub streaming: bool,
}

/// What detectors tell each other about the run being observed, so one cause
/// raises one alert (a stuck run that ends is not also a duration anomaly; an
/// outlier inside a degradation is part of it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Notes {
    /// The run exceeded its stuck threshold and was hung (not merely slow).
    pub stuck: bool,
    /// The run exceeded its stuck threshold at all: its duration is no sample
    /// of the pipeline's normal durations (kept out of the history's).
    pub past_threshold: bool,
    /// A performance degradation is open (after this run).
    pub degraded: bool,
    /// The degradation opened at this run, and its suspect runs began at this
    /// start: those runs were judged ordinary while the evidence gathered, and
    /// belong to the episode.
    pub degraded_since: Option<Millis>,
    /// The run was a `duration_anomaly`: like a run past its stuck threshold,
    /// its duration is no sample of the pipeline's normal durations.
    pub outlier: bool,
    /// When this run holds up the pipeline's next expected start: that start plus
    /// its tolerance (set by `missed_run`, read by `stuck_run`).
    pub held_up_at: Option<Millis>,
}

/// One detector: an online state machine over a pipeline's runs in start order.
/// Its state is plain data (serde), so a pipeline's detectors can be checkpointed
/// and resumed; given the same runs it always produces the same episodes.
pub trait Detector {
    /// Observes the next run (`hist` holds the completed runs before it). A run in
    /// progress (`Outcome::Running`) is observed too; most detectors skip it.
    fn observe(
        &mut self,
        ctx: &Ctx,
        hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    );

    /// The series ends at `now`: emit what is still open (as of `now`).
    fn finish(&self, ctx: &Ctx, hist: &History, now: Millis, out: &mut Vec<Episode>);
}

mod kind_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::AlertKind;

    pub fn serialize<S: Serializer>(k: &AlertKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AlertKind, D::Error> {
        let s = String::deserialize(d)?;
        AlertKind::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown kind {s}")))
    }
}
