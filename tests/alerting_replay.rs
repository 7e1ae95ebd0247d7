//! The cron replay: a generated 20-day history is imported, then the last 24 hours
//! are evaluated every 5 minutes (as `evaluate --now T` from cron would), each team
//! routed to its own webhook on a recording receiver that answers 503 for six of
//! those hours. Every alert that resolved after the first evaluation or still fires
//! must reach its team's webhook as firing (or fired-and-resolved in one) and, once
//! resolved, as resolved — exactly once; nothing is accepted twice.
//!
//! The world (60 pipelines, seed 11) has 17 alerts due in the replayed day, of six
//! kinds and eight teams, 10 resolving inside the day and 7 opening during the outage;
//! the floors below keep it from becoming thin again (about 50 s in the debug build).

mod alerting_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use alerting_support::*;
use assert_cmd::Command;
use pipemon::detect::{EvaluateOptions, Now, evaluate};

/// The floor of alerts due in the replayed day (the chosen world has more); keeps the
/// replay from silently becoming thin again.
const DUE_FLOOR: usize = 15;

/// `pipemon generate`'s first day.
const GENERATED_START: i64 = pipemon::generate::GenerateOptions::DEFAULT_START;

const TEAMS: [&str; 10] = [
    "platform",
    "payments",
    "growth",
    "finance",
    "logistics",
    "search",
    "ml",
    "marketing",
    "data-eng",
    "unowned",
];

fn replay_config(srv: &Recorder) -> pipemon::config::Config {
    let mut text = String::from(
        r#"
[alerting]
flap_hold_down = "0s"
systemic_inhibition = false
lineage_inhibition = false

[delivery]
retry_initial = "1m"
retry_max = "10m"

[route]
receiver = "default"
group_by = ["team"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"
"#,
    );
    for t in TEAMS {
        text.push_str(&format!(
            "[[route.routes]]\nmatchers = [\"team={t}\"]\nreceiver = \"hook-{t}\"\n"
        ));
    }
    for t in TEAMS {
        text.push_str(&format!(
            "[[receivers]]\nname = \"hook-{t}\"\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"5s\"\n",
            srv.url(&format!("/{t}"))
        ));
    }
    config(&text)
}

#[test]
fn replayed_day_with_an_outage_announces_every_alert_once_to_its_team() {
    let db = Db::new();
    let data = db.file("data");
    Command::cargo_bin("pipemon")
        .unwrap()
        .args([
            "generate",
            "--pipelines",
            "60",
            "--days",
            "20",
            "--seed",
            "11",
            "--out",
        ])
        .arg(&data)
        .assert()
        .success();
    // Events arrive as time passes: the history up to the day before the end at once,
    // then each 5-minute slice just before the evaluation that sees it.
    let text = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    // Lines without a readable time (the generator also writes bad input) go with the
    // history, where import rejects them as usual.
    let ts = |line: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        match &v["timestamp"] {
            serde_json::Value::String(s) => pipemon::time::parse_user_time(s),
            other => other.as_i64(),
        }
        .unwrap_or(i64::MIN)
    };
    let timed: Vec<(i64, &str)> = text.lines().map(|l| (ts(l), l)).collect();
    let end = timed.iter().map(|t| t.0).max().unwrap();
    assert!(end > GENERATED_START, "generated data has times");
    let start = end - 24 * HOUR;
    let slice = |from: i64, to: i64, name: &str| {
        let lines: Vec<&str> = timed
            .iter()
            .filter(|(t, _)| *t > from && *t <= to)
            .map(|(_, l)| *l)
            .collect();
        let path = db.file(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        pipemon::store::import::import_paths(
            &db.store,
            &[path],
            &pipemon::store::import::ImportOptions::default(),
        )
        .unwrap();
    };
    slice(i64::MIN, start, "history.jsonl");
    let srv = Recorder::start();
    let c = replay_config(&srv);
    let (down_from, down_to) = (start + 6 * HOUR, start + 12 * HOUR);
    let steps = 24 * 12;
    for k in 0..=steps {
        let now = start + k * 5 * MIN;
        if k > 0 {
            slice(now - 5 * MIN, now, "slice.jsonl");
        }
        srv.set_mode(Mode {
            down: (down_from..down_to).contains(&now).then_some(503),
            delay: Duration::ZERO,
        });
        evaluate(
            &db.store,
            &c.detect,
            &c.alert,
            &EvaluateOptions {
                now: Now::At(now),
                rebuild: false,
                notify: false,
            },
        )
        .unwrap();
        db.deliver(&c, now);
    }
    // Cron's `notify` keeps flushing after the last evaluation.
    for m in 1..=12 {
        db.deliver(&c, start + steps * 5 * MIN + m * MIN);
    }

    // What each team's webhook accepted: per alert id, how often it came as firing
    // and as resolved, in order; and every idempotency key accepted.
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
    let mut wrong_team = 0;
    for req in srv.accepted() {
        *keys
            .entry(req.header("Idempotency-Key").unwrap().to_string())
            .or_default() += 1;
        let team = req.path.trim_start_matches('/').to_string();
        let body = req.json();
        for a in body["alerts"].as_array().unwrap() {
            if a["labels"]["team"] != team.as_str() {
                wrong_team += 1;
            }
            let id: i64 = a["annotations"]["alert_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            seen.entry((team.clone(), id))
                .or_default()
                .push(a["status"].as_str().unwrap().to_string());
        }
    }
    let conn = db.store.conn().unwrap();
    let line: i64 = pipemon::store::meta_get(&conn, "notify_since")
        .unwrap()
        .unwrap();
    assert_eq!(line, start, "the first evaluation draws the backfill line");
    let mut stmt = conn
        .prepare("SELECT id, team, status, resolved_at FROM alerts ORDER BY id")
        .unwrap();
    let alerts: Vec<(i64, String, String, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (mut due, mut announced, mut resolved_ok, mut history_sent) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    let ids: BTreeSet<i64> = alerts.iter().map(|a| a.0).collect();
    for (id, team, status, resolved_at) in &alerts {
        let got = seen.get(&(team.clone(), *id)).cloned().unwrap_or_default();
        if resolved_at.is_some_and(|r| r < line) {
            history_sent += !got.is_empty() as usize;
            continue;
        }
        due += 1;
        let n_res = got.iter().filter(|s| *s == "resolved").count();
        let told = !got.is_empty() && (got[0] == "firing" || n_res == 1);
        announced += told as usize;
        if !told {
            problems.push(format!("alert {id} ({team}) never announced"));
        }
        match status.as_str() {
            "resolved" => {
                if n_res == 1 && got.last().map(String::as_str) == Some("resolved") {
                    resolved_ok += 1;
                } else {
                    problems.push(format!("alert {id} ({team}) resolution: {got:?}"));
                }
            }
            _ => {
                if n_res > 0 {
                    problems.push(format!("alert {id} ({team}) firing but told resolved"));
                }
            }
        }
    }
    // Breadth of what was due, from the alerts table: kinds, teams, and alerts that
    // opened while the receiver was refusing.
    let mut stmt = conn
        .prepare(
            "SELECT kind, team, started_at FROM alerts WHERE resolved_at IS NULL OR resolved_at >= ?1",
        )
        .unwrap();
    let due_rows: Vec<(String, String, i64)> = stmt
        .query_map([line], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kinds: BTreeSet<&str> = due_rows.iter().map(|r| r.0.as_str()).collect();
    let teams: BTreeSet<&str> = due_rows.iter().map(|r| r.1.as_str()).collect();
    let in_outage = due_rows
        .iter()
        .filter(|r| (down_from..down_to).contains(&r.2))
        .count();
    let unrouted: Vec<&str> = teams
        .iter()
        .copied()
        .filter(|t| !TEAMS.contains(t))
        .collect();
    assert!(unrouted.is_empty(), "teams without a webhook: {unrouted:?}");
    let strangers = seen.keys().filter(|(_, id)| !ids.contains(id)).count();
    let duplicated = keys.values().filter(|n| **n > 1).count();
    let rejected = srv.requests().iter().filter(|r| r.answered == 503).count();
    let resolved_due = alerts
        .iter()
        .filter(|a| a.2 == "resolved" && a.3.is_some_and(|r| r >= line))
        .count();
    eprintln!(
        "replay: {} alerts, {due} due, {announced} announced, {resolved_ok}/{resolved_due} resolutions, \
         {duplicated} duplicated, {history_sent} history sent, {rejected} requests refused with 503, \
         {} notifications accepted; due kinds {kinds:?}, teams {teams:?}, {in_outage} opened in the outage",
        alerts.len(),
        keys.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(due, due_rows.len());
    assert!(
        due >= DUE_FLOOR,
        "the replay must exercise real traffic: {due} due"
    );
    assert!(kinds.len() >= 3, "due kinds: {kinds:?}");
    assert!(teams.len() >= 3, "due teams: {teams:?}");
    assert!(in_outage >= 1, "no due alert opened during the outage");
    assert!(
        resolved_due >= 3,
        "{resolved_due} due alerts resolved in the window"
    );
    assert!(rejected > 0, "the outage must have refused deliveries");
    assert_eq!(announced, due);
    assert_eq!(resolved_ok, resolved_due);
    assert_eq!(
        (duplicated, history_sent, strangers, wrong_team),
        (0, 0, 0, 0)
    );
}
