//! Reading what the detectors look at: pipelines, runs and final failures, either
//! from the materialised `run_state` (when the evaluation sees all the data) or
//! rebuilt from `events` with `ts <= now` (when it looks at an earlier moment), by
//! the importer's own merge (`store::import::RunMerge`), so both agree by
//! construction.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{Connection, Row, params};

use crate::model::{Event, Millis, Outcome, Priority, Run, StartSource, Status};
use crate::store::import::RunMerge;

/// A pipeline's attributes as detection and routing need them.
#[derive(Debug, Clone)]
pub struct PipelineInfo {
    pub pipeline_id: String,
    pub team: String,
    pub priority: Priority,
    pub environment: Option<String>,
    pub schedule: Option<String>,
    pub streaming: bool,
}

pub fn pipelines(conn: &Connection) -> Result<Vec<PipelineInfo>> {
    let mut stmt = conn.prepare(
        "SELECT pipeline_id, coalesce(team_override, team, 'unowned'),
                coalesce(priority_override, priority, 'medium'),
                coalesce(environment_override, environment), schedule, coalesce(streaming, 0)
         FROM pipelines ORDER BY pipeline_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(PipelineInfo {
            pipeline_id: r.get(0)?,
            team: r.get(1)?,
            priority: Priority::parse(&r.get::<_, String>(2)?).unwrap_or_default(),
            environment: r.get(3)?,
            schedule: r.get(4)?,
            streaming: r.get::<_, i64>(5)? != 0,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const RUN_COLUMNS: &str = "run_id, start_at, first_event_at, last_event_at, started_at, term_ts,
    coalesce(term_status, 'running'), max_attempt, retries, duration_ms, records_processed,
    coalesce(term_error_type, err_type), coalesce(term_error_message, err_message), task_id,
    scheduled_at, start_source, final_attempt_ms,
    max(start_at, coalesce(last_started_at, start_at), coalesce(last_retry_at, start_at),
        coalesce(last_running_at, start_at)),
    n_running";

fn run_from_row(pipeline_id: &str, r: &Row) -> rusqlite::Result<Run> {
    let outcome: String = r.get(6)?;
    Ok(Run {
        pipeline_id: pipeline_id.to_string(),
        run_id: r.get(0)?,
        start_at: r.get(1)?,
        first_event_at: r.get(2)?,
        last_event_at: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Running),
        attempts: r.get(7)?,
        retries: r.get(8)?,
        duration_ms: r.get(9)?,
        records_processed: r.get(10)?,
        error_type: r.get(11)?,
        error_message: r.get(12)?,
        task_id: r.get(13)?,
        scheduled_at: r.get(14)?,
        start_source: StartSource::parse(&r.get::<_, String>(15)?)
            .unwrap_or(StartSource::FirstEvent),
        final_attempt_ms: r.get(16)?,
        last_alive_at: r.get(17)?,
        heartbeats: r.get(18)?,
    })
}

/// Calls `f` with each pipeline's runs in start order (the detectors' order). One
/// sequential scan of `run_state` in primary-key order (pipeline, run id), sorted per
/// pipeline in memory: several times faster than a range scan per pipeline through
/// the start index, which visits the table in random order (the report reads every
/// pipeline this way).
pub fn each_pipeline_runs(conn: &Connection, f: impl FnMut(&str, Vec<Run>)) -> Result<()> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RUN_COLUMNS}, pipeline_id FROM run_state
         WHERE first_event_at IS NOT NULL ORDER BY pipeline_id, run_id"
    ))?;
    let mut rows = stmt.query([])?;
    group_by_pipeline(&mut rows, 19, |id, r| Ok(run_from_row(id, r)?), f)
}

/// Reads rows ordered by pipeline (its id in column `id_col`) into one run list
/// per pipeline, each sorted as the detectors see them, and hands each to `f`.
pub fn group_by_pipeline(
    rows: &mut rusqlite::Rows,
    id_col: usize,
    mut run: impl FnMut(&str, &Row) -> Result<Run>,
    mut f: impl FnMut(&str, Vec<Run>),
) -> Result<()> {
    let mut current = String::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut flush = |id: &str, mut runs: Vec<Run>| {
        if !runs.is_empty() {
            sort_runs(&mut runs);
            f(id, runs);
        }
    };
    while let Some(r) = rows.next()? {
        let pipeline_id = r.get_ref(id_col)?.as_str()?;
        if pipeline_id != current {
            flush(&current, std::mem::take(&mut runs));
            current = pipeline_id.to_string();
        }
        runs.push(run(&current, r)?);
    }
    flush(&current, runs);
    Ok(())
}

/// Orders runs as the detectors see them: by start, then run id.
pub fn sort_runs(runs: &mut [Run]) {
    runs.sort_by(|a, b| (a.start_at, &a.run_id).cmp(&(b.start_at, &b.run_id)));
}

/// Runs of one pipeline from `run_state` that come after `cursor` (all runs when
/// None), in start order.
pub fn runs_after(
    conn: &Connection,
    pipeline_id: &str,
    cursor: Option<&(Millis, String)>,
) -> Result<Vec<Run>> {
    let from = cursor.map_or(i64::MIN, |c| c.0);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM run_state
         WHERE pipeline_id = ?1 AND start_at >= ?2 AND first_event_at IS NOT NULL"
    ))?;
    let mut runs: Vec<Run> = stmt
        .query_map(params![pipeline_id, from], |r| run_from_row(pipeline_id, r))?
        .collect::<rusqlite::Result<_>>()?;
    sort_runs(&mut runs);
    if let Some((start, id)) = cursor {
        runs.retain(|r| (r.start_at, &r.run_id) > (*start, id));
    }
    Ok(runs)
}

/// Every final failure in `run_state`: (pipeline, run, time, error type, message).
pub type FailureRow = (String, String, Millis, Option<String>, Option<String>);

pub fn failures(conn: &Connection) -> Result<Vec<FailureRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pipeline_id, run_id, term_ts, coalesce(term_error_type, err_type),
                coalesce(term_error_message, err_message)
         FROM run_state WHERE term_status = 'failed' AND first_event_at IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A pipeline's runs as of `now`, rebuilt from its events with `ts <= now`, in
/// start order.
pub fn runs_as_of(conn: &Connection, pipeline_id: &str, now: Millis) -> Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(
        "SELECT run_id, status, ts, attempt, duration_ms, records_processed, error_type,
                error_message, task_id, scheduled_at, event_key
         FROM events WHERE pipeline_id = ?1 AND ts <= ?2",
    )?;
    let mut merges: HashMap<String, RunMerge> = HashMap::new();
    let mut rows = stmt.query(params![pipeline_id, now])?;
    while let Some(r) = rows.next()? {
        let status: String = r.get(1)?;
        let ev = Event {
            pipeline_id: pipeline_id.to_string(),
            run_id: r.get(0)?,
            status: Status::from_db(&status).unwrap_or(Status::Other),
            ts: r.get(2)?,
            attempt: r.get(3)?,
            duration_ms: r.get(4)?,
            records_processed: r.get(5)?,
            error_type: r.get(6)?,
            error_message: r.get(7)?,
            task_id: r.get(8)?,
            scheduled_at: r.get(9)?,
            event_key: r.get(10)?,
            team: None,
            priority: None,
            environment: None,
            schedule: None,
            upstream: None,
            streaming: None,
            extra: None,
        };
        merges.entry(ev.run_id.clone()).or_default().add(&ev);
    }
    let mut runs: Vec<Run> = merges
        .into_iter()
        .filter_map(|(id, m)| m.into_run(pipeline_id, id))
        .collect();
    sort_runs(&mut runs);
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detection reads use their indexes (EXPLAIN QUERY PLAN).
    #[test]
    fn hot_reads_use_their_indexes() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = crate::store::Store::open(&dir.path().join("p.db")).unwrap();
        let conn = store.conn().unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap();
            rows.join("; ")
        };
        let cases = [
            (
                format!(
                    "SELECT {RUN_COLUMNS} FROM run_state WHERE pipeline_id = 'p' AND start_at >= 0 AND first_event_at IS NOT NULL"
                ),
                "runs_by_pipeline_start",
            ),
            (
                "SELECT pipeline_id FROM run_state WHERE term_status = 'failed' AND first_event_at IS NOT NULL".to_string(),
                "runs_failed_by_end",
            ),
            (
                "SELECT DISTINCT pipeline_id FROM run_state WHERE term_status IS NULL".to_string(),
                "runs_in_progress",
            ),
            (
                "SELECT id FROM alerts WHERE fingerprint = 'f' AND started_at = 1".to_string(),
                "alerts_by_fingerprint_start",
            ),
        ];
        for (sql, index) in cases {
            let p = plan(&sql);
            assert!(p.contains(index), "{sql}\n{p}");
        }
    }
}
