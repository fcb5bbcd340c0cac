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
