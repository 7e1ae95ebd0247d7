//! Error signatures: error text normalised so the same error matches across
//! pipelines and runs (alerts.md). Numbers, UUIDs and hex ids, IP addresses and
//! `host:port`s, e-mail addresses, URLs, quoted values and paths are masked; the
//! `error_type` is kept in front. `could not connect to 10.1.2.7:5439 (attempt 3)`
//! and `could not connect to 10.9.0.2:5439 (attempt 1)` give one signature.

use std::sync::LazyLock;

use regex::Regex;

/// Masks applied in order: the broad shapes (quotes, URLs, paths, addresses)
/// before the narrow ones (hex ids, numbers), so a number inside an address is
/// masked as part of the address.
static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r#""[^"]*"|'[^']*'|`[^`]*`"#, "<q>"),
        (r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+", "<url>"),
        (r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "<email>"),
        (
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "<uuid>",
        ),
        (r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b", "<ip>"),
        (
            r"\[?[0-9a-fA-F]*:[0-9a-fA-F:]*:[0-9a-fA-F:]+\]?(:\d+)?",
            "<ip>",
        ),
        (r"(^|[\s(=,])(/|[A-Za-z]:\\|\.{1,2}/)[^\s,;)]*", "$1<path>"),
        (r"\b[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+:\d+\b", "<host>"),
        (r"\b[A-Za-z0-9-]+(\.[A-Za-z0-9-]+){2,}\b", "<host>"),
        (
            r"\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b",
            "<hex>",
        ),
        (
            r"\b(0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b",
            "<hex>",
        ),
        (r"\d+(\.\d+)?", "<n>"),
    ]
    .into_iter()
    .map(|(re, rep)| (Regex::new(re).expect("valid signature regex"), rep))
    .collect()
});

static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").expect("valid regex"));

/// The most characters of a message that are normalised: signatures are for
/// matching, and the head of a message names the error.
const MAX_MESSAGE: usize = 512;

/// The signature of an error: `error_type: masked message` (either part may be
/// empty). None when the run carries no error text at all.
pub fn signature(error_type: Option<&str>, message: Option<&str>) -> Option<String> {
    let ty = error_type.map(str::trim).filter(|s| !s.is_empty());
    let msg = message.map(str::trim).filter(|s| !s.is_empty());
    if ty.is_none() && msg.is_none() {
        return None;
    }
    let masked = msg.map(mask).unwrap_or_default();
    Some(match (ty, masked.is_empty()) {
        (Some(t), true) => t.to_string(),
        (Some(t), false) => format!("{t}: {masked}"),
        (None, _) => masked,
    })
}

/// Masks the variable parts of a message.
pub fn mask(message: &str) -> String {
    let head: String = message.chars().take(MAX_MESSAGE).collect();
    let mut s = head;
    for (re, rep) in MASKS.iter() {
        if re.is_match(&s) {
            s = re.replace_all(&s, *rep).into_owned();
        }
    }
    SPACES.replace_all(s.trim(), " ").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_error_same_signature() {
        let pairs = [
            (
                "could not connect to 10.1.2.7:5439 (attempt 3)",
                "could not connect to 10.9.0.2:5439 (attempt 1)",
            ),
            (
                "warehouse unreachable: connection refused (10.2.3.4:5439)",
                "warehouse unreachable: connection refused (10.2.3.9:5439)",
            ),
            (
                "timeout talking to db-7.prod.internal:5432 after 30s",
                "timeout talking to db-12.prod.internal:5432 after 45s",
            ),
            (
                "job 3f2a9c1e-77aa-4bb0-9c1d-0123456789ab failed",
                "job 0c7e1d2a-1111-4222-8333-abcdefabcdef failed",
            ),
            (
                "file not found: /data/in/2026-11-01/part-0001.parquet",
                "file not found: /data/in/2026-11-02/part-0007.parquet",
            ),
            (
                "column 'user_id' has 12 nulls",
                "column 'order_id' has 4 nulls",
            ),
            (
                "request a1b2c3d4e5f6 failed with status 503",
                "request 0099ffee8877 failed with status 502",
            ),
            (
                "GET https://api.example.com/v1/x?id=1 returned 500",
                "GET https://api.example.com/v1/y?id=2 returned 500",
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(
                signature(Some("E"), Some(a)),
                signature(Some("E"), Some(b)),
                "{a} | {b}"
            );
        }
    }

    #[test]
    fn different_errors_stay_apart() {
        let a = signature(
            Some("ConnectionError"),
            Some("connection refused (10.1.2.3:5432)"),
        );
        let b = signature(
            Some("TimeoutError"),
            Some("connection refused (10.1.2.3:5432)"),
        );
        let c = signature(
            Some("ConnectionError"),
            Some("permission denied for schema sales"),
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn shapes() {
        let cases = [
            (
                "could not connect to 10.1.2.7:5439 (attempt 3)",
                "could not connect to <ip> (attempt <n>)",
            ),
            ("disk /var/lib/x full", "disk <path> full"),
            ("bad value \"abc\"", "bad value <q>"),
            ("  many   spaces ", "many spaces"),
        ];
        for (raw, want) in cases {
            assert_eq!(mask(raw), want, "{raw}");
        }
        assert_eq!(signature(None, None), None);
        assert_eq!(signature(Some("OOM"), None).as_deref(), Some("OOM"));
    }
}
