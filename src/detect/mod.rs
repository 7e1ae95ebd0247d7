//! Detection (placeholder until the detectors land).

use serde::Deserialize;

/// Detector thresholds (`[detect]` in the configuration).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {}
