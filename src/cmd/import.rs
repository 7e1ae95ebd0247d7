//! `pipemon import FILE...`: load events, print one summary.
//!
//! The summary goes to stderr for people, or to stdout as the events.md JSON object
//! with `--format json`. The first few rejected lines are shown with file and line.
//! An input whose every non-blank line was rejected makes the command exit 1 (after
//! the summary), so a cron job fed the wrong file is told.

use anyhow::{Result, bail};

use super::Context;
use crate::cli::{Format, ImportArgs};
use crate::error::Unsatisfied;
use crate::store::import::{ImportOptions, ImportSummary, import_paths};

pub fn run(ctx: &Context, args: &ImportArgs) -> Result<()> {
    let store = ctx.open_store()?;
    let opts = ImportOptions {
        strict: args.strict,
        input_format: args.input_format,
        progress: !args.no_progress,
    };
    let summary = import_paths(&store, &args.files, &opts)?;
    report(ctx.format, &summary)?;
    if !summary.nothing_accepted.is_empty() {
        // Exit status 1: the import ran, and an input gave nothing usable — most
        // likely the wrong file or format, which cron should hear about.
        bail!(Unsatisfied(format!(
            "no event accepted from {}: every non-blank line was rejected (see `pipemon rejected`)",
            summary.nothing_accepted.join(", ")
        )));
    }
    Ok(())
}

/// Prints an import summary in the chosen format.
pub fn report(format: Format, s: &ImportSummary) -> Result<()> {
    for line in &s.first_rejections {
        eprintln!("rejected {line}");
    }
    let shown = s.first_rejections.len() as u64;
    if s.rejected > shown {
        eprintln!(
            "… and {} more rejected lines: see `pipemon rejected`",
            s.rejected - shown
        );
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    let reasons: Vec<String> = s
        .rejected_by_reason
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    eprintln!(
        "imported {}: {} lines, {} events inserted, {} duplicates, {} rejected{}, {} blank in {:.2}s ({:.0} events/s)",
        s.files.join(", "),
        s.lines,
        s.inserted,
        s.duplicates,
        s.rejected,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        s.blank,
        s.seconds,
        s.events_per_second
    );
    Ok(())
}
