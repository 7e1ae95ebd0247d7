//! `pipemon config check|example|routes`: validate the configuration (every problem,
//! with its key, line and column, plus receivers whose secret variables are unset),
//! print a complete commented example, or show where an alert with given labels goes.

use anyhow::{Result, bail};

use super::Context;
use crate::alert::config::{AlertConfig, LABELS, ReceiverType};
use crate::cli::{ConfigAction, ConfigArgs};
use crate::output::Rows;

pub fn run(ctx: &Context, args: &ConfigArgs) -> Result<()> {
    match &args.action {
        ConfigAction::Example => {
            print!("{}", crate::config::EXAMPLE);
            Ok(())
        }
        ConfigAction::Check => check(ctx),
        ConfigAction::Routes { labels } => routes(ctx, labels),
    }
}

fn check(ctx: &Context) -> Result<()> {
    let Some(path) = crate::config::resolve_path(ctx.config.as_deref()) else {
        println!("no configuration file (./pipemon.toml absent): built-in defaults apply");
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        crate::error::hinted(
            format!("cannot read configuration {}: {e}", path.display()),
            "pass an existing file with --config PATH (or $PIPEMON_CONFIG)",
        )
    })?;
    let shown = path.display();
    let (config, mut errors) = match crate::config::check(&text) {
        Ok(c) => (Some(c), Vec::new()),
        Err(problems) => (None, problems),
    };
    let mut warnings = Vec::new();
    if let Some(c) = &config {
        let (e, w) = env_problems(&c.alert);
        errors.extend(e.into_iter().map(|mut p| {
            (p.line, p.column) = crate::config::locate(&text, &p.key);
            p
        }));
        warnings = w;
    }
    for p in &errors {
        match (p.line, p.column) {
            (Some(l), Some(col)) => eprintln!("{shown}:{l}:{col}: error: {}: {}", p.key, p.message),
            (Some(l), None) => eprintln!("{shown}:{l}: error: {}: {}", p.key, p.message),
            _ => eprintln!("{shown}: error: {}: {}", p.key, p.message),
        }
    }
    for w in &warnings {
        eprintln!("{shown}: warning: {w}");
    }
    if !errors.is_empty() {
        bail!(crate::error::hinted(
            format!("{} problem(s) in {shown}", errors.len()),
            "`pipemon config example` prints a valid, commented configuration",
        ));
    }
    let c = config.expect("no errors means parsed");
    println!(
        "{shown}: ok ({} receivers, {} routes, {} inhibit rules, {} time intervals{})",
        c.alert.receivers.len(),
        crate::alert::Policy::new(&c.alert)?.route.walk().len(),
        c.alert.inhibit_rules.len(),
        c.alert.time_intervals.len(),
        if warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warning(s)", warnings.len())
        }
    );
    Ok(())
}

/// What stops a receiver: a secret variable that is unset (an error for a receiver
/// that routes reach, else a warning), or a file receiver whose directory does not
/// exist (a warning).
pub fn env_problems(c: &AlertConfig) -> (Vec<crate::config::Problem>, Vec<String>) {
    let reached: std::collections::BTreeSet<String> = match crate::alert::Policy::new(c) {
        Ok(p) => p.route.walk().iter().map(|r| r.receiver.clone()).collect(),
        Err(_) => Default::default(),
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (i, r) in c.receivers.iter().enumerate() {
        for (field, var) in [
            ("url_env", &r.url_env),
            ("routing_key_env", &r.routing_key_env),
        ] {
            let Some(var) = var else { continue };
            let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
            if set || r.kind == ReceiverType::None {
                continue;
            }
            if reached.contains(&r.name) {
                errors.push(crate::config::Problem {
                    key: format!("receivers[{i}].{field}"),
                    line: None,
                    column: None,
                    message: format!(
                        "environment variable `{var}` is not set, so receiver `{}` cannot deliver",
                        r.name
                    ),
                });
            } else {
                warnings.push(format!(
                    "receivers[{i}].{field}: environment variable `{var}` is not set \
                     (receiver `{}` is not reached by any route)",
                    r.name
                ));
            }
        }
    }
    for (i, r) in c.receivers.iter().enumerate() {
        let Some(path) = r.path.as_ref().filter(|_| r.kind == ReceiverType::File) else {
            continue;
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_none_or(|d| d.is_dir()) {
            continue;
        }
        // A warning, not an error: the directory may be made at deployment, and the
        // delivery itself reports the failure as permanent.
        warnings.push(format!(
            "receivers[{i}].path: the directory of `{}` does not exist, so receiver `{}` cannot \
             deliver until it is created",
            path.display(),
            r.name
        ));
    }
    (errors, warnings)
}

/// `config routes --labels team=x,kind=y`: the routes an alert with those labels is
/// sent through, each with its receiver and timing (like amtool's route test).
fn routes(ctx: &Context, raw: &[String]) -> Result<()> {
    let config = crate::config::load(ctx.config.as_deref())?;
    let mut labels = crate::alert::matcher::Labels::new();
    for pair in raw {
        let Some((k, v)) = pair.split_once('=') else {
            bail!(crate::error::hinted(
                format!("--labels `{pair}` is not name=value"),
                "write --labels team=payments,kind=stuck_run",
            ));
        };
        let k = k.trim();
        if !LABELS.contains(&k) {
            bail!(crate::error::hinted(
                format!("--labels `{pair}`: unknown label `{k}`"),
                format!("the labels are: {}", LABELS.join(", ")),
            ));
        }
        labels.insert(k.to_string(), v.trim().to_string());
    }
    let policy = crate::alert::Policy::new(&config.alert)?;
    let mut rows = Rows::new(&[
        "route",
        "receiver",
        "type",
        "group_by",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "muted_by",
    ]);
    for r in policy.route.matches(&labels) {
        let kind = policy
            .receivers
            .get(&r.receiver)
            .map_or("none", |rc| rc.kind.as_str());
        rows.rows.push(vec![
            r.path.clone().into(),
            r.receiver.clone().into(),
            kind.into(),
            match &r.group_by {
                crate::alert::route::GroupBy::All => "...".to_string(),
                crate::alert::route::GroupBy::Labels(l) => l.join(","),
            }
            .into(),
            crate::time::format_duration(r.group_wait).into(),
            crate::time::format_duration(r.group_interval).into(),
            crate::time::format_duration(r.repeat_interval).into(),
            r.mute_time_intervals.join(", ").into(),
        ]);
    }
    rows.print(ctx.format)?;
    Ok(())
}
