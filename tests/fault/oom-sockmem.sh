#!/bin/sh
# Issue 7, run 5 (design F6): the socket-memory budget. ballastd runs in a memory cgroup with a
# TCP budget (v1: memory.kmem.tcp.limit_in_bytes = OOM_TCP_LIMIT, default 1M, set before any
# socket exists in it; v2: memory.max = footprint + OOM_TCP_LIMIT, not exercised here), fixed
# socket buffers (reserve.sndbuf/rcvbuf 256K) and SO_RESERVE_MEM (reserve.sock_reserve 256K)
# taken at connect. fio (outside) writes and verifies through the mounted filesystem for
# OOM_PASS_SECS (default 6): once unsqueezed, once with a hog socket in the same cgroup that has
# eaten the rest of the budget (tests/support/nrhog sock). Prints both rates and asserts the
# squeezed one is at least OOM_MIN_RATIO percent (default 50) of the unsqueezed one, with the
# data verified and the iSCSI socket's reserve taken. Root only (77 otherwise).
. "${top_srcdir:-.}/tests/fault/oom-lib.sh"
nr_require_prog "$NR_BIN/nrhog"
oom_setup
# the socket figures: SO_RESERVE_MEM must cover what the fixed buffers can charge (the kernel
# doubles SO_SNDBUF/SO_RCVBUF): 2 x (64K + 64K) = 256K
OOM_RESERVE_SETS="${OOM_SOCK_SETS:---set reserve.sndbuf=64K --set reserve.rcvbuf=64K \
--set reserve.sock_reserve=256K --set reserve.nbd_clients=4}"
oom_fig socket_config "$OOM_RESERVE_SETS"
TCPL=$(numfmt --from=iec "${OOM_TCP_LIMIT:-1M}")
RATIO=${OOM_MIN_RATIO:-50}
SECS=${OOM_PASS_SECS:-6}

oom_mkcg sock
D=$NR_CG
if [ "$NR_CGV" = 1 ]; then
	echo "$TCPL" > "$D/memory.kmem.tcp.limit_in_bytes" 2>/dev/null ||
		nr_skip "memory.kmem.tcp.limit_in_bytes not writable"
else
	FP=$("$OOM_BALLASTD" --print-footprint $OOM_RESERVE_SETS | awk '$1 == "total" { print $2 }')
	nr_cg_limit "$D" $((FP + TCPL))
fi
oom_up "$D"
# the iSCSI connection is the TCP one: its SO_RESERVE_MEM result (0 = taken)
RES=$("$NR_BIN/nrstat" "$OOM_STATS" | awk '/^conn[0-9]+\.sock_reserve / { print $2; exit }')
oom_fig tcp_budget "$TCPL"
oom_fig sock_reserve_errno "$RES"
[ "$RES" = 0 ] || oom_fail "SO_RESERVE_MEM was not taken on the iSCSI socket (errno $RES)"

tcp_usage() {
	if [ "$NR_CGV" = 1 ]; then cat "$D/memory.kmem.tcp.usage_in_bytes"
	else awk '$1 == "sock" { print $2 }' "$D/memory.stat"; fi
}
fio_pass() { # NAME: sets RATE (write + verify-read MiB/s)
	_f0=$(cat "$D/memory.kmem.tcp.failcnt" 2>/dev/null || echo -)
	nr_netstat_mem > "$OOM_W/nstat0"
	timeout $((SECS + 60)) fio --name="$1" --directory="$OOM_MNT" --rw=randwrite \
		--bs=256k --size=256M --direct=1 --ioengine=libaio --iodepth=16 \
		--verify=crc32c --verify_backlog=64 --verify_fatal=1 --time_based \
		--runtime="$SECS" --output="$OOM_W/fio-$1.out" > /dev/null 2>&1 &
	oom_wait $! $((SECS + 65)) "fio $1"
	[ "$OOM_RC" = 0 ] || { cat "$OOM_W/fio-$1.out" >&2; oom_fail "fio $1 failed ($OOM_RC)"; }
	kill -0 "$OOM_BPID" 2>/dev/null || oom_fail "ballastd died during $1"
	RATE=$(oom_fio_mib "$OOM_W/fio-$1.out" WRITE)
	oom_fig "${1}_write_mib_s" "$RATE"
	oom_fig "${1}_tcp_usage" "$(tcp_usage)"
	nr_netstat_mem > "$OOM_W/nstat1"
	oom_fig "${1}_netstat_delta" "$(awk 'NR == FNR { a[$1] = $2; next }
		($1 in a) && $2 != a[$1] { printf "%s=+%d ", $1, $2 - a[$1] }' \
		"$OOM_W/nstat0" "$OOM_W/nstat1") (system-wide)"
	oom_fig "${1}_tcp_failcnt" "$_f0 -> $(cat "$D/memory.kmem.tcp.failcnt" 2>/dev/null || echo -)"
}

fio_pass unsqueezed
BASE=$RATE
oom_incg_bg "$D" "$OOM_W/hog.log" "$NR_BIN/nrhog" sock $((4 << 20)) "$OOM_W/hogfull"
HOG=$OOM_BG
oom_watch $HOG sock-hog
nr_wait_file "$OOM_W/hogfull" 15 || oom_fail "the hog did not fill its socket"
oom_fig hog "$(cat "$OOM_W/hog.log")"
oom_fig hog_tcp_usage "$(tcp_usage) of $TCPL"
fio_pass squeezed
oom_log "throughput: unsqueezed $BASE MiB/s, squeezed (hog holds the TCP budget) $RATE MiB/s"
awk -v r="$RATE" -v b="$BASE" -v p="$RATIO" 'BEGIN { exit !(r * 100 >= b * p) }' ||
	oom_fail "squeezed $RATE MiB/s < $RATIO% of unsqueezed $BASE MiB/s"
[ "$(oom_bstat app.errors)" = 0 ] || oom_fail "ballastd counted I/O errors"
exit 0
