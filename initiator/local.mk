noinst_LIBRARIES += initiator/libinitiator.a
initiator_libinitiator_a_SOURCES = \
	initiator/initiator.h \
	initiator/config.c initiator/config.h \
	initiator/discovery.c initiator/discovery.h \
	initiator/login.c initiator/login.h \
	initiator/session.c initiator/session.h \
	initiator/conn.c initiator/conn.h \
	initiator/scsi.c initiator/scsi.h \
	initiator/nbd.c initiator/nbd.h \
	initiator/nbd_kernel.c initiator/nbd_kernel.h \
	initiator/ublk.c initiator/ublk.h \
	initiator/ublk_ctrl.c initiator/ublk_priv.h \
	initiator/control.c initiator/control.h \
	initiator/export.c initiator/export.h \
	initiator/export_ublk.c initiator/export_ublk.h
initiator_libinitiator_a_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS) $(CRYPTO_CFLAGS)
INITIATOR_LIBS = initiator/libinitiator.a $(NETRESERVE_LIBS) $(COMMON_LIBS) $(EV_LIBS) $(URING_LIBS)

sbin_PROGRAMS += ballastd ballastadm
ballastd_SOURCES = initiator/main.c
ballastd_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
ballastd_LDADD = $(INITIATOR_LIBS)
ballastadm_SOURCES = initiator/adm.c initiator/adm.h initiator/adm_node.c initiator/adm_session.c
ballastadm_CPPFLAGS = $(AM_CPPFLAGS) -DSBINDIR='"$(sbindir)"'
ballastadm_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
ballastadm_LDADD = $(INITIATOR_LIBS)
dist_man_MANS += man/ballastd.8 man/ballastadm.8
