//! OpenLineage `RunEvent` → `Event`: the mapping of events.md, section "OpenLineage".
//!
//! One `RunEvent` (as the OpenLineage clients' file transport writes it, one object per
//! line) becomes one `Event`. Each event carries only what its own facets say; the
//! run and pipeline merges in the store accumulate facets across a run's events (the
//! latest team, the largest record count, the earliest scheduled time).
//!
//! Guarantees:
//! - `pipeline_id` is `job.namespace/job.name`; `run_id` is `run.runId`, or, for a try of
//!   a task (a `parent` run facet naming another job), the parent's `runId`, so every
//!   try of one task under one DAG run is one run. A FAIL that Airflow's `airflow`
//!   facet shows will be retried (try_number within max_tries/retries) is `retrying`;
//!   any other FAIL is `failed`, and if a later try follows all the same, the run
//!   merge lets that try decide the outcome and counts the failure as a retry.
//! - Malformed OpenLineage is rejected with a bounded reason: a missing `run.runId`,
//!   `job.namespace`, `job.name` or `eventTime` is `missing_field`; a `runId` that is
//!   not a UUID (or a malformed `parent` facet) is `invalid_openlineage`; an unknown
//!   `eventType` is `unknown_status`, the reason native input uses for an unknown
//!   `status`, so one code counts every unknown state whatever the input format.
//! - A mapped facet holding a value that cannot be understood rejects the line, as in
//!   native input (a negative `rowCount`, a `nominalStartTime` without an offset).
//! - The deduplication key is a content hash of the whole object: OpenLineage has no
//!   event id, and a re-delivered identical event is a duplicate.
//! - What is not mapped stays queryable in `Event::extra` under `ol_*` keys (the
//!   original `runId`, producer, parent, dataset names, and unmapped facets, each facet
//!   bounded in size), while mapped facets and the stack trace are left out.

use serde_json::{Map, Value};

use super::native::{MAX_ID_CHARS, content_key, optional_int, required_timestamp, timestamp};
use super::{Reject, RejectReason, json_type};
use crate::model::{Event, Status};

/// Top-level `RunEvent` keys that are mapped (or summarised) rather than copied to `extra`.
const MAPPED_TOP: &[&str] = &[
    "eventType",
    "eventTime",
    "run",
    "job",
    "inputs",
    "outputs",
    "producer",
    "schemaURL",
];

/// Run facets whose content is mapped to event fields (`parent` is kept in `ol_parent`).
const MAPPED_RUN_FACETS: &[&str] = &["errorMessage", "nominalTime", "parent"];

/// Job facets whose content is mapped to event fields.
const MAPPED_JOB_FACETS: &[&str] = &["ownership", "jobType"];

/// An unmapped facet whose JSON text is longer than this is replaced by a marker
/// `{"_omitted_bytes": N}` in `extra`: facets such as Spark's logical plan run to
/// megabytes, and `extra` is stored with every event.
pub const MAX_KEPT_FACET_BYTES: usize = 4096;

/// An object is taken for OpenLineage when it has no native `pipeline_id` and has an
/// `eventTime`, an `eventType`, or a `run` or `job` object. Without `eventTime` it is
/// still recognised, so a RunEvent missing its time is rejected as OpenLineage
/// (`missing_field: eventTime`), not as a native event without `pipeline_id`.
pub fn looks_like_openlineage(obj: &Map<String, Value>) -> bool {
    !obj.contains_key("pipeline_id")
        && (obj.contains_key("eventTime")
            || obj.contains_key("eventType")
            || obj.get("run").is_some_and(Value::is_object)
            || obj.get("job").is_some_and(Value::is_object))
}

/// Maps one OpenLineage `RunEvent` object to an `Event`, or rejects it.
pub fn parse(obj: Map<String, Value>) -> Result<Event, Reject> {
    let job = required_object(&obj, "job", "job")?;
    let namespace = required_str(job, "namespace", "job.namespace")?;
    let name = required_str(job, "name", "job.name")?;
    if namespace.is_empty() || name.is_empty() {
        return Err(invalid_value(
            "job.namespace and job.name must not be empty",
        ));
    }
    let pipeline_id = format!("{namespace}/{name}");
    if pipeline_id.chars().count() > MAX_ID_CHARS {
        return Err(invalid_value(&format!(
            "`job.namespace/job.name` is longer than {MAX_ID_CHARS} characters"
        )));
    }

    let run = required_object(&obj, "run", "run")?;
    let own_run_id = required_str(run, "runId", "run.runId")?;
    if !is_uuid(own_run_id) {
        return Err(Reject::new(
            RejectReason::InvalidOpenlineage,
            format!("`run.runId` `{}` is not a UUID", clip(own_run_id)),
        ));
    }

    let status = event_type(&obj)?;
    let ts = required_timestamp(&obj, "eventTime")?;

    let run_facets = facets(run, "run.facets")?;
    let job_facets = facets(job, "job.facets")?;

    let parent = match facet(run_facets, "parent", "run")? {
        Some(p) => Some(parent_run(p)?),
        None => None,
    };
    // A parent of another job makes this event one try of a run of that parent (an
    // Airflow task try under its DAG run): the parent's runId groups the tries.
    let run_id = match &parent {
        Some(p) if p.namespace != namespace || p.name != name => p.run_id.clone(),
        _ => own_run_id.to_string(),
    };

    let (error_message, error_type) = match facet(run_facets, "errorMessage", "run")? {
        Some(f) => error_facet(f)?,
        None => (None, None),
    };
    let scheduled_at = match facet(run_facets, "nominalTime", "run")? {
        Some(f) => match f.get("nominalStartTime") {
            None | Some(Value::Null) => None,
            Some(v) => Some(timestamp(v, "run.facets.nominalTime.nominalStartTime")?),
        },
        None => None,
    };
    let airflow = airflow_try(run_facets)?;
    let attempt = airflow.try_number.unwrap_or(1);
    // A failed try that Airflow will retry is a `retrying`, not a failure, so an
    // evaluation between two tries sees a run in progress rather than a failed run.
    // Without that knowledge a FAIL stays `failed`, and a later try of the same run
    // still decides the outcome in the run merge.
    let status = if status == Status::Failed && airflow.retry_follows() {
        Status::Retrying
    } else {
        status
    };
    let team = match facet(job_facets, "ownership", "job")? {
        Some(f) => ownership_team(f)?,
        None => None,
    };
    let streaming = match facet(job_facets, "jobType", "job")? {
        Some(f) => processing_type(f)?,
        None => None,
    };
    let records_processed = output_row_count(&obj)?;

    let extra = extra(&obj, own_run_id, parent.as_ref(), run_facets, job_facets);
    Ok(Event {
        pipeline_id,
        run_id,
        status,
        ts,
        event_key: content_key(&obj),
        attempt,
        duration_ms: None,
        records_processed,
        error_type,
        error_message,
        task_id: None,
        team,
        priority: None,
        environment: None,
        schedule: None,
        upstream: None,
        scheduled_at,
        streaming,
        extra: Some(Value::Object(extra).to_string()),
    })
}

/// `eventType` → status; OTHER or absent changes no state (`Status::Other`).
fn event_type(obj: &Map<String, Value>) -> Result<Status, Reject> {
    let raw = match obj.get("eventType") {
        None | Some(Value::Null) => return Ok(Status::Other),
        Some(Value::String(s)) => s,
        Some(other) => return Err(wrong_type("eventType", "a string", other)),
    };
    Ok(match raw.trim().to_ascii_uppercase().as_str() {
        "START" => Status::Started,
        "RUNNING" => Status::Running,
        "COMPLETE" => Status::Success,
        "FAIL" => Status::Failed,
        "ABORT" => Status::Cancelled,
        "OTHER" => Status::Other,
        _ => {
            return Err(Reject::new(
                RejectReason::UnknownStatus,
                format!(
                    "unknown eventType `{}` (START, RUNNING, COMPLETE, FAIL, ABORT or OTHER)",
                    clip(raw)
                ),
            ));
        }
    })
}

/// The parent run of a `parent` run facet.
struct Parent {
    namespace: String,
    name: String,
    run_id: String,
}

fn parent_run(f: &Map<String, Value>) -> Result<Parent, Reject> {
    let broken = |why: &str| {
        Reject::new(
            RejectReason::InvalidOpenlineage,
            format!("`run.facets.parent` {why}"),
        )
    };
    let run = f
        .get("run")
        .and_then(Value::as_object)
        .ok_or_else(|| broken("has no `run` object"))?;
    let job = f
        .get("job")
        .and_then(Value::as_object)
        .ok_or_else(|| broken("has no `job` object"))?;
    let run_id = run
        .get("runId")
        .and_then(Value::as_str)
        .ok_or_else(|| broken("has no `run.runId` string"))?;
    if !is_uuid(run_id) {
        return Err(broken(&format!(
            "`run.runId` `{}` is not a UUID",
            clip(run_id)
        )));
    }
    let namespace = job.get("namespace").and_then(Value::as_str);
    let name = job.get("name").and_then(Value::as_str);
    let (Some(namespace), Some(name)) = (namespace, name) else {
        return Err(broken("has no `job.namespace` and `job.name` strings"));
    };
    Ok(Parent {
        namespace: namespace.to_string(),
        name: name.to_string(),
        run_id: run_id.to_string(),
    })
}

/// `errorMessage` → (message, exception type).
///
/// The type is the exception named by the stack trace (its last unindented line that
/// names one: the raised exception of a Python traceback, or the first line of a JVM
/// trace, whose `Caused by:` lines do not qualify), else the one that starts the
/// message (`ValueError: …`). The short name is kept (`psycopg2.errors.UndefinedTable`
/// → `UndefinedTable`), so the same failure spelled by different languages or module
/// paths yields one error type and one systemic-failure signature.
fn error_facet(f: &Map<String, Value>) -> Result<(Option<String>, Option<String>), Reject> {
    let message = facet_str(f, "message", "run.facets.errorMessage.message")?;
    let trace = facet_str(f, "stackTrace", "run.facets.errorMessage.stackTrace")?;
    let kind = trace
        .and_then(exception_in_trace)
        .or_else(|| message.and_then(|m| exception_name(m.lines().next()?, true)));
    let message = message
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    Ok((message, kind))
}

/// The exception a stack trace names, read from its last lines upwards.
pub fn exception_in_trace(trace: &str) -> Option<String> {
    trace
        .lines()
        .rev()
        .find_map(|line| exception_name(line, false))
}

/// The exception type that starts `line`: `Name: message`, or a bare `Name` when
/// `need_colon` is false (a Python traceback may end with `KeyboardInterrupt`). The
/// name is a dotted identifier whose last part starts with an upper-case letter and
/// has a lower-case one (so `ERROR: …` and `Connection refused: …` name no type).
pub fn exception_name(line: &str, need_colon: bool) -> Option<String> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let line = line.trim_end();
    // JVM: `Exception in thread "main" java.lang.RuntimeException: …`.
    let line = match line.strip_prefix("Exception in thread \"") {
        Some(rest) => rest.split_once("\" ")?.1,
        None => line,
    };
    let name = match line.split_once(':') {
        Some((name, _)) => name,
        None if need_colon => return None,
        None => line,
    };
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let parts: Vec<&str> = name.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(valid_char))
    {
        return None;
    }
    let last = parts.last()?;
    let starts_upper = last.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    let has_lower = last.chars().any(|c| c.is_ascii_lowercase());
    (starts_upper && has_lower).then(|| last.to_string())
}

/// `ownership` → team: the first owner named `team:NAME` gives `NAME`, else the first
/// owner's name.
fn ownership_team(f: &Map<String, Value>) -> Result<Option<String>, Reject> {
    let owners = match f.get("owners") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(wrong_type("job.facets.ownership.owners", "an array", other));
        }
    };
    let mut names = Vec::with_capacity(owners.len());
    for owner in owners {
        match owner.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => names.push(s.trim()),
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(wrong_type(
                    "job.facets.ownership.owners[].name",
                    "a string",
                    other,
                ));
            }
            None => {
                return Err(Reject::new(
                    RejectReason::InvalidOpenlineage,
                    "an owner in `job.facets.ownership.owners` has no `name`",
                ));
            }
        }
    }
    let team = names
        .iter()
        .find_map(|n| {
            let (prefix, rest) = n.split_once(':')?;
            (prefix.eq_ignore_ascii_case("team") && !rest.trim().is_empty()).then(|| rest.trim())
        })
        .or(names.first().copied());
    Ok(team.map(str::to_string))
}

/// `jobType.processingType`: STREAMING and SERVICE jobs are not expected to end, BATCH
/// jobs are. Another value (the facet's spec lists these three) says nothing.
fn processing_type(f: &Map<String, Value>) -> Result<Option<bool>, Reject> {
    let kind = facet_str(f, "processingType", "job.facets.jobType.processingType")?;
    Ok(
        match kind.map(|k| k.trim().to_ascii_uppercase()).as_deref() {
            Some("STREAMING" | "SERVICE") => Some(true),
            Some("BATCH") => Some(false),
            _ => None,
        },
    )
}

/// What Airflow's integration says about a task try in its `airflow` run facet.
#[derive(Debug, Default, PartialEq)]
struct AirflowTry {
    /// `taskInstance.try_number`: this try, from 1.
    try_number: Option<i64>,
    /// The last try number Airflow will run: `taskInstance.max_tries` where given, else
    /// `task.retries` (a task with `retries: N` runs at most N + 1 tries).
    max_tries: Option<i64>,
}

impl AirflowTry {
    /// Airflow's own rule for a failed try (`is_eligible_to_retry`): retries are
    /// configured and this try is within them, so another try follows.
    fn retry_follows(&self) -> bool {
        matches!((self.try_number, self.max_tries), (Some(n), Some(m)) if m > 0 && n <= m)
    }
}

fn airflow_try(run_facets: Option<&Map<String, Value>>) -> Result<AirflowTry, Reject> {
    let Some(f) = facet(run_facets, "airflow", "run")? else {
        return Ok(AirflowTry::default());
    };
    let int = |section: &str, key: &str| -> Result<Option<i64>, Reject> {
        let Some(obj) = f.get(section).and_then(Value::as_object) else {
            return Ok(None);
        };
        optional_int(obj, key).map_err(|r| {
            Reject::new(
                r.reason,
                format!("run.facets.airflow.{section}: {}", r.message),
            )
        })
    };
    let try_number = int("taskInstance", "try_number")?;
    if try_number == Some(0) {
        return Err(invalid_value(
            "`run.facets.airflow.taskInstance.try_number` must be at least 1",
        ));
    }
    let max_tries = match int("taskInstance", "max_tries")? {
        Some(m) => Some(m),
        None => int("task", "retries")?,
    };
    Ok(AirflowTry {
        try_number,
        max_tries,
    })
}

/// The sum of `outputStatistics.rowCount` over the outputs; None when no output has one.
fn output_row_count(obj: &Map<String, Value>) -> Result<Option<i64>, Reject> {
    let outputs = match obj.get("outputs") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(wrong_type("outputs", "an array", other)),
    };
    let mut total: Option<i64> = None;
    for output in outputs {
        let Some(output) = output.as_object() else {
            return Err(wrong_type("outputs[]", "an object", output));
        };
        let stats = match output.get("outputFacets") {
            None | Some(Value::Null) => continue,
            Some(Value::Object(f)) => match f.get("outputStatistics") {
                None | Some(Value::Null) => continue,
                Some(Value::Object(s)) if !is_deleted(s) => s,
                Some(Value::Object(_)) => continue,
                Some(other) => {
                    return Err(wrong_type(
                        "outputs[].outputFacets.outputStatistics",
                        "an object",
                        other,
                    ));
                }
            },
            Some(other) => return Err(wrong_type("outputs[].outputFacets", "an object", other)),
        };
        let rows = optional_int(stats, "rowCount").map_err(|r| {
            Reject::new(
                r.reason,
                format!("outputs[].outputFacets.outputStatistics: {}", r.message),
            )
        })?;
        if let Some(rows) = rows {
            total = Some(
                total
                    .unwrap_or(0)
                    .checked_add(rows)
                    .ok_or_else(|| invalid_value("the sum of output rowCounts is too large"))?,
            );
        }
    }
    Ok(total)
}

/// The unmapped rest of the event, for `Event::extra`.
fn extra(
    obj: &Map<String, Value>,
    own_run_id: &str,
    parent: Option<&Parent>,
    run_facets: Option<&Map<String, Value>>,
    job_facets: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !MAPPED_TOP.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    extra.insert("ol_run_id".into(), Value::String(own_run_id.to_string()));
    if let Some(Value::String(p)) = obj.get("producer") {
        extra.insert("ol_producer".into(), Value::String(p.clone()));
    }
    if let Some(p) = parent {
        let mut m = Map::new();
        m.insert("namespace".into(), Value::String(p.namespace.clone()));
        m.insert("name".into(), Value::String(p.name.clone()));
        m.insert("runId".into(), Value::String(p.run_id.clone()));
        extra.insert("ol_parent".into(), Value::Object(m));
    }
    for (key, facets, mapped) in [
        ("ol_run_facets", run_facets, MAPPED_RUN_FACETS),
        ("ol_job_facets", job_facets, MAPPED_JOB_FACETS),
    ] {
        let kept = kept_facets(facets, mapped);
        if !kept.is_empty() {
            extra.insert(key.into(), Value::Object(kept));
        }
    }
    for key in ["inputs", "outputs"] {
        let names = dataset_names(obj.get(key));
        if !names.is_empty() {
            extra.insert(format!("ol_{key}"), Value::Array(names));
        }
    }
    extra
}

/// Unmapped facets without their `_producer`/`_schemaURL` boilerplate; an oversized
/// facet becomes `{"_omitted_bytes": N}`.
fn kept_facets(facets: Option<&Map<String, Value>>, mapped: &[&str]) -> Map<String, Value> {
    let mut kept = Map::new();
    for (name, facet) in facets.into_iter().flatten() {
        if mapped.contains(&name.as_str()) {
            continue;
        }
        let value = match facet {
            Value::Object(f) => Value::Object(
                f.iter()
                    .filter(|(k, _)| k.as_str() != "_producer" && k.as_str() != "_schemaURL")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        let bytes = value.to_string().len();
        let value = if bytes > MAX_KEPT_FACET_BYTES {
            let mut m = Map::new();
            m.insert("_omitted_bytes".into(), Value::from(bytes));
            Value::Object(m)
        } else {
            value
        };
        kept.insert(name.clone(), value);
    }
    kept
}

/// `namespace/name` of each dataset in `inputs` or `outputs`.
fn dataset_names(list: Option<&Value>) -> Vec<Value> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|d| {
            let ns = d.get("namespace")?.as_str()?;
            let name = d.get("name")?.as_str()?;
            Some(Value::String(format!("{ns}/{name}")))
        })
        .collect()
}

/// The `facets` object of `run` or `job`; absent or null is none.
fn facets<'a>(
    owner: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, Reject> {
    match owner.get("facets") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(f)) => Ok(Some(f)),
        Some(other) => Err(wrong_type(field, "an object", other)),
    }
}

/// One facet by name; a facet marked `_deleted` (the spec's way to retract one) is
/// absent.
fn facet<'a>(
    facets: Option<&'a Map<String, Value>>,
    name: &str,
    owner: &str,
) -> Result<Option<&'a Map<String, Value>>, Reject> {
    match facets.and_then(|f| f.get(name)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(f)) if is_deleted(f) => Ok(None),
        Some(Value::Object(f)) => Ok(Some(f)),
        Some(other) => Err(wrong_type(
            &format!("{owner}.facets.{name}"),
            "an object",
            other,
        )),
    }
}

fn is_deleted(f: &Map<String, Value>) -> bool {
    f.get("_deleted").and_then(Value::as_bool) == Some(true)
}

/// A UUID in its canonical text form: 8-4-4-4-12 hexadecimal digits, either case.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn required_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a Map<String, Value>, Reject> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(wrong_type(field, "an object", other)),
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a str, Reject> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn facet_str<'a>(
    f: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, Reject> {
    match f.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn missing(field: &str) -> Reject {
    Reject::new(
        RejectReason::MissingField,
        format!("missing required field `{field}`"),
    )
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> Reject {
    Reject::new(
        RejectReason::WrongType,
        format!("`{field}` must be {expected}, found {}", json_type(found)),
    )
}

fn invalid_value(why: &str) -> Reject {
    Reject::new(RejectReason::InvalidValue, why.to_string())
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::InputFormat;
    use crate::ingest::parse_line;

    const RUN: &str = "0190a8c4-7b2e-7d41-9f3a-2c5d6e7f8091";
    const PARENT: &str = "01234567-89ab-cdef-0123-456789abcdef";
    const T0: i64 = 1_793_502_000_000; // 2026-11-01T03:00:00Z

    /// A minimal COMPLETE event as the Python client writes it.
    fn base() -> Value {
        json!({
            "eventTime": "2026-11-01T03:00:00+00:00",
            "eventType": "COMPLETE",
            "inputs": [],
            "outputs": [],
            "job": {"facets": {}, "name": "orders_daily.load", "namespace": "airflow"},
            "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
            "run": {"facets": {}, "runId": RUN},
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        })
    }

    fn with(mut v: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = v.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        target.insert(key.to_string(), value);
        v
    }

    fn without(mut v: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
        v
    }

    fn ok(v: &Value) -> Event {
        parse_line(&v.to_string(), InputFormat::Auto).unwrap_or_else(|r| panic!("{v}: {r:?}"))
    }

    fn reason(v: &Value) -> RejectReason {
        parse_line(&v.to_string(), InputFormat::Auto)
            .map(|e| panic!("accepted {v}: {e:?}"))
            .unwrap_err()
            .reason
    }

    fn extra(e: &Event) -> Value {
        serde_json::from_str(e.extra.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn every_event_type() {
        let table = [
            (json!("START"), Status::Started),
            (json!("RUNNING"), Status::Running),
            (json!("COMPLETE"), Status::Success),
            (json!("FAIL"), Status::Failed),
            (json!("ABORT"), Status::Cancelled),
            (json!("OTHER"), Status::Other),
            (json!("complete"), Status::Success),
            (Value::Null, Status::Other),
        ];
        for (raw, want) in table {
            let e = ok(&with(base(), "/eventType", raw.clone()));
            assert_eq!(e.status, want, "{raw}");
        }
        assert_eq!(ok(&without(base(), "/eventType")).status, Status::Other);
        assert_eq!(
            reason(&with(base(), "/eventType", json!("RESUME"))),
            RejectReason::UnknownStatus
        );
        assert_eq!(
            reason(&with(base(), "/eventType", json!(3))),
            RejectReason::WrongType
        );
    }

    #[test]
    fn core_fields() {
        let e = ok(&base());
        assert_eq!(e.pipeline_id, "airflow/orders_daily.load");
        assert_eq!(e.run_id, RUN);
        assert_eq!(e.ts, T0);
        assert_eq!(e.attempt, 1);
        assert!(e.event_key.starts_with("h:"));
        for absent in [
            e.team.clone(),
            e.error_type.clone(),
            e.error_message.clone(),
            e.environment.clone(),
            e.task_id.clone(),
        ] {
            assert_eq!(absent, None);
        }
        assert_eq!(e.priority, None);
        assert_eq!(e.records_processed, None);
        assert_eq!(e.scheduled_at, None);
        assert_eq!(e.streaming, None);
        let fractional = with(
            base(),
            "/eventTime",
            json!("2026-11-01T04:00:00.123456+01:00"),
        );
        assert_eq!(ok(&fractional).ts, T0 + 123);
        // Forcing the format gives the same event as detection.
        let forced = parse_line(&base().to_string(), InputFormat::Openlineage).unwrap();
        assert_eq!(forced, e);
    }

    #[test]
    fn malformed_events() {
        let cases = [
            (without(base(), "/run/runId"), RejectReason::MissingField),
            (without(base(), "/run"), RejectReason::MissingField),
            (without(base(), "/eventTime"), RejectReason::MissingField),
            (without(base(), "/job"), RejectReason::MissingField),
            (without(base(), "/job/name"), RejectReason::MissingField),
            (
                without(base(), "/job/namespace"),
                RejectReason::MissingField,
            ),
            (
                with(base(), "/run/runId", json!("scheduled__2026-11-01")),
                RejectReason::InvalidOpenlineage,
            ),
            (
                with(
                    base(),
                    "/run/runId",
                    json!("0190a8c4-7b2e-7d41-9f3a-2c5d6e7f809"),
                ),
                RejectReason::InvalidOpenlineage,
            ),
            (
                with(
                    base(),
                    "/run/runId",
                    json!("0190a8c4x7b2e-7d41-9f3a-2c5d6e7f8091"),
                ),
                RejectReason::InvalidOpenlineage,
            ),
            (
                with(base(), "/run/runId", json!(12)),
                RejectReason::WrongType,
            ),
            (
                with(base(), "/job/name", json!("")),
                RejectReason::InvalidValue,
            ),
            (
                with(base(), "/job/name", json!("x".repeat(MAX_ID_CHARS))),
                RejectReason::InvalidValue,
            ),
            (
                with(base(), "/eventTime", json!("2026-11-01T03:00:00")),
                RejectReason::BadTimestamp,
            ),
            (
                with(base(), "/eventTime", json!("yesterday")),
                RejectReason::BadTimestamp,
            ),
            (
                with(base(), "/run/facets", json!([])),
                RejectReason::WrongType,
            ),
            (
                with(base(), "/run/facets/errorMessage", json!("boom")),
                RejectReason::WrongType,
            ),
            (with(base(), "/outputs", json!({})), RejectReason::WrongType),
        ];
        for (v, want) in cases {
            assert_eq!(reason(&v), want, "{v}");
        }
        let r = parse_line(
            &without(base(), "/eventTime").to_string(),
            InputFormat::Auto,
        )
        .unwrap_err();
        assert!(r.message.contains("eventTime"), "{}", r.message);
        let r = parse_line(
            &without(base(), "/run/runId").to_string(),
            InputFormat::Auto,
        )
        .unwrap_err();
        assert!(r.message.contains("run.runId"), "{}", r.message);
    }

    #[test]
    fn detection_per_line() {
        let native = json!({"pipeline_id": "p", "run_id": "r", "status": "ok", "timestamp": T0});
        let Value::Object(native) = native else {
            unreachable!()
        };
        assert!(!looks_like_openlineage(&native));
        let Value::Object(ol) = base() else {
            unreachable!()
        };
        assert!(looks_like_openlineage(&ol));
        let Value::Object(timeless) = without(base(), "/eventTime") else {
            unreachable!()
        };
        assert!(looks_like_openlineage(&timeless));
        // A native line stays native even with a `job` object among its extras.
        let Value::Object(mixed) =
            json!({"pipeline_id": "p", "run_id": "r", "status": "ok", "timestamp": T0, "job": {}})
        else {
            unreachable!()
        };
        assert!(!looks_like_openlineage(&mixed));
    }

    fn parent_facet(namespace: &str, name: &str, run_id: &str) -> Value {
        json!({
            "_producer": "p", "_schemaURL": "s",
            "job": {"facets": {}, "namespace": namespace, "name": name},
            "run": {"facets": {}, "runId": run_id}
        })
    }

    #[test]
    fn tries_group_under_the_parent_run() {
        let try1 = with(
            with(
                base(),
                "/run/facets/parent",
                parent_facet("airflow", "orders_daily", PARENT),
            ),
            "/run/facets/airflow",
            json!({"taskInstance": {"try_number": 1}}),
        );
        let try2 = with(
            with(
                with(
                    try1.clone(),
                    "/run/runId",
                    json!("0190a8c4-0000-7d41-9f3a-2c5d6e7f8091"),
                ),
                "/run/facets/airflow",
                json!({"taskInstance": {"try_number": "2"}}),
            ),
            "/eventType",
            json!("FAIL"),
        );
        let (a, b) = (ok(&try1), ok(&try2));
        assert_eq!(a.run_id, PARENT);
        assert_eq!(b.run_id, PARENT);
        assert_eq!((a.attempt, b.attempt), (1, 2));
        // An early try's FAIL stays `failed`; the run merge decides with the later try.
        assert_eq!(b.status, Status::Failed);
        assert_ne!(a.event_key, b.event_key);
        let x = extra(&b);
        assert_eq!(x["ol_run_id"], "0190a8c4-0000-7d41-9f3a-2c5d6e7f8091");
        assert_eq!(x["ol_parent"]["runId"], PARENT);
        assert_eq!(x["ol_parent"]["name"], "orders_daily");
        assert_eq!(
            x["ol_run_facets"]["airflow"]["taskInstance"]["try_number"],
            "2"
        );

        // A parent of the same job (a restart of the job itself) is not a try grouping.
        let same = with(
            base(),
            "/run/facets/parent",
            parent_facet("airflow", "orders_daily.load", PARENT),
        );
        assert_eq!(ok(&same).run_id, RUN);
        // Same name, other namespace: another job.
        let other_ns = with(
            base(),
            "/run/facets/parent",
            parent_facet("spark", "orders_daily.load", PARENT),
        );
        assert_eq!(ok(&other_ns).run_id, PARENT);

        let bad = [
            parent_facet("airflow", "orders_daily", "not-a-uuid"),
            json!({"run": {"runId": PARENT}}),
            json!({"job": {"namespace": "a", "name": "b"}}),
        ];
        for p in bad {
            assert_eq!(
                reason(&with(base(), "/run/facets/parent", p.clone())),
                RejectReason::InvalidOpenlineage,
                "{p}"
            );
        }
        // FAIL of a try Airflow will retry → retrying; the last allowed try → failed.
        let retry_cases = [
            (
                json!({"taskInstance": {"try_number": 1}, "task": {"retries": 2}}),
                Status::Retrying,
            ),
            (
                json!({"taskInstance": {"try_number": 2}, "task": {"retries": 2}}),
                Status::Retrying,
            ),
            (
                json!({"taskInstance": {"try_number": 3}, "task": {"retries": 2}}),
                Status::Failed,
            ),
            (
                json!({"taskInstance": {"try_number": 1}, "task": {"retries": 0}}),
                Status::Failed,
            ),
            // A cleared task gets more tries: max_tries wins over retries.
            (
                json!({"taskInstance": {"try_number": 3, "max_tries": 4}, "task": {"retries": 2}}),
                Status::Retrying,
            ),
            (json!({"taskInstance": {"try_number": 1}}), Status::Failed),
            (json!({"task": {"retries": 3}}), Status::Failed),
        ];
        for (facet, want) in retry_cases {
            let v = with(
                with(base(), "/eventType", json!("FAIL")),
                "/run/facets/airflow",
                facet.clone(),
            );
            assert_eq!(ok(&v).status, want, "{facet}");
            // Only a FAIL is reinterpreted.
            let done = with(base(), "/run/facets/airflow", facet.clone());
            assert_eq!(ok(&done).status, Status::Success, "{facet}");
        }
        assert_eq!(
            reason(&with(
                base(),
                "/run/facets/airflow",
                json!({"task": {"retries": -1}})
            )),
            RejectReason::NegativeNumber
        );

        let try_cases = [
            (json!(0), RejectReason::InvalidValue),
            (json!(-1), RejectReason::NegativeNumber),
            (json!("two"), RejectReason::InvalidValue),
            (json!(1.5), RejectReason::WrongType),
        ];
        for (n, want) in try_cases {
            let v = with(
                base(),
                "/run/facets/airflow",
                json!({"taskInstance": {"try_number": n}}),
            );
            assert_eq!(reason(&v), want, "{n}");
        }
    }

    #[test]
    fn error_message_and_type() {
        let py_trace = "Traceback (most recent call last):\n  File \"/opt/dags/load.py\", line 12, in load\n    raise ConnectionError(\"warehouse unreachable\")\nrequests.exceptions.ConnectionError: warehouse unreachable\n";
        let java_trace = "java.lang.IllegalStateException: no partitions\n\tat io.x.Job.run(Job.java:13)\nCaused by: java.io.IOException: disk\n\t... 4 more";
        let chained = "Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'id'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"a.py\", line 3\nValueError: bad id";
        let table = [
            // (message, stackTrace, error_type)
            (
                json!("warehouse unreachable"),
                json!(py_trace),
                Some("ConnectionError"),
            ),
            (
                json!("no partitions"),
                json!(java_trace),
                Some("IllegalStateException"),
            ),
            (json!("bad id"), json!(chained), Some("ValueError")),
            (
                json!("ValueError: bad row 17"),
                Value::Null,
                Some("ValueError"),
            ),
            (
                json!("org.apache.spark.sql.AnalysisException: Table or view not found: t"),
                Value::Null,
                Some("AnalysisException"),
            ),
            (
                json!("x"),
                json!(
                    "Exception in thread \"main\" java.lang.RuntimeException: A test exception\n\tat io.openlineage.SomeClass.method(SomeClass.java:13)"
                ),
                Some("RuntimeException"),
            ),
            (
                json!("stopped"),
                json!(
                    "Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyboardInterrupt"
                ),
                Some("KeyboardInterrupt"),
            ),
            (json!("ERROR: relation does not exist"), Value::Null, None),
            (
                json!("Connection refused: 10.2.3.4:5439"),
                Value::Null,
                None,
            ),
            (json!("Timeout"), Value::Null, None),
            (json!("task failed"), json!("no trace here"), None),
        ];
        for (message, trace, want) in table {
            let mut f = json!({"message": message, "programmingLanguage": "python"});
            if !trace.is_null() {
                f["stackTrace"] = trace.clone();
            }
            let e = ok(&with(
                with(base(), "/eventType", json!("FAIL")),
                "/run/facets/errorMessage",
                f,
            ));
            assert_eq!(e.error_type.as_deref(), want, "{message} / {trace}");
            assert_eq!(e.error_message.as_deref(), message.as_str(), "{message}");
            // The stack trace is not copied into extra.
            assert!(extra(&e).get("ol_run_facets").is_none(), "{message}");
        }
        assert_eq!(
            reason(&with(
                base(),
                "/run/facets/errorMessage",
                json!({"message": 5})
            )),
            RejectReason::WrongType
        );
    }

    #[test]
    fn ownership_gives_the_team() {
        let table = [
            (
                json!([{"name": "user:jdoe"}, {"name": "team:payments", "type": "MAINTAINER"}]),
                Some("payments"),
            ),
            (json!([{"name": "TEAM: growth "}]), Some("growth")),
            (
                json!([{"name": "user:jdoe"}, {"name": "application:etl"}]),
                Some("user:jdoe"),
            ),
            (
                json!([{"name": "  "}, {"name": "data-eng"}]),
                Some("data-eng"),
            ),
            (json!([]), None),
            (Value::Null, None),
        ];
        for (owners, want) in table {
            let e = ok(&with(
                base(),
                "/job/facets/ownership",
                json!({"owners": owners}),
            ));
            assert_eq!(e.team.as_deref(), want, "{owners}");
        }
        let bad = [
            (json!({"owners": "team:x"}), RejectReason::WrongType),
            (json!({"owners": [{"name": 3}]}), RejectReason::WrongType),
            (
                json!({"owners": [{"type": "MAINTAINER"}]}),
                RejectReason::InvalidOpenlineage,
            ),
        ];
        for (f, want) in bad {
            assert_eq!(
                reason(&with(base(), "/job/facets/ownership", f.clone())),
                want,
                "{f}"
            );
        }
    }

    #[test]
    fn job_type_nominal_time_and_rows() {
        for (kind, want) in [
            ("STREAMING", Some(true)),
            ("SERVICE", Some(true)),
            ("BATCH", Some(false)),
            ("batch", Some(false)),
            ("MICRO_BATCH", None),
        ] {
            let e = ok(&with(
                base(),
                "/job/facets/jobType",
                json!({"processingType": kind, "integration": "FLINK"}),
            ));
            assert_eq!(e.streaming, want, "{kind}");
        }

        let nominal = with(
            base(),
            "/run/facets/nominalTime",
            json!({"nominalStartTime": "2026-11-01T02:00:00.000Z", "nominalEndTime": "2026-11-01T03:00:00.000Z"}),
        );
        assert_eq!(ok(&nominal).scheduled_at, Some(T0 - 3_600_000));
        let naive = with(
            base(),
            "/run/facets/nominalTime",
            json!({"nominalStartTime": "2026-11-01T02:00:00"}),
        );
        assert_eq!(reason(&naive), RejectReason::BadTimestamp);

        let out = |rows: Value| {
            json!({"namespace": "pg", "name": "t", "facets": {},
                   "outputFacets": {"outputStatistics": {"rowCount": rows, "size": 10}}})
        };
        let rows_table = [
            (
                json!([out(json!(1200)), out(json!("800")), {"namespace": "s3", "name": "x"}]),
                Some(2000),
            ),
            (json!([out(json!(0))]), Some(0)),
            (
                json!([{"namespace": "s3", "name": "x", "outputFacets": {}}]),
                None,
            ),
            (json!([]), None),
        ];
        for (outputs, want) in rows_table {
            let e = ok(&with(base(), "/outputs", outputs.clone()));
            assert_eq!(e.records_processed, want, "{outputs}");
        }
        assert_eq!(
            reason(&with(base(), "/outputs", json!([out(json!(-5))]))),
            RejectReason::NegativeNumber
        );
        assert_eq!(
            reason(&with(base(), "/outputs", json!([out(json!(1.5))]))),
            RejectReason::WrongType
        );
        // A retracted facet counts as absent.
        let deleted = with(base(), "/job/facets/ownership", json!({"_deleted": true}));
        assert_eq!(ok(&deleted).team, None);
    }

    #[test]
    fn unknown_facets_are_kept_small() {
        let mut v = with(
            base(),
            "/run/facets/tags",
            json!({"_producer": "p", "_schemaURL": "s", "tags": [{"key": "k", "value": "v"}]}),
        );
        v = with(
            v,
            "/job/facets/sql",
            json!({"query": "x".repeat(MAX_KEPT_FACET_BYTES)}),
        );
        v = with(
            v,
            "/job/facets/ownership",
            json!({"owners": [{"name": "team:a"}]}),
        );
        v = with(
            v,
            "/inputs",
            json!([{"namespace": "pg", "name": "raw.orders"}]),
        );
        v = with(v, "/custom", json!({"k": 1}));
        let x = extra(&ok(&v));
        assert_eq!(
            x["ol_run_facets"]["tags"],
            json!({"tags": [{"key": "k", "value": "v"}]})
        );
        assert_eq!(
            x["ol_job_facets"]["sql"]["_omitted_bytes"],
            MAX_KEPT_FACET_BYTES + 12
        );
        assert!(x["ol_job_facets"].get("ownership").is_none());
        assert_eq!(x["ol_inputs"], json!(["pg/raw.orders"]));
        assert_eq!(x["custom"], json!({"k": 1}));
        assert_eq!(x["ol_run_id"], RUN);
        assert!(x.get("run").is_none() && x.get("eventTime").is_none());
    }

    #[test]
    fn content_key_deduplicates_identical_events() {
        // The client's spacing and key order differ from serde's; the key does not.
        let spaced = r#"{"eventType": "COMPLETE", "eventTime": "2026-11-01T03:00:00+00:00", "run": {"runId": "0190a8c4-7b2e-7d41-9f3a-2c5d6e7f8091", "facets": {}}, "job": {"namespace": "airflow", "name": "orders_daily.load", "facets": {}}, "inputs": [], "outputs": [], "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}"#;
        let a = parse_line(spaced, InputFormat::Auto).unwrap();
        assert_eq!(a.event_key, ok(&base()).event_key);
        let later = with(base(), "/eventTime", json!("2026-11-01T03:00:01+00:00"));
        assert_ne!(ok(&later).event_key, a.event_key);
    }

    #[test]
    fn uuid_and_exception_helpers() {
        for (s, want) in [
            (RUN, true),
            ("0190A8C4-7B2E-7D41-9F3A-2C5D6E7F8091", true),
            ("{0190a8c4-7b2e-7d41-9f3a-2c5d6e7f8091}", false),
            ("0190a8c47b2e7d419f3a2c5d6e7f8091", false),
            ("0190a8c4-7b2e-7d41-9f3a-2c5d6e7f809g", false),
            ("", false),
        ] {
            assert_eq!(is_uuid(s), want, "{s}");
        }
        for (line, need_colon, want) in [
            (
                "psycopg2.errors.UndefinedTable: relation",
                true,
                Some("UndefinedTable"),
            ),
            ("Foo$BarException: x", true, Some("Foo$BarException")),
            ("  ValueError: indented", false, None),
            ("ValueError", true, None),
            ("ValueError", false, Some("ValueError")),
            ("a..B: x", true, None),
            ("Caused by: java.io.IOException: x", true, None),
        ] {
            assert_eq!(exception_name(line, need_colon).as_deref(), want, "{line}");
        }
    }
}
