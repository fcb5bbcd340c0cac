#!/bin/sh
# ballastd --ublk on a kernel without ublk_drv (issue 8), against ballast-targetd on loopback:
#  1. --ublk alone: ballastd exits 1 before logging in, and its message names the reason (no
#     ublk driver, /dev/ublk-control);
#  2. --ublk with an --nbd export too (the documented behaviour: NBD goes on): ballastd becomes
#     ready with the NBD export and no ublk line on its ready fd, logs the ublk error, reports
#     the device as "state failed" with the reason in `ctl status`, serves NBD (1 MiB written
#     and read back with a pattern through qemu-io), and exits 0 on SIGTERM;
#  3. --print-footprint counts the ublk tag buffers: each --ublk adds queue depth x
#     reserve.max_io_size (32 x 1 MiB by default) to "extra".
# Skips (77) where the kernel has ublk (the kernel tier's ballastd-ublk.sh covers that).
BALLASTD_PEER=targetd
BALLASTD_TESTLIB=$(cd "$(dirname "$0")/../interop" && pwd)
export BALLASTD_PEER BALLASTD_TESTLIB
. "$BALLASTD_TESTLIB/ballastd-lib.sh"

[ -x "$BALLASTD" ] || skip "ballastd not built"
need_peer
need qemu-io
[ ! -e /dev/ublk-control ] || skip "this kernel has ublk (/dev/ublk-control exists)"

# 3. footprint (no target needed)
fp_extra() {
	"$BALLASTD" --print-footprint --portal 127.0.0.1 "$@" | sed -n 's/^extra //p'
}
e0=$(fp_extra) || fail "--print-footprint"
e2=$(fp_extra --ublk --ublk 5) || fail "--print-footprint --ublk --ublk 5"
[ -n "$e0" ] && [ -n "$e2" ] || fail "no 'extra' line in the footprint"
d=$((e2 - e0))
log "footprint extra: $e0 without ublk, $e2 with two ublk devices (+$d)"
[ "$d" -ge $((2 * 32 * 1048576)) ] && [ "$d" -lt $((2 * 32 * 1048576 + 1048576)) ] ||
	fail "two ublk devices add $d bytes, expected 2 x 32 x 1 MiB of tag buffers (+ state)"

start_peer $((64 * 1024 * 1024))

# 1. --ublk alone
timeout 60 "$BALLASTD" -f --portal "127.0.0.1:$TGT_PORT" --target "$TARGET_IQN" \
	--initiator-name "$INITIATOR_IQN" --ublk 0 >"$WORK/alone.log" 2>&1
rc=$?
log "ballastd --ublk 0 alone: exit $rc: $(cat "$WORK/alone.log")"
[ $rc = 1 ] || fail "--ublk alone: exit status $rc, expected 1"
grep -q -- "--ublk: cannot use ublk: /dev/ublk-control: the kernel has no ublk driver" \
	"$WORK/alone.log" || fail "--ublk alone: the message does not name the reason"
! grep -q "logged in" "$WORK/alone.log" || fail "--ublk alone: logged in before failing"

# 2. --ublk with --nbd
start_ballastd --ublk 0 --nbd "unix:$WORK/nbd.sock" ||
	fail "ballastd --ublk 0 --nbd did not become ready (rc $BALLASTD_RC)"
echo "$READY" | grep -q "^nbd unix:$WORK/nbd.sock lun 1$" || fail "no NBD ready line: $READY"
! echo "$READY" | grep -q "^ublk" || fail "a ublk ready line without ublk: $READY"
grep -q "err: --ublk 0: cannot use ublk: /dev/ublk-control: the kernel has no ublk driver" \
	"$WORK/ballastd.log" || fail "the ublk error is not logged"
grep -q "serving the NBD exports only" "$WORK/ballastd.log" ||
	fail "the log does not say that NBD goes on"
st=$(ctl_status) || fail "ctl status"
echo "$st" | grep -q "^ublk 0 lun 1 state failed error .*no ublk driver" ||
	fail "status does not list the failed ublk device: $st"
log "status: $(echo "$st" | grep '^ublk')"
timeout 60 qemu-io -f raw -c "write -P 0xa7 1M 1M" -c "read -P 0xa7 1M 1M" "$(uri)" \
	>"$WORK/qemu-io.log" 2>&1 || fail "NBD I/O failed: $(cat "$WORK/qemu-io.log")"
! grep -qi "fail\|error\|mismatch" "$WORK/qemu-io.log" || fail "NBD I/O: $(cat "$WORK/qemu-io.log")"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC on SIGTERM"
log "NBD export served with ublk absent; ballastd exited 0"
exit 0
