//! Store: the SQLite database behind every command.
//!
//! Opening applies per-connection PRAGMAs (WAL, synchronous=NORMAL, a busy timeout so
//! overlapping cron runs wait rather than fail) and pending migrations. Connections come
//! from an r2d2 pool so read-only work can run beside a writer.
//!
//! SQLite has one writer at a time. A writer that finds the lock taken (an import
//! beside a long evaluation, two evaluations from overlapping cron jobs) waits for it
//! up to the lock timeout (`--lock-timeout`, default 10 minutes) instead of failing.
//! `Store::open_read_only` is what the read commands use: it never creates, migrates
//! or writes the file, works on a read-only file or directory, and turns a missing or
//! unusable database into an error that says what to do.

pub mod import;
pub mod migrate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// How long a writer waits for the write lock, in milliseconds (process-wide: every
/// connection of every store this process opens).
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_LOCK_TIMEOUT.as_millis() as u64);

/// Longer than any evaluation or import commit should hold the lock, so overlapping
/// cron jobs queue rather than fail; short enough that a stuck process is noticed.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// Sets how long writers wait for the write lock; applies to connections opened
/// afterwards (call it before opening a store).
pub fn set_lock_timeout(timeout: Duration) {
    LOCK_TIMEOUT_MS.store(
        timeout.as_millis().min(i32::MAX as u128) as u64,
        Ordering::Relaxed,
    );
}

/// How long writers wait for the write lock.
pub fn lock_timeout() -> Duration {
    Duration::from_millis(LOCK_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Turns a failure to take the write lock into an error that says what happened and
/// what to do; other errors pass through.
pub fn lock_error(e: rusqlite::Error) -> anyhow::Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
        anyhow::anyhow!(crate::error::hinted(
            format!(
                "the database stayed locked by another writer (an evaluation, import or notify) for the whole lock timeout ({})",
                crate::time::format_duration(lock_timeout().as_millis() as i64)
            ),
            "wait for the other pipemon process to finish, or wait longer with --lock-timeout (or PIPEMON_LOCK_TIMEOUT), e.g. --lock-timeout 30m",
        ))
        .context("waiting for the database write lock")
    } else {
        anyhow::Error::new(e).context("taking the database write lock")
    }
}

/// PRAGMAs every connection gets (never set inside migrations).
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(lock_timeout())?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -131072;",
    )
}

/// Process-wide SQLite settings, applied once before the first connection opens.
/// Memory statistics are turned off: with them on, every allocation SQLite makes
/// takes a global mutex, and pipemon never reads the statistics.
fn configure_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before SQLite is initialised (no
        // connection is open yet in this process); if it already is, SQLite returns
        // SQLITE_MISUSE and changes nothing, which is harmless.
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        configure_library();
        // Look before configuring: switching to WAL rewrites the file header, and a
        // database from a newer pipemon must be left exactly as it is.
        if path.exists() {
            let probe =
                Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .with_context(|| format!("opening database {}", path.display()))?;
            migrate::refuse_newer(&probe)
                .with_context(|| format!("opening database {}", path.display()))?;
        }
        // Migrations run on a connection of their own, closed afterwards: a
        // connection that rewrote schema text itself keeps the schema it parsed
        // before, while every connection opened later reads the migrated one.
        {
            let mut conn = Connection::open(path)
                .with_context(|| format!("opening database {}", path.display()))?;
            configure(&mut conn)?;
            migrate::migrate(&mut conn)
                .with_context(|| format!("migrating database {}", path.display()))?;
        }
        let manager = SqliteConnectionManager::file(path).with_init(configure);
        let pool = Pool::builder()
            .max_size(4)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(60).max(lock_timeout()))
            .build(manager)
            .with_context(|| format!("opening database {}", path.display()))?;
        let store = Store {
            pool,
            path: path.to_path_buf(),
        };
        Ok(store)
    }

    /// Opens an existing database for reading only: nothing is created, migrated or
    /// written, so it works on a file or directory the user cannot write.
    ///
    /// A database in WAL mode needs its `-shm` index; where that cannot be created (a
    /// read-only directory) or opened, the file is read as immutable instead (SQLite
    /// then takes no locks and reads the main file alone, which is exact when no
    /// writer is at work, and nobody can write there without write permission).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        configure_library();
        if !path.exists() {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let what = match dir {
                Some(d) if !d.is_dir() => format!(
                    "no database at {} (the directory {} does not exist)",
                    path.display(),
                    d.display()
                ),
                _ => format!("no database at {}", path.display()),
            };
            anyhow::bail!(crate::error::hinted(
                what,
                "pass the database with --db PATH or set PIPEMON_DB (cron starts in $HOME, \
                 so use an absolute path); `pipemon import FILE` creates one",
            ));
        }
        let mut uri = read_only_uri(path, false);
        let probe = match probe_read_only(&uri) {
            Ok(c) => c,
            Err(e) if wal_index_unavailable(&e) => {
                uri = read_only_uri(path, true);
                probe_read_only(&uri).map_err(|e| explain(e, path))?
            }
            Err(e) => return Err(explain(e, path)),
        };
        let version: i64 = probe
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| explain(e, path))?;
        if version == 0 {
            anyhow::bail!(crate::error::hinted(
                format!(
                    "{} is not a pipemon database (it has no pipemon schema)",
                    path.display()
                ),
                "check --db / PIPEMON_DB; `pipemon import FILE` creates a database",
            ));
        }
        migrate::refuse_newer(&probe)
            .with_context(|| format!("opening database {}", path.display()))?;
        if version < migrate::latest_version() {
            anyhow::bail!(crate::error::hinted(
                format!(
                    "{} has schema version {version}; this pipemon reads version {}",
                    path.display(),
                    migrate::latest_version()
                ),
                "run a writing command once (`pipemon evaluate --no-notify`) to migrate it, \
                 with write access to the file and its directory",
            ));
        }
        drop(probe);
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let manager = SqliteConnectionManager::file(&uri)
            .with_flags(flags)
            .with_init(configure_read_only);
        let pool = Pool::builder()
            .max_size(2)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(60))
            .build(manager)
            .with_context(|| format!("opening database {}", path.display()))?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
        })
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

/// PRAGMAs of a read-only connection: no journal mode change (that writes the header).
fn configure_read_only(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -131072;",
    )
}

/// `file:PATH?mode=ro` (plus `&immutable=1`), with the path percent-encoded.
fn read_only_uri(path: &Path, immutable: bool) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for b in abs.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                uri.push(b as char)
            }
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?mode=ro");
    if immutable {
        uri.push_str("&immutable=1");
    }
    uri
}

/// Opens `uri` read-only and reads the schema, so a problem shows here, not later.
fn probe_read_only(uri: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(conn)
}

/// Whether a read-only open failed because the WAL index (`-shm`) cannot be made or used.
fn wal_index_unavailable(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, ReadOnly};
    matches!(e.sqlite_error_code(), Some(CannotOpen | ReadOnly))
}

/// Turns a SQLite error on `path` into what happened and what to do.
pub fn explain(e: rusqlite::Error, path: &Path) -> anyhow::Error {
    match hint_for(&e, path) {
        Some((what, hint)) => anyhow::Error::new(e).context(crate::error::hinted(what, hint)),
        None => anyhow::Error::new(e).context(format!("opening database {}", path.display())),
    }
}

/// What a SQLite error means for the database at `path`, and what to do about it.
pub fn hint_for(e: &rusqlite::Error, path: &Path) -> Option<(String, String)> {
    use rusqlite::ErrorCode as C;
    let p = path.display();
    Some(match e.sqlite_error_code()? {
        C::NotADatabase => (
            format!("{p} is not a SQLite database"),
            "check --db / PIPEMON_DB: it names some other file".to_string(),
        ),
        C::DatabaseCorrupt => (
            format!("the database {p} is damaged"),
            "restore it from a backup, or re-import the events into a new database".to_string(),
        ),
        C::DatabaseBusy | C::DatabaseLocked => (
            format!("the database {p} stayed locked by another process for 30 s"),
            "another pipemon (an import or evaluate) is writing; run again when it is done"
                .to_string(),
        ),
        C::ReadOnly => (
            format!("cannot write the database {p}: it or its directory is read-only"),
            "read commands (alerts, query, rejected, notifications) work as they are; \
             writing ones need write access to the file and its directory"
                .to_string(),
        ),
        C::CannotOpen => (
            format!("cannot open the database {p}"),
            "check that the file and its directory exist and that you may read them \
             (writing commands also need write access to the directory)"
                .to_string(),
        ),
        C::PermissionDenied => (
            format!("permission denied on the database {p}"),
            "check the file's and its directory's permissions".to_string(),
        ),
        C::DiskFull => (
            format!("the disk holding {p} is full"),
            "free some space and run again; nothing half-written was kept".to_string(),
        ),
        C::SystemIoFailure => (
            format!("an I/O error occurred on the database {p}"),
            "check the disk and the file system; run again".to_string(),
        ),
        _ => return None,
    })
}

/// Checkpoints the WAL on a thread of its own while one long write (an import) goes
/// on, so the writer never stops to copy pages into the database file and fsync it.
/// While it lives, the writer's automatic checkpoints are off; `nudge` after each
/// commit asks for a passive checkpoint, which never blocks the writer or readers.
pub struct Checkpointer<'c> {
    writer: &'c Connection,
    nudge: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<'c> Checkpointer<'c> {
    pub fn start(store: &Store, writer: &'c Connection) -> Result<Checkpointer<'c>> {
        let conn = store.conn()?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (nudge, requests) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            // A failed passive checkpoint is retried at the next nudge, and the
            // writer's automatic checkpoints resume when this one stops.
            while requests.recv().is_ok() {
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        });
        Ok(Checkpointer {
            writer,
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// Asks for a checkpoint of what is committed so far (one is queued at most).
    pub fn nudge(&self) {
        if let Some(n) = &self.nudge {
            let _ = n.try_send(());
        }
    }
}

impl Drop for Checkpointer<'_> {
    fn drop(&mut self) {
        self.nudge.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.writer.pragma_update(None, "wal_autocheckpoint", 1000);
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
