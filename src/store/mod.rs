//! Store: the SQLite database behind every command.
//!
//! Opening applies per-connection PRAGMAs (WAL, synchronous=NORMAL, a busy timeout so
//! overlapping cron runs wait rather than fail) and pending migrations. Connections come
//! from an r2d2 pool so read-only work can run beside a writer.

pub mod import;
pub mod migrate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension};

pub type Conn = PooledConnection<SqliteConnectionManager>;

/// The database: a pool of configured connections to one file.
#[derive(Clone)]
pub struct Store {
    pool: Pool<SqliteConnectionManager>,
    path: PathBuf,
}

/// PRAGMAs every connection gets (never set inside migrations).
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -131072;",
    )
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        // Look before configuring: switching to WAL rewrites the file header, and a
        // database from a newer pipemon must be left exactly as it is.
        if path.exists() {
            let probe =
                Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .with_context(|| format!("opening database {}", path.display()))?;
            migrate::refuse_newer(&probe)
                .with_context(|| format!("opening database {}", path.display()))?;
        }
        let manager = SqliteConnectionManager::file(path).with_init(configure);
        let pool = Pool::builder()
            .max_size(4)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(60))
            .build(manager)
            .with_context(|| format!("opening database {}", path.display()))?;
        let store = Store {
            pool,
            path: path.to_path_buf(),
        };
        let mut conn = store.conn()?;
        migrate::migrate(&mut conn)
            .with_context(|| format!("migrating database {}", path.display()))?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pooled connection with pipemon's PRAGMAs applied.
    pub fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .with_context(|| format!("connecting to database {}", self.path.display()))
    }
}

/// Reads a value from the `meta` table.
pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Writes a value to the `meta` table.
pub fn meta_set(conn: &Connection, key: &str, value: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )?;
    Ok(())
}

/// The latest event time in the database (`data-end`), if any event exists.
pub fn data_end(conn: &Connection) -> Result<Option<i64>> {
    meta_get(conn, "data_end")
}
