# CUnit unit tests: tests/unit/test-<module>[-<topic>].c, one program each.
UNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(URING_CFLAGS) $(CRYPTO_CFLAGS)

UNIT_COMMON = tests/unit/test-pdu tests/unit/test-sn tests/unit/test-text \
	tests/unit/test-crc32c tests/unit/test-chap tests/unit/test-conf tests/unit/test-log
UNIT_NETRESERVE = tests/unit/test-netreserve-pool tests/unit/test-netreserve-bufring \
	tests/unit/test-netreserve-footprint tests/unit/test-netreserve-protect \
	tests/unit/test-netreserve-watchdog tests/unit/test-netreserve-stats
UNIT_TARGET = tests/unit/test-target-scsi
UNIT_INITIATOR = tests/unit/test-initiator-nbd
UNIT_INITIATOR += tests/unit/test-initiator-config tests/unit/test-initiator-scsi

check_PROGRAMS += $(UNIT_COMMON) $(UNIT_NETRESERVE) $(UNIT_TARGET) $(UNIT_INITIATOR)
TESTS += $(UNIT_COMMON) $(UNIT_NETRESERVE) $(UNIT_TARGET) $(UNIT_INITIATOR)
EXTRA_DIST += tests/unit/unit.h

tests_unit_test_pdu_SOURCES = tests/unit/test-pdu.c
tests_unit_test_pdu_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pdu_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_sn_SOURCES = tests/unit/test-sn.c
tests_unit_test_sn_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sn_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_text_SOURCES = tests/unit/test-text.c
tests_unit_test_text_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_text_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_crc32c_SOURCES = tests/unit/test-crc32c.c
tests_unit_test_crc32c_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_crc32c_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_chap_SOURCES = tests/unit/test-chap.c
tests_unit_test_chap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_chap_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_conf_SOURCES = tests/unit/test-conf.c
tests_unit_test_conf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_log_SOURCES = tests/unit/test-log.c
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(COMMON_LIBS) $(CUNIT_LIBS)

tests_unit_test_netreserve_pool_SOURCES = tests/unit/test-netreserve-pool.c
tests_unit_test_netreserve_pool_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_netreserve_pool_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_netreserve_bufring_SOURCES = tests/unit/test-netreserve-bufring.c
tests_unit_test_netreserve_bufring_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_netreserve_bufring_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_netreserve_footprint_SOURCES = tests/unit/test-netreserve-footprint.c
tests_unit_test_netreserve_footprint_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_netreserve_footprint_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_netreserve_protect_SOURCES = tests/unit/test-netreserve-protect.c
tests_unit_test_netreserve_protect_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_netreserve_protect_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_netreserve_watchdog_SOURCES = tests/unit/test-netreserve-watchdog.c
tests_unit_test_netreserve_watchdog_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_netreserve_watchdog_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(CUNIT_LIBS)
tests_unit_test_netreserve_stats_SOURCES = tests/unit/test-netreserve-stats.c
tests_unit_test_netreserve_stats_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_netreserve_stats_LDADD = $(NETRESERVE_LIBS) $(COMMON_LIBS) $(CUNIT_LIBS)

tests_unit_test_target_scsi_SOURCES = tests/unit/test-target-scsi.c
tests_unit_test_target_scsi_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_target_scsi_LDADD = $(TARGET_LIBS) $(CUNIT_LIBS)

tests_unit_test_initiator_nbd_SOURCES = tests/unit/test-initiator-nbd.c
tests_unit_test_initiator_nbd_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_initiator_nbd_LDADD = $(INITIATOR_LIBS) $(CUNIT_LIBS)

# ublk export: -ENOENT without ublk_drv, parameter checks, datapath encoding.
check_PROGRAMS += tests/unit/test-initiator-ublk
TESTS += tests/unit/test-initiator-ublk
tests_unit_test_initiator_ublk_SOURCES = tests/unit/test-initiator-ublk.c
tests_unit_test_initiator_ublk_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_initiator_ublk_LDADD = $(INITIATOR_LIBS) $(CUNIT_LIBS)
tests_unit_test_initiator_config_SOURCES = tests/unit/test-initiator-config.c
tests_unit_test_initiator_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_initiator_config_LDADD = $(INITIATOR_LIBS) $(CUNIT_LIBS)
tests_unit_test_initiator_scsi_SOURCES = tests/unit/test-initiator-scsi.c
tests_unit_test_initiator_scsi_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_initiator_scsi_LDADD = $(INITIATOR_LIBS) $(CUNIT_LIBS)
