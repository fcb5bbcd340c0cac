#!/bin/sh
# The Linux kernel iSCSI initiator (open-iscsi's iscsid and iscsiadm in the
# guest, iscsi_tcp) against a target on the host, reached through the
# loopback-only forward. Three targets: no CHAP, one-way CHAP, mutual CHAP.
# For each: SendTargets discovery lists it, login (for the CHAP targets a
# login with a wrong secret must fail first), /dev/sdX appears, mkfs.ext4,
# mount, write + verify (sha256 after dropping caches), e2fsck clean, logout,
# the disk goes away.
#
# TARGET_IMPL selects the target: ballast (default: ballast-targetd, the real
# interop check of our target) or tgtd (Linux SCSI target framework, to check
# this test and the harness themselves; iscsi-initiator-tgtd.sh).
# BALLAST_TARGETD_ARGS adds options to every ballast-targetd (e.g. "--debug LOGIN").
. "$(dirname "$0")/common.sh"

impl=${TARGET_IMPL:-ballast}
iqn_base=iqn.2025-01.org.ballast.test
chap_user=guest-initiator
chap_secret=initiator-secret-0123
mutual_user=host-target
mutual_secret=target-secret-4567

case $impl in
ballast)
	targetd=${BALLAST_TARGETD:-$top_builddir/ballast-targetd}
	kt_works "$targetd" ||
		kt_skip "ballast-targetd is not usable yet ($targetd --help fails); TARGET_IMPL=tgtd runs this test against tgtd"
	;;
tgtd)
	command -v tgtd >/dev/null && command -v tgtadm >/dev/null ||
		kt_skip "tgtd not installed (scripts/deps.sh installs tgt)"
	;;
*) kt_error "TARGET_IMPL must be ballast or tgtd" ;;
esac
kt_init

# ---------------------------------------------------------------- targets
# Sets T0_PORT T1_PORT T2_PORT (host loopback ports) and T0_IQN..T2_IQN.
start_ballast() { # start_ballast N [targetd CHAP options]
	n=$1
	shift
	iqn=$iqn_base:ballast-$n
	: >"$KT_TMP/ready$n"
	kt_bg "$targetd" -f --portal 127.0.0.1:0 --target "$iqn" --lun 1:mem:256M \
		--ready-fd 3 ${BALLAST_TARGETD_ARGS:-} "$@" 3>"$KT_TMP/ready$n" >"$KT_TMP/targetd$n.log" 2>&1
	i=0
	until grep -q . "$KT_TMP/ready$n"; do
		kill -0 "$KT_LAST_PID" 2>/dev/null || { cat "$KT_TMP/targetd$n.log" >&2; kt_error "ballast-targetd $n exited"; }
		[ $i -lt 100 ] || kt_error "ballast-targetd $n not ready after 10 s"
		sleep 0.1
		i=$((i + 1))
	done
	hostport=$(head -n1 "$KT_TMP/ready$n")
	case $hostport in
	127.0.0.1:*) port=${hostport##*:} ;;
	*) kt_error "ballast-targetd $n reported '$hostport', expected 127.0.0.1:PORT" ;;
	esac
	eval "T${n}_PORT=\$port T${n}_IQN=\$iqn"
	kt_log "ballast-targetd $n on $hostport, $iqn $*"
}

start_tgtd() {
	port=$(kt_port)
	# tgtd's control "port" names its unix socket; it must be below 32768.
	ctl=$(( $(od -An -N2 -tu2 /dev/urandom) % 12000 + 20000 ))
	while [ -e "/var/run/tgtd/socket.$ctl" ]; do ctl=$((ctl + 1)); done
	kt_bg tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port" >"$KT_TMP/tgtd.log" 2>&1
	tgtd_pid=$KT_LAST_PID
	tgtd_ctl=$ctl
	kt_wait_port "$port" 10 || { cat "$KT_TMP/tgtd.log" >&2; kt_error "tgtd did not listen"; }
	adm() { tgtadm -C "$ctl" --lld iscsi "$@" || kt_error "tgtadm $*"; }
	for n in 0 1 2; do
		iqn=$iqn_base:tgtd-$n
		truncate -s 256M "$KT_TMP/lun$n.img"
		adm --op new --mode target --tid $((n + 1)) -T "$iqn"
		adm --op new --mode logicalunit --tid $((n + 1)) --lun 1 -b "$KT_TMP/lun$n.img"
		adm --op bind --mode target --tid $((n + 1)) -I ALL
		eval "T${n}_PORT=\$port T${n}_IQN=\$iqn"
	done
	adm --op new --mode account --user "$chap_user" --password "$chap_secret"
	adm --op new --mode account --user "$mutual_user" --password "$mutual_secret"
	adm --op bind --mode account --tid 2 --user "$chap_user"
	adm --op bind --mode account --tid 3 --user "$chap_user"
	adm --op bind --mode account --tid 3 --user "$mutual_user" --outgoing
	kt_log "tgtd (pid $tgtd_pid, control $ctl) on 127.0.0.1:$port, 3 targets"
}

if [ "$impl" = ballast ]; then
	start_ballast 0
	start_ballast 1 --chap "$chap_user:$chap_secret"
	start_ballast 2 --chap "$chap_user:$chap_secret" --mutual-chap "$mutual_user:$mutual_secret"
else
	start_tgtd
	# tgtd ignores SIGTERM while it has targets: kt_cleanup escalates to
	# SIGKILL; remove its control socket files afterwards.
	trap 'kt_cleanup; rm -f /var/run/tgtd/socket.$tgtd_ctl /var/run/tgtd/socket.$tgtd_ctl.lock' EXIT
fi

# ------------------------------------------------------------------ guest
cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh

# node_set IQN PORTAL KEY VALUE
node_set() {
	iscsiadm -m node -T "$1" -p "$2" -o update -n "$3" -v "$4" >/dev/null
}

# one_target N AUTH: AUTH is none, chap or mutual
one_target() {
	local n=$1 auth=$2 iqn port p dev out
	eval "iqn=\$T${n}_IQN port=\$T${n}_PORT"
	p=$HOST_IP:$port
	say "== target $n ($auth): $iqn at $p"
	if [ "$auth" = none ]; then
		out=$(iscsiadm -m discovery -t sendtargets -p "$p") || fail "discovery at $p"
	else
		# Offer one-way CHAP on discovery too: a target may require it.
		iscsiadm -m discoverydb -t sendtargets -p "$p" -o new >/dev/null
		for kv in authmethod=CHAP "username=$CHAP_USER" "password=$CHAP_SECRET"; do
			iscsiadm -m discoverydb -t sendtargets -p "$p" -o update \
				-n "discovery.sendtargets.auth.${kv%%=*}" -v "${kv#*=}" >/dev/null
		done
		out=$(iscsiadm -m discoverydb -t sendtargets -p "$p" --discover) || fail "discovery at $p"
	fi
	echo "$out" | sed 's/^/  discovered: /'
	echo "$out" | grep -q " $iqn\$" || fail "SendTargets at $p did not list $iqn"

	# The target advertises its own (host loopback) address, which the guest
	# cannot reach: log in through a node record for the forwarded portal.
	iscsiadm -m node -o new -T "$iqn" -p "$p" >/dev/null || fail "node record"
	if [ "$auth" != none ]; then
		node_set "$iqn" "$p" node.session.auth.authmethod CHAP
		node_set "$iqn" "$p" node.session.auth.username "$CHAP_USER"
		node_set "$iqn" "$p" node.session.auth.password wrong-secret-0000
		if iscsiadm -m node -T "$iqn" -p "$p" --login >/tmp/login.log 2>&1; then
			cat /tmp/login.log
			fail "login with a wrong CHAP secret succeeded"
		fi
		grep -q 'authorization failure' /tmp/login.log ||
			{ cat /tmp/login.log; fail "wrong secret: refused, but not as an authorization failure"; }
		say "login with a wrong secret refused: $(grep 'reported error' /tmp/login.log)"
		node_set "$iqn" "$p" node.session.auth.password "$CHAP_SECRET"
	fi
	if [ "$auth" = mutual ]; then
		node_set "$iqn" "$p" node.session.auth.username_in "$MUTUAL_USER"
		node_set "$iqn" "$p" node.session.auth.password_in wrong-target-secret
		if iscsiadm -m node -T "$iqn" -p "$p" --login >/tmp/login.log 2>&1; then
			cat /tmp/login.log
			fail "login succeeded although the target proved the wrong secret"
		fi
		say "target with a wrong mutual secret refused: $(grep 'reported error' /tmp/login.log)"
		node_set "$iqn" "$p" node.session.auth.password_in "$MUTUAL_SECRET"
	fi
	iscsiadm -m node -T "$iqn" -p "$p" --login || fail "login to $iqn"
	dev=$(iscsi_disk "$iqn" 20) || fail "no disk appeared for $iqn"
	say "LUN is $dev: $(blockdev --getsize64 "$dev") bytes," \
		"$(cat /sys/block/${dev#/dev/}/device/vendor) $(cat /sys/block/${dev#/dev/}/device/model)"
	fs_roundtrip "$dev" /mnt 8 || fail "file system round trip on $dev"
	iscsiadm -m node -T "$iqn" -p "$p" --logout || fail "logout from $iqn"
	local i=0
	while [ -e "$dev" ]; do
		[ $i -lt 50 ] || fail "$dev still present after logout"
		sleep 0.1
		i=$((i + 1))
	done
	say "logged out, $dev gone"
}

iscsi_start || fail "iscsid"
one_target 0 none
one_target 1 chap
one_target 2 mutual
say "ISCSI-INITIATOR OK ($TARGET_IMPL)"
EOT

fwd=""
for p in $(printf '%s\n' "$T0_PORT" "$T1_PORT" "$T2_PORT" | sort -u); do
	fwd="$fwd --fwd $p:$p"
done
# shellcheck disable=SC2086 # fwd is a list of options
kt_run --timeout 240 $fwd \
	--env TARGET_IMPL="$impl" \
	--env T0_PORT="$T0_PORT" --env T0_IQN="$T0_IQN" \
	--env T1_PORT="$T1_PORT" --env T1_IQN="$T1_IQN" \
	--env T2_PORT="$T2_PORT" --env T2_IQN="$T2_IQN" \
	--env CHAP_USER="$chap_user" --env CHAP_SECRET="$chap_secret" \
	--env MUTUAL_USER="$mutual_user" --env MUTUAL_SECRET="$mutual_secret" \
	"$KT_TMP/guest.sh"
rc=$?
if [ $rc -ne 0 ]; then
	for f in "$KT_TMP"/*.log; do
		[ -f "$f" ] && { kt_log "--- ${f##*/}"; sed 's/^/  /' "$f" >&2; }
	done
fi
exit $rc
