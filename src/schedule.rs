//! Schedules: cron expressions (UTC) and fixed intervals, as declared in an event's
//! `schedule` field (events.md).
//!
//! Cron: `minute hour day-of-month month day-of-week` with `*`, lists (`1,15`),
//! ranges (`1-5`), steps (`*/15`, `0-30/10`, `5/10`), month names (`jan`…`dec`) and
//! day names (`sun`…`sat`; `0` and `7` are both Sunday), or one of the macros
//! `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`).
//! As in Vixie cron, when both day-of-month and day-of-week are restricted a day
//! matches if either matches. Parsing and fire-time search are the `croner` crate's,
//! which moves field by field (a whole day, hour or minute at a time), so
//! `next_after` costs a few steps even for `* * * * *` or a yearly job.
//! Interval: a positive duration such as `15m`, `1h`, `1d`, `2w` (`time::parse_duration`).
//!
//! Guarantees: `parse` says which field is wrong; `next_after`/`prev_at_or_before`
//! return fire times on whole minutes, and an expression that never fires (such as
//! `0 0 31 2 *`) yields `None`.

use std::cell::RefCell;

use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};

use crate::model::Millis;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed interval in milliseconds: the next run is due one interval after the
    /// previous run's start.
    Interval(i64),
    /// A cron expression, evaluated in UTC.
    Cron(Cron),
}

/// A cron expression as written, and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// Boxed: the parsed pattern is large, and `Schedule` is kept per pipeline.
    cron: Box<croner::Cron>,
    source: String,
    memo: Memo,
}

/// Recent answers of `next_after` and `prev_at_or_before`, by the whole second
/// asked about (all an answer depends on): the missed-run detector asks about
/// the same fire times for a run and again for the gap after it.
#[derive(Debug, Clone, Default)]
struct Memo(RefCell<Box<[MemoSlot; MEMO_SLOTS]>>);

/// (a `prev_at_or_before` answer, the second asked about, the answer).
type MemoSlot = Option<(bool, i64, Option<Millis>)>;

const MEMO_SLOTS: usize = 16;

impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl Eq for Memo {}

impl Memo {
    fn get_or(&self, prev: bool, t: Millis, f: impl FnOnce() -> Option<Millis>) -> Option<Millis> {
        let key = t.div_euclid(1000);
        let slot =
            ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize ^ usize::from(prev);
        if let Some((p, k, v)) = self.0.borrow()[slot]
            && p == prev
            && k == key
        {
            return v;
        }
        let v = f();
        self.0.borrow_mut()[slot] = Some((prev, key, v));
        v
    }
}

/// The macros `parse` accepts, with what they stand for.
pub const MACROS: [(&str, &str); 7] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

const FIELD_NAMES: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat"),
];

impl Schedule {
    /// Parses a schedule: an interval (`15m`), a 5-field cron expression or a macro.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty schedule".to_string());
        }
        if t.starts_with('@') {
            let lower = t.to_ascii_lowercase();
            let Some((_, expr)) = MACROS.iter().find(|(m, _)| *m == lower) else {
                let names: Vec<&str> = MACROS.iter().map(|(m, _)| *m).collect();
                return Err(format!(
                    "`{t}` is not a cron macro (use {})",
                    names.join(", ")
                ));
            };
            return Cron::parse(expr, t).map(Schedule::Cron);
        }
        let fields: Vec<&str> = t.split_whitespace().collect();
        if fields.len() == 1 {
            return parse_interval(t).map(Schedule::Interval);
        }
        if fields.len() != 5 {
            return Err(format!(
                "`{t}` is neither a 5-field cron expression, a macro such as `@daily`, \
                 nor an interval such as `15m`"
            ));
        }
        Cron::parse(t, t).map(Schedule::Cron)
    }

    /// The first fire time strictly after `t`. For an interval this is `t + interval`
    /// (intervals count from the previous run's start).
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        match self {
            Schedule::Interval(ms) => t.checked_add(*ms),
            Schedule::Cron(c) => c.next_after(t),
        }
    }

    /// The latest fire time at or before `t`; for an interval, `t - interval`.
    pub fn prev_at_or_before(&self, t: Millis) -> Option<Millis> {
        match self {
            Schedule::Interval(ms) => t.checked_sub(*ms),
            Schedule::Cron(c) => c.prev_at_or_before(t),
        }
    }

    /// The nominal period around `t`: the interval, or the gap between the two cron
    /// fire times that follow `t` (so `0 3 * * 1-5` has a 1-day period midweek).
    pub fn period_at(&self, t: Millis) -> Option<i64> {
        match self {
            Schedule::Interval(ms) => Some(*ms),
            Schedule::Cron(c) => {
                let a = c.next_after(t)?;
                let b = c.next_after(a)?;
                Some(b - a)
            }
        }
    }
}

fn parse_interval(t: &str) -> Result<i64, String> {
    match crate::time::parse_duration(t) {
        Ok(ms) if ms > 0 => Ok(ms),
        Ok(_) => Err(format!("`{t}`: an interval must be positive")),
        Err(e) => Err(format!("{e}; an interval is written like 15m, 1h or 1d")),
    }
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // `5/10` (from 5, every 10) is what Vixie cron accepts too.
        .sloppy_ranges(true)
        .build()
}

impl Cron {
    /// Parses the 5-field `expr`; `source` is what the user wrote (a macro or `expr`).
    fn parse(expr: &str, source: &str) -> Result<Cron, String> {
        let p = parser();
        // croner skips empty list items (`1,,2`); a typo there should not pass.
        if let Some((i, f)) = expr
            .split_whitespace()
            .enumerate()
            .find(|(_, f)| f.split(',').any(str::is_empty))
        {
            return Err(format!(
                "`{source}`: the {} field `{f}` has an empty list item",
                FIELD_NAMES[i].0
            ));
        }
        match p.parse(expr) {
            Ok(cron) => Ok(Cron {
                cron: Box::new(cron),
                source: source.to_string(),
                memo: Memo::default(),
            }),
            Err(e) => Err(explain_field(&p, expr).unwrap_or_else(|| format!("`{source}`: {e}"))),
        }
    }

    /// The expression as written (a macro stays a macro).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        self.memo.get_or(false, t, || {
            let start = at(t)?;
            let next = self.cron.find_next_occurrence(&start, false).ok()?;
            Some(next.timestamp_millis())
        })
    }

    /// The latest fire time at or before `t`.
    pub fn prev_at_or_before(&self, t: Millis) -> Option<Millis> {
        self.memo.get_or(true, t, || {
            let start = at(t)?;
            let prev = self.cron.find_previous_occurrence(&start, true).ok()?;
            Some(prev.timestamp_millis())
        })
    }
}

/// `t` as a UTC time, truncated to the whole second (fire times are whole minutes, so
/// nothing inside the second can fire).
fn at(t: Millis) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(t.div_euclid(1000) * 1000).single()
}

/// Names the first field of `expr` that is wrong on its own, with its allowed values.
fn explain_field(p: &CronParser, expr: &str) -> Option<String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    for (i, f) in fields.iter().enumerate() {
        let mut probe = ["*"; 5];
        probe[i] = f;
        if let Err(e) = p.parse(&probe.join(" ")) {
            let (name, range) = FIELD_NAMES[i];
            let why = e.to_string();
            let why = why.trim_start_matches("Component error: ");
            return Some(format!(
                "`{expr}`: the {name} field `{f}` is invalid (allowed: {range}, with *, lists, \
                 ranges and steps): {why}"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_ms, parse_rfc3339};

    fn ms(s: &str) -> Millis {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn intervals() {
        let cases = [
            ("15m", Some(900_000)),
            ("1h", Some(3_600_000)),
            ("1d", Some(86_400_000)),
            ("2w", Some(1_209_600_000)),
            ("30s", Some(30_000)),
            ("0m", None),
            ("m", None),
            ("10", None),
            ("5y", None),
            ("1.5h", None),
        ];
        for (text, want) in cases {
            let got = Schedule::parse(text).ok().map(|s| match s {
                Schedule::Interval(v) => v,
                Schedule::Cron(_) => -1,
            });
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn invalid_cron_is_explained() {
        for bad in [
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "* * * foo *",
            "1,,2 * * * *",
            "* * * *",
            "* * * * * *",
            "",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let err = Schedule::parse("61 * * * *").unwrap_err();
        assert!(err.contains("minute"), "{err}");
    }

    /// (expression, after, expected next fire)
    #[test]
    fn next_fire_times() {
        let cases = [
            (
                "0 3 * * *",
                "2026-11-01T02:59:00Z",
                "2026-11-01T03:00:00.000Z",
            ),
            (
                "0 3 * * *",
                "2026-11-01T03:00:00Z",
                "2026-11-02T03:00:00.000Z",
            ),
            (
                "*/15 * * * *",
                "2026-11-01T10:07:30Z",
                "2026-11-01T10:15:00.000Z",
            ),
            (
                "0-30/10 * * * *",
                "2026-11-01T10:31:00Z",
                "2026-11-01T11:00:00.000Z",
            ),
            (
                "5/20 * * * *",
                "2026-11-01T10:26:00Z",
                "2026-11-01T10:45:00.000Z",
            ),
            (
                "0 9 * * mon-fri",
                "2026-11-06T09:00:00Z",
                "2026-11-09T09:00:00.000Z",
            ),
            (
                "0 0 1 jan *",
                "2026-11-01T00:00:00Z",
                "2027-01-01T00:00:00.000Z",
            ),
            (
                "0 12 * * 7",
                "2026-11-01T13:00:00Z",
                "2026-11-08T12:00:00.000Z",
            ),
            (
                "30 1,13 * * *",
                "2026-11-01T02:00:00Z",
                "2026-11-01T13:30:00.000Z",
            ),
            (
                "0 0 29 2 *",
                "2026-03-01T00:00:00Z",
                "2028-02-29T00:00:00.000Z",
            ),
            // Both day fields restricted: either matches (the 13th, or a Friday).
            (
                "0 0 13 * fri",
                "2026-11-01T00:00:00Z",
                "2026-11-06T00:00:00.000Z",
            ),
            (
                "0 0 * dec *",
                "2026-11-30T12:00:00Z",
                "2026-12-01T00:00:00.000Z",
            ),
        ];
        for (expr, after, want) in cases {
            let s = Schedule::parse(expr).unwrap();
            let got = s.next_after(ms(after)).map(format_ms);
            assert_eq!(got.as_deref(), Some(want), "{expr} after {after}");
        }
    }

    #[test]
    fn previous_fire_times() {
        let cases = [
            (
                "0 3 * * *",
                "2026-11-01T03:00:00Z",
                "2026-11-01T03:00:00.000Z",
            ),
            (
                "0 3 * * *",
                "2026-11-01T02:59:59Z",
                "2026-10-31T03:00:00.000Z",
            ),
            (
                "*/15 * * * *",
                "2026-11-01T10:14:59Z",
                "2026-11-01T10:00:00.000Z",
            ),
            (
                "0 9 * * mon-fri",
                "2026-11-08T23:00:00Z",
                "2026-11-06T09:00:00.000Z",
            ),
            (
                "0 0 1 jan *",
                "2026-11-01T00:00:00Z",
                "2026-01-01T00:00:00.000Z",
            ),
        ];
        for (expr, at, want) in cases {
            let s = Schedule::parse(expr).unwrap();
            let got = s.prev_at_or_before(ms(at)).map(format_ms);
            assert_eq!(got.as_deref(), Some(want), "{expr} at {at}");
        }
    }

    #[test]
    fn macros_are_their_expressions() {
        let t = ms("2026-11-04T10:07:00Z"); // a Wednesday
        for (mac, expr) in MACROS {
            let a = Schedule::parse(mac).unwrap();
            let b = Schedule::parse(expr).unwrap();
            assert_eq!(a.next_after(t), b.next_after(t), "{mac}");
            let Schedule::Cron(c) = a else { panic!() };
            assert_eq!(c.source(), mac);
        }
        let daily = Schedule::parse("@daily").unwrap();
        assert_eq!(
            daily.next_after(t).map(format_ms).as_deref(),
            Some("2026-11-05T00:00:00.000Z")
        );
        let weekly = Schedule::parse("@WEEKLY").unwrap();
        assert_eq!(
            weekly.next_after(t).map(format_ms).as_deref(),
            Some("2026-11-08T00:00:00.000Z")
        );
        let err = Schedule::parse("@fortnightly").unwrap_err();
        assert!(err.contains("@hourly"), "{err}");
    }

    #[test]
    fn every_minute_is_cheap_and_exact() {
        // A fire time every minute: 10,000 successive searches land on each minute.
        let s = Schedule::parse("* * * * *").unwrap();
        let mut t = ms("2026-11-01T00:00:30Z");
        for i in 1..=10_000 {
            t = s.next_after(t).unwrap();
            assert_eq!(t, ms("2026-11-01T00:00:00Z") + i * 60_000);
        }
    }

    #[test]
    fn never_firing_expression_ends() {
        let s = Schedule::parse("0 0 31 2 *").unwrap();
        assert_eq!(s.next_after(ms("2026-01-01T00:00:00Z")), None);
        assert_eq!(s.prev_at_or_before(ms("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn periods() {
        let daily = Schedule::parse("0 3 * * *").unwrap();
        assert_eq!(
            daily.period_at(ms("2026-11-01T00:00:00Z")),
            Some(86_400_000)
        );
        let quarter = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(quarter.period_at(ms("2026-11-01T00:00:00Z")), Some(900_000));
        let every = Schedule::parse("1h").unwrap();
        assert_eq!(every.next_after(1000), Some(3_601_000));
        assert_eq!(every.period_at(0), Some(3_600_000));
    }
}
