#!/bin/sh
# cgroup v2: ballastd and a memory hog in one memory cgroup (issue 7, run 3 on v2;
# doc/oom-safety.md "cgroup v2 in the kernel tier"). The development hosts have no v2 memory
# controller; the guest (Debian's 6.1 kernel, 512 MiB, no swap) mounts cgroup2 itself.
#
# ballast-targetd on the host serves LUN 1 (mem, 128 MiB) and LUN 2 (96 MiB: the sizes tell
# them apart). In the guest one ballastd, started inside the cgroup /sys/fs/cgroup/bd, exports
#   unix: LUN 1 to the kernel's nbd client through its own `--nbd kernel` (an AF_UNIX
#         socketpair: ballastd's replies are kernel memory charged to its memory cgroup), /dev/nbd0
#   tcp:  LUN 2 on `--nbd tcp:127.0.0.1:10809`, attached by Debian's nbd-client (-N 2) as
#         /dev/nbd1 (a loopback TCP pair: socket memory charged through the socket's memcg,
#         SO_RESERVE_MEM taken at connect)
# with reserve.sndbuf=256K reserve.rcvbuf=256K reserve.sock_reserve=1M (run 5's sizing: the
# reserve covers 2 x (sndbuf + rcvbuf)) and reserve.nbd_clients=4. ext4 on both devices.
# memory.max = `ballastd --print-footprint` total + V2_MARGIN MiB (16), memory.swap.max 0.
#
# One pass = V2_MIB MiB (8) written with dd oflag=direct + fsync to a new file, read back with
# iflag=direct and compared (sha256), each half bounded. Phases, each with a pass per transport:
#   baseline  no hog
#   stall     memory.high = memory.current + 2 MiB, tests/kernel/memhog grows in the cgroup and
#             is throttled there (v2's stuck neighbour); the tcp pass runs first (bounded
#             V2_STALL_BOUND s, 60), then the unix pass (bounded V2_UNIX_BOUND s, 20: below
#             the kernel's 30 s nbd request timeout, so a stall there is lifted before nbd
#             fails its requests)
#   kill      memory.high = max: the hog grows to memory.max and the cgroup's OOM killer must
#             kill it, not ballastd (oom_score_adj -1000); a pass left stalled must finish
#             now (V2-STALL-LIFTED); then both passes again
# Figures: "V2-RESULT transport=T phase=P write_mib_s=.. read_mib_s=.. verify=.. errors=.."
# and "V2-CGROUP"/"V2-HOG" lines; the host prints them as a table.
# Asserted: ballastd never dies or is OOM-killed; baseline and kill passes verify on both
# transports; the hog is OOM-killed in the kill phase; the stall-phase tcp pass completes and
# verifies (V2_ASSERT_TCP_STALL=0 records it only). The stall-phase unix outcome is recorded,
# not asserted. VM bound V2_TIMEOUT s (300).
. "$(dirname "$0")/common.sh"

kt_daemons
kt_init
memhog=$(kt_helper memhog)

MIB=${V2_MIB:-8}
MARGIN=${V2_MARGIN:-16}
SETS=${V2_SETS:---set reserve.sndbuf=256K --set reserve.rcvbuf=256K --set reserve.sock_reserve=1M --set reserve.nbd_clients=4}
iqn=iqn.2025-01.org.ballast.test:cgroup2

head -c $((MIB * 1024 * 1024)) /dev/urandom >"$KT_TMP/data.bin"
expect=$(sha256sum "$KT_TMP/data.bin" | cut -d' ' -f1)

kt_start_targetd "$iqn" --lun 1:mem:128M --lun 2:mem:96M

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
CG=/sys/fs/cgroup/bd
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v m="$MIB" -v s="$1" 'BEGIN { if (s > 0) printf "%.2f", m / s; else print "inf" }'; }
kerrs() { dmesg | grep -cE 'I/O error|nbd[0-9]+: (Connection timed out|Dead connection|Receive control failed|shutting down)|EXT4-fs error'; }
cgv() { cat "$CG/$1" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'; }
ev() { awk -v k="$1" '$1 == k { print $2 }' "$CG/memory.events"; }
cgline() {
	echo "V2-CGROUP phase=$1 current=$(cgv memory.current) high=$(cgv memory.high) max=$(cgv memory.max)" \
		"events_high=$(ev high) events_max=$(ev max) events_oom=$(ev oom) events_oom_kill=$(ev oom_kill)"
}
hogrss() { awk '/^VmRSS/ { print int($2 / 1024) }' /proc/$HPID/status 2>/dev/null || echo gone; }
alive() { kill -0 $BPID 2>/dev/null || fail_poweroff "ballastd died" /tmp/ballastd.log; }
dev_of() { [ "$1" = unix ] && echo nbd0 || echo nbd1; }

# start_pass T PHASE N: dd the data (O_DIRECT, fsync) to /mnt/T/PHASE-N in the background.
# PASS_PID, PASS_T0 for finish_pass.
start_pass() {
	PASS_NAME=$1 PASS_PHASE=$2 PASS_FILE=/mnt/$1/$2-$3 PASS_E0=$(kerrs) PASS_T0=$(up)
	dd if=/guest/data.bin of="$PASS_FILE" bs=1M oflag=direct conv=fsync 2>/tmp/dd.err &
	PASS_PID=$!
}
# finish_pass SECS: wait up to SECS for the write, then read back (O_DIRECT, bounded the same)
# and compare; prints the V2-RESULT line. PASS_OK=1 when written and verified. When the write
# is still running after SECS, it is left running (PASS_PID) and reported stalled.
finish_pass() {
	local tw tr rr verify=ok wst=ok rd
	PASS_OK=0
	if ! bwait $PASS_PID "$1"; then
		echo "V2-RESULT transport=$PASS_NAME phase=$PASS_PHASE write_mib_s=stalled read_mib_s=-" \
			"verify=not-run errors=$(($(kerrs) - PASS_E0)) write_s=>$1 ballastd=$(kill -0 $BPID 2>/dev/null && echo alive || echo dead)"
		PASS_STALLED=$PASS_PID
		return 1
	fi
	tw=$(since "$PASS_T0")
	[ "$BW_RC" = 0 ] || { wst="failed($BW_RC)"; cat /tmp/dd.err; }
	rd=$(up)
	dd if="$PASS_FILE" bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1 >/tmp/rd.sha &
	if bwait $! "$1"; then
		tr=$(since "$rd")
		[ "$(cat /tmp/rd.sha)" = "$EXPECT" ] || verify=MISMATCH
	else
		tr=">$1" verify=read-stalled PASS_STALLED=$!
	fi
	[ $wst = ok ] || verify="write-$wst"
	rr=stalled
	[ "$verify" = read-stalled ] || rr=$(rate "$tr")
	echo "V2-RESULT transport=$PASS_NAME phase=$PASS_PHASE write_mib_s=$(rate "$tw")" \
		"read_mib_s=$rr verify=$verify" \
		"errors=$(($(kerrs) - PASS_E0)) write_s=$tw read_s=$tr" \
		"ballastd=$(kill -0 $BPID 2>/dev/null && echo alive || echo dead)"
	[ $verify = ok ] && PASS_OK=1
	return 0
}
# pass T PHASE N SECS: start_pass + finish_pass.
pass() { start_pass "$1" "$2" "$3"; finish_pass "$4"; }
# status_line PHASE: ballastd's counters that tell a stall (ctl status, bounded).
status_line() {
	timeout 5 ballastd ctl /run/bd.ctl status >/tmp/status.txt 2>&1 || { echo "V2-STATUS phase=$1 unavailable"; return 0; }
	echo "V2-STATUS phase=$1 $(awk '$1 == "counters" { for (i = 2; i < NF; i += 2) if ($i == "errors" || $i == "retries") printf "%s=%s ", $i, $(i + 1) }
		$1 == "watchdog" { printf "watchdog_pokes=%s max_stall_ms=%s ", $5, $7 }
		$1 == "ring" { printf "rx_enobufs=%s ", $9 }' /tmp/status.txt)"
}

mods nbd || fail "nbd module"
fs_mods || fail "ext4"
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup || fail "mount cgroup2"
grep -qw memory /sys/fs/cgroup/cgroup.controllers || fail "no memory controller in cgroup2"
echo +memory >/sys/fs/cgroup/cgroup.subtree_control || fail "+memory"
mkdir $CG || fail "mkdir $CG"
say "cgroup2: controllers '$(cat $CG/cgroup.controllers)' kernel $(uname -r)"

# ---- ballastd in the cgroup
FOOT=$(ballastd --print-footprint --portal "$HOST_IP:$ISCSI_PORT" --nbd kernel \
	--nbd tcp:127.0.0.1:10809 $SETS | awk '$1 == "total" { print $2 }')
[ -n "$FOOT" ] || fail "no footprint"
LIMIT=$((FOOT + MARGIN * 1048576))
sh -c "echo \$\$ >$CG/cgroup.procs && exec ballastd -f --portal $HOST_IP:$ISCSI_PORT --target $IQN \
	--nbd kernel --nbd tcp:127.0.0.1:10809 $SETS --control /run/bd.ctl \
	--initiator-name iqn.2025-01.org.ballast:cgroup2 --ready-fd 3 $BALLASTD_ARGS" \
	>/tmp/ballastd.log 2>&1 3>/tmp/ready &
BPID=$!
bdev_wait nbd0 $BPID 30 /tmp/ballastd.log || fail "ballastd does not serve nbd0"
until_up 10 grep -q 'tcp:127.0.0.1:10809' /tmp/ready || { cat /tmp/ballastd.log; fail "no tcp listener"; }
nbd-client 127.0.0.1 10809 /dev/nbd1 -N 2 >/tmp/nbd-client.log 2>&1 ||
	{ cat /tmp/nbd-client.log /tmp/ballastd.log; fail "nbd-client -N 2"; }
bdev_wait nbd1 $BPID 10 /tmp/ballastd.log || fail "nbd1"
[ "$(blockdev --getsize64 /dev/nbd0)" = 134217728 ] || fail "nbd0 is not LUN 1"
[ "$(blockdev --getsize64 /dev/nbd1)" = 100663296 ] || fail "nbd1 is not LUN 2"
grep -q "^$BPID\$" $CG/cgroup.procs || fail "ballastd is not in $CG"
sed 's/^/  ready: /' /tmp/ready
grep -E 'protection|reserve|footprint|sock' /tmp/ballastd.log | sed 's/^/  ballastd: /'
say "ballastd pid $BPID oom_score_adj=$(cat /proc/$BPID/oom_score_adj)" \
	"$(grep -E 'VmRSS|VmLck' /proc/$BPID/status | tr -s ' \t' ' ' | tr '\n' ' ')"
for t in unix tcp; do
	d=$(dev_of $t)
	mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 /dev/$d || fail "mkfs $d"
	mkdir -p /mnt/$t
	mount -t ext4 /dev/$d /mnt/$t || fail "mount $d"
done

cur=$(cat $CG/memory.current)
say "footprint $FOOT, memory.current $cur, memory.max := $LIMIT (+${MARGIN} MiB)"
[ "$cur" -lt "$LIMIT" ] || fail "the cgroup already uses $cur, over the limit $LIMIT"
echo "$LIMIT" >$CG/memory.max || fail "memory.max"
echo 0 >$CG/memory.swap.max 2>/dev/null || say "(no memory.swap.max; the guest has no swap)"
echo "V2-SETUP footprint=$FOOT limit=$LIMIT margin_mib=$MARGIN mib=$MIB sets='$SETS'"

# ---- baseline
for t in tcp unix; do pass $t baseline 1 60 || fail "baseline $t stalled"; [ $PASS_OK = 1 ] || fail "baseline $t"; done
cgline baseline
status_line baseline

# ---- stall: memory.high just above usage, a hog in the cgroup
cur=$(cat $CG/memory.current)
echo $((cur + 2097152)) >$CG/memory.high || fail "memory.high"
EH0=$(ev high)
sh -c "echo \$\$ >$CG/cgroup.procs && exec memhog --mib 400 --step 4" >/tmp/hog.log 2>&1 &
HPID=$!
# throttled: the cgroup went over memory.high (memory.events "high" counts it)
over_high() { [ "$(ev high)" -gt "$EH0" ]; }
until_up 20 over_high || fail "the hog did not reach memory.high ($(cgv memory.current))"
sleep 2
h0=$(hogrss) e0=$(ev high) th0=$(up)
cgline stall-start
say "stall: hog rss ${h0} MiB, memory.high $(cat $CG/memory.high)"
STALL_TCP=0
PASS_STALLED=""
pass tcp stall 2 "$STALL_BOUND" && [ $PASS_OK = 1 ] && STALL_TCP=1
TCP_STUCK=$PASS_STALLED
alive
PASS_STALLED=""
pass unix stall 2 "$UNIX_BOUND"
UNIX_STUCK=$PASS_STALLED
alive
status_line stall
sed 's/^/  status: /' /tmp/status.txt
h1=$(hogrss)
echo "V2-HOG phase=stall rss_start_mib=$h0 rss_end_mib=$h1 seconds=$(since "$th0") events_high_delta=$(($(ev high) - e0))" \
	"alive=$(kill -0 $HPID 2>/dev/null && echo yes || echo no)"
cgline stall-end

# ---- kill: lift memory.high, the hog grows to memory.max and must be OOM-killed
echo max >$CG/memory.high
KILL_OK=1
tk=$(up)
bwait $HPID 60 || fail "the hog is still alive 60 s after memory.high=max ($(hogrss) MiB)"
echo "V2-HOG phase=kill exit=$BW_RC killed_after_s=$(since "$tk")"
tail -n 2 /tmp/hog.log | sed 's/^/  hog: /'
# a pass left stalled must finish once the limit is lifted
for t in tcp unix; do
	[ $t = tcp ] && sp=$TCP_STUCK || sp=$UNIX_STUCK
	[ -n "$sp" ] || continue
	tu=$(up)
	bwait $sp 30 && su="finished(exit $BW_RC)" || su=still-running
	echo "V2-STALL-LIFTED transport=$t after_lift=$su seconds=$(since "$tu")"
	[ "$su" = "finished(exit 0)" ] || KILL_OK=0
done
alive
cgline kill
dmesg | grep -E 'Killed process|invoked oom-killer|memory: usage' | sed 's/^/  /'
KILLED_BD=$(dmesg | grep -c "Killed process $BPID ")
KILLED_HOG=$(dmesg | grep -c "Killed process $HPID ")
for t in tcp unix; do pass $t kill 3 60 && [ $PASS_OK = 1 ] || KILL_OK=0; done
alive
status_line kill

# ---- all files verify once more (written in every phase), after dropping caches
for t in tcp unix; do umount /mnt/$t || fail "umount $t"; done
echo 3 >/proc/sys/vm/drop_caches
ALLV=ok
for t in tcp unix; do
	mount -t ext4 /dev/$(dev_of $t) /mnt/$t || fail "remount $t"
	for f in /mnt/$t/*-*; do
		s=$(dd if=$f bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$s" = "$EXPECT" ] || { say "$f: sha256 $s"; ALLV="MISMATCH($f)"; }
	done
	say "$t: $(ls /mnt/$t | grep -c -- -) files checked after remount"
	umount /mnt/$t
	fsck_clean /dev/$(dev_of $t) || ALLV="fsck($t)"
done
nbd-client -d /dev/nbd1 >/dev/null 2>&1
cgline end
grep -E 'oom|OOM|protection|killed|nomem' /tmp/ballastd.log | tail -n 8 | sed 's/^/  ballastd: /'
kill -TERM $BPID
bwait $BPID 20 && brc=$BW_RC || brc=hung
echo "V2-SUMMARY ballastd_oom_killed=$KILLED_BD hog_oom_killed=$KILLED_HOG kill_phase_io=$([ $KILL_OK = 1 ] && echo ok || echo FAILED)" \
	"stall_tcp=$([ $STALL_TCP = 1 ] && echo ok || echo FAILED) tcp_stalled=${TCP_STUCK:+yes} unix_stalled=${UNIX_STUCK:+yes} final_verify=$ALLV ballastd_exit=$brc"
ok=1
[ "$KILLED_BD" = 0 ] || { say "FAIL: ballastd was OOM-killed"; ok=0; }
[ "$KILLED_HOG" -ge 1 ] || { say "FAIL: the hog was not OOM-killed"; ok=0; }
[ $KILL_OK = 1 ] || { say "FAIL: I/O after the kill"; ok=0; }
[ "$ALLV" = ok ] || { say "FAIL: final verify $ALLV"; ok=0; }
[ "$brc" = 0 ] || { say "FAIL: ballastd exit $brc on SIGTERM"; ok=0; }
if [ $STALL_TCP != 1 ]; then
	say "stall phase over TCP did not complete and verify"
	[ "$ASSERT_TCP_STALL" = 1 ] && ok=0
fi
[ $ok = 1 ] || { tail -n 30 /tmp/ballastd.log; exit 1; }
say "CGROUP2-NEIGHBOUR OK"
EOT

t0=$(date +%s)
# shellcheck disable=SC2086
kt_run --timeout "${V2_TIMEOUT:-300}" --mem 512 --fwd "$port:$port" \
	--bin "$ballastd:/usr/local/sbin/ballastd" --bin "$memhog:/usr/local/bin/memhog" \
	--file "$KT_TMP/data.bin:/guest/data.bin" \
	--env ISCSI_PORT="$port" --env IQN="$iqn" --env MIB="$MIB" --env EXPECT="$expect" \
	--env MARGIN="$MARGIN" --env SETS="$SETS" --env STALL_BOUND="${V2_STALL_BOUND:-60}" \
	--env UNIX_BOUND="${V2_UNIX_BOUND:-20}" --env ASSERT_TCP_STALL="${V2_ASSERT_TCP_STALL:-1}" \
	--env BALLASTD_ARGS="${BALLASTD_ARGS:-}" \
	--log "$KT_TMP/console.log" "$KT_TMP/guest.sh" >"$KT_TMP/out.txt" 2>&1
rc=$?
cat "$KT_TMP/out.txt"
echo
echo "CGROUP2-NEIGHBOUR (guest 6.1, cgroup v2, $MIB MiB per pass, VM rc $rc, $(($(date +%s) - t0)) s)"
grep -a -o 'V2-\(SETUP\|RESULT\|HOG\|STATUS\|STALL-LIFTED\|SUMMARY\).*' "$KT_TMP/out.txt" | sed 's/^/  /'
if [ $rc -ne 0 ]; then
	kt_log "--- targetd.log"
	tail -n 30 "$KT_TMP/targetd.log" | sed 's/^/  /' >&2
fi
exit $rc
