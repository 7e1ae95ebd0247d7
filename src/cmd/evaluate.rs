//! `pipemon evaluate [--now TIME] [--rebuild] [--no-notify]`: detect conditions as
//! of TIME, open/update/resolve alerts, then notify. A short summary goes to
//! stderr; with `--format json` the alerts opened or resolved go to stdout as JSON
//! Lines (alerts.md objects).

use anyhow::{Result, bail};

use super::Context;
use crate::cli::{EvaluateArgs, Format};
use crate::detect::alerts::to_rows;
use crate::detect::{EvaluateOptions, EvaluateSummary, evaluate};
use crate::model::Millis;
use crate::store::Store;

/// Reads `--now`: RFC 3339 (or a date), `now`, or `data-end`.
pub fn parse_now(store: &Store, raw: &str) -> Result<Millis> {
    match raw.trim() {
        "now" => Ok(crate::time::now_ms()),
        "data-end" => {
            let conn = store.conn()?;
            match crate::store::data_end(&conn)? {
                Some(t) => Ok(t),
                None => bail!(crate::error::hinted(
                    "--now data-end: the database holds no events yet",
                    "import events first: `pipemon import FILE`",
                )),
            }
        }
        other => match crate::time::parse_user_time(other) {
            Some(t) => Ok(t),
            None => bail!(crate::error::hinted(
                format!("--now `{other}` is not a time"),
                "use RFC 3339 (2026-11-01T03:00:00Z), `now`, or `data-end`",
            )),
        },
    }
}

pub fn run(ctx: &Context, args: &EvaluateArgs) -> Result<()> {
    let config = crate::config::load(ctx.config.as_deref())?;
    let store = ctx.open_store()?;
    let now = parse_now(&store, &args.now)?;
    let summary = evaluate(
        &store,
        &config.detect,
        &config.alert,
        &EvaluateOptions {
            now,
            rebuild: args.rebuild,
            notify: !args.no_notify,
        },
    )?;
    eprintln!("{}", describe(&summary));
    if ctx.format == Format::Json {
        // The alerts.md objects, keys in the documented order (as `pipemon alerts`).
        to_rows(&summary.alerts, true).print(Format::Json)?;
    }
    Ok(())
}

/// The one-paragraph summary for people.
pub fn describe(s: &EvaluateSummary) -> String {
    let sev = |m: &std::collections::BTreeMap<String, usize>| -> String {
        let parts: Vec<String> = ["critical", "high", "medium", "low"]
            .iter()
            .filter_map(|k| m.get(*k).map(|n| format!("{n} {k}")))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    };
    format!(
        "evaluated {} pipelines as of {} ({}, {} runs examined, {:.2}s): {} opened{}, {} resolved, {} firing{}",
        s.pipelines,
        s.now,
        s.mode,
        s.runs,
        s.seconds,
        s.opened,
        sev(&s.opened_by_severity),
        s.resolved,
        s.firing,
        sev(&s.firing_by_severity)
    )
}
