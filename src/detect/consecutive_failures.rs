//! `consecutive_failures`: a streak of final failures reaching the configured length.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::History;
use super::signature::signature;
use crate::model::{AlertKind, Millis, Outcome, Run};
use crate::time::format_ms;
/// Fires at the Nth consecutive final failure; cancelled and skipped runs neither
/// break nor extend a streak; resolves at the next success.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsecutiveFailures {
    streak: usize,
    first_failure_at: Option<Millis>,
    open: Option<Episode>,
}

impl Detector for ConsecutiveFailures {
    fn observe(
        &mut self,
        ctx: &Ctx,
        _h: &History,
        run: &Run,
        _n: &mut Notes,
        out: &mut Vec<Episode>,
    ) {
        let at = end_of(run);
        match run.outcome {
            Outcome::Failed => {
                self.streak += 1;
                if self.streak == 1 {
                    self.first_failure_at = Some(at);
                }
                if let Some(ep) = &mut self.open {
                    ep.seen(at);
                    ep.details["streak"] = json!(self.streak);
                    ep.summary =
                        format!("{} failed {} runs in a row", ctx.pipeline_id, self.streak);
                } else if self.streak >= ctx.cfg.failure_streak {
                    let sig = signature(run.error_type.as_deref(), run.error_message.as_deref());
                    self.open = Some(Episode::open(
                        AlertKind::ConsecutiveFailures,
                        ctx.pipeline_id,
                        at,
                        Some(&run.run_id),
                        format!("{} failed {} runs in a row", ctx.pipeline_id, self.streak),
                        json!({
                            "streak": self.streak,
                            "threshold": ctx.cfg.failure_streak,
                            "first_failure_at": self.first_failure_at.map(format_ms),
                            "signature": sig,
                            "error_type": run.error_type,
                            "error_message": run.error_message,
                            "task_id": run.task_id,
                        }),
                    ));
                }
            }
            Outcome::Success => {
                self.streak = 0;
                self.first_failure_at = None;
                if let Some(ep) = self.open.take() {
                    let mut ep = ep.resolve(at);
                    ep.details["resolved_by_run_id"] = json!(run.run_id);
                    out.push(ep);
                }
            }
            _ => {}
        }
    }

    fn finish(&self, _c: &Ctx, _h: &History, _now: Millis, out: &mut Vec<Episode>) {
        out.extend(self.open.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::*;

    #[test]
    fn consecutive_failures_fire_at_the_nth_and_ignore_cancelled() {
        let cases: [(&str, usize, Option<usize>); 5] = [
            ("SFFF S", 3, Some(3)),
            ("SFFCKF S", 3, Some(5)),
            ("SFFSFFS", 3, None),
            ("SFFFS", 4, None),
            ("SFFFFS", 4, Some(4)),
        ];
        for (pattern, n, fires_at) in cases {
            let cfg = DetectConfig {
                failure_streak: n,
                ..DetectConfig::default()
            };
            let runs = hourly(pattern);
            let eps = of(
                &detect(&runs, T0 + 100 * DAY, None, &cfg),
                AlertKind::ConsecutiveFailures,
            );
            match fires_at {
                Some(i) => {
                    assert_eq!(eps.len(), 1, "{pattern}");
                    assert_eq!(eps[0].started_at, end(&runs[i]), "{pattern}");
                    assert_eq!(
                        eps[0].resolved_at,
                        Some(end(runs.last().unwrap())),
                        "{pattern}"
                    );
                }
                None => assert!(eps.is_empty(), "{pattern}"),
            }
        }
    }
}
