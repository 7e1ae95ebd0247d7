//! Sending the outbox: at-least-once delivery with retries.
//!
//! Every notification is a row before anything is sent; a row is marked sent only after
//! the receiver accepted it, so a crash mid-send re-sends it on the next run (with the
//! same dedup key, sent as `Idempotency-Key`, which receivers can use to drop the
//! repeat). Rows of one lane (a group at one receiver) go strictly in order, so a
//! resolution never overtakes its firing. Each receiver is served by its own thread, so
//! a slow or hanging receiver holds up only itself.
//!
//! Transient failures (connection errors, timeouts, 408, 429, 5xx, a command that
//! failed) are retried with exponential backoff and jitter across runs, until
//! `give_up_after` from the first attempt; a receiver that failed transiently is not
//! tried again in the same run. Permanent causes (other 4xx, an unset secret variable,
//! a missing file path or program, no receiver of that name) mark the row failed at
//! once, with the reason, and are not retried.
//!
//! Backoff and giving up run on the delivery clock — the wall clock of the sending
//! process, never the evaluation's `--now` — so rows queued by `evaluate --now
//! data-end` are retried normally by a later `notify`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::RngExt;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
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

/// The outbox rows due at ?1 (delivery clock) that head their lane (served by
/// `notifications_by_status`, the lane check by `notifications_by_lane`).
pub const DUE_ROWS_SQL: &str =
    "SELECT id, dedup_key, receiver, payload, attempts FROM notifications n
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
    attempts: i64,
}

/// How one receiver fared in a delivery run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverOutcome {
    pub sent: usize,
    /// Attempts that failed and will be retried.
    pub retrying: usize,
    /// Rows marked failed for good in this run.
    pub failed: usize,
    /// The last failure's reason.
    pub last_error: Option<String>,
}

/// What a delivery run did, per receiver, and what the outbox holds afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub receivers: BTreeMap<String, ReceiverOutcome>,
    /// Rows still pending, per receiver, and of those how many already failed an
    /// attempt (a receiver in backoff).
    pub pending: BTreeMap<String, (i64, i64)>,
}

impl DeliveryReport {
    /// Whether deliveries are failing: a row failed or was retried in this run, or a
    /// pending row is waiting for a retry after a failed attempt.
    pub fn failing(&self) -> bool {
        self.receivers
            .values()
            .any(|o| o.retrying > 0 || o.failed > 0)
            || self.pending.values().any(|(_, retrying)| *retrying > 0)
    }

    /// One line per receiver that had anything to do, for stderr.
    pub fn lines(&self) -> Vec<String> {
        let mut names: Vec<&String> = self.receivers.keys().collect();
        names.extend(self.pending.keys());
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let o = self.receivers.get(name).cloned().unwrap_or_default();
                let (pending, _) = self.pending.get(name).copied().unwrap_or((0, 0));
                let mut parts = vec![format!("{} sent", o.sent)];
                if o.retrying > 0 {
                    parts.push(format!("{} retrying", o.retrying));
                }
                if o.failed > 0 {
                    parts.push(format!("{} failed", o.failed));
                }
                if pending > 0 {
                    parts.push(format!("{pending} pending"));
                }
                let why = o
                    .last_error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default();
                format!("delivery to {name}: {}{why}", parts.join(", "))
            })
            .collect()
    }
}

/// How a delivery run behaves.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// The delivery clock (wall-clock ms; injected in tests).
    pub clock: Millis,
    /// Make each outbox update durable on disk (`synchronous = FULL`) before the next
    /// send, instead of WAL's default of syncing at checkpoints.
    pub fsync: bool,
}

/// Sends every due row, one thread per receiver, and reports what happened.
pub fn send_due(
    store: &Store,
    config: &AlertConfig,
    policy: &Policy,
    opts: SendOptions,
) -> Result<DeliveryReport> {
    let due: Vec<Due> = {
        let conn = store.conn()?;
        // The head of each lane only: later rows of a lane wait for earlier ones.
        let mut stmt = conn.prepare(DUE_ROWS_SQL)?;
        stmt.query_map([opts.clock], |r| {
            Ok(Due {
                id: r.get(0)?,
                dedup_key: r.get(1)?,
                receiver: r.get(2)?,
                payload: r.get(3)?,
                attempts: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut by_receiver: BTreeMap<String, Vec<Due>> = BTreeMap::new();
    for row in due {
        by_receiver
            .entry(row.receiver.clone())
            .or_default()
            .push(row);
    }
    let results: Vec<(String, Result<ReceiverOutcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = by_receiver
            .into_iter()
            .map(|(name, rows)| {
                let h = s.spawn(move || send_receiver(store, config, policy, opts, &name, rows));
                (h, ())
            })
            .collect();
        handles
            .into_iter()
            .map(|(h, ())| match h.join() {
                Ok(r) => r,
                Err(_) => (
                    String::new(),
                    Err(anyhow::anyhow!("a delivery thread panicked")),
                ),
            })
            .collect()
    });
    let mut report = DeliveryReport::default();
    for (name, r) in results {
        report.receivers.insert(name, r?);
    }
    let conn = store.conn()?;
    let mut stmt = conn.prepare(
        "SELECT receiver, count(*), count(*) FILTER (WHERE attempts > 0)
         FROM notifications WHERE status = 'pending' GROUP BY receiver",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?;
    for row in rows {
        let (name, counts) = row?;
        report.pending.insert(name, counts);
    }
    Ok(report)
}

/// Puts every failed row back in the queue, due at once, with its attempt history kept
/// (`notify --retry-failed`); returns how many. Giving up is counted afresh from the
/// next attempt.
pub fn requeue_failed(store: &Store) -> Result<usize> {
    let mut conn = store.conn()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx.execute(
        "UPDATE notifications SET status = 'pending', next_attempt_at = 0, lease_until = NULL,
                lease_pid = NULL WHERE status = 'failed'",
        [],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Whether the process that holds a lease is gone (Linux: no `/proc/PID`); elsewhere
/// only an expired lease is taken over.
fn holder_gone(pid: Option<i64>) -> bool {
    match pid {
        None => true,
        Some(p) if p == std::process::id() as i64 => false,
        Some(p) => {
            cfg!(target_os = "linux")
                && std::path::Path::new("/proc/self").exists()
                && !std::path::Path::new(&format!("/proc/{p}")).exists()
        }
    }
}

/// Claims a row for the time an attempt can take, so an overlapping run skips it. A
/// lease whose holder was killed is taken over at once.
fn claim(conn: &Connection, id: i64, timeout: i64) -> Result<bool> {
    let held: Option<(Option<Millis>, Option<i64>)> = conn
        .query_row(
            "SELECT lease_until, lease_pid FROM notifications WHERE id = ?1 AND status = 'pending'",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((until, pid)) = held else {
        return Ok(false);
    };
    let wall = wall_ms();
    let free = until.is_none_or(|u| u < wall) || holder_gone(pid);
    if !free {
        return Ok(false);
    }
    let n = conn.execute(
        "UPDATE notifications SET lease_until = ?2, lease_pid = ?3
         WHERE id = ?1 AND status = 'pending' AND lease_until IS ?4 AND lease_pid IS ?5",
        params![
            id,
            wall + timeout + 30_000,
            std::process::id() as i64,
            until,
            pid
        ],
    )?;
    Ok(n == 1)
}

fn send_receiver(
    store: &Store,
    config: &AlertConfig,
    policy: &Policy,
    opts: SendOptions,
    name: &str,
    rows: Vec<Due>,
) -> (String, Result<ReceiverOutcome>) {
    let mut out = ReceiverOutcome::default();
    let res = (|| -> Result<()> {
        let rcfg = policy.receivers.get(name);
        let timeout = rcfg
            .and_then(|r| r.timeout)
            .unwrap_or(config.delivery.timeout)
            .ms();
        for row in rows {
            if !claim(&*store.conn()?, row.id, timeout)? {
                continue;
            }
            let outcome = match rcfg {
                None => {
                    Attempt::Permanent(None, format!("receiver {name:?} is no longer configured"))
                }
                Some(r) => attempt(
                    r,
                    &row.payload,
                    &row.dedup_key,
                    Duration::from_millis(timeout as u64),
                ),
            };
            let word = record(&mut *store.conn()?, &row, &outcome, config, opts)?;
            match (&outcome, word) {
                (Attempt::Sent(_), _) => out.sent += 1,
                (Attempt::Transient(_, e), "retry") => {
                    out.retrying += 1;
                    out.last_error = Some(e.clone());
                }
                (Attempt::Transient(_, e) | Attempt::Permanent(_, e), _) => {
                    out.failed += 1;
                    out.last_error = Some(e.clone());
                }
            }
            // A receiver that failed transiently is not tried again in this run.
            if matches!(outcome, Attempt::Transient(..)) {
                break;
            }
        }
        Ok(())
    })();
    (name.to_string(), res.map(|()| out))
}

/// Records an attempt's outcome on the row and in `delivery_attempts`, in one
/// transaction; returns the attempt's outcome word (sent, retry, failed).
fn record(
    conn: &mut Connection,
    row: &Due,
    outcome: &Attempt,
    config: &AlertConfig,
    opts: SendOptions,
) -> Result<&'static str> {
    if opts.fsync {
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    let now = opts.clock;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let attempts = row.attempts + 1;
    let first: Millis = tx.query_row(
        // Since the row last failed for good, if it was put back in the queue.
        "SELECT coalesce(min(attempted_at), ?2) FROM delivery_attempts
         WHERE notification_id = ?1 AND id > coalesce((SELECT max(id) FROM delivery_attempts
               WHERE notification_id = ?1 AND outcome = 'failed'), 0)",
        params![row.id, now],
        |r| r.get(0),
    )?;
    let (status, code, err, next) = match outcome {
        Attempt::Sent(code) => ("sent", *code, None, now),
        Attempt::Permanent(code, e) => ("failed", *code, Some(e.clone()), now),
        Attempt::Transient(code, e) => {
            if now - first >= config.delivery.give_up_after.ms() {
                (
                    "failed",
                    *code,
                    Some(format!("{e} (gave up after {attempts} attempts)")),
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
    let word = match (outcome, status) {
        (Attempt::Sent(_), _) => "sent",
        (_, "pending") => "retry",
        _ => "failed",
    };
    tx.execute(
        "UPDATE notifications SET status = ?2, attempts = ?3, next_attempt_at = ?4,
                lease_until = NULL, lease_pid = NULL,
                sent_at = CASE WHEN ?2 = 'sent' THEN ?5 ELSE sent_at END,
                last_status = ?6, last_error = ?7
         WHERE id = ?1",
        params![row.id, status, attempts, next, now, code, err],
    )?;
    tx.execute(
        "INSERT INTO delivery_attempts (notification_id, attempted_at, outcome, http_status, error)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![row.id, now, word, code, err],
    )?;
    tx.commit()?;
    if opts.fsync {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(word)
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
        // An operator has to set it: permanent until then, not retried.
        Err(e) => return Attempt::Permanent(None, e),
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
                Err(e) => return Attempt::Permanent(None, e),
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
        Err(e) => {
            // Error texts may quote the URL, which may hold a secret.
            let why = e
                .to_string()
                .replace(url, &crate::alert::policy::redact_url(url));
            match e {
                ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RedirectFailed => {
                    Attempt::Permanent(None, why)
                }
                _ => Attempt::Transient(None, why),
            }
        }
    }
}

fn append(r: &ReceiverConfig, payload: &str) -> Attempt {
    let Some(path) = &r.path else {
        return Attempt::Permanent(None, "no path".into());
    };
    let res = (|| -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        // Notifications may carry what only the team should read: a new file is
        // created readable by its owner only (an existing file keeps its mode).
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path)?;
        // One write per line, so concurrent appenders do not interleave within it.
        let mut line = payload.to_string();
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()
    })();
    match res {
        Ok(()) => Attempt::Sent(None),
        // A missing directory (or a directory where the file should be) stays so until
        // an operator fixes the configuration: permanent.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::IsADirectory
                    | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Attempt::Permanent(None, format!("{}: {e}", path.display()))
        }
        Err(e) => Attempt::Transient(None, format!("{}: {e}", path.display())),
    }
}

/// The variables a `command` receiver inherits (when set); it also gets
/// `PIPEMON_DEDUP_KEY` and `PIPEMON_RECEIVER`.
pub const COMMAND_ENV: [&str; 6] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

fn run_command(r: &ReceiverConfig, payload: &str, dedup_key: &str, timeout: Duration) -> Attempt {
    let Some((prog, args)) = r.command.as_deref().and_then(|c| c.split_first()) else {
        return Attempt::Permanent(None, "no command".into());
    };
    let mut cmd = Command::new(prog);
    cmd.args(args).env_clear();
    // A minimal environment: nothing of pipemon's own (other receivers' secrets
    // included) but what a program needs to run, plus the notification's key.
    for key in COMMAND_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let child = cmd
        .env("PIPEMON_DEDUP_KEY", dedup_key)
        .env("PIPEMON_RECEIVER", &r.name)
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
