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
	local i=0 s
	ballastd -f --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" --nbd kernel \
		--initiator-name iqn.2025-01.org.ballast:kernel-guest $BALLASTD_ARGS \
		>>/tmp/ballastd.log 2>&1 &
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

# detach: SIGTERM ballastd; it must exit 0 and the device must disconnect.
detach() {
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
