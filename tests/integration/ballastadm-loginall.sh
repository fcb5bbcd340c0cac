#!/bin/sh
# ballastadm --loginall / --logoutall with two targets: --loginall=all starts one ballastd per
# record and both LUNs are readable; --loginall=automatic only logs in to records whose
# node.startup is automatic (none: exit 21); --logoutall=all ends every session (the processes
# and sockets are gone, the target has no session left); with none left it exits 21. Deleting
# a record that has a session logs it out first.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/ballastadm-lib.sh"

need nbdinfo
start_targetd --target "$IQN:a" --lun 1:mem:16M --target "$IQN:b" --lun 1:mem:8M
adm -m discovery -t st -p "$PORTAL"
expect_rc 0

adm -m node --loginall=all
expect_rc 0
[ "$(grep -c "^Login to .* successful.$" "$WORK/out")" = 2 ] || fail "--loginall=all: 2 logins expected"
adm -m session
expect_rc 0
[ "$(wc -l <"$WORK/out")" = 2 ] || fail "-m session: 2 sessions expected"
grep -qx "tcp: \[1\] $PORTAL,1 $IQN:a (non-flash)" "$WORK/out" || fail "session a"
grep -qx "tcp: \[2\] $PORTAL,1 $IQN:b (non-flash)" "$WORK/out" || fail "session b"
pids=$(session_pids)
[ "$(echo $pids | wc -w)" = 2 ] || fail "two ballastd expected, got '$pids'"
[ "$(timeout 30 nbdinfo --size "nbd+unix:///?socket=$(nbd_sock "$IQN:a" 1)")" = 16777216 ] ||
	fail "LUN of a"
[ "$(timeout 30 nbdinfo --size "nbd+unix:///?socket=$(nbd_sock "$IQN:b" 1)")" = 8388608 ] ||
	fail "LUN of b"
[ "$(target_sessions)" = 2 ] || fail "the target does not see 2 sessions"

# again: both exist
adm -m node --loginall=all
expect_rc 15

adm -m node --logoutall=all
expect_rc 0
[ "$(grep -c "^Logout of .* successful.$" "$WORK/out")" = 2 ] || fail "--logoutall=all: 2 logouts expected"
for p in $pids; do
	alive "$p" && fail "ballastd $p still running after --logoutall"
done
[ -z "$(ls "$BALLAST_RUN_DIR"/*.ctl "$BALLAST_RUN_DIR"/*.sock 2>/dev/null)" ] ||
	fail "sockets left after --logoutall"
[ "$(target_sessions)" = 0 ] || fail "the target still has sessions"
adm -m node --logoutall=all
expect_rc 21

# node.startup selects
adm -m node --loginall=automatic
expect_rc 21
adm -m node -T "$IQN:b" -o update -n node.startup -v automatic
expect_rc 0
adm -m node --loginall=automatic
expect_rc 0
grep -q "^Login to .*target: $IQN:b, .* successful.$" "$WORK/out" || fail "b not logged in"
grep -q "target: $IQN:a," "$WORK/out" && fail "a (manual) logged in by --loginall=automatic"
adm -m session
[ "$(wc -l <"$WORK/out")" = 1 ] || fail "one session expected"
adm -m node --loginall=sometimes
expect_rc 7

# deleting a record in use logs its session out first (iscsiadm(8) -o delete)
adm -m node -T "$IQN:b" -o delete
expect_rc 0
grep -q "^Logout of .*target: $IQN:b, .* successful.$" "$WORK/out" || fail "delete did not log out"
[ ! -e "$BALLAST_NODE_DIR/$IQN:b" ] || fail "record b not deleted"
adm -m session
expect_rc 21
[ "$(target_sessions)" = 0 ] || fail "the target still has sessions"
exit 0
