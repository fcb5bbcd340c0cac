#!/bin/sh
# netreserve buffer-ring exhaustion (design F7): two receive buffers per connection under a
# deep send queue. The multishot recv keeps running the ring empty (rx_enobufs > 0), is
# re-armed only when buffers are back (rx_rearm > 0), and no byte is lost or reordered (CRC32C
# of 64 MiB each way). Needs no privileges.
set -u
. "${top_srcdir:-.}/tests/support/lib.sh"
EX=$NR_BIN/nrexchange
nr_require_prog "$EX"
nr_tmpdir
timeout 55 "$EX" --conns 2 --bytes 64M --rx-bufs 2 --rx-buf-size 4096 --depth 64 --chunk 64K \
	--expect-enobufs --no-protect --timeout 50 > "$NR_TMP/ex.out" 2> "$NR_TMP/ex.err"
rc=$?
grep -q 'netreserve_ring_new: \(Function not implemented\|Operation not permitted\)' \
	"$NR_TMP/ex.err" && nr_skip "io_uring unavailable"
grep -E 'rx_enobufs|rx_rearm|crc_bad|rx_mib_s|result' "$NR_TMP/ex.out" | sed 's/^/  /' >&2
[ $rc = 0 ] || { cat "$NR_TMP/ex.out" "$NR_TMP/ex.err" >&2; nr_fail "exchange failed ($rc)"; }
[ "$(nr_get "$NR_TMP/ex.out" crc_bad)" = 0 ] || nr_fail "data lost or corrupted"
[ "$(nr_get "$NR_TMP/ex.out" rx_enobufs)" -gt 0 ] || nr_fail "rx_enobufs is 0"
[ "$(nr_get "$NR_TMP/ex.out" rx_rearm)" -gt 0 ] || nr_fail "rx_rearm is 0"
exit 0
