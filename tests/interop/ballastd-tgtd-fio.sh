#!/bin/sh
# ballastd against tgtd (or ballast-targetd: BALLASTD_PEER) under fio's nbd engine: random writes of 4 KiB to 1 MiB blocks at
# iodepth 32 with crc32c verification, then a mixed random read/write pass with verification,
# on two NBD connections at once (multi-conn). No verify or I/O error allowed.
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_peer
need fio
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
SIZE=$((256 * 1024 * 1024))
start_peer "$SIZE"
start_ballastd --nbd "unix:$WORK/nbd.sock" || fail "ballastd did not become ready (rc $BALLASTD_RC)"
U=$(uri)

run_fio() {
	timeout 300 fio --ioengine=nbd --verify_state_save=0 \
		--uri="$U" --iodepth=32 --direct=1 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randrepeat=0 "$@" >>"$WORK/fio.log" 2>&1
}
# 1: random writes, every block size from 4 KiB to 1 MiB, then a full verify pass
run_fio --name=w1 --rw=randwrite --bsrange=4k-1m --size=128M --offset=0 ||
	fail "fio randwrite/verify (see fio.log)"
# 2: two jobs on two connections, disjoint halves, mixed sequential writes of 1 MiB
run_fio --name=w2 --rw=write --bs=1m --size=64M --offset=128M --numjobs=2 --offset_increment=64M ||
	fail "fio 2 jobs seq write/verify"

st=$(ctl_status) || fail "ctl status"
echo "$st" | grep -q "errors 0 " || fail "errors in status: $st"
echo "$st" | grep -q "protocol_errors 0" || fail "protocol errors: $st"
log "$(echo "$st" | grep '^counters')"
cat "$WORK/fio.log" | grep -E "err=|WRITE:|READ:"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
exit 0
