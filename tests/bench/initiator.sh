#!/bin/sh
# Initiator benchmark (issue 5): fio's nbd engine against ballastd's NBD export and against
# qemu-nbd serving an iscsi:// URL (qemu's libiscsi driver), both logged in to the same target,
# first tgtd, then ballast-targetd, side by side in one run: 4 KiB randread/randwrite at QD1 and
# QD32, 1 MiB sequential read/write at BENCH_SEQ_QD. Also nbdkit's memory plugin, the NBD-only
# ceiling. Prints IOPS, MiB/s, the NBD daemon's CPU per I/O (user + system time of the whole
# process over the run, /proc/PID/stat), its malloc-family calls per I/O (the LD_PRELOAD
# tripwire in count mode, when tests/support/libtripwire.so is built) and the ratios
# ballastd/qemu-nbd. Cells alternate between the daemons so that background load hits all alike.
# See lib.sh for the environment (BENCH_SECONDS, BENCH_CELLS, ...).
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/bench/lib.sh"

bench_need fio tgtd tgtadm ss
if ! fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*nbd'; then
	echo "SKIP: this fio has no nbd engine"
	exit 77
fi

IQN_TGTD=iqn.2024-01.org.ballast.bench:tgtd
IQN_BALLAST=iqn.2024-01.org.ballast.bench:ballast

# CELL:METRIC:GOAL (the ratio issue 5 aims at: 3x qemu-nbd's 4 KiB IOPS, measured at QD32, and
# 2.5x its 1 MiB throughput).
CELLS="4k-randread-qd1:iops: 4k-randread-qd32:iops:3 4k-randwrite-qd1:iops:
4k-randwrite-qd32:iops:3 1m-read:mibs:2.5 1m-write:mibs:2.5"

# cell_args CELL: fio's rw, bs and iodepth for CELL.
cell_args() {
	case "$1" in
	4k-randread-qd1) echo "randread 4k 1" ;;
	4k-randread-qd32) echo "randread 4k 32" ;;
	4k-randwrite-qd1) echo "randwrite 4k 1" ;;
	4k-randwrite-qd32) echo "randwrite 4k 32" ;;
	1m-read) echo "read 1m $BENCH_SEQ_QD" ;;
	1m-write) echo "write 1m $BENCH_SEQ_QD" ;;
	esac
}

uri() {
	echo "nbd+unix:///?socket=$1"
}

bench_backing initiator || { echo "ERROR: cannot create the backing file in /dev/shm"; exit 99; }
backing=$BENCH_BACKING

# --- targets ---
if ! tgtd_start "$IQN_TGTD" "$backing"; then
	bench_log "tgtd did not start: $(tail -n3 "$bench_dir/tgtd.log")"
	TGTD_PID=
fi
targetd_start "$IQN_BALLAST" "file:$backing" || bench_log "ballast-targetd: $TARGETD_WHY"

# --- NBD daemons: name, pid and tripwire counters of each column ---
qemu_why="not installed"
bench_have qemu-nbd && qemu_why=
for t in tgtd ballast; do
	if [ $t = tgtd ]; then
		pid=$TGTD_PID portal=${TGTD_PORTAL:-} iqn=$IQN_TGTD
	else
		pid=$TARGETD_PID portal=$TARGETD_PORTAL iqn=$IQN_BALLAST
	fi
	eval "q_pid_$t= q_stats_$t= b_pid_$t= b_stats_$t= b_why_$t=\"(the target is not ready)\""
	[ -n "$pid" ] || continue
	if [ -z "$qemu_why" ]; then
		if qemunbd_start "$t" "iscsi://$portal/$iqn/1" "$bench_dir/qemu-nbd-$t.sock"; then
			eval "q_pid_$t=\$QEMUNBD_PID q_stats_$t=\$QEMUNBD_STATS"
		else
			bench_log "qemu-nbd over $t: $QEMUNBD_WHY"
		fi
	fi
	if ballastd_start "$t" "$portal" "$iqn" "$bench_dir/ballastd-$t.sock"; then
		eval "b_pid_$t=\$BALLASTD_PID b_stats_$t=\$BALLASTD_STATS b_why_$t="
	else
		bench_log "ballastd over $t: $BALLASTD_WHY"
		eval "b_why_$t=\"(\$BALLASTD_WHY)\""
	fi
done
if bench_have nbdkit; then
	nbdkit_start "$bench_dir/nbdkit.sock" || bench_log "nbdkit: $NBDKIT_WHY"
else
	NBDKIT_PID=
fi

# --- measurements, alternating between the daemons cell by cell ---
for spec in $CELLS; do
	cell=${spec%%:*}
	bench_want "$cell" || continue
	set -- $(cell_args "$cell")
	for t in tgtd ballast; do
		eval "qp=\$q_pid_$t qs=\$q_stats_$t bp=\$b_pid_$t bs=\$b_stats_$t"
		bench_measure_fio "$cell" "qemu-nbd@$t" "$qp" "$qs" \
			"$(uri "$bench_dir/qemu-nbd-$t.sock")" "$@"
		bench_measure_fio "$cell" "ballastd@$t" "$bp" "$bs" \
			"$(uri "$bench_dir/ballastd-$t.sock")" "$@"
	done
	bench_measure_fio "$cell" nbdkit "$NBDKIT_PID" "$NBDKIT_STATS" \
		"$(uri "$bench_dir/nbdkit.sock")" "$@"
done

# --- report ---
selected=
for spec in $CELLS; do
	bench_want "${spec%%:*}" && selected="$selected $spec"
done
qemu_ver=$(qemu-nbd --version 2>/dev/null | sed -n '1s/^qemu-nbd \([0-9][0-9.]*\).*/\1/p')
echo
echo "== initiator: fio $(fio --version 2>/dev/null) nbd engine, $BENCH_SECONDS s per cell,"
echo "   1 MiB cells sequential at QD$BENCH_SEQ_QD; targets serve one $BENCH_SIZE_MB MiB file in"
echo "   /dev/shm (tgtd bstype $BENCH_TGTD_BSTYPE); cpu-us = NBD daemon CPU microseconds per I/O,"
echo "   allocs = malloc-family calls in the NBD daemon per I/O (LD_PRELOAD tripwire)"
echo
echo "-- over tgtd $(tgtd -V 2>/dev/null)"
bench_table "" qemu-nbd@tgtd "qemu-nbd $qemu_ver (libiscsi)" ballastd@tgtd ballastd \
	"$b_why_tgtd" $selected
echo
echo "-- over ballast-targetd"
bench_table "" qemu-nbd@ballast "qemu-nbd $qemu_ver (libiscsi)" ballastd@ballast ballastd \
	"$b_why_ballast" $selected
echo
echo "-- whole stacks: ballastd + ballast-targetd against qemu-nbd + tgtd (same figures)"
bench_table "" qemu-nbd@tgtd "qemu-nbd + tgtd" ballastd@ballast "ballastd + ballast-targetd" \
	"$b_why_ballast" $selected
echo
echo "-- NBD-only ceiling: nbdkit $(nbdkit --version 2>/dev/null | cut -d' ' -f2) memory plugin," \
	"$BENCH_SIZE_MB MiB"
bench_table "" nbdkit "nbdkit memory" - - "" $selected
echo
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
exit 0
