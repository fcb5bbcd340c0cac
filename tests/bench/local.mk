# tests/bench: benchmark scripts. They print figures side by side with the anchors (tgtd,
# qemu-nbd over libiscsi, nbdkit memory) and are not tests: `make bench` runs them.
EXTRA_DIST += tests/bench/lib.sh tests/bench/target.sh tests/bench/initiator.sh

BENCH_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	BALLAST_TARGETD='$(abs_top_builddir)/ballast-targetd$(EXEEXT)' \
	BALLASTD='$(abs_top_builddir)/ballastd$(EXEEXT)' \
	TRIPWIRE='$(abs_top_builddir)/tests/support/.libs/libtripwire.so'

# A daemon that does not build yet gives "n/a" columns; the anchors are measured regardless.
bench:
	-$(MAKE) $(AM_MAKEFLAGS) ballast-targetd$(EXEEXT) ballastd$(EXEEXT) \
		tests/support/libtripwire.la
	$(BENCH_ENVIRONMENT) $(SHELL) $(srcdir)/tests/bench/target.sh || test $$? = 77
	$(BENCH_ENVIRONMENT) $(SHELL) $(srcdir)/tests/bench/initiator.sh || test $$? = 77
.PHONY: bench
