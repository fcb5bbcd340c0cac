# tests/fault: shell tests run by the automake harness (0 pass, 77 skip, 99 error).

# Every fault test goes into FAULT_TESTS (add yours with +=). They are in TESTS too, so that
# `make check` as root (CI, scripts/test.sh) runs them; without root they skip (77). Each is
# bounded (timeouts inside) and releases its cgroups from an EXIT trap.
# `make check-fault` runs the fault tier alone.
FAULT_TESTS =
check-fault: all
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(FAULT_TESTS)"
.PHONY: check-fault

# netreserve (design F3, F4, F6, F7)
FAULT_TESTS += tests/fault/netreserve-oom.sh tests/fault/netreserve-oom-stall.sh \
	tests/fault/netreserve-tcpmem.sh tests/fault/netreserve-enobufs.sh
dist_check_SCRIPTS += tests/fault/netreserve-oom.sh tests/fault/netreserve-oom-stall.sh \
	tests/fault/netreserve-tcpmem.sh tests/fault/netreserve-enobufs.sh
TESTS += tests/fault/netreserve-oom.sh tests/fault/netreserve-oom-stall.sh \
	tests/fault/netreserve-tcpmem.sh tests/fault/netreserve-enobufs.sh

# issue 7: fault runs under cgroup memory limits through the mounted LUN (design section (d));
# oom-lib.sh is their shared harness (sourced).
OOM_FAULT_TESTS = tests/fault/oom-tripwire.sh tests/fault/oom-allocfail.sh \
	tests/fault/oom-neighbour.sh tests/fault/oom-neighbour-stall.sh \
	tests/fault/oom-neighbour-stall-unix.sh \
	tests/fault/oom-writeback.sh tests/fault/oom-sockmem.sh tests/fault/oom-enobufs.sh \
	tests/fault/oom-anchor.sh
FAULT_TESTS += $(OOM_FAULT_TESTS)
TESTS += $(OOM_FAULT_TESTS)
dist_check_SCRIPTS += $(OOM_FAULT_TESTS)
EXTRA_DIST += tests/fault/oom-lib.sh

# ballastd recovery (issue 6): drops, target restarts, blackholes, command timeouts
BALLASTD_FAULT_TESTS = tests/fault/ballastd-targetd-drop.sh \
	tests/fault/ballastd-targetd-restart.sh tests/fault/ballastd-tgtd-restart.sh \
	tests/fault/ballastd-blackhole.sh tests/fault/ballastd-cmd-timeout.sh
FAULT_TESTS += $(BALLASTD_FAULT_TESTS)
TESTS += $(BALLASTD_FAULT_TESTS)
dist_check_SCRIPTS += $(BALLASTD_FAULT_TESTS)
