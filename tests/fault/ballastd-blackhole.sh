#!/bin/sh
# ballastd recovery (issue 6) from blackholes, with NOP-Out pings every 2 s and a 2 s timeout
# (detection within noop_out_interval + noop_out_timeout = 4 s) and the allocation tripwire in
# fail mode armed the whole time, while fio writes and verifies through the NBD export:
#  1. ballast-targetd's "blackhole on" (the connection stays up, the target answers nothing)
#     for 8 s: detected within 4 s, the session comes back when it is lifted, no I/O error;
#  2. nft drop rules in a network namespace this test creates (ballastd in one namespace,
#     the target in another, a veth pair with 192.0.2.0/24 between them): a 6 s outage,
#     shorter than replacement_timeout (10 s), is ridden through without an I/O error; a 16 s
#     outage is longer: held and new I/O fails with EIO once replacement_timeout expires
#     (asserted with qemu-io), and works again after the outage (fio passes, full read-back).
BALLASTD_PEER=targetd
. "$(cd "$(dirname "$0")/../interop" && pwd)/ballastd-lib.sh"

need_root
need fio nbdcopy qemu-io nft ip python3
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
[ -f "$TRIPWIRE" ] || hard "tripwire library not built: $TRIPWIRE"
PING="--set node.conn[0].timeo.noop_out_interval=2 --set node.conn[0].timeo.noop_out_timeout=2"
DETECT_MS=4700 # interval + timeout, plus the 200 ms tick and 500 ms of polling slack
export TRIPWIRE_MODE=fail
BALLASTD_PRELOAD=$TRIPWIRE

# detect_outage STARTMS: wait for the session to leave logged_in; checks the detection time.
detect_outage() {
	wait_state reopening 15 >/dev/null || wait_state failed 1 >/dev/null ||
		fail "outage not detected: $(ctl_status)"
	ms=$(( $(date +%s%3N) - $1 ))
	log "outage detected after $ms ms: $(ctl_status | sed -n 's/^last_error //p')"
	[ "$ms" -le "$DETECT_MS" ] || fail "detection took $ms ms (limit $DETECT_MS)"
}

# ---- 1: the target's blackhole command ----
start_peer $((128 * 1024 * 1024))
# shellcheck disable=SC2086
start_ballastd --nbd "unix:$WORK/nbd.sock" $PING --set login_timeout=3 \
	--set node.session.timeo.replacement_timeout=60 ||
	fail "ballastd did not become ready (rc $BALLASTD_RC)"
fio_loop_start 32M
sleep 2
t0=$(date +%s%3N)
"$BALLAST_TARGETD" ctl "$WORK/tctl.sock" blackhole on >/dev/null || fail "blackhole on"
detect_outage "$t0"
sleep $((8 - ms / 1000))
"$BALLAST_TARGETD" ctl "$WORK/tctl.sock" blackhole off >/dev/null || fail "blackhole off"
ms=$(wait_state logged_in 15) || fail "session not back after the blackhole: $(ctl_status)"
log "logged in again $ms ms after the blackhole was lifted"
sleep 2
fio_loop_stop
fio_readback
ctl_status | grep -q "errors 0 " || fail "I/O errors: $(ctl_status)"
log "part 1: fio passes $FIO_PASSES; $(ctl_status | grep '^recovery')"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
tripwire_check
stop_targetd

# ---- 2: nft drop rules between two network namespaces ----
NSI=ballast-ini-$$
NST=ballast-tgt-$$
ip netns add "$NSI" || hard "ip netns add"
CLEANUP_HOOK=netns_cleanup
netns_cleanup() {
	stop_targetd
	[ -n "$BALLASTD_PID" ] && kill -9 "$BALLASTD_PID" 2>/dev/null
	ip netns del "$NSI" 2>/dev/null
	ip netns del "$NST" 2>/dev/null
}
ip netns add "$NST" || hard "ip netns add"
ip link add bi$$ netns "$NSI" type veth peer name bt$$ netns "$NST" || hard "veth"
ip -n "$NSI" addr add 192.0.2.1/24 dev bi$$ && ip -n "$NSI" link set bi$$ up &&
	ip -n "$NSI" link set lo up && ip -n "$NST" addr add 192.0.2.2/24 dev bt$$ &&
	ip -n "$NST" link set bt$$ up && ip -n "$NST" link set lo up || hard "addresses"
TARGETD_NETNS=$NST TARGETD_PORTAL=192.0.2.2:3260 start_targetd $((128 * 1024 * 1024))
BALLASTD_NETNS=$NSI BALLASTD_PORTAL_HOST=192.0.2.2 TGT_PORT=3260
rm -f "$WORK/ctl.sock" "$WORK/nbd.sock"
# shellcheck disable=SC2086
start_ballastd --nbd "unix:$WORK/nbd.sock" $PING --set login_timeout=3 \
	--set node.session.timeo.replacement_timeout=10 ||
	fail "ballastd (netns) did not become ready (rc $BALLASTD_RC)"

nft_drop() {
	ip netns exec "$NSI" nft -f - <<-NFT || hard "nft"
	table inet ballast_bh {
		chain in { type filter hook input priority 0; ip saddr 192.0.2.2 drop; }
		chain out { type filter hook output priority 0; ip daddr 192.0.2.2 drop; }
	}
	NFT
}
nft_lift() { ip netns exec "$NSI" nft delete table inet ballast_bh || hard "nft delete"; }

# 2a: 6 s outage < replacement_timeout: ridden through
fio_loop_start 32M
sleep 2
t0=$(date +%s%3N)
nft_drop
detect_outage "$t0"
sleep $((6 - ms / 1000))
nft_lift
ms=$(wait_state logged_in 15) || fail "session not back after the nft outage: $(ctl_status)"
log "logged in again $ms ms after the drop rules were removed"
sleep 2
fio_loop_stop
ctl_status | grep -q "errors 0 " || fail "I/O errors: $(ctl_status)"
log "part 2a: fio passes $FIO_PASSES; $(ctl_status | grep '^recovery')"

# 2b: 16 s outage > replacement_timeout: EIO, then I/O works again
U=$(uri)
t0=$(date +%s%3N)
nft_drop
# a write issued at the start of the outage is held, then fails when replacement_timeout expires
timeout 40 qemu-io -f raw -c "write -P 0x5a 0 64k" "$U" >"$WORK/qio1.log" 2>&1 &
QIO=$!
detect_outage "$t0"
wait "$QIO"
el=$(( $(date +%s%3N) - t0 ))
grep -q "Input/output error" "$WORK/qio1.log" ||
	fail "held write did not fail with EIO: $(cat "$WORK/qio1.log")"
log "held write failed with EIO after $el ms"
[ "$el" -ge 10000 ] || fail "held write failed before replacement_timeout ($el ms)"
[ "$(status_field connection state)" = failed ] || fail "state not failed: $(ctl_status)"
# new I/O fails at once while the session is still gone
timeout 10 qemu-io -f raw -c "read 0 4k" "$U" >"$WORK/qio2.log" 2>&1
grep -q "Input/output error" "$WORK/qio2.log" ||
	fail "new read did not fail with EIO: $(cat "$WORK/qio2.log")"
sleep $(( (16000 - ($(date +%s%3N) - t0)) / 1000 ))
nft_lift
ms=$(wait_state logged_in 15) || fail "session not back after the long outage: $(ctl_status)"
log "logged in again $ms ms after the drop rules were removed"
timeout 20 qemu-io -f raw -c "write -P 0xa5 0 64k" -c "read -P 0xa5 0 64k" "$U" \
	>"$WORK/qio3.log" 2>&1 || fail "I/O after the outage: $(cat "$WORK/qio3.log")"
fio_loop_start 32M
sleep 3
fio_loop_stop
fio_readback
[ "$(status_field recovery replacement_expiries)" -ge 1 ] || fail "no replacement expiry"
log "part 2b: fio passes $FIO_PASSES; $(ctl_status | grep '^recovery')"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
tripwire_check
exit 0
