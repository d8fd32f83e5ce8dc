#!/bin/sh
# The pipeline's monitor pane: shows which labelled panes are alive in this session,
# one line each time the set changes (asks tmux through $TMUX, the server this pane
# runs in, once per scaled second).
. "$(dirname "$0")/lib.sh"
# The tmux ctmuxd itself uses: a server refuses a client of another release.
tmux=${CTMUXD_TMUX:-tmux}

printf 'monitor: labelled panes alive in this session\n'
if ! command -v "$tmux" >/dev/null 2>&1 || [ -z "${TMUX_PANE:-}" ]; then
    printf 'monitor: not inside tmux; nothing to watch\n'
    idle
fi
last=
while :; do
    now=$("$tmux" list-panes -s -t "$TMUX_PANE" -F '#{?pane_dead,,#{@ctmuxd_label}}' 2>/dev/null | grep . | tr '\n' ' ')
    if [ "$now" != "$last" ]; then
        printf '%s  %s\n' "$(date +%T)" "${now:-(none)}"
        last=$now
    fi
    pause 1
done
