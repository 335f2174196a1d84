#!/bin/sh
# Run the C unit tests in tests/unit (each prints its own TAP lines; this
# script counts one test per unit program).
. "$(dirname "$0")/lib.sh"
units=$(ls "$TOP"/tests/unit/*.c | sed 's/\.c$//')
plan $(echo "$units" | wc -l)
for u in $units; do
	if "$u" >unit.out 2>&1 && ! grep -q '^not ok' unit.out; then
		_result 0 "$(basename "$u")"
	else
		_result 1 "$(basename "$u")"
		grep -v '^ok' unit.out | head -20 | sed 's/^/# /'
	fi
done
done_testing
