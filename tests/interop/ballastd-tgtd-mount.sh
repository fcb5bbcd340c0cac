#!/bin/sh
# A filesystem on ballastd against tgtd (or ballast-targetd: BALLASTD_PEER): nbdfuse exposes the NBD export as a file, a loop
# device turns it into a block device; mkfs.ext4, mount, write a tree of files, unmount,
# fsck -n is clean, remount, every checksum matches; then the same after restarting ballastd
# (a fresh login reads what the previous session wrote).
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_root
need_peer
need nbdfuse losetup mkfs.ext4 fsck.ext4 fusermount3 sha256sum
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ -e /dev/loop-control ] || skip "no loop devices"

FUSE=$WORK/fuse
MNT=$WORK/mnt
LOOP=
FUSE_PID=
unmount_all() {
	mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	LOOP=
	if [ -n "$FUSE_PID" ]; then
		fusermount3 -u "$FUSE" 2>/dev/null
		for i in $(seq 50); do kill -0 "$FUSE_PID" 2>/dev/null || break; sleep 0.1; done
		kill "$FUSE_PID" 2>/dev/null
		FUSE_PID=
	fi
}
CLEANUP_HOOK=unmount_all

attach() {
	mkdir -p "$FUSE" "$MNT"
	nbdfuse "$FUSE/disk" --unix "$SOCK" &
	FUSE_PID=$!
	for i in $(seq 100); do [ -f "$FUSE/disk" ] && break; sleep 0.1; done
	[ -f "$FUSE/disk" ] || fail "nbdfuse did not expose the disk"
	LOOP=$(losetup -f --show --direct-io=off "$FUSE/disk") || fail "losetup"
}

SIZE=$((256 * 1024 * 1024))
start_peer "$SIZE"
start_ballastd --nbd "unix:$WORK/nbd.sock" || fail "ballastd did not become ready (rc $BALLASTD_RC)"
attach
mkfs.ext4 -q -F "$LOOP" >"$WORK/mkfs.log" 2>&1 || fail "mkfs.ext4"
mount "$LOOP" "$MNT" || fail "mount"
for d in a b c/d c/e; do
	mkdir -p "$MNT/$d"
	for i in 1 2 3 4 5; do
		head -c $((i * 37 * 1024 + i)) /dev/urandom >"$MNT/$d/f$i"
	done
done
head -c $((40 * 1024 * 1024)) /dev/urandom >"$MNT/big"
(cd "$MNT" && find . -type f | sort | xargs sha256sum) >"$WORK/sums"
umount "$MNT" || fail "umount"
fsck.ext4 -n -f "$LOOP" >"$WORK/fsck.log" 2>&1 || fail "fsck -n not clean: $(cat "$WORK/fsck.log")"
mount "$LOOP" "$MNT" || fail "remount"
(cd "$MNT" && sha256sum --quiet -c "$WORK/sums") || fail "checksums differ after remount"
umount "$MNT" || fail "umount 2"
unmount_all

# a new session (fresh login) sees the same filesystem
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
start_ballastd --nbd "unix:$WORK/nbd.sock" || fail "ballastd restart (rc $BALLASTD_RC)"
attach
fsck.ext4 -n -f "$LOOP" >"$WORK/fsck.log" 2>&1 || fail "fsck after restart: $(cat "$WORK/fsck.log")"
mount -o ro "$LOOP" "$MNT" || fail "mount after restart"
(cd "$MNT" && sha256sum --quiet -c "$WORK/sums") || fail "checksums differ after restart"
log "$(wc -l <"$WORK/sums") files verified across remount and restart"
unmount_all
st=$(ctl_status) || fail "ctl status"
echo "$st" | grep -q "errors 0 " || fail "errors in status: $st"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
exit 0
