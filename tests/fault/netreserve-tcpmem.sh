#!/bin/sh
# netreserve and the socket-memory budget (design F6, cgroup v1): the receiving end of a
# loopback exchange runs in a memory cgroup whose TCP budget (memory.kmem.tcp.limit_in_bytes,
# 1 MiB) a hog socket in the same cgroup eats up. The receiver takes SO_RESERVE_MEM (256 KiB)
# at accept time, before the hog; a second run without the reserve is the comparison. Prints
# both throughputs (each run capped at 10 s, progress read from the receiver's shared stats
# page) and asserts the reserved one completes, took its reserve, and is not slower than the
# unreserved one. v2 hosts: skipped (77); the v2 variant needs memory.max sizing.
set -u
. "${top_srcdir:-.}/tests/support/lib.sh"
EX=$NR_BIN/nrexchange
nr_require_prog "$EX"
nr_require_prog "$NR_BIN/nrhog"
nr_cg_init
[ "$NR_CGV" = 1 ] || nr_skip "needs the v1 memory.kmem.tcp.limit_in_bytes"
nr_tmpdir
BYTES=${NR_TCPMEM_BYTES:-128M}

# run NAME RESERVE: the receiver's MiB/s over at most CAP seconds (from its stats page)
CAP=${NR_TCPMEM_CAP:-10}
run() {
	_name=$1
	nr_mkcg "tcp-$_name"
	_cg=$NR_CG
	# must be set before any socket exists in the cgroup (it turns on TCP accounting)
	echo $((1 << 20)) > "$_cg/memory.kmem.tcp.limit_in_bytes" 2>/dev/null ||
		nr_skip "memory.kmem.tcp.limit_in_bytes not writable"
	_t=$NR_TMP/$_name
	mkdir -p "$_t"
	nr_incg "$_cg" timeout 40 "$EX" --role server --conns 1 --bytes "$BYTES" --oneway \
		--rcvbuf 64K --sndbuf 64K --reserve "$2" --rx-buf-size 16K --port-file "$_t/port" \
		--setup-file "$_t/setup" --wait-go "$_t/go" --no-protect --timeout 35 --stats "$_t/stats" \
		> "$_t/server.out" 2> "$_t/server.err" &
	_srv=$!
	nr_kill_at_exit $_srv
	nr_wait_file "$_t/port" 10 || nr_error "$_name: server did not start"
	timeout 40 "$EX" --role client --conns 1 --port "$(cat "$_t/port")" --bytes "$BYTES" \
		--oneway --wait-go "$_t/go" --no-protect --timeout 35 \
		> "$_t/client.out" 2> "$_t/client.err" &
	_cli=$!
	nr_kill_at_exit $_cli
	nr_wait_file "$_t/setup" 10 || nr_error "$_name: server setup did not finish"
	# the hog eats the budget after our socket took its reserve
	nr_incg "$_cg" timeout 40 "$NR_BIN/nrhog" sock $((4 << 20)) "$_t/hogfull" 2> "$_t/hog.err" &
	_hog=$!
	nr_kill_at_exit $_hog
	nr_wait_file "$_t/hogfull" 10 || nr_error "$_name: hog did not fill its socket"
	_before=$(cat "$_cg/memory.kmem.tcp.failcnt")
	touch "$_t/go"
	_t0=$(date +%s.%N)
	_i=0
	while kill -0 $_srv 2>/dev/null && [ $_i -lt $((CAP * 10)) ]; do sleep 0.1; _i=$((_i + 1)); done
	_t1=$(date +%s.%N)
	_got=$(nr_stat "$_t/stats" app.rx_bytes)
	[ -n "$_got" ] || _got=$(nr_get "$_t/server.out" rx_bytes)
	awk -v b="${_got:-0}" -v a="$_t0" -v z="$_t1" \
		'BEGIN { printf "%.1f\n", b / 1048576 / (z - a) }' > "$_t/rate"
	kill $_srv 2>/dev/null
	wait $_srv
	_rc=$?
	kill $_cli $_hog 2>/dev/null
	nr_log "$_name: received ${_got:-0} bytes in" \
		"$(awk -v a="$_t0" -v z="$_t1" 'BEGIN { printf "%.1f", z - a }') s, $(cat "$_t/rate") MiB/s;" \
		"reserve $2, server exit $_rc, tcp usage $(cat "$_cg/memory.kmem.tcp.max_usage_in_bytes")" \
		"max, failcnt $_before -> $(cat "$_cg/memory.kmem.tcp.failcnt")," \
		"sock_reserve_ok $(nr_get "$_t/server.out" sock_reserve_ok)" \
		"eopnotsupp $(nr_get "$_t/server.out" sock_reserve_eopnotsupp)" \
		"err $(nr_get "$_t/server.out" sock_reserve_errno)"
	[ $_rc = 0 ] && [ "$(nr_get "$_t/server.out" result)" = PASS ] && touch "$_t/complete"
	nr_cg_rmdir "$_cg"
}

run plain 0
run reserved 256K
PLAIN=$(cat "$NR_TMP/plain/rate")
RES=$(cat "$NR_TMP/reserved/rate")
nr_log "receiver throughput with the TCP budget eaten by a hog: without SO_RESERVE_MEM" \
	"$PLAIN MiB/s, with SO_RESERVE_MEM 256K $RES MiB/s"
[ "$(nr_get "$NR_TMP/reserved/server.out" sock_reserve_ok)" = 1 ] ||
	nr_fail "SO_RESERVE_MEM was not taken"
[ -e "$NR_TMP/reserved/complete" ] || nr_fail "the reserved exchange did not complete in ${CAP} s"
awk -v r="$RES" -v p="$PLAIN" 'BEGIN { exit !(r >= p) }' ||
	nr_fail "reserved ($RES MiB/s) slower than unreserved ($PLAIN MiB/s)"
exit 0
