/*
 * Target connections: the streaming PDU parser and the transmit slot ring.
 *
 * The parser consumes transport chunks byte-exactly and never buffers a whole PDU: header
 * pieces go to small per-connection arrays, data segments go straight to their destination
 * (a task's data buffer for Data-Out and immediate data, the connection's rxbuf otherwise)
 * while the data digest runs over them. Before starting a new PDU it checks that enough
 * transmit slots are free for whatever answer the PDU may need; if not, it stops consuming,
 * which pauses the transport (backpressure) until slots come back.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pdu.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/ffp.h"
#include "target/login.h"
#include "target/portal.h"
#include "target/session.h"
#include "target/target.h"

static const struct target_xport_ops conn_xport_ops;

static void
format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(buf, len, "?");
	}
}

static void
login_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct target_conn *c = container_of(w, struct target_conn, login_timer);

	c->d->ctr.timeouts++;
	if (c->state == TARGET_CONN_LOGIN)
		target_conn_close(c, -ETIMEDOUT, "login timeout");
	else if (c->d->cfg->idle_timeout_ms)
		target_conn_close(c, -ETIMEDOUT, "idle timeout");
}

static void
nop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct target_conn *c = container_of(w, struct target_conn, nop_timer);
	struct target_config *cfg = c->d->cfg;
	ev_tstamp now = ev_now(loop);

	if (c->state != TARGET_CONN_FFP)
		return;
	if (c->nop_ttt && cfg->nop_timeout_ms &&
	    now - c->nop_sent > cfg->nop_timeout_ms / 1000.0 &&
	    now - c->last_rx > cfg->nop_timeout_ms / 1000.0) {
		c->d->ctr.timeouts++;
		target_conn_close(c, -ETIMEDOUT, "NOP-In ping timeout");
		return;
	}
	if (!c->d->faults.ignore_nop && !c->d->faults.blackhole && !c->nop_ttt &&
	    now - c->last_rx >= cfg->nop_interval_ms / 1000.0 * 0.9)
		target_ffp_ping(c);
}

static void target_conn_flush_held(struct target_conn *c);
static void rx_reset(struct target_conn *c);

static void
delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct target_conn *c = container_of(w, struct target_conn, delay_timer);

	c->delay_armed = false;
	target_conn_flush_held(c);
}

int
target_conn_new(struct target_daemon *d, struct target_portal *portal, int fd)
{
	struct target_conn *c;
	struct sockaddr_storage ss;
	socklen_t sl;
	int r = -ENOMEM;

	c = mem_zalloc(sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->d = d;
	c->id = ++d->next_conn_id;
	c->portal = portal;
	c->tpgt = portal ? portal->cfg.tpgt : 1;
	c->max_xmit_dsl = TARGET_LOGIN_DSL;
	c->max_recv_dsl = TARGET_LOGIN_DSL;
	c->rxbuf_cap = MAX(d->cfg->params.max_recv_dsl, TARGET_LOGIN_DSL);
	c->rxbuf = mem_alloc(c->rxbuf_cap);
	c->tx = mem_zalloc(sizeof(*c->tx) * TARGET_TX_SLOTS);
	c->text_out_cap = d->cfg->max_text_len;
	c->text_out = mem_alloc(c->text_out_cap);
	if (!c->rxbuf || !c->tx || !c->text_out) {
		close(fd);
		goto fail;
	}
	for (unsigned i = 0; i < TARGET_TX_SLOTS; i++)
		c->tx[i].conn = c;
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		format_addr(&ss, c->peer, sizeof(c->peer));
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		format_addr(&ss, c->local, sizeof(c->local));
		c->local_family = ss.ss_family;
	}
	r = target_login_new(c);
	if (r < 0) {
		close(fd);
		goto fail;
	}
	c->rl.interval_ns = LOG_RATELIMIT_DEFAULT_NS;
	rx_reset(c);
	ev_timer_init(&c->login_timer, login_timeout_cb, d->cfg->login_timeout_ms / 1000.0, 0.);
	ev_timer_init(&c->nop_timer, nop_cb, 1., 1.);
	ev_timer_init(&c->delay_timer, delay_cb, 0., 0.);
	r = target_xport_attach(fd, &conn_xport_ops, c, &c->x);
	if (r < 0) {
		target_login_free(c);
		goto fail;
	}
	ev_timer_start(d->loop, &c->login_timer);
	c->next = d->conns;
	d->conns = c;
	c->last_rx = ev_now(d->loop);
	log_info("c%u: connection from %s to %s", c->id, c->peer, c->local);
	return 0;
fail:
	mem_free(c->rxbuf);
	mem_free(c->tx);
	mem_free(c->text_out);
	mem_free(c);
	return r;
}

void
target_conn_close(struct target_conn *c, int err, const char *reason)
{
	if (c->state == TARGET_CONN_CLOSING)
		return;
	if (reason)
		log_info("c%u: closing: %s", c->id, reason);
	c->state = TARGET_CONN_CLOSING;
	ev_timer_stop(c->d->loop, &c->login_timer);
	ev_timer_stop(c->d->loop, &c->nop_timer);
	ev_timer_stop(c->d->loop, &c->delay_timer);
	c->d->ctr.conn_drops++;
	target_xport_close(c->x, err);
}

/* The transport is gone: every send has completed. Release everything. */
static void
conn_on_close(struct target_xport *x, int err, void *ctx)
{
	struct target_conn *c = ctx;
	struct target_daemon *d = c->d;

	if (err && c->state == TARGET_CONN_CLOSING)
		log_debug(LOG_CAT_CONN, "c%u: transport closed: %s", c->id, strerror(-err));
	if (c->state != TARGET_CONN_CLOSING) {
		c->state = TARGET_CONN_CLOSING;
		ev_timer_stop(d->loop, &c->login_timer);
		ev_timer_stop(d->loop, &c->nop_timer);
		ev_timer_stop(d->loop, &c->delay_timer);
		log_info("c%u: connection closed by peer%s%s", c->id, err ? ": " : "",
			 err ? strerror(-err) : "");
	}
	/* Held (delayed) slots never reached the transport. */
	for (uint32_t i = 0; i < TARGET_TX_SLOTS; i++) {
		struct target_txpdu *p = &c->tx[i];

		if (p->busy && p->task) {
			p->task->tx_refs--;
			p->task = NULL;
		}
		p->busy = false;
	}
	if (c->sess)
		target_ffp_conn_gone(c);
	for (struct target_conn **pp = &d->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->sess)
		target_session_conn_gone(c->sess, c);
	target_login_free(c);
	mem_free(c->rxbuf);
	mem_free(c->tx);
	mem_free(c->text_out);
	mem_free(c);
}

/* ---- transmit ---- */

struct target_txpdu *
target_conn_tx_get(struct target_conn *c)
{
	struct target_txpdu *p;

	if (c->tx_used >= TARGET_TX_SLOTS || c->state == TARGET_CONN_CLOSING)
		return NULL;
	p = &c->tx[(c->tx_head + c->tx_used) % TARGET_TX_SLOTS];
	c->tx_used++;
	p->busy = true;
	p->task = NULL;
	return p;
}

static void
tx_release(struct target_conn *c, struct target_txpdu *p)
{
	struct target_task *t = p->task;

	p->busy = false;
	p->task = NULL;
	if (t) {
		t->tx_refs--;
		if (!t->tx_refs && t->status_sent && t->state == TARGET_TASK_TX)
			target_task_put(t);
		else if (!t->tx_refs && t->stream_wait)
			target_ffp_stream_sent(t);
	}
}

static void
tx_done(struct target_send *s, int res)
{
	struct target_txpdu *p = container_of(s, struct target_txpdu, send);
	struct target_conn *c = p->conn;

	/* Requests complete in order: p is the oldest slot. */
	if (c->tx_used && &c->tx[c->tx_head] == p) {
		c->tx_head = (c->tx_head + 1) % TARGET_TX_SLOTS;
		c->tx_used--;
	}
	tx_release(c, p);
	if (c->state == TARGET_CONN_CLOSING)
		return;
	c->d->ctr.pdus_tx++;
	if (res < 0) {
		target_conn_close(c, res, res == -ECANCELED ? NULL : "send failed");
		return;
	}
	if (c->state == TARGET_CONN_LOGOUT && !c->tx_used) {
		target_conn_close(c, 0, "logged out");
		return;
	}
	target_conn_tx_pump(c);
	target_conn_maybe_resume(c);
}

static int
tx_submit(struct target_conn *c, struct target_txpdu *p)
{
	int r = target_xport_send(c->x, p->iov, p->iovcnt, &p->send);

	if (r < 0) {
		/* Closing: completions will not come for this slot. */
		if (c->tx_used && &c->tx[(c->tx_head + c->tx_used - 1) % TARGET_TX_SLOTS] == p)
			c->tx_used--;
		tx_release(c, p);
	}
	return r;
}

static void
target_conn_flush_held(struct target_conn *c)
{
	/* Fault injection (delay): slots built meanwhile were held back; send them in order. */
	for (uint32_t i = 0; i < c->tx_used; i++) {
		struct target_txpdu *p = &c->tx[(c->tx_head + i) % TARGET_TX_SLOTS];

		if (!p->busy || p->send.done)
			continue;
		p->send.done = tx_done;
		if (tx_submit(c, p) < 0)
			return;
	}
}

int
target_conn_tx_send(struct target_conn *c, struct target_txpdu *p, struct pdu_hdr *h,
		    const void *data, uint32_t len, struct target_task *task)
{
	struct target_faults *f = &c->d->faults;
	size_t hl = PDU_BHS_LEN;
	uint32_t pad = pdu_pad_len(len);

	h->data_len = len;
	pdu_encode(h, p->hdr);
	if (c->hdigest) {
		pdu_put_digest(p->hdr + PDU_BHS_LEN, pdu_header_digest(p->hdr, PDU_BHS_LEN));
		hl += PDU_DIGEST_LEN;
	}
	p->iov[0].iov_base = p->hdr;
	p->iov[0].iov_len = hl;
	p->iovcnt = 1;
	if (len) {
		uint32_t tl = pad;

		p->iov[1].iov_base = (void *)data;
		p->iov[1].iov_len = len;
		memset(p->trailer, 0, 3);
		if (c->ddigest) {
			uint32_t st = crc32c_update(CRC32C_INIT, data, len);

			st = crc32c_update(st, p->trailer, pad);
			pdu_put_digest(p->trailer + pad, crc32c_final(st));
			tl += PDU_DIGEST_LEN;
		}
		if (tl) {
			p->iov[2].iov_base = p->trailer;
			p->iov[2].iov_len = tl;
			p->iovcnt = 3;
		} else {
			p->iovcnt = 2;
		}
	}
	if (f->corrupt_digest && (c->hdigest || (c->ddigest && len))) {
		/* Fault injection: flip one bit of the digest. */
		if (c->ddigest && len)
			p->trailer[pad] ^= 0x01;
		else
			p->hdr[PDU_BHS_LEN] ^= 0x01;
		f->corrupt_digest = false;
		log_notice("c%u: fault: corrupted the digest of a %s", c->id,
			   pdu_opcode_str(h->opcode));
	}
	if (task) {
		task->tx_refs++;
		p->task = task;
	}
	if (log_enabled(LOG_CAT_PDU))
		log_debug_emit(LOG_CAT_PDU, "c%u: tx %s itt 0x%08x len %u", c->id,
			       pdu_opcode_str(h->opcode), h->itt, len);
	memset(&p->send, 0, sizeof(p->send));
	if (f->delay_ms || c->delay_armed) {
		/* Fault injection: hold the PDU back; the delay timer sends it. */
		if (!c->delay_armed) {
			ev_timer_set(&c->delay_timer, f->delay_ms / 1000.0, 0.);
			ev_timer_start(c->d->loop, &c->delay_timer);
			c->delay_armed = true;
		}
		return 0;
	}
	p->send.done = tx_done;
	return tx_submit(c, p);
}

int
target_conn_send_pdu(struct target_conn *c, struct pdu_hdr *h, const void *data, uint32_t len)
{
	struct target_txpdu *p;

	if (c->d->faults.blackhole)
		return 0;
	if (len > TARGET_TX_INLINE)
		return -EINVAL;
	p = target_conn_tx_get(c);
	if (!p)
		return -ENOBUFS;
	if (len)
		memcpy(p->inl, data, len);
	return target_conn_tx_send(c, p, h, p->inl, len, NULL);
}

void
target_conn_txq_add(struct target_conn *c, struct target_task *t)
{
	if (t->in_txq)
		return;
	t->in_txq = true;
	t->txq_next = NULL;
	if (c->txq_tail)
		c->txq_tail->txq_next = t;
	else
		c->txq_head = t;
	c->txq_tail = t;
	target_conn_tx_pump(c);
}

void
target_conn_tx_pump(struct target_conn *c)
{
	while (c->txq_head && c->state != TARGET_CONN_CLOSING) {
		struct target_task *t = c->txq_head;

		if (c->d->faults.blackhole)
			return;
		/* Keep a reserve for control answers. */
		if (TARGET_TX_SLOTS - c->tx_used <= TARGET_TX_LOW / 2)
			return;
		if (!target_ffp_task_tx(c, t))
			return;
		/* The task may have been released inside; unlink it only if still at the head. */
		if (c->txq_head == t) {
			c->txq_head = t->txq_next;
			if (!c->txq_head)
				c->txq_tail = NULL;
			t->in_txq = false;
			t->txq_next = NULL;
			if (t->status_sent && !t->tx_refs && t->state == TARGET_TASK_TX)
				target_task_put(t);
			else if (!t->tx_refs && t->stream_wait)
				target_ffp_stream_sent(t);
		}
	}
}

void
target_conn_reject(struct target_conn *c, uint8_t reason)
{
	struct pdu_hdr h;
	struct target_session *s = c->sess;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_REJECT;
	h.flags = PDU_FLAG_FINAL;
	h.itt = PDU_RESERVED_TAG;
	h.reject.reason = reason;
	h.reject.statsn = c->statsn++;
	if (s) {
		h.reject.expcmdsn = s->exp_cmdsn;
		h.reject.maxcmdsn = s->max_cmdsn;
		s->adv_maxcmdsn = s->max_cmdsn;
	}
	c->d->ctr.rejects++;
	log_ratelimited(&c->rl, LOG_LEVEL_NOTICE, "c%u: Reject (reason 0x%02x) of a %s", c->id,
			reason, pdu_opcode_str(c->rx_bhs[0] & PDU_OPCODE_MASK));
	target_conn_send_pdu(c, &h, c->rx_bhs, PDU_BHS_LEN);
}

void
target_conn_maybe_resume(struct target_conn *c)
{
	if (c->rx_paused && TARGET_TX_SLOTS - c->tx_used > TARGET_TX_LOW &&
	    c->state != TARGET_CONN_CLOSING) {
		c->rx_paused = false;
		target_xport_resume(c->x);
	}
}

void
target_conn_nop_arm(struct target_conn *c)
{
	struct target_config *cfg = c->d->cfg;
	double iv = cfg->nop_interval_ms / 1000.0;

	ev_timer_stop(c->d->loop, &c->nop_timer);
	if (!cfg->nop_interval_ms)
		return;
	ev_timer_set(&c->nop_timer, iv, iv);
	ev_timer_start(c->d->loop, &c->nop_timer);
}

void
target_conn_enter_ffp(struct target_conn *c)
{
	struct target_session *s = c->sess;

	c->state = TARGET_CONN_FFP;
	c->hdigest = s->params.header_digest;
	c->ddigest = s->params.data_digest;
	c->max_xmit_dsl = s->params.max_xmit_dsl ? s->params.max_xmit_dsl : 8192;
	c->max_recv_dsl = s->params.max_recv_dsl;
	if (c->max_recv_dsl > c->rxbuf_cap)
		c->max_recv_dsl = c->rxbuf_cap;
	ev_timer_stop(c->d->loop, &c->login_timer);
	if (c->d->cfg->idle_timeout_ms) {
		double iv = c->d->cfg->idle_timeout_ms / 1000.0;

		ev_timer_set(&c->login_timer, iv, iv);
		ev_timer_start(c->d->loop, &c->login_timer);
	}
	target_conn_nop_arm(c);
}

/* ---- receive ---- */

static void
rx_reset(struct target_conn *c)
{
	c->rx_state = TARGET_RX_BHS;
	c->rx_need = PDU_BHS_LEN;
	c->rx_got = 0;
	c->rx_dest = NULL;
	c->rx_task = NULL;
	c->rx_hdr_bad = false;
	c->rx_digest_bad = false;
	c->rx_data_got = 0;
}

static void
pdu_complete(struct target_conn *c)
{
	struct target_faults *f = &c->d->faults;

	c->pdus_rx++;
	c->d->ctr.pdus_rx++;
	c->last_rx = ev_now(c->d->loop);
	if (c->state == TARGET_CONN_FFP && c->d->cfg->idle_timeout_ms)
		ev_timer_again(c->d->loop, &c->login_timer);
	if (c->rx_digest_bad) {
		if (c->state == TARGET_CONN_FFP)
			target_ffp_data_digest_error(c);
		else
			target_conn_close(c, -EBADMSG, "data digest error during login");
	} else if (!c->rx_hdr_bad) {
		if (c->state == TARGET_CONN_LOGIN)
			target_login_pdu(c);
		else if (c->state == TARGET_CONN_FFP)
			target_ffp_pdu(c);
	}
	if (f->drop_after > 0 && --f->drop_after == 0) {
		f->drop_after = -1;
		log_notice("fault: drop-after reached: closing every connection");
		for (struct target_conn *o = c->d->conns; o; o = o->next)
			target_conn_close(o, -ECONNRESET, "fault injection (drop-after)");
	}
	if (c->state != TARGET_CONN_CLOSING)
		rx_reset(c);
}

/* BHS, AHS and header digest are in: decode and route the data segment. */
static void
header_complete(struct target_conn *c)
{
	struct pdu_hdr *h = &c->rx_hdr;

	c->rx_data_len = h->data_len;
	c->rx_dest = NULL;
	if (c->rx_hdr_bad) {
		/* already rejected: discard the data */
	} else if (c->state == TARGET_CONN_LOGIN) {
		if (h->opcode != PDU_OP_LOGIN_REQ) {
			target_conn_close(c, -EPROTO, "non-login PDU during login");
			return;
		}
		c->rx_dest = c->rxbuf;
	} else if (c->state == TARGET_CONN_FFP) {
		target_ffp_header(c);
	}
	if (c->state == TARGET_CONN_CLOSING)
		return;
	if (!h->data_len) {
		pdu_complete(c);
		return;
	}
	c->rx_state = TARGET_RX_DATA;
	c->rx_need = h->data_len;
	c->rx_got = 0;
	c->rx_crc = CRC32C_INIT;
}

static void
bhs_complete(struct target_conn *c)
{
	struct pdu_limits lim = { 0 };
	struct pdu_err err;
	struct pdu_hdr *h = &c->rx_hdr;
	int r;

	lim.max_data_len = c->state == TARGET_CONN_FFP ? c->max_recv_dsl : TARGET_LOGIN_DSL;
	lim.max_ahs_len = TARGET_MAX_AHS;
	memset(h, 0, sizeof(*h));
	r = pdu_decode(c->rx_bhs, PDU_SIDE_TARGET, &lim, h, &err);
	if (r < 0) {
		const struct pdu_bhs *b = (const void *)c->rx_bhs;
		uint32_t dlen = get_be24(b->data_len);

		log_ratelimited(&c->rl, LOG_LEVEL_NOTICE, "c%u: malformed %s: %s", c->id,
				pdu_opcode_str(c->rx_bhs[0] & PDU_OPCODE_MASK),
				pdu_defect_str(err.defect));
		/* The framing (AHS and data lengths) is unusable or the stage wrong: drop. */
		if (c->state != TARGET_CONN_FFP || err.defect == PDU_DEFECT_AHS_TOO_LONG ||
		    err.defect == PDU_DEFECT_AHS_MALFORMED ||
		    dlen > MAX(c->max_recv_dsl, TARGET_LOGIN_DSL) * 2u) {
			target_conn_close(c, -EPROTO, "malformed PDU");
			return;
		}
		target_conn_reject(c, err.reject != PDU_REJECT_NONE ? err.reject :
								      PDU_REJECT_PROTOCOL_ERROR);
		c->rx_hdr_bad = true;
		h->data_len = dlen;
		h->ahs_words = b->total_ahs_len;
	}
	if (h->ahs_words) {
		c->rx_state = TARGET_RX_AHS;
		c->rx_need = h->ahs_words * 4u;
		c->rx_got = 0;
		if (c->rx_need > TARGET_MAX_AHS) {
			target_conn_close(c, -EPROTO, "AHS too long");
			return;
		}
		return;
	}
	if (c->hdigest) {
		c->rx_state = TARGET_RX_HDIGEST;
		c->rx_need = PDU_DIGEST_LEN;
		c->rx_got = 0;
		return;
	}
	header_complete(c);
}

static void
hdigest_complete(struct target_conn *c)
{
	uint32_t st = crc32c_update(CRC32C_INIT, c->rx_bhs, PDU_BHS_LEN);

	if (c->rx_hdr.ahs_words)
		st = crc32c_update(st, c->rx_ahs, c->rx_hdr.ahs_words * 4u);
	if (crc32c_final(st) != pdu_get_digest(c->rx_dig)) {
		/* RFC 7143 7.8: a header digest error leaves the framing unknown at ERL 0. */
		c->d->ctr.digest_errors++;
		target_conn_close(c, -EBADMSG, "header digest error");
		return;
	}
	header_complete(c);
}

static long
conn_on_recv(struct target_xport *x, const void *data, size_t len, void *ctx)
{
	struct target_conn *c = ctx;
	const uint8_t *p = data;
	size_t off = 0;

	while (off < len) {
		uint32_t n;

		if (c->state == TARGET_CONN_CLOSING || c->state == TARGET_CONN_LOGOUT)
			return (long)len;
		if (c->rx_state == TARGET_RX_BHS && c->rx_got == 0) {
			if (c->d->faults.blackhole)
				return (long)len;
			if (TARGET_TX_SLOTS - c->tx_used <= TARGET_TX_LOW) {
				c->rx_paused = true;
				c->d->ctr.backpressure++;
				target_xport_pause(c->x);
				return (long)off;
			}
		}
		n = (uint32_t)MIN(len - off, (size_t)(c->rx_need - c->rx_got));
		switch (c->rx_state) {
		case TARGET_RX_BHS:
			memcpy(c->rx_bhs + c->rx_got, p + off, n);
			break;
		case TARGET_RX_AHS:
			memcpy(c->rx_ahs + c->rx_got, p + off, n);
			break;
		case TARGET_RX_HDIGEST:
		case TARGET_RX_DDIGEST:
			memcpy(c->rx_dig + c->rx_got, p + off, n);
			break;
		case TARGET_RX_DATA:
			if (c->rx_dest)
				memcpy(c->rx_dest + c->rx_got, p + off, n);
			if (c->ddigest)
				c->rx_crc = crc32c_update(c->rx_crc, p + off, n);
			break;
		case TARGET_RX_PAD:
			if (c->ddigest)
				c->rx_crc = crc32c_update(c->rx_crc, p + off, n);
			break;
		}
		off += n;
		c->rx_got += n;
		if (c->rx_got < c->rx_need)
			continue;
		switch (c->rx_state) {
		case TARGET_RX_BHS:
			bhs_complete(c);
			break;
		case TARGET_RX_AHS:
			if (c->hdigest) {
				c->rx_state = TARGET_RX_HDIGEST;
				c->rx_need = PDU_DIGEST_LEN;
				c->rx_got = 0;
			} else {
				header_complete(c);
			}
			break;
		case TARGET_RX_HDIGEST:
			hdigest_complete(c);
			break;
		case TARGET_RX_DATA:
			c->rx_data_got = c->rx_need;
			if (pdu_pad_len(c->rx_data_len)) {
				c->rx_state = TARGET_RX_PAD;
				c->rx_need = pdu_pad_len(c->rx_data_len);
				c->rx_got = 0;
				break;
			}
			/* fall through */
		case TARGET_RX_PAD:
			if (c->ddigest) {
				c->rx_state = TARGET_RX_DDIGEST;
				c->rx_need = PDU_DIGEST_LEN;
				c->rx_got = 0;
				break;
			}
			pdu_complete(c);
			break;
		case TARGET_RX_DDIGEST:
			if (crc32c_final(c->rx_crc) != pdu_get_digest(c->rx_dig)) {
				c->d->ctr.digest_errors++;
				c->rx_digest_bad = true;
			}
			pdu_complete(c);
			break;
		}
	}
	return (long)len;
}

static const struct target_xport_ops conn_xport_ops = {
	.on_recv = conn_on_recv,
	.on_close = conn_on_close,
};
