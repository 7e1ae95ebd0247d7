//! `eval-pending.toml`: the checks `pipemon eval` reports but does not yet require.
//!
//! Each entry is a debt: a check whose part of pipemon is still being built. The file
//! lives at the repository root, is read from the current directory, and is empty
//! (or absent) when every check is required.
//!
//! ```toml
//! not_yet_required = [2, 6]
//! kinds_not_yet_required = ["stuck_run"]
//! ```
//!
//! A kind listed in `kinds_not_yet_required` is scored and shown but neither checks 1
//! and 2 of one evaluation nor the targets of a suite (`--suite`) require it; every
//! other kind still must meet its targets.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::model::AlertKind;

/// The file name, looked up in the current directory.
pub const FILE: &str = "eval-pending.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingFile {
    #[serde(default)]
    not_yet_required: Vec<u32>,
    #[serde(default)]
    kinds_not_yet_required: Vec<String>,
}

/// What is reported but not yet required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pending {
    pub checks: BTreeSet<u32>,
    pub kinds: BTreeSet<String>,
}

/// Parses the file's text; every entry must be a check number 1-6 or an alert kind.
pub fn parse(text: &str) -> Result<Pending> {
    let f: PendingFile = toml::from_str(text).context("eval-pending.toml")?;
    for n in &f.not_yet_required {
        if !(1..=6).contains(n) {
            bail!("eval-pending.toml: {n} is not a check number (1-6)");
        }
    }
    for k in &f.kinds_not_yet_required {
        if AlertKind::parse(k).is_none() {
            let all: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
            bail!(
                "eval-pending.toml: `{k}` is not an alert kind (one of {})",
                all.join(", ")
            );
        }
    }
    Ok(Pending {
        checks: f.not_yet_required.into_iter().collect(),
        kinds: f.kinds_not_yet_required.into_iter().collect(),
    })
}

/// Reads `path` if it exists; a missing file means nothing is pending.
pub fn load(path: &Path) -> Result<Pending> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pending::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert_eq!(parse("").unwrap(), Pending::default());
        assert_eq!(
            parse("# debts\nnot_yet_required = [6, 2]\n")
                .unwrap()
                .checks,
            BTreeSet::from([2, 6])
        );
        let p = parse("kinds_not_yet_required = [\"stuck_run\", \"missed_run\"]").unwrap();
        assert_eq!(
            p.kinds,
            BTreeSet::from(["missed_run".to_string(), "stuck_run".to_string()])
        );
        assert!(p.checks.is_empty());
        let err = parse("kinds_not_yet_required = [\"stuck\"]").unwrap_err();
        assert!(
            format!("{err:#}").contains("`stuck` is not an alert kind"),
            "{err:#}"
        );
        assert!(parse("not_yet_required = [7]").is_err());
        assert!(parse("pending = [1]").is_err());
    }
}
