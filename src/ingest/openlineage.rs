//! OpenLineage `RunEvent` → `Event` (placeholder until the mapping lands).

use serde_json::{Map, Value};

use super::{Reject, RejectReason};
use crate::model::Event;

/// An object is taken for OpenLineage when it has `eventTime` and a `run` or `job`
/// object and no native `pipeline_id`.
pub fn looks_like_openlineage(obj: &Map<String, Value>) -> bool {
    !obj.contains_key("pipeline_id")
        && obj.contains_key("eventTime")
        && (obj.get("run").is_some_and(Value::is_object)
            || obj.get("job").is_some_and(Value::is_object))
}

pub fn parse(_obj: Map<String, Value>) -> Result<Event, Reject> {
    Err(Reject::new(
        RejectReason::InvalidOpenlineage,
        "OpenLineage input is not supported yet",
    ))
}
