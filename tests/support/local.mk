# Test support: the LD_PRELOAD allocation tripwire (count, fail and abort modes).
check_LTLIBRARIES += tests/support/libtripwire.la
tests_support_libtripwire_la_SOURCES = tests/support/tripwire.c tests/support/tripwire.h
tests_support_libtripwire_la_CFLAGS = $(AM_CFLAGS)
# -rpath forces libtool to build a shared object for a check-only library.
tests_support_libtripwire_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_support_libtripwire_la_LIBADD = $(DL_LIBS)
EXTRA_DIST += tests/support/lib.sh
