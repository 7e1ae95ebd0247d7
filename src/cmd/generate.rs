//! `pipemon generate`: write synthetic events and their ground truth into a directory.

use std::time::Instant;

use anyhow::Result;

use super::Context;
use crate::cli::GenerateArgs;
use crate::error::hinted;
use crate::generate::{self, GenerateOptions};
use crate::time::parse_user_time;

/// Builds the generator options from the command line (the start is floored to its
/// midnight UTC, which cron phases rely on).
pub fn options(args: &GenerateArgs) -> Result<GenerateOptions> {
    let start = match &args.start {
        None => GenerateOptions::DEFAULT_START,
        Some(s) => parse_user_time(s).ok_or_else(|| {
            hinted(
                format!("`--start {s}` is not a date or time"),
                "give a date such as 2026-10-01 or an RFC 3339 time",
            )
        })?,
    };
    Ok(GenerateOptions {
        pipelines: args.pipelines,
        days: args.days,
        seed: args.seed,
        start: start - start.rem_euclid(generate::world::DAY),
    })
}

pub fn run(_ctx: &Context, args: &GenerateArgs) -> Result<()> {
    let opts = options(args)?;
    let began = Instant::now();
    let ds = generate::generate(&opts)?;
    let path = generate::write_dataset(&ds, &args.out, args.gzip)?;
    let secs = began.elapsed().as_secs_f64();
    let t = &ds.truth;
    eprintln!(
        "wrote {} ({} lines: {} events, {} duplicates, {} malformed, {} blank) and truth.json ({} incidents, {} pipelines) in {:.2}s ({:.0} lines/s)",
        path.display(),
        t.lines.total,
        t.lines.events,
        t.lines.duplicates,
        t.lines.rejected,
        t.lines.blank,
        t.incidents.len(),
        t.pipelines.len(),
        secs,
        t.lines.total as f64 / secs.max(1e-9),
    );
    Ok(())
}
