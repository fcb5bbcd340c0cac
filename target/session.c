/*
 * Sessions and runtime targets (nodes). Creation and teardown are control plane; the task
 * slot get/put and the CmdSN window are datapath (no allocation: slots and buffers are made
 * when the session is created, before Full Feature Phase).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pdu.h"
#include "common/sn.h"
#include "target/backstore.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/ffp.h"
#include "target/scsi.h"
#include "target/session.h"
#include "target/target.h"
#include "target/xport.h"

#define TARGET_SCRATCH_SIZE 65536
#define TARGET_TASK_RESERVE 4      /* immediate commands and pings beyond the window */
#define TARGET_MAX_NEXUS 64

/* ---- nodes ---- */

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void
node_free(struct target_node *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->nlus; i++) {
		if (n->scsi)
			target_scsi_tgt_remove_lu(n->scsi, n->lun_nums[i]);
		target_lu_free(n->lus[i]);
	}
	target_scsi_tgt_free(n->scsi);
	mem_free(n);
}

static int
node_new(const struct target_config *cfg, const struct target_target_cfg *tc,
	 struct target_node **out, char *err, size_t err_size)
{
	struct target_node *n = mem_zalloc(sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->cfg = *tc;
	r = target_scsi_tgt_new(TARGET_MAX_NEXUS, false, &n->scsi);
	if (r < 0) {
		snprintf(err, err_size, "%s: cannot create the LUN map: %s", tc->iqn, strerror(-r));
		goto fail;
	}
	for (unsigned i = 0; i < tc->nluns; i++) {
		const struct target_lun_cfg *lc = &tc->luns[i];
		struct target_bs_config bc = { 0 };
		struct target_lu_config luc = { 0 };
		struct target_backstore *bs = NULL;
		struct target_lu *lu = NULL;
		char serial[40];

		bc.type = lc->backing == TARGET_BACKING_MEM  ? TARGET_BS_MEM :
			  lc->backing == TARGET_BACKING_NULL ? TARGET_BS_NULL :
							       TARGET_BS_FILE;
		bc.path = lc->backing == TARGET_BACKING_FILE ? lc->path : NULL;
		bc.size = lc->size;
		bc.block_size = lc->block_size ? lc->block_size : cfg->block_size;
		bc.readonly = lc->read_only;
		bc.direct = lc->direct;
		bc.create = lc->backing == TARGET_BACKING_FILE && lc->size;
		r = target_bs_new(&bc, &bs);
		if (r < 0) {
			snprintf(err, err_size, "%s LUN %u: backing store %s: %s", tc->iqn, lc->lun,
				 lc->backing == TARGET_BACKING_FILE ? lc->path : "", strerror(-r));
			goto fail;
		}
		if (lc->serial[0])
			snprintf(serial, sizeof(serial), "%s", lc->serial);
		else
			snprintf(serial, sizeof(serial), "BLST%08x%04x", name_hash(tc->iqn),
				 lc->lun & 0xffff);
		luc.bs = bs;
		luc.readonly = lc->read_only;
		luc.wce = true;
		luc.thin = (target_bs_caps(bs) & TARGET_BS_CAP_DISCARD) != 0;
		luc.serial = serial;
		luc.max_xfer_blocks = cfg->max_xfer / bc.block_size;
		/* SBC-3 leaves it open; initiators (and libiscsi's checks) expect <= 1Mi blocks. */
		luc.max_unmap_blocks = MIN(1u << 20, (1u << 30) / bc.block_size);
		luc.max_nexus = TARGET_MAX_NEXUS;
		r = target_lu_new(&luc, &lu);
		if (r < 0) {
			target_bs_free(bs);
			snprintf(err, err_size, "%s LUN %u: %s", tc->iqn, lc->lun, strerror(-r));
			goto fail;
		}
		if (bc.type == TARGET_BS_FILE && target_xport_submitter())
			target_bs_set_submitter(bs, target_xport_submitter());
		n->lus[n->nlus] = lu;
		n->lun_nums[n->nlus] = lc->lun;
		n->nlus++;
		r = target_scsi_tgt_add_lu(n->scsi, lc->lun, lu);
		if (r < 0) {
			snprintf(err, err_size, "%s LUN %u: cannot map: %s", tc->iqn, lc->lun,
				 strerror(-r));
			goto fail;
		}
	}
	*out = n;
	return 0;
fail:
	node_free(n);
	return r;
}

int
target_nodes_create(struct target_daemon *d, const struct target_config *cfg, char *err,
		    size_t err_size)
{
	struct target_node **tail = &d->nodes;

	for (unsigned i = 0; i < cfg->ntargets; i++) {
		struct target_node *n;
		int r = node_new(cfg, cfg->targets[i], &n, err, err_size);

		if (r < 0)
			return r;
		*tail = n;
		tail = &n->next;
	}
	return 0;
}

static bool
luns_equal(const struct target_target_cfg *a, const struct target_target_cfg *b)
{
	if (a->nluns != b->nluns)
		return false;
	for (unsigned i = 0; i < a->nluns; i++)
		if (memcmp(&a->luns[i], &b->luns[i], sizeof(a->luns[i])))
			return false;
	return true;
}

int
target_nodes_reload(struct target_daemon *d, const struct target_config *cfg, char *err,
		    size_t err_size)
{
	struct target_node *fresh = NULL, **tail = &fresh;
	int r;

	/* Build what is new or changed first, so that a failure changes nothing. */
	for (unsigned i = 0; i < cfg->ntargets; i++) {
		const struct target_target_cfg *tc = cfg->targets[i];
		struct target_node *old = target_node_find(d, tc->iqn);
		struct target_node *n;

		if (old && luns_equal(&old->cfg, tc))
			continue;
		if (old) {
			/* Rebuilding needs the old backing stores closed first (files). */
			continue;
		}
		r = node_new(cfg, tc, &n, err, err_size);
		if (r < 0) {
			while (fresh) {
				struct target_node *nx = fresh->next;

				node_free(fresh);
				fresh = nx;
			}
			return r;
		}
		*tail = n;
		tail = &n->next;
	}
	/* Existing nodes: update settings, drop removed targets, rebuild changed LUN sets. */
	for (struct target_node **pp = &d->nodes; *pp;) {
		struct target_node *n = *pp;
		const struct target_target_cfg *tc = target_config_find(cfg, n->cfg.iqn);

		if (tc && luns_equal(&n->cfg, tc)) {
			n->cfg = *tc; /* ACL, CHAP, portals: apply to the next login */
			pp = &n->next;
			continue;
		}
		for (struct target_session *s = d->sessions; s; s = s->next)
			if (s->node == n)
				target_session_close(s, tc ? "target LUNs changed" : "target removed");
		n->removed = true;
		*pp = n->next;
		n->next = NULL;
		if (!n->nsessions)
			node_free(n);
		if (tc) {
			struct target_node *nn;

			r = node_new(cfg, tc, &nn, err, err_size);
			if (r < 0) {
				log_err("reload: %s", err);
				continue;
			}
			*tail = nn;
			tail = &nn->next;
		}
	}
	*tail = NULL;
	if (fresh) {
		struct target_node *last = fresh;

		while (last->next)
			last = last->next;
		last->next = d->nodes;
		d->nodes = fresh;
	}
	return 0;
}

void
target_nodes_free(struct target_daemon *d)
{
	while (d->nodes) {
		struct target_node *n = d->nodes;

		d->nodes = n->next;
		node_free(n);
	}
}

struct target_node *
target_node_find(struct target_daemon *d, const char *iqn)
{
	for (struct target_node *n = d->nodes; n; n = n->next)
		if (!strcasecmp(n->cfg.iqn, iqn))
			return n;
	return NULL;
}

/* ---- sessions ---- */

uint16_t
target_session_alloc_tsih(struct target_daemon *d)
{
	for (;;) {
		uint16_t t = ++d->next_tsih;

		if (!t)
			continue;
		if (!target_session_by_tsih(d, t))
			return t;
	}
}

int
target_session_new(struct target_daemon *d, struct target_conn *conn, bool discovery,
		   struct target_node *node, const uint8_t isid[6], const char *initiator,
		   const struct text_params *params, struct target_session **out)
{
	struct target_session *s = mem_zalloc(sizeof(*s));
	const struct target_config *cfg = d->cfg;
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->d = d;
	s->id = ++d->next_session_id;
	s->discovery = discovery;
	s->node = node;
	memcpy(s->isid, isid, 6);
	snprintf(s->initiator, sizeof(s->initiator), "%s", initiator);
	s->params = *params;
	if (!s->params.max_burst)
		s->params.max_burst = 262144;
	if (!s->params.max_outstanding_r2t)
		s->params.max_outstanding_r2t = 1;
	s->tsih = target_session_alloc_tsih(d);
	if (!discovery) {
		uint32_t q = cfg->queue_depth;
		size_t per = (size_t)cfg->max_xfer + TARGET_SCRATCH_SIZE;

		s->nreserve = TARGET_TASK_RESERVE;
		s->ntasks = q + s->nreserve;
		s->tasks = mem_zalloc(sizeof(*s->tasks) * s->ntasks);
		s->free_stack = mem_zalloc(sizeof(*s->free_stack) * s->ntasks);
		if (!s->tasks || !s->free_stack)
			goto fail;
		s->arena_len = per * s->ntasks;
		s->arena = mmap(NULL, s->arena_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (s->arena == MAP_FAILED) {
			s->arena = NULL;
			goto fail;
		}
		/* Locked so the datapath never faults; a refusal is not fatal (footprint). */
		(void)mlock(s->arena, s->arena_len);
		for (uint32_t i = 0; i < s->ntasks; i++) {
			struct target_task *t = &s->tasks[i];

			t->sess = s;
			t->idx = (uint16_t)i;
			t->gen = 1;
			t->buf = s->arena + per * i;
			t->buf_cap = cfg->max_xfer;
			t->scratch = t->buf + cfg->max_xfer;
			t->scratch_cap = TARGET_SCRATCH_SIZE;
			s->free_stack[i] = s->ntasks - 1 - i;
		}
		s->tasks_free = s->ntasks;
		target_scsi_nexus_init(&s->nexus, initiator, isid, conn->tpgt, conn->tpgt,
				       node->cfg.iqn);
		r = target_scsi_nexus_register(node->scsi, &s->nexus);
		if (r < 0)
			goto fail;
		s->nexus_registered = true;
		node->nsessions++;
	} else {
		s->ntasks = 0;
	}
	s->next = d->sessions;
	d->sessions = s;
	*out = s;
	return 0;
fail:
	if (s->arena)
		munmap(s->arena, s->arena_len);
	mem_free(s->tasks);
	mem_free(s->free_stack);
	mem_free(s);
	return r;
}

struct target_session *
target_session_find(struct target_daemon *d, const char *initiator, const uint8_t isid[6])
{
	for (struct target_session *s = d->sessions; s; s = s->next)
		if (!s->closing && !memcmp(s->isid, isid, 6) &&
		    !strcasecmp(s->initiator, initiator))
			return s;
	return NULL;
}

struct target_session *
target_session_by_tsih(struct target_daemon *d, uint16_t tsih)
{
	for (struct target_session *s = d->sessions; s; s = s->next)
		if (s->tsih == tsih && !s->closing)
			return s;
	return NULL;
}

unsigned
target_session_count_initiator(struct target_daemon *d, const char *initiator)
{
	unsigned n = 0;

	for (struct target_session *s = d->sessions; s; s = s->next)
		if (!s->closing && !strcasecmp(s->initiator, initiator))
			n++;
	return n;
}

unsigned
target_session_count(struct target_daemon *d)
{
	unsigned n = 0;

	for (struct target_session *s = d->sessions; s; s = s->next)
		if (!s->closing)
			n++;
	return n;
}

void
target_session_close(struct target_session *s, const char *reason)
{
	s->closing = true;
	for (struct target_conn *c = s->conns; c; c = c->sess_next)
		target_conn_close(c, -ECONNRESET, reason);
	target_session_maybe_free(s);
}

void
target_session_conn_gone(struct target_session *s, struct target_conn *c)
{
	for (struct target_conn **pp = &s->conns; *pp; pp = &(*pp)->sess_next)
		if (*pp == c) {
			*pp = c->sess_next;
			s->nconns--;
			break;
		}
	/* ErrorRecoveryLevel 0: losing the last connection ends the session. */
	if (!s->conns)
		s->closing = true;
	target_session_maybe_free(s);
}

void
target_session_maybe_free(struct target_session *s)
{
	struct target_daemon *d = s->d;

	if (s->conns || s->tasks_pending_io)
		return;
	target_cp_enter();
	for (struct target_session **pp = &d->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	log_info("s%u: session %s closed (tsih %u)", s->id, s->initiator, s->tsih);
	if (s->nexus_registered)
		target_scsi_nexus_unregister(s->node->scsi, &s->nexus);
	if (s->node) {
		s->node->nsessions--;
		if (s->node->removed && !s->node->nsessions)
			node_free(s->node);
	}
	if (s->arena)
		munmap(s->arena, s->arena_len);
	mem_free(s->tasks);
	mem_free(s->free_stack);
	mem_free(s);
	target_cp_leave();
}

/* ---- task slots (datapath) ---- */

struct target_task *
target_task_get(struct target_session *s)
{
	struct target_task *t;
	uint16_t gen;

	if (!s->tasks_free)
		return NULL;
	t = &s->tasks[s->free_stack[--s->tasks_free]];
	gen = (uint16_t)(t->gen + 1);
	if (!gen)
		gen = 1;
	/* Reset everything but the slot's fixed buffers. */
	memset(&t->cmd, 0, sizeof(t->cmd));
	t->conn = NULL;
	t->state = TARGET_TASK_QUEUED;
	t->kind = TARGET_TASK_SCSI;
	t->gen = gen;
	t->immediate = t->read = t->write = t->aborted = t->oversize = false;
	t->unsol_done = t->status_sent = t->in_txq = false;
	t->itt = t->cmdsn = t->edtl = 0;
	t->lun = 0;
	t->wr_len = t->wr_recv = t->r2t_off = t->r2t_out = t->r2tsn = 0;
	t->data_out_sn = 0;
	t->rd_len = t->tx_off = t->datasn = t->tx_refs = 0;
	t->win_base = t->win_end = t->rd_base = 0;
	t->rd_final = t->started = t->stream_wait = false;
	t->txq_next = NULL;
	target_session_update_window(s);
	return t;
}

void
target_task_put(struct target_task *t)
{
	struct target_session *s = t->sess;
	struct target_conn *c = t->conn;
	uint32_t before = s->adv_maxcmdsn;

	if (t->state == TARGET_TASK_FREE)
		return;
	t->state = TARGET_TASK_FREE;
	t->gen++;
	if (!t->gen)
		t->gen = 1;
	s->free_stack[s->tasks_free++] = t->idx;
	target_session_update_window(s);
	/*
	 * The initiator used the whole window and every response already went out carrying the
	 * old MaxCmdSN: tell it about the freed slot with a NOP-In that needs no answer
	 * (RFC 7143 11.19), or it would wait forever.
	 */
	if (c && c->state == TARGET_CONN_FFP && !c->txq_head &&
	    sn_gt(s->exp_cmdsn, before) && sn_gt(s->max_cmdsn, before) &&
	    !c->d->faults.blackhole) {
		struct pdu_hdr h;

		memset(&h, 0, sizeof(h));
		h.opcode = PDU_OP_NOP_IN;
		h.flags = PDU_FLAG_FINAL;
		h.itt = PDU_RESERVED_TAG;
		h.nop_in.ttt = PDU_RESERVED_TAG;
		h.nop_in.statsn = c->statsn;
		h.nop_in.expcmdsn = s->exp_cmdsn;
		h.nop_in.maxcmdsn = s->max_cmdsn;
		s->adv_maxcmdsn = s->max_cmdsn;
		target_conn_send_pdu(c, &h, NULL, 0);
	}
}

void
target_session_update_window(struct target_session *s)
{
	uint32_t avail = s->tasks_free > s->nreserve ? s->tasks_free - s->nreserve : 0;
	uint32_t max = s->exp_cmdsn + avail - 1;

	if (s->discovery) {
		max = s->exp_cmdsn + 8;
	}
	/* MaxCmdSN never moves backwards (RFC 7143 4.2.2.1). */
	if (sn_gt(max, s->max_cmdsn))
		s->max_cmdsn = max;
}
