#!/bin/sh
# ballastadm login/logout: --login starts a detached ballastd for the record and prints
# iscsiadm's "Logging in to [...]" / "Login to [...] successful." lines; the session shows in
# -m session (and -P 3 with its LUN and NBD socket); nbdinfo reads the LUN through the socket;
# a second login fails with 15 (session exists); --logout logs out cleanly: the ballastd
# process ends and its control and NBD sockets are gone; logging out again fails with 21. A
# record with a wrong CHAP secret fails to log in with 24 (authorization failure), says why,
# and leaves no session behind; with the right secret it logs in.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/ballastadm-lib.sh"

need nbdinfo
T1=$IQN:open
T2=$IQN:chap
start_targetd --target "$T1" --lun 1:mem:64M --target "$T2" --lun 1:mem:32M \
	--chap ini-user:right-secret-1
adm -m discovery -t st -p "$PORTAL"
expect_rc 0

# login
adm -m node -T "$T1" -p "$PORTAL" --login
expect_rc 0
desc="\[iface: default, target: $T1, portal: ${PORTAL%:*},${PORTAL##*:}\]"
grep -qx "Logging in to $desc" "$WORK/out" || fail "no 'Logging in to' line"
grep -qx "Login to $desc successful." "$WORK/out" || fail "no 'Login ... successful.' line"
pid=$(session_pids)
[ -n "$pid" ] && alive "$pid" || fail "no ballastd running after login"
ctl=$(ls "$BALLAST_RUN_DIR"/*.ctl)
[ -S "$ctl" ] || fail "no control socket"
# it is detached: its own session, not our child
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] || fail "ballastd is not a session leader"

# the session is listed
adm -m session
expect_rc 0
grep -qx "tcp: \[1\] $PORTAL,1 $T1 (non-flash)" "$WORK/out" || fail "-m session line"
adm -m session -P 3
expect_rc 0
grep -q "iSCSI Session State: LOGGED_IN" "$WORK/out" || fail "-P 3: session state"
grep -q "MaxRecvDataSegmentLength: " "$WORK/out" || fail "-P 3: negotiated parameters"
grep -q "LUN: 1" "$WORK/out" || fail "-P 3: LUN"
sock=$(nbd_sock "$T1" 1)
grep -q "Exported at: unix:$sock" "$WORK/out" || fail "-P 3: NBD socket"
adm -m session -r 1 -P 1
expect_rc 0
grep -q "SID: 1" "$WORK/out" || fail "-r 1 -P 1"
grep -q "Negotiated" "$WORK/out" && fail "-P 1 printed level 2 details"
adm -m session -r 7
expect_rc 2

# the LUN is readable through the NBD socket
size=$(timeout 30 nbdinfo --size "nbd+unix:///?socket=$sock") || fail "nbdinfo failed"
[ "$size" = 67108864 ] || fail "nbdinfo size $size"
[ "$(target_sessions)" = 1 ] || fail "the target does not see exactly one session"

# a second login: session exists
adm -m node -T "$T1" -p "$PORTAL" --login
expect_rc 15
grep -q "already present" "$WORK/err" || fail "no message for an existing session"

# logout
adm -m node -T "$T1" -p "$PORTAL" --logout
expect_rc 0
grep -qx "Logging out of session \[sid: 1, target: $T1, portal: ${PORTAL%:*},${PORTAL##*:}\]" \
	"$WORK/out" || fail "no 'Logging out of session' line"
grep -q "^Logout of \[sid: 1, .*\] successful.$" "$WORK/out" || fail "no 'Logout ... successful.'"
alive "$pid" && fail "ballastd $pid still running after logout"
[ ! -e "$ctl" ] || fail "control socket left after logout"
[ ! -e "$sock" ] || fail "NBD socket left after logout"
[ "$(target_sessions)" = 0 ] || fail "the target still has a session after logout"
adm -m session
expect_rc 21
adm -m node -T "$T1" -p "$PORTAL" --logout
expect_rc 21

# wrong CHAP secret: exit 24, ballastd's reason shown, nothing left running
adm -m node -T "$T2" -p "$PORTAL" -o update -n node.session.auth.authmethod -v CHAP
adm -m node -T "$T2" -p "$PORTAL" -o update -n node.session.auth.username -v ini-user
adm -m node -T "$T2" -p "$PORTAL" -o update -n node.session.auth.password -v wrong-secret-2
adm -m node -T "$T2" -p "$PORTAL" --login
expect_rc 24
grep -q "authentication failed" "$WORK/err" || fail "the reason is not shown"
grep -q "initiator reported error (24 - " "$WORK/err" || fail "no 'initiator reported error' line"
[ -z "$(ls "$BALLAST_RUN_DIR"/*.ctl "$BALLAST_RUN_DIR"/*.session 2>/dev/null)" ] ||
	fail "a failed login left session files"
adm -m session
expect_rc 21

# the right secret
adm -m node -T "$T2" -p "$PORTAL" -o update -n node.session.auth.password -v right-secret-1
adm -m node -T "$T2" -p "$PORTAL" --login
expect_rc 0
size=$(timeout 30 nbdinfo --size "nbd+unix:///?socket=$(nbd_sock "$T2" 1)") ||
	fail "nbdinfo over the CHAP session"
[ "$size" = 33554432 ] || fail "CHAP session size $size"
# -m session -u logs out every session
adm -m session -u
expect_rc 0
grep -q "^Logout of .*$T2.* successful.$" "$WORK/out" || fail "-m session -u"
exit 0
