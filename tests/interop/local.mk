# tests/interop: shell tests run by the automake harness (0 pass, 77 skip, 99 error).

# ballast-targetd under libiscsi (owner: target transport engineer)
TARGET_INTEROP_TESTS = tests/interop/target-login.sh tests/interop/target-data.sh \
	tests/interop/target-discovery.sh tests/interop/target-chap.sh \
	tests/interop/target-cu.sh tests/interop/target-control.sh \
	tests/interop/target-tripwire.sh
TESTS += $(TARGET_INTEROP_TESTS)
dist_check_SCRIPTS += $(TARGET_INTEROP_TESTS)
EXTRA_DIST += tests/interop/target-lib.sh
