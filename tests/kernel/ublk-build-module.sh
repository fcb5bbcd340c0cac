#!/usr/bin/env bash
# Build ublk_drv.ko for the kernel tier's guest. Debian's 6.1 kernels are built with
# "# CONFIG_BLK_DEV_UBLK is not set", but the driver builds out of tree from Debian's
# linux-source-6.1 against the matching linux-headers package in a few seconds (recipe:
# ../shared/vm-harness/NOTES.md, "ublk in the guest"). Run tests/kernel/build.sh first: the
# guest's kernel version is read from its cache.
#
# usage: ublk-build-module.sh [--kver KVER] [--quiet]
# Prints the path of the cached module on stdout:
#   $cache/ublk/<kver>/ublk_drv.ko   ($cache as in lib.sh: /var/cache/ballast-vm for root)
# Exit status: 0 built or up to date, 77 headers or sources cannot be had, 99 error.
set -euo pipefail
KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$KDIR/lib.sh"

KVER="" QUIET=0
while [ $# -gt 0 ]; do
	case $1 in
	--kver) KVER=$2; shift 2 ;;
	--quiet) QUIET=1; shift ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) kvm_die "unknown option $1" ;;
	esac
done
say() { [ "$QUIET" = 1 ] || kvm_log "$@"; }

CACHE=$(kvm_cache)
[ -n "$KVER" ] || KVER=$(cat "$CACHE/out/kver" 2>/dev/null || true)
[ -n "$KVER" ] || KVM_DIE_RC=77 kvm_die "no guest kernel version: run tests/kernel/build.sh first"
OUTDIR=$CACHE/ublk/$KVER
KO=$OUTDIR/ublk_drv.ko
T0=$(date +%s.%N)
mkdir -p "$OUTDIR"
exec 7>"$CACHE/ublk.lock"
flock -w 600 7 || kvm_die "timed out waiting for $CACHE/ublk.lock"

if [ -f "$KO" ] && [ -f "$OUTDIR/.done" ]; then
	say "ublk_drv.ko for $KVER up to date"
	echo "$KO"
	exit 0
fi

# Headers matching the guest kernel (the module's vermagic must match it).
HDR=/usr/src/linux-headers-$KVER
if [ ! -f "$HDR/Makefile" ]; then
	[ "$(id -u)" = 0 ] || KVM_DIE_RC=77 kvm_die "$HDR missing (apt-get install linux-headers-$KVER)"
	say "apt-get install linux-headers-$KVER"
	apt-get install -y -q "linux-headers-$KVER" >"$OUTDIR/apt.log" 2>&1 || {
		apt-get update -qq >/dev/null 2>&1 || true
		apt-get install -y -q "linux-headers-$KVER" >"$OUTDIR/apt.log" 2>&1 ||
			{ cat "$OUTDIR/apt.log" >&2; KVM_DIE_RC=77 kvm_die "cannot install linux-headers-$KVER"; }
	}
fi
command -v make >/dev/null && command -v gcc >/dev/null || KVM_DIE_RC=77 kvm_die "make/gcc missing"

# The driver source, from linux-source-6.1 (139 MB .deb; only one file is kept).
SRC=$CACHE/ublk/src
if [ ! -f "$SRC/ublk_drv.c" ]; then
	mkdir -p "$CACHE/debs" "$SRC"
	if ! ls "$CACHE"/debs/linux-source-6.1_*.deb >/dev/null 2>&1; then
		say "apt-get download linux-source-6.1"
		(cd "$CACHE/debs" && apt-get download -q linux-source-6.1 >"$SRC/apt.log" 2>&1) || {
			cat "$SRC/apt.log" >&2
			KVM_DIE_RC=77 kvm_die "cannot download linux-source-6.1"
		}
	fi
	DEB=$(ls -1 "$CACHE"/debs/linux-source-6.1_*.deb | sort -V | tail -n1)
	say "extracting drivers/block/ublk_drv.c from $(basename "$DEB")"
	dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/src/linux-source-6.1.tar.xz | xz -dc |
		tar -x -C "$SRC" --strip-components=3 linux-source-6.1/drivers/block/ublk_drv.c
	[ -f "$SRC/ublk_drv.c" ] || kvm_die "ublk_drv.c not found in $DEB"
	basename "$DEB" >"$SRC/origin"
fi

BUILD=$OUTDIR/build
rm -rf "$BUILD"
mkdir -p "$BUILD"
cp "$SRC/ublk_drv.c" "$BUILD/"
echo 'obj-m += ublk_drv.o' >"$BUILD/Kbuild"
say "building ublk_drv.ko against $HDR"
make -s -C "$HDR" M="$BUILD" modules >"$OUTDIR/build.log" 2>&1 ||
	{ cat "$OUTDIR/build.log" >&2; kvm_die "module build failed"; }
cp "$BUILD/ublk_drv.ko" "$KO.tmp"
mv "$KO.tmp" "$KO"
rm -rf "$BUILD"
echo "$(cat "$SRC/origin") $KVER" >"$OUTDIR/.done"
say "ublk_drv.ko built in $(kvm_since "$T0")s"
echo "$KO"
