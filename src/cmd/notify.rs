//! `pipemon notify`: flush due notification groups and send due outbox rows (run from
//! cron between evaluations, or after a receiver came back). Delivery outcomes per
//! receiver go to stderr; failing deliveries exit with status 3.

use anyhow::Result;

use super::Context;
use crate::alert::send::DeliveryReport;
use crate::cli::NotifyArgs;

pub fn run(ctx: &Context, args: &NotifyArgs) -> Result<()> {
    let config = crate::config::load(ctx.config.as_deref())?;
    let now = match &args.now {
        None => crate::time::now_ms(),
        Some(raw) => crate::time::parse_user_time(raw).ok_or_else(|| {
            crate::error::hinted(
                format!("--now {raw:?} is not a time"),
                "use RFC 3339, e.g. 2026-11-28T14:00:00Z",
            )
        })?,
    };
    let store = ctx.open_store()?;
    if args.retry_failed {
        let n = crate::alert::send::requeue_failed(&store)?;
        eprintln!("delivery: {n} failed notifications queued again");
    }
    let report = crate::alert::deliver(&store, &config.alert, now)?;
    print_report(&report, true)
}

/// Prints a delivery report to stderr (a quiet run prints nothing unless `always`)
/// and turns failing deliveries into exit status 3.
pub fn print_report(report: &DeliveryReport, always: bool) -> Result<()> {
    let lines = report.lines();
    if lines.is_empty() && always {
        eprintln!("delivery: nothing to send");
    }
    for l in &lines {
        eprintln!("{l}");
    }
    if report.failing() {
        return Err(crate::error::DeliveriesFailing(
            "notifications are failing (exit status 3); see `pipemon notifications --status failed` and `--status pending`".into(),
        )
        .into());
    }
    Ok(())
}
