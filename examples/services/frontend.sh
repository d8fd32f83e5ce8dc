#!/bin/sh
# Stand-in front-end dev server: started once the API listens; prints the `Local:` line
# the `frontend` pane's `ready` pattern waits for.
. "$(dirname "$0")/lib.sh"

port=${PORT:-5173}
printf 'frontend: dev server starting, proxying /api to %s\n' "${API_URL:-http://127.0.0.1:8080}"
pause 0.7
if should_fail frontend; then
    printf 'frontend: ERROR: cannot find module "./routes.generated"\n'
    exit 1
fi
printf '\n  stand-in dev server v5.4  ready in 712 ms\n\n'
printf '  ->  Local:   http://127.0.0.1:%s/\n' "$port"
serve 4 'frontend: hmr update /src/App.tsx'
