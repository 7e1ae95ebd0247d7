//! Schedules: 5-field cron expressions (UTC) and fixed intervals, as declared in
//! an event's `schedule` field (events.md).
//!
//! Cron: `minute hour day-of-month month day-of-week` with `*`, lists (`1,15`),
//! ranges (`1-5`), steps (`*/15`, `0-30/10`, `5/10`), month names (`jan`…`dec`) and
//! day names (`sun`…`sat`; `0` and `7` are both Sunday). As in Vixie cron, when both
//! day-of-month and day-of-week are restricted a day matches if either matches.
//! Interval: a positive integer and a unit `s`, `m`, `h`, `d`, `w`.
//!
//! Guarantees: `parse` accepts exactly that grammar and says what is wrong
//! otherwise; `next_after`/`prev_at_or_before` return fire times on whole minutes
//! and never loop unboundedly (an expression that never fires, such as `0 0 31 2 *`,
//! yields `None`).

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

use crate::model::Millis;

const MINUTE_MS: i64 = 60_000;
/// How far `next_after`/`prev_at_or_before` search before giving up (an expression
/// such as `0 0 30 2 *` never fires). Five years covers every leap-day schedule.
const SEARCH_DAYS: i64 = 366 * 5;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed interval in milliseconds: the next run is due one interval after the
    /// previous run's start.
    Interval(i64),
    /// A 5-field cron expression, evaluated in UTC.
    Cron(Cron),
}

/// The sets of a cron expression, as bit masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// Whether the day-of-month field was `*` (unrestricted).
    dom_any: bool,
    /// Whether the day-of-week field was `*` (unrestricted).
    dow_any: bool,
    source: String,
}

impl Schedule {
    /// Parses a schedule: an interval (`15m`) or a 5-field cron expression.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty schedule".to_string());
        }
        let fields: Vec<&str> = t.split_whitespace().collect();
        if fields.len() == 1 {
            return parse_interval(t).map(Schedule::Interval);
        }
        if fields.len() != 5 {
            return Err(format!(
                "`{t}` is neither a 5-field cron expression nor an interval such as `15m`"
            ));
        }
        Cron::parse_fields(&fields, t).map(Schedule::Cron)
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
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{t}`: an interval needs a unit (s, m, h, d or w)"))?;
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("`{t}`: an interval starts with a positive integer"));
    }
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{t}`: the number is too large"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => MINUTE_MS,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => {
            return Err(format!(
                "`{t}`: unknown unit `{unit}` (use s, m, h, d or w)"
            ));
        }
    };
    match n.checked_mul(unit_ms) {
        Some(ms) if ms > 0 => Ok(ms),
        Some(_) => Err(format!("`{t}`: an interval must be positive")),
        None => Err(format!("`{t}`: the interval is too large")),
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One cron field's rules: its name, bounds and the names it accepts.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The value of the first name (`jan` = 1, `sun` = 0).
    names_base: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_base: 0,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_base: 0,
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        names_base: 0,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        names_base: 1,
    },
    // 7 is accepted as Sunday and folded onto 0.
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &DAYS,
        names_base: 0,
    },
];

impl Field {
    fn value(&self, raw: &str, expr: &str) -> Result<u32, String> {
        let lower = raw.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + self.names_base);
        }
        let v: u32 = raw.parse().map_err(|_| {
            format!(
                "`{expr}`: `{raw}` is not a valid {} (expected {}-{}{})",
                self.name,
                self.min,
                self.max,
                if self.names.is_empty() {
                    ""
                } else {
                    " or a name"
                }
            )
        })?;
        if v < self.min || v > self.max {
            return Err(format!(
                "`{expr}`: {} {v} is out of range {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }

    /// Parses one field into a bit mask over its values.
    fn parse(&self, text: &str, expr: &str) -> Result<u64, String> {
        let mut mask = 0u64;
        for part in text.split(',') {
            if part.is_empty() {
                return Err(format!(
                    "`{expr}`: empty list item in the {} field",
                    self.name
                ));
            }
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().map_err(|_| {
                        format!(
                            "`{expr}`: `{s}` is not a valid step in the {} field",
                            self.name
                        )
                    })?;
                    if step == 0 {
                        return Err(format!("`{expr}`: a step must be at least 1"));
                    }
                    (r, step)
                }
                None => (part, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a, expr)?, self.value(b, expr)?);
                if a > b {
                    return Err(format!(
                        "`{expr}`: range {range} in the {} field runs backwards",
                        self.name
                    ));
                }
                (a, b)
            } else {
                let a = self.value(range, expr)?;
                // `5/10` means 5, 15, 25, …: from the value to the field's end.
                (a, if part.contains('/') { self.max } else { a })
            };
            let mut v = lo;
            while v <= hi {
                mask |= 1 << v;
                v += step;
            }
        }
        Ok(mask)
    }
}

impl Cron {
    fn parse_fields(fields: &[&str], source: &str) -> Result<Cron, String> {
        let mut masks = [0u64; 5];
        for (i, f) in FIELDS.iter().enumerate() {
            masks[i] = f.parse(fields[i], source)?;
        }
        let mut dow = masks[4];
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & !(1 << 7);
        }
        Ok(Cron {
            minutes: masks[0],
            hours: masks[1] as u32,
            days_of_month: masks[2] as u32,
            months: masks[3] as u16,
            days_of_week: dow as u8,
            dom_any: fields[2] == "*" || fields[2].starts_with("*/"),
            dow_any: fields[4] == "*" || fields[4].starts_with("*/"),
            source: source.to_string(),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn day_matches(&self, dt: &DateTime<Utc>) -> bool {
        let dom = self.days_of_month & (1 << dt.day()) != 0;
        let dow = self.days_of_week & (1 << dt.weekday().num_days_from_sunday()) != 0;
        match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            // Vixie cron: both restricted means either may match.
            (false, false) => dom || dow,
        }
    }

    fn matches(&self, dt: &DateTime<Utc>) -> bool {
        self.months & (1 << dt.month()) != 0
            && self.day_matches(dt)
            && self.hours & (1 << dt.hour()) != 0
            && self.minutes & (1 << dt.minute()) != 0
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        let start = (t.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
        let mut dt = Utc.timestamp_millis_opt(start).single()?;
        let limit = dt + Duration::days(SEARCH_DAYS);
        while dt < limit {
            if self.months & (1 << dt.month()) == 0 || !self.day_matches(&dt) {
                // Skip to the next day's midnight.
                let d = dt.date_naive().succ_opt()?;
                dt = d.and_hms_opt(0, 0, 0)?.and_utc();
                continue;
            }
            if self.hours & (1 << dt.hour()) == 0 {
                dt = dt.with_minute(0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << dt.minute()) == 0 {
                dt += Duration::minutes(1);
                continue;
            }
            return Some(dt.timestamp_millis());
        }
        None
    }

    /// The latest fire time at or before `t`.
    pub fn prev_at_or_before(&self, t: Millis) -> Option<Millis> {
        let start = t.div_euclid(MINUTE_MS) * MINUTE_MS;
        let mut dt = Utc.timestamp_millis_opt(start).single()?;
        let limit = dt - Duration::days(SEARCH_DAYS);
        while dt > limit {
            if self.months & (1 << dt.month()) == 0 || !self.day_matches(&dt) {
                // Back to the previous day's last minute.
                let d = dt.date_naive();
                dt = d.and_hms_opt(0, 0, 0)?.and_utc() - Duration::minutes(1);
                continue;
            }
            if self.hours & (1 << dt.hour()) == 0 {
                dt = dt.with_minute(0)? - Duration::minutes(1);
                continue;
            }
            if self.minutes & (1 << dt.minute()) == 0 {
                dt -= Duration::minutes(1);
                continue;
            }
            debug_assert!(self.matches(&dt));
            return Some(dt.timestamp_millis());
        }
        None
    }
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
