#!/bin/sh
# ballastd recovery (issue 6): ballast-targetd closes every connection ("ctl drop") every 3 s
# for 30 s while fio writes and verifies through the NBD export without a pause. Each drop is
# followed by a relogin with the same ISID and a replay of the unanswered commands: zero verify
# errors, zero I/O errors, one reconnect per drop, and a full read-back at the end. The login
# uses mutual CHAP (SHA256, MD5). The allocation tripwire runs in fail mode, armed from ready to
# exit: the recovery (connect, CHAP login, replay) allocates nothing. Prints the reconnect
# figures.
BALLASTD_PEER=targetd
. "$(cd "$(dirname "$0")/../interop" && pwd)/ballastd-lib.sh"

need_root
need fio nbdcopy
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
[ -f "$TRIPWIRE" ] || hard "tripwire library not built: $TRIPWIRE"
DROPS=10
PEER_CHAP=ballast-user:initiator-secret-1
PEER_MUTUAL=ballast-target:target-secret-22
start_peer $((128 * 1024 * 1024))

export TRIPWIRE_MODE=fail
BALLASTD_PRELOAD=$TRIPWIRE
start_ballastd --nbd "unix:$WORK/nbd.sock" --chap "$PEER_CHAP" --mutual-chap "$PEER_MUTUAL" \
	--set node.session.auth.chap_algs=SHA256,MD5 \
	--set node.conn[0].timeo.noop_out_interval=2 --set node.conn[0].timeo.noop_out_timeout=2 ||
	fail "ballastd did not become ready (rc $BALLASTD_RC)"
unset TRIPWIRE_MODE

fio_loop_start 48M
sleep 2
for i in $(seq "$DROPS"); do
	"$BALLAST_TARGETD" ctl "$WORK/tctl.sock" drop >/dev/null || fail "ctl drop"
	sleep 3
	[ ! -e "$WORK/fio.fail" ] || break
done
fio_loop_stop
wait_state logged_in 20 >/dev/null || fail "session not back: $(ctl_status)"
fio_readback

st=$(ctl_status) || fail "ctl status"
log "$(echo "$st" | grep -E '^(connection|recovery|last_error)')"
rc=$(status_field recovery reconnects)
[ "$rc" -ge "$DROPS" ] || fail "$rc reconnects for $DROPS drops"
[ "$(status_field recovery replacement_expiries)" = 0 ] || fail "replacement_timeout expired"
echo "$st" | grep -q "errors 0 " || fail "I/O errors in status: $st"
log "fio passes: $FIO_PASSES; reconnects $rc; replayed $(status_field recovery replayed);" \
	"last outage $(status_field recovery last_outage_ms) ms;" \
	"longest $(status_field recovery max_outage_ms) ms"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
tripwire_check
exit 0
