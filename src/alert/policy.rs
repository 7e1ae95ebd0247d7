//! The configuration compiled for use: the routing tree, receivers by name, inhibit
//! rules, maintenance windows, ownership globs and severity overrides. Also the checks
//! behind `config check` (every problem, with its key path) and the severity policy.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};

use crate::alert::config::{AlertConfig, ReceiverConfig, ReceiverType, RouteConfig};
use crate::alert::matcher::{self, Labels, Matcher};
use crate::alert::route::Route;
use crate::alert::timeinterval::TimeInterval;
use crate::model::{AlertKind, Priority, Severity};

/// A configured inhibit rule, parsed.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// A severity override, parsed.
#[derive(Debug, Clone)]
pub struct SeverityRule {
    pub kind: Option<AlertKind>,
    pub pipeline: Option<GlobMatcher>,
    pub team: Option<String>,
    pub severity: Severity,
}

/// An ownership rule, parsed.
#[derive(Debug, Clone)]
pub struct OwnershipRule {
    pub glob: GlobMatcher,
    pub team: Option<String>,
    pub priority: Option<Priority>,
    pub environment: Option<String>,
}

/// Everything alerting needs from the configuration, validated and compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    pub route: Route,
    pub receivers: BTreeMap<String, ReceiverConfig>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub intervals: BTreeMap<String, TimeInterval>,
    pub ownership: Vec<OwnershipRule>,
    pub severity_rules: Vec<SeverityRule>,
    pub flap_hold_down: i64,
    pub systemic_inhibition: bool,
    pub lineage_inhibition: bool,
    pub external_url: String,
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {pattern:?}: {e}"))
}

impl Policy {
    /// Compiles a configuration; invalid configuration is an error listing every problem.
    pub fn new(config: &AlertConfig) -> anyhow::Result<Policy> {
        let problems = validate(config);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|(k, m)| format!("{k}: {m}")).collect();
            anyhow::bail!("invalid configuration:\n  {}", list.join("\n  "));
        }
        let mut receivers: BTreeMap<String, ReceiverConfig> = BTreeMap::new();
        receivers.insert(
            "default".into(),
            ReceiverConfig {
                name: "default".into(),
                kind: ReceiverType::None,
                url: None,
                url_env: None,
                routing_key: None,
                routing_key_env: None,
                path: None,
                command: None,
                send_resolved: true,
                send_changes_only: false,
                timeout: None,
                resend_interval: None,
                alert_ttl: None,
            },
        );
        for r in &config.receivers {
            receivers.insert(r.name.clone(), r.clone());
        }
        let map_err = |e: String| anyhow::anyhow!(e);
        let inhibit_rules = config
            .inhibit_rules
            .iter()
            .map(|r| {
                Ok(InhibitRule {
                    source: matcher::parse_all(&r.source_matchers).map_err(|(_, e)| e)?,
                    target: matcher::parse_all(&r.target_matchers).map_err(|(_, e)| e)?,
                    equal: r.equal.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(map_err)?;
        let mut intervals = BTreeMap::new();
        for t in &config.time_intervals {
            let ti = TimeInterval::build(t).map_err(|p| anyhow::anyhow!("{p:?}"))?;
            intervals.insert(t.name.clone(), ti);
        }
        let ownership = config
            .ownership
            .iter()
            .map(|o| {
                Ok(OwnershipRule {
                    glob: glob(&o.pattern)?,
                    team: o.team.clone(),
                    priority: o.priority.as_deref().and_then(Priority::parse),
                    environment: o.environment.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(map_err)?;
        let severity_rules = config
            .severity_overrides
            .iter()
            .map(|s| {
                Ok(SeverityRule {
                    kind: s.kind.as_deref().and_then(AlertKind::parse),
                    pipeline: s.pipeline.as_deref().map(glob).transpose()?,
                    team: s.team.clone(),
                    severity: Severity::parse(&s.severity).ok_or("bad severity")?,
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(map_err)?;
        Ok(Policy {
            route: Route::build(&config.route).map_err(map_err)?,
            receivers,
            inhibit_rules,
            intervals,
            ownership,
            severity_rules,
            flap_hold_down: config.alerting.flap_hold_down.ms(),
            systemic_inhibition: config.alerting.systemic_inhibition,
            lineage_inhibition: config.alerting.lineage_inhibition,
            external_url: config.alerting.external_url.clone(),
        })
    }

    /// Whether `route` is muted at `now` by its time intervals.
    pub fn route_muted(&self, route: &Route, now: i64) -> Option<String> {
        for name in &route.mute_time_intervals {
            if self.intervals.get(name).is_some_and(|i| i.contains(now)) {
                return Some(name.clone());
            }
        }
        if !route.active_time_intervals.is_empty()
            && !route
                .active_time_intervals
                .iter()
                .any(|n| self.intervals.get(n).is_some_and(|i| i.contains(now)))
        {
            return Some(format!(
                "outside {}",
                route.active_time_intervals.join(", ")
            ));
        }
        None
    }

    /// The severity policy of alerts.md: base severity of the kind, raised one level for
    /// `critical` pipelines and lowered one for `low` ones (`systemic_failure` is always
    /// critical), then the first matching configured override.
    pub fn severity(
        &self,
        kind: AlertKind,
        priority: Priority,
        pipeline: Option<&str>,
        team: &str,
    ) -> Severity {
        let base = kind.base_severity();
        let policy = if kind == AlertKind::SystemicFailure {
            Severity::Critical
        } else {
            match priority {
                Priority::Critical => base.raised(),
                Priority::Low => base.lowered(),
                _ => base,
            }
        };
        for r in &self.severity_rules {
            let kind_ok = r.kind.is_none_or(|k| k == kind);
            let pipe_ok = r
                .pipeline
                .as_ref()
                .is_none_or(|g| pipeline.is_some_and(|p| g.is_match(p)));
            let team_ok = r.team.as_deref().is_none_or(|t| t == team);
            if kind_ok && pipe_ok && team_ok {
                return r.severity;
            }
        }
        policy
    }

    /// The effective ownership from the rules for a pipeline: (team, priority, environment).
    pub fn ownership_for(
        &self,
        pipeline: &str,
    ) -> (Option<String>, Option<Priority>, Option<String>) {
        let (mut team, mut prio, mut env) = (None, None, None);
        for r in self.ownership.iter().filter(|r| r.glob.is_match(pipeline)) {
            team = team.or_else(|| r.team.clone());
            prio = prio.or(r.priority);
            env = env.or_else(|| r.environment.clone());
        }
        (team, prio, env)
    }
}

/// Every semantic problem in a configuration, as (key path, message).
pub fn validate(config: &AlertConfig) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    for (i, o) in config.ownership.iter().enumerate() {
        if let Err(e) = glob(&o.pattern) {
            p.push((format!("ownership[{i}].match"), e));
        }
        if let Some(pr) = &o.priority
            && Priority::parse(pr).is_none()
        {
            p.push((
                format!("ownership[{i}].priority"),
                format!("invalid priority {pr:?} (use critical, high, medium or low)"),
            ));
        }
        if o.team.is_none() && o.priority.is_none() && o.environment.is_none() {
            p.push((
                format!("ownership[{i}]"),
                "sets nothing (give team, priority or environment)".into(),
            ));
        }
    }
    for (i, s) in config.severity_overrides.iter().enumerate() {
        if let Some(k) = &s.kind
            && AlertKind::parse(k).is_none()
        {
            p.push((
                format!("severity_overrides[{i}].kind"),
                format!("unknown alert kind {k:?}"),
            ));
        }
        if let Some(g) = &s.pipeline
            && let Err(e) = glob(g)
        {
            p.push((format!("severity_overrides[{i}].pipeline"), e));
        }
        if Severity::parse(&s.severity).is_none() {
            p.push((
                format!("severity_overrides[{i}].severity"),
                format!(
                    "invalid severity {:?} (use low, medium, high or critical)",
                    s.severity
                ),
            ));
        }
    }
    let names = crate::alert::config::receiver_names(config);
    let intervals: Vec<&str> = config
        .time_intervals
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    validate_route(&config.route, "route", &names, &intervals, &mut p);
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in config.receivers.iter().enumerate() {
        let k = format!("receivers[{i}]");
        if !seen.insert(r.name.clone()) {
            p.push((
                format!("{k}.name"),
                format!("duplicate receiver name {:?}", r.name),
            ));
        }
        let one_of = |p: &mut Vec<(String, String)>,
                      a: &Option<String>,
                      b: &Option<String>,
                      what: &str,
                      required: bool| {
            match (a, b) {
                (Some(_), Some(_)) => p.push((
                    format!("{k}.{what}"),
                    format!("give {what} or {what}_env, not both"),
                )),
                (None, None) if required => p.push((
                    format!("{k}.{what}"),
                    format!("a {} receiver needs {what} or {what}_env", r.kind.as_str()),
                )),
                _ => {}
            }
        };
        match r.kind {
            ReceiverType::Webhook | ReceiverType::Slack | ReceiverType::Alertmanager => {
                one_of(&mut p, &r.url, &r.url_env, "url", true);
            }
            ReceiverType::Pagerduty => {
                one_of(&mut p, &r.url, &r.url_env, "url", false);
                one_of(
                    &mut p,
                    &r.routing_key,
                    &r.routing_key_env,
                    "routing_key",
                    true,
                );
            }
            ReceiverType::File => {
                if r.path.is_none() {
                    p.push((format!("{k}.path"), "a file receiver needs path".into()));
                }
            }
            ReceiverType::Command => {
                if r.command.as_ref().is_none_or(|c| c.is_empty()) {
                    p.push((
                        format!("{k}.command"),
                        "a command receiver needs command = [\"program\", \"arg\", …]".into(),
                    ));
                }
            }
            ReceiverType::None => {}
        }
        if let Some(u) = &r.url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            p.push((
                format!("{k}.url"),
                format!(
                    "{:?} is not an http(s) URL (shown without its path, query and credentials, which may hold a secret)",
                    redact_url(u)
                ),
            ));
        }
        if r.timeout.is_some_and(|t| t.ms() <= 0) {
            p.push((format!("{k}.timeout"), "must be more than 0s".into()));
        }
    }
    for (i, r) in config.inhibit_rules.iter().enumerate() {
        for (side, list) in [
            ("source_matchers", &r.source_matchers),
            ("target_matchers", &r.target_matchers),
        ] {
            if list.is_empty() {
                p.push((
                    format!("inhibit_rules[{i}].{side}"),
                    "must not be empty".into(),
                ));
            }
            if let Err((j, e)) = matcher::parse_all(list) {
                p.push((format!("inhibit_rules[{i}].{side}[{j}]"), e));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, t) in config.time_intervals.iter().enumerate() {
        if !seen.insert(t.name.clone()) {
            p.push((
                format!("time_intervals[{i}].name"),
                format!("duplicate name {:?}", t.name),
            ));
        }
        if let Err(list) = TimeInterval::build(t) {
            for (sub, m) in list {
                p.push((format!("time_intervals[{i}].{sub}"), m));
            }
        }
    }
    let d = &config.delivery;
    if d.timeout.ms() <= 0 {
        p.push(("delivery.timeout".into(), "must be more than 0s".into()));
    }
    if d.retry_initial.ms() <= 0 {
        p.push((
            "delivery.retry_initial".into(),
            "must be more than 0s".into(),
        ));
    }
    if d.retry_max < d.retry_initial {
        p.push((
            "delivery.retry_max".into(),
            "must not be less than retry_initial".into(),
        ));
    }
    p
}

fn validate_route(
    r: &RouteConfig,
    key: &str,
    receivers: &std::collections::BTreeSet<String>,
    intervals: &[&str],
    p: &mut Vec<(String, String)>,
) {
    if let Some(name) = &r.receiver
        && !receivers.contains(name)
    {
        p.push((
            format!("{key}.receiver"),
            format!("no receiver named {name:?} is defined in [[receivers]]"),
        ));
    }
    if let Err((j, e)) = matcher::parse_all(&r.matchers) {
        p.push((format!("{key}.matchers[{j}]"), e));
    }
    for (field, list) in [
        ("mute_time_intervals", &r.mute_time_intervals),
        ("active_time_intervals", &r.active_time_intervals),
    ] {
        for (j, n) in list.iter().enumerate() {
            if !intervals.contains(&n.as_str()) {
                p.push((
                    format!("{key}.{field}[{j}]"),
                    format!("no time interval named {n:?} is defined in [[time_intervals]]"),
                ));
            }
        }
    }
    for (j, g) in r.group_by.iter().flatten().enumerate() {
        if g.is_empty() {
            p.push((format!("{key}.group_by[{j}]"), "empty label name".into()));
        }
    }
    for (i, c) in r.routes.iter().enumerate() {
        validate_route(c, &format!("{key}.routes[{i}]"), receivers, intervals, p);
    }
}

/// The labels pipemon puts on an alert; absent values are left out (they match as "").
pub fn alert_labels(
    kind: &str,
    severity: &str,
    team: &str,
    pipeline: Option<&str>,
    environment: Option<&str>,
    priority: Option<&str>,
) -> Labels {
    let mut l = Labels::new();
    l.insert("kind".into(), kind.into());
    l.insert("severity".into(), severity.into());
    l.insert("team".into(), team.into());
    for (k, v) in [
        ("pipeline_id", pipeline),
        ("environment", environment),
        ("priority", priority),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            l.insert(k.into(), v.into());
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml: &str) -> Policy {
        Policy::new(&crate::config::check(toml).unwrap().alert).unwrap()
    }

    #[test]
    fn severity_policy_table() {
        let p = policy(
            r#"
[[severity_overrides]]
kind = "duration_anomaly"
team = "payments"
severity = "high"

[[severity_overrides]]
pipeline = "scratch_*"
severity = "low"
"#,
        );
        use AlertKind::*;
        use Priority as P;
        use Severity as S;
        let cases = [
            (PipelineFailed, P::Medium, "etl", "data", S::High),
            (PipelineFailed, P::Critical, "etl", "data", S::Critical),
            (PipelineFailed, P::Low, "etl", "data", S::Medium),
            (ConsecutiveFailures, P::Critical, "etl", "data", S::Critical),
            (DurationAnomaly, P::Low, "etl", "data", S::Low),
            (DurationAnomaly, P::Critical, "etl", "data", S::Medium),
            (VolumeAnomaly, P::High, "etl", "data", S::Medium),
            (SystemicFailure, P::Low, "", "platform", S::Critical),
            // Overrides: by kind and team, then by pipeline glob (first match wins).
            (DurationAnomaly, P::Medium, "etl", "payments", S::High),
            (DurationAnomaly, P::Medium, "scratch_1", "payments", S::High),
            (PipelineFailed, P::Critical, "scratch_1", "data", S::Low),
        ];
        for (kind, prio, pipe, team, want) in cases {
            let pipe = (!pipe.is_empty()).then_some(pipe);
            assert_eq!(
                p.severity(kind, prio, pipe, team),
                want,
                "{kind} {prio} {pipe:?} {team}"
            );
        }
    }

    #[test]
    fn ownership_first_rule_wins_per_field() {
        let p = policy(
            r#"
[[ownership]]
match = "billing_*"
team = "payments"

[[ownership]]
match = "*"
team = "data"
priority = "low"
"#,
        );
        assert_eq!(
            p.ownership_for("billing_daily"),
            (Some("payments".into()), Some(Priority::Low), None)
        );
        assert_eq!(
            p.ownership_for("etl"),
            (Some("data".into()), Some(Priority::Low), None)
        );
    }
}

/// A URL as it may be shown to people: scheme and host only; credentials, path, query
/// and fragment (where webhook URLs carry their secret) become `…`.
pub fn redact_url(u: &str) -> String {
    let (scheme, rest) = match u.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), u),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hidden = authority.contains('@') || end < rest.len();
    format!("{scheme}{host}{}", if hidden { "/…" } else { "" })
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn secrets_in_urls_are_not_shown() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/SECRET",
                "https://hooks.slack.com/…",
            ),
            ("hooks.slack.com/services/T0/B0/SECRET", "hooks.slack.com/…"),
            (
                "ftp://user:pw@example.com/x?token=SECRET",
                "ftp://example.com/…",
            ),
            ("https://user:SECRET@example.com", "https://example.com/…"),
            ("https://example.com", "https://example.com"),
            ("example.com?key=SECRET", "example.com/…"),
        ];
        for (url, want) in cases {
            let got = redact_url(url);
            assert_eq!(got, want, "{url}");
            assert!(!got.contains("SECRET"), "{got}");
        }
    }
}
