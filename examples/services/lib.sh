# Helpers shared by the services demo's stand-in servers (sourced, not run).
#
# CTMUXD_DEMO_SPEED scales every pause (1 = real-ish start-up times; `--fast` uses 0.2).
# CTMUXD_DEMO_FAIL is a comma-separated list of labels whose server fails at start-up
# (`ctmuxd demo services --fail db`). `ctmuxd demo` sets both with `new-session -e`.
SPEED=${CTMUXD_DEMO_SPEED:-1}

# pause SECONDS: sleep SECONDS times SPEED.
pause() {
    sleep "$(awk -v s="$1" -v f="$SPEED" 'BEGIN { printf "%.3f", s * f }')"
}

# should_fail LABEL: true when LABEL is in $CTMUXD_DEMO_FAIL.
should_fail() {
    case ",${CTMUXD_DEMO_FAIL:-}," in
    *",$1,"*) return 0 ;;
    esac
    return 1
}

# serve EVERY LINE: the server's steady state: print LINE every EVERY scaled seconds.
serve() {
    while :; do
        pause "$1"
        printf '%s %s\n' "$(date +%T)" "$2"
    done
}
