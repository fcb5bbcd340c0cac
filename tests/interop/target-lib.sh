# Helpers for the ballast-targetd tests (sourced, not a test). Builds on tests/support/lib.sh.
#	. "$top_srcdir/tests/interop/target-lib.sh"
# tgt_start ARGS...   starts ballast-targetd in the foreground on 127.0.0.1:0 (plus ARGS,
#                     environment words from $TGT_ENV),
#                     waits for --ready-fd, sets TGT_PID, TGT_PORTAL (first "host:port"),
#                     TGT_PORT, TGT_CTL (control socket) and TGT_LOG; killed at exit.
# tgt_ctl CMD...      runs `ballast-targetd ctl $TGT_CTL CMD...`.
# tgt_need TOOL...    skips (77) when a peer tool is not installed.
# tgt_raw ...         runs tests/support/iscsi-raw against the target (see below).
set -u
. "${top_srcdir:-.}/tests/support/lib.sh"

: "${BALLAST_TARGETD:=$top_builddir/ballast-targetd}"
TGT_IQN=iqn.2024-01.org.ballast:test
TGT_PID=
TGT_N=0

tgt_need() {
	for _t in "$@"; do
		command -v "$_t" >/dev/null 2>&1 || nr_skip "$_t not installed"
	done
}

# tgt_start [--no-default-portal] ARGS...
tgt_start() {
	nr_require_prog "$BALLAST_TARGETD"
	[ -n "${NR_TMP:-}" ] || nr_tmpdir
	TGT_N=$((TGT_N + 1))
	_fifo=$NR_TMP/ready.$TGT_N
	TGT_CTL=$NR_TMP/ctl.$TGT_N
	TGT_LOG=$NR_TMP/targetd.$TGT_N.log
	mkfifo "$_fifo" || nr_error "mkfifo"
	if [ "${1:-}" = --no-default-portal ]; then
		shift
		env ${TGT_ENV:-} "$BALLAST_TARGETD" -f --control "$TGT_CTL" --ready-fd 3 --log-level info "$@" \
			3>"$_fifo" 2>"$TGT_LOG" &
	else
		env ${TGT_ENV:-} "$BALLAST_TARGETD" -f --portal 127.0.0.1:0 --control "$TGT_CTL" --ready-fd 3 \
			--log-level info "$@" 3>"$_fifo" 2>"$TGT_LOG" &
	fi
	TGT_PID=$!
	nr_kill_at_exit "$TGT_PID"
	TGT_PORTALS=$(timeout 30 cat "$_fifo")
	TGT_PORTAL=$(printf '%s\n' "$TGT_PORTALS" | head -n 1)
	if [ -z "$TGT_PORTAL" ]; then
		cat "$TGT_LOG" >&2
		nr_fail "ballast-targetd did not become ready"
	fi
	TGT_PORT=${TGT_PORTAL##*:}
	nr_log "ballast-targetd pid $TGT_PID ready on $TGT_PORTALS"
}

tgt_stop() {
	[ -n "$TGT_PID" ] || return 0
	kill -TERM "$TGT_PID" 2>/dev/null
	_n=100
	while kill -0 "$TGT_PID" 2>/dev/null && [ $_n -gt 0 ]; do sleep 0.1; _n=$((_n - 1)); done
	kill -0 "$TGT_PID" 2>/dev/null && nr_fail "ballast-targetd did not stop on SIGTERM"
	wait "$TGT_PID" 2>/dev/null
	TGT_PID=
}

tgt_ctl() { "$BALLAST_TARGETD" ctl "$TGT_CTL" "$@"; }

# tgt_raw [OPTIONS] SCENARIO [ARG...]: tests/support/iscsi-raw against the test target.
tgt_raw() {
	_o=
	while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do _o="$_o $1 $2"; shift 2; done
	# shellcheck disable=SC2086
	"$NR_BIN/iscsi-raw" $_o "$TGT_PORTAL" "$TGT_IQN" "$@"
}

# tgt_rss / tgt_fds: resident set (KiB) and open descriptors of the daemon.
tgt_rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$TGT_PID/status"; }
tgt_fds() { ls "/proc/$TGT_PID/fd" | wc -l; }

# tgt_wait_idle: until the daemon has no connection left (10 s at most).
tgt_wait_idle() {
	_n=100
	while [ $_n -gt 0 ]; do
		tgt_ctl status 2>/dev/null | grep -q '^sessions 0 connections 0$' && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	tgt_fail "connections left: $(tgt_ctl status | grep '^sessions')"
}

# tgt_url [LUN]: the libiscsi URL of the test target.
tgt_url() { echo "iscsi://$TGT_PORTAL/$TGT_IQN/${1:-1}"; }

# Fail with the daemon log attached.
tgt_fail() {
	sed 's/^/  targetd: /' "$TGT_LOG" | tail -n 30 >&2
	nr_fail "$*"
}

# The daemon must still be alive (no crash).
tgt_alive() { kill -0 "$TGT_PID" 2>/dev/null || tgt_fail "ballast-targetd died"; }
