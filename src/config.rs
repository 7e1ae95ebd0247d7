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
#[serde(default)]
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
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}: {}", self.key, self.message),
            (Some(l), None) => write!(f, "line {l}: {}: {}", self.key, self.message),
            _ => write!(f, "{}: {}", self.key, self.message),
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

/// Parses and validates, returning every problem found, each with its key and place.
///
/// Syntax errors come from the TOML parser's recovering mode (all of them). Unknown
/// keys are collected by `serde_ignored` while deserializing, all in one pass. A value
/// that does not fit its key (a bad duration, a string where a number belongs) stops
/// serde, so that key is set aside and the rest deserialized again, until nothing is
/// left to report. Semantic checks (detectors, routes, receivers, …) follow.
pub fn check(text: &str) -> std::result::Result<Config, Vec<Problem>> {
    let (doc, syntax) = toml::de::DeTable::parse_recoverable(text);
    let mut problems: Vec<Problem> = syntax
        .iter()
        .map(|e| {
            let (line, column) = e.span().map(|s| place(text, s.start)).unzip();
            Problem {
                key: "(syntax)".into(),
                line,
                column,
                message: e.message().to_string(),
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut places = BTreeMap::new();
    index_table(doc.get_ref(), "", text, &mut places);
    let mut table: toml::Table = text.parse().unwrap_or_default();
    let mut unknown: Vec<String> = Vec::new();
    let mut bad_values: Vec<Problem> = Vec::new();
    let mut tried: Vec<String> = Vec::new();
    let config = loop {
        // Re-serialized text of what is left; its spans map back to keys through an
        // index of that text, and keys to places in the original through `places`.
        let current = toml::to_string(&table).unwrap_or_default();
        let de = match toml::Deserializer::parse(&current) {
            Ok(de) => de,
            Err(e) => {
                bad_values.push(Problem {
                    key: "(value)".into(),
                    line: None,
                    column: None,
                    message: e.message().to_string(),
                });
                break None;
            }
        };
        let mut ignored: Vec<String> = Vec::new();
        let result: std::result::Result<Config, _> =
            serde_ignored::deserialize(de, |path| ignored.push(key_of(&path)));
        for k in ignored {
            if !unknown.contains(&k) {
                unknown.push(k);
            }
        }
        match result {
            Ok(c) => break Some(c),
            Err(e) => {
                let mut here = BTreeMap::new();
                if let Ok(d) = toml::de::DeTable::parse(&current) {
                    index_table(d.get_ref(), "", &current, &mut here);
                }
                // The most specific key whose value holds the error.
                let key = e.span().and_then(|sp| {
                    here.iter()
                        .filter(|(_, (name, value))| {
                            (name.start <= sp.start && sp.start < name.end.max(name.start + 1))
                                || (value.start <= sp.start && sp.end <= value.end)
                        })
                        .map(|(k, _)| k.clone())
                        .max_by_key(|k| k.len())
                });
                let Some(key) = key else {
                    bad_values.push(Problem {
                        key: "(value)".into(),
                        line: None,
                        column: None,
                        message: e.message().to_string(),
                    });
                    break None;
                };
                // A table that complains after one of its keys was set aside (a
                // required key now missing) says nothing new: drop the whole entry.
                let consequence = tried.iter().any(|t| t == &key || is_under(t, &key));
                if !consequence {
                    let (line, column) = place_of(&places, &key, text);
                    bad_values.push(Problem {
                        key: key.clone(),
                        line,
                        column,
                        message: e.message().to_string(),
                    });
                }
                let target = if tried.contains(&key) {
                    match key.rfind('[') {
                        Some(cut) => key[..cut].to_string(),
                        None => break None,
                    }
                } else {
                    key.clone()
                };
                tried.push(key);
                if !remove_path(&mut table, &target) {
                    break None;
                }
            }
        }
    };
    for key in unknown {
        let (line, column) = place_of(&places, &key, text);
        let name = key.rsplit('.').next().unwrap_or(&key).to_string();
        problems.push(Problem {
            key,
            line,
            column,
            message: format!("unknown key `{name}`"),
        });
    }
    problems.extend(bad_values);
    let Some(config) = config else {
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(problems);
    };
    // The detectors' own checks come as "detect.key: what; …": one problem each.
    if let Err(all) = config.detect.validate() {
        for one in all.split("; ") {
            let (key, message) = one.split_once(": ").unwrap_or(("detect", one));
            let (line, column) = place_of(&places, key, text);
            problems.push(Problem {
                key: key.to_string(),
                line,
                column,
                message: message.to_string(),
            });
        }
    }
    for (key, message) in crate::alert::validate(&config.alert) {
        let (line, column) = place_of(&places, &key, text);
        problems.push(Problem {
            key,
            line,
            column,
            message,
        });
    }
    for (key, message) in matcher_problems(&config.alert) {
        let (line, column) = place_of(&places, &key, text);
        problems.push(Problem {
            key,
            line,
            column,
            message,
        });
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(problems)
    }
}

/// Line and column where `key` (or its nearest written ancestor) is in `text`.
pub fn locate(text: &str, key: &str) -> (Option<usize>, Option<usize>) {
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return (None, None);
    };
    let mut places = BTreeMap::new();
    index_table(doc.get_ref(), "", text, &mut places);
    place_of(&places, key, text)
}

/// Why a matcher could never match what pipemon puts on alerts: an unknown label
/// name, or an unknown kind or severity compared with `=`/`!=`. Returns the problem
/// and the valid values. Syntax errors are left to `alert::matcher`.
pub fn matcher_label_problem(raw: &str) -> Option<(String, String)> {
    use crate::alert::config::LABELS;
    use crate::alert::matcher::{Matcher, Op};
    use crate::model::{AlertKind, Severity};
    let m = Matcher::parse(raw).ok()?;
    if !LABELS.contains(&m.name.as_str()) {
        return Some((
            format!("unknown label `{}`", m.name),
            format!("the labels are: {}", LABELS.join(", ")),
        ));
    }
    if !matches!(m.op, Op::Eq | Op::Ne) {
        return None;
    }
    let valid: Vec<&str> = match m.name.as_str() {
        "kind" => AlertKind::ALL.iter().map(|k| k.as_str()).collect(),
        "severity" => Severity::ALL.iter().map(|s| s.as_str()).collect(),
        _ => return None,
    };
    (!valid.contains(&m.value.as_str())).then(|| {
        (
            format!("`{}` is not a {}", m.value, m.name),
            format!("use one of {}", valid.join(", ")),
        )
    })
}

/// Matchers in routes and inhibit rules (and `equal` names) that name unknown labels
/// or values, as (key path, message).
fn matcher_problems(c: &AlertConfig) -> Vec<(String, String)> {
    fn route(r: &RouteConfig, path: &str, out: &mut Vec<(String, String)>) {
        for (i, m) in r.matchers.iter().enumerate() {
            if let Some((what, valid)) = matcher_label_problem(m) {
                out.push((format!("{path}.matchers[{i}]"), format!("{what} ({valid})")));
            }
        }
        for (i, child) in r.routes.iter().enumerate() {
            route(child, &format!("{path}.routes[{i}]"), out);
        }
    }
    let mut out = Vec::new();
    route(&c.route, "route", &mut out);
    for (i, rule) in c.inhibit_rules.iter().enumerate() {
        for (field, list) in [
            ("source_matchers", &rule.source_matchers),
            ("target_matchers", &rule.target_matchers),
        ] {
            for (j, m) in list.iter().enumerate() {
                if let Some((what, valid)) = matcher_label_problem(m) {
                    out.push((
                        format!("inhibit_rules[{i}].{field}[{j}]"),
                        format!("{what} ({valid})"),
                    ));
                }
            }
        }
        for (j, name) in rule.equal.iter().enumerate() {
            if !crate::alert::config::LABELS.contains(&name.as_str()) {
                out.push((
                    format!("inhibit_rules[{i}].equal[{j}]"),
                    format!(
                        "unknown label `{name}` (the labels are: {})",
                        crate::alert::config::LABELS.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

/// Whether `key` is `parent` or lies inside it (`a.b[0].c` is under `a.b[0]`).
fn is_under(key: &str, parent: &str) -> bool {
    key.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// A `serde_ignored` path as a key: `route.routes[0].matcher`.
fn key_of(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", key_of(parent)),
        P::Map { parent, key } => {
            let p = key_of(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            key_of(parent)
        }
    }
}

/// One step of a key path: a table key or an array index.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Removes the key at `path` (`a.b[2].c`) from a table; false when it is not there.
/// An array item is blanked rather than removed, so later indices stay as written.
fn remove_path(root: &mut toml::Table, path: &str) -> bool {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        segs.push(Seg::Key(pieces.next().unwrap_or_default()));
        for idx in pieces {
            match idx.trim_end_matches(']').parse() {
                Ok(i) => segs.push(Seg::Index(i)),
                Err(_) => return false,
            }
        }
    }
    let mut v = toml::Value::Table(std::mem::take(root));
    let removed = remove_in(&mut v, &segs);
    if let toml::Value::Table(t) = v {
        *root = t;
    }
    removed
}

fn remove_in(v: &mut toml::Value, segs: &[Seg<'_>]) -> bool {
    match segs {
        [] => false,
        [Seg::Key(k)] => v.as_table_mut().and_then(|t| t.remove(*k)).is_some(),
        [Seg::Index(i)] => match v.as_array_mut() {
            Some(a) if *i < a.len() => {
                a[*i] = toml::Value::Table(toml::Table::new());
                true
            }
            _ => false,
        },
        [first, rest @ ..] => {
            let next = match first {
                Seg::Key(k) => v.as_table_mut().and_then(|t| t.get_mut(*k)),
                Seg::Index(i) => v.as_array_mut().and_then(|a| a.get_mut(*i)),
            };
            next.is_some_and(|n| remove_in(n, rest))
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn place(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// The place of `key` (its name as written), or of its nearest ancestor.
fn place_of(
    places: &BTreeMap<String, (std::ops::Range<usize>, std::ops::Range<usize>)>,
    key: &str,
    text: &str,
) -> (Option<usize>, Option<usize>) {
    let mut k = key.to_string();
    loop {
        if let Some((at, _)) = places.get(&k) {
            let (l, c) = place(text, at.start);
            return (Some(l), Some(c));
        }
        match k.rfind(['.', '[']) {
            Some(cut) => k.truncate(cut),
            None => return (None, None),
        }
    }
}

/// Records, for every key and array item, where it is written and the span of its
/// value. Schema-free: which keys are allowed is serde's business.
fn index_table(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    text: &str,
    out: &mut BTreeMap<String, (std::ops::Range<usize>, std::ops::Range<usize>)>,
) {
    for (k, v) in table.iter() {
        let name: &str = k.get_ref();
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        out.insert(path.clone(), (k.span(), v.span()));
        index_value(v, &path, text, out);
    }
}

fn index_value(
    v: &Spanned<toml::de::DeValue<'_>>,
    path: &str,
    text: &str,
    out: &mut BTreeMap<String, (std::ops::Range<usize>, std::ops::Range<usize>)>,
) {
    if let Some(t) = v.get_ref().as_table() {
        index_table(t, path, text, out);
    } else if let Some(a) = v.get_ref().as_array() {
        for (i, item) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            out.insert(p.clone(), (item.span(), item.span()));
            index_value(item, &p, text, out);
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
    fn many_mistakes_are_all_reported_in_one_run_with_line_and_column() {
        let text = "\
[alerting]
flap_hold_down = \"soon\"
bogus = 1

[delivery]
timeout = 5
retry_max = \"1y\"

[detect]
failure_streek = 3
stuck_floor = \"later\"

[[receivers]]
name = \"hook\"
type = \"webhok\"
urll = \"http://x\"

[route]
reciever = \"hook\"
";
        let problems = check(text).unwrap_err();
        let got: Vec<(&str, Option<usize>, Option<usize>)> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.line, p.column))
            .collect();
        assert_eq!(
            got,
            vec![
                ("alerting.flap_hold_down", Some(2), Some(1)),
                ("alerting.bogus", Some(3), Some(1)),
                ("delivery.timeout", Some(6), Some(1)),
                ("delivery.retry_max", Some(7), Some(1)),
                ("detect.failure_streek", Some(10), Some(1)),
                ("detect.stuck_floor", Some(11), Some(1)),
                ("receivers[0].type", Some(15), Some(1)),
                ("receivers[0].urll", Some(16), Some(1)),
                ("route.reciever", Some(19), Some(1)),
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn matchers_on_unknown_labels_and_values_are_problems() {
        let text = "[route]\nreceiver = \"default\"\n[[route.routes]]\nmatchers = [\"teem=x\", \"kind=stuck\", \"team=~pay.*\"]\n\n[[inhibit_rules]]\nsource_matchers = [\"sevrity=critical\"]\ntarget_matchers = [\"severity=low\"]\nequal = [\"pipeline\"]\n";
        let problems = check(text).unwrap_err();
        let got: Vec<(&str, Option<usize>)> =
            problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("route.routes[0].matchers[0]", Some(4)),
                ("route.routes[0].matchers[1]", Some(4)),
                ("inhibit_rules[0].source_matchers[0]", Some(7)),
                ("inhibit_rules[0].equal[0]", Some(9)),
            ],
            "{problems:#?}"
        );
        assert!(
            problems[0]
                .message
                .starts_with("unknown label `teem` (the labels are: team,")
        );
        assert!(
            problems[1]
                .message
                .starts_with("`stuck` is not a kind (use one of ")
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
