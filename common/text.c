/*
 * iSCSI login/text key=value handling: parser, builder and the negotiation engine
 * (RFC 7143 sections 6, 12 and 13). No allocation, no logging, no I/O: see text.h.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "common/text.h"

/* Relogin of an established session and Text negotiation in Full Feature Phase run here. */
#include "common/datapath.h"

/* ---- Parsing ------------------------------------------------------------------------------ */

static bool
key_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '+' || c == '@' || c == '_';
}

static bool
has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);
	return len >= pl && memcmp(s, prefix, pl) == 0;
}

/*
 * RFC 7143 6.1: a key name starts with a letter, is at most 63 characters of letters,
 * digits, '.', '-', '+', '@', '_'. "X#" starts IANA-registered extension keys (13.22), so '#'
 * is accepted as the second character after 'X'.
 * Returns 0, -EINVAL (bad character / empty) or -EMSGSIZE (too long).
 */
static int
key_check(const char *k, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > TEXT_KEY_MAX)
		return -EMSGSIZE;
	/* RFC 7143 says "begins with a capital letter", but RFC 7144 registered
	 * iSCSIProtocolLevel: any letter starts a key. */
	if (!((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z')))
		return -EINVAL;
	for (size_t i = 1; i < len; i++) {
		if (key_char_ok(k[i]))
			continue;
		if (i == 1 && k[0] == 'X' && k[1] == '#')
			continue;
		return -EINVAL;
	}
	return 0;
}

/* Keys whose values may exceed 255 bytes: the authentication pass-through keys (CHAP_C and
 * CHAP_R are large-binary-values, RFC 7143 12.1.3) and private/extension keys we only ever
 * answer NotUnderstood. */
static bool
key_is_large(const char *k, size_t len)
{
	return has_prefix(k, len, "CHAP_") || has_prefix(k, len, "SRP_") ||
	       has_prefix(k, len, "KRB_") || has_prefix(k, len, "SPKM_") ||
	       has_prefix(k, len, "X-") || has_prefix(k, len, "X#");
}

int
text_parse(const char *buf, size_t len, struct text_pair *pairs, size_t max_pairs, size_t *bad_off)
{
	size_t off = 0;
	size_t n = 0;
	int r;

	while (off < len) {
		const char *p = buf + off;
		const char *nul = memchr(p, '\0', len - off);
		if (!nul) {
			/* RFC 7143 6.1: every pair, the last included, ends with a NUL. */
			r = -EINVAL;
			goto fail;
		}
		size_t plen = (size_t)(nul - p);
		if (plen == 0) {
			off++;
			continue;
		}
		const char *eq = memchr(p, '=', plen);
		if (!eq) {
			r = -EINVAL;
			goto fail;
		}
		size_t klen = (size_t)(eq - p);
		r = key_check(p, klen);
		if (r < 0)
			goto fail;
		size_t vlen = plen - klen - 1;
		size_t vmax = key_is_large(p, klen) ? TEXT_VALUE_LARGE_MAX : TEXT_VALUE_MAX;
		if (vlen > vmax) {
			r = -EMSGSIZE;
			goto fail;
		}
		if (n == max_pairs) {
			r = -ENOSPC;
			goto fail;
		}
		pairs[n].key = p;
		pairs[n].key_len = (uint16_t)klen;
		pairs[n].value = eq + 1;
		pairs[n].value_len = (uint16_t)vlen;
		n++;
		off += plen + 1;
	}
	return (int)MIN(n, (size_t)INT32_MAX);
fail:
	if (bad_off)
		*bad_off = off;
	return r;
}

void
text_accum_init(struct text_accum *a, char *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
}

int
text_accum_append(struct text_accum *a, const void *data, size_t len)
{
	if (len > a->cap - a->len)
		return -E2BIG;
	if (len)
		memcpy(a->buf + a->len, data, len);
	a->len += len;
	return 0;
}

void
text_accum_reset(struct text_accum *a)
{
	a->len = 0;
}

int
text_accum_parse(const struct text_accum *a, struct text_pair *pairs, size_t max_pairs,
		 size_t *bad_off)
{
	return text_parse(a->buf, a->len, pairs, max_pairs, bad_off);
}

static bool
slice_is(const char *s, size_t len, const char *lit)
{
	size_t l = strlen(lit);
	return len == l && memcmp(s, lit, l) == 0;
}

bool
text_pair_is(const struct text_pair *p, const char *key)
{
	return slice_is(p->key, p->key_len, key);
}

const struct text_pair *
text_find(const struct text_pair *pairs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (text_pair_is(&pairs[i], key))
			return &pairs[i];
	return NULL;
}

int
text_value_u64(const char *v, size_t len, uint64_t *out)
{
	uint64_t x = 0;
	size_t i = 0;

	if (len == 0)
		return -EINVAL;
	if (len > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		/* RFC 7143 6.1 hex-constant */
		for (i = 2; i < len; i++) {
			unsigned d;
			char c = v[i];
			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				return -EINVAL;
			if (x > (UINT64_MAX >> 4))
				return -EINVAL;
			x = x << 4 | d;
		}
		*out = x;
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = v[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		unsigned d = (unsigned)(c - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

int
text_value_bool(const char *v, size_t len, bool *out)
{
	if (slice_is(v, len, "Yes")) {
		*out = true;
		return 0;
	}
	if (slice_is(v, len, "No")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* ---- Building ----------------------------------------------------------------------------- */

void
text_buf_init(struct text_buf *b, char *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
}

/* Atomic append of key=value\0 from slices. */
static int
buf_put(struct text_buf *b, const char *key, size_t klen, const char *val, size_t vlen)
{
	int r = key_check(key, klen);
	if (r < 0)
		return -EINVAL;
	/* vlen may be 0 with val NULL: memchr() must not see the NULL. */
	if (vlen > TEXT_VALUE_LARGE_MAX || (vlen && memchr(val, '\0', vlen)))
		return -EINVAL;
	size_t need = klen + 1 + vlen + 1;
	if (need > b->cap - b->len)
		return -ENOSPC;
	char *p = b->buf + b->len;
	memcpy(p, key, klen);
	p[klen] = '=';
	if (vlen)
		memcpy(p + klen + 1, val, vlen);
	p[klen + 1 + vlen] = '\0';
	b->len += need;
	return 0;
}

int
text_buf_add_len(struct text_buf *b, const char *key, const char *value, size_t value_len)
{
	return buf_put(b, key, strlen(key), value, value_len);
}

int
text_buf_add(struct text_buf *b, const char *key, const char *value)
{
	return buf_put(b, key, strlen(key), value, strlen(value));
}

int
text_buf_add_u64(struct text_buf *b, const char *key, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_put(b, key, strlen(key), tmp + i, sizeof(tmp) - i);
}

int
text_buf_add_bool(struct text_buf *b, const char *key, bool v)
{
	return text_buf_add(b, key, v ? "Yes" : "No");
}

/* ---- Key table ---------------------------------------------------------------------------- */

enum key_type {
	KT_DECL,       /* declarative string */
	KT_DECL_NUM,   /* declarative number */
	KT_LIST,       /* list, responder picks the first it supports (RFC 7143 6.2.1) */
	KT_AND,	       /* Boolean, result function AND (6.2.2) */
	KT_OR,	       /* Boolean, result function OR */
	KT_MIN,	       /* numerical, result function Minimum */
	KT_MAX,	       /* numerical, result function Maximum */
	KT_REJECT,     /* always answered Reject (obsolete marker intervals, RFC 7143 13.26) */
	KT_IRRELEVANT, /* always answered Irrelevant (iSER keys: RDMAExtensions=No, RFC 7145) */
};

/* Stages a key may be sent in, as bits (1 << enum text_stage). */
#define ST_SEC (1u << TEXT_STAGE_SECURITY)
#define ST_OPER (1u << TEXT_STAGE_OPERATIONAL)
#define ST_FFP (1u << TEXT_STAGE_FULL_FEATURE)
#define ST_LOGIN (ST_SEC | ST_OPER)

/* Flags. */
#define KF_FROM_I 0x01	 /* the initiator may send it */
#define KF_FROM_T 0x02	 /* the target may send it */
#define KF_LO 0x04	 /* leading connection only (RFC 7143 13: "LO") */
#define KF_IRR_DISC 0x08 /* Irrelevant when SessionType=Discovery */
#define KF_BOTH (KF_FROM_I | KF_FROM_T)

struct key_def {
	const char *name;
	uint8_t type;
	uint8_t stages;
	uint8_t flags;
	uint32_t lo, hi, def;
};

static const struct key_def keys[TEXT_KEY__COUNT] = {
    /* RFC 7143 13.21 */
    [TEXT_KEY_SESSION_TYPE] = {"SessionType", KT_DECL, ST_LOGIN, KF_FROM_I | KF_LO, 0, 0, 0},
    /* 13.5, 13.4 (TargetName from a target only in SendTargets responses: tolerated, ignored) */
    [TEXT_KEY_INITIATOR_NAME] = {"InitiatorName", KT_DECL, ST_LOGIN, KF_FROM_I, 0, 0, 0},
    [TEXT_KEY_TARGET_NAME] = {"TargetName", KT_DECL, ST_LOGIN, KF_BOTH, 0, 0, 0},
    /* 13.7, 13.6, 13.8: Use ALL */
    [TEXT_KEY_INITIATOR_ALIAS] = {"InitiatorAlias", KT_DECL, ST_LOGIN | ST_FFP, KF_FROM_I, 0, 0, 0},
    [TEXT_KEY_TARGET_ALIAS] = {"TargetAlias", KT_DECL, ST_LOGIN | ST_FFP, KF_FROM_T, 0, 0, 0},
    [TEXT_KEY_TARGET_ADDRESS] = {"TargetAddress", KT_DECL, ST_LOGIN | ST_FFP, KF_FROM_T, 0, 0, 0},
    /* 13.9 */
    [TEXT_KEY_TARGET_PORTAL_GROUP_TAG] = {"TargetPortalGroupTag", KT_DECL_NUM, ST_LOGIN, KF_FROM_T,
					  0, 65535, 0},
    /* 13.3: FFPO */
    [TEXT_KEY_SEND_TARGETS] = {"SendTargets", KT_DECL, ST_FFP, KF_FROM_I, 0, 0, 0},
    /* 12.1 */
    [TEXT_KEY_AUTH_METHOD] = {"AuthMethod", KT_LIST, ST_SEC, KF_BOTH, 0, 0, 0},
    /* 13.1: IO */
    [TEXT_KEY_HEADER_DIGEST] = {"HeaderDigest", KT_LIST, ST_OPER, KF_BOTH, 0, 0, 0},
    [TEXT_KEY_DATA_DIGEST] = {"DataDigest", KT_LIST, ST_OPER, KF_BOTH, 0, 0, 0},
    /* 13.12: ALL, declarative per direction */
    [TEXT_KEY_MAX_RECV_DATA_SEGMENT_LENGTH] = {"MaxRecvDataSegmentLength", KT_DECL_NUM,
					       ST_OPER | ST_FFP, KF_BOTH, TEXT_DSL_MIN,
					       TEXT_DSL_MAX, 8192},
    /* 13.2 */
    [TEXT_KEY_MAX_CONNECTIONS] = {"MaxConnections", KT_MIN, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC,
				  1, 65535, 1},
    /* 13.10, 13.11 */
    [TEXT_KEY_INITIAL_R2T] = {"InitialR2T", KT_OR, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC, 0, 1, 1},
    [TEXT_KEY_IMMEDIATE_DATA] = {"ImmediateData", KT_AND, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC, 0,
				 1, 1},
    /* 13.13, 13.14 */
    [TEXT_KEY_MAX_BURST_LENGTH] = {"MaxBurstLength", KT_MIN, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC,
				   TEXT_DSL_MIN, TEXT_DSL_MAX, 262144},
    [TEXT_KEY_FIRST_BURST_LENGTH] = {"FirstBurstLength", KT_MIN, ST_OPER,
				     KF_BOTH | KF_LO | KF_IRR_DISC, TEXT_DSL_MIN, TEXT_DSL_MAX,
				     65536},
    /* 13.15, 13.16 */
    [TEXT_KEY_DEFAULT_TIME2WAIT] = {"DefaultTime2Wait", KT_MAX, ST_OPER, KF_BOTH | KF_LO, 0, 3600,
				    2},
    [TEXT_KEY_DEFAULT_TIME2RETAIN] = {"DefaultTime2Retain", KT_MIN, ST_OPER, KF_BOTH | KF_LO, 0,
				      3600, 20},
    /* 13.17 */
    [TEXT_KEY_MAX_OUTSTANDING_R2T] = {"MaxOutstandingR2T", KT_MIN, ST_OPER,
				      KF_BOTH | KF_LO | KF_IRR_DISC, 1, 65535, 1},
    /* 13.18, 13.19 */
    [TEXT_KEY_DATA_PDU_IN_ORDER] = {"DataPDUInOrder", KT_OR, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC,
				    0, 1, 1},
    [TEXT_KEY_DATA_SEQUENCE_IN_ORDER] = {"DataSequenceInOrder", KT_OR, ST_OPER,
					 KF_BOTH | KF_LO | KF_IRR_DISC, 0, 1, 1},
    /* 13.20 */
    [TEXT_KEY_ERROR_RECOVERY_LEVEL] = {"ErrorRecoveryLevel", KT_MIN, ST_OPER, KF_BOTH | KF_LO, 0, 2,
				       0},
    /* RFC 7143 13.26 obsoletes the marker keys; an implementation may still receive them.
     * OFMarker/IFMarker: we answer No (the RFC 3720 AND result with our No, which RFC 7143
     * permits instead of Reject and older peers expect); the intervals: Reject (MUST). */
    [TEXT_KEY_OF_MARKER] = {"OFMarker", KT_AND, ST_OPER, KF_BOTH, 0, 1, 0},
    [TEXT_KEY_IF_MARKER] = {"IFMarker", KT_AND, ST_OPER, KF_BOTH, 0, 1, 0},
    [TEXT_KEY_OF_MARK_INT] = {"OFMarkInt", KT_REJECT, ST_OPER, KF_BOTH, 0, 0, 0},
    [TEXT_KEY_IF_MARK_INT] = {"IFMarkInt", KT_REJECT, ST_OPER, KF_BOTH, 0, 0, 0},
    /* 13.23: list RFC3720, ResponseFence, FastAbort; we implement the base behaviour only. */
    [TEXT_KEY_TASK_REPORTING] = {"TaskReporting", KT_LIST, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC,
				 0, 0, 0},
    /* RFC 7144 2.1: 0..31, default 1, Minimum. We implement RFC 7143: level 1. */
    [TEXT_KEY_PROTOCOL_LEVEL] = {"iSCSIProtocolLevel", KT_MIN, ST_OPER,
				 KF_BOTH | KF_LO | KF_IRR_DISC, 0, 31, 1},
    /* RFC 7145 6.3: AND, default No; we are TCP only, so the result is always No and the
     * iSER-only keys are Irrelevant. */
    [TEXT_KEY_RDMA_EXTENSIONS] = {"RDMAExtensions", KT_AND, ST_OPER, KF_BOTH | KF_LO | KF_IRR_DISC,
				  0, 1, 0},
    [TEXT_KEY_TARGET_RECV_DSL] = {"TargetRecvDataSegmentLength", KT_IRRELEVANT, ST_OPER, KF_BOTH, 0,
				  0, 0},
    [TEXT_KEY_INITIATOR_RECV_DSL] = {"InitiatorRecvDataSegmentLength", KT_IRRELEVANT, ST_OPER,
				     KF_BOTH, 0, 0, 0},
    [TEXT_KEY_MAX_OUTSTANDING_UNEXPECTED_PDUS] = {"MaxOutstandingUnexpectedPDUs", KT_IRRELEVANT,
						  ST_OPER, KF_BOTH | KF_LO, 0, 0, 0},
};

int
text_key_lookup(const char *key, size_t len)
{
	for (int k = 0; k < TEXT_KEY__COUNT; k++)
		if (slice_is(key, len, keys[k].name))
			return k;
	return -ENOENT;
}

const char *
text_key_name(enum text_key k)
{
	if ((unsigned)k >= TEXT_KEY__COUNT)
		return NULL;
	return keys[k].name;
}

bool
text_key_is_auth(const char *key, size_t len)
{
	return has_prefix(key, len, "CHAP_");
}

/* ---- Negotiation helpers ------------------------------------------------------------------ */

/* Answer kinds stored per key during one text_neg_recv() call. */
enum ans_kind {
	ANS_NONE,
	ANS_NUM,
	ANS_BOOL,
	ANS_STR, /* answer_val indexes list_str[] */
	ANS_REJECT,
	ANS_IRRELEVANT,
};

/* List values we know. Bits in the offered mask follow the index. */
enum list_val { LV_NONE, LV_CRC32C, LV_CHAP, LV_RFC3720, LV__COUNT };
static const char *const list_str[LV__COUNT] = {
    [LV_NONE] = "None",
    [LV_CRC32C] = "CRC32C",
    [LV_CHAP] = "CHAP",
    [LV_RFC3720] = "RFC3720",
};

/* Per-call scratch bit in kstate: the key was received in the current call. */
#define KS_RXNOW 0x10

static void
copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = MIN(len, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
set_fail(struct text_neg *n, enum text_fail_reason reason, int k, const char *key, size_t klen,
	 const char *val, size_t vlen)
{
	if (n->fail.reason != TEXT_FAIL_NONE)
		return; /* keep the first failure */
	n->fail.reason = reason;
	n->fail.key = k;
	if (!key && k >= 0) {
		key = keys[k].name;
		klen = strlen(key);
	}
	copy_str(n->fail.key_name, sizeof(n->fail.key_name), key ? key : "", key ? klen : 0);
	/* Keep only printable bytes of the value: it goes to a log line. */
	size_t j = 0;
	for (size_t i = 0; val && i < vlen && j < sizeof(n->fail.value) - 1; i++)
		n->fail.value[j++] = (val[i] >= 0x20 && val[i] < 0x7f) ? val[i] : '?';
	n->fail.value[j] = '\0';
	n->fail.status_class = TEXT_STATUS_CLASS_INITIATOR_ERR;
	n->fail.status_detail = TEXT_STATUS_DETAIL_INITIATOR_ERR;
	if (reason == TEXT_FAIL_MISSING)
		n->fail.status_detail = TEXT_STATUS_DETAIL_MISSING_PARAM;
	if (reason == TEXT_FAIL_NO_COMMON && k == TEXT_KEY_AUTH_METHOD)
		n->fail.status_detail = TEXT_STATUS_DETAIL_AUTH_FAILED;
}

static int
fail_key(struct text_neg *n, enum text_fail_reason reason, int k, const char *val, size_t vlen)
{
	set_fail(n, reason, k, NULL, 0, val, vlen);
	return -EPROTO;
}

static uint32_t
clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Local value of a numeric/Boolean negotiated key (clamped into range by text_neg_init). */
static uint32_t
local_val(const struct text_neg *n, int k)
{
	const struct text_local *l = &n->local;
	switch (k) {
	case TEXT_KEY_MAX_CONNECTIONS:
		return l->max_connections;
	case TEXT_KEY_INITIAL_R2T:
		return l->initial_r2t;
	case TEXT_KEY_IMMEDIATE_DATA:
		return l->immediate_data;
	case TEXT_KEY_MAX_BURST_LENGTH:
		return l->max_burst;
	case TEXT_KEY_FIRST_BURST_LENGTH:
		return MIN(l->first_burst, l->max_burst);
	case TEXT_KEY_DEFAULT_TIME2WAIT:
		return l->default_time2wait;
	case TEXT_KEY_DEFAULT_TIME2RETAIN:
		return l->default_time2retain;
	case TEXT_KEY_MAX_OUTSTANDING_R2T:
		return l->max_outstanding_r2t;
	case TEXT_KEY_DATA_PDU_IN_ORDER:
		return l->data_pdu_in_order;
	case TEXT_KEY_DATA_SEQUENCE_IN_ORDER:
		return l->data_sequence_in_order;
	case TEXT_KEY_ERROR_RECOVERY_LEVEL:
		return l->error_recovery_level;
	case TEXT_KEY_PROTOCOL_LEVEL:
		return 1;
	case TEXT_KEY_MAX_RECV_DATA_SEGMENT_LENGTH:
		return l->max_recv_dsl;
	default: /* markers, RDMAExtensions: always No */
		return 0;
	}
}

/* Where the result of a numeric/Boolean key lives in params. */
static uint32_t *
param_u32(struct text_params *p, int k)
{
	switch (k) {
	case TEXT_KEY_MAX_CONNECTIONS:
		return &p->max_connections;
	case TEXT_KEY_MAX_BURST_LENGTH:
		return &p->max_burst;
	case TEXT_KEY_FIRST_BURST_LENGTH:
		return &p->first_burst;
	case TEXT_KEY_DEFAULT_TIME2WAIT:
		return &p->default_time2wait;
	case TEXT_KEY_DEFAULT_TIME2RETAIN:
		return &p->default_time2retain;
	case TEXT_KEY_MAX_OUTSTANDING_R2T:
		return &p->max_outstanding_r2t;
	case TEXT_KEY_ERROR_RECOVERY_LEVEL:
		return &p->error_recovery_level;
	case TEXT_KEY_PROTOCOL_LEVEL:
		return &p->protocol_level;
	default:
		return NULL;
	}
}

static bool *
param_bool(struct text_params *p, int k)
{
	switch (k) {
	case TEXT_KEY_INITIAL_R2T:
		return &p->initial_r2t;
	case TEXT_KEY_IMMEDIATE_DATA:
		return &p->immediate_data;
	case TEXT_KEY_DATA_PDU_IN_ORDER:
		return &p->data_pdu_in_order;
	case TEXT_KEY_DATA_SEQUENCE_IN_ORDER:
		return &p->data_sequence_in_order;
	default:
		return NULL; /* markers, RDMAExtensions: not stored, always No */
	}
}

static void
set_param(struct text_params *p, int k, uint32_t v)
{
	uint32_t *u = param_u32(p, k);
	bool *b = param_bool(p, k);
	if (u)
		*u = v;
	if (b)
		*b = v != 0;
}

static void
set_result(struct text_neg *n, int k, uint32_t v)
{
	set_param(&n->params, k, v);
}

/* Mask of list values we allow for key k, and the offer order. */
static unsigned
list_allowed(const struct text_neg *n, int k, enum list_val order[2], unsigned *norder)
{
	enum text_digest_pref pref;
	unsigned m = 0;

	*norder = 0;
	switch (k) {
	case TEXT_KEY_AUTH_METHOD:
		if (n->local.auth_methods & TEXT_AUTH_F_CHAP) {
			m |= 1u << LV_CHAP;
			order[(*norder)++] = LV_CHAP;
		}
		if ((n->local.auth_methods & TEXT_AUTH_F_NONE) || !m) {
			m |= 1u << LV_NONE;
			order[(*norder)++] = LV_NONE;
		}
		return m;
	case TEXT_KEY_HEADER_DIGEST:
	case TEXT_KEY_DATA_DIGEST:
		pref = k == TEXT_KEY_HEADER_DIGEST ? n->local.header_digest : n->local.data_digest;
		switch (pref) {
		case TEXT_DIGEST_CRC32C_ONLY:
			order[(*norder)++] = LV_CRC32C;
			break;
		case TEXT_DIGEST_PREFER_CRC32C:
			order[(*norder)++] = LV_CRC32C;
			order[(*norder)++] = LV_NONE;
			break;
		case TEXT_DIGEST_PREFER_NONE:
			order[(*norder)++] = LV_NONE;
			order[(*norder)++] = LV_CRC32C;
			break;
		case TEXT_DIGEST_NONE_ONLY:
		default:
			order[(*norder)++] = LV_NONE;
			break;
		}
		for (unsigned i = 0; i < *norder; i++)
			m |= 1u << order[i];
		return m;
	case TEXT_KEY_TASK_REPORTING:
		order[(*norder)++] = LV_RFC3720;
		return 1u << LV_RFC3720;
	default:
		return 0;
	}
}

static int
list_lookup(const char *v, size_t len)
{
	for (int i = 0; i < LV__COUNT; i++)
		if (slice_is(v, len, list_str[i]))
			return i;
	return -1;
}

static void
list_set_result(struct text_neg *n, int k, int lv)
{
	switch (k) {
	case TEXT_KEY_AUTH_METHOD:
		n->params.auth_method = lv == LV_CHAP ? TEXT_AUTH_CHAP : TEXT_AUTH_NONE;
		break;
	case TEXT_KEY_HEADER_DIGEST:
		n->params.header_digest = lv == LV_CRC32C;
		break;
	case TEXT_KEY_DATA_DIGEST:
		n->params.data_digest = lv == LV_CRC32C;
		break;
	default:
		break;
	}
}

/*
 * Would the RFC default of key k be acceptable under our local limits? Used when the peer
 * answers Reject/NotUnderstood (the key keeps its default) and to decide which keys a target
 * must offer itself because the initiator's silence would leave a default we cannot serve.
 */
static bool
default_ok(const struct text_neg *n, int k)
{
	const struct key_def *d = &keys[k];
	uint32_t l = local_val(n, k);
	unsigned norder;
	enum list_val order[2];

	switch (d->type) {
	case KT_MIN:
		return d->def <= l;
	case KT_AND:
		return !d->def || l;
	case KT_OR:
		return d->def || !l;
	case KT_LIST:
		if (k == TEXT_KEY_AUTH_METHOD)
			return false; /* no usable default: must be negotiated */
		if (k == TEXT_KEY_TASK_REPORTING)
			return true;
		return (list_allowed(n, k, order, &norder) >> LV_NONE) & 1;
	default:
		return true;
	}
}

/* Is the current result of key k within our local limits? */
static bool
param_ok(struct text_neg *n, int k)
{
	const struct key_def *d = &keys[k];
	uint32_t l = local_val(n, k);
	uint32_t *u = param_u32(&n->params, k);
	bool *b = param_bool(&n->params, k);
	enum list_val order[2];
	unsigned norder, m;

	switch (d->type) {
	case KT_MIN:
		return !u || *u <= l;
	case KT_AND:
		return !b || !*b || l;
	case KT_OR:
		return !b || *b || !l;
	case KT_LIST:
		m = list_allowed(n, k, order, &norder);
		if (k == TEXT_KEY_HEADER_DIGEST)
			return (m >> (n->params.header_digest ? LV_CRC32C : LV_NONE)) & 1;
		if (k == TEXT_KEY_DATA_DIGEST)
			return (m >> (n->params.data_digest ? LV_CRC32C : LV_NONE)) & 1;
		return true;
	default:
		return true;
	}
}

static bool
is_special(const char *v, size_t len)
{
	return slice_is(v, len, "Reject") || slice_is(v, len, "Irrelevant") ||
	       slice_is(v, len, "NotUnderstood");
}

/* Is key k irrelevant given the state negotiated so far (RFC 7143 13)? */
static bool
key_irrelevant(const struct text_neg *n, int k)
{
	if ((keys[k].flags & KF_IRR_DISC) && n->params.session_type == TEXT_SESSION_DISCOVERY)
		return true;
	/* RFC 7143 13.14: FirstBurstLength is Irrelevant when InitialR2T=Yes and
	 * ImmediateData=No (no unsolicited data at all). */
	if (k == TEXT_KEY_FIRST_BURST_LENGTH && n->params.initial_r2t && !n->params.immediate_data)
		return true;
	return false;
}

/* ---- Negotiation: object ------------------------------------------------------------------ */

void
text_local_defaults(struct text_local *l)
{
	memset(l, 0, sizeof(*l));
	l->auth_methods = TEXT_AUTH_F_NONE;
	l->header_digest = TEXT_DIGEST_NONE_ONLY;
	l->data_digest = TEXT_DIGEST_NONE_ONLY;
	l->max_recv_dsl = 8192;
	l->max_xmit_dsl = TEXT_DSL_MAX;
	l->max_connections = 1;
	l->initial_r2t = true;
	l->immediate_data = true;
	l->max_burst = 262144;
	l->first_burst = 65536;
	l->default_time2wait = 2;
	l->default_time2retain = 20;
	l->max_outstanding_r2t = 1;
	l->data_pdu_in_order = true;
	l->data_sequence_in_order = true;
	l->error_recovery_level = 0;
	l->session_type = TEXT_SESSION_NORMAL;
	l->target_portal_group_tag = -1;
}

static void
params_defaults(struct text_params *p)
{
	memset(p, 0, sizeof(*p));
	p->auth_method = TEXT_AUTH_UNSET;
	p->session_type = TEXT_SESSION_NORMAL;
	p->max_recv_dsl = 8192;
	p->peer_max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	for (int k = 0; k < TEXT_KEY__COUNT; k++)
		if (keys[k].type == KT_MIN || keys[k].type == KT_MAX || keys[k].type == KT_AND ||
		    keys[k].type == KT_OR)
			set_param(p, k, keys[k].def);
	p->target_portal_group_tag = -1;
}

void
text_neg_init(struct text_neg *n, enum text_role role, const struct text_local *local, bool leading)
{
	memset(n, 0, sizeof(*n));
	n->role = role;
	n->leading = leading;
	n->local = *local;
	n->fail.key = -1;
	/* Our own configuration is clamped into the RFC ranges so that offers are always
	 * legal and results always within both the RFC and our limits. */
	struct text_local *l = &n->local;
	l->max_recv_dsl = clamp_u32(l->max_recv_dsl, TEXT_DSL_MIN, TEXT_DSL_MAX);
	l->max_xmit_dsl = clamp_u32(l->max_xmit_dsl, TEXT_DSL_MIN, TEXT_DSL_MAX);
	l->max_connections = clamp_u32(l->max_connections, 1, 65535);
	l->max_burst = clamp_u32(l->max_burst, TEXT_DSL_MIN, TEXT_DSL_MAX);
	l->first_burst = clamp_u32(l->first_burst, TEXT_DSL_MIN, l->max_burst);
	l->default_time2wait = clamp_u32(l->default_time2wait, 0, 3600);
	l->default_time2retain = clamp_u32(l->default_time2retain, 0, 3600);
	l->max_outstanding_r2t = clamp_u32(l->max_outstanding_r2t, 1, 65535);
	l->error_recovery_level = clamp_u32(l->error_recovery_level, 0, 2);
	if (l->target_portal_group_tag > 65535)
		l->target_portal_group_tag = -1;
	params_defaults(&n->params);
	n->params.max_recv_dsl = l->max_recv_dsl;
	n->params.max_xmit_dsl = MIN(8192u, l->max_xmit_dsl);
	if (role == TEXT_ROLE_INITIATOR)
		n->params.session_type = l->session_type;
}

void
text_neg_inherit(struct text_neg *n, const struct text_params *s)
{
	struct text_params *p = &n->params;

	p->session_type = s->session_type;
	p->max_connections = s->max_connections;
	p->initial_r2t = s->initial_r2t;
	p->immediate_data = s->immediate_data;
	p->max_burst = s->max_burst;
	p->first_burst = s->first_burst;
	p->first_burst_irrelevant = s->first_burst_irrelevant;
	p->default_time2wait = s->default_time2wait;
	p->default_time2retain = s->default_time2retain;
	p->max_outstanding_r2t = s->max_outstanding_r2t;
	p->data_pdu_in_order = s->data_pdu_in_order;
	p->data_sequence_in_order = s->data_sequence_in_order;
	p->error_recovery_level = s->error_recovery_level;
	p->protocol_level = s->protocol_level;
}

const char *
text_fail_str(enum text_fail_reason r)
{
	switch (r) {
	case TEXT_FAIL_NONE:
		return "no failure";
	case TEXT_FAIL_SYNTAX:
		return "malformed value";
	case TEXT_FAIL_DUPLICATE:
		return "key sent more than once";
	case TEXT_FAIL_STAGE:
		return "key not allowed here";
	case TEXT_FAIL_ILLEGAL_ANSWER:
		return "illegal answer";
	case TEXT_FAIL_NO_COMMON:
		return "no acceptable value";
	case TEXT_FAIL_LIMIT:
		return "default exceeds local limits";
	case TEXT_FAIL_MISSING:
		return "missing key";
	case TEXT_FAIL_TOO_MANY:
		return "too many unknown keys";
	case TEXT_FAIL_VALUE:
		return "invalid declaration";
	}
	return "unknown failure";
}

/* ---- Negotiation: receiving --------------------------------------------------------------- */

/* Record a peer declaration. Returns 0 or -EPROTO. */
static int
recv_decl(struct text_neg *n, int k, const char *v, size_t len)
{
	struct text_params *p = &n->params;
	uint64_t x;

	/* A declaration answered with a constant (some peers "answer" our declarations):
	 * nothing to record. */
	if (is_special(v, len))
		return 0;
	switch (k) {
	case TEXT_KEY_SESSION_TYPE:
		if (n->role != TEXT_ROLE_TARGET)
			return 0;
		if (slice_is(v, len, "Normal"))
			p->session_type = TEXT_SESSION_NORMAL;
		else if (slice_is(v, len, "Discovery"))
			p->session_type = TEXT_SESSION_DISCOVERY;
		else
			return fail_key(n, TEXT_FAIL_VALUE, k, v, len);
		return 0;
	case TEXT_KEY_INITIATOR_NAME:
	case TEXT_KEY_TARGET_NAME:
		if (len == 0 || len > TEXT_NAME_MAX)
			return fail_key(n, TEXT_FAIL_VALUE, k, v, len);
		if (n->role != TEXT_ROLE_TARGET)
			return 0; /* a target echoing TargetName: tolerated, ignored */
		if (k == TEXT_KEY_INITIATOR_NAME)
			copy_str(p->initiator_name, sizeof(p->initiator_name), v, len);
		else
			copy_str(p->target_name, sizeof(p->target_name), v, len);
		return 0;
	case TEXT_KEY_INITIATOR_ALIAS:
		copy_str(p->initiator_alias, sizeof(p->initiator_alias), v, len);
		return 0;
	case TEXT_KEY_TARGET_ALIAS:
		copy_str(p->target_alias, sizeof(p->target_alias), v, len);
		return 0;
	case TEXT_KEY_TARGET_ADDRESS:
		copy_str(p->target_address, sizeof(p->target_address), v, len);
		return 0;
	case TEXT_KEY_SEND_TARGETS:
		copy_str(p->send_targets, sizeof(p->send_targets), v, len);
		p->send_targets_requested = true;
		return 0;
	case TEXT_KEY_TARGET_PORTAL_GROUP_TAG:
		if (text_value_u64(v, len, &x) < 0 || x > 65535)
			return fail_key(n, TEXT_FAIL_VALUE, k, v, len);
		p->target_portal_group_tag = (int32_t)x;
		return 0;
	case TEXT_KEY_MAX_RECV_DATA_SEGMENT_LENGTH:
		if (text_value_u64(v, len, &x) < 0 || x < TEXT_DSL_MIN || x > TEXT_DSL_MAX)
			return fail_key(n, TEXT_FAIL_VALUE, k, v, len);
		p->peer_max_recv_dsl = (uint32_t)x;
		p->max_xmit_dsl = MIN(p->peer_max_recv_dsl, n->local.max_xmit_dsl);
		return 0;
	default:
		return 0;
	}
}

/* We offered k; v is the peer's answer. Check it and record the result. */
static int
recv_answer(struct text_neg *n, int k, const char *v, size_t len)
{
	const struct key_def *d = &keys[k];
	uint32_t off = n->offered[k];
	uint64_t x;
	bool b;

	n->kstate[k] &= (uint8_t)~TEXT_KS_WAIT;
	n->kstate[k] |= TEXT_KS_DONE;
	if (slice_is(v, len, "Irrelevant"))
		return 0; /* the value does not matter: keep the current one */
	if (slice_is(v, len, "Reject") || slice_is(v, len, "NotUnderstood")) {
		/* RFC 7143 6.2: the key keeps its default; acceptable only if the default is
		 * within our limits. */
		if (k == TEXT_KEY_AUTH_METHOD)
			return fail_key(n, TEXT_FAIL_NO_COMMON, k, v, len);
		if (!default_ok(n, k))
			return fail_key(n, TEXT_FAIL_LIMIT, k, v, len);
		if (d->type == KT_LIST)
			list_set_result(n, k, LV_NONE);
		else
			set_result(n, k, d->def);
		return 0;
	}
	switch (d->type) {
	case KT_LIST: {
		/* The answer is exactly one of the values we offered (6.2.1). */
		int lv = list_lookup(v, len);
		if (lv < 0 || !((off >> lv) & 1))
			return fail_key(n, TEXT_FAIL_ILLEGAL_ANSWER, k, v, len);
		list_set_result(n, k, lv);
		return 0;
	}
	case KT_AND:
		if (text_value_bool(v, len, &b) < 0 || (b && !off))
			return fail_key(n, TEXT_FAIL_ILLEGAL_ANSWER, k, v, len);
		set_result(n, k, b);
		return 0;
	case KT_OR:
		if (text_value_bool(v, len, &b) < 0 || (!b && off))
			return fail_key(n, TEXT_FAIL_ILLEGAL_ANSWER, k, v, len);
		set_result(n, k, b);
		return 0;
	case KT_MIN:
		if (text_value_u64(v, len, &x) < 0 || x < d->lo || x > off)
			return fail_key(n, TEXT_FAIL_ILLEGAL_ANSWER, k, v, len);
		set_result(n, k, (uint32_t)x);
		return 0;
	case KT_MAX:
		if (text_value_u64(v, len, &x) < 0 || x < off || x > d->hi)
			return fail_key(n, TEXT_FAIL_ILLEGAL_ANSWER, k, v, len);
		set_result(n, k, (uint32_t)x);
		return 0;
	default:
		return 0;
	}
}

/*
 * Malformed or out-of-range offer: answer Reject (RFC 7143 6.2), after which the key keeps its
 * current value. If that value is beyond our local limits we cannot continue.
 */
static int
answer_reject(struct text_neg *n, int k, const char *v, size_t len)
{
	if (!param_ok(n, k))
		return fail_key(n, TEXT_FAIL_LIMIT, k, v, len);
	n->answer_kind[k] = ANS_REJECT;
	return 0;
}

/* The peer offered k = v: compute the result and the answer (RFC 7143 6.2). */
static int
recv_offer(struct text_neg *n, int k, const char *v, size_t len)
{
	const struct key_def *d = &keys[k];
	uint64_t x;
	bool b;

	n->kstate[k] |= TEXT_KS_DONE;
	if (is_special(v, len))
		/* A constant is an answer; we never offered this key. */
		return fail_key(n, TEXT_FAIL_SYNTAX, k, v, len);
	if (d->type == KT_REJECT) {
		n->answer_kind[k] = ANS_REJECT;
		return 0;
	}
	if (d->type == KT_IRRELEVANT || key_irrelevant(n, k) ||
	    (!n->leading && (d->flags & KF_LO))) {
		/* Session-wide keys on a secondary connection: the session already has them. */
		n->answer_kind[k] = ANS_IRRELEVANT;
		return 0;
	}
	switch (d->type) {
	case KT_LIST: {
		enum list_val order[2];
		unsigned norder;
		unsigned allowed = list_allowed(n, k, order, &norder);
		size_t pos = 0;
		int pick = -1;
		/* 6.2.1: the first value of the originator's list that we support. Values we do
		 * not know (KRB5, SRP, FastAbort...) are skipped. */
		while (pos <= len && pick < 0) {
			const char *c = memchr(v + pos, ',', len - pos);
			size_t tl = c ? (size_t)(c - (v + pos)) : len - pos;
			int lv = list_lookup(v + pos, tl);
			if (lv >= 0 && ((allowed >> lv) & 1))
				pick = lv;
			if (!c)
				break;
			pos += tl + 1;
		}
		if (pick < 0) {
			if (k == TEXT_KEY_AUTH_METHOD)
				return fail_key(n, TEXT_FAIL_NO_COMMON, k, v, len);
			/* Reject keeps the default (None): only if we may use it. */
			if (!default_ok(n, k))
				return fail_key(n, TEXT_FAIL_NO_COMMON, k, v, len);
			n->answer_kind[k] = ANS_REJECT;
			list_set_result(n, k, LV_NONE);
			return 0;
		}
		list_set_result(n, k, pick);
		n->answer_kind[k] = ANS_STR;
		n->answer_val[k] = (uint32_t)pick;
		return 0;
	}
	case KT_AND:
	case KT_OR:
		if (text_value_bool(v, len, &b) < 0)
			return answer_reject(n, k, v, len);
		b = d->type == KT_AND ? (b && local_val(n, k)) : (b || local_val(n, k));
		set_result(n, k, b);
		n->answer_kind[k] = ANS_BOOL;
		n->answer_val[k] = b;
		return 0;
	case KT_MIN:
	case KT_MAX: {
		if (text_value_u64(v, len, &x) < 0 || x < d->lo || x > d->hi)
			return answer_reject(n, k, v, len);
		uint32_t l = local_val(n, k);
		uint32_t r = d->type == KT_MIN ? MIN((uint32_t)x, l) : MAX((uint32_t)x, l);
		/* 13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. */
		if (k == TEXT_KEY_FIRST_BURST_LENGTH)
			r = MIN(r, n->params.max_burst);
		set_result(n, k, r);
		n->answer_kind[k] = ANS_NUM;
		n->answer_val[k] = r;
		return 0;
	}
	default:
		return 0;
	}
}

static int
emit_answer(struct text_neg *n, int k, struct text_buf *out)
{
	const char *name = keys[k].name;
	int r;

	switch (n->answer_kind[k]) {
	case ANS_NUM:
		r = text_buf_add_u64(out, name, n->answer_val[k]);
		break;
	case ANS_BOOL:
		r = text_buf_add_bool(out, name, n->answer_val[k] != 0);
		break;
	case ANS_STR:
		r = text_buf_add(out, name, list_str[n->answer_val[k]]);
		break;
	case ANS_REJECT:
		r = text_buf_add(out, name, "Reject");
		break;
	case ANS_IRRELEVANT:
		r = text_buf_add(out, name, "Irrelevant");
		break;
	default:
		return 0;
	}
	if (r == 0)
		n->kstate[k] |= TEXT_KS_SENT;
	return r;
}

/* Has an earlier pair of this call the same (unknown) key? */
static bool
unknown_dup(const struct text_pair *pairs, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (pairs[j].key_len == pairs[i].key_len &&
		    memcmp(pairs[j].key, pairs[i].key, pairs[i].key_len) == 0)
			return true;
	return false;
}

int
text_neg_recv(struct text_neg *n, enum text_stage stage, const struct text_pair *pairs,
	      size_t npairs, struct text_buf *reply)
{
	const uint8_t from = n->role == TEXT_ROLE_TARGET ? KF_FROM_I : KF_FROM_T;
	const bool first = n->exchanges == 0;
	int r = 0;

	if (n->fail.reason != TEXT_FAIL_NONE)
		return -EPROTO;
	/* Callers pass a CSG from the wire; stage 2 is reserved and anything above 3 would make
	 * the shift below undefined: no key belongs to such a stage. */
	if ((unsigned)stage > TEXT_STAGE_FULL_FEATURE || stage == 2)
		return fail_key(n, TEXT_FAIL_STAGE, -1, NULL, 0);
	const unsigned stbit = 1u << stage;
	n->exchanges++;
	for (int k = 0; k < TEXT_KEY__COUNT; k++) {
		n->answer_kind[k] = ANS_NONE;
		n->rx_val[k] = NULL;
		n->rx_len[k] = 0;
		n->kstate[k] &= (uint8_t)~KS_RXNOW;
	}
	if (stage == TEXT_STAGE_FULL_FEATURE) {
		/* Each Text request is a negotiation of its own: SendTargets may be asked
		 * again, and the Use=ALL declarations may be repeated. */
		for (int k = 0; k < TEXT_KEY__COUNT; k++)
			if (keys[k].stages & ST_FFP)
				n->kstate[k] &= (uint8_t)~TEXT_KS_RECV;
		n->params.send_targets_requested = false;
		n->unknown_answered = 0;
	}

	/* Pass 1: classify every pair, detect duplicates and misplaced keys. */
	for (size_t i = 0; i < npairs; i++) {
		const struct text_pair *p = &pairs[i];
		int k = text_key_lookup(p->key, p->key_len);

		if (k < 0) {
			if (text_key_is_auth(p->key, p->key_len)) {
				/* 12: security keys belong to the security stage only. */
				if (stage != TEXT_STAGE_SECURITY) {
					set_fail(n, TEXT_FAIL_STAGE, -1, p->key, p->key_len,
						 p->value, p->value_len);
					r = -EPROTO;
					goto out;
				}
				continue;
			}
			if (unknown_dup(pairs, i)) {
				set_fail(n, TEXT_FAIL_DUPLICATE, -1, p->key, p->key_len, p->value,
					 p->value_len);
				r = -EPROTO;
				goto out;
			}
			continue;
		}
		if (n->kstate[k] & (TEXT_KS_RECV | KS_RXNOW)) {
			/* RFC 7143 6.2: a key is sent at most once per negotiation. */
			r = fail_key(n, TEXT_FAIL_DUPLICATE, k, p->value, p->value_len);
			goto out;
		}
		if (!(keys[k].stages & stbit) || !(keys[k].flags & from)) {
			r = fail_key(n, TEXT_FAIL_STAGE, k, p->value, p->value_len);
			goto out;
		}
		n->kstate[k] |= KS_RXNOW;
		n->rx_val[k] = p->value;
		n->rx_len[k] = p->value_len;
	}

	/* Pass 2: evaluate in dependency order (enum text_key order). */
	for (int k = 0; k < TEXT_KEY__COUNT; k++) {
		if (!(n->kstate[k] & KS_RXNOW))
			continue;
		n->kstate[k] |= TEXT_KS_RECV;
		const char *v = n->rx_val[k];
		size_t len = n->rx_len[k];
		uint8_t t = keys[k].type;
		if (t == KT_DECL || t == KT_DECL_NUM)
			r = recv_decl(n, k, v, len);
		else if (n->kstate[k] & TEXT_KS_SENT)
			r = recv_answer(n, k, v, len);
		else
			r = recv_offer(n, k, v, len);
		if (r < 0)
			goto out;
	}

	/* A target checks the first request of each connection (RFC 7143 13.4, 13.5):
	 * InitiatorName always, TargetName for a Normal session. */
	if (first && n->role == TEXT_ROLE_TARGET && stage != TEXT_STAGE_FULL_FEATURE) {
		if (!(n->kstate[TEXT_KEY_INITIATOR_NAME] & KS_RXNOW)) {
			r = fail_key(n, TEXT_FAIL_MISSING, TEXT_KEY_INITIATOR_NAME, NULL, 0);
			goto out;
		}
		if (n->params.session_type == TEXT_SESSION_NORMAL &&
		    !(n->kstate[TEXT_KEY_TARGET_NAME] & KS_RXNOW)) {
			r = fail_key(n, TEXT_FAIL_MISSING, TEXT_KEY_TARGET_NAME, NULL, 0);
			goto out;
		}
	}

	/* Pass 3: answers, in the order the offers were received. */
	for (size_t i = 0; i < npairs; i++) {
		const struct text_pair *p = &pairs[i];
		int k = text_key_lookup(p->key, p->key_len);

		if (k >= 0) {
			r = emit_answer(n, k, reply);
			if (r < 0)
				goto out;
			continue;
		}
		if (text_key_is_auth(p->key, p->key_len))
			continue;
		/* 6.2: a key we do not understand is answered NotUnderstood. */
		if (n->unknown_answered >= TEXT_MAX_UNKNOWN) {
			set_fail(n, TEXT_FAIL_TOO_MANY, -1, p->key, p->key_len, p->value,
				 p->value_len);
			r = -EPROTO;
			goto out;
		}
		r = buf_put(reply, p->key, p->key_len, "NotUnderstood", 13);
		if (r < 0)
			goto out;
		n->unknown_answered++;
	}
out:
	for (int k = 0; k < TEXT_KEY__COUNT; k++) {
		n->rx_val[k] = NULL;
		n->answer_kind[k] = ANS_NONE;
	}
	return r;
}

/* ---- Negotiation: offering ---------------------------------------------------------------- */

static int
offer_decl_str(struct text_neg *n, int k, const char *v, struct text_buf *out)
{
	if (!v || (n->kstate[k] & TEXT_KS_SENT))
		return 0;
	/* Our own configuration must obey the same limits we enforce on the peer. */
	size_t max = (k == TEXT_KEY_INITIATOR_NAME || k == TEXT_KEY_TARGET_NAME) ? TEXT_NAME_MAX
										 : TEXT_VALUE_MAX;
	size_t len = strnlen(v, max + 1);
	if (len == 0 || len > max)
		return -EINVAL;
	int r = text_buf_add_len(out, keys[k].name, v, len);
	if (r == 0)
		n->kstate[k] |= TEXT_KS_SENT;
	return r;
}

static int
offer_decl_num(struct text_neg *n, int k, uint32_t v, struct text_buf *out)
{
	if (n->kstate[k] & TEXT_KS_SENT)
		return 0;
	int r = text_buf_add_u64(out, keys[k].name, v);
	if (r == 0)
		n->kstate[k] |= TEXT_KS_SENT;
	return r;
}

/* Offer negotiated key k with our local value, unless it was already sent or received. */
static int
offer_key(struct text_neg *n, int k, struct text_buf *out)
{
	const struct key_def *d = &keys[k];
	uint32_t v = local_val(n, k);
	int r;

	if (n->kstate[k] & (TEXT_KS_SENT | TEXT_KS_RECV))
		return 0;
	if (d->type == KT_LIST) {
		enum list_val order[2];
		unsigned norder;
		unsigned mask = list_allowed(n, k, order, &norder);
		char tmp[32];
		size_t len = 0;
		for (unsigned i = 0; i < norder; i++) {
			size_t l = strlen(list_str[order[i]]);
			if (i)
				tmp[len++] = ',';
			memcpy(tmp + len, list_str[order[i]], l);
			len += l;
		}
		r = text_buf_add_len(out, d->name, tmp, len);
		if (r < 0)
			return r;
		n->offered[k] = mask;
		n->kstate[k] |= TEXT_KS_SENT | TEXT_KS_WAIT;
		return 0;
	}
	if (d->type == KT_AND || d->type == KT_OR)
		r = text_buf_add_bool(out, d->name, v != 0);
	else
		r = text_buf_add_u64(out, d->name, v);
	if (r < 0)
		return r;
	n->offered[k] = v;
	n->kstate[k] |= TEXT_KS_SENT;
	/* RFC 7143 6.2.2: an AND offer of No or an OR offer of Yes determines the result; the
	 * answer is optional. */
	if ((d->type == KT_AND && !v) || (d->type == KT_OR && v)) {
		n->kstate[k] |= TEXT_KS_DONE;
		set_result(n, k, v);
	} else {
		n->kstate[k] |= TEXT_KS_WAIT;
	}
	return 0;
}

static const int initiator_normal_keys[] = {
    TEXT_KEY_MAX_CONNECTIONS,	     TEXT_KEY_INITIAL_R2T,	    TEXT_KEY_IMMEDIATE_DATA,
    TEXT_KEY_MAX_BURST_LENGTH,	     TEXT_KEY_FIRST_BURST_LENGTH,   TEXT_KEY_DEFAULT_TIME2WAIT,
    TEXT_KEY_DEFAULT_TIME2RETAIN,    TEXT_KEY_MAX_OUTSTANDING_R2T,  TEXT_KEY_DATA_PDU_IN_ORDER,
    TEXT_KEY_DATA_SEQUENCE_IN_ORDER, TEXT_KEY_ERROR_RECOVERY_LEVEL,
};

int
text_neg_offer(struct text_neg *n, enum text_stage stage, struct text_buf *out)
{
	const struct text_local *l = &n->local;
	const bool normal = n->params.session_type == TEXT_SESSION_NORMAL;
	int r = 0;

	if (stage == TEXT_STAGE_FULL_FEATURE)
		return 0;
	if (n->role == TEXT_ROLE_INITIATOR) {
		/* RFC 7143 13.4/13.5: the names go in the first request of every connection. */
		r = offer_decl_str(n, TEXT_KEY_INITIATOR_NAME, l->initiator_name, out);
		if (r == 0)
			r = offer_decl_str(n, TEXT_KEY_INITIATOR_ALIAS, l->initiator_alias, out);
		if (r == 0 && normal)
			r = offer_decl_str(n, TEXT_KEY_TARGET_NAME, l->target_name, out);
		if (r == 0 && n->leading)
			r = offer_decl_str(n, TEXT_KEY_SESSION_TYPE,
					   normal ? "Normal" : "Discovery", out);
		if (r < 0)
			return r;
		if (stage == TEXT_STAGE_SECURITY)
			return offer_key(n, TEXT_KEY_AUTH_METHOD, out);
		r = offer_key(n, TEXT_KEY_HEADER_DIGEST, out);
		if (r == 0)
			r = offer_key(n, TEXT_KEY_DATA_DIGEST, out);
		if (r == 0)
			r = offer_decl_num(n, TEXT_KEY_MAX_RECV_DATA_SEGMENT_LENGTH,
					   l->max_recv_dsl, out);
		/* Discovery sessions: only the keys not Irrelevant there. */
		for (size_t i = 0; r == 0 && n->leading && i < ARRAY_SIZE(initiator_normal_keys);
		     i++) {
			int k = initiator_normal_keys[i];
			if (normal || !(keys[k].flags & KF_IRR_DISC))
				r = offer_key(n, k, out);
		}
		return r;
	}

	/* Target: its declarations in the first response (13.6, 13.9). */
	if (normal) {
		r = offer_decl_str(n, TEXT_KEY_TARGET_ALIAS, l->target_alias, out);
		if (r == 0 && l->target_portal_group_tag >= 0)
			r = offer_decl_num(n, TEXT_KEY_TARGET_PORTAL_GROUP_TAG,
					   (uint32_t)l->target_portal_group_tag, out);
		if (r < 0)
			return r;
	}
	if (stage != TEXT_STAGE_OPERATIONAL)
		return 0;
	r = offer_decl_num(n, TEXT_KEY_MAX_RECV_DATA_SEGMENT_LENGTH, l->max_recv_dsl, out);
	/* Keys the initiator left at a default we cannot serve: offer them ourselves, so that
	 * the result is within our limits (the initiator must answer). */
	for (int k = TEXT_KEY_HEADER_DIGEST; r == 0 && k < TEXT_KEY__COUNT; k++) {
		const struct key_def *d = &keys[k];
		if (d->type != KT_LIST && d->type != KT_AND && d->type != KT_OR &&
		    d->type != KT_MIN && d->type != KT_MAX)
			continue;
		if (k == TEXT_KEY_AUTH_METHOD || k == TEXT_KEY_TASK_REPORTING ||
		    k == TEXT_KEY_PROTOCOL_LEVEL)
			continue;
		if ((d->flags & KF_LO) && !n->leading)
			continue;
		if (key_irrelevant(n, k) || default_ok(n, k))
			continue;
		r = offer_key(n, k, out);
	}
	return r;
}

bool
text_neg_pending(const struct text_neg *n)
{
	for (int k = 0; k < TEXT_KEY__COUNT; k++)
		if (n->kstate[k] & TEXT_KS_WAIT)
			return true;
	return false;
}

int
text_neg_finish(struct text_neg *n)
{
	struct text_params *p = &n->params;

	if (n->fail.reason != TEXT_FAIL_NONE)
		return -EPROTO;
	for (int k = 0; k < TEXT_KEY__COUNT; k++)
		if (n->kstate[k] & TEXT_KS_WAIT)
			return fail_key(n, TEXT_FAIL_MISSING, k, NULL, 0);
	/* Whatever happened (keys nobody negotiated keep their defaults, a login may skip the
	 * operational stage), the results must be within our local limits. A target offers
	 * such keys itself, so this only trips on a peer that skipped the negotiation. */
	for (int k = TEXT_KEY_HEADER_DIGEST; k < TEXT_KEY__COUNT; k++) {
		if ((keys[k].flags & KF_LO) && !n->leading)
			continue;
		if (!key_irrelevant(n, k) && !param_ok(n, k))
			return fail_key(n, TEXT_FAIL_LIMIT, k, NULL, 0);
	}
	p->first_burst_irrelevant = p->initial_r2t && !p->immediate_data;
	/* RFC 7143 13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. */
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst;
	p->max_xmit_dsl = MIN(p->peer_max_recv_dsl, n->local.max_xmit_dsl);
	p->max_recv_dsl = n->local.max_recv_dsl;
	return 0;
}
