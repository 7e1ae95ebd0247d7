//! `pipemon query NAME`, and the take-home's `--data-file FILE --query NAME`.

use std::path::Path;

use anyhow::Result;

use super::Context;
use crate::cli::{InputFormat, QueryArgs};
use crate::query::{Filter, run_named};
use crate::store::import::{ImportOptions, import_paths};

pub fn run(ctx: &Context, args: &QueryArgs) -> Result<()> {
    let since = match &args.since {
        None => None,
        Some(s) => Some(crate::time::parse_since(s, crate::time::now_ms())?),
    };
    let filter = Filter {
        pipeline: args.pipeline.clone(),
        team: args.team.clone(),
        since,
        limit: args.limit,
    };
    let store = ctx.open_read_only()?;
    let conn = store.conn()?;
    run_named(&conn, &args.name, &filter)?.print(ctx.format)?;
    Ok(())
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
