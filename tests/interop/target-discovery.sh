#!/bin/sh
# Discovery sessions (SendTargets=All) answered to libiscsi's iscsi-ls: every target the
# initiator may see is listed with every portal of the target (an IPv4 and an IPv6 portal,
# the IPv6 one advertising a different TargetAddress), a target whose ACL excludes the
# initiator is hidden (configuration from a targets.conf file); iscsi-ls -s shows the LUNs
# (REPORT LUNS through a normal session).
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need iscsi-ls
nr_tmpdir

v6=1
python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' \
	2>/dev/null || v6=0
{
	echo "portal 127.0.0.1:0"
	[ $v6 = 1 ] && echo "portal [::1]:0 advertise 192.0.2.10:3260"
	cat <<EOF
<target iqn.2024-01.org.ballast:a>
	lun 1 mem:16M
	lun 2 null:1G
</target>
<target iqn.2024-01.org.ballast:b>
	lun 1 mem:16M
	initiator-name iqn.1994-05.com.example:other
</target>
EOF
} >"$NR_TMP/targets.conf"

tgt_start --no-default-portal --config "$NR_TMP/targets.conf"
n=$(printf '%s\n' "$TGT_PORTALS" | wc -l)
[ "$n" = $((1 + v6)) ] || tgt_fail "expected $((1 + v6)) portals on --ready-fd, got: $TGT_PORTALS"

timeout 20 iscsi-ls "iscsi://$TGT_PORTAL" >"$NR_TMP/ls" 2>&1 || tgt_fail "iscsi-ls failed: $(cat "$NR_TMP/ls")"
grep -q "^Target:iqn.2024-01.org.ballast:a Portal:$TGT_PORTAL,1$" "$NR_TMP/ls" ||
	tgt_fail "target a / portal $TGT_PORTAL missing: $(cat "$NR_TMP/ls")"
if [ $v6 = 1 ]; then
	grep -q '^Target:iqn.2024-01.org.ballast:a Portal:192.0.2.10:3260,1$' "$NR_TMP/ls" ||
		tgt_fail "advertised portal missing: $(cat "$NR_TMP/ls")"
fi
grep -q 'ballast:b' "$NR_TMP/ls" && tgt_fail "ACL-protected target b was disclosed: $(cat "$NR_TMP/ls")"

timeout 20 iscsi-ls -i iqn.1994-05.com.example:other "iscsi://$TGT_PORTAL" >"$NR_TMP/ls2" 2>&1 ||
	tgt_fail "iscsi-ls as 'other' failed"
grep -q '^Target:iqn.2024-01.org.ballast:b ' "$NR_TMP/ls2" ||
	tgt_fail "target b hidden from its allowed initiator: $(cat "$NR_TMP/ls2")"

if [ $v6 = 1 ]; then
	p6=$(printf '%s\n' "$TGT_PORTALS" | sed -n 2p)
	timeout 20 iscsi-ls "iscsi://$p6" >"$NR_TMP/ls6" 2>&1 || tgt_fail "iscsi-ls over IPv6 failed"
	grep -q '^Target:iqn.2024-01.org.ballast:a ' "$NR_TMP/ls6" || tgt_fail "IPv6 discovery empty"
fi

tgt_alive
tgt_stop

# iscsi-ls -s logs in to the first portal it was given: no unreachable advertised one here.
tgt_start --target "$TGT_IQN" --lun 1:mem:16M --lun 2:null:1G
timeout 30 iscsi-ls -s "iscsi://$TGT_PORTAL" >"$NR_TMP/lss" 2>&1 || tgt_fail "iscsi-ls -s failed"
grep -q 'Lun:1 .*Type:DIRECT_ACCESS' "$NR_TMP/lss" || tgt_fail "LUN 1 not listed: $(cat "$NR_TMP/lss")"
# (iscsi-ls prints the last LBA times the block size: 1023M for 1 GiB)
grep -q 'Lun:2 .*Size:1023M' "$NR_TMP/lss" ||
	tgt_fail "LUN 2 (null, 1G) not listed: $(cat "$NR_TMP/lss")"
tgt_alive
tgt_stop
exit 0
