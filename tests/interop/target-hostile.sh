#!/bin/sh
# Hostile input against ballast-targetd (tests/support/iscsi-raw): garbage before login, a
# truncated Login Request, an oversize data segment, an undefined opcode, a target opcode, a
# CmdSN far outside the window, an oversize AHS, Data-Out for no task and a Login Request in
# Full Feature Phase each get a Reject or a closed connection (never a crash); 500 connections
# opened and abandoned mid-login are all closed, twice, with the descriptor count back where
# it was and the resident set stable between the rounds (no leak); a normal libiscsi login
# and a data transfer still work afterwards.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
nr_require_prog "$NR_BIN/iscsi-raw"
tgt_need iscsi-inq
nr_tmpdir
[ "$(ulimit -n)" -ge 1100 ] || ulimit -n 4096 2>/dev/null || nr_skip "needs 1100 descriptors"

tgt_start --target "$TGT_IQN" --lun 1:mem:64M --login-timeout 3
U=$(tgt_url 1)

# expect CASE PATTERN: the hostile case's outcome matches PATTERN (an egrep expression).
expect() {
	tgt_raw -w 5 hostile "$1" >"$NR_TMP/h.out" 2>&1
	grep -Eq "$2" "$NR_TMP/h.out" || tgt_fail "hostile $1: $(cat "$NR_TMP/h.out")"
	nr_log "hostile $1: $(tail -n 1 "$NR_TMP/h.out")"
	tgt_alive
}

round() {
	expect garbage '^closed$'
	expect truncated '^closed$'
	expect oversize '^(closed|reject 0x04)$'
	expect opcode '^reject 0x05$'
	expect tgt-opcode '^(reject 0x0[45]|closed)$'
	# Outside the window: ignored (RFC 7143 4.2.2.1); the next good command is answered.
	expect cmdsn '^scsi-response itt 0x00002000 status 0x00$'
	expect ahs '^(closed|reject 0x0[49])$'
	expect dataout '^nop-in echo$'
	expect login-ffp '^(reject 0x04|closed)$'
	# Abandoned logins: closed at once by the peer, then held open until the login timeout.
	tgt_raw flood 500 >"$NR_TMP/f.out" || tgt_fail "flood: $(cat "$NR_TMP/f.out")"
	tgt_alive
	tgt_raw flood 150 6 >"$NR_TMP/f.out" || tgt_fail "flood hold: $(cat "$NR_TMP/f.out")"
	grep -q '^flood 150 closed-by-target 150$' "$NR_TMP/f.out" ||
		tgt_fail "abandoned logins left open: $(cat "$NR_TMP/f.out")"
	tgt_alive
	tgt_wait_idle
}

timeout 20 iscsi-inq "$U" >/dev/null 2>&1 || tgt_fail "iscsi-inq before"
tgt_wait_idle
fds0=$(tgt_fds)
round
rss1=$(tgt_rss)
fds1=$(tgt_fds)
round
rss2=$(tgt_rss)
fds2=$(tgt_fds)
nr_log "descriptors $fds0 -> $fds1 -> $fds2, RSS $rss1 -> $rss2 KiB"
[ "$fds1" = "$fds0" ] && [ "$fds2" = "$fds0" ] || tgt_fail "descriptor leak: $fds0 $fds1 $fds2"
[ "$rss2" -le $((rss1 + 4096)) ] || tgt_fail "RSS grew by $((rss2 - rss1)) KiB in the 2nd round"

timeout 20 iscsi-inq "$U" >/dev/null 2>&1 || tgt_fail "iscsi-inq after the hostile rounds"
tgt_raw rw 4 >"$NR_TMP/rw" 2>&1
grep -q '^rw ok$' "$NR_TMP/rw" || tgt_fail "I/O after the hostile rounds: $(cat "$NR_TMP/rw")"
tgt_stop
exit 0
