#!/bin/sh
# Benchmark (not a test; not in TESTS): ballastd's ublk export against its kernel NBD export of
# the same LUN of the same ballast-targetd, in the kernel tier's TCG guest. One ballastd serves
# both (--ublk 0 --nbd kernel); fio runs each job on /dev/ublkb0 and then on /dev/nbd0:
# 4 KiB random read and write at QD32, 1 MiB sequential read and write at QD4 (libaio, direct).
# Under TCG only the ratios mean something. Output on stdout:
#   BENCH <dev> <job> iops <N> MiB/s <N>
#   BENCH ratio <job> ublk/nbd <R>   (throughput ratio, same for IOPS)
#   TIMING <name> <seconds>
# usage (as root, from the build directory):
#   top_srcdir=SRC top_builddir=$PWD sh SRC/tests/kernel/bench-ublk.sh
# BENCH_RUNTIME (seconds per job, default 6) and BENCH_SIZE (fio region, default 128M).
. "$(dirname "$0")/common.sh"

kt_daemons
FIO=$(command -v fio) || kt_skip "fio not installed"
kt_init
kt_ublk_module

iqn=iqn.2025-01.org.ballast.test:bench-ublk
kt_start_targetd "$iqn" --lun 1:mem:256M

cat >"$KT_TMP/guest.sh" <<'EOT'
. /etc/kvm-functions.sh
fail() { fail_poweroff "$*" /run/b.log; }
insmod /lib/modules/extra/ublk_drv.ko || fail "insmod ublk_drv"
mods nbd || fail "nbd module"
wait_for /dev/ublk-control 5 || fail "no /dev/ublk-control"
: >/run/ready
ballastd -f --portal "$HOST_IP:$ISCSI_PORT" --target "$IQN" \
	--initiator-name iqn.2025-01.org.ballast:bench --ublk 0 --nbd kernel \
	--ready-fd 3 3>/run/ready >/run/b.log 2>&1 &
BPID=$!
n=600
until grep -q '^ublk' /run/ready && grep -q '^nbd kernel' /run/ready; do
	kill -0 $BPID 2>/dev/null || fail "ballastd exited"
	[ $n -gt 0 ] || fail "ballastd not ready after 60s"
	n=$((n - 1))
	sleep 0.1
done
NBD=$(sed -n 's/^nbd kernel:\([^ ]*\) .*/\1/p' /run/ready)
wait_for /dev/ublkb0 10 || fail "no /dev/ublkb0"
say "exports: $(tr '\n' ';' </run/ready)"
# fill the region once so that reads read data
dd if=/dev/urandom of=/dev/ublkb0 bs=1M count=${BENCH_SIZE%M} oflag=direct 2>/dev/null ||
	fail "fill"

run() { # DEV NAME RW BS QD
	fio --minimal --name="$2" --filename="$1" --rw="$3" --bs="$4" --iodepth="$5" \
		--ioengine=libaio --direct=1 --size="$BENCH_SIZE" --time_based \
		--runtime="$BENCH_RUNTIME" --ramp_time=1 2>/run/fio.err |
		awk -F';' -v dev="$1" -v name="$2" -v rw="$3" '{
			if (rw ~ /read/) { bw = $7; iops = $8 } else { bw = $48; iops = $49 }
			printf "BENCH %s %s iops %d MiB/s %.1f\n", dev, name, iops, bw / 1024 }'
}
t=$(up)
: >/run/bench
for job in "randread 4k 32" "randwrite 4k 32" "read 1M 4" "write 1M 4"; do
	set -- $job
	for dev in /dev/ublkb0 $NBD; do
		run $dev "$1-$2-qd$3" "$1" "$2" "$3" | tee -a /run/bench
	done
done
T bench "$t"
awk '$2 == "/dev/ublkb0" { u[$3] = $7 } $2 ~ /nbd/ { n[$3] = $7 }
	END { for (j in u) if (n[j] > 0) printf "BENCH ratio %s ublk/nbd %.2f\n", j, u[j] / n[j] }' \
	/run/bench | sort
kill -TERM $BPID
wait $BPID
say "ballastd exit $?"
say "BENCH-UBLK DONE"
EOT

kt_run --timeout 360 --mem 1024 --fwd "$port:$port" --bin "$ballastd:/usr/local/sbin/ballastd" \
	--bin "$FIO:/usr/local/bin/fio" --file "$KO:/lib/modules/extra/ublk_drv.ko" \
	--env ISCSI_PORT="$port" --env IQN="$iqn" --env BENCH_RUNTIME="${BENCH_RUNTIME:-6}" \
	--env BENCH_SIZE="${BENCH_SIZE:-128M}" "$KT_TMP/guest.sh" >"$KT_TMP/console.log"
rc=$?
grep -E '^(BENCH|TIMING)|guest' "$KT_TMP/console.log"
exit $rc
