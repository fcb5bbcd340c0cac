#!/bin/sh
# ballastd command timeouts (issue 6): with NOP-Out pings off, only the command timeout can
# notice that ballast-targetd stopped answering ("blackhole on"). Escalation, with
# cmd_timeout, abort_timeout and lu_reset_timeout of 2 s each: ABORT TASK for the oldest
# command, then LOGICAL UNIT RESET, then the connection is dropped and the session reopened;
# once the blackhole is lifted the commands are replayed: fio, writing and verifying the whole
# time, sees no error. Asserted from the status counters (cmd_timeouts, aborts, lun_resets).
BALLASTD_PEER=targetd
. "$(cd "$(dirname "$0")/../interop" && pwd)/ballastd-lib.sh"

need_root
need fio nbdcopy
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
start_peer $((64 * 1024 * 1024))
start_ballastd --nbd "unix:$WORK/nbd.sock" --set node.conn[0].timeo.noop_out_interval=0 \
	--set node.conn[0].timeo.noop_out_timeout=0 --set node.session.timeo.cmd_timeout=2 \
	--set node.session.err_timeo.abort_timeout=2 \
	--set node.session.err_timeo.lu_reset_timeout=2 --set login_timeout=2 ||
	fail "ballastd did not become ready (rc $BALLASTD_RC)"

fio_loop_start 32M
sleep 2
t0=$(date +%s%3N)
"$BALLAST_TARGETD" ctl "$WORK/tctl.sock" blackhole on >/dev/null || fail "blackhole on"
wait_state reopening 15 >/dev/null || fail "the session was not dropped: $(ctl_status)"
ms=$(( $(date +%s%3N) - t0 ))
log "connection dropped $ms ms after the target stopped answering"
# 2 s command timeout (checked every second) + 2 s ABORT TASK + 2 s LUN RESET
[ "$ms" -ge 5000 ] && [ "$ms" -le 9500 ] || fail "escalation took $ms ms (expected 5-9.5 s)"
"$BALLAST_TARGETD" ctl "$WORK/tctl.sock" blackhole off >/dev/null || fail "blackhole off"
wait_state logged_in 15 >/dev/null || fail "session not back: $(ctl_status)"
sleep 2
fio_loop_stop
fio_readback

st=$(ctl_status) || fail "ctl status"
log "$(echo "$st" | grep -E '^(recovery|last_error)')"
[ "$(status_field recovery cmd_timeouts)" -ge 1 ] || fail "no command timeout counted"
[ "$(status_field recovery aborts)" -ge 1 ] || fail "no ABORT TASK sent"
[ "$(status_field recovery lun_resets)" -ge 1 ] || fail "no LUN RESET sent"
grep -q "connection to .* lost: LOGICAL UNIT RESET not answered" "$WORK/ballastd.log" ||
	fail "the connection was not dropped because of the LUN RESET timeout"
echo "$st" | grep -q "errors 0 " || fail "I/O errors in status: $st"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
exit 0
