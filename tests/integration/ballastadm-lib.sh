# Shared helpers for the ballastadm-*.sh tests (sourced, not run). POSIX sh.
# Each test gets a private node DB, configuration directory and run directory under $WORK, and
# ballast-targetd on a kernel-chosen port; nothing outside $WORK is touched.
# Exit codes follow the automake harness: 0 pass, 77 skip, 99 hard error, 1 failure.

set -u

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BALLASTADM:=$top_builddir/ballastadm}"
: "${BALLASTD:=$top_builddir/ballastd}"
: "${BALLAST_TARGETD:=$top_builddir/ballast-targetd}"
export BALLASTD

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }
hard() { echo "ERROR: $*"; dump_logs; exit 99; }
log() { echo "# $*"; }

need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
	done
}
[ -x "$BALLASTADM" ] || skip "ballastadm not built"
[ -x "$BALLASTD" ] || skip "ballastd not built"
[ -x "$BALLAST_TARGETD" ] || skip "ballast-targetd not built"

WORK=$(mktemp -d /tmp/ballastadm-test.XXXXXX) || hard "mktemp"
BALLAST_NODE_DIR=$WORK/nodes
BALLAST_CONF_DIR=$WORK/conf
BALLAST_RUN_DIR=$WORK/run
export BALLAST_NODE_DIR BALLAST_CONF_DIR BALLAST_RUN_DIR
mkdir -p "$BALLAST_CONF_DIR" || hard "mkdir"
TARGETD_PID=
IQN=iqn.2024-01.org.ballast.test
INITIATOR_IQN=$IQN:initiator
echo "InitiatorName=$INITIATOR_IQN" >"$BALLAST_CONF_DIR/initiatorname.iscsi"
# defaults for every node record (the iscsid.conf role), and where the NBD sockets go
cat >"$BALLAST_CONF_DIR/ballastd.conf" <<EOT
node.session.initial_login_retry_max = 0
node.conn[0].timeo.login_timeout = 10
export.nbd.socket_dir = $BALLAST_RUN_DIR
reserve.mlock = No
EOT

dump_logs() {
	for f in "$WORK"/*.log "$BALLAST_RUN_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "----- $f (last 20 lines)"
		tail -n 20 "$f"
	done
}

# The ballastd pids ballastadm started (from the session files).
session_pids() {
	cat "$BALLAST_RUN_DIR"/*.session 2>/dev/null | sed -n 's/^session\.pid = \([0-9]*\)$/\1/p'
}

# alive PID: true while the process exists and has not exited (a zombie has exited).
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

cleanup() {
	for p in $(session_pids); do
		alive "$p" && kill "$p" 2>/dev/null
	done
	for p in $(session_pids); do
		for i in $(seq 50); do alive "$p" || break; sleep 0.1; done
		alive "$p" && kill -9 "$p" 2>/dev/null
	done
	if [ -n "$TARGETD_PID" ]; then
		kill "$TARGETD_PID" 2>/dev/null
		wait "$TARGETD_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_targetd ARGS...: ballast-targetd on 127.0.0.1 with a kernel-chosen port; sets PORTAL.
start_targetd() {
	rm -f "$WORK/tready"
	mkfifo "$WORK/tready" || hard "mkfifo"
	"$BALLAST_TARGETD" -f --portal 127.0.0.1:0 "$@" --control "$WORK/tctl.sock" \
		--ready-fd 3 3>"$WORK/tready" \
		>>"$WORK/targetd.log" 2>&1 &
	TARGETD_PID=$!
	tr=$(timeout 30 cat "$WORK/tready")
	port=${tr##*:}
	[ -n "$port" ] || hard "ballast-targetd did not become ready"
	PORTAL=127.0.0.1:$port
	log "ballast-targetd pid $TARGETD_PID portal $PORTAL"
}

# The number of sessions ballast-targetd has open (discovery sessions included).
target_sessions() {
	"$BALLAST_TARGETD" ctl "$WORK/tctl.sock" status | sed -n 's/^sessions \([0-9]*\) .*/\1/p'
}

# adm ARGS...: run ballastadm (bounded), output in $WORK/out and $WORK/err, status in RC.
adm() {
	timeout 120 "$BALLASTADM" "$@" >"$WORK/out" 2>"$WORK/err"
	RC=$?
	log "ballastadm $* -> $RC"
	sed 's/^/#   /' "$WORK/out" "$WORK/err"
	return 0
}

# expect_rc N: the last adm call exited with N.
expect_rc() {
	[ "$RC" = "$1" ] || fail "expected exit status $1, got $RC"
}

# The NBD socket ballastd serves LUN N of target T on.
nbd_sock() { echo "$BALLAST_RUN_DIR/$1-lun$2.sock"; }
