//! Native events (events.md): one JSON object → one validated `Event`.
//!
//! Every field is checked: a value that cannot be understood rejects the line with a
//! reason code rather than being dropped. Optional fields given as JSON `null` count as
//! absent. Fields outside the contract are kept in `Event::extra`.

use serde::Deserialize;
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_128;

use super::{Reject, RejectReason, json_type};
use crate::model::{Event, Millis, Priority, Status};
use crate::schedule::Schedule;

/// Longest accepted `pipeline_id` / `run_id`, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Integers below this many epoch milliseconds (1973-03-03) are taken for epoch
/// seconds, which the contract refuses, rather than silently misread as 1970. The
/// same bound applies to RFC 3339 text, so an instant is accepted or refused whatever
/// its form (the upper bound, relative to the importer's clock, is `ingest::horizon`).
pub const MIN_EPOCH_MS: i64 = 100_000_000_000;
/// 9999-12-31T23:59:59.999Z: later than any real event.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// The fields of the input contract; any other field is kept and ignored.
pub const KNOWN: &[&str] = &[
    "pipeline_id",
    "run_id",
    "status",
    "timestamp",
    "event_id",
    "attempt",
    "duration_ms",
    "records_processed",
    "error_type",
    "error_message",
    "task_id",
    "team",
    "priority",
    "environment",
    "schedule",
    "upstream",
    "scheduled_at",
];

/// The contract's fields only, each kept as a JSON value. Deserialising into this
/// (which fails on any other field) skips building a map of every key, the costly part
/// of reading a line; `parse_line` falls back to the full object when it fails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    pipeline_id: Option<Value>,
    run_id: Option<Value>,
    status: Option<Value>,
    timestamp: Option<Value>,
    event_id: Option<Value>,
    attempt: Option<Value>,
    duration_ms: Option<Value>,
    records_processed: Option<Value>,
    error_type: Option<Value>,
    error_message: Option<Value>,
    task_id: Option<Value>,
    team: Option<Value>,
    priority: Option<Value>,
    environment: Option<Value>,
    schedule: Option<Value>,
    upstream: Option<Value>,
    scheduled_at: Option<Value>,
}

impl Fields for Known {
    fn field(&self, name: &str) -> Option<&Value> {
        match name {
            "pipeline_id" => self.pipeline_id.as_ref(),
            "run_id" => self.run_id.as_ref(),
            "status" => self.status.as_ref(),
            "timestamp" => self.timestamp.as_ref(),
            "event_id" => self.event_id.as_ref(),
            "attempt" => self.attempt.as_ref(),
            "duration_ms" => self.duration_ms.as_ref(),
            "records_processed" => self.records_processed.as_ref(),
            "error_type" => self.error_type.as_ref(),
            "error_message" => self.error_message.as_ref(),
            "task_id" => self.task_id.as_ref(),
            "team" => self.team.as_ref(),
            "priority" => self.priority.as_ref(),
            "environment" => self.environment.as_ref(),
            "schedule" => self.schedule.as_ref(),
            "upstream" => self.upstream.as_ref(),
            "scheduled_at" => self.scheduled_at.as_ref(),
            _ => None,
        }
    }
}

/// Named access to an event's fields: a whole JSON object, or `Known`.
pub trait Fields {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// The fast path: a line with only contract fields and an `event_id`. None when the
/// line needs the full object (other fields to keep, or a content hash to compute).
pub fn parse_known(line: &str) -> Option<Result<Event, Reject>> {
    let known: Known = serde_json::from_str(line).ok()?;
    let event_id = match &known.event_id {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return None,
    };
    Some(validate(&known).map(|mut ev| {
        ev.event_key = event_id;
        ev
    }))
}

/// Validates one native event object.
pub fn parse(obj: Map<String, Value>) -> Result<Event, Reject> {
    let event = validate(&obj)?;
    let event_id = match optional_str(&obj, "event_id")? {
        Some("") => return Err(invalid("event_id", "must not be empty")),
        other => other.map(str::to_string),
    };
    Ok(finish(event, event_id, obj, KNOWN))
}

/// Checks every contract field; leaves `event_key` and `extra` to the caller.
fn validate(obj: &impl Fields) -> Result<Event, Reject> {
    let pipeline_id = required_id(obj, "pipeline_id")?;
    let run_id = required_id(obj, "run_id")?;
    let status_raw = required_str(obj, "status")?;
    let status = Status::parse(status_raw).ok_or_else(|| {
        Reject::new(
            RejectReason::UnknownStatus,
            format!("unknown status `{}`", clip(status_raw)),
        )
    })?;
    let ts = required_timestamp(obj, "timestamp")?;
    if let Some("") = optional_str(obj, "event_id")? {
        return Err(invalid("event_id", "must not be empty"));
    }
    let attempt = match optional_int(obj, "attempt")? {
        None => 1,
        Some(0) => return Err(invalid("attempt", "must be at least 1")),
        Some(n) => n,
    };
    let priority = match optional_str(obj, "priority")? {
        None => None,
        Some(p) => Some(Priority::parse(p).ok_or_else(|| {
            invalid(
                "priority",
                &format!("`{}` is not critical, high, medium or low", clip(p)),
            )
        })?),
    };
    let schedule = match optional_str(obj, "schedule")? {
        None => None,
        Some(s) => {
            Schedule::parse(s).map_err(|e| invalid("schedule", &e))?;
            Some(s.trim().to_string())
        }
    };
    let upstream = match obj.field("upstream") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_ID_CHARS => {
                        ids.push(s.clone())
                    }
                    Value::String(_) => {
                        return Err(invalid(
                            "upstream",
                            "holds an empty or too long pipeline id",
                        ));
                    }
                    other => {
                        return Err(wrong_type("upstream", "an array of strings", other));
                    }
                }
            }
            Some(ids)
        }
        Some(other) => return Err(wrong_type("upstream", "an array of strings", other)),
    };
    let scheduled_at = match obj.field("scheduled_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(timestamp(v, "scheduled_at")?),
    };

    Ok(Event {
        pipeline_id: pipeline_id.to_string(),
        run_id: run_id.to_string(),
        status,
        ts,
        event_key: String::new(),
        attempt,
        duration_ms: optional_int(obj, "duration_ms")?,
        records_processed: optional_int(obj, "records_processed")?,
        error_type: optional_str(obj, "error_type")?.map(str::to_string),
        error_message: optional_str(obj, "error_message")?.map(str::to_string),
        task_id: optional_str(obj, "task_id")?.map(str::to_string),
        team: non_empty(optional_str(obj, "team")?),
        priority,
        environment: non_empty(optional_str(obj, "environment")?),
        schedule,
        upstream,
        scheduled_at,
        streaming: None,
        extra: None,
    })
}

/// Sets the deduplication key and keeps unknown fields; shared with OpenLineage.
///
/// Without an `event_id` the key is a 128-bit hash of the object's canonical JSON
/// (keys sorted, no spacing), so two lines that parse to the same object are one event.
pub fn finish(
    mut event: Event,
    event_id: Option<String>,
    obj: Map<String, Value>,
    known: &[&str],
) -> Event {
    event.event_key = match event_id {
        Some(id) => id,
        None => content_key(&obj),
    };
    let extra: Map<String, Value> = obj
        .into_iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .collect();
    if !extra.is_empty() {
        event.extra = Some(Value::Object(extra).to_string());
    }
    event
}

/// `h:` + hex of the xxh3-128 hash of the object's canonical JSON text.
pub fn content_key(obj: &Map<String, Value>) -> String {
    // serde_json's Map is ordered by key (no `preserve_order`), so this text is canonical.
    let canonical = serde_json::to_string(obj).unwrap_or_default();
    format!("h:{:032x}", xxh3_128(canonical.as_bytes()))
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn invalid(field: &str, why: &str) -> Reject {
    Reject::new(RejectReason::InvalidValue, format!("`{field}` {why}"))
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> Reject {
    Reject::new(
        RejectReason::WrongType,
        format!("`{field}` must be {expected}, found {}", json_type(found)),
    )
}

fn required_str<'a>(obj: &'a impl Fields, field: &str) -> Result<&'a str, Reject> {
    match obj.field(field) {
        None | Some(Value::Null) => Err(Reject::new(
            RejectReason::MissingField,
            format!("missing required field `{field}`"),
        )),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn required_id<'a>(obj: &'a impl Fields, field: &str) -> Result<&'a str, Reject> {
    let s = required_str(obj, field)?;
    if s.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().count() > MAX_ID_CHARS {
        return Err(invalid(
            field,
            &format!("is longer than {MAX_ID_CHARS} characters"),
        ));
    }
    Ok(s)
}

/// An optional string field: absent or null → None.
pub fn optional_str<'a>(obj: &'a impl Fields, field: &str) -> Result<Option<&'a str>, Reject> {
    match obj.field(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

/// An optional non-negative integer: a JSON integer or a string of digits.
pub fn optional_int(obj: &impl Fields, field: &str) -> Result<Option<i64>, Reject> {
    let v = match obj.field(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let n = match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => i,
            None if n.is_u64() => return Err(invalid(field, "is too large")),
            None => return Err(wrong_type(field, "an integer", v)),
        },
        Value::String(s) => {
            let t = s.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(field, &format!("`{}` is not an integer", clip(s))));
            }
            t.parse::<i64>()
                .map_err(|_| invalid(field, "is too large"))?
        }
        other => return Err(wrong_type(field, "an integer", other)),
    };
    if n < 0 {
        return Err(Reject::new(
            RejectReason::NegativeNumber,
            format!("`{field}` is negative ({n})"),
        ));
    }
    Ok(Some(n))
}

/// A required timestamp field: absent or null is `missing_field`.
pub fn required_timestamp(obj: &impl Fields, field: &str) -> Result<Millis, Reject> {
    match obj.field(field) {
        None | Some(Value::Null) => Err(Reject::new(
            RejectReason::MissingField,
            format!("missing required field `{field}`"),
        )),
        Some(v) => timestamp(v, field),
    }
}

/// A timestamp: RFC 3339 with offset, or an integer of epoch milliseconds.
pub fn timestamp(v: &Value, field: &str) -> Result<Millis, Reject> {
    let bad = |why: String| Reject::new(RejectReason::BadTimestamp, format!("`{field}` {why}"));
    match v {
        Value::String(s) => match crate::time::parse_rfc3339(s) {
            // One range for both forms: the instant decides, not how it was written.
            Some(ms) if (MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&ms) => Ok(ms),
            Some(_) => Err(bad(format!(
                "`{}` is before {}, the earliest time accepted",
                clip(s),
                crate::time::format_ms(MIN_EPOCH_MS)
            ))),
            None => Err(bad(format!(
                "`{}` is not RFC 3339 with a `Z` or ±hh:mm offset",
                clip(s)
            ))),
        },
        Value::Number(n) => match n.as_i64() {
            Some(ms) if (MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&ms) => Ok(ms),
            Some(ms) if (0..MIN_EPOCH_MS).contains(&ms) => Err(bad(format!(
                "{ms} looks like epoch seconds; integers must be epoch milliseconds"
            ))),
            Some(ms) => Err(bad(format!("{ms} is out of range for epoch milliseconds"))),
            None => Err(bad(format!("{n} is not an integer of epoch milliseconds"))),
        },
        other => Err(bad(format!(
            "must be an RFC 3339 string or epoch milliseconds, found {}",
            json_type(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::InputFormat;
    use crate::ingest::parse_line;

    fn ok(line: &str) -> Event {
        parse_line(line, InputFormat::Auto).unwrap_or_else(|r| panic!("{line}: {r:?}"))
    }

    fn reason(line: &str) -> RejectReason {
        parse_line(line, InputFormat::Auto).unwrap_err().reason
    }

    const BASE: &str = r#""pipeline_id":"p","run_id":"r","timestamp":"2026-11-01T03:00:00Z""#;

    #[test]
    fn every_status_synonym() {
        let table = [
            ("succeeded", Status::Success),
            ("SUCCESS", Status::Success),
            ("completed", Status::Success),
            ("complete", Status::Success),
            ("ok", Status::Success),
            ("failure", Status::Failed),
            ("fail", Status::Failed),
            ("Error", Status::Failed),
            ("failed", Status::Failed),
            ("start", Status::Started),
            ("started", Status::Started),
            ("in_progress", Status::Running),
            ("heartbeat", Status::Running),
            ("running", Status::Running),
            ("up_for_retry", Status::Retrying),
            ("retry", Status::Retrying),
            ("retrying", Status::Retrying),
            ("canceled", Status::Cancelled),
            ("aborted", Status::Cancelled),
            ("abort", Status::Cancelled),
            ("killed", Status::Cancelled),
            ("cancelled", Status::Cancelled),
            ("skip", Status::Skipped),
            ("skipped", Status::Skipped),
        ];
        for (raw, want) in table {
            let e = ok(&format!(r#"{{{BASE},"status":"{raw}"}}"#));
            assert_eq!(e.status, want, "{raw}");
        }
        assert_eq!(
            reason(&format!(r#"{{{BASE},"status":"other"}}"#)),
            RejectReason::UnknownStatus
        );
        assert_eq!(
            reason(&format!(r#"{{{BASE},"status":"done!"}}"#)),
            RejectReason::UnknownStatus
        );
    }

    #[test]
    fn both_timestamp_forms() {
        let a = ok(
            r#"{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":"2026-11-01T04:00:00.5+01:00"}"#,
        );
        let b = ok(r#"{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":1793502000500}"#);
        assert_eq!(a.ts, 1_793_502_000_500);
        assert_eq!(a.ts, b.ts);
        for bad in [
            r#""2026-11-01T03:00:00""#,
            "1793502000",
            "1793502000500.0",
            r#""1793502000500""#,
            "-5",
            "true",
        ] {
            let line =
                format!(r#"{{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":{bad}}}"#);
            assert_eq!(reason(&line), RejectReason::BadTimestamp, "{bad}");
        }
    }

    #[test]
    fn field_validation_reasons() {
        let cases = [
            ("{", RejectReason::InvalidJson),
            ("[1,2]", RejectReason::NotAnObject),
            (
                r#"{"run_id":"r","status":"ok","timestamp":1793502000500}"#,
                RejectReason::MissingField,
            ),
            (
                r#"{"pipeline_id":null,"run_id":"r","status":"ok","timestamp":1793502000500}"#,
                RejectReason::MissingField,
            ),
            (
                r#"{"pipeline_id":7,"run_id":"r","status":"ok","timestamp":1793502000500}"#,
                RejectReason::WrongType,
            ),
            (
                r#"{"pipeline_id":"","run_id":"r","status":"ok","timestamp":1793502000500}"#,
                RejectReason::InvalidValue,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(reason(line), want, "{line}");
        }
        let with = |extra: &str| format!(r#"{{{BASE},"status":"ok",{extra}}}"#);
        assert_eq!(reason(&with(r#""attempt":0"#)), RejectReason::InvalidValue);
        assert_eq!(
            reason(&with(r#""attempt":-1"#)),
            RejectReason::NegativeNumber
        );
        assert_eq!(
            reason(&with(r#""duration_ms":"-5""#)),
            RejectReason::NegativeNumber
        );
        assert_eq!(
            reason(&with(r#""duration_ms":1.5"#)),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&with(r#""records_processed":"12a""#)),
            RejectReason::InvalidValue
        );
        assert_eq!(
            reason(&with(r#""priority":"urgent""#)),
            RejectReason::InvalidValue
        );
        assert_eq!(
            reason(&with(r#""schedule":"sometimes""#)),
            RejectReason::InvalidValue
        );
        assert_eq!(reason(&with(r#""upstream":"a""#)), RejectReason::WrongType);
        assert_eq!(reason(&with(r#""upstream":[1]"#)), RejectReason::WrongType);
        assert_eq!(reason(&with(r#""team":5"#)), RejectReason::WrongType);
        assert_eq!(
            reason(&with(r#""scheduled_at":"yesterday""#)),
            RejectReason::BadTimestamp
        );
        let long = "x".repeat(MAX_ID_CHARS + 1);
        assert_eq!(
            reason(&format!(
                r#"{{"pipeline_id":"{long}","run_id":"r","status":"ok","timestamp":1793502000500}}"#
            )),
            RejectReason::InvalidValue
        );
    }

    #[test]
    fn digit_strings_nulls_and_extras() {
        let e = ok(&format!(
            r#"{{{BASE},"status":"ok","duration_ms":"1200","attempt":"2","team":null,"priority":"HIGH","upstream":["a","b"],"dag_owner":"x","cost":{{"usd":1}}}}"#
        ));
        assert_eq!(e.duration_ms, Some(1200));
        assert_eq!(e.attempt, 2);
        assert_eq!(e.team, None);
        assert_eq!(e.priority, Some(Priority::High));
        assert_eq!(e.upstream, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            e.extra.as_deref(),
            Some(r#"{"cost":{"usd":1},"dag_owner":"x"}"#)
        );
    }

    #[test]
    fn fast_path_agrees_with_the_full_object() {
        let lines = [
            format!(
                r#"{{{BASE},"status":"ok","event_id":"e1","attempt":"2","duration_ms":5,"upstream":["a"],"team":null}}"#
            ),
            format!(
                r#"{{{BASE},"status":"Error","event_id":"e2","error_message":"x\ny","priority":"LOW","schedule":"0 3 * * *"}}"#
            ),
            format!(r#"{{{BASE},"status":"ok","event_id":"e3","attempt":0}}"#),
            format!(r#"{{{BASE},"status":"nope","event_id":"e4"}}"#),
            r#"{"run_id":"r","status":"ok","timestamp":1793502000500,"event_id":"e5"}"#.to_string(),
        ];
        for line in &lines {
            let fast = parse_known(line).expect("only contract fields and an event_id");
            let Value::Object(obj) = serde_json::from_str(line).unwrap() else {
                unreachable!()
            };
            assert_eq!(fast, parse(obj), "{line}");
        }
        // Lines the fast path must hand over: an extra field, no event_id.
        assert!(
            parse_known(&format!(r#"{{{BASE},"status":"ok","event_id":"e","x":1}}"#)).is_none()
        );
        assert!(parse_known(&format!(r#"{{{BASE},"status":"ok"}}"#)).is_none());
        assert!(parse_known(&format!(r#"{{{BASE},"status":"ok","event_id":""}}"#)).is_none());
    }

    #[test]
    fn content_key_ignores_key_order_and_spacing() {
        let a = ok(r#"{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":1793502000500}"#);
        let b = ok(
            r#"{ "timestamp": 1793502000500, "status": "ok", "run_id": "r", "pipeline_id": "p" }"#,
        );
        let c = ok(r#"{"pipeline_id":"p","run_id":"r","status":"ok","timestamp":1793502000501}"#);
        assert!(a.event_key.starts_with("h:"));
        assert_eq!(a.event_key, b.event_key);
        assert_ne!(a.event_key, c.event_key);
        let d = ok(&format!(r#"{{{BASE},"status":"ok","event_id":"e-1"}}"#));
        assert_eq!(d.event_key, "e-1");
    }
}
