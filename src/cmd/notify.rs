//! `pipemon notify` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::NotifyArgs;

pub fn run(_ctx: &Context, _args: &NotifyArgs) -> Result<()> {
    bail!("`pipemon notify` is not implemented yet")
}
