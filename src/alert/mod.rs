//! Alerting after detection: severity overrides, routing, silences, inhibition and
//! the notification outbox (placeholder until it lands).

use anyhow::Result;
use rusqlite::Connection;

use crate::config::Config;
use crate::model::Millis;
use crate::store::Store;

/// Applies policy to the alerts table after detection changed it, inside the same
/// transaction: severity overrides, routing (`receivers`), silences, inhibition, and
/// queueing notifications. Called by `evaluate` after every detection pass.
pub fn process(_conn: &Connection, _config: &Config, _now: Millis) -> Result<()> {
    Ok(())
}

/// Sends the notifications that are due. Called by `evaluate` (unless --no-notify)
/// and by `notify`.
pub fn deliver(_store: &Store, _config: &Config, _now: Millis) -> Result<()> {
    Ok(())
}
