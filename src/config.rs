//! The configuration file (TOML): `--config PATH`, else `$PIPEMON_CONFIG`, else
//! `./pipemon.toml`, else built-in defaults.
//!
//! This module only composes the file: `[detect]` is `detect::DetectConfig`, the
//! alerting sections are `alert::config::AlertConfig`; each section's types live with
//! the code that uses them. Loading is strict: unknown keys are errors, and every
//! semantic problem (a regex that does not compile, a route naming an undefined
//! receiver, an unknown time zone …) is collected with its key path and line, so
//! `pipemon config check` reports them all at once instead of one per run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

pub use crate::alert::config::{AlertConfig, Dur};
use crate::alert::config::{
    AlertingConfig, DeliveryConfig, InhibitRuleConfig, OwnershipRule, ReceiverConfig, RouteConfig,
    SeverityOverride, TimeIntervalConfig,
};
use crate::detect::DetectConfig;

/// The whole configuration, validated: `[detect]` plus the alerting sections.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Detector thresholds and windows.
    pub detect: DetectConfig,
    /// Ownership, severity, routing, receivers, inhibition, time intervals, delivery.
    pub alert: AlertConfig,
}

/// The file's layout: one table per section.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct File {
    detect: DetectConfig,
    alerting: AlertingConfig,
    ownership: Vec<OwnershipRule>,
    severity_overrides: Vec<SeverityOverride>,
    route: RouteConfig,
    receivers: Vec<ReceiverConfig>,
    inhibit_rules: Vec<InhibitRuleConfig>,
    time_intervals: Vec<TimeIntervalConfig>,
    delivery: DeliveryConfig,
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let f = File::deserialize(d)?;
        Ok(Config {
            detect: f.detect,
            alert: AlertConfig {
                alerting: f.alerting,
                ownership: f.ownership,
                severity_overrides: f.severity_overrides,
                route: f.route,
                receivers: f.receivers,
                inhibit_rules: f.inhibit_rules,
                time_intervals: f.time_intervals,
                delivery: f.delivery,
            },
        })
    }
}

/// One problem found in a configuration: where (key path, line) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Where the configuration comes from: an explicit path must exist; the default
/// `./pipemon.toml` is optional.
pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let default = PathBuf::from("pipemon.toml");
            default.exists().then_some(default)
        }
    }
}

/// Loads and validates the configuration.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let Some(path) = resolve_path(explicit) else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading configuration {}", path.display()))?;
    parse(&text).with_context(|| format!("in configuration {}", path.display()))
}

/// Parses and validates configuration text; every problem is listed in the error.
pub fn parse(text: &str) -> Result<Config> {
    match check(text) {
        Ok(c) => Ok(c),
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            Err(crate::error::hinted(
                format!("invalid configuration:\n  {}", list.join("\n  ")),
                "run `pipemon config check` for the list, `pipemon config example` for a valid file",
            )
            .into())
        }
    }
}

/// Parses and validates, returning every problem found.
pub fn check(text: &str) -> std::result::Result<Config, Vec<Problem>> {
    let (doc, syntax) = toml::de::DeTable::parse_recoverable(text);
    let mut problems: Vec<Problem> = syntax
        .iter()
        .map(|e| Problem {
            key: "(syntax)".into(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_string(),
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut lines = BTreeMap::new();
    walk_table(
        doc.get_ref(),
        "",
        Schema::Root,
        text,
        &mut lines,
        &mut problems,
    );
    let parsed = if problems.is_empty() {
        toml::from_str::<Config>(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            // Name the key written on that line (the longest path, the most specific).
            let key = line
                .and_then(|l| {
                    lines
                        .iter()
                        .filter(|(_, kl)| **kl == l)
                        .map(|(k, _)| k)
                        .max_by_key(|k| k.len())
                })
                .cloned()
                .unwrap_or_else(|| "(value)".into());
            Problem {
                key,
                line,
                message: e.message().to_string(),
            }
        })
    } else {
        // Unknown keys are reported; the rest of the file is still checked, without them.
        let mut table: toml::Table = text.parse().unwrap_or_default();
        for p in &problems {
            remove_path(&mut table, &p.key);
        }
        toml::Value::Table(table)
            .try_into::<Config>()
            .map_err(|e| Problem {
                key: "(value)".into(),
                line: None,
                message: e.message().to_string(),
            })
    };
    let config = match parsed {
        Ok(c) => c,
        Err(p) => {
            problems.push(p);
            return Err(problems);
        }
    };
    // The detectors' own checks come as "detect.key: what; …": one problem each.
    if let Err(all) = config.detect.validate() {
        for one in all.split("; ") {
            let (key, message) = one.split_once(": ").unwrap_or(("detect", one));
            problems.push(Problem {
                key: key.to_string(),
                line: line_for(&lines, key),
                message: message.to_string(),
            });
        }
    }
    for (key, message) in crate::alert::validate(&config.alert) {
        let line = line_for(&lines, &key);
        problems.push(Problem { key, line, message });
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// Removes the key at `path` (`a.b[2].c`) from a table, if it is there.
fn remove_path(root: &mut toml::Table, path: &str) {
    enum Seg<'a> {
        Key(&'a str),
        Index(usize),
    }
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        segs.push(Seg::Key(pieces.next().unwrap_or_default()));
        for idx in pieces {
            match idx.trim_end_matches(']').parse() {
                Ok(i) => segs.push(Seg::Index(i)),
                Err(_) => return,
            }
        }
    }
    let Some(Seg::Key(last)) = segs.pop() else {
        return;
    };
    let mut cur = root;
    let mut segs = segs.into_iter().peekable();
    while let Some(seg) = segs.next() {
        let Seg::Key(k) = seg else { return };
        let mut v = match cur.get_mut(k) {
            Some(v) => v,
            None => return,
        };
        while let Some(Seg::Index(i)) = segs.peek() {
            v = match v.as_array_mut().and_then(|a| a.get_mut(*i)) {
                Some(x) => x,
                None => return,
            };
            segs.next();
        }
        cur = match v.as_table_mut() {
            Some(t) => t,
            None => return,
        };
    }
    cur.remove(last);
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `key`, or of its nearest ancestor that has one.
fn line_for(lines: &BTreeMap<String, usize>, key: &str) -> Option<usize> {
    let mut k = key.to_string();
    loop {
        if let Some(l) = lines.get(&k) {
            return Some(*l);
        }
        let cut = k.rfind(['.', '['])?;
        k.truncate(cut);
    }
}

/// Which table of the file a path is in: decides the keys allowed there.
#[derive(Debug, Clone, Copy)]
enum Schema {
    Root,
    /// `[detect]`: its keys are checked by serde (`DetectConfig`); only lines are kept.
    Detect,
    Alerting,
    Ownership,
    SeverityOverride,
    Route,
    Receiver,
    InhibitRule,
    TimeInterval,
    TimeRange,
    Delivery,
}

impl Schema {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Schema::Root => &[
                "detect",
                "alerting",
                "ownership",
                "severity_overrides",
                "route",
                "receivers",
                "inhibit_rules",
                "time_intervals",
                "delivery",
            ],
            Schema::Detect => &[],
            Schema::Alerting => &[
                "flap_hold_down",
                "systemic_inhibition",
                "lineage_inhibition",
                "external_url",
            ],
            Schema::Ownership => &["match", "team", "priority", "environment"],
            Schema::SeverityOverride => &["kind", "pipeline", "team", "severity"],
            Schema::Route => &[
                "receiver",
                "matchers",
                "group_by",
                "group_wait",
                "group_interval",
                "repeat_interval",
                "continue",
                "mute_time_intervals",
                "active_time_intervals",
                "routes",
            ],
            Schema::Receiver => &[
                "name",
                "type",
                "url",
                "url_env",
                "routing_key",
                "routing_key_env",
                "path",
                "command",
                "send_resolved",
                "send_changes_only",
                "timeout",
                "resend_interval",
                "alert_ttl",
            ],
            Schema::InhibitRule => &["source_matchers", "target_matchers", "equal"],
            Schema::TimeInterval => &["name", "time_zone", "weekdays", "times"],
            Schema::TimeRange => &["start", "end"],
            Schema::Delivery => &["timeout", "retry_initial", "retry_max", "give_up_after"],
        }
    }

    /// The schema of a sub-table (or of the tables in an array) under `key`.
    fn child(self, key: &str) -> Option<Schema> {
        Some(match (self, key) {
            (Schema::Root, "detect") => Schema::Detect,
            (Schema::Root, "alerting") => Schema::Alerting,
            (Schema::Root, "ownership") => Schema::Ownership,
            (Schema::Root, "severity_overrides") => Schema::SeverityOverride,
            (Schema::Root, "route") => Schema::Route,
            (Schema::Root, "receivers") => Schema::Receiver,
            (Schema::Root, "inhibit_rules") => Schema::InhibitRule,
            (Schema::Root, "time_intervals") => Schema::TimeInterval,
            (Schema::Root, "delivery") => Schema::Delivery,
            (Schema::Route, "routes") => Schema::Route,
            (Schema::TimeInterval, "times") => Schema::TimeRange,
            _ => return None,
        })
    }
}

/// Records the line of every key and reports unknown keys, all of them.
fn walk_table(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    schema: Schema,
    text: &str,
    lines: &mut BTreeMap<String, usize>,
    problems: &mut Vec<Problem>,
) {
    for (k, v) in table.iter() {
        let name: &str = k.get_ref();
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let line = line_of(text, k.span().start);
        lines.insert(path.clone(), line);
        if !matches!(schema, Schema::Detect) && !schema.keys().contains(&name) {
            problems.push(Problem {
                key: path,
                line: Some(line),
                message: format!(
                    "unknown key `{name}` (allowed here: {})",
                    schema.keys().join(", ")
                ),
            });
            continue;
        }
        let Some(child) = schema.child(name) else {
            continue;
        };
        walk_value(v, &path, child, text, lines, problems);
    }
}

fn walk_value(
    v: &Spanned<toml::de::DeValue<'_>>,
    path: &str,
    schema: Schema,
    text: &str,
    lines: &mut BTreeMap<String, usize>,
    problems: &mut Vec<Problem>,
) {
    if let Some(t) = v.get_ref().as_table() {
        walk_table(t, path, schema, text, lines, problems);
    } else if let Some(a) = v.get_ref().as_array() {
        for (i, item) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            lines.insert(p.clone(), line_of(text, item.span().start));
            if let Some(t) = item.get_ref().as_table() {
                walk_table(t, &p, schema, text, lines, problems);
            }
        }
    }
}

/// A complete, commented example that passes `config check`.
pub const EXAMPLE: &str = include_str!("../docs/pipemon.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_passes_check() {
        let c = check(EXAMPLE).unwrap_or_else(|p| panic!("{p:?}"));
        assert!(c.alert.receivers.len() >= 6);
        // The example documents the detectors' defaults: it must say what they are.
        assert_eq!(c.detect, DetectConfig::default());
    }

    #[test]
    fn value_errors_name_their_key() {
        let problems = check("[delivery]\ntimeout = \"soon\"\n").unwrap_err();
        assert_eq!(problems[0].key, "delivery.timeout");
        assert_eq!(problems[0].line, Some(2));
        assert!(problems[0].message.contains("invalid duration"));
        let problems = check("[detect]\nfailure_streek = 3\n").unwrap_err();
        assert_eq!(problems[0].key, "detect.failure_streek");
    }

    #[test]
    fn detector_problems_are_reported_with_their_keys() {
        let problems = check("[detect]\nfailure_streak = 1\nsystemic_pipelines = 1\n").unwrap_err();
        let got: Vec<(String, Option<usize>)> =
            problems.iter().map(|p| (p.key.clone(), p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("detect.failure_streak".to_string(), Some(2)),
                ("detect.systemic_pipelines".to_string(), Some(3)),
            ]
        );
    }

    #[test]
    fn empty_file_is_defaults() {
        let c = check("").unwrap();
        assert_eq!(c.alert.route.receiver, None);
        assert_eq!(c.alert.delivery.timeout, Dur(10_000));
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_line() {
        let text = "[alerting]\nflap_hold_down = \"1m\"\nbogus = 1\n\n[route]\nreceiver = \"default\"\n[[route.routes]]\nmatcher = []\nreceiver = \"nobody\"\n";
        let problems = check(text).unwrap_err();
        let got: Vec<(String, Option<usize>)> =
            problems.iter().map(|p| (p.key.clone(), p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("alerting.bogus".to_string(), Some(3)),
                ("route.routes[0].matcher".to_string(), Some(8)),
                // Checked too, with the unknown keys set aside.
                ("route.routes[0].receiver".to_string(), Some(9)),
            ]
        );
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let text = r#"
[route]
receiver = "nowhere"
matchers = ["team=~(unclosed"]
mute_time_intervals = ["missing"]

[[receivers]]
name = "hook"
type = "webhook"

[[time_intervals]]
name = "tz"
time_zone = "Mars/Olympus"
weekdays = ["funday"]
times = [{ start = "25:00", end = "02:00" }]
"#;
        let problems = check(text).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for want in [
            "route.receiver",
            "route.matchers[0]",
            "route.mute_time_intervals[0]",
            "receivers[0].url",
            "time_intervals[0].time_zone",
            "time_intervals[0].weekdays[0]",
            "time_intervals[0].times[0]",
        ] {
            assert!(keys.contains(&want), "{want} missing from {problems:#?}");
        }
        let recv = problems.iter().find(|p| p.key == "route.receiver").unwrap();
        assert_eq!(recv.line, Some(3));
    }
}
