#!/bin/sh
# Issue 7, run 2 (design F2): every allocation fails after ready.
#  a) the tripwire (tests/support/libtripwire.so) in fail mode, armed by netreserve_ready():
#     every malloc-family call and anonymous mmap returns NULL/MAP_FAILED with ENOMEM;
#  b) libfiu on the unmodified binary: ballastd runs under `fiu-run -x`; once it is ready and
#     the filesystem is mounted, `fiu-ctrl -c 'enable name=libc/mm/*' -c 'enable name=posix/mm/*'`
#     makes malloc/calloc/realloc and mmap/munmap/mremap/mlock... fail.
# In both, fio writes and verifies through the mounted filesystem (OOM_PASS_SECS, default 6),
# then a new NBD client connects (nbdinfo: it may be refused, but cleanly) and `ballastd ctl
# status` is asked (control plane: may fail, cleanly), then fio again. Asserts: both fio passes
# verify, ballastd never crashes (alive, then a clean exit 0), no I/O errors counted.
# The reconnect of the issue's F2 needs session recovery; it is left to oom-tripwire.sh's
# reconnect step. Root only (77 otherwise).
. "${top_srcdir:-.}/tests/fault/oom-lib.sh"
oom_setup
[ -f "$TRIPWIRE" ] || nr_error "tripwire library not built: $TRIPWIRE"
SECS=${OOM_PASS_SECS:-6}

fio_pass() { # NAME
	timeout $((SECS + 60)) fio --name="$1" --directory="$OOM_MNT" --rw=randwrite \
		--bsrange=4k-1m --size=128M --direct=1 --ioengine=libaio --iodepth=16 \
		--verify=crc32c --verify_backlog=64 --verify_fatal=1 --time_based \
		--runtime="$SECS" --output="$OOM_W/fio-$1.out" > /dev/null 2>&1 &
	oom_wait $! $((SECS + 65)) "fio $1"
	[ "$OOM_RC" = 0 ] || { cat "$OOM_W/fio-$1.out" >&2; oom_fail "fio $1 failed ($OOM_RC)"; }
	kill -0 "$OOM_BPID" 2>/dev/null || oom_fail "ballastd died during fio $1"
	oom_fig "${1}_write_mib_s" "$(oom_fio_mib "$OOM_W/fio-$1.out" WRITE)"
}

# probe NAME: a new NBD client and a status request while allocations fail
probe() {
	timeout 20 nbdinfo --size "nbd+unix:///?socket=$OOM_W/nbd.sock" \
		> "$OOM_W/probe-$1.out" 2>&1 &
	oom_wait $! 25 "nbdinfo (new NBD client)"
	if [ "$OOM_RC" = 0 ]; then
		oom_fig "${1}_new_client" "connected (size $(cat "$OOM_W/probe-$1.out"))"
	else
		oom_fig "${1}_new_client" "refused, exit $OOM_RC: $(tr '\n' ' ' < "$OOM_W/probe-$1.out")"
	fi
	if _st=$(oom_status 2>&1); then
		oom_fig "${1}_ctl_status" "answered ($(echo "$_st" | wc -l) lines)"
	else
		oom_fig "${1}_ctl_status" "failed: $(echo "$_st" | head -n 1)"
	fi
	kill -0 "$OOM_BPID" 2>/dev/null || oom_fail "ballastd crashed on a new client / status"
}

finish() { # NAME
	[ "$(oom_bstat app.errors)" = 0 ] || oom_fail "ballastd counted I/O errors"
	oom_detach
}

oom_log "a) tripwire, fail mode"
OOM_PRELOAD=$TRIPWIRE
OOM_ENV="TRIPWIRE_MODE=fail TRIPWIRE_STATS=$OOM_W/tripwire.stats"
oom_up ""
tw() { od -An -j $((8 * $1)) -N 8 -t d8 "$OOM_W/tripwire.stats" | tr -d ' '; }
[ "$(tw 2)" = 1 ] || nr_error "tripwire not armed at ready"
fio_pass tripwire_1
oom_fig tripwire_fails_steady "$(tw 6)"
probe tripwire
fio_pass tripwire_2
oom_fig tripwire_fails_total "$(tw 6) (allocations $(tw 3), mappings $(tw 5))"
finish tripwire
grep '^tripwire:' "$OOM_W/ballastd.log" | sed 's/^/  /'

oom_log "b) libfiu: fiu-run -x, libc/mm/* and posix/mm/* enabled after ready"
OOM_PRELOAD=
OOM_ENV=
OOM_WRAP="fiu-run -x -f $OOM_W/fiu"
oom_reattach ""
B=$OOM_BPID
grep -q fiu_posix_preload "/proc/$B/maps" || nr_error "libfiu's posix preload is not in ballastd"
timeout 10 fiu-ctrl -f "$OOM_W/fiu" -c 'enable name=libc/mm/*' -c 'enable name=posix/mm/*' \
	"$B" || nr_error "fiu-ctrl enable"
oom_fig fiu_enabled "libc/mm/* posix/mm/* in pid $B"
fio_pass fiu_1
probe fiu
fio_pass fiu_2
timeout 10 fiu-ctrl -f "$OOM_W/fiu" -c 'disable name=libc/mm/*' -c 'disable name=posix/mm/*' \
	"$B" || oom_fail "fiu-ctrl disable (the control thread of libfiu is gone?)"
finish fiu
exit 0
