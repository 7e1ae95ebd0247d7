//! One module per subcommand: each has a `run` taking the validated context and its
//! own arguments. Dispatch lives here so `main` stays a few lines long.

pub mod ack;
pub mod alerts;
pub mod config;
pub mod eval;
pub mod evaluate;
pub mod generate;
pub mod import;
pub mod metrics;
pub mod notifications;
pub mod notify;
pub mod query;
pub mod rejected;
pub mod report;
pub mod silence;

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{Cli, Command, Format};
use crate::store::Store;

/// What every command may need, validated once.
#[derive(Debug, Clone)]
pub struct Context {
    pub db: PathBuf,
    /// Explicit `--config`/`$PIPEMON_CONFIG`; None means `./pipemon.toml` if present.
    pub config: Option<PathBuf>,
    pub format: Format,
    /// `--wide`: tables show every column, uncut.
    pub wide: bool,
}

impl Context {
    /// The database for a command that writes: created and migrated if needed.
    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.db)
    }

    /// Prints rows: JSON and CSV complete; a table fitted for people, at most
    /// `output::DEFAULT_LIMIT` rows unless the command was given `--limit`.
    pub fn print(&self, rows: &crate::output::Rows, limited: bool) -> Result<()> {
        let view = crate::output::View::detect(self.wide, limited);
        rows.print_view(self.format, &view)?;
        Ok(())
    }

    /// The database for a command that only reads: must exist; never written.
    pub fn open_read_only(&self) -> Result<Store> {
        Store::open_read_only(&self.db)
    }
}

/// Runs the command line.
pub fn run(cli: Cli) -> Result<()> {
    match crate::alert::config::parse_dur(&cli.lock_timeout) {
        Some(ms) => crate::store::set_lock_timeout(std::time::Duration::from_millis(ms as u64)),
        None => {
            return Err(crate::error::hinted(
                format!("--lock-timeout `{}` is not a duration", cli.lock_timeout),
                "use e.g. 30s, 10m or 1h (0s: fail at once when another process writes)",
            )
            .into());
        }
    }
    let ctx = Context {
        db: cli.db.clone(),
        config: cli.config.clone(),
        format: cli.format,
        wide: cli.wide,
    };
    if let Some(file) = &cli.data_file {
        let query = cli.query.as_deref().unwrap_or("pipeline_health");
        return query::run_take_home(&ctx, file, query);
    }
    match &cli.command {
        Some(Command::Import(a)) => import::run(&ctx, a),
        Some(Command::Rejected(a)) => rejected::run(&ctx, a),
        Some(Command::Query(a)) => query::run(&ctx, a),
        Some(Command::Evaluate(a)) => evaluate::run(&ctx, a),
        Some(Command::Alerts(a)) => alerts::run(&ctx, a),
        Some(Command::Ack(a)) => ack::run(&ctx, a),
        Some(Command::Silence(a)) => silence::run(&ctx, a),
        Some(Command::Notify(a)) => notify::run(&ctx, a),
        Some(Command::Notifications(a)) => notifications::run(&ctx, a),
        Some(Command::Config(a)) => config::run(&ctx, a),
        Some(Command::Generate(a)) => generate::run(&ctx, a),
        Some(Command::Eval(a)) => eval::run(&ctx, a),
        Some(Command::Report(a)) => report::run(&ctx, a),
        Some(Command::Metrics(a)) => metrics::run(&ctx, a),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "pipemon", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(())
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            std::io::Write::write_all(&mut std::io::stdout(), &page)?;
            Ok(())
        }
        None => Err(crate::error::hinted(
            "no command given",
            "try `pipemon import FILE`, `pipemon evaluate`, `pipemon query pipeline_health`, or `pipemon --help`",
        )
        .into()),
    }
}
