#!/bin/sh
# Writeback under memory pressure, the case Ballast must win (doc/oom-safety.md).
#
# A 256 MiB guest without swap; ext4 on /dev/nbd0, which ballastd in the guest attached through
# nbd netlink, logged in to ballast-targetd on the host (a 1 GiB file LUN). A writer dirties
# WB_MIB MiB (default 256: 1.25 times the guest's MemTotal and over 10 times what the hog leaves
# to the page cache; 512 and 768 in doc/oom-safety.md: CI time is the limit) while tests/kernel/memhog holds the guest at its limit (restarted whenever the OOM
# killer picks it). WB_HOG selects the hog:
#   hold  (default) grows 4 MiB at a time until MemAvailable is down to 16 MiB, then holds it
#   fill  grows whenever MemAvailable exceeds 4 MiB: takes every page writeback frees, the OOM
#         killer fires every few seconds; slow (about 1.6 MB/s under TCG), for characterization
#   none  no hog (the baseline)
# tests/kernel/vmmon, mlocked, samples the device and the server meanwhile, and declares the
# guest wedged when nbd0 completes nothing for WB_WEDGE seconds (default 30) with requests in
# flight: it prints the server's kernel stacks and sysrq l/w/m and powers the guest off.
#
# ballastd's socket allocations are GFP_NOIO (PR_SET_IO_FLUSHER), which never invoke the OOM
# killer, so while a hog holds memory its datapath could spin in reclaim forever; its reclaim
# watchdog (reserve.watchdog_ms, netreserve/watchdog.h) faults in a page after 2 s of that so
# the kernel OOM-kills the hog (doc/oom-safety.md). vmmon can do the same from outside
# (WB_POKE seconds, default 0 = never: sysrq f when the device completes nothing for that
# long); a ballastd run that needed such a poke fails, since the watchdog should have acted.
#
# Asserted for ballastd: the writer and a final sync complete within WB_BOUND seconds (default
# 240); ballastd is never OOM-killed and still runs; the longest stall (requests in flight, none
# completing) stays under WB_STALL_MAX seconds (default 20); after umount, drop_caches and
# remount every 8th 4 MiB chunk read back in the guest has its expected sha256 (WB_VERIFY=full:
# the whole file, about 6.5 MB/s under TCG), and the whole file read out of the target's backing
# file on the host (debugfs) has the expected sha256; e2fsck clean. The hog may die.
#
# The same run with qemu-nbd (qemu's libiscsi block driver) in ballastd's place, in the guest
# and under the same pressure, is the anchor: its outcome is recorded, not asserted
# (WB_ANCHOR=0 skips it). Both outcomes are printed as "WB-RESULT" lines.
#
# Tuning applied (WB_TUNE=1, default; 0 runs with the kernel defaults): vm.dirty_bytes 32 MiB and
# vm.dirty_background_bytes 8 MiB, vm.min_free_kbytes 8192; on nbd0's BDI strict_limit=1 and
# max_bytes 16 MiB where the kernel has them (6.2+), max_ratio 10 otherwise (Debian 6.1). Set
# WB_NIC=virtio for the virtio-net NIC (e1000 by default, as in swap-nbd.sh).
# WB_BALLASTD_PRELOAD=LIB.so runs ballastd with LD_PRELOAD=LIB.so (experiments).
#
# WB_DEV=ublk (tests/kernel/writeback-ublk.sh): ballastd --ublk 0 serves /dev/ublkb0 instead of
# nbd0 (ublk_drv.ko from ublk-build-module.sh), with the same tuning on ublkb0's BDI, the same
# hog, bounds and checks; the qemu-nbd anchor is an NBD run and is skipped (WB_ANCHOR=1 adds it).
. "$(dirname "$0")/common.sh"

kt_daemons
command -v debugfs >/dev/null || kt_skip "debugfs (e2fsprogs) not installed"
kt_init
memhog=$(kt_helper memhog)
vmmon=$(kt_helper vmmon)

MIB=${WB_MIB:-256}
BOUND=${WB_BOUND:-240}
STALL_MAX=${WB_STALL_MAX:-20}
WEDGE=${WB_WEDGE:-30}
HOG=${WB_HOG:-hold}
POKE=${WB_POKE:-0}
case $HOG in hold | fill | none) ;; *) kt_error "WB_HOG must be hold, fill or none" ;; esac
KIND=${WB_DEV:-nbd}
KO=""
case $KIND in
nbd) DEV=nbd0 ANCHOR=${WB_ANCHOR:-1} ;;
ublk)
	DEV=ublkb0 ANCHOR=${WB_ANCHOR:-0}
	kt_ublk_module
	;;
*) kt_error "WB_DEV must be nbd or ublk" ;;
esac
TUNE=${WB_TUNE:-1}
NIC=${WB_NIC:-e1000}
iqn=iqn.2025-01.org.ballast.test:writeback

# The data: chunk i (4 MiB) is the random base file from 4 KiB block i % 256 on, so every
# chunk differs and a misplaced block shows in the sha256.
head -c $((5 * 1024 * 1024)) /dev/urandom >"$KT_TMP/base.bin"
nchunks=$((MIB / 4))
i=0
while [ $i -lt $nchunks ]; do
	dd if="$KT_TMP/base.bin" bs=4k skip=$((i % 256)) count=1024 2>/dev/null
	i=$((i + 1))
done | sha256sum | cut -d' ' -f1 >"$KT_TMP/expect"
i=0
while [ $i -lt $nchunks ]; do
	printf '%s %s\n' $i "$(dd if="$KT_TMP/base.bin" bs=4k skip=$((i % 256)) count=1024 2>/dev/null |
		sha256sum | cut -d' ' -f1)"
	i=$((i + 8))
done >"$KT_TMP/chunks.sha"
expect=$(cat "$KT_TMP/expect")
kt_log "writer: $MIB MiB in $nchunks chunks, expected sha256 $expect"

QEMU_NBD=$(command -v qemu-nbd || true)
QEMU_ISCSI=/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
result() { echo "WB-RESULT mode=$MODE dev=$DEV $*"; }
mods nbd || fail "nbd module"
[ "$DEV" = nbd0 ] || ublk_load || fail "ublk_drv"
fs_mods || fail "ext4"
say "mode=$MODE dev=$DEV tune=$TUNE mem=$(awk '/MemTotal/ { print $2 }' /proc/meminfo)kB writer=${MIB}MiB bound=${BOUND}s"

if [ "$TUNE" = 1 ]; then
	echo $((32 << 20)) >/proc/sys/vm/dirty_bytes
	echo $((8 << 20)) >/proc/sys/vm/dirty_background_bytes
	echo 8192 >/proc/sys/vm/min_free_kbytes
fi
say "vm: dirty_bytes=$(cat /proc/sys/vm/dirty_bytes) dirty_ratio=$(cat /proc/sys/vm/dirty_ratio)" \
	"dirty_background_bytes=$(cat /proc/sys/vm/dirty_background_bytes)" \
	"min_free_kbytes=$(cat /proc/sys/vm/min_free_kbytes)"

# ---- attach
case $MODE in
ballastd)
	[ -n "$PRELOAD" ] && say "ballastd runs with LD_PRELOAD=$PRELOAD"
	if [ "$DEV" = nbd0 ]; then EXPORT="--nbd kernel"; else EXPORT="--ublk 0"; fi
	LD_PRELOAD=$PRELOAD ballastd -f --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" --lun 1 \
		$EXPORT --initiator-name iqn.2025-01.org.ballast:kernel-guest $BALLASTD_ARGS \
		>/tmp/server.log 2>&1 &
	SPID=$!
	bdev_wait $DEV $SPID 30 /tmp/server.log || fail "ballastd does not serve $DEV"
	grep -E 'protection|reserve|footprint' /tmp/server.log | sed 's/^/  ballastd: /'
	;;
qemu-nbd)
	qemu-nbd -c /dev/nbd0 -f raw "iscsi://$HOST_IP:$ISCSI_PORT/$IQN/1" >/tmp/server.log 2>&1 ||
		{ cat /tmp/server.log; fail "qemu-nbd -c"; }
	SPID=$(pidof qemu-nbd | cut -d' ' -f1)
	[ -n "$SPID" ] || fail "qemu-nbd is not running"
	;;
esac
say "$MODE (pid $SPID) serves $DEV: $(blockdev --getsize64 /dev/$DEV) bytes;" \
	"$(grep -E 'VmRSS|VmLck' /proc/$SPID/status | tr -s ' \t' ' ' | tr '\n' ' ')" \
	"oom_score_adj=$(cat /proc/$SPID/oom_score_adj)"

# ---- BDI of the device
B=/sys/block/$DEV/bdi
knobs=""
if [ "$TUNE" = 1 ]; then
	if [ -e $B/strict_limit ]; then echo 1 >$B/strict_limit && knobs="$knobs strict_limit=1"; fi
	if [ -e $B/max_bytes ]; then
		echo $((16 << 20)) >$B/max_bytes && knobs="$knobs max_bytes=16MiB"
	else
		echo 10 >$B/max_ratio && knobs="$knobs max_ratio=10"
	fi
fi
say "bdi $(readlink $B | sed 's|.*/||'): max_ratio=$(cat $B/max_ratio) min_ratio=$(cat $B/min_ratio)" \
	"strict_limit=$(cat $B/strict_limit 2>/dev/null || echo n/a) max_bytes=$(cat $B/max_bytes 2>/dev/null || echo n/a)" \
	"io_timeout=$(cat /sys/block/$DEV/queue/io_timeout 2>/dev/null)ms applied:${knobs:- none}"

mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 /dev/$DEV || fail "mkfs.ext4"
mkdir -p /mnt
mount -t ext4 /dev/$DEV /mnt || fail "mount"

# ---- pressure: monitor, hog (restarted when killed), writer
vmmon --dev $DEV --pid $SPID --print 10 --poke "$POKE" --wedge "$WEDGE" --wedge-exit 3 &
MON=$!
case $HOG in
fill) HOGARGS="--fill --keep-free 4 --step 4" ;;
hold) HOGARGS="--fill --once --keep-free 16 --step 4" ;;
*) : >/tmp/stop-hog ;;
esac
(
	n=0
	while [ ! -e /tmp/stop-hog ]; do
		memhog $HOGARGS >>/tmp/hog.log 2>&1
		n=$((n + 1))
		echo "hog run $n ended" >>/tmp/hog.log
	done
) &
HOGLOOP=$!
i=0
while [ "$HOG" = hold ] && ! grep -q holding /tmp/hog.log 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
sleep 1
say "hog $HOG: $(grep -E 'holding|MiB t=' /tmp/hog.log 2>/dev/null | tail -n1);" \
	"$(free -m | awk '/Mem:/ { print "used=" $3 "M free=" $4 "M" }')"

T0=$(up)
i=0 max=0 maxat=0
while [ $i -lt $NCHUNKS ]; do
	t=$(up)
	dd if=/guest/base.bin of=/mnt/big bs=4k skip=$((i % 256)) seek=$((i * 1024)) count=1024 \
		conv=notrunc 2>/dev/null || { result "writer=failed chunk=$i"; fail "writer failed at chunk $i"; }
	d=$(since "$t")
	if awk -v d="$d" -v m="$max" 'BEGIN { exit !(d > m) }'; then max=$d maxat=$i; fi
	i=$((i + 1))
	[ $((i % 32)) = 0 ] && say "writer: $((i * 4)) MiB in $(since "$T0") s (slowest 4 MiB chunk ${max}s)"
done
TW=$(since "$T0")
T1=$(up)
sync
TS=$(since "$T1")
TT=$(since "$T0")
say "writer done: ${MIB} MiB written in ${TW}s, sync ${TS}s, total ${TT}s; slowest chunk ${max}s (#$maxat)"
: >/tmp/stop-hog
killall memhog 2>/dev/null
wait $HOGLOOP
kill -TERM $MON
wait $MON
hogkills=$(grep -c 'hog run' /tmp/hog.log 2>/dev/null)
tail -n 3 /tmp/hog.log 2>/dev/null | sed 's/^/  /'

alive=yes
kill -0 $SPID 2>/dev/null || alive=no
dmesg | grep -E 'Killed process|invoked oom-killer' | sed 's/^/  /'
oomk=$(awk '/^oom_kill / { print $2 }' /proc/vmstat) # (the dmesg buffer may have wrapped)
oomsrv=$(dmesg | grep -c "Killed process $SPID ")
victims=$(dmesg | sed -n 's/.*Killed process [0-9]* (\([^)]*\)).*/\1/p' | sort | uniq -c | awk '{ printf "%s%s*%s", s, $2, $1; s = "," }')
hung=$(dmesg | grep -c 'blocked for more than')

# ---- verify: remount, sha256, fsck
umount /mnt || fail "umount"
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/$DEV /mnt || fail "remount"
T2=$(up)
verify=ok
if [ "$VERIFY" = full ]; then
	got=$(sha256sum /mnt/big | cut -d' ' -f1)
	[ "$got" = "$EXPECT" ] || verify="MISMATCH($got)"
	say "sha256 of the file after remount: $got, expected $EXPECT: $verify ($(since "$T2")s)"
else
	n=0
	while read -r c want; do
		got=$(dd if=/mnt/big bs=4k skip=$((c * 1024)) count=1024 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$got" = "$want" ] || { verify="MISMATCH(chunk $c)"; say "chunk $c: sha256 $got, expected $want"; }
		n=$((n + 1))
	done </guest/chunks.sha
	say "after remount: $n of $NCHUNKS chunks (every 8th) read back and checked: $verify ($(since "$T2")s)"
fi
umount /mnt
fsck=clean
fsck_clean /dev/$DEV || fsck=errors

case $MODE in
ballastd)
	kill -TERM $SPID
	wait $SPID
	say "ballastd exit $?"
	;;
qemu-nbd) qemu-nbd -d /dev/nbd0 >/dev/null ;;
esac
result "writer=${TW}s sync=${TS}s total=${TT}s slowest_chunk=${max}s server_alive=$alive" \
	"server_oom_killed=$oomsrv oom_kills=$oomk victims=${victims:-none} hog_runs=$hogkills" \
	"hung_task_reports=$hung verify=$verify fsck=$fsck"
if [ $alive != yes ] || [ "$oomsrv" != 0 ] || [ $verify != ok ] || [ $fsck != clean ]; then
	tail -n 40 /tmp/server.log | sed "s/^/  $MODE: /"
	exit 1
fi
awk -v t="$TT" -v b="$BOUND" 'BEGIN { exit !(t <= b) }' || { say "over the ${BOUND}s bound"; exit 2; }
exit 0
EOT

# one_run MODE: boot the guest for MODE against a fresh target; sets RC and keeps the console.
one_run() {
	mode=$1
	rm -f "$KT_TMP/lun.img"
	truncate -s 1G "$KT_TMP/lun.img"
	# shellcheck disable=SC2086
	kt_bg_ready "targetd-$mode" "$targetd" -f --portal 127.0.0.1:0 --target "$iqn" \
		--lun "1:file:$KT_TMP/lun.img" --ready-fd 3 ${BALLAST_TARGETD_ARGS:-}
	tpid=$KT_LAST_PID
	port=${KT_READY##*:}
	extra="" mdev=nbd0 label=$mode
	[ "$mode" = ballastd ] && mdev=$DEV
	kt_log "=== $mode on $mdev: ballast-targetd on $KT_READY (file LUN 1 GiB), guest 256 MiB, nic $NIC, hog $HOG"
	if [ "$mode" = ballastd ]; then
		extra="--bin $ballastd:/usr/local/sbin/ballastd"
		[ -n "$KO" ] && extra="$extra --file $KO:/lib/modules/extra/ublk_drv.ko" label="$mode/$DEV"
		[ -n "${WB_BALLASTD_PRELOAD:-}" ] &&
			extra="$extra --bin $WB_BALLASTD_PRELOAD:/usr/local/lib/preload.so"
	else
		# (at /usr/bin: qemu finds its modules relative to its own directory)
		extra="--bin $QEMU_NBD:/usr/bin/qemu-nbd --bin $QEMU_ISCSI:$QEMU_ISCSI"
	fi
	t0=$(date +%s)
	# shellcheck disable=SC2086 # extra is a list of options
	kt_run --timeout $((BOUND + 150)) --mem 256 --nic "$NIC" --fwd "$port:$port" \
		--log "$KT_TMP/console-$mode.log" $extra \
		--bin "$memhog:/usr/local/bin/memhog" --bin "$vmmon:/usr/local/bin/vmmon" \
		--file "$KT_TMP/base.bin:/guest/base.bin" --file "$KT_TMP/chunks.sha:/guest/chunks.sha" \
		--env MODE="$mode" --env DEV="$mdev" --env ISCSI_PORT="$port" --env IQN="$iqn" --env MIB="$MIB" \
		--env NCHUNKS="$nchunks" --env EXPECT="$expect" --env BOUND="$BOUND" \
		--env TUNE="$TUNE" --env WEDGE="$WEDGE" --env BALLASTD_ARGS="${BALLASTD_ARGS:-}" \
		--env HOG="$HOG" --env VERIFY="${WB_VERIFY:-sample}" --env POKE="$POKE" \
		--env PRELOAD="${WB_BALLASTD_PRELOAD:+/usr/local/lib/preload.so}" \
		"$KT_TMP/guest.sh" >"$KT_TMP/out-$mode.txt" 2>&1
	RC=$?
	cat "$KT_TMP/out-$mode.txt"
	wall=$(($(date +%s) - t0))
	# The target's copy, read on the host (the guest unmounted cleanly or died).
	kill "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	HOSTOK=no
	[ "$(debugfs -R "cat /big" "$KT_TMP/lun.img" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$expect" ] &&
		HOSTOK=yes
	res=$(grep -a '^WB-RESULT' "$KT_TMP/out-$mode.txt" | tail -n1)
	sum=$(grep -a -o 'VMMON-SUMMARY.*' "$KT_TMP/out-$mode.txt" | tail -n1)
	wedged=no
	grep -aq 'VMMON-WEDGED' "$KT_TMP/out-$mode.txt" && wedged=yes
	MAXSTALL=$(printf '%s\n' "$sum" | sed -n 's/.*max_stall=\([0-9.]*\)s.*/\1/p')
	POKES=$(printf '%s\n' "$sum" | sed -n 's/.* pokes=\([0-9]*\).*/\1/p')
	{
		printf '  %-16s vm_exit=%s wall=%ss wedged=%s host_copy_ok=%s %s\n' "$label:" "$RC" \
			"$wall" "$wedged" "$HOSTOK" "${res#WB-RESULT }"
		printf '  %-16s vmmon: %s\n' "" "${sum#VMMON-SUMMARY }"
	} >>"$KT_TMP/summary"
	if [ $wedged = yes ]; then
		kt_log "$mode: wedged; server threads (top frames), then the tasks in D state:"
		kt_stacks "$KT_TMP/console-$mode.log" >&2
		kt_log "  blocked: $(kt_blocked "$KT_TMP/console-$mode.log")"
	fi
}

: >"$KT_TMP/summary"
one_run ballastd
b_rc=$RC b_host=$HOSTOK b_stall=${MAXSTALL:-999} b_pokes=$POKES
if [ "$ANCHOR" = 1 ]; then
	if [ -n "$QEMU_NBD" ] && [ -f "$QEMU_ISCSI" ]; then
		one_run qemu-nbd
	else
		echo "  qemu-nbd:        not run: qemu-nbd or qemu's block-iscsi.so missing" \
			"(apt-get install qemu-utils qemu-block-extra)" >>"$KT_TMP/summary"
	fi
fi

echo
echo "WRITEBACK-PRESSURE ${MIB} MiB through ext4 on $DEV, 256 MiB guest, no swap, hog=$HOG tune=$TUNE nic=$NIC"
cat "$KT_TMP/summary"
echo

ok=1
[ "$b_rc" = 0 ] || { ok=0; kt_log "FAIL: ballastd run exited $b_rc (1: killed/verify/fsck, 2: over ${BOUND}s, 3: wedged, 124: VM timeout)"; }
[ "$b_host" = yes ] || { ok=0; kt_log "FAIL: the target's copy of the file does not match"; }
awk -v s="$b_stall" -v m="$STALL_MAX" 'BEGIN { exit !(s < m) }' ||
	{ ok=0; kt_log "FAIL: ballastd's device stalled ${b_stall}s (limit ${STALL_MAX}s)"; }
if [ $ok = 1 ] && [ "${b_pokes:-0}" != 0 ]; then
	ok=0
	kt_log "FAIL: ballastd's writeback completed only because vmmon triggered the OOM killer" \
		"$b_pokes time(s) (sysrq f) after ${POKE}s without a completion: its reclaim watchdog" \
		"(reserve.watchdog_ms) should have done that after 2 s (doc/oom-safety.md)"
fi
[ $ok = 1 ] && exit 0
for f in "$KT_TMP"/targetd-*.log; do
	[ -f "$f" ] && { kt_log "--- ${f##*/}"; tail -n 30 "$f" | sed 's/^/  /' >&2; }
done
exit 1
