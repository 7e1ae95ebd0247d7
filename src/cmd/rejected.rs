//! `pipemon rejected` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::RejectedArgs;

pub fn run(_ctx: &Context, _args: &RejectedArgs) -> Result<()> {
    bail!("`pipemon rejected` is not implemented yet")
}
