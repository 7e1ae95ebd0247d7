//! The readable form of an eval report: per-kind table, accuracies, counts, the six
//! checks with their figures, and the `score: N/6` line.

use std::fmt::Write as _;

use super::{CheckStatus, Report};

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>9} {:>8} {:>6} {:>4} {:>4} {:>4} {:>4} {:>9} {:>7}  target",
        "kind", "incidents", "detected", "alerts", "tp", "fp", "dup", "expl", "precision", "recall"
    );
    for k in &r.kinds {
        let _ = writeln!(
            s,
            "{:<24} {:>9} {:>8} {:>6} {:>4} {:>4} {:>4} {:>4} {:>9.3} {:>7.3}  P≥{} R≥{} {}",
            k.kind,
            k.incidents,
            k.detected,
            k.alerts,
            k.true_positives,
            k.false_positives,
            k.duplicates,
            k.explained,
            k.precision,
            k.recall,
            k.target.precision,
            k.target.recall,
            if k.ok { "ok" } else { "MISS" }
        );
        if !k.missed.is_empty() {
            let _ = writeln!(s, "    missed: {}", k.missed.join(", "));
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
