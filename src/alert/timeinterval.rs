//! Recurring time intervals (maintenance windows): weekdays and times of day in a time
//! zone. A route that names an active interval in `mute_time_intervals` (or an inactive
//! one in `active_time_intervals`) holds its notifications until the window ends.

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::alert::config::TimeIntervalConfig;
use crate::model::Millis;

/// A validated interval.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    pub name: String,
    pub tz: Tz,
    /// Bit i set: weekday i (Monday = 0) is included. All set when none were given.
    pub weekdays: u8,
    /// Minutes of the day, [start, end).
    pub times: Vec<(u32, u32)>,
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn day_index(s: &str) -> Option<u32> {
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter().position(|d| *d == s).map(|i| i as u32)
}

/// Parses `monday` or `monday:friday` into a bit set.
pub fn parse_weekdays(raw: &str) -> Result<u8, String> {
    let (a, b) = match raw.split_once(':') {
        Some((a, b)) => (a, b),
        None => (raw, raw),
    };
    let (Some(a), Some(b)) = (day_index(a), day_index(b)) else {
        return Err(format!(
            "invalid weekday {raw:?} (use monday … sunday, or a range such as monday:friday)"
        ));
    };
    if a > b {
        return Err(format!("weekday range {raw:?} runs backwards"));
    }
    Ok((a..=b).fold(0u8, |acc, d| acc | (1 << d)))
}

/// Parses `HH:MM` into minutes of the day; `24:00` is allowed as an end.
pub fn parse_time_of_day(raw: &str) -> Result<u32, String> {
    let bad = || format!("invalid time of day {raw:?} (use HH:MM, 00:00 to 24:00)");
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl TimeInterval {
    /// Validates one configured interval; problems come back as (sub-key, message).
    pub fn build(c: &TimeIntervalConfig) -> Result<TimeInterval, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let tz = match c.time_zone.as_deref() {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().unwrap_or_else(|_| {
                problems.push((
                    "time_zone".to_string(),
                    format!("unknown time zone {name:?} (use an IANA name such as Europe/Berlin)"),
                ));
                Tz::UTC
            }),
        };
        let mut weekdays = 0u8;
        for (i, w) in c.weekdays.iter().enumerate() {
            match parse_weekdays(w) {
                Ok(bits) => weekdays |= bits,
                Err(e) => problems.push((format!("weekdays[{i}]"), e)),
            }
        }
        if c.weekdays.is_empty() {
            weekdays = 0x7f;
        }
        let mut times = Vec::new();
        for (i, t) in c.times.iter().enumerate() {
            match (parse_time_of_day(&t.start), parse_time_of_day(&t.end)) {
                (Ok(s), Ok(e)) if s < e => times.push((s, e)),
                (Ok(_), Ok(_)) => problems.push((
                    format!("times[{i}]"),
                    format!(
                        "start {} is not before end {} (split a window across midnight in two)",
                        t.start, t.end
                    ),
                )),
                (Err(e), _) | (_, Err(e)) => problems.push((format!("times[{i}]"), e)),
            }
        }
        if problems.is_empty() {
            Ok(TimeInterval {
                name: c.name.clone(),
                tz,
                weekdays,
                times,
            })
        } else {
            Err(problems)
        }
    }

    /// Whether the interval contains the instant `at`.
    pub fn contains(&self, at: Millis) -> bool {
        let Some(local) = self.tz.timestamp_millis_opt(at).single() else {
            return false;
        };
        let day = local.weekday().num_days_from_monday();
        if self.weekdays & (1 << day) == 0 {
            return false;
        }
        if self.times.is_empty() {
            return true;
        }
        let minute = local.hour() * 60 + local.minute();
        self.times.iter().any(|(s, e)| minute >= *s && minute < *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::config::TimeRangeConfig;
    use crate::time::parse_rfc3339;
    use chrono::Weekday;

    fn weekday_bit(d: Weekday) -> u8 {
        1 << d.num_days_from_monday()
    }

    fn interval(tz: &str, days: &[&str], times: &[(&str, &str)]) -> TimeInterval {
        TimeInterval::build(&TimeIntervalConfig {
            name: "w".into(),
            time_zone: Some(tz.into()),
            weekdays: days.iter().map(|s| s.to_string()).collect(),
            times: times
                .iter()
                .map(|(s, e)| TimeRangeConfig {
                    start: s.to_string(),
                    end: e.to_string(),
                })
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn contains_in_local_time() {
        // Saturdays 02:00-04:00 in Berlin (UTC+1 in November).
        let w = interval("Europe/Berlin", &["saturday"], &[("02:00", "04:00")]);
        let cases = [
            ("2026-11-28T01:00:00Z", true),  // Sat 02:00 local
            ("2026-11-28T02:59:59Z", true),  // Sat 03:59 local
            ("2026-11-28T03:00:00Z", false), // Sat 04:00 local: end exclusive
            ("2026-11-28T00:59:00Z", false), // Sat 01:59 local
            ("2026-11-27T01:30:00Z", false), // Friday
        ];
        for (t, want) in cases {
            assert_eq!(w.contains(parse_rfc3339(t).unwrap()), want, "{t}");
        }
        let weekdays = interval("UTC", &["monday:friday"], &[]);
        assert!(weekdays.contains(parse_rfc3339("2026-11-27T23:00:00Z").unwrap()));
        assert!(!weekdays.contains(parse_rfc3339("2026-11-28T12:00:00Z").unwrap()));
        assert_eq!(weekdays.weekdays, 0b001_1111);
        assert_eq!(weekday_bit(Weekday::Sun), 0b100_0000);
    }

    #[test]
    fn bad_values() {
        assert!(parse_weekdays("friday:monday").is_err());
        assert!(parse_weekdays("funday").is_err());
        assert_eq!(parse_time_of_day("24:00"), Ok(1440));
        assert!(parse_time_of_day("24:01").is_err());
        assert!(parse_time_of_day("7").is_err());
    }
}
