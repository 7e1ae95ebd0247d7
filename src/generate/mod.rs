//! `pipemon generate`: realistic pipeline execution events with known incidents, and
//! the ground truth to score a monitor against.
//!
//! The same options and seed always give byte-identical output. The world
//! (`world`) has many teams, priorities and cadences, lineage, seasonal durations and
//! volumes; `plan` injects incidents after a clean warm-up and adds natural noise
//! where it cannot change what should fire; `emit` writes the events with the
//! delivery noise of real feeds; this module derives the truth from what was written.

pub mod emit;
pub mod plan;
pub mod truth;
pub mod world;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::model::{AlertKind, Millis, Outcome, Priority, Severity};
use emit::{Realized, Sink};
use plan::{Injected, PlannedRun, Planner};
use truth::{Benign, Incident, LineCounts, PipelineTruth, Related, Truth};
use world::{DAY, Dice, HOUR, MINUTE, Pipe};

/// How long after a triggering run ends an anomaly alert may start (alerts.md
/// Timeliness: duration, volume, failure-rate and degradation deadlines).
pub const ANOMALY_SLACK: i64 = 10 * MINUTE;

/// The nearest-rank 95th percentile of `xs` (sorted in place); None when empty.
fn p95_of(xs: &mut [i64]) -> Option<i64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    let rank = ((0.95 * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    Some(xs[rank - 1])
}

/// The largest seasonal p95 of a pipeline's natural successful durations: over all of
/// them, and per hour of day (sub-daily pipelines) and per weekday where a slot holds
/// at least eight runs. The stuck-run deadline is measured from it.
pub fn seasonal_p95(p: &Pipe, runs: &[Realized]) -> i64 {
    use chrono::{Datelike, TimeZone, Timelike, Utc};
    let mut all = Vec::new();
    let mut slots: std::collections::BTreeMap<(u8, u32), Vec<i64>> = Default::default();
    for r in runs.iter().filter(|r| r.exists && r.natural) {
        let Some(end) = r.end else { continue };
        let d = end - r.start;
        all.push(d);
        let dt = Utc
            .timestamp_millis_opt(r.start)
            .single()
            .unwrap_or_default();
        if p.period < DAY {
            slots.entry((0, dt.hour())).or_default().push(d);
        }
        slots
            .entry((1, dt.weekday().num_days_from_monday()))
            .or_default()
            .push(d);
    }
    let overall = p95_of(&mut all).unwrap_or(p.median as i64);
    slots
        .into_values()
        .filter(|v| v.len() >= 8)
        .filter_map(|mut v| p95_of(&mut v))
        .fold(overall, i64::max)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub pipelines: u32,
    pub days: u32,
    pub seed: u64,
    /// First instant of the data; must be a midnight UTC.
    pub start: Millis,
}

impl GenerateOptions {
    /// 2026-10-01T00:00:00Z, the default first day.
    pub const DEFAULT_START: Millis = 1_790_812_800_000;
}

/// Generated lines (in delivery order) and their truth.
pub struct Dataset {
    pub lines: Vec<String>,
    pub truth: Truth,
}

/// The expected severity of an alert of `kind` on a pipeline of `priority` (alerts.md).
pub fn expected_severity(kind: AlertKind, priority: Priority) -> Severity {
    let base = kind.base_severity();
    if kind == AlertKind::SystemicFailure {
        return Severity::Critical;
    }
    match priority {
        Priority::Critical => base.raised(),
        Priority::Low => base.lowered(),
        _ => base,
    }
}

/// The length of the clean warm-up: a week, or half of shorter data.
pub fn warmup(days: u32) -> i64 {
    if days >= 14 {
        7 * DAY
    } else {
        days as i64 * DAY / 2
    }
}

/// Generates a data set. Deterministic in `opts`.
pub fn generate(opts: &GenerateOptions) -> Result<Dataset> {
    if opts.pipelines < 3 {
        bail!("need at least 3 pipelines (a systemic outage hits 3)");
    }
    if opts.days < 2 {
        bail!("need at least 2 days of data");
    }
    if opts.start % DAY != 0 {
        bail!("the start must be a midnight UTC");
    }
    let mut dice = Dice::new(opts.seed);
    let start = opts.start;
    let end = start + opts.days as i64 * DAY;
    let warm_end = start + warmup(opts.days);
    let pipes = world::make_pipes(opts.pipelines as usize, start, opts.days, &mut dice.fork());

    // Scheduled runs of every pipeline outside lineage's downstream side.
    let mut grid_dice = dice.fork();
    let mut runs: Vec<Vec<PlannedRun>> = pipes
        .iter()
        .map(|p| {
            if p.upstream.is_some() {
                Vec::new()
            } else {
                plan::grid(p, start, end, &mut grid_dice)
            }
        })
        .collect();

    // Incidents, a few of each kind, scaled with the size of the data.
    let per_kind = (((opts.pipelines as f64) * (opts.days as f64) / 300.0).round() as usize).max(2);
    let mut planner = Planner {
        pipes: &pipes,
        runs: &mut runs,
        occupancy: plan::Occupancy::new(pipes.len()),
        from: warm_end,
        until: end - 6 * HOUR,
        injected: Vec::new(),
    };
    let mut idice = dice.fork();
    planner.surges(per_kind.div_ceil(2), &mut idice);
    planner.systemic(per_kind.div_ceil(2), &mut idice);
    planner.starvation(1.max(per_kind / 3), &mut idice);
    planner.streaks(per_kind, &mut idice);
    planner.flaky(per_kind, &mut idice);
    planner.stuck(per_kind, &mut idice);
    planner.outages(per_kind, &mut idice);
    planner.steps(per_kind.div_ceil(2).max(2), &mut idice);
    planner.drifts(per_kind.div_ceil(2).max(2), &mut idice);
    planner.outliers(per_kind, &mut idice);
    planner.volumes(per_kind, &mut idice);
    let injected = std::mem::take(&mut planner.injected);
    drop(planner);

    let mut ndice = dice.fork();
    for (p, r) in pipes.iter().zip(runs.iter_mut()) {
        if p.upstream.is_none() {
            plan::add_noise(p, r, opts.days, &mut ndice);
        }
    }

    // Realise upstream and standalone pipelines, then downstreams from their upstreams.
    let mut sink = Sink::new(end, dice.fork());
    let mut edice = dice.fork();
    let mut realized: Vec<Vec<Realized>> = vec![Vec::new(); pipes.len()];
    for (i, p) in pipes.iter().enumerate() {
        if p.upstream.is_none() {
            realized[i] = emit::realize_pipe(p, i, None, &runs[i], &mut sink, &mut edice);
        }
    }
    let mut starved: Vec<Incident> = Vec::new();
    for (i, p) in pipes.iter().enumerate() {
        let Some(up) = p.upstream else { continue };
        runs[i] = downstream_runs(p, &realized[up], &mut edice);
        starved.extend(starvation_gaps(p, &runs[i]));
        plan::add_noise(p, &mut runs[i], opts.days, &mut ndice);
        realized[i] =
            emit::realize_pipe(p, i, Some(&pipes[up].id), &runs[i], &mut sink, &mut edice);
    }
    let sample = serde_json::json!({
        "pipeline_id": pipes[0].id, "run_id": "sample", "status": "success",
        "timestamp": crate::time::format_ms(start), "duration_ms": 1000,
        "records_processed": 10,
    });
    if let Some(o) = sample.as_object() {
        sink.cover_reasons(o);
    }
    let (lines, counts) = sink.into_lines();
    let data_end = counts.data_end;
    let p95: Vec<i64> = pipes
        .iter()
        .zip(&realized)
        .map(|(p, r)| seasonal_p95(p, r))
        .collect();

    // The truth, from what was written.
    let mut incidents: Vec<Incident> = Vec::new();
    for (i, p) in pipes.iter().enumerate() {
        incidents.extend(failure_incidents(p, &realized[i]));
    }
    let mut benign = Vec::new();
    for inj in &injected {
        if let Injected::Surge {
            pipe,
            first,
            last,
            factor,
        } = *inj
        {
            let p = &pipes[pipe];
            let (a, b) = (&realized[pipe][first], &realized[pipe][last]);
            benign.push(Benign {
                pipeline_id: p.id.clone(),
                kinds: [
                    AlertKind::DurationAnomaly,
                    AlertKind::VolumeAnomaly,
                    AlertKind::PerformanceDegradation,
                    AlertKind::StuckRun,
                ]
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
                from: a.start,
                until: b.end.unwrap_or(b.start) + (2 * p.period).max(HOUR),
                note: format!(
                    "month-start surge: {} runs with {factor:.1}x the records",
                    last - first + 1
                ),
            });
        } else if let Some(inc) = injected_incident(inj, &pipes, &runs, &realized, &p95) {
            incidents.push(inc);
        }
    }
    incidents.extend(starved);
    // An incident must be detectable within the data.
    incidents.retain(|inc| inc.start <= data_end);
    incidents.sort_by(|a, b| {
        (a.start, &a.kind, &a.pipeline_id).cmp(&(b.start, &b.kind, &b.pipeline_id))
    });
    for (n, inc) in incidents.iter_mut().enumerate() {
        inc.id = format!("I{:04}", n + 1);
    }
    mark_systemic_parts(&mut incidents);

    let pipelines = pipes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut t = pipeline_truth(p, p.upstream.map(|u| pipes[u].id.clone()), &realized[i]);
            t.p95_duration_ms = p95[i];
            if p.born >= start + p.period.max(DAY) {
                t.first_run = realized[i].iter().find(|r| r.exists).map(|r| r.start);
            }
            t
        })
        .collect();
    let rejected: u64 = counts.rejected.values().sum();
    let truth = Truth {
        format_version: 2,
        seed: opts.seed,
        days: opts.days,
        start,
        end,
        data_end,
        warmup_end: warm_end,
        lines: LineCounts {
            total: lines.len() as u64,
            blank: counts.blank,
            events: counts.events,
            duplicates: counts.duplicates,
            rejected,
            rejected_by_reason: counts.rejected,
        },
        pipelines,
        incidents,
        benign,
    };
    Ok(Dataset { lines, truth })
}

/// Writes `events.jsonl` (or `.jsonl.gz`) and `truth.json` into `dir`; returns the
/// events path.
pub fn write_dataset(ds: &Dataset, dir: &Path, gzip: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let events = dir.join(if gzip {
        "events.jsonl.gz"
    } else {
        "events.jsonl"
    });
    let file = File::create(&events).with_context(|| format!("creating {}", events.display()))?;
    let mut out: Box<dyn Write> = if gzip {
        Box::new(BufWriter::new(GzEncoder::new(file, Compression::fast())))
    } else {
        Box::new(BufWriter::with_capacity(1 << 20, file))
    };
    for line in &ds.lines {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let truth_path = dir.join("truth.json");
    let text = serde_json::to_string_pretty(&ds.truth)?;
    std::fs::write(&truth_path, text + "\n")
        .with_context(|| format!("writing {}", truth_path.display()))?;
    Ok(events)
}

/// Notes on each `pipeline_failed` incident that a systemic outage explains which
/// outage it belongs to (its alert is inhibited by the systemic one, not removed).
fn mark_systemic_parts(incidents: &mut [Incident]) {
    let outages: Vec<(String, Millis, Millis, Vec<String>)> = incidents
        .iter()
        .filter(|i| i.kind == AlertKind::SystemicFailure.as_str())
        .map(|i| {
            (
                i.id.clone(),
                i.start,
                i.end.unwrap_or(i.deadline),
                i.affected_pipelines.clone(),
            )
        })
        .collect();
    for inc in incidents
        .iter_mut()
        .filter(|i| i.kind == AlertKind::PipelineFailed.as_str())
    {
        let Some(pid) = &inc.pipeline_id else {
            continue;
        };
        if let Some((id, ..)) = outages
            .iter()
            .find(|(_, a, b, affected)| affected.contains(pid) && (*a..=*b).contains(&inc.start))
        {
            inc.note = format!("final failure, part of systemic outage {id}");
        }
    }
}

/// A downstream run starts one to four minutes after each successful upstream run.
fn downstream_runs(p: &Pipe, upstream: &[Realized], dice: &mut Dice) -> Vec<PlannedRun> {
    let _ = p;
    upstream
        .iter()
        .filter(|u| u.exists && u.outcome == Outcome::Success)
        .filter_map(|u| u.end)
        .map(|end| {
            let start = end + dice.int(MINUTE, 4 * MINUTE);
            PlannedRun {
                nominal: start - start % MINUTE,
                start,
                fate: plan::Fate::Success,
                cause: plan::FailCause::Own,
                dur_factor: 1.0,
                vol_factor: 1.0,
                retries: 0,
                drop_started: false,
                benign: false,
                pure: false,
                protected: false,
            }
        })
        .collect()
}

/// Gaps of a downstream's runs (its upstream failed): missed runs.
fn starvation_gaps(p: &Pipe, runs: &[PlannedRun]) -> Vec<Incident> {
    let mut out = Vec::new();
    for k in 1..runs.len() {
        let (a, b) = (runs[k - 1].start, runs[k].start);
        if b - a >= 2 * p.period {
            let expected = a + p.period;
            out.push(incident(
                p,
                AlertKind::MissedRun,
                expected,
                Some(b),
                expected + plan::missed_allowance(p.period),
                None,
                format!(
                    "starved: upstream failed, {} runs not started",
                    (b - a) / p.period - 1 + i64::from((b - a) % p.period > p.period / 2)
                ),
            ));
        }
    }
    out
}

/// `pipeline_failed` per failure episode (first final failure until the next success)
/// and `consecutive_failures` per streak of three or more, from the realised runs.
fn failure_incidents(p: &Pipe, runs: &[Realized]) -> Vec<Incident> {
    let mut out = Vec::new();
    let mut order: Vec<&Realized> = runs
        .iter()
        .filter(|r| r.exists && r.outcome != Outcome::Running)
        .collect();
    order.sort_by_key(|r| r.start);
    let mut episode: Option<usize> = None;
    let mut streak: Vec<&Realized> = Vec::new();
    let mut streak_incident: Option<usize> = None;
    for r in order {
        match r.outcome {
            Outcome::Failed => {
                let end = r.end.unwrap_or(r.start);
                if episode.is_none() {
                    out.push(incident(
                        p,
                        AlertKind::PipelineFailed,
                        r.start,
                        None,
                        end,
                        Some(r.run_id.clone()),
                        "final failure".into(),
                    ));
                    episode = Some(out.len() - 1);
                }
                streak.push(r);
                if streak.len() == 3 {
                    let mut inc = incident(
                        p,
                        AlertKind::ConsecutiveFailures,
                        streak[0].start,
                        None,
                        end,
                        Some(r.run_id.clone()),
                        "failure streak".into(),
                    );
                    inc.related.push(Related {
                        kind: AlertKind::FailureRateSpike.as_str().into(),
                        from: streak[0].start,
                        until: None,
                    });
                    out.push(inc);
                    streak_incident = Some(out.len() - 1);
                }
            }
            Outcome::Success => {
                let end = r.end;
                if let Some(e) = episode.take() {
                    out[e].end = end;
                }
                if let Some(s) = streak_incident.take() {
                    out[s].end = end;
                    out[s].note = format!("failure streak of {} runs", streak.len());
                    if let (Some(rel), Some(end)) = (out[s].related.first_mut(), end) {
                        rel.until = Some(end + DAY);
                    }
                }
                streak.clear();
            }
            _ => streak.clear(),
        }
    }
    if let Some(s) = streak_incident {
        out[s].note = format!("failure streak of {} runs, still failing", streak.len());
    }
    out
}

fn incident(
    p: &Pipe,
    kind: AlertKind,
    start: Millis,
    end: Option<Millis>,
    deadline: Millis,
    run_id: Option<String>,
    note: String,
) -> Incident {
    Incident {
        id: String::new(),
        kind: kind.as_str().into(),
        pipeline_id: Some(p.id.clone()),
        start,
        end,
        deadline,
        severity: expected_severity(kind, p.effective_priority())
            .as_str()
            .into(),
        team: p.team_or_unowned(),
        run_id,
        affected_pipelines: Vec::new(),
        error_signature: None,
        related: Vec::new(),
        note,
    }
}

fn related(kind: AlertKind, from: Millis, until: Option<Millis>) -> Related {
    Related {
        kind: kind.as_str().into(),
        from,
        until,
    }
}

/// The truth entry of an injected incident, with times from the realised runs and the
/// deadlines of the alert contract's Timeliness rules.
fn injected_incident(
    inj: &Injected,
    pipes: &[Pipe],
    runs: &[Vec<PlannedRun>],
    realized: &[Vec<Realized>],
    p95: &[i64],
) -> Option<Incident> {
    let kind = inj.kind()?;
    let end_of = |pipe: usize, run: usize| realized[pipe].get(run).and_then(|r| r.end);
    Some(match *inj {
        Injected::Outlier { pipe, run, factor } => {
            let p = &pipes[pipe];
            let r = &realized[pipe][run];
            let end = r.end?;
            let stuck_at = r.start + plan::stuck_allowance(p95[pipe]);
            // A run that crosses the stuck deadline is reported as stuck: one alert.
            let (kind, deadline, other) = if end > stuck_at {
                (AlertKind::StuckRun, stuck_at, AlertKind::DurationAnomaly)
            } else {
                (kind, end + ANOMALY_SLACK, AlertKind::StuckRun)
            };
            let mut inc = incident(
                p,
                kind,
                r.start,
                end_of(pipe, run + 1).or(Some(end)),
                deadline,
                Some(r.run_id.clone()),
                format!("one run {factor:.1}x its expected duration"),
            );
            inc.related
                .push(related(other, r.start, Some(end + ANOMALY_SLACK)));
            inc
        }
        Injected::Step {
            pipe,
            first,
            last,
            recovers,
            factor,
        } => {
            let p = &pipes[pipe];
            let deadline = end_of(pipe, (first + 11).min(last))? + ANOMALY_SLACK;
            let end = if recovers {
                end_of(pipe, last + 1)
            } else {
                None
            };
            let mut inc = incident(
                p,
                kind,
                realized[pipe][first].start,
                end,
                deadline,
                None,
                format!(
                    "step slowdown x{factor:.2} over {} runs{}",
                    last - first + 1,
                    if recovers { "" } else { ", lasting to the end" }
                ),
            );
            inc.related.push(related(
                AlertKind::DurationAnomaly,
                realized[pipe][first].start,
                end.map(|e| e + p.period),
            ));
            inc
        }
        Injected::Drift {
            pipe,
            first,
            established,
            last,
            recovers,
            rate,
        } => {
            let p = &pipes[pipe];
            let deadline = end_of(pipe, established.min(last))? + ANOMALY_SLACK;
            let end = if recovers {
                end_of(pipe, last + 1)
            } else {
                None
            };
            let mut inc = incident(
                p,
                kind,
                realized[pipe][first].start,
                end,
                deadline,
                None,
                format!(
                    "gradual drift of {:.1}% per run{}",
                    rate * 100.0,
                    if recovers { ", then back" } else { "" }
                ),
            );
            inc.related.push(related(
                AlertKind::DurationAnomaly,
                realized[pipe][first].start,
                end.map(|e| e + p.period),
            ));
            inc
        }
        Injected::Volume { pipe, run, factor } => {
            let r = &realized[pipe][run];
            let end = r.end?;
            let mut inc = incident(
                &pipes[pipe],
                kind,
                r.start,
                end_of(pipe, run + 1).or(Some(end)),
                end + ANOMALY_SLACK,
                Some(r.run_id.clone()),
                match factor {
                    0.0 => "records dropped to zero".into(),
                    f if f < 1.0 => format!("records collapsed to {:.1}% of normal", f * 100.0),
                    f => format!("records exploded to {f:.0}x normal"),
                },
            );
            // Its duration follows the volume on some pipelines.
            for k in [AlertKind::DurationAnomaly, AlertKind::StuckRun] {
                inc.related
                    .push(related(k, r.start, Some(end + ANOMALY_SLACK)));
            }
            inc
        }
        Injected::Stuck {
            pipe,
            run,
            until,
            finishes,
        } => {
            let p = &pipes[pipe];
            let r = &realized[pipe][run];
            let mut inc = incident(
                p,
                kind,
                r.start,
                until,
                r.start + plan::stuck_allowance(p95[pipe]),
                Some(r.run_id.clone()),
                match (until, finishes) {
                    (None, _) => "stuck run, still hanging at the end; the schedule waits".into(),
                    (Some(_), false) => "stuck run, killed later; the schedule waited".into(),
                    (Some(_), true) => "stuck run, finished hours late; the schedule waited".into(),
                },
            );
            let held = until.map(|e| e + 2 * p.period);
            inc.related
                .push(related(AlertKind::MissedRun, r.start, held));
            inc.related
                .push(related(AlertKind::DurationAnomaly, r.start, held));
            inc
        }
        Injected::Outage {
            pipe,
            first,
            resume,
        } => {
            let p = &pipes[pipe];
            let expected = runs[pipe][first].nominal;
            let back = realized[pipe]
                .get(resume)
                .filter(|r| r.exists)
                .map(|r| r.start);
            incident(
                p,
                kind,
                expected,
                back,
                expected + plan::missed_allowance(p.period),
                None,
                format!("outage: {} scheduled runs never started", resume - first),
            )
        }
        Injected::Flaky {
            pipe,
            first,
            last,
            rate,
        } => {
            let p = &pipes[pipe];
            let end = end_of(pipe, last)?;
            let fails: Vec<Millis> = realized[pipe][first..=last]
                .iter()
                .filter(|r| r.outcome == Outcome::Failed)
                .filter_map(|r| r.end)
                .collect();
            incident(
                p,
                kind,
                realized[pipe][first].start,
                Some(end),
                *fails.get(5)? + ANOMALY_SLACK,
                None,
                format!(
                    "flaky period: {} of {} runs failed (drawn at {:.0}%)",
                    fails.len(),
                    last - first + 1,
                    rate * 100.0
                ),
            )
        }
        Injected::Systemic { ref runs } => {
            let mut fails: Vec<(Millis, Millis, &str)> = runs
                .iter()
                .filter_map(|&(pipe, run)| {
                    let r = &realized[pipe][run];
                    Some((r.end?, r.start, pipes[pipe].id.as_str()))
                })
                .collect();
            if fails.len() < 3 {
                return None;
            }
            fails.sort();
            let mut affected: Vec<String> = fails.iter().map(|f| f.2.to_string()).collect();
            affected.sort();
            let first_start = fails.iter().map(|f| f.1).min()?;
            let last_end = fails.last()?.0;
            Incident {
                id: String::new(),
                kind: kind.as_str().into(),
                pipeline_id: None,
                start: first_start,
                end: Some(last_end + 30 * MINUTE),
                // The 5th distinct pipeline's failure (the last, when fewer fail).
                deadline: fails[fails.len().min(5) - 1].0,
                severity: Severity::Critical.as_str().into(),
                team: "platform".into(),
                run_id: None,
                affected_pipelines: affected,
                error_signature: Some(
                    "OperationalError: could not connect to <host>:<n> (attempt <n>)".into(),
                ),
                related: Vec::new(),
                note: format!("database unreachable: {} pipelines failed", fails.len()),
            }
        }
        Injected::Streak { .. } | Injected::Starve { .. } | Injected::Surge { .. } => {
            return None;
        }
    })
}

fn pipeline_truth(p: &Pipe, upstream: Option<String>, runs: &[Realized]) -> PipelineTruth {
    let mut t = PipelineTruth {
        pipeline_id: p.id.clone(),
        team: p.team_or_unowned(),
        priority: p.effective_priority().as_str().into(),
        schedule: p.cadence.declared().map(str::to_string),
        upstream: upstream.into_iter().collect(),
        cadence_ms: p.period,
        median_duration_ms: p.median as i64,
        p95_duration_ms: 0,
        first_run: None,
        runs_without_started: runs
            .iter()
            .filter(|r| r.exists && r.started_dropped)
            .map(|r| r.run_id.clone())
            .collect(),
        runs_total: 0,
        runs_success: 0,
        runs_failed: 0,
        runs_cancelled: 0,
        runs_skipped: 0,
        runs_in_progress: 0,
    };
    for r in runs.iter().filter(|r| r.exists) {
        t.runs_total += 1;
        match r.outcome {
            Outcome::Success => t.runs_success += 1,
            Outcome::Failed => t.runs_failed += 1,
            Outcome::Cancelled => t.runs_cancelled += 1,
            Outcome::Skipped => t.runs_skipped += 1,
            Outcome::Running => t.runs_in_progress += 1,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_start_is_october_first() {
        assert_eq!(
            crate::time::format_ms(GenerateOptions::DEFAULT_START),
            "2026-10-01T00:00:00.000Z"
        );
    }

    #[test]
    fn severity_policy_table() {
        use AlertKind::*;
        use Priority::*;
        let table = [
            (PipelineFailed, Medium, Severity::High),
            (PipelineFailed, Critical, Severity::Critical),
            (PipelineFailed, Low, Severity::Medium),
            (ConsecutiveFailures, Critical, Severity::Critical),
            (ConsecutiveFailures, Low, Severity::High),
            (DurationAnomaly, Low, Severity::Low),
            (DurationAnomaly, Critical, Severity::Medium),
            (VolumeAnomaly, High, Severity::Medium),
            (SystemicFailure, Low, Severity::Critical),
        ];
        for (kind, priority, want) in table {
            assert_eq!(expected_severity(kind, priority), want, "{kind} {priority}");
        }
    }

    #[test]
    fn warmup_is_a_week_or_half_of_short_data() {
        assert_eq!(warmup(30), 7 * DAY);
        assert_eq!(warmup(14), 7 * DAY);
        assert_eq!(warmup(6), 3 * DAY);
    }

    #[test]
    fn refuses_unusable_options() {
        let ok = GenerateOptions {
            pipelines: 10,
            days: 5,
            seed: 1,
            start: GenerateOptions::DEFAULT_START,
        };
        assert!(
            generate(&GenerateOptions {
                pipelines: 2,
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            generate(&GenerateOptions {
                days: 1,
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            generate(&GenerateOptions {
                start: ok.start + 1,
                ..ok.clone()
            })
            .is_err()
        );
        assert!(generate(&ok).is_ok());
    }
}
