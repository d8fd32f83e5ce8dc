//! Fuzz target `layout`: parse_layout on arbitrary bytes; layouts that parse survive format -> parse.
//! The property lives in `fuzz/src/lib.rs` (`check_layout`), shared with the parser's
//! `tests/fuzz_regressions.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tmux_control_parser_fuzz::check_layout(data));
