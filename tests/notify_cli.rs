//! The alerting commands through the real binary: `notify` (PagerDuty with its routing
//! key from the environment), `notifications`, `config check|example`, `ack`, `silence`.

mod alerting_support;

use alerting_support::*;
use assert_cmd::Command;
use serde_json::{Value, json};

fn pipemon(db: &Db) -> Command {
    let mut cmd = Command::cargo_bin("pipemon").unwrap();
    cmd.arg("--db").arg(db.path()).current_dir(db.dir.path());
    cmd.env_remove("PIPEMON_CONFIG").env_remove("PIPEMON_DB");
    cmd
}

fn json_rows(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn pagerduty_trigger_and_resolve_with_key_from_env() {
    let srv = Recorder::start();
    let db = Db::new();
    let cfg_text = format!(
        r#"
[alerting]
flap_hold_down = "0s"
[route]
receiver = "pd"
group_wait = "0s"
[[receivers]]
name = "pd"
type = "pagerduty"
url = "{}"
routing_key_env = "PIPEMON_TEST_PD_KEY"
"#,
        srv.url("/v2/enqueue")
    );
    std::fs::write(db.file("pipemon.toml"), &cfg_text).unwrap();
    let c = config(&cfg_text);
    db.pipeline("etl", Some("data"), Some("critical"), &[]);
    let id = db.fire(
        "duration_anomaly",
        Some("etl"),
        "data",
        T0,
        json!({"observed_ms": 100}),
    );
    db.process(&c, T0);
    // Without the variable: a permanent cause, marked failed at once and said so on
    // stderr with exit status 3; not retried by later runs.
    let out = pipemon(&db)
        .args(["notify", "--now", "2026-11-02T10:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "delivery to pd: 0 sent, 1 failed — environment variable PIPEMON_TEST_PD_KEY is not set"
        ),
        "{err}"
    );
    assert_eq!(srv.requests().len(), 0);
    assert_eq!(db.outbox()[0].status, "failed");
    assert!(
        db.outbox()[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("PIPEMON_TEST_PD_KEY")
    );
    pipemon(&db)
        .env("PIPEMON_TEST_PD_KEY", "secret-key")
        .args(["notify", "--now", "2026-11-02T10:30:00Z"])
        .assert()
        .success();
    assert_eq!(
        srv.requests().len(),
        0,
        "a failed row is not retried by itself"
    );
    // Once the environment is fixed, the operator puts failed rows back in the queue.
    pipemon(&db)
        .env("PIPEMON_TEST_PD_KEY", "secret-key")
        .args(["notify", "--retry-failed", "--now", "2026-11-02T11:00:00Z"])
        .assert()
        .success();
    let reqs = srv.wait_for(1, 5);
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].json(),
        json!({
            "routing_key": "secret-key",
            "event_action": "trigger",
            "dedup_key": format!("pipemon/duration_anomaly:etl/{T0}"),
            "payload": {
                "summary": "duration_anomaly on etl",
                "source": "etl",
                // low raised one level by the critical priority = medium -> warning.
                "severity": "warning",
                "timestamp": "2026-11-02T10:00:00.000Z",
                "component": "etl",
                "group": "data",
                "class": "duration_anomaly",
                "custom_details": {"observed_ms": 100, "alert_id": id, "occurrences": 1, "run_id": "etl-run-1"},
            },
            "client": "pipemon",
            "client_url": format!("http://localhost/pipemon/alerts/{id}"),
        })
    );
    // The secret is not stored in the outbox.
    let stored: String = db
        .store
        .conn()
        .unwrap()
        .query_row("SELECT payload FROM notifications", [], |r| r.get(0))
        .unwrap();
    assert!(!stored.contains("secret-key"));

    db.resolve(id, T0 + 2 * HOUR);
    db.process(&c, T0 + 2 * HOUR);
    pipemon(&db)
        .env("PIPEMON_TEST_PD_KEY", "secret-key")
        .args(["notify", "--now", "2026-11-02T12:00:00Z"])
        .assert()
        .success();
    let reqs = srv.wait_for(2, 5);
    assert_eq!(
        reqs[1].json(),
        json!({"routing_key": "secret-key", "event_action": "resolve", "dedup_key": format!("pipemon/duration_anomaly:etl/{T0}")})
    );

    let out = pipemon(&db)
        .args(["--format", "json", "notifications", "--status", "sent"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows = json_rows(&out.stdout);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["reason"], "resolved");
    assert_eq!(rows[1]["reason"], "firing");
    assert_eq!(rows[1]["attempts"], 2);
    assert_eq!(rows[1]["type"], "pagerduty");
    let pending = pipemon(&db)
        .args(["--format", "json", "notifications", "--status", "pending"])
        .output()
        .unwrap();
    assert!(pending.stdout.is_empty());
}

#[test]
fn config_check_reports_every_problem_with_key_and_line() {
    let db = Db::new();
    let bad = db.file("bad.toml");
    std::fs::write(
        &bad,
        "[route]\nreceiver = \"nobody\"\nmatchers = [\"team=~(\"]\n\n[[receivers]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\ncolour = \"red\"\n[[receivers]]\nname = \"y\"\ntype = \"webhook\"\n",
    )
    .unwrap();
    let out = pipemon(&db)
        .arg("--config")
        .arg(&bad)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "bad.toml:2:1: error: route.receiver: no receiver named \"nobody\"",
        "bad.toml:3:13: error: route.matchers[0]: invalid regex",
        "bad.toml:9:1: error: receivers[0].colour: unknown key `colour`",
        "bad.toml:10:1: error: receivers[1].url: a webhook receiver needs url or url_env",
        "4 problem(s)",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    // The same problems stop any command that loads the configuration.
    pipemon(&db)
        .arg("--config")
        .arg(&bad)
        .args(["notify"])
        .assert()
        .code(2);
}

#[test]
fn config_example_passes_check() {
    let db = Db::new();
    let out = pipemon(&db).args(["config", "example"]).output().unwrap();
    assert!(out.status.success());
    std::fs::write(db.file("pipemon.toml"), &out.stdout).unwrap();
    // Its receivers read their secrets from these variables; unset, they are errors.
    let check = pipemon(&db)
        .env("PIPEMON_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .env("PIPEMON_SLACK_ML_URL", "http://127.0.0.1:9/slack")
        .env("PIPEMON_PAGERDUTY_KEY", "key")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains(": ok (6 receivers, 5 routes"));
}

#[test]
fn ack_and_silence_commands() {
    let db = Db::new();
    let id = db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    pipemon(&db)
        .args(["ack", &id.to_string(), "--comment", "looking into it"])
        .assert()
        .success();
    let (acked, comment): (Option<i64>, Option<String>) = db
        .store
        .conn()
        .unwrap()
        .query_row(
            "SELECT acked_at, ack_comment FROM alerts WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(acked.is_some());
    assert_eq!(comment.as_deref(), Some("looking into it"));
    let missing = pipemon(&db).args(["ack", "999"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no alert with id 999"));

    pipemon(&db)
        .args([
            "silence",
            "add",
            "--match",
            "team=ml",
            "--match",
            "kind=~missed_run|stuck_run",
            "--duration",
            "2h",
            "--comment",
            "warehouse upgrade",
        ])
        .assert()
        .success();
    let out = pipemon(&db)
        .args(["--format", "json", "silence", "list"])
        .output()
        .unwrap();
    let rows = json_rows(&out.stdout);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["state"], "active");
    assert_eq!(rows[0]["matchers"], "team=ml, kind=~missed_run|stuck_run");
    assert_eq!(rows[0]["comment"], "warehouse upgrade");
    let sid = rows[0]["id"].as_i64().unwrap().to_string();
    pipemon(&db)
        .args(["silence", "expire", &sid])
        .assert()
        .success();
    let out = pipemon(&db)
        .args(["--format", "json", "silence", "list"])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    let out = pipemon(&db)
        .args(["--format", "json", "silence", "list", "--all"])
        .output()
        .unwrap();
    assert_eq!(json_rows(&out.stdout)[0]["state"], "expired");
    let bad = pipemon(&db)
        .args(["silence", "add", "--match", "team", "--duration", "1h"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("hint:"));
}

#[test]
fn rows_queued_at_data_time_are_retried_on_the_wall_clock() {
    let srv = Recorder::start();
    srv.set_mode(Mode {
        down: Some(503),
        delay: std::time::Duration::ZERO,
    });
    let db = Db::new();
    let text = format!(
        "[route]\nreceiver = \"hook\"\ngroup_wait = \"0s\"\n[[receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        srv.url("/hook")
    );
    std::fs::write(db.file("pipemon.toml"), &text).unwrap();
    let c = config(&text);
    // Queued by an evaluation at data time, a month before the wall clock.
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.process(&c, T0);
    // (The wall-clock run also queues the group's repeat: a month has passed.)
    for want in [
        "delivery to hook: 0 sent, 1 retrying, 2 pending",
        "delivery to hook: 0 sent, 2 pending",
    ] {
        let out = pipemon(&db).arg("notify").output().unwrap();
        assert_eq!(out.status.code(), Some(3), "deliveries are failing");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains(want), "{err}");
    }
    // Tried once, then waiting out its backoff on the wall clock: not given up.
    let row = &db.outbox()[0];
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(row.next_attempt_at > pipemon::time::now_ms());
}

#[test]
fn an_invalid_url_is_reported_without_its_secret() {
    let db = Db::new();
    std::fs::write(
        db.file("pipemon.toml"),
        "[route]\nreceiver = \"hook\"\n[[receivers]]\nname = \"hook\"\ntype = \"slack\"\nurl = \"hooks.slack.com/services/T0/B0/TOPSECRET\"\n",
    )
    .unwrap();
    let out = pipemon(&db).args(["config", "check"]).output().unwrap();
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("hooks.slack.com/…"), "{err}");
    assert!(!err.contains("TOPSECRET"), "{err}");
}
