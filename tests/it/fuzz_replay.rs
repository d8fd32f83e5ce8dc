//! Replays the daemon crate's fuzz corpora and saved crashes on every `cargo test`, so the
//! properties the `rules_file` and `api_request` fuzzers check keep holding without
//! `cargo fuzz` or libFuzzer.
//!
//! The properties are the fuzz targets' own check functions (`fuzz/src/daemon_checks.rs`,
//! included here as a module): every file of `fuzz/corpus/<target>/` and every
//! `fuzz/regressions/<target>-<name>` goes through its target's check, and then through
//! every fuzz check, the parser's (`fuzz/src/lib.rs`) included: they all hold for any
//! bytes, so cross-feeding is free coverage. The parser's own corpora and regressions are
//! replayed by `parser/tests/fuzz_regressions.rs`.

#[path = "../../fuzz/src/daemon_checks.rs"]
mod checks;

#[path = "../../fuzz/src/lib.rs"]
pub(crate) mod parser_checks;

use std::fs;
use std::path::{Path, PathBuf};

/// The fuzz crate's directory.
const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");

type Check = fn(&[u8]);

/// The daemon crate's fuzz targets and their checks.
const TARGETS: [(&str, Check); 2] =
    [("rules_file", checks::check_rules_file), ("api_request", checks::check_api_request)];

/// Every fuzz check, for cross-feeding.
const ALL: [(&str, Check); 5] = [
    ("rules_file", checks::check_rules_file),
    ("api_request", checks::check_api_request),
    ("decoder", parser_checks::check_decoder),
    ("layout", parser_checks::check_layout),
    ("unescape", parser_checks::check_unescape),
];

/// Files directly in `dir` whose name starts with `prefix`, sorted; a missing directory is
/// an empty list (the callers assert the counts they expect).
fn files_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("readable directory entry").path())
            .filter(|p| p.is_file())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `primary` and then every fuzz check on each file; returns the failures as
/// `path (target): panic message` instead of stopping at the first one.
fn replay(files: &[PathBuf], primary: (&str, Check)) -> Vec<String> {
    let mut failures = Vec::new();
    for path in files {
        let data = fs::read(path).expect("readable fuzz file");
        for (name, check) in std::iter::once(primary).chain(ALL) {
            if let Err(msg) = parser_checks::run_check(check, &data) {
                failures.push(format!("{} ({name}): {msg}", path.display()));
            }
        }
    }
    failures
}

#[test]
fn daemon_fuzz_corpora_pass() {
    for target in TARGETS {
        let files = files_in(&Path::new(FUZZ_DIR).join("corpus").join(target.0), "");
        // The seeds are committed (examples, test files, docs/api.md): fewer means the path
        // is wrong and this test would check nothing.
        assert!(files.len() >= 15, "fuzz/corpus/{} has only {} files", target.0, files.len());
        let failures = replay(&files, target);
        assert!(failures.is_empty(), "fuzz corpus fails:\n{}", failures.join("\n"));
    }
}

#[test]
fn daemon_fuzz_regressions_still_pass() {
    let dir = Path::new(FUZZ_DIR).join("regressions");
    for target in TARGETS {
        let files = files_in(&dir, &format!("{}-", target.0));
        let failures = replay(&files, target);
        assert!(failures.is_empty(), "fuzz regressions fail again:\n{}", failures.join("\n"));
    }
}

/// The seeds the checks are meant to go deep on really are accepted: if every example file
/// or documented request were refused, the checks would stop at the error and the
/// accepted-input properties (re-parse, round trip) would go untested.
#[test]
fn documented_seeds_are_accepted() {
    let corpus = Path::new(FUZZ_DIR).join("corpus");
    let examples = files_in(&corpus.join("rules_file"), "seed-example-");
    assert_eq!(examples.len(), 3, "one seed per examples/*.toml: {examples:?}");
    for path in &examples {
        let text = fs::read_to_string(path).unwrap();
        if let Err(err) = ctmuxd::rules::parse(&text, Path::new(checks::RULES_PATH)) {
            panic!("{}: {err}", path.display());
        }
    }
    let requests = files_in(&corpus.join("api_request"), "seed-doc-");
    let accepted = requests
        .iter()
        .filter(|p| ctmuxd::api::parse_request(&fs::read_to_string(p).unwrap()).is_ok())
        .count();
    // docs/api.md shows every command once or more, and two refused lines.
    assert_eq!((requests.len(), accepted), (15, 13), "{requests:?}");
}
