#!/bin/sh
# The NBD protocol engine (initiator/nbd.c) against real NBD clients, through the test RAM-disk
# server tests/support/nbd-memserver on a unix socket: nbdinfo sees the size, block sizes and
# flags; nbdcopy writes 64 MiB of random data and reads it back with a matching checksum;
# qemu-img compare agrees; WRITE_ZEROES and TRIM read back as zeroes; the read-only export
# is advertised read-only; the listing shows both exports.
set -u

: "${top_builddir:=.}"
SERVER="$top_builddir/tests/support/nbd-memserver"

for tool in nbdinfo nbdcopy; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed (libnbd-bin)"
		exit 77
	fi
done
if [ ! -x "$SERVER" ]; then
	echo "ERROR: $SERVER not built"
	exit 99
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/nbd-engine.XXXXXX") || exit 99
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 99' INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

sock="$dir/nbd.sock"
# The server forks into the background once the socket listens: no waiting needed.
"$SERVER" --size 64M --block 512 --pref 4096 --max-payload 1M --pidfile "$dir/pid" "$sock" ||
	fail "nbd-memserver did not start"
pid=$(cat "$dir/pid")
uri="nbd+unix:///mem?socket=$sock"
uri_ro="nbd+unix:///mem-ro?socket=$sock"

# --- nbdinfo: size, block sizes, flags, description ---
nbdinfo --json "$uri" >"$dir/info.json" || fail "nbdinfo failed"
cat "$dir/info.json"
check() {
	grep -q "$1" "$dir/info.json" || fail "nbdinfo: expected $1"
}
check '"export-size": 67108864'
check '"block_size_minimum": 512'
check '"block_size_preferred": 4096'
check '"block_size_maximum": 1048576'
check '"is_read_only": false'
check '"can_flush": true'
check '"can_fua": true'
check '"can_trim": true'
check '"can_zero": true'
check '"can_multi_conn": true'
check '"can_cache": true'
check '"description": "ballast nbd engine test RAM disk"'
nbdinfo --json "$uri_ro" >"$dir/info.json" || fail "nbdinfo (read-only) failed"
check '"is_read_only": true'
# The empty export name is the default export.
[ "$(nbdinfo --size "nbd+unix://?socket=$sock")" = 67108864 ] || fail "default export size"
nbdinfo --list "nbd+unix://?socket=$sock" >"$dir/list" || fail "nbdinfo --list failed"
grep -q 'export="mem"' "$dir/list" && grep -q 'export="mem-ro"' "$dir/list" ||
	fail "listing lacks an export: $(cat "$dir/list")"

# --- nbdcopy: 64 MiB of random data in and out ---
head -c 64M /dev/urandom >"$dir/in.img"
nbdcopy "$dir/in.img" "$uri" || fail "nbdcopy to the server failed"
nbdcopy "$uri" "$dir/out.img" || fail "nbdcopy from the server failed"
in_sum=$(sha256sum <"$dir/in.img")
out_sum=$(sha256sum <"$dir/out.img")
[ "$in_sum" = "$out_sum" ] || fail "checksums differ: $in_sum vs $out_sum"
echo "nbdcopy round trip: $out_sum"

# --- qemu-img compare (separate qemu NBD client) ---
if command -v qemu-img >/dev/null 2>&1; then
	qemu-img compare -f raw -F raw "$dir/in.img" "$uri" || fail "qemu-img compare differs"
else
	echo "qemu-img absent: compare skipped"
fi

# --- WRITE_ZEROES and TRIM read back as zeroes (qemu-io) ---
if command -v qemu-io >/dev/null 2>&1; then
	qemu-io -f raw -c 'write -z 1M 1M' -c 'discard 4M 512k' "$uri" >"$dir/qio" 2>&1 ||
		fail "qemu-io zero/discard failed: $(cat "$dir/qio")"
	qemu-io -f raw -r -c 'read -P 0 1M 1M' -c 'read -P 0 4M 512k' "$uri" >"$dir/qio" 2>&1 ||
		fail "qemu-io read-back failed: $(cat "$dir/qio")"
	grep -q 'Pattern verification failed' "$dir/qio" && fail "zeroed ranges not zero"
	# And the rest is still the data written.
	qemu-io -f raw -r -c 'read -v 2M 16' "$uri" >"$dir/qio" 2>&1 || fail "qemu-io read failed"
else
	echo "qemu-io absent: zero/trim check skipped"
fi

# --- the read-only export is advertised read-only: clients refuse to write ---
head -c 1M /dev/urandom >"$dir/small.img"
if nbdcopy "$dir/small.img" "$uri_ro" 2>"$dir/ro.err"; then
	fail "write to the read-only export succeeded"
fi
echo "read-only export refused the write: $(head -n 1 "$dir/ro.err")"

# The server is still there after all of it.
kill -0 "$pid" 2>/dev/null || fail "server died"
echo "PASS"
exit 0
