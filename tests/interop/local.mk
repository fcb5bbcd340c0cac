# tests/interop: shell tests run by the automake harness (0 pass, 77 skip, 99 error).

# ballast-targetd under libiscsi (owner: target transport engineer)
TARGET_INTEROP_TESTS = tests/interop/target-login.sh tests/interop/target-data.sh \
	tests/interop/target-discovery.sh tests/interop/target-chap.sh \
	tests/interop/target-cu.sh tests/interop/target-control.sh \
	tests/interop/target-tripwire.sh tests/interop/target-hostile.sh \
	tests/interop/target-session.sh tests/interop/target-stream.sh
TESTS += $(TARGET_INTEROP_TESTS)
dist_check_SCRIPTS += $(TARGET_INTEROP_TESTS)
EXTRA_DIST += tests/interop/target-lib.sh
# ballastd against tgtd (root; skip 77 without tgtd/nbd tools)
BALLASTD_INTEROP_TESTS = tests/interop/ballastd-tgtd-nbdcopy.sh \
	tests/interop/ballastd-tgtd-zero-trim.sh tests/interop/ballastd-tgtd-fio.sh \
	tests/interop/ballastd-tgtd-chap.sh tests/interop/ballastd-tgtd-tripwire.sh \
	tests/interop/ballastd-tgtd-mount.sh tests/interop/ballastd-tgtd-params.sh
TESTS += $(BALLASTD_INTEROP_TESTS)
dist_check_SCRIPTS += $(BALLASTD_INTEROP_TESTS)
EXTRA_DIST += tests/interop/ballastd-lib.sh
# iscsi-raw: minimal raw iSCSI client for the ballast-targetd tests (owner: target engineer)
check_PROGRAMS += tests/support/iscsi-raw
tests_support_iscsi_raw_SOURCES = tests/support/iscsi-raw.c
tests_support_iscsi_raw_LDADD = $(COMMON_LIBS)
