//! Label matchers (`label=value`, `!=`, `=~`, `!~`) with Alertmanager semantics:
//! regexes are fully anchored, and an absent label matches as the empty string.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// An alert's labels: name → value. Absent means "".
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// One matcher on one label.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    re: Option<Regex>,
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), self.value)
    }
}

impl Matcher {
    /// Parses `name OP value`; the value may be double-quoted. Errors say what is wrong.
    pub fn parse(raw: &str) -> Result<Matcher, String> {
        let s = raw.trim();
        let pos = s
            .find(['=', '!'])
            .ok_or_else(|| format!("{raw:?} is not a matcher (expected label=value, label!=value, label=~regex or label!~regex)"))?;
        let name = s[..pos].trim();
        let rest = &s[pos..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Eq, v)
        } else {
            return Err(format!("{raw:?}: unknown operator (use =, !=, =~ or !~)"));
        };
        let valid_name = !name.is_empty()
            && name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !valid_name {
            return Err(format!("{raw:?}: invalid label name {name:?}"));
        }
        let mut value = value.trim().to_string();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = value[1..value.len() - 1].replace("\\\"", "\"");
        }
        Matcher::new(name, op, &value)
    }

    pub fn new(name: &str, op: Op, value: &str) -> Result<Matcher, String> {
        let re = match op {
            Op::Re | Op::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regex {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
            Op::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            Op::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// Every matcher must hold (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// Parses a list of matchers, or says which one is wrong.
pub fn parse_all(raw: &[String]) -> Result<Vec<Matcher>, (usize, String)> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| Matcher::parse(r).map_err(|e| (i, e)))
        .collect()
}

/// Builds labels from pairs (tests and callers with fixed labels).
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantics() {
        let l = labels(&[("team", "ml"), ("kind", "missed_run")]);
        let cases: &[(&str, bool)] = &[
            ("team=ml", true),
            ("team=m", false),
            ("team!=ml", false),
            ("team!=data", true),
            ("team=~m.", true),
            // Fully anchored: a substring is not a match.
            ("team=~m", false),
            ("kind=~missed_run|stuck_run", true),
            ("kind=~run", false),
            ("kind!~stuck_run|missed_run", false),
            // Absent label is the empty string.
            ("env=", true),
            ("env!=", false),
            ("env=~.*", true),
            ("env=~.+", false),
            ("env!~.+", true),
            ("team=\"ml\"", true),
        ];
        for (raw, want) in cases {
            let m = Matcher::parse(raw).unwrap();
            assert_eq!(m.matches(&l), *want, "{raw}");
        }
    }

    #[test]
    fn parse_errors() {
        for bad in ["team", "=ml", "team=~(", "1team=x", "te am=x"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }
}
