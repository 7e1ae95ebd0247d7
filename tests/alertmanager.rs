//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) on a loopback
//! port, with its own temporary storage and configuration whose webhook receiver points
//! at this test's recording server. pipemon delivers alerts through its `alertmanager`
//! receiver; Alertmanager's API must show them with pipemon's labels, and its webhook
//! must arrive firing, then resolved after pipemon resolves them. The binary is
//! required: `.ci/run` installs it, so its absence is a failure, not a skip.

mod alerting_support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alerting_support::*;
use serde_json::{Value, json};

/// Stops the Alertmanager it holds, whatever happens to the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary() -> PathBuf {
    let path = std::env::var_os("PIPEMON_ALERTMANAGER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-alertmanager"));
    assert!(
        path.exists(),
        "{} not found: install it with `apt-get install -y prometheus-alertmanager` \
         (or point PIPEMON_ALERTMANAGER at an alertmanager binary)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get_json(url: &str) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .proxy(None)
        .build()
        .into();
    let mut resp = agent.get(url).call().ok()?;
    let text = resp.body_mut().read_to_string().ok()?;
    serde_json::from_str(&text).ok()
}

/// Polls `f` until it returns Some, or fails the test after `secs`.
fn wait_until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The webhook notifications Alertmanager sent, with the status of the alert for
/// pipeline `p` in each.
fn webhook_states(hook: &Recorder, p: &str) -> Vec<String> {
    hook.requests()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["pipeline_id"] == p)
        .map(|a| a["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn alertmanager_receives_pipemon_alerts_and_notifies_firing_then_resolved() {
    let bin = binary();
    let hook = Recorder::start();
    let db = Db::new();
    let am_port = free_port();
    let am_dir = db.dir.path().join("alertmanager");
    std::fs::create_dir_all(am_dir.join("data")).unwrap();
    let am_config = am_dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "global:\n  resolve_timeout: 5m\n\
             route:\n  receiver: recorder\n  group_by: ['alertname', 'pipeline_id']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n- name: recorder\n  webhook_configs:\n  - url: '{}'\n    send_resolved: true\n",
            hook.url("/am-hook")
        ),
    )
    .unwrap();
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let _am = Running(child);
    let base = format!("http://127.0.0.1:{am_port}");
    wait_until(30, "Alertmanager to be ready", || {
        get_json(&format!("{base}/api/v2/status")).map(|_| ())
    });

    let c = config(&format!(
        r#"
[alerting]
flap_hold_down = "0s"
[route]
receiver = "am"
[[receivers]]
name = "am"
type = "alertmanager"
url = "{base}"
"#
    ));
    db.pipeline("etl_orders", Some("data"), Some("critical"), &[]);
    db.pipeline("ml_train", Some("ml"), Some("medium"), &[]);
    let now = pipemon::time::now_ms();
    let a = db.fire(
        "pipeline_failed",
        Some("etl_orders"),
        "data",
        now - 60_000,
        json!({"error_type": "Timeout"}),
    );
    let b = db.fire("stuck_run", Some("ml_train"), "ml", now - 30_000, json!({}));
    db.tick(&c, now);
    assert!(
        db.outbox().iter().all(|r| r.status == "sent"),
        "{:?}",
        db.outbox()
    );

    // Alertmanager's own API shows both, active, with pipemon's labels.
    let alerts = wait_until(20, "alerts in Alertmanager's API", || {
        let v = get_json(&format!("{base}/api/v2/alerts"))?;
        (v.as_array()?.len() == 2).then_some(v)
    });
    let find = |p: &str| {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["labels"]["pipeline_id"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} not in {alerts}"))
    };
    let am_a = find("etl_orders");
    assert_eq!(am_a["labels"]["alertname"], "pipeline_failed");
    assert_eq!(am_a["labels"]["kind"], "pipeline_failed");
    assert_eq!(am_a["labels"]["team"], "data");
    assert_eq!(am_a["labels"]["severity"], "critical");
    assert_eq!(am_a["labels"]["priority"], "critical");
    assert_eq!(am_a["annotations"]["alert_id"], a.to_string());
    assert_eq!(am_a["status"]["state"], "active");
    let am_b = find("ml_train");
    assert_eq!(am_b["labels"]["team"], "ml");
    assert_eq!(am_b["labels"]["kind"], "stuck_run");
    assert_eq!(am_b["labels"]["severity"], "high");

    // Its webhook arrives, firing.
    wait_until(30, "a firing webhook for etl_orders", || {
        webhook_states(&hook, "etl_orders")
            .contains(&"firing".to_string())
            .then_some(())
    });
    wait_until(30, "a firing webhook for ml_train", || {
        webhook_states(&hook, "ml_train")
            .contains(&"firing".to_string())
            .then_some(())
    });

    // pipemon resolves etl_orders: Alertmanager is told (endsAt = resolution time) and
    // its webhook reports it resolved; ml_train still fires.
    let later = pipemon::time::now_ms();
    db.resolve(a, later - 1_000);
    db.tick(&c, later);
    wait_until(30, "a resolved webhook for etl_orders", || {
        webhook_states(&hook, "etl_orders")
            .contains(&"resolved".to_string())
            .then_some(())
    });
    assert!(!webhook_states(&hook, "ml_train").contains(&"resolved".to_string()));
    let active = get_json(&format!(
        "{base}/api/v2/alerts?active=true&silenced=false&inhibited=false"
    ))
    .unwrap();
    let active_pipelines: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"]["state"] == "active")
        .filter_map(|x| x["labels"]["pipeline_id"].as_str())
        .collect();
    assert_eq!(active_pipelines, ["ml_train"]);
    db.resolve(b, later);
    db.tick(&c, pipemon::time::now_ms());
    wait_until(30, "a resolved webhook for ml_train", || {
        webhook_states(&hook, "ml_train")
            .contains(&"resolved".to_string())
            .then_some(())
    });
}

#[test]
fn alertmanager_keeps_a_firing_alert_past_its_ttl_while_pipemon_reposts() {
    let bin = binary();
    let db = Db::new();
    let am_port = free_port();
    let am_dir = db.dir.path().join("alertmanager");
    std::fs::create_dir_all(am_dir.join("data")).unwrap();
    let am_config = am_dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: nobody\nreceivers:\n- name: nobody\n",
    )
    .unwrap();
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let _am = Running(child);
    let base = format!("http://127.0.0.1:{am_port}");
    wait_until(30, "Alertmanager to be ready", || {
        get_json(&format!("{base}/api/v2/status")).map(|_| ())
    });
    // A short time to live: without re-posts Alertmanager would resolve it after 3 s.
    let c = config(&format!(
        r#"
[alerting]
flap_hold_down = "0s"
[route]
receiver = "am"
[[receivers]]
name = "am"
type = "alertmanager"
url = "{base}"
resend_interval = "1s"
alert_ttl = "3s"
"#
    ));
    let state = |p: &str| -> Option<String> {
        let v = get_json(&format!("{base}/api/v2/alerts"))?;
        v.as_array()?
            .iter()
            .find(|x| x["labels"]["pipeline_id"] == p)
            .map(|x| x["status"]["state"].as_str().unwrap_or("").to_string())
    };
    let start = pipemon::time::now_ms();
    let a = db.fire(
        "pipeline_failed",
        Some("etl"),
        "data",
        start - 1_000,
        json!({}),
    );
    db.tick(&c, start);
    // Evaluations every ~1 s for 7 s (past two TTLs): it stays active throughout.
    while pipemon::time::now_ms() < start + 7_000 {
        std::thread::sleep(std::time::Duration::from_millis(1_000));
        db.tick(&c, pipemon::time::now_ms());
        assert_eq!(state("etl").as_deref(), Some("active"));
    }
    // An alert that opened and resolved between two evaluations is posted once,
    // resolved: Alertmanager knows it, not as active.
    let now = pipemon::time::now_ms();
    let brief = db.fire("stuck_run", Some("brief"), "data", now - 3_000, json!({}));
    db.resolve(brief, now - 2_000);
    // The long one resolves: its resolution is posted and Alertmanager drops it from
    // the active alerts.
    db.resolve(a, now - 500);
    db.tick(&c, now);
    wait_until(10, "etl resolved in Alertmanager", || {
        let v = get_json(&format!("{base}/api/v2/alerts?active=true"))?;
        let any = v
            .as_array()?
            .iter()
            .any(|x| x["labels"]["pipeline_id"] == "etl" || x["labels"]["pipeline_id"] == "brief");
        (!any).then_some(())
    });
    let posted: Vec<(String, i64)> = {
        let conn = db.store.conn().unwrap();
        let mut s = conn
            .prepare("SELECT fingerprint, count(*) FROM announcements GROUP BY fingerprint, state HAVING state = 'closed'")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(posted.len(), 2, "{posted:?}");
    let reposts = db
        .outbox()
        .iter()
        .filter(|r| r.alert_ids.contains(&a) && r.status == "sent")
        .count();
    assert!(reposts >= 5, "re-posted {reposts} times");
}
