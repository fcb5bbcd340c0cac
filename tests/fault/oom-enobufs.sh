#!/bin/sh
# Issue 7, run 6 (design F7): buffer-ring exhaustion. ballastd with 2 receive buffers per
# connection (reserve.rx_bufs=2) and a deep queue: fio with 64 requests in flight of up to
# 1 MiB writes and verifies (reads back) through the mounted filesystem. The provided-buffer
# ring runs empty again and again: multishot receive ends with ENOBUFS, the data waits in the
# socket (TCP backpressure) and receiving resumes as buffers return. Asserts rx_enobufs > 0 and
# rx_rearm > 0 (stats page and `ballastd ctl status`), fio's verify clean (no data lost), no
# CQ overflow, no I/O error counted. Root only (77 otherwise).
. "${top_srcdir:-.}/tests/fault/oom-lib.sh"
oom_setup
SECS=${OOM_PASS_SECS:-8}
oom_up "" --set reserve.rx_bufs=2
E0=$(oom_bstat sum.rx_enobufs)
timeout $((SECS + 60)) fio --name=deep --directory="$OOM_MNT" --rw=randrw --rwmixread=50 \
	--bsrange=64k-1m --size=256M --direct=1 --ioengine=libaio --iodepth=64 \
	--verify=crc32c --verify_backlog=128 --verify_fatal=1 --time_based --runtime="$SECS" \
	--output="$OOM_W/fio-deep.out" > /dev/null 2>&1 &
oom_wait $! $((SECS + 65)) "fio deep"
[ "$OOM_RC" = 0 ] || { cat "$OOM_W/fio-deep.out" >&2; oom_fail "fio deep failed ($OOM_RC)"; }
E1=$(oom_bstat sum.rx_enobufs)
RA=$(oom_bstat sum.rx_rearm)
HM=$("$NR_BIN/nrstat" "$OOM_STATS" | awk '/\.rx_held_max / && $2 > m { m = $2 } END { print m + 0 }')
ST=$(oom_status) || oom_fail "ctl status"
oom_fig rx_enobufs "$E0 -> $E1"
oom_fig rx_rearm "$RA"
oom_fig rx_held_max "$HM"
oom_fig status_ring "$(echo "$ST" | grep '^ring')"
oom_fig write_mib_s "$(oom_fio_mib "$OOM_W/fio-deep.out" WRITE)"
oom_fig read_mib_s "$(oom_fio_mib "$OOM_W/fio-deep.out" READ)"
[ "$E1" -gt 0 ] || oom_fail "the receive ring never ran empty (rx_enobufs 0)"
[ "$RA" -gt 0 ] || oom_fail "no re-arm after ENOBUFS"
echo "$ST" | grep -q 'cq_overflow 0 ' || oom_fail "CQ overflow: $(echo "$ST" | grep '^ring')"
[ "$(oom_bstat app.errors)" = 0 ] || oom_fail "ballastd counted I/O errors"
exit 0
