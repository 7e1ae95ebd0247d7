//! `pipemon report` in a real browser: a report of `pipemon generate` data (known
//! incidents) is opened in headless Debian chromium over the DevTools protocol, and
//! the DOM is checked against the database as other commands print it: every
//! pipeline of `pipemon query pipeline_health` is listed with the same figures,
//! every firing alert is marked on its pipeline's duration and records charts, each
//! pipeline page shows as many runs as `pipemon query runs` finds in the window, and
//! the page logs no error and requests nothing from the network, also at phone width.

mod browser;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};

use browser::Browser;

fn pipemon(db: &Path, args: &[&str]) -> String {
    let out = Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("PIPEMON_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pipemon {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Three weeks of generated data with incidents of every kind, imported and
/// evaluated once for all tests of this file (under cargo's per-test scratch
/// directory).
fn dataset() -> &'static Path {
    static DB: OnceLock<PathBuf> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-test");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        make_dataset(&dir)
    })
}

fn make_dataset(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let db = dir.join("pipemon.db");
    let gen_dir = data.to_str().unwrap();
    pipemon(
        &db,
        &[
            "generate",
            "--pipelines",
            "40",
            "--days",
            "21",
            "--seed",
            "14",
            "--out",
            gen_dir,
        ],
    );
    pipemon(
        &db,
        &[
            "import",
            "--no-progress",
            data.join("events.jsonl").to_str().unwrap(),
        ],
    );
    pipemon(&db, &["evaluate", "--now", "data-end", "--no-notify"]);
    db
}

fn url(path: &Path, hash: &str) -> String {
    format!("file://{}{hash}", path.display())
}

#[test]
fn report_in_chromium_matches_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dataset();
    let out = dir.path().join("report.html");
    pipemon(
        db,
        &["report", "--out", out.to_str().unwrap(), "--since", "10d"],
    );
    let html = std::fs::read_to_string(&out).unwrap();
    for banned in ["http://", "https://", "src=", "@import", "url("] {
        // The only URL-like text allowed is the SVG namespace, written in script.
        let hits = html.matches(banned).count();
        let allowed = if banned == "http://" { 1 } else { 0 };
        assert!(
            hits <= allowed,
            "the report references `{banned}` {hits} times"
        );
    }

    let health = jsonl(&pipemon(
        db,
        &["--format", "json", "query", "pipeline_health"],
    ));
    let firing = jsonl(&pipemon(db, &["--format", "json", "alerts"]));
    assert!(
        health.len() == 40,
        "expected 40 pipelines, got {}",
        health.len()
    );
    assert!(
        firing.len() >= 3,
        "the generated data should leave alerts firing, got {}",
        firing.len()
    );

    let mut b = Browser::launch(1280, 900);
    b.navigate(&url(&out, ""));
    assert_eq!(
        b.eval("document.documentElement.getAttribute('data-ready')"),
        json!("1")
    );

    // Every pipeline once, with the figures pipeline_health prints.
    let rows = b.eval(
        "Array.from(document.querySelectorAll('#fleet tbody tr')).map(tr => {
           const o = {id: tr.dataset.pipelineId, state: tr.dataset.state, cells: {}};
           tr.querySelectorAll('td').forEach(td => o.cells[td.dataset.field] =
             {value: td.dataset.value, text: td.textContent});
           return o; })",
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), health.len(), "every pipeline listed once");
    let by_id: BTreeMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_id.len(), rows.len(), "no pipeline listed twice");
    let shown = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let firing_pipelines: BTreeSet<&str> = firing
        .iter()
        .filter_map(|a| a["pipeline_id"].as_str())
        .collect();
    for h in &health {
        let id = h["pipeline_id"].as_str().unwrap();
        let row = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} is not in the report"));
        for field in [
            "team",
            "success_rate",
            "consecutive_failures",
            "last_success_at",
            "duration_p95_ms",
            "open_alerts",
            "runs_total",
        ] {
            let cell = row["cells"][field]["value"].as_str().unwrap();
            match h[field].as_f64() {
                Some(x) => assert_eq!(
                    cell.parse::<f64>().ok(),
                    Some(x),
                    "{id}: {field} `{cell}` differs from pipeline_health"
                ),
                None => assert_eq!(
                    cell,
                    shown(&h[field]),
                    "{id}: {field} differs from pipeline_health"
                ),
            }
        }
        let rate_text = row["cells"]["success_rate"]["text"].as_str().unwrap();
        match h["success_rate"].as_f64() {
            Some(r) => assert_eq!(rate_text, format!("{:.1}%", r * 100.0), "{id}"),
            None => assert_eq!(rate_text, "—", "{id}"),
        }
        // The state is written in words (readable without colour).
        let state = row["state"].as_str().unwrap();
        assert!(
            row["cells"]["state"]["text"]
                .as_str()
                .unwrap()
                .contains(state)
        );
        let streak = h["consecutive_failures"].as_i64().unwrap();
        if streak > 0 {
            assert_eq!(state, "failing", "{id} has a failure streak of {streak}");
        }
        if state == "healthy" {
            assert!(
                !firing_pipelines.contains(id),
                "{id} has firing alerts but shows healthy"
            );
            assert_eq!(streak, 0);
        }
    }
    // Failing first.
    let rank = |s: &str| {
        ["failing", "late", "degraded", "healthy"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let ranks: Vec<usize> = rows
        .iter()
        .map(|r| rank(r["state"].as_str().unwrap()))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "not failing first: {ranks:?}"
    );

    // Sorting by a column and filtering by team work in the page.
    let sorted = b.eval(
        "(() => { const th = Array.from(document.querySelectorAll('#fleet th')).find(t => t.textContent.startsWith('Runs'));
           th.querySelector('button').click();
           return Array.from(document.querySelectorAll('#fleet tbody tr')).map(tr => Number(tr.querySelector('[data-field=runs_total]').dataset.value)); })()",
    );
    let sorted: Vec<i64> = sorted
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(
        sorted.windows(2).all(|w| w[0] >= w[1]),
        "Runs column did not sort descending"
    );
    let team = health[0]["team"].as_str().unwrap();
    let visible = b.eval(&format!(
        "(() => {{ const s = document.getElementById('team-filter'); s.value = {team:?};
           s.dispatchEvent(new Event('change'));
           return Array.from(document.querySelectorAll('#fleet tbody tr')).filter(tr => !tr.hidden).map(tr => tr.dataset.team); }})()"
    ));
    let expected = health.iter().filter(|h| h["team"] == team).count();
    let visible = visible.as_array().unwrap();
    assert_eq!(
        visible.len(),
        expected,
        "team filter shows {team}'s pipelines"
    );
    assert!(visible.iter().all(|t| t == team));

    // Each firing alert is marked on its pipeline's two charts; each pipeline page
    // shows the runs `query runs` finds in the window.
    let window_start =
        b.eval("JSON.parse(document.getElementById('pipemon-data').textContent).window_start");
    let window_start = window_start.as_str().unwrap().to_string();
    let mut on_chart: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for a in &firing {
        let id = a["id"].as_i64().unwrap();
        let pipes: Vec<String> = match a["pipeline_id"].as_str() {
            Some(p) => vec![p.to_string()],
            None => a["details"]["affected_pipelines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
        };
        for p in pipes {
            on_chart.entry(p).or_default().push(id);
        }
    }
    for (p, ids) in &on_chart {
        b.eval(&format!("location.hash = {:?}; true", format!("#p/{p}")));
        let marks = b.eval(
            "['chart-duration', 'chart-records'].map(c => Array.from(document.querySelectorAll('svg.' + c + ' .alert-mark')).map(m => Number(m.dataset.alertId)))",
        );
        for (chart, list) in ["duration", "records"]
            .iter()
            .zip(marks.as_array().unwrap())
        {
            let list: BTreeSet<i64> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            for id in ids {
                assert!(
                    list.contains(id),
                    "firing alert {id} is not on {p}'s {chart} chart"
                );
            }
        }
        let runs = jsonl(&pipemon(
            db,
            &[
                "--format",
                "json",
                "query",
                "runs",
                "--pipeline",
                p,
                "--since",
                &window_start,
            ],
        ));
        let drawn = b.eval("document.querySelector('main p.muted').textContent");
        let drawn = drawn.as_str().unwrap();
        assert!(
            drawn.starts_with(&format!("{} runs since", runs.len())),
            "{p}: page says `{drawn}`, query runs finds {}",
            runs.len()
        );
        let bands = b.eval(
            "document.querySelector('svg.chart-duration .bandarea').getAttribute('d').length",
        );
        if runs.len() > 20 {
            assert!(bands.as_i64().unwrap() > 10, "{p}: no expected band drawn");
        }
    }

    // An alert page says why, in words.
    let a = &firing[0];
    b.eval(&format!("location.hash = '#alert/{}'; true", a["id"]));
    let page = b.eval("({h1: document.querySelector('h1').textContent, why: Array.from(document.querySelectorAll('.why li')).map(l => l.textContent)})");
    assert!(
        page["h1"]
            .as_str()
            .unwrap()
            .contains(a["kind"].as_str().unwrap())
    );
    assert!(
        !page["why"].as_array().unwrap().is_empty(),
        "alert {} has no explanation",
        a["id"]
    );

    // An alert's page lists the run it names among the runs behind it.
    for a in firing.iter().filter(|a| a["run_id"].is_string()).take(5) {
        b.eval(&format!("location.hash = '#alert/{}'; true", a["id"]));
        let ids = b.eval(
            "Array.from(document.querySelectorAll('main table tbody tr')).map(tr => tr.cells[0].textContent)",
        );
        assert!(
            ids.as_array().unwrap().contains(&a["run_id"]),
            "alert {}: run {} not among the runs behind it: {ids}",
            a["id"],
            a["run_id"]
        );
    }

    // Phone width: nothing wider than the screen (tables scroll in their box).
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    );
    for hash in ["", &format!("#p/{}", on_chart.keys().next().unwrap())] {
        b.eval(&format!("location.hash = {hash:?}; true"));
        let w = b.eval("[document.documentElement.scrollWidth, window.innerWidth]");
        let (scroll, inner) = (w[0].as_i64().unwrap(), w[1].as_i64().unwrap());
        assert!(
            scroll <= inner,
            "page `{hash}` is {scroll}px wide on a {inner}px screen"
        );
    }

    let errors = b.errors();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    let page_url = url(&out, "");
    let all = b.requests();
    // The page itself is seen, so requests are being recorded.
    assert!(
        all.contains(&page_url),
        "no request event for the page itself: {all:?}"
    );
    let requests: Vec<String> = all
        .into_iter()
        .filter(|u| u != &page_url && u != "about:blank")
        .collect();
    assert!(requests.is_empty(), "the page made requests: {requests:#?}");
}

#[test]
fn report_filters_by_team_and_glob_and_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dataset();
    let health = jsonl(&pipemon(
        db,
        &["--format", "json", "query", "pipeline_health"],
    ));
    let team = health[0]["team"].as_str().unwrap();
    let out = dir.path().join("team.html");
    pipemon(
        db,
        &["report", "--out", out.to_str().unwrap(), "--team", team],
    );
    let html = std::fs::read_to_string(&out).unwrap();
    let start = html.find("id=\"pipemon-data\">").unwrap() + "id=\"pipemon-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&html[start..end]).unwrap();
    let ids: BTreeSet<&str> = data["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pipeline_id"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = health
        .iter()
        .filter(|h| h["team"] == team)
        .map(|h| h["pipeline_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);

    let prefix: String = health[1]["pipeline_id"]
        .as_str()
        .unwrap()
        .chars()
        .take(6)
        .collect();
    pipemon(
        db,
        &[
            "report",
            "--out",
            out.to_str().unwrap(),
            "--pipeline",
            &format!("{prefix}*"),
        ],
    );
    let html = std::fs::read_to_string(&out).unwrap();
    let expected = health
        .iter()
        .filter(|h| h["pipeline_id"].as_str().unwrap().starts_with(&prefix))
        .count();
    assert_eq!(
        html.matches("<script type=\"application/json\" id=\"s")
            .count(),
        expected
    );

    let bad = Command::cargo_bin("pipemon")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(["report", "--since", "fortnight"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--since `fortnight`"), "{err}");
}

/// The report reads runs with its own lean scan (`report::read`): every pipeline's
/// runs come in the detectors' order with the detectors' loader's values of every
/// field the report uses, so its series, bands and alert evidence are theirs.
#[test]
fn report_reads_the_runs_the_detectors_read() {
    let conn = rusqlite::Connection::open(dataset()).unwrap();
    type Fields = (
        String,
        i64,
        Option<i64>,
        &'static str,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let fields = |r: &pipemon::model::Run| -> Fields {
        (
            r.run_id.clone(),
            r.start_at,
            r.ended_at,
            r.outcome.as_str(),
            r.attempts,
            r.retries,
            r.duration_ms,
            r.records_processed,
            r.error_type.clone(),
            r.error_message.clone(),
        )
    };
    let mut ours: Vec<(String, Vec<Fields>)> = Vec::new();
    pipemon::report::read::each_pipeline_runs(&conn, |id, runs| {
        ours.push((id.to_string(), runs.iter().map(fields).collect()));
    })
    .unwrap();
    let mut theirs: Vec<(String, Vec<Fields>)> = Vec::new();
    pipemon::detect::load::each_pipeline_runs(&conn, |id, runs| {
        theirs.push((id.to_string(), runs.iter().map(fields).collect()));
    })
    .unwrap();
    assert_eq!(ours.len(), 40);
    assert!(ours.iter().map(|(_, r)| r.len()).sum::<usize>() > 1_000);
    assert_eq!(ours, theirs);
}
