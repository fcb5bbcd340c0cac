#!/bin/sh
# ballastd's control socket is served asynchronously on the datapath ring (initiator/control.c),
# against ballast-targetd on loopback with 64 LUNs (so that the `status` answer is over 10 KiB,
# each answer checked complete: first line, 64 LUN lines, last line):
#  1. while two clients hold connections without a request line (one silent, one with half a
#     line), a third client gets the complete `status` answer and 4 MiB of NBD I/O (qemu-io,
#     written and read back with a pattern) completes, both before either holder is closed;
#     the holders are then closed without an answer after the 1 s request deadline; with three
#     holders (every slot) a fourth client waits in the backlog and is answered after them;
#  2. four clients that send `status` and never read the answer (more than the daemon serves
#     at once) do not stop later `status`, `pid` and `help` requests;
#  3. 50 connect/close cycles without a request, then 20 `ctl pid` requests, leave the daemon
#     serving, with the same number of open fds (/proc/PID/fd) as before;
#  4. `ctl logout` answers "ok logout pid N" and ballastd exits 0.
# The raw socket clients are perl (perl-base is Essential in Debian; IO::Socket::UNIX is in it).
BALLASTD_PEER=targetd
BALLASTD_TESTLIB=$(cd "$(dirname "$0")/../interop" && pwd)
export BALLASTD_PEER BALLASTD_TESTLIB
. "$BALLASTD_TESTLIB/ballastd-lib.sh"

[ -x "$BALLASTD" ] || skip "ballastd not built"
need_peer
need qemu-io perl
perl -MIO::Socket::UNIX -e 1 2>/dev/null || skip "perl without IO::Socket::UNIX"

# client.pl MODE SOCK ARGS: raw control socket clients.
#   hold SOCK OUT [DATA]: connect, send DATA (no newline) if given, create OUT.conn, then read
#       until EOF (at most 10 s) and write "eof|timeout MS BYTES" to OUT
#   noread SOCK SECS: connect, send "status\n", sleep SECS without reading, close
#   cycles SOCK N: connect and close at once, N times; prints the failures
cat >"$WORK/client.pl" <<'EOF'
use strict;
use warnings;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);

my ($mode, $path, @args) = @ARGV;
sub conn {
	return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path);
}
if ($mode eq 'hold') {
	my ($out, $data) = @args;
	my $s = conn() or die "connect: $!\n";
	syswrite($s, $data) if defined $data;
	open(my $c, '>', "$out.conn") or die; close($c);
	my $t0 = time;
	my ($bytes, $how) = (0, 'timeout');
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	while (time - $t0 < 10) {
		my $r = select(my $rout = $rin, undef, undef, 0.05);
		next unless $r > 0;
		my $n = sysread($s, my $buf, 65536);
		if (!$n) { $how = 'eof'; last; }
		$bytes += $n;
	}
	open(my $o, '>', "$out.tmp") or die;
	printf $o "%s %d %d\n", $how, (time - $t0) * 1000, $bytes;
	close($o);
	rename("$out.tmp", $out);
} elsif ($mode eq 'noread') {
	my $s = conn() or die "connect: $!\n";
	syswrite($s, "status\n");
	sleep($args[0]);
} elsif ($mode eq 'cycles') {
	my $bad = 0;
	for (1 .. $args[0]) {
		my $s = conn() or do { $bad++; next; };
		close($s);
	}
	print "$bad\n";
}
EOF
client() { perl "$WORK/client.pl" "$@"; }

nfds() { ls "/proc/$BALLASTD_PID/fd" | wc -l; }

# status_complete TEXT: the answer has its first line, all 64 LUN lines and its last line (the
# ring counters)
status_complete() {
	echo "$1" | grep -q "^target $TARGET_IQN portal " && echo "$1" | grep -q "^ring cqes " &&
		[ "$(echo "$1" | grep -c "^lun ")" = 64 ]
}

# The target with 64 LUNs (LUN 0, exported over NBD, has 64 MiB), so that `status` is large
# (over 10 KiB: one line per LUN). Like start_targetd, with more LUNs; cleanup stops it.
truncate -s 64M "$WORK/lun1.img" || hard "truncate"
luns="--lun 0:file:$WORK/lun1.img"
for i in $(seq 1 63); do
	truncate -s 1M "$WORK/lun$((i + 1)).img" || hard "truncate"
	luns="$luns --lun $i:file:$WORK/lun$((i + 1)).img"
done
mkfifo "$WORK/tready" || hard "mkfifo"
# shellcheck disable=SC2086
"$BALLAST_TARGETD" -f --portal 127.0.0.1:0 --target "$TARGET_IQN" $luns \
	--ready-fd 3 3>"$WORK/tready" >>"$WORK/targetd.log" 2>&1 &
TARGETD_PID=$!
tr=$(timeout 30 cat "$WORK/tready")
TGT_PORT=${tr##*:}
[ -n "$TGT_PORT" ] || hard "ballast-targetd did not become ready"
log "ballast-targetd pid $TARGETD_PID portal 127.0.0.1:$TGT_PORT with 64 LUNs"
start_ballastd --nbd "unix:$WORK/nbd.sock" || fail "ballastd did not become ready (rc $BALLASTD_RC)"
CTL=$WORK/ctl.sock
st=$(ctl_status) || fail "ctl status"
status_complete "$st" || fail "incomplete status: $st"
log "status: $(echo "$st" | wc -c) bytes"
fds0=$(nfds)
log "ballastd has $fds0 open fds"

# 1. two holders, then status and NBD I/O while they hold
client hold "$CTL" "$WORK/silent" &
h1=$!
client hold "$CTL" "$WORK/half" "sta" &
h2=$!
for i in $(seq 100); do
	[ -e "$WORK/silent.conn" ] && [ -e "$WORK/half.conn" ] && break
	sleep 0.02
done
[ -e "$WORK/silent.conn" ] && [ -e "$WORK/half.conn" ] || fail "the holders did not connect"
t0=$(date +%s%3N)
st=$(ctl_status) || fail "ctl status while two clients hold a connection"
t1=$(date +%s%3N)
timeout 60 qemu-io -f raw -c "write -P 0x5c 0 4M" -c "read -P 0x5c 0 4M" "$(uri)" \
	>"$WORK/qemu-io.log" 2>&1 || fail "NBD I/O failed: $(cat "$WORK/qemu-io.log")"
t2=$(date +%s%3N)
! grep -qi "fail\|error\|mismatch" "$WORK/qemu-io.log" || fail "NBD I/O: $(cat "$WORK/qemu-io.log")"
log "while held: status in $((t1 - t0)) ms, 4 MiB NBD write+read in $((t2 - t1)) ms"
status_complete "$st" || fail "incomplete status while two clients hold: $st"
[ ! -e "$WORK/silent" ] && [ ! -e "$WORK/half" ] ||
	fail "a holder was closed before status and NBD I/O completed: status and I/O waited" \
		"on it ($(cat "$WORK/silent" "$WORK/half" 2>/dev/null))"
wait "$h1" "$h2"
for h in silent half; do
	[ -e "$WORK/$h" ] || fail "$h client: no result"
	read -r how ms bytes <"$WORK/$h"
	log "$h client: $how after $ms ms, $bytes bytes"
	[ "$how" = eof ] || fail "$h client was not closed (the request deadline)"
	[ "$bytes" = 0 ] || fail "$h client got $bytes bytes: it sent no request line"
	[ "$ms" -ge 800 ] && [ "$ms" -le 5000 ] ||
		fail "$h client closed after $ms ms, expected the 1 s request deadline"
done

# 1b. three holders take every slot: a fourth client waits in the listen backlog (it is not
# dropped) and is answered once the holders' deadline frees a slot
rm -f "$WORK"/hold?*
for i in 1 2 3; do
	client hold "$CTL" "$WORK/hold$i" &
	eval "hp$i=\$!"
done
for i in $(seq 100); do
	[ -e "$WORK/hold1.conn" ] && [ -e "$WORK/hold2.conn" ] && [ -e "$WORK/hold3.conn" ] && break
	sleep 0.02
done
t0=$(date +%s%3N)
st=$(ctl_status) || fail "ctl status while three clients hold every slot"
t1=$(date +%s%3N)
status_complete "$st" || fail "incomplete status after waiting for a slot: $st"
# shellcheck disable=SC2154
wait "$hp1" "$hp2" "$hp3"
for i in 1 2 3; do
	read -r how ms bytes <"$WORK/hold$i" || fail "holder $i: no result"
	[ "$how" = eof ] && [ "$bytes" = 0 ] || fail "holder $i: $how after $ms ms, $bytes bytes"
done
[ $((t1 - t0)) -ge 500 ] ||
	fail "status answered in $((t1 - t0)) ms with every slot held: more than 3 clients served"
log "with every slot held, status waited $((t1 - t0)) ms in the backlog and was answered"

# 2. clients that never read the answer
for i in 1 2 3 4; do
	client noread "$CTL" 4 &
	eval "nr$i=\$!"
done
sleep 0.3
for i in 1 2 3; do
	st=$(ctl_status) || fail "ctl status $i with four clients not reading their answer"
	status_complete "$st" || fail "incomplete status $i with clients not reading: $st"
done
pid=$("$BALLASTD" ctl "$CTL" pid) || fail "ctl pid"
[ "$pid" = "pid $BALLASTD_PID" ] || fail "ctl pid answered '$pid'"
"$BALLASTD" ctl "$CTL" help | grep -q "^commands: status pid logout help$" || fail "ctl help"
# shellcheck disable=SC2154
wait "$nr1" "$nr2" "$nr3" "$nr4"
log "status, pid and help answered while four clients did not read their answers"

# 3. connect/close cycles, fds
bad=$(client cycles "$CTL" 50) || fail "connect/close cycles"
[ "$bad" = 0 ] || fail "$bad of 50 connections failed"
for i in $(seq 20); do
	[ "$("$BALLASTD" ctl "$CTL" pid)" = "pid $BALLASTD_PID" ] || fail "ctl pid $i after the cycles"
done
st=$(ctl_status) || fail "ctl status after the cycles"
status_complete "$st" || fail "incomplete status after the cycles: $st"
for i in $(seq 50); do
	[ "$(nfds)" = "$fds0" ] && break
	sleep 0.1
done
[ "$(nfds)" = "$fds0" ] || fail "ballastd has $(nfds) open fds after the cycles, $fds0 before"
log "50 connect/close cycles and 20 pid requests: still serving, $fds0 fds"

# 4. logout through the control socket
ans=$("$BALLASTD" ctl "$CTL" logout) || fail "ctl logout"
[ "$ans" = "ok logout pid $BALLASTD_PID" ] || fail "ctl logout answered '$ans'"
wait "$BALLASTD_PID"
rc=$?
BALLASTD_PID=
[ $rc = 0 ] || fail "ballastd exit status $rc after ctl logout"
[ ! -e "$CTL" ] || fail "control socket left after logout"
log "ctl logout: ballastd exited 0"
exit 0
