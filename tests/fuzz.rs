//! Property tests standing in for a fuzzer, bounded so CI runs them every time: the
//! line parser (native and OpenLineage) and the configuration loader get arbitrary
//! text and mutations of valid input, and must never panic; whatever the parser
//! accepts must satisfy the contract's rules. The number of cases is fixed (and can
//! be raised with `PROPTEST_CASES` for a longer local run); the seed is proptest's
//! own, and a failure prints the minimal input that caused it.

use proptest::prelude::*;
use proptest::test_runner::Config as RunnerConfig;
use serde_json::{Map, Value, json};

use pipemon::cli::InputFormat;
use pipemon::ingest::native::{MAX_EPOCH_MS, MAX_ID_CHARS, MIN_EPOCH_MS};
use pipemon::ingest::{RejectReason, check_horizon, parse_line};
use pipemon::model::Event;

fn cases(default: u32) -> RunnerConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    RunnerConfig {
        cases: n,
        failure_persistence: None,
        ..RunnerConfig::default()
    }
}

/// What every accepted event must satisfy, whatever the line looked like.
fn assert_valid(ev: &Event, line: &str) {
    let n = ev.pipeline_id.chars().count();
    assert!(n > 0 && n <= MAX_ID_CHARS, "pipeline id {n} chars: {line}");
    let n = ev.run_id.chars().count();
    assert!(n > 0 && n <= MAX_ID_CHARS, "run id {n} chars: {line}");
    assert!(!ev.event_key.is_empty(), "{line}");
    assert!(
        (MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&ev.ts),
        "ts {}: {line}",
        ev.ts
    );
    if let Some(s) = ev.scheduled_at {
        assert!((MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&s), "{line}");
    }
    assert!(ev.attempt >= 1, "attempt {}: {line}", ev.attempt);
    assert!(ev.duration_ms.is_none_or(|d| d >= 0), "{line}");
    assert!(ev.records_processed.is_none_or(|r| r >= 0), "{line}");
    if let Some(extra) = &ev.extra {
        let v: Value = serde_json::from_str(extra).expect("extra is JSON");
        assert!(v.is_object(), "{line}");
    }
}

/// Parses in every format; accepted events must be valid, and parsing is a
/// function of the line.
fn exercise(line: &str) {
    for format in [
        InputFormat::Auto,
        InputFormat::Native,
        InputFormat::Openlineage,
    ] {
        let first = parse_line(line, format);
        if let Ok(ev) = &first {
            assert_valid(ev, line);
            // The horizon rule never panics, and refuses exactly the later times.
            let h = ev.ts;
            assert!(check_horizon(ev, h).is_ok() || ev.scheduled_at > Some(h));
            if let Err(r) = check_horizon(ev, h - 1) {
                assert_eq!(r.reason, RejectReason::BadTimestamp);
            } else {
                panic!("an event at {h} passed a horizon of {}", h - 1);
            }
        }
        assert_eq!(first, parse_line(line, format), "{line}");
    }
}

/// Values that have broken parsers before: wrong types, edge numbers, odd text.
fn tricky_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(MIN_EPOCH_MS - 1)),
        Just(json!(MAX_EPOCH_MS + 1)),
        Just(json!(i64::MAX)),
        Just(json!("")),
        Just(json!("2026-11-01T03:00:00Z")),
        Just(json!("2026-11-01T03:00:00")),
        Just(json!("0001-01-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59.999999999+14:00")),
        Just(json!("-0001-01-01T00:00:00Z")),
        Just(json!("success")),
        Just(json!("START")),
        Just(json!("0 3 * * *")),
        Just(json!("*/0 * * * *")),
        Just(json!("99999999999999999999m")),
        Just(json!("01890e8c-9f4e-7b2a-8d3c-4b5a6e7f8091")),
        "\\PC{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(MAX_ID_CHARS + 1))),
        Just(Value::String("é".repeat(MAX_ID_CHARS))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names of both formats, plus arbitrary ones.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            pipemon::ingest::native::KNOWN
                .iter()
                .copied()
                .chain([
                    "eventType",
                    "eventTime",
                    "run",
                    "job",
                    "runId",
                    "namespace",
                    "name",
                    "facets",
                    "parent",
                    "nominalTime",
                    "nominalStartTime",
                    "errorMessage",
                    "message",
                    "jobType",
                    "processingType",
                    "airflow",
                    "outputs",
                    "outputStatistics",
                    "rowCount",
                ])
                .collect::<Vec<_>>()
        )
        .prop_map(str::to_string),
        "[a-zA-Z_]{1,12}",
    ]
}

fn native_base() -> Map<String, Value> {
    json!({"event_id": "e-1", "pipeline_id": "orders_daily", "run_id": "orders_daily@2026-11-01",
        "status": "success", "timestamp": "2026-11-01T03:21:12Z", "attempt": 2,
        "duration_ms": 1268000, "records_processed": 1840233, "team": "payments",
        "priority": "critical", "environment": "prod", "schedule": "0 3 * * *",
        "upstream": ["raw_orders"], "scheduled_at": 1793502000000_i64, "error_type": null})
    .as_object()
    .unwrap()
    .clone()
}

fn openlineage_base() -> Map<String, Value> {
    json!({
        "eventTime": "2026-11-01T03:00:00+00:00",
        "eventType": "FAIL",
        "inputs": [],
        "outputs": [{"namespace": "wh", "name": "t", "facets": {},
            "outputFacets": {"outputStatistics": {"rowCount": 10}}}],
        "job": {"facets": {"jobType": {"processingType": "BATCH", "jobType": "TASK",
            "integration": "AIRFLOW"}}, "name": "orders_daily.load", "namespace": "airflow"},
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
        "run": {"facets": {
            "nominalTime": {"nominalStartTime": "2026-11-01T03:00:00Z"},
            "errorMessage": {"message": "boom", "programmingLanguage": "python"},
            "parent": {"run": {"runId": "01890e8c-9f4e-7b2a-8d3c-4b5a6e7f8092"},
                "job": {"namespace": "airflow", "name": "orders_daily"}}},
            "runId": "01890e8c-9f4e-7b2a-8d3c-4b5a6e7f8091"},
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    })
    .as_object()
    .unwrap()
    .clone()
}

/// Sets, replaces or removes a field at a path of object keys (made up as needed).
fn mutate(obj: &mut Map<String, Value>, path: &[String], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for key in parents {
        let slot = cur.entry(key.clone()).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        cur = slot.as_object_mut().unwrap();
    }
    match value {
        Some(v) => {
            cur.insert(last.clone(), v);
        }
        None => {
            cur.remove(last);
        }
    }
}

/// A valid line of either format with a few fields replaced, removed or added.
fn mutated_line() -> impl Strategy<Value = String> {
    let edit = (
        prop::collection::vec(field_name(), 1..4),
        prop::option::weighted(0.8, tricky_value()),
    );
    (any::<bool>(), prop::collection::vec(edit, 1..5)).prop_map(|(native, edits)| {
        let mut obj = if native {
            native_base()
        } else {
            openlineage_base()
        };
        for (path, value) in edits {
            mutate(&mut obj, &path, value);
        }
        Value::Object(obj).to_string()
    })
}

/// A valid line cut, spliced or with bytes replaced: broken JSON of realistic shape.
fn damaged_line() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        "\\PC{0,6}",
    )
        .prop_map(|(native, a, b, junk)| {
            let base = if native {
                Value::Object(native_base()).to_string()
            } else {
                Value::Object(openlineage_base()).to_string()
            };
            let chars: Vec<char> = base.chars().collect();
            let (i, j) = (a.index(chars.len()), b.index(chars.len()));
            let (i, j) = (i.min(j), i.max(j));
            let mut s: String = chars[..i].iter().collect();
            s.push_str(&junk);
            s.extend(&chars[j..]);
            s
        })
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn arbitrary_text_never_panics_the_parser(line in "\\PC{0,200}") {
        exercise(&line);
    }

    #[test]
    fn arbitrary_json_objects_never_panic_the_parser(
        fields in prop::collection::btree_map(field_name(), tricky_value(), 0..10)
    ) {
        exercise(&Value::Object(fields.into_iter().collect()).to_string());
    }

    #[test]
    fn mutated_events_never_panic_the_parser(line in mutated_line()) {
        exercise(&line);
    }

    #[test]
    fn damaged_events_never_panic_the_parser(line in damaged_line()) {
        exercise(&line);
    }

    #[test]
    fn respacing_a_line_changes_nothing(line in mutated_line()) {
        // Spaces between tokens are not part of an event: the same object re-spaced is
        // the same event (and, without an event id, the same duplicate key).
        let spaced = respace(&line);
        prop_assert_eq!(
            parse_line(&line, InputFormat::Auto),
            parse_line(&spaced, InputFormat::Auto)
        );
    }
}

/// Puts a space and a tab after every structural `{ [ : ,` of a JSON text, leaving
/// strings (and number text) exactly as they are.
fn respace(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        out.push(c);
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, '{' | '[' | ':' | ',') {
            out.push_str(" \t");
        }
    }
    out
}

const EXAMPLE: &str = include_str!("../docs/pipemon.example.toml");

/// The example configuration with some lines' values replaced, lines dropped or
/// duplicated, and junk inserted.
fn mutated_config() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = EXAMPLE.lines().collect();
    let n = lines.len();
    let value = prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e309".to_string()),
        Just("9223372036854775807".to_string()),
        Just("\"\"".to_string()),
        Just("\"0s\"".to_string()),
        Just("\"-5m\"".to_string()),
        Just("\"99999999999999999999d\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        Just("\"[\"".to_string()),
        Just("\"*/0 * * * *\"".to_string()),
        Just("\"Mars/Olympus\"".to_string()),
        "\\PC{0,12}".prop_map(|s| format!("\"{}\"", s.replace(['\\', '"'], ""))),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
    ];
    let edit = (0..n, 0..4u8, value, "\\PC{0,20}");
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for (i, op, value, junk) in edits {
            let i = i % out.len().max(1);
            if out.is_empty() {
                break;
            }
            match op {
                0 => {
                    if let Some((key, _)) = out[i].split_once(" = ") {
                        out[i] = format!("{key} = {value}");
                    }
                }
                1 => {
                    out.remove(i);
                }
                2 => {
                    let l = out[i].clone();
                    out.insert(i, l);
                }
                _ => out.insert(i, junk),
            }
        }
        out.join("\n")
    })
}

proptest! {
    #![proptest_config(cases(200))]

    #[test]
    fn arbitrary_text_never_panics_the_config_loader(text in "\\PC{0,300}") {
        let _ = pipemon::config::check(&text);
    }

    #[test]
    fn mutated_configs_never_panic_the_config_loader(text in mutated_config()) {
        let _ = pipemon::config::check(&text);
    }
}

#[test]
fn the_example_configuration_is_accepted() {
    // The mutations above start from a valid file, or they would test little.
    assert!(pipemon::config::check(EXAMPLE).is_ok());
}
