//! Input lines → validated `Event`s, or a bounded rejection reason.
//!
//! `parse_line` decides per line whether it is a native event (events.md) or an
//! OpenLineage `RunEvent`, unless the format is forced. Rejections carry a reason code
//! from a fixed set and a message without location; the importer adds file and line.
//! `check_horizon` is the one rule that needs a clock (events too far in the future),
//! kept apart so parsing stays a pure function of the line.

pub mod native;
pub mod openlineage;

use std::fmt;

use serde_json::Value;

use crate::cli::InputFormat;
use crate::model::{Event, Millis};

/// Why a line was rejected: a bounded set of codes, never raw parser text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not valid JSON (or not UTF-8).
    InvalidJson,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// `status` (or OpenLineage `eventType`) is not one we know.
    UnknownStatus,
    /// A timestamp that is not RFC 3339 with an offset nor integer epoch ms.
    BadTimestamp,
    /// A negative number where only ≥ 0 is allowed.
    NegativeNumber,
    /// A value of the right type that cannot be understood (`priority: urgent`,
    /// `attempt: 0`, an empty id, a bad schedule, a too-long string).
    InvalidValue,
    /// An OpenLineage event that breaks its own rules (runId not a UUID, …).
    InvalidOpenlineage,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::InvalidJson,
        RejectReason::NotAnObject,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::UnknownStatus,
        RejectReason::BadTimestamp,
        RejectReason::NegativeNumber,
        RejectReason::InvalidValue,
        RejectReason::InvalidOpenlineage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::UnknownStatus => "unknown_status",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::NegativeNumber => "negative_number",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::InvalidOpenlineage => "invalid_openlineage",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected line: reason code plus a message for people (no location).
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub reason: RejectReason,
    pub message: String,
}

impl Reject {
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Reject {
        Reject {
            reason,
            message: message.into(),
        }
    }
}

/// How far past the importer's wall clock an event may lie. Clocks disagree by
/// seconds or minutes and time zones by hours; an event a day or more ahead is a
/// broken clock or a bad value, and accepting it would move the data end (and with
/// it every `--now data-end` evaluation and the missed-run schedule) into the future.
pub const MAX_FUTURE_MS: Millis = 86_400_000;

/// The latest event time an import that started at `wall_clock` accepts.
pub fn horizon(wall_clock: Millis) -> Millis {
    wall_clock.saturating_add(MAX_FUTURE_MS)
}

/// Refuses (`bad_timestamp`) an event whose time or scheduled time is later than
/// `horizon`: one rule for RFC 3339 and integer timestamps, since both are instants
/// by now.
pub fn check_horizon(ev: &Event, horizon: Millis) -> Result<(), Reject> {
    let late = |what: &str, ms: Millis| {
        Reject::new(
            RejectReason::BadTimestamp,
            format!(
                "{what} {} is more than {}h after the importer's clock (latest accepted: {})",
                crate::time::format_ms(ms),
                MAX_FUTURE_MS / 3_600_000,
                crate::time::format_ms(horizon)
            ),
        )
    };
    if ev.ts > horizon {
        return Err(late("the event time", ev.ts));
    }
    if let Some(s) = ev.scheduled_at
        && s > horizon
    {
        return Err(late("the scheduled time", s));
    }
    Ok(())
}

/// Parses one non-blank line.
pub fn parse_line(line: &str, format: InputFormat) -> Result<Event, Reject> {
    if format != InputFormat::Openlineage
        && let Some(result) = native::parse_known(line)
    {
        return result;
    }
    let value: Value = serde_json::from_str(line).map_err(|e| {
        Reject::new(
            RejectReason::InvalidJson,
            format!("not valid JSON (column {})", e.column()),
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(Reject::new(
            RejectReason::NotAnObject,
            format!("expected a JSON object, found {}", json_type(&value)),
        ));
    };
    let is_openlineage = match format {
        InputFormat::Native => false,
        InputFormat::Openlineage => true,
        InputFormat::Auto => openlineage::looks_like_openlineage(&obj),
    };
    if is_openlineage {
        openlineage::parse(obj)
    } else {
        native::parse(obj)
    }
}

/// The JSON type name of a value, for messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
