//! Errors meant for people: a message, optionally a hint with what to do next.
//!
//! Everything fallible returns `anyhow::Result`; an error that knows how the user can
//! fix it carries a `Hinted` somewhere in its chain, and `main` prints that hint.

use std::fmt;

/// An error with a `hint:` line for the user.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
    Hinted {
        message: message.into(),
        hint: hint.into(),
    }
}

/// A command that ran correctly but whose answer is "no" (an eval below its minimum
/// score): exit status 1, not 2.
#[derive(Debug)]
pub struct Unsatisfied(pub String);

impl fmt::Display for Unsatisfied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsatisfied {}

/// A command that did its work but whose notifications are failing (a receiver
/// answered with an error, timed out, or is misconfigured): exit status 3, so cron
/// mails the operator. What failed was already printed.
#[derive(Debug)]
pub struct DeliveriesFailing(pub String);

impl fmt::Display for DeliveriesFailing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeliveriesFailing {}
