#!/bin/sh
# ballastd in the guest attaches /dev/nbdN itself through the kernel's nbd
# netlink API, logged in to ballast-targetd on the host (through the
# loopback-only forward): mkfs.ext4, mount, write a tree of files, verify it
# after dropping caches, umount, e2fsck clean, detach (SIGTERM); then a second
# ballastd attaches again and the tree verifies byte for byte and e2fsck is
# still clean (the data lived in the target, not in the guest's page cache).
# BALLASTD_ARGS adds options to ballastd in the guest, BALLAST_TARGETD_ARGS
# to ballast-targetd on the host (e.g. "--log-level debug").
. "$(dirname "$0")/common.sh"

kt_daemons
kt_init

iqn=iqn.2025-01.org.ballast.test:kernel-nbd
kt_start_targetd "$iqn" --lun 1:mem:256M

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh

# attach: start ballastd, wait until it connected an nbd device; sets DEV, BPID.
attach() {
	ballastd_attach --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" \
		--initiator-name iqn.2025-01.org.ballast:kernel-guest $BALLASTD_ARGS
}
detach() { ballastd_detach; }

mods nbd || fail "nbd module"
attach
tree_roundtrip "$DEV" /mnt || fail "tree round trip on $DEV"
detach
attach
tree_verify "$DEV" /mnt || fail "tree after re-attach"
detach
say "BALLASTD-NBD OK"
EOT

kt_run --timeout 180 --fwd "$port:$port" --bin "$ballastd:/usr/local/sbin/ballastd" \
	--env ISCSI_PORT="$port" --env IQN="$iqn" --env BALLASTD_ARGS="${BALLASTD_ARGS:-}" \
	"$KT_TMP/guest.sh"
rc=$?
[ $rc -eq 0 ] || { kt_log "--- ballast-targetd log"; sed 's/^/  /' "$KT_TMP/targetd.log" >&2; }
exit $rc
