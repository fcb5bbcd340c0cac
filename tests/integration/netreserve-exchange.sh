#!/bin/sh
# netreserve loopback exchange: two reserved TCP connections (netreserve on both ends) move
# NR_EXCHANGE_BYTES (default 1 GiB) each way per connection with CRC32C checks, with the
# LD_PRELOAD allocation tripwire armed at netreserve_ready() in fail mode and in abort mode.
# Asserts: completes, checksums match, tripwire saw 0 allocations and 0 anonymous mappings,
# ru_minflt delta 0, VmRSS unchanged, CQ overflow 0. A negative control proves the tripwire
# catches a datapath malloc. Also prints the throughput of the two drive modes (dedicated
# ring thread vs ring fd in a libev loop) and of send_zc against plain sendmsg.
set -u
. "${top_srcdir:-.}/tests/support/lib.sh"

EX=$NR_BIN/nrexchange
nr_require_prog "$EX"
nr_tmpdir
BYTES=${NR_EXCHANGE_BYTES:-1G}

# run NAME [VAR=VALUE...] -- ARGS: runs nrexchange under timeout, output in $NR_TMP/NAME.*
run() {
	_name=$1; shift
	env "$@" > "$NR_TMP/$_name.out" 2> "$NR_TMP/$_name.err"
	_rc=$?
	if grep -q 'netreserve_ring_new: \(Function not implemented\|Operation not permitted\)' \
		"$NR_TMP/$_name.err"; then
		nr_skip "io_uring unavailable"
	fi
	return $_rc
}

show() { sed "s/^/  $1: /" "$NR_TMP/$1.out" "$NR_TMP/$1.err" >&2; }

check_tripwire() { # NAME: the exit summary must show an armed tripwire that saw nothing
	_l=$(grep '^tripwire:' "$NR_TMP/$1.err")
	[ -n "$_l" ] || { show "$1"; nr_fail "$1: no tripwire summary (not preloaded?)"; }
	echo "$_l" | grep -q ' arms=1' || nr_fail "$1: tripwire never armed: $_l"
	for k in armed_allocs armed_mmaps armed_fails; do
		echo "$_l" | grep -q " $k=0 " || { show "$1"; nr_fail "$1: $k not 0: $_l"; }
	done
	nr_log "$1: $_l"
}

check_result() { # NAME
	[ "$(nr_get "$NR_TMP/$1.out" result)" = PASS ] || { show "$1"; nr_fail "$1: exchange failed"; }
	for k in crc_bad minflt_delta majflt_delta cq_overflow stale_cqes; do
		[ "$(nr_get "$NR_TMP/$1.out" $k)" = 0 ] || { show "$1"; nr_fail "$1: $k != 0"; }
	done
	[ "$(nr_get "$NR_TMP/$1.out" rss_before_kb)" = "$(nr_get "$NR_TMP/$1.out" rss_after_kb)" ] ||
		{ show "$1"; nr_fail "$1: VmRSS changed"; }
	nr_log "$1: $(nr_get "$NR_TMP/$1.out" rx_bytes) bytes received in" \
		"$(nr_get "$NR_TMP/$1.out" seconds) s ($(nr_get "$NR_TMP/$1.out" rx_mib_s) MiB/s)," \
		"minflt 0, VmRSS $(nr_get "$NR_TMP/$1.out" rss_after_kb) kB unchanged, cq_overflow 0"
}

if nr_is_sanitized "$EX"; then
	# ASan/UBSan own the allocator and fault in shadow memory: check the data path only.
	run asan timeout 120 "$EX" --conns 2 --bytes 64M || { show asan; nr_fail "exchange failed"; }
	[ "$(nr_get "$NR_TMP/asan.out" crc_bad)" = 0 ] || nr_fail "checksum mismatch"
	nr_log "sanitizer build: tripwire and fault/RSS checks skipped"
	
# 5. figure: send_zc vs plain sendmsg (on loopback the kernel copies anyway: zc_copied)
run zc timeout 55 "$EX" --conns 2 --bytes 256M --zc --no-protect --timeout 50 ||
	{ show zc; nr_fail "send_zc exchange failed"; }
nr_log "send_zc: $(nr_get "$NR_TMP/zc.out" rx_mib_s) MiB/s vs plain $(nr_get "$NR_TMP/drive_run.out" rx_mib_s) MiB/s;" \
	"$(nr_get "$NR_TMP/zc.out" zc_copied) of $(nr_get "$NR_TMP/zc.out" zc_sends) zero-copy sends were copied"
exit 0
fi
[ -e "$TRIPWIRE" ] || nr_error "missing $TRIPWIRE (make check builds it)"

# 1. fail mode, the full size: any allocation would return NULL
run fail TRIPWIRE_MODE=fail LD_PRELOAD="$TRIPWIRE" \
	timeout 55 "$EX" --conns 2 --bytes "$BYTES" --strict --timeout 50 ||
	{ show fail; nr_fail "fail mode: exit status $_rc"; }
check_result fail
check_tripwire fail

# 2. abort mode, libev drive: the first allocation would abort with a backtrace
run abort TRIPWIRE_MODE=abort LD_PRELOAD="$TRIPWIRE" \
	timeout 55 "$EX" --conns 2 --bytes 256M --strict --drive ev --timeout 50 ||
	{ show abort; nr_fail "abort mode: exit status $_rc"; }
check_result abort
check_tripwire abort

# 3. negative control: a deliberate malloc per send is counted, and aborts in abort mode
run neg_count TRIPWIRE_MODE=count LD_PRELOAD="$TRIPWIRE" \
	timeout 30 "$EX" --conns 1 --bytes 8M --malloc-per-send --timeout 25 ||
	{ show neg_count; nr_fail "negative control run failed"; }
grep -q '^tripwire:.* armed_allocs=[1-9]' "$NR_TMP/neg_count.err" ||
	{ show neg_count; nr_fail "tripwire missed a datapath malloc"; }
run neg_abort TRIPWIRE_MODE=abort LD_PRELOAD="$TRIPWIRE" \
	timeout 30 "$EX" --conns 1 --bytes 8M --malloc-per-send --timeout 25 &&
	nr_fail "abort mode did not abort on a datapath malloc"
grep -q 'allocation while armed' "$NR_TMP/neg_abort.err" ||
	{ show neg_abort; nr_fail "abort mode: no tripwire message"; }
nr_log "negative control: tripwire counted/aborted a datapath malloc"

# 4. figures: dedicated ring thread (netreserve_ring_run) vs ring fd in a libev loop
for d in run ev; do
	run "drive_$d" timeout 55 "$EX" --conns 2 --bytes 256M --drive $d --no-protect --timeout 50 ||
		{ show "drive_$d"; nr_fail "drive $d failed"; }
	nr_log "drive $d: $(nr_get "$NR_TMP/drive_$d.out" rx_mib_s) MiB/s," \
		"$(nr_get "$NR_TMP/drive_$d.out" enters) io_uring_enter calls," \
		"$(nr_get "$NR_TMP/drive_$d.out" cqes) CQEs"
done

# 5. figure: send_zc vs plain sendmsg (on loopback the kernel copies anyway: zc_copied)
run zc timeout 55 "$EX" --conns 2 --bytes 256M --zc --no-protect --timeout 50 ||
	{ show zc; nr_fail "send_zc exchange failed"; }
nr_log "send_zc: $(nr_get "$NR_TMP/zc.out" rx_mib_s) MiB/s vs plain $(nr_get "$NR_TMP/drive_run.out" rx_mib_s) MiB/s;" \
	"$(nr_get "$NR_TMP/zc.out" zc_copied) of $(nr_get "$NR_TMP/zc.out" zc_sends) zero-copy sends were copied"
exit 0
