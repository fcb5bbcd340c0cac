# Shell helpers for Ballast's integration and fault tests. Source it:
#	. "$top_srcdir/tests/support/lib.sh"
# Exit codes follow the automake harness: 0 pass, 77 skip, 99 hard error; a failed check is 1.
# Every helper that creates something registers its cleanup; cleanup runs from an EXIT trap
# (also on INT/TERM), in reverse order, so a failing test never leaves a cgroup, a hog or a
# stats file behind.

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
NR_BIN=$top_builddir/tests/support
: "${TRIPWIRE:=$top_builddir/tests/support/.libs/libtripwire.so}"

nr_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
nr_skip() { nr_log "SKIP: $*"; exit 77; }
nr_fail() { nr_log "FAIL: $*"; exit 1; }
nr_error() { nr_log "ERROR: $*"; exit 99; }

# ---- cleanup ---------------------------------------------------------------------------------
_nr_cleanup=
nr_on_exit() { _nr_cleanup="$*
$_nr_cleanup"; }
_nr_run_cleanup() {
	set +e
	printf '%s\n' "$_nr_cleanup" | while IFS= read -r cmd; do
		[ -n "$cmd" ] && eval "$cmd" >/dev/null 2>&1
	done
	[ -n "${NR_TMP:-}" ] && rm -rf "$NR_TMP"
}
trap '_nr_run_cleanup' EXIT
trap 'exit 99' INT TERM HUP

# A private temporary directory, removed at exit.
nr_tmpdir() {
	NR_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ballast-test.XXXXXX") || nr_error "mktemp"
}

# Kill a background process by PID at exit (and wait for it).
nr_kill_at_exit() { nr_on_exit "kill -9 $1; wait $1"; }

# ---- preconditions ---------------------------------------------------------------------------
nr_require_root() { [ "$(id -u)" = 0 ] || nr_skip "needs root"; }
nr_require_prog() { [ -x "$1" ] || nr_error "missing $1 (make check builds it)"; }

# True when BIN is linked with a sanitizer runtime (LD_PRELOAD tripwires do not mix with ASan).
nr_is_sanitized() { ldd "$1" 2>/dev/null | grep -q 'libasan\|libubsan\|libtsan'; }

# Wait until FILE exists, up to SECS seconds (default 20). Returns 1 on timeout.
nr_wait_file() {
	_n=$(( ${2:-20} * 20 ))
	while [ ! -e "$1" ] && [ $_n -gt 0 ]; do sleep 0.05; _n=$((_n - 1)); done
	[ -e "$1" ]
}

# Value of "key value" line KEY in FILE.
nr_get() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }

# A counter from a netreserve stats file (tests/support/nrstat), or empty.
nr_stat() { "$NR_BIN/nrstat" "$1" "$2" 2>/dev/null; }

# ---- memory cgroups (design section d.0) -------------------------------------------------------
# nr_cg_init: sets NR_CGV (1 or 2) and NR_CGBASE (where we may create children), or skips.
nr_cg_init() {
	nr_require_root
	if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		NR_CGV=2
		NR_CGBASE=/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
		# v2: controllers only in cgroups without processes; move ourselves to a leaf
		mkdir -p "$NR_CGBASE/ballast-runner-$$" &&
			echo $$ > "$NR_CGBASE/ballast-runner-$$/cgroup.procs" ||
			nr_skip "cannot create a v2 leaf cgroup"
		nr_on_exit "echo $$ > '$NR_CGBASE/cgroup.procs'; rmdir '$NR_CGBASE/ballast-runner-$$'"
		echo +memory > "$NR_CGBASE/cgroup.subtree_control" 2>/dev/null ||
			nr_skip "cannot enable the v2 memory controller"
	elif [ -d /sys/fs/cgroup/memory ]; then
		NR_CGV=1
		NR_CGBASE=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	else
		nr_skip "no memory cgroup controller"
	fi
	[ -w "$NR_CGBASE" ] || nr_skip "memory cgroup $NR_CGBASE not writable"
}

# nr_mkcg NAME: creates a child cgroup and sets NR_CG to its path (no output: call it
# directly, not in $(...), so that its cleanup is registered in this shell). At exit: the
# valve, then its processes are killed and it is removed.
nr_mkcg() {
	NR_CG=$NR_CGBASE/ballast-$1-$$
	mkdir "$NR_CG" || nr_error "mkdir $NR_CG"
	nr_on_exit "nr_cg_rmdir '$NR_CG'"
}

nr_cg_rmdir() {
	[ -d "$1" ] || return 0
	nr_cg_release "$1"
	for _p in $(cat "$1/cgroup.procs"); do kill -9 "$_p"; done
	for _i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
	nr_log "could not remove $1"
}

# nr_incg CG CMD...: runs CMD inside cgroup CG (exec, so the PID is CMD's).
nr_incg() { _cg=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$_cg" "$@"; }

# nr_cg_limit CG BYTES
nr_cg_limit() {
	if [ "$NR_CGV" = 1 ]; then
		echo "$2" > "$1/memory.limit_in_bytes"
	else
		echo "$2" > "$1/memory.max"
		echo 0 > "$1/memory.swap.max" 2>/dev/null || :
	fi
}

# The release valve: lift the limit (and re-enable the v1 OOM killer) so nothing stays stuck.
nr_cg_release() {
	if [ "$NR_CGV" = 1 ]; then
		echo 0 > "$1/memory.oom_control" 2>/dev/null
		echo -1 > "$1/memory.limit_in_bytes"
	else
		echo max > "$1/memory.max"
		echo max > "$1/memory.high" 2>/dev/null
	fi
}

# OOM kills recorded in CG.
nr_cg_ooms() {
	if [ "$NR_CGV" = 1 ]; then
		awk '/^oom_kill / { print $2 }' "$1/memory.oom_control"
	else
		awk '/^oom_kill / { print $2 }' "$1/memory.events"
	fi
}

nr_cg_usage() {
	if [ "$NR_CGV" = 1 ]; then cat "$1/memory.usage_in_bytes"; else cat "$1/memory.current"; fi
}

# Kernel TCP counters worth recording around a fault run.
nr_netstat_mem() {
	command -v nstat >/dev/null 2>&1 || return 0
	nstat -az TcpExtPFMemallocDrop TcpExtTCPRcvQDrop TcpExtPruneCalled \
		TcpExtTCPMemoryPressures TcpExtTCPOFODrop TcpRetransSegs TcpExtTCPTimeouts 2>/dev/null
}

# Footprint of an nrexchange configuration (bytes), from netreserve_footprint via the program.
# Usage: nr_exchange_footprint ARGS... ; prints the "total" figure.
nr_exchange_footprint() { "$NR_BIN/nrexchange" --print-footprint "$@" | awk '$1 == "total" { print $2 }'; }
