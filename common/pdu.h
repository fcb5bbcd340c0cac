/*
 * iSCSI PDU codec (RFC 7143 section 11): Basic Header Segment, Additional Header Segments,
 * padding and digests. Pure code: no I/O, no allocation, no logging. Safe on the datapath.
 *
 * Decoding turns the 48 wire bytes into struct pdu_hdr (host order, one union member per
 * opcode) and validates everything that can be checked from the header alone; a malformed
 * header yields a struct pdu_err naming the precise defect and the RFC 7143 Reject reason to
 * send. Encoding is the exact inverse; reserved fields are written as zero.
 */
#ifndef BALLAST_PDU_H
#define BALLAST_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PDU_BHS_LEN 48
#define PDU_DIGEST_LEN 4
#define PDU_MAX_AHS_LEN (255 * 4)  /* TotalAHSLength is one byte of 4-byte words */
#define PDU_MAX_DATA_LEN 0xffffff  /* DataSegmentLength is 24 bits */
#define PDU_MAX_CDB_LEN 260        /* 16 in the BHS + up to 244 in an extended CDB AHS */

/* Opcodes (byte 0, low 6 bits). Initiator opcodes 0x00-0x1f, target opcodes 0x20-0x3f. */
enum pdu_opcode {
	PDU_OP_NOP_OUT = 0x00,
	PDU_OP_SCSI_CMD = 0x01,
	PDU_OP_TMF_REQ = 0x02,
	PDU_OP_LOGIN_REQ = 0x03,
	PDU_OP_TEXT_REQ = 0x04,
	PDU_OP_DATA_OUT = 0x05,
	PDU_OP_LOGOUT_REQ = 0x06,
	PDU_OP_SNACK = 0x10,
	PDU_OP_NOP_IN = 0x20,
	PDU_OP_SCSI_RSP = 0x21,
	PDU_OP_TMF_RSP = 0x22,
	PDU_OP_LOGIN_RSP = 0x23,
	PDU_OP_TEXT_RSP = 0x24,
	PDU_OP_DATA_IN = 0x25,
	PDU_OP_LOGOUT_RSP = 0x26,
	PDU_OP_R2T = 0x31,
	PDU_OP_ASYNC = 0x32,
	PDU_OP_REJECT = 0x3f,
};

#define PDU_OPCODE_MASK 0x3f
#define PDU_IMMEDIATE 0x40 /* byte 0: I bit (initiator PDUs only) */

/* Byte 1 flags. */
#define PDU_FLAG_FINAL 0x80 /* F: final PDU of a sequence */
/* SCSI Command */
#define PDU_SCSI_READ 0x40
#define PDU_SCSI_WRITE 0x20
#define PDU_SCSI_ATTR_MASK 0x07
enum pdu_task_attr {
	PDU_ATTR_UNTAGGED = 0,
	PDU_ATTR_SIMPLE = 1,
	PDU_ATTR_ORDERED = 2,
	PDU_ATTR_HEAD_OF_QUEUE = 3,
	PDU_ATTR_ACA = 4,
};
/* SCSI Response and Data-In residual flags */
#define PDU_RSP_BIDI_OVERFLOW 0x10  /* o */
#define PDU_RSP_BIDI_UNDERFLOW 0x08 /* u */
#define PDU_RSP_OVERFLOW 0x04       /* O */
#define PDU_RSP_UNDERFLOW 0x02      /* U */
#define PDU_DATA_IN_ACK 0x40        /* A */
#define PDU_DATA_IN_STATUS 0x01     /* S */
/* Login / Text */
#define PDU_LOGIN_TRANSIT 0x80 /* T */
#define PDU_TEXT_CONTINUE 0x40 /* C (Login and Text) */
#define PDU_LOGIN_CSG_SHIFT 2
#define PDU_LOGIN_CSG_MASK 0x0c
#define PDU_LOGIN_NSG_MASK 0x03
enum pdu_login_stage {
	PDU_STAGE_SECURITY = 0,
	PDU_STAGE_OPERATIONAL = 1,
	PDU_STAGE_FULL_FEATURE = 3,
};
#define PDU_SNACK_TYPE_MASK 0x0f

/* SCSI Response "Response" field (RFC 7143 11.4.3). */
#define PDU_RESPONSE_COMPLETED 0x00
#define PDU_RESPONSE_TARGET_FAILURE 0x01

/* Task management functions and responses (RFC 7143 11.5.1, 11.6.1). */
enum pdu_tmf_function {
	PDU_TMF_ABORT_TASK = 1,
	PDU_TMF_ABORT_TASK_SET = 2,
	PDU_TMF_CLEAR_ACA = 3,
	PDU_TMF_CLEAR_TASK_SET = 4,
	PDU_TMF_LUN_RESET = 5,
	PDU_TMF_TARGET_WARM_RESET = 6,
	PDU_TMF_TARGET_COLD_RESET = 7,
	PDU_TMF_TASK_REASSIGN = 8,
};
enum pdu_tmf_response {
	PDU_TMF_RSP_COMPLETE = 0,
	PDU_TMF_RSP_NO_TASK = 1,
	PDU_TMF_RSP_NO_LUN = 2,
	PDU_TMF_RSP_TASK_ALLEGIANT = 3,
	PDU_TMF_RSP_NO_REASSIGN = 4,
	PDU_TMF_RSP_NOT_SUPPORTED = 5,
	PDU_TMF_RSP_NOT_AUTHORIZED = 6,
	PDU_TMF_RSP_REJECTED = 255,
};

/* Logout reasons and responses (RFC 7143 11.14.1, 11.15.1). */
enum pdu_logout_reason {
	PDU_LOGOUT_SESSION = 0,
	PDU_LOGOUT_CONNECTION = 1,
	PDU_LOGOUT_RECOVERY = 2,
};
enum pdu_logout_response {
	PDU_LOGOUT_RSP_OK = 0,
	PDU_LOGOUT_RSP_NO_CID = 1,
	PDU_LOGOUT_RSP_NO_RECOVERY = 2,
	PDU_LOGOUT_RSP_FAILED = 3,
};

/* Async events (RFC 7143 11.9.1). */
enum pdu_async_event {
	PDU_ASYNC_SCSI = 0,
	PDU_ASYNC_LOGOUT_REQUEST = 1,
	PDU_ASYNC_DROP_CONNECTION = 2,
	PDU_ASYNC_DROP_ALL = 3,
	PDU_ASYNC_NEGOTIATE = 4,
	PDU_ASYNC_TASK_TERMINATION = 5,
	PDU_ASYNC_VENDOR = 255,
};

/* Reject reasons (RFC 7143 11.17.1). */
enum pdu_reject_reason {
	PDU_REJECT_NONE = 0x00,
	PDU_REJECT_DATA_DIGEST = 0x02,
	PDU_REJECT_SNACK = 0x03,
	PDU_REJECT_PROTOCOL_ERROR = 0x04,
	PDU_REJECT_CMD_NOT_SUPPORTED = 0x05,
	PDU_REJECT_IMMEDIATE_CMD = 0x06,
	PDU_REJECT_TASK_IN_PROGRESS = 0x07,
	PDU_REJECT_INVALID_DATA_ACK = 0x08,
	PDU_REJECT_INVALID_FIELD = 0x09,
	PDU_REJECT_OUT_OF_RESOURCES = 0x0a,
	PDU_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

/* Login status classes and details (RFC 7143 11.13.5). Encoded as (class << 8 | detail). */
#define PDU_LOGIN_STATUS(c, d) ((uint16_t)((c) << 8 | (d)))
enum pdu_login_status {
	PDU_LOGIN_SUCCESS = PDU_LOGIN_STATUS(0, 0),
	PDU_LOGIN_TARGET_MOVED_TEMP = PDU_LOGIN_STATUS(1, 1),
	PDU_LOGIN_TARGET_MOVED_PERM = PDU_LOGIN_STATUS(1, 2),
	PDU_LOGIN_INITIATOR_ERROR = PDU_LOGIN_STATUS(2, 0),
	PDU_LOGIN_AUTH_FAILED = PDU_LOGIN_STATUS(2, 1),
	PDU_LOGIN_FORBIDDEN = PDU_LOGIN_STATUS(2, 2),
	PDU_LOGIN_NOT_FOUND = PDU_LOGIN_STATUS(2, 3),
	PDU_LOGIN_TARGET_REMOVED = PDU_LOGIN_STATUS(2, 4),
	PDU_LOGIN_UNSUPPORTED_VERSION = PDU_LOGIN_STATUS(2, 5),
	PDU_LOGIN_TOO_MANY_CONNECTIONS = PDU_LOGIN_STATUS(2, 6),
	PDU_LOGIN_MISSING_PARAMETER = PDU_LOGIN_STATUS(2, 7),
	PDU_LOGIN_CANT_INCLUDE_IN_SESSION = PDU_LOGIN_STATUS(2, 8),
	PDU_LOGIN_SESSION_TYPE_UNSUPPORTED = PDU_LOGIN_STATUS(2, 9),
	PDU_LOGIN_SESSION_DOES_NOT_EXIST = PDU_LOGIN_STATUS(2, 10),
	PDU_LOGIN_INVALID_DURING_LOGIN = PDU_LOGIN_STATUS(2, 11),
	PDU_LOGIN_TARGET_ERROR = PDU_LOGIN_STATUS(3, 0),
	PDU_LOGIN_SERVICE_UNAVAILABLE = PDU_LOGIN_STATUS(3, 1),
	PDU_LOGIN_OUT_OF_RESOURCES = PDU_LOGIN_STATUS(3, 2),
};

/* The BHS as it sits on the wire (RFC 7143 11.2.1). Opcode-specific bytes 20..47 stay raw. */
struct pdu_bhs {
	uint8_t opcode;        /* I bit + opcode */
	uint8_t flags;         /* F bit + opcode-specific flags */
	uint8_t spec1[2];      /* opcode-specific */
	uint8_t total_ahs_len; /* in 4-byte words */
	uint8_t data_len[3];   /* DataSegmentLength, big-endian 24-bit */
	uint8_t lun[8];        /* LUN or opcode-specific */
	uint8_t itt[4];        /* Initiator Task Tag */
	uint8_t spec2[28];     /* opcode-specific */
};
_Static_assert(sizeof(struct pdu_bhs) == PDU_BHS_LEN, "BHS is 48 bytes");

/*
 * A decoded BHS. Fields of the union member matching `opcode` are valid; the rest are zero
 * after pdu_decode(). Fields named like the RFC, in host order. Unused = reserved on the wire.
 */
struct pdu_hdr {
	uint8_t opcode;    /* enum pdu_opcode, without the I bit */
	bool immediate;    /* I bit */
	uint8_t flags;     /* byte 1, raw (F and opcode-specific bits) */
	uint8_t ahs_words; /* TotalAHSLength */
	uint32_t data_len; /* DataSegmentLength (unpadded) */
	uint64_t lun;      /* bytes 8..15 as a big-endian integer (LUN, or ISID+TSIH for Login) */
	uint32_t itt;      /* Initiator Task Tag */
	union {
		struct {
			uint32_t ttt, cmdsn, expstatsn;
		} nop_out;
		struct {
			uint32_t ttt, statsn, expcmdsn, maxcmdsn;
		} nop_in;
		struct {
			uint32_t edtl; /* Expected Data Transfer Length */
			uint32_t cmdsn, expstatsn;
			uint8_t cdb[16];
		} scsi_cmd;
		struct {
			uint8_t response, status;
			uint32_t snack_tag, statsn, expcmdsn, maxcmdsn, expdatasn;
			uint32_t bidi_residual, residual;
		} scsi_rsp;
		struct {
			uint8_t function; /* enum pdu_tmf_function (byte 1 low 7 bits) */
			uint32_t rtt, cmdsn, expstatsn, refcmdsn, expdatasn;
		} tmf_req;
		struct {
			uint8_t response; /* enum pdu_tmf_response */
			uint32_t statsn, expcmdsn, maxcmdsn;
		} tmf_rsp;
		struct {
			uint8_t version_max, version_min;
			uint8_t isid[6];
			uint16_t tsih, cid;
			uint32_t cmdsn, expstatsn;
		} login_req;
		struct {
			uint8_t version_max, version_active;
			uint8_t isid[6];
			uint16_t tsih;
			uint32_t statsn, expcmdsn, maxcmdsn;
			uint16_t status; /* enum pdu_login_status: class << 8 | detail */
		} login_rsp;
		struct {
			uint32_t ttt, cmdsn, expstatsn;
		} text_req;
		struct {
			uint32_t ttt, statsn, expcmdsn, maxcmdsn;
		} text_rsp;
		struct {
			uint32_t ttt, expstatsn, datasn, offset;
		} data_out;
		struct {
			uint8_t status; /* valid when PDU_DATA_IN_STATUS is set */
			uint32_t ttt, statsn, expcmdsn, maxcmdsn, datasn, offset, residual;
		} data_in;
		struct {
			uint8_t reason; /* enum pdu_logout_reason (byte 1 low 7 bits) */
			uint16_t cid;
			uint32_t cmdsn, expstatsn;
		} logout_req;
		struct {
			uint8_t response; /* enum pdu_logout_response */
			uint32_t statsn, expcmdsn, maxcmdsn;
			uint16_t time2wait, time2retain;
		} logout_rsp;
		struct {
			uint32_t ttt, expstatsn, begrun, runlength; /* type in flags & 0x0f */
		} snack;
		struct {
			uint32_t ttt, statsn, expcmdsn, maxcmdsn, r2tsn, offset, desired_len;
		} r2t;
		struct {
			uint8_t event, vcode; /* enum pdu_async_event */
			uint32_t statsn, expcmdsn, maxcmdsn;
			uint16_t param1, param2, param3;
		} async;
		struct {
			uint8_t reason; /* enum pdu_reject_reason */
			uint32_t statsn, expcmdsn, maxcmdsn, datasn_r2tsn;
		} reject;
	};
};

/* Who receives the PDU being decoded: a target accepts only initiator opcodes and vice versa. */
enum pdu_side {
	PDU_SIDE_TARGET = 0,    /* we are the target: decode initiator PDUs */
	PDU_SIDE_INITIATOR = 1, /* we are the initiator: decode target PDUs */
};

/* The precise reason a header is malformed. */
enum pdu_defect {
	PDU_OK = 0,
	PDU_DEFECT_UNKNOWN_OPCODE,     /* opcode not defined by RFC 7143 */
	PDU_DEFECT_WRONG_DIRECTION,    /* an opcode the other side sends */
	PDU_DEFECT_IMMEDIATE_INVALID,  /* I bit on a PDU that cannot be immediate */
	PDU_DEFECT_FLAGS,              /* invalid flag combination (e.g. T and C, F missing) */
	PDU_DEFECT_DATA_TOO_LONG,      /* DataSegmentLength above the negotiated limit */
	PDU_DEFECT_DATA_NOT_ALLOWED,   /* a data segment on a PDU that must carry none */
	PDU_DEFECT_AHS_TOO_LONG,       /* TotalAHSLength above the configured limit */
	PDU_DEFECT_AHS_NOT_ALLOWED,    /* AHS on a PDU other than SCSI Command */
	PDU_DEFECT_AHS_MALFORMED,      /* AHS length or type inconsistent */
	PDU_DEFECT_STAGE,              /* Login CSG/NSG invalid (reserved stage, NSG <= CSG with T) */
	PDU_DEFECT_VERSION,            /* Login version range unsupported */
	PDU_DEFECT_TMF_FUNCTION,       /* unknown task management function */
	PDU_DEFECT_LOGOUT_REASON,      /* unknown logout reason */
	PDU_DEFECT_SNACK_TYPE,         /* unknown SNACK type */
	PDU_DEFECT_FIELD,              /* some other field holds an invalid value */
	PDU_DEFECT_HEADER_DIGEST,      /* header digest mismatch */
	PDU_DEFECT_DATA_DIGEST,        /* data digest mismatch */
	PDU_DEFECT__COUNT
};

struct pdu_err {
	enum pdu_defect defect;
	enum pdu_reject_reason reject; /* the Reject reason to send, PDU_REJECT_NONE if none */
	uint8_t byte;                  /* offset of the offending BHS byte, when known */
};

/* Validation limits, from configuration and negotiation. Zero means "the protocol maximum". */
struct pdu_limits {
	uint32_t max_data_len; /* our MaxRecvDataSegmentLength (or login/text cap) */
	uint32_t max_ahs_len;  /* bytes */
};

/* Human-readable name for a defect ("DataSegmentLength exceeds limit", ...). Never NULL. */
const char *pdu_defect_str(enum pdu_defect d);
/* Name of an opcode ("SCSI Command", "R2T", ...), "unknown" if undefined. Never NULL. */
const char *pdu_opcode_str(uint8_t opcode);

/*
 * Applies the sequence numbers of a PDU an initiator received (RFC 7143 4.2.2.1): the StatSN
 * of a PDU that carries a status (a response, Data-In with the S bit, an Asynchronous Message,
 * a Reject, a NOP-In answering a ping) advances *expstatsn; a window (ExpCmdSN, MaxCmdSN) is
 * taken unless MaxCmdSN < ExpCmdSN - 1 (invalid: ignored), and neither value ever moves back
 * (serial arithmetic). Initiator opcodes and unknown ones change nothing. Datapath-safe.
 */
void pdu_track_target_sn(const struct pdu_hdr *h, uint32_t *expstatsn, uint32_t *expcmdsn,
			 uint32_t *maxcmdsn);

/*
 * Decode and validate 48 bytes. `limits` may be NULL (protocol maxima). Returns 0, or
 * -EBADMSG with *err describing the defect (err may be NULL). On error *h holds what could be
 * decoded (opcode, itt) so that a Reject or a response can still be built.
 * Thread: any. Never blocks or allocates.
 *
 * For a known opcode every field of its union member is decoded even on error. Checks run in
 * this order: opcode, direction, I bit, AHS, data segment, opcode-specific fields. err->reject
 * is PROTOCOL_ERROR except: UNKNOWN_OPCODE -> CMD_NOT_SUPPORTED; NOP-Out ITT 0xffffffff
 * without I -> INVALID_FIELD; TMF_FUNCTION -> NONE (answer with a TMF Response, 255 "Function
 * rejected", RFC 7143 11.6.1). Login Request defects are answered with a Login Response
 * (VERSION: status 0x0205, others 0x0200), not a Reject. Reserved bytes are never checked.
 * Login Response flags/stage/version are checked only when the status class is 0 (success).
 * Data-In Status and StatSN are decoded (and encoded) only when the S bit is set; bytes 8..15
 * become `lun` except where reserved (SCSI/TMF/Logout Response, Logout Request, Reject).
 */
int pdu_decode(const uint8_t bhs[PDU_BHS_LEN], enum pdu_side side, const struct pdu_limits *limits,
	       struct pdu_hdr *h, struct pdu_err *err);

/*
 * Encode *h into 48 bytes; reserved bytes are zero. Never fails for a valid opcode. `flags`
 * is written raw (set PDU_FLAG_FINAL yourself), except that TMF and Logout Requests take byte 1
 * low bits from tmf_req.function / logout_req.reason; Login takes bytes 8..15 from isid/tsih.
 * The I bit is written only for initiator opcodes. Thread: any.
 */
void pdu_encode(const struct pdu_hdr *h, uint8_t bhs[PDU_BHS_LEN]);

/* Additional Header Segments (RFC 7143 11.2.1.2, 11.3.4, 11.3.5). */
enum pdu_ahs_type {
	PDU_AHS_EXTENDED_CDB = 1,
	PDU_AHS_BIDI_READ_LEN = 2,
};

struct pdu_ahs {
	uint16_t cdb_len;           /* total CDB length: 16 + extended bytes */
	uint8_t cdb_ext[PDU_MAX_CDB_LEN - 16]; /* bytes after the first 16 (in the BHS) */
	bool has_bidi_read_len;
	uint32_t bidi_read_len;     /* Expected Bidirectional Read Data Length */
};

/*
 * Parse `len` bytes of AHS (len = ahs_words * 4). Returns 0 or -EBADMSG with err set
 * (PDU_DEFECT_AHS_MALFORMED). out->cdb_len is 16 when no extended CDB is present.
 */
int pdu_ahs_parse(const uint8_t *ahs, size_t len, struct pdu_ahs *out, struct pdu_err *err);

/*
 * Build AHS for a SCSI Command: an extended CDB when cdb_len > 16 (cdb holds all cdb_len bytes)
 * and a bidirectional read length when bidi_read_len >= 0. Returns bytes written (multiple of
 * 4), or -ENOSPC if `cap` is too small, -EINVAL for cdb_len > PDU_MAX_CDB_LEN.
 */
int pdu_ahs_build(uint8_t *out, size_t cap, const uint8_t *cdb, size_t cdb_len,
		  int64_t bidi_read_len);

/* Bytes of padding after a data segment of `len` bytes (0..3). */
static inline uint32_t
pdu_pad_len(uint32_t len)
{
	return (4 - (len & 3)) & 3;
}

/*
 * Total bytes on the wire for a PDU with this header: BHS + AHS + header digest + data +
 * padding + data digest (the data digest only when data_len > 0).
 */
size_t pdu_wire_len(const struct pdu_hdr *h, bool header_digest, bool data_digest);

/* CRC32C over BHS+AHS (the header digest), as the 4 bytes to put on the wire (little-endian). */
uint32_t pdu_header_digest(const uint8_t *bhs_ahs, size_t len);
/* CRC32C over data + padding (the data digest). `data` may be split: see crc32c.h for chaining. */
uint32_t pdu_data_digest(const uint8_t *data, uint32_t len);
/*
 * Finish a data digest computed in pieces: state = crc32c_update(CRC32C_INIT, part1, n1); ...
 * then pdu_data_digest_final(state, total_len) adds the padding and returns the digest.
 */
uint32_t pdu_data_digest_final(uint32_t state, uint32_t len);
/*
 * Compare a computed digest with the 4 received bytes at `wire`. Return 0 or -EBADMSG with
 * *err (may be NULL) set: PDU_DEFECT_HEADER_DIGEST with reject NONE (RFC 7143 7.8: discard the
 * PDU or drop the connection), or PDU_DEFECT_DATA_DIGEST with reject DATA_DIGEST.
 */
int pdu_check_header_digest(const uint8_t *bhs_ahs, size_t len, const uint8_t *wire,
			    struct pdu_err *err);
int pdu_check_data_digest(uint32_t computed, const uint8_t *wire, struct pdu_err *err);

/* Digest value helpers: RFC 7143 digests go on the wire least significant byte first. */
static inline uint32_t
pdu_get_digest(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void
pdu_put_digest(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* True for opcodes a target may receive with the I bit set. */
bool pdu_may_be_immediate(uint8_t opcode);

/* The ITT value meaning "none" (e.g. unsolicited NOP-In). */
#define PDU_RESERVED_TAG 0xffffffffu

#endif
