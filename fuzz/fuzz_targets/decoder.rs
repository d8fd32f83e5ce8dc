//! Fuzz target `decoder`: Decoder: arbitrary bytes fed whole and in arbitrary chunks (the first input bytes pick the chunk sizes and limits).
//! The property lives in `fuzz/src/lib.rs` (`check_decoder`), shared with the parser's
//! `tests/fuzz_regressions.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tmux_control_parser_fuzz::check_decoder(data));
