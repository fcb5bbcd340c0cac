noinst_LIBRARIES += target/libtarget.a
target_libtarget_a_SOURCES = \
	target/target.h \
	target/scsi.c target/scsi.h target/scsi_lu.c target/scsi_lu.h \
	target/pr.c target/pr.h \
	target/backstore.c target/backstore.h \
	target/backstore_mem.c target/backstore_file.c target/backstore_null.c \
	target/backstore_io.c target/backstore_priv.h \
	target/config.c target/config.h \
	target/portal.c target/portal.h \
	target/login.c target/login.h \
	target/session.c target/session.h \
	target/conn.c target/conn.h \
	target/control.c target/control.h \
	target/ffp.c target/ffp.h \
	target/xport.c target/xport.h
target_libtarget_a_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) $(CRYPTO_CFLAGS)
TARGET_LIBS = target/libtarget.a $(NETRESERVE_LIBS) $(COMMON_LIBS) $(EV_LIBS) $(URING_LIBS)

sbin_PROGRAMS += ballast-targetd
ballast_targetd_SOURCES = target/main.c
ballast_targetd_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
ballast_targetd_LDADD = $(TARGET_LIBS)
dist_man_MANS += man/ballast-targetd.8 man/targets.conf.5
