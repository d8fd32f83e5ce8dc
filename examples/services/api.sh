#!/bin/sh
# Stand-in API server: connects to the database (started only once the db is ready),
# migrates, then prints the `listening on` line the `api` pane's `ready` pattern waits for.
. "$(dirname "$0")/lib.sh"

port=${PORT:-8080}
printf 'api: config: PORT=%s DATABASE_URL=%s\n' "$port" "${DATABASE_URL:-postgres://127.0.0.1:5432/app}"
pause 0.3
printf 'api: connected to the database; 3 migrations pending\n'
if should_fail api; then
    printf 'api: FATAL: migration 0003_add_sessions failed: relation "users" does not exist\n'
    exit 1
fi
pause 0.6
printf 'api: migrations applied (0001_init, 0002_users, 0003_add_sessions)\n'
pause 0.4
printf 'api: listening on http://127.0.0.1:%s\n' "$port"
serve 3 'api: GET /health 200 0.4ms'
