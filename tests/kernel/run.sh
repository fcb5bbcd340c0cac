#!/usr/bin/env bash
# Boot the kernel-tier guest (qemu TCG, Debian 6.1 kernel, busybox initramfs
# from build.sh) and run GUEST_SCRIPT in it as root. The console streams to
# stdout; "[kvm ...]" lines on stderr are ours. Exit status: the guest
# script's; 124 the run timed out (after sysrq dumps); 125 the guest died
# without reporting (panic, crash); 77 qemu or the image is missing.
#
# usage: run.sh [options] GUEST_SCRIPT
#   --timeout S           wall-clock bound of the VM (default 120)
#   --mem MB              guest RAM (default 512)
#   --smp N               guest CPUs (default 1)
#   --fwd GPORT:HPORT     guest connects to 10.0.2.100:GPORT -> host 127.0.0.1:HPORT
#   --hostfwd HPORT:GPORT host 127.0.0.1:HPORT -> guest 10.0.2.15:GPORT
#   --bin SRC[:DEST]      add an ELF binary and its libraries (default DEST
#                         /usr/local/bin/NAME)
#   --file SRC:DEST       add a plain file (not under /tmp: a tmpfs is mounted there)
#   --env NAME=VALUE      export to the guest script
#   --nic virtio|e1000    guest NIC (default virtio)
#   --append ARGS         extra kernel command line
#   --hung S              guest hung_task_timeout_secs (default 30)
#   --relay PATH          vmrelay binary (default $BALLAST_VMRELAY, else built
#                         into the cache with cc)
#   --log FILE            keep a copy of the console log
#   --keep                keep the per-run directory
# Networking is qemu user mode with restrict=on: the guest reaches nothing but
# the explicit forwards, each ending on host loopback. Only one VM runs at a
# time ($cache/run.lock); waiting for the lock does not count against --timeout.
set -euo pipefail
KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$KDIR/lib.sh"

TIMEOUT=120 MEM=512 SMP=1 NIC=virtio APPEND="" HUNG=30 LOGCOPY="" KEEP=0 SCRIPT=""
RELAY=${BALLAST_VMRELAY:-}
FWDS=() HOSTFWDS=() BINS=() FILES=() ENVS=()
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--smp) SMP=$2; shift 2 ;;
	--fwd) FWDS+=("$2"); shift 2 ;;
	--hostfwd) HOSTFWDS+=("$2"); shift 2 ;;
	--bin) BINS+=("$2"); shift 2 ;;
	--file) FILES+=("$2"); shift 2 ;;
	--env) ENVS+=("$2"); shift 2 ;;
	--nic) NIC=$2; shift 2 ;;
	--append) APPEND="$APPEND $2"; shift 2 ;;
	--hung) HUNG=$2; shift 2 ;;
	--relay) RELAY=$2; shift 2 ;;
	--log) LOGCOPY=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,29p' "$0"; exit 0 ;;
	-*) kvm_die "unknown option $1" ;;
	*) [ -z "$SCRIPT" ] || kvm_die "only one GUEST_SCRIPT"; SCRIPT=$1; shift ;;
	esac
done
[ -n "$SCRIPT" ] || kvm_die "usage: run.sh [options] GUEST_SCRIPT (see --help)"
[ -f "$SCRIPT" ] || kvm_die "no such guest script: $SCRIPT"
[[ $TIMEOUT =~ ^[0-9]+$ && $MEM =~ ^[0-9]+$ && $SMP =~ ^[0-9]+$ ]] || kvm_die "bad --timeout/--mem/--smp"

command -v qemu-system-x86_64 >/dev/null ||
	KVM_DIE_RC=77 kvm_die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
CACHE=$(kvm_cache)
OUT=$CACHE/out
[ -f "$OUT/initrd.cpio" ] && [ -f "$OUT/kernel" ] ||
	KVM_DIE_RC=77 kvm_die "no guest image in $OUT: run tests/kernel/build.sh"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/kvm-run.XXXXXX")
LOG=$RUN/console.log
QPID="" TPID="" MPID=""
cleanup() {
	local p
	for p in $QPID $MPID $TPID; do kill "$p" 2>/dev/null || true; done
	if [ -n "$LOGCOPY" ] && [ -f "$LOG" ]; then tr -d '\r' <"$LOG" >"$LOGCOPY" || true; fi
	if [ "$KEEP" = 1 ]; then kvm_log "run directory kept: $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------- per-run overlay
# A second cpio archive appended to the cached base image: the kernel
# unpacks both, later files win.
OV=$RUN/overlay
mkdir -p "$OV/guest"
cp "$SCRIPT" "$OV/guest/script.sh"
: >"$OV/guest/env"
for e in "${ENVS[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || kvm_die "bad --env $e"
	printf "%s='%s'\n" "${e%%=*}" "$(printf '%s' "${e#*=}" | sed "s/'/'\\\\''/g")" >>"$OV/guest/env"
done
export KVM_BASE_LIST=$OUT/base.list
for spec in "${BINS[@]}"; do
	src=${spec%%:*} dest=${spec#*:}
	[ "$dest" = "$spec" ] && dest=/usr/local/bin/${src##*/}
	kvm_copy_elf "$OV" "$src" "$dest"
done
for spec in "${FILES[@]}"; do
	src=${spec%%:*} dest=${spec#*:}
	[ "$dest" != "$spec" ] || kvm_die "--file needs SRC:DEST"
	dest=$(kvm_guest_path "$dest")
	mkdir -p "$OV$(dirname "$dest")"
	cp -L "$src" "$OV$dest"
done
kvm_pack "$OV" "$RUN/overlay.cpio"
cat "$OUT/initrd.cpio" "$RUN/overlay.cpio" >"$RUN/initrd.cpio"

# ----------------------------------------------------------- networking
NET=0
QNET=()
if [ ${#FWDS[@]} -gt 0 ] || [ ${#HOSTFWDS[@]} -gt 0 ]; then
	NET=1
	if [ ${#FWDS[@]} -gt 0 ] && [ -z "$RELAY" ]; then
		RELAY=$OUT/vmrelay
		if [ ! -x "$RELAY" ] || [ "$KDIR/vmrelay.c" -nt "$RELAY" ]; then
			${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -o "$RELAY.tmp" "$KDIR/vmrelay.c" ||
				kvm_die "cannot build vmrelay"
			mv "$RELAY.tmp" "$RELAY"
		fi
	fi
	if [ -n "$RELAY" ]; then
		RELAY=$(cd "$(dirname "$RELAY")" && pwd)/${RELAY##*/}
		[ -x "$RELAY" ] || kvm_die "vmrelay $RELAY is not executable"
		# qemu splits options at commas; slirp runs the command through a shell.
		[[ $RELAY =~ ^[A-Za-z0-9/._+-]+$ ]] || kvm_die "vmrelay path $RELAY has odd characters"
	fi
	# restrict=on: no route out of the guest at all, except what follows.
	nd="user,id=n0,restrict=on,ipv6=off,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3"
	for f in "${FWDS[@]}"; do
		g=${f%%:*} h=${f#*:}
		[[ $f =~ ^[0-9]+:[0-9]+$ ]] || kvm_die "bad --fwd $f (GPORT:HPORT)"
		# One vmrelay per guest connection; it connects to 127.0.0.1:h only.
		nd+=",guestfwd=tcp:10.0.2.100:$g-cmd:$RELAY $h"
	done
	for f in "${HOSTFWDS[@]}"; do
		h=${f%%:*} g=${f#*:}
		[[ $f =~ ^[0-9]+:[0-9]+$ ]] || kvm_die "bad --hostfwd $f (HPORT:GPORT)"
		nd+=",hostfwd=tcp:127.0.0.1:$h-10.0.2.15:$g"
	done
	# shellcheck disable=SC2054 # commas belong to qemu's option syntax
	case $NIC in
	virtio) QNET=(-netdev "$nd" -device virtio-net-pci,netdev=n0) ;;
	e1000) QNET=(-netdev "$nd" -device e1000,netdev=n0) ;;
	*) kvm_die "--nic virtio|e1000" ;;
	esac
fi

# shellcheck disable=SC2054 # commas belong to qemu's option syntax
QARGS=(-accel tcg -cpu max -m "$MEM" -smp "$SMP"
	-nodefaults -no-user-config -display none -no-reboot
	-kernel "$OUT/kernel" -initrd "$RUN/initrd.cpio"
	-chardev "file,id=con,path=$LOG" -device isa-serial,chardev=con
	-chardev "pipe,id=mon,path=$RUN/mon" -mon chardev=mon,mode=readline
	"${QNET[@]}"
	-append "console=ttyS0 quiet panic=-1 ballast.net=$NET ballast.hung=$HUNG$APPEND")

# ------------------------------------------------------- one VM at a time
exec 9>"$CACHE/run.lock"
if ! flock -n 9; then
	kvm_log "another VM holds $CACHE/run.lock; waiting"
	flock -w 1800 9 || kvm_die "gave up waiting for $CACHE/run.lock"
fi

mkfifo "$RUN/mon.in" "$RUN/mon.out"
: >"$LOG"
T0=$(date +%s.%N)
# No child may inherit the lock (a lingering relay would hold it).
qemu-system-x86_64 "${QARGS[@]}" </dev/null >"$RUN/qemu.out" 2>&1 9>&- &
QPID=$!
# qemu blocks on monitor output nobody reads: drain it.
cat "$RUN/mon.out" >"$RUN/monitor.log" 2>/dev/null 9>&- &
MPID=$!
tail -n +1 -s 0.2 -F --pid="$QPID" "$LOG" 2>/dev/null 9>&- | tr -d '\r' &
TPID=$!

mon() { timeout 3 sh -c 'printf "%s\n" "$1" >"$2"' _ "$1" "$RUN/mon.in" || true; }
READY="" TIMED_OUT=0
while kill -0 "$QPID" 2>/dev/null; do
	if [ -z "$READY" ] && grep -q '^GUEST-READY' "$LOG"; then READY=$(kvm_since "$T0"); fi
	if awk -v t="$(kvm_since "$T0")" -v m="$TIMEOUT" 'BEGIN { exit !(t >= m) }'; then
		TIMED_OUT=1
		# Evidence before the kill: raise the console loglevel (with "quiet"
		# the w/t dumps would not reach the console), then CPU backtraces,
		# blocked tasks, memory, all tasks.
		kvm_log "timeout after ${TIMEOUT}s: sysrq 9 l w m t, then kill"
		mon "sendkey alt-sysrq-9"; sleep 1
		mon "sendkey alt-sysrq-l"; sleep 3
		mon "sendkey alt-sysrq-w"; sleep 3
		mon "sendkey alt-sysrq-m"; sleep 2
		mon "sendkey alt-sysrq-t"; sleep 8
		mon "quit"; sleep 2
		kill "$QPID" 2>/dev/null || true
		break
	fi
	sleep 0.2
done
wait "$QPID" 2>/dev/null || true
QPID=""
wait "$TPID" 2>/dev/null || true
TPID=""
exec 9>&-
WALL=$(kvm_since "$T0")
[ -s "$RUN/qemu.out" ] && kvm_log "qemu: $(head -c 2000 "$RUN/qemu.out")"
RC=$(tr -d '\r' <"$LOG" | sed -n 's/^GUEST-EXIT \([0-9][0-9]*\).*/\1/p' | tail -n1)
if [ "$TIMED_OUT" = 1 ]; then
	RC=124
elif [ -z "$RC" ]; then
	kvm_log "guest ended without GUEST-EXIT (panic or crash?)"
	RC=125
fi
kvm_log "result: exit=$RC ready=${READY:-never}s wall=${WALL}s mem=${MEM}M timeout=${TIMEOUT}s"
exit "$RC"
