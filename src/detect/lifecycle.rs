//! The one episode lifecycle of every anomaly kind (duration, degradation,
//! volume, failure rate), with hysteresis: an episode opens at the first
//! anomalous run, later anomalous runs are occurrences of it, and it closes only
//! after a full window of runs back near the baseline *and* a cool-down since
//! its last anomalous run. An anomaly inside the window or the cool-down is the
//! same alert (occurrences += 1), so a flaky period or a wobbling slowdown is
//! one alert, not one per relapse. While an episode is open the detector keeps
//! its baseline frozen (`is_open`).
//!
//! The close time is `max(end of the run completing the quiet window, last
//! anomalous run + cool-down)`: a pure function of the runs, so `finish` (as of
//! `now`) and a later `observe` (after more runs) resolve the episode at the
//! same instant, and evaluating in steps gives the same alerts as one pass.

use serde::{Deserialize, Serialize};

use super::episode::Episode;
use crate::model::Millis;

/// When an open episode closes.
#[derive(Debug, Clone, Copy)]
pub struct Hysteresis {
    /// Runs back near the baseline, in a row, that close an episode.
    pub quiet_runs: usize,
    /// Time after the last anomalous run before an episode may close.
    pub cooldown: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    open: Option<Episode>,
    /// End of the last anomalous run.
    last_bad: Millis,
    /// Normal runs since the last anomalous run, and when the window filled.
    quiet: usize,
    quiet_done: Option<Millis>,
}

impl Lifecycle {
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Runs back near the baseline since the last anomalous one (while open).
    pub fn quiet(&self) -> usize {
        self.quiet
    }

    pub fn episode_mut(&mut self) -> Option<&mut Episode> {
        self.open.as_mut()
    }

    fn close_at(&self, h: Hysteresis) -> Option<Millis> {
        self.open.as_ref()?;
        let done = self.quiet_done?;
        Some(done.max(self.last_bad.saturating_add(h.cooldown)))
    }

    /// Before a run ending at `at` is judged: emits the episode, resolved, if it
    /// closed before `at`. Returns true when it did.
    pub fn settle(&mut self, at: Millis, h: Hysteresis, out: &mut Vec<Episode>) -> bool {
        match self.close_at(h) {
            Some(c) if c <= at => {
                let ep = self.open.take().expect("open").resolve(c);
                out.push(ep);
                self.quiet = 0;
                self.quiet_done = None;
                true
            }
            _ => false,
        }
    }

    /// An anomalous run ending at `at`: a new episode (`open_with`) or one more
    /// occurrence of the open one.
    pub fn anomalous(&mut self, at: Millis, open_with: impl FnOnce() -> Episode) {
        match &mut self.open {
            Some(ep) => ep.seen(at),
            None => self.open = Some(open_with()),
        }
        self.last_bad = at;
        self.quiet = 0;
        self.quiet_done = None;
    }

    /// A run back near the baseline, ending at `at`.
    pub fn normal(&mut self, at: Millis, h: Hysteresis) {
        if self.open.is_none() {
            return;
        }
        self.quiet += 1;
        if self.quiet >= h.quiet_runs && self.quiet_done.is_none() {
            self.quiet_done = Some(at.max(self.last_bad));
        }
    }

    /// Ends the open episode now (at `at`), whatever the window says.
    pub fn close(&mut self, at: Millis, out: &mut Vec<Episode>) {
        if let Some(ep) = self.open.take() {
            out.push(ep.resolve(at));
        }
        self.quiet = 0;
        self.quiet_done = None;
    }

    /// The series ends at `now`: the episode, resolved if it closed by then.
    pub fn finish(&self, now: Millis, h: Hysteresis, out: &mut Vec<Episode>) {
        if let Some(ep) = &self.open {
            match self.close_at(h) {
                Some(c) if c <= now => out.push(ep.clone().resolve(c)),
                _ => out.push(ep.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertKind;

    const H: Hysteresis = Hysteresis {
        quiet_runs: 2,
        cooldown: 100,
    };

    fn ep(at: Millis) -> Episode {
        Episode::open(
            AlertKind::VolumeAnomaly,
            "p",
            at,
            None,
            String::new(),
            serde_json::Value::Null,
        )
    }

    #[test]
    fn relapse_inside_window_or_cooldown_is_the_same_alert() {
        let mut l = Lifecycle::default();
        let mut out = Vec::new();
        l.anomalous(10, || ep(10));
        l.normal(20, H);
        // Relapse after one quiet run (window not full): same episode.
        assert!(!l.settle(30, H, &mut out));
        l.anomalous(30, || ep(30));
        l.normal(40, H);
        l.normal(50, H);
        // Window full at 50, but the cool-down runs to 130: a relapse at 120 merges.
        assert!(!l.settle(120, H, &mut out));
        l.anomalous(120, || ep(120));
        l.normal(130, H);
        l.normal(140, H);
        let mut fin = Vec::new();
        l.finish(219, H, &mut fin);
        assert_eq!(fin[0].resolved_at, None);
        fin.clear();
        l.finish(500, H, &mut fin);
        assert_eq!(fin[0].resolved_at, Some(220));
        // A later run resolves it at the same instant as `finish` did.
        assert!(l.settle(600, H, &mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resolved_at, Some(220));
        assert_eq!(out[0].started_at, 10);
        assert_eq!(out[0].occurrences, 3);
        // After closing, an anomaly is a new episode.
        l.anomalous(700, || ep(700));
        assert!(l.is_open());
    }
}
