//! Constructed run series the detector tests share: hourly runs with
//! deterministic noise, and a one-call way to run every detector over them.

pub(crate) use super::DetectConfig;
pub(crate) use super::engine::detect_all;
pub(crate) use super::episode::{Ctx, Episode};
pub(crate) use crate::model::{AlertKind, Outcome, Run};
pub(crate) use crate::schedule::Schedule;

pub(crate) const MIN: i64 = 60_000;
pub(crate) const HOUR: i64 = 3_600_000;
pub(crate) const DAY: i64 = 86_400_000;
/// 2026-11-02T00:00:00Z, a Monday.
pub(crate) const T0: i64 = 1_793_577_600_000;

pub(crate) fn run(i: usize, start: i64, outcome: Outcome, dur: i64, records: Option<i64>) -> Run {
    Run {
        pipeline_id: "p".into(),
        run_id: format!("r{i:04}"),
        start_at: start,
        start_source: crate::model::StartSource::Started,
        first_event_at: start,
        last_event_at: start + dur,
        started_at: Some(start),
        ended_at: (outcome != Outcome::Running).then_some(start + dur),
        outcome,
        attempts: 1,
        retries: 0,
        duration_ms: (outcome != Outcome::Running).then_some(dur),
        records_processed: records,
        error_type: (outcome == Outcome::Failed).then(|| "ConnectionError".to_string()),
        error_message: (outcome == Outcome::Failed)
            .then(|| format!("could not connect to 10.0.0.{}:5432", i % 7)),
        task_id: None,
        scheduled_at: None,
        final_attempt_ms: (outcome != Outcome::Running).then_some(dur),
        last_alive_at: start,
        heartbeats: 0,
    }
}

/// Deterministic noise in [-1, 1].
pub(crate) fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 33) % 2001) as f64 / 1000.0 - 1.0
}

/// Hourly runs with outcomes from `pattern` (S, F, C, K=skipped, R=running),
/// ~5 min durations with ±10 % noise and ~1000 records.
pub(crate) fn hourly(pattern: &str) -> Vec<Run> {
    pattern
        .chars()
        .filter(|c| !c.is_whitespace())
        .enumerate()
        .map(|(i, c)| {
            let o = match c {
                'S' => Outcome::Success,
                'F' => Outcome::Failed,
                'C' => Outcome::Cancelled,
                'K' => Outcome::Skipped,
                _ => Outcome::Running,
            };
            let d = (300_000.0 * (1.0 + 0.1 * noise(i))) as i64;
            run(
                i,
                T0 + i as i64 * HOUR,
                o,
                d,
                Some((1000.0 * (1.0 + 0.1 * noise(i + 7))) as i64),
            )
        })
        .collect()
}

pub(crate) fn detect(
    runs: &[Run],
    now: i64,
    schedule: Option<&Schedule>,
    cfg: &DetectConfig,
) -> Vec<Episode> {
    let ctx = Ctx {
        cfg,
        pipeline_id: "p",
        schedule,
        streaming: false,
    };
    detect_all(cfg, &ctx, runs, now)
}

pub(crate) fn of(eps: &[Episode], kind: AlertKind) -> Vec<Episode> {
    eps.iter().filter(|e| e.kind == kind).cloned().collect()
}

pub(crate) fn end(r: &Run) -> i64 {
    r.ended_at.unwrap()
}

pub(crate) fn with_durations(durs: &[i64], every: i64) -> Vec<Run> {
    durs.iter()
        .enumerate()
        .map(|(i, d)| run(i, T0 + i as i64 * every, Outcome::Success, *d, Some(1000)))
        .collect()
}

pub(crate) fn noisy(n: usize, base: f64, from: usize) -> Vec<i64> {
    (from..from + n)
        .map(|i| (base * (1.0 + 0.1 * noise(i))) as i64)
        .collect()
}

/// Deterministic noise in [-1, 1], independent across `salt`s (splitmix64).
pub(crate) fn hnoise(i: usize, salt: u64) -> f64 {
    let mut z = (i as u64)
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}
