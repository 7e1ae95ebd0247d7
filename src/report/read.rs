//! The report's read of every run: one sequential scan of `run_state`, as
//! `detect::load::each_pipeline_runs` makes, but of only the columns the report
//! uses (the charts, the band replay and the runs listed under alerts), with no
//! allocation per row beyond the run id. The loader's own read decodes every
//! column of every run (schedule, heartbeat and start evidence the report never
//! shows) and was most of the report's single-threaded time.
//!
//! The columns are the loader's, by the same expressions, so the runs agree with
//! the detectors' on every field the report reads (`tests/report.rs` compares them on generated data); the
//! fields the report does not read are left at their defaults.

use anyhow::Result;
use rusqlite::Connection;

use crate::detect::load::group_by_pipeline;
use crate::model::{Outcome, Run, StartSource};

/// Calls `f` with each pipeline's runs in start order (the detectors' order, by
/// `detect::load::sort_runs`), with `run_id`, `start_at`, `ended_at`, `outcome`,
/// `attempts`, `retries`, `duration_ms`, `records_processed`, `error_type` and
/// `error_message` as the loader reads them.
pub fn each_pipeline_runs(conn: &Connection, f: impl FnMut(&str, Vec<Run>)) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT pipeline_id, run_id, start_at, term_ts, coalesce(term_status, 'running'),
                max_attempt, retries, duration_ms, records_processed,
                coalesce(term_error_type, err_type), coalesce(term_error_message, err_message)
         FROM run_state WHERE first_event_at IS NOT NULL ORDER BY pipeline_id, run_id",
    )?;
    let mut rows = stmt.query([])?;
    group_by_pipeline(
        &mut rows,
        0,
        |_, r| {
            let start_at = r.get(2)?;
            Ok(Run {
                pipeline_id: String::new(),
                run_id: r.get(1)?,
                start_at,
                start_source: StartSource::default(),
                first_event_at: start_at,
                last_event_at: start_at,
                started_at: None,
                ended_at: r.get(3)?,
                outcome: Outcome::parse(r.get_ref(4)?.as_str()?).unwrap_or(Outcome::Running),
                attempts: r.get(5)?,
                retries: r.get(6)?,
                duration_ms: r.get(7)?,
                records_processed: r.get(8)?,
                error_type: r.get(9)?,
                error_message: r.get(10)?,
                task_id: None,
                scheduled_at: None,
                final_attempt_ms: None,
                last_alive_at: start_at,
                heartbeats: 0,
            })
        },
        f,
    )
}
