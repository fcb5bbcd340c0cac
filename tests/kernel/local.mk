# tests/kernel: the kernel tier (doc/kernel-tier.md): real Linux kernel clients and targets in
# a qemu TCG guest booted from Debian's 6.1 kernel. Shell tests run by the automake harness
# (0 pass, 77 skip, 99 error); they skip unless root. One VM runs at a time (a lock in the
# cache), so `make -j check` only queues them. `make check-kernel` runs just this tier.
KERNEL_TESTS = \
	tests/kernel/smoke.sh \
	tests/kernel/iscsi-initiator.sh \
	tests/kernel/iscsi-initiator-tgtd.sh \
	tests/kernel/ballastd-nbd.sh

TESTS += $(KERNEL_TESTS)
dist_check_SCRIPTS += $(KERNEL_TESTS)
EXTRA_DIST += tests/kernel/build.sh tests/kernel/run.sh tests/kernel/lib.sh \
	tests/kernel/common.sh tests/kernel/guest/init tests/kernel/guest/functions.sh

# The host end of guest->host forwards (see the file); the tests find it in the build dir.
check_PROGRAMS += tests/kernel/vmrelay
tests_kernel_vmrelay_SOURCES = tests/kernel/vmrelay.c

.PHONY: check-kernel
check-kernel:
	$(MAKE) $(AM_MAKEFLAGS) tests/kernel/vmrelay tests/kernel/memhog tests/kernel/vmmon
	-$(MAKE) $(AM_MAKEFLAGS) ballastd ballast-targetd ballastadm
	@if test "$$(id -u)" = 0; then bash $(srcdir)/tests/kernel/build.sh; fi
	$(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS='$(KERNEL_TESTS)' \
		check_PROGRAMS="tests/kernel/vmrelay tests/kernel/memhog tests/kernel/vmmon" check_LTLIBRARIES= \
		TEST_SUITE_LOG=tests/kernel/test-suite.log

# ublk export (initiator/ublk.c) against the real ublk driver, built out of tree into the cache
# by ublk-build-module.sh; the guest runs tests/support/ublk-memserver (built on demand).
KERNEL_TESTS += tests/kernel/ublk-memserver.sh
EXTRA_DIST += tests/kernel/ublk-build-module.sh

# Memory pressure, swap and a second target (doc/oom-safety.md): nbd-client against ballastd's
# NBD sockets, writeback through ballastd under a memory hog (qemu-nbd over libiscsi as the
# anchor), swap over ballastd characterized beside nbdkit, ballastd against the LIO target.
# memhog and vmmon are guest helpers (a hog; an mlocked monitor that also ends a wedged guest).
KERNEL_TESTS += tests/kernel/nbd-client-ballastd.sh tests/kernel/writeback-pressure.sh \
	tests/kernel/swap-nbd.sh tests/kernel/ballastd-lio.sh
check_PROGRAMS += tests/kernel/memhog tests/kernel/vmmon
tests_kernel_memhog_SOURCES = tests/kernel/memhog.c
tests_kernel_vmmon_SOURCES = tests/kernel/vmmon.c

# ballastd --ublk in the guest (issue 8): /dev/ublkb0 from ballast-targetd, fio + ext4 + fsck,
# tripwire, kill -9 + user recovery. bench-ublk.sh is not a test.
KERNEL_TESTS += tests/kernel/ballastd-ublk.sh
EXTRA_DIST += tests/kernel/bench-ublk.sh

# Issue 8 beside issue 9: writeback under pressure on /dev/ublkb0 (ballastd --ublk 0), about
# 40-62 s of VM. swap-ublk.sh (swap on ublkb0, an expected deadlock, about 65 s) is not a test:
# run it by hand (doc/oom-safety.md).
KERNEL_TESTS += tests/kernel/writeback-ublk.sh
EXTRA_DIST += tests/kernel/swap-ublk.sh

# ballastd-nbd.sh over a loopback TCP pair (export.kernel_nbd.transport=tcp)
KERNEL_TESTS += tests/kernel/ballastd-nbd-tcp.sh

# cgroup v2 (issue 7, run 3 on v2; the hosts have no v2 memory controller): ballastd and a hog
# in one memory cgroup in the guest, kernel nbd (unix socketpair) and nbd-client over TCP with
# sock_reserve; stall (memory.high) and kill (memory.max) phases. About 60 s of VM.
KERNEL_TESTS += tests/kernel/cgroup2-neighbour.sh
