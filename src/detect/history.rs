//! A pipeline's recent past, as the detectors need it: the last completed runs
//! (outcome, times, duration, records) and, per UTC hour of day and per day of
//! week, the last successful runs' log duration and log volume, so seasonal
//! baselines survive even when the recent window is shorter than a week.
//!
//! Bounded by construction (fixed capacities), and encoded to a compact binary
//! form for the `detector_state` table, so an incremental evaluation restores a
//! pipeline's past without rereading its runs.

use std::collections::VecDeque;

use crate::model::{Millis, Outcome, Run};

/// One completed run, as remembered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Past {
    pub start: Millis,
    pub end: Millis,
    pub outcome: Outcome,
    /// None when the run carried no duration.
    pub duration_ms: Option<i64>,
    pub records: Option<i64>,
}

impl Past {
    pub fn from_run(run: &Run) -> Past {
        Past {
            start: run.start_at,
            end: run.ended_at.unwrap_or(run.start_at),
            outcome: run.outcome,
            duration_ms: run.duration_ms,
            records: run.records_processed,
        }
    }

    /// Log duration of a successful run (seconds, floored at 1 s so sub-second
    /// jobs don't turn jitter into huge log ratios).
    pub fn log_duration(&self) -> Option<f64> {
        (self.outcome == Outcome::Success)
            .then_some(self.duration_ms)
            .flatten()
            .map(log_duration)
    }

    /// ln(1 + records) of a successful run.
    pub fn log_records(&self) -> Option<f64> {
        (self.outcome == Outcome::Success)
            .then_some(self.records)
            .flatten()
            .map(log_records)
    }
}

pub fn log_duration(ms: i64) -> f64 {
    (ms.max(1000) as f64 / 1000.0).ln()
}

pub fn log_records(n: i64) -> f64 {
    (n.max(0) as f64).ln_1p()
}

/// The hour-of-day (0-23) and day-of-week (0 = Sunday) of a time, in UTC.
/// Integer arithmetic: called for every remembered run on hot paths.
pub fn slots(t: Millis) -> (usize, usize) {
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;
    let hour = t.div_euclid(HOUR).rem_euclid(24) as usize;
    // 1970-01-01 was a Thursday (4 days after a Sunday).
    let weekday = (t.div_euclid(DAY) + 4).rem_euclid(7) as usize;
    (hour, weekday)
}

/// Log duration and log volume of one successful run, kept in a seasonal slot.
/// NaN marks "not known".
pub type SlotValue = (f32, f32);

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    cap: usize,
    slot_cap: usize,
    runs: VecDeque<Past>,
    by_hour: Vec<VecDeque<SlotValue>>,
    by_weekday: Vec<VecDeque<SlotValue>>,
}

impl History {
    pub fn new(cap: usize, slot_cap: usize) -> History {
        History {
            cap: cap.max(1),
            slot_cap: slot_cap.max(1),
            runs: VecDeque::new(),
            by_hour: vec![VecDeque::new(); 24],
            by_weekday: vec![VecDeque::new(); 7],
        }
    }

    /// Remembers a completed run (oldest forgotten beyond the capacity).
    pub fn push(&mut self, p: Past) {
        if self.runs.len() == self.cap {
            self.runs.pop_front();
        }
        self.runs.push_back(p);
        if p.outcome == Outcome::Success {
            let v = (
                p.log_duration().map_or(f32::NAN, |x| x as f32),
                p.log_records().map_or(f32::NAN, |x| x as f32),
            );
            let (h, d) = slots(p.start);
            for ring in [&mut self.by_hour[h], &mut self.by_weekday[d]] {
                if ring.len() == self.slot_cap {
                    ring.pop_front();
                }
                ring.push_back(v);
            }
        }
    }

    /// How many remembered successful runs carry a duration.
    pub fn durations(&self) -> usize {
        self.runs
            .iter()
            .filter(|p| p.outcome == Outcome::Success && p.duration_ms.is_some())
            .count()
    }

    /// Completed runs, oldest first.
    pub fn runs(&self) -> &VecDeque<Past> {
        &self.runs
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn last(&self) -> Option<&Past> {
        self.runs.back()
    }

    /// The last `n` successful runs' values of `f`, oldest first.
    pub fn recent_success<F: Fn(&Past) -> Option<f64>>(&self, n: usize, f: F) -> Vec<f64> {
        let mut v: Vec<f64> = self.runs.iter().rev().filter_map(&f).take(n).collect();
        v.reverse();
        v
    }

    /// Log durations (`volume = false`) or log volumes of the same hour of day.
    pub fn same_hour(&self, t: Millis, volume: bool) -> Vec<f64> {
        slot_values(&self.by_hour[slots(t).0], volume)
    }

    /// Log durations or log volumes of the same day of week.
    pub fn same_weekday(&self, t: Millis, volume: bool) -> Vec<f64> {
        slot_values(&self.by_weekday[slots(t).1], volume)
    }

    /// Log durations (`volume = false`) or log volumes kept for hour `h` (0-23).
    pub fn hour_values(&self, h: usize, volume: bool) -> Vec<f64> {
        slot_values(&self.by_hour[h % 24], volume)
    }

    /// Log durations or log volumes kept for day of week `d` (0 = Sunday).
    pub fn weekday_values(&self, d: usize, volume: bool) -> Vec<f64> {
        slot_values(&self.by_weekday[d % 7], volume)
    }

    /// Binary form: capacities, runs, then the slot rings.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.cap as u32);
        put_u32(out, self.slot_cap as u32);
        put_u32(out, self.runs.len() as u32);
        // Varints: each start from the previous one, each end from its start, and
        // a duration or volume plus one (0: none; a negative one reads back as none).
        let mut prev = 0i64;
        for p in &self.runs {
            put_var(out, zigzag(p.start.wrapping_sub(prev)));
            put_var(out, zigzag(p.end.wrapping_sub(p.start)));
            out.push(outcome_code(p.outcome));
            put_var(
                out,
                p.duration_ms
                    .filter(|d| *d >= 0)
                    .map_or(0, |d| d as u64 + 1),
            );
            put_var(
                out,
                p.records.filter(|r| *r >= 0).map_or(0, |r| r as u64 + 1),
            );
            prev = p.start;
        }
        for ring in self.by_hour.iter().chain(&self.by_weekday) {
            out.push(ring.len() as u8);
            for (a, b) in ring {
                out.extend_from_slice(&a.to_le_bytes());
                out.extend_from_slice(&b.to_le_bytes());
            }
        }
    }

    /// Reads what `encode` wrote; None on any inconsistency (the caller rebuilds).
    pub fn decode(buf: &mut &[u8]) -> Option<History> {
        let cap = get_u32(buf)? as usize;
        let slot_cap = get_u32(buf)? as usize;
        let n = get_u32(buf)? as usize;
        let mut h = History::new(cap, slot_cap);
        let mut prev = 0i64;
        let count = |v: u64| (v > 0).then(|| i64::try_from(v - 1).ok()).flatten();
        for _ in 0..n {
            let start = prev.wrapping_add(unzigzag(get_var(buf)?));
            let end = start.wrapping_add(unzigzag(get_var(buf)?));
            let outcome = outcome_from(*take(buf, 1)?.first()?)?;
            let d = get_var(buf)?;
            let r = get_var(buf)?;
            if (d > 0 && count(d).is_none()) || (r > 0 && count(r).is_none()) {
                return None;
            }
            h.runs.push_back(Past {
                start,
                end,
                outcome,
                duration_ms: count(d),
                records: count(r),
            });
            prev = start;
        }
        for i in 0..31 {
            let len = *take(buf, 1)?.first()? as usize;
            let ring = if i < 24 {
                &mut h.by_hour[i]
            } else {
                &mut h.by_weekday[i - 24]
            };
            for _ in 0..len {
                let a = f32::from_le_bytes(take(buf, 4)?.try_into().ok()?);
                let b = f32::from_le_bytes(take(buf, 4)?.try_into().ok()?);
                ring.push_back((a, b));
            }
        }
        Some(h)
    }
}

fn slot_values(ring: &VecDeque<SlotValue>, volume: bool) -> Vec<f64> {
    ring.iter()
        .map(|(d, r)| if volume { *r } else { *d })
        .filter(|x| !x.is_nan())
        .map(f64::from)
        .collect()
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Success => 0,
        Outcome::Failed => 1,
        Outcome::Cancelled => 2,
        Outcome::Skipped => 3,
        Outcome::Running => 4,
    }
}

fn outcome_from(c: u8) -> Option<Outcome> {
    Some(match c {
        0 => Outcome::Success,
        1 => Outcome::Failed,
        2 => Outcome::Cancelled,
        3 => Outcome::Skipped,
        4 => Outcome::Running,
        _ => return None,
    })
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// LEB128 varint.
pub fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn get_var(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *take(buf, 1)?.first()?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Some(a)
}

pub fn get_u32(buf: &mut &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(take(buf, 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past(start: Millis, outcome: Outcome, d: Option<i64>, r: Option<i64>) -> Past {
        Past {
            start,
            end: start + d.unwrap_or(0),
            outcome,
            duration_ms: d,
            records: r,
        }
    }

    #[test]
    fn capacity_and_slots() {
        let mut h = History::new(3, 2);
        for i in 0..5 {
            h.push(past(
                i * 3_600_000,
                Outcome::Success,
                Some(60_000),
                Some(10),
            ));
        }
        h.push(past(5 * 3_600_000, Outcome::Failed, Some(1), None));
        assert_eq!(h.len(), 3);
        assert_eq!(h.runs().front().unwrap().start, 3 * 3_600_000);
        // Hour 0 saw one success; the weekday (Thursday, 1970-01-01) is capped at 2.
        assert_eq!(h.same_hour(0, false).len(), 1);
        assert_eq!(h.same_weekday(0, true).len(), 2);
        assert_eq!(h.recent_success(10, Past::log_duration).len(), 2);
    }

    #[test]
    fn slots_agree_with_the_calendar() {
        use chrono::{Datelike, TimeZone, Timelike, Utc};
        for t in [
            0,
            1_790_812_800_000,
            1_793_577_600_000 + 13 * 3_600_000 + 5,
            -1,
        ] {
            let dt = Utc.timestamp_millis_opt(t).unwrap();
            let want = (
                dt.hour() as usize,
                dt.weekday().num_days_from_sunday() as usize,
            );
            assert_eq!(slots(t), want, "{t}");
        }
    }

    #[test]
    fn encode_round_trips() {
        let mut h = History::new(8, 4);
        h.push(past(1_000, Outcome::Success, Some(5_000), Some(7)));
        h.push(past(90_000_000, Outcome::Cancelled, None, None));
        h.push(past(190_000_000, Outcome::Success, None, Some(0)));
        // Out of order, far in the past, and the largest counts.
        h.push(past(
            -5_000,
            Outcome::Failed,
            Some(i64::MAX),
            Some(i64::MAX),
        ));
        let mut buf = Vec::new();
        h.encode(&mut buf);
        let mut slice = buf.as_slice();
        let back = History::decode(&mut slice).unwrap();
        assert!(slice.is_empty());
        assert_eq!(back.runs, h.runs);
        assert_eq!(back.same_hour(1_000, false), h.same_hour(1_000, false));
        assert_eq!(History::decode(&mut &buf[..10]), None);
    }
}
