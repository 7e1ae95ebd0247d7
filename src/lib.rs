//! pipemon: a data-pipeline monitor in one binary and one SQLite file.
//!
//! Data flows one way: `ingest` turns input lines into validated `model::Event`s,
//! `store` keeps events and materialises runs and pipelines, `detect` derives alert
//! conditions from runs, `alert` applies severity, routing, silences and delivery, and
//! `cmd` holds one module per subcommand. `generate` and `eval` make ground-truth data
//! and score pipemon against it.

pub mod alert;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod detect;
pub mod error;
pub mod eval;
pub mod generate;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod output;
pub mod query;
pub mod report;
pub mod schedule;
pub mod store;
pub mod time;
