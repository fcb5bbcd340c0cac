#!/bin/sh
# ballastd against tgtd (or ballast-targetd: BALLASTD_PEER) with CHAP: one-way CHAP logs in and
# serves I/O; a wrong secret and a missing secret fail with a clear message and a non-zero exit
# before any export appears; mutual CHAP logs in; a target that fails mutual authentication
# is refused with a clear message.
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_peer
need nbdinfo
PEER_CHAP=ini-user:ini-secret-123
start_peer 16M

# one-way CHAP
start_ballastd --chap ini-user:ini-secret-123 --nbd "unix:$WORK/nbd.sock" ||
	fail "one-way CHAP login failed (rc $BALLASTD_RC)"
grep -q ", CHAP)" "$WORK/ballastd.log" || fail "log does not say CHAP"
timeout 30 nbdinfo --size "$(uri)" | grep -qx 16777216 || fail "nbdinfo over CHAP session"
stop_ballastd || fail "exit status $BALLASTD_RC"

# wrong secret: clear message, non-zero exit, never ready
if start_ballastd --chap ini-user:wrong-secret-99 --nbd "unix:$WORK/nbd.sock"; then
	fail "login with a wrong secret succeeded"
fi
[ "$BALLASTD_RC" = 24 ] || fail "wrong secret: exit status $BALLASTD_RC, not 24 (iscsiadm's auth failure)"
grep -q "authentication failed" "$WORK/ballastd.log" || fail "no clear message for a wrong secret"
log "wrong secret: $(grep 'authentication failed' "$WORK/ballastd.log" | head -n 1)"

# no CHAP while the target requires it
if start_ballastd --nbd "unix:$WORK/nbd.sock"; then
	fail "login without CHAP succeeded on a CHAP target"
fi
[ "$BALLASTD_RC" = 24 ] || fail "missing CHAP: exit status $BALLASTD_RC, not 24"
grep -Eq "requires CHAP|authentication failed|authorization" "$WORK/ballastd.log" ||
	fail "no clear message for missing CHAP"

# mutual CHAP
stop_peer
PEER_MUTUAL=tgt-user:tgt-secret-456
start_peer 16M
start_ballastd --chap ini-user:ini-secret-123 --mutual-chap tgt-user:tgt-secret-456 \
	--nbd "unix:$WORK/nbd.sock" || fail "mutual CHAP login failed (rc $BALLASTD_RC)"
grep -q "mutual CHAP)" "$WORK/ballastd.log" || fail "log does not say mutual CHAP"
timeout 30 nbdinfo --size "$(uri)" | grep -qx 16777216 || fail "nbdinfo over mutual CHAP session"
stop_ballastd || fail "exit status $BALLASTD_RC"

# mutual CHAP with a wrong target secret: we must refuse the target
if start_ballastd --chap ini-user:ini-secret-123 --mutual-chap tgt-user:not-the-secret \
	--nbd "unix:$WORK/nbd.sock"; then
	fail "login accepted a target that failed mutual authentication"
fi
[ "$BALLASTD_RC" = 24 ] || fail "wrong mutual secret: exit status $BALLASTD_RC, not 24"
grep -q "mutual CHAP" "$WORK/ballastd.log" || fail "no clear message for the mutual failure"
log "wrong mutual secret: $(grep 'mutual CHAP' "$WORK/ballastd.log" | head -n 1)"
exit 0
