#!/bin/sh
# Deploy stage: a stand-in rolling deploy. Its last line, `DEPLOY COMPLETE`, fires the
# `deployed` rule, which emits `pipeline-done`: the end of the demo. It then stays
# open for inspection.
. "$(dirname "$0")/lib.sh"

printf 'deployer: rolling out v1.4.2 to 3 hosts\n'
fail_if_asked deployer 'web-2 failed its health check; rolled back'
work 'deployer: web-1 drained, updated, healthy' \
    'deployer: web-2 drained, updated, healthy' \
    'deployer: web-3 drained, updated, healthy' \
    'DEPLOY COMPLETE: v1.4.2 live on 3/3 hosts'
idle
