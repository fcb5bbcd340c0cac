#!/bin/sh
# CHAP against libiscsi (CHAP_A=5, MD5): one-way CHAP logs in with the right secret; a wrong
# secret, an unknown user and no credentials at all get "Authentication failure" (status
# 0x0201) and the daemon counts them; mutual CHAP logs in when the initiator checks the
# target's secret and fails (initiator side) when it expects another one; an ACL
# (--allow) admits only the named initiator.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need iscsi-inq

U=alice
S=alice-secret-1
TU=target-user
TS=target-secret-1
tgt_start --target "$TGT_IQN" --lun 1:mem:16M --chap "$U:$S" --mutual-chap "$TU:$TS"
base="127.0.0.1:$TGT_PORT/$TGT_IQN/1"

login() { timeout 20 iscsi-inq "$@" >"$NR_TMP/out" 2>&1; }

login "iscsi://$U%$S@$base" || tgt_fail "one-way CHAP with the right secret: $(cat "$NR_TMP/out")"
grep -q '^Vendor:BALLAST' "$NR_TMP/out" || tgt_fail "no INQUIRY data after CHAP login"

login "iscsi://$U%wrong-secret@$base" && tgt_fail "a wrong secret logged in"
grep -q 'Authentication failure' "$NR_TMP/out" ||
	tgt_fail "wrong secret: not an authentication failure: $(cat "$NR_TMP/out")"
login "iscsi://mallory%$S@$base" && tgt_fail "an unknown CHAP user logged in"
login "iscsi://$base" && tgt_fail "a login without credentials was accepted"
grep -q 'Authentication failure' "$NR_TMP/out" ||
	tgt_fail "no credentials: not an authentication failure: $(cat "$NR_TMP/out")"

login "iscsi://$U%$S@$base?target_user=$TU&target_password=$TS" ||
	tgt_fail "mutual CHAP failed: $(cat "$NR_TMP/out")"
login "iscsi://$U%$S@$base?target_user=$TU&target_password=not-the-one" &&
	tgt_fail "the initiator accepted a target that proved the wrong secret"

tgt_ctl status >"$NR_TMP/status" || tgt_fail "ctl status failed"
grep -q 'auth_failures 3 ' "$NR_TMP/status" || tgt_fail "auth failures not counted: $(cat "$NR_TMP/status")"
tgt_alive
tgt_stop

# ACL: only the allowed initiator name may log in.
tgt_start --target "$TGT_IQN" --lun 1:mem:16M --allow iqn.2024-01.org.ballast:allowed
base="127.0.0.1:$TGT_PORT/$TGT_IQN/1"
login -i iqn.2024-01.org.ballast:allowed "iscsi://$base" ||
	tgt_fail "allowed initiator refused: $(cat "$NR_TMP/out")"
login -i iqn.2024-01.org.ballast:other "iscsi://$base" && tgt_fail "ACL did not refuse"
grep -q "not in the target's ACL" "$TGT_LOG" || tgt_fail "no log line for the ACL refusal"
tgt_stop
exit 0
