# Helpers shared by the debug demo's pane scripts (sourced, not run).
#
# CTMUXD_DEMO_SPEED scales every pause (1 is the ~12 s tour, `--fast` uses 0.2);
# CTMUXD_DEMO_FAIL=tests makes the verifying tests fail. `ctmuxd demo` sets both in the
# session's environment.
SPEED=${CTMUXD_DEMO_SPEED:-1}

# pause SECONDS: sleep SECONDS times SPEED.
pause() {
    sleep "$(awk -v s="$1" -v f="$SPEED" 'BEGIN { printf "%.3f", s * f }')"
}

# work LINE...: print the lines one by one with a short pause before each.
work() {
    for line in "$@"; do
        pause 0.6
        printf '%s\n' "$line"
    done
}

# should_fail STAGE: whether the demo was asked to make STAGE fail.
should_fail() {
    [ "${CTMUXD_DEMO_FAIL:-}" = "$1" ]
}

# idle: keep the pane's process alive until ctmuxd closes it.
idle() {
    while :; do sleep 3600; done
}
