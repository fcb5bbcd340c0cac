#!/bin/sh
# Install every Debian 12 package that the build and all test tiers need.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
liburing-dev libev-dev libssl-dev libcunit1-dev
tgt libiscsi-bin libnbd-bin nbdkit fuse3 qemu-utils qemu-block-extra fio
e2fsprogs nftables iproute2 util-linux procps psmisc kmod
clang libclang-rt-14-dev
fiu-utils libfiu-dev stress-ng cgroup-tools
qemu-system-x86 busybox-static cpio xz-utils zstd
open-iscsi nbd-client linux-headers-amd64"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Never start daemons from package postinst scripts (tgt, open-iscsi).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
