//! Schema migrations and query plans, through the library on temp databases.

use pipemon::store::Store;
use pipemon::store::migrate::{latest_version, migrate_to};
use rusqlite::Connection;
use tempfile::TempDir;

fn schema(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn migrations_apply_to_an_empty_database() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(&dir.path().join("fresh.db")).unwrap();
    let conn = store.conn().unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, latest_version());
    for view in [
        "runs",
        "failures",
        "pipeline_health",
        "team_health",
        "execution_patterns",
    ] {
        conn.prepare(&format!("SELECT * FROM {view}")).unwrap();
    }
}

#[test]
fn upgrade_from_version_one_keeps_rows_and_matches_a_fresh_schema() {
    let dir = TempDir::new().unwrap();
    let old = dir.path().join("old.db");
    {
        let mut conn = Connection::open(&old).unwrap();
        migrate_to(&mut conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO pipelines (pipeline_id, team, team_ts, first_event_at, last_event_at)
                 VALUES ('p', 'data', 1, 1, 2);
             INSERT INTO run_state (pipeline_id, run_id, first_event_at, last_event_at,
                 started_at, term_ts, term_attempt, term_rank, term_key, term_status)
                 VALUES ('p', 'r', 1, 2, 1, 2, 1, 0, 'k', 'success');",
        )
        .unwrap();
    }
    let upgraded = Store::open(&old).unwrap();
    let conn = upgraded.conn().unwrap();
    let outcome: String = conn
        .query_row("SELECT outcome FROM runs WHERE run_id = 'r'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(outcome, "success");
    let fresh = Store::open(&dir.path().join("fresh.db")).unwrap();
    assert_eq!(schema(&conn), schema(&fresh.conn().unwrap()));
}

#[test]
fn rewritten_check_constraints_accept_and_refuse_what_they_did_before() {
    // Migration 0005 rewrites four CHECK constraints in the stored schema text; both a
    // fresh database and one upgraded from version 4 must still enforce them.
    let dir = TempDir::new().unwrap();
    let v4 = dir.path().join("v4.db");
    {
        let mut conn = Connection::open(&v4).unwrap();
        migrate_to(&mut conn, 4).unwrap();
    }
    for path in [dir.path().join("fresh.db"), v4] {
        let store = Store::open(&path).unwrap();
        let conn = store.conn().unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let event = |status: &str| {
            conn.execute(
                "INSERT INTO events (pipeline_id, event_key, run_id, status, ts, attempt, import_id)
                 VALUES ('p', ?1, 'r', ?1, 1, 1, 1)",
                [status],
            )
        };
        for status in [
            "started",
            "running",
            "success",
            "failed",
            "retrying",
            "cancelled",
            "skipped",
            "other",
        ] {
            event(status).unwrap();
        }
        for status in ["ok", "Started", ""] {
            assert!(event(status).is_err(), "{status:?} accepted");
        }
        let run = |term: &str| {
            conn.execute(
                "INSERT INTO run_state (pipeline_id, run_id, last_event_at, term_status)
                 VALUES ('p', ?1, 1, ?1)",
                [term],
            )
        };
        for term in ["success", "failed", "cancelled", "skipped"] {
            run(term).unwrap();
        }
        assert!(run("running").is_err());
        let pipeline = |id: &str, priority: &str, column: &str| {
            conn.execute(
                &format!(
                    "INSERT INTO pipelines (pipeline_id, {column}, first_event_at, last_event_at)
                     VALUES (?1, ?2, 1, 1)"
                ),
                [id, priority],
            )
        };
        for column in ["priority", "priority_override"] {
            for priority in ["critical", "high", "medium", "low"] {
                pipeline(&format!("{column}-{priority}"), priority, column).unwrap();
            }
            assert!(pipeline(&format!("{column}-urgent"), "urgent", column).is_err());
        }
    }
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("future.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE keep (x); INSERT INTO keep VALUES (1); PRAGMA user_version = 999;",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path)
        .err()
        .expect("a newer schema must be refused");
    let text = format!("{err:#}");
    assert!(text.contains("schema version 999"), "{text}");
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");

    let out = assert_cmd::Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(&path)
        .args(["query", "pipeline_health"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: use a newer pipemon"));
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
}

#[test]
fn per_row_import_statements_build_no_temporary_tables() {
    // An `IN (...)` list in a CHECK constraint, or a RETURNING clause, makes SQLite
    // build a temporary b-tree on every execution: millions of them in one import.
    let dir = TempDir::new().unwrap();
    let store = Store::open(&dir.path().join("writes.db")).unwrap();
    let conn = store.conn().unwrap();
    for sql in pipemon::store::import::per_row_statements() {
        let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        // Parameters stay unbound: EXPLAIN only lists the program.
        let mut rows = stmt.raw_query();
        let mut ops: Vec<String> = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            ops.push(row.get(1).unwrap());
        }
        assert!(
            ops.iter().any(|op| op == "Insert" || op == "IdxInsert"),
            "{sql}"
        );
        assert!(
            !ops.iter().any(|op| op == "OpenEphemeral"),
            "builds a temporary table on every execution: {sql}"
        );
    }
}

#[test]
fn hot_queries_use_their_indexes() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(&dir.path().join("plans.db")).unwrap();
    let conn = store.conn().unwrap();
    let checks = pipemon::query::check_hot_query_plans(&conn).unwrap();
    assert_eq!(checks.len(), pipemon::query::HOT_QUERIES.len());
    for c in &checks {
        assert!(
            c.ok,
            "{}: expected {} in plan: {}",
            c.name, c.expected_index, c.plan
        );
    }
}
