//! `pipemon config` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::ConfigArgs;

pub fn run(_ctx: &Context, _args: &ConfigArgs) -> Result<()> {
    bail!("`pipemon config` is not implemented yet")
}
