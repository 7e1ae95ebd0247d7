//! Timestamps: the input forms events.md allows, and the one output form.
//!
//! Input: RFC 3339 with `Z` or an offset (any fractional precision), or an integer of
//! epoch milliseconds. Output: RFC 3339 UTC, millisecond precision, `Z`.

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

/// Parses a user-given time on the command line: RFC 3339, a date (`2026-11-01`,
/// midnight UTC), or epoch milliseconds.
pub fn parse_user_time(s: &str) -> Option<Millis> {
    if let Some(ms) = parse_rfc3339(s) {
        return Some(ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    s.trim().parse::<i64>().ok().filter(|v| *v >= 0)
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

/// Parses a duration such as `90s`, `15m`, `2h`, `1d`, `1w` (also `500ms`).
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|v| *v > 0)
}

/// Formats a duration in milliseconds for people: `850ms`, `42s`, `3m12s`, `2h05m`.
pub fn format_duration(ms: i64) -> String {
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    let out = if ms < 1000 {
        format!("{ms}ms")
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
        assert_eq!(format_duration(125_000), "2m05s");
    }
}
