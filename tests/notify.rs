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

#[test]
fn slack_text_is_escaped_so_names_cannot_mention_or_link() {
    let srv = Recorder::start();
    let db = Db::new();
    let team = "<!channel> & co";
    let pipeline = "etl_<!here>";
    db.pipeline(pipeline, Some(team), Some("medium"), &[]);
    let c = hook_config(&srv.url("/slack"), "type = \"slack\"");
    db.fire(
        "pipeline_failed",
        Some(pipeline),
        team,
        T0,
        json!({"error_message": "see <https://evil.example|the docs> or <@U123>"}),
    );
    db.tick(&c, T0);
    let body = srv.wait_for(1, 5)[0].json();
    let mut mrkdwn: Vec<String> = vec![body["text"].as_str().unwrap().to_string()];
    for b in body["blocks"].as_array().unwrap() {
        if b["text"]["type"] == "mrkdwn" {
            mrkdwn.push(b["text"]["text"].as_str().unwrap().to_string());
        }
        for f in b["fields"].as_array().into_iter().flatten() {
            mrkdwn.push(f["text"].as_str().unwrap().to_string());
        }
        for e in b["elements"].as_array().into_iter().flatten() {
            mrkdwn.push(e["text"].as_str().unwrap().to_string());
        }
    }
    for t in &mrkdwn {
        // Slack reads `<…>` as mentions and links and `&` as an entity: none is left raw.
        assert!(!t.contains('<') && !t.contains('>'), "{t}");
        assert!(
            !t.replace("&amp;", "")
                .replace("&lt;", "")
                .replace("&gt;", "")
                .contains('&'),
            "{t}"
        );
    }
    let all = mrkdwn.join("\n");
    assert!(all.contains("etl_&lt;!here&gt;"), "{all}");
    assert!(all.contains("&lt;!channel&gt; &amp; co"), "{all}");
    assert!(
        all.contains("&lt;https://evil.example|the docs&gt;"),
        "{all}"
    );
}

#[test]
fn hanging_failing_and_slow_receivers_do_not_hold_up_the_others() {
    let hang = Recorder::start();
    let bad = Recorder::start();
    let slow = Recorder::start();
    let good = Recorder::start();
    hang.script(&[Reply::Hang(Duration::from_secs(8))]);
    bad.script(&[Reply::Status(404)]);
    slow.set_mode(Mode {
        down: None,
        delay: Duration::from_millis(1500),
    });
    let db = Db::new();
    let mut text = String::from(
        "[alerting]\nflap_hold_down = \"0s\"\n[route]\nreceiver = \"default\"\ngroup_by = [\"team\"]\ngroup_wait = \"0s\"\n",
    );
    // Names sort so that a one-at-a-time sender would serve the hanging one first.
    let receivers = [
        ("a-hang", &hang, "6s"),
        ("b-bad", &bad, "6s"),
        ("c-slow", &slow, "6s"),
        ("d-good", &good, "6s"),
    ];
    for (name, _, _) in &receivers {
        text.push_str(&format!(
            "[[route.routes]]\nmatchers = [\"team={name}\"]\nreceiver = \"{name}\"\n"
        ));
    }
    for (name, srv, timeout) in &receivers {
        text.push_str(&format!(
            "[[receivers]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"{timeout}\"\n",
            srv.url("/")
        ));
    }
    let c = config(&text);
    for (name, _, _) in &receivers {
        db.fire("pipeline_failed", Some(name), name, T0, json!({}));
    }
    db.process(&c, T0);
    let report = std::thread::scope(|s| {
        let run = s.spawn(|| db.deliver(&c, T0));
        // The healthy and the slow receiver are served while the hanging one still
        // holds its request (it answers after 8 s; the sender waits up to 6 s).
        assert_eq!(good.wait_for(1, 4).len(), 1, "the good receiver waited");
        assert_eq!(slow.wait_for(1, 4).len(), 1, "the slow receiver waited");
        assert_eq!(bad.wait_for(1, 4).len(), 1, "the failing receiver waited");
        assert_eq!(hang.requests().len(), 1);
        run.join().unwrap()
    });
    let o = |n: &str| report.receivers[n].clone();
    assert_eq!((o("d-good").sent, o("c-slow").sent), (1, 1));
    assert_eq!((o("b-bad").failed, o("a-hang").retrying), (1, 1));
    assert!(o("b-bad").last_error.unwrap().contains("HTTP 404"));
    assert!(report.failing());
    let lines = report.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("delivery to b-bad: 0 sent, 1 failed — HTTP 404")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("delivery to a-hang: 0 sent, 1 retrying, 1 pending")),
        "{lines:?}"
    );
    // The 4xx is not retried, however long one waits; the timeout is.
    db.deliver(&c, T0 + HOUR);
    assert_eq!(bad.requests().len(), 1);
    assert_eq!(hang.wait_for(2, 5).len(), 2);
    let failed: i64 = db
        .store
        .conn()
        .unwrap()
        .query_row(
            "SELECT failed FROM notification_status WHERE receiver = 'b-bad'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 1, "visible in the notification_status view");
}

#[test]
fn file_output_is_private_and_commands_get_a_minimal_environment() {
    use std::os::unix::fs::PermissionsExt;
    let db = Db::new();
    let out = db.file("alerts.jsonl");
    let env_out = db.file("env.txt");
    let text = format!(
        r#"
[route]
receiver = "file"
group_wait = "0s"
[[route.routes]]
matchers = ["team=ops"]
receiver = "cmd"
continue = true
[[receivers]]
name = "file"
type = "file"
path = "{}"
[[receivers]]
name = "cmd"
type = "command"
command = ["sh", "-c", "env > {}"]
"#,
        out.display(),
        env_out.display()
    );
    std::fs::write(db.file("pipemon.toml"), &text).unwrap();
    let c = config(&text);
    db.fire("pipeline_failed", Some("a"), "data", T0, json!({}));
    db.fire("pipeline_failed", Some("b"), "ops", T0, json!({}));
    db.process(&c, T0);
    // Through the binary, with a secret in its environment.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_pipemon"))
        .arg("--db")
        .arg(db.path())
        .arg("--config")
        .arg(db.file("pipemon.toml"))
        .args(["notify", "--now", "2026-11-02T10:00:00Z"])
        .env("PIPEMON_TEST_HOOK_SECRET", "s3cret")
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let env = std::fs::read_to_string(&env_out).unwrap();
    let names: std::collections::BTreeSet<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(!env.contains("s3cret"), "{env}");
    assert!(
        names.contains("PIPEMON_DEDUP_KEY") && names.contains("PIPEMON_RECEIVER"),
        "{names:?}"
    );
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "TMPDIR",
        "PIPEMON_DEDUP_KEY",
        "PIPEMON_RECEIVER",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
    ];
    for n in &names {
        assert!(allowed.contains(n), "unexpected variable {n} in {names:?}");
    }
}
