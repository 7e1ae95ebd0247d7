//! The configuration file (TOML): `--config PATH`, else `$PIPEMON_CONFIG`, else
//! `./pipemon.toml`, else built-in defaults. Unknown keys are errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::detect::DetectConfig;

/// The whole configuration, validated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Detector thresholds and windows.
    pub detect: DetectConfig,
}

/// Where the configuration comes from: an explicit path must exist; the default
/// `./pipemon.toml` is optional.
pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let default = PathBuf::from("pipemon.toml");
            default.exists().then_some(default)
        }
    }
}

/// Loads and validates the configuration.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let Some(path) = resolve_path(explicit) else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading configuration {}", path.display()))?;
    parse(&text).with_context(|| format!("in configuration {}", path.display()))
}

/// Parses configuration text.
pub fn parse(text: &str) -> Result<Config> {
    Ok(toml::from_str(text)?)
}
