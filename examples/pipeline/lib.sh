# Helpers shared by the pipeline demo's pane scripts (sourced, not run).
#
# CTMUXD_DEMO_SPEED scales every pause: 1 is the ~30 s tour, `ctmuxd demo pipeline
# --fast` uses 0.2; CTMUXD_DEMO_FAIL names the stage pane that fails (`--fail linter`).
# `ctmuxd demo` sets both in the session's environment (`new-session -e`).
SPEED=${CTMUXD_DEMO_SPEED:-1}

# pause SECONDS: sleep SECONDS times SPEED (fractional sleep: GNU, busybox and BSD all take it).
pause() {
    sleep "$(awk -v s="$1" -v f="$SPEED" 'BEGIN { printf "%.3f", s * f }')"
}

# now_ns: wall-clock nanoseconds since the epoch, the clock ctmuxd stamps records with.
# `date +%s%N` where %N works (GNU, busybox); python3 elsewhere (macOS prints a literal N).
now_ns() {
    t=$(date +%s%N 2>/dev/null)
    case $t in
    '' | *[!0-9]*) python3 -c 'import time; print(time.time_ns())' 2>/dev/null || echo "$(date +%s)000000000" ;;
    *) echo "$t" ;;
    esac
}

# work LINE...: print the lines one by one with a short pause before each, like a tool's progress.
work() {
    for line in "$@"; do
        pause 0.6
        printf '%s\n' "$line"
    done
}

# idle: keep the pane's process alive (a live pane counts in panes_alive) until ctmuxd closes it.
idle() {
    while :; do sleep 3600; done
}

# fail_if_asked LABEL WHAT: under `ctmuxd demo pipeline --fail LABEL`, this stage fails
# here: it says so (`LABEL: FAILED: WHAT`) and exits with status 3.
fail_if_asked() {
    if [ "${CTMUXD_DEMO_FAIL:-}" = "$1" ]; then
        pause 0.6
        printf '%s: FAILED: %s\n' "$1" "$2"
        exit 3
    fi
}
