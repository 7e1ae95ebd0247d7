//! `pipemon ack` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::AckArgs;

pub fn run(_ctx: &Context, _args: &AckArgs) -> Result<()> {
    bail!("`pipemon ack` is not implemented yet")
}
