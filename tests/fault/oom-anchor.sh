#!/bin/sh
# Issue 7, run 7: the anchor. The same harness with qemu-nbd + libiscsi (an iscsi:// block
# driver, qemu-block-extra) in place of ballastd, through the faults of runs 2 and 3, with
# ballastd alongside, so the README can state the difference honestly:
#  allocfail  fiu-run -x, then libc/mm/* and posix/mm/* enabled once the filesystem is mounted
#  kill       the daemon and a 1 GiB hog share a cgroup limited to footprint + OOM_MARGIN
#             (ballastd: its --print-footprint; qemu-nbd has none: its cgroup usage once warm)
#  stall      the same with the cgroup's OOM killer disabled (v1) / memory.high (v2); the NBD
#             client on the daemon's unix socket
#  stall-tcp  the same stall with the NBD client on loopback TCP
# In each, fio (outside) writes and verifies through the mounted filesystem for OOM_PASS_SECS
# (default 5) and the target counts the commands it received (progress seen from outside). The
# outcomes are recorded in a table, not asserted: the run passes unless the harness fails.
# Root only (77 otherwise).
. "${top_srcdir:-.}/tests/fault/oom-lib.sh"
nr_require_prog "$NR_BIN/nrhog"
command -v qemu-nbd > /dev/null || nr_skip "qemu-nbd not installed"
command -v fiu-run > /dev/null || nr_skip "fiu-run not installed"
qemu-nbd --help 2>&1 | grep -q image-opts || nr_skip "qemu-nbd without --image-opts"
oom_setup
MARGIN=$(numfmt --from=iec "${OOM_MARGIN:-16M}")
SECS=${OOM_PASS_SECS:-5}
oom_start_targetd
TABLE=$OOM_W/table
printf '%-10s %-9s %-16s %-12s %-10s %s\n' run daemon fio daemon_after target_cmds notes > "$TABLE"

# start DAEMON CG
start() {
	if [ "$1" = ballastd ]; then
		oom_start_ballastd "$2"
	else
		oom_start_qemu_nbd "$2"
	fi
	oom_attach "$OOM_W/nbd.sock"
	[ -n "${_oom_td:-}" ] || nr_on_exit "_oom_teardown"
	_oom_td=1
	oom_mkfs_mount
}

# fio_try: a verified fio pass that may fail or hang (bounded); sets FIO (the outcome)
fio_try() {
	timeout -k 5 $((SECS + 20)) fio --name=anchor --directory="$OOM_MNT" --rw=randwrite \
		--bsrange=4k-256k --size=64M --direct=1 --ioengine=libaio --iodepth=16 \
		--verify=crc32c --verify_backlog=64 --verify_fatal=1 --time_based \
		--runtime="$SECS" --output="$OOM_W/fio.out" > /dev/null 2>&1 &
	_fpid=$!
	_n=$(((SECS + 30) * 10))
	while kill -0 $_fpid 2>/dev/null && [ $_n -gt 0 ]; do sleep 0.1; _n=$((_n - 1)); done
	if kill -0 $_fpid 2>/dev/null; then
		FIO="hung(D)"
		return
	fi
	wait $_fpid
	_r=$?
	if [ $_r = 0 ]; then
		FIO="ok,$(oom_fio_mib "$OOM_W/fio.out" WRITE)MiB/s"
	elif [ $_r = 124 ] || [ $_r = 137 ]; then
		FIO="stalled"
	elif grep -q 'Input/output error' "$OOM_W/fio.out"; then
		FIO="EIO"
	else
		FIO="failed($_r)"
	fi
}

daemon_state() {
	if kill -0 "$OOM_BPID" 2>/dev/null; then
		echo "alive($(awk '{ print $3 }' "/proc/$OOM_BPID/stat"))"
	else
		wait "$OOM_BPID"
		_r=$?
		[ $_r -gt 128 ] && echo "killed(sig$((_r - 128)))" || echo "exit($_r)"
	fi
}

row() { # RUN DAEMON NOTES
	printf '%-10s %-9s %-16s %-12s %-10s %s\n' "$1" "$2" "$FIO" "$(daemon_state)" \
		"$(($(oom_tcmds) - T0))" "$3" >> "$TABLE"
	oom_log "$1 $2: fio $FIO, $(tail -n 1 "$TABLE" | cut -c 38-)"
}

allocfail() { # DAEMON
	OOM_WRAP="fiu-run -x -f $OOM_W/fiu"
	start "$1" ""
	OOM_WRAP=
	timeout 10 fiu-ctrl -f "$OOM_W/fiu" -c 'enable name=libc/mm/*' -c 'enable name=posix/mm/*' \
		"$OOM_BPID" || nr_error "fiu-ctrl"
	T0=$(oom_tcmds)
	fio_try
	timeout 10 nbdinfo --size "nbd+unix:///?socket=$OOM_W/nbd.sock" > /dev/null 2>&1 &&
		nc=connects || nc=refused
	_last=$(grep -v '^$' "$OOM_W/$1.log" 2>/dev/null | tail -n 1 | cut -c 1-90)
	row allocfail "$1" "new NBD client $nc; log: $_last"
	oom_down
}

neighbour() { # MODE DAEMON
	OOM_NBD=unix
	OOM_NBD_URI=
	OOM_NBD_PORT=
	_mode=$1
	[ "$1" = stall-tcp ] && OOM_NBD=tcp _mode=stall
	oom_mkcg "$1-$2"
	# not _cg: the harness functions (nr_incg, oom_start_*) set that one
	_ncg=$NR_CG
	start "$2" "$_ncg"
	if [ "$2" = ballastd ]; then
		_fp=$("$OOM_BALLASTD" --print-footprint $OOM_RESERVE_SETS | awk '$1 == "total" { print $2 }')
	else
		_fp=$(nr_cg_usage "$_ncg")
	fi
	_lim=$((_fp + MARGIN))
	nr_cg_limit "$_ncg" $_lim
	if [ "$_mode" = stall ]; then
		if [ "$NR_CGV" = 1 ]; then echo 1 > "$_ncg/memory.oom_control"
		else echo $(($(nr_cg_usage "$_ncg") + MARGIN)) > "$_ncg/memory.high"; fi
	fi
	_o0=$(nr_cg_ooms "$_ncg")
	oom_incg_bg "$_ncg" "$OOM_W/hog.log" "$NR_BIN/nrhog" mem 1024
	_hog=$OOM_BG
	sleep 1
	T0=$(oom_tcmds)
	fio_try
	_hs=$(awk '{ print $3 }' "/proc/$_hog/stat" 2>/dev/null || echo gone)
	row "$1" "$2" "limit $_lim, OOM kills $(($(nr_cg_ooms "$_ncg") - _o0)), hog $_hs"
	oom_down
	nr_cg_rmdir "$_ncg"
}

for d in ${OOM_ANCHOR_DAEMONS:-ballastd qemu-nbd}; do
	for r in ${OOM_ANCHOR_RUNS:-allocfail kill stall stall-tcp}; do
		echo "---- $r" >> "$OOM_W/$d.log"
		case $r in
		allocfail) allocfail "$d" ;;
		*) neighbour "$r" "$d" ;;
		esac
	done
done
echo "---- anchor table (fio = verified writes through ext4 on the daemon's NBD export)"
cat "$TABLE"
exit 0
