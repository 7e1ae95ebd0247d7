//! The in-run reference that import speed is judged against: the same parsed rows
//! inserted, with the same batch size, PRAGMAs and a prepared statement, into a table
//! with the events table's columns and no secondary index.
//!
//! A rate in events per second says as much about the machine (and what else runs on
//! it) as about pipemon; a ratio to SQLite's own insert rate for the same rows,
//! measured minutes apart on the same machine, says how close the import comes to
//! the floor. `pipemon eval` (check 3) and `cargo bench --bench import` both use this.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rusqlite::{Connection, params};

use crate::cli::InputFormat;
use crate::model::Event;
use crate::store::import::BATCH_LINES;

/// The table the reference writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// The events table's primary key, `(pipeline_id, event_key)`, which is the
    /// deduplication (so repeated events are skipped as in an import).
    Keyed,
    /// A rowid table with no key at all: the cheapest write SQLite has.
    Keyless,
}

/// What the reference measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    pub rows: u64,
    /// Time spent inserting and committing (parsing is not counted).
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// Reads `events` (JSON Lines, gzip when it ends in `.gz`), parses each line as the
/// importer does, and inserts the accepted rows into a fresh database at `db` in
/// batches of the importer's size, timing only the inserts.
pub fn measure(events: &Path, db: &Path, table: Table) -> Result<Reference> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let file =
        std::fs::File::open(events).with_context(|| format!("opening {}", events.display()))?;
    let raw: Box<dyn Read> = if events.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let reader = BufReader::with_capacity(1 << 20, raw);
    let conn = Connection::open(db).with_context(|| format!("creating {}", db.display()))?;
    let (key, options, verb) = match table {
        Table::Keyed => (
            ", PRIMARY KEY (pipeline_id, event_key)",
            "STRICT, WITHOUT ROWID",
            "INSERT OR IGNORE",
        ),
        Table::Keyless => ("", "STRICT", "INSERT"),
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -131072;
         CREATE TABLE plain_events (pipeline_id TEXT NOT NULL, event_key TEXT NOT NULL,
             run_id TEXT, status TEXT, ts INTEGER, attempt INTEGER, duration_ms INTEGER,
             records_processed INTEGER, error_type TEXT, error_message TEXT, task_id TEXT,
             scheduled_at INTEGER, extra TEXT, import_id INTEGER{key}) {options};"
    ))?;
    let insert = format!(
        "{verb} INTO plain_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    );
    let mut spent = Duration::ZERO;
    let mut rows = 0u64;
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH_LINES);
    let mut lines = reader.lines();
    loop {
        batch.clear();
        for line in lines.by_ref() {
            let line = line.with_context(|| format!("reading {}", events.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            if let Ok(e) = crate::ingest::parse_line(&line, InputFormat::Auto) {
                batch.push(e);
            }
            if batch.len() == BATCH_LINES {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        let started = Instant::now();
        conn.execute_batch("BEGIN")?;
        {
            let mut stmt = conn.prepare_cached(&insert)?;
            for e in &batch {
                stmt.execute(params![
                    e.pipeline_id,
                    e.event_key,
                    e.run_id,
                    e.status.as_str(),
                    e.ts,
                    e.attempt,
                    e.duration_ms,
                    e.records_processed,
                    e.error_type,
                    e.error_message,
                    e.task_id,
                    e.scheduled_at,
                    e.extra,
                    1
                ])?;
            }
        }
        conn.execute_batch("COMMIT")?;
        spent += started.elapsed();
        rows += batch.len() as u64;
    }
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let seconds = spent.as_secs_f64();
    Ok(Reference {
        rows,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_accepted_rows_and_skips_bad_and_duplicate_lines() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("e.jsonl");
        let good = |i: u32| {
            format!(
                r#"{{"pipeline_id":"p","run_id":"r{i}","status":"success","timestamp":"2026-10-01T00:00:0{i}Z","event_id":"e{i}"}}"#
            )
        };
        let text = [
            good(1),
            good(2),
            good(2),
            "{oops".into(),
            String::new(),
            good(3),
        ]
        .join("\n");
        std::fs::write(&events, text).unwrap();
        for table in [Table::Keyed, Table::Keyless] {
            let r = measure(&events, &dir.path().join("ref.db"), table).unwrap();
            // Four parsed rows (the duplicate is a row the keyed table ignores).
            assert_eq!(r.rows, 4, "{table:?}");
            assert!(r.rows_per_second > 0.0);
        }
        assert!(
            !dir.path().join("ref.db").exists(),
            "the reference cleans up"
        );
    }
}
