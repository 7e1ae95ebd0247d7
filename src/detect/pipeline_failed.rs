//! `pipeline_failed`: one alert per failure episode of a pipeline.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::*;
use super::episode::{Ctx, Detector, Episode, Notes};
use super::history::History;
use super::signature::signature;
use crate::model::{AlertKind, Millis, Outcome, Run};
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn error_text(run: &Run) -> String {
    match (&run.error_type, &run.error_message) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "no error message".to_string(),
    }
}

/// One episode per failure episode: opens at the first final failure, counts the
/// failures that follow, resolves at the next success.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineFailed {
    open: Option<Episode>,
}

impl Detector for PipelineFailed {
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
                let sig = signature(run.error_type.as_deref(), run.error_message.as_deref());
                if let Some(ep) = &mut self.open {
                    ep.seen(at);
                    ep.details["failed_runs"] = json!(ep.occurrences);
                    ep.details["last_run_id"] = json!(run.run_id);
                    ep.details["last_error"] = json!(error_text(run));
                    if let Some(s) = sig
                        && let Some(list) = ep.details["signatures"].as_array_mut()
                        && !list.iter().any(|v| v == &json!(s))
                        && list.len() < 5
                    {
                        list.push(json!(s));
                    }
                } else {
                    let summary = format!(
                        "{} failed: {}",
                        ctx.pipeline_id,
                        clip(&error_text(run), 140)
                    );
                    self.open = Some(Episode::open(
                        AlertKind::PipelineFailed,
                        ctx.pipeline_id,
                        at,
                        Some(&run.run_id),
                        summary,
                        json!({
                            "signature": sig,
                            "signatures": sig.iter().collect::<Vec<_>>(),
                            "error_type": run.error_type,
                            "error_message": run.error_message,
                            "task_id": run.task_id,
                            "attempts": run.attempts,
                            "failed_runs": 1,
                            "last_run_id": run.run_id,
                            "last_error": error_text(run),
                        }),
                    ));
                }
            }
            Outcome::Success => {
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
    fn pipeline_failed_is_one_alert_per_failure_episode() {
        let cfg = DetectConfig::default();
        let runs = hourly("SSFCFSSFS");
        let eps = of(
            &detect(&runs, T0 + 100 * DAY, None, &cfg),
            AlertKind::PipelineFailed,
        );
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].started_at, end(&runs[2]));
        assert_eq!(eps[0].occurrences, 2);
        assert_eq!(eps[0].resolved_at, Some(end(&runs[5])));
        assert_eq!(
            eps[0].details["signature"],
            json!("ConnectionError: could not connect to <ip>")
        );
        assert_eq!(eps[1].started_at, end(&runs[7]));
        assert_eq!(eps[1].resolved_at, Some(end(&runs[8])));
        // A run that succeeded after retries is a success.
        let mut retried = hourly("SSS");
        retried[1].retries = 2;
        retried[1].attempts = 3;
        assert!(detect(&retried, T0 + DAY, None, &cfg).is_empty());
        // Still failing at the end: open.
        let open = of(
            &detect(&hourly("SSF"), T0 + DAY, None, &cfg),
            AlertKind::PipelineFailed,
        );
        assert!(open[0].is_open());
    }
}
