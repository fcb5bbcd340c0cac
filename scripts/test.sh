#!/bin/sh
# Set up a fresh Debian 12 machine (as root) and run the whole test suite:
# deps, autoreconf, configure, make, make check. Extra arguments go to configure, e.g.
#   scripts/test.sh --enable-sanitizers=address,undefined
# BUILD_DIR (default: build/ in the tree) selects an out-of-tree build directory.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/deps.sh"

[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null

build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
cd "$build"
"$here/configure" -q --enable-werror "$@"
jobs=$(nproc 2>/dev/null || echo 2)
make -s -j"$jobs"
set +e
make -j"$jobs" check
rc=$?
set -e
if [ $rc -ne 0 ]; then
	# Show the logs of what failed so CI output explains itself.
	for log in $(find . -name '*.log' -newer Makefile); do
		if grep -qsE '^(FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
			echo "==== $log"
			tail -n 60 "$log"
		fi
	done
fi
# The one summary line that counts, from the automake harness totals.
if [ -f test-suite.log ]; then
	pass=$(sed -n 's/^# PASS: *//p' test-suite.log | head -n1)
	fail=$(sed -n 's/^# FAIL: *//p' test-suite.log | head -n1)
	err=$(sed -n 's/^# ERROR: *//p' test-suite.log | head -n1)
	skip=$(sed -n 's/^# SKIP: *//p' test-suite.log | head -n1)
	echo "make check: ${pass:-0} passed, $(( ${fail:-0} + ${err:-0} )) failed, ${skip:-0} skipped"
fi
exit $rc
