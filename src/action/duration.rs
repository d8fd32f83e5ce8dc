//! Durations as the rules file and the command line write them (`500ms`, `1m30s`): a
//! leaf that the `exec` action's `timeout`, rule checks, `[[pane]]` checks and `--interval`
//! all use. It lives under [`crate::action`], the lowest layer that reads rules-file
//! values, so action kinds can parse their own options; [`crate::rules`] re-exports it.

use std::fmt;
use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration `{}`: {}; write whole numbers with a unit, such as `500ms`, `2s`, `1m` or `1h30m`",
            self.text, self.reason
        )
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration such as `500ms`, `2s`, `1m`, `1h` or `1m30s`: one or more
/// whole numbers, each followed by a unit (`ms`, `s`, `m`, `h`).
///
/// # Errors
///
/// Empty text, a number without a unit, an unknown unit, a fraction, or a total
/// too large for a [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError { text: text.to_owned(), reason };
    if text.is_empty() {
        return Err(fail("it is empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail("expected a number"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| fail("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if rest.starts_with('.') => {
                return Err(fail("fractions are not supported, use a smaller unit"))
            }
            "" => return Err(fail("the number has no unit")),
            _ => return Err(fail("unknown unit, expected `ms`, `s`, `m` or `h`")),
        };
        rest = &rest[unit_len..];
        let part = number.checked_mul(unit_ms).ok_or_else(|| fail("it is too large"))?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(|| fail("it is too large"))?;
    }
    Ok(total)
}
/// A duration as the rules file writes it, which [`parse_duration`] reads back: `5m`,
/// `1h30m`, `10s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn format_duration_writes_what_parse_duration_reads_back() {
        for (d, text) in [
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text).unwrap(), d, "{text}");
        }
    }
}
