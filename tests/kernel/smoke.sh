#!/bin/sh
# Kernel tier smoke test: the guest boots Debian's 6.1 kernel, loads the nbd,
# iscsi_tcp and target_core_mod modules, and its kernel NBD client (Debian's
# nbd-client) uses a host nbdkit memory export through the loopback-only
# forward: mkfs.ext4, mount, 16 MiB written, caches dropped, sha256 verified,
# umount, e2fsck -fn clean, disconnect. Proves the harness end to end.
. "$(dirname "$0")/common.sh"

command -v nbdkit >/dev/null || kt_skip "nbdkit not installed (scripts/deps.sh installs it)"
kt_init

port=$(kt_port)
kt_bg nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port" memory 256M
kt_wait_port "$port" 10 || kt_error "nbdkit did not listen on 127.0.0.1:$port"
kt_log "nbdkit memory 256M on 127.0.0.1:$port"

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
set -e
say "kernel $(uname -r)"
mods nbd iscsi_tcp target_core_mod ext4
for m in nbd iscsi_tcp target_core_mod; do
	grep -q "^$m " /proc/modules || fail "module $m not loaded"
done
say "modules loaded: nbd iscsi_tcp target_core_mod"
nbd-client "$HOST_IP" "$NBD_PORT" /dev/nbd0 -N smoke
[ "$(blockdev --getsize64 /dev/nbd0)" = 268435456 ] || fail "nbd0 size $(blockdev --getsize64 /dev/nbd0)"
say "nbd0 connected, 256 MiB"
fs_roundtrip /dev/nbd0 /mnt 16
nbd-client -d /dev/nbd0
say "SMOKE OK"
EOT
kt_run --timeout 150 --fwd "$port:$port" --env NBD_PORT="$port" "$KT_TMP/guest.sh"
