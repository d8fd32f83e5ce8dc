#!/bin/sh
# Build stage, second pane: stand-in test results, then idling until the security
# stage closes it.
. "$(dirname "$0")/lib.sh"

printf 'test-runner: cargo test --workspace\n'
fail_if_asked test-runner 'test engine::tests::fires_once_per_line ... FAILED'
work 'running 48 tests' \
    'test engine::tests::fires_once_per_line ... ok' \
    'test matcher::tests::split_trigger_across_chunks ... ok' \
    'test rules::tests::bad_pattern_names_the_rule ... ok' \
    'test result: ok. 48 passed; 0 failed; 0 ignored; finished in 1.84s'
idle
