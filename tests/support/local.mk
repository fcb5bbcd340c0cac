# Test support: the LD_PRELOAD allocation tripwire (count, fail and abort modes).
check_LTLIBRARIES += tests/support/libtripwire.la
tests_support_libtripwire_la_SOURCES = tests/support/tripwire.c tests/support/tripwire.h
tests_support_libtripwire_la_CFLAGS = $(AM_CFLAGS)
# -rpath forces libtool to build a shared object for a check-only library.
tests_support_libtripwire_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_support_libtripwire_la_LIBADD = $(DL_LIBS)
EXTRA_DIST += tests/support/lib.sh

# netreserve test helpers: loopback exchange, stats reader, memory/socket hog.
check_PROGRAMS += tests/support/nrexchange tests/support/nrstat tests/support/nrhog
tests_support_nrexchange_SOURCES = tests/support/nrexchange.c
tests_support_nrexchange_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
tests_support_nrexchange_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(EV_LIBS)
tests_support_nrstat_SOURCES = tests/support/nrstat.c
tests_support_nrstat_LDADD = $(NETRESERVE_LIBS)
tests_support_nrhog_SOURCES = tests/support/nrhog.c

# ublk test server: RAM disk over the initiator's ublk module (kernel tier, tests/kernel/ublk-*.sh).
check_PROGRAMS += tests/support/ublk-memserver
tests_support_ublk_memserver_SOURCES = tests/support/ublk-memserver.c
tests_support_ublk_memserver_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
tests_support_ublk_memserver_LDADD = $(INITIATOR_LIBS) $(PTHREAD_LIBS)
