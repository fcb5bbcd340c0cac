#!/usr/bin/env bash
# Build the kernel tier's guest: Debian's 6.1 kernel (vmlinuz + the modules the
# tests need, with their dependencies) and a base initramfs made of
# busybox-static, the peers' userspace (open-iscsi, nbd-client, e2fsprogs) and
# the shared libraries our daemons link. Our own binaries are not baked in:
# run.sh adds them per run in a small overlay archive, so rebuilding ballastd
# costs no image rebuild.
#
# usage: build.sh [--kernel-pkg NAME] [--module NAME]... [--force] [--quiet]
#   --kernel-pkg  kernel package (default: KERNEL_PKG, else the -unsigned
#                 twin of what linux-image-amd64 depends on, else the newest
#                 linux-image-6.1.0-N-amd64[-unsigned] apt knows)
#   --module      extra module (dependencies are added)
#   --force       rebuild the image even if its inputs did not change
# Everything goes to the cache ($BALLAST_VM_CACHE, default /var/cache/ballast-vm):
#   debs/ kernel/<deb>/ pkgroot/ stage/ out/{kernel,initrd.cpio,base.list,kver,manifest.txt,stamp}
# Exit status: 0 built or up to date, 77 the kernel package cannot be had, 99 error.
set -euo pipefail
KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$KDIR/lib.sh"

KERNEL_PKG=${KERNEL_PKG:-}
EXTRA_MODS=() FORCE=0 QUIET=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel-pkg) KERNEL_PKG=$2; shift 2 ;;
	--module) EXTRA_MODS+=("$2"); shift 2 ;;
	--force) FORCE=1; shift ;;
	--quiet) QUIET=1; shift ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) kvm_die "unknown option $1" ;;
	esac
done
say() { [ "$QUIET" = 1 ] || kvm_log "$@"; }

for t in busybox cpio gzip dpkg-deb depmod ldd flock; do
	command -v "$t" >/dev/null || kvm_die "$t not found (scripts/deps.sh installs it)"
done

CACHE=$(kvm_cache)
DEBS=$CACHE/debs OUT=$CACHE/out
mkdir -p "$DEBS" "$OUT"
T0=$(date +%s.%N)

# Several tests may call us at once (make -j check): one builder at a time.
exec 8>"$CACHE/build.lock"
flock -w 900 8 || kvm_die "timed out waiting for $CACHE/build.lock"

# ---------------------------------------------------------------- downloads
APT_UPDATED=0
apt_download() { # apt_download PKG: fetch PKG's .deb into debs/ (once)
	local pkg=$1
	ls "$DEBS/${pkg}_"*.deb >/dev/null 2>&1 && return 0
	say "apt-get download $pkg"
	if ! (cd "$DEBS" && apt-get download -q "$pkg" >"$DEBS/.apt.log" 2>&1); then
		if [ "$APT_UPDATED" = 0 ] && [ "$(id -u)" = 0 ]; then
			APT_UPDATED=1
			say "apt-get update (package lists may be stale)"
			apt-get update -qq >"$DEBS/.apt.log" 2>&1 || true
			(cd "$DEBS" && apt-get download -q "$pkg" >"$DEBS/.apt.log" 2>&1) && return 0
		fi
		return 1
	fi
}
cached_deb() { ls -1 "$DEBS/${1}_"*.deb 2>/dev/null | sort -V | tail -n1; }

pkg_known() { apt-cache show "$1" >/dev/null 2>&1; }

pick_kernel() {
	local dep cand
	# The image that matches linux-headers-amd64 (deps.sh), so that out-of-tree
	# modules built against those headers load in the guest.
	dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1)
	for cand in ${dep:+$dep-unsigned $dep}; do
		pkg_known "$cand" && { echo "$cand"; return 0; }
	done
	apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64(-unsigned)?$' 2>/dev/null |
		awk '{ print $1 }' | sort -V | tail -n1
}

if [ -z "$KERNEL_PKG" ]; then
	# Offline and fast when a kernel is cached already.
	KDEB=$(ls -1 "$DEBS"/linux-image-6.1.0-*-amd64*.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$KDEB" ]; then
		KERNEL_PKG=$(pick_kernel || true)
		if [ -z "$KERNEL_PKG" ] && [ "$(id -u)" = 0 ]; then
			say "apt-get update (no linux-image-6.1.0 package known)"
			apt-get update -qq >/dev/null 2>&1 || true
			APT_UPDATED=1
			KERNEL_PKG=$(pick_kernel || true)
		fi
		[ -n "$KERNEL_PKG" ] || KVM_DIE_RC=77 kvm_die "no linux-image-6.1.0-*-amd64 package available from apt"
	fi
fi
if [ -n "$KERNEL_PKG" ]; then
	apt_download "$KERNEL_PKG" || {
		cat "$DEBS/.apt.log" >&2
		KVM_DIE_RC=77 kvm_die "cannot download $KERNEL_PKG"
	}
	KDEB=$(cached_deb "$KERNEL_PKG")
fi

# Guest userspace from Debian packages (the host need not have them). If apt
# cannot deliver them, the host's installed copies are used instead.
USER_PKGS=(open-iscsi libopeniscsiusr libisns0 nbd-client libnl-3-200 libnl-genl-3-200)
PKGDEBS=() PKGSRC=debs
for p in "${USER_PKGS[@]}"; do
	if apt_download "$p"; then
		PKGDEBS+=("$(cached_deb "$p")")
	else
		say "note: cannot download $p; using the host's installed binaries"
		PKGSRC=host
	fi
done

# ------------------------------------------------------------ fingerprint
# The image depends on: the .debs, the host packages we copy from, this
# directory's guest files and this script. Same inputs: nothing to do.
HOST_PKGS="busybox-static e2fsprogs libc6 libext2fs2 libcom-err2 libss2 libblkid1 libuuid1
liburing2 libev4 libssl3 libzstd1 liblzma5 zlib1g"
STAMP=$(
	{
		basename "$KDEB"
		[ "$PKGSRC" = debs ] && for d in "${PKGDEBS[@]}"; do basename "$d"; done
		echo "userspace=$PKGSRC mods=${EXTRA_MODS[*]:-}"
		# shellcheck disable=SC2086
		dpkg-query -W -f='${Package}=${Version}\n' $HOST_PKGS 2>/dev/null || true
		cat "$KDIR/build.sh" "$KDIR/lib.sh" "$KDIR/guest/init" "$KDIR/guest/functions.sh"
	} | sha256sum | cut -c1-16
)
if [ "$FORCE" = 0 ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ] &&
	[ -f "$OUT/initrd.cpio" ] && [ -f "$OUT/kernel" ]; then
	say "guest image up to date ($(head -n2 "$OUT/manifest.txt" | tail -n1)); $(kvm_since "$T0")s"
	exit 0
fi

# --------------------------------------------------------- kernel extraction
KID=$(basename "$KDEB" .deb)
KROOT=$CACHE/kernel/$KID
if [ ! -f "$KROOT/.done" ]; then
	say "extracting $(basename "$KDEB")"
	rm -rf "$KROOT"
	mkdir -p "$KROOT"
	dpkg-deb -x "$KDEB" "$KROOT"
	# Debian 12 ships /lib/modules; later releases /usr/lib/modules.
	[ -d "$KROOT/lib/modules" ] || { [ -d "$KROOT/usr/lib/modules" ] && ln -s usr/lib "$KROOT/lib"; }
	touch "$KROOT/.done"
fi
KVER=$(ls -1 "$KROOT/lib/modules" | head -n1)
[ -n "$KVER" ] || kvm_die "no modules in $KDEB"
VMLINUZ=$(ls -1 "$KROOT/boot/vmlinuz-"* | head -n1)
MODROOT=$KROOT/lib/modules/$KVER
[ -f "$MODROOT/modules.dep" ] || depmod -b "$KROOT" "$KVER"
# Boot the uncompressed vmlinux through its PVH entry point when we can: the
# bzImage's xz decompression alone costs several seconds under TCG.
if [ ! -f "$KROOT/.vmlinux" ]; then
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -n1 | cut -d: -f1 || true)
	# (xz stops reading after the stream: ignore tail's SIGPIPE, check the ELF)
	[ -n "$off" ] && { tail -c +$((off + 1)) "$VMLINUZ" | xz -dc --single-stream >"$KROOT/vmlinux" 2>/dev/null || true; }
	if [ -s "$KROOT/vmlinux" ] &&
		readelf -n "$KROOT/vmlinux" 2>/dev/null | grep -qF 'note type: (0x00000012)'; then
		echo vmlinux >"$KROOT/.vmlinux"
	else
		rm -f "$KROOT/vmlinux"
		echo bzImage >"$KROOT/.vmlinux"
	fi
fi
if [ "$(cat "$KROOT/.vmlinux")" = vmlinux ]; then KIMAGE=$KROOT/vmlinux; else KIMAGE=$VMLINUZ; fi

# ----------------------------------------------------- userspace extraction
PKGROOT=$CACHE/pkgroot
if [ "$PKGSRC" = debs ]; then
	want="${PKGDEBS[*]}"
	if [ "$(cat "$PKGROOT/.done" 2>/dev/null)" != "$want" ]; then
		say "extracting userspace packages"
		rm -rf "$PKGROOT"
		mkdir -p "$PKGROOT"
		for d in "${PKGDEBS[@]}"; do dpkg-deb -x "$d" "$PKGROOT"; done
		printf '%s' "$want" >"$PKGROOT/.done"
	fi
	export KVM_PKGROOT=$PKGROOT
	LIBPATH=$PKGROOT/usr/lib/x86_64-linux-gnu:$PKGROOT/lib/x86_64-linux-gnu
	PEERROOT=$PKGROOT
else
	unset KVM_PKGROOT
	LIBPATH=""
	PEERROOT=""
fi

# ------------------------------------------------------------ staging tree
STAGE=$CACHE/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"
(
	cd "$STAGE"
	mkdir -p usr/bin usr/sbin usr/lib usr/lib64 usr/local/bin usr/local/sbin etc proc sys \
		dev run tmp mnt root guest var/lib var/log \
		etc/iscsi/nodes etc/iscsi/send_targets etc/iscsi/ifaces etc/iscsi/isns \
		etc/iscsi/static etc/iscsi/fw
	ln -s usr/bin bin
	ln -s usr/sbin sbin
	ln -s usr/lib lib
	ln -s usr/lib64 lib64
	ln -s ../run var/run
	ln -s ../run/lock var/lock
	chmod 1777 tmp
)

BB=$(command -v busybox)
case $(ldd "$BB" 2>&1 || true) in
*"not a dynamic"* | *"statically linked"*) ;;
*) kvm_die "$BB is dynamically linked (install busybox-static)" ;;
esac
cp -L "$BB" "$STAGE/usr/bin/busybox"
for a in $("$BB" --list); do
	[ "$a" = busybox ] || ln -s busybox "$STAGE/usr/bin/$a"
done

MANIFEST_BINS=()
add_bin() { # add_bin SRC DEST [LIBPATH]
	rm -f "$STAGE$(kvm_guest_path "$2")" # drops a busybox applet link of that name
	kvm_copy_elf "$STAGE" "$1" "$2" "${3:-}"
	MANIFEST_BINS+=("$2 <= $1")
}
host_bin() { # host_bin NAME: path of an installed program
	local p
	p=$(command -v "$1" 2>/dev/null || true)
	[ -n "$p" ] || for d in /usr/sbin /sbin /usr/bin; do [ -x "$d/$1" ] && p=$d/$1 && break; done
	[ -n "$p" ] || kvm_die "$1 not found on the host"
	echo "$p"
}

# Peers: open-iscsi and nbd-client.
for b in iscsid iscsiadm iscsi-iname nbd-client; do
	if [ -n "$PEERROOT" ]; then
		add_bin "$PEERROOT/sbin/$b" "/usr/sbin/$b" "$LIBPATH"
	else
		add_bin "$(host_bin "$b")" "/usr/sbin/$b"
	fi
done
cp "${PEERROOT:-}/etc/iscsi/iscsid.conf" "$STAGE/etc/iscsi/iscsid.conf"
# iscsid runs in the foreground, started by the guest helpers; keep the
# timeouts short so a broken target fails a test quickly instead of retrying.
sed -i -e 's|^iscsid.startup = .*|iscsid.startup = /usr/sbin/iscsid|' \
	-e 's|^node.session.initial_login_retry_max = .*|node.session.initial_login_retry_max = 2|' \
	-e 's|^node.conn\[0\].timeo.login_timeout = .*|node.conn[0].timeo.login_timeout = 10|' \
	"$STAGE/etc/iscsi/iscsid.conf"
echo "InitiatorName=iqn.2025-01.org.ballast:kernel-guest" >"$STAGE/etc/iscsi/initiatorname.iscsi"
: >"$STAGE/etc/nbdtab"

# e2fsprogs from the host (same Debian release).
for b in mke2fs e2fsck tune2fs dumpe2fs debugfs; do
	add_bin "$(host_bin "$b")" "/usr/sbin/$b"
done
for l in mkfs.ext2 mkfs.ext3 mkfs.ext4; do ln -sf mke2fs "$STAGE/usr/sbin/$l"; done
for l in fsck.ext2 fsck.ext3 fsck.ext4; do ln -sf e2fsck "$STAGE/usr/sbin/$l"; done
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$STAGE/etc/"

# Shared libraries our daemons link (liburing, libev, libcrypto), so that the
# per-run overlay only carries the binaries themselves.
for l in liburing.so.2 libev.so.4 libcrypto.so.3; do
	p=$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64/ && !p { p = $NF } END { print p }')
	if [ -n "$p" ]; then add_bin "$p" "/usr/lib/x86_64-linux-gnu/$l"; else say "note: host lacks $l"; fi
done

cat >"$STAGE/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOT
cat >"$STAGE/etc/group" <<'EOT'
root:x:0:
nogroup:x:65534:
EOT
cat >"$STAGE/etc/hosts" <<'EOT'
127.0.0.1 localhost
10.0.2.15 guest
10.0.2.100 host
EOT
echo "hosts: files" >"$STAGE/etc/nsswitch.conf"
: >"$STAGE/etc/fstab"
install -m 755 "$KDIR/guest/init" "$STAGE/init"
install -m 644 "$KDIR/guest/functions.sh" "$STAGE/etc/kvm-functions.sh"

# ---------------------------------------------------------- kernel modules
MODS=(
	nbd loop brd
	virtio_pci virtio_net virtio_blk e1000
	scsi_mod sd_mod sg
	scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp
	configfs target_core_mod iscsi_target_mod target_core_file target_core_iblock
	ext4 crc32c_generic crc32c_intel libcrc32c
)
declare -A MOD_PATH MOD_DEPS WANT
# ~4000 lines: bash string operations only, no forks per line.
while IFS= read -r line; do
	rel=${line%%:*}
	name=${rel##*/}
	name=${name%%.ko*}
	MOD_PATH[${name//-/_}]=$rel
	MOD_DEPS[$rel]=${line#*:}
done <"$MODROOT/modules.dep"
want_mod() {
	local rel=$1 d
	[ -n "${WANT[$rel]:-}" ] && return 0
	WANT[$rel]=1
	for d in ${MOD_DEPS[$rel]}; do want_mod "$d"; done
}
MISSING=()
for m in "${MODS[@]}" "${EXTRA_MODS[@]}"; do
	m=${m//-/_}
	rel=${MOD_PATH[$m]:-}
	if [ -n "$rel" ]; then
		want_mod "$rel"
	elif ! grep -qE "/${m//_/[-_]}\.ko" "$MODROOT/modules.builtin"; then
		MISSING+=("$m")
	fi
done
[ ${#MISSING[@]} -eq 0 ] || say "note: not in $KVER: ${MISSING[*]}"
GMOD=$STAGE/usr/lib/modules/$KVER
mkdir -p "$GMOD"
for rel in "${!WANT[@]}"; do
	mkdir -p "$GMOD/$(dirname "$rel")"
	# Decompressed here: busybox modprobe in the guest need not know xz/zstd.
	case $rel in
	*.ko.xz) xz -dc "$MODROOT/$rel" >"$GMOD/${rel%.xz}" ;;
	*.ko.zst) zstd -qdc "$MODROOT/$rel" >"$GMOD/${rel%.zst}" ;;
	*.ko.gz) gzip -dc "$MODROOT/$rel" >"$GMOD/${rel%.gz}" ;;
	*) cp "$MODROOT/$rel" "$GMOD/$rel" ;;
	esac
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$MODROOT/$f" ] && cp "$MODROOT/$f" "$GMOD/"
done
# kmod's depmod writes modules.dep (busybox modprobe) and the .bin indexes
# (libkmod, which iscsid uses to load transports itself).
depmod -b "$STAGE/usr" "$KVER"

# ------------------------------------------------------------------ archive
say "packing initramfs"
kvm_pack "$STAGE" "$OUT/initrd.cpio"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort) >"$OUT/base.list"
# (a hard link when possible: the vmlinux is 66 MB)
# (on a rebuild "kernel" may already be a link to the same file, which mv refuses to replace)
rm -f "$OUT/kernel.tmp"
if ! [ "$KIMAGE" -ef "$OUT/kernel" ]; then
	ln -f "$KIMAGE" "$OUT/kernel.tmp" 2>/dev/null || cp "$KIMAGE" "$OUT/kernel.tmp"
	mv "$OUT/kernel.tmp" "$OUT/kernel"
fi
echo "$KVER" >"$OUT/kver"
{
	echo "built:    $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(kvm_since "$T0")s"
	echo "kernel:   $(basename "$KDEB") ($KVER)"
	echo "boots:    ${KIMAGE##*/} ($([ "$KIMAGE" = "$VMLINUZ" ] && echo bzImage || echo PVH entry))"
	echo "initrd:   $(du -h "$OUT/initrd.cpio" | cut -f1) cpio"
	echo "userland: $PKGSRC"
	echo "modules:  $(for r in "${!WANT[@]}"; do n=$(basename "$r"); echo "${n%%.ko*}"; done | sort | tr '\n' ' ')"
	[ ${#MISSING[@]} -eq 0 ] || echo "missing:  ${MISSING[*]}"
	echo "binaries:"
	printf '  %s\n' "${MANIFEST_BINS[@]}"
} >"$OUT/manifest.txt"
echo "$STAMP" >"$OUT/stamp"
say "built in $(kvm_since "$T0")s: $(sed -n '2,3p' "$OUT/manifest.txt" | tr -s ' ' | tr '\n' ';')"
