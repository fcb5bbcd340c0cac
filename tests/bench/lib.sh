# tests/bench/lib.sh: shared helpers for the benchmark scripts (sourced; POSIX sh).
#
# Benchmarks print figures; they do not pass or fail. Every daemon a script starts is bounded
# by a timeout, listens on 127.0.0.1 only, and is stopped by the EXIT trap installed here. A
# ballast daemon that is missing, exits, or is not ready within BENCH_READY_TIMEOUT seconds
# gives "n/a (not ready)" columns while the anchors (tgtd, qemu-nbd, nbdkit) are still measured.
#
# Environment (all optional):
#	BENCH_SECONDS        seconds per measured cell (default 10)
#	BENCH_READY_TIMEOUT  seconds a daemon gets to become ready (default 20)
#	BENCH_SIZE_MB        size of the /dev/shm backing file and the RAM disks (default 1024)
#	BENCH_SEQ_QD         queue depth of the 1 MiB sequential cells (default 8)
#	BENCH_TGTD_BSTYPE    tgtd backing-store type, aio or rdwr (default aio)
#	BENCH_TRIPWIRE       0: do not preload the allocation tripwire into the daemons (default 1)
#	BENCH_CELLS          space-separated subset of the cell names to run (default: all)
#	BENCH_KEEP           non-empty: keep the scratch directory (logs) after the run
#	top_builddir, BALLAST_TARGETD, BALLASTD, TRIPWIRE  as in the automake test environment

: "${top_builddir:=.}"
: "${BENCH_SECONDS:=10}"
: "${BENCH_READY_TIMEOUT:=20}"
: "${BENCH_SIZE_MB:=1024}"
: "${BENCH_SEQ_QD:=8}"
: "${BENCH_TGTD_BSTYPE:=aio}"
: "${BENCH_CELLS:=}"
: "${BENCH_TRIPWIRE:=1}"
: "${BENCH_KEEP:=}"
: "${BALLAST_TARGETD:=$top_builddir/ballast-targetd}"
: "${BALLASTD:=$top_builddir/ballastd}"
: "${TRIPWIRE:=$top_builddir/tests/support/.libs/libtripwire.so}"

BENCH_CLK_TCK=$(getconf CLK_TCK)
BENCH_HOST=127.0.0.1

bench_dir=$(mktemp -d "${TMPDIR:-/tmp}/ballast-bench.XXXXXX") || exit 99
bench_results="$bench_dir/results"
: >"$bench_results"
bench_pids=""           # daemons to stop at exit
bench_tgtd_ctls=""      # tgtd control ports to shut down at exit
bench_files=""          # backing files to remove at exit
bench_ports=""          # ports handed out by bench_free_port in this run
bench_dead=""           # columns whose daemon exited during the run
bench_hung=""           # columns whose daemon stopped answering: not measured any more
bench_failed=""         # non-empty: something failed, keep the logs

bench_log() {
	echo "bench: $*" >&2
}

# bench_alive PID: true while PID runs (a zombie child counts as dead).
bench_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$_st" ] && [ "$_st" != Z ] && [ "$_st" != X ]
}

# bench_stop PID: SIGTERM, up to 5 s of grace, then SIGKILL; reaps the child.
bench_stop() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	_i=0
	while bench_alive "$1" && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	bench_alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

bench_cleanup() {
	for _c in $bench_tgtd_ctls; do
		tgtadm -C "$_c" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1
		tgtadm -C "$_c" --op delete --mode system >/dev/null 2>&1
	done
	for _p in $bench_pids; do
		bench_stop "$_p"
		# netreserve's published statistics (/dev/shm/ballast-NAME-PID) outlive a SIGKILL.
		rm -f /dev/shm/ballast-*-"$_p"
	done
	for _c in $bench_tgtd_ctls; do
		# tgtd leaves its management socket behind when it is killed.
		rm -f "/var/run/tgtd/socket.$_c" "/var/run/tgtd/socket.$_c.lock"
	done
	for _f in $bench_files; do
		rm -f "$_f"
	done
	if [ -n "$BENCH_KEEP" ] || [ -n "$bench_failed" ]; then
		bench_log "logs kept in $bench_dir"
	else
		rm -rf "$bench_dir"
	fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP

# bench_need TOOL...: exit 77 (skip) unless every TOOL is installed.
bench_need() {
	for _t in "$@"; do
		if ! command -v "$_t" >/dev/null 2>&1; then
			echo "SKIP: $_t is not installed"
			exit 77
		fi
	done
}

# bench_have TOOL: true if TOOL is installed.
bench_have() {
	command -v "$1" >/dev/null 2>&1
}

# bench_want CELL: true if CELL is selected by BENCH_CELLS (or BENCH_CELLS is empty).
bench_want() {
	[ -z "$BENCH_CELLS" ] && return 0
	for _w in $BENCH_CELLS; do
		[ "$_w" = "$1" ] && return 0
	done
	return 1
}

# bench_random N: a random number in [0, N).
bench_random() {
	echo $(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % $1 ))
}

# bench_free_port: sets BENCH_PORT to a TCP port that nothing listens on and that was not handed
# out before in this run.
bench_free_port() {
	_n=0
	while [ $_n -lt 100 ]; do
		BENCH_PORT=$(( $(bench_random 30000) + 20000 ))
		_n=$((_n + 1))
		case " $bench_ports " in *" $BENCH_PORT "*) continue ;; esac
		if [ -z "$(ss -Hltn "sport = :$BENCH_PORT" 2>/dev/null)" ]; then
			bench_ports="$bench_ports $BENCH_PORT"
			return 0
		fi
	done
	return 1
}

# tgtd_free_ctl: sets BENCH_CTL to a tgtd control port (1024..32767: tgtd's limit; it names
# the management socket /var/run/tgtd/socket.N, not a TCP port) that no tgtd uses.
tgtd_free_ctl() {
	_n=0
	while [ $_n -lt 100 ]; do
		BENCH_CTL=$(( $(bench_random 31000) + 1700 ))
		_n=$((_n + 1))
		[ -e "/var/run/tgtd/socket.$BENCH_CTL" ] || return 0
	done
	return 1
}

# bench_wait_listen PORT PID: waits until something listens on 127.0.0.1:PORT while PID lives.
bench_wait_listen() {
	_i=0
	while [ $_i -lt $((BENCH_READY_TIMEOUT * 10)) ]; do
		bench_alive "$2" || return 1
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# bench_wait_socket PATH PID: waits until the unix socket PATH exists while PID lives.
bench_wait_socket() {
	_i=0
	while [ $_i -lt $((BENCH_READY_TIMEOUT * 10)) ]; do
		bench_alive "$2" || return 1
		[ -S "$1" ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# bench_wait_ready FILE PID: waits until FILE (the --ready-fd output) holds a complete line
# while PID lives, then prints that first line.
bench_wait_ready() {
	_i=0
	while [ $_i -lt $((BENCH_READY_TIMEOUT * 10)) ]; do
		if [ -s "$1" ] && [ "$(tail -c1 "$1" | od -An -c | tr -d ' ')" = '\n' ]; then
			head -n1 "$1"
			return 0
		fi
		bench_alive "$2" || return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# bench_why PID LOG: why the daemon PID is not ready (prints "not ready: ...").
bench_why() {
	if bench_alive "$1"; then
		echo "not ready: no ready line within $BENCH_READY_TIMEOUT s"
	else
		echo "not ready: exited: $(grep . "$2" 2>/dev/null | tail -n1)"
	fi
}

# bench_cpu_ticks PID: utime + stime of the whole process (all threads), in clock ticks.
bench_cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# bench_tripwire_allocs FILE: malloc-family calls (malloc, calloc, realloc, posix_memalign...)
# counted so far by the tripwire whose TRIPWIRE_STATS file is FILE, armed or not (struct
# tripwire_counters: int64 total_allocs at byte 56); n/a without a counters file.
bench_tripwire_allocs() {
	if [ -s "${1:-}" ]; then
		od -An -v -t d8 -j 56 -N 8 "$1" | tr -d ' '
	else
		echo n/a
	fi
}

# bench_backing NAME: creates a BENCH_SIZE_MB file in /dev/shm filled with data (so that reads
# do not hit holes), removed at exit; sets BENCH_BACKING to its path.
bench_backing() {
	BENCH_BACKING="/dev/shm/ballast-bench.$$.$1.img"
	bench_files="$bench_files $BENCH_BACKING"
	dd if=/dev/urandom of="$BENCH_BACKING" bs=1M count=1 status=none || return 1
	# A random first MiB, then copies of it: cheap to make, and not all zeroes.
	_k=1
	while [ $_k -lt "$BENCH_SIZE_MB" ]; do
		dd if="$BENCH_BACKING" of="$BENCH_BACKING" bs=1M count="$_k" seek="$_k" \
			conv=notrunc status=none || return 1
		_k=$((_k * 2))
	done
	truncate -s "${BENCH_SIZE_MB}M" "$BENCH_BACKING"
}

# bench_tripwire NAME: sets BENCH_PRELOAD and BENCH_STATS for a daemon started with
#	LD_PRELOAD="$BENCH_PRELOAD" TRIPWIRE_MODE=count TRIPWIRE_STATS="$BENCH_STATS" ...
# (the tripwire counts allocations and never fails them in count mode); both are empty when the
# tripwire is not built.
bench_tripwire() {
	BENCH_PRELOAD=
	BENCH_STATS=
	if [ "$BENCH_TRIPWIRE" != 0 ] && [ -f "$TRIPWIRE" ]; then
		BENCH_PRELOAD=$TRIPWIRE
		BENCH_STATS="$bench_dir/$1.tripwire"
	fi
}

# tgtd_start IQN BACKING: starts tgtd on a free port with its own control port, exporting
# BACKING as LUN 1 of IQN with BENCH_TGTD_BSTYPE, the tripwire preloaded in count mode when built.
# Sets TGTD_PID, TGTD_PORTAL, TGTD_STATS (tripwire counters file or empty); false on failure.
tgtd_start() {
	TGTD_PID=
	TGTD_PORTAL=
	bench_tripwire tgtd
	TGTD_STATS=$BENCH_STATS
	bench_free_port || return 1
	_port=$BENCH_PORT
	tgtd_free_ctl || return 1
	_ctl=$BENCH_CTL
	LD_PRELOAD="$BENCH_PRELOAD" TRIPWIRE_MODE=count TRIPWIRE_STATS="$BENCH_STATS" TRIPWIRE_QUIET=1 \
		tgtd -f -C "$_ctl" --iscsi "portal=$BENCH_HOST:$_port" >"$bench_dir/tgtd.log" 2>&1 &
	TGTD_PID=$!
	bench_pids="$bench_pids $TGTD_PID"
	bench_tgtd_ctls="$bench_tgtd_ctls $_ctl"
	_i=0
	until tgtadm -C "$_ctl" --op show --mode sys >/dev/null 2>&1; do
		bench_alive "$TGTD_PID" || return 1
		[ $_i -ge $((BENCH_READY_TIMEOUT * 10)) ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	tgtadm -C "$_ctl" --lld iscsi --op new --mode target --tid 1 -T "$1" &&
		tgtadm -C "$_ctl" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 \
			-b "$2" --bstype "$BENCH_TGTD_BSTYPE" &&
		tgtadm -C "$_ctl" --lld iscsi --op bind --mode target --tid 1 -I ALL || return 1
	bench_wait_listen "$_port" "$TGTD_PID" || return 1
	TGTD_PORTAL="$BENCH_HOST:$_port"
}

# targetd_start IQN LUNSPEC: starts ballast-targetd on an ephemeral port with LUN 1 = LUNSPEC
# (file:PATH or mem:SIZE), the tripwire preloaded in count mode when built. Sets TARGETD_PID,
# TARGETD_PORTAL, TARGETD_STATS, or TARGETD_WHY and returns false.
targetd_start() {
	TARGETD_PID=
	TARGETD_PORTAL=
	TARGETD_WHY=
	bench_tripwire targetd
	TARGETD_STATS=$BENCH_STATS
	if [ ! -x "$BALLAST_TARGETD" ]; then
		TARGETD_WHY="not built ($BALLAST_TARGETD)"
		return 1
	fi
	_r="$bench_dir/targetd.ready"
	: >"$_r"
	LD_PRELOAD="$BENCH_PRELOAD" TRIPWIRE_MODE=count TRIPWIRE_STATS="$BENCH_STATS" TRIPWIRE_QUIET=1 \
		"$BALLAST_TARGETD" -f --portal "$BENCH_HOST:0" --target "$1" --lun "1:$2" --ready-fd 9 \
		9>"$_r" >"$bench_dir/targetd.log" 2>&1 &
	TARGETD_PID=$!
	bench_pids="$bench_pids $TARGETD_PID"
	if ! TARGETD_PORTAL=$(bench_wait_ready "$_r" "$TARGETD_PID"); then
		TARGETD_WHY=$(bench_why "$TARGETD_PID" "$bench_dir/targetd.log")
		bench_stop "$TARGETD_PID"
		TARGETD_PID=
		TARGETD_PORTAL=
		return 1
	fi
	case "$TARGETD_PORTAL" in
	127.0.0.1:[0-9]*) ;;
	*)
		TARGETD_WHY="ready line is not HOST:PORT: '$TARGETD_PORTAL'"
		bench_stop "$TARGETD_PID"
		TARGETD_PID=
		return 1
		;;
	esac
}

# ballastd_start NAME PORTAL IQN SOCKET: starts ballastd exporting LUN 1 of IQN at PORTAL on the
# unix socket SOCKET, with the tripwire preloaded in count mode when it is built. Sets
# BALLASTD_PID and BALLASTD_STATS (tripwire counters file, empty without the tripwire), or
# BALLASTD_WHY and returns false.
ballastd_start() {
	BALLASTD_PID=
	BALLASTD_WHY=
	BALLASTD_STATS=
	if [ ! -x "$BALLASTD" ]; then
		BALLASTD_WHY="not built ($BALLASTD)"
		return 1
	fi
	_r="$bench_dir/ballastd-$1.ready"
	: >"$_r"
	bench_tripwire "ballastd-$1"
	BALLASTD_STATS=$BENCH_STATS
	LD_PRELOAD="$BENCH_PRELOAD" TRIPWIRE_MODE=count TRIPWIRE_STATS="$BENCH_STATS" TRIPWIRE_QUIET=1 \
		"$BALLASTD" -f --portal "$2" --target "$3" --lun 1 --nbd "unix:$4" \
		--initiator-name "iqn.2024-01.org.ballast.bench:ballastd-$1" --ready-fd 9 9>"$_r" \
		>"$bench_dir/ballastd-$1.log" 2>&1 &
	BALLASTD_PID=$!
	bench_pids="$bench_pids $BALLASTD_PID"
	if ! bench_wait_ready "$_r" "$BALLASTD_PID" >/dev/null ||
	   ! bench_wait_socket "$4" "$BALLASTD_PID"; then
		BALLASTD_WHY=$(bench_why "$BALLASTD_PID" "$bench_dir/ballastd-$1.log")
		bench_stop "$BALLASTD_PID"
		BALLASTD_PID=
		return 1
	fi
}

# qemunbd_start NAME URL SOCKET: serves URL (an iscsi:// URL: qemu's libiscsi driver) with
# qemu-nbd on SOCKET, the tripwire preloaded in count mode when built (it counts, never
# fails). Sets QEMUNBD_PID, QEMUNBD_STATS, or QEMUNBD_WHY and returns false.
qemunbd_start() {
	QEMUNBD_PID=
	QEMUNBD_WHY=
	QEMUNBD_STATS=
	bench_tripwire "qemu-nbd-$1"
	QEMUNBD_STATS=$BENCH_STATS
	LD_PRELOAD="$BENCH_PRELOAD" TRIPWIRE_MODE=count TRIPWIRE_STATS="$BENCH_STATS" TRIPWIRE_QUIET=1 \
		qemu-nbd -f raw --persistent --shared=4 --socket="$3" "$2" \
		>"$bench_dir/qemu-nbd-$1.log" 2>&1 &
	QEMUNBD_PID=$!
	bench_pids="$bench_pids $QEMUNBD_PID"
	if ! bench_wait_socket "$3" "$QEMUNBD_PID"; then
		QEMUNBD_WHY=$(bench_why "$QEMUNBD_PID" "$bench_dir/qemu-nbd-$1.log")
		bench_stop "$QEMUNBD_PID"
		QEMUNBD_PID=
		return 1
	fi
}

# nbdkit_start SOCKET: nbdkit's memory plugin (BENCH_SIZE_MB) on SOCKET, the tripwire preloaded
# in count mode when built. Sets NBDKIT_PID, NBDKIT_STATS, or NBDKIT_WHY and returns false.
nbdkit_start() {
	NBDKIT_PID=
	NBDKIT_WHY=
	NBDKIT_STATS=
	bench_tripwire nbdkit
	NBDKIT_STATS=$BENCH_STATS
	LD_PRELOAD="$BENCH_PRELOAD" TRIPWIRE_MODE=count TRIPWIRE_STATS="$BENCH_STATS" TRIPWIRE_QUIET=1 \
		nbdkit -f --exit-with-parent -U "$1" memory "${BENCH_SIZE_MB}M" \
		>"$bench_dir/nbdkit.log" 2>&1 &
	NBDKIT_PID=$!
	bench_pids="$bench_pids $NBDKIT_PID"
	if ! bench_wait_socket "$1" "$NBDKIT_PID"; then
		NBDKIT_WHY=$(bench_why "$NBDKIT_PID" "$bench_dir/nbdkit.log")
		bench_stop "$NBDKIT_PID"
		NBDKIT_PID=
		return 1
	fi
}

# bench_usable COLUMN PID: true if the daemon PID of COLUMN runs and has not hung before.
bench_usable() {
	[ -n "$2" ] || return 1
	if ! bench_alive "$2"; then
		case " $bench_dead " in
		*" $1 "*) ;;
		*)
			bench_log "$1: the daemon (pid $2) has exited: not measured any more"
			bench_dead="$bench_dead $1"
			bench_failed=1
			;;
		esac
		return 1
	fi
	case " $bench_hung " in *" $1 "*) return 1 ;; esac
	return 0
}

# bench_record CELL COLUMN IOPS MIBS CPU_US_PER_IO ALLOCS_PER_IO: one measured figure set
# ("n/a" allowed in any field).
bench_record() {
	echo "$1 $2 $3 $4 $5 $6" >>"$bench_results"
}

# bench_record_na CELL COLUMN: a column that could not be measured.
bench_record_na() {
	bench_record "$1" "$2" n/a n/a n/a n/a
}

# bench_per_io DELTA IOS [SCALE]: DELTA * SCALE / IOS with 2 decimals, or n/a.
bench_per_io() {
	awk -v d="$1" -v n="$2" -v s="${3:-1}" 'BEGIN {
		if (d == "n/a" || d == "" || n + 0 <= 0) print "n/a"
		else printf "%.2f\n", d * s / n
	}'
}

# bench_cpu_us DELTA_TICKS IOS: server CPU microseconds per I/O.
bench_cpu_us() {
	bench_per_io "$1" "$2" "$(awk -v t="$BENCH_CLK_TCK" 'BEGIN { print 1000000 / t }')"
}

# bench_fio NAME URI RW BS QD: one time-based fio run (nbd engine) of BENCH_SECONDS, killed
# after 30 s more. Sets FIO_IOPS, FIO_MIBS, FIO_IOS and FIO_RC (124 or 137: timed out); false
# if fio failed.
bench_fio() {
	FIO_IOPS=n/a
	FIO_MIBS=n/a
	FIO_IOS=0
	FIO_RC=0
	_o="$bench_dir/fio-$1.terse"
	_rand="--norandommap --randrepeat=0"
	timeout -k 5 $((BENCH_SECONDS + 30)) fio --name="$1" --ioengine=nbd --uri="$2" \
		--rw="$3" --bs="$4" --iodepth="$5" --time_based --runtime="$BENCH_SECONDS" \
		$_rand --output-format=terse --output="$_o" >"$bench_dir/fio-$1.out" 2>&1
	FIO_RC=$?
	[ $FIO_RC -eq 0 ] || return 1
	# terse v3: read kb/bw/iops in fields 6-8, write kb/bw/iops in fields 47-49.
	case "$3" in
	*read) _f=6 ;;
	*) _f=47 ;;
	esac
	_line=$(awk -F';' -v f="$_f" -v bs="$4" '
		function bytes(s) {
			if (s ~ /[kK]$/) return s * 1024
			if (s ~ /[mM]$/) return s * 1048576
			return s + 0
		}
		$1 == 3 { printf "%d %.1f %d\n", $(f + 2), $(f + 1) / 1024, $f * 1024 / bytes(bs) }' "$_o")
	[ -n "$_line" ] || return 1
	set -- $_line
	FIO_IOPS=$1
	FIO_MIBS=$2
	FIO_IOS=$3
	[ "$FIO_IOS" -gt 0 ]
}

# bench_measure_fio CELL COLUMN PID STATS URI RW BS QD: runs bench_fio against the NBD server
# PID (tripwire counters in STATS, may be empty) and records IOPS, MiB/s, server CPU per I/O and
# allocations per I/O.
bench_measure_fio() {
	_cell=$1 _col=$2 _pid=$3 _stats=$4
	shift 4
	if ! bench_usable "$_col" "$_pid"; then
		bench_record_na "$_cell" "$_col"
		return
	fi
	bench_log "$_cell: $_col"
	_t0=$(bench_cpu_ticks "$_pid")
	_a0=$(bench_tripwire_allocs "$_stats")
	if ! bench_fio "$_cell-$_col" "$@"; then
		bench_failed=1
		case $FIO_RC in
		124 | 137)
			bench_log "$_cell: $_col: fio timed out: $_col is not measured any more"
			bench_hung="$bench_hung $_col"
			;;
		*)
			bench_log "$_cell: $_col: fio failed (rc $FIO_RC)"
			;;
		esac
		bench_log "  $(tail -n2 "$bench_dir/fio-$_cell-$_col.out" | tr '\n' ' ')"
		bench_record_na "$_cell" "$_col"
		return
	fi
	_t1=$(bench_cpu_ticks "$_pid")
	_a1=$(bench_tripwire_allocs "$_stats")
	_alloc=n/a
	[ "$_a0" != n/a ] && [ "$_a1" != n/a ] && _alloc=$(bench_per_io $((_a1 - _a0)) "$FIO_IOS")
	_cpu=n/a
	[ -n "$_t0" ] && [ -n "$_t1" ] && _cpu=$(bench_cpu_us $((_t1 - _t0)) "$FIO_IOS")
	bench_record "$_cell" "$_col" "$FIO_IOPS" "$FIO_MIBS" "$_cpu" "$_alloc"
}

# bench_table TITLE ANCHOR ANCHOR_LABEL BALLAST BALLAST_LABEL NOTE CELL:METRIC:GOAL...
# Prints the recorded figures of the ANCHOR and BALLAST columns side by side with the ratios
# BALLAST/ANCHOR; METRIC (iops or mibs) and GOAL name the ratio aimed at for that cell. BALLAST
# may be "-" for a single-column table. NOTE is printed for n/a BALLAST columns.
bench_table() {
	_title=$1 _acol=$2 _alab=$3 _bcol=$4 _blab=$5 _note=$6
	shift 6
	awk -v title="$_title" -v acol="$_acol" -v alab="$_alab" -v bcol="$_bcol" \
	    -v blab="$_blab" -v note="$_note" -v cells="$*" '
	function num(x) { return x != "n/a" && x != "" }
	function ratio(b, a) { return (num(a) && num(b) && a > 0) ? sprintf("%.2fx", b / a) : "n/a" }
	function cols(c,   k) {
		k = c SUBSEP
		if (!(k "iops" in v))
			return sprintf("%9s %8s %8s %8s", "-", "-", "-", "-")
		return sprintf("%9s %8s %8s %8s", v[k "iops"], v[k "mibs"], v[k "cpu"], v[k "alloc"])
	}
	{ k = $1 SUBSEP $2 SUBSEP; v[k "iops"] = $3; v[k "mibs"] = $4; v[k "cpu"] = $5; v[k "alloc"] = $6 }
	END {
		if (title != "")
			print title
		hdr = sprintf("%9s %8s %8s %8s", "IOPS", "MiB/s", "cpu-us", "allocs")
		if (bcol == "-") {
			printf "%-18s | %-36s\n", "", alab
			printf "%-18s | %s\n", "cell", hdr
		} else {
			printf "%-18s | %-36s | %-36s | %s\n", "", alab, blab, "ratio " blab "/" alab
			printf "%-18s | %s | %s | %7s %7s %7s | %s\n", "cell", hdr, hdr,
			       "IOPS", "MiB/s", "cpu", "goal"
		}
		n = split(cells, cl, " ")
		na = 0
		for (i = 1; i <= n; i++) {
			split(cl[i], p, ":")
			c = p[1]
			a = c SUBSEP acol SUBSEP
			if (bcol == "-") {
				printf "%-18s | %s\n", c, cols(c SUBSEP acol)
				continue
			}
			b = c SUBSEP bcol SUBSEP
			if (!num(v[b "iops"]))
				na = 1
			ri = ratio(v[b "iops"], v[a "iops"])
			rm = ratio(v[b "mibs"], v[a "mibs"])
			rc = ratio(v[b "cpu"], v[a "cpu"])
			goal = ""
			if (p[3] != "") {
				got = p[2] == "iops" ? ri : rm
				goal = sprintf("%sx %s", p[3], p[2] == "iops" ? "IOPS" : "MiB/s")
				if (got != "n/a")
					goal = goal ((got + 0 >= p[3] + 0) ? " (met)" : " (not yet)")
			}
			printf "%-18s | %s | %s | %7s %7s %7s | %s\n", c, cols(c SUBSEP acol),
			       cols(c SUBSEP bcol), ri, rm, rc, goal
		}
		if (na && note != "")
			print "  " blab ": n/a " note
	}' "$bench_results"
}
