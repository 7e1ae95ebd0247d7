//! `pipemon report [--out FILE] [--since 14d] [--team T] [--pipeline GLOB]`: writes
//! the self-contained HTML health report (see `report`), atomically.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use globset::Glob;

use super::Context;
use crate::cli::ReportArgs;
use crate::report::{ReportOptions, Since, gather, render};
use crate::store::Store;

/// Opens the database for `report` and `metrics`: read-only, never created,
/// migrated or written.
pub fn open_for_reading(ctx: &Context) -> Result<Store> {
    ctx.open_read_only()
}

/// Parses `--since`: a duration before the latest event, or a time.
pub fn parse_since(s: &str) -> Result<Since> {
    if let Some(ms) = crate::time::parse_duration_ms(s) {
        return Ok(Since::Before(ms));
    }
    if let Some(t) = crate::time::parse_user_time(s) {
        return Ok(Since::At(t));
    }
    Err(crate::error::hinted(
        format!("--since `{s}` is neither a duration nor a time"),
        "give a duration before the latest event (14d, 36h) or a time (2026-11-01, RFC 3339, epoch ms)",
    )
    .into())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so a reader (a browser, a scrape) never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<()> {
    let since = parse_since(&args.since)?;
    let pipeline = match &args.pipeline {
        None => None,
        Some(g) => Some(
            Glob::new(g)
                .map_err(|e| {
                    crate::error::hinted(
                        format!("--pipeline `{g}` is not a glob: {e}"),
                        "use * and ? wildcards, e.g. payments_*",
                    )
                })?
                .compile_matcher(),
        ),
    };
    let config = crate::config::load(ctx.config.as_deref())?;
    let began = std::time::Instant::now();
    let store = open_for_reading(ctx)?;
    let conn = store.conn()?;
    let opts = ReportOptions {
        since,
        team: args.team.clone(),
        pipeline,
        generated_at: crate::time::now_ms(),
    };
    let data = gather(&conn, &config.detect, &opts)?;
    let html = render(&data);
    write_atomically(&args.out, html.as_bytes())?;
    eprintln!(
        "wrote {} ({} pipelines, {} alerts, {:.1} MiB) in {:.2}s",
        args.out.display(),
        data.series.len(),
        data.main["alerts"].as_array().map_or(0, Vec::len),
        html.len() as f64 / (1024.0 * 1024.0),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
