/*
 * iSCSI login, initiator side. RFC 7143 6 (login phase), 11.12/11.13 (Login Request/Response),
 * 12.1.3 (CHAP). Control plane.
 */
#include <config.h>

/* MD5_Init and friends are deprecated in OpenSSL 3 but, unlike EVP, never allocate: see
 * login_digest(). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/compiler.h"
#include "initiator/login.h"

/* ---- CHAP digests without allocation ------------------------------------------------------- */

/*
 * Why not chap_response(): OpenSSL 3.0 allocates inside every EVP digest: EVP_MD_fetch, and
 * EVP_DigestInit_ex2 frees and re-creates the provider context even on a reused EVP_MD_CTX
 * with the same EVP_MD (measured with tests/support/tripwire.c in count mode: one allocation
 * per digest). A relogin runs with the tripwire armed, so MD5, SHA1 and SHA-256 use the
 * fixed-size low-level contexts (no allocation) and only SHA3-256, which has no such API,
 * goes through EVP on the context reserved in struct initiator_login_crypto.
 */
static int
login_digest(const struct initiator_login_crypto *cr, uint8_t alg, const uint8_t *a, size_t alen,
	     const uint8_t *b, size_t blen, const uint8_t *c, size_t clen, uint8_t *out)
{
	switch (alg) {
	case CHAP_A_MD5: {
		MD5_CTX m;
		MD5_Init(&m);
		MD5_Update(&m, a, alen);
		MD5_Update(&m, b, blen);
		MD5_Update(&m, c, clen);
		MD5_Final(out, &m);
		OPENSSL_cleanse(&m, sizeof(m));
		return MD5_DIGEST_LENGTH;
	}
	case CHAP_A_SHA1: {
		SHA_CTX m;
		SHA1_Init(&m);
		SHA1_Update(&m, a, alen);
		SHA1_Update(&m, b, blen);
		SHA1_Update(&m, c, clen);
		SHA1_Final(out, &m);
		OPENSSL_cleanse(&m, sizeof(m));
		return SHA_DIGEST_LENGTH;
	}
	case CHAP_A_SHA256: {
		SHA256_CTX m;
		SHA256_Init(&m);
		SHA256_Update(&m, a, alen);
		SHA256_Update(&m, b, blen);
		SHA256_Update(&m, c, clen);
		SHA256_Final(out, &m);
		OPENSSL_cleanse(&m, sizeof(m));
		return SHA256_DIGEST_LENGTH;
	}
	case CHAP_A_SHA3_256: {
		EVP_MD_CTX *ctx = cr ? cr->sha3_ctx : NULL;
		EVP_MD *md = cr ? cr->sha3_md : NULL;
		bool own = !ctx || !md;
		unsigned int len = 0;
		int ok;
		if (own) {
			md = EVP_MD_fetch(NULL, "SHA3-256", NULL);
			ctx = EVP_MD_CTX_new();
		}
		ok = md && ctx && EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
		     EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
		     EVP_DigestUpdate(ctx, c, clen) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1;
		if (own) {
			EVP_MD_CTX_free(ctx);
			EVP_MD_free(md);
		}
		return ok && len == 32 ? 32 : -EIO;
	}
	}
	return -ENOTSUP;
}

/* RFC 1994 4.1: the response is the hash of Identifier, secret and Challenge. */
static int
login_chap_response(const struct initiator_login_crypto *cr, uint8_t alg, uint8_t id,
		    const char *secret, const uint8_t *chal, size_t chal_len, uint8_t *out)
{
	return login_digest(cr, alg, &id, 1, (const uint8_t *)secret, strlen(secret), chal,
			    chal_len, out);
}

/* The CHAP_A entry of chap_algs[] for id if we can compute it here, else NULL. */
static const struct chap_alg *
login_alg(const struct initiator_login_crypto *cr, unsigned id)
{
	if (!cr)
		return chap_alg_by_id(id); /* control plane: may fetch */
	for (size_t i = 0; i < chap_algs_count; i++) {
		if (chap_algs[i].id != id)
			continue;
		if (id == CHAP_A_SHA3_256 && !cr->sha3_md)
			return NULL;
		return &chap_algs[i];
	}
	return NULL;
}

int
initiator_login_crypto_init(struct initiator_login_crypto *cr,
			    const struct initiator_chap_cfg *chap)
{
	static const uint8_t probe[1] = { 0 };
	uint8_t out[CHAP_MAX_DIGEST_LEN], r[16];

	memset(cr, 0, sizeof(*cr));
	for (size_t i = 0; chap && chap->enabled && i < chap->nalgs; i++) {
		if (chap->algs[i] != CHAP_A_SHA3_256 || cr->sha3_md)
			continue;
		cr->sha3_md = EVP_MD_fetch(NULL, "SHA3-256", NULL);
		cr->sha3_ctx = EVP_MD_CTX_new();
		if (!cr->sha3_md || !cr->sha3_ctx) {
			initiator_login_crypto_fini(cr);
			return -ENOTSUP;
		}
	}
	/* warm up: the first use of each digest and of the DRBG may set up internal state */
	for (size_t i = 0; i < chap_algs_count; i++)
		if (chap_algs[i].id != CHAP_A_SHA3_256 || cr->sha3_md)
			login_digest(cr, chap_algs[i].id, probe, 1, probe, 1, probe, 1, out);
	if (chap && chap->enabled && chap->username_in[0] && RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	return 0;
}

void
initiator_login_crypto_fini(struct initiator_login_crypto *cr)
{
	if (!cr)
		return;
	EVP_MD_CTX_free(cr->sha3_ctx);
	EVP_MD_free(cr->sha3_md);
	cr->sha3_ctx = NULL;
	cr->sha3_md = NULL;
}

void
initiator_login_random_isid(uint8_t isid[6])
{
	uint8_t r[5] = { 0 };
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* fall back on time-based bits: uniqueness per host is what matters */
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
		memcpy(r, &t, sizeof(r));
	}
	/* RFC 7143 11.12.5: T = 10b (random), A reserved (0), B (16 bits) and C (8 bits) random,
	 * D (16 bits) the qualifier. */
	isid[0] = 0x80;
	memcpy(isid + 1, r, 5);
}

void
initiator_login_isid_str(const uint8_t isid[6], char buf[13])
{
	snprintf(buf, 13, "%02x%02x%02x%02x%02x%02x", isid[0], isid[1], isid[2], isid[3], isid[4],
		 isid[5]);
}

void
initiator_login_local_from_config(struct text_local *local, const struct initiator_config *cfg,
				  bool discovery)
{
	text_local_defaults(local);
	local->session_type = discovery ? TEXT_SESSION_DISCOVERY : TEXT_SESSION_NORMAL;
	local->initiator_name = cfg->initiator_name;
	local->initiator_alias = cfg->initiator_alias[0] ? cfg->initiator_alias : NULL;
	local->target_name = discovery ? NULL : cfg->target;
	local->header_digest = cfg->header_digest;
	local->data_digest = cfg->data_digest;
	if (discovery) {
		local->max_recv_dsl = cfg->disc_max_recv_dsl;
		return;
	}
	local->max_recv_dsl = cfg->max_recv_dsl;
	if (cfg->max_xmit_dsl)
		local->max_xmit_dsl = cfg->max_xmit_dsl;
	local->initial_r2t = cfg->initial_r2t;
	local->immediate_data = cfg->immediate_data;
	local->max_burst = cfg->max_burst;
	local->first_burst = MIN(cfg->first_burst, cfg->max_burst);
	local->max_outstanding_r2t = MIN(cfg->max_outstanding_r2t, (uint32_t)INITIATOR_MAX_R2T);
	local->error_recovery_level = 0;
}

void
initiator_login_init(struct initiator_login *l, const struct initiator_login_params *p)
{
	memset(l, 0, sizeof(*l));
	l->p = *p;
	struct text_local local = p->local;
	bool chap = p->chap && p->chap->enabled;
	local.auth_methods = chap ? TEXT_AUTH_F_CHAP : TEXT_AUTH_F_NONE;
	local.session_type = p->discovery ? TEXT_SESSION_DISCOVERY : TEXT_SESSION_NORMAL;
	local.target_name = p->discovery ? NULL : p->target_name;
	local.initiator_name = p->initiator_name;
	local.initiator_alias = p->initiator_alias;
	text_neg_init(&l->neg, TEXT_ROLE_INITIATOR, &local, true);
	text_accum_init(&l->acc, l->accbuf, sizeof(l->accbuf));
	l->state = INITIATOR_LOGIN_START;
	l->itt = 0x10000000u | p->cid;
}

static int
fail(struct initiator_login *l, int err, const char *fmt, ...) PRINTF_FMT(3, 4);

static int
fail(struct initiator_login *l, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	l->state = INITIATOR_LOGIN_FAILED;
	return err;
}

int
initiator_login_build(struct initiator_login *l, struct pdu_hdr *h, char *data, size_t cap)
{
	bool chap = l->p.chap && l->p.chap->enabled;
	int r = 0;

	text_buf_init(&l->out, data, cap);
	if (l->continue_rx) {
		/* RFC 7143 11.12.2: an empty request fetches the rest of a continued response */
		l->continue_rx = false;
		goto encode;
	}
	switch (l->state) {
	case INITIATOR_LOGIN_START:
		if (chap) {
			l->stage = PDU_STAGE_SECURITY;
			r = text_neg_offer(&l->neg, TEXT_STAGE_SECURITY, &l->out);
			l->transit = false;
			l->state = INITIATOR_LOGIN_SEC;
		} else {
			/* Without authentication the security stage is still entered so that
			 * AuthMethod=None is stated explicitly (some targets insist). */
			l->stage = PDU_STAGE_SECURITY;
			r = text_neg_offer(&l->neg, TEXT_STAGE_SECURITY, &l->out);
			l->transit = true;
			l->nsg = PDU_STAGE_OPERATIONAL;
			l->state = INITIATOR_LOGIN_SEC;
		}
		break;
	case INITIATOR_LOGIN_SEC:
		if (chap && l->neg.params.auth_method == TEXT_AUTH_CHAP) {
			char list[CHAP_MAX_ALG_LIST_LEN + 1];
			r = chap_format_alg_list(l->p.chap->algs, l->p.chap->nalgs, list,
						 sizeof(list));
			if (r >= 0)
				r = text_buf_add(&l->out, "CHAP_A", list);
			l->transit = false;
			l->state = INITIATOR_LOGIN_CHAP_A;
		} else {
			/* answers already in out (none) and transit to operational */
			l->transit = true;
			l->nsg = PDU_STAGE_OPERATIONAL;
		}
		break;
	case INITIATOR_LOGIN_CHAP_A:
	case INITIATOR_LOGIN_CHAP_R:
		/* the CHAP_R request was built in recv (it needs the challenge) */
		break;
	case INITIATOR_LOGIN_OP:
		r = text_neg_offer(&l->neg, TEXT_STAGE_OPERATIONAL, &l->out);
		l->transit = true;
		l->nsg = PDU_STAGE_FULL_FEATURE;
		break;
	default:
		return -EINVAL;
	}
	if (r < 0)
		return fail(l, -ENOSPC, "login text does not fit in one PDU");
encode:
	memset(h, 0, sizeof(*h));
	h->opcode = PDU_OP_LOGIN_REQ;
	h->immediate = true;
	h->flags = (uint8_t)((l->transit ? PDU_LOGIN_TRANSIT : 0) |
			     (l->stage << PDU_LOGIN_CSG_SHIFT) | (l->transit ? l->nsg : 0));
	h->itt = l->itt;
	h->login_req.version_max = 0;
	h->login_req.version_min = 0;
	memcpy(h->login_req.isid, l->p.isid, 6);
	h->login_req.tsih = l->p.tsih;
	h->login_req.cid = l->p.cid;
	h->login_req.cmdsn = l->p.cmdsn;
	h->login_req.expstatsn = l->expstatsn;
	h->data_len = (uint32_t)l->out.len;
	return (int)l->out.len;
}

static const char *
status_str(uint16_t st)
{
	switch (st) {
	case PDU_LOGIN_TARGET_MOVED_TEMP:
		return "target moved temporarily";
	case PDU_LOGIN_TARGET_MOVED_PERM:
		return "target moved permanently";
	case PDU_LOGIN_INITIATOR_ERROR:
		return "initiator error";
	case PDU_LOGIN_AUTH_FAILED:
		return "authentication failed";
	case PDU_LOGIN_FORBIDDEN:
		return "authorization failure (initiator not allowed)";
	case PDU_LOGIN_NOT_FOUND:
		return "target not found";
	case PDU_LOGIN_TARGET_REMOVED:
		return "target removed";
	case PDU_LOGIN_UNSUPPORTED_VERSION:
		return "unsupported version";
	case PDU_LOGIN_TOO_MANY_CONNECTIONS:
		return "too many connections";
	case PDU_LOGIN_MISSING_PARAMETER:
		return "missing parameter";
	case PDU_LOGIN_CANT_INCLUDE_IN_SESSION:
		return "cannot include in session";
	case PDU_LOGIN_SESSION_TYPE_UNSUPPORTED:
		return "session type not supported";
	case PDU_LOGIN_SESSION_DOES_NOT_EXIST:
		return "session does not exist";
	case PDU_LOGIN_INVALID_DURING_LOGIN:
		return "invalid request during login";
	case PDU_LOGIN_TARGET_ERROR:
		return "target error";
	case PDU_LOGIN_SERVICE_UNAVAILABLE:
		return "service unavailable";
	case PDU_LOGIN_OUT_OF_RESOURCES:
		return "target out of resources";
	}
	return "unknown status";
}

/* CHAP_A/CHAP_I/CHAP_C arrived: answer with CHAP_N/CHAP_R (+ our challenge for mutual). */
static int
chap_answer(struct initiator_login *l, size_t n)
{
	const struct initiator_chap_cfg *c = l->p.chap;
	const struct text_pair *pa = text_find(l->pairs, n, "CHAP_A");
	const struct text_pair *pi = text_find(l->pairs, n, "CHAP_I");
	const struct text_pair *pc = text_find(l->pairs, n, "CHAP_C");
	uint8_t chal[CHAP_MAX_CHALLENGE_LEN];
	uint8_t resp[CHAP_MAX_DIGEST_LEN];
	char hex[CHAP_HEX_ENCODED_SIZE(CHAP_MAX_CHALLENGE_LEN)];
	uint8_t id;
	int r;

	if (!pa || !pi || !pc)
		return fail(l, -EPROTO, "CHAP: target did not send CHAP_A, CHAP_I and CHAP_C");
	unsigned a = 0;
	for (const char *p = pa->value; *p; p++) {
		if (*p < '0' || *p > '9' || a > 1000)
			return fail(l, -EPROTO, "CHAP: target chose CHAP_A=%s", pa->value);
		a = a * 10 + (unsigned)(*p - '0');
	}
	bool offered = false;
	for (size_t i = 0; i < c->nalgs; i++)
		offered |= c->algs[i] == a;
	const struct chap_alg *alg = login_alg(l->p.crypto, a);
	if (!offered || !alg)
		return fail(l, -EPROTO, "CHAP: target chose CHAP_A=%s, which we did not offer",
			    pa->value);
	l->chap_alg = (uint8_t)a;
	if (chap_parse_id(pi->value, &id))
		return fail(l, -EPROTO, "CHAP: bad CHAP_I '%s'", pi->value);
	int clen = chap_decode(pc->value, chal, sizeof(chal));
	if (clen <= 0)
		return fail(l, -EPROTO, "CHAP: bad CHAP_C");
	r = login_chap_response(l->p.crypto, alg->id, id, c->password, chal, (size_t)clen, resp);
	if (r < 0)
		return fail(l, r, "CHAP: cannot compute the %s response: %s", alg->name,
			    strerror(-r));
	int rl = r;
	r = chap_encode_hex(resp, (size_t)rl, hex, sizeof(hex));
	if (r >= 0)
		r = text_buf_add(&l->out, "CHAP_N", c->username);
	if (r >= 0)
		r = text_buf_add(&l->out, "CHAP_R", hex);
	if (r >= 0 && c->username_in[0]) {
		/* mutual: challenge the target, never with its own challenge (reflection) */
		r = chap_challenge_generate(&l->ours, alg, 0);
		if (r == 0 && chap_check_reflection(&l->ours, chal, (size_t)clen))
			r = chap_challenge_generate(&l->ours, alg, 0);
		if (r == 0) {
			char idbuf[8];
			snprintf(idbuf, sizeof(idbuf), "%u", l->ours.id);
			r = text_buf_add(&l->out, "CHAP_I", idbuf);
		}
		if (r >= 0)
			r = chap_encode_hex(l->ours.value, l->ours.len, hex, sizeof(hex));
		if (r >= 0)
			r = text_buf_add(&l->out, "CHAP_C", hex);
	}
	if (r < 0)
		return fail(l, r, "CHAP: cannot build the response: %s", strerror(-r));
	l->transit = true;
	l->nsg = PDU_STAGE_OPERATIONAL;
	l->state = INITIATOR_LOGIN_CHAP_R;
	return 0;
}

/* Mutual CHAP: the target's CHAP_N/CHAP_R in its final security response. */
static int
chap_verify_target(struct initiator_login *l, size_t n)
{
	const struct initiator_chap_cfg *c = l->p.chap;
	const struct text_pair *pn = text_find(l->pairs, n, "CHAP_N");
	const struct text_pair *pr = text_find(l->pairs, n, "CHAP_R");
	uint8_t resp[CHAP_MAX_DIGEST_LEN * 2];

	if (!pn || !pr)
		return fail(l, -EACCES, "mutual CHAP: target did not authenticate itself");
	if (strcmp(pn->value, c->username_in))
		return fail(l, -EACCES, "mutual CHAP: target name '%s', expected '%s'", pn->value,
			    c->username_in);
	int rl = chap_decode(pr->value, resp, sizeof(resp));
	if (rl <= 0)
		return fail(l, -EACCES, "mutual CHAP: malformed CHAP_R from the target");
	uint8_t expect[CHAP_MAX_DIGEST_LEN];
	int en = login_chap_response(l->p.crypto, l->chap_alg, l->ours.id, c->password_in,
				     l->ours.value, l->ours.len, expect);
	/* constant time: a peer must not learn a prefix of the expected response */
	if (en <= 0 || rl != en || CRYPTO_memcmp(expect, resp, (size_t)en) != 0)
		return fail(l, -EACCES,
			    "mutual CHAP: the target's response is wrong (password_in mismatch)");
	return 0;
}

int
initiator_login_recv(struct initiator_login *l, const struct pdu_hdr *h, const void *data,
		     uint32_t len)
{
	int r;

	if (h->opcode != PDU_OP_LOGIN_RSP)
		return fail(l, -EPROTO, "expected a Login Response, got %s",
			    pdu_opcode_str(h->opcode));
	l->status = h->login_rsp.status;
	if (!l->have_statsn || h->login_rsp.statsn + 1 != l->expstatsn) {
		l->expstatsn = h->login_rsp.statsn + 1;
		l->have_statsn = true;
	}
	if (l->status != PDU_LOGIN_SUCCESS) {
		int err = -EPROTO;
		switch (l->status >> 8) {
		case 1:
			err = -EXDEV;
			break;
		case 2:
			err = l->status == PDU_LOGIN_AUTH_FAILED || l->status == PDU_LOGIN_FORBIDDEN
				      ? -EACCES
			      : l->status == PDU_LOGIN_NOT_FOUND ||
					      l->status == PDU_LOGIN_TARGET_REMOVED
				      ? -ENOENT
				      : -EPROTO;
			break;
		case 3:
			err = -EAGAIN;
			break;
		}
		return fail(l, err, "login refused: status 0x%04x (%s)", l->status,
			    status_str(l->status));
	}
	if (h->itt != l->itt)
		return fail(l, -EPROTO, "Login Response with ITT 0x%08x, expected 0x%08x", h->itt,
			    l->itt);
	if (text_accum_append(&l->acc, data, len))
		return fail(l, -EPROTO, "login response text exceeds %d bytes",
			    INITIATOR_TEXT_MAX);
	if (h->flags & PDU_TEXT_CONTINUE) {
		l->continue_rx = true;
		return 0;
	}
	int n = text_accum_parse(&l->acc, l->pairs, ARRAY_SIZE(l->pairs), NULL);
	if (n < 0)
		return fail(l, -EPROTO, "malformed login response text (%s)", strerror(-n));
	text_accum_reset(&l->acc);

	int csg = (h->flags & PDU_LOGIN_CSG_MASK) >> PDU_LOGIN_CSG_SHIFT;
	bool transit = (h->flags & PDU_LOGIN_TRANSIT) != 0;
	int nsg = h->flags & PDU_LOGIN_NSG_MASK;
	if (csg != l->stage)
		return fail(l, -EPROTO, "target answered in stage %d, we are in stage %d", csg,
			    l->stage);

	/* Answers and declarations; offers from the target get answers in out, which the next
	 * request carries (build() appends after them). */
	text_buf_init(&l->out, l->outbuf, sizeof(l->outbuf));
	r = text_neg_recv(&l->neg, (enum text_stage)csg, l->pairs, (size_t)n, &l->out);
	if (r == -EPROTO)
		return fail(l, -EPROTO, "negotiation failed on %s%s%s: %s", l->neg.fail.key_name,
			    l->neg.fail.value[0] ? "=" : "", l->neg.fail.value,
			    text_fail_str(l->neg.fail.reason));
	if (r < 0)
		return fail(l, r, "negotiation failed: %s", strerror(-r));
	l->tsih = h->login_rsp.tsih;

	bool chap = l->p.chap && l->p.chap->enabled;
	if (csg == PDU_STAGE_SECURITY) {
		if (l->state == INITIATOR_LOGIN_SEC && chap &&
		    l->neg.params.auth_method != TEXT_AUTH_CHAP)
			return fail(l, -EACCES, "target refused CHAP authentication (AuthMethod=%s)",
				    l->neg.params.auth_method == TEXT_AUTH_NONE ? "None" : "?");
		if (l->state == INITIATOR_LOGIN_CHAP_A) {
			r = chap_answer(l, (size_t)n);
			if (r)
				return r;
			goto pending_out;
		}
		if (l->state == INITIATOR_LOGIN_CHAP_R && transit && l->p.chap->username_in[0]) {
			r = chap_verify_target(l, (size_t)n);
			if (r)
				return r;
		}
		if (l->state == INITIATOR_LOGIN_SEC && !chap &&
		    l->neg.params.auth_method == TEXT_AUTH_CHAP)
			return fail(l, -EACCES,
				    "target requires CHAP authentication (use --chap USER:SECRET)");
	}
	if (transit) {
		if (nsg == PDU_STAGE_FULL_FEATURE) {
			if (text_neg_pending(&l->neg) || l->out.len)
				return fail(l, -EPROTO,
					    "target entered Full Feature Phase with negotiation "
					    "still open");
			r = text_neg_finish(&l->neg);
			if (r)
				return fail(l, -EPROTO, "negotiation incomplete: %s (%s)",
					    l->neg.fail.key_name,
					    text_fail_str(l->neg.fail.reason));
			if (l->tsih == 0 && !l->p.discovery)
				return fail(l, -EPROTO, "target assigned TSIH 0");
			l->state = INITIATOR_LOGIN_DONE;
			l->stage = PDU_STAGE_FULL_FEATURE;
			return 1;
		}
		if (nsg != PDU_STAGE_OPERATIONAL || l->stage != PDU_STAGE_SECURITY)
			return fail(l, -EPROTO, "unexpected stage transition %d -> %d", csg, nsg);
		l->stage = PDU_STAGE_OPERATIONAL;
		l->state = INITIATOR_LOGIN_OP;
		/* keep the answers collected in out: build() continues from them */
		goto pending_out;
	}
	/* no transition yet: answer and ask again (build() adds any new offers) */
pending_out:
	/* build() re-initialises out over its own buffer: stash what we have to send first */
	return 0;
}

int
initiator_login_next(struct initiator_login *l, struct pdu_hdr *h, char *buf, size_t cap)
{
	size_t pre = l->out.len;

	if (pre > cap)
		return fail(l, -ENOSPC, "login text does not fit in one PDU");
	/* pending answers from initiator_login_recv() first, then build()'s offers */
	memcpy(buf, l->outbuf, pre);
	int n = initiator_login_build(l, h, buf + pre, cap - pre);
	l->out.len = 0;
	if (n < 0)
		return n;
	h->login_req.expstatsn = l->expstatsn;
	h->data_len = (uint32_t)(pre + (size_t)n);
	return (int)h->data_len;
}

/* Send the PDU built from pending answers (in l->outbuf) plus the offers of build(). */
static int
send_next(struct initiator_login *l, struct initiator_sync *s, char *buf, size_t cap)
{
	struct pdu_hdr h;

	int n = initiator_login_next(l, &h, buf, cap);
	if (n < 0)
		return n;
	int r = initiator_sync_send(s, &h, buf, (uint32_t)n);
	if (r)
		return fail(l, r, "cannot send Login Request: %s", strerror(-r));
	return 0;
}

int
initiator_login_run(struct initiator_login *l, struct initiator_sync *s)
{
	char tx[8192];
	static char rx[INITIATOR_TEXT_MAX];
	int r;

	s->max_recv_dsl = 8192; /* RFC 7143 13.12: the login default */
	s->max_xmit_dsl = 8192;
	s->header_digest = s->data_digest = false;
	l->out.len = 0;
	for (int rounds = 0; rounds < 32; rounds++) {
		r = send_next(l, s, tx, sizeof(tx));
		if (r)
			return r;
		struct pdu_hdr h;
		uint32_t len;
		r = initiator_sync_recv(s, &h, rx, sizeof(rx), &len);
		if (r)
			return fail(l, r, "no Login Response: %s", strerror(-r));
		r = initiator_login_recv(l, &h, rx, len);
		if (r < 0)
			return r;
		if (r == 1) {
			const struct text_params *p = &l->neg.params;
			s->header_digest = p->header_digest;
			s->data_digest = p->data_digest;
			s->max_recv_dsl = p->max_recv_dsl;
			s->max_xmit_dsl = p->max_xmit_dsl;
			s->cmdsn = l->p.cmdsn;
			s->expstatsn = l->expstatsn;
			s->expcmdsn = h.login_rsp.expcmdsn;
			s->maxcmdsn = h.login_rsp.maxcmdsn;
			return 0;
		}
	}
	return fail(l, -EPROTO, "login did not complete in 32 exchanges");
}
