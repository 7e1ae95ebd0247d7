//! Shared helpers for the alerting and notification tests: a temp database with alert
//! rows inserted directly (as detection would write them), and a recording HTTP server
//! on 127.0.0.1 whose answers the test scripts.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pipemon::config::Config;
use pipemon::store::Store;
use rusqlite::params;
use serde_json::Value;

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
/// 2026-11-02T10:00:00Z, a Monday.
pub const T0: i64 = 1_793_613_600_000;

pub struct Db {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("pipemon.db")).unwrap();
        Db { dir, store }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("pipemon.db")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pipeline(
        &self,
        id: &str,
        team: Option<&str>,
        priority: Option<&str>,
        upstream: &[&str],
    ) {
        let up = (!upstream.is_empty()).then(|| serde_json::to_string(upstream).unwrap());
        self.store
            .conn()
            .unwrap()
            .execute(
                "INSERT INTO pipelines (pipeline_id, team, priority, upstream, first_event_at, last_event_at)
                 VALUES (?1, ?2, ?3, ?4, 0, 0)",
                params![id, team, priority, up],
            )
            .unwrap();
    }

    /// Inserts a firing alert as detection would; returns its id.
    pub fn fire(
        &self,
        kind: &str,
        pipeline: Option<&str>,
        team: &str,
        at: i64,
        details: Value,
    ) -> i64 {
        let fp = format!("{kind}:{}", pipeline.unwrap_or("-"));
        self.fire_fp(&fp, kind, pipeline, team, at, details)
    }

    pub fn fire_fp(
        &self,
        fp: &str,
        kind: &str,
        pipeline: Option<&str>,
        team: &str,
        at: i64,
        details: Value,
    ) -> i64 {
        let c = self.store.conn().unwrap();
        c.execute(
            "INSERT INTO alerts (fingerprint, kind, severity, status, pipeline_id, team, run_id,
                 started_at, last_seen_at, summary, details, created_at, updated_at)
             VALUES (?1, ?2, 'high', 'firing', ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?6, ?6)",
            params![
                fp,
                kind,
                pipeline,
                team,
                pipeline.map(|p| format!("{p}-run-1")),
                at,
                format!("{kind} on {}", pipeline.unwrap_or("many pipelines")),
                details.to_string()
            ],
        )
        .unwrap();
        c.last_insert_rowid()
    }

    pub fn resolve(&self, id: i64, at: i64) {
        self.store
            .conn()
            .unwrap()
            .execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, at],
            )
            .unwrap();
    }

    /// Runs `alert::process` in a transaction, as evaluate does.
    pub fn process(&self, config: &Config, now: i64) {
        let mut c = self.store.conn().unwrap();
        let tx = c.transaction().unwrap();
        pipemon::alert::process(&tx, &config.alert, now).unwrap();
        tx.commit().unwrap();
    }

    /// Delivers with the delivery clock at `now` too (tests inject both clocks).
    pub fn deliver(&self, config: &Config, now: i64) -> pipemon::alert::send::DeliveryReport {
        pipemon::alert::deliver_with(
            &self.store,
            &config.alert,
            now,
            pipemon::alert::send::SendOptions {
                clock: now,
                fsync: false,
            },
        )
        .unwrap()
    }

    /// process + deliver, like one `evaluate` run.
    pub fn tick(&self, config: &Config, now: i64) {
        self.process(config, now);
        self.deliver(config, now);
    }

    /// Sets the backfill line (as `evaluate --notify-since` does).
    pub fn notify_since(&self, at: i64) {
        pipemon::store::meta_set(&self.store.conn().unwrap(), "notify_since", at).unwrap();
    }

    pub fn alert(&self, id: i64) -> Value {
        let c = self.store.conn().unwrap();
        c.query_row(
            "SELECT json_object('severity', severity, 'team', team, 'priority', priority,
                    'receivers', json(receivers), 'silenced', silenced, 'inhibited', inhibited,
                    'details', json(details)) FROM alerts WHERE id = ?1",
            [id],
            |r| r.get::<_, String>(0),
        )
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap()
    }

    /// Outbox rows, oldest first.
    pub fn outbox(&self) -> Vec<OutRow> {
        let c = self.store.conn().unwrap();
        let mut s = c
            .prepare("SELECT status, reason, alert_ids, attempts, next_attempt_at, last_error FROM notifications ORDER BY id")
            .unwrap();
        s.query_map([], |r| {
            let ids: String = r.get(2)?;
            Ok(OutRow {
                status: r.get(0)?,
                reason: r.get(1)?,
                alert_ids: serde_json::from_str(&ids).unwrap(),
                attempts: r.get(3)?,
                next_attempt_at: r.get(4)?,
                last_error: r.get(5)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }
}

/// One outbox row as tests inspect it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRow {
    pub status: String,
    pub reason: String,
    pub alert_ids: Vec<i64>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

pub fn config(text: &str) -> Config {
    pipemon::config::check(text).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// Lines of a JSON Lines file (empty when absent).
pub fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Alert ids and statuses in a webhook-format payload: (alert_id, status).
pub fn alerts_in(payload: &Value) -> Vec<(i64, String)> {
    payload["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["annotations"]["alert_id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A recorded HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status the server answered (0: it never answered).
    pub answered: u16,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the server answers the next request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Read the request, then say nothing for this long (a timeout for the client).
    Hang(Duration),
    /// Answer 200 after this long (a slow receiver).
    Slow(Duration),
}

/// How the server answers when its script is empty: `down` answers that status to
/// everything; `delay` is waited before every 2xx answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    pub down: Option<u16>,
    pub delay: Duration,
}

/// A recording HTTP/1.1 server on 127.0.0.1 with an ephemeral port. Answers come from
/// a script (then 200); every request is recorded.
pub struct Recorder {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        Self::start_on(0)
    }

    /// Starts on a given port (to bring a "down" receiver back on the same address).
    pub fn start_on(port: u16) -> Recorder {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let mode = Arc::new(Mutex::new(Mode::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st, m) = (requests.clone(), script.clone(), stop.clone(), mode.clone());
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let (r, s, m) = (r.clone(), s.clone(), m.clone());
                std::thread::spawn(move || serve(stream, r, s, m));
            }
        });
        Recorder {
            port,
            requests,
            script,
            mode,
            stop,
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn script(&self, replies: &[Reply]) {
        self.script.lock().unwrap().extend(replies.iter().copied());
    }

    /// Sets how unscripted requests are answered.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The requests answered with a 2xx status.
    pub fn accepted(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Request> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.requests();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(
    stream: TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    mode: Arc<Mutex<Mode>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let m = *mode.lock().unwrap();
        let reply = script.lock().unwrap().pop_front().unwrap_or(match m.down {
            Some(code) => Reply::Status(code),
            None if m.delay > Duration::ZERO => Reply::Slow(m.delay),
            None => Reply::Status(200),
        });
        let answered = match reply {
            Reply::Hang(_) => 0,
            Reply::Slow(_) => 200,
            Reply::Status(c) => c,
        };
        requests.lock().unwrap().push(Request {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            answered,
        });
        let mut out = stream.try_clone().unwrap();
        let code = match reply {
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Slow(d) => {
                std::thread::sleep(d);
                200
            }
            Reply::Status(code) => code,
        };
        let body = if code < 300 { "ok" } else { "scripted failure" };
        let _ = write!(
            out,
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
            body.len()
        );
        let _ = out.flush();
    }
}
