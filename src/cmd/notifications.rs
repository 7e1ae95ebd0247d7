//! `pipemon notifications` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::NotificationsArgs;

pub fn run(_ctx: &Context, _args: &NotificationsArgs) -> Result<()> {
    bail!("`pipemon notifications` is not implemented yet")
}
