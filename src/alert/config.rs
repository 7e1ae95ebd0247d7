//! The alerting sections of the configuration file: `[alerting]`, `[[ownership]]`,
//! `[[severity_overrides]]`, `[route]`, `[[receivers]]`, `[[inhibit_rules]]`,
//! `[[time_intervals]]` and `[delivery]`. The types live here, with the code that
//! uses them; `crate::config` only composes them with `[detect]` into one file.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

/// Everything alerting reads from the configuration file.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    /// General alerting policy.
    pub alerting: AlertingConfig,
    /// Ownership rules: pipeline name or glob → team, priority, environment.
    pub ownership: Vec<OwnershipRule>,
    /// Severity overrides by kind, pipeline or team (first match wins).
    pub severity_overrides: Vec<SeverityOverride>,
    /// The routing tree (Alertmanager semantics).
    pub route: RouteConfig,
    /// Where notifications go.
    pub receivers: Vec<ReceiverConfig>,
    /// Configurable inhibition rules (Alertmanager semantics).
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Named recurring time intervals (maintenance windows) that routes can mute on.
    pub time_intervals: Vec<TimeIntervalConfig>,
    /// Outbox delivery: timeouts and retries.
    pub delivery: DeliveryConfig,
}

/// A duration written as `30s`, `5m`, `4h`, `1d`, `500ms` or `0s`; held in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub i64);

impl Dur {
    pub fn ms(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::time::format_duration(self.0))
    }
}

/// Parses a configuration duration; unlike command-line durations, zero is allowed
/// (`group_wait = "0s"` means "at once").
pub fn parse_dur(s: &str) -> Option<i64> {
    crate::time::parse_duration(s).ok()
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_dur(&s).map(Dur).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} (expected e.g. 30s, 5m, 4h, 1d, 500ms)"
            ))
        })
    }
}

/// `[alerting]`: policy that is not part of the routing tree.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AlertingConfig {
    /// An alert that resolves and fires again within this time stays one alert for
    /// notifications: its resolution is held back this long, and the new firing is not
    /// re-notified.
    pub flap_hold_down: Dur,
    /// `systemic_failure` inhibits the per-pipeline failure alerts with its signature.
    pub systemic_inhibition: bool,
    /// A failing or stuck upstream inhibits its downstream pipelines' symptoms.
    pub lineage_inhibition: bool,
    /// Shown as `externalURL` in webhook payloads.
    pub external_url: String,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            flap_hold_down: Dur(5 * 60_000),
            systemic_inhibition: true,
            lineage_inhibition: true,
            external_url: "http://localhost/pipemon".to_string(),
        }
    }
}

/// `[[ownership]]`: the first rule whose `match` (pipeline name or glob) fits sets the
/// fields it names; later rules fill fields earlier ones left unset.
#[derive(Debug, Clone, Deserialize)]
pub struct OwnershipRule {
    #[serde(rename = "match")]
    pub pattern: String,
    pub team: Option<String>,
    pub priority: Option<String>,
    pub environment: Option<String>,
}

/// `[[severity_overrides]]`: every condition given must hold; the first matching rule
/// sets the severity.
#[derive(Debug, Clone, Deserialize)]
pub struct SeverityOverride {
    pub kind: Option<String>,
    /// Pipeline name or glob.
    pub pipeline: Option<String>,
    pub team: Option<String>,
    pub severity: String,
}

/// A node of the routing tree (`[route]`, `[[route.routes]]`, …).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RouteConfig {
    pub receiver: Option<String>,
    /// `label=value`, `label!=value`, `label=~regex`, `label!~regex`; all must hold.
    pub matchers: Vec<String>,
    /// Label names forming the group key; `["..."]` groups by every label.
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<Dur>,
    pub group_interval: Option<Dur>,
    pub repeat_interval: Option<Dur>,
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Named time intervals during which this route sends nothing (not inherited).
    pub mute_time_intervals: Vec<String>,
    /// Named time intervals outside which this route sends nothing (not inherited).
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<RouteConfig>,
}

/// How a receiver delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverType {
    /// Records, delivers nothing.
    None,
    Webhook,
    Slack,
    Pagerduty,
    Alertmanager,
    File,
    Command,
}

impl ReceiverType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverType::None => "none",
            ReceiverType::Webhook => "webhook",
            ReceiverType::Slack => "slack",
            ReceiverType::Pagerduty => "pagerduty",
            ReceiverType::Alertmanager => "alertmanager",
            ReceiverType::File => "file",
            ReceiverType::Command => "command",
        }
    }
}

/// `[[receivers]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ReceiverType,
    /// webhook, slack, alertmanager (base URL), pagerduty (default: PagerDuty's Events API).
    pub url: Option<String>,
    /// Read the URL from this environment variable instead (keeps secrets out of the file).
    pub url_env: Option<String>,
    /// pagerduty: the integration's routing key, or the variable holding it.
    pub routing_key: Option<String>,
    pub routing_key_env: Option<String>,
    /// file: JSON Lines are appended here.
    pub path: Option<PathBuf>,
    /// command: program and arguments; the payload goes to its standard input.
    pub command: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Send only the alerts that changed since the previous notification of the group.
    #[serde(default)]
    pub send_changes_only: bool,
    /// Per-request timeout (default: delivery.timeout).
    pub timeout: Option<Dur>,
    /// alertmanager: re-post firing alerts this often (Alertmanager resolves alerts that
    /// are not re-sent before their endsAt).
    pub resend_interval: Option<Dur>,
    /// alertmanager: endsAt of a firing alert is the post time plus this.
    pub alert_ttl: Option<Dur>,
}

fn yes() -> bool {
    true
}

/// `[[inhibit_rules]]`: a firing alert matching `source_matchers` mutes alerts matching
/// `target_matchers` that have the same values for the `equal` labels.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InhibitRuleConfig {
    pub source_matchers: Vec<String>,
    pub target_matchers: Vec<String>,
    pub equal: Vec<String>,
}

/// `[[time_intervals]]`: active when the local weekday is listed (empty: every day) and
/// the local time of day is inside one of `times` (empty: all day).
#[derive(Debug, Clone, Deserialize)]
pub struct TimeIntervalConfig {
    pub name: String,
    /// IANA zone name, e.g. `Europe/Berlin`; default UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `monday`, …, or ranges such as `monday:friday`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub times: Vec<TimeRangeConfig>,
}

/// One `start`–`end` time of day (`HH:MM`, end exclusive, `24:00` allowed).
#[derive(Debug, Clone, Deserialize)]
pub struct TimeRangeConfig {
    pub start: String,
    pub end: String,
}

/// `[delivery]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Per-request timeout.
    pub timeout: Dur,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_initial: Dur,
    /// Longest delay between retries.
    pub retry_max: Dur,
    /// A notification still failing this long after it was queued is marked failed.
    pub give_up_after: Dur,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Dur(10_000),
            retry_initial: Dur(30_000),
            retry_max: Dur(10 * 60_000),
            give_up_after: Dur(24 * 3_600_000),
        }
    }
}

/// Every label name pipemon puts on an alert.
pub const LABELS: [&str; 6] = [
    "team",
    "severity",
    "kind",
    "pipeline_id",
    "environment",
    "priority",
];

/// The receivers named in the configuration, plus the implicit `default` (records,
/// delivers nothing) when the file does not define one.
pub fn receiver_names(config: &AlertConfig) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
    names.insert("default".to_string());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_dur("0s"), Some(0));
        assert_eq!(parse_dur("0"), Some(0));
        assert_eq!(parse_dur("90s"), Some(90_000));
        assert_eq!(parse_dur("x"), None);
    }
}
