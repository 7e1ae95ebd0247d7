//! Domain types shared by every layer: events, runs, pipelines, alerts and their
//! vocabularies. No SQL and no clap here; each type knows its canonical spelling
//! (the one stored in the database and printed) and how to read it back.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Epoch milliseconds, UTC. Every timestamp inside pipemon is one of these.
pub type Millis = i64;

/// The state an event reports. `Other` is internal: an OpenLineage `OTHER` event that
/// carries facets but changes no state; native input can never produce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Started,
    Running,
    Success,
    Failed,
    Retrying,
    Cancelled,
    Skipped,
    Other,
}

impl Status {
    /// Reads a native status, synonyms included, case-insensitively (events.md).
    pub fn parse(raw: &str) -> Option<Status> {
        let lower = raw.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "success" | "succeeded" | "completed" | "complete" | "ok" => Status::Success,
            "failed" | "failure" | "fail" | "error" => Status::Failed,
            "started" | "start" => Status::Started,
            "running" | "in_progress" | "heartbeat" => Status::Running,
            "retrying" | "up_for_retry" | "retry" => Status::Retrying,
            "cancelled" | "canceled" | "aborted" | "abort" | "killed" => Status::Cancelled,
            "skipped" | "skip" => Status::Skipped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Started => "started",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Retrying => "retrying",
            Status::Cancelled => "cancelled",
            Status::Skipped => "skipped",
            Status::Other => "other",
        }
    }

    pub fn from_db(s: &str) -> Option<Status> {
        if s == "other" {
            Some(Status::Other)
        } else {
            Status::parse(s)
        }
    }

    /// Terminal events decide a run's outcome.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Success | Status::Failed | Status::Cancelled | Status::Skipped
        )
    }

    /// Tie-break between terminal events at the same instant and attempt: the worse
    /// outcome wins (`failed` > `cancelled` > `skipped` > `success`).
    pub fn terminal_rank(self) -> i64 {
        match self {
            Status::Failed => 3,
            Status::Cancelled => 2,
            Status::Skipped => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Business criticality of a pipeline (events.md `priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Priority {
    pub fn parse(raw: &str) -> Option<Priority> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "critical" => Priority::Critical,
            "high" => Priority::High,
            "medium" => Priority::Medium,
            "low" => Priority::Low,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Alert severity, ordered lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn parse(raw: &str) -> Option<Severity> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }

    pub fn lowered(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The nine alert kinds of alerts.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    PipelineFailed,
    ConsecutiveFailures,
    FailureRateSpike,
    DurationAnomaly,
    PerformanceDegradation,
    VolumeAnomaly,
    StuckRun,
    MissedRun,
    SystemicFailure,
}

impl AlertKind {
    pub const ALL: [AlertKind; 9] = [
        AlertKind::PipelineFailed,
        AlertKind::ConsecutiveFailures,
        AlertKind::FailureRateSpike,
        AlertKind::DurationAnomaly,
        AlertKind::PerformanceDegradation,
        AlertKind::VolumeAnomaly,
        AlertKind::StuckRun,
        AlertKind::MissedRun,
        AlertKind::SystemicFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PipelineFailed => "pipeline_failed",
            AlertKind::ConsecutiveFailures => "consecutive_failures",
            AlertKind::FailureRateSpike => "failure_rate_spike",
            AlertKind::DurationAnomaly => "duration_anomaly",
            AlertKind::PerformanceDegradation => "performance_degradation",
            AlertKind::VolumeAnomaly => "volume_anomaly",
            AlertKind::StuckRun => "stuck_run",
            AlertKind::MissedRun => "missed_run",
            AlertKind::SystemicFailure => "systemic_failure",
        }
    }

    pub fn parse(raw: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Base severity before the pipeline's priority adjusts it (alerts.md).
    pub fn base_severity(self) -> Severity {
        match self {
            AlertKind::PipelineFailed
            | AlertKind::FailureRateSpike
            | AlertKind::StuckRun
            | AlertKind::MissedRun => Severity::High,
            AlertKind::ConsecutiveFailures | AlertKind::SystemicFailure => Severity::Critical,
            AlertKind::DurationAnomaly => Severity::Low,
            AlertKind::PerformanceDegradation | AlertKind::VolumeAnomaly => Severity::Medium,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated, normalised input event (native or mapped from OpenLineage).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub pipeline_id: String,
    pub run_id: String,
    pub status: Status,
    pub ts: Millis,
    /// Deduplication key within the pipeline: the `event_id`, or `h:` + a content hash
    /// of the canonical JSON object when the event has none.
    pub event_key: String,
    pub attempt: i64,
    pub duration_ms: Option<i64>,
    pub records_processed: Option<i64>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub task_id: Option<String>,
    pub team: Option<String>,
    pub priority: Option<Priority>,
    pub environment: Option<String>,
    pub schedule: Option<String>,
    pub upstream: Option<Vec<String>>,
    pub scheduled_at: Option<Millis>,
    /// OpenLineage STREAMING/SERVICE jobs are not expected to end (never stuck).
    pub streaming: Option<bool>,
    /// Fields outside the contract, as a JSON object text; kept and queryable.
    pub extra: Option<String>,
}

/// A run as materialised in the `runs` table (one row per (pipeline_id, run_id)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub pipeline_id: String,
    pub run_id: String,
    /// The best estimate of when the run began (`start_source` says how it was
    /// found): its first `started` event; else its terminal event's time minus
    /// `duration_ms`; else its scheduled time; else its earliest event. A derived
    /// start is never later than the earliest event.
    pub start_at: Millis,
    pub start_source: StartSource,
    pub first_event_at: Millis,
    pub last_event_at: Millis,
    pub started_at: Option<Millis>,
    /// The final terminal event's time; None while in progress.
    pub ended_at: Option<Millis>,
    /// `success`, `failed`, `cancelled`, `skipped`, or `running` (no terminal event yet).
    pub outcome: Outcome,
    pub attempts: i64,
    pub retries: i64,
    pub duration_ms: Option<i64>,
    pub records_processed: Option<i64>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub task_id: Option<String>,
    pub scheduled_at: Option<Millis>,
    /// Wall time of the final attempt alone: the whole duration for a run without
    /// retries; for a retried run, from the later of its latest `started` and its
    /// latest `retrying` event to the terminal event. None while running, or when
    /// the events do not show where the final attempt began.
    pub final_attempt_ms: Option<i64>,
    /// The run's latest sign of life before its end: the latest of its start and
    /// its `started`, `running` and `retrying` events.
    pub last_alive_at: Millis,
    /// How many `running` (heartbeat) events the run has.
    pub heartbeats: i64,
}

/// Which evidence gave a run's `start_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    /// The run's first `started` event.
    #[default]
    Started,
    /// The terminal event's time minus its `duration_ms` (`started` was lost).
    Duration,
    /// The run's `scheduled_at` (no `started`, no duration).
    Scheduled,
    /// The earliest event the run has.
    FirstEvent,
}

impl StartSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StartSource::Started => "started",
            StartSource::Duration => "duration",
            StartSource::Scheduled => "scheduled",
            StartSource::FirstEvent => "first_event",
        }
    }

    pub fn parse(s: &str) -> Option<StartSource> {
        Some(match s {
            "started" => StartSource::Started,
            "duration" => StartSource::Duration,
            "scheduled" => StartSource::Scheduled,
            "first_event" => StartSource::FirstEvent,
            _ => return None,
        })
    }
}

/// A run's outcome; `Running` means no terminal event has been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failed,
    Cancelled,
    Skipped,
    Running,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
            Outcome::Running => "running",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "success" => Outcome::Success,
            "failed" => Outcome::Failed,
            "cancelled" => Outcome::Cancelled,
            "skipped" => Outcome::Skipped,
            "running" => Outcome::Running,
            _ => return None,
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pipeline's attributes, each the latest value seen in its events (by event time).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Pipeline {
    pub pipeline_id: String,
    pub team: Option<String>,
    pub priority: Option<Priority>,
    pub environment: Option<String>,
    pub schedule: Option<String>,
    pub upstream: Vec<String>,
    pub streaming: bool,
    pub first_event_at: Millis,
    pub last_event_at: Millis,
}
