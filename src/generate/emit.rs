//! Turning planned runs into event lines, with the delivery noise of real feeds.
//!
//! Each event is written in one of the forms the contract allows (status synonyms,
//! RFC 3339 with `Z` or an offset, epoch milliseconds, digit-string integers, with or
//! without `event_id`). On top: late lines, duplicate deliveries (same `event_id`, or
//! the same object re-spaced and re-ordered without one), blank lines, and malformed
//! copies of real events, one fault per line so each has exactly one rejection reason.
//! A malformed line is always an extra copy: the valid event it garbles is also
//! delivered, so nothing of the truth is lost.

use std::collections::BTreeMap;

use chrono::{FixedOffset, TimeZone, Utc};
use serde_json::{Map, Value, json};

use crate::model::{Millis, Outcome};

use super::plan::{FailCause, Fate, PlannedRun};
use super::world::{Dice, MINUTE, Pipe};

/// The eight rejection reasons of the contract, each produced on purpose.
pub const REASONS: [&str; 8] = [
    "invalid_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "unknown_status",
    "bad_timestamp",
    "negative_number",
    "invalid_value",
];

/// Share of events that get a malformed extra copy, a duplicate delivery, arrive
/// late, or are followed by a blank line.
const MALFORMED_SHARE: f64 = 0.002;
const DUPLICATE_SHARE: f64 = 0.015;
const LATE_SHARE: f64 = 0.03;
const BLANK_SHARE: f64 = 0.0005;

/// A realised run as an importer will see it.
#[derive(Debug, Clone)]
pub struct Realized {
    pub exists: bool,
    pub run_id: String,
    pub start: Millis,
    /// The final terminal event's time, if written before the cut.
    pub end: Option<Millis>,
    pub outcome: Outcome,
    /// Successful and untouched by any incident or surge: what a p95 is taken over.
    pub natural: bool,
    /// Its `started` event was lost.
    pub started_dropped: bool,
}

/// Share of heartbeats the collector loses.
const LOST_HEARTBEAT_SHARE: f64 = 0.03;

/// Collects lines with their arrival order and counts what was written.
pub struct Sink {
    pub cut: Millis,
    lines: Vec<(Millis, u64, String)>,
    seq: u64,
    pub events: u64,
    pub duplicates: u64,
    pub blank: u64,
    pub rejected: BTreeMap<String, u64>,
    malformed_turn: usize,
    pub data_end: Millis,
    dice: Dice,
}

impl Sink {
    pub fn new(cut: Millis, dice: Dice) -> Sink {
        Sink {
            cut,
            lines: Vec::new(),
            seq: 0,
            events: 0,
            duplicates: 0,
            blank: 0,
            rejected: REASONS.iter().map(|r| (r.to_string(), 0)).collect(),
            malformed_turn: 0,
            data_end: 0,
            dice,
        }
    }

    fn push_line(&mut self, arrival: Millis, line: String) {
        self.lines.push((arrival, self.seq, line));
        self.seq += 1;
    }

    /// Delivers one event (dropped if at or after the cut), with its noise.
    fn deliver(&mut self, ts: Millis, obj: Map<String, Value>) -> bool {
        if ts >= self.cut {
            return false;
        }
        self.data_end = self.data_end.max(ts);
        self.events += 1;
        let line = serde_json::to_string(&obj).unwrap_or_default();
        let late = if self.dice.chance(LATE_SHARE) {
            self.dice.int(MINUTE, 12 * 60 * MINUTE)
        } else {
            0
        };
        let arrival = ts + late;
        if self.dice.chance(DUPLICATE_SHARE) {
            let again = arrival + self.dice.int(0, 2 * 60 * MINUTE);
            // Without an event_id only the same object is a duplicate; with one, the
            // id alone decides, but the copy is faithful either way.
            let copy = if self.dice.chance(0.5) {
                line.clone()
            } else {
                respaced(&obj)
            };
            self.push_line(again, copy);
            self.duplicates += 1;
        }
        if self.dice.chance(MALFORMED_SHARE) {
            self.malformed(arrival + 1, &obj);
        }
        if self.dice.chance(BLANK_SHARE) {
            let blank = if self.dice.chance(0.5) {
                String::new()
            } else {
                "   ".to_string()
            };
            self.push_line(arrival, blank);
            self.blank += 1;
        }
        self.push_line(arrival, line);
        true
    }

    /// Writes a malformed copy of `obj`, taking the reasons in turn.
    fn malformed(&mut self, arrival: Millis, obj: &Map<String, Value>) {
        let reason = REASONS[self.malformed_turn % REASONS.len()];
        self.malformed_turn += 1;
        let line = garble(reason, obj, self.malformed_turn);
        *self.rejected.entry(reason.to_string()).or_default() += 1;
        self.push_line(arrival, line);
    }

    /// Makes sure every reason occurs at least once (tiny data sets).
    pub fn cover_reasons(&mut self, sample: &Map<String, Value>) {
        for reason in REASONS {
            if self.rejected.get(reason).copied().unwrap_or(0) == 0 {
                self.malformed_turn += 1;
                let line = garble(reason, sample, self.malformed_turn);
                *self.rejected.entry(reason.to_string()).or_default() += 1;
                let at = self.data_end;
                self.push_line(at, line);
            }
        }
    }

    /// All lines in arrival order.
    pub fn into_lines(mut self) -> (Vec<String>, SinkCounts) {
        self.lines.sort_by_key(|(a, s, _)| (*a, *s));
        let counts = SinkCounts {
            events: self.events,
            duplicates: self.duplicates,
            blank: self.blank,
            rejected: self.rejected,
            data_end: self.data_end,
        };
        (self.lines.into_iter().map(|(_, _, l)| l).collect(), counts)
    }
}

pub struct SinkCounts {
    pub events: u64,
    pub duplicates: u64,
    pub blank: u64,
    pub rejected: BTreeMap<String, u64>,
    pub data_end: Millis,
}

/// The same object with other spacing and the keys in reverse order.
fn respaced(obj: &Map<String, Value>) -> String {
    let parts: Vec<String> = obj
        .iter()
        .rev()
        .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), v))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// One malformed line with exactly the given fault.
fn garble(reason: &str, obj: &Map<String, Value>, n: usize) -> String {
    let mut o = obj.clone();
    match reason {
        "invalid_json" => {
            let text = Value::Object(o).to_string();
            let cut = text.len() * 2 / 3;
            return text[..cut].to_string();
        }
        "not_an_object" => {
            return format!("[{}]", Value::Object(o));
        }
        "missing_field" => {
            let field = ["run_id", "status", "timestamp", "pipeline_id"][n % 4];
            o.remove(field);
        }
        "wrong_type" => {
            o.insert("run_id".into(), json!(n as i64 + 1000));
        }
        "unknown_status" => {
            o.insert(
                "status".into(),
                json!(["exploded", "paused", "done!", "queued_twice"][n % 4]),
            );
        }
        "bad_timestamp" => {
            let ts = crate::ingest::native::timestamp(&o["timestamp"], "timestamp").unwrap_or(0);
            let bad = if n.is_multiple_of(2) {
                json!(
                    Utc.timestamp_millis_opt(ts)
                        .single()
                        .unwrap_or_default()
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                )
            } else {
                json!(ts / 1000)
            };
            o.insert("timestamp".into(), bad);
        }
        "negative_number" => {
            let field = ["duration_ms", "records_processed"][n % 2];
            o.insert(field.into(), json!(-((n as i64 % 900) + 1)));
        }
        _ => {
            // invalid_value
            match n % 3 {
                0 => o.insert("priority".into(), json!("urgent")),
                1 => o.insert("attempt".into(), json!(0)),
                _ => o.insert("pipeline_id".into(), json!("")),
            };
        }
    }
    Value::Object(o).to_string()
}

/// Writes one pipeline's planned runs as events and returns what an importer sees.
pub fn realize_pipe(
    p: &Pipe,
    pidx: usize,
    upstream_id: Option<&str>,
    runs: &[PlannedRun],
    sink: &mut Sink,
    dice: &mut Dice,
) -> Vec<Realized> {
    let mut out = Vec::with_capacity(runs.len());
    let mut writer = Writer {
        p,
        pidx,
        upstream_id,
        counter: 0,
    };
    for (k, run) in runs.iter().enumerate() {
        out.push(writer.run(k, run, sink, dice));
    }
    out
}

struct Writer<'a> {
    p: &'a Pipe,
    pidx: usize,
    upstream_id: Option<&'a str>,
    counter: u64,
}

/// One event before it is written.
struct Ev<'a> {
    status: &'a str,
    ts: Millis,
    attempt: i64,
    first: bool,
    fields: Vec<(&'static str, Value)>,
}

impl Writer<'_> {
    fn run(&mut self, k: usize, run: &PlannedRun, sink: &mut Sink, dice: &mut Dice) -> Realized {
        let p = self.p;
        let run_id = if p.airflow_ids {
            format!(
                "scheduled__{}",
                Utc.timestamp_millis_opt(run.nominal)
                    .single()
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S+00:00")
            )
        } else {
            format!("{}-{:06}", short(&p.id), k + 1)
        };
        let mut real = Realized {
            exists: false,
            run_id: run_id.clone(),
            start: run.start,
            end: None,
            outcome: Outcome::Running,
            natural: false,
            started_dropped: false,
        };
        if run.fate == Fate::Missing {
            return real;
        }
        let (expected, expected_records) = p.expected(run.start);
        // Volume first; duration follows it (to the power vol_beta), capped for the
        // injected extremes, times its own heavy-tailed noise.
        let mut vol_noise = (p.volume_sigma * dice.bounded_normal(2.5)).exp();
        let mut own = p.noise.factor(dice);
        if run.pure {
            // An injected anomaly stands clear of natural noise by construction.
            vol_noise = 1.0;
            own = own.max(1.0);
        }
        let follow = (vol_noise * run.vol_factor.max(0.02))
            .powf(p.vol_beta)
            .clamp(0.3, 2.0);
        let natural = expected * own * follow;
        let base = (natural * run.dur_factor).max(500.0) as i64;
        let records = if run.vol_factor == 0.0 {
            0
        } else {
            (expected_records * vol_noise * run.vol_factor)
                .round()
                .max(1.0) as i64
        };
        let s = run.start;
        let mut evs: Vec<Ev> = Vec::new();
        let mut terminal: Option<(Millis, Outcome)> = None;
        let started = |ts, attempt, first| Ev {
            status: "started",
            ts,
            attempt,
            first,
            fields: Vec::new(),
        };
        match run.fate {
            Fate::Skipped => {
                evs.push(Ev {
                    status: "skipped",
                    ts: s,
                    attempt: 1,
                    first: true,
                    fields: Vec::new(),
                });
                terminal = Some((s, Outcome::Skipped));
            }
            Fate::Stuck { until, finishes } => {
                evs.push(started(s, 1, true));
                // Heartbeats go on for a while, then stop: the hang.
                let hang = (expected * dice.uniform(0.2, 0.9)) as i64;
                self.heartbeats(&mut evs, s, hang, 1, dice);
                if let Some(end) = until {
                    let mut fields = vec![("task_id", json!(p.tasks[1]))];
                    let (status, outcome) = if finishes {
                        fields.push(("records_processed", json!(records)));
                        if p.sends_duration {
                            fields.push(("duration_ms", json!(end - s)));
                        }
                        ("success", Outcome::Success)
                    } else {
                        ("cancelled", Outcome::Cancelled)
                    };
                    evs.push(Ev {
                        status,
                        ts: end,
                        attempt: 1,
                        first: false,
                        fields,
                    });
                    terminal = Some((end, outcome));
                }
            }
            Fate::Cancelled => {
                evs.push(started(s, 1, true));
                let at = s + (base as f64 * dice.uniform(0.1, 0.9)) as i64;
                self.heartbeats(&mut evs, s, at - s, 1, dice);
                evs.push(Ev {
                    status: "cancelled",
                    ts: at,
                    attempt: 1,
                    first: false,
                    fields: Vec::new(),
                });
                terminal = Some((at, Outcome::Cancelled));
            }
            Fate::Success => {
                evs.push(started(s, 1, true));
                let mut t = s;
                let mut attempt = 1;
                // Failed attempts, each followed by a doubling backoff.
                for k in 0..run.retries {
                    let tried = (base as f64 * dice.uniform(0.1, 0.9)) as i64;
                    self.heartbeats(&mut evs, t, tried, attempt, dice);
                    t += tried;
                    evs.push(Ev {
                        status: "retrying",
                        ts: t,
                        attempt,
                        first: false,
                        fields: vec![
                            ("task_id", json!(p.tasks[0])),
                            ("error_type", json!("TimeoutError")),
                            (
                                "error_message",
                                json!(format!("read timed out fetching {} batch", p.phrase)),
                            ),
                        ],
                    });
                    t += p.backoff << k;
                    attempt += 1;
                    evs.push(started(t, attempt, false));
                }
                self.heartbeats(&mut evs, t, base, attempt, dice);
                t += base;
                let mut fields = vec![("records_processed", json!(records))];
                if p.sends_duration {
                    fields.push(("duration_ms", json!(t - s)));
                }
                evs.push(Ev {
                    status: "success",
                    ts: t,
                    attempt,
                    first: false,
                    fields,
                });
                terminal = Some((t, Outcome::Success));
            }
            Fate::Failed => {
                evs.push(started(s, 1, true));
                let (error_type, attempts, host) = match &run.cause {
                    FailCause::Own => (
                        p.error_type.to_string(),
                        if dice.chance(0.5) { 2 } else { 1 },
                        None,
                    ),
                    FailCause::Systemic { host, attempts } => (
                        "OperationalError".to_string(),
                        *attempts,
                        Some(host.clone()),
                    ),
                };
                let mut t = s;
                for attempt in 1..=attempts {
                    if attempt > 1 {
                        t += match host {
                            Some(_) => ((0.05 * p.median) as i64).clamp(1_000, 30_000),
                            None => p.backoff,
                        };
                        evs.push(started(t, attempt, false));
                    }
                    let tried = match host {
                        Some(_) => dice.int(15_000, 60_000),
                        None => (base as f64 * dice.uniform(0.2, 0.8)) as i64,
                    };
                    self.heartbeats(&mut evs, t, tried, attempt, dice);
                    t += tried;
                    let message = match &host {
                        Some(h) => format!("could not connect to {h}:5439 (attempt {attempt})"),
                        None => format!(
                            "check failed on {} rows: constraint violated in stage {}",
                            p.phrase, p.tasks[2]
                        ),
                    };
                    let last = attempt == attempts;
                    let mut fields = vec![
                        ("task_id", json!(p.tasks[2])),
                        ("error_type", json!(error_type)),
                        ("error_message", json!(message)),
                    ];
                    if last && p.sends_duration {
                        fields.push(("duration_ms", json!(t - s)));
                    }
                    evs.push(Ev {
                        status: if last { "failed" } else { "retrying" },
                        ts: t,
                        attempt,
                        first: false,
                        fields,
                    });
                }
                terminal = Some((t, Outcome::Failed));
            }
            Fate::Missing => unreachable!("handled above"),
        }
        // A lost `started`: the run's attributes ride on its terminal event instead.
        if run.drop_started && terminal.is_some() && evs.len() >= 2 {
            evs.remove(0);
            if let Some(last) = evs.last_mut() {
                last.first = true;
            }
            real.started_dropped = true;
        }
        let mut any = false;
        for ev in evs {
            let ts = ev.ts;
            let obj = self.object(&run_id, run.nominal, ev, dice);
            any |= sink.deliver(ts, obj);
        }
        real.exists = any;
        if let Some((t, outcome)) = terminal
            && t < sink.cut
        {
            real.end = Some(t);
            real.outcome = outcome;
        }
        real.natural = real.outcome == Outcome::Success
            && run.fate == Fate::Success
            && run.dur_factor == 1.0
            && run.vol_factor == 1.0
            && !run.benign;
        real
    }

    /// `running` heartbeats every `heartbeat` of the pipeline during an attempt of
    /// `len` from `from` (at most 120), some of them lost on the way.
    fn heartbeats(&self, evs: &mut Vec<Ev>, from: Millis, len: i64, attempt: i64, dice: &mut Dice) {
        let Some(every) = self.p.heartbeat else {
            return;
        };
        let mut t = from + every;
        let mut n = 0;
        while t < from + len && n < 120 {
            if !dice.chance(LOST_HEARTBEAT_SHARE) {
                evs.push(Ev {
                    status: "running",
                    ts: t,
                    attempt,
                    first: false,
                    fields: vec![("task_id", json!(self.p.tasks[1]))],
                });
            }
            t += every;
            n += 1;
        }
    }

    /// Builds the JSON object of one event in one of the allowed spellings.
    fn object(
        &mut self,
        run_id: &str,
        nominal: Millis,
        ev: Ev,
        dice: &mut Dice,
    ) -> Map<String, Value> {
        let p = self.p;
        let mut o = Map::new();
        o.insert("pipeline_id".into(), json!(p.id));
        o.insert("run_id".into(), json!(run_id));
        o.insert("status".into(), json!(spell_status(ev.status, dice)));
        o.insert("timestamp".into(), spell_time(ev.ts, dice));
        if p.sends_event_ids {
            self.counter += 1;
            o.insert(
                "event_id".into(),
                json!(format!(
                    "{:x}-{:x}-{:06x}",
                    self.pidx,
                    self.counter,
                    dice.int(0, 1 << 24)
                )),
            );
        }
        if ev.attempt > 1 || dice.chance(0.5) {
            o.insert("attempt".into(), spell_int(ev.attempt, dice));
        }
        if ev.first || p.attrs_everywhere {
            if let Some(team) = &p.team {
                o.insert("team".into(), json!(team));
            }
            if let Some(pr) = p.priority {
                o.insert("priority".into(), json!(pr.as_str()));
            }
            o.insert("environment".into(), json!(p.environment));
            if let Some(s) = p.cadence.declared() {
                o.insert("schedule".into(), json!(s));
            }
            if let Some(up) = self.upstream_id {
                o.insert("upstream".into(), json!([up]));
            }
        }
        if ev.first && p.airflow_ids {
            o.insert("scheduled_at".into(), spell_time(nominal, dice));
        }
        for (k, v) in ev.fields {
            let v = match v {
                Value::Number(n) if k != "attempt" => spell_int(n.as_i64().unwrap_or(0), dice),
                other => other,
            };
            o.insert(k.into(), v);
        }
        o
    }
}

fn short(id: &str) -> String {
    id.chars().filter(|c| *c != '_').take(12).collect()
}

/// The canonical status, or now and then a synonym (in varying case).
fn spell_status(status: &str, dice: &mut Dice) -> String {
    if !dice.chance(0.12) {
        return status.to_string();
    }
    let synonyms: &[&str] = match status {
        "success" => &["succeeded", "completed", "complete", "ok", "SUCCESS"],
        "failed" => &["failure", "fail", "error", "FAILED"],
        "started" => &["start", "Started"],
        "running" => &["in_progress", "heartbeat"],
        "retrying" => &["up_for_retry", "retry"],
        "cancelled" => &["canceled", "aborted", "abort", "killed"],
        "skipped" => &["skip", "SKIPPED"],
        other => return other.to_string(),
    };
    dice.pick(synonyms).to_string()
}

/// A timestamp as epoch milliseconds or RFC 3339 (`Z` or an offset, with varying
/// fractional precision), always denoting exactly `ts`.
fn spell_time(ts: Millis, dice: &mut Dice) -> Value {
    let utc = Utc.timestamp_millis_opt(ts).single().unwrap_or_default();
    let x = dice.unit();
    if x < 0.25 {
        json!(ts)
    } else if x < 0.75 {
        json!(utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    } else if x < 0.85 {
        json!(utc.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
    } else {
        let hours = *dice.pick(&[-5i32, -3, 1, 2, 5, 9]);
        let off = FixedOffset::east_opt(hours * 3600).unwrap_or(FixedOffset::east_opt(0).unwrap());
        json!(
            utc.with_timezone(&off)
                .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string()
        )
    }
}

/// An integer, or now and then the same number as a string of digits.
fn spell_int(n: i64, dice: &mut Dice) -> Value {
    if dice.chance(0.05) {
        json!(n.to_string())
    } else {
        json!(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::InputFormat;
    use crate::ingest::parse_line;

    fn sample() -> Map<String, Value> {
        let v = json!({
            "pipeline_id": "p1", "run_id": "r1", "status": "success",
            "timestamp": "2026-10-02T03:00:00.000Z", "event_id": "e1",
            "duration_ms": 1200, "records_processed": 55, "attempt": 1
        });
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_garbled_line_is_rejected_for_its_reason() {
        for (i, reason) in REASONS.iter().enumerate() {
            for n in 0..6 {
                let line = garble(reason, &sample(), i * 10 + n);
                let got = parse_line(&line, InputFormat::Native)
                    .expect_err(&line)
                    .reason;
                assert_eq!(got.as_str(), *reason, "{line}");
            }
        }
    }

    #[test]
    fn respaced_copy_is_the_same_object() {
        let o = sample();
        let a: Value = serde_json::from_str(&respaced(&o)).unwrap();
        assert_eq!(a, Value::Object(o));
    }

    #[test]
    fn spelled_values_parse_back_exactly() {
        let mut dice = Dice::new(3);
        let ts = 1_791_000_123_456;
        for _ in 0..200 {
            let v = spell_time(ts, &mut dice);
            assert_eq!(
                crate::ingest::native::timestamp(&v, "t").unwrap(),
                ts,
                "{v}"
            );
            let st = spell_status("cancelled", &mut dice);
            assert_eq!(
                crate::model::Status::parse(&st),
                Some(crate::model::Status::Cancelled)
            );
        }
    }
}
