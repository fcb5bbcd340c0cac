#!/bin/sh
# Commands larger than the per-task buffer stream through it window by window: single
# WRITE(16) and READ(16) commands of 40 MiB (default 1 MiB buffer) and of 8 MiB through a
# 64 KiB buffer (--max-xfer 64K), on a mem and a file LUN, read back what was written; and
# libiscsi's WriteSame16.Unmap (a 32 MiB WRITE16) passes.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
nr_require_prog "$NR_BIN/iscsi-raw"
nr_tmpdir
truncate -s 128M "$NR_TMP/backing"

rw() { # MIB (one WRITE16 + one READ16 at LUN 1)
	"$NR_BIN/iscsi-raw" -w 20 "$TGT_PORTAL" "$TGT_IQN" rw "$1" >"$NR_TMP/rw" 2>&1
	grep -q '^rw ok$' "$NR_TMP/rw" || tgt_fail "rw $1 MiB: $(cat "$NR_TMP/rw")"
	nr_log "$(tr '\n' ' ' <"$NR_TMP/rw")"
	tgt_alive
}

tgt_start --target "$TGT_IQN" --lun 1:mem:128M
rw 40
tgt_stop
tgt_start --target "$TGT_IQN" --lun "1:file:$NR_TMP/backing" --max-xfer 64K
rw 8
tgt_stop
tgt_start --target "$TGT_IQN" --lun 1:mem:128M --max-xfer 64K
rw 8
if command -v iscsi-test-cu >/dev/null 2>&1; then
	timeout 300 iscsi-test-cu --dataloss --test=SCSI.WriteSame16.Unmap "$(tgt_url 1)" \
		>"$NR_TMP/cu" 2>&1
	grep -q 'Test: Unmap \.\.\.passed' "$NR_TMP/cu" || {
		tail -n 20 "$NR_TMP/cu" >&2
		tgt_fail "WriteSame16.Unmap"
	}
fi
tgt_stop
exit 0
