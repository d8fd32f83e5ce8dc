//! Fuzz target `unescape`: unescape on arbitrary bytes against a reference model; escape -> unescape round trip.
//! The property lives in `fuzz/src/lib.rs` (`check_unescape`), shared with the parser's
//! `tests/fuzz_regressions.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tmux_control_parser_fuzz::check_unescape(data));
