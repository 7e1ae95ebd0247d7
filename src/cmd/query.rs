//! `pipemon query NAME`, and the take-home's `--data-file FILE --query NAME`.

use std::path::Path;

use anyhow::Result;

use super::Context;
use crate::cli::{InputFormat, QueryArgs};
use crate::query::{Filter, run_named};
use crate::store::import::{ImportOptions, import_paths};

pub fn run(ctx: &Context, args: &QueryArgs) -> Result<()> {
    if !crate::query::NAMES.contains(&args.name.as_str()) {
        anyhow::bail!(crate::error::hinted(
            format!("unknown query `{}`", args.name),
            format!("the queries are: {}", crate::query::NAMES.join(", ")),
        ));
    }
    let since = match &args.since {
        None => None,
        Some(s) => Some(crate::time::parse_since(s, crate::time::now_ms())?),
    };
    let filter = Filter {
        pipeline: args.pipeline.clone(),
        team: args.team.clone(),
        since,
        limit: args.limit,
        failing_first: ctx.format == crate::cli::Format::Table,
    };
    let store = ctx.open_read_only()?;
    let conn = store.conn()?;
    let mut rows = run_named(&conn, &args.name, &filter)?;
    if ctx.format == crate::cli::Format::Table && !ctx.wide {
        rows = rows.prefer(first_columns(&args.name));
    }
    ctx.print(&rows, args.limit.is_some())?;
    Ok(())
}

/// The columns a person reads first in each query's table (JSON and CSV keep the
/// view's own order).
fn first_columns(name: &str) -> &'static [&'static str] {
    match name {
        "pipeline_health" => &[
            "pipeline_id",
            "team",
            "last_status",
            "consecutive_failures",
            "open_alerts",
            "success_rate",
            "last_run_at",
            "last_success_at",
            "duration_p50_ms",
        ],
        "team_health" => &[
            "team",
            "pipelines",
            "pipelines_failing",
            "open_alerts",
            "success_rate",
            "last_run_at",
        ],
        "runs" => &[
            "pipeline_id",
            "run_id",
            "outcome",
            "started_at",
            "duration_ms",
            "error_type",
        ],
        "failures" => &[
            "pipeline_id",
            "failed_at",
            "error_type",
            "error_message",
            "run_id",
        ],
        _ => &[],
    }
}

/// `pipemon --data-file FILE --query NAME`: import, then answer the query.
pub fn run_take_home(ctx: &Context, file: &Path, query: &str) -> Result<()> {
    let store = ctx.open_store()?;
    let opts = ImportOptions {
        strict: false,
        input_format: InputFormat::Auto,
        progress: true,
    };
    let summary = import_paths(&store, &[file.to_path_buf()], &opts)?;
    super::import::report(crate::cli::Format::Table, &summary)?;
    let conn = store.conn()?;
    run_named(&conn, query, &Filter::default())?.print(ctx.format)?;
    Ok(())
}
