# Fuzz targets: LLVMFuzzerTestOneInput() in tests/fuzz/fuzz-*.c. With --enable-libfuzzer they
# link libFuzzer (clang); otherwise replay.c feeds every file of the target's corpus to it, so
# `make check` replays the corpora with any compiler.
FUZZ_TARGETS = tests/fuzz/fuzz-pdu tests/fuzz/fuzz-text
FUZZ_TARGETS += tests/fuzz/fuzz-login
FUZZ_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) $(CRYPTO_CFLAGS)
if LIBFUZZER
FUZZ_CFLAGS += -fsanitize=fuzzer
FUZZ_DRIVER =
noinst_PROGRAMS += $(FUZZ_TARGETS)
else
FUZZ_DRIVER = tests/fuzz/replay.c
check_PROGRAMS += $(FUZZ_TARGETS)
endif
TESTS += tests/fuzz/replay-corpora.sh
EXTRA_DIST += tests/fuzz/replay-corpora.sh tests/fuzz/corpus tests/fuzz/fuzz.h

# The code under test is compiled into the target with FUZZ_CFLAGS (not taken from
# libcommon.a) so that a libFuzzer build instruments it for coverage.
tests_fuzz_fuzz_pdu_SOURCES = tests/fuzz/fuzz-pdu.c common/pdu.c common/crc32c.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_pdu_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_text_SOURCES = tests/fuzz/fuzz-text.c common/text.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_text_CFLAGS = $(FUZZ_CFLAGS)

# ballast-targetd's connection path (parser, login, Full Feature Phase) over a socketpair.
tests_fuzz_fuzz_login_SOURCES = tests/fuzz/fuzz-login.c target/conn.c target/login.c \
	target/ffp.c target/session.c target/xport.c target/config.c target/portal.c \
	target/control.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_login_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_login_LDADD = $(TARGET_LIBS)
