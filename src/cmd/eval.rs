//! `pipemon eval`: generate (or take) data with ground truth, run pipemon on it in a
//! temporary database, and score the result with `eval::score`.
//!
//! pipemon is driven as a user drives it: this same binary (`current_exe`) runs
//! `import`, `evaluate --now data-end --no-notify`, `alerts --all` and
//! `query pipeline_health` as subprocesses, so the score covers the real command
//! line, and the eval depends only on the documented outputs. Subprocesses run in the
//! temporary directory with no configuration unless `--config` is given, so a
//! `pipemon.toml` lying around cannot change the score. Only the query-plan check
//! looks inside, through `query::check_hot_query_plans`, and check 3's reference
//! (`eval::reference`) writes its own scratch database.
//!
//! `--suite N` / `--seeds SPEC` run one such world per seed (`eval::suite`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;

use super::Context;
use crate::cli::{EvalArgs, Format};
use crate::error::{Unsatisfied, hinted};
use crate::eval::suite::{self, SeedSpec};
use crate::eval::{self, AlertRecord, EvalInput, PlanCheck, Throughput};
use crate::generate::truth::Truth;
use crate::generate::{self, GenerateOptions};

/// `--quick` data: small enough for CI in a debug build.
pub const QUICK_SIZE: (u32, u32) = (40, 14);
/// Full data: above a million events, for the speed checks.
pub const FULL_SIZE: (u32, u32) = (600, 40);
/// The seed when none is given (the committed sample uses 42).
pub const DEFAULT_SEED: u64 = 7;

/// A temporary directory removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("pipemon-eval-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs this binary with `args` against `db`; returns stdout, or stderr as the error.
fn pipemon(ctx: &Context, work: &Path, db: &Path, args: &[&str]) -> Result<String> {
    let exe = std::env::current_exe().context("locating the pipemon binary")?;
    let mut cmd = Command::new(exe);
    cmd.current_dir(work)
        .env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG")
        .arg("--db")
        .arg(db);
    if let Some(cfg) = &ctx.config {
        // The child runs in the work directory: a relative path would name
        // another file there (or none).
        let cfg = std::path::absolute(cfg)
            .with_context(|| format!("resolving --config {}", cfg.display()))?;
        cmd.arg("--config").arg(cfg);
    }
    cmd.args(args);
    let out = cmd.output().context("running pipemon")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        bail!(
            "`pipemon {}` exited with {}: {first}",
            args.join(" "),
            out.status
        );
    }
    String::from_utf8(out.stdout).context("pipemon printed invalid UTF-8")
}

/// The events file and truth of a data directory: one made by `generate`
/// (`events.jsonl[.gz]`, `truth.json`) or the committed sample's names
/// (`pipeline_executions.jsonl`, `ground_truth.json`).
fn load_data(dir: &Path) -> Result<(PathBuf, Truth)> {
    let hint = "--data takes a directory written by `pipemon generate` (or `data/`)";
    let find = |names: &[&str]| names.iter().map(|f| dir.join(f)).find(|p| p.exists());
    let truth_path = find(&["truth.json", "ground_truth.json"]).ok_or_else(|| {
        hinted(
            format!("no truth.json or ground_truth.json in {}", dir.display()),
            hint,
        )
    })?;
    let text = std::fs::read_to_string(&truth_path)
        .with_context(|| format!("reading {}", truth_path.display()))?;
    let truth: Truth = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a pipemon truth file", truth_path.display()))?;
    let events = find(&[
        "events.jsonl",
        "events.jsonl.gz",
        "pipeline_executions.jsonl",
    ])
    .ok_or_else(|| {
        hinted(
            format!(
                "no events.jsonl[.gz] or pipeline_executions.jsonl in {}",
                dir.display()
            ),
            hint,
        )
    })?;
    let events = std::fs::canonicalize(&events)?;
    Ok((events, truth))
}

fn import_figures(summary: &str) -> Result<(u64, Throughput)> {
    let v: Value = serde_json::from_str(summary.trim()).context("import summary")?;
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    let rejected = v
        .get("rejected")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("import summary has no `rejected`"))?;
    Ok((
        rejected,
        Throughput {
            lines: num("lines").unwrap_or(0.0) as u64,
            seconds: num("seconds").unwrap_or(0.0),
            events_per_second: num("events_per_second").unwrap_or(0.0),
            reference_rows_per_second: None,
        },
    ))
}

/// The median of three `pipeline_health` answers on one connection, in milliseconds.
fn health_times(db: &Path) -> Result<f64> {
    let store = crate::store::Store::open(db)?;
    let conn = store.conn()?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        crate::query::run_named(&conn, "pipeline_health", &Default::default())?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[1])
}

fn plan_checks(db: &Path) -> Result<Vec<PlanCheck>> {
    let store = crate::store::Store::open(db)?;
    let conn = store.conn()?;
    Ok(crate::query::check_hot_query_plans(&conn)?
        .into_iter()
        .map(|c| PlanCheck {
            name: c.name,
            plan: c.plan,
            ok: c.ok,
        })
        .collect())
}

/// What to measure on one world besides detection and run accounting.
#[derive(Clone, Copy)]
struct Measure {
    /// Time `pipeline_health` (median of three) and check the hot query plans.
    timing: bool,
    /// Measure the import reference (check 3's denominator).
    reference: bool,
}

/// Imports `events` into a fresh database in `work`, evaluates at the data end, reads
/// the alerts and `pipeline_health`, and collects what the scorer needs.
fn run_world(
    ctx: &Context,
    work: &Path,
    events: &Path,
    truth: &Truth,
    measure: Measure,
    quiet: bool,
) -> Result<EvalInput> {
    let db = work.join("eval.db");
    let mut problems = BTreeMap::new();
    // The reference runs before and after the import, and the slower of the two is
    // the denominator: the machine's load moves both sides of the ratio alike.
    let reference = |problems: &mut BTreeMap<String, String>| -> Option<f64> {
        if !measure.reference {
            return None;
        }
        if !quiet {
            eprintln!("eval: measuring the reference (the same rows into a keyed table)");
        }
        match eval::reference::measure(
            events,
            &work.join("reference.db"),
            eval::reference::Table::Keyed,
        ) {
            Ok(r) => Some(r.rows_per_second),
            Err(e) => {
                problems.insert("reference".to_string(), format!("{e:#}"));
                None
            }
        }
    };
    let before = reference(&mut problems);
    if !quiet {
        eprintln!("eval: importing {} lines", truth.lines.total);
    }
    let events_arg = events.to_string_lossy().to_string();
    let summary = pipemon(
        ctx,
        work,
        &db,
        &["--format", "json", "import", "--no-progress", &events_arg],
    )?;
    let (rejected, mut throughput) = import_figures(&summary)?;
    let after = reference(&mut problems);
    throughput.reference_rows_per_second = match (before, after) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if !quiet && let (Some(a), Some(b)) = (before, after) {
        eprintln!(
            "eval: import {:.0} events/s; reference {a:.0} rows/s before, {b:.0} after",
            throughput.events_per_second
        );
    }

    if !quiet {
        eprintln!("eval: evaluating at the data end");
    }
    let alerts = match pipemon(
        ctx,
        work,
        &db,
        &["evaluate", "--now", "data-end", "--no-notify"],
    )
    .and_then(|_| pipemon(ctx, work, &db, &["--format", "json", "alerts", "--all"]))
    .and_then(|text| {
        eval::parse_objects(&text)?
            .into_iter()
            .map(|o| AlertRecord::from_json(&Value::Object(o)))
            .collect::<Result<Vec<_>>>()
    }) {
        Ok(a) => Some(a),
        Err(e) => {
            problems.insert("evaluate".to_string(), format!("{e:#}"));
            None
        }
    };

    // pipeline_health: the rows through the command line, as a user reads them; the
    // answer time (median of three) in process, as the import bench measures it, so
    // process start-up on a loaded machine is not counted as query time.
    let health = match pipemon(
        ctx,
        work,
        &db,
        &["--format", "json", "query", "pipeline_health"],
    )
    .and_then(|text| eval::parse_objects(&text))
    {
        Ok(rows) => Some(rows),
        Err(e) => {
            problems.insert("health".to_string(), format!("{e:#}"));
            None
        }
    };
    let health_query_ms = if measure.timing && health.is_some() {
        match health_times(&db) {
            Ok(ms) => Some(ms),
            Err(e) => {
                problems.insert("health".to_string(), format!("{e:#}"));
                None
            }
        }
    } else {
        None
    };

    let plans = if measure.timing {
        match plan_checks(&db) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.insert("plans".to_string(), format!("{e:#}"));
                None
            }
        }
    } else {
        None
    };
    Ok(EvalInput {
        alerts,
        health,
        rejected: Some(rejected),
        speed_events: throughput.lines,
        throughput: Some(throughput),
        plans,
        health_query_ms,
        quick: true,
        pending: Default::default(),
        pending_kinds: Default::default(),
        problems,
    })
}

pub fn run(ctx: &Context, args: &EvalArgs) -> Result<()> {
    if args.suite.is_some() || args.seeds.is_some() {
        return run_suite(ctx, args);
    }
    let work = WorkDir::new()?;
    let began = Instant::now();
    let (events, truth) = match &args.data {
        Some(dir) => load_data(dir)?,
        None => {
            let (p, d) = if args.quick { QUICK_SIZE } else { FULL_SIZE };
            let opts = GenerateOptions {
                pipelines: args.pipelines.unwrap_or(p),
                days: args.days.unwrap_or(d),
                seed: args.seed.unwrap_or(DEFAULT_SEED),
                start: GenerateOptions::DEFAULT_START,
            };
            eprintln!(
                "eval: generating {} pipelines × {} days, seed {}",
                opts.pipelines, opts.days, opts.seed
            );
            let ds = generate::generate(&opts)?;
            let path = generate::write_dataset(&ds, &work.0.join("data"), false)?;
            (path, ds.truth)
        }
    };
    let measure = Measure {
        timing: true,
        reference: true,
    };
    let mut input = run_world(ctx, &work.0, &events, &truth, measure, false)?;
    let pending = eval::pending::load(Path::new(eval::pending::FILE))?;
    input.quick = args.quick;
    input.pending = pending.checks;
    input.pending_kinds = pending.kinds;
    let report = eval::score(&truth, &input);
    if ctx.format == Format::Json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", eval::render::text(&report));
    }
    eprintln!("eval: done in {:.1}s", began.elapsed().as_secs_f64());
    if !report.satisfied(args.min_score) {
        return Err(Unsatisfied(format!(
            "eval: {}/{} required checks passed, below --min-score {}",
            report.required_passed,
            report.required,
            args.min_score.min(report.required)
        ))
        .into());
    }
    Ok(())
}

/// `--suite N` / `--seeds SPEC`: one independent world per seed, scored and summed up.
fn run_suite(ctx: &Context, args: &EvalArgs) -> Result<()> {
    let spec = match &args.seeds {
        Some(text) => SeedSpec::parse(text).map_err(|e| {
            hinted(
                format!("{e:#}"),
                "--seeds takes train, test, a range A..B or a list A,B,C",
            )
        })?,
        None => SeedSpec::Train,
    };
    let seeds = spec.seeds(args.suite)?;
    let size = (
        args.pipelines.unwrap_or(suite::WORLD_SIZE.0),
        args.days.unwrap_or(suite::WORLD_SIZE.1),
    );
    let pending = eval::pending::load(Path::new(eval::pending::FILE))?;
    let work = WorkDir::new()?;
    let began = Instant::now();
    eprintln!(
        "eval: suite of {} worlds ({} pipelines × {} days each), seeds {}",
        seeds.len(),
        size.0,
        size.1,
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut worlds = Vec::new();
    for &seed in &seeds {
        let t = Instant::now();
        let dir = work.0.join(format!("seed-{seed}"));
        let opts = GenerateOptions {
            pipelines: size.0,
            days: size.1,
            seed,
            start: suite::world_start(seed),
        };
        let ds = generate::generate(&opts)?;
        let path = generate::write_dataset(&ds, &dir.join("data"), false)?;
        let measure = Measure {
            timing: false,
            reference: false,
        };
        let mut input = run_world(ctx, &dir, &path, &ds.truth, measure, true)?;
        // A world pipemon could not import or evaluate has no score: scoring it
        // would read as a detector that found nothing.
        if let Some((step, problem)) = input.problems.iter().next() {
            bail!("eval: seed {seed}: {step} failed: {problem}");
        }
        input.pending = pending.checks.clone();
        input.pending_kinds = pending.kinds.clone();
        let report = eval::score(&ds.truth, &input);
        let macro_f1 = report.kinds.iter().map(|k| k.f1).sum::<f64>() / report.kinds.len() as f64;
        eprintln!(
            "eval: seed {seed} ({}): {} lines, {} incidents, macro F1 {macro_f1:.3}, {:.1}s",
            suite::set_of(seed),
            ds.truth.lines.total,
            ds.truth.incidents.len(),
            t.elapsed().as_secs_f64()
        );
        worlds.push(suite::SeedResult {
            seed,
            set: suite::set_of(seed),
            start: opts.start,
            lines: ds.truth.lines.total,
            incidents: ds.truth.incidents.len(),
            report,
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = suite::summarise(worlds, size, &pending.checks, &pending.kinds);
    if ctx.format == Format::Json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", eval::render::suite_text(&report));
    }
    eprintln!("eval: suite done in {:.1}s", began.elapsed().as_secs_f64());
    if !report.satisfied() {
        return Err(Unsatisfied(format!(
            "eval: the suite missed {} required target(s): {}",
            report.failures.len(),
            report.failures.join("; ")
        ))
        .into());
    }
    Ok(())
}
