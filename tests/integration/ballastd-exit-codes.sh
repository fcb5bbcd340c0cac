#!/bin/sh
# ballastd's exit status for failed logins is iscsiadm's code for the failure (man ballastd,
# EXIT STATUS), each with its reason in the log: a portal name that does not resolve exits 23,
# a refused connection 4, a target ballast-targetd does not have 19 (non-retryable: no retry
# either). Wrong CHAP secrets (24) are asserted by ballastd-targetd-chap.sh.
BALLASTD_PEER=targetd
BALLASTD_TESTLIB=$(cd "$(dirname "$0")/../interop" && pwd)
export BALLASTD_PEER BALLASTD_TESTLIB
. "$BALLASTD_TESTLIB/ballastd-lib.sh"

[ -x "$BALLASTD" ] || skip "ballastd not built"
need_peer

# expect NAME CODE TEXT ARGS...: ballastd with ARGS exits CODE and logs TEXT
expect() {
	_name=$1 _code=$2 _text=$3
	shift 3
	timeout 60 "$BALLASTD" -f --initiator-name "$INITIATOR_IQN" --nbd "unix:$WORK/nbd.sock" \
		--set node.session.initial_login_retry_max=0 "$@" >"$WORK/$_name.log" 2>&1
	_rc=$?
	log "$_name: exit $_rc: $(grep -m1 'err:' "$WORK/$_name.log")"
	[ "$_rc" = "$_code" ] || fail "$_name: exit status $_rc, expected $_code"
	grep -q "$_text" "$WORK/$_name.log" || fail "$_name: no '$_text' in the log"
}

expect resolve 23 "cannot resolve" --portal no-such-host.invalid:3260 \
	--target iqn.2025-01.org.ballast.test:none
# a port nobody listens on: the target's, after it is gone
start_peer $((16 * 1024 * 1024))
port=$TGT_PORT
expect not-found 19 "target not found" --portal "127.0.0.1:$port" \
	--target iqn.2025-01.org.ballast.test:no-such-target
stop_peer
expect refused 4 "Connection refused" --portal "127.0.0.1:$port" --target "$TARGET_IQN"
exit 0
