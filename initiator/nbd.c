/*
 * NBD server protocol engine: fixed newstyle handshake, option haggling and transmission
 * request parsing, reply encoding, SCSI -> NBD error mapping. See initiator/nbd.h.
 * References: nbd-protocol.md (the NBD protocol document) sections as cited.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "initiator/nbd.h"

#include "common/datapath.h"

_Static_assert(INITIATOR_NBD_OUTBUF_LEN >= 4 * 16 + 2 * (2 + INITIATOR_NBD_STRING_MAX) + 12 + 14,
	       "a complete NBD_OPT_GO answer must fit the output buffer");
_Static_assert(INITIATOR_NBD_OUTBUF_LEN >= 16 + 4 + 2 * INITIATOR_NBD_STRING_MAX,
	       "one NBD_REP_SERVER must fit the output buffer");

enum nbd_state {
	ST_HS_FLAGS = 0, /* waiting for the 32-bit client flags */
	ST_HS_OPT_HDR,	 /* IHAVEOPT, option, length */
	ST_HS_OPT_DATA,	 /* option data into ibuf */
	ST_HS_OPT_SKIP,	 /* oversized option data being discarded */
	ST_HS_OPT_READY, /* option complete, waiting for output room */
	ST_TX_HDR,	 /* 28-byte request header */
	ST_TX_WBUF,	 /* valid WRITE: waiting for a write buffer */
	ST_TX_PAYLOAD,	 /* WRITE payload into req.data */
	ST_TX_SKIP,	 /* payload of a rejected WRITE being discarded */
	ST_TX_DELIVER,	 /* request complete, waiting for ops->request() to accept it */
	ST_CLOSED,	 /* soft disconnect: input ignored */
	ST_ERROR,	 /* fatal error: c->error */
};

#define OPT_HDR_LEN 16
#define CLIENT_FLAGS_KNOWN (INITIATOR_NBD_FLAG_C_FIXED_NEWSTYLE | INITIATOR_NBD_FLAG_C_NO_ZEROES)
#define META_ALLOCATION "base:allocation"

static bool
is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

uint16_t
initiator_nbd_export_tflags(const struct initiator_nbd_export *exp)
{
	uint16_t f = INITIATOR_NBD_FLAG_HAS_FLAGS;

	if (exp->flags & INITIATOR_NBD_EXPORT_READ_ONLY)
		f |= INITIATOR_NBD_FLAG_READ_ONLY;
	if (exp->flags & INITIATOR_NBD_EXPORT_FLUSH)
		f |= INITIATOR_NBD_FLAG_SEND_FLUSH;
	if (exp->flags & INITIATOR_NBD_EXPORT_FUA)
		f |= INITIATOR_NBD_FLAG_SEND_FUA;
	if (exp->flags & INITIATOR_NBD_EXPORT_ROTATIONAL)
		f |= INITIATOR_NBD_FLAG_ROTATIONAL;
	if (exp->flags & INITIATOR_NBD_EXPORT_TRIM)
		f |= INITIATOR_NBD_FLAG_SEND_TRIM;
	if (exp->flags & INITIATOR_NBD_EXPORT_WRITE_ZEROES) {
		f |= INITIATOR_NBD_FLAG_SEND_WRITE_ZEROES;
		/* Values: SEND_FAST_ZERO MUST be 0 if SEND_WRITE_ZEROES is not set. */
		if (exp->flags & INITIATOR_NBD_EXPORT_FAST_ZERO)
			f |= INITIATOR_NBD_FLAG_SEND_FAST_ZERO;
	}
	if (exp->flags & INITIATOR_NBD_EXPORT_MULTI_CONN)
		f |= INITIATOR_NBD_FLAG_CAN_MULTI_CONN;
	if (exp->flags & INITIATOR_NBD_EXPORT_CACHE)
		f |= INITIATOR_NBD_FLAG_SEND_CACHE;
	return f;
}

static int
check_config(const struct initiator_nbd_config *cfg)
{
	if (!cfg || !cfg->ops || !cfg->ops->request || !cfg->ops->get_write_buffer)
		return -EINVAL;
	if (cfg->nexports && !cfg->exports)
		return -EINVAL;
	if (cfg->nexports > INT32_MAX)
		return -EINVAL;
	if (cfg->default_export < -1 ||
	    (cfg->default_export >= 0 && (size_t)cfg->default_export >= cfg->nexports))
		return -EINVAL;
	for (size_t i = 0; i < cfg->nexports; i++) {
		const struct initiator_nbd_export *e = &cfg->exports[i];
		size_t nl;

		if (!e->name)
			return -EINVAL;
		nl = strnlen(e->name, INITIATOR_NBD_STRING_MAX + 1);
		if (nl == 0 || nl > INITIATOR_NBD_STRING_MAX)
			return -EINVAL;
		if (e->description && strnlen(e->description, INITIATOR_NBD_STRING_MAX + 1) >
					  INITIATOR_NBD_STRING_MAX)
			return -EINVAL;
		/* Size constraints: min a power of 2 <= 64 KiB, preferred a power of 2 >=
		 * max(min, 512), maximum payload >= preferred. */
		if (!is_pow2(e->min_block) || e->min_block > 65536)
			return -EINVAL;
		if (!is_pow2(e->pref_block) || e->pref_block < MAX(e->min_block, 512U))
			return -EINVAL;
		if (e->max_payload < e->pref_block)
			return -EINVAL;
		if (e->size % e->min_block)
			return -EINVAL;
	}
	return 0;
}

static void
conn_reset(struct initiator_nbd_conn *c, const struct initiator_nbd_config *cfg)
{
	/* Only the small state; the buffers are written before they are read. */
	memset(c, 0, offsetof(struct initiator_nbd_conn, ibuf));
	c->cfg = cfg;
	c->meta_export = -1;
}

int
initiator_nbd_conn_init(struct initiator_nbd_conn *c, const struct initiator_nbd_config *cfg)
{
	int r = check_config(cfg);

	if (r < 0)
		return r;
	conn_reset(c, cfg);
	c->state = ST_HS_FLAGS;
	c->phase = INITIATOR_NBD_PHASE_HANDSHAKE;
	/* Newstyle negotiation: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
	put_be64(c->obuf, INITIATOR_NBD_MAGIC);
	put_be64(c->obuf + 8, INITIATOR_NBD_IHAVEOPT);
	put_be16(c->obuf + 16, INITIATOR_NBD_FLAG_FIXED_NEWSTYLE | INITIATOR_NBD_FLAG_NO_ZEROES);
	c->out_tail = 18;
	return 0;
}

static void
enter_transmission(struct initiator_nbd_conn *c, int index)
{
	c->export = &c->cfg->exports[index];
	c->tflags = initiator_nbd_export_tflags(c->export);
	/* SET_META_CONTEXT counts only if it named the export that was finally chosen. */
	if (c->meta_export != index)
		c->meta_alloc = false;
	c->phase = INITIATOR_NBD_PHASE_TRANSMISSION;
	c->state = ST_TX_HDR;
	c->have = 0;
}

int
initiator_nbd_conn_init_transmission(struct initiator_nbd_conn *c,
				     const struct initiator_nbd_config *cfg, int index)
{
	int r = check_config(cfg);

	if (r < 0)
		return r;
	if (index < 0 || (size_t)index >= cfg->nexports)
		return -EINVAL;
	conn_reset(c, cfg);
	enter_transmission(c, index);
	return 0;
}

void
initiator_nbd_conn_fini(struct initiator_nbd_conn *c)
{
	c->state = ST_CLOSED;
	c->phase = INITIATOR_NBD_PHASE_CLOSED;
	c->stall = INITIATOR_NBD_STALL_CLOSED;
	c->req.data = NULL;
	c->out_head = c->out_tail = 0;
	c->listing = false;
}

enum initiator_nbd_phase
initiator_nbd_phase(const struct initiator_nbd_conn *c)
{
	return c->phase;
}

enum initiator_nbd_stall
initiator_nbd_stall(const struct initiator_nbd_conn *c)
{
	return c->stall;
}

const struct initiator_nbd_export *
initiator_nbd_export(const struct initiator_nbd_conn *c)
{
	return c->phase == INITIATOR_NBD_PHASE_TRANSMISSION ? c->export : NULL;
}

bool
initiator_nbd_structured(const struct initiator_nbd_conn *c)
{
	return c->structured;
}

/* ---- Handshake output. ---- */

static uint8_t *
out_reserve(struct initiator_nbd_conn *c, size_t n)
{
	uint8_t *p;

	if (INITIATOR_NBD_OUTBUF_LEN - c->out_tail < n && c->out_head) {
		memmove(c->obuf, c->obuf + c->out_head, c->out_tail - c->out_head);
		c->out_tail -= c->out_head;
		c->out_head = 0;
	}
	if (INITIATOR_NBD_OUTBUF_LEN - c->out_tail < n)
		return NULL;
	p = c->obuf + c->out_tail;
	c->out_tail += (uint32_t)n;
	return p;
}

/*
 * Fixed newstyle option reply: magic, option, reply type, length, then @len1 + @len2 bytes
 * of data (two pieces so that callers need no scratch buffer). Callers only reply when the
 * output buffer is empty, and everything one option produces fits (static asserts above).
 */
static int
opt_reply2(struct initiator_nbd_conn *c, uint32_t type, const void *d1, size_t len1, const void *d2,
	   size_t len2)
{
	uint8_t *p = out_reserve(c, 20 + len1 + len2);

	if (!p)
		return -ENOBUFS;
	put_be64(p, INITIATOR_NBD_REP_MAGIC);
	put_be32(p + 8, c->opt);
	put_be32(p + 12, type);
	put_be32(p + 16, (uint32_t)(len1 + len2));
	if (len1)
		memcpy(p + 20, d1, len1);
	if (len2)
		memcpy(p + 20 + len1, d2, len2);
	return 0;
}

static int
opt_reply(struct initiator_nbd_conn *c, uint32_t type, const void *data, size_t len)
{
	return opt_reply2(c, type, data, len, NULL, 0);
}

static int
opt_error(struct initiator_nbd_conn *c, uint32_t type, const char *msg)
{
	return opt_reply(c, type, msg, msg ? strlen(msg) : 0);
}

/* Queue as many NBD_REP_SERVER replies as fit, then the final ACK. */
static void
list_fill(struct initiator_nbd_conn *c)
{
	const struct initiator_nbd_config *cfg = c->cfg;

	while (c->listing && c->list_next < cfg->nexports) {
		const struct initiator_nbd_export *e = &cfg->exports[c->list_next];
		size_t nl = strlen(e->name);
		size_t dl = e->description ? strlen(e->description) : 0;
		uint8_t *p = out_reserve(c, 20 + 4 + nl + dl);

		if (!p)
			return;
		/* Option reply types: NBD_REP_SERVER: name length, name, then details for
		 * display: the description, as NBD_INFO_DESCRIPTION says. */
		put_be64(p, INITIATOR_NBD_REP_MAGIC);
		put_be32(p + 8, INITIATOR_NBD_OPT_LIST);
		put_be32(p + 12, INITIATOR_NBD_REP_SERVER);
		put_be32(p + 16, (uint32_t)(4 + nl + dl));
		put_be32(p + 20, (uint32_t)nl);
		memcpy(p + 24, e->name, nl);
		if (dl)
			memcpy(p + 24 + nl, e->description, dl);
		c->list_next++;
	}
	if (c->listing && opt_reply(c, INITIATOR_NBD_REP_ACK, NULL, 0) == 0)
		c->listing = false;
}

size_t
initiator_nbd_output(const struct initiator_nbd_conn *c, const void **data)
{
	*data = c->obuf + c->out_head;
	return c->out_tail - c->out_head;
}

void
initiator_nbd_output_consume(struct initiator_nbd_conn *c, size_t n)
{
	size_t pending = c->out_tail - c->out_head;

	if (n > pending)
		n = pending;
	c->out_head += (uint32_t)n;
	if (c->out_head == c->out_tail)
		c->out_head = c->out_tail = 0;
	if (c->listing)
		list_fill(c);
}

/* ---- Option haggling. ---- */

static int
find_export(const struct initiator_nbd_conn *c, const uint8_t *name, uint32_t len)
{
	const struct initiator_nbd_config *cfg = c->cfg;

	/* NBD_OPT_EXPORT_NAME: the empty name selects the default export. */
	if (len == 0)
		return cfg->default_export;
	for (size_t i = 0; i < cfg->nexports; i++) {
		const char *n = cfg->exports[i].name;

		if (strnlen(n, len + 1) == len && memcmp(n, name, len) == 0)
			return (int)i;
	}
	return -1;
}

static int
opt_export_name(struct initiator_nbd_conn *c)
{
	int idx = find_export(c, c->ibuf + OPT_HDR_LEN, c->opt_len);
	const struct initiator_nbd_export *e;
	uint8_t *p;
	size_t n;

	/* "If the chosen export does not exist ... the server MUST terminate the session":
	 * this option cannot carry an error. */
	if (idx < 0)
		return -EPROTO;
	e = &c->cfg->exports[idx];
	/* Size constraints: a server MAY refuse EXPORT_NAME (hard disconnect) when it wants
	 * non-default constraints negotiated. */
	if (c->cfg->require_block_size && e->min_block > 1)
		return -EPROTO;
	n = c->no_zeroes ? 10 : 10 + 124;
	p = out_reserve(c, n);
	if (!p)
		return -ENOBUFS;
	memset(p, 0, n);
	put_be64(p, e->size);
	put_be16(p + 8, initiator_nbd_export_tflags(e));
	enter_transmission(c, idx);
	if (c->cfg->ops->go)
		return c->cfg->ops->go(c->cfg->ctx, c->export);
	return 0;
}

static int
info_block_size(struct initiator_nbd_conn *c, const struct initiator_nbd_export *e)
{
	uint8_t b[14];

	put_be16(b, INITIATOR_NBD_INFO_BLOCK_SIZE);
	put_be32(b + 2, e->min_block);
	put_be32(b + 6, e->pref_block);
	put_be32(b + 10, e->max_payload);
	return opt_reply(c, INITIATOR_NBD_REP_INFO, b, sizeof(b));
}

static int
info_string(struct initiator_nbd_conn *c, uint16_t type, const char *s)
{
	uint8_t t[2];

	put_be16(t, type);
	return opt_reply2(c, INITIATOR_NBD_REP_INFO, t, 2, s, strlen(s));
}

/* NBD_OPT_INFO and NBD_OPT_GO (Option types). */
static int
opt_info_go(struct initiator_nbd_conn *c, bool go)
{
	const uint8_t *d = c->ibuf + OPT_HDR_LEN;
	uint32_t len = c->opt_len, namelen, nreq;
	bool want_name = false, want_desc = false, want_bs = false;
	const struct initiator_nbd_export *e;
	uint8_t b[12];
	int idx, r;

	/* Data: 32-bit name length (at most length - 6), name, 16-bit count, 16-bit types. */
	if (len < 6)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "option too short");
	namelen = get_be32(d);
	if (namelen > len - 6)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "name length out of range");
	nreq = get_be16(d + 4 + namelen);
	if (len != 4 + namelen + 2 + 2 * nreq)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "bad information request count");
	for (uint32_t i = 0; i < nreq; i++) {
		/* The server MUST ignore information requests it does not understand. */
		switch (get_be16(d + 4 + namelen + 2 + 2 * i)) {
		case INITIATOR_NBD_INFO_NAME:
			want_name = true;
			break;
		case INITIATOR_NBD_INFO_DESCRIPTION:
			want_desc = true;
			break;
		case INITIATOR_NBD_INFO_BLOCK_SIZE:
			want_bs = true;
			break;
		default:
			break;
		}
	}
	idx = find_export(c, d + 4, namelen);
	if (idx < 0)
		return opt_error(c, INITIATOR_NBD_REP_ERR_UNKNOWN, "unknown export");
	e = &c->cfg->exports[idx];

	/* NBD_INFO_EXPORT is mandatory before the ACK. */
	put_be16(b, INITIATOR_NBD_INFO_EXPORT);
	put_be64(b + 2, e->size);
	put_be16(b + 10, initiator_nbd_export_tflags(e));
	r = opt_reply(c, INITIATOR_NBD_REP_INFO, b, 12);
	if (!r && want_name)
		r = info_string(c, INITIATOR_NBD_INFO_NAME, e->name);
	if (!r && want_desc && e->description)
		r = info_string(c, INITIATOR_NBD_INFO_DESCRIPTION, e->description);
	/* Always described: the server MAY send unrequested information, and the block
	 * size helps clients that read it anyway. */
	if (!r)
		r = info_block_size(c, e);
	if (r)
		return r;
	/* NBD_REP_ERR_BLOCK_SIZE_REQD: only for GO, never when the client asked for the
	 * constraints, and after the NBD_INFO_BLOCK_SIZE reply (sent just above). */
	if (go && !want_bs && c->cfg->require_block_size && e->min_block > 1)
		return opt_error(c, INITIATOR_NBD_REP_ERR_BLOCK_SIZE_REQD,
				 "request NBD_INFO_BLOCK_SIZE to use this export");
	r = opt_reply(c, INITIATOR_NBD_REP_ACK, NULL, 0);
	if (r || !go)
		return r;
	enter_transmission(c, idx);
	if (c->cfg->ops->go)
		return c->cfg->ops->go(c->cfg->ctx, c->export);
	return 0;
}

/* NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: only base:allocation exists. */
static int
opt_meta_context(struct initiator_nbd_conn *c, bool set)
{
	const uint8_t *d = c->ibuf + OPT_HDR_LEN;
	uint32_t len = c->opt_len, namelen, nq, pos;
	bool match = false;
	uint8_t id[4];
	int idx;

	/* SET replaces the previous selection even when it fails. */
	if (set) {
		c->meta_alloc = false;
		c->meta_export = -1;
	}
	if (!c->structured)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID,
				 "negotiate structured replies first");
	if (len < 8)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "option too short");
	namelen = get_be32(d);
	if (namelen > len - 8)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "name length out of range");
	nq = get_be32(d + 4 + namelen);
	pos = 4 + namelen + 4;
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t ql;
		const uint8_t *q;

		/* Syntactically invalid (reads past the option) MUST be NBD_REP_ERR_INVALID. */
		if (len - pos < 4)
			return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "truncated query");
		ql = get_be32(d + pos);
		pos += 4;
		if (ql > len - pos)
			return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "truncated query");
		q = d + pos;
		pos += ql;
		if (ql == sizeof(META_ALLOCATION) - 1 && !memcmp(q, META_ALLOCATION, ql))
			match = true;
		/* "base:" is a wildcard for LIST and ignored by SET. */
		else if (!set && ql == 5 && !memcmp(q, "base:", 5))
			match = true;
	}
	if (pos != len)
		return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "trailing data");
	/* LIST with no query lists every context. */
	if (!set && nq == 0)
		match = true;
	idx = find_export(c, d + 4, namelen);
	if (idx < 0)
		return opt_error(c, INITIATOR_NBD_REP_ERR_UNKNOWN, "unknown export");
	if (match) {
		/* LIST: the context id is reserved and SHOULD be zero. */
		put_be32(id, set ? INITIATOR_NBD_META_ID_ALLOCATION : 0);
		int r = opt_reply2(c, INITIATOR_NBD_REP_META_CONTEXT, id, 4, META_ALLOCATION,
				   sizeof(META_ALLOCATION) - 1);
		if (r)
			return r;
		if (set) {
			c->meta_alloc = true;
			c->meta_export = idx;
		}
	}
	return opt_reply(c, INITIATOR_NBD_REP_ACK, NULL, 0);
}

static int
handle_option(struct initiator_nbd_conn *c)
{
	c->state = ST_HS_OPT_HDR;
	c->have = 0;
	switch (c->opt) {
	case INITIATOR_NBD_OPT_EXPORT_NAME:
		return opt_export_name(c);
	case INITIATOR_NBD_OPT_ABORT:
		/* The server MUST reply with NBD_REP_ACK (and ignore any data). */
		c->state = ST_CLOSED;
		c->phase = INITIATOR_NBD_PHASE_CLOSED;
		return opt_reply(c, INITIATOR_NBD_REP_ACK, NULL, 0);
	case INITIATOR_NBD_OPT_LIST:
		if (c->opt_len)
			return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "unexpected data");
		if (c->cfg->deny_list)
			return opt_error(c, INITIATOR_NBD_REP_ERR_POLICY, "listing disabled");
		c->listing = true;
		c->list_next = 0;
		list_fill(c);
		return 0;
	case INITIATOR_NBD_OPT_STARTTLS:
		if (c->opt_len)
			return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "unexpected data");
		return opt_error(c, INITIATOR_NBD_REP_ERR_POLICY, "TLS is not configured");
	case INITIATOR_NBD_OPT_INFO:
		return opt_info_go(c, false);
	case INITIATOR_NBD_OPT_GO:
		return opt_info_go(c, true);
	case INITIATOR_NBD_OPT_STRUCTURED_REPLY:
		if (c->opt_len)
			return opt_error(c, INITIATOR_NBD_REP_ERR_INVALID, "unexpected data");
		c->structured = true;
		return opt_reply(c, INITIATOR_NBD_REP_ACK, NULL, 0);
	case INITIATOR_NBD_OPT_LIST_META_CONTEXT:
		return opt_meta_context(c, false);
	case INITIATOR_NBD_OPT_SET_META_CONTEXT:
		return opt_meta_context(c, true);
	default:
		/* Includes NBD_OPT_EXTENDED_HEADERS: not implemented, the client falls back. */
		return opt_error(c, INITIATOR_NBD_REP_ERR_UNSUP, NULL);
	}
}

/* ---- Transmission. ---- */

static uint32_t
reject(struct initiator_nbd_request *req, uint32_t error, const char *msg)
{
	req->error = error;
	req->errmsg = msg;
	return error;
}

/*
 * Validate a request against the negotiated flags and the export (Request types, Command
 * flags, Error values). Sets req->error and req->errmsg; returns req->error.
 */
static uint32_t
validate(const struct initiator_nbd_conn *c, struct initiator_nbd_request *req)
{
	const struct initiator_nbd_export *e = c->export;
	uint16_t tf = c->tflags, allowed = 0;
	bool need_len = true, aligned = true, payload_cap = false, write = false;

	switch (req->type) {
	case INITIATOR_NBD_CMD_READ:
		payload_cap = true;
		if (tf & INITIATOR_NBD_FLAG_SEND_DF)
			allowed |= INITIATOR_NBD_CMD_FLAG_DF;
		break;
	case INITIATOR_NBD_CMD_WRITE:
		payload_cap = true;
		write = true;
		break;
	case INITIATOR_NBD_CMD_FLUSH:
		if (!(tf & INITIATOR_NBD_FLAG_SEND_FLUSH))
			return reject(req, INITIATOR_NBD_EINVAL, "flush not supported");
		need_len = false;
		aligned = false;
		break;
	case INITIATOR_NBD_CMD_TRIM:
		if (!(tf & INITIATOR_NBD_FLAG_SEND_TRIM))
			return reject(req, INITIATOR_NBD_EINVAL, "trim not supported");
		write = true;
		break;
	case INITIATOR_NBD_CMD_CACHE:
		/* Clients send CACHE without SEND_CACHE; the daemon may treat it as a no-op. */
		break;
	case INITIATOR_NBD_CMD_WRITE_ZEROES:
		if (!(tf & INITIATOR_NBD_FLAG_SEND_WRITE_ZEROES))
			return reject(req, INITIATOR_NBD_EINVAL, "write zeroes not supported");
		allowed |= INITIATOR_NBD_CMD_FLAG_NO_HOLE;
		if (tf & INITIATOR_NBD_FLAG_SEND_FAST_ZERO)
			allowed |= INITIATOR_NBD_CMD_FLAG_FAST_ZERO;
		write = true;
		break;
	case INITIATOR_NBD_CMD_BLOCK_STATUS:
		if (!c->structured || !c->meta_alloc)
			return reject(req, INITIATOR_NBD_EINVAL, "no metadata context negotiated");
		allowed |= INITIATOR_NBD_CMD_FLAG_REQ_ONE;
		aligned = false;
		break;
	default:
		return reject(req, INITIATOR_NBD_EINVAL, "unknown command");
	}
	/* FUA is valid on every command once SEND_FUA is advertised (Command flags). */
	if (tf & INITIATOR_NBD_FLAG_SEND_FUA)
		allowed |= INITIATOR_NBD_CMD_FLAG_FUA;
	if (req->flags & ~allowed)
		return reject(req, INITIATOR_NBD_EINVAL, "invalid command flags");
	if (!need_len) {
		/* FLUSH: offset and length are reserved and MUST be zero. */
		if (req->offset || req->length)
			return reject(req, INITIATOR_NBD_EINVAL, "flush with offset or length");
		return 0;
	}
	if (req->length == 0)
		return reject(req, INITIATOR_NBD_EINVAL, "zero length");
	if (write && (tf & INITIATOR_NBD_FLAG_READ_ONLY))
		return reject(req, INITIATOR_NBD_EPERM, "export is read-only");
	if (req->offset > e->size || req->length > e->size - req->offset) {
		/* Error values: ENOSPC for writes beyond the end, EINVAL for the rest. */
		if (req->type == INITIATOR_NBD_CMD_WRITE ||
		    req->type == INITIATOR_NBD_CMD_WRITE_ZEROES)
			return reject(req, INITIATOR_NBD_ENOSPC, "beyond the end of the export");
		return reject(req, INITIATOR_NBD_EINVAL, "beyond the end of the export");
	}
	if (aligned && ((req->offset | req->length) & (e->min_block - 1)))
		return reject(req, INITIATOR_NBD_EINVAL, "not aligned to the minimum block size");
	if (payload_cap && req->length > e->max_payload)
		return reject(req, INITIATOR_NBD_EINVAL, "longer than the maximum payload");
	return 0;
}

static int
parse_request(struct initiator_nbd_conn *c)
{
	struct initiator_nbd_request *req = &c->req;
	const uint8_t *h = c->ibuf;

	/* A wrong magic means we lost sync with the client: hard disconnect. */
	if (get_be32(h) != INITIATOR_NBD_REQUEST_MAGIC)
		return -EPROTO;
	memset(req, 0, sizeof(*req));
	req->flags = get_be16(h + 4);
	req->type = get_be16(h + 6);
	req->cookie = get_be64(h + 8);
	req->offset = get_be64(h + 16);
	req->length = get_be32(h + 24);
	c->have = 0;
	if (req->type == INITIATOR_NBD_CMD_DISC) {
		c->state = ST_TX_DELIVER;
		return 0;
	}
	validate(c, req);
	if (req->type != INITIATOR_NBD_CMD_WRITE) {
		c->state = ST_TX_DELIVER;
	} else if (req->error) {
		/* The payload still follows a rejected WRITE: discard it to stay in sync. */
		c->skip = req->length;
		c->state = ST_TX_SKIP;
	} else {
		c->payload_have = 0;
		c->state = ST_TX_WBUF;
	}
	return 0;
}

static int
fail(struct initiator_nbd_conn *c, int err)
{
	c->error = err;
	c->state = ST_ERROR;
	c->phase = INITIATOR_NBD_PHASE_CLOSED;
	c->stall = INITIATOR_NBD_STALL_CLOSED;
	c->listing = false;
	return err;
}

static size_t
take(struct initiator_nbd_conn *c, uint32_t want, const uint8_t *p, size_t len)
{
	size_t n = MIN((size_t)(want - c->have), len);

	if (!n)
		return 0; /* p may be NULL (a retry with len 0) */
	memcpy(c->ibuf + c->have, p, n);
	c->have += (uint32_t)n;
	return n;
}

ssize_t
initiator_nbd_feed(struct initiator_nbd_conn *c, const void *data, size_t len)
{
	const struct initiator_nbd_ops *ops = c->cfg ? c->cfg->ops : NULL;
	const uint8_t *p = data;
	size_t used = 0, n;
	int r;

	c->stall = INITIATOR_NBD_STALL_NONE;
	for (;;) {
		switch (c->state) {
		case ST_HS_FLAGS:
			used += take(c, 4, p + used, len - used);
			if (c->have < 4)
				return (ssize_t)used;
			{
				uint32_t f = get_be32(c->ibuf);

				/* Client flags: the server MUST drop the connection on unknown
				 * flags. */
				if (f & ~CLIENT_FLAGS_KNOWN)
					return fail(c, -EPROTO);
				c->no_zeroes = f & INITIATOR_NBD_FLAG_C_NO_ZEROES;
			}
			c->have = 0;
			c->state = ST_HS_OPT_HDR;
			break;
		case ST_HS_OPT_HDR:
			used += take(c, OPT_HDR_LEN, p + used, len - used);
			if (c->have < OPT_HDR_LEN)
				return (ssize_t)used;
			if (get_be64(c->ibuf) != INITIATOR_NBD_IHAVEOPT)
				return fail(c, -EPROTO);
			c->opt = get_be32(c->ibuf + 8);
			c->opt_len = get_be32(c->ibuf + 12);
			if (c->opt_len > INITIATOR_NBD_OPT_DATA_MAX) {
				if (c->opt == INITIATOR_NBD_OPT_EXPORT_NAME)
					return fail(c, -EPROTO);
				c->skip = c->opt_len;
				c->state = ST_HS_OPT_SKIP;
			} else {
				c->state = ST_HS_OPT_DATA;
			}
			break;
		case ST_HS_OPT_DATA:
			used += take(c, OPT_HDR_LEN + c->opt_len, p + used, len - used);
			if (c->have < OPT_HDR_LEN + c->opt_len)
				return (ssize_t)used;
			c->state = ST_HS_OPT_READY;
			break;
		case ST_HS_OPT_SKIP:
			n = (size_t)MIN(c->skip, (uint64_t)(len - used));
			used += n;
			c->skip -= n;
			if (c->skip)
				return (ssize_t)used;
			c->state = ST_HS_OPT_READY;
			break;
		case ST_HS_OPT_READY:
			/* One option at a time, into an empty output buffer: the client must
			 * wait for our final reply anyway. */
			if (c->out_tail != c->out_head || c->listing) {
				c->stall = INITIATOR_NBD_STALL_OUTPUT;
				return (ssize_t)used;
			}
			if (c->opt_len > INITIATOR_NBD_OPT_DATA_MAX) {
				c->state = ST_HS_OPT_HDR;
				c->have = 0;
				r = opt_error(c, INITIATOR_NBD_REP_ERR_TOO_BIG, "option too long");
			} else {
				r = handle_option(c);
			}
			if (r < 0)
				return fail(c, r);
			break;
		case ST_TX_HDR:
			used += take(c, INITIATOR_NBD_REQUEST_LEN, p + used, len - used);
			if (c->have < INITIATOR_NBD_REQUEST_LEN)
				return (ssize_t)used;
			r = parse_request(c);
			if (r < 0)
				return fail(c, r);
			break;
		case ST_TX_WBUF:
			c->req.data = ops->get_write_buffer(c->cfg->ctx, &c->req);
			if (!c->req.data) {
				c->stall = INITIATOR_NBD_STALL_WRITE_BUFFER;
				return (ssize_t)used;
			}
			c->state = ST_TX_PAYLOAD;
			break;
		case ST_TX_PAYLOAD:
			if (c->payload_have == c->req.length) {
				c->state = ST_TX_DELIVER;
				break;
			}
			if (used == len)
				return (ssize_t)used;
			n = MIN((size_t)(c->req.length - c->payload_have), len - used);
			memcpy((uint8_t *)c->req.data + c->payload_have, p + used, n);
			c->payload_have += (uint32_t)n;
			used += n;
			break;
		case ST_TX_SKIP:
			n = (size_t)MIN(c->skip, (uint64_t)(len - used));
			used += n;
			c->skip -= n;
			if (c->skip)
				return (ssize_t)used;
			c->state = ST_TX_DELIVER;
			break;
		case ST_TX_DELIVER:
			r = ops->request(c->cfg->ctx, &c->req);
			if (r == -ENOBUFS) {
				c->stall = INITIATOR_NBD_STALL_REQUEST;
				return (ssize_t)used;
			}
			if (r < 0)
				return fail(c, r);
			if (c->req.type == INITIATOR_NBD_CMD_DISC) {
				/* The client MUST NOT send anything after NBD_CMD_DISC. */
				c->state = ST_CLOSED;
				c->phase = INITIATOR_NBD_PHASE_CLOSED;
			} else {
				c->state = ST_TX_HDR;
				c->have = 0;
			}
			c->req.data = NULL;
			break;
		case ST_CLOSED:
			c->stall = INITIATOR_NBD_STALL_CLOSED;
			return (ssize_t)len;
		case ST_ERROR:
		default:
			c->stall = INITIATOR_NBD_STALL_CLOSED;
			return c->error ? c->error : -EPROTO;
		}
	}
}

size_t
initiator_nbd_payload_target(const struct initiator_nbd_conn *c, void **buf)
{
	if (c->state != ST_TX_PAYLOAD || c->payload_have >= c->req.length) {
		*buf = NULL;
		return 0;
	}
	*buf = (uint8_t *)c->req.data + c->payload_have;
	return c->req.length - c->payload_have;
}

int
initiator_nbd_payload_commit(struct initiator_nbd_conn *c, size_t n)
{
	ssize_t r;

	if (c->state != ST_TX_PAYLOAD || n > c->req.length - c->payload_have)
		return -EINVAL;
	c->payload_have += (uint32_t)n;
	if (c->payload_have < c->req.length)
		return 0;
	r = initiator_nbd_feed(c, NULL, 0);
	return r < 0 ? (int)r : 0;
}

/* ---- Reply encoding (Simple reply message, Structured reply chunk message). ---- */

size_t
initiator_nbd_encode_simple(uint8_t *buf, uint64_t cookie, uint32_t error)
{
	put_be32(buf, INITIATOR_NBD_SIMPLE_REPLY_MAGIC);
	put_be32(buf + 4, error);
	put_be64(buf + 8, cookie);
	return INITIATOR_NBD_SIMPLE_REPLY_LEN;
}

size_t
initiator_nbd_encode_chunk(uint8_t *buf, uint16_t flags, uint16_t type, uint64_t cookie,
			   uint32_t length)
{
	put_be32(buf, INITIATOR_NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(buf + 4, flags);
	put_be16(buf + 6, type);
	put_be64(buf + 8, cookie);
	put_be32(buf + 16, length);
	return INITIATOR_NBD_CHUNK_HDR_LEN;
}

size_t
initiator_nbd_encode_offset_data(uint8_t *buf, bool done, uint64_t cookie, uint64_t offset,
				 uint32_t datalen)
{
	initiator_nbd_encode_chunk(buf, done ? INITIATOR_NBD_REPLY_FLAG_DONE : 0,
				   INITIATOR_NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + datalen);
	put_be64(buf + 20, offset);
	return 28;
}

size_t
initiator_nbd_encode_none(uint8_t *buf, uint64_t cookie)
{
	return initiator_nbd_encode_chunk(buf, INITIATOR_NBD_REPLY_FLAG_DONE,
					  INITIATOR_NBD_REPLY_TYPE_NONE, cookie, 0);
}

size_t
initiator_nbd_encode_error(uint8_t *buf, bool done, uint64_t cookie, uint32_t error,
			   const char *msg, bool with_offset, uint64_t offset)
{
	size_t ml = msg ? strnlen(msg, INITIATOR_NBD_ERRMSG_MAX) : 0;
	size_t plen = 6 + ml + (with_offset ? 8 : 0);

	initiator_nbd_encode_chunk(buf, done ? INITIATOR_NBD_REPLY_FLAG_DONE : 0,
				   with_offset ? INITIATOR_NBD_REPLY_TYPE_ERROR_OFFSET
					       : INITIATOR_NBD_REPLY_TYPE_ERROR,
				   cookie, (uint32_t)plen);
	put_be32(buf + 20, error);
	put_be16(buf + 24, (uint16_t)ml);
	if (ml)
		memcpy(buf + 26, msg, ml);
	if (with_offset)
		put_be64(buf + 26 + ml, offset);
	return 20 + plen;
}

int
initiator_nbd_encode_reply(const struct initiator_nbd_conn *c,
			   const struct initiator_nbd_request *req, uint32_t error, const char *msg,
			   uint8_t *buf, size_t size)
{
	if (req->type == INITIATOR_NBD_CMD_DISC)
		return -EINVAL;
	if (!c->structured) {
		if (size < INITIATOR_NBD_SIMPLE_REPLY_LEN)
			return -ENOSPC;
		return (int)initiator_nbd_encode_simple(buf, req->cookie, error);
	}
	if (error) {
		size_t ml = msg ? strnlen(msg, INITIATOR_NBD_ERRMSG_MAX) : 0;

		/* Structured replies: errors SHOULD go in an error chunk (and MUST for
		 * READ), so that the message reaches the user. */
		if (size < 26 + ml)
			return -ENOSPC;
		return (int)initiator_nbd_encode_error(buf, true, req->cookie, error, msg, false,
						       0);
	}
	if (req->type == INITIATOR_NBD_CMD_READ) {
		if (size < 28)
			return -ENOSPC;
		return (int)initiator_nbd_encode_offset_data(buf, true, req->cookie, req->offset,
							     req->length);
	}
	if (req->type == INITIATOR_NBD_CMD_BLOCK_STATUS) {
		uint64_t end = c->export ? c->export->size : req->offset + req->length;
		uint32_t ext = req->length;

		if (size < 32)
			return -ENOSPC;
		/* One descriptor, clipped to the export (so also valid with REQ_ONE),
		 * status 0: allocated, contents not known to be zero. */
		if (req->offset < end && end - req->offset < ext)
			ext = (uint32_t)(end - req->offset);
		initiator_nbd_encode_chunk(buf, INITIATOR_NBD_REPLY_FLAG_DONE,
					   INITIATOR_NBD_REPLY_TYPE_BLOCK_STATUS, req->cookie, 12);
		put_be32(buf + 20, INITIATOR_NBD_META_ID_ALLOCATION);
		put_be32(buf + 24, ext);
		put_be32(buf + 28, 0);
		return 32;
	}
	/* A simple reply is allowed for anything without payload. */
	if (size < INITIATOR_NBD_SIMPLE_REPLY_LEN)
		return -ENOSPC;
	return (int)initiator_nbd_encode_simple(buf, req->cookie, 0);
}

/* ---- Error mapping. ---- */

#define SCSI_ST_GOOD 0x00
#define SCSI_ST_CHECK_CONDITION 0x02
#define SCSI_ST_CONDITION_MET 0x04
#define SCSI_ST_RESERVATION_CONFLICT 0x18

#define SENSE_RECOVERED_ERROR 0x1
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_DATA_PROTECT 0x7
#define SENSE_VOLUME_OVERFLOW 0xd

uint32_t
initiator_nbd_error_from_scsi(uint8_t status, uint8_t key, uint8_t asc, uint8_t ascq, bool write)
{
	switch (status) {
	case SCSI_ST_GOOD:
	case SCSI_ST_CONDITION_MET:
		return 0;
	case SCSI_ST_RESERVATION_CONFLICT:
		/* Another initiator holds the LUN: policy, not media. */
		return INITIATOR_NBD_EPERM;
	case SCSI_ST_CHECK_CONDITION:
		break;
	default:
		/* BUSY, TASK SET FULL, ACA ACTIVE, TASK ABORTED after retries. */
		return INITIATOR_NBD_EIO;
	}
	/* SBC-3: SPACE ALLOCATION FAILED WRITE PROTECT: a thin-provisioned LUN ran out. */
	if (asc == 0x27 && ascq == 0x07)
		return INITIATOR_NBD_ENOSPC;
	if (asc == 0x27)
		return INITIATOR_NBD_EPERM; /* WRITE PROTECTED and its variants */
	switch (key & 0x0f) {
	case SENSE_RECOVERED_ERROR:
		return 0;
	case SENSE_DATA_PROTECT:
		return INITIATOR_NBD_EPERM;
	case SENSE_VOLUME_OVERFLOW:
		return INITIATOR_NBD_ENOSPC;
	case SENSE_ILLEGAL_REQUEST:
		/* LOGICAL BLOCK ADDRESS OUT OF RANGE: Error values want ENOSPC for writes
		 * beyond the end and EINVAL for reads. */
		if (asc == 0x21 && ascq == 0x00)
			return write ? INITIATOR_NBD_ENOSPC : INITIATOR_NBD_EINVAL;
		return INITIATOR_NBD_EINVAL;
	default:
		/* NOT READY, MEDIUM ERROR, HARDWARE ERROR, UNIT ATTENTION, ABORTED COMMAND,
		 * MISCOMPARE, NO SENSE with CHECK CONDITION... */
		return INITIATOR_NBD_EIO;
	}
}

uint32_t
initiator_nbd_error_from_errno(int err)
{
	if (err == 0)
		return 0;
	if (err > 0)
		return INITIATOR_NBD_EIO;
	switch (-err) {
	case EPERM:
	case EACCES:
	case EROFS:
		return INITIATOR_NBD_EPERM;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return INITIATOR_NBD_ENOSPC;
	case EINVAL:
		return INITIATOR_NBD_EINVAL;
	case EOVERFLOW:
		return INITIATOR_NBD_EOVERFLOW;
	case ENOTSUP:
		return INITIATOR_NBD_ENOTSUP;
	case ESHUTDOWN:
		return INITIATOR_NBD_ESHUTDOWN;
	case ENOMEM:
	case ENOBUFS:
		return INITIATOR_NBD_ENOMEM;
	default:
		return INITIATOR_NBD_EIO;
	}
}
