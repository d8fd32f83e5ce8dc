#!/bin/sh
# The pipeline's orchestrator pane: prints one trigger per stage, with pauses between
# them, each stamped with its own print time (`TRIGGER: START_BUILD t=<ns>`), so the
# `t` capture of ctmuxd's match record gives the detection latency (record ts_ns - t).
#
# Usage: orchestrator.sh [SPEED]   (1 = about 30 s; default $CTMUXD_DEMO_SPEED, else 1)
if [ -n "${1:-}" ]; then CTMUXD_DEMO_SPEED=$1; fi
. "$(dirname "$0")/lib.sh"

# trigger NAME: the time is taken just before printing, so the measured latency
# includes the write into the pane, tmux, control mode and the matcher.
trigger() {
    printf 'TRIGGER: %s t=%s\n' "$1" "$(now_ns)"
}

printf 'orchestrator: four stages, speed x%s\n' "$SPEED"
printf 'orchestrator: analysis -> build -> security -> deploy\n'
pause 5
trigger START_ANALYSIS
pause 6
trigger START_BUILD
pause 7
trigger START_SECURITY
pause 6
trigger START_DEPLOY
printf 'orchestrator: all four stages triggered; the deployer finishes the run\n'
idle
