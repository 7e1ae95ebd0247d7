//! Timestamps: the input forms events.md allows, and the one output form.
//!
//! Event input: RFC 3339 with `Z` or an offset (any fractional precision), or an
//! integer of epoch milliseconds. Command-line input: RFC 3339, a date, or (for
//! `--since`) an age such as `24h`; never a bare number. Output: RFC 3339 UTC,
//! millisecond precision, `Z`; for people also a relative hint (`3h ago`). Durations
//! have one parser, `parse_duration`, used by the CLI, the configuration and schedules.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

use crate::model::Millis;

/// Parses an RFC 3339 timestamp that carries an offset. Naive times are refused.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let s = s.trim();
    // chrono accepts a space instead of `T`; RFC 3339 allows it too. A bare date or a
    // time without an offset fails here, which is what the contract wants.
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| dt.with_timezone(&Utc).timestamp_millis())
}

/// Parses a user-given time on the command line: RFC 3339 or a date (`2026-11-01`,
/// midnight UTC). A bare number is refused: seconds and milliseconds since the epoch
/// look alike, and guessing wrong lands in 1970 or in the year 55,000.
pub fn parse_user_time(s: &str) -> Option<Millis> {
    if let Some(ms) = parse_rfc3339(s) {
        return Some(ms);
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Parses `--since`: RFC 3339, a date, or an age relative to `now` (`24h`, `7d`,
/// `90m`, `1h30m`). The error says what was wrong and what to write.
pub fn parse_since(s: &str, now: Millis) -> Result<Millis, crate::error::Hinted> {
    let t = s.trim();
    if let Some(ms) = parse_user_time(t) {
        return Ok(ms);
    }
    if let Ok(d) = parse_duration(t)
        && d > 0
    {
        return Ok(now.saturating_sub(d));
    }
    let hint =
        "write RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or an age such as 24h or 7d";
    if let Ok(n) = t.parse::<i64>() {
        let as_s = Utc
            .timestamp_opt(n, 0)
            .single()
            .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true));
        let guess = as_s.map_or(String::new(), |g| {
            format!(" (as epoch seconds that would be {g})")
        });
        return Err(crate::error::hinted(
            format!(
                "--since `{t}` is a bare number; pipemon does not guess whether it is seconds or milliseconds{guess}"
            ),
            hint,
        ));
    }
    Err(crate::error::hinted(
        format!("--since `{t}` is not a time"),
        hint,
    ))
}

/// Formats epoch milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_ms(ms: Millis) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// The wall clock, in epoch milliseconds.
pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// The one duration parser (command line, configuration, schedules): one or more
/// `<integer><unit>` parts, units `ms`, `s`, `m`, `h`, `d`, `w`, as in `90s`, `15m`,
/// `2h`, `7d`, `1h30m`, `4m12s`. `0` alone means zero. Errors say what is wrong.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".to_string());
    }
    if t == "0" {
        return Ok(0);
    }
    let mut total: i64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{t}`: expected a whole number before `{rest}`"));
        }
        let (num, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_ms: i64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "" => return Err(format!("`{t}`: `{num}` needs a unit (ms, s, m, h, d or w)")),
            _ => {
                return Err(format!(
                    "`{t}`: unknown unit `{unit}` (use ms, s, m, h, d or w)"
                ));
            }
        };
        let n: i64 = num
            .parse()
            .map_err(|_| format!("`{t}`: the number is too large"))?;
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{t}`: the duration is too large"))?;
        rest = next;
    }
    Ok(total)
}

/// A positive duration (see `parse_duration`), or None.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    parse_duration(s).ok().filter(|v| *v > 0)
}

/// A past time for people: `3h ago`, `2d ago`, `just now`; a future one: `in 5m`.
pub fn relative(t: Millis, now: Millis) -> String {
    let d = now - t;
    let (mag, past) = (d.unsigned_abs() as i64, d >= 0);
    if mag < 60_000 {
        return if past {
            "just now".into()
        } else {
            "in <1m".into()
        };
    }
    let text = if mag < 3_600_000 {
        format!("{}m", mag / 60_000)
    } else if mag < 2 * 86_400_000 {
        format!("{}h", mag / 3_600_000)
    } else {
        format!("{}d", mag / 86_400_000)
    };
    if past {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

/// Formats a duration in milliseconds for people: `850ms`, `42s`, `3m12s`, `2h05m`.
pub fn format_duration(ms: i64) -> String {
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    let out = if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 && ms.is_multiple_of(1000) {
        format!("{s}s")
    } else if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    };
    if neg { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.123456789Z"), Some(1123));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01"), None);
        assert_eq!(parse_rfc3339("1970-01-01"), None);
        assert_eq!(format_ms(1123), "1970-01-01T00:00:01.123Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("15m"), Some(900_000));
        assert_eq!(parse_duration_ms("1w"), Some(604_800_000));
        assert_eq!(parse_duration_ms("0m"), None);
        assert_eq!(parse_duration_ms("m"), None);
        assert_eq!(parse_duration_ms("5y"), None);
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("4m12s"), Some(252_000));
        assert_eq!(parse_duration_ms("1.5h"), None);
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(
            parse_duration("5y")
                .unwrap_err()
                .contains("unknown unit `y`")
        );
        assert_eq!(format_duration(125_000), "2m05s");
    }

    #[test]
    fn since_forms() {
        let now = parse_rfc3339("2026-11-08T12:00:00Z").unwrap();
        assert_eq!(parse_since("24h", now).unwrap(), now - 86_400_000);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(
            parse_since("2026-11-01", now).unwrap(),
            parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
        );
        let e = parse_since("1700000000", now).unwrap_err();
        assert!(e.message.contains("bare number"), "{}", e.message);
        assert!(e.message.contains("2023-11-14T22:13:20Z"), "{}", e.message);
        assert!(parse_since("yesterday", now).is_err());
    }

    #[test]
    fn relative_hints() {
        let now = 10 * 86_400_000;
        assert_eq!(relative(now - 3 * 3_600_000 - 5, now), "3h ago");
        assert_eq!(relative(now - 3 * 86_400_000, now), "3d ago");
        assert_eq!(relative(now - 42 * 60_000, now), "42m ago");
        assert_eq!(relative(now - 10_000, now), "just now");
        assert_eq!(relative(now + 5 * 60_000, now), "in 5m");
    }
}
