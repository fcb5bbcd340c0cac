/*
 * PDU codec: every opcode round-trips, hand-built wire bytes decode to the RFC 7143 section 11
 * offsets, each validation rule yields its defect and Reject reason, AHS build/parse, length
 * boundaries, digests and the name tables.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "common/pdu.h"
#include "tests/unit/unit.h"

static const uint8_t all_opcodes[] = {
	PDU_OP_NOP_OUT,	 PDU_OP_SCSI_CMD,   PDU_OP_TMF_REQ,	PDU_OP_LOGIN_REQ, PDU_OP_TEXT_REQ,
	PDU_OP_DATA_OUT, PDU_OP_LOGOUT_REQ, PDU_OP_SNACK,	PDU_OP_NOP_IN,	  PDU_OP_SCSI_RSP,
	PDU_OP_TMF_RSP,	 PDU_OP_LOGIN_RSP,  PDU_OP_TEXT_RSP,	PDU_OP_DATA_IN,	  PDU_OP_LOGOUT_RSP,
	PDU_OP_R2T,	 PDU_OP_ASYNC,	    PDU_OP_REJECT,
};

static enum pdu_side
side_for(uint8_t op)
{
	return op < PDU_OP_NOP_IN ? PDU_SIDE_TARGET : PDU_SIDE_INITIATOR;
}

/*
 * A valid header for `op` with every field of its member set to a distinct value. 32-bit
 * fields use a marker naming their RFC 7143 offset: 0xa1a2a3a4 lives at byte 20, 0xb1.. at 24,
 * 0xc1.. at 28, 0xd1.. at 32, 0xe1.. at 36, 0xf1.. at 40, 0x01020304 at 44.
 */
static void
make_hdr(uint8_t op, struct pdu_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->opcode = op;
	h->flags = PDU_FLAG_FINAL;
	h->itt = 0x11223344;
	h->lun = 0x0001000000000000ull;
	switch (op) {
	case PDU_OP_NOP_OUT:
		h->immediate = true;
		h->data_len = 10;
		h->nop_out.ttt = 0xa1a2a3a4;
		h->nop_out.cmdsn = 0xb1b2b3b4;
		h->nop_out.expstatsn = 0xc1c2c3c4;
		break;
	case PDU_OP_NOP_IN:
		h->data_len = 10;
		h->nop_in.ttt = 0xa1a2a3a4;
		h->nop_in.statsn = 0xb1b2b3b4;
		h->nop_in.expcmdsn = 0xc1c2c3c4;
		h->nop_in.maxcmdsn = 0xd1d2d3d4;
		break;
	case PDU_OP_SCSI_CMD:
		h->flags = PDU_FLAG_FINAL | PDU_SCSI_WRITE | PDU_ATTR_SIMPLE;
		h->ahs_words = 5;
		h->data_len = 4096;
		h->scsi_cmd.edtl = 65536;
		h->scsi_cmd.cmdsn = 0xb1b2b3b4;
		h->scsi_cmd.expstatsn = 0xc1c2c3c4;
		for (int i = 0; i < 16; i++)
			h->scsi_cmd.cdb[i] = (uint8_t)(0x80 + i);
		break;
	case PDU_OP_SCSI_RSP:
		h->lun = 0;
		h->flags = PDU_FLAG_FINAL | PDU_RSP_UNDERFLOW | PDU_RSP_BIDI_OVERFLOW;
		h->data_len = 18;
		h->scsi_rsp.response = 1;
		h->scsi_rsp.status = 2;
		h->scsi_rsp.snack_tag = 0xa1a2a3a4;
		h->scsi_rsp.statsn = 0xb1b2b3b4;
		h->scsi_rsp.expcmdsn = 0xc1c2c3c4;
		h->scsi_rsp.maxcmdsn = 0xd1d2d3d4;
		h->scsi_rsp.expdatasn = 0xe1e2e3e4;
		h->scsi_rsp.bidi_residual = 0xf1f2f3f4;
		h->scsi_rsp.residual = 0x01020304;
		break;
	case PDU_OP_TMF_REQ:
		h->immediate = true;
		h->flags = PDU_FLAG_FINAL | PDU_TMF_ABORT_TASK;
		h->tmf_req.function = PDU_TMF_ABORT_TASK;
		h->tmf_req.rtt = 0xa1a2a3a4;
		h->tmf_req.cmdsn = 0xb1b2b3b4;
		h->tmf_req.expstatsn = 0xc1c2c3c4;
		h->tmf_req.refcmdsn = 0xd1d2d3d4;
		h->tmf_req.expdatasn = 0xe1e2e3e4;
		break;
	case PDU_OP_TMF_RSP:
		h->lun = 0;
		h->tmf_rsp.response = PDU_TMF_RSP_NO_TASK;
		h->tmf_rsp.statsn = 0xb1b2b3b4;
		h->tmf_rsp.expcmdsn = 0xc1c2c3c4;
		h->tmf_rsp.maxcmdsn = 0xd1d2d3d4;
		break;
	case PDU_OP_LOGIN_REQ: {
		static const uint8_t isid[6] = { 0x80, 0x12, 0x34, 0x56, 0x78, 0x9a };
		h->immediate = true;
		h->flags = PDU_LOGIN_TRANSIT | PDU_STAGE_OPERATIONAL << PDU_LOGIN_CSG_SHIFT |
			   PDU_STAGE_FULL_FEATURE;
		h->data_len = 300;
		memcpy(h->login_req.isid, isid, 6);
		h->login_req.tsih = 0xabcd;
		h->lun = 0x80123456789aabcdull;
		h->login_req.version_max = 0;
		h->login_req.version_min = 0;
		h->login_req.cid = 0x0102;
		h->login_req.cmdsn = 0xb1b2b3b4;
		h->login_req.expstatsn = 0xc1c2c3c4;
		break;
	}
	case PDU_OP_LOGIN_RSP: {
		static const uint8_t isid[6] = { 0x40, 0x00, 0x01, 0x37, 0x00, 0x01 };
		h->flags = PDU_LOGIN_TRANSIT | PDU_STAGE_SECURITY << PDU_LOGIN_CSG_SHIFT |
			   PDU_STAGE_OPERATIONAL;
		h->data_len = 200;
		memcpy(h->login_rsp.isid, isid, 6);
		h->login_rsp.tsih = 0x0007;
		h->lun = 0x4000013700010007ull;
		h->login_rsp.version_max = 0;
		h->login_rsp.version_active = 0;
		h->login_rsp.statsn = 0xb1b2b3b4;
		h->login_rsp.expcmdsn = 0xc1c2c3c4;
		h->login_rsp.maxcmdsn = 0xd1d2d3d4;
		h->login_rsp.status = PDU_LOGIN_SUCCESS;
		break;
	}
	case PDU_OP_TEXT_REQ:
		h->immediate = true;
		h->data_len = 17;
		h->text_req.ttt = 0xffffffff;
		h->text_req.cmdsn = 0xb1b2b3b4;
		h->text_req.expstatsn = 0xc1c2c3c4;
		break;
	case PDU_OP_TEXT_RSP:
		h->flags = PDU_TEXT_CONTINUE;
		h->data_len = 8192;
		h->text_rsp.ttt = 0xa1a2a3a4;
		h->text_rsp.statsn = 0xb1b2b3b4;
		h->text_rsp.expcmdsn = 0xc1c2c3c4;
		h->text_rsp.maxcmdsn = 0xd1d2d3d4;
		break;
	case PDU_OP_DATA_OUT:
		h->data_len = 8192;
		h->data_out.ttt = 0xa1a2a3a4;
		h->data_out.expstatsn = 0xc1c2c3c4;
		h->data_out.datasn = 0xe1e2e3e4;
		h->data_out.offset = 0xf1f2f3f4;
		break;
	case PDU_OP_DATA_IN:
		h->flags = PDU_FLAG_FINAL | PDU_DATA_IN_STATUS | PDU_RSP_OVERFLOW;
		h->data_len = 8192;
		h->data_in.status = 0x02;
		h->data_in.ttt = 0xa1a2a3a4;
		h->data_in.statsn = 0xb1b2b3b4;
		h->data_in.expcmdsn = 0xc1c2c3c4;
		h->data_in.maxcmdsn = 0xd1d2d3d4;
		h->data_in.datasn = 0xe1e2e3e4;
		h->data_in.offset = 0xf1f2f3f4;
		h->data_in.residual = 0x01020304;
		break;
	case PDU_OP_LOGOUT_REQ:
		h->lun = 0;
		h->immediate = true;
		h->flags = PDU_FLAG_FINAL | PDU_LOGOUT_CONNECTION;
		h->logout_req.reason = PDU_LOGOUT_CONNECTION;
		h->logout_req.cid = 0x0102;
		h->logout_req.cmdsn = 0xb1b2b3b4;
		h->logout_req.expstatsn = 0xc1c2c3c4;
		break;
	case PDU_OP_LOGOUT_RSP:
		h->lun = 0;
		h->logout_rsp.response = PDU_LOGOUT_RSP_NO_RECOVERY;
		h->logout_rsp.statsn = 0xb1b2b3b4;
		h->logout_rsp.expcmdsn = 0xc1c2c3c4;
		h->logout_rsp.maxcmdsn = 0xd1d2d3d4;
		h->logout_rsp.time2wait = 0x0203;
		h->logout_rsp.time2retain = 0x0405;
		break;
	case PDU_OP_SNACK:
		h->flags = PDU_FLAG_FINAL | 3;
		h->snack.ttt = 0xa1a2a3a4;
		h->snack.expstatsn = 0xc1c2c3c4;
		h->snack.begrun = 0xf1f2f3f4;
		h->snack.runlength = 0x01020304;
		break;
	case PDU_OP_R2T:
		h->r2t.ttt = 0xa1a2a3a4;
		h->r2t.statsn = 0xb1b2b3b4;
		h->r2t.expcmdsn = 0xc1c2c3c4;
		h->r2t.maxcmdsn = 0xd1d2d3d4;
		h->r2t.r2tsn = 0xe1e2e3e4;
		h->r2t.offset = 0xf1f2f3f4;
		h->r2t.desired_len = 0x01020304;
		break;
	case PDU_OP_ASYNC:
		h->itt = PDU_RESERVED_TAG;
		h->data_len = 20;
		h->async.event = PDU_ASYNC_LOGOUT_REQUEST;
		h->async.vcode = 0x77;
		h->async.statsn = 0xb1b2b3b4;
		h->async.expcmdsn = 0xc1c2c3c4;
		h->async.maxcmdsn = 0xd1d2d3d4;
		h->async.param1 = 0x1112;
		h->async.param2 = 0x2122;
		h->async.param3 = 0x3132;
		break;
	case PDU_OP_REJECT:
		h->lun = 0;
		h->itt = PDU_RESERVED_TAG;
		h->data_len = 48;
		h->reject.reason = PDU_REJECT_PROTOCOL_ERROR;
		h->reject.statsn = 0xb1b2b3b4;
		h->reject.expcmdsn = 0xc1c2c3c4;
		h->reject.maxcmdsn = 0xd1d2d3d4;
		h->reject.datasn_r2tsn = 0xe1e2e3e4;
		break;
	default:
		CU_FAIL("make_hdr: unhandled opcode");
	}
}

static const uint32_t offset_markers[7] = {
	0xa1a2a3a4, 0xb1b2b3b4, 0xc1c2c3c4, 0xd1d2d3d4, 0xe1e2e3e4, 0xf1f2f3f4, 0x01020304,
};

/* Every marker found in bytes 20..47 sits at the offset the RFC gives its field. */
static void
check_markers(uint8_t op, const uint8_t *wire)
{
	for (int o = 20; o <= 44; o += 4)
		for (int m = 0; m < 7; m++)
			if (get_be32(wire + o) == offset_markers[m] && o != 20 + 4 * m) {
				fprintf(stderr, "\n%s: marker for byte %d found at %d\n",
					pdu_opcode_str(op), 20 + 4 * m, o);
				CU_FAIL("field at the wrong offset");
			}
}

static void
test_roundtrip_all(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_opcodes); i++) {
		uint8_t op = all_opcodes[i];
		struct pdu_hdr h, d;
		struct pdu_err err;
		uint8_t wire[PDU_BHS_LEN], again[PDU_BHS_LEN];

		make_hdr(op, &h);
		pdu_encode(&h, wire);
		int r = pdu_decode(wire, side_for(op), NULL, &d, &err);
		if (r != 0)
			fprintf(stderr, "\n%s: %s\n", pdu_opcode_str(op),
				pdu_defect_str(err.defect));
		CU_ASSERT_EQUAL_FATAL(r, 0);
		CU_ASSERT_EQUAL(err.defect, PDU_OK);
		CU_ASSERT(memcmp(&h, &d, sizeof(h)) == 0);
		pdu_encode(&d, again);
		CU_ASSERT(memcmp(wire, again, PDU_BHS_LEN) == 0);
		CU_ASSERT_EQUAL(wire[0] & PDU_OPCODE_MASK, op);
		CU_ASSERT_EQUAL(!!(wire[0] & PDU_IMMEDIATE), h.immediate);
		CU_ASSERT_EQUAL(get_be24(wire + 5), h.data_len);
		CU_ASSERT_EQUAL(get_be32(wire + 16), h.itt);
		CU_ASSERT_EQUAL(wire[4], h.ahs_words);
		check_markers(op, wire);
	}
}

/* RFC 3720 B.4 SCSI Read (10) PDU: byte-by-byte field positions of a SCSI Command. */
static const uint8_t rfc_read_pdu[48] = {
	0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void
test_wire_scsi_cmd(void)
{
	struct pdu_hdr h;
	uint8_t again[PDU_BHS_LEN];

	CU_ASSERT_EQUAL_FATAL(pdu_decode(rfc_read_pdu, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.opcode, PDU_OP_SCSI_CMD);
	CU_ASSERT_FALSE(h.immediate);
	CU_ASSERT_EQUAL(h.flags, PDU_FLAG_FINAL | PDU_SCSI_READ);
	CU_ASSERT_EQUAL(h.flags & PDU_SCSI_ATTR_MASK, PDU_ATTR_UNTAGGED);
	CU_ASSERT_EQUAL(h.data_len, 0);
	CU_ASSERT_EQUAL(h.lun, 0);
	CU_ASSERT_EQUAL(h.itt, 0x14000000);
	CU_ASSERT_EQUAL(h.scsi_cmd.edtl, 0x400);
	CU_ASSERT_EQUAL(h.scsi_cmd.cmdsn, 0x14);
	CU_ASSERT_EQUAL(h.scsi_cmd.expstatsn, 0x18);
	CU_ASSERT_EQUAL(h.scsi_cmd.cdb[0], 0x28); /* READ (10) */
	CU_ASSERT_EQUAL(h.scsi_cmd.cdb[8], 0x02); /* two blocks */
	pdu_encode(&h, again);
	CU_ASSERT(memcmp(again, rfc_read_pdu, PDU_BHS_LEN) == 0);

	/* A write with immediate data, LUN 1, simple attribute. */
	uint8_t w[48] = { 0x01, 0xa1, 0, 0, 0, 0x00, 0x02, 0x00, 0x00, 0x01 };
	put_be32(w + 16, 7);
	put_be32(w + 20, 4096);
	w[32] = 0x2a;
	CU_ASSERT_EQUAL_FATAL(pdu_decode(w, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.flags & PDU_SCSI_WRITE, PDU_SCSI_WRITE);
	CU_ASSERT_EQUAL(h.flags & PDU_SCSI_ATTR_MASK, PDU_ATTR_SIMPLE);
	CU_ASSERT_EQUAL(h.data_len, 512);
	CU_ASSERT_EQUAL(h.lun, 0x0001000000000000ull);
	CU_ASSERT_EQUAL(h.scsi_cmd.edtl, 4096);
	CU_ASSERT_EQUAL(h.scsi_cmd.cdb[0], 0x2a);
}

static void
test_wire_login(void)
{
	/* Login Request as open-iscsi sends it: I=1, T=1, CSG=1 -> NSG=3. */
	static const uint8_t req[48] = {
		0x43, 0x87, 0x00, 0x00, 0x00, 0x00, 0x01, 0x23, /* ver, AHS, DSL */
		0x80, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x00, 0x05, /* ISID, TSIH */
		0xde, 0xad, 0xbe, 0xef, 0x00, 0x02, 0x00, 0x00, /* ITT, CID */
		0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x22, 0x33, 0x44, /* CmdSN, ExpStatSN */
	};
	struct pdu_hdr h;
	uint8_t again[PDU_BHS_LEN];

	CU_ASSERT_EQUAL_FATAL(pdu_decode(req, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.opcode, PDU_OP_LOGIN_REQ);
	CU_ASSERT_TRUE(h.immediate);
	CU_ASSERT_EQUAL(h.flags & PDU_LOGIN_TRANSIT, PDU_LOGIN_TRANSIT);
	CU_ASSERT_EQUAL((h.flags & PDU_LOGIN_CSG_MASK) >> PDU_LOGIN_CSG_SHIFT,
			PDU_STAGE_OPERATIONAL);
	CU_ASSERT_EQUAL(h.flags & PDU_LOGIN_NSG_MASK, PDU_STAGE_FULL_FEATURE);
	CU_ASSERT_EQUAL(h.data_len, 0x123);
	CU_ASSERT_EQUAL(h.login_req.isid[0], 0x80);
	CU_ASSERT_EQUAL(h.login_req.isid[5], 0x9a);
	CU_ASSERT_EQUAL(h.login_req.tsih, 5);
	CU_ASSERT_EQUAL(h.lun, 0x80123456789a0005ull);
	CU_ASSERT_EQUAL(h.itt, 0xdeadbeef);
	CU_ASSERT_EQUAL(h.login_req.cid, 2);
	CU_ASSERT_EQUAL(h.login_req.cmdsn, 0x0a0b0c0d);
	CU_ASSERT_EQUAL(h.login_req.expstatsn, 0x11223344);
	pdu_encode(&h, again);
	CU_ASSERT(memcmp(again, req, PDU_BHS_LEN) == 0);

	/* Login Response: version-active 3, StatSN 24, ExpCmdSN 28, MaxCmdSN 32, status 36/37. */
	uint8_t rsp[48] = { 0x23, 0x87, 0x00, 0x00 };
	put_be32(rsp + 16, 0xdeadbeef);
	put_be32(rsp + 24, 1);
	put_be32(rsp + 28, 2);
	put_be32(rsp + 32, 3);
	rsp[36] = 0x02;
	rsp[37] = 0x01;
	CU_ASSERT_EQUAL_FATAL(pdu_decode(rsp, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.login_rsp.statsn, 1);
	CU_ASSERT_EQUAL(h.login_rsp.expcmdsn, 2);
	CU_ASSERT_EQUAL(h.login_rsp.maxcmdsn, 3);
	CU_ASSERT_EQUAL(h.login_rsp.status, PDU_LOGIN_AUTH_FAILED);
}

static void
test_wire_target_pdus(void)
{
	struct pdu_hdr h;

	/* Data-In with status: F|U|S, Status at 3, LUN 8, TTT 20, StatSN 24 ... residual 44. */
	uint8_t din[48] = { 0x25, 0x83, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00 };
	put_be64(din + 8, 0x0002000000000000ull);
	put_be32(din + 16, 0x10);
	put_be32(din + 20, 0xffffffff);
	put_be32(din + 24, 0x20);
	put_be32(din + 28, 0x21);
	put_be32(din + 32, 0x22);
	put_be32(din + 36, 0x23);
	put_be32(din + 40, 0x24);
	put_be32(din + 44, 0x25);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(din, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.data_len, 512);
	CU_ASSERT_EQUAL(h.lun, 0x0002000000000000ull);
	CU_ASSERT_EQUAL(h.data_in.status, 2);
	CU_ASSERT_EQUAL(h.data_in.ttt, 0xffffffff);
	CU_ASSERT_EQUAL(h.data_in.statsn, 0x20);
	CU_ASSERT_EQUAL(h.data_in.expcmdsn, 0x21);
	CU_ASSERT_EQUAL(h.data_in.maxcmdsn, 0x22);
	CU_ASSERT_EQUAL(h.data_in.datasn, 0x23);
	CU_ASSERT_EQUAL(h.data_in.offset, 0x24);
	CU_ASSERT_EQUAL(h.data_in.residual, 0x25);
	/* Without S, Status and StatSN are reserved: not decoded. */
	din[1] = 0x00;
	CU_ASSERT_EQUAL_FATAL(pdu_decode(din, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.data_in.status, 0);
	CU_ASSERT_EQUAL(h.data_in.statsn, 0);
	CU_ASSERT_EQUAL(h.data_in.datasn, 0x23);

	/* R2T: R2TSN 36, Buffer Offset 40, Desired Data Transfer Length 44. */
	uint8_t r2t[48] = { 0x31, 0x80 };
	put_be32(r2t + 20, 0x5a5a0001);
	put_be32(r2t + 36, 3);
	put_be32(r2t + 40, 65536);
	put_be32(r2t + 44, 262144);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(r2t, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.r2t.ttt, 0x5a5a0001);
	CU_ASSERT_EQUAL(h.r2t.r2tsn, 3);
	CU_ASSERT_EQUAL(h.r2t.offset, 65536);
	CU_ASSERT_EQUAL(h.r2t.desired_len, 262144);

	/* SCSI Response: Response 2, Status 3, ExpDataSN 36, residuals 40/44; 8..15 reserved. */
	uint8_t rsp[48] = { 0x21, 0x82, 0x00, 0x02, 0x00, 0x00, 0x00, 0x12 };
	memset(rsp + 8, 0xee, 8);
	put_be32(rsp + 36, 9);
	put_be32(rsp + 40, 0x100);
	put_be32(rsp + 44, 0x200);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(rsp, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.scsi_rsp.response, 0);
	CU_ASSERT_EQUAL(h.scsi_rsp.status, 2);
	CU_ASSERT_EQUAL(h.data_len, 18);
	CU_ASSERT_EQUAL(h.lun, 0);
	CU_ASSERT_EQUAL(h.scsi_rsp.expdatasn, 9);
	CU_ASSERT_EQUAL(h.scsi_rsp.bidi_residual, 0x100);
	CU_ASSERT_EQUAL(h.scsi_rsp.residual, 0x200);

	/* Logout Response: Time2Wait 40, Time2Retain 42. */
	uint8_t lo[48] = { 0x26, 0x80, 0x01 };
	put_be16(lo + 40, 2);
	put_be16(lo + 42, 20);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(lo, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.logout_rsp.response, PDU_LOGOUT_RSP_NO_CID);
	CU_ASSERT_EQUAL(h.logout_rsp.time2wait, 2);
	CU_ASSERT_EQUAL(h.logout_rsp.time2retain, 20);

	/* Async: AsyncEvent 36, AsyncVCode 37, Parameter1..3 at 38/40/42. */
	uint8_t as[48] = { 0x32, 0x80 };
	put_be32(as + 16, 0xffffffff);
	as[36] = PDU_ASYNC_DROP_CONNECTION;
	as[37] = 0;
	put_be16(as + 38, 0x0001);
	put_be16(as + 40, 2);
	put_be16(as + 42, 20);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(as, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.async.event, PDU_ASYNC_DROP_CONNECTION);
	CU_ASSERT_EQUAL(h.async.param1, 1);
	CU_ASSERT_EQUAL(h.async.param2, 2);
	CU_ASSERT_EQUAL(h.async.param3, 20);

	/* Reject: Reason 2, DataSN/R2TSN 36, 48 bytes of rejected header as data. */
	uint8_t rj[48] = { 0x3f, 0x80, 0x09, 0x00, 0x00, 0x00, 0x00, 0x30 };
	put_be32(rj + 16, 0xffffffff);
	put_be32(rj + 36, 4);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(rj, PDU_SIDE_INITIATOR, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.reject.reason, PDU_REJECT_INVALID_FIELD);
	CU_ASSERT_EQUAL(h.reject.datasn_r2tsn, 4);
	CU_ASSERT_EQUAL(h.data_len, 48);
}

static void
test_wire_initiator_pdus(void)
{
	struct pdu_hdr h;

	/* TMF Request: function in byte 1, RTT 20, RefCmdSN 32, ExpDataSN 36. */
	uint8_t tmf[48] = { 0x42, 0x85 };
	put_be32(tmf + 20, 0xffffffff);
	put_be32(tmf + 32, 0x33);
	put_be32(tmf + 36, 0x44);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(tmf, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_TRUE(h.immediate);
	CU_ASSERT_EQUAL(h.tmf_req.function, PDU_TMF_LUN_RESET);
	CU_ASSERT_EQUAL(h.tmf_req.rtt, 0xffffffff);
	CU_ASSERT_EQUAL(h.tmf_req.refcmdsn, 0x33);
	CU_ASSERT_EQUAL(h.tmf_req.expdatasn, 0x44);

	/* Data-Out: TTT 20, ExpStatSN 28, DataSN 36, Buffer Offset 40. */
	uint8_t dout[48] = { 0x05, 0x80, 0, 0, 0, 0x01, 0x00, 0x00 };
	put_be32(dout + 20, 0x77);
	put_be32(dout + 28, 0x88);
	put_be32(dout + 36, 5);
	put_be32(dout + 40, 0x50000);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(dout, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.data_len, 65536);
	CU_ASSERT_EQUAL(h.data_out.ttt, 0x77);
	CU_ASSERT_EQUAL(h.data_out.expstatsn, 0x88);
	CU_ASSERT_EQUAL(h.data_out.datasn, 5);
	CU_ASSERT_EQUAL(h.data_out.offset, 0x50000);

	/* Logout Request: reason in byte 1, CID 20. */
	uint8_t lo[48] = { 0x46, 0x81 };
	put_be16(lo + 20, 0x0003);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(lo, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.logout_req.reason, PDU_LOGOUT_CONNECTION);
	CU_ASSERT_EQUAL(h.logout_req.cid, 3);

	/* SNACK: type in byte 1 low nibble, BegRun 40, RunLength 44. */
	uint8_t sn[48] = { 0x10, 0x81 };
	put_be32(sn + 40, 10);
	put_be32(sn + 44, 2);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(sn, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.flags & PDU_SNACK_TYPE_MASK, 1);
	CU_ASSERT_EQUAL(h.snack.begrun, 10);
	CU_ASSERT_EQUAL(h.snack.runlength, 2);

	/* NOP-Out answering a NOP-In: ITT reserved, I set, TTT echoed. */
	uint8_t nop[48] = { 0x40, 0x80 };
	put_be32(nop + 16, 0xffffffff);
	put_be32(nop + 20, 0x1234);
	CU_ASSERT_EQUAL_FATAL(pdu_decode(nop, PDU_SIDE_TARGET, NULL, &h, NULL), 0);
	CU_ASSERT_EQUAL(h.nop_out.ttt, 0x1234);
}

/* Encode a valid header of `op`, let `mutate` break it, and expect the given outcome. */
struct defect_case {
	const char *what;
	uint8_t op;
	void (*mutate)(uint8_t *wire);
	enum pdu_defect defect;
	enum pdu_reject_reason reject;
	uint8_t byte;
};

static void
set_dsl1(uint8_t *w)
{
	put_be24(w + 5, 1);
}
static void
set_ahs1(uint8_t *w)
{
	w[4] = 1;
}
static void
set_immediate(uint8_t *w)
{
	w[0] |= PDU_IMMEDIATE;
}
static void
clear_immediate(uint8_t *w)
{
	w[0] &= (uint8_t)~PDU_IMMEDIATE;
}
static void
set_opcode_07(uint8_t *w)
{
	w[0] = 0x07;
}
static void
set_opcode_3c(uint8_t *w)
{
	w[0] = 0x3c;
}
static void
login_t_and_c(uint8_t *w)
{
	w[1] |= PDU_TEXT_CONTINUE;
}
static void
login_csg2(uint8_t *w)
{
	w[1] = (uint8_t)(PDU_LOGIN_TRANSIT | 2 << PDU_LOGIN_CSG_SHIFT | 3);
}
static void
login_csg3(uint8_t *w)
{
	w[1] = (uint8_t)(3 << PDU_LOGIN_CSG_SHIFT);
}
static void
login_nsg2(uint8_t *w)
{
	w[1] = (uint8_t)(PDU_LOGIN_TRANSIT | 0 << PDU_LOGIN_CSG_SHIFT | 2);
}
static void
login_nsg_eq_csg(uint8_t *w)
{
	w[1] = (uint8_t)(PDU_LOGIN_TRANSIT | 1 << PDU_LOGIN_CSG_SHIFT | 1);
}
static void
login_nsg_back(uint8_t *w)
{
	w[1] = (uint8_t)(PDU_LOGIN_TRANSIT | 1 << PDU_LOGIN_CSG_SHIFT | 0);
}
static void
login_vmin1(uint8_t *w)
{
	w[2] = 1;
	w[3] = 1;
}
static void
login_vactive1(uint8_t *w)
{
	w[3] = 1;
}
static void
text_f_and_c(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | PDU_TEXT_CONTINUE;
}
static void
tmf_func0(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | 0;
}
static void
tmf_func9(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | 9;
}
static void
tmf_no_f(uint8_t *w)
{
	w[1] = PDU_TMF_LUN_RESET;
}
static void
logout_reason3(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | 3;
}
static void
scsi_no_w(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | PDU_SCSI_READ;
}
static void
scsi_data_over_edtl(uint8_t *w)
{
	put_be32(w + 20, 4095);
}
static void
nop_itt_reserved(uint8_t *w)
{
	put_be32(w + 16, 0xffffffff);
}
static void
snack_type4(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | 4;
}
static void
rsp_o_and_u(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | PDU_RSP_OVERFLOW | PDU_RSP_UNDERFLOW;
}
static void
rsp_bidi_o_and_u(uint8_t *w)
{
	w[1] = PDU_FLAG_FINAL | PDU_RSP_BIDI_OVERFLOW | PDU_RSP_BIDI_UNDERFLOW;
}
static void
datain_s_without_f(uint8_t *w)
{
	w[1] = PDU_DATA_IN_STATUS;
}

static const struct defect_case defect_cases[] = {
	{ "undefined initiator opcode", PDU_OP_NOP_OUT, set_opcode_07, PDU_DEFECT_UNKNOWN_OPCODE,
	  PDU_REJECT_CMD_NOT_SUPPORTED, 0 },
	{ "undefined target opcode", PDU_OP_NOP_IN, set_opcode_3c, PDU_DEFECT_UNKNOWN_OPCODE,
	  PDU_REJECT_CMD_NOT_SUPPORTED, 0 },
	{ "I on Data-Out", PDU_OP_DATA_OUT, set_immediate, PDU_DEFECT_IMMEDIATE_INVALID,
	  PDU_REJECT_PROTOCOL_ERROR, 0 },
	{ "I on SNACK", PDU_OP_SNACK, set_immediate, PDU_DEFECT_IMMEDIATE_INVALID,
	  PDU_REJECT_PROTOCOL_ERROR, 0 },
	{ "data on TMF Request", PDU_OP_TMF_REQ, set_dsl1, PDU_DEFECT_DATA_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "data on TMF Response", PDU_OP_TMF_RSP, set_dsl1, PDU_DEFECT_DATA_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "data on Logout Request", PDU_OP_LOGOUT_REQ, set_dsl1, PDU_DEFECT_DATA_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "data on Logout Response", PDU_OP_LOGOUT_RSP, set_dsl1, PDU_DEFECT_DATA_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "data on SNACK", PDU_OP_SNACK, set_dsl1, PDU_DEFECT_DATA_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "data on R2T", PDU_OP_R2T, set_dsl1, PDU_DEFECT_DATA_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "AHS on NOP-Out", PDU_OP_NOP_OUT, set_ahs1, PDU_DEFECT_AHS_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 4 },
	{ "AHS on Data-Out", PDU_OP_DATA_OUT, set_ahs1, PDU_DEFECT_AHS_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 4 },
	{ "AHS on Login Request", PDU_OP_LOGIN_REQ, set_ahs1, PDU_DEFECT_AHS_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 4 },
	{ "AHS on SCSI Response", PDU_OP_SCSI_RSP, set_ahs1, PDU_DEFECT_AHS_NOT_ALLOWED,
	  PDU_REJECT_PROTOCOL_ERROR, 4 },
	{ "Login T and C", PDU_OP_LOGIN_REQ, login_t_and_c, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login Response T and C", PDU_OP_LOGIN_RSP, login_t_and_c, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login CSG 2", PDU_OP_LOGIN_REQ, login_csg2, PDU_DEFECT_STAGE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login CSG full feature", PDU_OP_LOGIN_REQ, login_csg3, PDU_DEFECT_STAGE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login NSG 2", PDU_OP_LOGIN_REQ, login_nsg2, PDU_DEFECT_STAGE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login T with NSG == CSG", PDU_OP_LOGIN_REQ, login_nsg_eq_csg, PDU_DEFECT_STAGE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login T with NSG < CSG", PDU_OP_LOGIN_REQ, login_nsg_back, PDU_DEFECT_STAGE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login Response NSG 2", PDU_OP_LOGIN_RSP, login_nsg2, PDU_DEFECT_STAGE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Login version-min 1", PDU_OP_LOGIN_REQ, login_vmin1, PDU_DEFECT_VERSION,
	  PDU_REJECT_PROTOCOL_ERROR, 3 },
	{ "Login Response version-active 1", PDU_OP_LOGIN_RSP, login_vactive1,
	  PDU_DEFECT_VERSION, PDU_REJECT_PROTOCOL_ERROR, 3 },
	{ "Text Request F and C", PDU_OP_TEXT_REQ, text_f_and_c, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Text Response F and C", PDU_OP_TEXT_RSP, text_f_and_c, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "TMF function 0", PDU_OP_TMF_REQ, tmf_func0, PDU_DEFECT_TMF_FUNCTION, PDU_REJECT_NONE,
	  1 },
	{ "TMF function 9", PDU_OP_TMF_REQ, tmf_func9, PDU_DEFECT_TMF_FUNCTION, PDU_REJECT_NONE,
	  1 },
	{ "TMF without F", PDU_OP_TMF_REQ, tmf_no_f, PDU_DEFECT_FLAGS, PDU_REJECT_PROTOCOL_ERROR,
	  1 },
	{ "Logout reason 3", PDU_OP_LOGOUT_REQ, logout_reason3, PDU_DEFECT_LOGOUT_REASON,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "SCSI Command data without W", PDU_OP_SCSI_CMD, scsi_no_w, PDU_DEFECT_FIELD,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "SCSI Command data above EDTL", PDU_OP_SCSI_CMD, scsi_data_over_edtl, PDU_DEFECT_FIELD,
	  PDU_REJECT_PROTOCOL_ERROR, 5 },
	{ "NOP-Out ITT 0xffffffff with I", PDU_OP_NOP_OUT, nop_itt_reserved, PDU_OK,
	  PDU_REJECT_NONE, 0 },
	{ "SNACK type 4", PDU_OP_SNACK, snack_type4, PDU_DEFECT_SNACK_TYPE,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "SCSI Response O and U", PDU_OP_SCSI_RSP, rsp_o_and_u, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "SCSI Response o and u", PDU_OP_SCSI_RSP, rsp_bidi_o_and_u, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	{ "Data-In S without F", PDU_OP_DATA_IN, datain_s_without_f, PDU_DEFECT_FLAGS,
	  PDU_REJECT_PROTOCOL_ERROR, 1 },
	/* Immediate is fine on these (RFC 7143 11.2.1.1 and real initiators). */
	{ "I on NOP-Out", PDU_OP_NOP_OUT, set_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
	{ "I on SCSI Command", PDU_OP_SCSI_CMD, set_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
	{ "I on TMF", PDU_OP_TMF_REQ, set_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
	{ "I on Login", PDU_OP_LOGIN_REQ, set_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
	{ "I on Text", PDU_OP_TEXT_REQ, set_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
	{ "I on Logout", PDU_OP_LOGOUT_REQ, set_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
	{ "no I on Login", PDU_OP_LOGIN_REQ, clear_immediate, PDU_OK, PDU_REJECT_NONE, 0 },
};

static void
test_defects(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(defect_cases); i++) {
		const struct defect_case *c = &defect_cases[i];
		struct pdu_hdr h;
		struct pdu_err err;
		uint8_t wire[PDU_BHS_LEN];

		make_hdr(c->op, &h);
		pdu_encode(&h, wire);
		c->mutate(wire);
		int r = pdu_decode(wire, side_for(c->op), NULL, &h, &err);
		if (err.defect != c->defect || err.reject != c->reject || err.byte != c->byte)
			fprintf(stderr, "\n%s: got %s reject %d byte %u\n", c->what,
				pdu_defect_str(err.defect), err.reject, err.byte);
		CU_ASSERT_EQUAL(r, c->defect == PDU_OK ? 0 : -EBADMSG);
		CU_ASSERT_EQUAL(err.defect, c->defect);
		CU_ASSERT_EQUAL(err.reject, c->reject);
		CU_ASSERT_EQUAL(err.byte, c->byte);
		/* What could be decoded is still there for building the answer. */
		CU_ASSERT_EQUAL(h.itt, get_be32(wire + 16));
		CU_ASSERT_EQUAL(h.opcode, wire[0] & PDU_OPCODE_MASK);
		/* err may be NULL. */
		CU_ASSERT_EQUAL(pdu_decode(wire, side_for(c->op), NULL, &h, NULL), r);
	}
}

static void
test_wrong_direction(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_opcodes); i++) {
		uint8_t op = all_opcodes[i];
		struct pdu_hdr h;
		struct pdu_err err;
		uint8_t wire[PDU_BHS_LEN];

		make_hdr(op, &h);
		pdu_encode(&h, wire);
		enum pdu_side other = side_for(op) == PDU_SIDE_TARGET ? PDU_SIDE_INITIATOR
								      : PDU_SIDE_TARGET;
		CU_ASSERT_EQUAL(pdu_decode(wire, other, NULL, &h, &err), -EBADMSG);
		CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_WRONG_DIRECTION);
		CU_ASSERT_EQUAL(err.reject, PDU_REJECT_PROTOCOL_ERROR);
		CU_ASSERT_EQUAL(h.opcode, op);
		CU_ASSERT_EQUAL(h.itt, get_be32(wire + 16));
	}
}

static void
test_nop_out_reserved_itt(void)
{
	struct pdu_hdr h;
	struct pdu_err err;
	uint8_t wire[PDU_BHS_LEN];

	make_hdr(PDU_OP_NOP_OUT, &h);
	h.itt = PDU_RESERVED_TAG;
	h.immediate = false;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), -EBADMSG);
	CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_FIELD);
	CU_ASSERT_EQUAL(err.reject, PDU_REJECT_INVALID_FIELD);
	CU_ASSERT_EQUAL(err.byte, 16);
}

static void
test_lenient(void)
{
	struct pdu_hdr h;
	struct pdu_err err;
	uint8_t wire[PDU_BHS_LEN];

	/* Nonzero reserved bytes are ignored, never rejected. */
	make_hdr(PDU_OP_NOP_OUT, &h);
	pdu_encode(&h, wire);
	memset(wire + 32, 0xff, 16);
	wire[0] |= 0x80;
	wire[2] = wire[3] = 0x5a;
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);

	make_hdr(PDU_OP_TMF_REQ, &h);
	pdu_encode(&h, wire);
	memset(wire + 40, 0xaa, 8);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);

	/* Reserved I bit position on a target PDU: ignored, not decoded. */
	make_hdr(PDU_OP_R2T, &h);
	pdu_encode(&h, wire);
	wire[0] |= PDU_IMMEDIATE;
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_INITIATOR, NULL, &h, &err), 0);
	CU_ASSERT_FALSE(h.immediate);

	/* T=0 leaves NSG reserved: any value is accepted. */
	make_hdr(PDU_OP_LOGIN_REQ, &h);
	h.flags = PDU_TEXT_CONTINUE | PDU_STAGE_OPERATIONAL << PDU_LOGIN_CSG_SHIFT | 2;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);

	/* Security -> Full Feature directly, and version range 0..2. */
	make_hdr(PDU_OP_LOGIN_REQ, &h);
	h.flags = PDU_LOGIN_TRANSIT | PDU_STAGE_SECURITY << PDU_LOGIN_CSG_SHIFT |
		  PDU_STAGE_FULL_FEATURE;
	h.login_req.version_max = 2;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);

	/* A failed Login Response reports its status even with odd flags. */
	make_hdr(PDU_OP_LOGIN_RSP, &h);
	h.flags = PDU_LOGIN_TRANSIT | PDU_TEXT_CONTINUE | 2;
	h.login_rsp.status = PDU_LOGIN_NOT_FOUND;
	h.login_rsp.version_active = 3;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_INITIATOR, NULL, &h, &err), 0);
	CU_ASSERT_EQUAL(h.login_rsp.status, PDU_LOGIN_NOT_FOUND);

	/* SCSI Command: F clear (unsolicited Data-Out follows), data == EDTL, bidi R|W. */
	make_hdr(PDU_OP_SCSI_CMD, &h);
	h.flags = PDU_SCSI_READ | PDU_SCSI_WRITE | PDU_ATTR_ORDERED;
	h.scsi_cmd.edtl = h.data_len;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);

	/* SNACK type 3 (R-Data) is the last valid one; Data-Out with data is fine. */
	make_hdr(PDU_OP_SNACK, &h);
	h.flags = PDU_FLAG_FINAL | 3;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);
	CU_ASSERT_EQUAL(err.defect, PDU_OK);
}

static void
test_limits(void)
{
	struct pdu_hdr h;
	struct pdu_err err;
	uint8_t wire[PDU_BHS_LEN];
	struct pdu_limits lim = { .max_data_len = 8192, .max_ahs_len = 8 };

	/* DataSegmentLength at the 24-bit maximum with no limit. */
	make_hdr(PDU_OP_NOP_IN, &h);
	h.data_len = PDU_MAX_DATA_LEN;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(get_be24(wire + 5), 0xffffff);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_INITIATOR, NULL, &h, &err), 0);
	CU_ASSERT_EQUAL(h.data_len, PDU_MAX_DATA_LEN);
	struct pdu_limits zero = { 0, 0 };
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_INITIATOR, &zero, &h, &err), 0);

	/* Exactly the limit passes; one over is DATA_TOO_LONG. */
	make_hdr(PDU_OP_DATA_OUT, &h);
	h.data_len = 8192;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, &lim, &h, &err), 0);
	put_be24(wire + 5, 8193);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, &lim, &h, &err), -EBADMSG);
	CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_DATA_TOO_LONG);
	CU_ASSERT_EQUAL(err.reject, PDU_REJECT_PROTOCOL_ERROR);
	CU_ASSERT_EQUAL(err.byte, 5);
	CU_ASSERT_EQUAL(h.data_len, 8193);

	/* AHS: 8 bytes allowed, 12 too long; 255 words with the protocol maximum. */
	make_hdr(PDU_OP_SCSI_CMD, &h);
	h.ahs_words = 2;
	pdu_encode(&h, wire);
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, &lim, &h, &err), 0);
	wire[4] = 3;
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, &lim, &h, &err), -EBADMSG);
	CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_AHS_TOO_LONG);
	CU_ASSERT_EQUAL(err.reject, PDU_REJECT_PROTOCOL_ERROR);
	CU_ASSERT_EQUAL(err.byte, 4);
	wire[4] = 255;
	CU_ASSERT_EQUAL(pdu_decode(wire, PDU_SIDE_TARGET, NULL, &h, &err), 0);
	CU_ASSERT_EQUAL(h.ahs_words, 255);
}

static void
test_ahs_cdb32(void)
{
	uint8_t cdb[32], buf[64];
	struct pdu_ahs a;
	struct pdu_err err;

	for (int i = 0; i < 32; i++)
		cdb[i] = (uint8_t)(0x7f + i);
	int n = pdu_ahs_build(buf, sizeof(buf), cdb, 32, -1);
	CU_ASSERT_EQUAL_FATAL(n, 20);
	/* AHSLength = 32 - 15 = 17 (includes the reserved byte), type 1, reserved 0. */
	CU_ASSERT_EQUAL(get_be16(buf), 17);
	CU_ASSERT_EQUAL(buf[2], PDU_AHS_EXTENDED_CDB);
	CU_ASSERT_EQUAL(buf[3], 0);
	CU_ASSERT(memcmp(buf + 4, cdb + 16, 16) == 0);
	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, (size_t)n, &a, &err), 0);
	CU_ASSERT_EQUAL(a.cdb_len, 32);
	CU_ASSERT(memcmp(a.cdb_ext, cdb + 16, 16) == 0);
	CU_ASSERT_FALSE(a.has_bidi_read_len);
}

static void
test_ahs_bidi_and_odd(void)
{
	uint8_t cdb[PDU_MAX_CDB_LEN], buf[PDU_MAX_AHS_LEN];
	struct pdu_ahs a;
	struct pdu_err err;

	for (size_t i = 0; i < sizeof(cdb); i++)
		cdb[i] = (uint8_t)(i * 7 + 1);

	/* Bidirectional read length alone: AHSLength 5, type 2. */
	int n = pdu_ahs_build(buf, sizeof(buf), NULL, 16, 0x12345678);
	CU_ASSERT_EQUAL_FATAL(n, 8);
	static const uint8_t want[8] = { 0x00, 0x05, 0x02, 0x00, 0x12, 0x34, 0x56, 0x78 };
	CU_ASSERT(memcmp(buf, want, 8) == 0);
	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, 8, &a, &err), 0);
	CU_ASSERT_EQUAL(a.cdb_len, 16);
	CU_ASSERT_TRUE(a.has_bidi_read_len);
	CU_ASSERT_EQUAL(a.bidi_read_len, 0x12345678);

	/* Both, with a 17-byte CDB: 3 + 2 -> padded to 8, then 8 bytes of bidi. */
	n = pdu_ahs_build(buf, sizeof(buf), cdb, 17, 0);
	CU_ASSERT_EQUAL_FATAL(n, 16);
	CU_ASSERT_EQUAL(get_be16(buf), 2);
	CU_ASSERT_EQUAL(buf[4], cdb[16]);
	CU_ASSERT_EQUAL(buf[5], 0);
	CU_ASSERT_EQUAL(get_be16(buf + 8), 5);
	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, 16, &a, &err), 0);
	CU_ASSERT_EQUAL(a.cdb_len, 17);
	CU_ASSERT_EQUAL(a.cdb_ext[0], cdb[16]);
	CU_ASSERT_TRUE(a.has_bidi_read_len);
	CU_ASSERT_EQUAL(a.bidi_read_len, 0);

	/* The largest CDB. */
	n = pdu_ahs_build(buf, sizeof(buf), cdb, PDU_MAX_CDB_LEN, 4096);
	CU_ASSERT_EQUAL_FATAL(n, 248 + 8);
	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, (size_t)n, &a, &err), 0);
	CU_ASSERT_EQUAL(a.cdb_len, PDU_MAX_CDB_LEN);
	CU_ASSERT(memcmp(a.cdb_ext, cdb + 16, PDU_MAX_CDB_LEN - 16) == 0);
	CU_ASSERT_EQUAL(a.bidi_read_len, 4096);

	/* Nothing to build; errors. */
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, sizeof(buf), cdb, 16, -1), 0);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, sizeof(buf), cdb, 12, -1), 0);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, sizeof(buf), cdb, PDU_MAX_CDB_LEN + 1, -1), -EINVAL);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, sizeof(buf), NULL, 32, -1), -EINVAL);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, sizeof(buf), NULL, 0, (int64_t)UINT32_MAX + 1),
			-EINVAL);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, 19, cdb, 32, -1), -ENOSPC);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, 27, cdb, 32, 1), -ENOSPC);
	CU_ASSERT_EQUAL(pdu_ahs_build(buf, 28, cdb, 32, 1), 28);

	/* An empty AHS parses to "no extension". */
	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, 0, &a, &err), 0);
	CU_ASSERT_EQUAL(a.cdb_len, 16);
}

static void
expect_ahs_malformed(const uint8_t *buf, size_t len)
{
	struct pdu_ahs a;
	struct pdu_err err;

	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, len, &a, &err), -EBADMSG);
	CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_AHS_MALFORMED);
	CU_ASSERT_EQUAL(err.reject, PDU_REJECT_PROTOCOL_ERROR);
	CU_ASSERT_EQUAL(pdu_ahs_parse(buf, len, &a, NULL), -EBADMSG);
}

static void
test_ahs_malformed(void)
{
	uint8_t buf[PDU_MAX_AHS_LEN + 4];
	uint8_t cdb[32] = { 0 };
	struct pdu_ahs a;

	memset(buf, 0, sizeof(buf));
	int n = pdu_ahs_build(buf, sizeof(buf), cdb, 32, -1);
	CU_ASSERT_EQUAL_FATAL(n, 20);
	expect_ahs_malformed(buf, 18); /* not a multiple of 4 */
	expect_ahs_malformed(buf, 16); /* AHSLength runs past the end */

	/* Bidi AHSLength must be 5. */
	static const uint8_t bidi4[8] = { 0x00, 0x04, 0x02, 0x00, 1, 2, 3, 4 };
	expect_ahs_malformed(bidi4, 8);
	/* Duplicate bidi. */
	static const uint8_t bidi2[16] = { 0x00, 0x05, 0x02, 0x00, 1, 2, 3, 4,
					   0x00, 0x05, 0x02, 0x00, 1, 2, 3, 4 };
	expect_ahs_malformed(bidi2, 16);
	/* Duplicate extended CDB. */
	memcpy(buf + 20, buf, 20);
	expect_ahs_malformed(buf, 40);
	/* Extended CDB AHSLength 0 (not even the reserved byte) and 246 (CDB of 261). */
	static const uint8_t cdb0[4] = { 0x00, 0x00, 0x01, 0x00 };
	expect_ahs_malformed(cdb0, 4);
	memset(buf, 0, sizeof(buf));
	put_be16(buf, 246);
	buf[2] = PDU_AHS_EXTENDED_CDB;
	expect_ahs_malformed(buf, 252);
	/* Longer than TotalAHSLength can express. */
	expect_ahs_malformed(buf, PDU_MAX_AHS_LEN + 4);

	/* Unknown and vendor types are skipped; reserved type bits ignored. */
	static const uint8_t vendor[16] = { 0x00, 0x02, 0x3c, 0x00, 0xaa, 0, 0, 0,
					    0x00, 0x05, 0x42, 0x00, 0, 0, 0x10, 0 };
	CU_ASSERT_EQUAL(pdu_ahs_parse(vendor, 16, &a, NULL), 0);
	CU_ASSERT_TRUE(a.has_bidi_read_len);
	CU_ASSERT_EQUAL(a.bidi_read_len, 0x1000);
}

static void
test_wire_len(void)
{
	struct pdu_hdr h;

	memset(&h, 0, sizeof(h));
	CU_ASSERT_EQUAL(pdu_wire_len(&h, false, false), 48);
	CU_ASSERT_EQUAL(pdu_wire_len(&h, true, true), 52); /* no data: no data digest */
	h.ahs_words = 5;
	h.data_len = 5;
	CU_ASSERT_EQUAL(pdu_wire_len(&h, false, false), 48 + 20 + 8);
	CU_ASSERT_EQUAL(pdu_wire_len(&h, true, false), 48 + 20 + 4 + 8);
	CU_ASSERT_EQUAL(pdu_wire_len(&h, true, true), 48 + 20 + 4 + 8 + 4);
	h.ahs_words = 0;
	h.data_len = PDU_MAX_DATA_LEN;
	CU_ASSERT_EQUAL(pdu_wire_len(&h, false, true), 48 + 0x1000000 + 4);
	CU_ASSERT_EQUAL(pdu_pad_len(0), 0);
	CU_ASSERT_EQUAL(pdu_pad_len(1), 3);
	CU_ASSERT_EQUAL(pdu_pad_len(3), 1);
	CU_ASSERT_EQUAL(pdu_pad_len(8192), 0);
}

static void
test_digests(void)
{
	uint8_t d[4];
	struct pdu_err err;

	/* RFC 3720 B.4: the PDU's CRC goes on the wire as 56 3a 96 d9. */
	uint32_t hd = pdu_header_digest(rfc_read_pdu, sizeof(rfc_read_pdu));
	CU_ASSERT_EQUAL(hd, 0xd9963a56);
	pdu_put_digest(d, hd);
	CU_ASSERT(d[0] == 0x56 && d[1] == 0x3a && d[2] == 0x96 && d[3] == 0xd9);
	CU_ASSERT_EQUAL(pdu_get_digest(d), hd);
	/* ... and 32 zero bytes as aa 36 91 8a. */
	static const uint8_t zeros[32];
	pdu_put_digest(d, pdu_header_digest(zeros, 32));
	CU_ASSERT(d[0] == 0xaa && d[1] == 0x36 && d[2] == 0x91 && d[3] == 0x8a);

	CU_ASSERT_EQUAL(pdu_check_header_digest(rfc_read_pdu, 48, (const uint8_t[]){ 0x56, 0x3a,
										   0x96, 0xd9 },
						&err),
			0);
	CU_ASSERT_EQUAL(pdu_check_header_digest(rfc_read_pdu, 48, (const uint8_t[]){ 0xd9, 0x96,
										   0x3a, 0x56 },
						&err),
			-EBADMSG);
	CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_HEADER_DIGEST);
	CU_ASSERT_EQUAL(err.reject, PDU_REJECT_NONE);

	/* The data digest covers the padding. */
	static const uint8_t padded[8] = { 'a', 'b', 'c', 'd', 'e', 0, 0, 0 };
	uint32_t dd = pdu_data_digest(padded, 5);
	CU_ASSERT_EQUAL(dd, crc32c(padded, 8));
	CU_ASSERT_NOT_EQUAL(dd, crc32c(padded, 5));
	CU_ASSERT_EQUAL(pdu_data_digest(padded, 8), crc32c(padded, 8));
	/* In pieces. */
	uint32_t st = crc32c_update(CRC32C_INIT, padded, 2);
	st = crc32c_update(st, padded + 2, 3);
	CU_ASSERT_EQUAL(pdu_data_digest_final(st, 5), dd);
	pdu_put_digest(d, dd);
	CU_ASSERT_EQUAL(pdu_check_data_digest(dd, d, &err), 0);
	d[0] ^= 1;
	CU_ASSERT_EQUAL(pdu_check_data_digest(dd, d, &err), -EBADMSG);
	CU_ASSERT_EQUAL(err.defect, PDU_DEFECT_DATA_DIGEST);
	CU_ASSERT_EQUAL(err.reject, PDU_REJECT_DATA_DIGEST);
}

static void
test_names(void)
{
	for (int i = 0; i < PDU_DEFECT__COUNT; i++) {
		const char *s = pdu_defect_str((enum pdu_defect)i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_NOT_EQUAL(strcmp(s, "unknown defect"), 0);
		for (int j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL(strcmp(s, pdu_defect_str((enum pdu_defect)j)), 0);
	}
	CU_ASSERT_STRING_EQUAL(pdu_defect_str(PDU_DEFECT__COUNT), "unknown defect");
	CU_ASSERT_STRING_EQUAL(pdu_defect_str(PDU_DEFECT_DATA_TOO_LONG),
			       "DataSegmentLength exceeds limit");
	for (size_t i = 0; i < ARRAY_SIZE(all_opcodes); i++)
		CU_ASSERT_STRING_NOT_EQUAL(pdu_opcode_str(all_opcodes[i]), "unknown");
	CU_ASSERT_STRING_EQUAL(pdu_opcode_str(PDU_OP_SCSI_CMD), "SCSI Command");
	CU_ASSERT_STRING_EQUAL(pdu_opcode_str(PDU_OP_R2T), "R2T");
	CU_ASSERT_STRING_EQUAL(pdu_opcode_str(0x07), "unknown");
	CU_ASSERT_STRING_EQUAL(pdu_opcode_str(0xff), "unknown");
}

static void
test_may_be_immediate(void)
{
	CU_ASSERT_TRUE(pdu_may_be_immediate(PDU_OP_NOP_OUT));
	CU_ASSERT_TRUE(pdu_may_be_immediate(PDU_OP_SCSI_CMD));
	CU_ASSERT_TRUE(pdu_may_be_immediate(PDU_OP_TMF_REQ));
	CU_ASSERT_TRUE(pdu_may_be_immediate(PDU_OP_LOGIN_REQ));
	CU_ASSERT_TRUE(pdu_may_be_immediate(PDU_OP_TEXT_REQ));
	CU_ASSERT_TRUE(pdu_may_be_immediate(PDU_OP_LOGOUT_REQ));
	CU_ASSERT_FALSE(pdu_may_be_immediate(PDU_OP_DATA_OUT));
	CU_ASSERT_FALSE(pdu_may_be_immediate(PDU_OP_SNACK));
	CU_ASSERT_FALSE(pdu_may_be_immediate(PDU_OP_NOP_IN));
	CU_ASSERT_FALSE(pdu_may_be_immediate(PDU_OP_R2T));
	CU_ASSERT_FALSE(pdu_may_be_immediate(0x07));
	CU_ASSERT_FALSE(pdu_may_be_immediate(0xff));
}

static const struct unit_test codec_tests[] = {
	{ "every opcode round-trips", test_roundtrip_all },
	{ "SCSI Command wire layout (RFC 3720 B.4)", test_wire_scsi_cmd },
	{ "Login Request/Response wire layout", test_wire_login },
	{ "target PDU wire layouts", test_wire_target_pdus },
	{ "initiator PDU wire layouts", test_wire_initiator_pdus },
	{ "wire length", test_wire_len },
	{ NULL, NULL },
};

static const struct unit_test validation_tests[] = {
	{ "each defect and its Reject reason", test_defects },
	{ "opcodes of the other side", test_wrong_direction },
	{ "NOP-Out ITT 0xffffffff needs I", test_nop_out_reserved_itt },
	{ "no stricter than the RFC", test_lenient },
	{ "data and AHS length limits", test_limits },
	{ NULL, NULL },
};

static const struct unit_test ahs_tests[] = {
	{ "32-byte CDB build/parse", test_ahs_cdb32 },
	{ "bidi read length, odd and maximal CDBs", test_ahs_bidi_and_odd },
	{ "malformed AHS", test_ahs_malformed },
	{ NULL, NULL },
};

static const struct unit_test misc_tests[] = {
	{ "header and data digests", test_digests },
	{ "defect and opcode names", test_names },
	{ "pdu_may_be_immediate", test_may_be_immediate },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "pdu codec", codec_tests },
	{ "pdu validation", validation_tests },
	{ "pdu ahs", ahs_tests },
	{ "pdu misc", misc_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
