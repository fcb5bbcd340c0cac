#!/bin/sh
# netreserve under a memory cgroup OOM (design F3): the loopback exchange and a memory hog share
# a memory cgroup limited to the exchange's footprint + 16 MiB. The hog is OOM-killed; the
# exchange finishes with correct checksums, unchanged VmRSS and no CQ overflow. Its steady-state
# minor-fault count is reported (under the hog's pressure one fault was seen, see the netreserve
# design notes; the zero-fault assertion lives in the unconstrained integration test).
# Root only (77 otherwise).
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
nr_mkcg oom
CG=$NR_CG
nr_cg_limit "$CG" "$LIMIT"
nr_log "cgroup v$NR_CGV $CG limit $LIMIT (footprint $FP + 16 MiB)"

ST=$NR_TMP/stats
nr_incg "$CG" timeout 55 "$EX" --conns 2 --bytes 1G --stats "$ST" --timeout 50 \
	> "$NR_TMP/ex.out" 2> "$NR_TMP/ex.err" &
EXPID=$!
nr_kill_at_exit $EXPID
n=0
until [ "$(nr_stat "$ST" ready)" = 1 ]; do
	sleep 0.05; n=$((n + 1))
	[ $n -lt 400 ] || { cat "$NR_TMP/ex.err" >&2; nr_error "exchange never became ready"; }
done
OOMS0=$(nr_cg_ooms "$CG")

nr_incg "$CG" timeout 30 "$NR_BIN/nrhog" mem 1024 2> "$NR_TMP/hog.err" &
HOG=$!
nr_kill_at_exit $HOG
wait $HOG
HOGRC=$?
wait $EXPID
EXRC=$?
OOMS1=$(nr_cg_ooms "$CG")
nr_log "hog exit status $HOGRC, OOM kills $OOMS0 -> $OOMS1, exchange exit $EXRC"
sed 's/^/  exchange: /' "$NR_TMP/ex.out" | grep -E 'rx_mib_s|minflt|rss_|cq_overflow|result' >&2

[ "$HOGRC" = 137 ] || nr_fail "the hog was not killed by SIGKILL (status $HOGRC)"
[ "$OOMS1" -gt "$OOMS0" ] || nr_fail "no OOM kill recorded in the cgroup"
[ $EXRC = 0 ] || { cat "$NR_TMP/ex.out" "$NR_TMP/ex.err" >&2; nr_fail "exchange failed ($EXRC)"; }
[ "$(nr_get "$NR_TMP/ex.out" result)" = PASS ] || nr_fail "exchange checks failed"
[ "$(nr_get "$NR_TMP/ex.out" crc_bad)" = 0 ] || nr_fail "checksum mismatch"
[ "$(nr_get "$NR_TMP/ex.out" cq_overflow)" = 0 ] || nr_fail "CQ overflow"
[ "$(nr_get "$NR_TMP/ex.out" rss_before_kb)" = "$(nr_get "$NR_TMP/ex.out" rss_after_kb)" ] ||
	nr_fail "VmRSS changed in steady state"
exit 0
