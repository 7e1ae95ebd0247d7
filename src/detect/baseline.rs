//! Seasonal robust baselines shared by the single-run anomaly kinds (duration and
//! volume), and the lifecycle of a single-run anomaly episode.

use super::common::*;
use super::episode::{Ctx, Episode};
use super::history::{History, Past};
use super::stats::robust_location;
use crate::model::Millis;
/// One baseline a value is judged against.
pub(super) struct Baseline {
    pub(super) name: &'static str,
    pub(super) median: f64,
    pub(super) sd: f64,
}

/// The baselines that apply to a run starting at `t`: the recent successful runs,
/// and the same hour of day and the same day of week where those slots hold
/// enough runs. A value is anomalous only if it is anomalous against all of
/// them: a Monday run that is always slow is normal against past Mondays.
///
/// `anomalous` says whether a value is anomalous against one baseline: the list
/// stops at the first baseline against which it is not (the verdict is already
/// "normal"), so the seasonal slots are only summarised for the rare suspect run.
pub(super) fn baselines(
    ctx: &Ctx,
    hist: &History,
    t: Millis,
    volume: bool,
    anomalous: impl Fn(&Baseline) -> bool,
) -> Vec<Baseline> {
    let cfg = ctx.cfg;
    let f: fn(&Past) -> Option<f64> = if volume {
        Past::log_records
    } else {
        Past::log_duration
    };
    let recent = hist.recent_success(cfg.anomaly_baseline_runs, f);
    if recent.len() < cfg.anomaly_min_history {
        return Vec::new();
    }
    let mut out = Vec::new();
    let Some((m, sd)) = robust_location(&recent, MIN_LOG_SD) else {
        return out;
    };
    out.push(Baseline {
        name: "recent",
        median: m,
        sd,
    });
    if !anomalous(&out[0]) {
        return out;
    }
    for name in ["same_hour", "same_weekday"] {
        let vals = if name == "same_hour" {
            hist.same_hour(t, volume)
        } else {
            hist.same_weekday(t, volume)
        };
        if vals.len() >= cfg.seasonal_min_runs
            && let Some((m, sd)) = robust_location(&vals, MIN_LOG_SD)
        {
            let b = Baseline {
                name,
                median: m,
                sd,
            };
            let stop = !anomalous(&b);
            out.push(b);
            if stop {
                return out;
            }
        }
    }
    out
}

/// The lifecycle shared by the single-run anomaly kinds (duration, volume): the
/// first anomalous run opens an episode (`open` builds it from the evidence), later
/// anomalous runs are occurrences, and the first run judged normal resolves it.
pub(super) fn single_run_episode(
    open: &mut Option<Episode>,
    verdict: Option<serde_json::Value>,
    at: Millis,
    out: &mut Vec<Episode>,
    open_with: impl FnOnce(serde_json::Value) -> Episode,
) {
    match (verdict, open.as_mut()) {
        (Some(_), Some(ep)) => ep.seen(at),
        (Some(details), None) => *open = Some(open_with(details)),
        (None, Some(_)) => out.extend(open.take().map(|ep| ep.resolve(at))),
        (None, None) => {}
    }
}
