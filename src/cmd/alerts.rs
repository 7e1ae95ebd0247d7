//! `pipemon alerts` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::AlertsArgs;

pub fn run(_ctx: &Context, _args: &AlertsArgs) -> Result<()> {
    bail!("`pipemon alerts` is not implemented yet")
}
