//! Fuzz target `api_request`: `ctmuxd::api::parse_request` on one arbitrary request line; accepted requests survive serialise -> parse.
//! The property lives in `fuzz/src/daemon_checks.rs` (`check_api_request`), shared with the
//! root package's `tests/it/fuzz_replay.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target calls one of the file's checks; the other is unused here.
#[allow(dead_code)]
#[path = "../src/daemon_checks.rs"]
mod daemon_checks;

fuzz_target!(|data: &[u8]| daemon_checks::check_api_request(data));
