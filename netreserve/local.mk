noinst_LIBRARIES += netreserve/libnetreserve.a
netreserve_libnetreserve_a_SOURCES = \
	netreserve/netreserve.h netreserve/compat.h \
	netreserve/pool.c netreserve/pool.h \
	netreserve/ring.c netreserve/ring.h \
	netreserve/conn.c netreserve/conn.h \
	netreserve/protect.c netreserve/protect.h \
	netreserve/watchdog.c netreserve/watchdog.h \
	netreserve/footprint.c netreserve/footprint.h \
	netreserve/stats.c netreserve/stats.h netreserve/internal.h
netreserve_libnetreserve_a_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
NETRESERVE_LIBS = netreserve/libnetreserve.a $(URING_LIBS) $(PTHREAD_LIBS)
