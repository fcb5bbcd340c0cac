#!/bin/sh
# Kernel tier, issue 8: ballastd in the guest exports LUN 1 of ballast-targetd (on the host,
# through the loopback-only forward) as /dev/ublkb0 (ublk_drv.ko built out of tree by
# ublk-build-module.sh).
#   A. ballastd --ublk 0 under the allocation tripwire (tests/support/libtripwire.so, fail mode,
#      armed by netreserve_ready()): /dev/ublkb0 has the LUN's size and block size (as ballastd's
#      status reports the LUN), discard and write cache as the LUN advertises; fio with crc32c
#      verify, trim+write verify and a discarded range reading back as zeros (when fio is on
#      the host; else dd + sha256); mkfs.ext4 on the first 128 MiB, mount, a tree of files,
#      caches dropped, verified, umount, e2fsck -fn clean; `ballastd ctl status` lists the
#      device live with no errors; SIGTERM: exit 0, /dev/ublkb0 and /dev/ublkc0 gone, and the
#      tripwire counted 0 allocations, 0 mappings and 0 failed allocations while armed.
#   B. user recovery: a second ballastd --ublk 0 finds the tree intact (the data lives in the
#      target), then a raw writer acknowledges 4 KiB writes (O_DIRECT + fsync: WRITE + FLUSH)
#      beyond the file system; ballastd is killed with SIGKILL mid-stream; /dev/ublkb0 stays
#      (same device number) while a third ballastd --ublk 0 takes it over (START/END_USER_
#      RECOVERY); the writer never sees an error, every acknowledged block reads back intact,
#      the file system still verifies and is clean.
#   C. iSCSI reconnect under a writer: with the file system mounted, a writer creates 128 KiB
#      files (each write + fsync) without a pause while ballast-targetd on the host drops every
#      connection (its control socket, "ctl drop", asked for by the guest with a "KT-DROP"
#      console line that this script watches), at least twice and until a drop caught commands
#      in flight (at most 6): ublk requests wait for the relogin (replacement_timeout) and are
#      replayed, like NBD ones. Asserted: each drop is followed by a relogin
#      within 30 s ("recovery reconnects" in the status, a "session reinstated" log line
#      each); the writer never sees an error, writes go on after each relogin, no I/O error
#      in dmesg, the status shows the device live with errors 0 and no replacement_timeout
#      expiry; after umount + drop_caches every file verifies, and e2fsck is clean. SIGTERM
#      removes /dev/ublkb0 and /dev/ublkc0.
# Every guest step is bounded (step/bwait/within) and a hang fails at once naming the step, with
# the tasks in D state and their kernel stacks; the VM is bounded to 420 s.
# Timings are printed as "TIMING <name> <seconds>" lines (TCG: ratios, not absolutes).
# BALLASTD_ARGS adds options to ballastd in the guest, BALLAST_TARGETD_ARGS to ballast-targetd.
. "$(dirname "$0")/common.sh"

kt_daemons
kt_init

TRIPWIRE=${TRIPWIRE:-$top_builddir/tests/support/.libs/libtripwire.so}
if [ ! -f "$TRIPWIRE" ]; then
	${MAKE:-make} -C "$top_builddir" tests/support/libtripwire.la >&2 ||
		kt_error "cannot build tests/support/libtripwire.la"
fi
[ -f "$TRIPWIRE" ] || kt_error "no tripwire library at $TRIPWIRE"
kt_ublk_module

EXTRA=""
if FIO=$(command -v fio); then
	EXTRA="--bin $FIO:/usr/local/bin/fio"
	kt_log "fio: $FIO (verify with trims)"
else
	kt_log "fio not installed: dd + sha256 instead"
fi

iqn=iqn.2025-01.org.ballast.test:kernel-ublk
kt_start_targetd "$iqn" --lun 1:mem:256M --control "$KT_TMP/tctl.sock"

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
# dstate, bwait, step, within, T: functions.sh. fail powers the guest off (fail_poweroff).
fail() { fail_poweroff "$*" /run/b.a.log /run/b.b.log /run/b.c.log; }

CTL=/run/ctl.sock
# start_b NAME [ENV=VALUE...]: ballastd --ublk 0 in the background (PID in BPID), log in
# /run/b.NAME.log; waits up to 90 s for its ready lines (in /run/ready.NAME).
start_b() {
	local name=$1 n=900
	shift
	: >/run/ready.$name
	env "$@" ballastd -f --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" \
		--initiator-name iqn.2025-01.org.ballast:kernel-guest --control $CTL --ublk 0 \
		$BALLASTD_ARGS --ready-fd 3 3>/run/ready.$name >/run/b.$name.log 2>&1 &
	BPID=$!
	until grep -q . /run/ready.$name; do
		kill -0 $BPID 2>/dev/null || fail "ballastd $name exited before it was ready"
		[ $n -gt 0 ] || fail "step 'start ballastd $name' hung: not ready after 90s"
		n=$((n - 1))
		sleep 0.1
	done
	sleep 0.2
	grep -qx "ublk /dev/ublkb0 lun 1" /run/ready.$name ||
		fail "ready lines of ballastd $name: $(cat /run/ready.$name)"
	wait_for /dev/ublkb0 10 || fail "no /dev/ublkb0 node"
}

# stop_b NAME: SIGTERM, exit 0 within 60 s, /dev/ublkb0 and /dev/ublkc0 gone.
stop_b() {
	kill -TERM $BPID
	bwait $BPID 60 || fail "step 'SIGTERM ballastd $1' hung: still running after 60s"
	[ "$BW_RC" = 0 ] || fail "ballastd $1 exited $BW_RC on SIGTERM"
	[ ! -e /sys/block/ublkb0 ] || fail "ublkb0 still there after ballastd $1 exited"
	[ ! -e /sys/class/ublk-char/ublkc0 ] || fail "ublkc0 still there after ballastd $1 exited"
}

FSB=32768 # the file system: the first 128 MiB (4 KiB blocks)
fs_make_tree() {
	local d f n=0
	mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=1,lazy_journal_init=1 /dev/ublkb0 $FSB ||
		return 1
	mkdir -p /mnt
	mount -t ext4 /dev/ublkb0 /mnt || return 1
	for d in a a/b a/b/c d e/f; do
		mkdir -p "/mnt/$d"
		for f in 0 1 7 64 1024 3000; do
			dd if=/dev/urandom of="/mnt/$d/f$f" bs=1K count=$f 2>/dev/null || return 1
			n=$((n + 1))
		done
	done
	(cd /mnt && find . -type f | sort | xargs sha256sum) >/run/tree.sha || return 1
	say "wrote $n files"
	sync
	umount /mnt
}
fs_verify() {
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 /dev/ublkb0 /mnt || return 1
	(cd /mnt && sha256sum -c -s /run/tree.sha) || { say "tree verify failed"; umount /mnt; return 1; }
	say "tree verified ($(wc -l </run/tree.sha) files)"
	umount /mnt || return 1
	fsck_clean /dev/ublkb0
}

t=$(up)
step insmod 30 insmod /lib/modules/extra/ublk_drv.ko
wait_for /dev/ublk-control 5 || fail "no /dev/ublk-control after insmod"
fs_mods || fail "ext4 modules"
T insmod "$t"

# ------------------------------------------------------------- A. under the tripwire
t=$(up)
start_b a LD_PRELOAD=/usr/local/lib/libtripwire.so TRIPWIRE_MODE=fail
T start-a "$t"
grep -E 'ublk|ready' /run/b.a.log
ballastd ctl $CTL status >/run/status.a || fail "ctl status"
lunline=$(grep '^lun 1 ' /run/status.a) || fail "no lun 1 in the status"
set -- $lunline
blocks=$4 bsz=$6
Q=/sys/block/ublkb0/queue
say "lun: $lunline"
say "limits: size=$(blockdev --getsize64 /dev/ublkb0) lbs=$(cat $Q/logical_block_size) pbs=$(cat $Q/physical_block_size) max_sectors_kb=$(cat $Q/max_sectors_kb) discard_max=$(cat $Q/discard_max_bytes) discard_gran=$(cat $Q/discard_granularity) wzeroes_max=$(cat $Q/write_zeroes_max_bytes) cache=$(cat $Q/write_cache) fua=$(cat $Q/fua 2>/dev/null) nr_requests=$(cat $Q/nr_requests)"
[ "$(blockdev --getsize64 /dev/ublkb0)" = $((blocks * bsz)) ] || fail "size is not the LUN's ($blocks x $bsz)"
[ $((blocks * bsz)) = 268435456 ] || fail "the LUN is not 256 MiB"
[ "$(cat $Q/logical_block_size)" = "$bsz" ] || fail "logical block size is not the LUN's"
if echo "$lunline" | grep -q ' unmap yes '; then
	[ "$(cat $Q/discard_max_bytes)" -gt 0 ] || fail "the LUN can unmap but the device has no discard"
fi
if echo "$lunline" | grep -q ' wce 1 '; then
	[ "$(cat $Q/write_cache)" = "write back" ] || fail "write cache not advertised"
fi

if command -v fio >/dev/null; then
	fio_verify_discard /dev/ublkb0 150 128M 32M 160M 16M 224M 16M
else
	dd_verify() {
		dd if=/dev/urandom of=/run/a bs=1M count=16 2>/dev/null &&
		dd if=/run/a of=/dev/ublkb0 bs=1M seek=128 oflag=direct 2>/dev/null || return 1
		blkdiscard -o $((128 << 20)) -l 1048576 /dev/ublkb0 || return 1
		echo 3 >/proc/sys/vm/drop_caches
		dd if=/dev/ublkb0 of=/run/b bs=1M skip=128 count=16 iflag=direct 2>/dev/null || return 1
		dd if=/dev/zero of=/run/a bs=1M count=1 conv=notrunc 2>/dev/null
		[ "$(sha256sum </run/a)" = "$(sha256sum </run/b)" ] || { say "dd sha256"; return 1; }
		rm -f /run/a /run/b
	}
	t=$(up)
	step "dd + sha256 + discard" 90 dd_verify
	T dd-verify "$t"
fi

t=$(up)
step "mkfs + tree" 120 fs_make_tree
step "tree verify + fsck" 90 fs_verify
T mkfs-tree-fsck "$t"

ballastd ctl $CTL status >/run/status.a || fail "ctl status"
grep '^ublk' /run/status.a
grep -q '^ublk /dev/ublkb0 lun 1 state live recovered no .* errors 0 ' /run/status.a ||
	fail "status: $(grep '^ublk' /run/status.a)"
t=$(up)
stop_b a
T stop-a "$t"
tail -n 4 /run/b.a.log
tw=$(grep '^tripwire:' /run/b.a.log) || fail "no tripwire summary (not preloaded?)"
say "$tw"
echo "$tw" | grep -q "mode=fail" || fail "tripwire not in fail mode"
echo "$tw" | grep -q "armed_allocs=0 " || fail "allocations while armed: $tw"
echo "$tw" | grep -q "armed_mmaps=0 " || fail "mappings while armed: $tw"
echo "$tw" | grep -q "armed_fails=0 " || fail "failed allocations while armed: $tw"
say "A: done; SIGTERM removed /dev/ublkb0 and /dev/ublkc0; tripwire: 0 allocations while armed"

# ------------------------------------------------------------- B. kill -9 + user recovery
t=$(up)
start_b b
T start-b "$t"
grep -q 'ublk /dev/ublkb0 lun 1: started (.*, user recovery)' /run/b.b.log ||
	fail "/dev/ublkb0 was not made with user recovery"
DEVNO=$(cat /sys/block/ublkb0/dev)
step "tree after restart" 90 fs_verify

# Raw writer past the file system: each write is O_DIRECT + fsync and counts as acknowledged
# only when dd succeeded.
N=120
BASE=$((192 << 8)) # 4 KiB block 49152 = 192 MiB
dd if=/dev/urandom of=/run/src bs=4096 count=$N 2>/dev/null
acked_writer /dev/ublkb0 $BASE $N
within 90 lines_ge /run/acked 30 ||
	fail "step 'first 30 raw writes' hung: $(wc -l </run/acked) acknowledged after 90s"
kill -KILL $BPID
t=$(up)
bwait $BPID 30 || fail "step 'killed ballastd exits' hung: still there after 30s"
acked_at_kill=$(wc -l </run/acked)
say "B: ballastd killed (SIGKILL) after $acked_at_kill acknowledged writes"
[ -e /sys/block/ublkb0 ] || fail "ublkb0 vanished after the kill"

t2=$(up)
start_b c
T recover-after-kill "$t"
T recover-ballastd "$t2"
grep -E 'ublk' /run/b.c.log
grep -q 'ublk /dev/ublkb0 lun 1: recovered' /run/b.c.log || fail "ballastd c did not recover ublkb0"
[ "$(cat /sys/block/ublkb0/dev)" = "$DEVNO" ] || fail "device number changed"
bwait $WRITER 90 || fail "step 'raw writer' hung: $(wc -l </run/acked) of $N acknowledged 90s after recovery"
[ ! -s /run/failed ] || fail "writer saw errors for blocks: $(tr '\n' ' ' </run/failed)"
[ "$(wc -l </run/acked)" = $N ] || fail "only $(wc -l </run/acked) of $N writes acknowledged"
echo 3 >/proc/sys/vm/drop_caches
step "verify acknowledged blocks" 90 verify_acked /dev/ublkb0 $BASE
say "B: all $N acknowledged writes intact ($acked_at_kill before the kill)"
step "tree after recovery" 90 fs_verify
ballastd ctl $CTL status >/run/status.c || fail "ctl status"
grep '^ublk' /run/status.c
grep -q '^ublk /dev/ublkb0 lun 1 state live recovered yes ' /run/status.c ||
	fail "status after recovery: $(grep '^ublk' /run/status.c)"

# ------------------------------------------------------------- C. reconnect under a writer
reconnects() { ballastd ctl $CTL status | sed -n 's/^recovery reconnects \([0-9]*\) .*/\1/p'; }
reconnected() { [ "$(reconnects)" -ge "$1" ]; }
reinstated() { [ "$(grep -c 'session reinstated' /run/b.c.log)" -ge "$1" ]; }
replayed() { ballastd ctl $CTL status | sed -n 's/^recovery .* replayed \([0-9]*\) .*/\1/p'; }
mount -t ext4 /dev/ublkb0 /mnt || fail "mount for the reconnect"
mkdir -p /mnt/rc
dd if=/dev/urandom of=/run/c.src bs=128K count=32 2>/dev/null
: >/run/c.acked
: >/run/c.failed
rm -f /run/c.stop
(
	i=0
	while [ ! -e /run/c.stop ] && [ $i -lt 400 ]; do # (at most 50 MiB: the fs has 128)
		if dd if=/run/c.src of=/mnt/rc/f$i bs=128K skip=$((i % 32)) count=1 conv=fsync \
			2>/dev/null; then
			echo $i >>/run/c.acked
		else
			echo $i >>/run/c.failed
		fi
		i=$((i + 1))
	done
) &
CW=$!
R0=$(reconnects)
[ -n "$R0" ] || fail "no 'recovery reconnects' in the status"
L0=$(grep -c 'session reinstated' /run/b.c.log)
d=0
while :; do
	d=$((d + 1))
	a=$(wc -l </run/c.acked)
	until_up 60 lines_ge /run/c.acked $((a + 8)) ||
		fail "step 'writer before drop $d' hung: $(wc -l </run/c.acked) files after 60s"
	t=$(up)
	echo "KT-DROP $d" # the host: ballast-targetd ctl SOCK drop
	until_up 30 reconnected $((R0 + d)) ||
		fail "step 'relogin after drop $d' hung: reconnects $(reconnects) after 30s"
	T "relogin-$d" "$t"
	until_up 10 reinstated $((L0 + d)) || fail "no 'session reinstated' log line for drop $d"
	say "C: drop $d: $(grep 'connection to .* lost\|session reinstated' /run/b.c.log |
		tail -n 2 | tr '\n' ' ')"
	a=$(wc -l </run/c.acked)
	until_up 60 lines_ge /run/c.acked $((a + 4)) ||
		fail "step 'writer after relogin $d' hung: $(wc -l </run/c.acked) files after 60s"
	[ ! -s /run/c.failed ] ||
		fail "writer saw errors after drop $d: files $(tr '\n' ' ' </run/c.failed)"
	# at least two drops, and one with commands in flight (held, then replayed)
	[ $d -ge 2 ] && [ "$(replayed)" -gt 0 ] && break
	[ $d -lt 6 ] || fail "6 drops and no command was in flight at any of them (replayed 0)"
done
: >/run/c.stop
bwait $CW 60 || fail "step 'writer stops' hung"
[ ! -s /run/c.failed ] || fail "writer saw errors: files $(tr '\n' ' ' </run/c.failed)"
! dmesg | grep -iE 'ublkb0.*error|I/O error|EXT4-fs error' || fail "I/O errors in dmesg"
ballastd ctl $CTL status >/run/status.d || fail "ctl status"
grep -E '^(ublk|recovery)' /run/status.d
grep -q '^ublk /dev/ublkb0 lun 1 state live .* errors 0 ' /run/status.d ||
	fail "ublk status after the drops: $(grep '^ublk' /run/status.d)"
grep -q ' replacement_expiries 0 ' /run/status.d || fail "replacement_timeout expired"
NC=$(wc -l </run/c.acked)
verify_rc() {
	local i a b bad=0
	sync
	umount /mnt || return 1
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 /dev/ublkb0 /mnt || return 1
	for i in $(cat /run/c.acked); do
		a=$(dd if=/run/c.src bs=128K skip=$((i % 32)) count=1 2>/dev/null | sha256sum)
		b=$(sha256sum </mnt/rc/f$i)
		[ "$a" = "$b" ] || { say "file f$i differs"; bad=$((bad + 1)); }
	done
	umount /mnt || return 1
	[ $bad = 0 ] || { say "$bad files differ"; return 1; }
	fsck_clean /dev/ublkb0
}
step "verify the writer's files" 120 verify_rc
say "C: $NC files written across $d connection drops, no error, all verify;" \
	"$(grep '^recovery' /run/status.d | cut -d' ' -f1-3,12-13,18-21)"
t=$(up)
stop_b c
T stop-c "$t"
tail -n 3 /run/b.c.log
say "BALLASTD-UBLK OK"
EOT

# shellcheck disable=SC2086
kt_run --timeout 420 --mem 1024 --fwd "$port:$port" --bin "$ballastd:/usr/local/sbin/ballastd" \
	--bin "$TRIPWIRE:/usr/local/lib/libtripwire.so" $EXTRA \
	--file "$KO:/lib/modules/extra/ublk_drv.ko" \
	--env ISCSI_PORT="$port" --env IQN="$iqn" --env BALLASTD_ARGS="${BALLASTD_ARGS:-}" \
	"$KT_TMP/guest.sh" >"$KT_TMP/console.txt" 2>&1 &
vm=$!
# Part C: each "KT-DROP N" line of the guest is answered with one "ctl drop" on the target. The
# console is read where qemu writes it (run.sh's copy on stdout goes through a buffered pipe).
drops=0 con=""
tail -n +1 -s 0.2 -f --pid=$vm "$KT_TMP/console.txt" &
while kill -0 $vm 2>/dev/null; do
	if [ -z "$con" ]; then
		for r in $(pgrep -f "run.sh .*$KT_TMP/guest.sh"); do
			for q in $(pgrep -P "$r" qemu-system); do
				con=$(tr '\0' '\n' <"/proc/$q/cmdline" | sed -n 's/^file,id=con,path=//p')
			done
		done
	fi
	n=0
	[ -n "$con" ] && n=$(grep -a -c 'KT-DROP [0-9]' "$con" 2>/dev/null)
	while [ "$drops" -lt "$n" ]; do
		drops=$((drops + 1))
		kt_log "KT-DROP $drops: $("$targetd" ctl "$KT_TMP/tctl.sock" drop 2>&1 | tr '\n' ' ')"
	done
	sleep 0.2
done
wait $vm
rc=$?
sleep 0.5
[ $rc -eq 0 ] || { kt_log "--- ballast-targetd log"; tail -n 40 "$KT_TMP/targetd.log" | sed 's/^/  /' >&2; }
exit $rc
