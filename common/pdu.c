/*
 * iSCSI PDU codec: RFC 7143 section 11 layouts, header validation, AHS, padding and digests.
 *
 * Validation is deliberately no stricter than the RFC's MUSTs that real initiators and targets
 * (Linux open-iscsi, libiscsi, LIO) honour: reserved bytes are ignored, never rejected, and
 * fields that only matter to a later protocol layer (CmdSN windows, tags) are left to it.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "common/pdu.h"
#include "common/sn.h"

#include "common/datapath.h"

/* Per-opcode properties. */
#define OPF_KNOWN 0x01
#define OPF_IMMEDIATE 0x02 /* may carry the I bit (initiator PDUs but Data-Out and SNACK) */
#define OPF_DATA 0x04      /* may carry a data segment */
#define OPF_AHS 0x08       /* may carry AHS (only SCSI Command defines any) */
#define OPF_LUN 0x10       /* bytes 8..15 are a LUN ("or reserved"), or ISID+TSIH for Login */

struct pdu_op_info {
	const char *name;
	uint8_t flags;
};

static const struct pdu_op_info pdu_ops[PDU_OPCODE_MASK + 1] = {
	[PDU_OP_NOP_OUT] = { "NOP-Out", OPF_KNOWN | OPF_IMMEDIATE | OPF_DATA | OPF_LUN },
	[PDU_OP_SCSI_CMD] = { "SCSI Command",
			      OPF_KNOWN | OPF_IMMEDIATE | OPF_DATA | OPF_AHS | OPF_LUN },
	[PDU_OP_TMF_REQ] = { "Task Management Function Request",
			     OPF_KNOWN | OPF_IMMEDIATE | OPF_LUN },
	[PDU_OP_LOGIN_REQ] = { "Login Request", OPF_KNOWN | OPF_IMMEDIATE | OPF_DATA | OPF_LUN },
	[PDU_OP_TEXT_REQ] = { "Text Request", OPF_KNOWN | OPF_IMMEDIATE | OPF_DATA | OPF_LUN },
	[PDU_OP_DATA_OUT] = { "SCSI Data-Out", OPF_KNOWN | OPF_DATA | OPF_LUN },
	[PDU_OP_LOGOUT_REQ] = { "Logout Request", OPF_KNOWN | OPF_IMMEDIATE },
	[PDU_OP_SNACK] = { "SNACK Request", OPF_KNOWN | OPF_LUN },
	[PDU_OP_NOP_IN] = { "NOP-In", OPF_KNOWN | OPF_DATA | OPF_LUN },
	[PDU_OP_SCSI_RSP] = { "SCSI Response", OPF_KNOWN | OPF_DATA },
	[PDU_OP_TMF_RSP] = { "Task Management Function Response", OPF_KNOWN },
	[PDU_OP_LOGIN_RSP] = { "Login Response", OPF_KNOWN | OPF_DATA | OPF_LUN },
	[PDU_OP_TEXT_RSP] = { "Text Response", OPF_KNOWN | OPF_DATA | OPF_LUN },
	[PDU_OP_DATA_IN] = { "SCSI Data-In", OPF_KNOWN | OPF_DATA | OPF_LUN },
	[PDU_OP_LOGOUT_RSP] = { "Logout Response", OPF_KNOWN },
	[PDU_OP_R2T] = { "R2T", OPF_KNOWN | OPF_LUN },
	[PDU_OP_ASYNC] = { "Asynchronous Message", OPF_KNOWN | OPF_DATA | OPF_LUN },
	[PDU_OP_REJECT] = { "Reject", OPF_KNOWN | OPF_DATA },
};

static const char *const pdu_defect_names[PDU_DEFECT__COUNT] = {
	[PDU_OK] = "no defect",
	[PDU_DEFECT_UNKNOWN_OPCODE] = "opcode not defined",
	[PDU_DEFECT_WRONG_DIRECTION] = "opcode sent by the wrong side",
	[PDU_DEFECT_IMMEDIATE_INVALID] = "I bit set on a PDU that cannot be immediate",
	[PDU_DEFECT_FLAGS] = "invalid flag combination",
	[PDU_DEFECT_DATA_TOO_LONG] = "DataSegmentLength exceeds limit",
	[PDU_DEFECT_DATA_NOT_ALLOWED] = "data segment on a PDU that must carry none",
	[PDU_DEFECT_AHS_TOO_LONG] = "TotalAHSLength exceeds limit",
	[PDU_DEFECT_AHS_NOT_ALLOWED] = "AHS on a PDU other than SCSI Command",
	[PDU_DEFECT_AHS_MALFORMED] = "malformed AHS",
	[PDU_DEFECT_STAGE] = "invalid login stage",
	[PDU_DEFECT_VERSION] = "unsupported iSCSI version",
	[PDU_DEFECT_TMF_FUNCTION] = "unknown task management function",
	[PDU_DEFECT_LOGOUT_REASON] = "unknown logout reason",
	[PDU_DEFECT_SNACK_TYPE] = "unknown SNACK type",
	[PDU_DEFECT_FIELD] = "invalid field value",
	[PDU_DEFECT_HEADER_DIGEST] = "header digest mismatch",
	[PDU_DEFECT_DATA_DIGEST] = "data digest mismatch",
};

const char *
pdu_defect_str(enum pdu_defect d)
{
	if ((unsigned)d >= PDU_DEFECT__COUNT || !pdu_defect_names[d])
		return "unknown defect";
	return pdu_defect_names[d];
}

const char *
pdu_opcode_str(uint8_t opcode)
{
	if (opcode > PDU_OPCODE_MASK || !pdu_ops[opcode].name)
		return "unknown";
	return pdu_ops[opcode].name;
}

bool
pdu_may_be_immediate(uint8_t opcode)
{
	return opcode <= PDU_OPCODE_MASK && (pdu_ops[opcode].flags & OPF_IMMEDIATE);
}

static int
pdu_fail(struct pdu_err *err, enum pdu_defect d, enum pdu_reject_reason r, uint8_t byte)
{
	if (err) {
		err->defect = d;
		err->reject = r;
		err->byte = byte;
	}
	return -EBADMSG;
}

/* Fill the union member of h->opcode from the wire; no validation. */
static void
pdu_decode_fields(const uint8_t *b, struct pdu_hdr *h)
{
	switch (h->opcode) {
	case PDU_OP_NOP_OUT:
		h->nop_out.ttt = get_be32(b + 20);
		h->nop_out.cmdsn = get_be32(b + 24);
		h->nop_out.expstatsn = get_be32(b + 28);
		break;
	case PDU_OP_NOP_IN:
		h->nop_in.ttt = get_be32(b + 20);
		h->nop_in.statsn = get_be32(b + 24);
		h->nop_in.expcmdsn = get_be32(b + 28);
		h->nop_in.maxcmdsn = get_be32(b + 32);
		break;
	case PDU_OP_SCSI_CMD:
		h->scsi_cmd.edtl = get_be32(b + 20);
		h->scsi_cmd.cmdsn = get_be32(b + 24);
		h->scsi_cmd.expstatsn = get_be32(b + 28);
		memcpy(h->scsi_cmd.cdb, b + 32, 16);
		break;
	case PDU_OP_SCSI_RSP:
		h->scsi_rsp.response = b[2];
		h->scsi_rsp.status = b[3];
		h->scsi_rsp.snack_tag = get_be32(b + 20);
		h->scsi_rsp.statsn = get_be32(b + 24);
		h->scsi_rsp.expcmdsn = get_be32(b + 28);
		h->scsi_rsp.maxcmdsn = get_be32(b + 32);
		h->scsi_rsp.expdatasn = get_be32(b + 36);
		h->scsi_rsp.bidi_residual = get_be32(b + 40);
		h->scsi_rsp.residual = get_be32(b + 44);
		break;
	case PDU_OP_TMF_REQ:
		h->tmf_req.function = b[1] & 0x7f;
		h->tmf_req.rtt = get_be32(b + 20);
		h->tmf_req.cmdsn = get_be32(b + 24);
		h->tmf_req.expstatsn = get_be32(b + 28);
		h->tmf_req.refcmdsn = get_be32(b + 32);
		h->tmf_req.expdatasn = get_be32(b + 36);
		break;
	case PDU_OP_TMF_RSP:
		h->tmf_rsp.response = b[2];
		h->tmf_rsp.statsn = get_be32(b + 24);
		h->tmf_rsp.expcmdsn = get_be32(b + 28);
		h->tmf_rsp.maxcmdsn = get_be32(b + 32);
		break;
	case PDU_OP_LOGIN_REQ:
		h->login_req.version_max = b[2];
		h->login_req.version_min = b[3];
		memcpy(h->login_req.isid, b + 8, 6);
		h->login_req.tsih = get_be16(b + 14);
		h->login_req.cid = get_be16(b + 20);
		h->login_req.cmdsn = get_be32(b + 24);
		h->login_req.expstatsn = get_be32(b + 28);
		break;
	case PDU_OP_LOGIN_RSP:
		h->login_rsp.version_max = b[2];
		h->login_rsp.version_active = b[3];
		memcpy(h->login_rsp.isid, b + 8, 6);
		h->login_rsp.tsih = get_be16(b + 14);
		h->login_rsp.statsn = get_be32(b + 24);
		h->login_rsp.expcmdsn = get_be32(b + 28);
		h->login_rsp.maxcmdsn = get_be32(b + 32);
		h->login_rsp.status = PDU_LOGIN_STATUS(b[36], b[37]);
		break;
	case PDU_OP_TEXT_REQ:
		h->text_req.ttt = get_be32(b + 20);
		h->text_req.cmdsn = get_be32(b + 24);
		h->text_req.expstatsn = get_be32(b + 28);
		break;
	case PDU_OP_TEXT_RSP:
		h->text_rsp.ttt = get_be32(b + 20);
		h->text_rsp.statsn = get_be32(b + 24);
		h->text_rsp.expcmdsn = get_be32(b + 28);
		h->text_rsp.maxcmdsn = get_be32(b + 32);
		break;
	case PDU_OP_DATA_OUT:
		h->data_out.ttt = get_be32(b + 20);
		h->data_out.expstatsn = get_be32(b + 28);
		h->data_out.datasn = get_be32(b + 36);
		h->data_out.offset = get_be32(b + 40);
		break;
	case PDU_OP_DATA_IN:
		/* RFC 7143 11.7.3/11.7.4: Status and StatSN are reserved unless S is set. */
		if (b[1] & PDU_DATA_IN_STATUS) {
			h->data_in.status = b[3];
			h->data_in.statsn = get_be32(b + 24);
		}
		h->data_in.ttt = get_be32(b + 20);
		h->data_in.expcmdsn = get_be32(b + 28);
		h->data_in.maxcmdsn = get_be32(b + 32);
		h->data_in.datasn = get_be32(b + 36);
		h->data_in.offset = get_be32(b + 40);
		h->data_in.residual = get_be32(b + 44);
		break;
	case PDU_OP_LOGOUT_REQ:
		h->logout_req.reason = b[1] & 0x7f;
		h->logout_req.cid = get_be16(b + 20);
		h->logout_req.cmdsn = get_be32(b + 24);
		h->logout_req.expstatsn = get_be32(b + 28);
		break;
	case PDU_OP_LOGOUT_RSP:
		h->logout_rsp.response = b[2];
		h->logout_rsp.statsn = get_be32(b + 24);
		h->logout_rsp.expcmdsn = get_be32(b + 28);
		h->logout_rsp.maxcmdsn = get_be32(b + 32);
		h->logout_rsp.time2wait = get_be16(b + 40);
		h->logout_rsp.time2retain = get_be16(b + 42);
		break;
	case PDU_OP_SNACK:
		h->snack.ttt = get_be32(b + 20);
		h->snack.expstatsn = get_be32(b + 28);
		h->snack.begrun = get_be32(b + 40);
		h->snack.runlength = get_be32(b + 44);
		break;
	case PDU_OP_R2T:
		h->r2t.ttt = get_be32(b + 20);
		h->r2t.statsn = get_be32(b + 24);
		h->r2t.expcmdsn = get_be32(b + 28);
		h->r2t.maxcmdsn = get_be32(b + 32);
		h->r2t.r2tsn = get_be32(b + 36);
		h->r2t.offset = get_be32(b + 40);
		h->r2t.desired_len = get_be32(b + 44);
		break;
	case PDU_OP_ASYNC:
		h->async.statsn = get_be32(b + 24);
		h->async.expcmdsn = get_be32(b + 28);
		h->async.maxcmdsn = get_be32(b + 32);
		h->async.event = b[36];
		h->async.vcode = b[37];
		h->async.param1 = get_be16(b + 38);
		h->async.param2 = get_be16(b + 40);
		h->async.param3 = get_be16(b + 42);
		break;
	case PDU_OP_REJECT:
		h->reject.reason = b[2];
		h->reject.statsn = get_be32(b + 24);
		h->reject.expcmdsn = get_be32(b + 28);
		h->reject.maxcmdsn = get_be32(b + 32);
		h->reject.datasn_r2tsn = get_be32(b + 36);
		break;
	default:
		break;
	}
}

/* RFC 7143 11.12.2-11.12.3 (and 11.13 for the response): T/C and the stage fields. */
static int
pdu_check_login_flags(uint8_t flags, struct pdu_err *err)
{
	bool transit = flags & PDU_LOGIN_TRANSIT;
	unsigned csg = (flags & PDU_LOGIN_CSG_MASK) >> PDU_LOGIN_CSG_SHIFT;
	unsigned nsg = flags & PDU_LOGIN_NSG_MASK;

	/* 11.12.2: "If the C bit is set to 1, the T bit MUST be 0." */
	if (transit && (flags & PDU_TEXT_CONTINUE))
		return pdu_fail(err, PDU_DEFECT_FLAGS, PDU_REJECT_PROTOCOL_ERROR, 1);
	/* Stage 2 is reserved; a Login PDU is never in Full Feature Phase. */
	if (csg == 2 || csg == PDU_STAGE_FULL_FEATURE)
		return pdu_fail(err, PDU_DEFECT_STAGE, PDU_REJECT_PROTOCOL_ERROR, 1);
	/* NSG is reserved when T is 0; with T it must move forward to a defined stage. */
	if (transit && (nsg == 2 || nsg <= csg))
		return pdu_fail(err, PDU_DEFECT_STAGE, PDU_REJECT_PROTOCOL_ERROR, 1);
	return 0;
}

/* Opcode-specific checks, after the generic ones passed. */
static int
pdu_check_fields(const struct pdu_hdr *h, struct pdu_err *err)
{
	switch (h->opcode) {
	case PDU_OP_NOP_OUT:
		/* RFC 7143 11.18: ITT 0xffffffff (no response wanted) requires the I bit. */
		if (h->itt == PDU_RESERVED_TAG && !h->immediate)
			return pdu_fail(err, PDU_DEFECT_FIELD, PDU_REJECT_INVALID_FIELD, 16);
		break;
	case PDU_OP_SCSI_CMD:
		/* 11.3.1: only a write carries immediate data; 11.3.4: and at most EDTL of it. */
		if (h->data_len && !(h->flags & PDU_SCSI_WRITE))
			return pdu_fail(err, PDU_DEFECT_FIELD, PDU_REJECT_PROTOCOL_ERROR, 1);
		if (h->data_len > h->scsi_cmd.edtl)
			return pdu_fail(err, PDU_DEFECT_FIELD, PDU_REJECT_PROTOCOL_ERROR, 5);
		break;
	case PDU_OP_SCSI_RSP:
		/* 11.4.5: O and U, and o and u, are mutually exclusive. */
		if ((h->flags & PDU_RSP_OVERFLOW && h->flags & PDU_RSP_UNDERFLOW) ||
		    (h->flags & PDU_RSP_BIDI_OVERFLOW && h->flags & PDU_RSP_BIDI_UNDERFLOW))
			return pdu_fail(err, PDU_DEFECT_FLAGS, PDU_REJECT_PROTOCOL_ERROR, 1);
		break;
	case PDU_OP_TMF_REQ:
		/* 11.5: byte 1 is 1|Function. */
		if (!(h->flags & PDU_FLAG_FINAL))
			return pdu_fail(err, PDU_DEFECT_FLAGS, PDU_REJECT_PROTOCOL_ERROR, 1);
		/* 11.6.1: an unknown function is answered by a TMF Response "Function rejected",
		 * not by a Reject. */
		if (h->tmf_req.function < PDU_TMF_ABORT_TASK ||
		    h->tmf_req.function > PDU_TMF_TASK_REASSIGN)
			return pdu_fail(err, PDU_DEFECT_TMF_FUNCTION, PDU_REJECT_NONE, 1);
		break;
	case PDU_OP_LOGIN_REQ: {
		int r = pdu_check_login_flags(h->flags, err);
		if (r < 0)
			return r;
		/* 11.12.4: we speak version 0x00 only, so the initiator's range must include it. */
		if (h->login_req.version_min > 0)
			return pdu_fail(err, PDU_DEFECT_VERSION, PDU_REJECT_PROTOCOL_ERROR, 3);
		break;
	}
	case PDU_OP_LOGIN_RSP: {
		/* A failed login ends the connection anyway; let its status reach the caller
		 * rather than a complaint about the flags the target left in it. */
		if (h->login_rsp.status >> 8)
			break;
		int r = pdu_check_login_flags(h->flags, err);
		if (r < 0)
			return r;
		if (h->login_rsp.version_active != 0)
			return pdu_fail(err, PDU_DEFECT_VERSION, PDU_REJECT_PROTOCOL_ERROR, 3);
		break;
	}
	case PDU_OP_TEXT_REQ:
	case PDU_OP_TEXT_RSP:
		/* 11.10.2/11.11.2: F and C are never both set. */
		if ((h->flags & PDU_FLAG_FINAL) && (h->flags & PDU_TEXT_CONTINUE))
			return pdu_fail(err, PDU_DEFECT_FLAGS, PDU_REJECT_PROTOCOL_ERROR, 1);
		break;
	case PDU_OP_DATA_IN:
		/* 11.7.1: "If the S bit is set to 1, the F bit MUST also be set to 1." */
		if ((h->flags & PDU_DATA_IN_STATUS) && !(h->flags & PDU_FLAG_FINAL))
			return pdu_fail(err, PDU_DEFECT_FLAGS, PDU_REJECT_PROTOCOL_ERROR, 1);
		break;
	case PDU_OP_LOGOUT_REQ:
		if (h->logout_req.reason > PDU_LOGOUT_RECOVERY)
			return pdu_fail(err, PDU_DEFECT_LOGOUT_REASON, PDU_REJECT_PROTOCOL_ERROR,
					1);
		break;
	case PDU_OP_SNACK:
		/* 11.16.1: Data/R2T, Status, DataACK, R-Data. */
		if ((h->flags & PDU_SNACK_TYPE_MASK) > 3)
			return pdu_fail(err, PDU_DEFECT_SNACK_TYPE, PDU_REJECT_PROTOCOL_ERROR, 1);
		break;
	default:
		break;
	}
	return 0;
}

int
pdu_decode(const uint8_t bhs[PDU_BHS_LEN], enum pdu_side side, const struct pdu_limits *limits,
	   struct pdu_hdr *h, struct pdu_err *err)
{
	uint8_t op = bhs[0] & PDU_OPCODE_MASK;
	const struct pdu_op_info *info = &pdu_ops[op];
	bool initiator_op = op < PDU_OP_NOP_IN;

	memset(h, 0, sizeof(*h));
	if (err)
		*err = (struct pdu_err){ .defect = PDU_OK, .reject = PDU_REJECT_NONE };

	h->opcode = op;
	h->flags = bhs[1];
	h->ahs_words = bhs[4];
	h->data_len = get_be24(bhs + 5);
	h->itt = get_be32(bhs + 16);
	if (!(info->flags & OPF_KNOWN))
		return pdu_fail(err, PDU_DEFECT_UNKNOWN_OPCODE, PDU_REJECT_CMD_NOT_SUPPORTED, 0);

	/* Byte 0 bit 6 is the I bit on initiator PDUs and reserved on target PDUs. */
	if (initiator_op)
		h->immediate = bhs[0] & PDU_IMMEDIATE;
	if (info->flags & OPF_LUN)
		h->lun = get_be64(bhs + 8);
	pdu_decode_fields(bhs, h);

	if (initiator_op != (side == PDU_SIDE_TARGET))
		return pdu_fail(err, PDU_DEFECT_WRONG_DIRECTION, PDU_REJECT_PROTOCOL_ERROR, 0);
	if (h->immediate && !(info->flags & OPF_IMMEDIATE))
		return pdu_fail(err, PDU_DEFECT_IMMEDIATE_INVALID, PDU_REJECT_PROTOCOL_ERROR, 0);

	uint32_t max_ahs = PDU_MAX_AHS_LEN, max_data = PDU_MAX_DATA_LEN;
	if (limits && limits->max_ahs_len)
		max_ahs = limits->max_ahs_len;
	if (limits && limits->max_data_len)
		max_data = limits->max_data_len;
	if (h->ahs_words) {
		if (!(info->flags & OPF_AHS))
			return pdu_fail(err, PDU_DEFECT_AHS_NOT_ALLOWED, PDU_REJECT_PROTOCOL_ERROR,
					4);
		if ((uint32_t)h->ahs_words * 4 > max_ahs)
			return pdu_fail(err, PDU_DEFECT_AHS_TOO_LONG, PDU_REJECT_PROTOCOL_ERROR, 4);
	}
	if (h->data_len) {
		if (!(info->flags & OPF_DATA))
			return pdu_fail(err, PDU_DEFECT_DATA_NOT_ALLOWED, PDU_REJECT_PROTOCOL_ERROR,
					5);
		if (h->data_len > max_data)
			return pdu_fail(err, PDU_DEFECT_DATA_TOO_LONG, PDU_REJECT_PROTOCOL_ERROR,
					5);
	}
	return pdu_check_fields(h, err);
}

void
pdu_encode(const struct pdu_hdr *h, uint8_t bhs[PDU_BHS_LEN])
{
	uint8_t op = h->opcode & PDU_OPCODE_MASK;
	uint8_t *b = bhs;

	memset(b, 0, PDU_BHS_LEN);
	b[0] = op;
	if (op < PDU_OP_NOP_IN && h->immediate)
		b[0] |= PDU_IMMEDIATE;
	b[1] = h->flags;
	b[4] = h->ahs_words;
	put_be24(b + 5, h->data_len & PDU_MAX_DATA_LEN);
	put_be32(b + 16, h->itt);
	/* For Login the isid/tsih members below overwrite these bytes: they are authoritative. */
	if (pdu_ops[op].flags & OPF_LUN)
		put_be64(b + 8, h->lun);

	switch (op) {
	case PDU_OP_NOP_OUT:
		put_be32(b + 20, h->nop_out.ttt);
		put_be32(b + 24, h->nop_out.cmdsn);
		put_be32(b + 28, h->nop_out.expstatsn);
		break;
	case PDU_OP_NOP_IN:
		put_be32(b + 20, h->nop_in.ttt);
		put_be32(b + 24, h->nop_in.statsn);
		put_be32(b + 28, h->nop_in.expcmdsn);
		put_be32(b + 32, h->nop_in.maxcmdsn);
		break;
	case PDU_OP_SCSI_CMD:
		put_be32(b + 20, h->scsi_cmd.edtl);
		put_be32(b + 24, h->scsi_cmd.cmdsn);
		put_be32(b + 28, h->scsi_cmd.expstatsn);
		memcpy(b + 32, h->scsi_cmd.cdb, 16);
		break;
	case PDU_OP_SCSI_RSP:
		b[2] = h->scsi_rsp.response;
		b[3] = h->scsi_rsp.status;
		put_be32(b + 20, h->scsi_rsp.snack_tag);
		put_be32(b + 24, h->scsi_rsp.statsn);
		put_be32(b + 28, h->scsi_rsp.expcmdsn);
		put_be32(b + 32, h->scsi_rsp.maxcmdsn);
		put_be32(b + 36, h->scsi_rsp.expdatasn);
		put_be32(b + 40, h->scsi_rsp.bidi_residual);
		put_be32(b + 44, h->scsi_rsp.residual);
		break;
	case PDU_OP_TMF_REQ:
		b[1] = (uint8_t)((h->flags & PDU_FLAG_FINAL) | (h->tmf_req.function & 0x7f));
		put_be32(b + 20, h->tmf_req.rtt);
		put_be32(b + 24, h->tmf_req.cmdsn);
		put_be32(b + 28, h->tmf_req.expstatsn);
		put_be32(b + 32, h->tmf_req.refcmdsn);
		put_be32(b + 36, h->tmf_req.expdatasn);
		break;
	case PDU_OP_TMF_RSP:
		b[2] = h->tmf_rsp.response;
		put_be32(b + 24, h->tmf_rsp.statsn);
		put_be32(b + 28, h->tmf_rsp.expcmdsn);
		put_be32(b + 32, h->tmf_rsp.maxcmdsn);
		break;
	case PDU_OP_LOGIN_REQ:
		b[2] = h->login_req.version_max;
		b[3] = h->login_req.version_min;
		memcpy(b + 8, h->login_req.isid, 6);
		put_be16(b + 14, h->login_req.tsih);
		put_be16(b + 20, h->login_req.cid);
		put_be32(b + 24, h->login_req.cmdsn);
		put_be32(b + 28, h->login_req.expstatsn);
		break;
	case PDU_OP_LOGIN_RSP:
		b[2] = h->login_rsp.version_max;
		b[3] = h->login_rsp.version_active;
		memcpy(b + 8, h->login_rsp.isid, 6);
		put_be16(b + 14, h->login_rsp.tsih);
		put_be32(b + 24, h->login_rsp.statsn);
		put_be32(b + 28, h->login_rsp.expcmdsn);
		put_be32(b + 32, h->login_rsp.maxcmdsn);
		put_be16(b + 36, h->login_rsp.status);
		break;
	case PDU_OP_TEXT_REQ:
		put_be32(b + 20, h->text_req.ttt);
		put_be32(b + 24, h->text_req.cmdsn);
		put_be32(b + 28, h->text_req.expstatsn);
		break;
	case PDU_OP_TEXT_RSP:
		put_be32(b + 20, h->text_rsp.ttt);
		put_be32(b + 24, h->text_rsp.statsn);
		put_be32(b + 28, h->text_rsp.expcmdsn);
		put_be32(b + 32, h->text_rsp.maxcmdsn);
		break;
	case PDU_OP_DATA_OUT:
		put_be32(b + 20, h->data_out.ttt);
		put_be32(b + 28, h->data_out.expstatsn);
		put_be32(b + 36, h->data_out.datasn);
		put_be32(b + 40, h->data_out.offset);
		break;
	case PDU_OP_DATA_IN:
		if (h->flags & PDU_DATA_IN_STATUS) {
			b[3] = h->data_in.status;
			put_be32(b + 24, h->data_in.statsn);
		}
		put_be32(b + 20, h->data_in.ttt);
		put_be32(b + 28, h->data_in.expcmdsn);
		put_be32(b + 32, h->data_in.maxcmdsn);
		put_be32(b + 36, h->data_in.datasn);
		put_be32(b + 40, h->data_in.offset);
		put_be32(b + 44, h->data_in.residual);
		break;
	case PDU_OP_LOGOUT_REQ:
		b[1] = (uint8_t)((h->flags & PDU_FLAG_FINAL) | (h->logout_req.reason & 0x7f));
		put_be16(b + 20, h->logout_req.cid);
		put_be32(b + 24, h->logout_req.cmdsn);
		put_be32(b + 28, h->logout_req.expstatsn);
		break;
	case PDU_OP_LOGOUT_RSP:
		b[2] = h->logout_rsp.response;
		put_be32(b + 24, h->logout_rsp.statsn);
		put_be32(b + 28, h->logout_rsp.expcmdsn);
		put_be32(b + 32, h->logout_rsp.maxcmdsn);
		put_be16(b + 40, h->logout_rsp.time2wait);
		put_be16(b + 42, h->logout_rsp.time2retain);
		break;
	case PDU_OP_SNACK:
		put_be32(b + 20, h->snack.ttt);
		put_be32(b + 28, h->snack.expstatsn);
		put_be32(b + 40, h->snack.begrun);
		put_be32(b + 44, h->snack.runlength);
		break;
	case PDU_OP_R2T:
		put_be32(b + 20, h->r2t.ttt);
		put_be32(b + 24, h->r2t.statsn);
		put_be32(b + 28, h->r2t.expcmdsn);
		put_be32(b + 32, h->r2t.maxcmdsn);
		put_be32(b + 36, h->r2t.r2tsn);
		put_be32(b + 40, h->r2t.offset);
		put_be32(b + 44, h->r2t.desired_len);
		break;
	case PDU_OP_ASYNC:
		put_be32(b + 24, h->async.statsn);
		put_be32(b + 28, h->async.expcmdsn);
		put_be32(b + 32, h->async.maxcmdsn);
		b[36] = h->async.event;
		b[37] = h->async.vcode;
		put_be16(b + 38, h->async.param1);
		put_be16(b + 40, h->async.param2);
		put_be16(b + 42, h->async.param3);
		break;
	case PDU_OP_REJECT:
		b[2] = h->reject.reason;
		put_be32(b + 24, h->reject.statsn);
		put_be32(b + 28, h->reject.expcmdsn);
		put_be32(b + 32, h->reject.maxcmdsn);
		put_be32(b + 36, h->reject.datasn_r2tsn);
		break;
	default:
		break;
	}
}

/*
 * RFC 7143 11.2.2: each AHS is AHSLength (2 bytes, counting the bytes after AHSType, i.e.
 * the reserved/specific byte and the payload, not the padding), AHSType (bits 2-7 the code,
 * bits 0-1 reserved), then the AHS-specific bytes, padded to a 4-byte boundary.
 */
#define AHS_HDR_LEN 3
#define AHS_TYPE_MASK 0x3f

static int
pdu_ahs_fail(struct pdu_err *err)
{
	return pdu_fail(err, PDU_DEFECT_AHS_MALFORMED, PDU_REJECT_PROTOCOL_ERROR, 4);
}

int
pdu_ahs_parse(const uint8_t *ahs, size_t len, struct pdu_ahs *out, struct pdu_err *err)
{
	bool have_cdb = false;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	out->cdb_len = 16;
	if (err)
		*err = (struct pdu_err){ .defect = PDU_OK, .reject = PDU_REJECT_NONE };
	if (len % 4 || len > PDU_MAX_AHS_LEN)
		return pdu_ahs_fail(err);

	while (off < len) {
		if (len - off < AHS_HDR_LEN + 1)
			return pdu_ahs_fail(err);
		size_t ahs_len = get_be16(ahs + off);
		uint8_t type = ahs[off + 2] & AHS_TYPE_MASK;
		size_t total = (AHS_HDR_LEN + ahs_len + 3) & ~(size_t)3;
		if (total > len - off)
			return pdu_ahs_fail(err);
		const uint8_t *payload = ahs + off + 4; /* after the reserved byte */

		switch (type) {
		case PDU_AHS_EXTENDED_CDB: {
			/* 11.2.2.3: AHSLength = CDB length - 15 (the reserved byte counts). */
			size_t ext = ahs_len - 1;
			if (have_cdb || ahs_len < 1 || ext > sizeof(out->cdb_ext))
				return pdu_ahs_fail(err);
			memcpy(out->cdb_ext, payload, ext);
			out->cdb_len = (uint16_t)(16 + ext);
			have_cdb = true;
			break;
		}
		case PDU_AHS_BIDI_READ_LEN:
			/* 11.2.2.4: AHSLength is always 5. */
			if (out->has_bidi_read_len || ahs_len != 5)
				return pdu_ahs_fail(err);
			out->bidi_read_len = get_be32(payload);
			out->has_bidi_read_len = true;
			break;
		default:
			/* Reserved or vendor codes carry nothing we use: skip them. */
			break;
		}
		off += total;
	}
	return 0;
}

int
pdu_ahs_build(uint8_t *out, size_t cap, const uint8_t *cdb, size_t cdb_len, int64_t bidi_read_len)
{
	size_t off = 0;

	if (cdb_len > PDU_MAX_CDB_LEN || (cdb_len > 16 && !cdb) || bidi_read_len > UINT32_MAX)
		return -EINVAL;
	size_t need = 0;
	if (cdb_len > 16)
		need += (AHS_HDR_LEN + (cdb_len - 15) + 3) & ~(size_t)3;
	if (bidi_read_len >= 0)
		need += 8;
	if (need > cap)
		return -ENOSPC;

	if (cdb_len > 16) {
		size_t ext = cdb_len - 16;
		size_t total = (AHS_HDR_LEN + ext + 1 + 3) & ~(size_t)3;
		memset(out + off, 0, total);
		put_be16(out + off, (uint16_t)(ext + 1));
		out[off + 2] = PDU_AHS_EXTENDED_CDB;
		memcpy(out + off + 4, cdb + 16, ext);
		off += total;
	}
	if (bidi_read_len >= 0) {
		put_be16(out + off, 5);
		out[off + 2] = PDU_AHS_BIDI_READ_LEN;
		out[off + 3] = 0;
		put_be32(out + off + 4, (uint32_t)bidi_read_len);
		off += 8;
	}
	return (int)off;
}

size_t
pdu_wire_len(const struct pdu_hdr *h, bool header_digest, bool data_digest)
{
	size_t n = PDU_BHS_LEN + (size_t)h->ahs_words * 4;
	if (header_digest)
		n += PDU_DIGEST_LEN;
	if (h->data_len) {
		n += h->data_len + pdu_pad_len(h->data_len);
		if (data_digest)
			n += PDU_DIGEST_LEN;
	}
	return n;
}

uint32_t
pdu_header_digest(const uint8_t *bhs_ahs, size_t len)
{
	return crc32c(bhs_ahs, len);
}

uint32_t
pdu_data_digest_final(uint32_t state, uint32_t len)
{
	static const uint8_t zeros[4];
	/* RFC 7143 11.2.3/13.1: the data digest covers the padding bytes too. */
	return crc32c_final(crc32c_update(state, zeros, pdu_pad_len(len)));
}

uint32_t
pdu_data_digest(const uint8_t *data, uint32_t len)
{
	return pdu_data_digest_final(crc32c_update(CRC32C_INIT, data, len), len);
}

int
pdu_check_header_digest(const uint8_t *bhs_ahs, size_t len, const uint8_t *wire,
			struct pdu_err *err)
{
	if (pdu_header_digest(bhs_ahs, len) == pdu_get_digest(wire))
		return 0;
	/* RFC 7143 7.8: a header digest error is never answered with a Reject; the PDU is
	 * discarded or the connection dropped. */
	return pdu_fail(err, PDU_DEFECT_HEADER_DIGEST, PDU_REJECT_NONE, 0);
}

int
pdu_check_data_digest(uint32_t computed, const uint8_t *wire, struct pdu_err *err)
{
	if (computed == pdu_get_digest(wire))
		return 0;
	return pdu_fail(err, PDU_DEFECT_DATA_DIGEST, PDU_REJECT_DATA_DIGEST, 0);
}

void
pdu_track_target_sn(const struct pdu_hdr *h, uint32_t *expstatsn, uint32_t *expcmdsn,
		    uint32_t *maxcmdsn)
{
	uint32_t statsn = 0, exp = 0, max = 0;
	bool has_status = false, has_window = true;

	switch (h->opcode) {
	case PDU_OP_NOP_IN:
		statsn = h->nop_in.statsn;
		exp = h->nop_in.expcmdsn;
		max = h->nop_in.maxcmdsn;
		has_status = h->itt != PDU_RESERVED_TAG;
		break;
	case PDU_OP_SCSI_RSP:
		statsn = h->scsi_rsp.statsn;
		exp = h->scsi_rsp.expcmdsn;
		max = h->scsi_rsp.maxcmdsn;
		has_status = true;
		break;
	case PDU_OP_TMF_RSP:
		statsn = h->tmf_rsp.statsn;
		exp = h->tmf_rsp.expcmdsn;
		max = h->tmf_rsp.maxcmdsn;
		has_status = true;
		break;
	case PDU_OP_LOGIN_RSP:
		statsn = h->login_rsp.statsn;
		exp = h->login_rsp.expcmdsn;
		max = h->login_rsp.maxcmdsn;
		has_status = true;
		break;
	case PDU_OP_TEXT_RSP:
		statsn = h->text_rsp.statsn;
		exp = h->text_rsp.expcmdsn;
		max = h->text_rsp.maxcmdsn;
		has_status = true;
		break;
	case PDU_OP_DATA_IN:
		statsn = h->data_in.statsn;
		exp = h->data_in.expcmdsn;
		max = h->data_in.maxcmdsn;
		has_status = (h->flags & PDU_DATA_IN_STATUS) != 0;
		break;
	case PDU_OP_LOGOUT_RSP:
		statsn = h->logout_rsp.statsn;
		exp = h->logout_rsp.expcmdsn;
		max = h->logout_rsp.maxcmdsn;
		has_status = true;
		break;
	case PDU_OP_R2T:
		exp = h->r2t.expcmdsn;
		max = h->r2t.maxcmdsn;
		break;
	case PDU_OP_ASYNC:
		statsn = h->async.statsn;
		exp = h->async.expcmdsn;
		max = h->async.maxcmdsn;
		has_status = true;
		break;
	case PDU_OP_REJECT:
		statsn = h->reject.statsn;
		exp = h->reject.expcmdsn;
		max = h->reject.maxcmdsn;
		has_status = true;
		break;
	default:
		has_window = false;
	}
	if (has_status && sn_ge(statsn, *expstatsn))
		*expstatsn = statsn + 1;
	/* RFC 7143 4.2.2.1: ignore a window with MaxCmdSN < ExpCmdSN - 1 */
	if (has_window && !sn_lt(max, exp - 1)) {
		if (sn_gt(exp, *expcmdsn))
			*expcmdsn = exp;
		if (sn_gt(max, *maxcmdsn))
			*maxcmdsn = max;
	}
}
