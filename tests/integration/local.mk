# tests/integration: shell tests run by the automake harness (0 pass, 77 skip, 99 error).

# nbd engine (initiator/nbd.c) against real clients through a test RAM-disk server.
check_PROGRAMS += tests/support/nbd-memserver
tests_support_nbd_memserver_SOURCES = tests/support/nbd-memserver.c initiator/nbd.c initiator/nbd.h
tests_support_nbd_memserver_CFLAGS = $(AM_CFLAGS)
TESTS += tests/integration/nbd-engine.sh
dist_check_SCRIPTS += tests/integration/nbd-engine.sh

# netreserve (owner: netreserve engineer)
dist_check_SCRIPTS += tests/integration/netreserve-exchange.sh
TESTS += tests/integration/netreserve-exchange.sh

# ballast-targetd configuration, reload and footprint (owner: target transport engineer)
TESTS += tests/integration/target-config.sh
dist_check_SCRIPTS += tests/integration/target-config.sh
# ballastd against ballast-targetd: the ballastd-tgtd-*.sh interop tests with BALLASTD_PEER=targetd
BALLASTD_INTEGRATION_TESTS = tests/integration/ballastd-targetd-nbdcopy.sh \
	tests/integration/ballastd-targetd-zero-trim.sh tests/integration/ballastd-targetd-fio.sh \
	tests/integration/ballastd-targetd-chap.sh tests/integration/ballastd-targetd-tripwire.sh \
	tests/integration/ballastd-targetd-mount.sh
TESTS += $(BALLASTD_INTEGRATION_TESTS)
dist_check_SCRIPTS += $(BALLASTD_INTEGRATION_TESTS)
# ballastadm: discovery, node records, login/logout, sessions (owner: ballastadm engineer)
BALLASTADM_INTEGRATION_TESTS = tests/integration/ballastadm-node.sh \
	tests/integration/ballastadm-login.sh tests/integration/ballastadm-loginall.sh
TESTS += $(BALLASTADM_INTEGRATION_TESTS)
dist_check_SCRIPTS += $(BALLASTADM_INTEGRATION_TESTS)
EXTRA_DIST += tests/integration/ballastadm-lib.sh
# ballastd --ublk where the kernel has no ublk_drv: clear error, NBD goes on
TESTS += tests/integration/ballastd-ublk-absent.sh
dist_check_SCRIPTS += tests/integration/ballastd-ublk-absent.sh
# ballastd's exit codes for failed logins (iscsiadm's numbers)
TESTS += tests/integration/ballastd-exit-codes.sh
dist_check_SCRIPTS += tests/integration/ballastd-exit-codes.sh
# ballastd's control socket served asynchronously: holders, non-readers, fd leaks
TESTS += tests/integration/ballastd-control.sh
dist_check_SCRIPTS += tests/integration/ballastd-control.sh
