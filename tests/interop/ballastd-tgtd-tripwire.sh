#!/bin/sh
# The allocation tripwire (tests/support/tripwire.c, LD_PRELOAD) in fail mode, armed by
# netreserve_ready() once ballastd has logged in and reserved everything: 1 GiB of mixed
# NBD I/O (fio random read/write with crc32c verification, writes up to 1 MiB, two
# connections, flushes) completes and verifies, and the tripwire counts zero heap allocations
# and zero anonymous mappings while armed. The control socket is queried while armed too.
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_peer
need fio
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
[ -f "$TRIPWIRE" ] || hard "tripwire library not built: $TRIPWIRE"
ldd "$BALLASTD" 2>/dev/null | grep -q 'libasan\|libubsan\|libtsan' &&
	skip "sanitizer build: the LD_PRELOAD tripwire does not mix with the sanitizer runtime"
SIZE=$((512 * 1024 * 1024))
start_peer "$SIZE"

export TRIPWIRE_MODE=fail
export TRIPWIRE_STATS="$WORK/tripwire.stats"
BALLASTD_PRELOAD=$TRIPWIRE
start_ballastd --nbd "unix:$WORK/nbd.sock" || fail "ballastd did not become ready (rc $BALLASTD_RC)"
unset TRIPWIRE_MODE TRIPWIRE_STATS
U=$(uri)

# 1 GiB: 512 MiB of random writes (4 KiB..1 MiB) verified, then 512 MiB mixed 70/30 verified
timeout 600 fio --ioengine=nbd --uri="$U" --name=a --rw=randwrite --bsrange=4k-1m --size=512M \
	--iodepth=32 --verify=crc32c --verify_fatal=1 --do_verify=1 --fsync=64 \
	>"$WORK/fio.log" 2>&1 || fail "fio randwrite (armed)"
ctl_status >"$WORK/status.txt" || fail "ctl status (armed)"
timeout 600 fio --ioengine=nbd --uri="$U" --name=b --rw=randrw --rwmixread=70 --bsrange=4k-1m \
	--size=256M --numjobs=2 --offset_increment=256M --iodepth=16 --verify=crc32c \
	--verify_fatal=1 --do_verify=1 >>"$WORK/fio.log" 2>&1 || fail "fio randrw (armed)"
timeout 60 qemu-io -f raw -c "write -z 0 8M" -c "discard 8M 8M" -c "read -P 0 0 16M" "$U" \
	>>"$WORK/fio.log" 2>&1 || fail "zero/trim (armed)"

grep -q "ready 1" "$WORK/status.txt" 2>/dev/null || true
st=$(ctl_status) || fail "ctl status"
echo "$st" | grep -q "errors 0 " || fail "errors in status: $st"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
summary=$(grep "^tripwire:" "$WORK/ballastd.log") || fail "no tripwire summary (not preloaded?)"
log "$summary"
echo "$summary" | grep -q "mode=fail" || fail "tripwire not in fail mode: $summary"
echo "$summary" | grep -q "armed_allocs=0 " || fail "allocations while armed: $summary"
echo "$summary" | grep -q "armed_mmaps=0 " || fail "mappings while armed: $summary"
echo "$summary" | grep -q "armed_fails=0 " || fail "failed allocations while armed: $summary"
exit 0
