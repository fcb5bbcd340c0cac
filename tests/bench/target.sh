#!/bin/sh
# Target benchmark (issue 4): libiscsi's iscsi-perf against ballast-targetd and tgtd serving the
# same backing file in /dev/shm, side by side in one run: 4 KiB random reads at QD1 and QD32 and
# 1 MiB sequential reads at BENCH_SEQ_QD. Prints IOPS, MiB/s, the target's CPU per I/O (user +
# system time of the whole target process over the run, /proc/PID/stat) and the ratios
# ballast-targetd/tgtd. The cells alternate between the two targets so that background load
# hits both alike.
#
# Writes: iscsi-perf only issues READ16 and Debian's fio has no libiscsi engine, so this script
# measures reads only; initiator.sh measures writes to both targets through qemu-nbd's libiscsi
# driver. See lib.sh for the environment (BENCH_SECONDS, BENCH_CELLS, ...).
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/bench/lib.sh"

bench_need iscsi-perf iscsi-readcapacity16 tgtd tgtadm ss

IQN_TGTD=iqn.2024-01.org.ballast.bench:tgtd
IQN_BALLAST=iqn.2024-01.org.ballast.bench:ballast

# CELL:METRIC:GOAL (the ratio issue 4 aims at), and how to run each cell.
CELLS="4k-randread-qd1:iops: 4k-randread-qd32:iops:2 1m-seqread:mibs:1.5"

cell_args() {
	case "$1" in
	4k-randread-qd1) echo "4096 1 -r" ;;
	4k-randread-qd32) echo "4096 32 -r" ;;
	1m-seqread) echo "1048576 $BENCH_SEQ_QD" ;;
	esac
}

# block_size URL: the LUN's logical block size (READ CAPACITY 16), 512 if unknown.
block_size() {
	_bs=$(timeout 20 iscsi-readcapacity16 "$1" 2>/dev/null |
		sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES:\([0-9]*\).*/\1/p')
	echo "${_bs:-512}"
}

# measure CELL COLUMN PID STATS URL: one iscsi-perf run of BENCH_SECONDS against the target PID
# (its tripwire counters in STATS, or empty).
measure() {
	_cell=$1 _col=$2 _pid=$3 _stats=$4 _url=$5
	if ! bench_usable "$_col" "$_pid"; then
		bench_record_na "$_cell" "$_col"
		return
	fi
	set -- $(cell_args "$_cell")
	_bytes=$1 _qd=$2 _rnd=${3:-}
	_blocks=$((_bytes / $(block_size "$_url")))
	bench_log "$_cell: $_col"
	_out="$bench_dir/perf-$_cell-$_col.out"
	_t0=$(bench_cpu_ticks "$_pid")
	_a0=$(bench_tripwire_allocs "$_stats")
	_s0=$(date +%s.%N)
	timeout -k 5 $((BENCH_SECONDS + 30)) iscsi-perf -t "$BENCH_SECONDS" -m "$_qd" \
		-b "$_blocks" $_rnd "$_url" >"$_out" 2>&1
	_rc=$?
	_s1=$(date +%s.%N)
	_t1=$(bench_cpu_ticks "$_pid")
	_a1=$(bench_tripwire_allocs "$_stats")
	# The last "iops average N" is the whole-run average (the progress lines end in \r).
	_iops=$(tr '\r' '\n' <"$_out" | sed -n 's/^iops average \([0-9]*\).*/\1/p' | tail -n1)
	if [ $_rc -ne 0 ] || [ -z "$_iops" ] || [ -z "$_t1" ]; then
		bench_failed=1
		if [ $_rc -eq 124 ] || [ $_rc -eq 137 ]; then
			bench_log "$_cell: $_col: iscsi-perf timed out: $_col is not measured any more"
			bench_hung="$bench_hung $_col"
		else
			bench_log "$_cell: $_col: iscsi-perf failed (rc $_rc)"
		fi
		bench_log "  $(tr '\r' '\n' <"$_out" | grep . | tail -n2 | tr '\n' ' ')"
		bench_record_na "$_cell" "$_col"
		return
	fi
	# I/Os done: the average rate over the timed part; the elapsed time also includes login.
	_ios=$((_iops * BENCH_SECONDS))
	_mibs=$(awk -v i="$_iops" -v b="$_bytes" 'BEGIN { printf "%.1f\n", i * b / 1048576 }')
	_alloc=n/a
	[ "$_a0" != n/a ] && [ "$_a1" != n/a ] && _alloc=$(bench_per_io $((_a1 - _a0)) "$_ios")
	bench_record "$_cell" "$_col" "$_iops" "$_mibs" "$(bench_cpu_us $((_t1 - _t0)) "$_ios")" \
		"$_alloc"
	bench_log "$_cell: $_col: $_iops IOPS, $_mibs MiB/s ($(awk -v a="$_s0" -v b="$_s1" \
		'BEGIN { printf "%.1f", b - a }') s)"
}

bench_backing target || { echo "ERROR: cannot create the backing file in /dev/shm"; exit 99; }
backing=$BENCH_BACKING

if ! tgtd_start "$IQN_TGTD" "$backing"; then
	bench_log "tgtd did not start: $(tail -n3 "$bench_dir/tgtd.log")"
	TGTD_PID=
fi
targetd_start "$IQN_BALLAST" "file:$backing" || bench_log "ballast-targetd: $TARGETD_WHY"

for spec in $CELLS; do
	cell=${spec%%:*}
	bench_want "$cell" || continue
	measure "$cell" tgtd "$TGTD_PID" "$TGTD_STATS" "iscsi://$TGTD_PORTAL/$IQN_TGTD/1"
	measure "$cell" ballast "$TARGETD_PID" "$TARGETD_STATS" "iscsi://$TARGETD_PORTAL/$IQN_BALLAST/1"
done

selected=
for spec in $CELLS; do
	bench_want "${spec%%:*}" && selected="$selected $spec"
done
echo
libiscsi_ver=$(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null)
echo "== target: iscsi-perf (libiscsi $libiscsi_ver, READ16)"
echo "   $BENCH_SECONDS s per cell, $BENCH_SIZE_MB MiB file in /dev/shm," \
	"tgtd bstype $BENCH_TGTD_BSTYPE,"
echo "   1 MiB cells at QD$BENCH_SEQ_QD; cpu-us = target process CPU microseconds per I/O,"
echo "   allocs = malloc-family calls in the target process per I/O (LD_PRELOAD tripwire)"
bench_table "" tgtd "tgtd $(tgtd -V 2>/dev/null)" ballast ballast-targetd \
	"(${TARGETD_WHY:-not ready})" $selected
echo
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "writes: not measured here (iscsi-perf reads only; Debian's fio has no libiscsi engine);"
echo "        initiator.sh measures 4 KiB and 1 MiB writes to both targets through qemu-nbd."
exit 0
