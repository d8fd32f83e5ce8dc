#!/bin/sh
# The pipeline's logger pane: follows ctmuxd's event log ($CTMUXD_DEMO_EVENTS/events.jsonl,
# set by `ctmuxd demo`) and prints one short line per record.
. "$(dirname "$0")/lib.sh"

if [ -z "${CTMUXD_DEMO_EVENTS:-}" ]; then
    printf 'logger: set CTMUXD_DEMO_EVENTS to an event-log directory to follow it here\n'
    idle
fi
log=$CTMUXD_DEMO_EVENTS/events.jsonl
printf 'logger: following %s\n' "$log"
while [ ! -e "$log" ]; do sleep 0.2; done
printf '%-7s %-8s %-17s %-16s %s\n' event action label rule alive

# field NAME RECORD: the value of "NAME" in a one-line JSON record (strings and numbers;
# enough for display, with no JSON tool needed).
field() {
    case $2 in
    *"\"$1\":"*)
        v=${2#*\"$1\":}
        v=${v#\"}
        printf '%s' "${v%%[\",\}]*}"
        ;;
    esac
}

tail -n +1 -f "$log" | while IFS= read -r rec; do
    label=$(field target_label "$rec")
    [ -n "$label" ] || label=$(field label "$rec")
    [ -n "$label" ] || label=$(field name "$rec")
    printf '%-7s %-8s %-17s %-16s %s\n' "$(field event "$rec")" "$(field action "$rec")" \
        "$label" "$(field rule "$rec")" "$(field panes_alive "$rec")"
done
