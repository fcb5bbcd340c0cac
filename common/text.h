/*
 * iSCSI login/text key=value handling (RFC 7143 sections 6, 12 and 13): parsing, building and
 * the negotiation engine shared by both roles (initiator and target).
 *
 * Pure code: no allocation (every buffer and state struct is caller storage), no logging, no
 * I/O, no blocking. Not thread-safe per object (one struct text_neg belongs to one login /
 * connection); distinct objects may be used from distinct threads. Errors are -errno;
 * negotiation failures are data (struct text_fail) so the caller can log them and pick the
 * Login Response status.
 *
 * Typical use (either role):
 *   text_local_defaults(&local), then set limits, names, preferences;
 *   text_neg_init(&neg, role, &local, leading);
 *   initiator: text_neg_offer(&neg, stage, &out) and send out;
 *   per Login/Text PDU received: text_accum_append() (-E2BIG: fail the login); while the C bit
 *   is set, reply with an empty PDU and wait for more; then text_accum_parse(),
 *   text_neg_recv(&neg, stage, pairs, n, &out) (answers the peer's offers),
 *   text_neg_offer(&neg, stage, &out) (our offers/declarations not sent yet), hand the CHAP_*
 *   pairs (left alone) to common/chap, text_accum_reset(); send out.
 *   A stage is negotiated when !text_neg_pending(&neg) and the last exchange carried no new
 *   offers. At the transition to Full Feature Phase call text_neg_finish(&neg), then use
 *   neg.params.
 */
#ifndef BALLAST_COMMON_TEXT_H
#define BALLAST_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 7143 6.1: key names are at most 63 bytes; values at most 255 bytes unless a key says
 * otherwise. CHAP_C/CHAP_R are large-binary-values (12.1.3: up to 1024 bytes binary, i.e. 2050
 * characters in hex); we accept up to TEXT_VALUE_LARGE_MAX characters for the security
 * pass-through keys (CHAP_*, SRP_*, KRB_*, SPKM_*) and for unknown X-/X# keys. */
#define TEXT_KEY_MAX 63
#define TEXT_VALUE_MAX 255
#define TEXT_VALUE_LARGE_MAX 8192
/* RFC 7143 6.2: every implementation MUST accept at least 8192 bytes of key=value text in one
 * negotiation sequence. Accumulation buffers should be at least this large. */
#define TEXT_MIN_TOTAL 8192
/* iSCSI names are at most 223 bytes (RFC 7143 4.2.7.1); aliases/addresses fit a 255 value. */
#define TEXT_NAME_MAX 223
/* Numeric ranges shared by several keys (RFC 7143 13.12-13.14). */
#define TEXT_DSL_MIN 512u
#define TEXT_DSL_MAX 16777215u /* 2^24 - 1 */
/* At most this many NotUnderstood answers (unknown keys) per negotiation: bounds the reply
 * size a peer can provoke. Beyond it the negotiation fails (TEXT_FAIL_TOO_MANY). */
#define TEXT_MAX_UNKNOWN 32
/* A reply buffer of this size always holds every answer text_neg_recv() and the offers
 * text_neg_offer() can produce for one exchange (all keys + TEXT_MAX_UNKNOWN NotUnderstood +
 * names/aliases). */
#define TEXT_REPLY_MIN 8192

/* ---- Parsing ------------------------------------------------------------------------------ */

/* One key=value pair. Both pointers are borrowed from the parsed buffer and stay valid until
 * that buffer is modified or released. The key is NOT NUL-terminated (it ends at '='); the
 * value IS NUL-terminated (by the pair's own delimiter). */
struct text_pair {
	const char *key;
	const char *value;
	uint16_t key_len;   /* 1..TEXT_KEY_MAX */
	uint16_t value_len; /* 0..TEXT_VALUE_LARGE_MAX */
};

/*
 * Parse a complete text data segment: NUL-terminated key=value pairs (RFC 7143 6.1: every pair,
 * including the last, is followed by one NUL). Empty strings between delimiters are skipped.
 * Validates syntax only: key name 1..63 characters of [A-Za-z0-9.+@_-] ('#' additionally
 * allowed as the second character of an "X#" extension key), a '=' present, value length
 * (255, or 8192 for the large keys listed above). Duplicate keys are NOT detected here (a
 * SendTargets response legitimately repeats TargetName/TargetAddress); text_neg_recv() detects
 * them for the negotiation.
 * buf: borrowed for the call, pairs point into it afterwards. pairs: caller array of max_pairs.
 * bad_off: if not NULL, set to the offset of the offending pair on error.
 * Returns the number of pairs (>= 0), -EINVAL on a syntax error (missing '=', bad or empty key,
 * missing final NUL), -EMSGSIZE on a key or value over its length limit, -ENOSPC when there are
 * more than max_pairs pairs.
 */
int text_parse(const char *buf, size_t len, struct text_pair *pairs, size_t max_pairs,
	       size_t *bad_off);

/* Accumulation of a text split over several PDUs (C bit, RFC 7143 11.10.2/11.12.2). A pair may
 * straddle a PDU boundary; it parses correctly once the final PDU has been appended.
 * Fields are read-only outside text.c. */
struct text_accum {
	char *buf;  /* caller storage, borrowed until the accumulator is no longer used */
	size_t cap; /* hard cap on the total text size of one sequence */
	size_t len;
};

/* Set up an accumulator over caller storage buf[cap]. Never fails. */
void text_accum_init(struct text_accum *a, char *buf, size_t cap);

/* Append one PDU's data segment (without padding). Returns 0, or -E2BIG when the total would
 * exceed the cap (nothing is appended; the caller fails the login / rejects the Text request). */
int text_accum_append(struct text_accum *a, const void *data, size_t len);

/* Discard the accumulated text (after the sequence has been processed). */
void text_accum_reset(struct text_accum *a);

/* text_parse() over the accumulated text; same contract and returns. */
int text_accum_parse(const struct text_accum *a, struct text_pair *pairs, size_t max_pairs,
		     size_t *bad_off);

/* True if pair p has exactly the key name key (case-sensitive, RFC 7143 6.1). */
bool text_pair_is(const struct text_pair *p, const char *key);

/* First pair named key among pairs[0..n), or NULL. Result borrowed like pairs. */
const struct text_pair *text_find(const struct text_pair *pairs, size_t n, const char *key);

/* Value decoders (RFC 7143 6.1). text_value_u64: numerical-value, decimal or 0x/0X hex, up to
 * 2^64-1; returns 0 or -EINVAL (empty, bad digit, overflow). text_value_bool: "Yes"/"No"
 * exactly; returns 0 or -EINVAL. */
int text_value_u64(const char *v, size_t len, uint64_t *out);
int text_value_bool(const char *v, size_t len, bool *out);

/* ---- Building ----------------------------------------------------------------------------- */

/* Output text buffer over caller storage. Fields are read-only outside text.c; buf[0..len) is
 * the text to send (already NUL-delimited, ready to be split across PDUs by the caller). */
struct text_buf {
	char *buf;
	size_t cap;
	size_t len;
};

/* Set up an empty output buffer over caller storage buf[cap]. Never fails. */
void text_buf_init(struct text_buf *b, char *buf, size_t cap);

/*
 * Append key=value\0. Atomic: on any error nothing is appended.
 * Returns 0, -ENOSPC if it does not fit, -EINVAL if key is not a valid key name, or value is
 * longer than TEXT_VALUE_LARGE_MAX. value_len variant: value need not be NUL-terminated and
 * must not contain NUL (-EINVAL).
 */
int text_buf_add(struct text_buf *b, const char *key, const char *value);
int text_buf_add_len(struct text_buf *b, const char *key, const char *value, size_t value_len);
/* Append key=<decimal>\0. Same returns as text_buf_add(). */
int text_buf_add_u64(struct text_buf *b, const char *key, uint64_t v);
/* Append key=Yes\0 or key=No\0. Same returns as text_buf_add(). */
int text_buf_add_bool(struct text_buf *b, const char *key, bool v);

/* ---- Keys --------------------------------------------------------------------------------- */

/* Every key the engine knows (RFC 7143 12-13, RFC 7144 iSCSIProtocolLevel, RFC 7145 iSER). The
 * order is the evaluation order: keys other keys depend on come first. */
enum text_key {
	TEXT_KEY_SESSION_TYPE,
	TEXT_KEY_INITIATOR_NAME,
	TEXT_KEY_TARGET_NAME,
	TEXT_KEY_INITIATOR_ALIAS,
	TEXT_KEY_TARGET_ALIAS,
	TEXT_KEY_TARGET_ADDRESS,
	TEXT_KEY_TARGET_PORTAL_GROUP_TAG,
	TEXT_KEY_SEND_TARGETS,
	TEXT_KEY_AUTH_METHOD,
	TEXT_KEY_HEADER_DIGEST,
	TEXT_KEY_DATA_DIGEST,
	TEXT_KEY_MAX_RECV_DATA_SEGMENT_LENGTH,
	TEXT_KEY_MAX_CONNECTIONS,
	TEXT_KEY_INITIAL_R2T,
	TEXT_KEY_IMMEDIATE_DATA,
	TEXT_KEY_MAX_BURST_LENGTH,
	TEXT_KEY_FIRST_BURST_LENGTH,
	TEXT_KEY_DEFAULT_TIME2WAIT,
	TEXT_KEY_DEFAULT_TIME2RETAIN,
	TEXT_KEY_MAX_OUTSTANDING_R2T,
	TEXT_KEY_DATA_PDU_IN_ORDER,
	TEXT_KEY_DATA_SEQUENCE_IN_ORDER,
	TEXT_KEY_ERROR_RECOVERY_LEVEL,
	TEXT_KEY_OF_MARKER,
	TEXT_KEY_IF_MARKER,
	TEXT_KEY_OF_MARK_INT,
	TEXT_KEY_IF_MARK_INT,
	TEXT_KEY_TASK_REPORTING,
	TEXT_KEY_PROTOCOL_LEVEL, /* iSCSIProtocolLevel */
	TEXT_KEY_RDMA_EXTENSIONS,
	TEXT_KEY_TARGET_RECV_DSL,    /* TargetRecvDataSegmentLength (iSER) */
	TEXT_KEY_INITIATOR_RECV_DSL, /* InitiatorRecvDataSegmentLength (iSER) */
	TEXT_KEY_MAX_OUTSTANDING_UNEXPECTED_PDUS,
	TEXT_KEY__COUNT
};

/* Key id for a key name (len bytes, case-sensitive), or -ENOENT if the engine does not know it
 * (CHAP_* and X- keys included). */
int text_key_lookup(const char *key, size_t len);
/* Wire name of a key id; NULL for an out-of-range id. Static storage. */
const char *text_key_name(enum text_key k);
/* True for the authentication-method keys the engine passes through untouched to the chap
 * module (CHAP_A, CHAP_I, CHAP_C, CHAP_N, CHAP_R: any key starting with "CHAP_"). */
bool text_key_is_auth(const char *key, size_t len);

/* ---- Negotiation -------------------------------------------------------------------------- */

enum text_role {
	TEXT_ROLE_INITIATOR,
	TEXT_ROLE_TARGET,
};

/* Login stages as in the CSG field (same numbers as enum pdu_login_stage), plus Full Feature
 * Phase for Text requests. */
enum text_stage {
	TEXT_STAGE_SECURITY = 0,
	TEXT_STAGE_OPERATIONAL = 1,
	TEXT_STAGE_FULL_FEATURE = 3,
};

enum text_session_type {
	TEXT_SESSION_NORMAL,
	TEXT_SESSION_DISCOVERY,
};

/* Negotiated AuthMethod. UNSET: not negotiated (yet); the login code decides whether that is
 * acceptable (a target requiring CHAP must refuse it). */
enum text_auth {
	TEXT_AUTH_UNSET,
	TEXT_AUTH_NONE,
	TEXT_AUTH_CHAP,
};
/* Bits for text_local.auth_methods. */
#define TEXT_AUTH_F_NONE 0x1u
#define TEXT_AUTH_F_CHAP 0x2u

/* Digest preference: which values we allow and in which order we offer them. */
enum text_digest_pref {
	TEXT_DIGEST_NONE_ONLY,	   /* offer "None" */
	TEXT_DIGEST_CRC32C_ONLY,   /* offer "CRC32C" */
	TEXT_DIGEST_PREFER_CRC32C, /* offer "CRC32C,None" */
	TEXT_DIGEST_PREFER_NONE,   /* offer "None,CRC32C" */
};

/*
 * Local configuration: what we offer and the most we accept. Input to the engine; it never
 * agrees to anything beyond it. For "min" keys the value is both our offer and our ceiling;
 * for AND keys false forbids Yes; for OR keys true forbids No. Strings are borrowed until the
 * negotiation object is no longer used and may be NULL (not sent).
 */
struct text_local {
	unsigned auth_methods; /* TEXT_AUTH_F_*; initiator offers "CHAP,None" when both */
	enum text_digest_pref header_digest;
	enum text_digest_pref data_digest;
	uint32_t max_recv_dsl; /* declared MaxRecvDataSegmentLength: what our buffers receive */
	uint32_t max_xmit_dsl; /* cap on the PDUs we send, whatever the peer declares */
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
	enum text_session_type session_type; /* initiator: what we declare */
	const char *initiator_name;	     /* initiator: declared; target: unused */
	const char *initiator_alias;	     /* initiator: declared if not NULL */
	const char *target_name;	     /* initiator: declared (Normal sessions) */
	const char *target_alias;	     /* target: declared if not NULL */
	int32_t target_portal_group_tag;     /* target: declared if >= 0 (0..65535) */
};

/* Fill l with the RFC 7143 defaults (which equal what a plain RFC implementation accepts):
 * AuthMethod None, digests None, MaxRecvDataSegmentLength 8192 (and max_xmit_dsl 2^24-1),
 * MaxConnections 1, InitialR2T Yes, ImmediateData Yes, MaxBurstLength 262144,
 * FirstBurstLength 65536, DefaultTime2Wait 2, DefaultTime2Retain 20, MaxOutstandingR2T 1,
 * DataPDUInOrder Yes, DataSequenceInOrder Yes, ErrorRecoveryLevel 0, Normal session, no names,
 * no portal group tag. */
void text_local_defaults(struct text_local *l);

/* Negotiated parameters in host types. Start at the RFC defaults; updated as keys complete. */
struct text_params {
	enum text_auth auth_method;
	enum text_session_type session_type;
	bool header_digest;	    /* CRC32C */
	bool data_digest;	    /* CRC32C */
	uint32_t max_recv_dsl;	    /* what we declared: the peer sends at most this */
	uint32_t peer_max_recv_dsl; /* what the peer declared (default 8192) */
	uint32_t max_xmit_dsl;	    /* min(peer_max_recv_dsl, local max_xmit_dsl): what we send */
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_burst;
	uint32_t first_burst;	     /* <= max_burst after text_neg_finish() */
	bool first_burst_irrelevant; /* InitialR2T=Yes and ImmediateData=No */
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
	uint32_t protocol_level;		/* iSCSIProtocolLevel, default 1 */
	int32_t target_portal_group_tag;	/* -1 until declared */
	char initiator_name[TEXT_NAME_MAX + 1]; /* "" until declared */
	char target_name[TEXT_NAME_MAX + 1];
	char initiator_alias[TEXT_VALUE_MAX + 1];
	char target_alias[TEXT_VALUE_MAX + 1];
	char target_address[TEXT_VALUE_MAX + 1]; /* TargetAddress in a redirect response */
	char send_targets[TEXT_VALUE_MAX + 1];	 /* target: value of a SendTargets request */
	bool send_targets_requested;		 /* target: a SendTargets key was received */
};

enum text_fail_reason {
	TEXT_FAIL_NONE = 0,
	TEXT_FAIL_SYNTAX,    /* malformed value for a declaration / special constant misuse */
	TEXT_FAIL_DUPLICATE, /* key sent twice (RFC 7143 6.2) */
	TEXT_FAIL_STAGE, /* key not allowed in this stage, on this connection, from this sender */
	TEXT_FAIL_ILLEGAL_ANSWER, /* peer's answer violates our offer or the result function */
	TEXT_FAIL_NO_COMMON,	  /* no acceptable value in a list and the default is not allowed */
	TEXT_FAIL_LIMIT,    /* peer Reject/NotUnderstood leaves a default beyond local limits */
	TEXT_FAIL_MISSING,  /* a required declaration is missing (InitiatorName, TargetName) */
	TEXT_FAIL_TOO_MANY, /* more than TEXT_MAX_UNKNOWN unknown keys */
	TEXT_FAIL_VALUE,    /* declaration out of range / too long (e.g. name > 223 bytes) */
};

/* Suggested Login Response status (RFC 7143 11.13.5) for a target that hits a failure; an
 * initiator simply drops the connection. */
#define TEXT_STATUS_CLASS_INITIATOR_ERR 0x02
#define TEXT_STATUS_DETAIL_INITIATOR_ERR 0x00
#define TEXT_STATUS_DETAIL_AUTH_FAILED 0x01
#define TEXT_STATUS_DETAIL_MISSING_PARAM 0x07

/* A negotiation failure, as data. */
struct text_fail {
	enum text_fail_reason reason;
	int key;			 /* enum text_key, or -1 (unknown key / none) */
	char key_name[TEXT_KEY_MAX + 1]; /* the key as received (or our key name) */
	char value[64];			 /* the offending value, truncated, for logs */
	uint8_t status_class;		 /* suggested Login Response status */
	uint8_t status_detail;
};

/* Per-key state bits (text_neg.kstate[]). */
#define TEXT_KS_SENT 0x01 /* we sent the key (offer, answer or declaration) */
#define TEXT_KS_RECV 0x02 /* the peer sent the key (offer, answer or declaration) */
#define TEXT_KS_WAIT 0x04 /* we offered it and an answer is still required */
#define TEXT_KS_DONE 0x08 /* negotiation of the key is complete (result in params) */

/*
 * Negotiation state of one connection's login (and its later Text negotiations). Caller
 * storage; read-only outside text.c except `local`, whose declaration strings (target_alias,
 * target_portal_group_tag...) the caller may fill in before the text_neg_offer() that sends
 * them (e.g. a target learns which node is addressed from the first request). Do not change
 * negotiated limits in `local` after they have been offered or answered.
 */
struct text_neg {
	enum text_role role;
	bool leading;
	struct text_local local;
	struct text_params params;
	struct text_fail fail;
	uint8_t kstate[TEXT_KEY__COUNT];
	uint32_t offered[TEXT_KEY__COUNT];    /* numeric/bool value we offered (bool: 0/1) */
	uint8_t answer_kind[TEXT_KEY__COUNT]; /* per-call scratch */
	uint32_t answer_val[TEXT_KEY__COUNT]; /* per-call scratch */
	const char *rx_val[TEXT_KEY__COUNT];  /* per-call scratch, borrowed */
	uint16_t rx_len[TEXT_KEY__COUNT];     /* per-call scratch */
	unsigned unknown_answered;
	unsigned exchanges; /* text_neg_recv() calls so far */
};

/*
 * Start a negotiation. role: which side we are. local: copied. leading: this is the first
 * connection of the session (LO keys are negotiated only there; on other connections the
 * session-wide values must be inherited with text_neg_inherit()). Never fails.
 */
void text_neg_init(struct text_neg *n, enum text_role role, const struct text_local *local,
		   bool leading);

/* Non-leading connection: copy the session-wide results (LO/SW keys, session type, names)
 * from the leading connection's params. Call right after text_neg_init(). */
void text_neg_inherit(struct text_neg *n, const struct text_params *session);

/*
 * Process the peer's complete text (one sequence, after C-bit accumulation) received in stage.
 * For each pair: a peer offer gets our answer appended to reply (key=value, or Reject /
 * Irrelevant / NotUnderstood) in the order received; an answer to one of our offers is
 * checked and recorded; a declaration is recorded in params. Results of keys evaluated in the
 * same call respect their dependencies (SessionType before discovery-irrelevant keys,
 * InitialR2T/ImmediateData/MaxBurstLength before FirstBurstLength).
 * A malformed or out-of-range offer is answered Reject (the key keeps its value), unless that
 * value is beyond our local limits (then TEXT_FAIL_LIMIT). A Reject/NotUnderstood answer to
 * our offer keeps the RFC default, again only if the default is within our limits.
 * Authentication pass-through keys (CHAP_*) are skipped (allowed only in the security stage).
 * A target's first call also checks the mandatory declarations (InitiatorName; TargetName for
 * a Normal session). In Full Feature Phase each call is a Text negotiation of its own: a
 * target sees SendTargets in params.send_targets(_requested) and builds the response itself.
 * Not for an initiator's SendTargets response (repeated TargetName/TargetAddress): walk those
 * pairs from text_parse() directly.
 * pairs: borrowed for the call. reply: appended to (size it >= TEXT_REPLY_MIN).
 * Returns 0; -EPROTO on a negotiation failure (n->fail says which key and why; the login must
 * fail, a Text negotiation must be rejected); -ENOSPC if reply is full (the negotiation is then
 * unusable: fail the login).
 */
int text_neg_recv(struct text_neg *n, enum text_stage stage, const struct text_pair *pairs,
		  size_t npairs, struct text_buf *reply);

/*
 * Append to out our offers and declarations not sent yet that belong to stage and role:
 * initiator, security stage: InitiatorName, InitiatorAlias, TargetName (Normal), SessionType
 * (leading connection), AuthMethod; operational stage: the same declarations if not sent yet,
 * then HeaderDigest, DataDigest, MaxRecvDataSegmentLength and (leading connection of a Normal
 * session) every session-wide operational key (Discovery: only DefaultTime2Wait/Retain and
 * ErrorRecoveryLevel). Target: TargetAlias and TargetPortalGroupTag (Normal sessions) in its
 * first response, MaxRecvDataSegmentLength in the operational stage. Keys the peer already
 * offered are not offered again.
 * Returns 0, -ENOSPC (out is full; nothing of the failing key is appended and its state is
 * unchanged, so the call may be repeated with a fresh buffer for the next PDU), or -EINVAL
 * when a configured name is empty or too long (names > TEXT_NAME_MAX, aliases > 255).
 */
int text_neg_offer(struct text_neg *n, enum text_stage stage, struct text_buf *out);

/* True while at least one of our offers still requires an answer from the peer. */
bool text_neg_pending(const struct text_neg *n);

/*
 * The login reached Full Feature Phase: finalize params (FirstBurstLength clamped to
 * MaxBurstLength, first_burst_irrelevant, max_xmit_dsl). Returns 0, or -EPROTO (n->fail set)
 * when an offer was never answered although the answer was required (TEXT_FAIL_MISSING), or
 * when a result, e.g. a default nobody negotiated, is beyond our local limits
 * (TEXT_FAIL_LIMIT).
 */
int text_neg_finish(struct text_neg *n);

/* Human-readable name of a failure reason, for logs. Static storage. */
const char *text_fail_str(enum text_fail_reason r);

#endif
