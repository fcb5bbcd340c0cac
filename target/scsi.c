/*
 * SCSI command emulation (SPC-4 / SBC-3 direct-access device) on top of a backstore.
 *
 * Command path: no allocation, no logging. Commands that touch the medium run as a small
 * state machine (cmd->step): each step either finishes the command or prepares cmd->io, which
 * target_bs_submit() completes inline or later; the completion re-enters the state machine.
 */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "target/backstore.h"
#include "target/pr.h"
#include "target/scsi.h"
#include "target/scsi_lu.h"

#include "common/datapath.h"

/* Operation codes (SPC-4 / SBC-3). */
#define OP_TEST_UNIT_READY 0x00
#define OP_REQUEST_SENSE 0x03
#define OP_READ6 0x08
#define OP_WRITE6 0x0a
#define OP_INQUIRY 0x12
#define OP_MODE_SELECT6 0x15
#define OP_RESERVE6 0x16
#define OP_RELEASE6 0x17
#define OP_MODE_SENSE6 0x1a
#define OP_START_STOP 0x1b
#define OP_PREVENT_ALLOW 0x1e
#define OP_READ_CAPACITY10 0x25
#define OP_READ10 0x28
#define OP_WRITE10 0x2a
#define OP_WRITE_VERIFY10 0x2e
#define OP_VERIFY10 0x2f
#define OP_PREFETCH10 0x34
#define OP_SYNC_CACHE10 0x35
#define OP_WRITE_SAME10 0x41
#define OP_UNMAP 0x42
#define OP_MODE_SELECT10 0x55
#define OP_RESERVE10 0x56
#define OP_RELEASE10 0x57
#define OP_MODE_SENSE10 0x5a
#define OP_PR_IN 0x5e
#define OP_PR_OUT 0x5f
#define OP_READ16 0x88
#define OP_COMPARE_WRITE 0x89
#define OP_WRITE16 0x8a
#define OP_ORWRITE16 0x8b
#define OP_WRITE_VERIFY16 0x8e
#define OP_VERIFY16 0x8f
#define OP_PREFETCH16 0x90
#define OP_SYNC_CACHE16 0x91
#define OP_WRITE_SAME16 0x93
#define OP_SERVICE_IN16 0x9e
#define OP_REPORT_LUNS 0xa0
#define OP_MAINT_IN 0xa3
#define OP_READ12 0xa8
#define OP_WRITE12 0xaa
#define OP_WRITE_VERIFY12 0xae
#define OP_VERIFY12 0xaf

#define SA_READ_CAPACITY16 0x10
#define SA_GET_LBA_STATUS 0x12
#define SA_REPORT_OPCODES 0x0c
#define SA_REPORT_TMFS 0x0d

#define TARGET_ASC_INVALID_FIELD_IU 0x0e03
#define TARGET_ASC_SPACE_ALLOC_FAILED 0x2707

/* Largest COMPARE AND WRITE, in blocks (VPD B0 byte 5). */
#define CAW_MAX_BLOCKS 255

/* A zero logical block, for WRITE SAME with NDOB when no scratch buffer is given. */
static const uint8_t scsi_zero_block[4096] __attribute__((aligned(4096)));

/* Step results: finished, cmd->io prepared, waiting for the transport to move the window. */
enum { STEP_DONE = 0, STEP_IO = 1, STEP_WAIT = 2 };

/* ---- results ----------------------------------------------------------------------------- */

static void
sense_fill(uint8_t *s, uint8_t key, uint16_t asc, bool info_valid, uint32_t info)
{
	memset(s, 0, 18);
	/* SPC-4 4.5.3: fixed format, current error; VALID when INFORMATION is meaningful. */
	s[0] = 0x70 | (info_valid ? 0x80 : 0);
	s[2] = key & 0x0f;
	put_be32(s + 3, info);
	s[7] = 10;
	s[12] = (uint8_t)(asc >> 8);
	s[13] = (uint8_t)asc;
}

void
target_scsi_set_sense(struct target_scsi_cmd *cmd, uint8_t key, uint16_t asc)
{
	cmd->status = TARGET_SCSI_CHECK_CONDITION;
	sense_fill(cmd->sense, key, asc, false, 0);
	cmd->sense_len = 18;
	cmd->data_in_len = 0;
}

static void
set_sense_info(struct target_scsi_cmd *cmd, uint8_t key, uint16_t asc, uint32_t info)
{
	target_scsi_set_sense(cmd, key, asc);
	sense_fill(cmd->sense, key, asc, true, info);
}

void
target_scsi_good(struct target_scsi_cmd *cmd)
{
	cmd->status = TARGET_SCSI_GOOD;
	cmd->sense_len = 0;
}

void
target_scsi_data_in(struct target_scsi_cmd *cmd, const void *buf, uint32_t len)
{
	uint32_t n = MIN(len, cmd->data_in ? cmd->data_in_cap : 0);

	if (n)
		memcpy(cmd->data_in, buf, n);
	cmd->data_in_len = n;
	cmd->xfer_len = len;
	target_scsi_good(cmd);
}

static void
invalid_cdb(struct target_scsi_cmd *cmd)
{
	target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_FIELD_CDB);
}

static void
invalid_param(struct target_scsi_cmd *cmd)
{
	target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_FIELD_PARAM);
}

static void
lba_out_of_range(struct target_scsi_cmd *cmd)
{
	target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_LBA_OUT_OF_RANGE);
}

static void
write_protected(struct target_scsi_cmd *cmd)
{
	target_scsi_set_sense(cmd, TARGET_SENSE_DATA_PROTECT, TARGET_ASC_WRITE_PROTECTED);
}

static void
io_error(struct target_scsi_cmd *cmd, int64_t res, bool write)
{
	if (res == -EROFS)
		write_protected(cmd);
	else if (res == -ENOSPC)
		target_scsi_set_sense(cmd, TARGET_SENSE_DATA_PROTECT, TARGET_ASC_SPACE_ALLOC_FAILED);
	else
		target_scsi_set_sense(cmd, TARGET_SENSE_MEDIUM_ERROR,
				      write ? TARGET_ASC_WRITE_ERROR : TARGET_ASC_READ_ERROR);
}

/* ---- state machine ----------------------------------------------------------------------- */

static int scsi_run(struct target_scsi_cmd *cmd);

static void
scsi_io_done(struct target_bs_io *io)
{
	struct target_scsi_cmd *cmd = io->priv;

	switch (scsi_run(cmd)) {
	case TARGET_SCSI_EXEC_DONE:
		if (cmd->done)
			cmd->done(cmd);
		break;
	case TARGET_SCSI_EXEC_WINDOW:
		cmd->window(cmd);
		break;
	}
}

static int
scsi_run(struct target_scsi_cmd *cmd)
{
	for (;;) {
		switch (cmd->step(cmd)) {
		case STEP_DONE:
			return TARGET_SCSI_EXEC_DONE;
		case STEP_WAIT:
			return TARGET_SCSI_EXEC_WINDOW;
		}
		if (target_bs_submit(cmd->lu->bs, &cmd->io) == 1)
			return TARGET_SCSI_EXEC_PENDING;
	}
}

int
target_scsi_resume(struct target_scsi_cmd *cmd)
{
	return scsi_run(cmd);
}

/* Prepares cmd->io and returns STEP_IO. */
static int
issue(struct target_scsi_cmd *cmd, uint8_t op, void *buf, uint64_t off, uint64_t len, bool fua)
{
	struct target_bs_io *io = &cmd->io;

	io->op = op;
	io->flags = fua ? TARGET_BS_F_FUA : 0;
	io->buf = buf;
	io->offset = off;
	io->len = len;
	io->done = scsi_io_done;
	io->priv = cmd;
	return STEP_IO;
}

static int
start(struct target_scsi_cmd *cmd, int (*step)(struct target_scsi_cmd *))
{
	cmd->step = step;
	cmd->phase = 0;
	cmd->pos = 0;
	return scsi_run(cmd);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static bool
range_bad(struct target_lu *lu, uint64_t lba, uint64_t n)
{
	return lba > lu->nblocks || n > lu->nblocks - lba;
}

static void
internal_failure(struct target_scsi_cmd *cmd)
{
	target_scsi_set_sense(cmd, TARGET_SENSE_ABORTED_COMMAND, TARGET_ASC_INTERNAL_FAILURE);
}

/* All the Data-Out of the command, over every window. */
static uint64_t
dout_total(const struct target_scsi_cmd *cmd)
{
	if (!cmd->data_out)
		return 0;
	return cmd->window && cmd->data_out_total > cmd->data_out_len ? cmd->data_out_total :
									 cmd->data_out_len;
}

/* All the Data-In the initiator accepts, over every window. */
static uint64_t
din_total(const struct target_scsi_cmd *cmd)
{
	if (!cmd->data_in)
		return 0;
	return cmd->window && cmd->data_in_total > cmd->data_in_cap ? cmd->data_in_total :
								    cmd->data_in_cap;
}

/*
 * The Data-Out at transfer offset pos (< dout_total()): *p, and *avail bytes up to the end of
 * the window. Returns 0, or STEP_WAIT after asking the transport for the window at pos (the
 * caller's step returns STEP_WAIT and runs again, in the same phase, once it moved), or -1
 * when the data cannot come (the command fails).
 */
static int
dout_at(struct target_scsi_cmd *cmd, uint64_t pos, const uint8_t **p, uint64_t *avail)
{
	if (pos >= cmd->buf_off && pos < (uint64_t)cmd->buf_off + cmd->data_out_len) {
		*p = cmd->data_out + (pos - cmd->buf_off);
		*avail = cmd->buf_off + cmd->data_out_len - pos;
		return 0;
	}
	if (!cmd->window || pos >= dout_total(cmd))
		return -1;
	cmd->buf_off = (uint32_t)pos;
	cmd->data_out_len = 0;
	return STEP_WAIT;
}

/* A piece of len bytes that is not the last one ends on a block boundary. */
static uint64_t
piece_len(const struct target_lu *lu, uint64_t len, uint64_t left)
{
	len = MIN(len, left);
	if (len < left)
		len &= ~(uint64_t)(lu->block_size - 1);
	return len;
}

/* Bytes of scratch usable per chunk, a whole number of blocks (0 if less than one block). */
static uint32_t
scratch_blocks_bytes(struct target_scsi_cmd *cmd)
{
	if (!cmd->scratch)
		return 0;
	return cmd->scratch_cap & ~(cmd->lu->block_size - 1);
}

static void
put_padded(uint8_t *dst, const char *s, size_t n)
{
	size_t l = strlen(s);

	memset(dst, ' ', n);
	memcpy(dst, s, MIN(l, n));
}

/* ---- INQUIRY ----------------------------------------------------------------------------- */

static const uint8_t vpd_pages[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };

static uint32_t
inquiry_standard(struct target_lu *lu, uint8_t *b)
{
	memset(b, 0, 96);
	b[0] = 0x00;		/* peripheral qualifier 0, direct access block device */
	b[2] = 0x06;		/* SPC-4 */
	b[3] = 0x12;		/* HISUP, response data format 2 */
	b[4] = 96 - 5;
	b[7] = 0x02;		/* CMDQUE */
	put_padded(b + 8, lu->vendor, 8);
	put_padded(b + 16, lu->product, 16);
	put_padded(b + 32, lu->revision, 4);
	/* Version descriptors (SPC-4 table 143): SAM-5, iSCSI, SPC-4, SBC-3. */
	put_be16(b + 58, 0x00a0);
	put_be16(b + 60, 0x0960);
	put_be16(b + 62, 0x0460);
	put_be16(b + 64, 0x04c0);
	return 96;
}

/* SCSI name string designator, NUL-terminated and padded to a multiple of 4. */
static uint32_t
put_name_desig(uint8_t *d, uint8_t assoc_type, const char *name, const char *suffix,
	       uint16_t tpgt)
{
	uint32_t l = 0;
	uint8_t *p = d + 4;

	for (const char *s = name; *s && l < 223; s++)
		p[l++] = (uint8_t)*s;
	if (suffix) {
		static const char hex[] = "0123456789abcdef";

		for (const char *s = suffix; *s; s++)
			p[l++] = (uint8_t)*s;
		for (int i = 3; i >= 0; i--)
			p[l++] = (uint8_t)hex[(tpgt >> (i * 4)) & 0xf];
	}
	p[l++] = 0;
	while (l % 4)
		p[l++] = 0;
	d[0] = 0x53; /* protocol iSCSI, UTF-8 */
	d[1] = assoc_type;
	d[2] = 0;
	d[3] = (uint8_t)l;
	return 4 + l;
}

static uint32_t
inquiry_vpd(struct target_lu *lu, const struct target_scsi_nexus *nx, uint8_t page, uint8_t *b)
{
	uint32_t n = 4;

	memset(b, 0, 4);
	b[1] = page;
	switch (page) {
	case 0x00:
		memcpy(b + 4, vpd_pages, sizeof(vpd_pages));
		n += sizeof(vpd_pages);
		break;
	case 0x80: {
		uint32_t l = (uint32_t)strlen(lu->serial);

		memcpy(b + 4, lu->serial, l);
		n += l;
		break;
	}
	case 0x83: {
		uint8_t *d = b + 4;
		uint32_t l;

		/* Logical unit: NAA. */
		d[0] = 0x01;
		d[1] = 0x03;
		d[2] = 0;
		d[3] = 8;
		put_be64(d + 4, lu->naa);
		d += 12;
		/* Logical unit: T10 vendor ID + serial. */
		l = (uint32_t)strlen(lu->serial);
		d[0] = 0x02;
		d[1] = 0x01;
		d[2] = 0;
		d[3] = (uint8_t)(8 + l);
		put_padded(d + 4, lu->vendor, 8);
		memcpy(d + 12, lu->serial, l);
		d += 12 + l;
		if (nx) {
			/* Target port: relative target port identifier (PIV, port assoc). */
			d[0] = 0x51;
			d[1] = 0x94;
			d[2] = 0;
			d[3] = 4;
			d[4] = d[5] = 0;
			put_be16(d + 6, nx->rel_port);
			d += 8;
			if (nx->target_name) {
				/* Target port name "<iqn>,t,0x<tpgt>", then the target device. */
				d += put_name_desig(d, 0x98, nx->target_name, ",t,0x", nx->tpgt);
				d += put_name_desig(d, 0xa8, nx->target_name, NULL, 0);
			}
		}
		n = (uint32_t)(d - b);
		break;
	}
	case 0xb0: {
		bool thin = lu->thin;

		memset(b + 4, 0, 0x3c);
		b[5] = (uint8_t)MIN((uint32_t)CAW_MAX_BLOCKS, lu->max_xfer / 2);
		put_be16(b + 6, (uint16_t)(1U << lu->phys_exp));
		put_be32(b + 8, lu->max_xfer);
		put_be32(b + 12, lu->max_xfer);
		put_be32(b + 16, lu->max_xfer);
		put_be32(b + 20, thin ? lu->max_unmap : 0);
		put_be32(b + 24, thin ? lu->max_unmap_descs : 0);
		put_be32(b + 28, thin ? 1U << lu->phys_exp : 0);
		put_be32(b + 32, thin ? 0x80000000U : 0); /* UGAVALID, alignment 0 */
		put_be64(b + 36, lu->max_ws);
		n += 0x3c;
		break;
	}
	case 0xb1:
		memset(b + 4, 0, 0x3c);
		put_be16(b + 4, 1); /* non-rotating medium */
		n += 0x3c;
		break;
	case 0xb2:
		memset(b + 4, 0, 4);
		if (lu->thin) {
			/* LBPU, LBPWS, LBPWS10, LBPRZ; provisioning type 2 = thin. */
			b[5] = 0xe0 | (lu->lbprz ? 0x04 : 0);
			b[6] = 0x02;
		}
		n += 4;
		break;
	default:
		return 0;
	}
	put_be16(b + 2, (uint16_t)(n - 4));
	return n;
}

static void
cmd_inquiry(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint8_t buf[1024];
	uint16_t alloc = get_be16(cmd->cdb + 3);
	uint32_t n;

	if (cmd->cdb[1] & 0xfe) {
		invalid_cdb(cmd); /* CMDDT and reserved bits */
		return;
	}
	if (!(cmd->cdb[1] & 0x01)) {
		if (cmd->cdb[2]) {
			invalid_cdb(cmd);
			return;
		}
		n = inquiry_standard(lu, buf);
	} else {
		n = inquiry_vpd(lu, cmd->nexus, cmd->cdb[2], buf);
		if (!n) {
			invalid_cdb(cmd);
			return;
		}
	}
	target_scsi_data_in(cmd, buf, MIN(n, (uint32_t)alloc));
}

/* ---- READ CAPACITY ----------------------------------------------------------------------- */

static void
cmd_read_capacity10(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint8_t b[8];

	/* SBC-3 5.15: with PMI=0 the LOGICAL BLOCK ADDRESS field must be zero. */
	if (!(cmd->cdb[8] & 0x01) && get_be32(cmd->cdb + 2)) {
		invalid_cdb(cmd);
		return;
	}
	put_be32(b, lu->nblocks - 1 > 0xffffffffULL ? 0xffffffffU : (uint32_t)(lu->nblocks - 1));
	put_be32(b + 4, lu->block_size);
	target_scsi_data_in(cmd, b, 8);
}

static void
cmd_read_capacity16(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint8_t b[32];
	uint32_t alloc = get_be32(cmd->cdb + 10);

	memset(b, 0, sizeof(b));
	put_be64(b, lu->nblocks - 1);
	put_be32(b + 8, lu->block_size);
	b[13] = (uint8_t)(lu->phys_exp & 0x0f);
	if (lu->thin)
		b[14] = 0x80 | (lu->lbprz ? 0x40 : 0); /* LBPME, LBPRZ */
	target_scsi_data_in(cmd, b, MIN(alloc, (uint32_t)sizeof(b)));
}

/* ---- READ / WRITE ------------------------------------------------------------------------ */

/* Bytes of n blocks, saturated to what an iSCSI transfer length can say. */
static uint32_t
xfer_bytes(const struct target_lu *lu, uint64_t n)
{
	return (uint32_t)MIN(n << lu->block_shift, (uint64_t)UINT32_MAX);
}

/* Decodes LBA and transfer length of the READ/WRITE/VERIFY family. */
static void
decode_rw(const uint8_t *cdb, uint64_t *lba, uint32_t *n)
{
	switch (cdb[0] >> 5) {
	case 0: /* 6-byte */
		*lba = get_be24(cdb + 1) & 0x1fffff;
		*n = cdb[4] ? cdb[4] : 256; /* SBC-3 5.7: 0 means 256 blocks */
		break;
	case 1: /* 10-byte */
	case 2:
		*lba = get_be32(cdb + 2);
		*n = get_be16(cdb + 7);
		break;
	case 4: /* 16-byte */
		*lba = get_be64(cdb + 2);
		*n = get_be32(cdb + 10);
		break;
	default: /* 12-byte */
		*lba = get_be32(cdb + 2);
		*n = get_be32(cdb + 6);
		break;
	}
}

/*
 * READ: one piece per window of data_in_cap bytes. Every window but the last stops the
 * command (STEP_WAIT) until the transport has sent it (phase 2 -> 0 on resume).
 */
static int
read_step(struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = cmd->lu;
	uint64_t total = MIN((uint64_t)cmd->nblocks << lu->block_shift, din_total(cmd));
	uint64_t len;

	if (cmd->phase == 1) {
		if (cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, false);
			return STEP_DONE;
		}
		cmd->data_in_len = (uint32_t)cmd->io.len;
		cmd->pos += cmd->io.len;
		if (cmd->pos < total) {
			cmd->phase = 2;
			return STEP_WAIT;
		}
	}
	if (cmd->pos >= total) {
		target_scsi_good(cmd);
		return STEP_DONE;
	}
	len = piece_len(lu, cmd->data_in_cap, total - cmd->pos);
	if (!len) {
		internal_failure(cmd);
		return STEP_DONE;
	}
	cmd->buf_off = (uint32_t)cmd->pos;
	cmd->data_in_len = 0;
	cmd->phase = 1;
	return issue(cmd, TARGET_BS_OP_READ, cmd->data_in, (cmd->lba << lu->block_shift) + cmd->pos,
		     len, false);
}

/* What dout_step() does with each piece of Data-Out (cmd->aux bits). */
#define DOUT_WRITE 0x1	/* write it */
#define DOUT_VERIFY 0x2 /* compare it with the medium (after writing it, with DOUT_WRITE) */
#define DOUT_CAW 0x4	/* COMPARE AND WRITE: then write the second half of the Data-Out */

/* Reads the next piece of [cmp, end) into scratch for comparison (phase 2). */
static int
cmp_issue(struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = cmd->lu;

	cmd->phase = 2;
	return issue(cmd, TARGET_BS_OP_READ, cmd->scratch, (cmd->lba << lu->block_shift) + cmd->cmp,
		     MIN(cmd->end - cmd->cmp, (uint64_t)scratch_blocks_bytes(cmd)), false);
}

/*
 * WRITE, WRITE AND VERIFY, VERIFY with BYTCHK and the compare half of COMPARE AND WRITE: walks
 * the Data-Out in order, one piece per window. Phases: 0 = start the piece at pos; 1 = its
 * write finished; 2 = a compare read finished; 3 = the COMPARE AND WRITE write finished.
 * Verification happens piece by piece, while the piece is still in the window.
 */
static int
dout_step(struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = cmd->lu;
	uint64_t total = MIN((uint64_t)cmd->nblocks << lu->block_shift, dout_total(cmd));
	const uint8_t *p;
	uint64_t avail, len;
	int r;

	switch (cmd->phase) {
	case 1:
		if (cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, true);
			return STEP_DONE;
		}
		cmd->end = cmd->pos + cmd->io.len;
		if (!(cmd->aux & DOUT_VERIFY)) {
			cmd->pos = cmd->end;
			break;
		}
		cmd->cmp = cmd->pos;
		return cmp_issue(cmd);
	case 2:
		if (cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, false);
			return STEP_DONE;
		}
		if (dout_at(cmd, cmd->cmp, &p, &avail) != 0 || avail < cmd->io.len) {
			internal_failure(cmd); /* the piece is in the window: cannot happen */
			return STEP_DONE;
		}
		if (memcmp(p, cmd->scratch, cmd->io.len) != 0) {
			uint64_t k = 0;

			while (p[k] == cmd->scratch[k])
				k++;
			/* SBC-3 5.3: INFORMATION = offset of the first miscompared byte. */
			set_sense_info(cmd, TARGET_SENSE_MISCOMPARE, TARGET_ASC_MISCOMPARE_VERIFY,
				       (uint32_t)(cmd->cmp + k));
			return STEP_DONE;
		}
		cmd->cmp += cmd->io.len;
		if (cmd->cmp < cmd->end)
			return cmp_issue(cmd);
		cmd->pos = cmd->end;
		break;
	case 3:
		if (cmd->io.res < 0)
			io_error(cmd, cmd->io.res, true);
		else
			target_scsi_good(cmd);
		return STEP_DONE;
	}
	cmd->phase = 0;
	if (cmd->pos >= total) {
		if (cmd->aux & DOUT_CAW) {
			/* The compare matched: write the second half of the Data-Out. */
			cmd->phase = 3;
			return issue(cmd, TARGET_BS_OP_WRITE, (void *)(cmd->data_out + total),
				     cmd->lba << lu->block_shift, total, cmd->fua);
		}
		target_scsi_good(cmd);
		return STEP_DONE;
	}
	r = dout_at(cmd, cmd->pos, &p, &avail);
	if (r == STEP_WAIT)
		return r;
	len = r ? 0 : piece_len(lu, avail, total - cmd->pos);
	if (!len) {
		internal_failure(cmd);
		return STEP_DONE;
	}
	if (cmd->aux & DOUT_WRITE) {
		cmd->phase = 1;
		return issue(cmd, TARGET_BS_OP_WRITE, (void *)p,
			     (cmd->lba << lu->block_shift) + cmd->pos, len, cmd->fua);
	}
	cmd->cmp = cmd->pos;
	cmd->end = cmd->pos + len;
	return cmp_issue(cmd);
}

static int
cmd_rw(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint8_t op = cdb[0];
	bool is6 = op == OP_READ6 || op == OP_WRITE6;
	bool write = op == OP_WRITE6 || op == OP_WRITE10 || op == OP_WRITE12 || op == OP_WRITE16;
	bool wav = op == OP_WRITE_VERIFY10 || op == OP_WRITE_VERIFY12 || op == OP_WRITE_VERIFY16;
	bool verify = op == OP_VERIFY10 || op == OP_VERIFY12 || op == OP_VERIFY16;
	uint64_t lba;
	uint32_t n;
	uint8_t bytchk = 0;

	decode_rw(cdb, &lba, &n);
	/* RDPROTECT/WRPROTECT/VRPROTECT: no protection information on this device. */
	if (!is6 && (cdb[1] & 0xe0)) {
		invalid_cdb(cmd);
		return 0;
	}
	if (wav || verify) {
		bytchk = (cdb[1] >> 1) & 0x03;
		if (bytchk > 1) {
			invalid_cdb(cmd);
			return 0;
		}
	}
	if ((write || wav) && lu->readonly) {
		write_protected(cmd);
		return 0;
	}
	if (range_bad(lu, lba, n)) {
		lba_out_of_range(cmd);
		return 0;
	}
	cmd->lba = lba;
	cmd->nblocks = n;
	cmd->xfer_len = (!verify || bytchk) ? xfer_bytes(lu, n) : 0;
	cmd->fua = (!is6 && (cdb[1] & 0x08)) || !lu->wce;
	cmd->aux = 0;
	if (n == 0) {
		target_scsi_good(cmd);
		return 0;
	}
	if (write || wav) {
		uint64_t want = (uint64_t)n << lu->block_shift;
		uint64_t have = dout_total(cmd);

		/* Less Data-Out than the CDB asks for: write (and with BYTCHK verify) what came
		 * (iSCSI overflow residual), unless O_DIRECT makes a partial block impossible. */
		if (have < want && (have & (lu->block_size - 1)) &&
		    (target_bs_caps(lu->bs) & TARGET_BS_CAP_ALIGNED)) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INVALID_FIELD_IU);
			return 0;
		}
		cmd->aux = DOUT_WRITE;
		if (wav && bytchk) {
			if (!scratch_blocks_bytes(cmd)) {
				internal_failure(cmd);
				return 0;
			}
			cmd->aux |= DOUT_VERIFY;
		}
		return start(cmd, dout_step);
	}
	if (verify) {
		if (!bytchk) {
			/* BYTCHK=0: a medium verification; the range check is all there is. */
			target_scsi_good(cmd);
			return 0;
		}
		/* Nothing to compare a missing part with. */
		if (dout_total(cmd) < ((uint64_t)n << lu->block_shift)) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INVALID_FIELD_IU);
			return 0;
		}
		if (!scratch_blocks_bytes(cmd)) {
			internal_failure(cmd);
			return 0;
		}
		cmd->aux = DOUT_VERIFY;
		return start(cmd, dout_step);
	}
	return start(cmd, read_step);
}

bool
target_scsi_streamable(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case OP_READ6:
	case OP_READ10:
	case OP_READ12:
	case OP_READ16:
	case OP_WRITE6:
	case OP_WRITE10:
	case OP_WRITE12:
	case OP_WRITE16:
	case OP_WRITE_VERIFY10:
	case OP_WRITE_VERIFY12:
	case OP_WRITE_VERIFY16:
	case OP_VERIFY10:
	case OP_VERIFY12:
	case OP_VERIFY16:
	case OP_ORWRITE16:
		return true;
	}
	return false;
}

/* ---- COMPARE AND WRITE, ORWRITE ---------------------------------------------------------- */

static int
caw_step(struct target_scsi_cmd *cmd)
{
	int r = dout_step(cmd);

	if (r == STEP_DONE)
		cmd->lu->caw_busy = false;
	return r;
}

static int
cmd_compare_and_write(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint64_t lba = get_be64(cmd->cdb + 2);
	uint32_t n = cmd->cdb[13];
	uint32_t max = MIN((uint32_t)CAW_MAX_BLOCKS, lu->max_xfer / 2);

	if (cmd->cdb[1] & 0xe0) {
		invalid_cdb(cmd);
		return 0;
	}
	if (n > max) {
		invalid_cdb(cmd);
		return 0;
	}
	if (lu->readonly) {
		write_protected(cmd);
		return 0;
	}
	if (range_bad(lu, lba, n)) {
		lba_out_of_range(cmd);
		return 0;
	}
	cmd->xfer_len = 2 * (n << lu->block_shift);
	/*
	 * SBC-3 5.2: the Data-Out is exactly the verify data then the write data, two times
	 * NUMBER OF LOGICAL BLOCKS. An initiator sending a different amount disagrees with its
	 * own CDB about the atomic unit (e.g. 256 blocks encoded into the one-byte field as 0):
	 * refuse rather than guess. Only a CDB of 0 blocks with no Data-Out is a no-op.
	 */
	if ((cmd->data_out ? cmd->data_out_len : 0) != cmd->xfer_len) {
		invalid_cdb(cmd);
		return 0;
	}
	if (n == 0) {
		target_scsi_good(cmd);
		return 0;
	}
	if (!scratch_blocks_bytes(cmd)) {
		internal_failure(cmd);
		return 0;
	}
	if (lu->caw_busy) {
		/* One COMPARE AND WRITE at a time per LU keeps compare+write atomic against
		 * the others while its I/O is in flight; the initiator retries on BUSY. */
		cmd->status = TARGET_SCSI_BUSY;
		cmd->sense_len = 0;
		return 0;
	}
	lu->caw_busy = true;
	cmd->lba = lba;
	cmd->nblocks = n;
	cmd->fua = (cmd->cdb[1] & 0x08) || !lu->wce;
	cmd->aux = DOUT_VERIFY | DOUT_CAW;
	return start(cmd, caw_step);
}

/*
 * ORWRITE: read a piece into scratch, OR the Data-Out into it, write it back; pieces follow
 * the Data-Out windows. Phases: 0 = start the piece at pos; 1 = read done; 2 = write done.
 */
static int
orwrite_step(struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = cmd->lu;
	uint64_t total = MIN((uint64_t)cmd->nblocks << lu->block_shift, dout_total(cmd));
	uint64_t off = (cmd->lba << lu->block_shift) + cmd->pos;
	const uint8_t *p;
	uint64_t avail, len;
	int r;

	switch (cmd->phase) {
	case 1: /* read done: OR in the Data-Out and write back */
		if (cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, false);
			return STEP_DONE;
		}
		if (dout_at(cmd, cmd->pos, &p, &avail) != 0 || avail < cmd->io.len) {
			internal_failure(cmd); /* the piece is in the window: cannot happen */
			return STEP_DONE;
		}
		for (uint64_t i = 0; i < cmd->io.len; i++)
			cmd->scratch[i] |= p[i];
		cmd->phase = 2;
		return issue(cmd, TARGET_BS_OP_WRITE, cmd->scratch, off, cmd->io.len, cmd->fua);
	case 2:
		if (cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, true);
			return STEP_DONE;
		}
		cmd->pos += cmd->io.len;
		off += cmd->io.len;
		break;
	}
	cmd->phase = 0;
	if (cmd->pos >= total) {
		target_scsi_good(cmd);
		return STEP_DONE;
	}
	r = dout_at(cmd, cmd->pos, &p, &avail);
	if (r == STEP_WAIT)
		return r;
	len = r ? 0 : piece_len(lu, MIN(avail, (uint64_t)scratch_blocks_bytes(cmd)),
				total - cmd->pos);
	if (!len) {
		internal_failure(cmd);
		return STEP_DONE;
	}
	cmd->phase = 1;
	return issue(cmd, TARGET_BS_OP_READ, cmd->scratch, off, len, false);
}

static int
cmd_orwrite(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint64_t lba = get_be64(cmd->cdb + 2);
	uint32_t n = get_be32(cmd->cdb + 10);

	if (cmd->cdb[1] & 0xe0) {
		invalid_cdb(cmd);
		return 0;
	}
	if (lu->readonly) {
		write_protected(cmd);
		return 0;
	}
	if (range_bad(lu, lba, n)) {
		lba_out_of_range(cmd);
		return 0;
	}
	cmd->xfer_len = xfer_bytes(lu, n);
	if (n == 0) {
		target_scsi_good(cmd);
		return 0;
	}
	if (dout_total(cmd) < ((uint64_t)n << lu->block_shift)) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_FIELD_IU);
		return 0;
	}
	if (!scratch_blocks_bytes(cmd)) {
		internal_failure(cmd);
		return 0;
	}
	cmd->lba = lba;
	cmd->nblocks = n;
	cmd->fua = (cmd->cdb[1] & 0x08) || !lu->wce;
	return start(cmd, orwrite_step);
}

/* ---- WRITE SAME, UNMAP ------------------------------------------------------------------- */

static int
ws_step(struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = cmd->lu;
	uint64_t total = (uint64_t)cmd->nblocks << lu->block_shift;
	const uint8_t *src;
	uint64_t chunk;

	if (cmd->phase == 1) {
		if (cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, true);
			return STEP_DONE;
		}
		cmd->pos += cmd->io.len;
	}
	if (cmd->phase == 2 || cmd->pos >= total) {
		/* phase 2: the DISCARD finished */
		if (cmd->phase == 2 && cmd->io.res < 0) {
			io_error(cmd, cmd->io.res, true);
			return STEP_DONE;
		}
		target_scsi_good(cmd);
		return STEP_DONE;
	}
	if (cmd->aux == 2) {
		cmd->phase = 2;
		return issue(cmd, TARGET_BS_OP_DISCARD, NULL, cmd->lba << lu->block_shift, total,
			     false);
	}
	/* aux: 1 = the scratch holds a repeated pattern; 0 = one block at a time from the
	 * Data-Out, 3 = one zero block at a time (NDOB without scratch). */
	if (cmd->aux == 1) {
		src = cmd->scratch;
		chunk = MIN(total - cmd->pos, (uint64_t)scratch_blocks_bytes(cmd));
	} else {
		src = cmd->aux == 3 ? scsi_zero_block : cmd->data_out;
		chunk = lu->block_size;
	}
	cmd->phase = 1;
	return issue(cmd, TARGET_BS_OP_WRITE, (void *)src, (cmd->lba << lu->block_shift) + cmd->pos,
		     chunk, cmd->fua);
}

static int
cmd_write_same(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ws16 = cdb[0] == OP_WRITE_SAME16;
	uint64_t lba = ws16 ? get_be64(cdb + 2) : get_be32(cdb + 2);
	uint64_t n = ws16 ? get_be32(cdb + 10) : get_be16(cdb + 7);
	bool unmap = cdb[1] & 0x08;
	bool anchor = cdb[1] & 0x10;
	bool ndob = ws16 && (cdb[1] & 0x01);
	uint32_t sbytes;

	/* WRPROTECT (no protection information), PBDATA/LBDATA (obsolete, unsupported),
	 * ANCHOR (ANC_SUP=0 in the logical block provisioning VPD page). */
	if ((cdb[1] & 0xe6) || anchor) {
		invalid_cdb(cmd);
		return 0;
	}
	if (lu->readonly) {
		write_protected(cmd);
		return 0;
	}
	if (lba > lu->nblocks) {
		lba_out_of_range(cmd);
		return 0;
	}
	if (n == 0)
		n = lu->nblocks - lba; /* SBC-3 5.45: 0 = to the last LBA (WSNZ=0) */
	if (range_bad(lu, lba, n)) {
		lba_out_of_range(cmd);
		return 0;
	}
	if (n > lu->max_ws) {
		invalid_cdb(cmd);
		return 0;
	}
	cmd->xfer_len = ndob ? 0 : lu->block_size;
	if (!ndob && (!cmd->data_out || cmd->data_out_len != lu->block_size)) {
		invalid_cdb(cmd);
		return 0;
	}
	cmd->lba = lba;
	cmd->nblocks = (uint32_t)n;
	cmd->fua = !lu->wce;
	if (n == 0) {
		target_scsi_good(cmd);
		return 0;
	}
	if (unmap && lu->thin) {
		/*
		 * SBC-3 5.43/5.44: UNMAP=1 asks the device server to unmap the range; it writes
		 * the data only when it cannot. Deallocated blocks read back as zeroes (LBPRZ),
		 * which is what libiscsi's WriteSame10.UnmapUntilEnd checks even with a non-zero
		 * Data-Out block. The Data-Out is still required and taken above.
		 */
		cmd->aux = 2;
		return start(cmd, ws_step);
	}
	sbytes = scratch_blocks_bytes(cmd);
	cmd->aux = 0;
	if (sbytes) {
		for (uint32_t off = 0; off < sbytes; off += lu->block_size) {
			if (ndob)
				memset(cmd->scratch + off, 0, lu->block_size);
			else
				memcpy(cmd->scratch + off, cmd->data_out, lu->block_size);
		}
		cmd->aux = 1;
	}
	if (ndob && !sbytes)
		cmd->aux = 3; /* block sizes are at most sizeof(scsi_zero_block) */
	return start(cmd, ws_step);
}

static int
unmap_step(struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = cmd->lu;
	const uint8_t *d;

	if (cmd->phase == 1 && cmd->io.res < 0) {
		io_error(cmd, cmd->io.res, true);
		return STEP_DONE;
	}
	/* aux = descriptor count, pos = next descriptor index */
	while (cmd->pos < cmd->aux) {
		uint64_t lba, cnt;

		d = cmd->data_out + 8 + cmd->pos * 16;
		cmd->pos++;
		lba = get_be64(d);
		cnt = get_be32(d + 8);
		if (!cnt)
			continue;
		cmd->phase = 1;
		return issue(cmd, TARGET_BS_OP_DISCARD, NULL, lba << lu->block_shift,
			     cnt << lu->block_shift, false);
	}
	target_scsi_good(cmd);
	return STEP_DONE;
}

static int
cmd_unmap(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint32_t plen = get_be16(cmd->cdb + 7);
	uint32_t bdlen, ndesc;
	const uint8_t *p = cmd->data_out;

	if (cmd->cdb[1] & 0x01) { /* ANCHOR: ANC_SUP=0 */
		invalid_cdb(cmd);
		return 0;
	}
	if (lu->readonly) {
		write_protected(cmd);
		return 0;
	}
	cmd->xfer_len = plen;
	if (plen == 0) {
		target_scsi_good(cmd); /* SBC-3 5.28: not an error */
		return 0;
	}
	plen = MIN(plen, p ? cmd->data_out_len : 0);
	if (plen < 8) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_PARAM_LIST_LENGTH);
		return 0;
	}
	bdlen = get_be16(p + 2);
	if (get_be16(p) + 2U > plen && get_be16(p) != 0) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_PARAM_LIST_LENGTH);
		return 0;
	}
	if (bdlen > plen - 8)
		bdlen = plen - 8;
	ndesc = bdlen / 16;
	if (ndesc > lu->max_unmap_descs) {
		invalid_param(cmd);
		return 0;
	}
	/* Validate every descriptor before deallocating anything. */
	for (uint32_t i = 0; i < ndesc; i++) {
		const uint8_t *d = p + 8 + i * 16;
		uint64_t lba = get_be64(d);
		uint32_t cnt = get_be32(d + 8);

		if (range_bad(lu, lba, cnt)) {
			lba_out_of_range(cmd);
			return 0;
		}
		if (cnt > lu->max_unmap) {
			invalid_param(cmd);
			return 0;
		}
	}
	cmd->aux = ndesc;
	return start(cmd, unmap_step);
}

/* ---- SYNCHRONIZE CACHE, PRE-FETCH, GET LBA STATUS ---------------------------------------- */

static int
flush_step(struct target_scsi_cmd *cmd)
{
	if (cmd->phase == 0) {
		cmd->phase = 1;
		return issue(cmd, TARGET_BS_OP_FLUSH, NULL, 0, 0, false);
	}
	if (cmd->io.res < 0)
		io_error(cmd, cmd->io.res, true);
	else
		target_scsi_good(cmd);
	return STEP_DONE;
}

static int
cmd_sync_cache(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	bool s16 = cmd->cdb[0] == OP_SYNC_CACHE16;
	uint64_t lba = s16 ? get_be64(cmd->cdb + 2) : get_be32(cmd->cdb + 2);
	uint64_t n = s16 ? get_be32(cmd->cdb + 10) : get_be16(cmd->cdb + 7);

	if (range_bad(lu, lba, n)) {
		lba_out_of_range(cmd);
		return 0;
	}
	/* IMMED may return before the flush; flushing first is also correct. */
	return start(cmd, flush_step);
}

static void
cmd_prefetch(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	bool p16 = cmd->cdb[0] == OP_PREFETCH16;
	uint64_t lba = p16 ? get_be64(cmd->cdb + 2) : get_be32(cmd->cdb + 2);
	uint64_t n = p16 ? get_be32(cmd->cdb + 10) : get_be16(cmd->cdb + 7);

	if (range_bad(lu, lba, n)) {
		lba_out_of_range(cmd);
		return;
	}
	/* SBC-3 5.9: GOOD when the blocks will not all be held in a cache; there is none. */
	target_scsi_good(cmd);
}

static void
cmd_get_lba_status(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	uint64_t lba = get_be64(cmd->cdb + 2);
	uint32_t alloc = get_be32(cmd->cdb + 10);
	uint8_t b[8 + 16 * 16];
	uint32_t n = 8;

	if (lba >= lu->nblocks) {
		lba_out_of_range(cmd);
		return;
	}
	memset(b, 0, sizeof(b));
	while (lba < lu->nblocks && n + 16 <= sizeof(b) && n + 16 <= MAX(alloc, 24U)) {
		uint64_t len;
		bool mapped;
		uint64_t blocks;

		if (target_bs_lba_status(lu->bs, lba << lu->block_shift, &len, &mapped) < 0) {
			mapped = true;
			len = (lu->nblocks - lba) << lu->block_shift;
		}
		blocks = len >> lu->block_shift;
		if (!blocks)
			blocks = 1;
		blocks = MIN(blocks, (uint64_t)0xffffffffU);
		put_be64(b + n, lba);
		put_be32(b + n + 8, (uint32_t)blocks);
		b[n + 12] = mapped ? 0 : 1;
		n += 16;
		lba += blocks;
	}
	put_be32(b, n - 4);
	target_scsi_data_in(cmd, b, MIN(n, alloc));
}

/* ---- MODE SENSE / SELECT ----------------------------------------------------------------- */

#define MODE_PC_CURRENT 0
#define MODE_PC_CHANGEABLE 1
#define MODE_PC_DEFAULT 2
#define MODE_PC_SAVED 3

static uint32_t
mode_page(struct target_lu *lu, uint8_t page, int pc, uint8_t *p)
{
	switch (page) {
	case 0x08: /* caching (SBC-3 6.4.5) */
		memset(p, 0, 20);
		p[0] = 0x08;
		p[1] = 0x12;
		if (pc == MODE_PC_CHANGEABLE)
			p[2] = 0x04;
		else if (pc == MODE_PC_DEFAULT)
			p[2] = 0x04; /* default: write cache enabled */
		else
			p[2] = lu->wce ? 0x04 : 0;
		return 20;
	case 0x0a: /* control (SPC-4 7.5.8) */
		memset(p, 0, 12);
		p[0] = 0x0a;
		p[1] = 0x0a;
		if (pc == MODE_PC_CHANGEABLE)
			return 12;
		p[2] = 0x02;	 /* GLTSD: no implicit log parameter saving */
		p[3] = 0x10;	 /* unrestricted reordering, QERR 0 */
		p[4] = 0;	 /* SWP 0 */
		p[5] = 0x40;	 /* TAS: aborted tasks get TASK ABORTED */
		put_be16(p + 8, 0xffff); /* busy timeout: unlimited */
		return 12;
	case 0x1c: /* informational exceptions control (SPC-4 7.5.12) */
		memset(p, 0, 12);
		p[0] = 0x1c;
		p[1] = 0x0a;
		if (pc != MODE_PC_CHANGEABLE)
			p[2] = 0x08; /* DEXCPT: no informational exceptions */
		return 12;
	}
	return 0;
}

static const uint8_t mode_pages[] = { 0x08, 0x0a, 0x1c };

static void
cmd_mode_sense(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	bool ten = cmd->cdb[0] == OP_MODE_SENSE10;
	bool dbd = cmd->cdb[1] & 0x08;
	bool llbaa = ten && (cmd->cdb[1] & 0x10);
	int pc = cmd->cdb[2] >> 6;
	uint8_t page = cmd->cdb[2] & 0x3f;
	uint8_t subpage = cmd->cdb[3];
	uint32_t alloc = ten ? get_be16(cmd->cdb + 7) : cmd->cdb[4];
	uint8_t b[256];
	uint32_t hdr = ten ? 8 : 4;
	uint32_t n = hdr;
	uint32_t bdlen = 0;

	if (pc == MODE_PC_SAVED) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_SAVING_NOT_SUPPORTED);
		return;
	}
	if (subpage && !(page == 0x3f && subpage == 0xff)) {
		invalid_cdb(cmd);
		return;
	}
	memset(b, 0, sizeof(b));
	if (!dbd) {
		uint8_t *d = b + hdr;

		if (llbaa) {
			put_be64(d, lu->nblocks);
			put_be32(d + 12, lu->block_size);
			bdlen = 16;
		} else {
			put_be32(d, lu->nblocks > 0xffffffffULL ? 0xffffffffU :
								(uint32_t)lu->nblocks);
			put_be24(d + 5, lu->block_size);
			bdlen = 8;
		}
		n += bdlen;
	}
	if (page == 0x3f) {
		for (size_t i = 0; i < sizeof(mode_pages); i++)
			n += mode_page(lu, mode_pages[i], pc, b + n);
	} else {
		uint32_t l = mode_page(lu, page, pc, b + n);

		if (!l) {
			invalid_cdb(cmd);
			return;
		}
		n += l;
	}
	/* Device-specific parameter: WP, DPOFUA (SBC-3 6.4.2). */
	if (ten) {
		put_be16(b, (uint16_t)(n - 2));
		b[3] = (lu->readonly ? 0x80 : 0) | 0x10;
		b[4] = llbaa && bdlen ? 0x01 : 0;
		put_be16(b + 6, (uint16_t)bdlen);
	} else {
		b[0] = (uint8_t)(n - 1);
		b[2] = (lu->readonly ? 0x80 : 0) | 0x10;
		b[3] = (uint8_t)bdlen;
	}
	target_scsi_data_in(cmd, b, MIN(n, alloc));
}

static void
cmd_mode_select(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	bool ten = cmd->cdb[0] == OP_MODE_SELECT10;
	uint32_t plen = ten ? get_be16(cmd->cdb + 7) : cmd->cdb[4];
	uint32_t hdr = ten ? 8 : 4;
	const uint8_t *p = cmd->data_out;
	uint32_t bdlen, off;
	bool wce = lu->wce;

	/* PF must be 1 (only standard pages), SP must be 0 (nothing is saveable). */
	if (!(cmd->cdb[1] & 0x10) || (cmd->cdb[1] & 0x01)) {
		invalid_cdb(cmd);
		return;
	}
	cmd->xfer_len = plen;
	if (plen == 0) {
		target_scsi_good(cmd);
		return;
	}
	if (!p || cmd->data_out_len < plen || plen < hdr) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_PARAM_LIST_LENGTH);
		return;
	}
	bdlen = ten ? get_be16(p + 6) : p[3];
	if (hdr + bdlen > plen) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_PARAM_LIST_LENGTH);
		return;
	}
	if (bdlen) {
		/* A block descriptor may only restate the current block length. */
		const uint8_t *d = p + hdr;
		uint32_t blen = bdlen == 16 ? get_be32(d + 12) : get_be24(d + 5);

		if ((bdlen != 8 && bdlen != 16) || blen != lu->block_size) {
			invalid_param(cmd);
			return;
		}
	}
	for (off = hdr + bdlen; off < plen;) {
		uint8_t cur[20], chg[20];
		uint8_t page = p[off] & 0x3f;
		uint32_t len, l;

		if (p[off] & 0x40 || off + 2 > plen) { /* SPF: no subpages */
			invalid_param(cmd);
			return;
		}
		len = p[off + 1] + 2U;
		if (off + len > plen) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_PARAM_LIST_LENGTH);
			return;
		}
		l = mode_page(lu, page, MODE_PC_CURRENT, cur);
		mode_page(lu, page, MODE_PC_CHANGEABLE, chg);
		if (!l || len != l) {
			invalid_param(cmd);
			return;
		}
		for (uint32_t i = 2; i < l; i++) {
			if ((p[off + i] ^ cur[i]) & ~chg[i]) {
				invalid_param(cmd);
				return;
			}
		}
		if (page == 0x08)
			wce = p[off + 2] & 0x04;
		off += len;
	}
	if (wce != lu->wce) {
		lu->wce = wce;
		/* SPC-4 7.5.1: other I_T nexuses learn of changed mode parameters. */
		target_lu_ua_all(lu, target_scsi_cmd_slot(cmd), TARGET_ASC_MODE_PARAMS_CHANGED);
	}
	target_scsi_good(cmd);
}

/* ---- REPORT LUNS, REQUEST SENSE ---------------------------------------------------------- */

static void
encode_lun(uint8_t *d, unsigned lun)
{
	memset(d, 0, 8);
	if (lun < 256) {
		d[1] = (uint8_t)lun; /* peripheral device addressing */
	} else {
		d[0] = (uint8_t)(0x40 | (lun >> 8)); /* flat space addressing */
		d[1] = (uint8_t)lun;
	}
}

static void
report_luns(struct target_scsi_tgt *tgt, struct target_lu *self, struct target_scsi_cmd *cmd)
{
	uint8_t sel = cmd->cdb[2];
	uint32_t alloc = get_be32(cmd->cdb + 6);
	uint32_t n = 8, cap;
	uint32_t count = 0;

	/* SPC-4 6.27: allocation length below 16 is an error; SELECT REPORT 0, 1, 2. */
	if (alloc < 16 || sel > 2) {
		invalid_cdb(cmd);
		return;
	}
	cap = cmd->data_in ? cmd->data_in_cap : 0;
	cap = MIN(cap, alloc);
	if (sel != 1) {
		if (tgt) {
			for (unsigned l = 0; l < TARGET_SCSI_MAX_LUNS; l++) {
				uint8_t d[8];

				if (!tgt->luns[l])
					continue;
				encode_lun(d, l);
				if (n + 8 <= cap)
					memcpy(cmd->data_in + n, d, 8);
				n += 8;
				count++;
			}
		} else if (self) {
			if (n + 8 <= cap)
				memset(cmd->data_in + n, 0, 8);
			n += 8;
			count++;
		}
	}
	if (cap >= 8) {
		put_be32(cmd->data_in, count * 8);
		memset(cmd->data_in + 4, 0, 4);
	} else if (cap) {
		uint8_t h[8];

		put_be32(h, count * 8);
		memset(h + 4, 0, 4);
		memcpy(cmd->data_in, h, cap);
	}
	target_scsi_good(cmd);
	cmd->xfer_len = MIN(n, alloc);
	cmd->data_in_len = MIN(cap, cmd->xfer_len);
	/* SPC-4 6.27: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for the nexus. */
	if (self) {
		int slot = target_scsi_cmd_slot(cmd);

		if (slot >= 0 && (unsigned)slot < self->max_nexus) {
			struct target_lu_ua *ua = &self->ua[slot];
			uint8_t k = 0;

			for (uint8_t i = 0; i < ua->n; i++)
				if (ua->asc[i] != TARGET_ASC_REPORTED_LUNS_CHANGED)
					ua->asc[k++] = ua->asc[i];
			ua->n = k;
		}
	}
}

static void
request_sense(struct target_lu *lu, struct target_scsi_cmd *cmd, uint16_t asc_nolu)
{
	uint8_t s[18];
	uint8_t alloc = cmd->cdb[4];

	if (cmd->cdb[1] & 0x01) { /* DESC: descriptor format is not supported */
		invalid_cdb(cmd);
		return;
	}
	if (!lu) {
		sense_fill(s, TARGET_SENSE_ILLEGAL_REQUEST, asc_nolu, false, 0);
	} else {
		int slot = target_scsi_cmd_slot(cmd);
		struct target_lu_ua *ua = slot >= 0 && (unsigned)slot < lu->max_nexus ?
						  &lu->ua[slot] :
						  NULL;

		if (ua && ua->n) {
			/* SPC-4 5.10: REQUEST SENSE reports and clears the oldest UA. */
			sense_fill(s, TARGET_SENSE_UNIT_ATTENTION, ua->asc[0], false, 0);
			memmove(ua->asc, ua->asc + 1, (size_t)(ua->n - 1) * sizeof(ua->asc[0]));
			ua->n--;
		} else {
			sense_fill(s, TARGET_SENSE_NO_SENSE, TARGET_ASC_NONE, false, 0);
		}
	}
	target_scsi_data_in(cmd, s, MIN((uint32_t)alloc, 18U));
}

/* ---- REPORT SUPPORTED OPERATION CODES / TMFs --------------------------------------------- */

/* What the dispatcher needs to know about each command. */
struct scsi_cmd_desc {
	uint8_t op;
	uint16_t sa;	     /* service action, 0xffff when the opcode has none */
	uint8_t cls;	     /* enum target_pr_class */
	uint8_t len;	     /* CDB length */
	uint8_t usage[16];   /* CDB usage data (SPC-4 6.35.3), usage[0] = op */
	bool thin_only;      /* only when logical block provisioning is on */
};

#define NO_SA 0xffff

static const struct scsi_cmd_desc cmd_table[] = {
	{ OP_TEST_UNIT_READY, NO_SA, TARGET_PR_ALLOWED, 6, { 0x00, 0, 0, 0, 0, 0 }, false },
	{ OP_REQUEST_SENSE, NO_SA, TARGET_PR_ALLOWED, 6, { 0x03, 0x01, 0, 0, 0xff, 0 }, false },
	{ OP_READ6, NO_SA, TARGET_PR_READ, 6, { 0x08, 0x1f, 0xff, 0xff, 0xff, 0 }, false },
	{ OP_WRITE6, NO_SA, TARGET_PR_WRITE, 6, { 0x0a, 0x1f, 0xff, 0xff, 0xff, 0 }, false },
	{ OP_INQUIRY, NO_SA, TARGET_PR_ALLOWED, 6, { 0x12, 0x01, 0xff, 0xff, 0xff, 0 }, false },
	{ OP_MODE_SELECT6, NO_SA, TARGET_PR_WRITE, 6, { 0x15, 0x11, 0, 0, 0xff, 0 }, false },
	{ OP_RESERVE6, NO_SA, TARGET_PR_SPC2, 6, { 0x16, 0, 0, 0, 0, 0 }, false },
	{ OP_RELEASE6, NO_SA, TARGET_PR_SPC2, 6, { 0x17, 0, 0, 0, 0, 0 }, false },
	{ OP_MODE_SENSE6, NO_SA, TARGET_PR_READ, 6, { 0x1a, 0x08, 0xff, 0xff, 0xff, 0 }, false },
	{ OP_START_STOP, NO_SA, TARGET_PR_WRITE, 6, { 0x1b, 0x01, 0, 0x0f, 0xf7, 0 }, false },
	{ OP_PREVENT_ALLOW, NO_SA, TARGET_PR_WRITE, 6, { 0x1e, 0, 0, 0, 0x03, 0 }, false },
	{ OP_READ_CAPACITY10, NO_SA, TARGET_PR_ALLOWED, 10,
	  { 0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0 }, false },
	{ OP_READ10, NO_SA, TARGET_PR_READ, 10,
	  { 0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_WRITE10, NO_SA, TARGET_PR_WRITE, 10,
	  { 0x2a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_WRITE_VERIFY10, NO_SA, TARGET_PR_WRITE, 10,
	  { 0x2e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_VERIFY10, NO_SA, TARGET_PR_READ, 10,
	  { 0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_PREFETCH10, NO_SA, TARGET_PR_READ, 10,
	  { 0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_SYNC_CACHE10, NO_SA, TARGET_PR_WRITE, 10,
	  { 0x35, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_WRITE_SAME10, NO_SA, TARGET_PR_WRITE, 10,
	  { 0x41, 0xfe, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0 }, false },
	{ OP_UNMAP, NO_SA, TARGET_PR_WRITE, 10, { 0x42, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0 },
	  true },
	{ OP_MODE_SELECT10, NO_SA, TARGET_PR_WRITE, 10,
	  { 0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0 }, false },
	{ OP_RESERVE10, NO_SA, TARGET_PR_SPC2, 10, { 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, false },
	{ OP_RELEASE10, NO_SA, TARGET_PR_SPC2, 10, { 0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, false },
	{ OP_MODE_SENSE10, NO_SA, TARGET_PR_READ, 10,
	  { 0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0 }, false },
	{ OP_PR_IN, 0x00, TARGET_PR_ALLOWED, 10, { 0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0 },
	  false },
	{ OP_PR_IN, 0x01, TARGET_PR_ALLOWED, 10, { 0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0 },
	  false },
	{ OP_PR_IN, 0x02, TARGET_PR_ALLOWED, 10, { 0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0 },
	  false },
	{ OP_PR_IN, 0x03, TARGET_PR_ALLOWED, 10, { 0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0 },
	  false },
#define PROUT_DESC(sa)                                                                     \
	{ OP_PR_OUT, sa, TARGET_PR_PROUT, 10,                                              \
	  { 0x5f, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 }, false }
	PROUT_DESC(0x00),
	PROUT_DESC(0x01),
	PROUT_DESC(0x02),
	PROUT_DESC(0x03),
	PROUT_DESC(0x04),
	PROUT_DESC(0x05),
	PROUT_DESC(0x06),
	PROUT_DESC(0x07),
#undef PROUT_DESC
	{ OP_READ16, NO_SA, TARGET_PR_READ, 16,
	  { 0x88, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_COMPARE_WRITE, NO_SA, TARGET_PR_WRITE, 16,
	  { 0x89, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0, 0 },
	  false },
	{ OP_WRITE16, NO_SA, TARGET_PR_WRITE, 16,
	  { 0x8a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_ORWRITE16, NO_SA, TARGET_PR_WRITE, 16,
	  { 0x8b, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_WRITE_VERIFY16, NO_SA, TARGET_PR_WRITE, 16,
	  { 0x8e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_VERIFY16, NO_SA, TARGET_PR_READ, 16,
	  { 0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_PREFETCH16, NO_SA, TARGET_PR_READ, 16,
	  { 0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_SYNC_CACHE16, NO_SA, TARGET_PR_WRITE, 16,
	  { 0x91, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_WRITE_SAME16, NO_SA, TARGET_PR_WRITE, 16,
	  { 0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, false },
	{ OP_SERVICE_IN16, SA_READ_CAPACITY16, TARGET_PR_ALLOWED, 16,
	  { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_SERVICE_IN16, SA_GET_LBA_STATUS, TARGET_PR_READ, 16,
	  { 0x9e, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0 }, true },
	{ OP_REPORT_LUNS, NO_SA, TARGET_PR_ALLOWED, 12,
	  { 0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_MAINT_IN, SA_REPORT_OPCODES, TARGET_PR_ALLOWED, 12,
	  { 0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_MAINT_IN, SA_REPORT_TMFS, TARGET_PR_ALLOWED, 12,
	  { 0xa3, 0x0d, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_READ12, NO_SA, TARGET_PR_READ, 12,
	  { 0xa8, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_WRITE12, NO_SA, TARGET_PR_WRITE, 12,
	  { 0xaa, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_WRITE_VERIFY12, NO_SA, TARGET_PR_WRITE, 12,
	  { 0xae, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
	{ OP_VERIFY12, NO_SA, TARGET_PR_READ, 12,
	  { 0xaf, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 }, false },
};

static bool
opcode_has_sa(uint8_t op)
{
	return op == OP_PR_IN || op == OP_PR_OUT || op == OP_SERVICE_IN16 || op == OP_MAINT_IN;
}

/* Service action of a CDB for opcodes that have them. */
static uint16_t
cdb_sa(const uint8_t *cdb)
{
	return opcode_has_sa(cdb[0]) ? cdb[1] & 0x1f : NO_SA;
}

static const struct scsi_cmd_desc *
find_desc(struct target_lu *lu, uint8_t op, uint16_t sa)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmd_table); i++) {
		const struct scsi_cmd_desc *d = &cmd_table[i];

		if (d->op != op || (d->sa != NO_SA && d->sa != sa))
			continue;
		if (d->thin_only && lu && !lu->thin)
			return NULL;
		return d;
	}
	return NULL;
}

static uint32_t
put_timeouts(uint8_t *p)
{
	memset(p, 0, 12);
	put_be16(p, 0x0a);
	put_be32(p + 4, 0);	/* nominal: not specified */
	put_be32(p + 8, 30);	/* recommended: 30 s */
	return 12;
}

static void
cmd_report_opcodes(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	bool rctd = cmd->cdb[2] & 0x80;
	uint8_t opt = cmd->cdb[2] & 0x07;
	uint8_t rop = cmd->cdb[3];
	uint16_t rsa = get_be16(cmd->cdb + 4);
	uint32_t alloc = get_be32(cmd->cdb + 6);
	uint8_t b[2048];
	uint32_t n = 0;

	if (opt == 0) {
		n = 4;
		for (size_t i = 0; i < ARRAY_SIZE(cmd_table); i++) {
			const struct scsi_cmd_desc *d = &cmd_table[i];

			if (d->thin_only && !lu->thin)
				continue;
			memset(b + n, 0, 8);
			b[n] = d->op;
			put_be16(b + n + 2, d->sa == NO_SA ? 0 : d->sa);
			b[n + 5] = (d->sa != NO_SA ? 0x01 : 0) | (rctd ? 0x02 : 0);
			put_be16(b + n + 6, d->len);
			n += 8;
			if (rctd)
				n += put_timeouts(b + n);
		}
		put_be32(b, n - 4);
	} else if (opt <= 3) {
		const struct scsi_cmd_desc *d = NULL;
		bool has_sa = opcode_has_sa(rop);

		/* 1: opcode without service actions; 2: opcode + service action; 3: either. */
		if ((opt == 1 && has_sa) || (opt == 2 && !has_sa)) {
			invalid_cdb(cmd);
			return;
		}
		if (!has_sa || rsa <= 0x1f)
			d = find_desc(lu, rop, has_sa ? rsa : NO_SA);
		memset(b, 0, 4);
		if (!d) {
			b[1] = 0x01; /* not supported */
			n = 4;
		} else {
			b[1] = 0x03 | (rctd ? 0x80 : 0); /* supported per standard */
			put_be16(b + 2, d->len);
			memcpy(b + 4, d->usage, d->len);
			n = 4 + d->len;
			if (rctd)
				n += put_timeouts(b + n);
		}
	} else {
		invalid_cdb(cmd);
		return;
	}
	target_scsi_data_in(cmd, b, MIN(n, alloc));
}

static void
cmd_report_tmfs(struct target_scsi_cmd *cmd)
{
	uint8_t b[16];
	bool repd = cmd->cdb[2] & 0x80;
	uint32_t alloc = get_be32(cmd->cdb + 6);

	memset(b, 0, sizeof(b));
	/* ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET RESET. */
	b[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02;
	if (repd)
		b[3] = 0x0c;
	target_scsi_data_in(cmd, b, MIN(repd ? 16U : 4U, alloc));
}

/* ---- dispatch ---------------------------------------------------------------------------- */

/* Reports (and dequeues) a pending unit attention; returns true if it did. */
static bool
check_ua(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	int slot = target_scsi_cmd_slot(cmd);
	struct target_lu_ua *ua;
	uint16_t asc;

	if (slot < 0 || (unsigned)slot >= lu->max_nexus)
		return false;
	ua = &lu->ua[slot];
	if (!ua->n)
		return false;
	asc = ua->asc[0];
	memmove(ua->asc, ua->asc + 1, (size_t)(ua->n - 1) * sizeof(ua->asc[0]));
	ua->n--;
	target_scsi_set_sense(cmd, TARGET_SENSE_UNIT_ATTENTION, asc);
	return true;
}

static void
cmd_start_stop(struct target_scsi_cmd *cmd)
{
	uint8_t pc = cmd->cdb[4] >> 4;

	/* Power conditions 0 (START/LOEJ), 1 active, 2 idle, 3 standby, 7 LU control,
	 * 0xa/0xb force idle/standby are defined; the rest are reserved. */
	if ((pc > 3 && pc != 7 && pc != 0xa && pc != 0xb)) {
		invalid_cdb(cmd);
		return;
	}
	target_scsi_good(cmd);
}

static void
reset_results(struct target_scsi_cmd *cmd)
{
	cmd->status = TARGET_SCSI_GOOD;
	cmd->sense_len = 0;
	cmd->data_in_len = 0;
	cmd->xfer_len = 0;
	cmd->buf_off = 0;
}

int
target_lu_exec(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	const struct scsi_cmd_desc *d;
	uint8_t op = cdb[0];
	int slot = target_scsi_cmd_slot(cmd);

	reset_results(cmd);
	cmd->lu = lu;
	if (cmd->cdb_len > TARGET_SCSI_CDB_MAX) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_OPCODE);
		return 0;
	}
	d = find_desc(lu, op, cdb_sa(cdb));
	if (!d) {
		/* An unknown service action of a known opcode is an invalid field. */
		if (opcode_has_sa(op))
			invalid_cdb(cmd);
		else
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INVALID_OPCODE);
		return 0;
	}
	/* SPC-4 5.10 / SAM-5 5.14: INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor
	 * clear unit attentions (REQUEST SENSE reports it as sense data). */
	if (op != OP_INQUIRY && op != OP_REPORT_LUNS && op != OP_REQUEST_SENSE &&
	    check_ua(lu, cmd))
		return 0;
	if (target_pr_conflict(lu, slot, (enum target_pr_class)d->cls) &&
	    !(op == OP_START_STOP && (cdb[4] & 0xf1) == 0x01)) {
		cmd->status = TARGET_SCSI_RESERVATION_CONFLICT;
		return 0;
	}

	switch (op) {
	case OP_TEST_UNIT_READY:
		target_scsi_good(cmd);
		return 0;
	case OP_REQUEST_SENSE:
		request_sense(lu, cmd, 0);
		return 0;
	case OP_INQUIRY:
		cmd_inquiry(lu, cmd);
		return 0;
	case OP_READ_CAPACITY10:
		cmd_read_capacity10(lu, cmd);
		return 0;
	case OP_SERVICE_IN16:
		if ((cdb[1] & 0x1f) == SA_READ_CAPACITY16)
			cmd_read_capacity16(lu, cmd);
		else
			cmd_get_lba_status(lu, cmd);
		return 0;
	case OP_READ6:
	case OP_READ10:
	case OP_READ12:
	case OP_READ16:
	case OP_WRITE6:
	case OP_WRITE10:
	case OP_WRITE12:
	case OP_WRITE16:
	case OP_WRITE_VERIFY10:
	case OP_WRITE_VERIFY12:
	case OP_WRITE_VERIFY16:
	case OP_VERIFY10:
	case OP_VERIFY12:
	case OP_VERIFY16:
		return cmd_rw(lu, cmd);
	case OP_COMPARE_WRITE:
		return cmd_compare_and_write(lu, cmd);
	case OP_ORWRITE16:
		return cmd_orwrite(lu, cmd);
	case OP_WRITE_SAME10:
	case OP_WRITE_SAME16:
		return cmd_write_same(lu, cmd);
	case OP_UNMAP:
		return cmd_unmap(lu, cmd);
	case OP_SYNC_CACHE10:
	case OP_SYNC_CACHE16:
		return cmd_sync_cache(lu, cmd);
	case OP_PREFETCH10:
	case OP_PREFETCH16:
		cmd_prefetch(lu, cmd);
		return 0;
	case OP_MODE_SENSE6:
	case OP_MODE_SENSE10:
		cmd_mode_sense(lu, cmd);
		return 0;
	case OP_MODE_SELECT6:
	case OP_MODE_SELECT10:
		cmd_mode_select(lu, cmd);
		return 0;
	case OP_REPORT_LUNS:
		report_luns(lu->tgt, lu, cmd);
		return 0;
	case OP_MAINT_IN:
		if ((cdb[1] & 0x1f) == SA_REPORT_OPCODES)
			cmd_report_opcodes(lu, cmd);
		else
			cmd_report_tmfs(cmd);
		return 0;
	case OP_START_STOP:
		cmd_start_stop(cmd);
		return 0;
	case OP_PREVENT_ALLOW:
		target_scsi_good(cmd);
		return 0;
	case OP_PR_IN:
		target_pr_in(lu, cmd);
		return 0;
	case OP_PR_OUT:
		target_pr_out(lu, cmd);
		return 0;
	case OP_RESERVE6:
	case OP_RESERVE10:
		target_pr_reserve6(lu, cmd);
		return 0;
	case OP_RELEASE6:
	case OP_RELEASE10:
		target_pr_release6(lu, cmd);
		return 0;
	}
	target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_OPCODE);
	return 0;
}

struct target_lu *
target_scsi_tgt_lookup(struct target_scsi_tgt *tgt, uint64_t lun)
{
	unsigned n;

	/* SAM-5 4.7: single level, peripheral (00b) or flat (01b) addressing. */
	if (lun & 0x0000ffffffffffffULL)
		return NULL;
	switch (lun >> 62) {
	case 0:
		if ((lun >> 56) & 0x3f)
			return NULL; /* bus identifier must be 0 */
		n = (unsigned)(lun >> 48) & 0xff;
		break;
	case 1:
		n = (unsigned)(lun >> 48) & 0x3fff;
		break;
	default:
		return NULL;
	}
	return n < TARGET_SCSI_MAX_LUNS ? tgt->luns[n] : NULL;
}

int
target_scsi_exec(struct target_scsi_tgt *tgt, struct target_scsi_cmd *cmd)
{
	struct target_lu *lu = target_scsi_tgt_lookup(tgt, cmd->lun);

	if (lu)
		return target_lu_exec(lu, cmd);
	reset_results(cmd);
	cmd->lu = NULL;
	switch (cmd->cdb[0]) {
	case OP_REPORT_LUNS:
		report_luns(tgt, NULL, cmd);
		break;
	case OP_INQUIRY: {
		uint8_t b[96];
		uint16_t alloc = get_be16(cmd->cdb + 3);

		if ((cmd->cdb[1] & 0x01) || cmd->cdb[2]) {
			/* VPD pages of a LUN that does not exist: none. */
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_LU_NOT_SUPPORTED);
			break;
		}
		memset(b, 0, sizeof(b));
		/* SPC-4 6.6.2: qualifier 011b, device type 1Fh: no LU at this LUN. */
		b[0] = 0x7f;
		b[2] = 0x06;
		b[3] = 0x12;
		b[4] = 96 - 5;
		put_padded(b + 8, "BALLAST", 8);
		put_padded(b + 16, "NO-LUN", 16);
		put_padded(b + 32, "0001", 4);
		target_scsi_data_in(cmd, b, MIN(96U, (uint32_t)alloc));
		break;
	}
	case OP_REQUEST_SENSE:
		request_sense(NULL, cmd, TARGET_ASC_LU_NOT_SUPPORTED);
		break;
	default:
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_LU_NOT_SUPPORTED);
		break;
	}
	return 0;
}
