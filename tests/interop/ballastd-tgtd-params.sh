#!/bin/sh
# ballastd against tgtd under other negotiated parameters, each with fio crc32c verification
# and a final nbdcopy read-back compared with the backing file:
#  A: HeaderDigest and DataDigest CRC32C, InitialR2T=No, ImmediateData=No (unsolicited
#     Data-Out carries the first burst), FirstBurstLength 64 KiB;
#  B: ImmediateData and unsolicited Data-Out together, a 4 KiB target MaxRecvDataSegmentLength
#     (many Data-Out PDUs per burst), MaxBurstLength 64 KiB (many R2Ts per command),
#     MaxOutstandingR2T 4, a 16 KiB initiator MaxRecvDataSegmentLength (many Data-Ins).
. "${BALLASTD_TESTLIB:-$(dirname "$0")}/ballastd-lib.sh"

need_root
need tgtd fio nbdcopy
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"
SIZE=$((128 * 1024 * 1024))
start_tgtd "$SIZE"

param() { tgt update --mode target --tid 1 --name "$1" --value "$2" || hard "tgtadm $1=$2"; }

run_case() {
	name=$1
	shift
	start_ballastd --nbd "unix:$WORK/nbd.sock" "$@" || fail "$name: not ready (rc $BALLASTD_RC)"
	timeout 300 fio --ioengine=nbd --uri="$(uri)" --name="$name" --rw=randwrite \
		--bsrange=4k-1m --size=64M --iodepth=32 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 >"$WORK/fio-$name.log" 2>&1 || fail "$name: fio (see fio-$name.log)"
	timeout 120 nbdcopy "$(uri)" "$WORK/out.img" || fail "$name: nbdcopy"
	cmp -s "$WORK/out.img" "$WORK/lun1.img" || fail "$name: read-back differs from the LU"
	st=$(ctl_status) || fail "$name: ctl status"
	echo "$st" | grep -q "errors 0 " || fail "$name: errors: $st"
	echo "$st" | grep -q "protocol_errors 0" || fail "$name: protocol errors: $st"
	PARAMS=$(echo "$st" | grep '^params')
	log "$name: $PARAMS"
	stop_ballastd || fail "$name: exit status $BALLASTD_RC"
	rm -f "$WORK/out.img"
}

param InitialR2T No
param ImmediateData No
param FirstBurstLength 65536
param HeaderDigest CRC32C,None
param DataDigest CRC32C,None
run_case A --set node.conn[0].iscsi.HeaderDigest=CRC32C \
	--set node.conn[0].iscsi.DataDigest=CRC32C --set node.session.iscsi.ImmediateData=No \
	--set node.session.iscsi.FirstBurstLength=65536
echo "$PARAMS" | grep -q "header_digest CRC32C data_digest CRC32C" || fail "A: digests not in effect"
echo "$PARAMS" | grep -q "immediate_data No initial_r2t No" || fail "A: not unsolicited-only"

param ImmediateData Yes
param MaxRecvDataSegmentLength 4096
param MaxBurstLength 65536
param MaxOutstandingR2T 4
run_case B --set node.session.iscsi.MaxOutstandingR2T=4 \
	--set node.conn[0].iscsi.MaxRecvDataSegmentLength=16384
echo "$PARAMS" | grep -q "max_xmit_dsl 4096 max_recv_dsl 16384" || fail "B: segment lengths"
echo "$PARAMS" | grep -q "max_burst 65536 max_r2t 4 immediate_data Yes initial_r2t No" ||
	fail "B: burst parameters"
exit 0
