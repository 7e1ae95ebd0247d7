//! Schema migrations: plain `.sql` files from `migrations/`, compiled in, applied in
//! order and tracked with `PRAGMA user_version`.
//!
//! All pending migrations run in one IMMEDIATE transaction, so a database is either
//! fully at the new version or untouched. A database whose version is newer than
//! this binary knows is refused before anything is written.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, TransactionBehavior};

/// Every migration, in order; the position (1-based) is the schema version it yields.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_views",
        include_str!("../../migrations/0002_views.sql"),
    ),
    (
        "0003_detect",
        include_str!("../../migrations/0003_detect.sql"),
    ),
    (
        "0004_alerting",
        include_str!("../../migrations/0004_alerting.sql"),
    ),
    (
        "0005_cheap_checks",
        include_str!("../../migrations/0005_cheap_checks.sql"),
    ),
    (
        "0006_announcements",
        include_str!("../../migrations/0006_announcements.sql"),
    ),
    (
        "0007_run_start",
        include_str!("../../migrations/0007_run_start.sql"),
    ),
    (
        "0008_lost_first_start",
        include_str!("../../migrations/0008_lost_first_start.sql"),
    ),
];

/// The schema version this binary writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings `conn` to the latest schema version, or refuses a newer database.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, latest_version())
}

/// Fails, changing nothing, when the database is newer than this binary.
pub fn refuse_newer(conn: &Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest_version() {
        bail!(crate::error::hinted(
            format!(
                "the database has schema version {current}, newer than this pipemon understands ({})",
                latest_version()
            ),
            "use a newer pipemon for this database; it was left untouched",
        ));
    }
    Ok(())
}

/// Applies migrations up to `target` (tests use it to build an older schema).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    refuse_newer(conn)?;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current || version > target {
            continue;
        }
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {name}"))?;
    }
    // A migration may rewrite stored schema text (0005 does, through
    // writable_schema), which SQLite does not notice by itself: moving the schema
    // cookie on makes every connection, in any process, reload the schema.
    let cookie: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    tx.pragma_update(None, "schema_version", cookie + 1)?;
    tx.pragma_update(None, "user_version", target.max(current))?;
    tx.commit()?;
    Ok(())
}
