#!/bin/sh
# Stand-in API server: serves a few requests, then one fails authentication, the line
# the debug chain starts from.
. "$(dirname "$0")/lib.sh"

printf 'server: listening on http://127.0.0.1:8080\n'
work 'GET /health 200 1ms' 'GET /api/orders 200 14ms' 'POST /api/orders 201 22ms'
pause 1
printf 'Error: Invalid token (POST /api/checkout, user 4711)\n'
work 'GET /health 200 1ms'
idle
