#!/bin/sh
# Analysis stage, first pane: a stand-in linter printing a few warnings, then idling
# until the build stage closes it.
. "$(dirname "$0")/lib.sh"

printf 'linter: checking 42 files\n'
fail_if_asked linter 'src/engine.rs:118:13: error: this if has identical blocks'
work "src/engine.rs:118:13: warning: this \`if\` has identical blocks" \
    "src/dispatch.rs:64:5: warning: unused \`Result\` that must be used" \
    "src/pane/ring.rs:22:9: warning: manual implementation of \`Option::map\`" \
    'linter: 42 files checked, 0 errors, 3 warnings'
idle
