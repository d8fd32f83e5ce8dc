//! Replays the fuzz corpus and every saved fuzz crash on each `cargo test`, so the
//! properties the fuzzers check keep holding without `cargo fuzz` or a nightly compiler.
//!
//! The properties are the fuzz crate's own check functions (`fuzz/src/lib.rs`, included
//! here as a module): `fuzz/regressions/<target>-<name>` files go through their target's
//! check, and every file of `fuzz/corpus/<target>/` through its target's check. Every
//! file additionally goes through the other two checks: they hold for any bytes, and
//! cross-feeding is free extra coverage.

// `fuzz/src/lib.rs`, included once for the whole test binary by `fuzz_replay`.
use crate::fuzz_replay::parser_checks as checks;

use std::fs;
use std::path::{Path, PathBuf};

/// The fuzz crate's directory (the parser crate publishes without it, so its
/// regressions are replayed from the workspace root).
const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");

type Check = fn(&[u8]);

/// The check of the fuzz target called `target`.
fn check_for(target: &str) -> Option<Check> {
    match target {
        "decoder" => Some(checks::check_decoder),
        "layout" => Some(checks::check_layout),
        "unescape" => Some(checks::check_unescape),
        _ => None,
    }
}

const ALL: [(&str, Check); 3] = [
    ("decoder", checks::check_decoder),
    ("layout", checks::check_layout),
    ("unescape", checks::check_unescape),
];

/// Regular files directly in `dir`, sorted (a missing directory is an empty list).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("readable directory entry").path())
            .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != ".gitkeep"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `primary` and then every check on each file; returns the failures as
/// `path (check): panic message` instead of stopping at the first one.
fn replay(files: &[PathBuf], primary: impl Fn(&Path) -> Check) -> Vec<String> {
    let mut failures = Vec::new();
    for path in files {
        let data = fs::read(path).expect("readable fuzz file");
        let first = primary(path);
        let checks = std::iter::once(("primary", first)).chain(ALL.iter().copied());
        for (name, check) in checks {
            if let Err(msg) = checks::run_check(check, &data) {
                failures.push(format!("{} ({name}): {msg}", path.display()));
            }
        }
    }
    failures
}

/// The daemon crate's targets: their regressions are replayed by the root package's
/// `tests/it/fuzz_replay.rs` (this package cannot link `ctmuxd`).
const DAEMON_TARGETS: [&str; 2] = ["rules_file", "api_request"];

#[test]
fn regressions_still_pass() {
    let mut files = files_in(&Path::new(FUZZ_DIR).join("regressions"));
    files.retain(|path| {
        let name = path.file_name().unwrap().to_string_lossy();
        let target = name.split('-').next().unwrap_or_default();
        let ours = check_for(target).is_some();
        assert!(
            ours || DAEMON_TARGETS.contains(&target),
            "{name}: regression files are named <target>-<name>"
        );
        ours
    });
    let failures = replay(&files, |path| {
        let name = path.file_name().unwrap().to_string_lossy();
        check_for(name.split('-').next().unwrap_or_default()).expect("checked above")
    });
    assert!(failures.is_empty(), "fuzz regressions fail again:\n{}", failures.join("\n"));
}

#[test]
fn corpus_passes() {
    let mut total = 0;
    for (target, check) in ALL {
        let files = files_in(&Path::new(FUZZ_DIR).join("corpus").join(target));
        // The seeds are committed (fixtures, fixture layouts, %output payloads): an empty
        // directory means the path is wrong and this test would check nothing.
        assert!(files.len() >= 10, "fuzz/corpus/{target} has only {} files", files.len());
        total += files.len();
        let failures = replay(&files, |_| check);
        assert!(failures.is_empty(), "fuzz corpus fails:\n{}", failures.join("\n"));
    }
    assert!(total >= 60);
}

/// The fixtures' layouts are in the layout corpus and really parse: if `parse_layout`
/// rejected them, `check_layout` would return early and the round trip would go untested.
#[test]
fn layout_seeds_parse() {
    let files = files_in(&Path::new(FUZZ_DIR).join("corpus/layout"));
    let seeds: Vec<_> = files
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("fixture-"))
        .collect();
    assert!(seeds.len() >= 16, "only {} fixture layouts", seeds.len());
    for path in seeds {
        let data = fs::read(path).unwrap();
        let layout = tmux_control_parser::parse_layout(&data)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Captured layouts are canonical, so formatting reproduces them byte for byte.
        assert_eq!(checks::format_layout(&layout).as_bytes(), &data[..], "{}", path.display());
    }
}
