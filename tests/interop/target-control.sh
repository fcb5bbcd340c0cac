#!/bin/sh
# The control socket and its fault injection, observed from libiscsi clients:
# status lists the portal and counters; reject-logins refuses logins until turned off;
# fail-next makes exactly the next command fail with the given sense; blackhole makes the
# target silent (the client times out) until turned off; delay slows every answer down;
# portal stop refuses new connections and portal start listens again on the same port;
# drop closes a live session (iscsi-perf reconnects and finishes); corrupt-digest breaks the
# next header digest (the client notices); bad commands exit non-zero.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need iscsi-inq iscsi-readcapacity16 iscsi-perf

tgt_start --target "$TGT_IQN" --lun 1:mem:64M --nop-interval 1
U=$(tgt_url 1)
inq() { timeout "${1:-20}" iscsi-inq "$U" >"$NR_TMP/out" 2>&1; }
now_ms() { date +%s%3N; }

tgt_ctl status >"$NR_TMP/st" || tgt_fail "ctl status failed"
grep -q "^portal $TGT_PORTAL listening" "$NR_TMP/st" || tgt_fail "status: $(cat "$NR_TMP/st")"
grep -q '^counters ' "$NR_TMP/st" || tgt_fail "status without counters"

tgt_ctl no-such-command >/dev/null && tgt_fail "unknown command exited 0"
tgt_ctl delay abc >/dev/null && tgt_fail "bad argument exited 0"

# reject-logins
tgt_ctl reject-logins on >/dev/null || tgt_fail "reject-logins on"
inq && tgt_fail "login accepted with reject-logins on"
tgt_ctl reject-logins off >/dev/null || tgt_fail "reject-logins off"
inq || tgt_fail "login refused after reject-logins off: $(cat "$NR_TMP/out")"

# fail-next: exactly one command fails, with MEDIUM ERROR / 0x11/0x00.
tgt_ctl fail-next 1 3/11/00 >/dev/null || tgt_fail "fail-next"
timeout 20 iscsi-readcapacity16 "$U" >"$NR_TMP/out" 2>&1 && tgt_fail "fail-next had no effect"
grep -q 'SENSE KEY:.*(3) ASCQ:.*(0x1100)' "$NR_TMP/out" ||
	tgt_fail "fail-next: not MEDIUM ERROR 0x11/0x00: $(cat "$NR_TMP/out")"
timeout 20 iscsi-readcapacity16 "$U" >/dev/null 2>&1 || tgt_fail "fail-next failed more than one"

# blackhole: the client gets nothing back.
tgt_ctl blackhole on >/dev/null || tgt_fail "blackhole on"
inq 4 && tgt_fail "a blackholed target answered"
tgt_ctl blackhole off >/dev/null || tgt_fail "blackhole off"
inq || tgt_fail "no answer after blackhole off: $(cat "$NR_TMP/out")"

# delay: login + INQUIRY + logout take at least 5 round trips of 200 ms.
tgt_ctl delay 200 >/dev/null || tgt_fail "delay"
t0=$(now_ms)
inq || tgt_fail "delayed target failed: $(cat "$NR_TMP/out")"
t1=$(now_ms)
[ $((t1 - t0)) -ge 800 ] || tgt_fail "delay 200 ms: the exchange took only $((t1 - t0)) ms"
tgt_ctl delay 0 >/dev/null || tgt_fail "delay 0"

# portal stop/start on the same port.
tgt_ctl portal stop >/dev/null || tgt_fail "portal stop"
inq 5 && tgt_fail "login succeeded with the portal stopped"
tgt_ctl portal start >/dev/null || tgt_fail "portal start"
inq || tgt_fail "no login after portal start: $(cat "$NR_TMP/out")"

# drop a live session: iscsi-perf reconnects and still finishes.
timeout 30 iscsi-perf -m 8 -b 8 -t 4 "$U" >"$NR_TMP/perf" 2>&1 &
perf=$!
sleep 1.5
tgt_ctl drop >"$NR_TMP/drop" || tgt_fail "drop"
grep -q 'dropped [1-9]' "$NR_TMP/drop" || tgt_fail "drop closed nothing: $(cat "$NR_TMP/drop")"
wait $perf || tgt_fail "iscsi-perf did not survive a drop: $(tail -3 "$NR_TMP/perf")"
tgt_ctl status | grep -q 'logins [2-9][0-9]* ' || tgt_fail "no re-login counted"

# drop-after: the connection goes after N more PDUs.
tgt_ctl drop-after 3 >/dev/null || tgt_fail "drop-after"
inq
grep -q 'drop-after' "$TGT_LOG" || tgt_fail "drop-after never fired"
inq || tgt_fail "drop-after is one-shot, but logins still fail"

tgt_alive
tgt_stop

# corrupt-digest with header digests in use: the initiator must notice.
tgt_start --target "$TGT_IQN" --lun 1:mem:64M --header-digest required
U=$(tgt_url 1)
tgt_ctl corrupt-digest >/dev/null || tgt_fail "corrupt-digest"
timeout 10 iscsi-perf -m 1 -b 1 -t 2 -x 0 "$U" >"$NR_TMP/perf" 2>&1
grep -q 'corrupted the digest' "$TGT_LOG" || tgt_fail "no digest was corrupted"
tgt_ctl status | grep -q 'corrupt_digest off' || tgt_fail "corrupt-digest still pending"
inq || tgt_fail "corrupt-digest is one-shot, but logins still fail"
tgt_alive
tgt_stop
exit 0
