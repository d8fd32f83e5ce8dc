#!/bin/sh
# Stand-in fix, opened by the debugger's root cause: refreshes the token, then says it is
# done, which opens the test pane.
. "$(dirname "$0")/lib.sh"

printf 'fix: applying a fix for: %s\n' "${CTMUX_CAUSE:-expired JWT}"
work 'fix: rotating the refresh job to run before key expiry' 'fix: reissuing the token for user 4711'
printf 'fix: done\n'
idle
