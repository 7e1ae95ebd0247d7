//! The `pipemon` binary: parse, run, map errors to exit codes.
//!
//! Exit status: 0 success; 1 a check that ran and said no (eval below --min-score);
//! 2 an error; 3 the work was done but notifications are failing (see
//! `pipemon notifications`). A closed stdout (`pipemon alerts | head`) is not an error.

use std::process::ExitCode;

use clap::Parser;

use pipemon::cli::Cli;
use pipemon::error::{DeliveriesFailing, Hinted, Unsatisfied};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let db = cli.db.clone();
    match pipemon::cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err, &db),
    }
}

fn report(err: &anyhow::Error, db: &std::path::Path) -> ExitCode {
    if err.chain().any(is_broken_pipe) {
        return ExitCode::SUCCESS;
    }
    if let Some(d) = err.downcast_ref::<DeliveriesFailing>() {
        eprintln!("{d}");
        return ExitCode::from(3);
    }
    if let Some(u) = err.downcast_ref::<Unsatisfied>() {
        eprintln!("{u}");
        return ExitCode::from(1);
    }
    eprintln!("Error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("Caused by: {cause}");
    }
    if let Some(h) = err.chain().find_map(|c| c.downcast_ref::<Hinted>()) {
        eprintln!("hint: {}", h.hint);
    } else if let Some((what, hint)) = err
        .chain()
        .find_map(|c| c.downcast_ref::<rusqlite::Error>())
        .and_then(|e| pipemon::store::hint_for(e, db))
    {
        // A SQLite error nobody explained on the way up: say what it means.
        eprintln!("hint: {what}; {hint}");
    }
    ExitCode::from(2)
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
