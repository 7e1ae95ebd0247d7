//! Alerting policy end to end over a temp database: alert rows are inserted as
//! detection writes them, `process`/`deliver` run with an injected clock, and a file
//! receiver shows exactly what was notified and when.

mod alerting_support;

use alerting_support::*;
use serde_json::json;

/// One file receiver behind the root route; timers as Alertmanager's defaults.
fn file_config(db: &Db, extra_root: &str, extra: &str) -> pipemon::config::Config {
    config(&format!(
        r#"
[alerting]
flap_hold_down = "0s"

[route]
receiver = "file"
group_by = ["team"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"
{extra_root}

[[receivers]]
name = "file"
type = "file"
path = "{}"
{extra}
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

#[test]
fn group_wait_interval_repeat_and_resolution_across_invocations() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    let a1 = db.fire(
        "pipeline_failed",
        Some("etl_a"),
        "data",
        T0 - HOUR,
        json!({}),
    );
    db.tick(&c, T0);
    db.tick(&c, T0 + 29_000);
    assert!(sent(&db).is_empty(), "nothing before group_wait");
    db.tick(&c, T0 + 30_000);
    assert_eq!(sent(&db), vec![vec![f(a1)]]);

    // A second alert joins the group: it waits for the next group_interval tick.
    let a2 = db.fire("stuck_run", Some("etl_b"), "data", T0 + MIN, json!({}));
    db.tick(&c, T0 + MIN);
    db.tick(&c, T0 + 5 * MIN + 29_000);
    assert_eq!(sent(&db).len(), 1);
    // Each call stands alone (a new cron invocation): only the database carries state.
    let reopened = Db {
        store: pipemon::store::Store::open(&db.path()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    reopened.tick(&c, T0 + 5 * MIN + 30_000);
    assert_eq!(sent(&db), vec![vec![f(a1)], vec![f(a1), f(a2)]]);

    // Nothing changes: nothing until repeat_interval (4h after the last notification).
    db.tick(&c, T0 + 2 * HOUR);
    assert_eq!(sent(&db).len(), 2);
    db.tick(&c, T0 + 5 * MIN + 30_000 + 4 * HOUR);
    assert_eq!(sent(&db).len(), 3);
    assert_eq!(sent(&db)[2], vec![f(a1), f(a2)]);

    // a1 resolves: told at the next flush; then a2 resolves and the group is done.
    let t = T0 + 5 * HOUR;
    db.resolve(a1, t);
    db.tick(&c, t);
    db.tick(&c, t + 5 * MIN);
    assert_eq!(sent(&db)[3], vec![f(a2), r(a1)]);
    db.resolve(a2, t + 6 * MIN);
    db.tick(&c, t + 10 * MIN);
    db.tick(&c, t + 15 * MIN);
    assert_eq!(sent(&db).len(), 5);
    assert_eq!(sent(&db)[4], vec![r(a2)]);
    db.tick(&c, t + 10 * HOUR);
    assert_eq!(sent(&db).len(), 5, "a finished group says nothing more");
    let groups: i64 = db
        .store
        .conn()
        .unwrap()
        .query_row("SELECT count(*) FROM notify_groups", [], |r| r.get(0))
        .unwrap();
    assert_eq!(groups, 0);
}

#[test]
fn send_resolved_off_and_changes_only() {
    let db = Db::new();
    let c = file_config(&db, "", "send_resolved = false\nsend_changes_only = true");
    let a1 = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + 30_000);
    let a2 = db.fire("pipeline_failed", Some("b"), "data", T0, json!({}));
    db.tick(&c, T0 + MIN);
    db.tick(&c, T0 + 5 * MIN + 30_000);
    // Only the change (a2) is sent the second time.
    assert_eq!(sent(&db), vec![vec![f(a1)], vec![f(a2)]]);
    // A repeat re-sends everything that still fires.
    db.tick(&c, T0 + 5 * MIN + 30_000 + 4 * HOUR);
    assert_eq!(sent(&db)[2], vec![f(a1), f(a2)]);
    db.resolve(a1, T0 + 5 * HOUR);
    db.resolve(a2, T0 + 5 * HOUR);
    db.tick(&c, T0 + 6 * HOUR);
    assert_eq!(
        sent(&db).len(),
        3,
        "resolutions are not sent with send_resolved = false"
    );
}

#[test]
fn silences_hold_back_then_release() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    let conn = db.store.conn().unwrap();
    let sid = pipemon::alert::silence::add(
        &conn,
        &[
            "team=ml".to_string(),
            "kind=~missed_run|stuck_run".to_string(),
        ],
        T0,
        T0 + 2 * HOUR,
        "warehouse upgrade",
        None,
        T0,
    )
    .unwrap();
    let silenced = db.fire("missed_run", Some("feat"), "ml", T0, json!({}));
    let other = db.fire("pipeline_failed", Some("feat"), "ml", T0, json!({}));
    let quiet = db.fire("stuck_run", Some("train"), "ml", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + MIN);
    assert_eq!(db.alert(silenced)["silenced"], 1);
    assert_eq!(db.alert(silenced)["details"]["silenced_by"], json!([sid]));
    assert_eq!(db.alert(other)["silenced"], 0);
    assert_eq!(sent(&db), vec![vec![f(other)]]);
    // `quiet` resolves while silenced, never notified: its resolution is not sent.
    db.resolve(quiet, T0 + 30 * MIN);
    db.tick(&c, T0 + 31 * MIN);
    // The silence expires while `silenced` still fires: it is notified then.
    pipemon::alert::silence::expire(&conn, sid, T0 + HOUR).unwrap();
    db.tick(&c, T0 + HOUR);
    assert_eq!(db.alert(silenced)["silenced"], 0);
    db.tick(&c, T0 + HOUR + 5 * MIN);
    let all = sent(&db);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], vec![f(silenced), f(other)]);
    assert!(!all.iter().flatten().any(|(id, _)| *id == quiet));
}

#[test]
fn flapping_announces_every_episode_and_holds_lone_resolutions_down() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    let mut c = c;
    c.alert.alerting.flap_hold_down = pipemon::config::Dur(10 * MIN);
    let a1 = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + 30_000);
    assert_eq!(sent(&db), vec![vec![f(a1)]]);
    db.resolve(a1, T0 + 2 * MIN);
    db.tick(&c, T0 + 5 * MIN + 30_000);
    assert_eq!(
        sent(&db).len(),
        1,
        "a lone resolution waits out the hold-down"
    );
    // The condition returns within the hold-down: a new episode, announced, and the
    // held resolution travels with it.
    let a2 = db.fire(
        "pipeline_failed",
        Some("a"),
        "data",
        T0 + 7 * MIN,
        json!({}),
    );
    db.tick(&c, T0 + 10 * MIN + 30_000);
    assert_eq!(sent(&db)[1], vec![f(a2), r(a1)]);
    db.resolve(a2, T0 + 20 * MIN);
    db.tick(&c, T0 + 25 * MIN + 30_000);
    assert_eq!(sent(&db).len(), 2, "still inside the hold-down");
    db.tick(&c, T0 + 30 * MIN + 30_000);
    assert_eq!(
        sent(&db),
        vec![vec![f(a1)], vec![f(a2), r(a1)], vec![r(a2)]]
    );
}

#[test]
fn acknowledged_alerts_are_not_repeated() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    let a1 = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + 30_000);
    db.store
        .conn()
        .unwrap()
        .execute(
            "UPDATE alerts SET acked_at = ?2 WHERE id = ?1",
            rusqlite::params![a1, T0 + MIN],
        )
        .unwrap();
    db.tick(&c, T0 + 30_000 + 4 * HOUR);
    db.tick(&c, T0 + 30_000 + 9 * HOUR);
    assert_eq!(sent(&db).len(), 1, "no repeats after ack");
    // Another alert joins: the change is sent with both; its repeat leaves a1 out.
    let a2 = db.fire(
        "pipeline_failed",
        Some("b"),
        "data",
        T0 + 9 * HOUR,
        json!({}),
    );
    db.tick(&c, T0 + 9 * HOUR + MIN);
    db.tick(&c, T0 + 30_000 + 9 * HOUR + 5 * MIN);
    assert_eq!(sent(&db)[1], vec![f(a1), f(a2)]);
    db.tick(&c, T0 + 30_000 + 13 * HOUR + 5 * MIN);
    assert_eq!(sent(&db)[2], vec![f(a2)]);
    db.resolve(a1, T0 + 14 * HOUR);
    db.tick(&c, T0 + 14 * HOUR + 5 * MIN);
    assert_eq!(
        sent(&db)[3],
        vec![f(a2), r(a1)],
        "its resolution is still told"
    );
}

#[test]
fn systemic_failure_inhibits_same_signature_alerts() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    let sig = json!({"signature": "ConnectionError: connection refused to <addr>"});
    // One pipeline failed before the systemic alert fired.
    let early = db.fire("pipeline_failed", Some("p1"), "data", T0, sig.clone());
    let p2 = db.fire(
        "consecutive_failures",
        Some("p2"),
        "ml",
        T0 + MIN,
        sig.clone(),
    );
    let unrelated = db.fire(
        "pipeline_failed",
        Some("p3"),
        "data",
        T0,
        json!({"signature": "OOM"}),
    );
    let systemic = db.fire_fp(
        "systemic_failure:sig",
        "systemic_failure",
        None,
        "platform",
        T0 + 2 * MIN,
        sig.clone(),
    );
    db.tick(&c, T0 + 3 * MIN);
    db.tick(&c, T0 + 4 * MIN);
    for id in [early, p2] {
        let a = db.alert(id);
        assert_eq!(a["inhibited"], 1, "{a}");
        assert_eq!(
            a["details"]["inhibited_by"][0]["reason"],
            "systemic_failure"
        );
        assert_eq!(a["details"]["inhibited_by"][0]["alert_id"], systemic);
        assert_eq!(a["receivers"], json!(["file"]), "still routed and recorded");
    }
    assert_eq!(db.alert(unrelated)["inhibited"], 0);
    assert_eq!(db.alert(systemic)["severity"], "critical");
    let notified: Vec<i64> = sent(&db).concat().iter().map(|(id, _)| *id).collect();
    assert!(notified.contains(&systemic) && notified.contains(&unrelated));
    assert!(
        !notified.contains(&early) && !notified.contains(&p2),
        "{notified:?}"
    );
}

#[test]
fn lineage_inhibits_downstream_symptoms_and_lists_them() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    db.pipeline("raw", Some("ingest"), None, &[]);
    db.pipeline("clean", Some("data"), None, &["raw"]);
    db.pipeline("report", Some("bi"), None, &["clean"]);
    let up = db.fire("pipeline_failed", Some("raw"), "ingest", T0, json!({}));
    let m1 = db.fire("missed_run", Some("clean"), "data", T0 + MIN, json!({}));
    let m2 = db.fire("missed_run", Some("report"), "bi", T0 + MIN, json!({}));
    let own = db.fire("volume_anomaly", Some("report"), "bi", T0 + MIN, json!({}));
    db.tick(&c, T0 + 2 * MIN);
    assert_eq!(db.alert(m1)["inhibited"], 1);
    assert_eq!(db.alert(m2)["inhibited"], 1);
    assert_eq!(db.alert(own)["inhibited"], 0);
    assert_eq!(
        db.alert(m2)["details"]["inhibited_by"][0]["pipeline_id"],
        "raw"
    );
    assert_eq!(
        db.alert(up)["details"]["impacted_downstream"],
        json!(["clean", "report"])
    );
    // The upstream recovers while `clean` still misses runs: now it is its own problem.
    db.resolve(up, T0 + 10 * MIN);
    db.tick(&c, T0 + 11 * MIN);
    assert_eq!(db.alert(m1)["inhibited"], 0);
    assert_eq!(
        db.alert(up)["details"]["impacted_downstream"],
        json!(["clean", "report"])
    );
}

#[test]
fn ownership_rules_and_severity_policy_apply() {
    let db = Db::new();
    db.pipeline("billing_daily", Some("finance"), Some("medium"), &[]);
    db.pipeline("scratch_1", Some("data"), Some("critical"), &[]);
    db.pipeline("etl", Some("data"), Some("low"), &[]);
    let c = config(
        r#"
[[ownership]]
match = "billing_*"
team = "payments"
priority = "critical"
environment = "production"

[[severity_overrides]]
pipeline = "scratch_*"
severity = "low"
"#,
    );
    let b = db.fire(
        "pipeline_failed",
        Some("billing_daily"),
        "finance",
        T0,
        json!({}),
    );
    let s = db.fire("pipeline_failed", Some("scratch_1"), "data", T0, json!({}));
    let e = db.fire(
        "performance_degradation",
        Some("etl"),
        "data",
        T0,
        json!({}),
    );
    db.tick(&c, T0);
    let conn = db.store.conn().unwrap();
    let ov: (String, String, String) = conn
        .query_row(
            "SELECT team_override, priority_override, environment_override FROM pipelines WHERE pipeline_id = 'billing_daily'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        ov,
        ("payments".into(), "critical".into(), "production".into())
    );
    let a = db.alert(b);
    assert_eq!(
        (
            a["team"].as_str(),
            a["priority"].as_str(),
            a["severity"].as_str()
        ),
        (Some("payments"), Some("critical"), Some("critical"))
    );
    assert_eq!(db.alert(s)["severity"], "low");
    assert_eq!(
        db.alert(e)["severity"],
        "low",
        "medium lowered one level for a low-priority pipeline"
    );
    // No configuration: everything goes to `default`, which delivers nothing.
    assert_eq!(db.alert(e)["receivers"], json!(["default"]));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM notifications", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    // Ownership rules removed from the configuration: the overrides are cleared.
    pipemon::alert::apply_ownership(&conn, &config("").alert).unwrap();
    let t: Option<String> = conn
        .query_row(
            "SELECT team_override FROM pipelines WHERE pipeline_id = 'billing_daily'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(t, None);
}

#[test]
fn maintenance_window_mutes_a_route_until_it_ends() {
    let db = Db::new();
    // Mondays 09:00-11:00 UTC; T0 is Monday 10:00.
    let c = file_config(
        &db,
        "mute_time_intervals = [\"monday-morning\"]",
        "\n[[time_intervals]]\nname = \"monday-morning\"\nweekdays = [\"monday\"]\ntimes = [{ start = \"09:00\", end = \"11:00\" }]\n",
    );
    let a = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + 30 * MIN);
    assert_eq!(db.alert(a)["silenced"], 1);
    assert_eq!(
        db.alert(a)["details"]["muted_by"],
        json!(["monday-morning"])
    );
    assert!(sent(&db).is_empty());
    db.tick(&c, T0 + HOUR + 30_000);
    assert_eq!(db.alert(a)["silenced"], 0);
    assert_eq!(sent(&db), vec![vec![f(a)]]);
}

#[test]
fn routing_records_every_receiver_with_continue() {
    let db = Db::new();
    let c = config(&format!(
        r#"
[route]
receiver = "file"
[[route.routes]]
matchers = ["severity=critical"]
receiver = "pager"
continue = true
[[route.routes]]
matchers = ["team=ml"]
receiver = "ml"

[[receivers]]
name = "file"
type = "file"
path = "{0}"
[[receivers]]
name = "pager"
type = "file"
path = "{0}.pager"
[[receivers]]
name = "ml"
type = "file"
path = "{0}.ml"
"#,
        db.file("out.jsonl").display()
    ));
    let a = db.fire("consecutive_failures", Some("x"), "ml", T0, json!({}));
    let b = db.fire("duration_anomaly", Some("y"), "data", T0, json!({}));
    db.tick(&c, T0);
    assert_eq!(db.alert(a)["receivers"], json!(["pager", "ml"]));
    assert_eq!(db.alert(b)["receivers"], json!(["file"]));
}

#[test]
fn rebuilt_alerts_are_not_renotified_and_owed_resolutions_are_sent() {
    let db = Db::new();
    let c = file_config(&db, "", "");
    let a = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    let b = db.fire("pipeline_failed", Some("b"), "data", T0, json!({}));
    db.tick(&c, T0);
    db.tick(&c, T0 + 30_000);
    assert_eq!(sent(&db), vec![vec![f(a), f(b)]]);
    // A rebuild deletes every alert and re-derives them with new ids: a still fires,
    // b has meanwhile resolved.
    let conn = db.store.conn().unwrap();
    conn.execute("DELETE FROM alerts", []).unwrap();
    let a2 = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    let b2 = db.fire("pipeline_failed", Some("b"), "data", T0, json!({}));
    conn.execute("UPDATE alerts SET id = id + 50", []).unwrap();
    let (a2, b2) = (a2 + 50, b2 + 50);
    db.resolve(b2, T0 + 3 * MIN);
    db.tick(&c, T0 + 5 * MIN + 30_000);
    assert_eq!(sent(&db).len(), 2);
    assert_eq!(
        sent(&db)[1],
        vec![f(a2), r(b2)],
        "b's owed resolution, a not re-fired"
    );
}

#[test]
fn hot_alerting_queries_use_their_indexes() {
    let db = Db::new();
    let conn = db.store.conn().unwrap();
    let plan = |sql: &str| -> String {
        let mut s = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        s.query_map([0i64], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n")
    };
    let cases = [
        (
            pipemon::alert::group::DUE_GROUPS_SQL,
            vec!["notify_groups_due"],
        ),
        (
            pipemon::alert::send::DUE_ROWS_SQL,
            vec!["notifications_by_status", "notifications_by_lane"],
        ),
        (
            pipemon::alert::silence::UNEXPIRED_SQL,
            vec!["silences_by_end"],
        ),
    ];
    for (sql, indexes) in cases {
        let p = plan(sql);
        for index in indexes {
            assert!(p.contains(index), "{index} not used by\n{sql}\nplan:\n{p}");
        }
    }
}
