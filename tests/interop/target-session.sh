#!/bin/sh
# Session life cycle of ballast-targetd, driven by tests/support/iscsi-raw: a login with the
# InitiatorName + ISID of a live session reinstates it (the old connection is closed, the
# counter says so); max-sessions-per-initiator refuses one session too many with Out of
# Resources (0x0302) while another initiator still gets in; an idle connection is closed after
# idle-timeout; `ignore-nop on` leaves a NOP-Out ping unanswered until turned off;
# SendTargets=<name> answers that target only (and nothing for an unknown name); SIGTERM
# sends every session an Async logout request, answers the Logout and exits.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
nr_require_prog "$NR_BIN/iscsi-raw"
nr_tmpdir

cat >"$NR_TMP/targets.conf" <<CONF
portal 127.0.0.1:0
max-sessions-per-initiator 2
idle-timeout 3
<target $TGT_IQN>
	lun 1 mem:16M
</target>
<target iqn.2024-01.org.ballast:other>
	lun 1 mem:16M
</target>
CONF
tgt_start --no-default-portal --config "$NR_TMP/targets.conf"

# Reinstatement: same name and ISID.
tgt_raw -I 800000000001 login 8 >"$NR_TMP/old" 2>&1 &
old=$!
sleep 1
tgt_raw -I 800000000001 login >"$NR_TMP/new" 2>&1
grep -q '^login 0x0000' "$NR_TMP/new" || tgt_fail "reinstating login: $(cat "$NR_TMP/new")"
wait $old
grep -q '^closed after' "$NR_TMP/old" || tgt_fail "old session not closed: $(cat "$NR_TMP/old")"
tgt_ctl status | grep -q 'reinstated 1 ' || tgt_fail "reinstatement not counted"
nr_log "reinstatement: $(tail -n 1 "$NR_TMP/old")"
tgt_wait_idle

# Per-initiator limit: two sessions held, a third ISID refused, another initiator accepted.
tgt_raw -I 800000000011 login 4 >"$NR_TMP/s1" 2>&1 &
s1=$!
tgt_raw -I 800000000012 login 4 >"$NR_TMP/s2" 2>&1 &
s2=$!
sleep 1
tgt_raw -I 800000000013 login >"$NR_TMP/s3" 2>&1
grep -q '^login 0x0302$' "$NR_TMP/s3" || tgt_fail "third session: $(cat "$NR_TMP/s3")"
tgt_raw -i iqn.2024-01.org.ballast:raw2 -I 800000000013 login >"$NR_TMP/s4" 2>&1
grep -q '^login 0x0000' "$NR_TMP/s4" || tgt_fail "other initiator refused: $(cat "$NR_TMP/s4")"
wait $s1 $s2
grep -q '^login 0x0000' "$NR_TMP/s1" && grep -q '^login 0x0000' "$NR_TMP/s2" ||
	tgt_fail "held sessions: $(cat "$NR_TMP/s1" "$NR_TMP/s2")"
nr_log "per-initiator limit: third session got $(cat "$NR_TMP/s3")"
tgt_wait_idle

# Idle timeout (3 s): the connection is closed by the target, not by the 10 s hold.
tgt_raw login 10 >"$NR_TMP/idle" 2>&1
awk '/^closed after/ { exit !($3 >= 2.5 && $3 <= 6) } END { if (NR < 2) exit 1 }' \
	"$NR_TMP/idle" || tgt_fail "idle timeout: $(cat "$NR_TMP/idle")"
nr_log "idle: $(tail -n 1 "$NR_TMP/idle")"

# ignore-nop
tgt_ctl ignore-nop on >/dev/null || tgt_fail "ignore-nop on"
tgt_raw -w 2 nop >"$NR_TMP/nop" 2>&1
grep -q '^timeout$' "$NR_TMP/nop" || tgt_fail "NOP-Out answered with ignore-nop on: $(cat "$NR_TMP/nop")"
tgt_ctl ignore-nop off >/dev/null || tgt_fail "ignore-nop off"
tgt_raw -w 5 nop >"$NR_TMP/nop" 2>&1
grep -q '^nop-in echo$' "$NR_TMP/nop" || tgt_fail "NOP-Out not echoed: $(cat "$NR_TMP/nop")"

# SendTargets=<name>
tgt_raw sendtargets "$TGT_IQN" >"$NR_TMP/st" 2>&1
grep -qx "TargetName=$TGT_IQN" "$NR_TMP/st" || tgt_fail "SendTargets=name: $(cat "$NR_TMP/st")"
grep -qx "TargetAddress=$TGT_PORTAL,1" "$NR_TMP/st" || tgt_fail "no portal: $(cat "$NR_TMP/st")"
grep -q 'other' "$NR_TMP/st" && tgt_fail "SendTargets=name listed another target"
tgt_raw sendtargets All >"$NR_TMP/st" 2>&1
[ "$(grep -c '^TargetName=' "$NR_TMP/st")" = 2 ] || tgt_fail "SendTargets=All: $(cat "$NR_TMP/st")"
tgt_raw sendtargets iqn.2024-01.org.ballast:nope >"$NR_TMP/st" 2>&1
grep -q '^TargetName=' "$NR_TMP/st" && tgt_fail "SendTargets for an unknown name: $(cat "$NR_TMP/st")"

# SIGTERM: Async logout request, our Logout answered, then the daemon exits.
tgt_raw login 15 >"$NR_TMP/term" 2>&1 &
held=$!
sleep 1
kill -TERM "$TGT_PID"
wait $held
grep -q '^async-logout ' "$NR_TMP/term" || tgt_fail "no Async logout request: $(cat "$NR_TMP/term")"
grep -q '^logout-response 0x00$' "$NR_TMP/term" || tgt_fail "Logout not answered: $(cat "$NR_TMP/term")"
grep -q '^closed after' "$NR_TMP/term" || tgt_fail "not closed: $(cat "$NR_TMP/term")"
_n=50
while kill -0 "$TGT_PID" 2>/dev/null && [ $_n -gt 0 ]; do sleep 0.1; _n=$((_n - 1)); done
kill -0 "$TGT_PID" 2>/dev/null && tgt_fail "still running after SIGTERM"
nr_log "shutdown: $(tr '\n' ' ' <"$NR_TMP/term")"
exit 0
