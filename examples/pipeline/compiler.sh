#!/bin/sh
# Build stage, first pane: stand-in compiler output, then idling until the security
# stage closes it.
. "$(dirname "$0")/lib.sh"

printf 'compiler: cargo build --release\n'
fail_if_asked compiler 'error[E0308]: mismatched types in src/firing.rs'
work '   Compiling memchr v2.7.4' \
    '   Compiling regex-automata v0.4.9' \
    '   Compiling tmux-control-parser v0.1.0 (parser)' \
    '   Compiling ctmuxd v0.1.0' \
    '    Finished `release` profile [optimized] target(s) in 6.42s'
idle
