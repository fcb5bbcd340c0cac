#!/bin/sh
# ballastd recovery (issue 6) against tgtd: tgtd is killed in the middle of writes, started
# again on the same portal and reconfigured with tgtadm (target, LUN on the same backing file,
# ACL), twice, while fio writes and verifies through the NBD export the whole time. Between
# the restart and the reconfiguration tgtd refuses the login (target not found): ballastd keeps
# retrying with backoff. Zero verify errors, zero I/O errors, and a full read-back at the end.
BALLASTD_PEER=tgtd
. "$(cd "$(dirname "$0")/../interop" && pwd)/ballastd-lib.sh"

need_root
need tgtd tgtadm fio nbdcopy python3
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
TGT_FIXED_PORT=$(free_port)
start_peer $((128 * 1024 * 1024))
start_ballastd --nbd "unix:$WORK/nbd.sock" \
	--set node.conn[0].timeo.noop_out_interval=2 --set node.conn[0].timeo.noop_out_timeout=2 ||
	fail "ballastd did not become ready (rc $BALLASTD_RC)"

fio_loop_start 48M
n=0
for round in 1 2; do
	sleep 3
	log "killing tgtd"
	kill -9 "$TGTD_PID"
	wait "$TGTD_PID" 2>/dev/null
	TGTD_PID=
	rm -f "/var/run/tgtd/socket.$TGT_CPORT" "/var/run/tgtd/socket.$TGT_CPORT.lock"
	sleep 1
	start_tgtd $((128 * 1024 * 1024))
	n=$((n + 1))
	ms=$(wait_state logged_in 30) || fail "session not back after restart $n: $(ctl_status)"
	log "logged in again ${ms} ms after tgtd was reconfigured"
	[ ! -e "$WORK/fio.fail" ] || break
done
sleep 3
fio_loop_stop
fio_readback

st=$(ctl_status) || fail "ctl status"
log "$(echo "$st" | grep -E '^(connection|recovery|last_error)')"
rc=$(status_field recovery reconnects)
[ "$rc" -ge "$n" ] || fail "$rc reconnects for $n restarts"
echo "$st" | grep -q "errors 0 " || fail "I/O errors in status: $st"
log "fio passes: $FIO_PASSES; restarts $n; reconnects $rc; attempts" \
	"$(status_field recovery attempts); replayed $(status_field recovery replayed);" \
	"longest outage $(status_field recovery max_outage_ms) ms"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
exit 0
