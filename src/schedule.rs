//! Schedules: 5-field cron (UTC) and intervals (placeholder until the parser lands).

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Interval(i64),
    Cron(String),
}

impl Schedule {
    pub fn parse(s: &str) -> Result<Schedule, String> {
        if let Some(ms) = crate::time::parse_duration_ms(s) {
            return Ok(Schedule::Interval(ms));
        }
        if s.split_whitespace().count() == 5 {
            return Ok(Schedule::Cron(s.to_string()));
        }
        Err(format!(
            "`{s}` is neither a 5-field cron expression nor an interval"
        ))
    }
}
