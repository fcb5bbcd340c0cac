#!/bin/sh
# Kernel tier: the initiator's ublk module against the real ublk driver. The guest (Debian 6.1
# kernel, ublk_drv.ko built out of tree by ublk-build-module.sh) runs tests/support/ublk-memserver,
# a RAM-disk server built on initiator/ublk.c, whose queue serves on a netreserve ring (the
# daemon's ring: SINGLE_ISSUER | DEFER_TASKRUN, 64-byte SQEs).
#   A. /dev/ublkb0, 256 MiB: queue limits as set (512/4096 blocks, discard, write cache);
#      fio randwrite + crc32c verify with trims verified to read zero (when fio is on the
#      host; else dd + sha256); mkfs.ext4 (discards the device), mount, a tree of files written,
#      caches dropped, remounted and verified, umount, e2fsck -fn clean; SIGTERM: STOP_DEV +
#      DEL_DEV, /dev/ublkb0 and /dev/ublkc0 gone.
#   B. user recovery: a 64 MiB device with UBLK_F_USER_RECOVERY over a tmpfs backing file;
#      ext4 mounted on its first 32 MiB, a raw writer acknowledging 4 KiB writes (O_DIRECT +
#      fsync) on the rest; the server is killed with SIGKILL mid-stream and restarted with
#      --recover: /dev/ublkb0 stays (same device number, file system still mounted), the
#      writer never sees an error, every acknowledged block reads back intact, and the file
#      system written before and after the kill passes e2fsck -fn. The killed server holds one
#      WRITE neither executed nor acknowledged (--stall, limited to the writer's blocks): it
#      must be reissued, not lost. A file is written to the mounted file system while the
#      server is dead; it completes only after the recovery (see "Written while" below).
# Every guest step is bounded (step/bwait/within/wait_for) and a hang fails at once naming the
# step, with the tasks in D state and their kernel stacks; the whole VM is bounded to 240 s
# (a normal run takes about a minute under TCG).
# Timings are printed as "TIMING <name> <seconds>" lines (TCG: ratios, not absolutes).
. "$(dirname "$0")/common.sh"

kt_init

SRV=$top_builddir/tests/support/ublk-memserver
if [ ! -x "$SRV" ]; then
	kt_log "building tests/support/ublk-memserver"
	${MAKE:-make} -C "$top_builddir" tests/support/ublk-memserver >&2 ||
		kt_error "cannot build tests/support/ublk-memserver"
fi
kt_ublk_module

EXTRA=""
if FIO=$(command -v fio); then
	EXTRA="--bin $FIO:/usr/local/bin/fio"
	kt_log "fio: $FIO (verify with trims)"
else
	kt_log "fio not installed: dd + sha256 instead"
fi

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
# dstate, bwait, step, within, T: functions.sh. fail powers the guest off (fail_poweroff).
fail() { fail_poweroff "$*" /run/srv.a.log /run/srv.b.log /run/srv.c.log; }

t=$(up)
step insmod 30 insmod /lib/modules/extra/ublk_drv.ko
wait_for /dev/ublk-control 5 || fail "no /dev/ublk-control after insmod"
T insmod "$t"

# ------------------------------------------------------------- A. file system + fio
t=$(up)
ublk-memserver --size 256M --depth 64 --ready-file /run/ready.a >/run/srv.a.log 2>&1 &
SRV=$!
wait_for /run/ready.a 30 || fail "step 'start server A' hung: not ready after 30s"
T start "$t"
cat /run/srv.a.log
DEV=$(cat /run/ready.a)
[ "$DEV" = /dev/ublkb0 ] || fail "device $DEV"
Q=/sys/block/ublkb0/queue
say "limits: size=$(blockdev --getsize64 $DEV) lbs=$(cat $Q/logical_block_size) pbs=$(cat $Q/physical_block_size) max_sectors_kb=$(cat $Q/max_sectors_kb) discard_max=$(cat $Q/discard_max_bytes) discard_gran=$(cat $Q/discard_granularity) wzeroes_max=$(cat $Q/write_zeroes_max_bytes) cache=$(cat $Q/write_cache) fua=$(cat $Q/fua 2>/dev/null)"
[ "$(blockdev --getsize64 $DEV)" = 268435456 ] || fail "size"
[ "$(cat $Q/logical_block_size)" = 512 ] || fail "logical block size"
[ "$(cat $Q/physical_block_size)" = 4096 ] || fail "physical block size"
[ "$(cat $Q/max_sectors_kb)" = 512 ] || fail "max_sectors_kb"
[ "$(cat $Q/discard_max_bytes)" -gt 0 ] || fail "no discard"
[ "$(cat $Q/write_cache)" = "write back" ] || fail "write cache"

if command -v fio >/dev/null; then
	fio_verify_discard /dev/ublkb0 90 0 64M 64M 32M 128M 32M
	dd if=/dev/zero of=/run/zero bs=1M count=32 2>/dev/null
	step "read discarded range" 30 dd if=$DEV of=/run/back bs=1M skip=128 count=32 iflag=direct 2>/dev/null
	cmp -s /run/zero /run/back || fail "discarded range does not read back as zeros"
	rm -f /run/zero /run/back
else
	dd_verify() {
		dd if=/dev/urandom of=/run/a bs=1M count=32 2>/dev/null &&
		dd if=/run/a of=$DEV bs=1M oflag=direct 2>/dev/null || return 1
		blkdiscard -o 0 -l 1048576 $DEV 2>/dev/null
		echo 3 >/proc/sys/vm/drop_caches
		dd if=$DEV of=/run/b bs=1M count=32 iflag=direct 2>/dev/null || return 1
		dd if=/dev/zero of=/run/a bs=1M count=1 conv=notrunc 2>/dev/null
		[ "$(sha256sum </run/a)" = "$(sha256sum </run/b)" ] || { say "dd sha256"; return 1; }
		rm -f /run/a /run/b
	}
	t=$(up)
	step "dd + sha256" 60 dd_verify
	T dd-verify "$t"
fi

t=$(up)
step "mkfs + tree round trip + fsck" 90 tree_roundtrip $DEV /mnt
T mkfs-tree-fsck "$t"

t=$(up)
kill -TERM $SRV
bwait $SRV 30 || fail "step 'stop server A' hung: STOP_DEV + DEL_DEV not done after 30s"
[ "$BW_RC" = 0 ] || fail "server exit $BW_RC"
T stop-del "$t"
tail -n 2 /run/srv.a.log
[ ! -e /sys/block/ublkb0 ] || fail "ublkb0 still there after STOP_DEV"
[ ! -e /sys/class/ublk-char/ublkc0 ] || fail "ublkc0 still there after DEL_DEV"
say "A: STOP_DEV + DEL_DEV done"

# ------------------------------------------------------------- B. kill -9 + recovery
# The file system is blocks 0..8191 (32 MiB); the raw writer writes blocks 8192.. and only a
# WRITE there is held (--stall-from 32M), so the held write is the writer's next block.
t=$(up)
ublk-memserver --size 64M --depth 32 --recovery --backing /dev/shm/ublk.img --stall /run/stall \
	--stall-from 32M --ready-file /run/ready.b >/run/srv.b.log 2>&1 &
SRV=$!
wait_for /run/ready.b 30 || fail "step 'start recovery server' hung: not ready after 30s"
cat /run/srv.b.log
grep -q 'flags=0x1[8-9a-f]' /run/srv.b.log || fail "UBLK_F_USER_RECOVERY(_REISSUE) not granted"
DEVNO=$(cat /sys/block/ublkb0/dev)
step mkfs 60 mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=1,lazy_journal_init=1 $DEV 8192
mkdir -p /mnt
step mount 30 mount -t ext4 $DEV /mnt
step "write /mnt/before" 30 dd if=/dev/urandom of=/mnt/before bs=64K count=16 2>/dev/null
step sync 30 sync
sha_before=$(sha256sum </mnt/before)

# Raw writer: each write is O_DIRECT + fsync and counts as acknowledged only when dd succeeded.
N=160
dd if=/dev/urandom of=/run/src bs=4096 count=$N 2>/dev/null
acked_writer $DEV 8192 $N
within 60 lines_ge /run/acked 40 ||
	fail "step 'first 40 raw writes' hung: $(wc -l </run/acked) acknowledged after 60s"
# The server now holds the writer's next WRITE unexecuted and unacknowledged: kill it with
# that request in flight; user recovery must reissue it to the new server.
: >/run/stall
wait_for /run/stall.held 30 || fail "step 'stall': no write reached the stalled server in 30s"
kill -KILL $SRV
t=$(up)
bwait $SRV 30 || fail "step 'killed server exits' hung: still there after 30s"
acked_at_kill=$(wc -l </run/acked)
read -r held_off held_len </run/stall.held
held_blk=$((held_off / 4096 - 8192))
say "B: server killed (SIGKILL) holding block $held_blk ($held_len bytes at $held_off); $acked_at_kill acknowledged before"
[ "$held_blk" = "$acked_at_kill" ] && [ "$held_len" = 4096 ] ||
	fail "the held write is not the writer's next block"
[ -e /sys/block/ublkb0 ] || fail "ublkb0 vanished after the kill"
# Written while the server is dead: queued by the quiesced device. Not waited for before the
# recovery: creating the file may need a metadata buffer that a jbd2 commit is writing to the
# device, and only the new server can finish that commit (ext4lazyinit and atime updates start
# commits at any time). Waiting here is the deadlock this test once hit.
dd if=/dev/urandom of=/mnt/during bs=64K count=4 2>/dev/null &
DURING=$!

t2=$(up)
ublk-memserver --recover 0 --backing /dev/shm/ublk.img --ready-file /run/ready.c \
	>/run/srv.c.log 2>&1 &
SRV=$!
wait_for /run/ready.c 60 || fail "step 'recovery' hung: new server not ready after 60s"
T recover-after-kill "$t"
T recover-server "$t2"
cat /run/srv.c.log
if kill -0 $DURING 2>/dev/null; then
	say "B: the write to /mnt/during was still blocked when the new server took over"
else
	say "B: the write to /mnt/during finished during the outage"
fi
[ "$(cat /sys/block/ublkb0/dev)" = "$DEVNO" ] || fail "device number changed"
bwait $DURING 30 || fail "step 'write during the outage' hung: not done 30s after recovery"
[ "$BW_RC" = 0 ] || fail "write to /mnt/during failed ($BW_RC)"
bwait $WRITER 60 || fail "step 'raw writer' hung: $(wc -l </run/acked) of $N acknowledged 60s after recovery"
[ ! -s /run/failed ] || fail "writer saw errors for blocks: $(tr '\n' ' ' </run/failed)"
[ "$(wc -l </run/acked)" = $N ] || fail "only $(wc -l </run/acked) of $N writes acknowledged"
step "write /mnt/after" 30 dd if=/dev/urandom of=/mnt/after bs=64K count=16 2>/dev/null
step "sync after recovery" 30 sync
echo 3 >/proc/sys/vm/drop_caches
step "verify acknowledged blocks" 60 verify_acked $DEV 8192
say "B: all $N acknowledged writes intact ($acked_at_kill before the kill, block $held_blk reissued)"
[ "$(sha256sum </mnt/before)" = "$sha_before" ] || fail "file written before the kill changed"
step umount 30 umount /mnt
step "fsck after recovery" 60 fsck_clean $DEV
step remount 30 mount -t ext4 $DEV /mnt
[ "$(sha256sum </mnt/before)" = "$sha_before" ] || fail "file before the kill changed on disk"
[ "$(stat -c %s /mnt/during)" = 262144 ] || fail "file written during the outage"
[ "$(stat -c %s /mnt/after)" = 1048576 ] || fail "file written after recovery"
step "final umount" 30 umount /mnt
t=$(up)
kill -TERM $SRV
bwait $SRV 30 || fail "step 'stop recovered server' hung: not done after 30s"
[ "$BW_RC" = 0 ] || fail "recovered server exit $BW_RC"
T stop-del-recovered "$t"
tail -n 2 /run/srv.c.log
[ ! -e /sys/block/ublkb0 ] || fail "ublkb0 still there"
say "UBLK OK"
EOT

# shellcheck disable=SC2086
kt_run --timeout 240 --mem 1024 --bin "$SRV:/usr/local/bin/ublk-memserver" $EXTRA \
	--file "$KO:/lib/modules/extra/ublk_drv.ko" "$KT_TMP/guest.sh"
