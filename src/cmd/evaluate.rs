//! `pipemon evaluate` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::EvaluateArgs;

pub fn run(_ctx: &Context, _args: &EvaluateArgs) -> Result<()> {
    bail!("`pipemon evaluate` is not implemented yet")
}
