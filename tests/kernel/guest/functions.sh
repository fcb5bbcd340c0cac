# Helpers for guest scripts (busybox ash): . /etc/kvm-functions.sh
# Installed into the base initramfs by build.sh.

# Seconds since boot, and a timestamped log line.
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "[guest $(up)] $*"; }
fail() { say "FAIL: $*"; exit 1; }

# wait_for PATH [SECONDS]: wait until PATH exists (default 10 s).
wait_for() {
	local i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ $i -gt $((${2:-10} * 10)) ] && return 1
		sleep 0.1
	done
}

# mods MOD...: load modules, failing loudly.
mods() {
	local m
	for m in "$@"; do
		modprobe "$m" || { say "modprobe $m failed"; return 1; }
	done
}

# ext4 wants the "crc32c" shash; make sure one is loaded.
fs_mods() { mods ext4 crc32c_generic; }

# fs_roundtrip DEV MNT MB: mkfs.ext4, mount, write MB MiB of random data,
# sync, umount, drop caches, remount, compare sha256, umount, e2fsck -fn.
fs_roundtrip() {
	local dev=$1 mnt=$2 mb=$3 a b
	fs_mods || return 1
	say "mkfs.ext4 $dev"
	mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$dev" || return 1
	mkdir -p "$mnt"
	mount -t ext4 "$dev" "$mnt" || return 1
	say "write $mb MiB"
	dd if=/dev/urandom of="$mnt/data.bin" bs=1M count="$mb" 2>/dev/null || return 1
	a=$(sha256sum "$mnt/data.bin" | cut -d' ' -f1)
	sync
	umount "$mnt" || return 1
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$dev" "$mnt" || return 1
	b=$(sha256sum "$mnt/data.bin" | cut -d' ' -f1)
	umount "$mnt" || return 1
	say "sha256 written $a read $b"
	[ "$a" = "$b" ] || { say "sha256 mismatch"; return 1; }
	fsck_clean "$dev"
}

# tree_roundtrip DEV MNT: mkfs.ext4, mount, write a tree of files (sizes 0
# to 1 MiB, nested directories), record sha256 of each, umount, drop caches,
# remount, verify every file, umount, e2fsck -fn.
tree_roundtrip() {
	local dev=$1 mnt=$2 d f n
	fs_mods || return 1
	say "mkfs.ext4 $dev"
	mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$dev" || return 1
	mkdir -p "$mnt"
	mount -t ext4 "$dev" "$mnt" || return 1
	n=0
	for d in a a/b a/b/c d e/f; do
		mkdir -p "$mnt/$d"
		for f in 0 1 7 64 1024; do
			dd if=/dev/urandom of="$mnt/$d/f$f" bs=1K count=$f 2>/dev/null || return 1
			n=$((n + 1))
		done
	done
	(cd "$mnt" && find . -type f | sort | xargs sha256sum) >/tmp/tree.sha || return 1
	say "wrote $n files in $(find "$mnt" -type d | wc -l) directories"
	sync
	umount "$mnt" || return 1
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$dev" "$mnt" || return 1
	(cd "$mnt" && sha256sum -c -s /tmp/tree.sha) || { say "tree verify failed"; umount "$mnt"; return 1; }
	say "tree verified"
	umount "$mnt" || return 1
	fsck_clean "$dev"
}

# tree_verify DEV MNT: mount DEV and check the tree tree_roundtrip wrote
# (/tmp/tree.sha) is still there, byte for byte; umount; e2fsck -fn.
tree_verify() {
	local dev=$1 mnt=$2
	fs_mods || return 1
	mkdir -p "$mnt"
	mount -t ext4 "$dev" "$mnt" || return 1
	(cd "$mnt" && sha256sum -c -s /tmp/tree.sha) || { say "tree verify failed"; umount "$mnt"; return 1; }
	say "tree verified ($(wc -l </tmp/tree.sha) files)"
	umount "$mnt" || return 1
	fsck_clean "$dev"
}

# fsck_clean DEV: e2fsck -fn finds nothing.
fsck_clean() {
	e2fsck -fn "$1" >/tmp/fsck.log 2>&1 || { say "e2fsck found problems:"; cat /tmp/fsck.log; return 1; }
	say "e2fsck clean"
}

# iscsi_start: load the initiator modules and start iscsid in the background.
iscsi_start() {
	mods iscsi_tcp sd_mod || return 1
	iscsid -f >/tmp/iscsid.log 2>&1 &
	ISCSID_PID=$!
	local i=0
	# Ready once it listens on its abstract unix socket (iscsiadm -m session
	# proves nothing: it reads sysfs).
	while ! grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 $ISCSID_PID 2>/dev/null; then
			say "iscsid did not start"
			cat /tmp/iscsid.log
			return 1
		fi
		sleep 0.1
	done
}

# iscsi_disk IQN [SECONDS]: print /dev/sdX of the first LUN of the session
# logged in to IQN, once the disk exists.
iscsi_disk() {
	local s b i=0
	while [ $i -lt $((${2:-10} * 10)) ]; do
		for s in /sys/class/iscsi_session/session*; do
			[ "$(cat "$s/targetname" 2>/dev/null)" = "$1" ] || continue
			for b in "$s"/device/target*/*/block/*; do
				[ -e "$b" ] && [ -e "/dev/${b##*/}" ] && { echo "/dev/${b##*/}"; return 0; }
			done
		done
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# ---- bounded steps (tests whose steps may hang in D state: ublk, swap) ----------------------
# T NAME START: prints "TIMING NAME SECONDS" since START (an $(up) value).
T() { echo "TIMING $1 $(awk -v a="$2" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }')"; }

# Tasks in D state with their kernel stacks: what a hung step waits for.
dstate() {
	local p st
	for p in /proc/[0-9]*; do
		st=$(awk '/^State:/ { print $2 }' "$p/status" 2>/dev/null)
		[ "$st" = D ] || continue
		echo "D-state: pid ${p#/proc/} $(cat "$p/comm" 2>/dev/null)"
		sed 's/^/    /' "$p/stack" 2>/dev/null
	done
}

# fail_poweroff MSG LOG...: the fail of tests that may leave a file system on a device whose
# server is gone: prints MSG, the tail of each LOG, the D-state tasks, reports the status and
# powers the guest off here (/guest/init ends with sync, which would never return).
fail_poweroff() {
	local f
	say "FAIL: $1"
	shift
	for f in "$@"; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
	done
	dstate
	echo "GUEST-EXIT 1 uptime=$(up)"
	echo o >/proc/sysrq-trigger
	sleep 10
	exit 1
}

# bwait PID SECS: 0 once PID has ended (its status in BW_RC), 1 while it still runs after SECS.
# (timeout(1) cannot bound these steps: it signals, and a task in D state ignores signals.)
BW_RC=0
bwait() {
	local n=$(($2 * 10))
	while kill -0 "$1" 2>/dev/null; do
		[ $n -gt 0 ] || return 1
		n=$((n - 1))
		sleep 0.1
	done
	wait "$1"
	BW_RC=$?
	return 0
}

# step NAME SECS CMD...: runs CMD (a command, or a function that returns non-zero on failure
# and never calls fail) and fails naming the step when CMD fails or is still running after SECS.
step() {
	local name=$1 secs=$2 pid
	shift 2
	"$@" &
	pid=$!
	bwait $pid "$secs" || fail "step '$name' hung: still running after ${secs}s"
	[ "$BW_RC" = 0 ] || fail "step '$name' failed (exit $BW_RC)"
}

# within SECS CMD...: polls until CMD succeeds; 1 after SECS seconds.
within() {
	local n=$(($1 * 20))
	shift
	until "$@"; do
		[ $n -gt 0 ] || return 1
		n=$((n - 1))
		sleep 0.05
	done
}
lines_ge() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# fio_verify_discard DEV SECS RW_OFF RW_SIZE TW_OFF TW_SIZE Z_OFF Z_SIZE (sizes as fio takes
# them, e.g. 128M): five fio jobs straight on DEV, bounded by SECS: random writes verified by
# crc32c, trim+write verified, a range filled with 0xa5, discarded and read back as zeros.
# fio 3.33 exits 0 even when a job dies on an assertion: every job is checked. Calls fail.
fio_verify_discard() {
	local t
	cat >/run/verify.fio <<EOJ
[global]
filename=$1
ioengine=psync
direct=1
verify_fatal=1
[randwrite-verify]
rw=randwrite
bsrange=4k-256k
offset=$3
size=$4
verify=crc32c
do_verify=1
[trimwrite-verify]
stonewall
rw=trimwrite
bs=64k
offset=$5
size=$6
verify=crc32c
do_verify=1
[fill]
stonewall
rw=write
bs=1M
offset=$7
size=$8
verify=pattern
verify_pattern=0xa5
do_verify=1
[discard]
stonewall
rw=trim
bs=1M
offset=$7
size=$8
[zero-check]
stonewall
rw=read
bs=1M
offset=$7
size=$8
verify=pattern
verify_pattern=0x00
EOJ
	t=$(up)
	fio --output=/run/fio.log /run/verify.fio >/run/fio.err 2>&1 &
	bwait $! "$2" || fail "step 'fio' hung: still running after ${2}s"
	[ "$BW_RC" = 0 ] || { cat /run/fio.log /run/fio.err; fail "fio"; }
	T fio-verify-discard "$t"
	grep -E 'err=|issued|IOPS' /run/fio.log | sed 's/^/  fio: /'
	! grep -qE 'got signal|Assertion|err= *[1-9]' /run/fio.log /run/fio.err ||
		{ cat /run/fio.log /run/fio.err; fail "fio job failed"; }
	[ "$(grep -c 'err= 0' /run/fio.log)" = 5 ] || { cat /run/fio.log; fail "fio: not 5 clean jobs"; }
}

# ---- ublk and network block devices served by a daemon in the guest -------------------------
# ublk_load: insmod the out-of-tree ublk_drv.ko the host passed with
# --file KO:/lib/modules/extra/ublk_drv.ko (ublk-build-module.sh); waits for /dev/ublk-control.
ublk_load() {
	insmod /lib/modules/extra/ublk_drv.ko || { say "insmod ublk_drv.ko failed"; return 1; }
	wait_for /dev/ublk-control 5 || { say "no /dev/ublk-control after insmod"; return 1; }
}

# bdev_wait DEV PID SECS LOG: wait until /sys/block/DEV has a non-zero size and /dev/DEV exists,
# while PID (the daemon serving it) runs; 1 (after printing LOG) when PID exits or SECS pass.
bdev_wait() {
	local i=0
	until [ -e "/dev/$1" ] && [ "$(cat "/sys/block/$1/size" 2>/dev/null || echo 0)" != 0 ] &&
		{ [ "${1#nbd}" = "$1" ] || [ -e "/sys/block/$1/pid" ]; }; do
		kill -0 "$2" 2>/dev/null || { cat "$4"; say "the server of $1 exited"; return 1; }
		[ $i -lt $(($3 * 10)) ] || { cat "$4"; say "$1 not served after $3 s"; return 1; }
		sleep 0.1
		i=$((i + 1))
	done
}

# until_up SECS CMD...: polls CMD every 0.2 s until it succeeds; 1 once SECS seconds have passed
# on the clock (within counts polls, which runs long when CMD itself is slow under TCG).
until_up() {
	local end
	end=$(awk -v a="$(up)" -v s="$1" 'BEGIN { printf "%.2f", a + s }')
	shift
	until "$@"; do
		awk -v a="$(up)" -v e="$end" 'BEGIN { exit !(a >= e) }' && return 1
		sleep 0.2
	done
}

# acked_writer DEV BASE N: in the background (pid in WRITER), writes 4 KiB block i of /run/src
# to block BASE + i of DEV for i = 0 .. N-1, each O_DIRECT and fsync'd, and lists i in
# /run/acked once the write was acknowledged, in /run/failed when it failed.
acked_writer() {
	: >/run/acked
	: >/run/failed
	(
		i=0
		while [ $i -lt "$3" ]; do
			if dd if=/run/src of="$1" bs=4096 skip=$i seek=$(($2 + i)) count=1 \
				oflag=direct conv=notrunc,fsync 2>/dev/null; then
				echo $i >>/run/acked
			else
				echo $i >>/run/failed
			fi
			i=$((i + 1))
		done
	) &
	WRITER=$!
}

# verify_acked DEV BASE: every block listed in /run/acked reads back from DEV as acked_writer
# wrote it; 1 (naming the lost blocks) otherwise.
verify_acked() {
	local i a b bad=0
	for i in $(cat /run/acked); do
		a=$(dd if=/run/src bs=4096 skip=$i count=1 2>/dev/null | sha256sum)
		b=$(dd if="$1" bs=4096 skip=$(($2 + i)) count=1 iflag=direct 2>/dev/null | sha256sum)
		[ "$a" = "$b" ] || { say "block $i lost"; bad=$((bad + 1)); }
	done
	[ $bad = 0 ] || { say "$bad acknowledged writes lost"; return 1; }
}

# ballastd_attach ARGS...: starts `ballastd -f --nbd kernel ARGS` (log /tmp/ballastd.log) and
# waits up to 30 s until it connected an nbd device; sets DEV and BPID. Calls fail.
ballastd_attach() {
	local i=0 s
	ballastd -f --nbd kernel "$@" >>/tmp/ballastd.log 2>&1 &
	BPID=$!
	DEV=""
	while [ -z "$DEV" ]; do
		for s in /sys/block/nbd*; do
			[ -e "$s/pid" ] && [ "$(cat "$s/size")" != 0 ] && DEV=/dev/${s##*/}
		done
		[ -n "$DEV" ] && break
		kill -0 $BPID 2>/dev/null || { cat /tmp/ballastd.log; fail "ballastd exited"; }
		[ $i -lt 300 ] || { cat /tmp/ballastd.log; fail "no nbd device connected after 30 s"; }
		sleep 0.1
		i=$((i + 1))
	done
	say "ballastd (pid $BPID) attached $DEV: $(blockdev --getsize64 "$DEV") bytes"
}

# ballastd_detach: SIGTERM ballastd (BPID); it must exit 0 and DEV must disconnect.
ballastd_detach() {
	local i=0 rc
	kill -TERM $BPID
	wait $BPID
	rc=$?
	[ $rc = 0 ] || { cat /tmp/ballastd.log; fail "ballastd exited $rc on SIGTERM"; }
	while [ -e "/sys/block/${DEV#/dev/}/pid" ]; do
		[ $i -lt 100 ] || fail "$DEV still connected after ballastd exited"
		sleep 0.1
		i=$((i + 1))
	done
	say "detached $DEV"
}
