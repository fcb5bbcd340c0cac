#!/bin/sh
# ballast-targetd configuration: a bad targets.conf gives a file:line error and a non-zero
# exit (several kinds of mistakes); --print-footprint prints the reserved memory; a good file
# is served; SIGHUP (and `ctl reload`) adds a target and removes another without disturbing
# a session on an unchanged target (an iscsi-perf run across the reload finishes with no
# re-login); a reload with a broken file keeps the running configuration.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
nr_require_prog "$BALLAST_TARGETD"
nr_tmpdir

bad() { # EXPECTED-LINE TEXT...
	_line=$1
	shift
	printf '%s\n' "$@" >"$NR_TMP/bad.conf"
	if "$BALLAST_TARGETD" -f --config "$NR_TMP/bad.conf" --print-footprint \
		>"$NR_TMP/bad.out" 2>&1; then
		nr_fail "accepted a bad config: $*"
	fi
	grep -q "bad.conf:$_line: " "$NR_TMP/bad.out" ||
		nr_fail "no file:line ($_line) in the error: $(cat "$NR_TMP/bad.out")"
	nr_log "rejected as expected: $(cat "$NR_TMP/bad.out")"
}
bad 2 "<target iqn.2024-01.org.ballast:a>" "  lun 1 mem:notasize" "</target>"
bad 3 "# comment" "<target iqn.2024-01.org.ballast:a>" "  frobnicate yes" "</target>"
bad 1 "<target not-an-iqn>" "lun 1 mem:16M" "</target>"
bad 3 "<target iqn.2024-01.org.ballast:a>" "lun 1 mem:16M" "lun 1 mem:16M" "</target>"
bad 2 "<target iqn.2024-01.org.ballast:a>" "lun 1 mem:16M"
bad 1 "portal 127.0.0.1:99999"
"$BALLAST_TARGETD" -f --config "$NR_TMP/nonexistent.conf" >"$NR_TMP/bad.out" 2>&1 &&
	nr_fail "a missing config file was accepted"

# --print-footprint
"$BALLAST_TARGETD" --target iqn.2024-01.org.ballast:a --lun 1:mem:16M --queue-depth 16 \
	--max-xfer 512K --print-footprint >"$NR_TMP/fp" || nr_fail "--print-footprint failed"
grep -q '^per session: [0-9]* bytes' "$NR_TMP/fp" || nr_fail "footprint: $(cat "$NR_TMP/fp")"

tgt_need iscsi-inq iscsi-perf
cat >"$NR_TMP/targets.conf" <<EOF
portal 127.0.0.1:0
nop-interval 2
<target iqn.2024-01.org.ballast:keep>
	lun 1 mem:32M
</target>
<target iqn.2024-01.org.ballast:gone>
	<backing-store $NR_TMP/gone.img>
		lun 3
		size 16M
	</backing-store>
</target>
EOF
tgt_start --no-default-portal --config "$NR_TMP/targets.conf"
keep="iscsi://$TGT_PORTAL/iqn.2024-01.org.ballast:keep/1"
gone="iscsi://$TGT_PORTAL/iqn.2024-01.org.ballast:gone/3"
new="iscsi://$TGT_PORTAL/iqn.2024-01.org.ballast:new/1"
timeout 20 iscsi-inq "$keep" >/dev/null 2>&1 || tgt_fail "target keep not served"
timeout 20 iscsi-inq "$gone" >/dev/null 2>&1 || tgt_fail "target gone (file LUN 3) not served"
timeout 20 iscsi-inq "$new" >/dev/null 2>&1 && tgt_fail "target new served before the reload"

timeout 30 iscsi-perf -m 4 -b 8 -t 4 -x 0 "$keep" >"$NR_TMP/perf" 2>&1 &
perf=$!
sleep 1
logins=$(tgt_ctl status | sed -n 's/.* logins \([0-9]*\) .*/\1/p')
# Rewrite the file: keep stays, gone goes, new comes (the portal line keeps its port).
sed -e "s/^portal 127.0.0.1:0$/portal $TGT_PORTAL/" -e '/ballast:gone>/,/^<\/target>/d' \
	"$NR_TMP/targets.conf" >"$NR_TMP/t2"
cat >>"$NR_TMP/t2" <<EOF
<target iqn.2024-01.org.ballast:new>
	lun 1 mem:16M
</target>
EOF
cp "$NR_TMP/t2" "$NR_TMP/targets.conf"
kill -HUP "$TGT_PID"
n=50
until grep -q 'configuration reloaded' "$TGT_LOG" || [ $n -eq 0 ]; do sleep 0.1; n=$((n - 1)); done
grep -q 'configuration reloaded' "$TGT_LOG" || tgt_fail "SIGHUP did not reload"
wait $perf || tgt_fail "the session on the unchanged target broke: $(tail -3 "$NR_TMP/perf")"
after=$(tgt_ctl status | sed -n 's/.* logins \([0-9]*\) .*/\1/p')
[ "$after" = "$logins" ] || tgt_fail "the unchanged target's session re-logged in ($logins -> $after)"
timeout 20 iscsi-inq "$new" >/dev/null 2>&1 || tgt_fail "new target not served after reload"
timeout 20 iscsi-inq "$gone" >/dev/null 2>&1 && tgt_fail "removed target still served"

# A broken file: the reload fails and the running configuration stays.
echo "bogus-key 1" >>"$NR_TMP/targets.conf"
tgt_ctl reload >"$NR_TMP/rl" && tgt_fail "a broken reload reported success"
grep -q 'targets.conf:[0-9]*: ' "$NR_TMP/rl" || tgt_fail "reload error without file:line: $(cat "$NR_TMP/rl")"
timeout 20 iscsi-inq "$new" >/dev/null 2>&1 || tgt_fail "a failed reload broke the configuration"
tgt_alive
tgt_stop
exit 0
