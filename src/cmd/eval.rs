//! `pipemon eval` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::EvalArgs;

pub fn run(_ctx: &Context, _args: &EvalArgs) -> Result<()> {
    bail!("`pipemon eval` is not implemented yet")
}
