#!/bin/sh
# Stand-in database: PostgreSQL-like start-up lines, ending with the one the `db`
# pane's `ready` pattern waits for. Under `--fail db` it cannot bind and exits 1.
. "$(dirname "$0")/lib.sh"

port=${PGPORT:-5432}
log() { printf '%s [%s] %s\n' "$(date '+%F %T')" "$$" "$*"; }

log "LOG:  starting stand-in database 16.2 on 127.0.0.1, port $port"
pause 0.4
if should_fail db; then
    log "FATAL:  could not bind IPv4 address \"127.0.0.1\": Address already in use"
    log 'LOG:  database system is shut down'
    exit 1
fi
log "LOG:  listening on Unix socket \"/tmp/.s.PGSQL.$port\""
pause 0.5
log 'LOG:  database system was shut down at a clean checkpoint; redo not needed'
pause 0.6
log 'LOG:  database system is ready to accept connections'
serve 5 'LOG:  checkpoint complete: wrote 3 buffers (0.0%)'
