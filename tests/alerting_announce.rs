//! Announcements per alert and receiver: a new episode of a condition is announced
//! again, an alert that opened and resolved between two evaluations is announced, no
//! resolution goes without its firing, the backfill line keeps history quiet, and a
//! storm of episodes is bounded by the group timers without dropping any.

mod alerting_support;

use alerting_support::*;
use serde_json::json;

/// One file receiver behind the root route, grouped by team.
fn file_config(db: &Db, hold_down: &str) -> pipemon::config::Config {
    config(&format!(
        r#"
[alerting]
flap_hold_down = "{hold_down}"

[route]
receiver = "file"
group_by = ["team"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"

[[receivers]]
name = "file"
type = "file"
path = "{}"
"#,
        db.file("out.jsonl").display()
    ))
}

fn sent(db: &Db) -> Vec<Vec<(i64, String)>> {
    json_lines(&db.file("out.jsonl"))
        .iter()
        .map(alerts_in)
        .collect()
}

fn f(id: i64) -> (i64, String) {
    (id, "firing".to_string())
}

fn r(id: i64) -> (i64, String) {
    (id, "resolved".to_string())
}

fn state(db: &Db, id: i64) -> String {
    db.store
        .conn()
        .unwrap()
        .query_row(
            "SELECT state FROM announcements WHERE alert_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_new_episode_between_two_evaluations_is_announced() {
    let db = Db::new();
    let c = file_config(&db, "0s");
    let a1 = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + 30_000);
    assert_eq!(sent(&db), vec![vec![f(a1)]]);
    // Between two evaluations the pipeline recovers and fails again: same
    // fingerprint, new alert id.
    db.resolve(a1, T0 + MIN);
    let a2 = db.fire(
        "pipeline_failed",
        Some("a"),
        "data",
        T0 + 2 * MIN,
        json!({}),
    );
    db.tick(&c, T0 + 5 * MIN + 30_000);
    assert_eq!(sent(&db)[1], vec![f(a2), r(a1)]);
    db.resolve(a2, T0 + 6 * MIN);
    db.tick(&c, T0 + 10 * MIN + 30_000);
    db.tick(&c, T0 + 15 * MIN + 30_000);
    assert_eq!(
        sent(&db),
        vec![vec![f(a1)], vec![f(a2), r(a1)], vec![r(a2)]]
    );
    assert_eq!(
        (state(&db, a1), state(&db, a2)),
        ("closed".into(), "closed".into())
    );
}

#[test]
fn an_alert_that_opened_and_resolved_between_evaluations_is_announced_once() {
    let db = Db::new();
    let c = file_config(&db, "0s");
    // The first evaluation draws the backfill line at T0.
    db.tick(&c, T0);
    let a = db.fire("stuck_run", Some("a"), "data", T0 + MIN, json!({}));
    db.resolve(a, T0 + 2 * MIN);
    db.tick(&c, T0 + 5 * MIN);
    db.tick(&c, T0 + 5 * MIN + 30_000);
    db.tick(&c, T0 + 10 * MIN + 30_000);
    db.tick(&c, T0 + 5 * HOUR);
    // Once, as resolved: its firing and its resolution in one notification.
    assert_eq!(sent(&db), vec![vec![r(a)]]);
    let payload = &json_lines(&db.file("out.jsonl"))[0];
    assert_eq!(payload["alerts"][0]["startsAt"], "2026-11-02T10:01:00.000Z");
    assert_eq!(payload["alerts"][0]["endsAt"], "2026-11-02T10:02:00.000Z");
}

#[test]
fn no_resolution_for_an_alert_never_announced() {
    let db = Db::new();
    let c = file_config(&db, "0s");
    db.tick(&c, T0);
    let loud = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    // Silenced while it fires, then resolved: never told, so never resolved either.
    db.store
        .conn()
        .unwrap()
        .execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_at)
             VALUES ('[\"pipeline_id=b\"]', ?1, ?2, ?1)",
            [T0, T0 + HOUR],
        )
        .unwrap();
    let quiet = db.fire("pipeline_failed", Some("b"), "data", T0, json!({}));
    db.tick(&c, T0 + MIN);
    db.tick(&c, T0 + MIN + 30_000);
    db.resolve(quiet, T0 + 2 * MIN);
    db.resolve(loud, T0 + 2 * MIN);
    db.tick(&c, T0 + 6 * MIN + 30_000);
    db.tick(&c, T0 + 2 * HOUR);
    assert_eq!(sent(&db), vec![vec![f(loud)], vec![r(loud)]]);
    assert_eq!(state(&db, quiet), "muted");
}

#[test]
fn backfill_is_recorded_not_sent_on_both_sides_of_the_line() {
    let db = Db::new();
    let c = file_config(&db, "0s");
    db.tick(&c, T0);
    // Seen for the first time after the line was drawn at T0: one ended just before
    // it (history), one just after it (live).
    let old = db.fire("pipeline_failed", Some("old"), "data", T0 - HOUR, json!({}));
    db.resolve(old, T0 - 1);
    let live = db.fire(
        "pipeline_failed",
        Some("live"),
        "data",
        T0 - HOUR,
        json!({}),
    );
    db.resolve(live, T0);
    let firing = db.fire(
        "pipeline_failed",
        Some("firing"),
        "data",
        T0 - 2 * HOUR,
        json!({}),
    );
    db.tick(&c, T0 + MIN);
    db.tick(&c, T0 + 2 * MIN);
    assert_eq!(sent(&db), vec![vec![f(firing), r(live)]]);
    assert_eq!(state(&db, old), "history");
    assert_eq!(state(&db, live), "closed");
}

#[test]
fn notify_since_moves_the_backfill_line() {
    let db = Db::new();
    let c = file_config(&db, "0s");
    // The operator says: everything that ended after T0 - 2h is news.
    db.notify_since(T0 - 2 * HOUR);
    let before = db.fire(
        "pipeline_failed",
        Some("a"),
        "data",
        T0 - 3 * HOUR,
        json!({}),
    );
    db.resolve(before, T0 - 2 * HOUR - 1);
    let after = db.fire(
        "pipeline_failed",
        Some("b"),
        "data",
        T0 - 3 * HOUR,
        json!({}),
    );
    db.resolve(after, T0 - 2 * HOUR);
    db.tick(&c, T0);
    db.tick(&c, T0 + MIN);
    assert_eq!(sent(&db), vec![vec![r(after)]]);
    assert_eq!(state(&db, before), "history");
}

#[test]
fn a_storm_of_episodes_is_bounded_by_the_timers_and_drops_none() {
    let db = Db::new();
    let c = file_config(&db, "0s");
    db.tick(&c, T0);
    // 48 episodes in 2 hours on one pipeline (one every 2.5 minutes), evaluations
    // every minute.
    let mut ids = Vec::new();
    let mut open: Option<i64> = None;
    for m in 0..=150 {
        let t = T0 + m * MIN;
        if m % 5 == 0 || m % 5 == 2 {
            if let Some(id) = open.take() {
                db.resolve(id, t);
            } else {
                let id = db.fire("pipeline_failed", Some("flappy"), "data", t, json!({}));
                ids.push(id);
                open = Some(id);
            }
        }
        db.tick(&c, t + 1);
    }
    if let Some(id) = open {
        db.resolve(id, T0 + 151 * MIN);
    }
    db.tick(&c, T0 + 160 * MIN);
    db.tick(&c, T0 + 170 * MIN);
    let notes = sent(&db);
    // group_wait then one notification per group_interval at most.
    assert!(notes.len() <= 1 + 170 / 5, "{} notifications", notes.len());
    for id in &ids {
        let firing = notes.iter().flatten().filter(|x| **x == f(*id)).count();
        let resolved = notes.iter().flatten().filter(|x| **x == r(*id)).count();
        assert!(
            resolved == 1 && firing <= 1,
            "alert {id}: firing {firing}, resolved {resolved}"
        );
        // The first notification that names it is its firing (or both at once).
        let first = notes.iter().position(|n| n.iter().any(|(a, _)| a == id));
        let res = notes.iter().position(|n| n.contains(&r(*id)));
        if firing == 1 {
            let fire = notes.iter().position(|n| n.contains(&f(*id)));
            assert!(fire < res && first == fire, "alert {id}");
        }
    }
    assert!(ids.len() >= 30, "{} episodes", ids.len());
}
