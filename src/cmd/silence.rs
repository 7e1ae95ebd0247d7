//! `pipemon silence` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::SilenceArgs;

pub fn run(_ctx: &Context, _args: &SilenceArgs) -> Result<()> {
    bail!("`pipemon silence` is not implemented yet")
}
