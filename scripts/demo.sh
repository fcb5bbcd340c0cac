#!/bin/sh
# Ballast demo on a fresh Debian 12 machine, as root:
#   installs deps, builds, starts ballast-targetd on an embedded 256 MiB memory LUN
#   (127.0.0.1, ephemeral port), starts ballastd logged into it with the LUN exported as an
#   NBD unix socket, mounts the disk (nbdfuse + losetup + mkfs.ext4 + mount: this kernel may have
#   no nbd module), writes and verifies a file across a remount with caches dropped, and prints
#   the session. Everything is torn down at the end; DEMO_KEEP=1 leaves it running.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
"$here/scripts/deps.sh"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$here/configure" -q
make -s -j"$(nproc 2>/dev/null || echo 2)" ballast-targetd ballastd

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (losetup, mount)"

IQN=iqn.2026-11.org.ballast:demo
INIT=iqn.2026-11.org.ballast:demo-initiator
W=$(mktemp -d /tmp/ballast-demo.XXXXXX)
mkdir -p "$W/fuse" "$W/mnt"
TPID= IPID= FPID= LOOP=
cleanup() {
	set +e
	[ "${DEMO_KEEP:-0}" = 1 ] && { echo "demo: left running in $W (DEMO_KEEP=1)"; return; }
	mountpoint -q "$W/mnt" && umount "$W/mnt"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	mountpoint -q "$W/fuse" && fusermount3 -u "$W/fuse"
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null
	[ -n "$IPID" ] && kill "$IPID" 2>/dev/null && wait "$IPID" 2>/dev/null
	[ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Wait for a daemon's --ready-fd line in FILE (the daemon closes the fd when ready).
wait_ready() {
	n=0
	while [ ! -s "$1" ]; do
		n=$((n + 1))
		[ $n -le 200 ] || die "$2 did not become ready; its log: $(tail -n 5 "$3")"
		kill -0 "$4" 2>/dev/null || die "$2 exited; its log: $(tail -n 5 "$3")"
		sleep 0.1
	done
}

say "starting ballast-targetd: $IQN, LUN 1 = 256 MiB in memory"
./ballast-targetd -f --portal 127.0.0.1:0 --target "$IQN" --lun 1:mem:256M \
	--control "$W/target.ctl" --ready-fd 3 3>"$W/target.ready" >"$W/target.log" 2>&1 &
TPID=$!
wait_ready "$W/target.ready" ballast-targetd "$W/target.log" "$TPID"
PORTAL=$(head -n 1 "$W/target.ready")
echo "target listening on $PORTAL"

say "starting ballastd: login to $IQN at $PORTAL, LUN 1 as NBD on $W/lun1.sock"
./ballastd -f --portal "$PORTAL" --target "$IQN" --lun 1 --initiator-name "$INIT" \
	--nbd "unix:$W/lun1.sock" --control "$W/ballastd.ctl" \
	--ready-fd 3 3>"$W/ballastd.ready" >"$W/ballastd.log" 2>&1 &
IPID=$!
wait_ready "$W/ballastd.ready" ballastd "$W/ballastd.log" "$IPID"
cat "$W/ballastd.ready"

say "mounting the disk: nbdfuse + losetup + mkfs.ext4 + mount"
nbdfuse "$W/fuse" --unix "$W/lun1.sock" >"$W/nbdfuse.log" 2>&1 &
FPID=$!
n=0
until [ -e "$W/fuse/nbd" ]; do
	n=$((n + 1)); [ $n -le 100 ] || die "nbdfuse did not come up: $(cat "$W/nbdfuse.log")"
	sleep 0.1
done
LOOP=$(losetup -f --show "$W/fuse/nbd")
mkfs.ext4 -q -L ballast-demo "$LOOP"
mount "$LOOP" "$W/mnt"
df -h "$W/mnt" | tail -n 1

say "writing 64 MiB of random data and verifying it across a remount"
head -c 64M /dev/urandom >"$W/mnt/demo.bin"
sync
want=$(sha256sum <"$W/mnt/demo.bin" | cut -d' ' -f1)
umount "$W/mnt"
echo 3 >/proc/sys/vm/drop_caches
mount "$LOOP" "$W/mnt"
got=$(sha256sum <"$W/mnt/demo.bin" | cut -d' ' -f1)
echo "written  $want"
echo "read     $got"
[ "$want" = "$got" ] || die "checksum mismatch"
echo "verified: the file read back intact through ballastd"

say "session (ballastd ctl status)"
./ballastd ctl "$W/ballastd.ctl" status
say "target (ballast-targetd ctl status)"
./ballast-targetd ctl "$W/target.ctl" status
say "demo complete"
