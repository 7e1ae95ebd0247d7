//! `pipemon query` (placeholder).

use std::path::Path;

use anyhow::{Result, bail};

use super::Context;
use crate::cli::QueryArgs;

pub fn run(_ctx: &Context, _args: &QueryArgs) -> Result<()> {
    bail!("`pipemon query` is not implemented yet")
}

pub fn run_take_home(_ctx: &Context, _file: &Path, _query: &str) -> Result<()> {
    bail!("`pipemon --data-file` is not implemented yet")
}
