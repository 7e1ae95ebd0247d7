//! `pipemon evaluate [--now TIME] [--rebuild] [--no-notify]`: detect conditions as
//! of TIME, open/update/resolve alerts, then notify. A short summary goes to
//! stderr; with `--format json` the alerts opened or resolved go to stdout as JSON
//! Lines (alerts.md objects). Delivery outcomes per receiver follow on stderr;
//! failing deliveries exit with status 3 (after the evaluation was committed).

use anyhow::{Context as _, Result, bail};

use super::Context;
use crate::cli::{EvaluateArgs, Format};
use crate::detect::alerts::to_rows;
use crate::detect::{EvaluateOptions, EvaluateSummary, Now, evaluate};

/// Reads `--now`: RFC 3339 (or a date, or epoch ms), `now`, or `data-end`. The
/// last two are read by the evaluation once it holds the write lock.
pub fn parse_now(raw: &str) -> Result<Now> {
    match raw.trim() {
        "now" => Ok(Now::WallClock),
        "data-end" => Ok(Now::DataEnd),
        other => match crate::time::parse_user_time(other) {
            Some(t) => Ok(Now::At(t)),
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
    let now = parse_now(&args.now)?;
    if let Some(raw) = &args.notify_since {
        let since = crate::time::parse_user_time(raw).ok_or_else(|| {
            crate::error::hinted(
                format!("--notify-since `{raw}` is not a time"),
                "use RFC 3339, e.g. 2026-11-01T00:00:00Z",
            )
        })?;
        crate::store::meta_set(&*store.conn()?, "notify_since", since)?;
    }
    // Delivery runs here, after the evaluation committed, so its outcome is reported.
    let summary = evaluate(
        &store,
        &config.detect,
        &config.alert,
        &EvaluateOptions {
            now,
            rebuild: args.rebuild,
            notify: false,
        },
    )?;
    eprintln!("{}", describe(&summary));
    if ctx.format == Format::Json {
        // The alerts.md objects, keys in the documented order (as `pipemon alerts`).
        to_rows(&summary.alerts, true).print(Format::Json)?;
    }
    if args.no_notify {
        return Ok(());
    }
    let report = crate::alert::deliver(&store, &config.alert, summary.now_ms)
        .context("delivering notifications")?;
    super::notify::print_report(&report, false)
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
