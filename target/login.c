/*
 * Login phase and Text requests (RFC 7143 sections 6, 11.10-11.13, 12.1.3).
 *
 * One struct target_login per connection holds the text accumulation buffer and the
 * negotiation state (common/text.h). The first Login Request names the session type and the
 * target; from it we pick the authentication we require (CHAP when the target or the
 * discovery configuration has incoming accounts), check the ACL and the limits, and let the
 * text engine answer every operational key. CHAP_* keys are handled here with common/chap.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/chap.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pdu.h"
#include "common/sn.h"
#include "common/text.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/ffp.h"
#include "target/login.h"
#include "target/portal.h"
#include "target/session.h"
#include "target/target.h"

#define LOGIN_MAX_PAIRS 256

enum chap_state {
	CHAP_IDLE = 0,  /* waiting for CHAP_A */
	CHAP_CHALLENGED, /* sent CHAP_A/I/C, waiting for CHAP_N/R */
	CHAP_DONE,
};

struct target_login {
	struct text_neg neg;
	struct text_accum acc;
	char *accbuf;
	struct text_pair pairs[LOGIN_MAX_PAIRS];
	bool started;          /* first request seen */
	bool neg_ready;        /* text_neg_init() done */
	bool auth_required;
	bool auth_done;
	bool discovery;
	bool failed;
	uint8_t stage;         /* current stage (CSG we are in) */
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;
	uint32_t cmdsn;
	struct target_node *node;
	/* CHAP */
	enum chap_state chap;
	const struct chap_alg *alg;
	struct chap_challenge challenge;
	struct target_account in_accts[TARGET_MAX_ACCOUNTS]; /* copies: a reload may free them */
	unsigned n_in;
	struct target_account out_copy;
	const struct target_account *out_acct;
	char target[TARGET_NAME_MAX];
	/* long responses (C bit) */
	bool resp_transit;
	uint8_t resp_nsg;
};

int
target_login_new(struct target_conn *c)
{
	struct target_login *l = mem_zalloc(sizeof(*l));
	struct target_config *cfg = c->d->cfg;

	if (!l)
		return -ENOMEM;
	l->accbuf = mem_alloc(cfg->max_text_len);
	if (!l->accbuf) {
		mem_free(l);
		return -ENOMEM;
	}
	text_accum_init(&l->acc, l->accbuf, cfg->max_text_len);
	c->login = l;
	c->statsn = 1;
	return 0;
}

void
target_login_free(struct target_conn *c)
{
	struct target_login *l = c->login;

	if (!l)
		return;
	/* Secrets and challenges do not outlive the login. */
	explicit_bzero(l->in_accts, sizeof(l->in_accts));
	explicit_bzero(&l->out_copy, sizeof(l->out_copy));
	explicit_bzero(&l->challenge, sizeof(l->challenge));
	mem_free(l->accbuf);
	mem_free(l);
	c->login = NULL;
}

/* ---- responses ---- */

static void
login_send(struct target_conn *c, uint16_t status, bool transit, uint8_t csg, uint8_t nsg,
	   uint16_t tsih)
{
	struct target_login *l = c->login;
	struct target_txpdu *p;
	struct pdu_hdr h;
	uint32_t len = 0;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_LOGIN_RSP;
	if (!status && c->text_out_off < c->text_out_len) {
		len = MIN(c->text_out_len - c->text_out_off, (uint32_t)TARGET_LOGIN_DSL);
		if (c->text_out_off + len < c->text_out_len) {
			/* More to come: C bit, no transit (RFC 7143 11.13.3). */
			h.flags |= PDU_TEXT_CONTINUE;
			l->resp_transit = transit;
			l->resp_nsg = nsg;
			transit = false;
		}
	}
	if (!status) {
		h.flags |= (uint8_t)(csg << PDU_LOGIN_CSG_SHIFT);
		if (transit)
			h.flags |= PDU_LOGIN_TRANSIT | nsg;
	}
	memcpy(h.login_rsp.isid, l->isid, 6);
	h.login_rsp.tsih = tsih;
	h.itt = l->itt;
	h.login_rsp.statsn = c->statsn++;
	h.login_rsp.expcmdsn = l->cmdsn;
	h.login_rsp.maxcmdsn = l->cmdsn;
	h.login_rsp.status = status;
	h.login_rsp.version_max = 0;
	h.login_rsp.version_active = 0;
	p = target_conn_tx_get(c);
	if (!p) {
		target_conn_close(c, -ENOBUFS, "no transmit slot for a login response");
		return;
	}
	if (c->sess && transit && nsg == PDU_STAGE_FULL_FEATURE) {
		/* The final response carries the session's window. */
		h.login_rsp.expcmdsn = c->sess->exp_cmdsn;
		h.login_rsp.maxcmdsn = c->sess->max_cmdsn;
		c->sess->adv_maxcmdsn = c->sess->max_cmdsn;
	}
	target_conn_tx_send(c, p, &h, c->text_out + c->text_out_off, len, NULL);
	c->text_out_off += len;
}

static void
login_fail(struct target_conn *c, uint16_t status, const char *why)
{
	struct target_login *l = c->login;

	c->d->ctr.login_failures++;
	if (status == PDU_LOGIN_AUTH_FAILED)
		c->d->ctr.auth_failures++;
	log_notice("c%u: login from %s (%s) failed: status 0x%04x: %s", c->id, c->peer,
		   l->neg.params.initiator_name[0] ? l->neg.params.initiator_name : "?",
		   status, why);
	c->text_out_len = c->text_out_off = 0;
	login_send(c, status, false, 0, 0, 0);
	l->failed = true;
	/* RFC 7143 6.10: the target drops the connection after a failed login response. */
	c->state = TARGET_CONN_LOGOUT;
	if (!c->tx_used)
		target_conn_close(c, -EACCES, "login failed");
}

static uint16_t
fail_status(const struct text_fail *f)
{
	if (f->status_class)
		return PDU_LOGIN_STATUS(f->status_class, f->status_detail);
	return PDU_LOGIN_INITIATOR_ERROR;
}

/* ---- SendTargets (RFC 7143 appendix C) ---- */

static void
portal_address(struct target_conn *c, const struct target_portal *p, char *buf, size_t len)
{
	const char *host = p->cfg.host;

	if (p->cfg.advertise[0]) {
		snprintf(buf, len, "%s", p->cfg.advertise);
		return;
	}
	if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
		/* A wildcard portal: report the address this connection came in on. */
		char lh[64];
		const char *colon;

		snprintf(lh, sizeof(lh), "%s", c->local);
		colon = strrchr(lh, ':');
		if (colon)
			lh[colon - lh] = '\0';
		snprintf(buf, len, "%s:%u", lh, p->port);
		return;
	}
	if (strchr(host, ':'))
		snprintf(buf, len, "[%s]:%u", host, p->port);
	else
		snprintf(buf, len, "%s:%u", host, p->port);
}

static int
add_target_entry(struct target_conn *c, struct text_buf *out, const struct target_node *n)
{
	char addr[TARGET_HOST_MAX + 32];
	int r = text_buf_add(out, "TargetName", n->cfg.iqn);

	if (r < 0)
		return r;
	for (struct target_portal *p = c->d->portals; p; p = p->next) {
		bool ok = !n->cfg.nportals;

		for (unsigned i = 0; i < n->cfg.nportals; i++)
			if (n->cfg.portal_idx[i] == p->idx)
				ok = true;
		if (!ok || !p->listening)
			continue;
		portal_address(c, p, addr, sizeof(addr) - 8);
		snprintf(addr + strlen(addr), 8, ",%u", p->cfg.tpgt);
		r = text_buf_add(out, "TargetAddress", addr);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
send_targets(struct target_conn *c, const char *what, struct text_buf *out)
{
	const char *initiator = c->sess ? c->sess->initiator : "";
	bool all = !strcmp(what, "All");
	int r;

	if (c->sess && !c->sess->discovery) {
		/* Normal session: only "SendTargets=" (this target) or its own name. */
		if (!what[0] || !strcasecmp(what, c->sess->node->cfg.iqn))
			return add_target_entry(c, out, c->sess->node);
		return 0;
	}
	for (struct target_node *n = c->d->nodes; n; n = n->next) {
		if (!target_config_acl_allows(&n->cfg, initiator))
			continue;
		if (!all && strcasecmp(what, n->cfg.iqn))
			continue;
		r = add_target_entry(c, out, n);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- CHAP (RFC 7143 12.1.3) ---- */

static const struct text_pair *
find(struct target_login *l, int n, const char *key)
{
	return text_find(l->pairs, (size_t)n, key);
}

/* Returns 0, 1 when the CHAP exchange is complete, or a login status (> 1) on failure. */
static int
chap_step(struct target_conn *c, int npairs, struct text_buf *out, const char **why)
{
	struct target_login *l = c->login;
	struct target_config *cfg = c->d->cfg;
	const struct text_pair *a = find(l, npairs, "CHAP_A");
	const struct text_pair *n = find(l, npairs, "CHAP_N");
	const struct text_pair *r = find(l, npairs, "CHAP_R");
	char enc[CHAP_HEX_ENCODED_SIZE(CHAP_MAX_CHALLENGE_LEN)];
	int rc;

	if (l->chap == CHAP_IDLE) {
		if (!a)
			return 0; /* AuthMethod answered; CHAP_A comes next */
		rc = chap_select(a->value, cfg->chap_algs, cfg->nchap_algs, true);
		if (rc < 0) {
			*why = "no acceptable CHAP_A";
			text_buf_add(out, "CHAP_A", "Reject");
			return PDU_LOGIN_AUTH_FAILED;
		}
		l->alg = chap_alg_by_id((unsigned)rc);
		if (!l->alg || chap_challenge_generate(&l->challenge, l->alg, 0) < 0) {
			*why = "cannot generate a CHAP challenge";
			return PDU_LOGIN_TARGET_ERROR;
		}
		snprintf(enc, sizeof(enc), "%d", rc);
		text_buf_add(out, "CHAP_A", enc);
		snprintf(enc, sizeof(enc), "%u", l->challenge.id);
		text_buf_add(out, "CHAP_I", enc);
		chap_encode_hex(l->challenge.value, l->challenge.len, enc, sizeof(enc));
		text_buf_add(out, "CHAP_C", enc);
		l->chap = CHAP_CHALLENGED;
		return 0;
	}
	if (l->chap == CHAP_CHALLENGED) {
		const struct target_account *acct = NULL;
		uint8_t resp[CHAP_MAX_DIGEST_LEN];
		const struct text_pair *ci, *cc;
		int rlen;

		if (!n || !r) {
			*why = "CHAP_N/CHAP_R missing";
			return PDU_LOGIN_AUTH_FAILED;
		}
		for (unsigned i = 0; i < l->n_in; i++)
			if (!strcmp(l->in_accts[i].user, n->value))
				acct = &l->in_accts[i];
		if (!acct) {
			*why = "unknown CHAP user";
			return PDU_LOGIN_AUTH_FAILED;
		}
		rlen = chap_decode(r->value, resp, sizeof(resp));
		if (rlen < 0 ||
		    chap_verify(l->alg, l->challenge.id, (const uint8_t *)acct->secret,
				acct->secret_len, l->challenge.value, l->challenge.len, resp,
				(size_t)rlen) != 0) {
			*why = "wrong CHAP response (secret)";
			return PDU_LOGIN_AUTH_FAILED;
		}
		ci = find(l, npairs, "CHAP_I");
		cc = find(l, npairs, "CHAP_C");
		if (ci || cc) {
			/* Mutual CHAP: prove ourselves with the outgoing account. */
			uint8_t theirs[CHAP_MAX_CHALLENGE_LEN], out_r[CHAP_MAX_DIGEST_LEN];
			uint8_t id;
			int tl, ol;

			if (!ci || !cc || !l->out_acct) {
				*why = l->out_acct ? "CHAP_I/CHAP_C incomplete" :
						     "mutual CHAP asked but no outgoing account";
				return PDU_LOGIN_AUTH_FAILED;
			}
			tl = chap_decode(cc->value, theirs, sizeof(theirs));
			if (chap_parse_id(ci->value, &id) < 0 || tl < 0) {
				*why = "malformed CHAP_I/CHAP_C";
				return PDU_LOGIN_AUTH_FAILED;
			}
			if (chap_check_reflection(&l->challenge, theirs, (size_t)tl) < 0) {
				*why = "reflected CHAP challenge";
				return PDU_LOGIN_AUTH_FAILED;
			}
			ol = chap_response(l->alg, id, (const uint8_t *)l->out_acct->secret,
					   l->out_acct->secret_len, theirs, (size_t)tl, out_r,
					   sizeof(out_r));
			if (ol < 0) {
				*why = "cannot compute the CHAP response";
				return PDU_LOGIN_TARGET_ERROR;
			}
			text_buf_add(out, "CHAP_N", l->out_acct->user);
			chap_encode_hex(out_r, (size_t)ol, enc, sizeof(enc));
			text_buf_add(out, "CHAP_R", enc);
		}
		explicit_bzero(resp, sizeof(resp));
		l->chap = CHAP_DONE;
		log_info("c%u: CHAP (%s) authenticated user %s", c->id, l->alg->name, acct->user);
		return 1;
	}
	return 0;
}

/* ---- login requests ---- */

static enum text_digest_pref
digest_pref(uint8_t mode)
{
	switch (mode) {
	case TARGET_DIGEST_REQUIRED:
		return TEXT_DIGEST_CRC32C_ONLY;
	case TARGET_DIGEST_ALLOW:
		return TEXT_DIGEST_PREFER_NONE;
	default:
		return TEXT_DIGEST_NONE_ONLY;
	}
}

/* The first request: learn the session type, the target, and what authentication we need. */
static int
login_first(struct target_conn *c, int npairs, const char **why)
{
	struct target_login *l = c->login;
	struct target_daemon *d = c->d;
	struct target_config *cfg = d->cfg;
	const struct text_pair *st = find(l, npairs, "SessionType");
	const struct text_pair *tn = find(l, npairs, "TargetName");
	const struct text_pair *in = find(l, npairs, "InitiatorName");
	struct text_local loc;

	l->discovery = st && !strcmp(st->value, "Discovery");
	text_local_defaults(&loc);
	loc.header_digest = digest_pref(cfg->params.header_digest);
	loc.data_digest = digest_pref(cfg->params.data_digest);
	loc.max_recv_dsl = cfg->params.max_recv_dsl;
	loc.max_xmit_dsl = cfg->params.max_recv_dsl;
	loc.max_connections = cfg->params.max_connections;
	loc.initial_r2t = cfg->params.initial_r2t;
	loc.immediate_data = cfg->params.immediate_data;
	loc.max_burst = cfg->params.max_burst;
	loc.first_burst = cfg->params.first_burst;
	loc.default_time2wait = cfg->params.default_time2wait;
	loc.default_time2retain = cfg->params.default_time2retain;
	loc.max_outstanding_r2t = cfg->params.max_outstanding_r2t;
	loc.error_recovery_level = 0;
	loc.target_portal_group_tag = c->tpgt;
	if (!in) {
		*why = "no InitiatorName";
		return PDU_LOGIN_MISSING_PARAMETER;
	}
	if (d->faults.reject_logins) {
		*why = "fault injection (reject-logins)";
		return PDU_LOGIN_SERVICE_UNAVAILABLE;
	}
	if (l->discovery) {
		memcpy(l->in_accts, cfg->discovery_in, sizeof(l->in_accts));
		l->n_in = cfg->ndiscovery_in;
		l->out_copy = cfg->discovery_out;
		l->out_acct = cfg->has_discovery_out ? &l->out_copy : NULL;
	} else {
		if (!tn) {
			*why = "no TargetName";
			return PDU_LOGIN_MISSING_PARAMETER;
		}
		l->node = target_node_find(d, tn->value);
		if (!l->node) {
			*why = "no such target";
			return PDU_LOGIN_NOT_FOUND;
		}
		if (l->node->removed) {
			*why = "target removed";
			return PDU_LOGIN_TARGET_REMOVED;
		}
		if (l->node->cfg.nportals) {
			bool ok = false;

			for (unsigned i = 0; i < l->node->cfg.nportals; i++)
				if (c->portal && l->node->cfg.portal_idx[i] == c->portal->idx)
					ok = true;
			if (!ok) {
				*why = "target not served on this portal";
				return PDU_LOGIN_NOT_FOUND;
			}
		}
		if (!target_config_acl_allows(&l->node->cfg, in->value)) {
			*why = "initiator not in the target's ACL";
			return PDU_LOGIN_FORBIDDEN;
		}
		memcpy(l->in_accts, l->node->cfg.in, sizeof(l->in_accts));
		l->n_in = l->node->cfg.nin;
		l->out_copy = l->node->cfg.out;
		l->out_acct = l->node->cfg.has_out ? &l->out_copy : NULL;
		snprintf(l->target, sizeof(l->target), "%s", l->node->cfg.iqn);
		if (l->node->cfg.alias[0])
			loc.target_alias = l->node->cfg.alias;
	}
	l->auth_required = l->n_in > 0;
	loc.auth_methods = l->auth_required ? TEXT_AUTH_F_CHAP : TEXT_AUTH_F_NONE;
	text_neg_init(&l->neg, TEXT_ROLE_TARGET, &loc, l->tsih == 0);
	if (l->tsih) {
		struct target_session *s = target_session_by_tsih(d, l->tsih);

		if (!s) {
			*why = "TSIH of a session that does not exist";
			return PDU_LOGIN_SESSION_DOES_NOT_EXIST;
		}
		*why = "MaxConnections is 1";
		return PDU_LOGIN_TOO_MANY_CONNECTIONS;
	}
	return 0;
}

/* Login completes: create the session (reinstating an old one) and enter FFP. */
static int
login_complete(struct target_conn *c, const char **why)
{
	struct target_login *l = c->login;
	struct target_daemon *d = c->d;
	struct target_config *cfg = d->cfg;
	const char *iname = l->neg.params.initiator_name;
	struct target_session *old, *s;
	int r;

	if (text_neg_finish(&l->neg) < 0) {
		*why = text_fail_str(l->neg.fail.reason);
		return fail_status(&l->neg.fail);
	}
	if (!l->discovery) {
		/* The node may have gone with a reload while we negotiated. */
		l->node = target_node_find(d, l->target);
		if (!l->node || l->node->removed) {
			*why = "target removed";
			return PDU_LOGIN_TARGET_REMOVED;
		}
	}
	old = target_session_find(d, iname, l->isid);
	if (old && old->discovery != l->discovery)
		old = NULL;
	if (!old && target_session_count(d) >= cfg->max_sessions) {
		*why = "too many sessions";
		return PDU_LOGIN_OUT_OF_RESOURCES;
	}
	if (!old && !l->discovery &&
	    target_session_count_initiator(d, iname) >= cfg->max_sessions_per_initiator) {
		*why = "too many sessions for this initiator";
		return PDU_LOGIN_OUT_OF_RESOURCES;
	}
	if (old) {
		/* RFC 7143 6.3.5: session reinstatement. */
		log_info("s%u: reinstated by a new login from %s", old->id, c->peer);
		d->ctr.sessions_reinstated++;
		target_session_close(old, "session reinstatement");
	}
	r = target_session_new(d, c, l->discovery, l->node, l->isid, iname, &l->neg.params, &s);
	if (r < 0) {
		*why = strerror(-r);
		return PDU_LOGIN_OUT_OF_RESOURCES;
	}
	s->exp_cmdsn = l->cmdsn;
	s->max_cmdsn = l->cmdsn - 1;
	target_session_update_window(s);
	c->sess = s;
	c->sess_next = s->conns;
	s->conns = c;
	s->nconns++;
	d->ctr.logins++;
	log_notice("c%u: s%u: %s session for %s from %s (%s), tsih %u, digests %s/%s, "
		   "MaxBurst %u, MRDSL %u/%u, ImmediateData %s, InitialR2T %s",
		   c->id, s->id, l->discovery ? "discovery" : "normal",
		   l->discovery ? "-" : l->node->cfg.iqn, iname, c->peer, s->tsih,
		   s->params.header_digest ? "CRC32C" : "None",
		   s->params.data_digest ? "CRC32C" : "None", s->params.max_burst,
		   s->params.max_recv_dsl, s->params.max_xmit_dsl,
		   s->params.immediate_data ? "Yes" : "No", s->params.initial_r2t ? "Yes" : "No");
	return 0;
}

static void
login_pdu(struct target_conn *c)
{
	struct target_login *l = c->login;
	struct pdu_hdr *h = &c->rx_hdr;
	struct text_buf out;
	uint8_t csg = (h->flags & PDU_LOGIN_CSG_MASK) >> PDU_LOGIN_CSG_SHIFT;
	uint8_t nsg = h->flags & PDU_LOGIN_NSG_MASK;
	bool transit = h->flags & PDU_LOGIN_TRANSIT;
	const char *why = "";
	int n, r;

	if (l->failed)
		return;
	if (!l->started) {
		l->started = true;
		memcpy(l->isid, h->login_req.isid, 6);
		l->tsih = h->login_req.tsih;
		l->itt = h->itt;
		l->cmdsn = h->login_req.cmdsn;
		c->cid = h->login_req.cid;
		c->exp_statsn = h->login_req.expstatsn;
		l->stage = csg;
	} else if (memcmp(l->isid, h->login_req.isid, 6) || l->tsih != h->login_req.tsih) {
		login_fail(c, PDU_LOGIN_INITIATOR_ERROR, "ISID/TSIH changed during login");
		return;
	}
	l->itt = h->itt;
	if (csg != l->stage) {
		login_fail(c, PDU_LOGIN_INITIATOR_ERROR, "unexpected login stage");
		return;
	}
	/* A continuation of our long response (empty request after a C-bit response). */
	if (c->text_out_off < c->text_out_len) {
		if (h->data_len) {
			login_fail(c, PDU_LOGIN_INITIATOR_ERROR, "data while the response continues");
			return;
		}
		login_send(c, 0, l->resp_transit, l->stage, l->resp_nsg,
			   l->resp_transit && l->resp_nsg == PDU_STAGE_FULL_FEATURE && c->sess ?
				   c->sess->tsih : 0);
		if (c->text_out_off >= c->text_out_len && l->resp_transit)
			l->stage = l->resp_nsg;
		if (l->stage == PDU_STAGE_FULL_FEATURE && c->sess)
			target_conn_enter_ffp(c);
		return;
	}
	if (text_accum_append(&l->acc, c->rxbuf, h->data_len) < 0) {
		login_fail(c, PDU_LOGIN_INITIATOR_ERROR, "login text longer than the limit");
		return;
	}
	if (h->flags & PDU_TEXT_CONTINUE) {
		/* RFC 7143 11.12.2: acknowledge with an empty response and wait for the rest. */
		c->text_out_len = c->text_out_off = 0;
		login_send(c, 0, false, l->stage, 0, 0);
		return;
	}
	n = text_accum_parse(&l->acc, l->pairs, LOGIN_MAX_PAIRS, NULL);
	if (n < 0) {
		login_fail(c, PDU_LOGIN_INITIATOR_ERROR, "malformed login text");
		return;
	}
	if (!l->neg_ready) {
		l->neg_ready = true;
		r = login_first(c, n, &why);
		if (!r && l->auth_required && l->stage != PDU_STAGE_SECURITY) {
			/* RFC 7143 6.3: skipping the security stage is not an option here. */
			why = "authentication required (login began in the operational stage)";
			r = PDU_LOGIN_AUTH_FAILED;
		}
		if (r) {
			login_fail(c, (uint16_t)r, why);
			return;
		}
	}
	text_buf_init(&out, c->text_out, c->text_out_cap);
	c->text_out_len = c->text_out_off = 0;
	r = text_neg_recv(&l->neg, (enum text_stage)l->stage, l->pairs, (size_t)n, &out);
	if (r < 0) {
		login_fail(c, r == -EPROTO ? fail_status(&l->neg.fail) : PDU_LOGIN_TARGET_ERROR,
			   r == -EPROTO ? text_fail_str(l->neg.fail.reason) : "reply too long");
		if (r == -EPROTO)
			log_info("c%u: negotiation of %s failed (value '%s')", c->id,
				 l->neg.fail.key_name, l->neg.fail.value);
		return;
	}
	if (l->stage == PDU_STAGE_SECURITY) {
		if (l->neg.params.auth_method == TEXT_AUTH_CHAP && !l->auth_done) {
			r = chap_step(c, n, &out, &why);
			if (r > 1) {
				login_fail(c, (uint16_t)r, why);
				return;
			}
			if (r == 1)
				l->auth_done = true;
		} else if (l->neg.params.auth_method == TEXT_AUTH_NONE) {
			l->auth_done = !l->auth_required;
		}
	}
	text_accum_reset(&l->acc);
	if (text_neg_offer(&l->neg, (enum text_stage)l->stage, &out) < 0) {
		login_fail(c, PDU_LOGIN_TARGET_ERROR, "login response too long");
		return;
	}
	c->text_out_len = (uint32_t)out.len;
	/* Stage transitions (RFC 7143 6.3). */
	if (transit) {
		if (l->stage == PDU_STAGE_SECURITY && !l->auth_done &&
		    l->neg.params.auth_method == TEXT_AUTH_CHAP) {
			/* RFC 7143 6.3: not ready to leave the stage: answer T=0, CHAP goes on. */
			login_send(c, 0, false, l->stage, 0, 0);
			return;
		}
		if (l->stage == PDU_STAGE_SECURITY && !l->auth_done) {
			if (l->auth_required || l->neg.params.auth_method == TEXT_AUTH_UNSET) {
				login_fail(c, PDU_LOGIN_AUTH_FAILED,
					   l->auth_required ? "authentication required" :
							      "AuthMethod not negotiated");
				return;
			}
			l->auth_done = true;
		}
		if (nsg == PDU_STAGE_FULL_FEATURE && l->stage == PDU_STAGE_SECURITY &&
		    l->auth_required && !l->auth_done) {
			login_fail(c, PDU_LOGIN_AUTH_FAILED, "authentication required");
			return;
		}
		if (nsg <= l->stage && nsg != PDU_STAGE_FULL_FEATURE) {
			login_fail(c, PDU_LOGIN_INITIATOR_ERROR, "bad NSG");
			return;
		}
		if (text_neg_pending(&l->neg)) {
			/* Our offers need answers first: stay in the stage. */
			login_send(c, 0, false, l->stage, 0, 0);
			return;
		}
		if (nsg == PDU_STAGE_FULL_FEATURE) {
			if (l->auth_required && !l->auth_done) {
				login_fail(c, PDU_LOGIN_AUTH_FAILED, "authentication required");
				return;
			}
			r = login_complete(c, &why);
			if (r) {
				login_fail(c, (uint16_t)r, why);
				return;
			}
			login_send(c, 0, true, l->stage, nsg, c->sess->tsih);
			if (c->text_out_off >= c->text_out_len) {
				l->stage = nsg;
				target_conn_enter_ffp(c);
			}
			return;
		}
		login_send(c, 0, true, l->stage, nsg, 0);
		if (c->text_out_off >= c->text_out_len)
			l->stage = nsg;
		return;
	}
	login_send(c, 0, false, l->stage, 0, 0);
}

/* ---- Text requests in Full Feature Phase (RFC 7143 11.10) ---- */

static void
text_send(struct target_conn *c, uint32_t itt)
{
	struct target_session *s = c->sess;
	struct target_txpdu *p;
	struct pdu_hdr h;
	uint32_t len = MIN(c->text_out_len - c->text_out_off, c->max_xmit_dsl);
	bool more = c->text_out_off + len < c->text_out_len;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_TEXT_RSP;
	h.flags = more ? PDU_TEXT_CONTINUE : PDU_FLAG_FINAL;
	h.itt = itt;
	h.text_rsp.ttt = more ? (c->text_ttt = (++s->next_ttt & 0x7fffffff) | 1) : PDU_RESERVED_TAG;
	h.text_rsp.statsn = c->statsn++;
	target_session_update_window(s);
	h.text_rsp.expcmdsn = s->exp_cmdsn;
	h.text_rsp.maxcmdsn = s->max_cmdsn;
	s->adv_maxcmdsn = s->max_cmdsn;
	p = target_conn_tx_get(c);
	if (!p) {
		target_conn_close(c, -ENOBUFS, "no transmit slot for a text response");
		return;
	}
	target_conn_tx_send(c, p, &h, c->text_out + c->text_out_off, len, NULL);
	c->text_out_off += len;
	if (!more)
		c->text_out_len = c->text_out_off = 0;
}

static void
text_pdu(struct target_conn *c)
{
	struct target_login *l = c->login;
	struct target_session *s = c->sess;
	struct pdu_hdr *h = &c->rx_hdr;
	struct text_buf out;
	int n, r;

	if (!h->immediate) {
		if (!sn_in_window(h->text_req.cmdsn, s->exp_cmdsn, s->adv_maxcmdsn))
			return;
		if (sn_ge(h->text_req.cmdsn, s->exp_cmdsn))
			s->exp_cmdsn = h->text_req.cmdsn + 1;
	}
	if (h->text_req.ttt != PDU_RESERVED_TAG) {
		/* Continuation of a long response. */
		if (h->text_req.ttt != c->text_ttt || c->text_out_off >= c->text_out_len) {
			target_conn_reject(c, PDU_REJECT_INVALID_FIELD);
			return;
		}
		text_send(c, h->itt);
		return;
	}
	if (text_accum_append(&l->acc, c->rxbuf, h->data_len) < 0) {
		text_accum_reset(&l->acc);
		target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
		return;
	}
	c->text_out_len = c->text_out_off = 0;
	if (h->flags & PDU_TEXT_CONTINUE) {
		text_send(c, h->itt);
		return;
	}
	n = text_accum_parse(&l->acc, l->pairs, LOGIN_MAX_PAIRS, NULL);
	text_buf_init(&out, c->text_out, c->text_out_cap);
	l->neg.params.send_targets_requested = false;
	if (n < 0 || text_neg_recv(&l->neg, TEXT_STAGE_FULL_FEATURE, l->pairs, (size_t)n, &out) < 0) {
		text_accum_reset(&l->acc);
		log_info("c%u: Text request rejected (%s)", c->id,
			 n < 0 ? "malformed" : text_fail_str(l->neg.fail.reason));
		target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
		return;
	}
	text_accum_reset(&l->acc);
	if (l->neg.params.send_targets_requested) {
		r = send_targets(c, l->neg.params.send_targets, &out);
		if (r < 0)
			log_warn("c%u: SendTargets response truncated (max-text-length)", c->id);
	}
	c->text_out_len = (uint32_t)out.len;
	c->text_out_off = 0;
	text_send(c, h->itt);
}

void
target_login_pdu(struct target_conn *c)
{
	target_cp_enter();
	login_pdu(c);
	target_cp_leave();
}

void
target_login_text_pdu(struct target_conn *c)
{
	target_cp_enter();
	text_pdu(c);
	target_cp_leave();
}
