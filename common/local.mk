noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/compiler.h common/datapath.h \
	common/mem.c common/mem.h \
	common/pdu.c common/pdu.h common/sn.h \
	common/text.c common/text.h \
	common/crc32c.c common/crc32c.h \
	common/chap.c common/chap.h \
	common/conf.c common/conf.h \
	common/log.c common/log.h
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
COMMON_LIBS = common/libcommon.a $(CRYPTO_LIBS)
