#!/bin/sh
# ballastd against tgtd (or ballast-targetd: BALLASTD_PEER) (thin-provisioned LU): NBD WRITE_ZEROES (WRITE SAME) and TRIM (UNMAP)
# read back as zeroes while the data around them is intact; qemu-img compare agrees with a
# local copy made the same way.
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_peer
need qemu-io qemu-img nbdcopy
SIZE=$((64 * 1024 * 1024))
start_peer "$SIZE"
start_ballastd --nbd "unix:$WORK/nbd.sock" || fail "ballastd did not become ready (rc $BALLASTD_RC)"
U=$(uri)

grep -q "unmap yes" "$WORK/ballastd.log" || fail "LU does not report UNMAP support"
qio() { timeout 60 qemu-io -f raw "$@" "$U" >>"$WORK/qemu-io.log" 2>&1; }

# fill with a pattern, then zero and trim ranges of several sizes (some above max_io)
qio -c "write -P 0xa5 0 64M" || fail "pattern write"
qio -c "write -z 1M 1M" -c "write -z 5M 3M" -c "write -z 16M 8M" || fail "write zeroes"
qio -c "discard 32M 4M" -c "discard 40M 1M" || fail "discard"
# read back: zeroes where zeroed/trimmed, the pattern elsewhere
qio -c "read -P 0 1M 1M" -c "read -P 0 5M 3M" -c "read -P 0 16M 8M" \
	-c "read -P 0 32M 4M" -c "read -P 0 40M 1M" || fail "zeroed ranges do not read back as zeroes"
qio -c "read -P 0xa5 0 1M" -c "read -P 0xa5 2M 3M" -c "read -P 0xa5 8M 8M" \
	-c "read -P 0xa5 24M 8M" -c "read -P 0xa5 36M 4M" -c "read -P 0xa5 41M 23M" ||
	fail "data around the zeroed ranges changed"
grep -q "Pattern verification failed" "$WORK/qemu-io.log" && fail "pattern mismatch"

# the same operations on a local file must give an identical image
truncate -s "$SIZE" "$WORK/ref.img"
timeout 60 qemu-io -f raw -c "write -P 0xa5 0 64M" -c "write -z 1M 1M" -c "write -z 5M 3M" \
	-c "write -z 16M 8M" -c "write -z 32M 4M" -c "write -z 40M 1M" "$WORK/ref.img" >/dev/null ||
	hard "reference image"
timeout 120 qemu-img compare -f raw -F raw "$WORK/ref.img" "$U" || fail "qemu-img compare"

st=$(ctl_status) || fail "ctl status"
echo "$st" | grep -q "errors 0 " || fail "errors in status: $st"
echo "$st" | grep -Eq "trims [1-9]" || fail "no TRIM reached the session: $st"
echo "$st" | grep -Eq "zeroes [1-9]" || fail "no WRITE_ZEROES reached the session: $st"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
exit 0
