#!/bin/sh
# Data integrity through ballast-targetd with libiscsi clients: qemu-img (block-iscsi, i.e.
# libiscsi) writes 48 MiB of random data to a mem LUN and to a file LUN (multi-PDU writes
# with immediate data, unsolicited Data-Out and R2T sequences, 512 and 4096-byte blocks),
# reads it back and compares byte for byte, also with CRC32C header digests; the file LUN's
# backing file must then hold exactly those bytes. iscsi-perf then runs a short random-read
# load at queue depth 32 and must report a non-zero rate with no error.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need qemu-img iscsi-perf
qemu-img --help 2>/dev/null | grep -qw iscsi || nr_skip "qemu-img without the iscsi block driver"

nr_tmpdir
head -c 48M /dev/urandom > "$NR_TMP/src" || nr_error "cannot make random data"
truncate -s 64M "$NR_TMP/backing"

tgt_start --target "$TGT_IQN" --lun 1:mem:64M --lun "2:file:$NR_TMP/backing"

check_lun() { # LUN [URL-suffix]
	_u="$(tgt_url "$1")${2:-}"
	timeout 120 qemu-img convert -n -f raw -O raw "$NR_TMP/src" "$_u" ||
		tgt_fail "qemu-img write to LUN $1${2:-} failed"
	timeout 120 qemu-img compare -f raw -F raw "$NR_TMP/src" "$_u" >/dev/null ||
		tgt_fail "LUN $1${2:-} does not read back what was written"
	nr_log "LUN $1${2:-}: 48 MiB written and verified"
}

check_lun 1
check_lun 2
cmp -n 50331648 "$NR_TMP/src" "$NR_TMP/backing" || tgt_fail "file LUN backing differs"

out=$(timeout 30 iscsi-perf -m 32 -b 8 -t 2 -r "$(tgt_url 1)" 2>&1) ||
	tgt_fail "iscsi-perf failed: $out"
iops=$(printf '%s\n' "$out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -n 1)
[ -n "$iops" ] && [ "$iops" -gt 0 ] || tgt_fail "iscsi-perf reported no progress: $out"
nr_log "iscsi-perf 4 KiB random read QD32: $iops IOPS"
tgt_alive
tgt_stop

# 4096-byte logical blocks, and CRC32C header digests (libiscsi offers "None,CRC32C";
# the target insists on CRC32C).
tgt_start --target "$TGT_IQN" --lun 1:mem:64M --block-size 4096 --header-digest required
head -c 48M /dev/urandom > "$NR_TMP/src"
check_lun 1
grep -q 'digests CRC32C/None' "$TGT_LOG" || tgt_fail "header digest was not negotiated"
tgt_stop
exit 0
