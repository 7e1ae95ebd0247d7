//! Delivery over real HTTP to a local recording server: exact payloads per receiver
//! type, the retry schedule on 500 and timeouts, no retry on 400, delivery after a
//! receiver comes back, in-order lanes, and at-least-once after a crash mid-send.

mod alerting_support;

use std::time::Duration;

use alerting_support::*;
use serde_json::{Value, json};

fn hook_config(url: &str, extra: &str) -> pipemon::config::Config {
    config(&format!(
        r#"
[alerting]
flap_hold_down = "0s"

[[ownership]]
match = "etl*"
environment = "production"

[route]
receiver = "hook"
group_by = ["team"]
group_wait = "0s"
group_interval = "1m"

[[receivers]]
name = "hook"
{extra}
url = "{url}"

[delivery]
retry_initial = "30s"
retry_max = "10m"
"#
    ))
}

fn attempts(db: &Db) -> Vec<String> {
    let c = db.store.conn().unwrap();
    let mut s = c
        .prepare("SELECT outcome FROM delivery_attempts ORDER BY id")
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn webhook_payload_is_alertmanager_v4() {
    let srv = Recorder::start();
    let db = Db::new();
    db.pipeline("etl_orders", Some("data"), Some("high"), &[]);
    let c = hook_config(&srv.url("/hook"), "type = \"webhook\"");
    let id = db.fire(
        "pipeline_failed",
        Some("etl_orders"),
        "data",
        T0 - HOUR,
        json!({"error_type": "Timeout"}),
    );
    db.tick(&c, T0);
    let reqs = srv.wait_for(1, 5);
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/hook"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let labels = json!({
        "alertname": "pipeline_failed",
        "environment": "production",
        "kind": "pipeline_failed",
        "pipeline_id": "etl_orders",
        "priority": "high",
        "severity": "high",
        "team": "data",
    });
    let annotations = json!({
        "alert_id": id.to_string(),
        "details": "{\"error_type\":\"Timeout\"}",
        "occurrences": "1",
        "run_id": "etl_orders-run-1",
        "summary": "pipeline_failed on etl_orders",
    });
    let alert = |status: &str, ends: &str| {
        json!({
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": "2026-11-02T09:00:00.000Z",
            "endsAt": ends,
            "generatorURL": format!("http://localhost/pipemon/alerts/{id}"),
            "fingerprint": "pipeline_failed:etl_orders",
        })
    };
    let expected = |status: &str, ends: &str| {
        json!({
            "version": "4",
            "groupKey": "root|hook|{\"team\":\"data\"}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "hook",
            "groupLabels": {"team": "data"},
            "commonLabels": labels,
            "commonAnnotations": annotations,
            "externalURL": "http://localhost/pipemon",
            "alerts": [alert(status, ends)],
        })
    };
    assert_eq!(req.json(), expected("firing", "0001-01-01T00:00:00Z"));
    let key = req.header("idempotency-key").unwrap().to_string();

    db.resolve(id, T0 + 10 * MIN);
    db.tick(&c, T0 + 11 * MIN);
    let reqs = srv.wait_for(2, 5);
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].json(),
        expected("resolved", "2026-11-02T10:10:00.000Z")
    );
    assert_ne!(reqs[1].header("idempotency-key").unwrap(), key);
    assert_eq!(attempts(&db), ["sent", "sent"]);
}

#[test]
fn slack_payload_has_text_and_blocks() {
    let srv = Recorder::start();
    let db = Db::new();
    db.pipeline("etl_orders", Some("data"), Some("medium"), &[]);
    let c = hook_config(&srv.url("/slack"), "type = \"slack\"");
    db.fire(
        "stuck_run",
        Some("etl_orders"),
        "data",
        T0 - HOUR,
        json!({"threshold_ms": 3_600_000}),
    );
    db.tick(&c, T0);
    let reqs = srv.wait_for(1, 5);
    let expected = json!({
        "text": "[FIRING:1] team=data\n• [high] stuck_run on etl_orders (firing)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "[FIRING:1] team=data"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*stuck_run* — stuck_run on etl_orders (firing)"},
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity:*\nhigh"},
                    {"type": "mrkdwn", "text": "*Pipeline:*\netl_orders"},
                    {"type": "mrkdwn", "text": "*Team:*\ndata"},
                    {"type": "mrkdwn", "text": "*Since:*\n2026-11-02T09:00:00.000Z"},
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Evidence: `{\"threshold_ms\":3600000}`"}],
            },
        ],
    });
    assert_eq!(reqs[0].json(), expected);
}

#[test]
fn retry_schedule_on_500_then_success() {
    let srv = Recorder::start();
    srv.script(&[Reply::Status(500), Reply::Status(503)]);
    let db = Db::new();
    let c = hook_config(&srv.url("/hook"), "type = \"webhook\"");
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    let row = &db.outbox()[0];
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    // First retry: 30s with equal jitter, so between 15s and 30s.
    let first = row.next_attempt_at - T0;
    assert!((15_000..=30_000).contains(&first), "{first}");
    assert_eq!(
        row.last_error.as_deref(),
        Some("HTTP 500: scripted failure")
    );
    // Not due yet: nothing is sent.
    db.deliver(&c, T0 + 14_999);
    assert_eq!(srv.requests().len(), 1);
    let t1 = row.next_attempt_at;
    db.deliver(&c, t1);
    let row = &db.outbox()[0];
    assert_eq!(row.attempts, 2);
    // Second retry: 60s with jitter.
    let second = row.next_attempt_at - t1;
    assert!((30_000..=60_000).contains(&second), "{second}");
    db.deliver(&c, row.next_attempt_at);
    let row = &db.outbox()[0];
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 3));
    assert_eq!(attempts(&db), ["retry", "retry", "sent"]);
    // Every attempt carried the same body and dedup key.
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.body == reqs[0].body));
    assert!(
        reqs.iter()
            .all(|r| r.header("idempotency-key") == reqs[0].header("idempotency-key"))
    );
}

#[test]
fn timeout_is_retried() {
    let srv = Recorder::start();
    srv.script(&[Reply::Hang(Duration::from_secs(3))]);
    let db = Db::new();
    let c = hook_config(&srv.url("/hook"), "type = \"webhook\"\ntimeout = \"300ms\"");
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    let row = &db.outbox()[0];
    assert_eq!(row.status, "pending");
    let err = row.last_error.clone().unwrap().to_lowercase();
    assert!(
        err.contains("timeout") || err.contains("timed out"),
        "{err}"
    );
    db.deliver(&c, row.next_attempt_at);
    assert_eq!(db.outbox()[0].status, "sent");
    assert_eq!(srv.requests().len(), 2);
}

#[test]
fn client_error_is_not_retried() {
    let srv = Recorder::start();
    srv.script(&[Reply::Status(400)]);
    let db = Db::new();
    let c = hook_config(&srv.url("/hook"), "type = \"webhook\"");
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    let row = &db.outbox()[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    assert_eq!(
        row.last_error.as_deref(),
        Some("HTTP 400: scripted failure")
    );
    db.deliver(&c, T0 + HOUR);
    assert_eq!(srv.requests().len(), 1);
    assert_eq!(attempts(&db), ["failed"]);
}

#[test]
fn receiver_down_for_an_hour_gets_everything_in_order() {
    // Find a free port, then leave nothing listening on it.
    let port = {
        let srv = Recorder::start();
        let p = srv.port;
        srv.stop();
        p
    };
    let db = Db::new();
    let c = hook_config(
        &format!("http://127.0.0.1:{port}/hook"),
        "type = \"webhook\"",
    );
    let a = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    let b = db.fire("pipeline_failed", Some("b"), "ml", T0, json!({}));
    db.tick(&c, T0);
    // a's group resolves while the receiver is still down.
    db.resolve(a, T0 + 10 * MIN);
    let mut t = T0;
    while t < T0 + HOUR {
        t += 5 * MIN;
        db.tick(&c, t);
    }
    let rows = db.outbox();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.status == "pending"), "{rows:?}");
    assert!(rows[0].last_error.as_deref().unwrap_or_default().len() > 1);
    // Back on the same address.
    let srv = Recorder::start_on(port);
    db.deliver(&c, T0 + 2 * HOUR);
    db.deliver(&c, T0 + 3 * HOUR);
    let rows = db.outbox();
    assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
    let got: Vec<Vec<(i64, String)>> = srv
        .requests()
        .iter()
        .map(|r| alerts_in(&r.json()))
        .collect();
    // The firing of a is delivered before its resolution (one lane, in order).
    let pos = |want: &(i64, String)| got.iter().position(|n| n.contains(want)).unwrap();
    assert!(pos(&(a, "firing".into())) < pos(&(a, "resolved".into())));
    assert!(got.iter().any(|n| n.contains(&(b, "firing".into()))));
    assert_eq!(got.len(), 3);
}

#[test]
fn at_least_once_after_a_crash_mid_send() {
    let srv = Recorder::start();
    let db = Db::new();
    let c = hook_config(&srv.url("/hook"), "type = \"webhook\"");
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.process(&c, T0);
    let conn = db.store.conn().unwrap();
    // A live sender (this process) holds the row's lease: nobody else sends it while
    // the lease holds; once it lapses the row is sent again.
    let wall = pipemon::time::now_ms();
    let me = std::process::id() as i64;
    conn.execute(
        "UPDATE notifications SET lease_until = ?1, lease_pid = ?2",
        rusqlite::params![wall + 60_000, me],
    )
    .unwrap();
    db.deliver(&c, T0);
    assert_eq!(srv.requests().len(), 0);
    conn.execute("UPDATE notifications SET lease_until = ?1", [wall - 1])
        .unwrap();
    db.deliver(&c, T0);
    assert_eq!(srv.wait_for(1, 5).len(), 1);
    assert_eq!(db.outbox()[0].status, "sent");
    // A sender that was killed holding a lease: its lease is taken over at once.
    db.fire("pipeline_failed", Some("b"), "data", T0, json!({}));
    db.tick(&c, T0 + 10 * MIN);
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id() as i64;
    dead.wait().unwrap();
    conn.execute(
        "UPDATE notifications SET status = 'pending', lease_until = ?1, lease_pid = ?2
         WHERE id = (SELECT max(id) FROM notifications)",
        rusqlite::params![wall + 60_000, dead_pid],
    )
    .unwrap();
    let before = srv.requests().len();
    db.deliver(&c, T0 + 10 * MIN);
    assert_eq!(srv.wait_for(before + 1, 5).len(), before + 1);
    assert!(db.outbox().iter().all(|r| r.status == "sent"));
}

#[test]
fn file_and_command_receivers() {
    let db = Db::new();
    let out = db.file("cmd.out");
    let c = config(&format!(
        r#"
[route]
receiver = "file"
group_wait = "0s"
[[route.routes]]
matchers = ["team=ml"]
receiver = "cmd"
[[receivers]]
name = "file"
type = "file"
path = "{}"
[[receivers]]
name = "cmd"
type = "command"
command = ["sh", "-c", "cat > {} && test \"$PIPEMON_DEDUP_KEY\" != ''"]
"#,
        db.file("n.jsonl").display(),
        out.display()
    ));
    let a = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    let b = db.fire("pipeline_failed", Some("b"), "ml", T0, json!({}));
    db.tick(&c, T0);
    let lines = json_lines(&db.file("n.jsonl"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["version"], "4");
    assert_eq!(alerts_in(&lines[0]), vec![(a, "firing".to_string())]);
    let piped: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(alerts_in(&piped), vec![(b, "firing".to_string())]);
    assert!(db.outbox().iter().all(|r| r.status == "sent"));
}

#[test]
fn failing_command_is_retried() {
    let db = Db::new();
    let c = config(
        r#"
[route]
receiver = "cmd"
group_wait = "0s"
[[receivers]]
name = "cmd"
type = "command"
command = ["sh", "-c", "echo nope >&2; exit 3"]
"#,
    );
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    let row = &db.outbox()[0];
    assert_eq!(row.status, "pending");
    assert!(
        row.last_error.as_deref().unwrap().contains("nope"),
        "{row:?}"
    );
}

#[test]
fn transient_failures_give_up_after_the_configured_time() {
    let srv = Recorder::start();
    srv.script(&[Reply::Status(502), Reply::Status(502), Reply::Status(502)]);
    let db = Db::new();
    let mut c = hook_config(&srv.url("/hook"), "type = \"webhook\"");
    c.alert.delivery.give_up_after = pipemon::config::Dur(2 * MIN);
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.tick(&c, T0);
    assert_eq!(db.outbox()[0].status, "pending");
    db.deliver(&c, T0 + MIN);
    assert_eq!(db.outbox()[0].status, "pending");
    db.deliver(&c, T0 + 3 * MIN);
    let row = &db.outbox()[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 3));
    assert_eq!(
        row.last_error.as_deref(),
        Some("HTTP 502: scripted failure (gave up after 3 attempts)")
    );
    assert_eq!(attempts(&db), ["retry", "retry", "failed"]);
}
