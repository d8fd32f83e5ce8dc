#!/bin/sh
# Security stage: a stand-in dependency audit, then idling until the deploy stage
# closes it.
. "$(dirname "$0")/lib.sh"

printf 'security-scanner: auditing Cargo.lock\n'
fail_if_asked security-scanner 'RUSTSEC-2024-0001: a vulnerable dependency'
work 'security-scanner: loaded 812 advisories from the advisory database' \
    'security-scanner: scanning 211 crate dependencies' \
    'security-scanner: 0 vulnerabilities, 1 warning (unmaintained: ansi_term 0.12.1)'
idle
