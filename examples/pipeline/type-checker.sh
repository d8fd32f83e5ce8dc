#!/bin/sh
# Analysis stage, second pane: a stand-in type checker for the web front end, then
# idling until the build stage closes it.
. "$(dirname "$0")/lib.sh"

printf 'type-checker: tsc --noEmit -p web/\n'
fail_if_asked type-checker 'web/src/api.ts:42:7: error TS2322: Type 'string' is not assignable to type 'number''
work 'type-checker: resolving 118 files and 23 declaration packages' \
    'type-checker: checking web/src/api.ts, web/src/views/*.tsx' \
    'type-checker: found 0 errors in 118 files'
idle
