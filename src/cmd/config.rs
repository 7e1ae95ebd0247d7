//! `pipemon config check|example`: validate the configuration (every problem, with its
//! key and line) or print a complete commented example.

use anyhow::{Result, bail};

use super::Context;
use crate::cli::{ConfigAction, ConfigArgs};

pub fn run(ctx: &Context, args: &ConfigArgs) -> Result<()> {
    match args.action {
        ConfigAction::Example => {
            print!("{}", crate::config::EXAMPLE);
            Ok(())
        }
        ConfigAction::Check => {
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
            match crate::config::check(&text) {
                Ok(c) => {
                    println!(
                        "{}: ok ({} receivers, {} routes, {} inhibit rules, {} time intervals)",
                        path.display(),
                        c.alert.receivers.len(),
                        crate::alert::Policy::new(&c.alert)?.route.walk().len(),
                        c.alert.inhibit_rules.len(),
                        c.alert.time_intervals.len()
                    );
                    Ok(())
                }
                Err(problems) => {
                    for p in &problems {
                        match p.line {
                            Some(l) => {
                                eprintln!("{}:{l}: {}: {}", path.display(), p.key, p.message)
                            }
                            None => eprintln!("{}: {}: {}", path.display(), p.key, p.message),
                        }
                    }
                    bail!(crate::error::hinted(
                        format!("{} problem(s) in {}", problems.len(), path.display()),
                        "`pipemon config example` prints a valid, commented configuration",
                    ))
                }
            }
        }
    }
}
