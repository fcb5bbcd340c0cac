#!/bin/sh
# Issue 7, run 3 (design F3 and F4): ballastd shares a memory cgroup, limited to its printed
# footprint (ballastd --print-footprint) plus OOM_MARGIN (default 16 MiB), with a memory hog.
# OOM_NEIGHBOUR selects the phase (oom-neighbour-stall*.sh set it; default kill):
#  kill:  the hog allocates 1 GiB: the cgroup's OOM killer kills the hog, ballastd lives on.
#  stall: v1: the cgroup's OOM killer is disabled (memory.oom_control), the hog sits stuck at
#         the limit (under_oom 1); v2: memory.high just above the usage throttles it instead.
#         The NBD client reaches ballastd over loopback TCP (OOM_NBD=tcp, the default here).
#  stall-unix: the same stall with the NBD client on ballastd's unix socket. AF_UNIX buffers
#         are charged to the sender's memory cgroup as kernel memory (GFP_KERNEL_ACCOUNT) and
#         cannot be reserved (SO_RESERVE_MEM is for TCP/UDP), and every byte freed in the
#         cgroup wakes the stuck hog, which takes it (doc/oom-safety.md): ballastd's replies
#         cannot be sent while the hog is stuck. Asserted instead: ballastd notices (tx_nomem
#         grows), keeps every request, and once the limit is lifted fio completes and verifies.
# fio (outside the cgroup) writes and verifies through the mounted filesystem, ballastd's
# progress is read from its stats page; a pass with no hog is the baseline. Asserts: the hog
# was OOM-killed (kill) / is stuck (stall), ballastd is alive, every fio pass verifies, and
# fio's rate with the hog is at least OOM_MIN_RATIO percent (default 50) of the baseline.
# Root only (77 otherwise).
MODE=${OOM_NEIGHBOUR:-kill}
case $MODE in
stall) OOM_NBD=${OOM_NBD:-tcp} ;;
stall-unix) OOM_NBD=unix ;;
esac
. "${top_srcdir:-.}/tests/fault/oom-lib.sh"
nr_require_prog "$NR_BIN/nrhog"
oom_setup
MARGIN=${OOM_MARGIN:-16M}
RATIO=${OOM_MIN_RATIO:-50}
SECS=${OOM_PASS_SECS:-5}

FP=$("$OOM_BALLASTD" --print-footprint $OOM_RESERVE_SETS | awk '$1 == "total" { print $2 }')
[ -n "$FP" ] || nr_error "ballastd --print-footprint"
LIMIT=$((FP + $(numfmt --from=iec "$MARGIN")))
oom_mkcg shared
D=$NR_CG
nr_cg_limit "$D" "$LIMIT"
oom_log "cgroup v$NR_CGV $D: limit $LIMIT = footprint $FP + $MARGIN"
oom_up "$D"
B=$OOM_BPID
oom_fig footprint "$FP"
oom_fig limit "$LIMIT"
oom_fig usage_ready "$(nr_cg_usage "$D")"

# fio_start NAME: SECS of verified random writes through the filesystem (outside the
# cgroup), in the background (FIO_PID); fio_pass NAME runs one to the end and sets RATE
# (MiB/s) and CMDS (commands ballastd carried, from its stats page).
fio_start() {
	timeout $((SECS + 60)) fio --name="$1" --directory="$OOM_MNT" --rw=randwrite \
		--bsrange=4k-256k --size=128M --direct=1 --ioengine=libaio --iodepth=16 \
		--verify=crc32c --verify_backlog=64 --verify_fatal=1 --time_based \
		--runtime="$SECS" --output="$OOM_W/fio-$1.out" > /dev/null 2>&1 &
	FIO_PID=$!
}
fio_pass() {
	_c0=$(oom_bstat app.cmds)
	fio_start "$1"
	oom_wait $FIO_PID $((SECS + 65)) "fio $1"
	if [ "$OOM_RC" != 0 ]; then
		grep -E 'err=|error' "$OOM_W/fio-$1.out" >&2
		grep 'disconnected' "$OOM_W/ballastd.log" >&2
		oom_fail "fio $1 failed ($OOM_RC): ballastd tx_errors $(oom_bstat sum.tx_errors)," \
			"NBD client close errnos: $("$NR_BIN/nrstat" "$OOM_STATS" |
			awk '/close_err/ && $2 != 0 { printf "%s=%s ", $1, $2 }')"
	fi
	RATE=$(oom_fio_mib "$OOM_W/fio-$1.out" WRITE)
	CMDS=$(($(oom_bstat app.cmds) - _c0))
	oom_fig "${1}_write_mib_s" "$RATE"
	oom_fig "${1}_cmds" "$CMDS"
	kill -0 $B 2>/dev/null || oom_fail "ballastd died during $1"
}
at_least() { # RATE BASE: RATE >= RATIO% of BASE
	awk -v r="$1" -v b="$2" -v p="$RATIO" 'BEGIN { exit !(r * 100 >= b * p) }'
}

oom_log "NBD client transport: ${OOM_NBD:-unix}"
fio_pass baseline
BASE=$RATE
if [ "$MODE" = kill ]; then
	# kill: the hog runs while fio does
	O0=$(nr_cg_ooms "$D")
	oom_incg_bg "$D" "$OOM_W/hog.log" "$NR_BIN/nrhog" mem 1024
	HOG=$OOM_BG
	oom_watch $HOG hog
	fio_pass kill
	oom_wait $HOG 30 "the hog (expected to be OOM-killed)"
	O1=$(nr_cg_ooms "$D")
	oom_fig kill_hog_status "$OOM_RC"
	oom_fig kill_oom_kills "$O0 -> $O1"
	[ "$OOM_RC" = 137 ] || oom_fail "the hog was not killed by SIGKILL (status $OOM_RC)"
	[ "$O1" -gt "$O0" ] || oom_fail "no OOM kill recorded in the cgroup"
	at_least "$RATE" "$BASE" || oom_fail "kill: $RATE MiB/s < $RATIO% of the baseline $BASE MiB/s"
else
	# stall: the hog stuck at the limit
	if [ "$NR_CGV" = 1 ]; then
		echo 1 > "$D/memory.oom_control" || nr_error "cannot disable the OOM killer"
	else
		echo $(($(nr_cg_usage "$D") + (16 << 20))) > "$D/memory.high"
		echo max > "$D/memory.max"
	fi
	oom_incg_bg "$D" "$OOM_W/hog2.log" "$NR_BIN/nrhog" mem 1024
	HOG=$OOM_BG
	oom_watch $HOG hog-stalled
	n=0
	stuck=
	while [ $n -lt 100 ] && [ -z "$stuck" ]; do
		if [ "$NR_CGV" = 1 ]; then
			awk '$1 == "under_oom" && $2 == 1 { f = 1 } END { exit !f }' "$D/memory.oom_control" &&
				stuck=under_oom
		else
			[ "$(awk '$1 == "high" { print $2 }' "$D/memory.events")" -gt 0 ] && stuck=high
		fi
		sleep 0.1
		n=$((n + 1))
	done
	[ -n "$stuck" ] || oom_fail "the hog never got stuck at the limit"
	oom_fig stall_hog "state $(awk '{ print $3 }' /proc/$HOG/stat) wchan $(cat /proc/$HOG/wchan) ($stuck)"
	if [ "$MODE" = stall-unix ]; then
		# the wall: replies wait (never fail) while the hog is stuck; then the valve
		n0=$(oom_bstat ring0.tx_nomem)
		c0=$(oom_bstat app.cmds)
		fio_start stall-unix
		sleep 8
		n1=$(oom_bstat ring0.tx_nomem)
		c1=$(oom_bstat app.cmds)
		oom_fig stall_unix_tx_nomem "$((n1 - n0)) sends refused in 8 s"
		oom_fig stall_unix_cmds "$((c1 - c0)) commands in 8 s (baseline $CMDS in $SECS s)"
		kill -0 $B 2>/dev/null || oom_fail "ballastd died in the stall"
		[ "$n1" -gt "$n0" ] ||
			oom_log "no send was refused: the stall did not reach the unix socket"
		nr_cg_release "$D"
		t0=$(date +%s.%N)
		oom_wait $FIO_PID $((SECS + 65)) "fio stall-unix after the limit was lifted"
		[ "$OOM_RC" = 0 ] ||
			oom_fail "fio stall-unix failed ($OOM_RC) after the limit was lifted"
		oom_fig stall_unix_resume_s "$(awk -v a="$t0" -v b="$(date +%s.%N)" \
			'BEGIN { printf "%.1f", b - a }') s until fio finished and verified"
		kill -0 $B 2>/dev/null || oom_fail "ballastd died"
		kill -9 $HOG
		oom_wait $HOG 10 "the released hog"
	else
		fio_pass stall
		oom_fig stall_hog_after "state $(awk '{ print $3 }' /proc/$HOG/stat) wchan $(cat /proc/$HOG/wchan)"
		kill -0 $HOG 2>/dev/null || oom_fail "the stalled hog is gone: was it not stalled?"
		at_least "$RATE" "$BASE" ||
			oom_fail "stall: $RATE MiB/s < $RATIO% of the baseline $BASE MiB/s"
		# the valve: lift the limit, the hog finishes its allocation; then kill it
		nr_cg_release "$D"
		kill -9 $HOG
		oom_wait $HOG 10 "the released hog"
	fi
fi
oom_fig usage_end "$(nr_cg_usage "$D")"
grep -q "errors 0 " <<EOF || oom_fail "ballastd counted errors: $(oom_status | grep counters)"
$(oom_status | grep '^counters')
EOF
exit 0
