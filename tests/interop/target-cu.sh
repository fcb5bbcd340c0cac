#!/bin/sh
# libiscsi's conformance suite against ballast-targetd: suites that exercise the iSCSI
# transport (CmdSN window, DataSN checking, residuals, task management, NOP, reads and writes
# with immediate data, unsolicited data and R2T) must pass completely on a mem LUN and on a
# file LUN. With BALLAST_CU_FULL=1 the whole --test=ALL suite runs too and the script prints
# passed/failed/skipped (a test that prints [SKIPPED] counts as skipped) without failing on
# device-model gaps.
. "${top_srcdir:-.}/tests/interop/target-lib.sh"
tgt_need iscsi-test-cu
nr_tmpdir
truncate -s 256M "$NR_TMP/backing"

tgt_start --target "$TGT_IQN" --lun 1:mem:256M --lun "2:file:$NR_TMP/backing"

SUITES="SCSI.Inquiry SCSI.ReadCapacity10 SCSI.ReadCapacity16 SCSI.Read6 SCSI.Read10
SCSI.Read12 SCSI.Read16 SCSI.Write10 SCSI.Write12 SCSI.Write16 SCSI.TestUnitReady
SCSI.ReportSupportedOpcodes SCSI.PrinReadKeys SCSI.ProutRegister SCSI.Reserve6
SCSI.Verify16 iSCSI.iSCSIcmdsn iSCSI.iSCSIdatasn iSCSI.iSCSITMF
iSCSI.iSCSIResiduals.Read10Invalid iSCSI.iSCSIResiduals.Read10Residuals
iSCSI.iSCSIResiduals.Read16Residuals iSCSI.iSCSIResiduals.Write10Residuals
iSCSI.iSCSIResiduals.Write16Residuals iSCSI.iSCSIResiduals.WriteVerify16Residuals"

# Per-test classification of iscsi-test-cu output.
classify() {
	awk '
	function flush() { if (name != "") { if (f) { nf++; fl = fl " " name } else if (sk) ns++; else np++ } }
	/^Suite: / { flush(); name = ""; suite = $2; next }
	/^  Test: / { flush(); name = suite "." $2; f = 0; sk = 0 }
	/^Run Summary/ { flush(); name = "" }
	name != "" && /(^|\.\.\.)FAILED$/ { f = 1 }
	name != "" && /\[SKIPPED\]/ { sk = 1 }
	END { flush(); printf "passed %d failed %d skipped %d total %d\nfailed:%s\n", np, nf, ns, np + nf + ns, fl }
	' "$1"
}

for lun in 1 2; do
	for s in $SUITES; do
		timeout 300 iscsi-test-cu --dataloss --test="$s" "$(tgt_url $lun)" \
			>"$NR_TMP/cu.out" 2>&1
		res=$(classify "$NR_TMP/cu.out")
		case $res in
		*"failed 0 "*"total 0"*) tgt_fail "LUN $lun $s: no test ran: $(tail -5 "$NR_TMP/cu.out")" ;;
		*"failed 0 "*) nr_log "LUN $lun $s: $(echo "$res" | head -n 1)" ;;
		*)
			tail -n 40 "$NR_TMP/cu.out" >&2
			tgt_fail "LUN $lun $s: $res"
			;;
		esac
		tgt_alive
	done
done

if [ "${BALLAST_CU_FULL:-0}" = 1 ]; then
	for lun in 1 2; do
		timeout 1800 iscsi-test-cu --dataloss --test=ALL "$(tgt_url $lun)" \
			>"$NR_TMP/all.$lun" 2>&1
		nr_log "LUN $lun ALL: $(classify "$NR_TMP/all.$lun" | tr '\n' ' ')"
		tgt_alive
	done
fi
tgt_stop
exit 0
