#!/bin/sh
# No allocation on the target's datapath: ballast-targetd runs with the LD_PRELOAD allocation
# tripwire (armed by netreserve_ready() once the daemon is ready; the daemon leaves steady
# state only around control-plane work: accept, login, Text, close, control commands). Under
# libiscsi load (logins, qemu-img writes to a mem and a file LUN with R2T sequences, iscsi-perf
# random reads and writes at QD32, 8 MiB commands streaming through the task buffer, NOP-In
# pings, discovery) the tripwire must count zero heap
# allocations and zero anonymous mappings while armed.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need iscsi-perf iscsi-ls qemu-img
[ -e "$TRIPWIRE" ] || nr_skip "tripwire library not built ($TRIPWIRE)"
nr_is_sanitized "$BALLAST_TARGETD" && nr_skip "sanitizer build: LD_PRELOAD tripwire does not apply"
qemu-img --help 2>/dev/null | grep -qw iscsi || nr_skip "qemu-img without the iscsi block driver"
nr_tmpdir
truncate -s 64M "$NR_TMP/backing"
head -c 32M /dev/urandom >"$NR_TMP/src"

TGT_ENV="LD_PRELOAD=$TRIPWIRE TRIPWIRE_MODE=count TRIPWIRE_STATS=$NR_TMP/tw"
tgt_start --target "$TGT_IQN" --lun 1:mem:64M --lun "2:file:$NR_TMP/backing" --nop-interval 1
TGT_ENV=

# struct tripwire_counters: magic[8], mode, armed, armed_allocs, armed_frees, armed_mmaps, ...
counter() { od -An -t d8 -j "$1" -N 8 "$NR_TMP/tw" | tr -d ' '; }
[ -s "$NR_TMP/tw" ] || tgt_fail "tripwire not preloaded (no counters file)"
[ "$(counter 16)" = 1 ] || tgt_fail "tripwire not armed after startup"

for lun in 1 2; do
	timeout 120 qemu-img convert -n -f raw -O raw "$NR_TMP/src" "$(tgt_url $lun)" ||
		tgt_fail "qemu-img write to LUN $lun"
	timeout 120 qemu-img compare -f raw -F raw "$NR_TMP/src" "$(tgt_url $lun)" >/dev/null ||
		tgt_fail "LUN $lun read back differs"
	timeout 30 iscsi-perf -m 32 -b 8 -t 2 -r "$(tgt_url $lun)" >/dev/null 2>&1 ||
		tgt_fail "iscsi-perf on LUN $lun"
done
# Single 8 MiB WRITE(16)/READ(16) commands stream through the 1 MiB task buffer.
if [ -x "$NR_BIN/iscsi-raw" ]; then
	"$NR_BIN/iscsi-raw" -w 20 "$TGT_PORTAL" "$TGT_IQN" rw 8 >"$NR_TMP/rw" 2>&1
	grep -q '^rw ok$' "$NR_TMP/rw" || tgt_fail "streaming rw: $(cat "$NR_TMP/rw")"
fi
sleep 1.5 # NOP-In pings on an idle session
timeout 20 iscsi-ls -s "iscsi://$TGT_PORTAL" >/dev/null || tgt_fail "iscsi-ls"
tgt_ctl status >/dev/null || tgt_fail "ctl status"

allocs=$(counter 24)
mmaps=$(counter 40)
nr_log "tripwire while armed: allocs=$allocs mmaps=$mmaps (arms=$(counter 64))"
[ "$allocs" = 0 ] || tgt_fail "$allocs heap allocations on the datapath"
[ "$mmaps" = 0 ] || tgt_fail "$mmaps anonymous mappings on the datapath"
tgt_alive
tgt_stop
exit 0
