/*
 * Unit tests of the target's SCSI emulation (target/scsi.h, target/backstore.h): each command's
 * main behaviours and failure sense on mem and file backstores with 512- and 4096-byte blocks,
 * read-only LUs, persistent and SPC-2 reservations, unit attentions after resets, commands
 * streaming through a window smaller than their transfer (synchronously and with asynchronous
 * I/O), and the asynchronous completion path through a test I/O submitter.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/compiler.h"
#include "target/backstore.h"
#include "target/scsi.h"
#include "tests/unit/unit.h"

#define BUF_SIZE (1U << 20)

static uint8_t data_in[BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t data_out[BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t scratch[BUF_SIZE] __attribute__((aligned(4096)));

static const uint8_t isid_a[6] = { 0x80, 0, 0, 0, 0, 1 };
static const uint8_t isid_b[6] = { 0x80, 0, 0, 0, 0, 2 };
static const uint8_t isid_c[6] = { 0x80, 0, 0, 0, 0, 3 };
static const char *tname = "iqn.2025-01.org.ballast:t1";

/* One test fixture: a tgt with LUN 0 and three registered nexuses. */
struct fix {
	struct target_scsi_tgt *tgt;
	struct target_lu *lu;
	struct target_scsi_nexus a, b, c;
	char path[64];
};

static struct fix F;

static void
fix_setup(enum target_bs_type type, uint32_t bsz, uint64_t size, bool readonly, bool direct)
{
	struct target_bs_config bc = {
		.type = type,
		.size = size,
		.block_size = bsz,
		.direct = direct,
	};
	struct target_lu_config lc = {
		.wce = true,
		.thin = true,
		.serial = "SN0001",
		.readonly = readonly,
	};
	struct target_backstore *bs;

	memset(&F, 0, sizeof(F));
	if (type == TARGET_BS_FILE) {
		int fd;

		strcpy(F.path, "/tmp/test-target-scsi-XXXXXX");
		fd = mkstemp(F.path);
		CU_ASSERT_FATAL(fd >= 0);
		close(fd);
		bc.path = F.path;
	}
	CU_ASSERT_FATAL(target_bs_new(&bc, &bs) == 0);
	lc.bs = bs;
	CU_ASSERT_FATAL(target_lu_new(&lc, &F.lu) == 0);
	CU_ASSERT_FATAL(target_scsi_tgt_new(0, false, &F.tgt) == 0);
	CU_ASSERT_FATAL(target_scsi_tgt_add_lu(F.tgt, 0, F.lu) == 0);
	target_scsi_nexus_init(&F.a, "iqn.2025-01.org.test:a", isid_a, 1, 1, tname);
	target_scsi_nexus_init(&F.b, "iqn.2025-01.org.test:a", isid_b, 1, 1, tname);
	target_scsi_nexus_init(&F.c, "iqn.2025-01.org.test:c", isid_c, 1, 1, tname);
	CU_ASSERT_FATAL(target_scsi_nexus_register(F.tgt, &F.a) == 0);
	CU_ASSERT_FATAL(target_scsi_nexus_register(F.tgt, &F.b) == 0);
	CU_ASSERT_FATAL(target_scsi_nexus_register(F.tgt, &F.c) == 0);
}

static void
fix_teardown(void)
{
	target_scsi_nexus_unregister(F.tgt, &F.a);
	target_scsi_nexus_unregister(F.tgt, &F.b);
	target_scsi_nexus_unregister(F.tgt, &F.c);
	target_scsi_tgt_remove_lu(F.tgt, 0);
	target_scsi_tgt_free(F.tgt);
	target_lu_free(F.lu);
	if (F.path[0])
		unlink(F.path);
}

static struct target_scsi_cmd cmd;

/* Runs one command synchronously; cdb is padded to 16 bytes. */
static int
exec_full(struct target_scsi_nexus *nx, const uint8_t *cdb, size_t cdb_len, uint32_t out_len,
	  uint32_t in_cap, uint64_t lun)
{
	int r;

	memset(&cmd, 0, sizeof(cmd));
	memcpy(cmd.cdb, cdb, cdb_len);
	cmd.cdb_len = 16;
	cmd.lun = lun;
	cmd.nexus = nx;
	cmd.data_out = out_len ? data_out : NULL;
	cmd.data_out_len = out_len;
	cmd.data_in = in_cap ? data_in : NULL;
	cmd.data_in_cap = in_cap;
	cmd.scratch = scratch;
	cmd.scratch_cap = sizeof(scratch);
	r = target_scsi_exec(F.tgt, &cmd);
	CU_ASSERT_EQUAL(r, 0);
	return cmd.status;
}

#define EXEC(nx, out_len, in_cap, ...)                                                     \
	({                                                                                 \
		const uint8_t cdb_[] = { __VA_ARGS__ };                                    \
		exec_full(nx, cdb_, sizeof(cdb_), out_len, in_cap, 0);                     \
	})

static uint8_t
sense_key(void)
{
	return cmd.sense[2] & 0x0f;
}

static uint16_t
sense_asc(void)
{
	return (uint16_t)(cmd.sense[12] << 8 | cmd.sense[13]);
}

#define ASSERT_SENSE(key, asc)                                                             \
	do {                                                                               \
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_CHECK_CONDITION);                  \
		CU_ASSERT_EQUAL(cmd.sense_len, 18);                                        \
		CU_ASSERT_EQUAL(cmd.sense[0] & 0x7f, 0x70);                                \
		CU_ASSERT_EQUAL(sense_key(), key);                                         \
		CU_ASSERT_EQUAL(sense_asc(), asc);                                         \
	} while (0)

#define ASSERT_ILLEGAL(asc) ASSERT_SENSE(TARGET_SENSE_ILLEGAL_REQUEST, asc)

static int
write10(struct target_scsi_nexus *nx, uint32_t lba, uint16_t n, uint8_t fill)
{
	uint32_t bsz = target_bs_block_size(target_lu_backstore(F.lu));

	memset(data_out, fill, (size_t)n * bsz);
	return EXEC(nx, n * bsz, 0, 0x2a, 0, lba >> 24, lba >> 16, lba >> 8, lba, 0, n >> 8, n, 0);
}

static int
read10(struct target_scsi_nexus *nx, uint32_t lba, uint16_t n)
{
	uint32_t bsz = target_bs_block_size(target_lu_backstore(F.lu));

	memset(data_in, 0xee, (size_t)n * bsz);
	return EXEC(nx, 0, n * bsz, 0x28, 0, lba >> 24, lba >> 16, lba >> 8, lba, 0, n >> 8, n, 0);
}

static bool
all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- INQUIRY / capacity -------------------------------------------------------------- */

static void
test_inquiry(void)
{
	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	/* Standard data, version descriptors, allocation length truncation. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 0, 0, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 96);
	CU_ASSERT_EQUAL(data_in[0], 0x00);
	CU_ASSERT_EQUAL(data_in[2], 0x06);
	CU_ASSERT_EQUAL(data_in[3] & 0x0f, 2);
	CU_ASSERT_EQUAL(data_in[4], 91);
	CU_ASSERT(memcmp(data_in + 8, "BALLAST ", 8) == 0);
	CU_ASSERT_EQUAL(get_be16(data_in + 62), 0x0460);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 0, 0, 0, 10, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 10);
	/* EVPD=0 with a page code is an invalid field. */
	EXEC(&F.a, 0, 255, 0x12, 0, 0x80, 0, 255, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Unknown VPD page. */
	EXEC(&F.a, 0, 255, 0x12, 1, 0x99, 0, 255, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Supported pages, sorted. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 1, 0, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[3], 6);
	CU_ASSERT(memcmp(data_in + 4, "\x00\x80\x83\xb0\xb1\xb2", 6) == 0);
	/* Serial. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 1, 0x80, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[3], 6);
	CU_ASSERT(memcmp(data_in + 4, "SN0001", 6) == 0);
	/* Device identification: NAA first, then T10 vendor ID, port designators. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 512, 0x12, 1, 0x83, 0x01, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[5] & 0x0f, 3);
	CU_ASSERT_EQUAL(data_in[7], 8);
	CU_ASSERT_EQUAL(data_in[8] >> 4, 3);
	CU_ASSERT_EQUAL(data_in[17] & 0x0f, 1);
	CU_ASSERT(get_be16(data_in + 2) + 4U == cmd.data_in_len);
	/* Block limits. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 1, 0xb0, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be16(data_in + 2), 0x3c);
	CU_ASSERT_EQUAL(get_be32(data_in + 8), (1U << 20) / 512);
	CU_ASSERT(get_be32(data_in + 20) > 0);
	CU_ASSERT(get_be32(data_in + 24) > 0);
	CU_ASSERT(get_be64(data_in + 36) > 0);
	/* Logical block provisioning: LBPU, LBPWS, LBPWS10, LBPRZ, thin. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 1, 0xb2, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[5], 0xe4);
	CU_ASSERT_EQUAL(data_in[6] & 0x07, 2);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x12, 1, 0xb1, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be16(data_in + 4), 1);
	fix_teardown();
}

static void
capacity_case(enum target_bs_type type, uint32_t bsz)
{
	uint64_t size = 4 << 20;

	fix_setup(type, bsz, size, false, false);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be32(data_in), size / bsz - 1);
	CU_ASSERT_EQUAL(get_be32(data_in + 4), bsz);
	/* PMI=0 with a non-zero LBA. */
	EXEC(&F.a, 0, 8, 0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 32, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 32);
	CU_ASSERT_EQUAL(get_be64(data_in), size / bsz - 1);
	CU_ASSERT_EQUAL(get_be32(data_in + 8), bsz);
	CU_ASSERT_EQUAL(data_in[14] & 0xc0, 0xc0); /* LBPME, LBPRZ */
	/* Allocation length truncation. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 32, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 8);
	/* Unknown SERVICE ACTION IN(16) service action. */
	EXEC(&F.a, 0, 32, 0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	fix_teardown();
}

static void
test_capacity(void)
{
	capacity_case(TARGET_BS_MEM, 512);
	capacity_case(TARGET_BS_MEM, 4096);
	capacity_case(TARGET_BS_FILE, 512);
	capacity_case(TARGET_BS_FILE, 4096);
}

/* ---- READ / WRITE -------------------------------------------------------------------- */

static void
rw_case(enum target_bs_type type, uint32_t bsz, bool direct)
{
	uint64_t nblocks = (8ULL << 20) / bsz;
	uint32_t last = (uint32_t)nblocks - 1;

	fix_setup(type, bsz, 8 << 20, false, direct);
	CU_ASSERT_EQUAL(write10(&F.a, 10, 4, 0x5a), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.xfer_len, 4 * bsz);
	CU_ASSERT_EQUAL(read10(&F.a, 10, 4), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 4 * bsz);
	CU_ASSERT(all_bytes(data_in, 4 * bsz, 0x5a));
	/* READ 16 with FUA/DPO. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 2 * bsz, 0x88, 0x18, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 2, 0,
			     0),
			TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, 2 * bsz, 0x5a));
	/* WRITE 16 with FUA, WRITE 12, READ 12. */
	memset(data_out, 0x11, bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, bsz, 0, 0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0),
			TARGET_SCSI_GOOD);
	memset(data_out, 0x22, bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, bsz, 0, 0xaa, 0, 0, 0, 0, 21, 0, 0, 0, 1, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 2 * bsz, 0xa8, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, bsz, 0x11));
	CU_ASSERT(all_bytes(data_in + bsz, bsz, 0x22));
	/* WRITE 6 / READ 6: transfer length 0 means 256 blocks. */
	memset(data_out, 0x66, 256 * bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, 256 * bsz, 0, 0x0a, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.xfer_len, 256 * bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256 * bsz, 0x08, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 256 * bsz);
	CU_ASSERT(all_bytes(data_in, 256 * bsz, 0x66));
	/* Transfer length 0 is a no-op for 10+, even at the last LBA + 1. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x28, 0, (uint8_t)(nblocks >> 24),
			     (uint8_t)(nblocks >> 16), (uint8_t)(nblocks >> 8), (uint8_t)nblocks, 0,
			     0, 0, 0),
			TARGET_SCSI_GOOD);
	/* Out of range: past the end, one block over, LBA 2^32-1. */
	CU_ASSERT_EQUAL(read10(&F.a, last, 2), TARGET_SCSI_CHECK_CONDITION);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(write10(&F.a, last + 2, 0, 0), TARGET_SCSI_CHECK_CONDITION);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(read10(&F.a, 0xffffffffU, 1), TARGET_SCSI_CHECK_CONDITION);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(read10(&F.a, last, 1), TARGET_SCSI_GOOD);
	/* RDPROTECT / WRPROTECT without protection information. */
	EXEC(&F.a, 0, bsz, 0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	EXEC(&F.a, bsz, 0, 0x2a, 0x40, 0, 0, 0, 0, 0, 0, 1, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Residual: Data-In capacity smaller than the transfer. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, bsz, 0x28, 0, 0, 0, 0, 10, 0, 0, 2, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, bsz);
	CU_ASSERT_EQUAL(cmd.xfer_len, 2 * bsz);
	if (!direct) {
		/* Less Data-Out than asked: only what came is written. */
		memset(data_out, 0x77, 200);
		CU_ASSERT_EQUAL(EXEC(&F.a, 200, 0, 0x2a, 0, 0, 0, 0, 10, 0, 0, 1, 0),
				TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(read10(&F.a, 10, 1), TARGET_SCSI_GOOD);
		CU_ASSERT(all_bytes(data_in, 200, 0x77));
		CU_ASSERT(all_bytes(data_in + 200, bsz - 200, 0x66));
	}
	fix_teardown();
}

static void
test_read_write(void)
{
	rw_case(TARGET_BS_MEM, 512, false);
	rw_case(TARGET_BS_MEM, 4096, false);
	rw_case(TARGET_BS_FILE, 512, false);
	rw_case(TARGET_BS_FILE, 4096, false);
}

static void
test_read_write_direct(void)
{
	/* O_DIRECT needs a filesystem that supports it (not tmpfs); skip quietly if not. */
	struct target_bs_config bc = { .type = TARGET_BS_FILE, .size = 1 << 20, .block_size = 4096,
				       .direct = true, .create = true };
	struct target_backstore *bs;
	char path[] = "/var/tmp/test-target-scsi-direct-XXXXXX";
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	bc.path = path;
	if (target_bs_new(&bc, &bs) < 0) {
		unlink(path);
		return;
	}
	target_bs_free(bs);
	unlink(path);
	rw_case(TARGET_BS_FILE, 4096, true);
}

static void
test_null_backstore(void)
{
	fix_setup(TARGET_BS_NULL, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(write10(&F.a, 0, 1, 0x55), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, 512, 0));
	fix_teardown();
}

static void
test_readonly(void)
{
	fix_setup(TARGET_BS_MEM, 512, 1 << 20, true, false);
	CU_ASSERT_EQUAL(write10(&F.a, 0, 1, 0x55), TARGET_SCSI_CHECK_CONDITION);
	ASSERT_SENSE(TARGET_SENSE_DATA_PROTECT, TARGET_ASC_WRITE_PROTECTED);
	memset(data_out, 0, 512);
	EXEC(&F.a, 512, 0, 0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	ASSERT_SENSE(TARGET_SENSE_DATA_PROTECT, TARGET_ASC_WRITE_PROTECTED);
	EXEC(&F.a, 24, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	ASSERT_SENSE(TARGET_SENSE_DATA_PROTECT, TARGET_ASC_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_GOOD);
	/* MODE SENSE reports WP. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x1a, 0x08, 0x3f, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[2] & 0x80, 0x80);
	fix_teardown();
}

/* ---- VERIFY, WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE ---------------------------- */

static void
test_verify(void)
{
	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(write10(&F.a, 0, 4, 0x33), TARGET_SCSI_GOOD);
	/* BYTCHK=0: range check only. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x2f, 0, 0, 0, 0, 0, 0, 0, 4, 0), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0x2f, 0, 0xff, 0, 0, 0, 0, 0, 4, 0);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	/* BYTCHK=1 match and mismatch (INFORMATION = offset of the first difference). */
	memset(data_out, 0x33, 4 * 512);
	CU_ASSERT_EQUAL(EXEC(&F.a, 2048, 0, 0x2f, 0x02, 0, 0, 0, 0, 0, 0, 4, 0), TARGET_SCSI_GOOD);
	data_out[1000] = 0;
	EXEC(&F.a, 2048, 0, 0x2f, 0x02, 0, 0, 0, 0, 0, 0, 4, 0);
	ASSERT_SENSE(TARGET_SENSE_MISCOMPARE, TARGET_ASC_MISCOMPARE_VERIFY);
	CU_ASSERT_EQUAL(cmd.sense[0] & 0x80, 0x80);
	CU_ASSERT_EQUAL(get_be32(cmd.sense + 3), 1000);
	/* VERIFY 16 with a tiny scratch (chunked compare). */
	cmd.scratch_cap = 512;
	{
		const uint8_t cdb[] = { 0x8f, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0 };

		memset(&cmd, 0, sizeof(cmd));
		memcpy(cmd.cdb, cdb, 16);
		cmd.cdb_len = 16;
		cmd.nexus = &F.a;
		cmd.data_out = data_out;
		cmd.data_out_len = 2048;
		cmd.scratch = scratch;
		cmd.scratch_cap = 512;
		CU_ASSERT_EQUAL(target_lu_exec(F.lu, &cmd), 0);
		ASSERT_SENSE(TARGET_SENSE_MISCOMPARE, TARGET_ASC_MISCOMPARE_VERIFY);
		CU_ASSERT_EQUAL(get_be32(cmd.sense + 3), 1000);
	}
	/* WRITE AND VERIFY 10 with BYTCHK. */
	memset(data_out, 0x44, 1024);
	CU_ASSERT_EQUAL(EXEC(&F.a, 1024, 0, 0x2e, 0x02, 0, 0, 0, 8, 0, 0, 2, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 8, 2), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, 1024, 0x44));
	/* ... with one block of Data-Out for two: that block is written and verified (the
	 * transport reports the overflow residual), the second is untouched. */
	memset(data_out, 0x45, 1024);
	CU_ASSERT_EQUAL(EXEC(&F.a, 512, 0, 0x2e, 0x02, 0, 0, 0, 8, 0, 0, 2, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.xfer_len, 1024);
	CU_ASSERT_EQUAL(read10(&F.a, 8, 2), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, 512, 0x45));
	CU_ASSERT(all_bytes(data_in + 512, 512, 0x44));
	/* ... and with none: nothing written, GOOD. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x2e, 0x02, 0, 0, 0, 8, 0, 0, 1, 0), TARGET_SCSI_GOOD);
	fix_teardown();
}

static void
caw_case(enum target_bs_type type, uint32_t bsz)
{
	fix_setup(type, bsz, 1 << 20, false, false);
	CU_ASSERT_EQUAL(write10(&F.a, 5, 1, 0xaa), TARGET_SCSI_GOOD);
	memset(data_out, 0xaa, bsz);
	memset(data_out + bsz, 0xbb, bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, 2 * bsz, 0, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 5, 1), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, bsz, 0xbb));
	/* Miscompare: nothing written, offset reported. */
	memset(data_out, 0xbb, bsz);
	data_out[17] = 0;
	memset(data_out + bsz, 0xcc, bsz);
	EXEC(&F.a, 2 * bsz, 0, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0);
	ASSERT_SENSE(TARGET_SENSE_MISCOMPARE, TARGET_ASC_MISCOMPARE_VERIFY);
	CU_ASSERT_EQUAL(get_be32(cmd.sense + 3), 17);
	CU_ASSERT_EQUAL(read10(&F.a, 5, 1), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, bsz, 0xbb));
	/* Wrong Data-Out size. */
	EXEC(&F.a, 4 * bsz, 0, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* 0 blocks (what 256 becomes in the one-byte field) with Data-Out: refused; without
	 * Data-Out: nothing to do. */
	EXEC(&F.a, 2 * bsz, 0, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0),
			TARGET_SCSI_GOOD);
	/* More blocks than VPD B0 MAXIMUM COMPARE AND WRITE LENGTH allows. */
	{
		uint8_t b0[16] = { 0x12, 0x01, 0xb0, 0, 64, 0 };
		uint8_t max;

		exec_full(&F.a, b0, 6, 0, 64, 0);
		max = data_in[5];
		CU_ASSERT(max > 0);
		EXEC(&F.a, 2 * bsz * (max + 1U), 0, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		     (uint8_t)(max + 1), 0, 0);
		ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	}
	/* ORWRITE. */
	memset(data_out, 0x0f, bsz);
	CU_ASSERT_EQUAL(write10(&F.a, 6, 1, 0xf0), TARGET_SCSI_GOOD);
	memset(data_out, 0x0f, bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, bsz, 0, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 6, 1), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, bsz, 0xff));
	fix_teardown();
}

static void
test_compare_and_write(void)
{
	caw_case(TARGET_BS_MEM, 512);
	caw_case(TARGET_BS_FILE, 4096);
}

/* ---- WRITE SAME, UNMAP, GET LBA STATUS ----------------------------------------------- */

static bool
lba_mapped(uint64_t lba)
{
	uint8_t c[16] = { 0x9e, 0x12 };

	put_be64(c + 2, lba);
	put_be32(c + 10, 24);
	exec_full(&F.a, c, 16, 0, 24, 0);
	CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be64(data_in + 8), lba);
	return data_in[8 + 12] == 0;
}

static void
ws_case(enum target_bs_type type, uint32_t bsz)
{
	uint64_t nblocks = (2ULL << 20) / bsz;

	fix_setup(type, bsz, 2 << 20, false, false);
	/* WRITE SAME 10 of a pattern over 200 blocks. */
	memset(data_out, 0x3c, bsz);
	CU_ASSERT_EQUAL(EXEC(&F.a, bsz, 0, 0x41, 0, 0, 0, 0, 0, 0, 0, 200, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 200), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, 200 * bsz, 0x3c));
	CU_ASSERT(lba_mapped(0));
	/* Data-Out must be exactly one block. */
	EXEC(&F.a, bsz / 2, 0, 0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	EXEC(&F.a, 2 * bsz, 0, 0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* ANCHOR is not supported; beyond the end. */
	EXEC(&F.a, bsz, 0, 0x41, 0x18, 0, 0, 0, 0, 0, 0, 1, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	{
		uint8_t c[16] = { 0x93, 0 };

		put_be64(c + 2, nblocks + 1);
		exec_full(&F.a, c, 16, bsz, 0, 0);
		ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
		/* 0 blocks: to the end of the medium. */
		put_be64(c + 2, nblocks - 3);
		memset(data_out, 0x7e, bsz);
		exec_full(&F.a, c, 16, bsz, 0, 0);
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(read10(&F.a, (uint32_t)nblocks - 3, 3), TARGET_SCSI_GOOD);
		CU_ASSERT(all_bytes(data_in, 3 * bsz, 0x7e));
		/* WRITE SAME 16 UNMAP with zeroes: deallocated, reads zero. */
		put_be64(c + 2, 0);
		put_be32(c + 10, 8);
		c[1] = 0x08;
		memset(data_out, 0, bsz);
		exec_full(&F.a, c, 16, bsz, 0, 0);
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(read10(&F.a, 0, 8), TARGET_SCSI_GOOD);
		CU_ASSERT(all_bytes(data_in, 8 * bsz, 0));
		CU_ASSERT(!lba_mapped(0));
		CU_ASSERT(lba_mapped(8));
		/* WRITE SAME 16 UNMAP with a non-zero block: still a deallocation request
		 * (SBC-3), reads zero. */
		CU_ASSERT_EQUAL(write10(&F.a, 8, 8, 0x55), TARGET_SCSI_GOOD);
		put_be64(c + 2, 8);
		memset(data_out, 0xff, bsz);
		exec_full(&F.a, c, 16, bsz, 0, 0);
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(read10(&F.a, 8, 8), TARGET_SCSI_GOOD);
		CU_ASSERT(all_bytes(data_in, 8 * bsz, 0));
		CU_ASSERT(!lba_mapped(8));
		CU_ASSERT_EQUAL(write10(&F.a, 8, 8, 0x55), TARGET_SCSI_GOOD);
		/* NDOB: zeroes without Data-Out. */
		put_be64(c + 2, 20);
		put_be32(c + 10, 2);
		c[1] = 0x01;
		exec_full(&F.a, c, 16, 0, 0, 0);
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(read10(&F.a, 20, 2), TARGET_SCSI_GOOD);
		CU_ASSERT(all_bytes(data_in, 2 * bsz, 0));
	}
	/* UNMAP: two descriptors (the first a whole physical block for file stores). */
	CU_ASSERT_EQUAL(write10(&F.a, 96, 16, 0x99), TARGET_SCSI_GOOD);
	memset(data_out, 0, 40);
	put_be16(data_out, 38);
	put_be16(data_out + 2, 32);
	put_be64(data_out + 8, 96);
	put_be32(data_out + 16, 8);
	put_be64(data_out + 24, 105);
	put_be32(data_out + 32, 1);
	CU_ASSERT_EQUAL(EXEC(&F.a, 40, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 96, 16), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(data_in, 8 * bsz, 0));
	CU_ASSERT(all_bytes(data_in + 8 * bsz, bsz, 0x99));
	CU_ASSERT(all_bytes(data_in + 9 * bsz, bsz, 0));
	CU_ASSERT(all_bytes(data_in + 10 * bsz, 6 * bsz, 0x99));
	CU_ASSERT(!lba_mapped(96));
	CU_ASSERT(lba_mapped(104));
	/* Zero-length parameter list: nothing to do. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	/* Too short to hold the header. */
	EXEC(&F.a, 4, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0);
	ASSERT_ILLEGAL(TARGET_ASC_PARAM_LIST_LENGTH);
	/* A descriptor beyond the end: nothing is unmapped. */
	CU_ASSERT_EQUAL(write10(&F.a, 100, 1, 0x99), TARGET_SCSI_GOOD);
	memset(data_out, 0, 40);
	put_be16(data_out, 38);
	put_be16(data_out + 2, 32);
	put_be64(data_out + 8, 100);
	put_be32(data_out + 16, 1);
	put_be64(data_out + 24, nblocks - 1);
	put_be32(data_out + 32, 2);
	EXEC(&F.a, 40, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT(lba_mapped(100));
	/* GET LBA STATUS beyond the end. */
	{
		uint8_t c[16] = { 0x9e, 0x12 };

		put_be64(c + 2, nblocks);
		put_be32(c + 10, 24);
		exec_full(&F.a, c, 16, 0, 24, 0);
		ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	}
	fix_teardown();
}

static void
test_write_same_unmap(void)
{
	ws_case(TARGET_BS_MEM, 512);
	ws_case(TARGET_BS_MEM, 4096);
	ws_case(TARGET_BS_FILE, 512);
	ws_case(TARGET_BS_FILE, 4096);
}

static void
test_sync_prefetch(void)
{
	fix_setup(TARGET_BS_FILE, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x35, 0x02, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0x35, 0, 0, 0x10, 0, 0, 0, 0, 1, 0);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x34, 0, 0, 0, 0, 0, 0, 0, 8, 0), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0x90, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 1, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x00, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x1b, 0, 0, 0, 0x01, 0), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0xff, 0, 0, 0, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_OPCODE);
	fix_teardown();
}

/* ---- MODE SENSE / SELECT ------------------------------------------------------------- */

static void
test_mode_pages(void)
{
	uint32_t n;

	fix_setup(TARGET_BS_MEM, 4096, 1 << 20, false, false);
	/* All pages with a block descriptor. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x1a, 0, 0x3f, 0, 255, 0), TARGET_SCSI_GOOD);
	n = cmd.data_in_len;
	CU_ASSERT_EQUAL(data_in[0], n - 1);
	CU_ASSERT_EQUAL(data_in[2] & 0x80, 0);
	CU_ASSERT_EQUAL(data_in[3], 8);
	CU_ASSERT_EQUAL(get_be24(data_in + 4 + 5), 4096);
	CU_ASSERT_EQUAL(data_in[12], 0x08);
	CU_ASSERT_EQUAL(data_in[14] & 0x04, 0x04); /* WCE */
	CU_ASSERT_EQUAL(n, 4 + 8 + 20 + 12 + 12);
	/* Saved values: not supported. */
	EXEC(&F.a, 0, 255, 0x1a, 0, 0xc8, 0, 255, 0);
	ASSERT_ILLEGAL(TARGET_ASC_SAVING_NOT_SUPPORTED);
	/* Unknown page. */
	EXEC(&F.a, 0, 255, 0x1a, 0, 0x05, 0, 255, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Changeable values: only WCE. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x1a, 0x08, 0x48, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[3], 0);
	CU_ASSERT_EQUAL(data_in[4 + 2], 0x04);
	/* MODE SENSE 10 with LLBAA: long block descriptor. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x5a, 0x10, 0x0a, 0, 0, 0, 0, 0, 255, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[4] & 1, 1);
	CU_ASSERT_EQUAL(get_be16(data_in + 6), 16);
	CU_ASSERT_EQUAL(get_be64(data_in + 8), 256);
	CU_ASSERT_EQUAL(data_in[24], 0x0a);
	/* MODE SELECT 6: clear WCE. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x1a, 0x08, 0x08, 0, 255, 0), TARGET_SCSI_GOOD);
	memcpy(data_out, data_in, 24);
	data_out[0] = 0;
	data_out[4 + 2] &= (uint8_t)~0x04;
	CU_ASSERT_EQUAL(EXEC(&F.a, 24, 0, 0x15, 0x10, 0, 0, 24, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 255, 0x1a, 0x08, 0x08, 0, 255, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[4 + 2] & 0x04, 0);
	/* The other nexus learns of it. */
	EXEC(&F.b, 0, 0, 0x00, 0, 0, 0, 0, 0);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_MODE_PARAMS_CHANGED);
	/* Changing an unchangeable field. */
	data_out[4 + 2] |= 0x01; /* RCD */
	EXEC(&F.a, 24, 0, 0x15, 0x10, 0, 0, 24, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_PARAM);
	/* PF=0, SP=1. */
	EXEC(&F.a, 24, 0, 0x15, 0x00, 0, 0, 24, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	EXEC(&F.a, 24, 0, 0x15, 0x11, 0, 0, 24, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	fix_teardown();
}

/* ---- LUNs, opcodes, unit attention --------------------------------------------------- */

static void
test_report_luns(void)
{
	struct target_lu *lu2;
	struct target_backstore *bs;
	struct target_bs_config bc = { .type = TARGET_BS_NULL, .size = 1 << 20,
				       .block_size = 512 };
	struct target_lu_config lc = { .serial = "SN2" };

	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_FATAL(target_bs_new(&bc, &bs) == 0);
	lc.bs = bs;
	CU_ASSERT_FATAL(target_lu_new(&lc, &lu2) == 0);
	CU_ASSERT_EQUAL(target_scsi_tgt_add_lu(F.tgt, 3, lu2), 0);
	CU_ASSERT_EQUAL(target_scsi_tgt_add_lu(F.tgt, 3, lu2), -EEXIST);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be32(data_in), 16);
	CU_ASSERT_EQUAL(data_in[9], 0);
	CU_ASSERT_EQUAL(data_in[17], 3);
	CU_ASSERT_EQUAL(cmd.data_in_len, 24);
	/* Allocation length below 16; bad SELECT REPORT. */
	EXEC(&F.a, 0, 256, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	EXEC(&F.a, 0, 256, 0xa0, 0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Adding LUN 3 told LUN 0's nexuses; REPORT LUNS clears that condition. */
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 0, 0x00, 0, 0, 0, 0, 0), TARGET_SCSI_CHECK_CONDITION);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_REPORTED_LUNS_CHANGED);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x00, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	/* A LUN that does not exist. */
	{
		const uint8_t inq[] = { 0x12, 0, 0, 0, 96, 0 };
		const uint8_t tur[] = { 0, 0, 0, 0, 0, 0 };
		const uint8_t rs[] = { 0x03, 0, 0, 0, 18, 0 };

		exec_full(&F.a, inq, 6, 0, 96, 5ULL << 48);
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(data_in[0], 0x7f);
		exec_full(&F.a, tur, 6, 0, 0, 5ULL << 48);
		ASSERT_ILLEGAL(TARGET_ASC_LU_NOT_SUPPORTED);
		exec_full(&F.a, rs, 6, 0, 18, 5ULL << 48);
		CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
		CU_ASSERT_EQUAL(data_in[12], 0x25);
		/* LUN 3 through peripheral addressing. */
		exec_full(&F.a, inq, 6, 0, 96, 3ULL << 48);
		CU_ASSERT_EQUAL(data_in[0], 0x00);
	}
	CU_ASSERT_PTR_EQUAL(target_scsi_tgt_remove_lu(F.tgt, 3), lu2);
	target_lu_free(lu2);
	fix_teardown();
}

static void
test_report_opcodes(void)
{
	uint32_t len, n;
	bool saw_unmap = false;

	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 4096, 0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0),
			TARGET_SCSI_GOOD);
	len = get_be32(data_in);
	CU_ASSERT(len % 8 == 0 && len > 0);
	for (n = 4; n < len + 4; n += 8) {
		if (data_in[n] == 0x42)
			saw_unmap = true;
		/* Each descriptor's one-command form must work. */
		{
			uint8_t op = data_in[n];
			uint16_t sa = get_be16(data_in + n + 2);
			bool servactv = data_in[n + 5] & 1;
			uint16_t cdblen = get_be16(data_in + n + 6);
			uint8_t save[4096];
			uint8_t c[12] = { 0xa3, 0x0c, servactv ? 2 : 1, op, (uint8_t)(sa >> 8),
					  (uint8_t)sa, 0, 0, 1, 0, 0, 0 };

			memcpy(save, data_in, sizeof(save));
			exec_full(&F.a, c, 12, 0, 256, 0);
			CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
			CU_ASSERT_EQUAL(data_in[1] & 0x07, 3);
			CU_ASSERT_EQUAL(get_be16(data_in + 2), cdblen);
			CU_ASSERT_EQUAL(data_in[4], op);
			/* The wrong reporting option for the opcode fails. */
			c[2] = servactv ? 1 : 2;
			exec_full(&F.a, c, 12, 0, 256, 0);
			ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
			memcpy(data_in, save, sizeof(save));
		}
	}
	CU_ASSERT(saw_unmap);
	/* RCTD: 20-byte descriptors with timeouts. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 4096, 0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT(get_be32(data_in) % 20 == 0);
	CU_ASSERT_EQUAL(data_in[4 + 5] & 0x02, 0x02);
	/* Unsupported opcode in one-command form: SUPPORT = 1. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0xa3, 0x0c, 1, 0xff, 0, 0, 0, 0, 1, 0, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[1] & 0x07, 1);
	/* Task management functions. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 4);
	CU_ASSERT_EQUAL(data_in[0] & 0x08, 0x08); /* LURS */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 16);
	CU_ASSERT_EQUAL(data_in[3], 0x0c);
	fix_teardown();
}

static void
test_unit_attention(void)
{
	struct target_scsi_nexus d;
	struct target_scsi_tgt *t2;

	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	target_lu_reset(F.lu);
	/* INQUIRY neither reports nor clears it. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 96, 0x12, 0, 0, 0, 96, 0), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0, 0, 0, 0, 0, 0);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_POWER_ON_RESET);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	/* REQUEST SENSE reports it as data and clears it. */
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 18, 0x03, 0, 0, 0, 18, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[2] & 0x0f, TARGET_SENSE_UNIT_ATTENTION);
	CU_ASSERT_EQUAL(data_in[12], 0x29);
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 18, 0x03, 0, 0, 0, 18, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(data_in[2] & 0x0f, 0);
	/* Target reset reaches everyone; reads are refused until it is reported. */
	target_scsi_tgt_reset(F.tgt);
	CU_ASSERT_EQUAL(read10(&F.c, 0, 1), TARGET_SCSI_CHECK_CONDITION);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_POWER_ON_RESET);
	CU_ASSERT_EQUAL(read10(&F.c, 0, 1), TARGET_SCSI_GOOD);
	/* Capacity change (a null store never changes size: refresh says 0). */
	CU_ASSERT_EQUAL(target_lu_refresh_capacity(F.lu), 0);
	/* A new nexus on a tgt with ua_on_login starts with POWER ON. */
	CU_ASSERT_FATAL(target_scsi_tgt_new(4, true, &t2) == 0);
	target_scsi_tgt_remove_lu(F.tgt, 0);
	CU_ASSERT_EQUAL(target_scsi_tgt_add_lu(t2, 0, F.lu), 0);
	target_scsi_nexus_init(&d, "iqn.2025-01.org.test:d", isid_a, 1, 1, tname);
	CU_ASSERT_EQUAL(target_scsi_nexus_register(t2, &d), 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.nexus = &d;
	CU_ASSERT_EQUAL(target_scsi_exec(t2, &cmd), 0);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_POWER_ON_RESET);
	CU_ASSERT_EQUAL(target_scsi_exec(t2, &cmd), 0);
	CU_ASSERT_EQUAL(cmd.status, TARGET_SCSI_GOOD);
	target_scsi_nexus_unregister(t2, &d);
	target_scsi_tgt_remove_lu(t2, 0);
	target_scsi_tgt_free(t2);
	CU_ASSERT_EQUAL(target_scsi_tgt_add_lu(F.tgt, 0, F.lu), 0);
	fix_teardown();
}

static void
test_capacity_changed(void)
{
	uint32_t cap;

	fix_setup(TARGET_BS_FILE, 512, 1 << 20, false, false);
	CU_ASSERT_FATAL(truncate(F.path, 2 << 20) == 0);
	CU_ASSERT_EQUAL(target_lu_refresh_capacity(F.lu), 1);
	EXEC(&F.a, 0, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_CAPACITY_CHANGED);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	cap = get_be32(data_in);
	CU_ASSERT_EQUAL(cap, (2U << 20) / 512 - 1);
	fix_teardown();
}

/* ---- reservations -------------------------------------------------------------------- */

static int
prout(struct target_scsi_nexus *nx, uint8_t sa, uint8_t type, uint64_t key, uint64_t sakey)
{
	memset(data_out, 0, 24);
	put_be64(data_out, key);
	put_be64(data_out + 8, sakey);
	return EXEC(nx, 24, 0, 0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0);
}

static void
test_pr_basic(void)
{
	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	/* REPORT CAPABILITIES. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0x5e, 2, 0, 0, 0, 0, 0, 1, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be16(data_in), 8);
	CU_ASSERT_EQUAL(data_in[2] & 0x01, 0); /* PTPL_C */
	CU_ASSERT_EQUAL(data_in[4], 0xea);
	CU_ASSERT_EQUAL(data_in[5], 0x01);
	/* Invalid PR IN service action. */
	EXEC(&F.a, 0, 256, 0x5e, 4, 0, 0, 0, 0, 0, 1, 0, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Register: unregistered with a non-zero key conflicts. */
	CU_ASSERT_EQUAL(prout(&F.a, 0, 0, 5, 0xa), TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(prout(&F.a, 0, 0, 0, 0xa), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.b, 6, 0, 0, 0xb), TARGET_SCSI_GOOD);
	/* APTPL is not supported; parameter list length must be 24. */
	memset(data_out, 0, 24);
	put_be64(data_out, 0xa);
	put_be64(data_out + 8, 0xa);
	data_out[20] = 0x01;
	EXEC(&F.a, 24, 0, 0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_PARAM);
	EXEC(&F.a, 24, 0, 0x5f, 0, 0, 0, 0, 0, 0, 0, 20, 0);
	ASSERT_ILLEGAL(TARGET_ASC_PARAM_LIST_LENGTH);
	/* READ KEYS. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0x5e, 0, 0, 0, 0, 0, 0, 1, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be32(data_in + 4), 16);
	CU_ASSERT(get_be32(data_in) >= 2);
	CU_ASSERT_EQUAL(get_be64(data_in + 8) + get_be64(data_in + 16), 0xa + 0xb);
	/* Truncated READ KEYS keeps the full ADDITIONAL LENGTH. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0x5e, 0, 0, 0, 0, 0, 0, 0, 12, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 12);
	CU_ASSERT_EQUAL(get_be32(data_in + 4), 16);
	/* Reserve with the wrong key, invalid type, non-zero scope. */
	CU_ASSERT_EQUAL(prout(&F.a, 1, 1, 0xb, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	prout(&F.a, 1, 2, 0xa, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	prout(&F.a, 1, 0x11, 0xa, 0);
	ASSERT_ILLEGAL(TARGET_ASC_INVALID_FIELD_CDB);
	/* Reserve WE, READ RESERVATION, B cannot reserve, release with the wrong type. */
	CU_ASSERT_EQUAL(prout(&F.a, 1, 1, 0xa, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.a, 1, 1, 0xa, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.a, 1, 3, 0xa, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(EXEC(&F.c, 0, 256, 0x5e, 1, 0, 0, 0, 0, 0, 1, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be32(data_in + 4), 16);
	CU_ASSERT_EQUAL(get_be64(data_in + 8), 0xa);
	CU_ASSERT_EQUAL(data_in[21], 1);
	CU_ASSERT_EQUAL(prout(&F.b, 1, 1, 0xb, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	prout(&F.a, 2, 3, 0xa, 0);
	ASSERT_ILLEGAL(0x2604);
	/* B releasing (not the holder) is a no-op. */
	CU_ASSERT_EQUAL(prout(&F.b, 2, 1, 0xb, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(write10(&F.b, 0, 1, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	/* READ FULL STATUS: two descriptors, the holder flagged, iSCSI TransportIDs. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 1024, 0x5e, 3, 0, 0, 0, 0, 0, 4, 0, 0), TARGET_SCSI_GOOD);
	{
		uint32_t total = get_be32(data_in + 4), off = 8, holders = 0, ndesc = 0;

		while (off < 8 + total) {
			uint32_t tl = get_be32(data_in + off + 20);

			holders += data_in[off + 12] & 1;
			CU_ASSERT_EQUAL(data_in[off + 24], 0x45);
			CU_ASSERT(strstr((char *)data_in + off + 28, ",i,0x80000000000") != NULL);
			off += 24 + tl;
			ndesc++;
		}
		CU_ASSERT_EQUAL(ndesc, 2);
		CU_ASSERT_EQUAL(holders, 1);
	}
	/* PREEMPT: B takes the reservation from A as EA; A gets a unit attention. */
	CU_ASSERT_EQUAL(prout(&F.b, 4, 3, 0xb, 0xa), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0, 0, 0, 0, 0, 0);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_REGISTRATIONS_PREEMPTED);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(read10(&F.b, 0, 1), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.a, 0, 0, 0xa, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	/* PREEMPT of a key nobody has. */
	CU_ASSERT_EQUAL(prout(&F.b, 4, 3, 0xb, 0x77), TARGET_SCSI_RESERVATION_CONFLICT);
	/* CLEAR. */
	CU_ASSERT_EQUAL(prout(&F.b, 3, 0, 0xb, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 256, 0x5e, 0, 0, 0, 0, 0, 0, 1, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(get_be32(data_in + 4), 0);
	fix_teardown();
}

/* SPC-4 table 63 core cases: holder A, registered B, unregistered C. */
static void
pr_matrix_case(uint8_t type, bool b_read, bool b_write, bool c_read, bool c_write)
{
	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(prout(&F.a, 6, 0, 0, 0xa), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.b, 6, 0, 0, 0xb), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.a, 1, type, 0xa, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(write10(&F.a, 0, 1, 1), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.b, 0, 1),
			b_read ? TARGET_SCSI_GOOD : TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(write10(&F.b, 0, 1, 1),
			b_write ? TARGET_SCSI_GOOD : TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(read10(&F.c, 0, 1),
			c_read ? TARGET_SCSI_GOOD : TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(write10(&F.c, 0, 1, 1),
			c_write ? TARGET_SCSI_GOOD : TARGET_SCSI_RESERVATION_CONFLICT);
	/* Commands that never conflict. */
	CU_ASSERT_EQUAL(EXEC(&F.c, 0, 96, 0x12, 0, 0, 0, 96, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.c, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.c, 0, 8, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	/* SPC-2 RESERVE conflicts with the persistent reservation. */
	CU_ASSERT_EQUAL(EXEC(&F.c, 0, 0, 0x16, 0, 0, 0, 0, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	/* All-registrants: B releasing drops it for everyone once... here A releases. */
	CU_ASSERT_EQUAL(prout(&F.a, 2, type, 0xa, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(write10(&F.c, 0, 1, 1), TARGET_SCSI_GOOD);
	if (type == 5 || type == 6 || type == 7 || type == 8) {
		/* Other registrants were told the reservation was released. */
		EXEC(&F.b, 0, 0, 0, 0, 0, 0, 0, 0);
		ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_RESERVATIONS_RELEASED);
	}
	fix_teardown();
}

static void
test_pr_matrix(void)
{
	/*                 type  B read  B write C read  C write */
	pr_matrix_case(0x1, true, false, true, false);	  /* Write Exclusive */
	pr_matrix_case(0x3, false, false, false, false);  /* Exclusive Access */
	pr_matrix_case(0x5, true, true, true, false);	  /* WE, registrants only */
	pr_matrix_case(0x6, true, true, false, false);	  /* EA, registrants only */
	pr_matrix_case(0x7, true, true, true, false);	  /* WE, all registrants */
	pr_matrix_case(0x8, true, true, false, false);	  /* EA, all registrants */
}

static void
test_pr_unregister_and_relogin(void)
{
	struct target_scsi_nexus a2;

	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(prout(&F.a, 6, 0, 0, 0xa), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(prout(&F.a, 1, 3, 0xa, 0), TARGET_SCSI_GOOD);
	/* Session closes: the registration and reservation survive; the same identity logs in
	 * again and still holds it. */
	target_scsi_nexus_unregister(F.tgt, &F.a);
	CU_ASSERT_EQUAL(read10(&F.c, 0, 1), TARGET_SCSI_RESERVATION_CONFLICT);
	target_scsi_nexus_init(&a2, "iqn.2025-01.org.test:a", isid_a, 1, 1, tname);
	CU_ASSERT_EQUAL(target_scsi_nexus_register(F.tgt, &a2), 0);
	CU_ASSERT_EQUAL(read10(&a2, 0, 1), TARGET_SCSI_GOOD);
	/* Holder unregisters: the reservation goes with it. */
	CU_ASSERT_EQUAL(prout(&a2, 0, 0, 0xa, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.c, 0, 1), TARGET_SCSI_GOOD);
	target_scsi_nexus_unregister(F.tgt, &a2);
	fix_teardown();
}

static void
test_spc2_reserve(void)
{
	fix_setup(TARGET_BS_MEM, 512, 1 << 20, false, false);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x16, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 0, 0x16, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 0, 0x16, 0, 0, 0, 0, 0), TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 255, 0x1a, 0, 0x3f, 0, 255, 0),
			TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(read10(&F.b, 0, 1), TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 96, 0x12, 0, 0, 0, 96, 0), TARGET_SCSI_GOOD);
	/* RELEASE from another nexus: GOOD, no effect. */
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 0, 0x17, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(read10(&F.b, 0, 1), TARGET_SCSI_RESERVATION_CONFLICT);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_GOOD);
	/* PROUT conflicts with an SPC-2 reservation held by another nexus. */
	CU_ASSERT_EQUAL(prout(&F.b, 6, 0, 0, 0xb), TARGET_SCSI_RESERVATION_CONFLICT);
	/* LU reset releases it. */
	target_lu_reset(F.lu);
	EXEC(&F.b, 0, 0, 0, 0, 0, 0, 0, 0);
	ASSERT_SENSE(TARGET_SENSE_UNIT_ATTENTION, TARGET_ASC_POWER_ON_RESET);
	CU_ASSERT_EQUAL(read10(&F.b, 0, 1), TARGET_SCSI_GOOD);
	/* RESERVE(10), then I_T nexus loss releases it. */
	CU_ASSERT_EQUAL(EXEC(&F.b, 0, 0, 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0), TARGET_SCSI_GOOD);
	EXEC(&F.a, 0, 0, 0, 0, 0, 0, 0, 0); /* consume the reset UA */
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_RESERVATION_CONFLICT);
	target_scsi_nexus_unregister(F.tgt, &F.b);
	CU_ASSERT_EQUAL(read10(&F.a, 0, 1), TARGET_SCSI_GOOD);
	fix_teardown();
}

/* ---- asynchronous completion --------------------------------------------------------- */

/* A test submitter: queues requests and completes them later, when the test drains it. */
struct test_sub {
	struct target_bs_io *q[16];
	unsigned n;
	unsigned submitted;
	bool refuse;
};

static int
test_submit(void *opaque, struct target_bs_io *io)
{
	struct test_sub *s = opaque;

	if (s->refuse || s->n == ARRAY_SIZE(s->q))
		return -EBUSY;
	s->q[s->n++] = io;
	s->submitted++;
	return 0;
}

/* Performs the queued syscalls (in a test: synchronously) and completes them. */
static unsigned
test_drain(struct test_sub *s)
{
	unsigned done = 0;

	while (s->n) {
		struct target_bs_io *io = s->q[0];
		struct target_sys_io *y = &io->sys;
		int res = -EINVAL;

		memmove(s->q, s->q + 1, (s->n - 1) * sizeof(s->q[0]));
		s->n--;
		switch (y->op) {
		case TARGET_SYS_READ:
			/* Short reads are legal: return at most 1000 bytes to exercise resubmission. */
			res = (int)pread(y->fd, y->buf, MIN(y->len, 1000U), (off_t)y->off);
			break;
		case TARGET_SYS_WRITE: {
			struct iovec v = { y->buf, y->len };

			res = (int)pwritev2(y->fd, &v, 1, (off_t)y->off, y->rw_flags);
			break;
		}
		case TARGET_SYS_FDATASYNC:
			res = fdatasync(y->fd);
			break;
		case TARGET_SYS_FALLOCATE:
			res = fallocate(y->fd, y->mode, (off_t)y->off, (off_t)y->len);
			break;
		}
		if (res < 0)
			res = -errno;
		target_bs_io_complete(io, res);
		done++;
	}
	return done;
}

static unsigned cmd_done_calls;

static void
cmd_done_cb(struct target_scsi_cmd *c)
{
	(void)c;
	cmd_done_calls++;
}

static int
exec_async(struct target_scsi_cmd *c, const uint8_t *cdb, uint32_t out_len, uint32_t in_cap)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->cdb, cdb, 16);
	c->cdb_len = 16;
	c->nexus = &F.a;
	c->data_out = out_len ? data_out : NULL;
	c->data_out_len = out_len;
	c->data_in = in_cap ? data_in : NULL;
	c->data_in_cap = in_cap;
	c->scratch = scratch;
	c->scratch_cap = 4096;
	c->done = cmd_done_cb;
	return target_scsi_exec(F.tgt, c);
}

static void
test_async(void)
{
	struct test_sub s = { .n = 0 };
	struct target_io_submitter sub = { .opaque = &s, .submit = test_submit };
	struct target_scsi_cmd c;
	uint8_t w10[16] = { 0x2a, 0, 0, 0, 0, 4, 0, 0, 8, 0 };
	uint8_t r10[16] = { 0x28, 0, 0, 0, 0, 4, 0, 0, 8, 0 };
	uint8_t caw[16] = { 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0 };
	uint8_t sync[16] = { 0x35, 0 };
	uint8_t unmap[16] = { 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0 };

	fix_setup(TARGET_BS_FILE, 512, 1 << 20, false, false);
	target_bs_set_submitter(target_lu_backstore(F.lu), &sub);
	cmd_done_calls = 0;

	/* WRITE: pending until the submitter completes it. */
	memset(data_out, 0x42, 4096);
	CU_ASSERT_EQUAL(exec_async(&c, w10, 4096, 0), 1);
	CU_ASSERT_EQUAL(cmd_done_calls, 0);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_EQUAL(s.q[0]->sys.op, TARGET_SYS_WRITE);
	CU_ASSERT_EQUAL(s.q[0]->sys.off, 4 * 512);
	CU_ASSERT_EQUAL(test_drain(&s), 1);
	CU_ASSERT_EQUAL(cmd_done_calls, 1);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);

	/* READ: short completions (1000 bytes) are resubmitted until done. */
	memset(data_in, 0, 4096);
	CU_ASSERT_EQUAL(exec_async(&c, r10, 0, 4096), 1);
	CU_ASSERT_EQUAL(test_drain(&s), 5);
	CU_ASSERT_EQUAL(cmd_done_calls, 2);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(c.data_in_len, 4096);
	CU_ASSERT(all_bytes(data_in, 4096, 0x42));

	/* COMPARE AND WRITE: compare (chunked reads), then write, across completions; a second
	 * one meanwhile gets BUSY. */
	memset(data_out, 0x42, 4096);
	memset(data_out + 4096, 0x43, 4096);
	CU_ASSERT_EQUAL(exec_async(&c, caw, 8192, 0), 1);
	{
		struct target_scsi_cmd c2;

		CU_ASSERT_EQUAL(exec_async(&c2, caw, 8192, 0), 0);
		CU_ASSERT_EQUAL(c2.status, TARGET_SCSI_BUSY);
	}
	CU_ASSERT(test_drain(&s) >= 2);
	CU_ASSERT_EQUAL(cmd_done_calls, 3);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(exec_async(&c, r10, 0, 4096), 1);
	test_drain(&s);
	CU_ASSERT(all_bytes(data_in, 4096, 0x43));

	/* SYNCHRONIZE CACHE goes through the submitter as FDATASYNC. */
	CU_ASSERT_EQUAL(exec_async(&c, sync, 0, 0), 1);
	CU_ASSERT_EQUAL(s.q[0]->sys.op, TARGET_SYS_FDATASYNC);
	test_drain(&s);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);

	/* UNMAP: FALLOCATE punch hole. */
	memset(data_out, 0, 24);
	put_be16(data_out, 22);
	put_be16(data_out + 2, 16);
	put_be64(data_out + 8, 4);
	put_be32(data_out + 16, 8);
	CU_ASSERT_EQUAL(exec_async(&c, unmap, 24, 0), 1);
	CU_ASSERT_EQUAL(s.q[0]->sys.op, TARGET_SYS_FALLOCATE);
	test_drain(&s);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(exec_async(&c, r10, 0, 4096), 1);
	test_drain(&s);
	CU_ASSERT(all_bytes(data_in, 4096, 0));

	/* A submitter that cannot queue: the backstore falls back to synchronous I/O. */
	s.refuse = true;
	CU_ASSERT_EQUAL(exec_async(&c, r10, 0, 4096), 0);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);
	s.refuse = false;

	/* Commands without I/O complete inline even with a submitter. */
	{
		uint8_t tur[16] = { 0 };

		CU_ASSERT_EQUAL(exec_async(&c, tur, 0, 0), 0);
	}
	target_bs_set_submitter(target_lu_backstore(F.lu), NULL);
	fix_teardown();
}

/* ---- streaming through a window smaller than the transfer -------------------------- */

#define STREAM_LEN (40U * 1024)

static uint8_t stream_src[STREAM_LEN], stream_dst[STREAM_LEN];
static unsigned stream_hook_calls;

static void
stream_hook(struct target_scsi_cmd *c)
{
	(void)c;
	stream_hook_calls++;
}

/*
 * Runs cdb synchronously as a transport would, through a win-byte window: Data-Out comes from
 * stream_src (out_total bytes in all), Data-In is collected into stream_dst (in_total). Returns
 * the status; *stops counts the window stops and checks they move forward.
 */
static int
exec_stream(const uint8_t *cdb, uint32_t out_total, uint32_t in_total, uint32_t win,
	    unsigned *stops)
{
	uint32_t last_off = 0;
	int r;

	*stops = 0;
	memset(&cmd, 0, sizeof(cmd));
	memcpy(cmd.cdb, cdb, 16);
	cmd.cdb_len = 16;
	cmd.nexus = &F.a;
	cmd.window = stream_hook;
	if (out_total) {
		cmd.data_out = data_out;
		cmd.data_out_total = out_total;
		cmd.data_out_len = MIN(win, out_total);
		memcpy(data_out, stream_src, cmd.data_out_len);
	}
	if (in_total) {
		cmd.data_in = data_in;
		cmd.data_in_cap = MIN(win, in_total);
		cmd.data_in_total = in_total;
	}
	cmd.scratch = scratch;
	cmd.scratch_cap = 4096;
	r = target_scsi_exec(F.tgt, &cmd);
	while (r == TARGET_SCSI_EXEC_WINDOW && *stops < 1000) {
		(*stops)++;
		CU_ASSERT(cmd.buf_off > last_off || *stops == 1);
		last_off = cmd.buf_off;
		if (in_total) {
			CU_ASSERT_FATAL(cmd.buf_off + cmd.data_in_len <= in_total);
			/* Every window but the last is full, in whole blocks. */
			CU_ASSERT_EQUAL(cmd.data_in_len,
					win / target_bs_block_size(target_lu_backstore(F.lu)) *
						target_bs_block_size(target_lu_backstore(F.lu)));
			memcpy(stream_dst + cmd.buf_off, data_in, cmd.data_in_len);
		} else {
			CU_ASSERT_FATAL(cmd.buf_off < out_total);
			cmd.data_out_len = MIN(win, out_total - cmd.buf_off);
			memcpy(data_out, stream_src + cmd.buf_off, cmd.data_out_len);
		}
		r = target_scsi_resume(&cmd);
	}
	CU_ASSERT_EQUAL(r, TARGET_SCSI_EXEC_DONE);
	if (in_total && cmd.status == TARGET_SCSI_GOOD) {
		CU_ASSERT_FATAL(cmd.buf_off + cmd.data_in_len <= in_total);
		memcpy(stream_dst + cmd.buf_off, data_in, cmd.data_in_len);
	}
	return cmd.status;
}

static void
stream_case(enum target_bs_type type, uint32_t bsz)
{
	uint32_t nb = STREAM_LEN / bsz;
	uint8_t w16[16] = { 0x8a, 0 }, r16[16] = { 0x88, 0 }, wv16[16] = { 0x8e, 0x02 };
	uint8_t v16[16] = { 0x8f, 0x02 }, or16[16] = { 0x8b, 0 };
	unsigned stops;

	fix_setup(type, bsz, 1 << 20, false, false);
	for (uint32_t i = 0; i < STREAM_LEN; i++)
		stream_src[i] = (uint8_t)(i * 7 + i / 4096);
	put_be64(w16 + 2, 3);
	put_be32(w16 + 10, nb);
	memcpy(r16, w16, 16);
	r16[0] = 0x88;
	memcpy(wv16 + 2, w16 + 2, 12);
	memcpy(v16 + 2, w16 + 2, 12);
	memcpy(or16 + 2, w16 + 2, 12);

	/* WRITE 16 of 40 KiB through an 8 KiB window: 4 stops, then READ 16 it back. */
	CU_ASSERT_EQUAL(exec_stream(w16, STREAM_LEN, 0, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, 4);
	CU_ASSERT_EQUAL(cmd.xfer_len, STREAM_LEN);
	memset(stream_dst, 0, sizeof(stream_dst));
	CU_ASSERT_EQUAL(exec_stream(r16, 0, STREAM_LEN, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, 4);
	CU_ASSERT_EQUAL(cmd.buf_off + cmd.data_in_len, STREAM_LEN);
	CU_ASSERT(memcmp(stream_src, stream_dst, STREAM_LEN) == 0);
	/* A window that is not a multiple of the block size still moves whole blocks. */
	memset(stream_dst, 0, sizeof(stream_dst));
	CU_ASSERT_EQUAL(exec_stream(r16, 0, STREAM_LEN, 3 * bsz + bsz / 2, &stops),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, (nb + 2) / 3 - 1);
	CU_ASSERT(memcmp(stream_src, stream_dst, STREAM_LEN) == 0);
	/* The initiator takes less than the CDB asks (EDTL 12 KiB): the read stops there. */
	memset(stream_dst, 0, sizeof(stream_dst));
	CU_ASSERT_EQUAL(exec_stream(r16, 0, 12288, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, 1);
	CU_ASSERT_EQUAL(cmd.buf_off + cmd.data_in_len, 12288);
	CU_ASSERT_EQUAL(cmd.xfer_len, STREAM_LEN);
	CU_ASSERT(memcmp(stream_src, stream_dst, 12288) == 0);
	/* VERIFY 16 (BYTCHK) matches; a difference in the fourth window is reported at its
	 * offset within the whole transfer. */
	CU_ASSERT_EQUAL(exec_stream(v16, STREAM_LEN, 0, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, 4);
	stream_src[3 * 8192 + 100] ^= 0xff;
	exec_stream(v16, STREAM_LEN, 0, 8192, &stops);
	ASSERT_SENSE(TARGET_SENSE_MISCOMPARE, TARGET_ASC_MISCOMPARE_VERIFY);
	CU_ASSERT_EQUAL(get_be32(cmd.sense + 3), 3 * 8192 + 100);
	CU_ASSERT_EQUAL(stops, 3);
	/* WRITE AND VERIFY 16 streams too (each window verified while it is there). */
	CU_ASSERT_EQUAL(exec_stream(wv16, STREAM_LEN, 0, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, 4);
	CU_ASSERT_EQUAL(exec_stream(r16, 0, STREAM_LEN, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT(memcmp(stream_src, stream_dst, STREAM_LEN) == 0);
	/* ORWRITE 16 of 0x01 everywhere. */
	memset(stream_src, 0x01, STREAM_LEN);
	CU_ASSERT_EQUAL(exec_stream(w16, STREAM_LEN, 0, 8192, &stops), TARGET_SCSI_GOOD);
	memset(stream_src, 0x80, STREAM_LEN);
	CU_ASSERT_EQUAL(exec_stream(or16, STREAM_LEN, 0, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(stops, 4);
	CU_ASSERT_EQUAL(exec_stream(r16, 0, STREAM_LEN, 8192, &stops), TARGET_SCSI_GOOD);
	CU_ASSERT(all_bytes(stream_dst, STREAM_LEN, 0x81));
	/* Without a window hook nothing streams: the transfer is cut at the buffer. */
	CU_ASSERT_EQUAL(EXEC(&F.a, 0, 8192, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, nb, 0, 0),
			TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(cmd.data_in_len, 8192);
	CU_ASSERT_EQUAL(stream_hook_calls, 0); /* synchronous stops return, never call it */
	fix_teardown();
}

/* Streaming with asynchronous I/O: the window hook is called from the completion. */
static void
test_streaming_async(void)
{
	struct test_sub s = { .n = 0 };
	struct target_io_submitter sub = { .opaque = &s, .submit = test_submit };
	struct target_scsi_cmd c;
	uint8_t r16[16] = { 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 };
	unsigned windows = 0;

	fix_setup(TARGET_BS_FILE, 512, 1 << 20, false, false);
	for (uint32_t i = 0; i < 16384; i++)
		stream_src[i] = (uint8_t)(i ^ (i >> 9));
	memcpy(data_out, stream_src, 16384);
	CU_ASSERT_EQUAL(EXEC(&F.a, 16384, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0, 32, 0), TARGET_SCSI_GOOD);
	target_bs_set_submitter(target_lu_backstore(F.lu), &sub);
	cmd_done_calls = 0;
	stream_hook_calls = 0;
	memset(&c, 0, sizeof(c));
	memcpy(c.cdb, r16, 16);
	c.cdb_len = 16;
	c.nexus = &F.a;
	c.data_in = data_in;
	c.data_in_cap = 4096;
	c.data_in_total = 16384;
	c.scratch = scratch;
	c.scratch_cap = 4096;
	c.done = cmd_done_cb;
	c.window = stream_hook;
	memset(stream_dst, 0, 16384);
	CU_ASSERT_EQUAL(target_scsi_exec(F.tgt, &c), TARGET_SCSI_EXEC_PENDING);
	for (int guard = 0; guard < 10 && !cmd_done_calls; guard++) {
		test_drain(&s);
		if (stream_hook_calls > windows) {
			windows = stream_hook_calls;
			memcpy(stream_dst + c.buf_off, data_in, c.data_in_len);
			CU_ASSERT_EQUAL(target_scsi_resume(&c), TARGET_SCSI_EXEC_PENDING);
		}
	}
	CU_ASSERT_EQUAL(cmd_done_calls, 1);
	CU_ASSERT_EQUAL(stream_hook_calls, 3);
	CU_ASSERT_EQUAL(c.status, TARGET_SCSI_GOOD);
	CU_ASSERT_EQUAL(c.buf_off, 12288);
	memcpy(stream_dst + c.buf_off, data_in, c.data_in_len);
	CU_ASSERT(memcmp(stream_src, stream_dst, 16384) == 0);
	target_bs_set_submitter(target_lu_backstore(F.lu), NULL);
	fix_teardown();
}

static void
test_streaming(void)
{
	stream_case(TARGET_BS_MEM, 512);
	stream_case(TARGET_BS_MEM, 4096);
	stream_case(TARGET_BS_FILE, 512);
	stream_case(TARGET_BS_FILE, 4096);
	CU_ASSERT(target_scsi_streamable((const uint8_t[]){ 0x28 }));
	CU_ASSERT(target_scsi_streamable((const uint8_t[]){ 0x8b }));
	CU_ASSERT(!target_scsi_streamable((const uint8_t[]){ 0x89 }));
	CU_ASSERT(!target_scsi_streamable((const uint8_t[]){ 0x93 }));
	CU_ASSERT(!target_scsi_streamable((const uint8_t[]){ 0x42 }));
}

static void
test_backstore_config(void)
{
	struct target_bs_config bc = { .type = TARGET_BS_MEM, .size = 1 << 20, .block_size = 1024 };
	struct target_backstore *bs;
	struct target_lu_config lc = { 0 };
	struct target_lu *lu;

	CU_ASSERT_EQUAL(target_bs_new(&bc, &bs), -EINVAL);
	bc.block_size = 512;
	bc.size = 0;
	CU_ASSERT_EQUAL(target_bs_new(&bc, &bs), -EINVAL);
	bc.type = TARGET_BS_FILE;
	bc.path = "/nonexistent/dir/x";
	CU_ASSERT_EQUAL(target_bs_new(&bc, &bs), -ENOENT);
	bc.type = TARGET_BS_MEM;
	bc.size = (1 << 20) + 100; /* rounded down to whole blocks */
	CU_ASSERT_FATAL(target_bs_new(&bc, &bs) == 0);
	CU_ASSERT_EQUAL(target_bs_size(bs), 1 << 20);
	lc.bs = bs;
	CU_ASSERT_EQUAL(target_lu_new(&lc, &lu), -EINVAL); /* no serial */
	target_bs_free(bs);
}

static const struct unit_test scsi_tests[] = {
	{ "inquiry", test_inquiry },
	{ "read capacity 10/16", test_capacity },
	{ "read/write mem+file 512/4096", test_read_write },
	{ "read/write O_DIRECT", test_read_write_direct },
	{ "null backstore", test_null_backstore },
	{ "read-only LU", test_readonly },
	{ "verify / write and verify", test_verify },
	{ "compare and write / orwrite", test_compare_and_write },
	{ "write same / unmap / get lba status", test_write_same_unmap },
	{ "sync cache / prefetch / tur / ssu", test_sync_prefetch },
	{ "mode sense/select", test_mode_pages },
	{ "report luns / missing LUN", test_report_luns },
	{ "report supported opcodes / tmfs", test_report_opcodes },
	{ "unit attention after reset", test_unit_attention },
	{ "capacity data has changed", test_capacity_changed },
	{ "backstore config errors", test_backstore_config },
	{ "streaming windows", test_streaming },
	{ NULL, NULL },
};

static const struct unit_test pr_tests[] = {
	{ "persistent reservations", test_pr_basic },
	{ "conflict matrix", test_pr_matrix },
	{ "unregister and relogin", test_pr_unregister_and_relogin },
	{ "spc-2 reserve/release", test_spc2_reserve },
	{ NULL, NULL },
};

static const struct unit_test async_tests[] = {
	{ "async submitter", test_async },
	{ "async streaming", test_streaming_async },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "target-scsi", scsi_tests },
	{ "target-pr", pr_tests },
	{ "target-async", async_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
