#!/bin/sh
# Stand-in debugger, opened by the server's auth error: reads the token and names the
# root cause, which opens the fix pane.
. "$(dirname "$0")/lib.sh"

printf 'debugger: attaching to the failed request (POST /api/checkout)\n'
work 'debugger: token header: alg=RS256 kid=2024-07' \
    'debugger: token claims: sub=4711 exp=1719792000' \
    'Root cause: expired JWT (exp is in the past; the signing key rotated without a refresh)'
idle
