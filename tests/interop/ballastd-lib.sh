# Shared helpers for the ballastd interop tests (sourced, not run). POSIX sh.
# Exit codes follow the automake harness: 0 pass, 77 skip, 99 hard error, 1 failure.

set -u

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BALLASTD:=$top_builddir/ballastd}"
TRIPWIRE=${TRIPWIRE:-$top_builddir/tests/support/.libs/libtripwire.so}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }
hard() { echo "ERROR: $*"; dump_logs; exit 99; }
log() { echo "# $*"; }

need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }
need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
	done
}

WORK=$(mktemp -d /dev/shm/ballastd-test.XXXXXX) || hard "mktemp"
# The target under test: tgtd (interop tier) or ballast-targetd (integration tier).
: "${BALLASTD_PEER:=tgtd}"
: "${BALLAST_TARGETD:=$top_builddir/ballast-targetd}"
TARGETD_PID=
TGTD_PID=
BALLASTD_PID=
TGT_CPORT=

dump_logs() {
	for f in "$WORK"/*.log; do
		[ -f "$f" ] || continue
		echo "----- $f (last 30 lines)"
		tail -n 30 "$f"
	done
}

CLEANUP_HOOK=
FIO_LOOP_PID=
cleanup() {
	if [ -n "$FIO_LOOP_PID" ]; then
		touch "$WORK/fio.stop"
		kill "$FIO_LOOP_PID" 2>/dev/null
		pkill -P "$FIO_LOOP_PID" 2>/dev/null
		wait "$FIO_LOOP_PID" 2>/dev/null
	fi
	[ -n "$CLEANUP_HOOK" ] && $CLEANUP_HOOK
	if [ -n "$BALLASTD_PID" ]; then
		kill "$BALLASTD_PID" 2>/dev/null
		for i in $(seq 50); do kill -0 "$BALLASTD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$BALLASTD_PID" 2>/dev/null
	fi
	stop_targetd
	stop_tgtd
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

TARGET_IQN=iqn.2024-01.org.ballast.test:tgtd
INITIATOR_IQN=iqn.2024-01.org.ballast.test:initiator

# start_tgtd SIZE: tgtd on a free portal with target 1, LUN 1 backed by a SIZE file in $WORK.
start_tgtd() {
	need tgtd tgtadm python3
	# TGT_FIXED_PORT: restart on the same portal (fault tests)
	TGT_PORT=${TGT_FIXED_PORT:-$(free_port)}
	for i in $(seq 20); do
		TGT_CPORT=$(( ( $(od -An -N2 -tu2 /dev/urandom) % 20000 ) + 10000 ))
		[ -e "/var/run/tgtd/socket.$TGT_CPORT" ] || break
	done
	[ -f "$WORK/lun1.img" ] || truncate -s "$1" "$WORK/lun1.img" || hard "truncate"
	tgtd -f -C "$TGT_CPORT" --iscsi "portal=127.0.0.1:$TGT_PORT" >"$WORK/tgtd.log" 2>&1 &
	TGTD_PID=$!
	for i in $(seq 100); do
		tgtadm -C "$TGT_CPORT" --op show --mode target >/dev/null 2>&1 && break
		kill -0 "$TGTD_PID" 2>/dev/null || hard "tgtd exited"
		sleep 0.1
	done
	tgt new --mode target --tid 1 -T "$TARGET_IQN" || hard "tgtadm new target"
	tgt new --mode logicalunit --tid 1 --lun 1 -b "$WORK/lun1.img" ${TGT_LU_OPTS:-} ||
		hard "tgtadm new lun"
	tgt bind --mode target --tid 1 -I ALL || hard "tgtadm bind"
	# thin provisioning: UNMAP support (punches holes in the backing file)
	tgt update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1 ||
		hard "tgtadm thin_provisioning"
	log "tgtd pid $TGTD_PID portal 127.0.0.1:$TGT_PORT control port $TGT_CPORT"
}

# start_targetd SIZE: ballast-targetd on a free port with LUN 1 backed by a SIZE file in $WORK;
# PEER_CHAP=USER:SECRET and PEER_MUTUAL=USER:SECRET add CHAP. Fault tests: TARGETD_PORTAL
# (HOST:PORT, default 127.0.0.1:0) and TARGETD_NETNS (run it in that network namespace).
start_targetd() {
	[ -x "$BALLAST_TARGETD" ] || skip "ballast-targetd not built"
	[ -f "$WORK/lun1.img" ] || truncate -s "$1" "$WORK/lun1.img" || hard "truncate"
	rm -f "$WORK/tready"
	mkfifo "$WORK/tready" || hard "mkfifo"
	${TARGETD_NETNS:+ip netns exec "$TARGETD_NETNS"} \
	"$BALLAST_TARGETD" -f --portal "${TARGETD_PORTAL:-127.0.0.1:0}" --target "$TARGET_IQN" \
		--lun "1:file:$WORK/lun1.img" ${PEER_CHAP:+--chap "$PEER_CHAP"} \
		${PEER_MUTUAL:+--mutual-chap "$PEER_MUTUAL"} --control "$WORK/tctl.sock" \
		--ready-fd 3 3>"$WORK/tready" >>"$WORK/targetd.log" 2>&1 &
	TARGETD_PID=$!
	tr=$(timeout 30 cat "$WORK/tready")
	TGT_PORT=${tr##*:}
	[ -n "$TGT_PORT" ] || hard "ballast-targetd did not become ready"
	log "ballast-targetd pid $TARGETD_PID portal 127.0.0.1:$TGT_PORT"
}

stop_targetd() {
	[ -n "$TARGETD_PID" ] || return 0
	kill "$TARGETD_PID" 2>/dev/null
	for i in $(seq 50); do kill -0 "$TARGETD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$TARGETD_PID" 2>/dev/null
	wait "$TARGETD_PID" 2>/dev/null
	TARGETD_PID=
}

# start_peer SIZE: the target selected by BALLASTD_PEER, with PEER_CHAP/PEER_MUTUAL applied.
start_peer() {
	case "$BALLASTD_PEER" in
	targetd)
		start_targetd "$1"
		;;
	tgtd)
		start_tgtd "$1"
		if [ -n "${PEER_CHAP:-}" ]; then
			tgt new --mode account --user "${PEER_CHAP%%:*}" --password "${PEER_CHAP#*:}" ||
				hard "tgtadm account"
			tgt bind --mode account --tid 1 --user "${PEER_CHAP%%:*}" || hard "bind account"
		fi
		if [ -n "${PEER_MUTUAL:-}" ]; then
			tgt new --mode account --user "${PEER_MUTUAL%%:*}" \
				--password "${PEER_MUTUAL#*:}" || hard "tgtadm outgoing account"
			tgt bind --mode account --tid 1 --user "${PEER_MUTUAL%%:*}" --outgoing ||
				hard "bind outgoing"
		fi
		;;
	*)
		hard "unknown BALLASTD_PEER $BALLASTD_PEER"
		;;
	esac
}

# stop_peer: stop the target (the backing file stays).
stop_peer() {
	case "$BALLASTD_PEER" in
	targetd) stop_targetd ;;
	tgtd) stop_tgtd ;;
	esac
}

need_peer() {
	case "$BALLASTD_PEER" in
	tgtd) need_root; need tgtd tgtadm ;;
	targetd) [ -x "$BALLAST_TARGETD" ] || skip "ballast-targetd not built" ;;
	esac
}

# stop_tgtd: tgtd ignores SIGTERM while it has targets: ask it to shut down, then insist.
stop_tgtd() {
	[ -n "$TGTD_PID" ] || return 0
	tgtadm -C "$TGT_CPORT" --op delete --mode system >/dev/null 2>&1
	for i in $(seq 50); do kill -0 "$TGTD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$TGTD_PID" 2>/dev/null
	wait "$TGTD_PID" 2>/dev/null
	TGTD_PID=
	rm -f "/var/run/tgtd/socket.$TGT_CPORT" "/var/run/tgtd/socket.$TGT_CPORT.lock"
}

# tgt OP ARGS...: tgtadm against our tgtd.
tgt() {
	op=$1
	shift
	tgtadm -C "$TGT_CPORT" --lld iscsi --op "$op" "$@"
}

# start_ballastd ARGS...: ballastd -f against our tgtd; waits for --ready-fd and sets
# READY (the ready lines) and SOCK (the first unix socket). Returns non-zero if it did not
# become ready (the exit status is in BALLASTD_RC).
start_ballastd() {
	mkfifo "$WORK/ready" || hard "mkfifo"
	${BALLASTD_NETNS:+ip netns exec "$BALLASTD_NETNS"} \
	${BALLASTD_PRELOAD:+env LD_PRELOAD="$BALLASTD_PRELOAD"} "$BALLASTD" -f \
		--portal "${BALLASTD_PORTAL_HOST:-127.0.0.1}:$TGT_PORT" --target "$TARGET_IQN" \
		--initiator-name "$INITIATOR_IQN" --control "$WORK/ctl.sock" \
		--ready-fd 3 "$@" 3>"$WORK/ready" >"$WORK/ballastd.log" 2>&1 &
	BALLASTD_PID=$!
	READY=$(timeout 60 cat "$WORK/ready")
	rm -f "$WORK/ready"
	if [ -z "$READY" ]; then
		wait "$BALLASTD_PID"
		BALLASTD_RC=$?
		BALLASTD_PID=
		return 1
	fi
	SOCK=$(echo "$READY" | sed -n 's/^nbd unix:\([^ ]*\) .*/\1/p' | head -n 1)
	log "ballastd pid $BALLASTD_PID ready: $READY"
	return 0
}

stop_ballastd() {
	[ -n "$BALLASTD_PID" ] || return 0
	kill "$BALLASTD_PID"
	wait "$BALLASTD_PID"
	BALLASTD_RC=$?
	BALLASTD_PID=
	return "$BALLASTD_RC"
}

uri() { echo "nbd+unix:///?socket=$SOCK"; }

ctl_status() { "$BALLASTD" ctl "$WORK/ctl.sock" status; }

# ---- fault tests (tests/fault/ballastd-*.sh) -------------------------------------------------

# fio_pass SEED [FIO ARGS...]: one verifying pass over the first $FIO_SIZE bytes of the export:
# random writes of 4 KiB..256 KiB at iodepth 16 with crc32c headers, then every block read back
# and verified. Each pass uses its own seed (block sizes, offsets and data differ).
fio_pass() {
	_seed=$1
	shift
	timeout 120 fio --ioengine=nbd --uri="$(uri)" --name=pass --rw=randwrite \
		--bsrange=4k-256k --size="$FIO_SIZE" --iodepth=16 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --verify_state_save=0 --randseed="$_seed" "$@"
}

# fio_loop_start SIZE: fio passes back to back in the background until fio_loop_stop, so that
# verified I/O runs through the export the whole time. The first failing pass ends the loop.
fio_loop_start() {
	FIO_SIZE=$1
	rm -f "$WORK/fio.stop" "$WORK/fio.fail" "$WORK/fio.last"
	(
		i=1
		while [ ! -e "$WORK/fio.stop" ]; do
			if ! fio_pass "$i" >>"$WORK/fio.log" 2>&1; then
				echo "$i" >"$WORK/fio.fail"
				break
			fi
			echo "$i" >"$WORK/fio.last"
			i=$((i + 1))
		done
	) &
	FIO_LOOP_PID=$!
}

# fio_loop_stop: let the running pass finish; fail if any pass failed. Sets FIO_PASSES.
fio_loop_stop() {
	touch "$WORK/fio.stop"
	wait "$FIO_LOOP_PID"
	FIO_LOOP_PID=
	[ ! -e "$WORK/fio.fail" ] ||
		fail "fio pass $(cat "$WORK/fio.fail") failed: $(grep -E 'err=|verify:|error' "$WORK/fio.log" | tail -n 3)"
	FIO_PASSES=$(cat "$WORK/fio.last" 2>/dev/null || echo 0)
	[ "$FIO_PASSES" -gt 0 ] || fail "no fio pass completed"
}

# fio_readback: the full read-back at the end: the last pass's blocks verified once more
# (fio --verify_only), then the whole export copied out with nbdcopy and compared with the
# target's backing file: what the initiator reads is what the target stored.
fio_readback() {
	fio_pass "$FIO_PASSES" --verify_only >>"$WORK/fio.log" 2>&1 ||
		fail "read-back of pass $FIO_PASSES failed verification"
	timeout 120 nbdcopy "$(uri)" "$WORK/readback.img" || fail "nbdcopy read-back"
	cmp "$WORK/readback.img" "$WORK/lun1.img" || fail "read-back differs from the backing file"
	rm -f "$WORK/readback.img"
}

# status_field LINE KEY: the value after KEY on the status line starting with LINE.
status_field() {
	ctl_status 2>/dev/null | awk -v l="$1" -v k="$2" \
		'$1 == l { for (i = 2; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

# wait_state STATE SECS: poll the status until the connection state is STATE; prints the
# milliseconds it took; returns 1 on timeout.
wait_state() {
	_t0=$(date +%s%3N)
	_end=$((_t0 + $2 * 1000))
	while :; do
		[ "$(status_field connection state)" = "$1" ] && break
		[ "$(date +%s%3N)" -lt "$_end" ] || return 1
		sleep 0.1
	done
	echo $(( $(date +%s%3N) - _t0 ))
}

# tripwire_check: ballastd ran under the tripwire (TRIPWIRE_MODE=fail): nothing was allocated
# or mapped while armed. Call after stop_ballastd.
tripwire_check() {
	_sum=$(grep "^tripwire:" "$WORK/ballastd.log") || fail "no tripwire summary (not preloaded?)"
	log "$_sum"
	echo "$_sum" | grep -q "mode=fail" || fail "tripwire not in fail mode: $_sum"
	echo "$_sum" | grep -q "armed_allocs=0 " || fail "allocations while armed: $_sum"
	echo "$_sum" | grep -q "armed_mmaps=0 " || fail "mappings while armed: $_sum"
	echo "$_sum" | grep -q "armed_fails=0 " || fail "failed allocations while armed: $_sum"
}
