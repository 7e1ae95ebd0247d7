//! `duration_anomaly`: a single successful run far slower than expected.
//!
//! Expected is the seasonal model of log duration (`expected`), and, where the
//! pipeline's history shows durations moving with volume, the run's volume
//! residual times the fitted slope: a run that processed twice the records may
//! take longer. The run is anomalous when its residual passes the threshold
//! that the false-alarm budget sets, and it is also materially slower
//! (`duration_min_ratio`, `duration_min_excess`). Runs of an open episode, of a
//! stuck run, or inside a degradation never enter the baseline.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::{WeeklyEcho, anomaly_hysteresis, end_of, judged_duration};
use super::episode::{Ctx, Detector, Episode, Notes};
use super::expected::{Record, Seasonal, Slope, ordinary_volume, record_window};
use super::history::{History, log_duration, log_records};
use super::lifecycle::Lifecycle;
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::format_duration;

/// Standardised residuals at or below this are never anomalous (the budget's
/// threshold is always higher), so the t quantile is computed only for suspects.
const SUSPECT_Z: f64 = 2.0;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DurationAnomaly {
    dur: Seasonal,
    vol: Seasonal,
    slope: Slope,
    /// Runs of the last week that passed the threshold: (start, log duration).
    #[serde(default)]
    slow: WeeklyEcho,
    /// The largest residuals of the absorbed runs of the record window.
    #[serde(default)]
    record: Record,
    life: Lifecycle,
}

impl Detector for DurationAnomaly {
    fn observe(
        &mut self,
        ctx: &Ctx,
        _hist: &History,
        run: &Run,
        notes: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        if run.outcome != Outcome::Success {
            return;
        }
        let Some(d) = judged_duration(run) else {
            return;
        };
        let cfg = ctx.cfg;
        let hyst = anomaly_hysteresis(cfg);
        let at = end_of(run);
        self.life.settle(at, hyst, out);
        // A stuck run that ended, or a run inside a degradation: someone else's
        // condition, and no part of the baseline.
        if notes.stuck || notes.degraded {
            if let Some(since) = notes.degraded_since {
                // The degradation's first runs passed as ordinary while its
                // evidence gathered: no record of what the pipeline does.
                self.record.forget_since(since);
            }
            return;
        }
        if let Some(ep) = self.life.episode_mut()
            && at - ep.started_at > cfg.baseline_half_life.ms()
        {
            // Open longer than the baseline remembers: the level has moved, and
            // it is learned afresh.
            self.life.close(at, out);
            *self = DurationAnomaly::default();
        }
        let t = run.start_at;
        let x = log_duration(d);
        let xv = run.records_processed.map(log_records);
        let Some(e) = self.dur.expect(cfg, t) else {
            self.absorb(ctx, t, x, xv, None);
            return;
        };
        // Duration noise has long slow tails: a spread from a few weeks of
        // runs is known only roughly, and the reference says so.
        let e = self.dur.with_scale_uncertainty(cfg, e);
        let ev = xv.and_then(|v| self.vol.expect(cfg, t).map(|ev| (v, ev)));
        let adjust = ev.map_or(0.0, |(v, ev)| self.slope.adjustment(v, &ev));
        let mean = e.mean + adjust;
        let z = (x - mean) / e.sd;
        let expected_ms = (mean.exp() * 1000.0).round() as i64;
        let mut verdict = None;
        if self.dur.runs() as usize >= cfg.anomaly_min_history && z > SUSPECT_Z {
            let p = self.dur.tail_probability(cfg.false_alarms_per_month);
            // Beyond the budget's threshold, or far beyond anything the
            // pipeline has shown lately while its volume was ordinary (a run
            // that processed three times its usual records may take three
            // times as long on a pipeline whose slope is not learned yet).
            let ordinary = ev.is_none_or(|(v, ev)| ordinary_volume(v, &ev));
            let record = if ordinary {
                self.record.max_within(t, record_window(cfg))
            } else {
                None
            };
            let refilled = self.record.refilled(t, record_window(cfg));
            let threshold = self.dur.record_threshold(cfg, &e, p, record, refilled);
            if z > threshold
                && d as f64 >= expected_ms as f64 * cfg.duration_min_ratio
                && d - expected_ms >= cfg.duration_min_excess.ms()
            {
                verdict = Some(json!({
                    "observed_ms": d,
                    "expected_ms": expected_ms,
                    "upper_ms": ((mean + threshold * e.sd).exp() * 1000.0).round() as i64,
                    "ratio": d as f64 / expected_ms.max(1) as f64,
                    "score": z,
                    "threshold": threshold,
                    "tail_probability": p,
                    "record_ratio": record.map(f64::exp),
                    "volume_adjusted": adjust != 0.0,
                    "baseline_runs": self.dur.runs(),
                }));
            }
        }
        if verdict.is_some() {
            // As slow as a run at the same hour a week ago that was slow too:
            // the weekly rhythm (a Monday-noon compaction), which the seasonal
            // model learns from this run on, not an outlier to page about.
            if self.slow.repeats(t, x) {
                verdict = None;
            }
        }
        notes.outlier = verdict.is_some();
        match verdict {
            Some(details) => self.life.anomalous(at, || {
                Episode::open(
                    AlertKind::DurationAnomaly,
                    ctx.pipeline_id,
                    at,
                    Some(&run.run_id),
                    format!(
                        "{} run took {} (expected about {})",
                        ctx.pipeline_id,
                        format_duration(d),
                        format_duration(expected_ms)
                    ),
                    details,
                )
            }),
            None => {
                self.life.normal(at, hyst);
                if !self.life.is_open() {
                    self.absorb(ctx, t, x, xv, Some((x - mean, e.sd, ev, e.mean)));
                }
            }
        }
    }

    fn finish(&self, ctx: &Ctx, _h: &History, now: Millis, out: &mut Vec<Episode>) {
        self.life.finish(now, anomaly_hysteresis(ctx.cfg), out);
    }
}

type Judged = (f64, f64, Option<(f64, super::expected::Expectation)>, f64);

impl DurationAnomaly {
    /// Takes a normal run into the baseline: its duration (with the residual it
    /// was judged on), its volume, and the duration-on-volume slope.
    fn absorb(&mut self, ctx: &Ctx, t: Millis, x: f64, xv: Option<f64>, judged: Option<Judged>) {
        let cfg = ctx.cfg;
        if let Some((r, ..)) = judged {
            self.record.push(t, r);
        }
        if let Some((_, sd, Some((v, ev)), mean)) = judged {
            self.slope.absorb(
                t,
                cfg.baseline_half_life.ms(),
                v - ev.mean,
                ev.sd,
                x - mean,
                sd,
            );
        }
        self.dur.absorb(cfg, t, x, judged.map(|j| j.0));
        if let Some(v) = xv {
            self.vol.absorb(cfg, t, v, None);
        }
    }

    /// The seasonal models, for the checkpoint's binary part.
    pub fn models(&self) -> [&Seasonal; 2] {
        [&self.dur, &self.vol]
    }

    pub fn models_mut(&mut self) -> [&mut Seasonal; 2] {
        [&mut self.dur, &mut self.vol]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn duration_anomaly_on_outliers_only() {
        let cfg = DetectConfig::default();
        // 5-minute job; one run takes 14 min (below the stuck threshold of 3 × p95).
        let mut d = noisy(40, 300_000.0, 0);
        d.push(840_000);
        d.extend(noisy(5, 300_000.0, 50));
        let runs = with_durations(&d, 2 * HOUR);
        let eps = detect(&runs, T0 + 100 * DAY, None, &cfg);
        let da = of(&eps, AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{eps:?}");
        assert_eq!(da[0].started_at, end(&runs[40]));
        // Closed after two normal runs and the cool-down since the slow run.
        assert_eq!(
            da[0].resolved_at,
            Some(end(&runs[42]).max(end(&runs[40]) + cfg.anomaly_cooldown.ms()))
        );
        assert!(of(&eps, AlertKind::StuckRun).is_empty());
        // A 2-second job taking 5 seconds is not news (absolute floor).
        let mut d = noisy(40, 2_000.0, 0);
        d.push(5_000);
        assert!(
            of(
                &detect(&with_durations(&d, HOUR), T0 + DAY, None, &cfg),
                AlertKind::DurationAnomaly
            )
            .is_empty()
        );
    }

    #[test]
    fn young_daily_job_is_judged_after_a_few_runs() {
        let cfg = DetectConfig::default();
        // Behaviour 7: a daily job, ±5 %, slow (4×) on its 5th day.
        let mut d = noisy(4, 600_000.0, 0);
        d.push(2_400_000);
        d.extend(noisy(3, 600_000.0, 9));
        let runs = with_durations(&d, DAY);
        let da = of(
            &detect(&runs, end(&runs[7]), None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert_eq!(da.len(), 1, "{da:?}");
        assert_eq!(da[0].started_at, end(&runs[4]));
        // With two runs of history it is too early to tell: quiet.
        let mut d = noisy(2, 600_000.0, 0);
        d.push(1_500_000);
        assert!(detect(&with_durations(&d, DAY), T0 + 5 * DAY, None, &cfg).is_empty());
    }

    #[test]
    fn a_slow_run_every_monday_noon_is_alerted_once_not_weekly() {
        let cfg = DetectConfig::default();
        // Behaviour 2: a 12-hourly job (±10 %) whose Monday-noon run takes 6×
        // from its third week on (a weekly compaction that began). The first
        // such run is news; the same slow run a week later is the rhythm.
        let first_monday_noon = (0..60)
            .find(|&i| {
                let t = T0 + i as i64 * 12 * HOUR;
                crate::detect::history::slots(t) == (12, 1)
            })
            .unwrap();
        let d: Vec<i64> = (0..60)
            .map(|i| {
                let slow = i >= first_monday_noon + 28 && (i - first_monday_noon) % 14 == 0;
                (300_000.0 * if slow { 6.0 } else { 1.0 } * (1.0 + 0.1 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, 12 * HOUR);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert_eq!(
            eps[0].run_id.as_deref(),
            Some(runs[first_monday_noon + 28].run_id.as_str())
        );
        // A one-off 6× run with no slow sibling a week before is alerted.
        let mut d: Vec<i64> = noisy(60, 300_000.0, 0);
        d[45] = 1_800_000;
        let runs = with_durations(&d, 12 * HOUR);
        let eps = of(
            &detect(&runs, end(runs.last().unwrap()), None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert_eq!(eps.len(), 1, "{eps:?}");
    }

    #[test]
    fn duration_anomaly_respects_weekly_seasonality() {
        let cfg = DetectConfig::default();
        // Daily job, Mondays always 3× slower: no alert on Mondays after the first weeks.
        let d: Vec<i64> = (0..120)
            .map(|i| {
                let base = if i % 7 == 0 { 900_000.0 } else { 300_000.0 };
                (base * (1.0 + 0.05 * noise(i))) as i64
            })
            .collect();
        let runs = with_durations(&d, DAY);
        let eps = detect(&runs, end(&runs[119]), None, &cfg);
        let late: Vec<_> = of(&eps, AlertKind::DurationAnomaly)
            .into_iter()
            .filter(|e| e.started_at > T0 + 35 * DAY)
            .collect();
        assert!(late.is_empty(), "{late:?}");
    }

    /// Behaviour 3: durations proportional to volume.
    fn tracking(n: usize, slow: Option<usize>) -> Vec<Run> {
        (0..n)
            .map(|i| {
                // Volume varies 1×-4× run to run; duration follows it.
                let scale = 1.0 + 1.5 * (1.0 + hnoise(i, 7));
                let mut d = 200_000.0 * scale * (1.0 + 0.05 * noise(i));
                if slow == Some(i) {
                    d *= 3.0;
                }
                run(
                    i,
                    T0 + i as i64 * HOUR,
                    Outcome::Success,
                    d as i64,
                    Some((10_000.0 * scale) as i64),
                )
            })
            .collect()
    }

    #[test]
    fn durations_that_follow_volume_are_judged_given_volume() {
        let cfg = DetectConfig::default();
        // Heavy runs take long: not an anomaly.
        let runs = tracking(400, None);
        let da = of(
            &detect(&runs, end(&runs[399]), None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert!(da.is_empty(), "{da:?}");
        // A light run that takes three times what its volume implies is one.
        let mut runs = tracking(400, None);
        let i = (300..400)
            .find(|&i| runs[i].records_processed.unwrap() < 15_000)
            .unwrap();
        let runs2 = tracking(400, Some(i));
        runs.clone_from(&runs2);
        let da = of(
            &detect(&runs, end(&runs[399]), None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert_eq!(da.len(), 1, "{da:?}");
        assert_eq!(da[0].started_at, end(&runs[i]));
        assert_eq!(da[0].details["volume_adjusted"], json!(true));
    }

    #[test]
    fn a_volume_far_below_its_range_does_not_make_a_usual_run_slow() {
        let cfg = DetectConfig::default();
        // Behaviour 3, at its edge: an hourly job whose durations follow its
        // volume a little (duration ∝ records^0.3, ±5 % of its own), then a
        // day of a tenth of its records (a light weekend, a collapse) while
        // its runs keep their usual length. The volume is news; the runs are
        // not slow. Read through the slope as learned, a tenth of the records
        // would have expected them to take half as long.
        let runs: Vec<Run> = (0..400)
            .map(|i| {
                let scale = (0.2 * hnoise(i, 7)).exp();
                let light = (360..384).contains(&i);
                let records = 10_000.0 * scale * if light { 0.1 } else { 1.0 };
                let d = 200_000.0 * scale.powf(0.3) * (1.0 + 0.05 * noise(i));
                run(
                    i,
                    T0 + i as i64 * HOUR,
                    Outcome::Success,
                    d as i64,
                    Some(records as i64),
                )
            })
            .collect();
        let eps = detect(&runs, end(&runs[399]), None, &cfg);
        assert!(!of(&eps, AlertKind::VolumeAnomaly).is_empty(), "{eps:?}");
        assert!(of(&eps, AlertKind::DurationAnomaly).is_empty(), "{eps:?}");
        assert!(
            of(&eps, AlertKind::PerformanceDegradation).is_empty(),
            "{eps:?}"
        );
    }

    #[test]
    fn a_young_job_that_processed_far_more_records_is_not_slow_for_taking_longer() {
        let cfg = DetectConfig::default();
        // Behaviours 3 and 7: a six-hourly job two days old (±5 % in duration
        // and volume) whose ninth run processes ten times its records and
        // takes four times as long. No slope is learned yet, so the records
        // beyond the ordinary range explain the time: one volume alert, no
        // duration alert.
        let runs: Vec<Run> = (0..10)
            .map(|i| {
                let heavy = i == 8;
                let records =
                    1_000.0 * (1.0 + 0.05 * noise(i + 3)) * if heavy { 10.0 } else { 1.0 };
                let d = 300_000.0 * (1.0 + 0.05 * noise(i)) * if heavy { 4.0 } else { 1.0 };
                run(
                    i,
                    T0 + i as i64 * 6 * HOUR,
                    Outcome::Success,
                    d as i64,
                    Some(records as i64),
                )
            })
            .collect();
        let eps = detect(&runs, end(&runs[9]), None, &cfg);
        assert_eq!(of(&eps, AlertKind::VolumeAnomaly).len(), 1, "{eps:?}");
        assert!(of(&eps, AlertKind::DurationAnomaly).is_empty(), "{eps:?}");
        // The same run at its usual volume is slow.
        let mut usual = runs.clone();
        usual[8].records_processed = Some(1_000);
        let eps = detect(&usual, end(&usual[9]), None, &cfg);
        let da = of(&eps, AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{eps:?}");
        assert_eq!(da[0].run_id.as_deref(), Some(usual[8].run_id.as_str()));
    }

    #[test]
    fn relapses_merge_and_episode_runs_stay_out_of_the_baseline() {
        let cfg = DetectConfig::default();
        // Behaviours 1 and 8: hourly job; slow runs at 60 and 62 (inside the
        // cool-down) are one alert; then a slow run 30 h later is a new one, judged
        // against a baseline the earlier slow runs did not enter.
        let mut d = noisy(100, 300_000.0, 0);
        for i in [60, 62, 92] {
            d[i] = 1_500_000;
        }
        let runs = with_durations(&d, HOUR);
        let da = of(
            &detect(&runs, end(&runs[99]), None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert_eq!(da.len(), 2, "{da:?}");
        assert_eq!(da[0].occurrences, 2);
        assert_eq!(da[1].started_at, end(&runs[92]));
        assert_eq!(
            da[1].details["expected_ms"].as_i64().map(|e| e < 330_000),
            Some(true)
        );
    }

    #[test]
    fn a_retried_run_is_judged_on_its_final_attempt() {
        let cfg = DetectConfig::default();
        // Behaviour 5: a 5-minute hourly job; run 60 failed once, backed off and
        // succeeded: 20 minutes of wall time, a normal 5-minute final attempt.
        let mut runs = with_durations(&noisy(80, 300_000.0, 0), HOUR);
        let r = &mut runs[60];
        r.attempts = 2;
        r.retries = 1;
        r.duration_ms = Some(1_200_000);
        r.ended_at = Some(r.start_at + 1_200_000);
        r.final_attempt_ms = Some(300_000);
        let now = end(&runs[79]);
        assert!(of(&detect(&runs, now, None, &cfg), AlertKind::DurationAnomaly).is_empty());
        // The same run with a slow final attempt is an anomaly.
        runs[60].final_attempt_ms = Some(1_200_000);
        let da = of(&detect(&runs, now, None, &cfg), AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{da:?}");
        assert_eq!(da[0].started_at, end(&runs[60]));
    }

    /// A 6-hourly job of 2 minutes whose runs spread over ±0.8 on the log
    /// scale (0.45× to 2.2×, no tail beyond), with a spike of `spike`× every
    /// tenth run when given, then one run of `slow`× at run 40.
    fn loose_six_hourly(spike: Option<f64>, slow: f64) -> Vec<Run> {
        let durs: Vec<i64> = (0..44)
            .map(|i| {
                let f = match spike {
                    _ if i == 40 => slow,
                    Some(s) if i % 10 == 5 => s,
                    _ => (0.8 * hnoise(i, 3)).exp(),
                };
                (120_000.0 * f) as i64
            })
            .collect();
        with_durations(&durs, 6 * HOUR)
    }

    #[test]
    fn a_run_far_beyond_anything_its_history_shows_is_found() {
        // Behaviour 9: forty runs of a loose job never passed 2.2× their
        // expectation; one of 7× is news, though a heavy-tailed reference
        // learned from forty runs would allow it (the record test off: no alert).
        let cfg = DetectConfig::default();
        let runs = loose_six_hourly(None, 7.0);
        let now = end(&runs[43]);
        let da = of(&detect(&runs, now, None, &cfg), AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{da:?}");
        assert_eq!(da[0].started_at, end(&runs[40]));
        let record = da[0].details["record_ratio"].as_f64().expect("record");
        assert!((2.0..3.5).contains(&record), "record ratio {record}");
        let off = DetectConfig {
            duration_record_factor: 1e6,
            ..DetectConfig::default()
        };
        assert!(of(&detect(&runs, now, None, &off), AlertKind::DurationAnomaly).is_empty());
        // Too early: with fewer runs than `duration_record_min_runs` the
        // record says too little, and the budget's threshold alone judges.
        let few = DetectConfig {
            duration_record_min_runs: 41,
            ..DetectConfig::default()
        };
        assert!(of(&detect(&runs, now, None, &few), AlertKind::DurationAnomaly).is_empty());
    }

    #[test]
    fn a_degradations_first_runs_do_not_hide_a_later_outlier() {
        // Behaviour 8: the loose 6-hourly job ran 4× as long for five days
        // from its 16th day (a performance_degradation), then recovered; on
        // its 30th day one run takes 7×. The degradation's first runs, judged
        // ordinary while its evidence gathered, are no record of what the job
        // does: the outlier is found.
        let cfg = DetectConfig::default();
        let durs: Vec<i64> = (0..120)
            .map(|i| {
                let step = if (60..80).contains(&i) { 4.0 } else { 1.0 };
                let f = if i == 116 {
                    7.0
                } else {
                    (0.8 * hnoise(i, 3)).exp()
                };
                (120_000.0 * step * f) as i64
            })
            .collect();
        let runs = with_durations(&durs, 6 * HOUR);
        let eps = detect(&runs, end(&runs[119]), None, &cfg);
        let deg = of(&eps, AlertKind::PerformanceDegradation);
        assert_eq!(deg.len(), 1, "{eps:?}");
        assert!(
            deg[0].resolved_at.is_some_and(|r| r < end(&runs[100])),
            "{deg:?}"
        );
        let da: Vec<_> = of(&eps, AlertKind::DurationAnomaly)
            .into_iter()
            .filter(|e| e.started_at > end(&runs[80]))
            .collect();
        assert_eq!(da.len(), 1, "{eps:?}");
        assert_eq!(da[0].started_at, end(&runs[116]));
    }

    #[test]
    fn the_record_allows_for_the_spikes_a_pipeline_has_shown() {
        // The same job with a 3.2× spike every ten runs: a 5× run is within
        // twice its own record, and raises nothing; a 12× run is beyond it.
        let cfg = DetectConfig::default();
        let quiet = loose_six_hourly(Some(3.2), 5.0);
        let now = end(&quiet[43]);
        assert!(of(&detect(&quiet, now, None, &cfg), AlertKind::DurationAnomaly).is_empty());
        let slow = loose_six_hourly(Some(3.2), 12.0);
        let da = of(&detect(&slow, now, None, &cfg), AlertKind::DurationAnomaly);
        assert_eq!(da.len(), 1, "{da:?}");
        assert_eq!(da[0].started_at, end(&slow[40]));
    }

    #[test]
    fn a_run_with_unusual_volume_is_not_judged_by_the_record() {
        // Behaviour 3 on a young 6-hourly job: its first six days processed
        // 16k records a run; from run 24 it processes four times as many and
        // takes 3.5 times as long. The duration-on-volume slope is not learned yet, so
        // the record test, which knows nothing of volume, stays out of it;
        // without the volumes the same durations are beyond the record.
        let cfg = DetectConfig::default();
        let series = |with_volume: bool| -> Vec<Run> {
            (0..60)
                .map(|i| {
                    let k: f64 = if i >= 24 { 4.0 } else { 1.0 };
                    let d = 150_000.0 * k.powf(0.9) * (0.4 * hnoise(i, 5)).exp();
                    let rec = 16_000.0 * k * (0.05 * hnoise(i, 6)).exp();
                    let start = T0 + i as i64 * 6 * HOUR;
                    run(
                        i,
                        start,
                        Outcome::Success,
                        d as i64,
                        with_volume.then_some(rec as i64),
                    )
                })
                .collect()
        };
        let runs = series(true);
        let now = end(&runs[59]);
        let da = of(&detect(&runs, now, None, &cfg), AlertKind::DurationAnomaly);
        assert!(da.is_empty(), "{da:?}");
        let blind = of(
            &detect(&series(false), now, None, &cfg),
            AlertKind::DurationAnomaly,
        );
        assert_eq!(blind.len(), 1, "{blind:?}");
        assert!(blind[0].details["record_ratio"].as_f64().is_some());
    }
}
