#!/bin/sh
# ballastadm node records: SendTargets discovery prints iscsiadm's "HOST:PORT,TPGT IQN" lines
# and creates one record per target portal, seeded from ballastd.conf; -m node lists them;
# -o show prints a record with secrets masked (shown with -S); -o update changes a key and
# refuses unknown keys, bad values and identity keys; -o new and -o delete; nonpersistent
# discovery writes nothing; rediscovery deletes records the portal no longer lists; an
# unreachable portal, a missing record and bad options fail with iscsiadm's exit codes.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/ballastadm-lib.sh"

start_targetd --target "$IQN:disk1" --lun 1:mem:16M --target "$IQN:disk2" --lun 1:mem:8M
HOST=${PORTAL%:*}
PORT=${PORTAL##*:}

# nonpersistent: lines, no records
adm -m discovery -t st -p "$PORTAL" -o nonpersistent
expect_rc 0
grep -qx "$PORTAL,1 $IQN:disk1" "$WORK/out" || fail "nonpersistent discovery output"
[ ! -e "$BALLAST_NODE_DIR" ] || [ -z "$(ls -A "$BALLAST_NODE_DIR")" ] ||
	fail "nonpersistent discovery wrote records"

# discovery creates the records
adm -m discovery -t sendtargets -p "$PORTAL"
expect_rc 0
grep -qx "$PORTAL,1 $IQN:disk1" "$WORK/out" || fail "disk1 not listed"
grep -qx "$PORTAL,1 $IQN:disk2" "$WORK/out" || fail "disk2 not listed"
for t in disk1 disk2; do
	rec="$BALLAST_NODE_DIR/$IQN:$t/$HOST,$PORT,1"
	[ -f "$rec" ] || fail "no record $rec"
	[ "$(stat -c %a "$rec")" = 600 ] || fail "record $rec is not mode 0600"
	grep -qx "node.name = $IQN:$t" "$rec" || fail "node.name in $rec"
	grep -qx "node.conn\[0\].address = $HOST" "$rec" || fail "address in $rec"
	grep -qx "node.conn\[0\].port = $PORT" "$rec" || fail "port in $rec"
	grep -qx "node.discovery_type = send_targets" "$rec" || fail "discovery type in $rec"
	# seeded from ballastd.conf, not the built-in default (8)
	grep -qx "node.session.initial_login_retry_max = 0" "$rec" || fail "not seeded from ballastd.conf"
done

# -m node lists them
adm -m node
expect_rc 0
[ "$(wc -l <"$WORK/out")" = 2 ] || fail "-m node: expected 2 records"
grep -qx "$PORTAL,1 $IQN:disk2" "$WORK/out" || fail "-m node line"

# update and show
adm -m node -T "$IQN:disk1" -p "$PORTAL" -o update -n node.session.auth.authmethod -v CHAP
expect_rc 0
adm -m node -T "$IQN:disk1" -p "$PORTAL" -o update -n node.session.auth.password -v s3cret-s3cret
expect_rc 0
adm -m node -T "$IQN:disk1" -p "$PORTAL" -o update -n node.session.queue_depth -v 16
expect_rc 0
adm -m node -T "$IQN:disk1" -p "$PORTAL" -o show
expect_rc 0
grep -qx "node.session.auth.authmethod = CHAP" "$WORK/out" || fail "update not shown"
grep -qx "node.session.queue_depth = 16" "$WORK/out" || fail "queue_depth not shown"
grep -qx "node.session.auth.password = \*\*\*\*\*\*\*\*" "$WORK/out" || fail "secret not masked"
grep -q "s3cret" "$WORK/out" && fail "secret shown without -S"
grep -qx "node.session.auth.username = <empty>" "$WORK/out" || fail "<empty> for empty values"
adm -m node -T "$IQN:disk1" -p "$PORTAL" -S
expect_rc 0
grep -qx "node.session.auth.password = s3cret-s3cret" "$WORK/out" || fail "-S does not show the secret"
# the other record is untouched
adm -m node -T "$IQN:disk2"
grep -qx "node.session.queue_depth = 32" "$WORK/out" || fail "update leaked to disk2"

# refused updates: exit 7 (ISCSI_ERR_INVAL), record unchanged
adm -m node -T "$IQN:disk1" -o update -n node.no_such_key -v 1
expect_rc 7
grep -q "unknown key" "$WORK/err" || fail "no message for an unknown key"
adm -m node -T "$IQN:disk1" -o update -n node.session.queue_depth -v lots
expect_rc 7
adm -m node -T "$IQN:disk1" -o update -n node.tpgt -v 2
expect_rc 7
adm -m node -T "$IQN:disk1" -o update -n node.session.queue_depth
expect_rc 7
grep -qx "node.session.queue_depth = 16" "$BALLAST_NODE_DIR/$IQN:disk1/$HOST,$PORT,1" ||
	fail "a refused update changed the record"

# -o new, duplicate, -o delete
adm -m node -o new -T "$IQN:manual" -p 192.0.2.1:3261,5
expect_rc 0
grep -q "New iSCSI node .*192.0.2.1,3261,5 $IQN:manual\] added" "$WORK/out" || fail "-o new message"
[ -f "$BALLAST_NODE_DIR/$IQN:manual/192.0.2.1,3261,5" ] || fail "-o new: no record file"
adm -m node -o new -T "$IQN:manual" -p 192.0.2.1:3261,5
expect_rc 6
adm -m node -o new -T "not-an-iqn" -p 192.0.2.1
expect_rc 7
adm -m node -T "$IQN:manual" -p 192.0.2.1 -o delete
expect_rc 0
[ ! -e "$BALLAST_NODE_DIR/$IQN:manual" ] || fail "-o delete left the record"

# rediscovery: a record of this portal the target no longer lists is deleted
adm -m node -o new -T "$IQN:gone" -p "$PORTAL"
expect_rc 0
adm -m node -T "$IQN:gone" -p "$PORTAL" -o update -n node.discovery_type -v send_targets
adm -m node -T "$IQN:gone" -p "$PORTAL" -o update -n node.discovery_address -v "$HOST"
adm -m node -T "$IQN:gone" -p "$PORTAL" -o update -n node.discovery_port -v "$PORT"
adm -m discovery -t st -p "$PORTAL"
expect_rc 0
[ ! -e "$BALLAST_NODE_DIR/$IQN:gone" ] || fail "stale record not deleted by rediscovery"
grep -qx "node.session.queue_depth = 16" "$BALLAST_NODE_DIR/$IQN:disk1/$HOST,$PORT,1" ||
	fail "rediscovery overwrote an existing record"

# errors
adm -m node -T "$IQN:nothere" -o show
expect_rc 21
adm -m node -T "$IQN:nothere" -p "$PORTAL" --login
expect_rc 21
grep -q "No records found" "$WORK/err" || fail "no message for a missing record"
# an unreachable portal: a port nobody listens on (the target's, after it stops)
stop_port=$PORT
kill "$TARGETD_PID"
wait "$TARGETD_PID" 2>/dev/null
TARGETD_PID=
adm -m discovery -t st -p "127.0.0.1:$stop_port"
expect_rc 4
grep -q "cannot connect" "$WORK/err" || fail "no clear message for an unreachable portal"
adm -m discovery -t isns -p "$PORTAL"
expect_rc 30
adm -m node -p "bad:port:x,y"
expect_rc 7
adm -m nonsense
expect_rc 7
adm --bogus-option
expect_rc 7
adm -m node -I eth9
expect_rc 21
adm --help
expect_rc 0
grep -q "ballastadm -m session" "$WORK/out" || fail "--help"
exit 0
