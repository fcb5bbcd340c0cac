#!/bin/sh
# Swap on /dev/nbd0 (or /dev/ublkb0), characterized (doc/oom-safety.md). A CHARACTERIZATION: the
# test passes when every configuration produced a recorded outcome (completed, or deadlocked and
# dumped) and ballastd warned about swap on its kernel nbd device; it fails when the harness
# could not set a configuration up, when memhog read a wrong page back, or when the warning is
# missing. A deadlock is an expected, reported outcome: a userspace process serving the swap
# device needs memory to send the pages that would free memory, and userspace sockets get no
# PF_MEMALLOC / __GFP_MEMALLOC reserves.
#
# Each configuration boots a 256 MiB guest (e1000 NIC, zswap off), puts 1 GiB of swap on the
# device and runs tests/kernel/memhog: 600 MiB touched 16 MiB at a time, then every page
# read back and checked, within 70 s (SWAP_TIMEOUT=110 for the VM, minus 40): the kernel path
# touches all 600 MiB in 35-60 s and reads back about 4 MiB/s, so it "survives" rather than
# completes in that time (SWAP_TIMEOUT=240 lets it complete). A wrong page read back fails the
# test. tests/kernel/vmmon (mlocked) prints memory, swap and TCP counters and,
# when the device completes nothing for SWAP_WEDGE seconds (default 30) with requests in flight,
# dumps the server's kernel stacks and sysrq l/w/m and powers the guest off. Configurations
# (SWAP_MODES, default "ballastd nbdkit"; "qemu-nbd" adds qemu-nbd over libiscsi):
#   ballastd  ballastd in the guest attaches nbd0 through netlink, logged in to ballast-targetd
#             (mem LUN) on the host. Asserted before the hog starts: within 8 s of swapon
#             ballastd logs "/dev/nbd0 (lun 1) is now SWAP: ..." and its status reports the
#             export with "swap yes /dev/nbd0" (its /proc/swaps watch, every 3 s).
#   nbdkit    the kernel path only: Debian's nbd-client -swap in the guest, nbdkit memory on
#             the host (the kernel's nbd client sends with PF_MEMALLOC); the anchor that works.
#   qemu-nbd  qemu-nbd -c /dev/nbd0 in the guest, qemu's libiscsi driver to ballast-targetd:
#             another userspace initiator in ballastd's place.
# SWAP_DEV=ublk (tests/kernel/swap-ublk.sh): ballastd --ublk 0 serves /dev/ublkb0 instead
# (ublk_drv.ko from ublk-build-module.sh); only the ballastd mode applies; the swap notice is
# asserted the same way (its status line is "ublk /dev/ublkb0 ... swap yes").
# One "SWAP-RESULT" line per configuration; SWAP_KEEP_LOGS=DIR keeps the console logs.
. "$(dirname "$0")/common.sh"

ballastd=${BALLASTD:-$top_builddir/ballastd}
targetd=${BALLAST_TARGETD:-$top_builddir/ballast-targetd}
kt_init
memhog=$(kt_helper memhog)
vmmon=$(kt_helper vmmon)

KIND=${SWAP_DEV:-nbd}
case $KIND in
nbd) DEV=nbd0 MODES=${SWAP_MODES:-ballastd nbdkit} ;;
ublk) DEV=ublkb0 MODES=${SWAP_MODES:-ballastd} ;;
*) kt_error "SWAP_DEV must be nbd or ublk" ;;
esac
KO=""
if [ "$KIND" = ublk ]; then
	kt_ublk_module
fi
HOG=${SWAP_HOG:-600}
WEDGE=${SWAP_WEDGE:-30}
VMTIMEOUT=${SWAP_TIMEOUT:-110}
HOGTIMEOUT=$((VMTIMEOUT - 40))
iqn=iqn.2025-01.org.ballast.test:pageout
QEMU_NBD=$(command -v qemu-nbd || true)
QEMU_ISCSI=/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
if [ "$KIND" = ublk ]; then ublk_load || fail "ublk_drv"; else mods nbd || fail "nbd module"; fi
say "mode=$MODE dev=$DEV mem=$(awk '/MemTotal/ { print $2 }' /proc/meminfo)kB hog=${HOG}MiB nic=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
case $MODE in
ballastd)
	if [ "$KIND" = ublk ]; then EXPORT="--ublk 0"; else EXPORT="--nbd kernel"; fi
	ballastd -f --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" --lun 1 $EXPORT \
		--control /run/ballastd.ctl --initiator-name iqn.2025-01.org.ballast:kernel-guest \
		$BALLASTD_ARGS >/tmp/server.log 2>&1 &
	SPID=$!
	bdev_wait $DEV $SPID 30 /tmp/server.log || fail "ballastd does not serve $DEV"
	grep -E 'protection: (mlockall|oom_score_adj|io_flusher)' /tmp/server.log | sed 's/^/  /'
	;;
nbdkit)
	nbd-client "$HOST_IP" "$NBD_PORT" /dev/nbd0 -N swap -swap || fail "nbd-client"
	SPID=""
	;;
qemu-nbd)
	qemu-nbd -c /dev/nbd0 -f raw "iscsi://$HOST_IP:$ISCSI_PORT/$IQN/1" >/tmp/server.log 2>&1 ||
		{ cat /tmp/server.log; fail "qemu-nbd -c"; }
	SPID=$(pidof qemu-nbd | cut -d' ' -f1)
	;;
esac
[ -n "$SPID" ] && say "server pid $SPID: $(grep -E 'VmRSS|VmLck' /proc/$SPID/status | tr -s ' \t' ' ' | tr '\n' ' ')"
mkswap /dev/$DEV >/dev/null || fail "mkswap"
swapon /dev/$DEV || fail "swapon"
say "swap on: $(tail -n1 /proc/swaps | tr -s ' \t' ' ')"

if [ "$MODE" = ballastd ]; then
	# ballastd watches /proc/swaps every 3 s and warns (asserted by the host). The
	# IQN and the paths used here do not contain "swap".
	WARN="/dev/$DEV (lun [^)]*) is now SWAP: .*use the kernel iSCSI initiator for swap"
	t=$(up)
	within 8 grep -q "$WARN" /tmp/server.log
	if grep -q "$WARN" /tmp/server.log; then
		echo "SWAP-NOTICE log: after $(since "$t")s: $(grep -o "$WARN" /tmp/server.log | head -n1)"
	else
		echo "SWAP-NOTICE log: MISSING (no '/dev/$DEV ... is now SWAP' in ballastd's log 8 s" \
			"after swapon; lines mentioning swap: $(grep -ci swap /tmp/server.log))"
	fi
	st=$(ballastd ctl /run/ballastd.ctl status 2>&1)
	# kernel nbd: "export ... swap yes /dev/nbd0"; ublk: "ublk /dev/ublkb0 ... swap yes"
	if printf '%s\n' "$st" | grep -qE "^(export .* swap yes /dev/$DEV|ublk /dev/$DEV .* swap yes)\$"; then
		echo "SWAP-NOTICE status: $(printf '%s\n' "$st" | grep -E "^(export|ublk) .*swap yes" | cut -c 1-160)"
	else
		echo "SWAP-NOTICE status: MISSING (no export line ending 'swap yes /dev/$DEV' in" \
			"ballastd ctl status: $(printf '%s\n' "$st" | grep -E '^(export|ublk) ' | tr '\n' ';'))"
	fi
fi

# vmmon ends the run if the device stops completing requests (GUEST-EXIT 3, powered off).
vmmon --dev $DEV ${SPID:+--pid $SPID} --print 5 --wedge "$WEDGE" --wedge-exit 3 &
MON=$!
free -m
say "memhog $HOG MiB with read-back (guest limit ${HOGTIMEOUT}s)"
T0=$(up)
timeout "$HOGTIMEOUT" memhog --mib "$HOG" --step 16 --verify
rc=$?
el=$(awk -v a="$T0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')
kill -TERM $MON
wait $MON
alive=n/a
[ -n "$SPID" ] && { alive=yes; kill -0 $SPID 2>/dev/null || alive=no; }
so=ok
timeout 60 swapoff /dev/$DEV || so=failed
case $rc in
0) outcome=completed ;;
3 | 143) outcome=survived-slow ;;
*) outcome=hog-failed ;;
esac
echo "SWAP-RESULT mode=$MODE dev=$DEV outcome=$outcome memhog_exit=$rc" \
	"elapsed=${el}s oom_kills=$(dmesg | grep -c 'Killed process') server_alive=$alive swapoff=$so" \
	"hung_task_reports=$(dmesg | grep -c 'blocked for more than')"
case $MODE in
ballastd) kill -TERM $SPID; wait $SPID ;;
nbdkit) nbd-client -d /dev/nbd0 >/dev/null 2>&1 ;;
qemu-nbd) qemu-nbd -d /dev/nbd0 >/dev/null 2>&1 ;;
esac
exit 0
EOT

RESULTS="" CORRUPT="" NOTICE_CHECKED=""
for mode in $MODES; do
	log=$KT_TMP/console-$mode.log
	extra=""
	env=""
	if [ "$KIND" = ublk ] && [ "$mode" != ballastd ]; then
		kt_error "SWAP_DEV=ublk: only SWAP_MODES=ballastd applies ('$mode' serves nbd0)"
	fi
	case $mode in
	ballastd | qemu-nbd)
		if [ "$mode" = ballastd ]; then
			kt_works "$ballastd" || { RESULTS="$RESULTS
  $mode: not run: ballastd --help fails"; continue; }
			extra="--bin $ballastd:/usr/local/sbin/ballastd"
			[ -n "$KO" ] && extra="$extra --file $KO:/lib/modules/extra/ublk_drv.ko"
		else
			if [ -z "$QEMU_NBD" ] || [ ! -f "$QEMU_ISCSI" ]; then
				RESULTS="$RESULTS
  $mode: not run: qemu-nbd or qemu's block-iscsi.so missing"
				continue
			fi
			extra="--bin $QEMU_NBD:/usr/bin/qemu-nbd --bin $QEMU_ISCSI:$QEMU_ISCSI"
		fi
		kt_works "$targetd" || { RESULTS="$RESULTS
  $mode: not run: ballast-targetd --help fails"; continue; }
		# shellcheck disable=SC2086
		kt_bg_ready "targetd-$mode" "$targetd" -f --portal 127.0.0.1:0 --target "$iqn" \
			--lun 1:mem:1G --ready-fd 3 ${BALLAST_TARGETD_ARGS:-}
		spid=$KT_LAST_PID
		port=${KT_READY##*:}
		env="--env ISCSI_PORT=$port --env IQN=$iqn"
		;;
	nbdkit)
		command -v nbdkit >/dev/null || { RESULTS="$RESULTS
  $mode: not run: nbdkit not installed"; continue; }
		port=$(kt_port)
		kt_bg nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port" memory 1G
		spid=$KT_LAST_PID
		kt_wait_port "$port" 10 || kt_error "nbdkit did not listen on 127.0.0.1:$port"
		env="--env NBD_PORT=$port"
		;;
	*) kt_error "unknown SWAP_MODES entry '$mode' (ballastd nbdkit qemu-nbd)" ;;
	esac
	kt_log "=== $mode: 256 MiB guest, e1000, swap on $DEV, memhog $HOG MiB, VM bound ${VMTIMEOUT}s"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	kt_run --timeout "$VMTIMEOUT" --mem 256 --nic e1000 --hung 20 --append zswap.enabled=0 \
		--fwd "$port:$port" --log "$log" $extra \
		--bin "$memhog:/usr/local/bin/memhog" --bin "$vmmon:/usr/local/bin/vmmon" \
		--env MODE="$mode" --env KIND="$KIND" --env DEV="$DEV" --env HOG="$HOG" --env HOGTIMEOUT="$HOGTIMEOUT" --env WEDGE="$WEDGE" \
		--env BALLASTD_ARGS="${BALLASTD_ARGS:-}" $env "$KT_TMP/guest.sh" >"$KT_TMP/out-$mode.txt" 2>&1
	rc=$?
	wall=$(($(date +%s) - t0))
	kill "$spid" 2>/dev/null
	grep -av '^\[ *[0-9.]*\] \(\[ *[0-9]*\]\|[ ?]\)' "$KT_TMP/out-$mode.txt" | grep -av '^\s*$' | tail -n 60
	[ -n "${SWAP_KEEP_LOGS:-}" ] && cp "$log" "$SWAP_KEEP_LOGS/swap-$mode.log"

	res=$(grep -a -o 'SWAP-RESULT.*' "$log" | tail -n1)
	sum=$(grep -a -o 'VMMON-SUMMARY.*' "$log" | tail -n1)
	hog=$(grep -a -o 'memhog: [0-9]* MiB t=[0-9.]*s' "$log" | tail -n1)
	if grep -aq 'VMMON-WEDGED' "$log"; then
		outcome="DEADLOCK ($DEV completed nothing for ${WEDGE}s; last progress: ${hog:-memhog printed nothing})"
	elif [ "$rc" = 124 ]; then
		outcome="TIMEOUT (VM bound ${VMTIMEOUT}s; last progress: ${hog:-none})"
	elif [ -n "$res" ]; then
		hogend=$(grep -a -o 'MEMHOG-[A-Z]* .*' "$log" | tail -n1)
		case $res in
		*outcome=completed*) outcome="COMPLETED: $hogend" ;;
		*outcome=survived-slow*)
			outcome="SURVIVED, no stall over ${WEDGE}s; stopped by the guest's ${HOGTIMEOUT}s limit: $hogend" ;;
		*) outcome="HOG FAILED: ${hogend:-no memhog summary}" ;;
		esac
		case $hogend in
		*"bad_pages=0"*) ;;
		*bad_pages=*) CORRUPT="$CORRUPT $mode" ;;
		esac
		outcome="$outcome; ${res#SWAP-RESULT mode="$mode" }"
	else
		kt_log "--- console of $mode"
		tail -n 80 "$log" >&2
		kt_error "$mode: no outcome recorded (guest exit $rc): the configuration could not be set up"
	fi
	RESULTS="$RESULTS
  $mode: $outcome; vm_exit=$rc wall=${wall}s
    vmmon: ${sum#VMMON-SUMMARY }"
	notice=$(grep -a -o 'SWAP-NOTICE.*' "$log" | tr -d '\r')
	[ "$mode" = ballastd ] && NOTICE_CHECKED=yes
	[ -n "$notice" ] && RESULTS="$RESULTS
$(printf '%s\n' "$notice" | sed 's/^/    /')"
	if grep -aq 'VMMON-WEDGED' "$log"; then
		RESULTS="$RESULTS
    server threads at the wedge (top frames):
$(kt_stacks "$log")
    blocked (sysrq w): $(kt_blocked "$log")"
	fi
done

echo
echo "SWAP OVER $KIND: 256 MiB guest, e1000, 1 GiB swap on $DEV," \
	"memhog $HOG MiB + read-back$RESULTS"
echo
case $RESULTS in
*"ballastd: DEADLOCK"* | *"ballastd: TIMEOUT"*)
	kt_log "swap over ballastd DEADLOCKS, as expected: its sends come from a userspace socket," \
		"which cannot use the memalloc reserves. Use the kernel iSCSI initiator for swap."
	;;
*"ballastd: COMPLETED"* | *"ballastd: SURVIVED"*)
	kt_log "swap over ballastd COMPLETED: not expected (doc/oom-safety.md); look at the figures"
	;;
esac
st=0
case " $MODES " in
*" ballastd "*)
	if [ -n "$NOTICE_CHECKED" ]; then
		case $RESULTS in
		*"SWAP-NOTICE log: after"*"SWAP-NOTICE status: export"* | \
			*"SWAP-NOTICE log: after"*"SWAP-NOTICE status: ublk"*) ;;
		*)
			kt_log "FAIL: ballastd did not warn in its log and status that $DEV became swap"
			st=1
			;;
		esac
	fi
	;;
esac
if [ -n "$CORRUPT" ]; then
	kt_log "FAIL: memhog read back wrong pages through swap in:$CORRUPT"
	st=1
fi
exit $st
