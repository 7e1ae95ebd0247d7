//! The readable form of an eval report: per-kind table, accuracies, counts, the six
//! checks with their figures, and the `score: N/6` line; and of a suite report.

use std::fmt::Write as _;

use super::suite::SuiteReport;
use super::{CheckStatus, Report};
use crate::time::format_duration;

fn ms(v: Option<i64>) -> String {
    v.map(format_duration).unwrap_or_else(|| "-".into())
}

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>5} {:>5} {:>6} {:>4} {:>4} {:>4} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6} {:>8} {:>8}  target",
        "kind",
        "incid",
        "found",
        "alerts",
        "tp",
        "fp",
        "late",
        "dup",
        "expl",
        "ben",
        "prec",
        "recall",
        "F1",
        "ttd med",
        "ttd max"
    );
    for k in &r.kinds {
        let _ = writeln!(
            s,
            "{:<24} {:>5} {:>5} {:>6} {:>4} {:>4} {:>4} {:>4} {:>4} {:>4} {:>6.3} {:>6.3} {:>6.3} {:>8} {:>8}  P≥{} R≥{} {}",
            k.kind,
            k.incidents,
            k.detected,
            k.alerts,
            k.true_positives,
            k.false_positives,
            k.late,
            k.duplicates,
            k.explained,
            k.benign,
            k.precision,
            k.recall,
            k.f1,
            ms(k.ttd_median_ms),
            ms(k.ttd_max_ms),
            k.target.precision,
            k.target.recall,
            if k.ok { "ok" } else { "MISS" }
        );
        if !k.missed.is_empty() {
            let _ = writeln!(s, "    missed: {}", k.missed.join(", "));
        }
        if !k.late_alerts.is_empty() {
            let _ = writeln!(s, "    late: {}", k.late_alerts.join("; "));
        }
        if !k.false_alerts.is_empty() {
            let _ = writeln!(s, "    false: {}", k.false_alerts.join("; "));
        }
    }
    let _ = writeln!(
        s,
        "severity: {}/{} correct ({:.3})",
        r.severity.correct, r.severity.matched, r.severity.accuracy
    );
    for m in &r.severity.mismatches {
        let _ = writeln!(s, "    {m}");
    }
    let _ = writeln!(
        s,
        "team routing: {}/{} correct ({:.3})",
        r.team.correct, r.team.matched, r.team.accuracy
    );
    for m in &r.team.mismatches {
        let _ = writeln!(s, "    {m}");
    }
    match &r.health {
        Some(h) => {
            let _ = writeln!(
                s,
                "pipeline_health counts: {}/{} pipelines exact, {} unexpected rows",
                h.correct, h.pipelines, h.unexpected_rows
            );
            for m in &h.mismatches {
                let _ = writeln!(s, "    {m}");
            }
        }
        None => {
            let _ = writeln!(s, "pipeline_health counts: unavailable");
        }
    }
    let _ = writeln!(
        s,
        "rejected lines: {} (expected {})",
        r.rejected
            .observed
            .map(|o| o.to_string())
            .unwrap_or_else(|| "?".into()),
        r.rejected.expected
    );
    for (step, why) in &r.problems {
        let _ = writeln!(s, "problem: {step}: {why}");
    }
    let _ = writeln!(s);
    for c in &r.checks {
        let mark = match c.status {
            CheckStatus::Pass => "PASS",
            CheckStatus::Fail => "FAIL",
            CheckStatus::NotJudged => "----",
        };
        let mut tags = Vec::new();
        if c.status == CheckStatus::NotJudged {
            tags.push("not judged: --quick");
        }
        if c.pending {
            tags.push("not yet required: eval-pending.toml");
        }
        let tag = if tags.is_empty() {
            String::new()
        } else {
            format!(" ({})", tags.join("; "))
        };
        let _ = writeln!(s, "[{mark}] {}. {}{tag}: {}", c.number, c.name, c.figure);
    }
    let _ = writeln!(
        s,
        "score: {}/6 (required checks passed: {}/{})",
        r.score, r.required_passed, r.required
    );
    s
}

/// A suite report: per kind the median and worst seed, noise, lateness and time to
/// detect; accuracies; what a required target missed.
pub fn suite_text(r: &SuiteReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "suite: {} worlds of {} pipelines × {} days; seeds {}",
        r.seeds.len(),
        r.pipelines,
        r.days,
        r.seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let _ = writeln!(
        s,
        "{:<24} {:>5} {:>5} {:>4} {:>4} {:>5} {:>11} {:>11} {:>11} {:>6} {:>8} {:>8} {:>5}  target",
        "kind",
        "incid",
        "found",
        "late",
        "fp",
        "seeds",
        "P med/worst",
        "R med/worst",
        "F1 med/wst",
        "noise",
        "ttd med",
        "ttd max",
        "use"
    );
    for k in &r.kinds {
        let _ = writeln!(
            s,
            "{:<24} {:>5} {:>5} {:>4} {:>4} {:>5} {:>5.2}/{:<5.2} {:>5.2}/{:<5.2} {:>5.2}/{:<5.2} {:>6.3} {:>8} {:>8} {:>5}  {}",
            k.kind,
            k.incidents,
            k.detected,
            k.late,
            k.false_positives,
            k.seeds,
            k.precision_median,
            k.precision_worst,
            k.recall_median,
            k.recall_worst,
            k.f1_median,
            k.f1_worst,
            k.noise,
            ms(k.ttd_median_ms),
            ms(k.ttd_max_ms),
            k.deadline_use_max
                .map(|u| format!("{:.0}%", u * 100.0))
                .unwrap_or_else(|| "-".into()),
            match (k.ok, k.pending) {
                (true, _) => "ok".to_string(),
                (false, true) => "MISS (not yet required: eval-pending.toml)".to_string(),
                (false, false) => format!(
                    "MISS{}",
                    k.worst_seed
                        .map(|s| format!(" (worst seed {s})"))
                        .unwrap_or_default()
                ),
            }
        );
    }
    let _ = writeln!(
        s,
        "macro F1 (mean over kinds of the median seed): {:.3}",
        r.macro_f1_median
    );
    let _ = writeln!(
        s,
        "severity accuracy: {:.3} pooled, {:.3} worst seed; team accuracy: {:.3} pooled, {:.3} worst seed",
        r.severity_pooled, r.severity_worst, r.team_pooled, r.team_worst
    );
    let _ = writeln!(
        s,
        "run accounting (pipeline_health counts, rejected lines): {}",
        if r.accounting_ok {
            "exact on every seed"
        } else {
            "NOT exact on some seed"
        }
    );
    let _ = writeln!(
        s,
        "targets: F1 median ≥ {} and worst ≥ {} (failure kinds 1.00), noise ≤ {}, no late detection; `use` is the largest share of the time to the deadline a detection took",
        super::suite::F1_MEDIAN,
        super::suite::F1_WORST,
        super::suite::MAX_NOISE
    );
    // Where the errors are, so a miss can be looked at: `generate --seed S` with
    // the suite's size and start day rebuilds the world.
    let mut errors = String::new();
    for k in &r.kinds {
        for w in &r.worlds {
            let Some(wk) = w.report.kinds.iter().find(|x| x.kind == k.kind) else {
                continue;
            };
            let mut parts = Vec::new();
            for (what, list) in [
                ("missed", &wk.missed),
                ("late", &wk.late_alerts),
                ("false", &wk.false_alerts),
            ] {
                if !list.is_empty() {
                    parts.push(format!("{what} {}", list.join(", ")));
                }
            }
            if !parts.is_empty() {
                let _ = writeln!(
                    errors,
                    "  {:<24} seed {}: {}",
                    k.kind,
                    w.seed,
                    parts.join("; ")
                );
            }
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(s, "errors by seed (up to ten of each per world):");
        s.push_str(&errors);
    }
    if r.failures.is_empty() {
        let _ = writeln!(s, "suite: every required target met");
    } else {
        for f in &r.failures {
            let _ = writeln!(s, "required target missed: {f}");
        }
    }
    s
}
