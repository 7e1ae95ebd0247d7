//! Ground truth written beside generated events (`truth.json`) and read by the scorer.
//!
//! Every time is RFC 3339 UTC text, so a person can read the file and compare it with
//! `pipemon alerts`. The truth is derived from the events actually written (after the
//! cut at the end of the data), so counts and incidents describe exactly what an
//! importer sees.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// Serde for `Millis` as RFC 3339 text.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::model::Millis;

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::format_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let text = String::deserialize(d)?;
        crate::time::parse_rfc3339(&text)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not an RFC 3339 time")))
    }
}

/// Serde for `Option<Millis>` as RFC 3339 text or null.
pub mod rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::model::Millis;

    pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&crate::time::format_ms(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => crate::time::parse_rfc3339(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("`{text}` is not an RFC 3339 time"))),
        }
    }
}

/// The whole ground truth of one generated data set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    pub format_version: u32,
    pub seed: u64,
    pub days: u32,
    /// First instant of the data.
    #[serde(with = "rfc3339")]
    pub start: Millis,
    /// The cut: no event at or after this time was written.
    #[serde(with = "rfc3339")]
    pub end: Millis,
    /// The latest event time written (what `--now data-end` resolves to).
    #[serde(with = "rfc3339")]
    pub data_end: Millis,
    /// Before this time only natural behaviour happens (no injected incident).
    #[serde(with = "rfc3339")]
    pub warmup_end: Millis,
    pub lines: LineCounts,
    pub pipelines: Vec<PipelineTruth>,
    pub incidents: Vec<Incident>,
    /// Benign one-off behaviour no detector can learn (a month-start surge): alerts of
    /// the listed kinds on that pipeline inside the span are neither credited nor
    /// blamed.
    #[serde(default)]
    pub benign: Vec<Benign>,
}

/// A span of benign, unlearnable behaviour on one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Benign {
    pub pipeline_id: String,
    pub kinds: Vec<String>,
    #[serde(with = "rfc3339")]
    pub from: Millis,
    #[serde(with = "rfc3339")]
    pub until: Millis,
    pub note: String,
}

/// What the events file holds, line by line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LineCounts {
    /// Every line, blank ones included.
    pub total: u64,
    pub blank: u64,
    /// Distinct valid events (what an importer inserts).
    pub events: u64,
    /// Valid lines that repeat an event already delivered (same `event_id`, or the
    /// same object without one).
    pub duplicates: u64,
    /// Deliberately malformed lines; each must be rejected.
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// One pipeline's attributes and the `pipeline_health` counts an importer must report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineTruth {
    pub pipeline_id: String,
    /// The effective team (`unowned` when the events never name one).
    pub team: String,
    /// The effective priority (`medium` when the events never give one).
    pub priority: String,
    pub schedule: Option<String>,
    pub upstream: Vec<String>,
    pub cadence_ms: i64,
    pub median_duration_ms: i64,
    /// The largest seasonal p95 of its successful runs' durations (by hour of day and
    /// by weekday), which the stuck-run deadline is measured from.
    #[serde(default)]
    pub p95_duration_ms: i64,
    /// The nominal time of its first run: a young pipeline starts mid-history.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub first_run: Option<Millis>,
    /// Runs whose `started` event was lost by the collector (their start must be
    /// derived from the terminal event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_without_started: Vec<String>,
    pub runs_total: u64,
    pub runs_success: u64,
    pub runs_failed: u64,
    pub runs_cancelled: u64,
    pub runs_skipped: u64,
    pub runs_in_progress: u64,
}

/// A condition pipemon must alert on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    /// `I0001`, … in order of start.
    pub id: String,
    pub kind: String,
    /// None for `systemic_failure`.
    pub pipeline_id: Option<String>,
    /// The earliest time an alert for it may start.
    #[serde(with = "rfc3339")]
    pub start: Millis,
    /// When the condition ended in the data; None if still open at the data end.
    #[serde(with = "rfc3339_opt")]
    pub end: Option<Millis>,
    /// The deadline: the latest acceptable `started_at` of its alert (the Timeliness
    /// rules of the alert contract). An alert after it is late and does not match.
    #[serde(with = "rfc3339", alias = "latest_detection")]
    pub deadline: Millis,
    pub severity: String,
    pub team: String,
    /// The run that triggers it, where one does.
    pub run_id: Option<String>,
    /// `systemic_failure`: the pipelines whose final failure carries the signature.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_pipelines: Vec<String>,
    /// `systemic_failure`: the error text with hosts and numbers masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_signature: Option<String>,
    /// Alerts of these kinds on the same pipeline within the window are explained by
    /// this incident: neither credited nor blamed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    /// What was injected, for people reading the file.
    pub note: String,
}

/// A kind of alert an incident explains on its own pipeline, and for how long.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Related {
    pub kind: String,
    #[serde(with = "rfc3339")]
    pub from: Millis,
    /// None: until the end of the data.
    #[serde(with = "rfc3339_opt")]
    pub until: Option<Millis>,
}

impl Truth {
    pub fn pipeline(&self, id: &str) -> Option<&PipelineTruth> {
        self.pipelines.iter().find(|p| p.pipeline_id == id)
    }
}
