//! `pipemon import` (placeholder until its module lands).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::ImportArgs;

pub fn run(_ctx: &Context, _args: &ImportArgs) -> Result<()> {
    bail!("`pipemon import` is not implemented yet")
}
