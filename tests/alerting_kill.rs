//! `notify` killed with SIGKILL at random points of a delivery run, many times over:
//! afterwards every notification was accepted by the receiver, and any notification
//! it got twice (a send cut off mid-request) carried the same idempotency key and the
//! same body.

mod alerting_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use alerting_support::*;
use serde_json::json;

/// A small deterministic generator (xorshift), so a failing trial can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn notify_killed_at_random_points_loses_nothing() {
    let srv = Recorder::start();
    // Each request takes a while, so kills land before, during and after sends.
    srv.set_mode(Mode {
        down: None,
        delay: Duration::from_millis(15),
    });
    let db = Db::new();
    let text = format!(
        r#"
[route]
receiver = "hook"
group_by = ["pipeline_id"]
group_wait = "0s"
[[receivers]]
name = "hook"
type = "webhook"
url = "{}"
"#,
        srv.url("/hook")
    );
    std::fs::write(db.file("pipemon.toml"), &text).unwrap();
    let c = config(&text);
    let n_alerts = 150;
    for i in 0..n_alerts {
        db.fire(
            "pipeline_failed",
            Some(&format!("p{i:03}")),
            "data",
            T0,
            json!({}),
        );
    }
    db.process(&c, T0);
    let queued: BTreeSet<String> = {
        let conn = db.store.conn().unwrap();
        let mut s = conn.prepare("SELECT dedup_key FROM notifications").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(queued.len(), n_alerts);

    let notify = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipemon"));
        cmd.arg("--db")
            .arg(db.path())
            .arg("--config")
            .arg(db.file("pipemon.toml"))
            .args(["notify", "--now", "2026-11-02T10:00:00Z"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let trials = 30;
    for _ in 0..trials {
        let mut child = notify().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(5 + dice.below(120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let sent_before_final = srv.accepted().len();
    let status = notify().status().unwrap();
    assert!(status.success());

    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in srv.accepted() {
        by_key
            .entry(r.header("Idempotency-Key").unwrap().to_string())
            .or_default()
            .push(r.body.clone());
    }
    let received: BTreeSet<String> = by_key.keys().cloned().collect();
    let lost: Vec<&String> = queued.difference(&received).collect();
    let duplicates: usize = by_key.values().map(|v| v.len() - 1).sum();
    // A repeat is the same notification: same key, same bytes.
    for (k, bodies) in &by_key {
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "{k} changed between sends"
        );
    }
    // No alert went out under two different keys.
    let mut keys_per_alert: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for (k, bodies) in &by_key {
        let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        for (id, _) in alerts_in(&body) {
            keys_per_alert.entry(id).or_default().insert(k.clone());
        }
    }
    eprintln!(
        "kill test: {trials} SIGKILL trials, {} notifications, {} lost, {duplicates} delivered twice \
         (same key), {sent_before_final} accepted before the final run",
        queued.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(received, queued);
    assert!(keys_per_alert.values().all(|k| k.len() == 1));
    assert_eq!(keys_per_alert.len(), n_alerts);
    let pending: i64 = db
        .store
        .conn()
        .unwrap()
        .query_row(
            "SELECT count(*) FROM notifications WHERE status <> 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
    assert!(sent_before_final > 0, "the trials must have delivered some");
}
