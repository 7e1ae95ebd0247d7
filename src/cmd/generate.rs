//! `pipemon generate` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::GenerateArgs;

pub fn run(_ctx: &Context, _args: &GenerateArgs) -> Result<()> {
    bail!("`pipemon generate` is not implemented yet")
}
