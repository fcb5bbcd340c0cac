#!/bin/sh
# ballast-targetd under libiscsi: a normal session (no authentication) on a mem LUN answers
# iscsi-inq (standard INQUIRY, vendor BALLAST) and iscsi-readcapacity16 (exact size and block
# size, 512 and 4096), a wrong target name gets a login failure, and the daemon reports the
# bound ephemeral port on --ready-fd and stops cleanly on SIGTERM; a connection that never
# logs in is dropped after --login-timeout; a read-only LUN refuses writes.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need iscsi-inq iscsi-readcapacity16

tgt_start --target "$TGT_IQN" --lun 1:mem:64M --lun 2:mem:32M --block-size 512
case $TGT_PORT in
'' | 0 | *[!0-9]*) tgt_fail "bad port reported on --ready-fd: '$TGT_PORTAL'" ;;
esac

out=$(timeout 20 iscsi-inq "$(tgt_url 1)") || tgt_fail "iscsi-inq failed: $out"
echo "$out" | grep -q '^Vendor:BALLAST' || tgt_fail "iscsi-inq: unexpected vendor: $out"
echo "$out" | grep -q 'Peripheral Device Type:DIRECT_ACCESS' || tgt_fail "not a disk: $out"

out=$(timeout 20 iscsi-readcapacity16 "$(tgt_url 1)") || tgt_fail "readcapacity16: $out"
echo "$out" | grep -q '^Total size:67108864$' || tgt_fail "LUN 1 size wrong: $out"
echo "$out" | grep -q 'LOGICAL BLOCK LENGTH IN BYTES:512$' || tgt_fail "block size: $out"
out=$(timeout 20 iscsi-readcapacity16 "$(tgt_url 2)") || tgt_fail "readcapacity16 LUN 2"
echo "$out" | grep -q '^Total size:33554432$' || tgt_fail "LUN 2 size wrong: $out"

# A LUN that does not exist: INQUIRY still answers (peripheral qualifier 3), capacity fails.
timeout 20 iscsi-readcapacity16 "$(tgt_url 9)" >/dev/null 2>&1 &&
	tgt_fail "READ CAPACITY on a missing LUN succeeded"

# Unknown target: login must fail.
timeout 20 iscsi-inq "iscsi://$TGT_PORTAL/iqn.2024-01.org.ballast:nosuch/1" >/dev/null 2>&1 &&
	tgt_fail "login to an unknown target succeeded"
grep -q 'no such target' "$TGT_LOG" || tgt_fail "no log line for the unknown target"

tgt_alive
tgt_stop

# A connection that never logs in is closed after --login-timeout.
if command -v python3 >/dev/null 2>&1; then
	tgt_start --target "$TGT_IQN" --lun 1:mem:16M --login-timeout 1
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
t = time.time()
try:
    d = s.recv(1)
except OSError:
    d = None
sys.exit(0 if d == b"" and time.time() - t < 4 else 1)
' "$TGT_PORT" || tgt_fail "an idle unauthenticated connection was not closed"
	grep -q 'login timeout' "$TGT_LOG" || tgt_fail "no login timeout logged"
	tgt_stop
fi

# A read-only LUN refuses writes (and still reads).
if command -v qemu-img >/dev/null 2>&1 && qemu-img --help | grep -qw iscsi; then
	tgt_start --target "$TGT_IQN" --lun 1:mem:16M --lun 2:null:1G --read-only-lun 1
	head -c 1M /dev/urandom >"$NR_TMP/w"
	timeout 20 qemu-img convert -n -f raw -O raw "$NR_TMP/w" "$(tgt_url 1)" 2>/dev/null &&
		tgt_fail "a write to a read-only LUN succeeded"
	timeout 20 qemu-img convert -n -f raw -O raw "$NR_TMP/w" "$(tgt_url 2)" ||
		tgt_fail "a write to the null LUN failed"
	tgt_stop
fi

# 4096-byte blocks.
tgt_start --target "$TGT_IQN" --lun 1:mem:64M --block-size 4096
out=$(timeout 20 iscsi-readcapacity16 "$(tgt_url 1)") || tgt_fail "readcapacity16 4K: $out"
echo "$out" | grep -q 'LOGICAL BLOCK LENGTH IN BYTES:4096$' || tgt_fail "4K block size: $out"
echo "$out" | grep -q '^Total size:67108864$' || tgt_fail "4K LUN size: $out"
tgt_stop
exit 0
