#!/bin/sh
# Stand-in test run, opened once the fix is done: verifies it. Under `--fail tests` one
# test fails, and the chain's composite rule reports the missing pass at its deadline.
. "$(dirname "$0")/lib.sh"

printf 'tests: running 3 tests for auth\n'
work 'test auth::token_refresh ... ok' 'test auth::expired_token_rejected ... ok'
if should_fail tests; then
    work 'test auth::checkout_with_fresh_token ... FAILED' 'tests: 2 passed, 1 failed'
else
    work 'test auth::checkout_with_fresh_token ... ok' 'tests: 3 passed, 0 failed'
fi
idle
