//! Detection: from the runs in the database, find every condition of the nine
//! alert kinds (alerts.md) and keep each as an alert with its lifecycle.
//!
//! `evaluate` is one write transaction (BEGIN IMMEDIATE): two evaluations never
//! interleave, so an alert is never doubled, and a failed evaluation changes
//! nothing. Per pipeline, the detectors (one file per kind, behind `episode::Detector`)
//! resume from a checkpoint and observe only runs they have not seen
//! (`engine`); `systemic` re-scans final failures across pipelines;
//! `reconcile` turns episodes into rows of `alerts`. The same events give the
//! same alerts however the history was split into evaluations.

pub mod alerts;
mod common;
mod config;
pub mod consecutive_failures;
pub mod duration_anomaly;
pub mod engine;
pub mod episode;
pub mod expected;
pub mod failure_rate_spike;
pub mod history;
mod lifecycle;
pub mod load;
pub mod missed_run;
pub mod performance_degradation;
pub mod pipeline_failed;
pub mod reconcile;
pub mod signature;
pub mod stats;
pub mod stuck_run;
pub mod systemic;
#[cfg(test)]
mod testutil;
pub mod volume_anomaly;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::{Map, Value};

pub use config::{DetectConfig, Dur};

use crate::alert::config::AlertConfig;
use crate::model::{Millis, Outcome};
use crate::schedule::Schedule;
use crate::store::Store;
use crate::time::format_ms;
use engine::PipelineState;
use episode::{Ctx, Episode};
use load::PipelineInfo;

/// The moment an evaluation sees the world as of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    /// A given time.
    At(Millis),
    /// The wall clock, read once the write lock is held: an evaluation that waited
    /// for another one is not "earlier" than it.
    WallClock,
    /// The latest event time in the database, read under the write lock.
    DataEnd,
}

impl Now {
    /// The time this stands for, read inside the evaluation's transaction.
    fn resolve(self, conn: &Connection) -> Result<Millis> {
        match self {
            Now::At(t) => Ok(t),
            Now::WallClock => Ok(crate::time::now_ms()),
            Now::DataEnd => match crate::store::data_end(conn)? {
                Some(t) => Ok(t),
                None => bail!(crate::error::hinted(
                    "--now data-end: the database holds no events yet",
                    "import events first: `pipemon import FILE`",
                )),
            },
        }
    }
}

/// How to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct EvaluateOptions {
    /// The moment the evaluation sees the world as of (events later than this wait).
    pub now: Now,
    /// Forget every alert and detector state, and re-derive them from the events.
    pub rebuild: bool,
    /// Send due notifications after committing.
    pub notify: bool,
}

/// What an evaluation did.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluateSummary {
    pub now: String,
    /// `now` as epoch milliseconds (the resolved `Now`), for the delivery that follows.
    #[serde(skip)]
    pub now_ms: Millis,
    /// `full`, `incremental` or `as_of` (runs rebuilt from events up to `now`).
    pub mode: String,
    pub pipelines: usize,
    /// Runs observed (new to the detectors, or in progress).
    pub runs: usize,
    pub opened: usize,
    pub resolved: usize,
    /// Alerts firing after the evaluation.
    pub firing: usize,
    pub opened_by_severity: BTreeMap<String, usize>,
    pub resolved_by_severity: BTreeMap<String, usize>,
    pub firing_by_severity: BTreeMap<String, usize>,
    pub seconds: f64,
    /// The alerts opened or resolved by this evaluation (alerts.md objects),
    /// each once, oldest first.
    pub alerts: Vec<Map<String, Value>>,
}

/// `EvaluateOptions` with `now` read under the write lock.
struct Resolved {
    now: Millis,
    rebuild: bool,
    notify: bool,
}

/// The latest evaluation's as-of time.
fn previous_now(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn
        .query_row(
            "SELECT now FROM evaluations ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Evaluates every pipeline as of `opts.now`, updates `alerts`, applies alerting
/// policy, and (unless told not to) delivers notifications.
pub fn evaluate(
    store: &Store,
    cfg: &DetectConfig,
    alerting: &AlertConfig,
    opts: &EvaluateOptions,
) -> Result<EvaluateSummary> {
    if let Err(problems) = cfg.validate() {
        bail!(crate::error::hinted(
            format!("invalid configuration: {problems}"),
            "fix the [detect] section; `pipemon config check` lists every problem",
        ));
    }
    let clock = Instant::now();
    let mut conn = store.conn()?;
    // Reads dominate an incremental evaluation (a few pages per pipeline, on a cold
    // cache in a fresh process): map the file instead of a pread per page.
    conn.pragma_update(None, "mmap_size", 1i64 << 32)?;
    // The write lock for the whole evaluation: a concurrent evaluation waits for
    // it (up to the lock timeout) and then sees this one's result. `now` is read
    // only once the lock is held, so evaluations that queued behind each other
    // still move forward in time.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(crate::store::lock_error)?;
    let opts = &Resolved {
        now: opts.now.resolve(&tx)?,
        rebuild: opts.rebuild,
        notify: opts.notify,
    };
    if let Some(prev) = previous_now(&tx)?
        && opts.now < prev
        && !opts.rebuild
    {
        bail!(crate::error::hinted(
            format!(
                "--now {} is earlier than the previous evaluation's ({})",
                format_ms(opts.now),
                format_ms(prev)
            ),
            "alerts only move forward in time; use `pipemon evaluate --rebuild --now …` to re-derive every alert as of an earlier time",
        ));
    }
    if opts.rebuild {
        tx.execute_batch("DELETE FROM alerts; DELETE FROM detector_state;")
            .context("forgetting alerts for --rebuild")?;
    }
    // Ownership rules first, so the alerts detection writes carry the configured
    // team, priority and environment from their first evaluation.
    crate::alert::apply_ownership(&tx, alerting)?;
    let data_end = crate::store::data_end(&tx)?;
    let as_of = data_end.is_some_and(|end| opts.now < end);
    let digest = cfg.digest();
    if as_of {
        // Checkpoints describe the runs as materialised, not as of an earlier
        // moment: the next evaluation that sees all the data starts over.
        tx.execute("DELETE FROM detector_state", [])?;
    }
    let pending: HashMap<String, Millis> = tx
        .prepare("SELECT pipeline_id, earliest_start FROM pending_changes")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let infos = load::pipelines(&tx)?;
    let mut states: HashMap<String, Vec<u8>> = if as_of {
        HashMap::new()
    } else {
        tx.prepare("SELECT pipeline_id, state FROM detector_state WHERE config_digest = ?1")?
            .query_map([&digest], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };

    // Pipelines with a run in progress (served by the runs_in_progress index): with
    // a checkpoint, no pending change and none of these, a pipeline has no run the
    // checkpoint has not seen, and its runs need not be read at all.
    let in_progress: std::collections::HashSet<String> = tx
        .prepare("SELECT DISTINCT pipeline_id FROM run_state WHERE term_status IS NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut episodes: Vec<Episode> = Vec::new();
    let mut runs_seen = 0usize;
    let mut resumed = 0usize;
    let mut failures: Vec<systemic::Failure> = Vec::new();
    let mut failure_rows: Vec<load::FailureRow> = Vec::new();
    // Each distinct schedule parsed once (pipelines share a few expressions).
    let mut schedules: HashMap<&str, Option<Schedule>> = HashMap::new();
    for s in infos.iter().filter_map(|i| i.schedule.as_deref()) {
        schedules
            .entry(s)
            .or_insert_with(|| Schedule::parse(s).ok());
    }
    for info in &infos {
        let schedule = info
            .schedule
            .as_deref()
            .and_then(|s| schedules.get(s).and_then(Option::as_ref));
        let ctx = Ctx {
            cfg,
            pipeline_id: &info.pipeline_id,
            schedule,
            streaming: info.streaming,
        };
        if as_of {
            let runs = load::runs_as_of(&tx, &info.pipeline_id, opts.now)?;
            runs_seen += runs.len();
            for r in runs.iter().filter(|r| r.outcome == Outcome::Failed) {
                failure_rows.push((
                    r.pipeline_id.clone(),
                    r.run_id.clone(),
                    r.ended_at.unwrap_or(r.start_at),
                    r.error_type.clone(),
                    r.error_message.clone(),
                ));
            }
            if !runs.is_empty() {
                episodes.extend(engine::detect_all(cfg, &ctx, &runs, opts.now));
            }
            continue;
        }
        let mut state = states
            .remove(&info.pipeline_id)
            .and_then(|b| PipelineState::decode(&b));
        if let (Some(st), Some(earliest)) = (&state, pending.get(&info.pipeline_id))
            && st.cursor.as_ref().is_none_or(|c| *earliest <= c.0)
        {
            // A run the checkpoint already saw changed: start this pipeline over.
            state = None;
        }
        if state.is_some() {
            resumed += 1;
        }
        let unchanged = state.is_some()
            && !pending.contains_key(&info.pipeline_id)
            && !in_progress.contains(&info.pipeline_id);
        let state = state.unwrap_or_else(|| PipelineState::new(cfg));
        let runs = if unchanged {
            Vec::new()
        } else {
            load::runs_after(&tx, &info.pipeline_id, state.cursor.as_ref())?
        };
        runs_seen += runs.len();
        let result = engine::run_pipeline(state, &ctx, &runs, opts.now);
        if let Some(cp) = result.checkpoint {
            save_state(&tx, &info.pipeline_id, &digest, &cp)?;
        }
        episodes.extend(result.episodes);
    }
    if !as_of {
        failure_rows = load::failures(&tx)?;
    }
    let sigs = signatures(&tx, &failure_rows)?;
    for ((p, run, at, _, _), sig) in failure_rows.into_iter().zip(sigs) {
        if let Some(signature) = sig {
            failures.push(systemic::Failure {
                at,
                pipeline_id: p,
                run_id: run,
                signature,
            });
        }
    }
    episodes.extend(systemic::detect(cfg, &failures, opts.now));

    let by_id: HashMap<String, PipelineInfo> = infos
        .iter()
        .map(|i| (i.pipeline_id.clone(), i.clone()))
        .collect();
    let changes = reconcile::reconcile(&tx, episodes, &by_id, &cfg.platform_team, opts.now)?;
    tx.execute("DELETE FROM pending_changes", [])?;

    let mode = if as_of {
        "as_of"
    } else if resumed > 0 {
        "incremental"
    } else {
        "full"
    };
    let firing: usize = tx.query_row(
        "SELECT count(*) FROM alerts WHERE status = 'firing'",
        [],
        |r| r.get::<_, i64>(0),
    )? as usize;
    tx.execute(
        "INSERT INTO evaluations (now, data_end, mode, config_digest, evaluated_at, elapsed_ms,
             pipelines, runs, opened, resolved, firing)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            opts.now,
            data_end,
            mode,
            digest,
            crate::time::now_ms(),
            clock.elapsed().as_millis() as i64,
            infos.len() as i64,
            runs_seen as i64,
            changes.opened.len() as i64,
            changes.resolved.len() as i64,
            firing as i64
        ],
    )?;
    crate::alert::process(&tx, alerting, opts.now).context("applying alerting policy")?;

    let mut ids: Vec<i64> = changes
        .opened
        .iter()
        .chain(&changes.resolved)
        .copied()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut listed = alerts::list_json(
        &tx,
        &alerts::AlertFilter {
            ids: Some(ids),
            ..alerts::AlertFilter::default()
        },
    )?;
    listed.reverse();
    let firing_by_severity = count_by(
        &tx,
        "SELECT severity, count(*) FROM alerts WHERE status = 'firing' GROUP BY severity",
    )?;
    tx.commit().context("committing the evaluation")?;

    if opts.notify {
        crate::alert::deliver(store, alerting, opts.now).context("delivering notifications")?;
    }
    let sev_of = |ids: &[i64]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for a in &listed {
            if let (Some(id), Some(sev)) = (a["id"].as_i64(), a["severity"].as_str())
                && ids.contains(&id)
            {
                *m.entry(sev.to_string()).or_default() += 1;
            }
        }
        m
    };
    Ok(EvaluateSummary {
        now: format_ms(opts.now),
        now_ms: opts.now,
        mode: mode.to_string(),
        pipelines: infos.len(),
        runs: runs_seen,
        opened: changes.opened.len(),
        resolved: changes.resolved.len(),
        firing,
        opened_by_severity: sev_of(&changes.opened),
        resolved_by_severity: sev_of(&changes.resolved),
        firing_by_severity,
        seconds: clock.elapsed().as_secs_f64(),
        alerts: listed,
    })
}

fn count_by(conn: &Connection, sql: &str) -> Result<BTreeMap<String, usize>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn save_state(
    conn: &Connection,
    pipeline_id: &str,
    digest: &str,
    st: &PipelineState,
) -> Result<()> {
    let Some((start, run)) = &st.cursor else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO detector_state (pipeline_id, config_digest, cursor_start, cursor_run, state)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (pipeline_id) DO UPDATE SET config_digest = excluded.config_digest,
             cursor_start = excluded.cursor_start, cursor_run = excluded.cursor_run,
             state = excluded.state",
    )?
    .execute(params![pipeline_id, digest, start, run, st.encode()])?;
    Ok(())
}

/// Error signatures of the failures, memoised in `error_signatures`.
fn signatures(conn: &Connection, rows: &[load::FailureRow]) -> Result<Vec<Option<String>>> {
    let mut memo: HashMap<i64, String> = conn
        .prepare("SELECT text_hash, signature FROM error_signatures")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut add = conn.prepare_cached(
        "INSERT INTO error_signatures (text_hash, signature) VALUES (?1, ?2)
         ON CONFLICT (text_hash) DO NOTHING",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for (_, _, _, et, em) in rows {
        if et.is_none() && em.is_none() {
            out.push(None);
            continue;
        }
        let key = format!(
            "{}\u{1f}{}",
            et.as_deref().unwrap_or(""),
            em.as_deref().unwrap_or("")
        );
        let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as i64;
        if let Some(s) = memo.get(&h) {
            out.push(Some(s.clone()));
            continue;
        }
        let sig = signature::signature(et.as_deref(), em.as_deref());
        if let Some(s) = &sig {
            add.execute(params![h, s])?;
            memo.insert(h, s.clone());
        }
        out.push(sig);
    }
    Ok(out)
}
