//! `pipemon metrics [--out FILE]`: writes the Prometheus text exposition (see
//! `metrics`) to standard output, or atomically to FILE for node_exporter's
//! textfile collector.

use std::io::Write;

use anyhow::Result;

use super::Context;
use super::report::{open_for_reading, write_atomically};
use crate::cli::MetricsArgs;

pub fn run(ctx: &Context, args: &MetricsArgs) -> Result<()> {
    let store = open_for_reading(ctx)?;
    let conn = store.conn()?;
    let text = crate::metrics::render(&conn)?;
    match &args.out {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => Ok(r?),
            }
        }
    }
}
