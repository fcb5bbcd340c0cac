#!/bin/sh
# Replays every fuzz target's corpus (tests/fuzz/corpus/<target>/) through the target.
set -u
status=0
ran=0
for t in fuzz-pdu fuzz-text fuzz-login; do
	bin="$top_builddir/tests/fuzz/$t"
	dir="$top_srcdir/tests/fuzz/corpus/$t"
	if [ ! -x "$bin" ]; then
		echo "replay-corpora: $bin not built (libFuzzer build?)"
		continue
	fi
	[ -d "$dir" ] || { echo "replay-corpora: no corpus for $t"; status=1; continue; }
	"$bin" "$dir" || status=1
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || exit 77
exit $status
