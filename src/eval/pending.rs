//! `eval-pending.toml`: the checks `pipemon eval` reports but does not yet require.
//!
//! Each entry is a debt: a check whose part of pipemon is still being built. The file
//! lives at the repository root, is read from the current directory, and is empty
//! (or absent) when every check is required.
//!
//! ```toml
//! not_yet_required = [2, 6]
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// The file name, looked up in the current directory.
pub const FILE: &str = "eval-pending.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingFile {
    #[serde(default)]
    not_yet_required: Vec<u32>,
}

/// Parses the file's text; every entry must be a check number 1-6.
pub fn parse(text: &str) -> Result<BTreeSet<u32>> {
    let f: PendingFile = toml::from_str(text).context("eval-pending.toml")?;
    for n in &f.not_yet_required {
        if !(1..=6).contains(n) {
            bail!("eval-pending.toml: {n} is not a check number (1-6)");
        }
    }
    Ok(f.not_yet_required.into_iter().collect())
}

/// Reads `path` if it exists; a missing file means nothing is pending.
pub fn load(path: &Path) -> Result<BTreeSet<u32>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert_eq!(parse("").unwrap(), BTreeSet::new());
        assert_eq!(
            parse("# debts\nnot_yet_required = [6, 2]\n").unwrap(),
            BTreeSet::from([2, 6])
        );
        assert!(parse("not_yet_required = [7]").is_err());
        assert!(parse("pending = [1]").is_err());
    }
}
