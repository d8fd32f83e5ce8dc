//! The properties of the fuzz targets on the daemon crate (`ctmuxd`), one function per
//! target. Kept apart from `lib.rs`, whose checks depend only on the parser crate (the
//! parser's `tests/fuzz_regressions.rs` includes `lib.rs` and has no `ctmuxd` to link), this
//! file is included with `#[path]` by the targets `rules_file` and `api_request` and by the
//! root package's `tests/it/fuzz_replay.rs`, so a saved crash replays under `cargo test`
//! through exactly the code that found it. Every check panics (the fuzzer's crash signal)
//! when a property fails:
//!
//! * [`check_rules_file`]: `ctmuxd::rules::parse` never panics on any text; a refusal is one
//!   non-empty line that starts with the file's path, and its line and column lie inside
//!   the text; an accepted file has unique, non-empty rule names and parses again to an
//!   equal `RuleSet`;
//! * [`check_api_request`]: `parse_request` never panics on any line; a refusal is a
//!   `bad_request` with a non-empty message; an accepted request survives serde_json
//!   serialise → `parse_request` unchanged.
//!
//! The socket's bounded line reader (`src/api/lines.rs`) is crate-private (`mod lines`,
//! `pub(crate) struct LineReader`), so no target drives it from here.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::Path;

use ctmuxd::api::{parse_request, ErrorCode};

/// The path every fuzzed rules file claims to come from; errors must start with it.
pub const RULES_PATH: &str = "rules.toml";

/// Rules-file property: see the module docs. Bytes that are not UTF-8 are decoded lossily
/// (the daemon reads the file with `read_to_string`, so such a file never reaches `parse`;
/// the replacement characters are multi-byte and exercise the column counting).
///
/// # Panics
///
/// When `parse` panics, its error breaks the format above, or an accepted file is not
/// stable under re-parsing.
pub fn check_rules_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(RULES_PATH);
    let set = match ctmuxd::rules::parse(&text, path) {
        Ok(set) => set,
        Err(err) => {
            check_rules_error(&text, &err);
            return;
        }
    };
    assert_eq!(set.path, path, "the RuleSet's path is not the one given");
    let mut names = HashSet::new();
    for rule in &set.rules {
        assert!(!rule.name.trim().is_empty(), "accepted a rule with an empty name");
        assert!(names.insert(rule.name.as_str()), "accepted duplicate rule name {:?}", rule.name);
        assert!(
            !rule.pattern.contains(['\n', '\r']),
            "accepted rule {:?} whose pattern has a line break",
            rule.name
        );
    }
    match ctmuxd::rules::parse(&text, path) {
        Ok(again) => assert_eq!(again, set, "parsing the same text twice gave different rules"),
        Err(err) => panic!("the same text was accepted, then refused: {err}"),
    }
}

/// The format of a refusal of `text`.
fn check_rules_error(text: &str, err: &ctmuxd::rules::RulesError) {
    let shown = err.to_string();
    assert!(!err.message().is_empty(), "empty message in {shown:?}");
    assert!(!shown.contains(['\n', '\r']), "error is not one line: {shown:?}");
    assert!(
        shown.starts_with(RULES_PATH) && shown[RULES_PATH.len()..].starts_with(':'),
        "error does not start with `{RULES_PATH}:`: {shown:?}"
    );
    assert_eq!(err.path(), Path::new(RULES_PATH), "error names another path: {shown:?}");
    assert_ne!(err.kind(), ctmuxd::rules::RulesErrorKind::Read, "parse reported a read error");
    let Some((line, column)) = err.line_col() else { return };
    // `split('\n')` yields one more piece than there are newlines: a position just after
    // a final newline (an error at end of file) is line `count + 1`, column 1.
    let Some(line_text) = line.checked_sub(1).and_then(|i| text.split('\n').nth(i)) else {
        panic!("line {line} is outside the text ({} lines): {shown:?}", text.split('\n').count());
    };
    // Columns count characters from 1; one past the last character is the end of the line.
    let width = line_text.chars().count();
    assert!(
        (1..=width + 1).contains(&column),
        "column {column} is outside line {line} ({width} characters): {shown:?}"
    );
    assert!(
        shown.starts_with(&format!("{RULES_PATH}:{line}:{column}: ")),
        "displayed position differs from line_col() = ({line}, {column}): {shown:?}"
    );
}

/// API request property: see the module docs. The server frames requests with a UTF-8
/// lines codec, so bytes that are not UTF-8 never reach `parse_request` and are skipped.
///
/// # Panics
///
/// When `parse_request` panics, refuses with another code or an empty message, or an
/// accepted request changes through serialise → parse.
pub fn check_api_request(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let request = match parse_request(line) {
        Ok(request) => request,
        Err(err) => {
            assert_eq!(err.code, ErrorCode::BadRequest, "refused with {:?}: {err}", err.code);
            assert!(!err.message.trim().is_empty(), "bad_request with an empty message");
            return;
        }
    };
    let text = match serde_json::to_string(&request) {
        Ok(text) => text,
        Err(err) => panic!("accepted request {request:?} does not serialise: {err}"),
    };
    assert!(!text.contains('\n'), "a serialised request spans lines: {text:?}");
    match parse_request(&text) {
        Ok(again) => assert_eq!(again, request, "request changed through {text:?}"),
        Err(err) => panic!("re-serialised request {text:?} is refused: {err}"),
    }
    // The client sends exactly this text; the kind it names is the one parsed.
    assert!(
        text.contains(&format!("\"cmd\":\"{}\"", request.cmd())),
        "serialised {text:?} does not name cmd {:?}",
        request.cmd()
    );
}
