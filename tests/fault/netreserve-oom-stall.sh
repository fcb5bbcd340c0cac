#!/bin/sh
# netreserve next to a stalled neighbour (design F4): the exchange and a hog share a memory
# cgroup at footprint + 16 MiB with the OOM killer disabled (v1 memory.oom_control; on v2,
# memory.high throttles the hog instead). While the hog is stuck at the limit, the exchange
# keeps making progress, read from its shared stats page from outside the cgroup. The valve
# (limit lifted, hog killed) runs at exit. Root only (77 otherwise).
set -u
. "${top_srcdir:-.}/tests/support/lib.sh"
EX=$NR_BIN/nrexchange
nr_require_prog "$EX"
nr_require_prog "$NR_BIN/nrhog"
# A sanitizer runtime maps shadow memory and allocates behind our back: a cgroup limit sized
# from the footprint says nothing about Ballast there.
nr_is_sanitized "$EX" && nr_skip "sanitizer build: footprint-sized cgroup runs are meaningless"
nr_cg_init
nr_tmpdir

FP=$(nr_exchange_footprint --conns 2)
[ -n "$FP" ] || nr_error "footprint"
LIMIT=$((FP + (16 << 20)))
nr_mkcg stall
CG=$NR_CG
ST=$NR_TMP/stats
nr_incg "$CG" timeout 55 "$EX" --conns 2 --bytes 64G --stats "$ST" --timeout 50 \
	> "$NR_TMP/ex.out" 2> "$NR_TMP/ex.err" &
EXPID=$!
nr_kill_at_exit $EXPID
n=0
until [ "$(nr_stat "$ST" ready)" = 1 ]; do
	sleep 0.05; n=$((n + 1))
	[ $n -lt 400 ] || { cat "$NR_TMP/ex.err" >&2; nr_error "exchange never became ready"; }
done

rate() { # bytes received over 2 s
	_a=$(nr_stat "$ST" app.rx_bytes); sleep 2; _b=$(nr_stat "$ST" app.rx_bytes)
	echo $(( (_b - _a) / 2 ))
}
BASE=$(rate)

if [ "$NR_CGV" = 1 ]; then
	nr_cg_limit "$CG" "$LIMIT"
	echo 1 > "$CG/memory.oom_control"
else
	echo $(( $(nr_cg_usage "$CG") + (16 << 20) )) > "$CG/memory.high"
fi
nr_incg "$CG" timeout 40 "$NR_BIN/nrhog" mem 1024 2> "$NR_TMP/hog.err" &
HOG=$!
nr_kill_at_exit $HOG

# wait for the stall: v1 under_oom 1; v2 memory.events "high" rising
n=0
while :; do
	if [ "$NR_CGV" = 1 ]; then
		grep -q '^under_oom 1' "$CG/memory.oom_control" && break
	else
		[ "$(awk '/^high / { print $2 }' "$CG/memory.events")" -gt 0 ] && break
	fi
	sleep 0.05; n=$((n + 1))
	[ $n -lt 200 ] || nr_fail "the hog never stalled at the limit"
done
sleep 0.5
HP=$(pgrep -P $HOG nrhog || echo $HOG)  # timeout(1)'s child
HSTATE=$(awk '{ print $3 }' /proc/$HP/stat 2>/dev/null)
HWCHAN=$(cat /proc/$HP/wchan 2>/dev/null)
kill -0 $EXPID 2>/dev/null || { cat "$NR_TMP/ex.out" "$NR_TMP/ex.err" >&2; nr_fail "exchange died"; }
STALLED=$(rate)
nr_log "hog state $HSTATE wchan $HWCHAN; exchange rx rate baseline $((BASE >> 20)) MiB/s," \
	"during the stall $((STALLED >> 20)) MiB/s"
[ "$STALLED" -gt 0 ] || nr_fail "no progress while the neighbour is stalled at the limit"
kill -0 $EXPID 2>/dev/null || nr_fail "exchange died during the stall"
[ $((STALLED * 2)) -ge "$BASE" ] || nr_log "warning: below 50% of the baseline rate"
# valve, then stop both
nr_cg_release "$CG"
kill $HOG 2>/dev/null
kill $EXPID 2>/dev/null
wait $EXPID 2>/dev/null
exit 0
