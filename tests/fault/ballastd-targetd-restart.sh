#!/bin/sh
# ballastd recovery (issue 6): ballast-targetd (file backstore, fixed port) is killed and
# restarted in the middle of writes while fio writes and verifies through the NBD export the
# whole time: once with SIGKILL (the connection just dies; unanswered writes are replayed),
# once with SIGTERM (the target sends an Async Message asking for a logout: ballastd quiesces,
# logs out, then logs in again when the new process listens). Zero verify errors, zero I/O
# errors, a reconnect after each restart, and a full read-back at the end.
BALLASTD_PEER=targetd
. "$(cd "$(dirname "$0")/../interop" && pwd)/ballastd-lib.sh"

need_root
need fio nbdcopy python3
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
TARGETD_PORTAL=127.0.0.1:$(free_port)
start_peer $((128 * 1024 * 1024))
start_ballastd --nbd "unix:$WORK/nbd.sock" \
	--set node.conn[0].timeo.noop_out_interval=2 --set node.conn[0].timeo.noop_out_timeout=2 ||
	fail "ballastd did not become ready (rc $BALLASTD_RC)"

fio_loop_start 48M
n=0
for sig in KILL TERM KILL; do
	sleep 3
	log "restarting ballast-targetd (SIG$sig)"
	kill -"$sig" "$TARGETD_PID"
	wait "$TARGETD_PID" 2>/dev/null
	TARGETD_PID=
	sleep 1.5
	start_targetd $((128 * 1024 * 1024))
	n=$((n + 1))
	ms=$(wait_state logged_in 30) || fail "session not back after restart $n: $(ctl_status)"
	log "logged in again ${ms} ms after the new target was ready"
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
grep -q "target requests a logout" "$WORK/ballastd.log" ||
	fail "the SIGTERM restart did not go through the Async Message logout"
log "fio passes: $FIO_PASSES; restarts $n; reconnects $rc; attempts" \
	"$(status_field recovery attempts); replayed $(status_field recovery replayed);" \
	"longest outage $(status_field recovery max_outage_ms) ms"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
exit 0
