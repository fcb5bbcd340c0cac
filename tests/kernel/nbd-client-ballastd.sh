#!/bin/sh
# Debian's nbd-client (the kernel NBD client) against ballastd's NBD sockets, both kinds:
#  A. ballastd on the host, logged in to ballast-targetd, exports NBD on TCP 127.0.0.1 (port 0,
#     reported on --ready-fd), forwarded into the guest: nbd-client connects /dev/nbd0 to it
#     (export "1", the LUN): mkfs.ext4, mount, a tree of files written, caches dropped,
#     remounted and verified, umount, e2fsck clean, nbd-client -d.
#  B. ballastd in the guest, logged in to the same target, exports on a unix socket:
#     nbd-client -unix connects /dev/nbd1: the tree written through A verifies byte for byte,
#     e2fsck clean; then a 16 MiB file is written and verified after a remount; disconnect;
#     ballastd exits 0 on SIGTERM.
# BALLASTD_ARGS / BALLAST_TARGETD_ARGS add options to the daemons (e.g. "--log-level debug").
. "$(dirname "$0")/common.sh"

kt_daemons
kt_init

iqn=iqn.2025-01.org.ballast.test:nbd-client
# shellcheck disable=SC2086 # word-split on purpose
kt_bg_ready targetd "$targetd" -f --portal 127.0.0.1:0 --target "$iqn" --lun 1:mem:256M \
	--ready-fd 3 ${BALLAST_TARGETD_ARGS:-}
tport=${KT_READY##*:}
kt_log "ballast-targetd on $KT_READY, $iqn"

# shellcheck disable=SC2086
kt_bg_ready ballastd "$ballastd" -f --portal "127.0.0.1:$tport" --target "$iqn" --lun 1 \
	--nbd tcp:127.0.0.1:0 --ready-fd 3 --initiator-name iqn.2025-01.org.ballast:host \
	${BALLASTD_ARGS:-}
kt_log "host ballastd ready: $KT_READY"
nport=$(printf '%s\n' "$KT_READY" | sed -n 's/^nbd tcp:127\.0\.0\.1:\([0-9]*\) .*/\1/p' | head -n1)
[ -n "$nport" ] || kt_error "ballastd reported no tcp:127.0.0.1:PORT listener: '$KT_READY'"

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
mods nbd || fail "nbd module"

say "== A: nbd-client -> host ballastd (tcp, forwarded port $NBD_PORT)"
nbd-client "$HOST_IP" "$NBD_PORT" /dev/nbd0 -N 1 || fail "nbd-client to host ballastd"
size=$(blockdev --getsize64 /dev/nbd0)
[ "$size" = 268435456 ] || fail "nbd0 size $size, expected 256 MiB"
say "nbd0 connected: $size bytes"
tree_roundtrip /dev/nbd0 /mnt || fail "tree round trip through host ballastd"
nbd-client -d /dev/nbd0 || fail "nbd-client -d /dev/nbd0"
say "A done"

say "== B: nbd-client -unix -> ballastd in the guest"
ballastd -f --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" --lun 1 \
	--nbd unix:/run/ballastd.sock --initiator-name iqn.2025-01.org.ballast:kernel-guest \
	$BALLASTD_ARGS >/tmp/ballastd.log 2>&1 &
BPID=$!
i=0
while [ ! -S /run/ballastd.sock ]; do
	kill -0 $BPID 2>/dev/null || { cat /tmp/ballastd.log; fail "guest ballastd exited"; }
	[ $i -lt 300 ] || { cat /tmp/ballastd.log; fail "no /run/ballastd.sock after 30 s"; }
	sleep 0.1
	i=$((i + 1))
done
nbd-client -unix /run/ballastd.sock /dev/nbd1 -N 1 || { cat /tmp/ballastd.log; fail "nbd-client -unix"; }
say "nbd1 connected: $(blockdev --getsize64 /dev/nbd1) bytes"
tree_verify /dev/nbd1 /mnt || fail "tree written through A, read through B"
fs_mods
mount -t ext4 /dev/nbd1 /mnt || fail "mount nbd1"
dd if=/dev/urandom of=/mnt/b.bin bs=1M count=16 2>/dev/null || fail "write 16 MiB"
a=$(sha256sum /mnt/b.bin | cut -d' ' -f1)
umount /mnt || fail "umount"
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/nbd1 /mnt || fail "remount nbd1"
b=$(sha256sum /mnt/b.bin | cut -d' ' -f1)
umount /mnt
[ "$a" = "$b" ] || fail "16 MiB file: sha256 $a written, $b read"
say "16 MiB verified through the unix socket ($a)"
fsck_clean /dev/nbd1 || fail "fsck"
nbd-client -d /dev/nbd1 || fail "nbd-client -d /dev/nbd1"
kill -TERM $BPID
wait $BPID
rc=$?
[ $rc = 0 ] || { cat /tmp/ballastd.log; fail "guest ballastd exited $rc on SIGTERM"; }
say "NBD-CLIENT-BALLASTD OK"
EOT

kt_run --timeout 180 --fwd "$nport:$nport" --fwd "$tport:$tport" \
	--bin "$ballastd:/usr/local/sbin/ballastd" \
	--env NBD_PORT="$nport" --env ISCSI_PORT="$tport" --env IQN="$iqn" \
	--env BALLASTD_ARGS="${BALLASTD_ARGS:-}" "$KT_TMP/guest.sh"
rc=$?
if [ $rc -ne 0 ]; then
	for f in "$KT_TMP"/*.log; do
		[ -f "$f" ] && { kt_log "--- ${f##*/}"; sed 's/^/  /' "$f" >&2; }
	done
fi
exit $rc
