#!/bin/sh
# ballastd against tgtd (or ballast-targetd: BALLASTD_PEER): login without authentication,
# LUN discovery, NBD exports on a unix socket and on TCP (port 0, reported on --ready-fd);
# nbdinfo shows the LUN's size and block sizes on both; nbdcopy (multi-conn) writes 256 MiB of
# random data and reads it back with a matching checksum; the backing file holds the same
# bytes. Then the default export path (export.nbd.socket_dir/<target>-lun<N>.sock).
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_peer
need nbdinfo nbdcopy
SIZE=$((256 * 1024 * 1024))
start_peer "$SIZE"
start_ballastd --nbd "unix:$WORK/nbd.sock" --nbd tcp:127.0.0.1:0 ||
	fail "ballastd did not become ready (rc $BALLASTD_RC)"
[ "$SOCK" = "$WORK/nbd.sock" ] || fail "ready line names '$SOCK'"
TCP=$(echo "$READY" | sed -n 's/^nbd tcp:\([0-9.]*:[0-9]*\) lun 1$/\1/p')
[ -n "$TCP" ] || fail "no tcp ready line: $READY"
[ "${TCP##*:}" != 0 ] || fail "tcp port 0 not resolved: $READY"
timeout 30 nbdinfo --size "nbd://$TCP" | grep -qx "$SIZE" || fail "nbdinfo over tcp:$TCP"

info=$(timeout 30 nbdinfo --json "$(uri)") || fail "nbdinfo"
echo "$info" | grep -q "\"export-size\": $SIZE" || fail "nbdinfo size: $info"
echo "$info" | grep -q '"block_size_minimum": 512' || fail "nbdinfo min block: $info"
echo "$info" | grep -q '"can_flush": true' || fail "nbdinfo flush: $info"

head -c "$SIZE" /dev/urandom >"$WORK/in.img"
timeout 120 nbdcopy --flush "$WORK/in.img" "$(uri)" || fail "nbdcopy in"
timeout 120 nbdcopy "$(uri)" "$WORK/out.img" || fail "nbdcopy out"
a=$(md5sum <"$WORK/in.img")
b=$(md5sum <"$WORK/out.img")
c=$(md5sum <"$WORK/lun1.img")
[ "$a" = "$b" ] || fail "read-back checksum differs: $a $b"
[ "$a" = "$c" ] || fail "backing file checksum differs: $a $c"
log "256 MiB in and out, md5 $a"

st=$(ctl_status) || fail "ctl status"
echo "$st" | grep -q "state logged_in" || fail "status: $st"
echo "$st" | grep -q "errors 0 " || fail "errors in status: $st"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
grep -q "logged out" "$WORK/ballastd.log" || fail "no clean logout"

# no --nbd: one socket per LUN under export.nbd.socket_dir, named after the target
start_ballastd --set "export.nbd.socket_dir=$WORK" || fail "default export (rc $BALLASTD_RC)"
[ "$SOCK" = "$WORK/$TARGET_IQN-lun1.sock" ] || fail "default socket path: $READY"
timeout 30 nbdinfo --size "$(uri)" | grep -qx "$SIZE" || fail "nbdinfo on the default socket"
stop_ballastd || fail "ballastd exit status $BALLASTD_RC"
[ ! -e "$SOCK" ] || fail "socket not removed at exit"
exit 0
