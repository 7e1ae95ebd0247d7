//! Command-line surface: clap derive types only.
//!
//! Everything here is raw user input. `main` turns it into validated settings right
//! away; nothing below `cmd::*::run` sees an unparsed flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// pipemon: pipeline execution events in, run health, anomalies and routed alerts out,
/// all kept in one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "pipemon", version, about, max_term_width = 100)]
pub struct Cli {
    /// The SQLite database; created and migrated on first use.
    #[arg(long, global = true, env = "PIPEMON_DB", default_value = "pipemon.db")]
    pub db: PathBuf,

    /// The configuration file (TOML). Missing file: built-in defaults.
    #[arg(long, global = true, env = "PIPEMON_CONFIG")]
    pub config: Option<PathBuf>,

    /// How long a command that writes waits for another pipemon process holding the
    /// database's write lock (an evaluation, import or notify) before giving up:
    /// 30s, 10m, 1h.
    #[arg(
        long,
        global = true,
        env = "PIPEMON_LOCK_TIMEOUT",
        default_value = "10m",
        value_name = "DURATION"
    )]
    pub lock_timeout: String,

    /// Output format for commands that print data.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Tables: every column, cells uncut (default: what fits the terminal).
    #[arg(long, global = true)]
    pub wide: bool,

    /// Take-home compatibility: import this file, then answer `--query`.
    #[arg(long, value_name = "FILE", requires = "query")]
    pub data_file: Option<PathBuf>,

    /// Take-home compatibility: the query to answer after `--data-file`.
    #[arg(long, value_name = "NAME")]
    pub query: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import execution events (JSON Lines, .gz, or - for stdin).
    Import(ImportArgs),
    /// List rejected input lines with their reason and raw text.
    Rejected(RejectedArgs),
    /// Answer a named query: pipeline_health, team_health, runs, failures, execution_patterns.
    Query(QueryArgs),
    /// Detect conditions, open/update/resolve alerts, then notify (run from cron).
    Evaluate(EvaluateArgs),
    /// List alerts (firing by default), or `alerts show ID`.
    Alerts(AlertsArgs),
    /// Acknowledge an alert: no repeat notifications until it resolves.
    Ack(AckArgs),
    /// Manage silences.
    Silence(SilenceArgs),
    /// Send due notifications from the outbox.
    Notify(NotifyArgs),
    /// Show the notification outbox.
    Notifications(NotificationsArgs),
    /// Check or print the configuration.
    Config(ConfigArgs),
    /// Generate synthetic events with injected incidents and their ground truth.
    Generate(GenerateArgs),
    /// Score pipemon against generated data with ground truth (the take-home's 6 checks).
    Eval(EvalArgs),
    /// Write a self-contained HTML health report (overview, teams, pipelines, alerts).
    Report(ReportArgs),
    /// Write OpenMetrics text for Prometheus (node_exporter's textfile collector).
    Metrics(MetricsArgs),
    /// Print a shell completion script: `pipemon completions bash > /etc/bash_completion.d/pipemon`.
    Completions {
        /// The shell to write the script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `pipemon man > /usr/local/share/man/man1/pipemon.1`.
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Decide per line: an object with `eventType`/`job`/`run` is OpenLineage.
    Auto,
    Native,
    Openlineage,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import: .jsonl, .jsonl.gz, or - for standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Stop at the first bad line and leave the database exactly as it was.
    #[arg(long)]
    pub strict: bool,
    /// Force the input format instead of detecting it per line.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct RejectedArgs {
    /// Only this reason code.
    #[arg(long)]
    pub reason: Option<String>,
    /// At most this many rows (newest first).
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// pipeline_health, team_health, runs, failures or execution_patterns.
    pub name: String,
    /// Only this pipeline's rows.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Only the rows of this team's pipelines.
    #[arg(long)]
    pub team: Option<String>,
    /// Only runs that started at or after this time: RFC 3339, a date, or an age (24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many rows.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The evaluation time: RFC 3339, `now` (wall clock) or `data-end` (latest event time).
    #[arg(long, default_value = "now")]
    pub now: String,
    /// Forget all alerts and re-derive them from the events.
    #[arg(long)]
    pub rebuild: bool,
    /// Do not send notifications after evaluating.
    #[arg(long)]
    pub no_notify: bool,
    /// The backfill line (RFC 3339): alerts that resolved before it are recorded, not
    /// sent. Default: the database's first evaluation time.
    #[arg(long)]
    pub notify_since: Option<String>,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<AlertsAction>,
    /// Every alert, firing and resolved.
    #[arg(long)]
    pub all: bool,
    /// Only firing or only resolved alerts (default: firing).
    #[arg(long, value_parser = ["firing", "resolved"])]
    pub status: Option<String>,
    /// Only alerts of this kind (pipeline_failed, stuck_run, ...).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only alerts routed to this team.
    #[arg(long)]
    pub team: Option<String>,
    /// Only alerts of this severity (critical, high, medium, low).
    #[arg(long)]
    pub severity: Option<String>,
    /// Only this pipeline's alerts.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// At most this many rows (a table shows 50 unless given).
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// One alert with its evidence.
    Show {
        /// The alert's id (the first column of `pipemon alerts`).
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// The alert's id (the first column of `pipemon alerts`).
    pub id: i64,
    /// Why, or who is on it; kept with the acknowledgement.
    #[arg(long)]
    pub comment: Option<String>,
}

#[derive(Debug, Args)]
pub struct SilenceArgs {
    #[command(subcommand)]
    pub action: SilenceAction,
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Add a silence: every --match must hold (label=value, !=, =~, !~).
    Add {
        /// A label matcher: team=payments, kind!=missed_run, pipeline_id=~^etl_.*
        #[arg(long = "match", required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h, 30m, 1d.
        #[arg(long, conflicts_with = "until")]
        duration: Option<String>,
        /// Start time (default: now).
        #[arg(long)]
        starts: Option<String>,
        /// End time (instead of --duration).
        #[arg(long)]
        until: Option<String>,
        /// Why the alerts are silenced (shown with the silence).
        #[arg(long, default_value = "")]
        comment: String,
        /// Who silenced them (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// List silences (active and pending; --all for expired too).
    List {
        /// Expired silences too.
        #[arg(long)]
        all: bool,
    },
    /// End a silence now.
    Expire {
        /// The silence's id (from `pipemon silence list`).
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Treat this as the current time (RFC 3339) for grouping timers; default wall
    /// clock. Retries and backoff always run on the wall clock.
    #[arg(long)]
    pub now: Option<String>,
    /// Put notifications that failed for good back in the queue first (after fixing
    /// a receiver's configuration or environment).
    #[arg(long)]
    pub retry_failed: bool,
}

#[derive(Debug, Args)]
pub struct NotificationsArgs {
    /// Only notifications in this state.
    #[arg(long, value_parser = ["pending", "sent", "failed"])]
    pub status: Option<String>,
    /// At most this many rows (a table shows 50 unless given).
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration file and report every problem.
    Check,
    /// Print a complete, commented example configuration.
    Example,
    /// Show which routes and receivers an alert with these labels reaches.
    Routes {
        /// Labels as name=value pairs, comma-separated: team=payments,kind=stuck_run.
        #[arg(long, value_delimiter = ',', required = true)]
        labels: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many pipelines the world holds.
    #[arg(long, default_value_t = 60)]
    pub pipelines: u32,
    /// How many days of history to generate.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// The world's seed: the same seed gives the same events and truth.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory; receives events.jsonl (or .jsonl.gz) and truth.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Write the events gzip-compressed (events.jsonl.gz).
    #[arg(long)]
    pub gzip: bool,
    /// First day of the data (RFC 3339 date or time); default 2026-10-01.
    #[arg(long)]
    pub start: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The HTML file to write (written to a temporary file, then renamed).
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Charts and recent alerts from this long before the latest event (`14d`, `36h`),
    /// or from a time (RFC 3339, a date, epoch ms).
    #[arg(long, default_value = "14d")]
    pub since: String,
    /// Only this team's pipelines.
    #[arg(long)]
    pub team: Option<String>,
    /// Only pipelines whose id matches this glob (`payments_*`).
    #[arg(long)]
    pub pipeline: Option<String>,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The file to write (temporary file + rename); standard output when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A directory made by `generate` (events.jsonl[.gz] + truth.json).
    #[arg(long, conflicts_with_all = ["pipelines", "days", "seed", "suite", "seeds"])]
    pub data: Option<PathBuf>,
    /// Run a suite of N independent worlds (one per seed) and print per-kind medians
    /// and worst seeds; the seeds come from --seeds (default: the training seeds).
    #[arg(long, value_name = "N", conflicts_with = "seed")]
    pub suite: Option<usize>,
    /// The suite's seeds: `train` (1001…), `test` (2001…), a range `A..B`, or `A,B,C`.
    #[arg(long, value_name = "SPEC", conflicts_with = "seed")]
    pub seeds: Option<String>,
    /// Pipelines per generated world (default: 40 in a suite; the full or
    /// --quick size for one world).
    #[arg(long)]
    pub pipelines: Option<u32>,
    /// Days of history per generated world (default: 21 in a suite; the full or
    /// --quick size for one world).
    #[arg(long)]
    pub days: Option<u32>,
    /// The seed of the one generated world.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Small data; speed checks are reported but not judged.
    #[arg(long)]
    pub quick: bool,
    /// Exit non-zero when the score is below this.
    #[arg(long, default_value_t = 6)]
    pub min_score: u32,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every subcommand and every option says what it is for in `--help`.
    #[test]
    fn every_command_and_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "pipemon", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }
}
