//! Sending the outbox: at-least-once delivery with retries.
//!
//! Every notification is a row before anything is sent; a row is marked sent only after
//! the receiver accepted it, so a crash mid-send re-sends it on the next run (with the
//! same dedup key, which receivers can use to drop the repeat). Rows of one lane (a
//! group at one receiver) go strictly in order, so a resolution never overtakes its
//! firing. Transient failures (connection errors, timeouts, 408, 429, 5xx, a missing
//! secret variable) are retried with exponential backoff and jitter across runs, until
//! `give_up_after`; other 4xx are permanent and recorded with the reason. A receiver
//! that failed transiently is not tried again in the same run.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::RngExt;
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::alert::config::{AlertConfig, ReceiverConfig, ReceiverType};
use crate::alert::policy::Policy;
use crate::model::Millis;
use crate::store::Store;

/// Default PagerDuty Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent(Option<u16>),
    Transient(Option<u16>, String),
    Permanent(Option<u16>, String),
}

/// The delay before retry number `attempts` (1 = first retry): doubling from `initial`
/// up to `max`, then "equal jitter" — half fixed, half random — so many failed rows do
/// not all come back at the same instant.
pub fn backoff(attempts: i64, initial: i64, max: i64, unit_random: f64) -> i64 {
    let exp = (attempts - 1).clamp(0, 30) as u32;
    let d = initial.saturating_mul(1i64 << exp).min(max);
    d / 2 + ((d / 2) as f64 * unit_random.clamp(0.0, 1.0)) as i64
}

/// Classifies an HTTP status.
pub fn classify_status(code: u16, body: &str) -> Attempt {
    let why = || {
        let b: String = body.chars().take(300).collect();
        format!("HTTP {code}: {}", b.trim())
    };
    match code {
        200..=299 => Attempt::Sent(Some(code)),
        408 | 429 | 500..=599 => Attempt::Transient(Some(code), why()),
        _ => Attempt::Permanent(Some(code), why()),
    }
}

fn wall_ms() -> Millis {
    crate::time::now_ms()
}

/// The outbox rows due at ?1 that head their lane (served by `notifications_by_status`,
/// the lane check by `notifications_by_lane`).
pub const DUE_ROWS_SQL: &str =
    "SELECT id, dedup_key, receiver, payload, created_at, attempts FROM notifications n
     WHERE status = 'pending' AND next_attempt_at <= ?1
       AND NOT EXISTS (SELECT 1 FROM notifications p
                       WHERE p.receiver = n.receiver AND p.lane = n.lane
                         AND p.status = 'pending' AND p.id < n.id)
     ORDER BY id";

struct Due {
    id: i64,
    dedup_key: String,
    receiver: String,
    payload: String,
    created_at: Millis,
    attempts: i64,
}

/// Sends every due row.
pub fn send_due(store: &Store, config: &AlertConfig, policy: &Policy, now: Millis) -> Result<()> {
    let conn = store.conn()?;
    let due: Vec<Due> = {
        // The head of each lane only: later rows of a lane wait for earlier ones.
        let mut stmt = conn.prepare(DUE_ROWS_SQL)?;
        stmt.query_map([now], |r| {
            Ok(Due {
                id: r.get(0)?,
                dedup_key: r.get(1)?,
                receiver: r.get(2)?,
                payload: r.get(3)?,
                created_at: r.get(4)?,
                attempts: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut down: BTreeSet<String> = BTreeSet::new();
    for row in due {
        if down.contains(&row.receiver) {
            continue;
        }
        let rcfg = policy.receivers.get(&row.receiver);
        let timeout = rcfg
            .and_then(|r| r.timeout)
            .unwrap_or(config.delivery.timeout)
            .ms();
        // Claim the row for the time the attempt can take, so an overlapping run skips it.
        let claimed = conn.execute(
            "UPDATE notifications SET lease_until = ?2
             WHERE id = ?1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?3)",
            params![row.id, wall_ms() + timeout + 30_000, wall_ms()],
        )?;
        if claimed == 0 {
            continue;
        }
        let outcome = match rcfg {
            None => Attempt::Permanent(
                None,
                format!("receiver {:?} is no longer configured", row.receiver),
            ),
            Some(r) => attempt(
                r,
                &row.payload,
                &row.dedup_key,
                Duration::from_millis(timeout as u64),
            ),
        };
        if matches!(outcome, Attempt::Transient(..)) {
            down.insert(row.receiver.clone());
        }
        record(&conn, &row, &outcome, config, now)?;
    }
    Ok(())
}

fn record(
    conn: &Connection,
    row: &Due,
    outcome: &Attempt,
    config: &AlertConfig,
    now: Millis,
) -> Result<()> {
    let attempts = row.attempts + 1;
    let (status, code, err, next) = match outcome {
        Attempt::Sent(code) => ("sent", *code, None, now),
        Attempt::Permanent(code, e) => ("failed", *code, Some(e.clone()), now),
        Attempt::Transient(code, e) => {
            if now - row.created_at >= config.delivery.give_up_after.ms() {
                (
                    "failed",
                    *code,
                    Some(format!("{e} (gave up after {} attempts)", attempts)),
                    now,
                )
            } else {
                let r: f64 = rand::rng().random();
                let delay = backoff(
                    attempts,
                    config.delivery.retry_initial.ms(),
                    config.delivery.retry_max.ms(),
                    r,
                );
                ("pending", *code, Some(e.clone()), now + delay)
            }
        }
    };
    let outcome_word = match (outcome, status) {
        (Attempt::Sent(_), _) => "sent",
        (_, "pending") => "retry",
        _ => "failed",
    };
    conn.execute(
        "UPDATE notifications SET status = ?2, attempts = ?3, next_attempt_at = ?4, lease_until = NULL,
                sent_at = CASE WHEN ?2 = 'sent' THEN ?5 ELSE sent_at END,
                last_status = ?6, last_error = ?7
         WHERE id = ?1",
        params![row.id, status, attempts, next, now, code, err],
    )?;
    conn.execute(
        "INSERT INTO delivery_attempts (notification_id, attempted_at, outcome, http_status, error)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![row.id, now, outcome_word, code, err],
    )?;
    Ok(())
}

/// A value given directly or through an environment variable.
fn secret(direct: &Option<String>, env: &Option<String>) -> Result<Option<String>, String> {
    if let Some(v) = direct {
        return Ok(Some(v.clone()));
    }
    match env {
        None => Ok(None),
        Some(name) => std::env::var(name)
            .map(Some)
            .map_err(|_| format!("environment variable {name} is not set")),
    }
}

/// One attempt to deliver `payload` to `r`.
pub fn attempt(r: &ReceiverConfig, payload: &str, dedup_key: &str, timeout: Duration) -> Attempt {
    let url = match secret(&r.url, &r.url_env) {
        Ok(u) => u,
        // Fixing the environment and re-running delivers it: transient.
        Err(e) => return Attempt::Transient(None, e),
    };
    match r.kind {
        ReceiverType::None => Attempt::Sent(None),
        ReceiverType::Webhook | ReceiverType::Slack => post(
            url.as_deref().unwrap_or_default(),
            payload,
            dedup_key,
            timeout,
        ),
        ReceiverType::Alertmanager => {
            let base = url.unwrap_or_default();
            let endpoint = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
            post(&endpoint, payload, dedup_key, timeout)
        }
        ReceiverType::Pagerduty => {
            let key = match secret(&r.routing_key, &r.routing_key_env) {
                Ok(Some(k)) => k,
                Ok(None) => return Attempt::Permanent(None, "no routing_key".into()),
                Err(e) => return Attempt::Transient(None, e),
            };
            let mut v: Value = match serde_json::from_str(payload) {
                Ok(v) => v,
                Err(e) => {
                    return Attempt::Permanent(None, format!("stored payload unreadable: {e}"));
                }
            };
            v["routing_key"] = Value::String(key);
            post(
                url.as_deref().unwrap_or(PAGERDUTY_URL),
                &v.to_string(),
                dedup_key,
                timeout,
            )
        }
        ReceiverType::File => append(r, payload),
        ReceiverType::Command => run_command(r, payload, dedup_key, timeout),
    }
}

fn post(url: &str, body: &str, dedup_key: &str, timeout: Duration) -> Attempt {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // Receivers are reached directly; a proxy from the environment is not used.
        .proxy(None)
        .build()
        .into();
    let res = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("pipemon/", env!("CARGO_PKG_VERSION")))
        .header("Idempotency-Key", dedup_key)
        .send(body);
    match res {
        Ok(mut resp) => {
            let code = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            classify_status(code, &text)
        }
        Err(e) => match e {
            ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RedirectFailed => {
                Attempt::Permanent(None, e.to_string())
            }
            other => Attempt::Transient(None, other.to_string()),
        },
    }
}

fn append(r: &ReceiverConfig, payload: &str) -> Attempt {
    let Some(path) = &r.path else {
        return Attempt::Permanent(None, "no path".into());
    };
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // One write per line, so concurrent appenders do not interleave within it.
        let mut line = payload.to_string();
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()
    })();
    match res {
        Ok(()) => Attempt::Sent(None),
        Err(e) => Attempt::Transient(None, format!("{}: {e}", path.display())),
    }
}

fn run_command(r: &ReceiverConfig, payload: &str, dedup_key: &str, timeout: Duration) -> Attempt {
    let Some((prog, args)) = r.command.as_deref().and_then(|c| c.split_first()) else {
        return Attempt::Permanent(None, "no command".into());
    };
    let child = Command::new(prog)
        .args(args)
        .env("PIPEMON_DEDUP_KEY", dedup_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Attempt::Permanent(None, format!("{prog}: {e}"));
        }
        Err(e) => return Attempt::Transient(None, format!("{prog}: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits without reading its input is judged by its exit status.
        let _ = stdin.write_all(payload.as_bytes());
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    return Attempt::Sent(None);
                }
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let err: String = err.chars().take(300).collect();
                return Attempt::Transient(
                    None,
                    format!("{prog} exited with {status}: {}", err.trim()),
                );
            }
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Attempt::Transient(None, format!("{prog} timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Attempt::Transient(None, format!("{prog}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let cases = [
            (1, 0.0, 15_000),
            (1, 1.0, 30_000),
            (2, 0.0, 30_000),
            (3, 0.5, 90_000),
            (10, 1.0, 600_000),
            (50, 0.0, 300_000),
        ];
        for (n, r, want) in cases {
            assert_eq!(backoff(n, 30_000, 600_000, r), want, "attempt {n} r {r}");
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(classify_status(202, ""), Attempt::Sent(Some(202)));
        for c in [408, 429, 500, 502, 503] {
            assert!(
                matches!(classify_status(c, ""), Attempt::Transient(..)),
                "{c}"
            );
        }
        for c in [400, 401, 403, 404, 410, 301] {
            assert!(
                matches!(classify_status(c, "bad"), Attempt::Permanent(..)),
                "{c}"
            );
        }
    }
}
