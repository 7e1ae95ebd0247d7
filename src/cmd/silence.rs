//! `pipemon silence add|list|expire`: manage silences. They take effect at the next
//! `evaluate`, which marks matching firing alerts silenced and holds their
//! notifications back.

use anyhow::{Result, bail};
use serde_json::json;

use super::Context;
use crate::alert::silence;
use crate::cli::{SilenceAction, SilenceArgs};
use crate::output::Rows;
use crate::time::{format_ms, now_ms, parse_duration_ms, parse_user_time};

fn time_arg(flag: &str, raw: &str) -> Result<i64> {
    parse_user_time(raw).ok_or_else(|| {
        crate::error::hinted(
            format!("{flag} {raw:?} is not a time"),
            "use RFC 3339 (2026-11-28T14:00:00Z) or a date (2026-11-28)",
        )
        .into()
    })
}

/// Refuses a matcher that could never match what pipemon puts on alerts: an unknown
/// label name, or an unknown kind or severity compared with `=`/`!=`.
pub fn check_matchers(raw: &[String]) -> Result<()> {
    for r in raw {
        if let Some((what, valid)) = crate::config::matcher_label_problem(r) {
            bail!(crate::error::hinted(
                format!("--match {r:?}: {what}"),
                valid
            ));
        }
    }
    Ok(())
}

pub fn run(ctx: &Context, args: &SilenceArgs) -> Result<()> {
    // Listing only reads: it opens the database read-only (works on a read-only file,
    // never creates or changes it); adding and expiring write.
    let store = match args.action {
        SilenceAction::List { .. } => ctx.open_read_only()?,
        _ => ctx.open_store()?,
    };
    let conn = store.conn()?;
    let now = now_ms();
    match &args.action {
        SilenceAction::Add {
            matchers,
            duration,
            starts,
            until,
            comment,
            author,
        } => {
            let starts_at = match starts {
                Some(s) => time_arg("--starts", s)?,
                None => now,
            };
            let ends_at = match (duration, until) {
                (Some(d), _) => {
                    let ms = parse_duration_ms(d).ok_or_else(|| {
                        crate::error::hinted(
                            format!("--duration {d:?} is not a duration"),
                            "use e.g. 30m, 2h, 1d",
                        )
                    })?;
                    starts_at + ms
                }
                (None, Some(u)) => time_arg("--until", u)?,
                (None, None) => bail!(crate::error::hinted(
                    "a silence needs an end",
                    "give --duration 2h or --until TIME",
                )),
            };
            check_matchers(matchers)?;
            let author = author.clone().or_else(|| std::env::var("USER").ok());
            let id = silence::add(
                &conn,
                matchers,
                starts_at,
                ends_at,
                comment,
                author.as_deref(),
                now,
            )?;
            println!(
                "silence {id} from {} until {}",
                format_ms(starts_at),
                format_ms(ends_at)
            );
        }
        SilenceAction::List { all } => {
            let mut rows = Rows::new(&[
                "id",
                "state",
                "matchers",
                "starts_at",
                "ends_at",
                "comment",
                "author",
            ]);
            for s in silence::list(&conn, now, *all)? {
                rows.rows.push(vec![
                    json!(s.id),
                    json!(s.state(now)),
                    json!(s.raw_matchers.join(", ")),
                    json!(format_ms(s.starts_at)),
                    json!(format_ms(s.ends_at)),
                    json!(s.comment),
                    json!(s.author),
                ]);
            }
            ctx.print(&rows, false)?;
        }
        SilenceAction::Expire { id } => {
            if silence::expire(&conn, *id, now)? {
                println!("silence {id} expired at {}", format_ms(now));
            } else {
                println!("silence {id} had already ended");
            }
        }
    }
    Ok(())
}
