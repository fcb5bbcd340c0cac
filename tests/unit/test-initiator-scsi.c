/* Initiator SCSI helpers (initiator/scsi.h): CDBs, LUN encoding, parsers, sense. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "initiator/scsi.h"
#include "tests/unit/unit.h"

static void
test_rw_cdb(void)
{
	uint8_t cdb[16];
	CU_ASSERT_EQUAL(initiator_scsi_cdb_rw(cdb, false, 0x12345678, 8, false), 10);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_READ_10);
	CU_ASSERT_EQUAL(cdb[2], 0x12);
	CU_ASSERT_EQUAL(cdb[5], 0x78);
	CU_ASSERT_EQUAL(cdb[8], 8);
	CU_ASSERT_EQUAL(cdb[1], 0);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_rw(cdb, true, 1, 8, true), 10);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_WRITE_10);
	CU_ASSERT_EQUAL(cdb[1], 0x08); /* FUA */
	/* beyond 32-bit LBA or 65535 blocks: the 16-byte forms */
	CU_ASSERT_EQUAL(initiator_scsi_cdb_rw(cdb, true, 0x100000000ull, 1, false), 16);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_WRITE_16);
	CU_ASSERT_EQUAL(cdb[5], 1);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_rw(cdb, false, 0, 65536, false), 16);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_READ_16);
	CU_ASSERT_EQUAL(cdb[11], 1);
	CU_ASSERT_EQUAL(cdb[12], 0);
}

static void
test_other_cdbs(void)
{
	uint8_t cdb[16], p[24];
	CU_ASSERT_EQUAL(initiator_scsi_cdb_sync_cache(cdb, 0, 0), 10);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_SYNC_CACHE_10);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_write_same(cdb, 10, 20, true), 16);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_WRITE_SAME_16);
	CU_ASSERT_EQUAL(cdb[1], 0x08);
	CU_ASSERT_EQUAL(cdb[13], 20);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_unmap(cdb, 24), 10);
	CU_ASSERT_EQUAL(cdb[8], 24);
	CU_ASSERT_EQUAL(initiator_scsi_unmap_param(p, 0x1000, 0x80), 24);
	CU_ASSERT_EQUAL(p[1], 22);
	CU_ASSERT_EQUAL(p[3], 16);
	CU_ASSERT_EQUAL(p[14], 0x10);
	CU_ASSERT_EQUAL(p[19], 0x80);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_read_capacity16(cdb, 32), 16);
	CU_ASSERT_EQUAL(cdb[0], 0x9e);
	CU_ASSERT_EQUAL(cdb[1], 0x10);
	CU_ASSERT_EQUAL(cdb[13], 32);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_inquiry(cdb, true, 0xb0, 64), 6);
	CU_ASSERT_EQUAL(cdb[1], 1);
	CU_ASSERT_EQUAL(cdb[2], 0xb0);
	CU_ASSERT_EQUAL(cdb[4], 64);
}

static void
test_lun(void)
{
	uint8_t f[8];
	initiator_scsi_lun_encode(5, f);
	CU_ASSERT_EQUAL(f[0], 0);
	CU_ASSERT_EQUAL(f[1], 5);
	CU_ASSERT_EQUAL(initiator_scsi_lun_decode(f), 5);
	initiator_scsi_lun_encode(1000, f);
	CU_ASSERT_EQUAL(f[0], 0x43);
	CU_ASSERT_EQUAL(f[1], 0xe8);
	CU_ASSERT_EQUAL(initiator_scsi_lun_decode(f), 1000);

	uint8_t rl[8 + 16] = { 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			       0x40, 0x01, 0, 0, 0, 0, 0, 0 };
	uint64_t luns[4];
	CU_ASSERT_EQUAL(initiator_scsi_parse_report_luns(rl, sizeof(rl), luns, 4), 2);
	CU_ASSERT_EQUAL(luns[0], 0);
	CU_ASSERT_EQUAL(luns[1], 1);
	CU_ASSERT_EQUAL(initiator_scsi_parse_report_luns(rl, 4, luns, 4), -EBADMSG);
}

static void
test_parsers(void)
{
	struct initiator_lun_info li;
	uint8_t rc[32] = { 0 };
	memset(&li, 0, sizeof(li));
	rc[7] = 0xff;          /* last LBA 255 */
	rc[10] = 0x10;         /* 4096-byte blocks */
	rc[13] = 0;            /* one logical block per physical */
	rc[14] = 0x80 | 0x40;  /* LBPME, LBPRZ */
	CU_ASSERT_EQUAL(initiator_scsi_parse_read_capacity16(rc, sizeof(rc), &li), 0);
	CU_ASSERT_EQUAL(li.nblocks, 256);
	CU_ASSERT_EQUAL(li.block_size, 4096);
	CU_ASSERT_TRUE(li.lbpme);
	CU_ASSERT_TRUE(li.lbprz);
	rc[10] = 0x03; /* 768: not a power of two */
	CU_ASSERT_EQUAL(initiator_scsi_parse_read_capacity16(rc, sizeof(rc), &li), -EBADMSG);

	uint8_t b0[64] = { 0, 0xb0, 0, 0x3c };
	b0[11] = 0x80;  /* max transfer 128 blocks */
	b0[23] = 0x40;  /* max unmap LBA count 64 */
	b0[27] = 1;     /* one descriptor */
	b0[31] = 8;     /* granularity */
	b0[43] = 0x20;  /* max write same 32 */
	CU_ASSERT_EQUAL(initiator_scsi_parse_vpd_b0(b0, sizeof(b0), &li), 0);
	CU_ASSERT_EQUAL(li.max_transfer, 128);
	CU_ASSERT_EQUAL(li.max_unmap_lba, 64);
	CU_ASSERT_EQUAL(li.max_unmap_desc, 1);
	CU_ASSERT_EQUAL(li.unmap_granularity, 8);
	CU_ASSERT_EQUAL(li.max_write_same, 32);

	uint8_t p83[4 + 4 + 8] = { 0, 0x83, 0, 12, 0x01, 0x03, 0, 8,
				   0x60, 0x01, 0x40, 0x50, 0x12, 0x34, 0x56, 0x78 };
	CU_ASSERT_EQUAL(initiator_scsi_parse_vpd83(p83, sizeof(p83), &li), 0);
	CU_ASSERT_STRING_EQUAL(li.wwn, "naa.6001405012345678");

	uint8_t sup[8] = { 0, 0, 0, 3, 0x00, 0x83, 0xb0 };
	CU_ASSERT_TRUE(initiator_scsi_vpd_supported(sup, 7, 0xb0));
	CU_ASSERT_FALSE(initiator_scsi_vpd_supported(sup, 7, 0xb2));

	uint8_t inq[36] = { 0x00, 0x80 };
	memcpy(inq + 8, "VENDOR  PRODUCT         1.0 ", 28);
	CU_ASSERT_EQUAL(initiator_scsi_parse_inquiry(inq, sizeof(inq), &li), 0);
	CU_ASSERT_EQUAL(li.type, INITIATOR_SCSI_TYPE_DISK);
	CU_ASSERT_TRUE(li.removable);
	CU_ASSERT_STRING_EQUAL(li.vendor, "VENDOR");
	CU_ASSERT_STRING_EQUAL(li.product, "PRODUCT");
	inq[0] = 0x7f; /* LU not present */
	initiator_scsi_parse_inquiry(inq, sizeof(inq), &li);
	CU_ASSERT_NOT_EQUAL(li.type, INITIATOR_SCSI_TYPE_DISK);
}

static void
test_sense(void)
{
	struct initiator_sense s;
	uint8_t fixed[18] = { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0x00 };
	initiator_scsi_parse_sense(fixed, sizeof(fixed), &s);
	CU_ASSERT_TRUE(s.valid);
	CU_ASSERT_EQUAL(s.key, INITIATOR_SENSE_UNIT_ATTENTION);
	CU_ASSERT_EQUAL(s.asc, 0x29);
	uint8_t desc[8] = { 0x72, 0x05, 0x21, 0x00 };
	initiator_scsi_parse_sense(desc, sizeof(desc), &s);
	CU_ASSERT_TRUE(s.valid);
	CU_ASSERT_EQUAL(s.key, INITIATOR_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT_EQUAL(s.asc, 0x21);
	uint8_t junk[2] = { 0x12, 0x34 };
	initiator_scsi_parse_sense(junk, sizeof(junk), &s);
	CU_ASSERT_FALSE(s.valid);
	initiator_scsi_parse_sense(NULL, 0, &s);
	CU_ASSERT_FALSE(s.valid);
}

static void
test_mode_sense_cdb(void)
{
	uint8_t cdb[16];
	CU_ASSERT_EQUAL(initiator_scsi_cdb_mode_sense(cdb, true, 0x08, 0x1234), 10);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_MODE_SENSE_10);
	CU_ASSERT_EQUAL(cdb[1], 0x08); /* DBD */
	CU_ASSERT_EQUAL(cdb[2], 0x08); /* PC current, caching page */
	CU_ASSERT_EQUAL(cdb[7], 0x12);
	CU_ASSERT_EQUAL(cdb[8], 0x34);
	CU_ASSERT_EQUAL(initiator_scsi_cdb_mode_sense(cdb, false, 0x08, 0x1234), 6);
	CU_ASSERT_EQUAL(cdb[0], INITIATOR_SCSI_MODE_SENSE_6);
	CU_ASSERT_EQUAL(cdb[1], 0x08);
	CU_ASSERT_EQUAL(cdb[2], 0x08);
	CU_ASSERT_EQUAL(cdb[4], 255); /* capped: one byte of allocation length */
}

static void
test_mode_caching(void)
{
	struct initiator_lun_info li;

	/* MODE SENSE (10), DPOFUA set, no block descriptors, caching page with WCE */
	uint8_t m10[28] = { 0, 26, 0, 0x10, 0, 0, 0, 0, 0x08, 0x12, 0x04 };
	memset(&li, 0, sizeof(li));
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m10, sizeof(m10), true, &li), 0);
	CU_ASSERT_TRUE(li.dpofua);
	CU_ASSERT_TRUE(li.wce);
	CU_ASSERT_FALSE(li.read_only);

	/* MODE SENSE (10), WP, DPOFUA clear, WCE clear, an 8-byte block descriptor first */
	uint8_t m10b[36] = { 0, 34, 0, 0x80, 0, 0, 0, 8, 0, 0, 0x10, 0, 0, 0, 2, 0,
			     0x88 /* PS bit set */, 0x12, 0x00 };
	memset(&li, 0xff, sizeof(li));
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m10b, sizeof(m10b), true, &li), 0);
	CU_ASSERT_FALSE(li.dpofua);
	CU_ASSERT_FALSE(li.wce);
	CU_ASSERT_TRUE(li.read_only);

	/* MODE SENSE (6): header byte 2 is the device-specific parameter; the caching page
	 * follows another page (control, 0x0a) */
	uint8_t m6[4 + 12 + 20] = { 35, 0, 0x00, 0, 0x0a, 0x0a, 0x02, 0x10 };
	m6[16] = 0x08;
	m6[17] = 0x12;
	m6[18] = 0x04;
	memset(&li, 0, sizeof(li));
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m6, sizeof(m6), false, &li), 0);
	CU_ASSERT_FALSE(li.dpofua);
	CU_ASSERT_TRUE(li.wce);
	m6[2] = 0x10;
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m6, sizeof(m6), false, &li), 0);
	CU_ASSERT_TRUE(li.dpofua);
	/* the same bytes read as (10) put DPOFUA elsewhere: byte 3, which is 0 here */
	uint8_t m10c[28] = { 0, 26, 0x10, 0x00, 0, 0, 0, 0, 0x08, 0x12, 0x00 };
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m10c, sizeof(m10c), true, &li), 0);
	CU_ASSERT_FALSE(li.dpofua);

	/* no caching page, truncated data, a mode data length that hides the page: refused and
	 * info untouched */
	uint8_t nocache[16] = { 0, 14, 0, 0x10, 0, 0, 0, 0, 0x0a, 0x06 };
	memset(&li, 0, sizeof(li));
	li.wce = true;
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(nocache, sizeof(nocache), true, &li),
			-EBADMSG);
	CU_ASSERT_FALSE(li.dpofua);
	CU_ASSERT_TRUE(li.wce);
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m10, 5, true, &li), -EBADMSG);
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m10, 3, false, &li), -EBADMSG);
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(m10, 9, true, &li), -EBADMSG);
	uint8_t shortlen[28] = { 0, 6, 0, 0x10, 0, 0, 0, 0, 0x08, 0x12, 0x04 };
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(shortlen, sizeof(shortlen), true, &li),
			-EBADMSG);
	CU_ASSERT_FALSE(li.dpofua);
	/* a block descriptor length past the data */
	uint8_t bigbd[16] = { 0, 14, 0, 0x10, 0, 0, 0x01, 0x00, 0x08, 0x12, 0x04 };
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(bigbd, sizeof(bigbd), true, &li),
			-EBADMSG);
	/* a zero-length page before the caching page does not loop */
	uint8_t zero[20] = { 0, 18, 0, 0x10, 0, 0, 0, 0, 0x00, 0x00, 0x08, 0x12, 0x04 };
	CU_ASSERT_EQUAL(initiator_scsi_parse_mode_caching(zero, sizeof(zero), true, &li), 0);
	CU_ASSERT_TRUE(li.wce);
	CU_ASSERT_TRUE(li.dpofua);
}

static const struct unit_test scsi_tests[] = {
	{ "mode sense cdb", test_mode_sense_cdb },
	{ "mode caching page", test_mode_caching },
	{ "read/write cdb", test_rw_cdb },
	{ "other cdbs", test_other_cdbs },
	{ "lun encoding", test_lun },
	{ "parsers", test_parsers },
	{ "sense", test_sense },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "initiator scsi", scsi_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
