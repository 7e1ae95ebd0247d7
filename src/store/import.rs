//! Batched event import: input files → events, runs, pipelines, rejected lines.
//!
//! A reader thread splits input into lines and parses them; the calling thread writes
//! each batch in one transaction: new events (duplicates skipped by the primary key),
//! then one merged upsert per touched run and pipeline, the rejected lines, and the
//! bookkeeping that later readers rely on (`pending_changes`, `stats_stale`, `data_end`).
//! A killed import leaves whole batches only, and importing again completes it without
//! duplicates. `--strict` runs everything in one transaction and rolls it back at the
//! first bad line, leaving the database as it was.
//!
//! Memory is bounded by the batch and the channel depth, never by the file: a batch
//! closes at `BATCH_LINES` lines or `BATCH_BYTES` bytes of text, whichever comes first,
//! and lines longer than `MAX_LINE_BYTES` are rejected without being held whole.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use super::Store;
use crate::cli::InputFormat;
use crate::ingest::{self, Reject, RejectReason};
use crate::model::{Event, Millis, Outcome, Run, StartSource, Status};

/// Lines parsed and written together: memory is bounded by a few of these.
pub const BATCH_LINES: usize = 32_768;
/// A batch also closes once its lines hold this many bytes of raw text, so long
/// lines cannot make a batch (and the few in flight) grow to gigabytes: at 1 MiB a
/// line a batch holds 16 lines, not 32,768. Ordinary lines (a few hundred bytes)
/// fill `BATCH_LINES` first.
pub const BATCH_BYTES: usize = 16 << 20;
/// A write transaction ends after this many lines (whole batches) or this long,
/// whichever comes first: a killed import keeps every commit before it, so it loses
/// at most a few seconds of work. Each pipeline's newest pages are written to the
/// WAL once per commit, so fewer, larger commits write less.
pub const COMMIT_LINES: usize = 8 * BATCH_LINES;
pub const COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Longest accepted line; longer ones are rejected (`invalid_value`) unread.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The UTF-8 byte order mark, stripped from an input's first line.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// How many rejections are printed to stderr before the rest are only counted.
const SHOWN_REJECTIONS: usize = 5;

/// How an import behaves.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub strict: bool,
    pub input_format: InputFormat,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            strict: false,
            input_format: InputFormat::Auto,
            progress: false,
        }
    }
}

/// What an import did; serialises to the summary object of events.md.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub files: Vec<String>,
    pub lines: u64,
    pub blank: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub seconds: f64,
    pub events_per_second: f64,
    /// The first few rejections as `file:line: reason: message`, for stderr.
    #[serde(skip)]
    pub first_rejections: Vec<String>,
    /// Inputs that had lines but from which no event was accepted (every non-blank
    /// line rejected): the command exits non-zero for them.
    #[serde(skip)]
    pub nothing_accepted: Vec<String>,
}

/// One input line after parsing.
enum Item {
    Blank,
    Event(Box<Event>),
    Rejected { reject: Reject, raw: String },
}

/// A batch of parsed lines from one source, with the line number of the first.
struct Batch {
    first_line: u64,
    items: Vec<Item>,
    plan: Plan,
}

/// What the writer does with a batch, worked out on the reader thread (which has a
/// core to spare) so the writer, the import's bottleneck, only talks to SQLite.
/// Groups are ranges of `by_run`; the merges assume every event of the batch is new,
/// and the writer merges again the few groups that a duplicate could have changed.
#[derive(Default)]
struct Plan {
    /// Events (item indices) in primary-key order, the first line first among equal
    /// keys: inserting in key order keeps B-tree pages hot instead of touching them
    /// at random, and the first of two lines with the same key still wins.
    by_key: Vec<u32>,
    /// Events ordered by (pipeline, run, line): runs and pipelines are contiguous.
    by_run: Vec<u32>,
    runs: Vec<(std::ops::Range<usize>, RunMerge)>,
    pipelines: Vec<(std::ops::Range<usize>, PipelineDelta)>,
}

impl Plan {
    fn new(items: &[Item]) -> Plan {
        let event = |i: u32| event_at(items, i);
        let events: Vec<u32> = (0..items.len() as u32)
            .filter(|&i| matches!(items[i as usize], Item::Event(_)))
            .collect();
        let mut by_key = events.clone();
        by_key.sort_by(|&a, &b| {
            let (x, y) = (event(a), event(b));
            (&x.pipeline_id, &x.event_key).cmp(&(&y.pipeline_id, &y.event_key))
        });
        let mut by_run = events;
        by_run.sort_by(|&a, &b| {
            let (x, y) = (event(a), event(b));
            (&x.pipeline_id, &x.run_id).cmp(&(&y.pipeline_id, &y.run_id))
        });
        let mut plan = Plan {
            by_key,
            by_run,
            ..Plan::default()
        };
        let group_ends = |same: &dyn Fn(&Event, &Event) -> bool| {
            let mut ranges = Vec::new();
            let mut start = 0;
            for i in 1..=plan.by_run.len() {
                if i == plan.by_run.len() || !same(event(plan.by_run[start]), event(plan.by_run[i]))
                {
                    ranges.push(start..i);
                    start = i;
                }
            }
            ranges
        };
        let run_ranges = group_ends(&|a, b| a.pipeline_id == b.pipeline_id && a.run_id == b.run_id);
        let pipeline_ranges = group_ends(&|a, b| a.pipeline_id == b.pipeline_id);
        plan.runs = folds(items, &plan.by_run, run_ranges);
        plan.pipelines = folds(items, &plan.by_run, pipeline_ranges);
        plan
    }
}

/// The event at item index `i`, which a plan lists only for events.
fn event_at(items: &[Item], i: u32) -> &Event {
    match &items[i as usize] {
        Item::Event(ev) => ev,
        _ => unreachable!("plans index events only"),
    }
}

/// A merge of events, in any order: a run's (`RunMerge`) or a pipeline's
/// attributes (`PipelineDelta`).
trait Fold: Default {
    fn add(&mut self, ev: &Event);
}

/// The fold of each group (a range of `by_run`) of all its events.
fn folds<M: Fold>(
    items: &[Item],
    by_run: &[u32],
    groups: Vec<std::ops::Range<usize>>,
) -> Vec<(std::ops::Range<usize>, M)> {
    groups
        .into_iter()
        .map(|r| (r.clone(), fold(items, &by_run[r], |_| true)))
        .collect()
}

/// The fold of the events `idx` of a batch that `keep` accepts.
fn fold<M: Fold>(items: &[Item], idx: &[u32], keep: impl Fn(u32) -> bool) -> M {
    let mut m = M::default();
    for &i in idx.iter().filter(|&&i| keep(i)) {
        m.add(event_at(items, i));
    }
    m
}

/// The display name of an input path (`-` is standard input).
pub fn source_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Imports every path in order; see the module comment for the guarantees.
pub fn import_paths(
    store: &Store,
    paths: &[PathBuf],
    opts: &ImportOptions,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let conn = store.conn()?;
    let mut summary = ImportSummary {
        files: paths.iter().map(|p| source_name(p)).collect(),
        ..ImportSummary::default()
    };
    for reason in RejectReason::ALL {
        summary
            .rejected_by_reason
            .insert(reason.as_str().to_string(), 0);
    }
    let mut touched: HashSet<String> = HashSet::new();
    let checkpointer = super::Checkpointer::start(store, &conn)?;

    if opts.strict {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(super::lock_error)?;
        let result = (|| -> Result<()> {
            for path in paths {
                import_one(&conn, path, opts, &checkpointer, &mut summary, &mut touched)?;
            }
            refresh_stale_stats(&conn)
        })();
        match result {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                conn.execute_batch("ROLLBACK")?;
                return Err(e.context("nothing was imported (--strict)"));
            }
        }
    } else {
        for path in paths {
            import_one(&conn, path, opts, &checkpointer, &mut summary, &mut touched)?;
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(super::lock_error)?;
        refresh_stale_stats(&conn)?;
        conn.execute_batch("COMMIT")?;
    }

    summary.seconds = started.elapsed().as_secs_f64();
    let accepted = summary.inserted + summary.duplicates;
    summary.events_per_second = if summary.seconds > 0.0 {
        accepted as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// Opens an input: `-` is stdin; gzip is recognised by its magic bytes.
fn open_input(path: &Path) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    let (raw, len): (Box<dyn Read + Send>, Option<u64>) = if path == Path::new("-") {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(path).map_err(|e| {
            anyhow!(crate::error::hinted(
                format!("cannot open {}: {e}", path.display()),
                "check the path; use - to read standard input",
            ))
        })?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            return Err(anyhow!(crate::error::hinted(
                format!("cannot import {}: it is a directory", path.display()),
                format!(
                    "name the files inside it, e.g. `pipemon import {}/*.jsonl`",
                    path.display()
                ),
            )));
        }
        (Box::new(file), Some(meta.len()))
    };
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let is_gzip = buffered
        .fill_buf()
        .with_context(|| format!("reading {}", source_name(path)))?
        .starts_with(&[0x1f, 0x8b]);
    if is_gzip {
        Ok((
            Box::new(BufReader::with_capacity(
                1 << 20,
                MultiGzDecoder::new(buffered),
            )),
            len,
        ))
    } else {
        Ok((Box::new(buffered), len))
    }
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn progress_bar(opts: &ImportOptions, len: Option<u64>, name: &str) -> ProgressBar {
    if !opts.progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let style = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(s) = ProgressStyle::with_template(style) {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_message(name.to_string());
    bar
}

fn import_one(
    conn: &Connection,
    path: &Path,
    opts: &ImportOptions,
    checkpointer: &super::Checkpointer,
    summary: &mut ImportSummary,
    touched: &mut HashSet<String>,
) -> Result<()> {
    let name = source_name(path);
    let (input, len) = open_input(path)?;
    let (accepted_before, rejected_before) =
        (summary.inserted + summary.duplicates, summary.rejected);
    // Gzip input is measured in compressed bytes, matching the file length.
    let count = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(opts, len, &name);
    let input = Counting {
        inner: input,
        count: Arc::clone(&count),
    };

    conn.execute(
        "INSERT INTO imports (source, started_at) VALUES (?1, ?2)",
        params![name, crate::time::now_ms()],
    )
    .map_err(super::lock_error)?;
    let import_id = conn.last_insert_rowid();

    let (tx, rx) = sync_channel::<io::Result<Batch>>(1);
    let format = opts.input_format;
    let horizon = ingest::horizon(crate::time::now_ms());
    let reader =
        thread::spawn(move || read_batches(input, format, horizon, |b| tx.send(b).is_ok()));
    // Written batches are freed on another thread: thousands of small strings per
    // batch are the writer's time otherwise.
    let (spent_tx, spent_rx) = sync_channel::<Batch>(1);
    let dropper = thread::spawn(move || spent_rx.into_iter().for_each(drop));
    let outcome = write_batches(
        conn,
        &rx,
        &name,
        import_id,
        opts.strict,
        summary,
        touched,
        || checkpointer.nudge(),
        |batch| {
            bar.set_position(count.load(Ordering::Relaxed));
            let _ = spent_tx.send(batch);
        },
    );
    drop(rx);
    drop(spent_tx);
    let _ = reader.join();
    let _ = dropper.join();
    bar.finish_and_clear();
    outcome?;

    conn.execute(
        "UPDATE imports SET finished_at = ?2 WHERE id = ?1",
        params![import_id, crate::time::now_ms()],
    )?;
    if summary.inserted + summary.duplicates == accepted_before
        && summary.rejected > rejected_before
    {
        summary.nothing_accepted.push(name);
    }
    Ok(())
}

/// Splits input into lines (bounded length), parses them, hands out batches.
fn read_batches(
    mut input: impl Read,
    format: InputFormat,
    horizon: Millis,
    mut send: impl FnMut(io::Result<Batch>) -> bool,
) {
    let mut reader = BufReader::with_capacity(1 << 16, &mut input);
    let mut line_no: u64 = 0;
    let mut batch = Batch {
        first_line: 1,
        items: Vec::with_capacity(BATCH_LINES),
        plan: Plan::default(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut batch_bytes = 0usize;
    loop {
        buf.clear();
        let (read_any, too_long) = match read_line_bounded(&mut reader, &mut buf) {
            Ok(r) => r,
            Err(e) => {
                send(Err(e));
                return;
            }
        };
        if !read_any {
            break;
        }
        line_no += 1;
        if line_no == 1 && buf.starts_with(UTF8_BOM) {
            // A byte order mark some editors and exporters put first is not JSON.
            buf.drain(..UTF8_BOM.len());
        }
        batch
            .items
            .push(parse_bytes(&buf, too_long, format, horizon));
        batch_bytes += buf.len();
        if batch.items.len() >= BATCH_LINES || batch_bytes >= BATCH_BYTES {
            batch_bytes = 0;
            let next = Batch {
                first_line: line_no + 1,
                items: Vec::with_capacity(BATCH_LINES),
                plan: Plan::default(),
            };
            let mut full = std::mem::replace(&mut batch, next);
            full.plan = Plan::new(&full.items);
            if !send(Ok(full)) {
                return;
            }
        }
    }
    if !batch.items.is_empty() {
        batch.plan = Plan::new(&batch.items);
        send(Ok(batch));
    }
}

/// Reads one line into `buf` without its terminator, keeping at most
/// `MAX_LINE_BYTES`. Returns (something was read, the line was cut).
fn read_line_bounded(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<(bool, bool)> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (chunk, found, used) = match memchr_newline(available) {
            Some(i) => (&available[..i], true, i + 1),
            None => (available, false, available.len()),
        };
        if buf.len() + chunk.len() > MAX_LINE_BYTES {
            too_long = true;
            let room = MAX_LINE_BYTES.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
        } else {
            buf.extend_from_slice(chunk);
        }
        reader.consume(used);
        if found {
            break;
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok((read_any, too_long))
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn parse_bytes(bytes: &[u8], too_long: bool, format: InputFormat, horizon: Millis) -> Item {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            return Item::Rejected {
                reject: Reject::new(RejectReason::InvalidJson, "line is not valid UTF-8"),
                raw: String::from_utf8_lossy(bytes).into_owned(),
            };
        }
    };
    if too_long {
        return Item::Rejected {
            reject: Reject::new(
                RejectReason::InvalidValue,
                format!("line is longer than {MAX_LINE_BYTES} bytes (kept truncated)"),
            ),
            raw: text.to_string(),
        };
    }
    if text.trim().is_empty() {
        return Item::Blank;
    }
    match ingest::parse_line(text, format).and_then(|ev| {
        ingest::check_horizon(&ev, horizon)?;
        Ok(ev)
    }) {
        Ok(ev) => Item::Event(Box::new(ev)),
        Err(reject) => Item::Rejected {
            reject,
            raw: text.to_string(),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn write_batches(
    conn: &Connection,
    rx: &Receiver<io::Result<Batch>>,
    name: &str,
    import_id: i64,
    strict: bool,
    summary: &mut ImportSummary,
    touched: &mut HashSet<String>,
    on_commit: impl Fn(),
    mut on_batch: impl FnMut(Batch),
) -> Result<()> {
    // Outside --strict, a transaction spans batches until COMMIT_LINES lines are in
    // it or COMMIT_EVERY has passed: memory is bounded by the batch, while pages that
    // every batch touches (each pipeline's latest runs and events) are written to the
    // WAL once per commit.
    let mut open = false;
    let mut uncommitted = 0usize;
    let mut opened_at = Instant::now();
    let result = (|| -> Result<()> {
        for batch in rx.iter() {
            let batch = batch.with_context(|| format!("reading {name}"))?;
            if !strict && !open {
                conn.execute_batch("BEGIN IMMEDIATE")
                    .map_err(super::lock_error)?;
                open = true;
                opened_at = Instant::now();
            }
            write_batch(conn, &batch, name, import_id, strict, summary, touched)?;
            uncommitted += batch.items.len();
            if open && (uncommitted >= COMMIT_LINES || opened_at.elapsed() >= COMMIT_EVERY) {
                conn.execute_batch("COMMIT")?;
                on_commit();
                open = false;
                uncommitted = 0;
            }
            on_batch(batch);
        }
        Ok(())
    })();
    match result {
        Ok(()) if open => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(e) => {
            if open {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

const INSERT_EVENT: &str = "INSERT INTO events (pipeline_id, event_key, run_id, status, ts,
     attempt, duration_ms, records_processed, error_type, error_message, task_id, scheduled_at,
     extra, import_id)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
 ON CONFLICT (pipeline_id, event_key) DO NOTHING";

/// The statements an import runs once per event, run or pipeline of every batch
/// (a test checks that none of them builds a temporary table per execution).
pub fn per_row_statements() -> [&'static str; 4] {
    [
        INSERT_EVENT,
        INSERT_RUN.as_str(),
        MERGE_RUN.as_str(),
        UPSERT_PIPELINE.as_str(),
    ]
}

/// Writes one batch inside the caller's transaction.
fn write_batch(
    conn: &Connection,
    batch: &Batch,
    name: &str,
    import_id: i64,
    strict: bool,
    summary: &mut ImportSummary,
    touched: &mut HashSet<String>,
) -> Result<()> {
    let mut insert_event = conn.prepare_cached(INSERT_EVENT)?;
    let lines = batch.items.len() as u64;
    let (mut blank, mut inserted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64, 0u64);
    let rejected_at = crate::time::now_ms();
    let plan = &batch.plan;

    for (i, item) in batch.items.iter().enumerate() {
        let line = batch.first_line + i as u64;
        match item {
            Item::Event(_) => {}
            Item::Blank => blank += 1,
            Item::Rejected { reject, raw } => {
                if strict {
                    return Err(anyhow!(crate::error::hinted(
                        format!("{name}:{line}: {}: {}", reject.reason, reject.message),
                        "fix the line, or import without --strict to skip bad lines and keep them in `pipemon rejected`",
                    )));
                }
                rejected += 1;
                *summary
                    .rejected_by_reason
                    .entry(reject.reason.as_str().to_string())
                    .or_default() += 1;
                if summary.first_rejections.len() < SHOWN_REJECTIONS {
                    summary.first_rejections.push(format!(
                        "{name}:{line}: {}: {}",
                        reject.reason, reject.message
                    ));
                }
                conn.prepare_cached(
                    "INSERT INTO rejected_events
                         (raw_hash, source, line, reason, message, raw, import_id, rejected_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (raw_hash) DO NOTHING",
                )?
                .execute(params![
                    format!("{:032x}", xxh3_128(raw.as_bytes())),
                    name,
                    line as i64,
                    reject.reason.as_str(),
                    reject.message,
                    raw,
                    import_id,
                    rejected_at
                ])?;
            }
        }
    }

    let event = |i: u32| event_at(&batch.items, i);
    // Duplicates (already stored, or repeated within the batch) by item index.
    let mut dup = vec![false; batch.items.len()];
    let mut batch_max_ts: Option<Millis> = None;
    for &i in &plan.by_key {
        let ev = event(i);
        let n = insert_event.execute(params![
            ev.pipeline_id,
            ev.event_key,
            ev.run_id,
            ev.status.as_str(),
            ev.ts,
            ev.attempt,
            ev.duration_ms,
            ev.records_processed,
            ev.error_type,
            ev.error_message,
            ev.task_id,
            ev.scheduled_at,
            ev.extra,
            import_id
        ])?;
        if n == 0 {
            duplicates += 1;
            dup[i as usize] = true;
        } else {
            inserted += 1;
            batch_max_ts = batch_max_ts.max(Some(ev.ts));
        }
    }
    let new_event = |i: u32| !dup[i as usize];
    let has_dup =
        |r: &std::ops::Range<usize>| plan.by_run[r.clone()].iter().any(|&i| dup[i as usize]);
    // The plan's merges hold for every group without a duplicate; the others are
    // merged again from their new events only (and dropped if none is new). A
    // pipeline's delta is merged again only when a duplicate could have shaped it.
    let runs: Vec<(&str, &str, std::borrow::Cow<RunMerge>)> = plan
        .runs
        .iter()
        .filter_map(|(r, m)| {
            let first = event(plan.by_run[r.start]);
            let key = (first.pipeline_id.as_str(), first.run_id.as_str());
            if duplicates == 0 || !has_dup(r) {
                return Some((key.0, key.1, std::borrow::Cow::Borrowed(m)));
            }
            let m: RunMerge = fold(&batch.items, &plan.by_run[r.clone()], new_event);
            (m.n_events > 0).then_some((key.0, key.1, std::borrow::Cow::Owned(m)))
        })
        .collect();
    let pipelines: Vec<(&str, std::borrow::Cow<PipelineDelta>)> = plan
        .pipelines
        .iter()
        .filter_map(|(r, d)| {
            let id = event(plan.by_run[r.start]).pipeline_id.as_str();
            let shaped = |&i: &u32| dup[i as usize] && d.shaped_by(event(i));
            if duplicates == 0 || !plan.by_run[r.clone()].iter().any(shaped) {
                return Some((id, std::borrow::Cow::Borrowed(d)));
            }
            let d: PipelineDelta = fold(&batch.items, &plan.by_run[r.clone()], new_event);
            d.seen.then_some((id, std::borrow::Cow::Owned(d)))
        })
        .collect();

    let mut earliest: HashMap<&str, Millis> = HashMap::new();
    {
        let mut insert = conn.prepare_cached(&INSERT_RUN)?;
        let mut merge = conn.prepare_cached(&MERGE_RUN)?;
        let mut prior = conn.prepare_cached(
            // The stored start, or an earlier rule's candidate that a merge can
            // bring back (a new deciding terminal event without duration_ms).
            "SELECT min(start_at, coalesce(scheduled_at, start_at), coalesce(first_event_at, start_at))
             FROM run_state WHERE pipeline_id = ?1 AND run_id = ?2",
        )?;
        for (pipeline_id, run_id, d) in &runs {
            let term = d.term.as_ref();
            let err = d.err.as_ref();
            let task = d.task.as_ref();
            let values: [&dyn rusqlite::ToSql; 31] = [
                pipeline_id,
                run_id,
                &d.first_event_at,
                &d.last_event_at,
                &d.started_at,
                &d.scheduled_at,
                &d.max_attempt,
                &d.n_events,
                &d.n_retrying,
                &d.n_failed_terms,
                &d.max_records,
                &term.map(|t| t.ts),
                &term.map(|t| t.attempt),
                &term.map(|t| t.rank),
                &term.map(|t| t.key.as_str()),
                &term.map(|t| t.status.as_str()),
                &term.and_then(|t| t.duration_ms),
                &term.and_then(|t| t.records),
                &term.and_then(|t| t.error_type.as_deref()),
                &term.and_then(|t| t.error_message.as_deref()),
                &err.map(|e| e.ts),
                &err.map(|e| e.key.as_str()),
                &err.and_then(|e| e.error_type.as_deref()),
                &err.and_then(|e| e.error_message.as_deref()),
                &task.map(|t| t.0),
                &task.map(|t| t.1.as_str()),
                &task.map(|t| t.2.as_str()),
                &d.last_started_at,
                &d.last_retry_at,
                &d.last_running_at,
                &d.n_running,
            ];
            let delta_start = d.start_lower_bound();
            // For a run already stored, the merged start is at least the earlier of
            // its start so far and this batch's lower bound. That bound can only be
            // early, which at worst makes evaluate re-examine a pipeline it could have
            // resumed. (RETURNING
            // would give the start exactly, but SQLite builds a temporary table for
            // RETURNING on every execution.)
            let before = if insert.execute(&values[..])? == 1 {
                None
            } else {
                let before: Option<Millis> = prior
                    .query_row(params![pipeline_id, run_id], |r| r.get(0))
                    .optional()?
                    .flatten();
                merge.execute(&values[..])?;
                before
            };
            if let Some(start) = min_opt(before, delta_start) {
                let e = earliest.entry(*pipeline_id).or_insert(start);
                *e = (*e).min(start);
            }
        }
    }
    {
        let mut upsert = conn.prepare_cached(&UPSERT_PIPELINE)?;
        let mut stale = conn.prepare_cached(
            "INSERT INTO stats_stale (pipeline_id) VALUES (?1) ON CONFLICT DO NOTHING",
        )?;
        for (pipeline_id, d) in &pipelines {
            let attr = |a: &Option<(Millis, String)>| a.as_ref().map(|(ts, v)| (*ts, v.clone()));
            let (team_ts, team) = attr(&d.team).unzip();
            let (prio_ts, prio) = attr(&d.priority).unzip();
            let (env_ts, env) = attr(&d.environment).unzip();
            let (sched_ts, sched) = attr(&d.schedule).unzip();
            let (up_ts, up) = attr(&d.upstream).unzip();
            let (str_ts, streaming) = d.streaming.unzip();
            upsert.execute(params![
                pipeline_id,
                team,
                team_ts,
                prio,
                prio_ts,
                env,
                env_ts,
                sched,
                sched_ts,
                up,
                up_ts,
                streaming.map(i64::from),
                str_ts,
                d.first_event_at,
                d.last_event_at,
            ])?;
            stale.execute([pipeline_id])?;
            if !touched.contains(*pipeline_id) {
                touched.insert(pipeline_id.to_string());
            }
        }
        let mut pending = conn.prepare_cached(
            "INSERT INTO pending_changes (pipeline_id, earliest_start) VALUES (?1, ?2)
             ON CONFLICT (pipeline_id) DO UPDATE
             SET earliest_start = min(earliest_start, excluded.earliest_start)",
        )?;
        for (pipeline_id, start) in &earliest {
            pending.execute(params![pipeline_id, start])?;
        }
    }
    if let Some(ts) = batch_max_ts {
        conn.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('data_end', ?1)
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        )?
        .execute([ts])?;
    }
    conn.prepare_cached(
        "UPDATE imports SET lines = lines + ?2, blank = blank + ?3, inserted = inserted + ?4,
             duplicates = duplicates + ?5, rejected = rejected + ?6
         WHERE id = ?1",
    )?
    .execute(params![
        import_id,
        lines as i64,
        blank as i64,
        inserted as i64,
        duplicates as i64,
        rejected as i64
    ])?;

    summary.lines += lines;
    summary.blank += blank;
    summary.inserted += inserted;
    summary.duplicates += duplicates;
    summary.rejected += rejected;
    Ok(())
}

/// The deciding terminal event of a run so far.
#[derive(Debug, Clone)]
struct Terminal {
    ts: Millis,
    attempt: i64,
    rank: i64,
    key: String,
    status: Status,
    duration_ms: Option<i64>,
    records: Option<i64>,
    error_type: Option<String>,
    error_message: Option<String>,
}

impl Terminal {
    fn order(&self) -> (Millis, i64, i64, &str) {
        (self.ts, self.attempt, self.rank, &self.key)
    }
}

#[derive(Debug, Clone)]
struct ErrorSeen {
    ts: Millis,
    key: String,
    error_type: Option<String>,
    error_message: Option<String>,
}

/// A run's merge of a set of its events: what one import batch brings (combined with
/// the stored row by the same rules in `UPSERT_RUN`), or every event up to a moment
/// (`detect::load::runs_as_of`). Adding events in any order gives the same merge.
#[derive(Debug, Default, Clone)]
pub struct RunMerge {
    first_event_at: Option<Millis>,
    last_event_at: Millis,
    started_at: Option<Millis>,
    last_started_at: Option<Millis>,
    last_retry_at: Option<Millis>,
    last_running_at: Option<Millis>,
    n_running: i64,
    scheduled_at: Option<Millis>,
    max_attempt: i64,
    n_events: i64,
    n_retrying: i64,
    n_failed_terms: i64,
    max_records: Option<i64>,
    term: Option<Terminal>,
    err: Option<ErrorSeen>,
    task: Option<(Millis, String, String)>,
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

impl Fold for RunMerge {
    fn add(&mut self, ev: &Event) {
        RunMerge::add(self, ev);
    }
}

impl RunMerge {
    /// Folds one event in.
    pub fn add(&mut self, ev: &Event) {
        let stateful = ev.status != Status::Other;
        if self.n_events == 0 {
            self.last_event_at = ev.ts;
        }
        self.n_events += 1;
        if stateful {
            self.first_event_at = min_opt(self.first_event_at, Some(ev.ts));
        }
        self.last_event_at = self.last_event_at.max(ev.ts);
        if ev.status == Status::Started {
            self.started_at = min_opt(self.started_at, Some(ev.ts));
            self.last_started_at = max_opt(self.last_started_at, Some(ev.ts));
        }
        self.scheduled_at = min_opt(self.scheduled_at, ev.scheduled_at);
        self.max_attempt = self.max_attempt.max(ev.attempt);
        if ev.status == Status::Running {
            self.n_running += 1;
            self.last_running_at = max_opt(self.last_running_at, Some(ev.ts));
        }
        if ev.status == Status::Retrying {
            self.n_retrying += 1;
            self.last_retry_at = max_opt(self.last_retry_at, Some(ev.ts));
        }
        if ev.status == Status::Failed {
            self.n_failed_terms += 1;
        }
        self.max_records = max_opt(self.max_records, ev.records_processed);
        if ev.status.is_terminal() {
            let t = Terminal {
                ts: ev.ts,
                attempt: ev.attempt,
                rank: ev.status.terminal_rank(),
                key: ev.event_key.clone(),
                status: ev.status,
                duration_ms: ev.duration_ms,
                records: ev.records_processed,
                error_type: ev.error_type.clone(),
                error_message: ev.error_message.clone(),
            };
            if self.term.as_ref().is_none_or(|cur| t.order() > cur.order()) {
                self.term = Some(t);
            }
        }
        if ev.error_type.is_some() || ev.error_message.is_some() {
            let newer = self
                .err
                .as_ref()
                .is_none_or(|e| (ev.ts, ev.event_key.as_str()) > (e.ts, e.key.as_str()));
            if newer {
                self.err = Some(ErrorSeen {
                    ts: ev.ts,
                    key: ev.event_key.clone(),
                    error_type: ev.error_type.clone(),
                    error_message: ev.error_message.clone(),
                });
            }
        }
        if let Some(task) = &ev.task_id {
            let newer = self
                .task
                .as_ref()
                .is_none_or(|t| (ev.ts, ev.event_key.as_str()) > (t.0, t.1.as_str()));
            if newer {
                self.task = Some((ev.ts, ev.event_key.clone(), task.clone()));
            }
        }
    }
}

impl RunMerge {
    /// The run these events describe, with the readable columns `run_state` derives
    /// (outcome, start, duration, retries, …); None while it has only OTHER events.
    pub fn into_run(self, pipeline_id: &str, run_id: String) -> Option<Run> {
        let first = self.first_event_at?;
        let (start_at, start_source) = self.start(first);
        let term = self.term;
        let outcome = match term.as_ref().map(|t| t.status) {
            None => Outcome::Running,
            Some(Status::Success) => Outcome::Success,
            Some(Status::Failed) => Outcome::Failed,
            Some(Status::Cancelled) => Outcome::Cancelled,
            Some(_) => Outcome::Skipped,
        };
        let ended_at = term.as_ref().map(|t| t.ts);
        let duration_ms = term
            .as_ref()
            .and_then(|t| t.duration_ms)
            .or_else(|| Some((ended_at? - self.started_at?).max(0)));
        let failed_final = i64::from(outcome == Outcome::Failed);
        let (err_type, err_message) = self
            .err
            .map_or((None, None), |e| (e.error_type, e.error_message));
        let (term_records, term_type, term_message) = match term {
            Some(t) => (t.records, t.error_type, t.error_message),
            None => (None, None, None),
        };
        let retries = (self.max_attempt - 1)
            .max(self.n_retrying)
            .max(self.n_failed_terms - failed_final);
        let final_attempt_ms = match ended_at {
            None => None,
            Some(_) if retries == 0 => duration_ms,
            Some(end) => max_opt(self.last_started_at, self.last_retry_at)
                .filter(|&from| from <= end)
                .map(|from| end - from),
        };
        Some(Run {
            pipeline_id: pipeline_id.to_string(),
            run_id,
            start_at,
            start_source,
            first_event_at: first,
            last_event_at: self.last_event_at,
            started_at: self.started_at,
            ended_at,
            outcome,
            attempts: self.max_attempt,
            retries,
            duration_ms,
            records_processed: term_records.or(self.max_records),
            error_type: term_type.or(err_type),
            error_message: term_message.or(err_message),
            task_id: self.task.map(|t| t.2),
            scheduled_at: self.scheduled_at,
            final_attempt_ms,
            last_alive_at: [
                self.last_started_at,
                self.last_retry_at,
                self.last_running_at,
            ]
            .into_iter()
            .flatten()
            .fold(start_at, i64::max),
            heartbeats: self.n_running,
        })
    }

    /// The run's start and its source, as `run_state.start_at` and `start_source`
    /// derive them (migrations 0007 and 0008): the first `started`, unless the run
    /// was retried and has events before it (the first attempt's `started` was
    /// lost); else the deciding terminal event's time minus its `duration_ms`; else
    /// `scheduled_at`; else the earliest event. A derived start is never later than
    /// the earliest event (`first`).
    fn start(&self, first: Millis) -> (Millis, StartSource) {
        let retried = self.max_attempt > 1 || self.n_retrying > 0;
        if let Some(s) = self.started_at
            && !(first < s && retried)
        {
            return (s, StartSource::Started);
        }
        if let Some(t) = &self.term
            && let Some(d) = t.duration_ms
        {
            return ((t.ts - d).min(first), StartSource::Duration);
        }
        if let Some(s) = self.scheduled_at {
            return (s.min(first), StartSource::Scheduled);
        }
        (first, StartSource::FirstEvent)
    }

    /// A lower bound of the start of any run this delta is merged into, whatever
    /// the stored row holds: each rule's candidate from this delta alone (the
    /// merged start is one rule's candidate, from the stored row or the delta).
    fn start_lower_bound(&self) -> Option<Millis> {
        let first = self.first_event_at?;
        let by_duration = self.term.as_ref().and_then(|t| Some(t.ts - t.duration_ms?));
        let bound = [self.started_at, by_duration, self.scheduled_at]
            .into_iter()
            .flatten()
            .fold(first, i64::min);
        Some(bound)
    }
}

/// The columns of a run delta, in the order of the parameters ?1..?31 that
/// `INSERT_RUN` and `MERGE_RUN` share.
const RUN_COLUMNS: [&str; 31] = [
    "pipeline_id",
    "run_id",
    "first_event_at",
    "last_event_at",
    "started_at",
    "scheduled_at",
    "max_attempt",
    "n_events",
    "n_retrying",
    "n_failed_terms",
    "max_records",
    "term_ts",
    "term_attempt",
    "term_rank",
    "term_key",
    "term_status",
    "term_duration_ms",
    "term_records",
    "term_error_type",
    "term_error_message",
    "err_ts",
    "err_key",
    "err_type",
    "err_message",
    "task_ts",
    "task_key",
    "task_id",
    "last_started_at",
    "last_retry_at",
    "last_running_at",
    "n_running",
];

/// The deciding terminal event, the latest error and the latest task: each group is
/// taken whole from the greater event by the group's order (its leading columns).
const TERM_COLUMNS: &[&str] = RUN_COLUMNS.split_at(11).1.split_at(9).0;
const ERR_COLUMNS: &[&str] = RUN_COLUMNS.split_at(20).1.split_at(4).0;
const TASK_COLUMNS: &[&str] = RUN_COLUMNS.split_at(24).1.split_at(3).0;

/// A run seen for the first time: its delta is the whole row. Most runs of a batch
/// are new, and a plain insert is the cheapest write SQLite has.
static INSERT_RUN: LazyLock<String> = LazyLock::new(|| {
    let marks: Vec<String> = (1..=RUN_COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO run_state ({})\nVALUES ({})\nON CONFLICT (pipeline_id, run_id) DO NOTHING",
        RUN_COLUMNS.join(", "),
        marks.join(", ")
    )
});

/// Merges a run delta into a run already in `run_state`. Every column is a
/// commutative merge (min, max, sum, or "greatest by a total order"), so the row is
/// the same whatever order batches and lines come in. (SQLite evaluates every SET
/// expression against the old row, so the "is the incoming value newer" test can be
/// repeated per column.) `new.c` in the text below is the delta's value of column c,
/// parameter ?n.
static MERGE_RUN: LazyLock<String> = LazyLock::new(|| {
    let newer = |cols: &[&str]| {
        let new: Vec<String> = cols.iter().map(|c| format!("new.{c}")).collect();
        format!(
            "new.{first} IS NOT NULL AND ({first} IS NULL OR ({new}) > ({old}))",
            first = cols[0],
            new = new.join(", "),
            old = cols.join(", ")
        )
    };
    let pick = |cond: &str, cols: &[&str]| -> String {
        cols.iter()
            .map(|c| format!("    {c} = CASE WHEN {cond} THEN new.{c} ELSE {c} END"))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    let term_order = newer(&TERM_COLUMNS[..4]);
    let err_order = newer(&ERR_COLUMNS[..2]);
    let task_order = newer(&TASK_COLUMNS[..2]);
    let mut sql = format!(
        "UPDATE run_state SET
    first_event_at = coalesce(min(first_event_at, new.first_event_at),
                              first_event_at, new.first_event_at),
    last_event_at  = max(last_event_at, new.last_event_at),
    started_at     = coalesce(min(started_at, new.started_at), started_at, new.started_at),
    scheduled_at   = coalesce(min(scheduled_at, new.scheduled_at), scheduled_at, new.scheduled_at),
    max_attempt    = max(max_attempt, new.max_attempt),
    n_events       = n_events + new.n_events,
    n_retrying     = n_retrying + new.n_retrying,
    n_failed_terms = n_failed_terms + new.n_failed_terms,
    max_records    = coalesce(max(max_records, new.max_records), max_records, new.max_records),
    last_started_at = coalesce(max(last_started_at, new.last_started_at),
                               last_started_at, new.last_started_at),
    last_retry_at  = coalesce(max(last_retry_at, new.last_retry_at), last_retry_at, new.last_retry_at),
    last_running_at = coalesce(max(last_running_at, new.last_running_at),
                               last_running_at, new.last_running_at),
    n_running      = n_running + new.n_running,
{term},
{err},
{task}
WHERE pipeline_id = new.pipeline_id AND run_id = new.run_id",
        term = pick(&term_order, TERM_COLUMNS),
        err = pick(&err_order, ERR_COLUMNS),
        task = pick(&task_order, TASK_COLUMNS),
    );
    // Longest names first, so `new.err_t` never eats into `new.err_type`.
    let mut by_length: Vec<(usize, &str)> = RUN_COLUMNS.iter().copied().enumerate().collect();
    by_length.sort_by_key(|(_, c)| std::cmp::Reverse(c.len()));
    for (i, c) in by_length {
        sql = sql.replace(&format!("new.{c}"), &format!("?{}", i + 1));
    }
    sql
});

/// A pipeline's attributes from one batch: for each, the value of the latest event
/// (ties: the greater value) that carried it.
#[derive(Debug, Default, Clone, PartialEq)]
struct PipelineDelta {
    team: Option<(Millis, String)>,
    priority: Option<(Millis, String)>,
    environment: Option<(Millis, String)>,
    schedule: Option<(Millis, String)>,
    upstream: Option<(Millis, String)>,
    streaming: Option<(Millis, bool)>,
    first_event_at: Millis,
    last_event_at: Millis,
    seen: bool,
}

/// Keeps the value of the latest event (ties: the greater value); clones only a winner.
fn latest<T: PartialOrd + ToOwned + ?Sized>(
    slot: &mut Option<(Millis, T::Owned)>,
    ts: Millis,
    value: Option<&T>,
) where
    T::Owned: std::borrow::Borrow<T>,
{
    use std::borrow::Borrow;
    if let Some(v) = value {
        let newer = match slot {
            None => true,
            Some((cur_ts, cur_v)) => (ts, v) > (*cur_ts, (*cur_v).borrow()),
        };
        if newer {
            *slot = Some((ts, v.to_owned()));
        }
    }
}

impl PipelineDelta {
    /// Whether leaving out `ev`, one of the events this delta was made from, could
    /// change it: only an event at the delta's first or last time, or at the time of
    /// one of its winning attribute values, can. (Every other value is a minimum, a
    /// maximum or a latest-by-time that another event holds.)
    fn shaped_by(&self, ev: &Event) -> bool {
        fn at<V>(slot: &Option<(Millis, V)>, ts: Millis) -> bool {
            slot.as_ref().is_some_and(|(t, _)| *t == ts)
        }
        let ts = ev.ts;
        ts == self.first_event_at
            || ts == self.last_event_at
            || at(&self.team, ts)
            || at(&self.priority, ts)
            || at(&self.environment, ts)
            || at(&self.schedule, ts)
            || at(&self.upstream, ts)
            || at(&self.streaming, ts)
    }
}

impl Fold for PipelineDelta {
    fn add(&mut self, ev: &Event) {
        if !self.seen {
            self.first_event_at = ev.ts;
            self.last_event_at = ev.ts;
            self.seen = true;
        }
        self.first_event_at = self.first_event_at.min(ev.ts);
        self.last_event_at = self.last_event_at.max(ev.ts);
        latest(&mut self.team, ev.ts, ev.team.as_deref());
        latest(&mut self.priority, ev.ts, ev.priority.map(|p| p.as_str()));
        latest(&mut self.environment, ev.ts, ev.environment.as_deref());
        latest(&mut self.schedule, ev.ts, ev.schedule.as_deref());
        if let Some(up) = &ev.upstream {
            let text = serde_json::to_string(up).unwrap_or_else(|_| "[]".into());
            latest(&mut self.upstream, ev.ts, Some(text.as_str()));
        }
        latest(&mut self.streaming, ev.ts, ev.streaming.as_ref());
    }
}

/// Merges a pipeline delta into `pipelines` by the same "latest by (time, value)" rule.
static UPSERT_PIPELINE: LazyLock<String> = LazyLock::new(|| {
    let attrs = [
        "team",
        "priority",
        "environment",
        "schedule",
        "upstream",
        "streaming",
    ];
    let sets: Vec<String> = attrs
        .iter()
        .flat_map(|a| {
            let cond = format!(
                "excluded.{a}_ts IS NOT NULL AND ({a}_ts IS NULL OR (excluded.{a}_ts, excluded.{a}) > ({a}_ts, {a}))"
            );
            [
                format!("    {a} = CASE WHEN {cond} THEN excluded.{a} ELSE {a} END"),
                format!("    {a}_ts = CASE WHEN {cond} THEN excluded.{a}_ts ELSE {a}_ts END"),
            ]
        })
        .collect();
    format!(
        "INSERT INTO pipelines (pipeline_id, team, team_ts, priority, priority_ts, environment,
    environment_ts, schedule, schedule_ts, upstream, upstream_ts, streaming, streaming_ts,
    first_event_at, last_event_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
ON CONFLICT (pipeline_id) DO UPDATE SET
{},
    first_event_at = min(first_event_at, excluded.first_event_at),
    last_event_at  = max(last_event_at, excluded.last_event_at)",
        sets.join(",\n")
    )
});

/// Recomputes `pipeline_stats` for the pipelines in `stats_stale`, then clears it.
/// Runs inside the caller's transaction.
pub fn refresh_stale_stats(conn: &Connection) -> Result<()> {
    let any: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM stats_stale)", [], |r| {
        r.get(0)
    })?;
    if !any {
        return Ok(());
    }
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.stats_scope;
         CREATE TEMP TABLE stats_scope (pipeline_id TEXT PRIMARY KEY) WITHOUT ROWID;
         INSERT INTO temp.stats_scope SELECT pipeline_id FROM stats_stale;",
    )?;
    compute_stats(conn, i64::MIN)?;
    conn.execute_batch("DELETE FROM stats_stale; DROP TABLE temp.stats_scope;")?;
    Ok(())
}

/// Writes `pipeline_stats` rows for the pipelines in `temp.stats_scope`, counting runs
/// that started at or after `since`. Pipelines with no such run get a zero row.
///
/// Each pipeline's runs are read in primary-key order (a sequential scan of its part
/// of `run_state`, cheaper than visiting the table through an index) and put in
/// start order in memory; one pass over them gives counts, the latest status, the
/// current failure streak (final failures after the latest success; cancelled and skipped runs neither
/// extend nor break it), and nearest-rank percentiles of successful runs' durations (a
/// failed run's duration is where it broke, not how long the work takes). Percentiles
/// are what SQL does badly: window functions would sort every run again.
pub fn compute_stats(conn: &Connection, since: Millis) -> Result<()> {
    conn.execute(
        "DELETE FROM pipeline_stats WHERE pipeline_id IN (SELECT pipeline_id FROM temp.stats_scope)",
        [],
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO pipeline_stats (pipeline_id, runs_total, runs_success, runs_failed,
             runs_cancelled, runs_skipped, runs_in_progress, runs_retried, consecutive_failures,
             last_status, last_run_at, last_success_at, duration_p50_ms, duration_p95_ms,
             duration_max_ms, avg_records)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    let mut write = |s: &PipelineStats| -> rusqlite::Result<usize> {
        let mut durations = s.durations.clone();
        durations.sort_unstable();
        let rank = |p: usize| -> Option<i64> {
            let n = durations.len();
            (n > 0).then(|| durations[(p * n).div_ceil(100).max(1) - 1])
        };
        insert.execute(params![
            s.pipeline_id,
            s.total,
            s.success,
            s.failed,
            s.cancelled,
            s.skipped,
            s.running,
            s.retried,
            s.streak,
            s.last_status,
            s.last_run_at,
            s.last_success_at,
            rank(50),
            rank(95),
            durations.last().copied(),
            (s.records_n > 0).then(|| s.records_sum / s.records_n as f64),
        ])
    };
    // `+start_at`: the filter must not steer the planner to runs_by_pipeline_start.
    let mut stmt = conn.prepare(
        "SELECT pipeline_id, outcome, start_at, ended_at, duration_ms, records_processed, retries
         FROM run_state
         WHERE pipeline_id IN (SELECT pipeline_id FROM temp.stats_scope)
           AND +start_at >= ?1 AND first_event_at IS NOT NULL
         ORDER BY pipeline_id",
    )?;
    let mut rows = stmt.query([since])?;
    let mut pipeline: Option<String> = None;
    let mut runs: Vec<StatsRun> = Vec::new();
    let mut flush = |pipeline_id: String, runs: &mut Vec<StatsRun>| {
        runs.sort_by_key(|r| r.start);
        let stats = PipelineStats::of(pipeline_id, runs);
        runs.clear();
        write(&stats)
    };
    while let Some(row) = rows.next()? {
        let pipeline_id: String = row.get(0)?;
        if pipeline.as_ref() != Some(&pipeline_id)
            && let Some(done) = pipeline.replace(pipeline_id)
        {
            flush(done, &mut runs)?;
        }
        runs.push(StatsRun {
            outcome: row.get(1)?,
            start: row.get(2)?,
            ended: row.get(3)?,
            duration: row.get(4)?,
            records: row.get(5)?,
            retries: row.get(6)?,
        });
    }
    if let Some(done) = pipeline.take() {
        flush(done, &mut runs)?;
    }
    // Pipelines in scope with no run in the window still get a row.
    conn.execute(
        "INSERT INTO pipeline_stats (pipeline_id, runs_total, runs_success, runs_failed,
             runs_cancelled, runs_skipped, runs_in_progress, runs_retried, consecutive_failures)
         SELECT s.pipeline_id, 0, 0, 0, 0, 0, 0, 0, 0 FROM temp.stats_scope s
         WHERE s.pipeline_id IN (SELECT pipeline_id FROM pipelines)
           AND s.pipeline_id NOT IN (SELECT pipeline_id FROM pipeline_stats)",
        [],
    )?;
    Ok(())
}

/// The columns of one run that `compute_stats` reads.
struct StatsRun {
    outcome: String,
    start: Millis,
    ended: Option<Millis>,
    duration: Option<i64>,
    records: Option<i64>,
    retries: i64,
}

/// One pipeline's totals, folded from its runs in start order.
#[derive(Debug, Default)]
struct PipelineStats {
    pipeline_id: String,
    total: i64,
    success: i64,
    failed: i64,
    cancelled: i64,
    skipped: i64,
    running: i64,
    retried: i64,
    streak: i64,
    last_status: Option<String>,
    last_run_at: Option<Millis>,
    last_success_at: Option<Millis>,
    durations: Vec<i64>,
    records_sum: f64,
    records_n: i64,
}

impl PipelineStats {
    fn of(pipeline_id: String, runs: &[StatsRun]) -> PipelineStats {
        let mut s = PipelineStats {
            pipeline_id,
            ..PipelineStats::default()
        };
        for run in runs {
            s.total += 1;
            s.last_run_at = Some(s.last_run_at.map_or(run.start, |l| l.max(run.start)));
            match run.outcome.as_str() {
                "success" => {
                    s.success += 1;
                    s.streak = 0;
                    s.last_success_at = max_opt(s.last_success_at, run.ended);
                    if let Some(d) = run.duration {
                        s.durations.push(d);
                    }
                    if let Some(r) = run.records {
                        s.records_sum += r as f64;
                        s.records_n += 1;
                    }
                }
                "failed" => {
                    s.failed += 1;
                    s.streak += 1;
                }
                "cancelled" => s.cancelled += 1,
                "skipped" => s.skipped += 1,
                _ => s.running += 1,
            }
            if run.retries > 0 && matches!(run.outcome.as_str(), "success" | "failed") {
                s.retried += 1;
            }
        }
        s.last_status = runs.last().map(|r| r.outcome.clone());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(status: Status, ts: Millis, attempt: i64, key: &str) -> Event {
        Event {
            pipeline_id: "p".into(),
            run_id: "r".into(),
            status,
            ts,
            event_key: key.into(),
            attempt,
            duration_ms: None,
            records_processed: None,
            error_type: None,
            error_message: None,
            task_id: None,
            team: None,
            priority: None,
            environment: None,
            schedule: None,
            upstream: None,
            scheduled_at: None,
            streaming: None,
            extra: None,
        }
    }

    #[test]
    fn a_pipeline_delta_is_unchanged_without_an_event_that_did_not_shape_it() {
        // Events over a few times, some sharing a time, carrying attributes or not.
        let mut events = Vec::new();
        for (i, ts) in [50, 10, 30, 30, 70, 70, 20, 60].into_iter().enumerate() {
            let mut e = ev(Status::Started, ts, 1, &format!("k{i}"));
            if i % 2 == 0 {
                e.team = Some(format!("team{}", i % 3));
            }
            if i % 3 == 0 {
                e.environment = Some(format!("env{i}"));
            }
            if i == 2 || i == 3 {
                e.schedule = Some(format!("{}m", i * 5));
            }
            events.push(e);
        }
        let delta = |skip: Option<usize>| {
            let mut d = PipelineDelta::default();
            for (i, e) in events.iter().enumerate() {
                if Some(i) != skip {
                    d.add(e);
                }
            }
            d
        };
        let all = delta(None);
        let mut unshaped = 0;
        for (i, e) in events.iter().enumerate() {
            if !all.shaped_by(e) {
                unshaped += 1;
                assert_eq!(
                    delta(Some(i)),
                    all,
                    "leaving out event {i} changed the delta"
                );
            }
        }
        // First 10, last 70, team at 70, environment at 50, schedule at 30: the events
        // at 20 and 60 shape nothing.
        assert_eq!(unshaped, 2);
    }

    #[test]
    fn terminal_tie_break_prefers_attempt_then_worse_outcome() {
        let mut d = RunMerge::default();
        d.add(&ev(Status::Success, 100, 1, "a"));
        d.add(&ev(Status::Failed, 100, 1, "b"));
        assert_eq!(d.term.as_ref().unwrap().status, Status::Failed);
        d.add(&ev(Status::Success, 100, 2, "c"));
        assert_eq!(d.term.as_ref().unwrap().status, Status::Success);
        d.add(&ev(Status::Cancelled, 99, 9, "d"));
        assert_eq!(d.term.as_ref().unwrap().status, Status::Success);
    }

    #[test]
    fn run_column_groups_are_the_columns_they_name() {
        let names = |cols: &[&str]| cols.join(",");
        assert_eq!(
            names(TERM_COLUMNS),
            "term_ts,term_attempt,term_rank,term_key,term_status,term_duration_ms,\
             term_records,term_error_type,term_error_message"
        );
        assert_eq!(names(ERR_COLUMNS), "err_ts,err_key,err_type,err_message");
        assert_eq!(names(TASK_COLUMNS), "task_ts,task_key,task_id");
        // Every parameter of the merge is bound by position: ?n is RUN_COLUMNS[n - 1].
        for (i, c) in RUN_COLUMNS.iter().enumerate().skip(2) {
            let merged = MERGE_RUN.lines().any(|l| {
                l.trim_start()
                    .strip_prefix(c)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            assert!(merged, "{c} is not merged");
            assert!(
                MERGE_RUN.contains(&format!("?{}", i + 1)),
                "?{} unused",
                i + 1
            );
        }
        assert!(!MERGE_RUN.contains("new."), "{}", *MERGE_RUN);
    }

    #[test]
    fn other_events_do_not_make_a_run() {
        let mut d = RunMerge::default();
        d.add(&ev(Status::Other, 50, 1, "x"));
        assert_eq!(d.first_event_at, None);
        d.add(&ev(Status::Started, 60, 1, "y"));
        assert_eq!(d.first_event_at, Some(60));
        assert_eq!(d.last_event_at, 60);
    }

    /// Lines per batch when reading `lines` lines of `len` bytes each.
    fn batch_sizes(lines: usize, len: usize) -> Vec<usize> {
        let mut data = Vec::with_capacity(lines * (len + 1));
        for _ in 0..lines {
            data.extend(std::iter::repeat_n(b'x', len));
            data.push(b'\n');
        }
        let mut sizes = Vec::new();
        read_batches(&data[..], InputFormat::Auto, Millis::MAX, |b| {
            let b = b.unwrap();
            assert!(b.items.iter().all(|i| matches!(i, Item::Rejected { .. })));
            sizes.push(b.items.len());
            true
        });
        sizes
    }

    #[test]
    fn batches_close_at_a_line_count_or_a_byte_count() {
        // Short lines: the line count closes batches.
        assert_eq!(
            batch_sizes(40_000, 10),
            vec![BATCH_LINES, 40_000 - BATCH_LINES]
        );
        // Lines of 600 KiB: 16 MiB / 600 KiB = 27.3, so 28 lines fill a batch.
        assert_eq!(batch_sizes(100, 600 << 10), vec![28, 28, 28, 16]);
        // Lines cut at the 1 MiB limit count what is kept: 16 to a batch.
        assert_eq!(batch_sizes(40, MAX_LINE_BYTES + 5000), vec![16, 16, 8]);
    }

    #[test]
    fn bounded_lines_are_cut_and_flagged() {
        let mut data = vec![b'a'; MAX_LINE_BYTES + 10];
        data.extend_from_slice(b"\nshort\r\n");
        let mut r = BufReader::new(&data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf).unwrap(), (true, true));
        assert_eq!(buf.len(), MAX_LINE_BYTES);
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf).unwrap(), (true, false));
        assert_eq!(buf, b"short");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf).unwrap(), (false, false));
    }
}
