#!/bin/sh
# Issue 7, run 4 (design F5): writeback through ourselves. A writer in a memory cgroup W
# (limit OOM_WB_LIMIT, default 128M) dirties OOM_WB_MIB MiB (default 512) on the filesystem
# mounted through ballastd, then syncs:
#  a) ballastd in its own cgroup (unlimited), W holds only the writer;
#  b) ballastd inside W (the hard case on v1: reclaim in W waits for the writeback of pages
#     whose completion needs ballastd, which is charged to the same W).
# nbdfuse is in the path too (FUSE file -> loop -> ext4). It is libnbd + FUSE and allocates per
# request, so it runs in its own unconstrained cgroup: this run measures ballastd, not nbdfuse.
# Asserts for each: the write + sync completes within OOM_WB_BOUND s (default 90), no new
# hung-task report in dmesg, ballastd alive with no errors, and after a remount (with a fresh
# ballastd session for a) the data verifies (fio crc32c, read back through ballastd).
# Root only (77 otherwise).
# two files of OOM_WB_MIB on the LUN (a memory LUN in ballast-targetd, outside every limit)
: "${OOM_LUN_SIZE:=$((${OOM_WB_MIB:-512} * 2 + 256))M}"
. "${top_srcdir:-.}/tests/fault/oom-lib.sh"
oom_setup
LIMIT=${OOM_WB_LIMIT:-128M}
MIB=${OOM_WB_MIB:-512}
BOUND=${OOM_WB_BOUND:-90}

oom_mkcg writer
W=$NR_CG
nr_cg_limit "$W" "$(numfmt --from=iec "$LIMIT")"
oom_mkcg daemon
D=$NR_CG
oom_up "$D"

fio_args() { # NAME
	echo --name="$1" --filename="$OOM_MNT/$1" --rw=write --bs=1M --size="${MIB}M" \
		--verify=crc32c --verify_fatal=1
}

# write NAME: the writer in W dirties the file (buffered), fsyncs it and syncs the filesystem.
write_phase() {
	_c0=$(oom_bstat app.cmds)
	[ "$NR_CGV" = 1 ] && echo 0 > "$W/memory.max_usage_in_bytes"
	_f0=$(cat "$W/memory.failcnt" 2>/dev/null || echo 0)
	_o0=$(nr_cg_ooms "$W")
	_t0=$(date +%s.%N)
	oom_incg_bg "$W" "$OOM_W/writer-$1.log" sh -c \
		"fio $(fio_args "$1") --do_verify=0 --end_fsync=1 --output='$OOM_W/fio-$1.out' && sync -f '$OOM_MNT'"
	_wp=$OOM_BG
	oom_watch $_wp "writer-$1"
	oom_wait $_wp "$BOUND" "the writer ($1: $MIB MiB + sync, cgroup limit $LIMIT)"
	_rc=$OOM_RC
	_t1=$(date +%s.%N)
	oom_fig "${1}_elapsed_s" "$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.1f", b - a }')"
	oom_fig "${1}_mib_s" "$(awk -v a="$_t0" -v b="$_t1" -v m="$MIB" 'BEGIN { printf "%.1f", m / (b - a) }')"
	oom_fig "${1}_cmds" $(($(oom_bstat app.cmds) - _c0))
	oom_fig "${1}_writer_cg_max_usage" "$(cat "$W/memory.max_usage_in_bytes" 2>/dev/null ||
		cat "$W/memory.peak" 2>/dev/null)"
	oom_fig "${1}_writer_cg_failcnt" "$_f0 -> $(cat "$W/memory.failcnt" 2>/dev/null || echo -)"
	oom_fig "${1}_writer_cg_oom_kills" "$_o0 -> $(nr_cg_ooms "$W")"
	oom_fig "${1}_hung_task_reports" "$(oom_hung_tasks)"
	[ "$_rc" = 0 ] || { cat "$OOM_W/fio-$1.out" "$OOM_W/writer-$1.log" >&2; oom_fail "writer $1 failed ($_rc)"; }
	kill -0 "$OOM_BPID" 2>/dev/null || oom_fail "ballastd died"
	[ "$(oom_hung_tasks)" = 0 ] || oom_fail "hung-task reports in dmesg"
	[ "$(oom_bstat app.errors)" = 0 ] || oom_fail "ballastd counted errors"
}

verify_phase() { # NAME...
	for _v in "$@"; do
		timeout 120 fio $(fio_args "$_v") --direct=1 --verify_only \
			--output="$OOM_W/verify-$_v.out" > /dev/null 2>&1 &
		oom_wait $! 125 "verify $_v"
		[ "$OOM_RC" = 0 ] || { cat "$OOM_W/verify-$_v.out" >&2; oom_fail "$_v does not verify"; }
		oom_fig "verify_$_v" "ok ($(oom_fio_mib "$OOM_W/verify-$_v.out" READ) MiB/s)"
	done
}

oom_log "a) ballastd in its own cgroup $D, the writer in $W (limit $LIMIT)"
write_phase wb_a
oom_detach
oom_log "b) ballastd inside the writer's cgroup $W (limit $LIMIT)"
oom_reattach "$W"
verify_phase wb_a
write_phase wb_b
oom_umount
oom_mount
verify_phase wb_a wb_b
exit 0
