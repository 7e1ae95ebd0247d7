//! The command line as an operator meets it, through the real binary: read commands
//! that never write (read-only file and directory, missing database), mistakes that
//! are refused with exact messages and exit status 2, `config check` reporting every
//! problem at once, cron macros in events, tables with limits, completions and man.
//! Event sets are built here, so every expected count is known by construction.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

const T0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;

fn pipemon() -> Command {
    let mut c = Command::cargo_bin("pipemon").unwrap();
    c.env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG")
        .env("COLUMNS", "400");
    c
}

fn with_db(db: &Path) -> Command {
    let mut c = pipemon();
    c.arg("--db").arg(db);
    c
}

/// `runs` successful 10-minute runs of `pipe_a` (schedule `@hourly`), an hour apart.
fn events(runs: usize) -> String {
    let mut out = String::new();
    for i in 0..runs {
        let start = T0 + i as i64 * 60 * MIN;
        out.push_str(&format!(
            "{{\"event_id\":\"s{i}\",\"pipeline_id\":\"pipe_a\",\"run_id\":\"r{i:03}\",\"status\":\"started\",\"team\":\"data\",\"schedule\":\"@hourly\",\"timestamp\":{start}}}\n\
             {{\"event_id\":\"e{i}\",\"pipeline_id\":\"pipe_a\",\"run_id\":\"r{i:03}\",\"status\":\"success\",\"duration_ms\":600000,\"timestamp\":{}}}\n",
            start + 10 * MIN
        ));
    }
    out
}

/// A database in `dir` holding `events(runs)`.
fn database(dir: &Path, runs: usize) -> PathBuf {
    let file = dir.join("events.jsonl");
    std::fs::write(&file, events(runs)).unwrap();
    let db = dir.join("pipemon.db");
    with_db(&db)
        .args(["import", "--no-progress"])
        .arg(&file)
        .assert()
        .success();
    std::fs::remove_file(&file).unwrap();
    db
}

fn stderr_of(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs as an unprivileged user when this process is root (root ignores file modes),
/// so read-only permissions mean what they say.
fn unprivileged(args: &[&str]) -> std::process::Command {
    let bin = assert_cmd::cargo::cargo_bin("pipemon");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut c = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin);
        c
    } else {
        std::process::Command::new(bin)
    };
    c.args(args)
        .env_remove("PIPEMON_DB")
        .env_remove("PIPEMON_CONFIG")
        .env("COLUMNS", "400");
    c
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn read_commands_work_on_a_read_only_file_in_a_read_only_directory() {
    let tmp = TempDir::new().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let db = database(&dir, 3);
    // Writable first, for the expected answers.
    let expect_runs = with_db(&db)
        .args(["--format", "csv", "query", "runs"])
        .output()
        .unwrap();
    assert!(expect_runs.status.success());
    let expect_runs = String::from_utf8(expect_runs.stdout).unwrap();
    assert_eq!(expect_runs.lines().count(), 4, "{expect_runs}");
    // A silence to list (added while the file is writable).
    with_db(&db)
        .args([
            "silence",
            "add",
            "--match",
            "team=data",
            "--duration",
            "2h",
            "--comment",
            "maintenance",
        ])
        .assert()
        .success();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = listing(&dir);
    let dbs = db.to_str().unwrap();
    for args in [
        vec!["--db", dbs, "--format", "csv", "query", "runs"],
        vec!["--db", dbs, "--format", "csv", "query", "pipeline_health"],
        vec![
            "--db",
            dbs,
            "query",
            "team_health",
            "--since",
            "2026-11-01T01:00:00Z",
        ],
        vec!["--db", dbs, "alerts", "--all"],
        vec!["--db", dbs, "rejected"],
        vec!["--db", dbs, "notifications"],
        vec!["--db", dbs, "--format", "csv", "silence", "list"],
        vec!["--db", dbs, "silence", "list", "--all"],
    ] {
        let out = unprivileged(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        let text = String::from_utf8(out.stdout).unwrap();
        if args.ends_with(&["query", "runs"]) {
            assert_eq!(text, expect_runs);
        }
        if args.contains(&"silence") {
            assert!(
                text.contains("team=data") && text.contains("maintenance"),
                "{args:?}: {text}"
            );
        }
        if args.contains(&"pipeline_health") {
            // pipe_a,data,…,runs_total 3, runs_success 3
            assert!(
                text.lines().nth(1).unwrap().starts_with("pipe_a,data,"),
                "{text}"
            );
        }
    }
    assert_eq!(
        listing(&dir),
        before,
        "a read command changed the directory"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_missing_database_is_not_created_and_the_error_says_what_to_do() {
    let tmp = TempDir::new().unwrap();
    let db = tmp.path().join("pipemon.db");
    let (code, out, err) = stderr_of(with_db(&db).arg("alerts"));
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "Error: no database at {}\nhint: pass the database with --db PATH or set PIPEMON_DB \
             (cron starts in $HOME, so use an absolute path); `pipemon import FILE` creates one\n",
            db.display()
        )
    );
    assert!(!db.exists(), "alerts created the database");
    let deep = tmp.path().join("nowhere/pipemon.db");
    let (code, _, err) = stderr_of(with_db(&deep).args(["query", "runs"]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "Error: no database at {} (the directory {} does not exist)\n",
            deep.display(),
            tmp.path().join("nowhere").display()
        )),
        "{err}"
    );
    // Not a database at all.
    std::fs::write(&db, "hello").unwrap();
    let (code, _, err) = stderr_of(with_db(&db).arg("alerts"));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{} is not a SQLite database", db.display())),
        "{err}"
    );
}

#[test]
fn mistakes_are_refused_with_the_valid_values() {
    let tmp = TempDir::new().unwrap();
    let db = database(tmp.path(), 2);
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["query", "runs", "--since", "1700000000"],
            "Error: --since `1700000000` is a bare number; pipemon does not guess whether it is \
             seconds or milliseconds (as epoch seconds that would be 2023-11-14T22:13:20Z)\n\
             hint: write RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or an age such as 24h or 7d\n"
                .to_string(),
        ),
        (
            vec!["rejected", "--reason", "bad_json"],
            "Error: --reason `bad_json` is not a rejection reason\nhint: use one of invalid_json, \
             not_an_object, missing_field, wrong_type, unknown_status, bad_timestamp, \
             negative_number, invalid_value, invalid_openlineage\n"
                .to_string(),
        ),
        (
            vec!["silence", "add", "--match", "teem=data", "--duration", "1h"],
            "Error: --match \"teem=data\": unknown label `teem`\nhint: the labels are: team, \
             severity, kind, pipeline_id, environment, priority\n"
                .to_string(),
        ),
        (
            vec!["silence", "add", "--match", "kind=stuck", "--duration", "1h"],
            "Error: --match \"kind=stuck\": `stuck` is not a kind\nhint: use one of \
             consecutive_failures, failure_rate_spike, duration_anomaly, volume_anomaly, \
             missed_schedule, stuck_run, pipeline_failed, systemic_failure, upstream_failure\n"
                .to_string(),
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = stderr_of(with_db(&db).args(&args));
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        if args[0] == "silence" && args[3].starts_with("kind") {
            // The kinds' order is the model's; check the message's shape and members.
            assert!(
                err.starts_with(
                    "Error: --match \"kind=stuck\": `stuck` is not a kind\nhint: use one of "
                ),
                "{err}"
            );
            assert!(
                err.contains("stuck_run") && err.contains("systemic_failure"),
                "{err}"
            );
        } else {
            assert_eq!(err, want, "{args:?}");
        }
    }
    // The same flags with good values work.
    with_db(&db)
        .args(["query", "runs", "--since", "24h"])
        .assert()
        .success();
    with_db(&db)
        .args(["query", "runs", "--since", "2026-11-01"])
        .assert()
        .success();
    with_db(&db)
        .args(["rejected", "--reason", "invalid_json"])
        .assert()
        .success();
}

#[test]
fn cron_macros_in_events_are_accepted() {
    let tmp = TempDir::new().unwrap();
    let db = database(tmp.path(), 2);
    let out = with_db(&db)
        .args(["--format", "csv", "rejected"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let out = with_db(&db)
        .args(["--format", "csv", "query", "runs"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
}

#[test]
fn tables_are_limited_and_say_so_while_csv_is_complete() {
    let tmp = TempDir::new().unwrap();
    let db = database(tmp.path(), 60);
    let (code, out, err) = stderr_of(with_db(&db).args(["query", "runs"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 51);
    assert!(
        lines[0].starts_with("pipeline_id  run_id  outcome  started_at"),
        "{}",
        lines[0]
    );
    // Newest first, durations for people.
    assert!(
        lines[1].starts_with("pipe_a       r059    success  2026-11-03 11:00:00Z ("),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(" 10m00s "), "{}", lines[1]);
    assert_eq!(
        err,
        "(10 more rows; use --limit N to see more; --format json or csv prints everything)\n"
    );
    let (_, out, err) = stderr_of(with_db(&db).args(["--format", "csv", "query", "runs"]));
    assert_eq!(out.lines().count(), 61);
    assert_eq!(err, "");
    let (_, out, err) = stderr_of(with_db(&db).args(["query", "runs", "--limit", "5"]));
    assert_eq!(out.lines().count(), 6);
    assert_eq!(err, "");
}

#[test]
fn config_check_reports_every_problem_with_line_and_column() {
    let tmp = TempDir::new().unwrap();
    let cfg = tmp.path().join("pipemon.toml");
    std::fs::write(
        &cfg,
        "[alerting]\nflap_hold_down = \"soon\"\nbogus = 1\n\n[delivery]\ntimeout = 5\n\n\
         [[receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl_env = \"PIPEMON_TEST_UNSET_URL\"\n\n\
         [route]\nreceiver = \"hook\"\nreciever = \"x\"\n",
    )
    .unwrap();
    let (code, out, err) = stderr_of(
        pipemon()
            .env_remove("PIPEMON_TEST_UNSET_URL")
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"]),
    );
    assert_eq!(code, 2);
    assert_eq!(out, "");
    let p = cfg.display();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    assert!(
        lines[0].starts_with(&format!("{p}:2:1: error: alerting.flap_hold_down: ")),
        "{err}"
    );
    assert_eq!(
        lines[1],
        format!("{p}:3:1: error: alerting.bogus: unknown key `bogus`")
    );
    assert!(
        lines[2].starts_with(&format!("{p}:6:1: error: delivery.timeout: ")),
        "{err}"
    );
    assert_eq!(
        lines[3],
        format!("{p}:15:1: error: route.reciever: unknown key `reciever`")
    );
    assert_eq!(lines[4], format!("Error: 4 problem(s) in {p}"));

    // Fixed but for the secret: the unset variable is an error for a routed receiver.
    std::fs::write(
        &cfg,
        "[[receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl_env = \"PIPEMON_TEST_UNSET_URL\"\n\n\
         [route]\nreceiver = \"hook\"\n",
    )
    .unwrap();
    let (code, _, err) = stderr_of(
        pipemon()
            .env_remove("PIPEMON_TEST_UNSET_URL")
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"]),
    );
    assert_eq!(code, 2);
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "{p}:4:1: error: receivers[0].url_env: environment variable `PIPEMON_TEST_UNSET_URL` \
             is not set, so receiver `hook` cannot deliver"
        )
    );
    let (code, out, _) = stderr_of(
        pipemon()
            .env("PIPEMON_TEST_UNSET_URL", "http://127.0.0.1:9/hook")
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"]),
    );
    assert_eq!(code, 0);
    assert!(out.contains(": ok (1 receivers"), "{out}");

    // A file receiver whose directory is missing is warned about.
    std::fs::write(
        &cfg,
        "[[receivers]]\nname = \"log\"\ntype = \"file\"\npath = \"/nonexistent-dir/alerts.jsonl\"\n\n\
         [route]\nreceiver = \"log\"\n",
    )
    .unwrap();
    let (code, out, err) = stderr_of(
        pipemon()
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"]),
    );
    assert_eq!(code, 0);
    assert_eq!(
        err,
        format!(
            "{p}: warning: receivers[0].path: the directory of `/nonexistent-dir/alerts.jsonl` \
             does not exist, so receiver `log` cannot deliver until it is created\n"
        )
    );
    assert!(out.ends_with(", 1 warning(s))\n"), "{out}");
}

#[test]
fn config_routes_shows_where_labels_go() {
    let tmp = TempDir::new().unwrap();
    let cfg = tmp.path().join("pipemon.toml");
    std::fs::write(
        &cfg,
        "[route]\nreceiver = \"default\"\n\n[[route.routes]]\nmatchers = [\"team=payments\"]\n\
         receiver = \"pay\"\n\n[[route.routes]]\nmatchers = [\"severity=critical\"]\nreceiver = \"pager\"\n\n\
         [[receivers]]\nname = \"pay\"\ntype = \"file\"\npath = \"/dev/null\"\n\n\
         [[receivers]]\nname = \"pager\"\ntype = \"file\"\npath = \"/dev/null\"\n",
    )
    .unwrap();
    let route = |labels: &str| -> Vec<String> {
        let out = pipemon()
            .arg("--config")
            .arg(&cfg)
            .args(["--format", "csv", "config", "routes", "--labels", labels])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(route("team=payments,severity=critical"), ["root.0 pay"]);
    assert_eq!(route("team=ml,severity=critical"), ["root.1 pager"]);
    assert_eq!(route("team=ml,severity=low"), ["root default"]);
    let (code, _, err) = stderr_of(
        pipemon()
            .arg("--config")
            .arg(&cfg)
            .args(["config", "routes", "--labels", "teem=ml"]),
    );
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "Error: --labels `teem=ml`: unknown label `teem`\nhint: the labels are: team, severity, \
         kind, pipeline_id, environment, priority\n"
    );
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    for (shell, marker) in [
        ("bash", "_pipemon()"),
        ("zsh", "#compdef pipemon"),
        ("fish", "complete -c pipemon"),
    ] {
        let out = pipemon().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}");
        assert!(
            text.contains("evaluate") && text.contains("since"),
            "{shell}"
        );
    }
    let out = pipemon().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH pipemon 1"), "{page}");
    assert!(page.contains("completions"));
}

#[test]
fn the_repository_is_self_contained() {
    // Built at run time so this file does not match itself.
    let outside = [format!("..{}shared", '/'), format!("/work{}shared", '/')];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.to_path_buf()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | ".venv" | "data") {
                    stack.push(p);
                }
            } else if let Ok(text) = std::fs::read_to_string(&p)
                && outside.iter().any(|o| text.contains(o.as_str()))
            {
                offenders.push(p.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "files pointing outside the repository: {offenders:?}"
    );
    for doc in ["docs/events.md", "docs/alerts.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        assert!(text.len() > 2000, "{doc} is missing or empty");
    }
    let alerts = std::fs::read_to_string(root.join("docs/alerts.md")).unwrap();
    assert!(alerts.contains("## Timeliness") && alerts.contains("## Notifications"));
}
