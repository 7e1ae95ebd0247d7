//! What each receiver type is sent. Payloads are built when a notification is queued
//! and stored in the outbox row, so a retry sends exactly the same bytes; secrets (the
//! PagerDuty routing key, URLs) are added only at send time and never stored.
//!
//! - webhook, file, command: Alertmanager's webhook payload, version 4.
//! - slack: an incoming-webhook message, `text` plus `blocks`.
//! - pagerduty: one Events API v2 event per alert, `trigger` or `resolve`, with the
//!   `dedup_key` `pipemon/<fingerprint>/<started_at ms>`: one incident per episode, so
//!   a condition's next episode is never closed by its predecessor's resolution.
//! - alertmanager: the body of `POST /api/v2/alerts` (see `alertmanager_alerts`).

use serde_json::{Map, Value, json};

use crate::alert::AlertRow;
use crate::alert::config::{ReceiverConfig, ReceiverType};
use crate::alert::matcher::Labels;
use crate::alert::policy::Policy;
use crate::model::Millis;
use crate::time::format_ms;

/// An alert as it goes into a notification: `firing` false means resolved.
#[derive(Debug, Clone)]
pub struct NotifyAlert {
    pub alert: AlertRow,
    pub firing: bool,
}

/// One outbox row to be: the payload and which alerts it carries.
#[derive(Debug, Clone)]
pub struct Item {
    /// Appended to the notification's dedup key (one PagerDuty event per alert).
    pub suffix: String,
    pub payload: Value,
    pub alert_ids: Vec<i64>,
    pub n_firing: i64,
    pub n_resolved: i64,
}

/// Alertmanager's "zero time" for endsAt of a firing alert in webhook payloads.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Detail keys alerting writes itself (they explain muting, not the condition).
const OWN_KEYS: [&str; 4] = [
    "silenced_by",
    "muted_by",
    "inhibited_by",
    "impacted_downstream",
];

/// The alert's labels plus `alertname` (= kind), as Alertmanager tooling expects.
pub fn labels_of(a: &AlertRow) -> Labels {
    let mut l = a.labels();
    l.insert("alertname".into(), a.kind.clone());
    l
}

fn annotations_of(a: &AlertRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("summary".into(), json!(a.summary));
    m.insert("alert_id".into(), json!(a.id.to_string()));
    m.insert("occurrences".into(), json!(a.occurrences.to_string()));
    if let Some(r) = &a.run_id {
        m.insert("run_id".into(), json!(r));
    }
    m.insert("details".into(), json!(a.details.to_string()));
    m
}

fn generator_url(policy: &Policy, a: &AlertRow) -> String {
    format!(
        "{}/alerts/{}",
        policy.external_url.trim_end_matches('/'),
        a.id
    )
}

/// Labels (or annotations) every alert shares.
fn common(maps: &[Map<String, Value>]) -> Map<String, Value> {
    let Some(first) = maps.first() else {
        return Map::new();
    };
    first
        .iter()
        .filter(|(k, v)| maps.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn to_map(l: &Labels) -> Map<String, Value> {
    l.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
}

/// Alertmanager's webhook payload, version 4.
pub fn webhook(
    receiver: &str,
    group_key: &str,
    group_labels: &Labels,
    alerts: &[NotifyAlert],
    policy: &Policy,
) -> Value {
    let labels: Vec<Map<String, Value>> = alerts
        .iter()
        .map(|n| to_map(&labels_of(&n.alert)))
        .collect();
    let annotations: Vec<Map<String, Value>> =
        alerts.iter().map(|n| annotations_of(&n.alert)).collect();
    let status = if alerts.iter().any(|n| n.firing) {
        "firing"
    } else {
        "resolved"
    };
    let list: Vec<Value> = alerts
        .iter()
        .zip(labels.iter().zip(&annotations))
        .map(|(n, (l, an))| {
            json!({
                "status": if n.firing { "firing" } else { "resolved" },
                "labels": l,
                "annotations": an,
                "startsAt": format_ms(n.alert.started_at),
                "endsAt": match (n.firing, n.alert.resolved_at) {
                    (false, Some(r)) => format_ms(r),
                    _ => ZERO_TIME.to_string(),
                },
                "generatorURL": generator_url(policy, &n.alert),
                "fingerprint": n.alert.fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": to_map(group_labels),
        "commonLabels": common(&labels),
        "commonAnnotations": common(&annotations),
        "externalURL": policy.external_url,
        "alerts": list,
    })
}

/// The evidence of an alert in one short line: its details without alerting's own keys.
pub fn evidence(a: &AlertRow) -> String {
    let mut d = a.details.as_object().cloned().unwrap_or_default();
    for k in OWN_KEYS {
        d.remove(k);
    }
    let s = Value::Object(d).to_string();
    if s.chars().count() > 500 {
        let mut t: String = s.chars().take(499).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// Text for Slack's `mrkdwn` (and the `text` fallback, which Slack parses the same
/// way), escaped by Slack's rules: `&`, `<` and `>` become entities, so no name or
/// summary can mention `<!channel>`/`<!here>`, a user, or hide a link.
pub fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A Slack incoming-webhook message: `text` (the notification fallback) and `blocks`.
/// Every interpolated value is escaped for mrkdwn (`slack_escape`); the header is
/// `plain_text`, which Slack does not parse.
pub fn slack(group_labels: &Labels, alerts: &[NotifyAlert]) -> Value {
    let n_firing = alerts.iter().filter(|n| n.firing).count();
    let state = if n_firing > 0 {
        format!("FIRING:{n_firing}")
    } else {
        "RESOLVED".to_string()
    };
    let group: Vec<String> = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let title = if group.is_empty() {
        format!("[{state}] pipemon")
    } else {
        format!("[{state}] {}", group.join(" "))
    };
    let mut text = slack_escape(&title);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": title},
    })];
    // Slack allows 50 blocks per message; two per alert, the rest summarised.
    const MAX_ALERTS: usize = 20;
    for n in alerts.iter().take(MAX_ALERTS) {
        let a = &n.alert;
        let status = if n.firing { "firing" } else { "resolved" };
        let e = slack_escape;
        text.push_str(&format!(
            "\n• [{}] {} ({status})",
            e(&a.severity),
            e(&a.summary)
        ));
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*{}* — {} ({status})", e(&a.kind), e(&a.summary))},
            "fields": [
                {"type": "mrkdwn", "text": format!("*Severity:*\n{}", e(&a.severity))},
                {"type": "mrkdwn", "text": format!("*Pipeline:*\n{}", e(a.pipeline_id.as_deref().unwrap_or("—")))},
                {"type": "mrkdwn", "text": format!("*Team:*\n{}", e(&a.team))},
                {"type": "mrkdwn", "text": format!("*Since:*\n{}", format_ms(a.started_at))},
            ],
        }));
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("Evidence: `{}`", e(&evidence(a)))}],
        }));
    }
    if alerts.len() > MAX_ALERTS {
        let more = alerts.len() - MAX_ALERTS;
        text.push_str(&format!("\n… and {more} more"));
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("… and {more} more alerts")}],
        }));
    }
    json!({"text": text, "blocks": blocks})
}

/// PagerDuty's severity for a pipemon severity.
pub fn pagerduty_severity(s: &str) -> &'static str {
    match s {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

/// The PagerDuty incident key of an alert episode.
pub fn pagerduty_key(a: &AlertRow) -> String {
    format!("pipemon/{}/{}", a.fingerprint, a.started_at)
}

/// One PagerDuty Events API v2 event (without `routing_key`, added at send time).
pub fn pagerduty(n: &NotifyAlert, policy: &Policy) -> Value {
    let a = &n.alert;
    let dedup_key = pagerduty_key(a);
    if !n.firing {
        return json!({"event_action": "resolve", "dedup_key": dedup_key});
    }
    let summary: String = a.summary.chars().take(1024).collect();
    let mut custom = a.details.as_object().cloned().unwrap_or_default();
    custom.insert("alert_id".into(), json!(a.id));
    custom.insert("occurrences".into(), json!(a.occurrences));
    if let Some(r) = &a.run_id {
        custom.insert("run_id".into(), json!(r));
    }
    json!({
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": a.pipeline_id.as_deref().unwrap_or("pipemon"),
            "severity": pagerduty_severity(&a.severity),
            "timestamp": format_ms(a.started_at),
            "component": a.pipeline_id,
            "group": a.team,
            "class": a.kind,
            "custom_details": custom,
        },
        "client": "pipemon",
        "client_url": generator_url(policy, a),
    })
}

/// The body of Alertmanager's `POST /api/v2/alerts`: firing alerts with
/// endsAt = now + ttl (Alertmanager resolves them if pipemon stops re-posting),
/// resolved ones with endsAt = their resolution time.
pub fn alertmanager_alerts(batch: &[NotifyAlert], policy: &Policy, now: Millis, ttl: i64) -> Value {
    Value::Array(
        batch
            .iter()
            .map(|n| {
                let a = &n.alert;
                let mut labels = labels_of(a);
                // Two systemic failures differ only by signature: keep them apart.
                labels.insert("fingerprint".into(), a.fingerprint.clone());
                let ends = if n.firing {
                    now + ttl
                } else {
                    a.resolved_at.unwrap_or(now)
                };
                json!({
                    "labels": to_map(&labels),
                    "annotations": annotations_of(a),
                    "startsAt": format_ms(a.started_at),
                    "endsAt": format_ms(ends),
                    "generatorURL": generator_url(policy, a),
                })
            })
            .collect(),
    )
}

/// Builds the outbox items for a grouped notification to `rcfg`.
pub fn build(
    rcfg: &ReceiverConfig,
    group_key: &str,
    group_labels: &Labels,
    alerts: &[NotifyAlert],
    policy: &Policy,
) -> Vec<Item> {
    let n_firing = alerts.iter().filter(|n| n.firing).count() as i64;
    let whole = |payload: Value| Item {
        suffix: String::new(),
        payload,
        alert_ids: alerts.iter().map(|n| n.alert.id).collect(),
        n_firing,
        n_resolved: alerts.len() as i64 - n_firing,
    };
    match rcfg.kind {
        ReceiverType::Webhook | ReceiverType::File | ReceiverType::Command => {
            vec![whole(webhook(
                &rcfg.name,
                group_key,
                group_labels,
                alerts,
                policy,
            ))]
        }
        ReceiverType::Slack => vec![whole(slack(group_labels, alerts))],
        ReceiverType::Pagerduty => alerts
            .iter()
            .map(|n| Item {
                suffix: format!(
                    "/{}",
                    crate::alert::group::short_hash(&pagerduty_key(&n.alert))
                ),
                payload: pagerduty(n, policy),
                alert_ids: vec![n.alert.id],
                n_firing: n.firing as i64,
                n_resolved: !n.firing as i64,
            })
            .collect(),
        ReceiverType::Alertmanager | ReceiverType::None => Vec::new(),
    }
}
