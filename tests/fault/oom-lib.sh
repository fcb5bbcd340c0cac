# Shared harness of the oom-*.sh fault runs (issue 7, design section (d)); sourced, not run.
#
# Set-up of every run: ballast-targetd on loopback with a memory LUN (it stays in the runner's
# cgroup, unconstrained), ballastd logged into it exporting the LUN on an NBD unix socket,
# and the LUN mounted: nbdfuse (exposes the export as a file) + losetup + ext4. nbdfuse
# allocates on every request (it is libnbd + FUSE, not ours), so it runs in its own
# unconstrained cgroup "fuse", never in a limited one: the runs measure ballastd, not nbdfuse.
#
# Everything is bounded: a watchdog (OOM_BUDGET seconds, default 150) prints diagnostics
# (state, wchan and kernel stack of every process we started, cgroup counters, hung-task lines
# from dmesg) and fails the test; every wait polls with a deadline; the EXIT trap releases
# every limit first (the valve), then unmounts lazily, detaches, aborts the FUSE connection if
# it hangs and kills what we started, by PID. Progress is read from outside the limited
# cgroups: ballastd's netreserve stats page (/dev/shm, tests/support/nrstat), /proc/PID/stat,
# and `ballastd ctl status` run from the runner's cgroup.
set -u
. "${top_srcdir:-.}/tests/support/lib.sh"

OOM_BALLASTD=${BALLASTD:-$top_builddir/ballastd}
OOM_TARGETD=${BALLAST_TARGETD:-$top_builddir/ballast-targetd}
OOM_TIQN=iqn.2024-01.org.ballast.test:oom
OOM_IIQN=iqn.2024-01.org.ballast.test:oom-initiator
: "${OOM_BUDGET:=150}"
: "${OOM_LUN_SIZE:=768M}"
# Realistic socket figures: fixed buffers and SO_RESERVE_MEM, as conf/ballastd.conf documents.
OOM_RESERVE_SETS="--set reserve.sndbuf=256K --set reserve.rcvbuf=256K \
--set reserve.sock_reserve=256K --set reserve.nbd_clients=4"

oom_log() { printf '%s: %s\n' "${0##*/}" "$*"; }
# Report lines: "figure NAME VALUE" (grep-able by the summary in doc/oom-safety.md).
oom_fig() { printf '%s: figure %s %s\n' "${0##*/}" "$1" "$2"; }

oom_setup() {
	nr_require_root
	nr_require_prog "$OOM_BALLASTD"
	nr_require_prog "$OOM_TARGETD"
	nr_require_prog "$NR_BIN/nrstat"
	for _t in nbdfuse losetup mkfs.ext4 fusermount3 fio; do
		command -v "$_t" >/dev/null 2>&1 || nr_skip "$_t not installed"
	done
	[ -c /dev/fuse ] || nr_skip "no /dev/fuse"
	[ -e /dev/loop-control ] || nr_skip "no loop devices"
	# A sanitizer runtime maps shadow memory behind our back: footprint-sized limits and
	# zero-allocation checks say nothing about Ballast there.
	nr_is_sanitized "$OOM_BALLASTD" && nr_skip "sanitizer build"
	nr_cg_init
	nr_tmpdir
	OOM_W=$NR_TMP
	# OOM_KEEP=DIR: copy the logs there at exit (debugging)
	[ -n "${OOM_KEEP:-}" ] && nr_on_exit "mkdir -p '$OOM_KEEP'; cp -r '$OOM_W/.' '$OOM_KEEP/'"
	OOM_DMESG0=$(dmesg 2>/dev/null | wc -l)
	OOM_PIDS=
	OOM_CGS=
	OOM_MNT=
	OOM_LOOP=
	OOM_FUSE_PID=
	OOM_BPID=
	if [ "$NR_CGV" = 2 ]; then
		nr_log "cgroup v2: memory.max/memory.high/memory.events paths (not exercised on" \
			"the machine this was written on, which has v1 only)"
	fi
	# The valve runs first at exit (registered last): lift every limit before anything
	# tries to unmount or kill, so nothing stays stuck in a memcg.
	_oom_watchdog
}

# oom_incg_bg CG LOG CMD...: CMD in the background inside CG, its stderr to LOG; sets
# OOM_BG to CMD's own PID (sh execs it: no subshell in between, so /proc/$OOM_BG is CMD).
oom_incg_bg() {
	_cg=$1
	_lg=$2
	shift 2
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$_cg" "$@" 2> "$_lg" &
	OOM_BG=$!
	nr_on_exit "kill -9 $OOM_BG"
}

# Register a cgroup (after nr_mkcg) so the valve and the diagnostics know it.
oom_mkcg() {
	nr_mkcg "$1"
	OOM_CGS="$OOM_CGS $NR_CG"
}

# Watch a PID in the diagnostics (name for the report).
oom_watch() { OOM_PIDS="$OOM_PIDS $1:$2"; }

# ---- diagnostics -----------------------------------------------------------------------------
oom_diag() {
	echo "==== diagnostics: $*"
	for _pw in $OOM_PIDS; do
		_p=${_pw%%:*}
		[ -d "/proc/$_p" ] || { echo "-- ${_pw#*:} pid $_p: gone"; continue; }
		echo "-- ${_pw#*:} pid $_p state $(awk '{ print $3 }' "/proc/$_p/stat")" \
			"wchan $(cat "/proc/$_p/wchan" 2>/dev/null)"
		for _tk in /proc/"$_p"/task/*; do
			_st=$(awk '{ print $3 }' "$_tk/stat" 2>/dev/null)
			[ "$_st" = D ] || [ "$_tk" = "/proc/$_p/task/$_p" ] || continue
			echo "   task ${_tk##*/} ($(cat "$_tk/comm" 2>/dev/null)) state $_st" \
				"wchan $(cat "$_tk/wchan" 2>/dev/null)"
			sed 's/^/      /' "$_tk/stack" 2>/dev/null | head -n 20
		done
	done
	for _cg in $OOM_CGS; do
		[ -d "$_cg" ] || continue
		echo "-- cgroup $_cg usage $(nr_cg_usage "$_cg")"
		if [ "$NR_CGV" = 1 ]; then
			echo "   limit $(cat "$_cg/memory.limit_in_bytes") failcnt" \
				"$(cat "$_cg/memory.failcnt") tcp $(cat "$_cg/memory.kmem.tcp.usage_in_bytes")"
			sed 's/^/   /' "$_cg/memory.oom_control"
		else
			echo "   max $(cat "$_cg/memory.max") high $(cat "$_cg/memory.high")"
			sed 's/^/   /' "$_cg/memory.events"
		fi
		echo "   procs: $(tr '\n' ' ' < "$_cg/cgroup.procs")"
	done
	if [ -n "$OOM_BPID" ] && [ -S "$OOM_W/ctl.sock" ]; then
		echo "-- ballastd ctl status"
		timeout 5 "$OOM_BALLASTD" ctl "$OOM_W/ctl.sock" status 2>&1 | sed 's/^/   /'
	fi
	if [ -n "${OOM_STATS:-}" ] && [ -e "$OOM_STATS" ]; then
		echo "-- ballastd stats page (non-zero counters)"
		"$NR_BIN/nrstat" "$OOM_STATS" | awk '$2 != 0' | tr '\n' ' ' | fold -w 96 | sed 's/^/   /'
		echo
	fi
	echo "-- /proc/pressure/memory"
	sed 's/^/   /' /proc/pressure/memory 2>/dev/null
	echo "-- new dmesg lines (oom, hung tasks, I/O errors)"
	oom_dmesg_new | grep -E 'oom|Killed process|blocked for more than|I/O error|EXT4-fs error' |
		tail -n 20 | sed 's/^/   /'
	for _f in "$OOM_W"/*.log; do
		[ -f "$_f" ] || continue
		echo "-- tail $_f"
		tail -n 8 "$_f" | sed 's/^/   /'
	done
	echo "==== end of diagnostics"
}

oom_dmesg_new() { dmesg 2>/dev/null | tail -n +"$((OOM_DMESG0 + 1))"; }

# A hang fails fast: after OOM_BUDGET seconds the watchdog prints the diagnostics and
# terminates the test (its EXIT trap then releases and cleans up).
_oom_watchdog() {
	_main=$$
	(
		trap - EXIT
		_s=0
		while [ $_s -lt "$OOM_BUDGET" ]; do
			sleep 1
			kill -0 "$_main" 2>/dev/null || exit 0
			_s=$((_s + 1))
		done
		echo "WATCHDOG: the test ran longer than $OOM_BUDGET s" > "$OOM_W/watchdog"
		kill -USR1 "$_main"
	) &
	OOM_WD=$!
	nr_on_exit "kill $OOM_WD"
	trap '_oom_fired' USR1
}
_oom_fired() {
	oom_diag "watchdog ($OOM_BUDGET s)" >&2
	nr_fail "hung: the run did not finish within $OOM_BUDGET s"
}

# oom_fail MSG: diagnostics, then fail.
oom_fail() { oom_diag "$*" >&2; nr_fail "$*"; }

# oom_wait PID SECS WHAT: waits for PID with a deadline; on timeout: diagnostics, fail.
# Sets OOM_RC to its exit status.
oom_wait() {
	_n=$(($2 * 10))
	while kill -0 "$1" 2>/dev/null; do
		[ $_n -gt 0 ] || oom_fail "$3 did not finish within $2 s"
		sleep 0.1
		_n=$((_n - 1))
	done
	wait "$1"
	OOM_RC=$?
}

# ---- the valve and the teardown --------------------------------------------------------------
oom_release_all() {
	for _cg in $OOM_CGS; do [ -d "$_cg" ] && nr_cg_release "$_cg"; done
}

_oom_teardown() {
	oom_release_all
	if [ -n "$OOM_MNT" ] && mountpoint -q "$OOM_MNT"; then
		timeout 10 umount "$OOM_MNT" || umount -l "$OOM_MNT"
	fi
	[ -n "$OOM_LOOP" ] && losetup -d "$OOM_LOOP"
	OOM_LOOP=
	if [ -n "$OOM_FUSE_PID" ]; then
		timeout 5 fusermount3 -u "$OOM_W/fuse" || {
			# a hung FUSE connection: abort ours (its number is the minor device)
			_dev=$(stat -c '%d' "$OOM_W/fuse" 2>/dev/null)
			[ -n "$_dev" ] && [ -e "/sys/fs/fuse/connections/$_dev/abort" ] &&
				echo 1 > "/sys/fs/fuse/connections/$_dev/abort"
			fusermount3 -u -z "$OOM_W/fuse"
		}
		kill "$OOM_FUSE_PID" 2>/dev/null
		OOM_FUSE_PID=
	fi
}

# ---- the daemons -----------------------------------------------------------------------------
# oom_wait_ready FILE PID WHAT: the --ready-fd line (the daemon closes the fd when ready).
oom_wait_ready() {
	_n=300
	until [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ]; do
		kill -0 "$2" 2>/dev/null || { cat "$OOM_W"/*.log >&2; nr_error "$3 exited before ready"; }
		[ $_n -gt 0 ] || { cat "$OOM_W"/*.log >&2; nr_error "$3 not ready in 30 s"; }
		sleep 0.1
		_n=$((_n - 1))
	done
}

# oom_start_targetd: memory LUN 1 of OOM_LUN_SIZE; sets OOM_PORTAL.
oom_start_targetd() {
	"$OOM_TARGETD" -f --portal 127.0.0.1:0 --target "$OOM_TIQN" --lun "1:mem:$OOM_LUN_SIZE" \
		--control "$OOM_W/tctl.sock" --ready-fd 3 3> "$OOM_W/tready" \
		> "$OOM_W/targetd.log" 2>&1 &
	OOM_TPID=$!
	nr_on_exit "kill $OOM_TPID; wait $OOM_TPID"
	oom_watch $OOM_TPID ballast-targetd
	oom_wait_ready "$OOM_W/tready" $OOM_TPID ballast-targetd
	OOM_PORTAL=$(head -n 1 "$OOM_W/tready")
}

# oom_start_ballastd CG ARGS...: ballastd (in cgroup CG, or here when CG is empty) logged
# into our target, LUN 1 on $OOM_W/nbd.sock, or with OOM_NBD=tcp on a loopback TCP port
# (OOM_NBD_URI, which oom_attach then uses). OOM_PRELOAD (LD_PRELOAD), OOM_ENV (more
# VAR=VALUE words for ballastd only) and OOM_WRAP (a command prefix that execs, e.g.
# fiu-run -x) apply. Sets OOM_BPID and OOM_STATS.
oom_start_ballastd() {
	_cg=$1
	shift
	rm -f "$OOM_W/bready" "$OOM_W/nbd.sock"
	_nbd=unix:$OOM_W/nbd.sock
	[ "${OOM_NBD:-unix}" = tcp ] && _nbd=tcp:127.0.0.1:${OOM_NBD_PORT:-0}
	set -- ${OOM_WRAP:-} "$OOM_BALLASTD" -f --portal "$OOM_PORTAL" --target "$OOM_TIQN" \
		--lun 1 --initiator-name "$OOM_IIQN" --nbd "$_nbd" \
		--control "$OOM_W/ctl.sock" --ready-fd 3 $OOM_RESERVE_SETS ${OOM_BALLASTD_ARGS:-} "$@"
	if [ -n "$_cg" ]; then
		env ${OOM_PRELOAD:+LD_PRELOAD="$OOM_PRELOAD"} ${OOM_ENV:-} sh -c \
			'echo $$ > "$0/cgroup.procs" && exec "$@"' "$_cg" "$@" \
			3> "$OOM_W/bready" > "$OOM_W/ballastd.log" 2>&1 &
	else
		env ${OOM_PRELOAD:+LD_PRELOAD="$OOM_PRELOAD"} ${OOM_ENV:-} "$@" \
			3> "$OOM_W/bready" > "$OOM_W/ballastd.log" 2>&1 &
	fi
	OOM_BPID=$!
	nr_on_exit "kill -9 $OOM_BPID"
	nr_on_exit "kill $OOM_BPID; sleep 0.5"
	oom_watch $OOM_BPID ballastd
	oom_wait_ready "$OOM_W/bready" $OOM_BPID ballastd
	if [ "${OOM_NBD:-unix}" = tcp ]; then
		_hp=$(sed -n 's/^nbd tcp:\([0-9.]*:[0-9]*\) lun 1$/\1/p' "$OOM_W/bready")
		[ -n "$_hp" ] || nr_error "no tcp line in ballastd's ready output: $(cat "$OOM_W/bready")"
		OOM_NBD_URI=nbd://$_hp
		OOM_NBD_PORT=${_hp##*:}  # a restarted ballastd listens on the same port
	fi
	OOM_STATS=/dev/shm/ballast-ballastd-$OOM_BPID
	nr_wait_file "$OOM_STATS" 5 || nr_error "no stats page $OOM_STATS"
}

# oom_stop_ballastd: SIGTERM, clean exit expected within 15 s; sets OOM_RC.
oom_stop_ballastd() {
	kill "$OOM_BPID"
	oom_wait "$OOM_BPID" 15 "ballastd shutdown"
}

# A ballastd counter from its stats page (from outside its cgroup).
oom_bstat() { nr_stat "$OOM_STATS" "$1"; }
# NBD requests and bytes ballastd has carried so far (sum over connections: iSCSI + NBD).
oom_progress() { oom_bstat sum.rx_bytes; }

# /proc figures of a PID: minflt, VmHWM (kB), VmRSS (kB).
oom_minflt() { awk '{ print $10 }' "/proc/$1/stat"; }
oom_hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
oom_rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

oom_status() { timeout 10 "$OOM_BALLASTD" ctl "$OOM_W/ctl.sock" status; }
# A field of a `ballastd ctl status` line: oom_status_field LINE-KEY FIELD
oom_status_field() {
	oom_status | awk -v l="$1" -v f="$2" '$1 == l { for (i = 2; i < NF; i++) if ($i == f) { print $(i + 1); exit } }'
}

# The target's command count (progress seen by the peer, outside every limited cgroup).
oom_tcmds() {
	timeout 10 "$OOM_TARGETD" ctl "$OOM_W/tctl.sock" status |
		awk '$1 == "counters" { for (i = 2; i < NF; i++) if ($i == "cmds") { print $(i + 1); exit } }'
}

# ---- the mounted disk ------------------------------------------------------------------------
# oom_attach SOCK: nbdfuse in its own unconstrained cgroup (on OOM_NBD_URI instead of SOCK
# when ballastd serves TCP), loop device, sets OOM_LOOP.
oom_attach() {
	mkdir -p "$OOM_W/fuse" "$OOM_W/mnt"
	if [ -z "${OOM_FUSE_CG:-}" ]; then
		oom_mkcg fuse
		OOM_FUSE_CG=$NR_CG
	fi
	if [ -n "${OOM_NBD_URI:-}" ]; then
		set -- "$OOM_NBD_URI"
	else
		set -- --unix "$1"
	fi
	nr_incg "$OOM_FUSE_CG" nbdfuse -C "${OOM_FUSE_CONNS:-2}" "$OOM_W/fuse" "$@" \
		> "$OOM_W/nbdfuse.log" 2>&1 &
	OOM_FUSE_PID=$!
	oom_watch $OOM_FUSE_PID nbdfuse
	_n=100
	until [ -e "$OOM_W/fuse/nbd" ]; do
		[ $_n -gt 0 ] || oom_fail "nbdfuse did not expose the disk"
		sleep 0.1
		_n=$((_n - 1))
	done
	OOM_LOOP=$(losetup -f --show --direct-io="${OOM_LOOP_DIO:-on}" "$OOM_W/fuse/nbd") || oom_fail "losetup"
	# the sysfs knobs of the exported device (design c.5 item 10): cap its dirty share
	_bdi=/sys/class/bdi/$(lsblk -ndo MAJ:MIN "$OOM_LOOP" | tr -d ' ')
	OOM_BDI=$_bdi
}

# oom_mkfs_mount: mkfs.ext4 + mount on OOM_LOOP at $OOM_W/mnt.
oom_mkfs_mount() {
	timeout 60 mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$OOM_LOOP" \
		> "$OOM_W/mkfs.log" 2>&1 || oom_fail "mkfs.ext4"
	oom_mount
}
oom_mount() {
	OOM_MNT=$OOM_W/mnt
	timeout 30 mount "$OOM_LOOP" "$OOM_MNT" || oom_fail "mount"
}

# oom_umount: clean unmount (flushes), bounded.
oom_umount() {
	timeout 60 umount "$OOM_MNT" &
	oom_wait $! 65 "umount"
	[ "$OOM_RC" = 0 ] || oom_fail "umount failed ($OOM_RC)"
}

# detach: clean unmount (nothing dirty left), loop, nbdfuse; then ballastd exits cleanly
oom_detach() {
	oom_umount
	losetup -d "$OOM_LOOP" || oom_fail "losetup -d"
	OOM_LOOP=
	fusermount3 -u "$OOM_W/fuse" || oom_fail "fusermount3 -u"
	oom_wait "$OOM_FUSE_PID" 10 "nbdfuse exit"
	OOM_FUSE_PID=
	oom_stop_ballastd
	[ "$OOM_RC" = 0 ] || oom_fail "ballastd exit status $OOM_RC"
}
oom_reattach() { # CG
	oom_start_ballastd "$1"
	oom_attach "$OOM_W/nbd.sock"
	oom_mount
}

# oom_start_qemu_nbd CG: the anchor, qemu-nbd with libiscsi (iscsi:// through --image-opts)
# logged into our target, LUN 1 on $OOM_W/nbd.sock; OOM_WRAP applies. Sets OOM_BPID.
oom_start_qemu_nbd() {
	_cg=$1
	rm -f "$OOM_W/nbd.sock"
	if [ "${OOM_NBD:-unix}" = tcp ]; then
		_port=$(oom_free_port)
		OOM_NBD_URI=nbd://127.0.0.1:$_port
		set -- -b 127.0.0.1 -p "$_port"
		_uri=$OOM_NBD_URI
	else
		set -- -k "$OOM_W/nbd.sock"
		_uri="nbd+unix:///?socket=$OOM_W/nbd.sock"
	fi
	set -- ${OOM_WRAP:-} qemu-nbd -t -e 4 "$@" --image-opts \
		"driver=iscsi,transport=tcp,portal=$OOM_PORTAL,target=$OOM_TIQN,lun=1,initiator-name=$OOM_IIQN"
	sh -c 'if [ -n "$0" ]; then echo $$ > "$0/cgroup.procs" || exit 99; fi; exec "$@"' \
		"$_cg" "$@" >> "$OOM_W/qemu-nbd.log" 2>&1 &
	OOM_BPID=$!
	OOM_STATS=
	nr_on_exit "kill -9 $OOM_BPID"
	oom_watch $OOM_BPID qemu-nbd
	_n=300
	until nbdinfo --size "$_uri" > /dev/null 2>&1; do
		kill -0 $OOM_BPID 2>/dev/null || nr_error "qemu-nbd exited: $(cat "$OOM_W/qemu-nbd.log")"
		[ $_n -gt 0 ] || nr_error "qemu-nbd not ready in 30 s"
		sleep 0.1
		_n=$((_n - 1))
	done
}

# oom_free_port: a loopback TCP port nobody listens on now.
oom_free_port() {
	_p=$((20000 + $$ % 20000))
	while ss -ltnH "sport = :$_p" | grep -q .; do _p=$((_p + 1)); done
	echo $_p
}

# oom_down: tear the stack down (valve, lazy unmount, loop, FUSE abort, daemon killed), keeping
# the target; for runs that set up several times. Never fails.
oom_down() {
	_oom_teardown
	if [ -n "$OOM_BPID" ]; then
		kill -9 "$OOM_BPID" 2>/dev/null
		wait "$OOM_BPID" 2>/dev/null
		OOM_BPID=
	fi
	OOM_MNT=
}

# oom_up CG ARGS...: targetd, ballastd (in CG), nbdfuse, loop, ext4 mounted.
oom_up() {
	oom_start_targetd
	oom_start_ballastd "$@"
	oom_attach "$OOM_W/nbd.sock"
	# teardown after the daemons' kills in the list: it runs before them
	[ -n "${_oom_td:-}" ] || nr_on_exit "_oom_teardown"
	_oom_td=1
	oom_mkfs_mount
}

# oom_fio_mib FILE READ|WRITE: the aggregate bandwidth of a fio output file, in MiB/s.
oom_fio_mib() {
	awk -v rw="$2:" '$1 == rw {
		v = $2; sub(/^bw=/, "", v); u = v; sub(/[0-9.]+/, "", u); v += 0
		if (u ~ /^KiB/) v /= 1024; else if (u ~ /^GiB/) v *= 1024; else if (u ~ /^B/) v /= 1048576
		printf "%.1f\n", v; exit }' "$1"
}

# The hung-task lines dmesg gained since the test started.
oom_hung_tasks() { oom_dmesg_new | grep -c 'blocked for more than' || :; }
