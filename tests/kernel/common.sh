# Host-side helpers of the kernel tests (POSIX sh, sourced). A test does:
#   . "$(dirname "$0")/common.sh"
#   kt_init            # root? qemu? guest image built (build.sh)? else exit 77
#   kt_run [run.sh options] GUEST_SCRIPT
# Exit statuses follow the automake harness: 0 pass, 77 skip, 99 hard error.

KT_DIR=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$(pwd)}"
KT_PIDS=""
KT_TMP=""

kt_log() { printf '[%s %s] %s\n' "${0##*/}" "$(date +%H:%M:%S)" "$*" >&2; }
kt_skip() { kt_log "SKIP: $*"; exit 77; }
kt_error() { kt_log "ERROR: $*"; exit 99; }

kt_cleanup() {
	for p in $KT_PIDS; do kill "$p" 2>/dev/null; done
	for p in $KT_PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 20 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	KT_PIDS=""
	[ -n "$KT_TMP" ] && rm -rf "$KT_TMP"
	return 0
}

# kt_init: skip unless root with qemu; build (or check) the cached guest image.
kt_init() {
	[ "$(id -u)" = 0 ] || kt_skip "the kernel tier runs as root"
	command -v qemu-system-x86_64 >/dev/null ||
		kt_skip "qemu-system-x86_64 not installed (scripts/deps.sh installs qemu-system-x86)"
	command -v bash >/dev/null || kt_error "bash is needed by tests/kernel/run.sh"
	KT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kt.XXXXXX")
	trap 'kt_cleanup' EXIT
	trap 'exit 130' INT TERM
	bash "$KT_DIR/build.sh" --quiet
	rc=$?
	case $rc in
	0) ;;
	77) kt_skip "the kernel package cannot be had (see the build.sh message above)" ;;
	*) kt_error "tests/kernel/build.sh failed ($rc)" ;;
	esac
	KT_RELAY=${BALLAST_VMRELAY:-$top_builddir/tests/kernel/vmrelay}
	[ -x "$KT_RELAY" ] || KT_RELAY=""
}

# kt_run [run.sh options] GUEST_SCRIPT: boot, run, return the guest's status.
kt_run() {
	if [ -n "$KT_RELAY" ]; then
		bash "$KT_DIR/run.sh" --relay "$KT_RELAY" "$@"
	else
		bash "$KT_DIR/run.sh" "$@"
	fi
}

# kt_bg CMD...: start a host server in the background; kt_cleanup kills it
# on exit. Its PID is in KT_LAST_PID.
# shellcheck disable=SC2034 # KT_LAST_PID is for the caller
kt_bg() {
	"$@" &
	KT_PIDS="$KT_PIDS $!"
	KT_LAST_PID=$!
}

# kt_port: a TCP port nobody listens on at the moment (racy; servers that
# can bind port 0 and report it should do that instead).
kt_port() {
	n=0
	while [ $n -lt 100 ]; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000 ))
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
		n=$((n + 1))
	done
	kt_error "no free TCP port"
}

# kt_wait_port PORT SECONDS: wait until something listens on 127.0.0.1:PORT.
kt_wait_port() {
	n=0
	while [ $n -lt $(($2 * 10)) ]; do
		ss -Hltn "src 127.0.0.1:$1" | grep -q . && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

# kt_works PROGRAM: PROGRAM exists and answers --help with status 0 (the
# probe for daemons that are still being written).
kt_works() {
	[ -x "$1" ] && "$1" --help >/dev/null 2>&1
}

# kt_daemons: sets ballastd and targetd (the built daemons, or BALLASTD / BALLAST_TARGETD) and
# skips unless both answer --help.
kt_daemons() {
	ballastd=${BALLASTD:-$top_builddir/ballastd}
	targetd=${BALLAST_TARGETD:-$top_builddir/ballast-targetd}
	kt_works "$ballastd" || kt_skip "ballastd is not usable ($ballastd --help fails)"
	kt_works "$targetd" || kt_skip "ballast-targetd is not usable ($targetd --help fails)"
}

# kt_bg_ready NAME CMD...: start a daemon that reports readiness on descriptor 3
# (give it --ready-fd 3) in the background, output in $KT_TMP/NAME.log; wait up
# to 20 s for its first ready line. KT_READY holds the lines it wrote,
# KT_LAST_PID its PID; kt_cleanup kills it on exit.
kt_bg_ready() {
	name=$1
	shift
	: >"$KT_TMP/$name.ready"
	kt_bg "$@" 3>"$KT_TMP/$name.ready" >"$KT_TMP/$name.log" 2>&1
	i=0
	until grep -q . "$KT_TMP/$name.ready"; do
		kill -0 "$KT_LAST_PID" 2>/dev/null ||
			{ sed 's/^/  /' "$KT_TMP/$name.log" >&2; kt_error "$name exited before it was ready"; }
		[ $i -lt 200 ] || { sed 's/^/  /' "$KT_TMP/$name.log" >&2; kt_error "$name not ready after 20 s"; }
		sleep 0.1
		i=$((i + 1))
	done
	sleep 0.1
	# shellcheck disable=SC2034 # for the caller
	KT_READY=$(cat "$KT_TMP/$name.ready")
}

# kt_start_targetd IQN ARGS...: ballast-targetd ($targetd) on the host, portal 127.0.0.1:0,
# target IQN with ARGS (e.g. --lun 1:mem:256M) and BALLAST_TARGETD_ARGS; waits for it to be
# ready and sets hostport (127.0.0.1:PORT) and port. Log in $KT_TMP/targetd.log.
kt_start_targetd() {
	_iqn=$1
	shift
	# shellcheck disable=SC2086 # word-split on purpose
	kt_bg_ready targetd "$targetd" -f --portal 127.0.0.1:0 --target "$_iqn" "$@" \
		--ready-fd 3 ${BALLAST_TARGETD_ARGS:-}
	hostport=$(echo "$KT_READY" | head -n 1)
	port=${hostport##*:}
	[ "$hostport" = "127.0.0.1:$port" ] || kt_error "ballast-targetd reported '$hostport'"
	kt_log "ballast-targetd on $hostport, $_iqn"
}

# kt_ublk_module: builds (or takes from the cache) ublk_drv.ko for the guest kernel and sets
# KO to its path; skips (77) when it cannot be built, errors otherwise.
kt_ublk_module() {
	KO=$(bash "$KT_DIR/ublk-build-module.sh" --quiet)
	_rc=$?
	case $_rc in
	0) ;;
	77) kt_skip "ublk_drv.ko cannot be built (see the message above)" ;;
	*) kt_error "tests/kernel/ublk-build-module.sh failed ($_rc)" ;;
	esac
}

# kt_helper NAME: path of the guest helper tests/kernel/NAME (memhog, vmmon), built on
# demand in the build directory.
kt_helper() {
	h=$top_builddir/tests/kernel/$1
	# shellcheck disable=SC3013 # dash and busybox have -nt
	if [ ! -x "$h" ] || [ "$KT_DIR/$1.c" -nt "$h" ]; then
		${MAKE:-make} -C "$top_builddir" "tests/kernel/$1" >&2 || kt_error "cannot build tests/kernel/$1"
	fi
	echo "$h"
}

# kt_stacks CONSOLE_LOG: the kernel stacks vmmon printed at a wedge ("VMMON-STACK"), one line
# per thread of the watched server: tid, name, state, then its top frames.
kt_stacks() {
	awk '/VMMON-STACK/ { if (t != "") print t; sub(/.*VMMON-STACK tid /, "");
			t = "    " $1 " " $2 " " $4; n = 0; next }
		t != "" && /^\[<[0-9a-f]+>\] / {
			f = $2; sub(/\+0x.*/, "", f)
			if (n < 10) { t = t " " f; n++ }
			next }
		t != "" { print t; t = "" }
		END { if (t != "") print t }' "$1"
}

# kt_blocked CONSOLE_LOG: the tasks sysrq w found in D state (name*count).
kt_blocked() {
	sed -n 's/.*task:\([^ ]*\) *state:D.*/\1/p' "$1" | sort | uniq -c |
		awk '{ printf "%s%s%s", s, $2, ($1 > 1 ? "*" $1 : ""); s = " " }'
}
