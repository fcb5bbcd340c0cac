/*
 * Full Feature Phase: the per-PDU logic of an established session (RFC 7143). Runs on the
 * datapath: every buffer is a session task slot or a connection transmit slot allocated
 * before Full Feature Phase; nothing here allocates.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/pdu.h"
#include "common/sn.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/ffp.h"
#include "target/login.h"
#include "target/scsi.h"
#include "target/session.h"
#include "target/target.h"

#include "common/datapath.h"

/* TTT of an R2T or a ping: slot index and generation (never 0xffffffff). */
static uint32_t
task_ttt(const struct target_task *t)
{
	return (uint32_t)t->gen << 16 | t->idx;
}

static struct target_task *
task_by_ttt(struct target_session *s, uint32_t ttt)
{
	uint32_t idx = ttt & 0xffff;
	struct target_task *t;

	if (idx >= s->ntasks)
		return NULL;
	t = &s->tasks[idx];
	if (t->state == TARGET_TASK_FREE || t->gen != (uint16_t)(ttt >> 16))
		return NULL;
	return t;
}

static struct target_task *
task_by_itt(struct target_session *s, uint32_t itt, int state)
{
	for (uint32_t i = 0; i < s->ntasks; i++) {
		struct target_task *t = &s->tasks[i];

		if (t->state != TARGET_TASK_FREE && t->itt == itt && t->kind == TARGET_TASK_SCSI &&
		    (state < 0 || t->state == state))
			return t;
	}
	return NULL;
}

/* Fill ExpCmdSN/MaxCmdSN and remember what the initiator was told. */
static void
window(struct target_session *s, uint32_t *exp, uint32_t *max)
{
	target_session_update_window(s);
	*exp = s->exp_cmdsn;
	*max = s->max_cmdsn;
	s->adv_maxcmdsn = s->max_cmdsn;
}

/* RFC 7143 4.2.2.1: check and consume the CmdSN of a non-immediate command. */
static bool
cmdsn_accept(struct target_conn *c, bool immediate, uint32_t cmdsn)
{
	struct target_session *s = c->sess;

	if (immediate)
		return true;
	/* The window is what the initiator was told, not what we could offer by now. */
	if (!sn_in_window(cmdsn, s->exp_cmdsn, s->adv_maxcmdsn)) {
		/* Outside the window: silently ignored (the initiator must not send it). */
		log_ratelimited(&c->rl, LOG_LEVEL_NOTICE,
				"c%u: CmdSN %u outside window [%u, %u]: ignored", c->id, cmdsn,
				s->exp_cmdsn, s->adv_maxcmdsn);
		return false;
	}
	if (sn_ge(cmdsn, s->exp_cmdsn))
		s->exp_cmdsn = cmdsn + 1;
	return true;
}

/* ---- completion and transmit ---- */

static void
task_fail(struct target_task *t, uint8_t key, uint16_t asc)
{
	target_scsi_set_sense(&t->cmd, key, asc);
	t->cmd.data_in_len = 0;
	t->cmd.xfer_len = 0;
}

/* Release t without answering (aborted, or its connection is going away). */
static bool
task_gone(struct target_task *t)
{
	struct target_conn *c = t->conn;

	if (!t->aborted && c && c->state != TARGET_CONN_CLOSING)
		return false;
	t->state = TARGET_TASK_TX;
	t->status_sent = true;
	t->stream_wait = false;
	if (!t->tx_refs && !t->in_txq)
		target_task_put(t);
	return true;
}

/* Queue the Data-In of the current window: buf[0 .. data_in_len) at transfer offset buf_off. */
static void
queue_data_in(struct target_task *t, bool final)
{
	const struct target_scsi_cmd *cmd = &t->cmd;

	t->state = TARGET_TASK_TX;
	t->rd_final = final;
	t->rd_base = cmd->buf_off;
	t->tx_off = t->rd_base;
	t->rd_len = t->rd_base;
	if (t->read && cmd->data_in_len)
		t->rd_len = (uint32_t)MIN((uint64_t)cmd->buf_off + cmd->data_in_len,
					  (uint64_t)t->edtl);
	if (t->rd_len < t->rd_base)
		t->rd_len = t->rd_base;
	target_conn_txq_add(t->conn, t);
}

/* The SCSI layer is done with t: queue its (last) Data-In and status. */
static void
task_complete(struct target_task *t)
{
	if (task_gone(t))
		return;
	queue_data_in(t, true);
}

static void
count_done(struct target_task *t)
{
	struct target_counters *ctr = &t->sess->d->ctr;

	if (t->read) {
		ctr->reads++;
		ctr->bytes_read += (uint64_t)t->cmd.buf_off + t->cmd.data_in_len;
	}
}

static void
cmd_done(struct target_scsi_cmd *cmd)
{
	struct target_task *t = cmd->priv;
	struct target_session *s = t->sess;

	s->tasks_pending_io--;
	count_done(t);
	task_complete(t);
	if (s->closing)
		target_session_maybe_free(s);
}

static void write_progress(struct target_conn *c, struct target_task *t);

/* Window size of a streaming command: whole 4 KiB pieces of the task buffer. */
static uint32_t
win_cap(const struct target_task *t)
{
	return t->buf_cap & ~4095U;
}

/*
 * The SCSI layer wants the next window of a streaming command (target/scsi.h "Streaming"):
 * for a read, send the Data-In it produced and resume it once the buffer is free again
 * (target_ffp_stream_sent()); for a write, solicit the Data-Out from cmd.buf_off on into the
 * buffer and resume it once the window is complete (write_progress()). No allocation: the
 * window is the task's own buffer.
 */
static void
stream_window(struct target_task *t)
{
	struct target_scsi_cmd *cmd = &t->cmd;

	if (task_gone(t))
		return;
	if (t->read) {
		t->stream_wait = true;
		queue_data_in(t, false);
		return;
	}
	/* Data already received from buf_off on (pieces end on block boundaries, so at most a
	 * partial window) moves to the front of the buffer. */
	if (cmd->buf_off > t->win_base && cmd->buf_off < MIN(t->wr_recv, t->win_end))
		memmove(t->buf, t->buf + (cmd->buf_off - t->win_base),
			MIN(t->wr_recv, t->win_end) - cmd->buf_off);
	t->win_base = cmd->buf_off;
	t->win_end = (uint32_t)MIN((uint64_t)t->win_base + win_cap(t), (uint64_t)t->wr_len);
	t->state = TARGET_TASK_DATA_OUT;
	t->stream_wait = true;
	write_progress(t->conn, t);
}

/* Hand the moved window back to the SCSI layer. */
static void
stream_resume(struct target_task *t)
{
	struct target_session *s = t->sess;
	struct target_scsi_cmd *cmd = &t->cmd;
	int r;

	t->stream_wait = false;
	t->state = TARGET_TASK_EXEC;
	if (t->write)
		cmd->data_out_len = MIN(t->wr_recv, t->win_end) - t->win_base;
	r = target_scsi_resume(cmd);
	if (r == TARGET_SCSI_EXEC_PENDING) {
		s->tasks_pending_io++;
	} else if (r == TARGET_SCSI_EXEC_WINDOW) {
		stream_window(t);
	} else {
		count_done(t);
		task_complete(t);
	}
}

static void
cmd_window(struct target_scsi_cmd *cmd)
{
	struct target_task *t = cmd->priv;
	struct target_session *s = t->sess;

	s->tasks_pending_io--;
	stream_window(t);
	if (s->closing)
		target_session_maybe_free(s);
}

void
target_ffp_stream_sent(struct target_task *t)
{
	/* A closing connection aborts the task instead (target_ffp_conn_gone()). */
	if (t->stream_wait && t->read && !t->tx_refs && !t->in_txq && !t->status_sent &&
	    !t->aborted && t->tx_off >= t->rd_len && t->state == TARGET_TASK_TX && t->conn &&
	    t->conn->state != TARGET_CONN_CLOSING)
		stream_resume(t);
}

static void
task_exec(struct target_task *t)
{
	struct target_session *s = t->sess;
	struct target_daemon *d = s->d;
	struct target_faults *f = &d->faults;
	struct target_scsi_cmd *cmd = &t->cmd;
	int r;

	t->state = TARGET_TASK_EXEC;
	if (cmd->status != TARGET_SCSI_GOOD) {
		/* Failed before execution (oversize, digest error): the sense is set. */
		task_complete(t);
		return;
	}
	cmd->lun = t->lun;
	cmd->nexus = &s->nexus;
	cmd->data_out = t->write ? t->buf : NULL;
	cmd->data_out_len = t->write ? MIN(t->wr_recv, t->win_end) : 0;
	cmd->data_out_total = t->write ? t->wr_len : 0;
	cmd->data_in = t->read ? t->buf : NULL;
	cmd->data_in_cap = t->read ? MIN(t->edtl, win_cap(t)) : 0;
	cmd->data_in_total = t->read ? t->edtl : 0;
	cmd->window = target_scsi_streamable(cmd->cdb) ? cmd_window : NULL;
	cmd->scratch = t->scratch;
	cmd->scratch_cap = t->scratch_cap;
	cmd->done = cmd_done;
	cmd->priv = t;
	t->started = true;
	cmd->status = 0;
	cmd->sense_len = 0;
	cmd->data_in_len = 0;
	cmd->xfer_len = 0;
	d->ctr.cmds++;
	if (f->fail_next) {
		f->fail_next--;
		task_fail(t, f->fail_key, (uint16_t)(f->fail_asc << 8 | f->fail_ascq));
		task_complete(t);
		return;
	}
	if (t->read && t->write) {
		/* Bidirectional commands are not supported by the device model. */
		task_fail(t, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_OPCODE);
		task_complete(t);
		return;
	}
	if (t->write) {
		d->ctr.writes++;
		d->ctr.bytes_written += t->wr_len;
	}
	r = target_scsi_exec(s->node->scsi, cmd);
	if (r == TARGET_SCSI_EXEC_PENDING) {
		s->tasks_pending_io++;
		return;
	}
	if (r == TARGET_SCSI_EXEC_WINDOW) {
		stream_window(t);
		return;
	}
	count_done(t);
	task_complete(t);
}

/* Residual (RFC 7143 11.4.5) of a finished command against its EDTL. */
static void
residual(const struct target_task *t, uint8_t *flags, uint32_t *res)
{
	uint32_t actual;

	*flags = 0;
	*res = 0;
	if (t->cmd.xfer_len > t->edtl) {
		*flags = PDU_RSP_OVERFLOW;
		*res = t->cmd.xfer_len - t->edtl;
		return;
	}
	actual = t->read ? t->rd_len : t->cmd.xfer_len;
	if (actual > t->edtl)
		actual = t->edtl;
	if (actual < t->edtl) {
		*flags = PDU_RSP_UNDERFLOW;
		*res = t->edtl - actual;
	}
}

static bool
tx_r2ts(struct target_conn *c, struct target_task *t)
{
	struct target_session *s = t->sess;

	while (t->r2t_off < t->win_end && t->r2t_out < s->params.max_outstanding_r2t &&
	       t->r2t_out < TARGET_MAX_R2T) {
		struct target_txpdu *p = target_conn_tx_get(c);
		struct pdu_hdr h;
		uint32_t len = MIN(s->params.max_burst, t->win_end - t->r2t_off);

		if (!p)
			return false;
		memset(&h, 0, sizeof(h));
		h.opcode = PDU_OP_R2T;
		h.flags = PDU_FLAG_FINAL;
		h.lun = t->lun;
		h.itt = t->itt;
		h.r2t.ttt = task_ttt(t);
		h.r2t.statsn = c->statsn;
		window(s, &h.r2t.expcmdsn, &h.r2t.maxcmdsn);
		h.r2t.r2tsn = t->r2tsn++;
		h.r2t.offset = t->r2t_off;
		h.r2t.desired_len = len;
		t->r2t_off += len;
		t->r2t_out++;
		if (target_conn_tx_send(c, p, &h, NULL, 0, NULL) < 0)
			return true;
	}
	return true;
}

static bool
tx_nop_echo(struct target_conn *c, struct target_task *t)
{
	struct target_txpdu *p = target_conn_tx_get(c);
	struct pdu_hdr h;

	if (!p)
		return false;
	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_NOP_IN;
	h.flags = PDU_FLAG_FINAL;
	h.lun = t->lun;
	h.itt = t->itt;
	h.nop_in.ttt = PDU_RESERVED_TAG;
	h.nop_in.statsn = c->statsn++;
	t->status_sent = true;
	window(t->sess, &h.nop_in.expcmdsn, &h.nop_in.maxcmdsn);
	c->d->ctr.nops_in++;
	target_conn_tx_send(c, p, &h, t->buf, t->wr_recv, t);
	return true;
}

static bool
tx_scsi(struct target_conn *c, struct target_task *t)
{
	struct target_session *s = t->sess;
	struct target_scsi_cmd *cmd = &t->cmd;
	bool good = cmd->status == TARGET_SCSI_GOOD || cmd->status == TARGET_SCSI_CONDITION_MET;
	bool collapse = good && !cmd->sense_len;
	uint8_t rflags;
	uint32_t res;
	struct pdu_hdr h;
	struct target_txpdu *p;

	residual(t, &rflags, &res);
	while (t->tx_off < t->rd_len) {
		uint64_t burst_end = ((uint64_t)t->tx_off / s->params.max_burst + 1) *
				     s->params.max_burst;
		uint32_t len = MIN(c->max_xmit_dsl, t->rd_len - t->tx_off);
		bool last, seq_end;

		len = (uint32_t)MIN((uint64_t)len, burst_end - t->tx_off);
		/* Only the end of the last window ends the command's Data-In. */
		last = t->rd_final && t->tx_off + len == t->rd_len;
		seq_end = last || t->tx_off + len == burst_end;
		p = target_conn_tx_get(c);
		if (!p)
			return false;
		memset(&h, 0, sizeof(h));
		h.opcode = PDU_OP_DATA_IN;
		h.flags = seq_end ? PDU_FLAG_FINAL : 0;
		h.lun = t->lun;
		h.itt = t->itt;
		h.data_in.ttt = PDU_RESERVED_TAG;
		h.data_in.datasn = t->datasn++;
		h.data_in.offset = t->tx_off;
		if (last && collapse) {
			h.flags |= PDU_FLAG_FINAL | PDU_DATA_IN_STATUS | rflags;
			h.data_in.status = cmd->status;
			h.data_in.statsn = c->statsn++;
			h.data_in.residual = res;
			t->status_sent = true;
		}
		window(s, &h.data_in.expcmdsn, &h.data_in.maxcmdsn);
		t->tx_off += len;
		target_conn_tx_send(c, p, &h, t->buf + (h.data_in.offset - t->rd_base), len, t);
		if (t->status_sent)
			return true;
	}
	if (!t->rd_final)
		return true; /* a streaming window: the SCSI layer resumes once it has left */
	p = target_conn_tx_get(c);
	if (!p)
		return false;
	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_SCSI_RSP;
	h.flags = PDU_FLAG_FINAL | rflags;
	h.itt = t->itt;
	h.scsi_rsp.response = PDU_RESPONSE_COMPLETED;
	h.scsi_rsp.status = cmd->status;
	h.scsi_rsp.statsn = c->statsn++;
	h.scsi_rsp.expdatasn = t->datasn;
	h.scsi_rsp.residual = res;
	t->status_sent = true;
	window(s, &h.scsi_rsp.expcmdsn, &h.scsi_rsp.maxcmdsn);
	if (cmd->sense_len) {
		/* RFC 7143 11.4.7: SenseLength (2 bytes) then the sense data. */
		p->inl[0] = 0;
		p->inl[1] = cmd->sense_len;
		memcpy(p->inl + 2, cmd->sense, cmd->sense_len);
		target_conn_tx_send(c, p, &h, p->inl, 2u + cmd->sense_len, NULL);
	} else {
		target_conn_tx_send(c, p, &h, NULL, 0, NULL);
	}
	return true;
}

bool
target_ffp_task_tx(struct target_conn *c, struct target_task *t)
{
	if (t->state == TARGET_TASK_DATA_OUT)
		return tx_r2ts(c, t);
	if (t->state != TARGET_TASK_TX || t->status_sent)
		return true;
	if (t->kind == TARGET_TASK_NOP)
		return tx_nop_echo(c, t);
	return tx_scsi(c, t);
}

/* ---- receive ---- */

/* All write data of t that will come has come: execute or wait for more R2T sequences. */
static void
write_progress(struct target_conn *c, struct target_task *t)
{
	if (!t->unsol_done)
		return;
	if (t->oversize || t->cmd.status) {
		/* We do not solicit data for a command that fails anyway; a streaming command
		 * the SCSI layer already holds is abandoned there (it holds nothing). */
		if (t->r2t_out)
			return;
		if (t->started)
			task_complete(t);
		else
			task_exec(t);
		return;
	}
	if (t->wr_recv >= t->win_end && !t->r2t_out) {
		if (t->started)
			stream_resume(t);
		else
			task_exec(t);
		return;
	}
	if (t->r2t_off < t->win_end && t->r2t_out < t->sess->params.max_outstanding_r2t)
		target_conn_txq_add(c, t);
}

static void
scsi_cmd_header(struct target_conn *c)
{
	struct target_session *s = c->sess;
	struct pdu_hdr *h = &c->rx_hdr;
	struct target_task *t;
	uint32_t imm = h->data_len;

	if (!cmdsn_accept(c, h->immediate, h->scsi_cmd.cmdsn)) {
		c->rx_hdr_bad = true;
		return;
	}
	t = target_task_get(s);
	if (!t) {
		/* Only an initiator ignoring MaxCmdSN (or flooding immediate commands) gets here. */
		struct pdu_hdr r;

		memset(&r, 0, sizeof(r));
		r.opcode = PDU_OP_SCSI_RSP;
		r.flags = PDU_FLAG_FINAL;
		r.itt = h->itt;
		r.scsi_rsp.status = TARGET_SCSI_TASK_SET_FULL;
		r.scsi_rsp.statsn = c->statsn++;
		window(s, &r.scsi_rsp.expcmdsn, &r.scsi_rsp.maxcmdsn);
		target_conn_send_pdu(c, &r, NULL, 0);
		c->rx_hdr_bad = true;
		return;
	}
	t->conn = c;
	t->kind = TARGET_TASK_SCSI;
	t->immediate = h->immediate;
	t->itt = h->itt;
	t->cmdsn = h->scsi_cmd.cmdsn;
	t->edtl = h->scsi_cmd.edtl;
	t->lun = h->lun;
	t->read = h->flags & PDU_SCSI_READ;
	t->write = h->flags & PDU_SCSI_WRITE;
	memcpy(t->cmd.cdb, h->scsi_cmd.cdb, 16);
	t->cmd.cdb_len = 16;
	if (h->ahs_words) {
		struct pdu_ahs ahs;

		if (pdu_ahs_parse(c->rx_ahs, h->ahs_words * 4u, &ahs, NULL) == 0)
			t->cmd.cdb_len = (uint8_t)MIN(ahs.cdb_len, 255);
	}
	/*
	 * More write data than the task buffer: the medium commands stream it through the
	 * buffer window by window (target/scsi.h); any other command's Data-Out must fit.
	 * Data-In needs no check: READs stream and the other commands' answers are small.
	 */
	t->oversize = t->write && t->edtl > win_cap(t) && !target_scsi_streamable(t->cmd.cdb);
	if (t->oversize)
		task_fail(t, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_FIELD_CDB);
	t->wr_len = t->write && !t->oversize ? t->edtl : 0;
	t->win_base = 0;
	t->win_end = MIN(t->wr_len, win_cap(t));
	t->unsol_done = !t->write || (h->flags & PDU_FLAG_FINAL);
	t->r2t_off = 0;
	if (t->write) {
		/* Immediate data: at most FirstBurstLength and EDTL (RFC 7143 13.13). */
		if (imm > t->edtl || imm > s->params.first_burst) {
			task_fail(t, TARGET_SENSE_ILLEGAL_REQUEST, TARGET_ASC_INVALID_FIELD_CDB);
			t->oversize = true;
			t->wr_len = 0;
		}
		if (!t->oversize)
			c->rx_dest = t->buf;
		/* Unsolicited data ends at FirstBurstLength; R2Ts cover the rest.
		 * FirstBurstLength <= MaxBurstLength <= the buffer: it fits the first window. */
		t->r2t_off = t->unsol_done ? imm : MIN(t->win_end, s->params.first_burst);
		if (t->r2t_off < imm)
			t->r2t_off = imm;
	} else if (imm) {
		/* Data on a command without the W bit. */
		c->rx_dest = NULL;
	}
	c->rx_task = t;
	t->state = t->write ? TARGET_TASK_DATA_OUT : TARGET_TASK_QUEUED;
}

static void
scsi_cmd_pdu(struct target_conn *c)
{
	struct target_task *t = c->rx_task;
	struct pdu_hdr *h = &c->rx_hdr;

	if (!t || t->state == TARGET_TASK_FREE || t->itt != h->itt)
		return; /* aborted meanwhile */
	if (t->write) {
		if (c->rx_dest)
			t->wr_recv += h->data_len;
		if (t->unsol_done && t->r2t_off > t->wr_len)
			t->r2t_off = t->wr_len;
		write_progress(c, t);
		return;
	}
	task_exec(t);
}

static void
data_out_header(struct target_conn *c)
{
	struct target_session *s = c->sess;
	struct pdu_hdr *h = &c->rx_hdr;
	struct target_task *t;

	if (h->data_out.ttt != PDU_RESERVED_TAG)
		t = task_by_ttt(s, h->data_out.ttt);
	else
		t = task_by_itt(s, h->itt, TARGET_TASK_DATA_OUT);
	if (!t || t->state != TARGET_TASK_DATA_OUT || t->itt != h->itt) {
		/* A task aborted meanwhile, or a bogus tag. */
		log_ratelimited(&c->rl, LOG_LEVEL_NOTICE,
				"c%u: Data-Out for unknown task itt 0x%08x ttt 0x%08x", c->id,
				h->itt, h->data_out.ttt);
		c->rx_hdr_bad = true;
		return;
	}
	c->rx_task = t;
	/* RFC 7143 11.8.4: DataSN starts at 0 in every sequence and counts up. */
	if (h->data_out.datasn != t->data_out_sn && !t->cmd.status) {
		log_ratelimited(&c->rl, LOG_LEVEL_NOTICE,
				"c%u: Data-Out DataSN %u, expected %u (itt 0x%08x): failing the task",
				c->id, h->data_out.datasn, t->data_out_sn, h->itt);
		task_fail(t, TARGET_SENSE_ABORTED_COMMAND, 0x4b00); /* DATA PHASE ERROR */
	}
	t->data_out_sn++;
	if (h->flags & PDU_FLAG_FINAL)
		t->data_out_sn = 0;
	if (t->oversize || t->cmd.status)
		return; /* discard */
	/* Data-Out only lands in the current window (all of it unless the command streams). */
	if (h->data_out.offset < t->win_base ||
	    (uint64_t)h->data_out.offset + h->data_len > t->win_end) {
		log_ratelimited(&c->rl, LOG_LEVEL_NOTICE,
				"c%u: Data-Out outside the solicited range (itt 0x%08x)", c->id,
				h->itt);
		target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
		c->rx_hdr_bad = true;
		c->rx_task = NULL;
		return;
	}
	c->rx_dest = t->buf + (h->data_out.offset - t->win_base);
}

static void
data_out_pdu(struct target_conn *c)
{
	struct target_task *t = c->rx_task;
	struct pdu_hdr *h = &c->rx_hdr;

	if (!t || t->state != TARGET_TASK_DATA_OUT)
		return;
	if (c->rx_dest)
		t->wr_recv += h->data_len;
	if (h->flags & PDU_FLAG_FINAL) {
		if (h->data_out.ttt == PDU_RESERVED_TAG) {
			/* End of the unsolicited burst: solicit from where it stopped (data
			 * arrives in order: DataPDUInOrder=Yes), even if it fell short of
			 * FirstBurstLength. */
			t->unsol_done = true;
			t->r2t_off = MIN(t->wr_recv, t->wr_len);
		} else if (t->r2t_out) {
			t->r2t_out--;
		}
	}
	write_progress(c, t);
}

static void
nop_out_header(struct target_conn *c)
{
	struct target_session *s = c->sess;
	struct pdu_hdr *h = &c->rx_hdr;
	struct target_task *t;

	if (h->itt == PDU_RESERVED_TAG) {
		/* An answer to our ping (or a ping that wants no answer): no CmdSN consumed. */
		if (h->nop_out.ttt != PDU_RESERVED_TAG && h->nop_out.ttt == c->nop_ttt)
			c->nop_ttt = 0;
		return;
	}
	if (!cmdsn_accept(c, h->immediate, h->nop_out.cmdsn)) {
		c->rx_hdr_bad = true;
		return;
	}
	c->d->ctr.nops_out++;
	if (c->d->faults.ignore_nop) {
		c->rx_hdr_bad = true;
		return;
	}
	t = target_task_get(s);
	if (!t) {
		target_conn_reject(c, PDU_REJECT_OUT_OF_RESOURCES);
		c->rx_hdr_bad = true;
		return;
	}
	t->conn = c;
	t->kind = TARGET_TASK_NOP;
	t->itt = h->itt;
	t->lun = h->lun;
	t->immediate = h->immediate;
	t->state = TARGET_TASK_QUEUED;
	t->wr_recv = MIN(h->data_len, t->buf_cap);
	c->rx_task = t;
	c->rx_dest = t->buf;
}

static void
nop_out_pdu(struct target_conn *c)
{
	struct target_task *t = c->rx_task;

	if (!t || t->kind != TARGET_TASK_NOP)
		return;
	t->state = TARGET_TASK_TX;
	target_conn_txq_add(c, t);
}

/* ---- task management (RFC 7143 11.5) ---- */

/* Abort t: silently, its buffers are released once nothing points into them. */
static void
task_abort(struct target_task *t)
{
	struct target_conn *c = t->conn;

	if (t->state == TARGET_TASK_FREE)
		return;
	t->aborted = true;
	if (c && c->rx_task == t) {
		c->rx_task = NULL;
		c->rx_dest = NULL;
	}
	switch (t->state) {
	case TARGET_TASK_EXEC:
		return; /* cmd_done releases it */
	case TARGET_TASK_TX:
		if (t->status_sent)
			return; /* finishing anyway */
		break;
	default:
		break;
	}
	t->state = TARGET_TASK_TX;
	t->status_sent = true;
	if (c && t->in_txq) {
		struct target_task **pp = &c->txq_head, *prev = NULL;

		for (; *pp; prev = *pp, pp = &(*pp)->txq_next)
			if (*pp == t) {
				*pp = t->txq_next;
				if (c->txq_tail == t)
					c->txq_tail = prev;
				break;
			}
		t->in_txq = false;
	}
	if (!t->tx_refs)
		target_task_put(t);
}

static unsigned
abort_matching(struct target_session *s, bool all_luns, uint64_t lun, const struct target_task *except)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < s->ntasks; i++) {
		struct target_task *t = &s->tasks[i];

		if (t == except || t->state == TARGET_TASK_FREE || t->kind != TARGET_TASK_SCSI)
			continue;
		if (!all_luns && t->lun != lun)
			continue;
		task_abort(t);
		n++;
	}
	return n;
}

static void
tmf_pdu(struct target_conn *c)
{
	struct target_session *s = c->sess;
	struct target_daemon *d = c->d;
	struct pdu_hdr *h = &c->rx_hdr;
	struct pdu_hdr r;
	uint8_t resp = PDU_TMF_RSP_COMPLETE;
	bool cold = false;
	struct target_task *t;

	d->ctr.tmfs++;
	if (!cmdsn_accept(c, h->immediate, h->tmf_req.cmdsn))
		return;
	switch (h->tmf_req.function) {
	case PDU_TMF_ABORT_TASK:
		t = task_by_itt(s, h->tmf_req.rtt, -1);
		if (!t || t->lun != h->lun)
			resp = PDU_TMF_RSP_NO_TASK;
		else
			task_abort(t);
		break;
	case PDU_TMF_ABORT_TASK_SET:
	case PDU_TMF_CLEAR_TASK_SET:
		if (!target_scsi_tgt_lookup(s->node->scsi, h->lun)) {
			resp = PDU_TMF_RSP_NO_LUN;
			break;
		}
		abort_matching(s, false, h->lun, NULL);
		break;
	case PDU_TMF_LUN_RESET: {
		struct target_lu *lu = target_scsi_tgt_lookup(s->node->scsi, h->lun);

		if (!lu) {
			resp = PDU_TMF_RSP_NO_LUN;
			break;
		}
		/* Every session's tasks on the LU (SAM-5 logical unit reset). */
		for (struct target_session *o = d->sessions; o; o = o->next)
			if (o->node == s->node)
				abort_matching(o, false, h->lun, NULL);
		target_lu_reset(lu);
		break;
	}
	case PDU_TMF_TARGET_COLD_RESET:
		cold = true;
		/* fall through */
	case PDU_TMF_TARGET_WARM_RESET:
		for (struct target_session *o = d->sessions; o; o = o->next)
			if (o->node == s->node)
				abort_matching(o, true, 0, NULL);
		target_scsi_tgt_reset(s->node->scsi);
		break;
	case PDU_TMF_CLEAR_ACA:
		resp = PDU_TMF_RSP_NOT_SUPPORTED;
		break;
	case PDU_TMF_TASK_REASSIGN:
		/* RFC 7143 11.6.1: reassignment needs ErrorRecoveryLevel 2. */
		resp = PDU_TMF_RSP_NO_REASSIGN;
		break;
	default:
		resp = PDU_TMF_RSP_REJECTED;
		break;
	}
	memset(&r, 0, sizeof(r));
	r.opcode = PDU_OP_TMF_RSP;
	r.flags = PDU_FLAG_FINAL;
	r.itt = h->itt;
	r.tmf_rsp.response = resp;
	r.tmf_rsp.statsn = c->statsn++;
	window(s, &r.tmf_rsp.expcmdsn, &r.tmf_rsp.maxcmdsn);
	target_conn_send_pdu(c, &r, NULL, 0);
	if (cold) {
		/* RFC 7143 11.5.1: a cold reset drops every connection of the target after the
		 * response. */
		for (struct target_session *o = d->sessions; o; o = o->next)
			if (o->node == s->node && o != s)
				target_session_close(o, "target cold reset");
		c->state = TARGET_CONN_LOGOUT;
	}
}

static void
logout_pdu(struct target_conn *c)
{
	struct target_session *s = c->sess;
	struct pdu_hdr *h = &c->rx_hdr;
	struct pdu_hdr r;
	struct target_conn *victim = c;

	if (!cmdsn_accept(c, h->immediate, h->logout_req.cmdsn))
		return;
	memset(&r, 0, sizeof(r));
	r.opcode = PDU_OP_LOGOUT_RSP;
	r.flags = PDU_FLAG_FINAL;
	r.itt = h->itt;
	r.logout_rsp.response = PDU_LOGOUT_RSP_OK;
	switch (h->logout_req.reason) {
	case PDU_LOGOUT_SESSION:
		break;
	case PDU_LOGOUT_CONNECTION:
		victim = NULL;
		for (struct target_conn *o = s->conns; o; o = o->sess_next)
			if (o->cid == h->logout_req.cid)
				victim = o;
		if (!victim)
			r.logout_rsp.response = PDU_LOGOUT_RSP_NO_CID;
		break;
	default:
		r.logout_rsp.response = PDU_LOGOUT_RSP_NO_RECOVERY;
		victim = NULL;
		break;
	}
	r.logout_rsp.statsn = c->statsn++;
	r.logout_rsp.time2wait = (uint16_t)s->params.default_time2wait;
	r.logout_rsp.time2retain = (uint16_t)s->params.default_time2retain;
	window(s, &r.logout_rsp.expcmdsn, &r.logout_rsp.maxcmdsn);
	target_conn_send_pdu(c, &r, NULL, 0);
	if (!victim)
		return;
	if (h->logout_req.reason == PDU_LOGOUT_SESSION) {
		for (struct target_conn *o = s->conns; o; o = o->sess_next)
			if (o != c)
				target_conn_close(o, 0, "session logged out");
	} else if (victim != c) {
		target_conn_close(victim, 0, "connection logged out");
		return;
	}
	/* Close once the response has left (conn.c tx_done). */
	c->state = TARGET_CONN_LOGOUT;
	if (!c->tx_used)
		target_conn_close(c, 0, "logged out");
}

/* ---- dispatch ---- */

void
target_ffp_header(struct target_conn *c)
{
	struct pdu_hdr *h = &c->rx_hdr;

	c->rx_task = NULL;
	c->rx_dest = NULL;
	switch (h->opcode) {
	case PDU_OP_SCSI_CMD:
		if (c->sess->discovery) {
			target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
			c->rx_hdr_bad = true;
			return;
		}
		scsi_cmd_header(c);
		break;
	case PDU_OP_DATA_OUT:
		if (c->sess->discovery) {
			target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
			c->rx_hdr_bad = true;
			return;
		}
		data_out_header(c);
		break;
	case PDU_OP_NOP_OUT:
		nop_out_header(c);
		break;
	case PDU_OP_TEXT_REQ:
	case PDU_OP_LOGOUT_REQ:
		c->rx_dest = c->rxbuf;
		break;
	case PDU_OP_TMF_REQ:
		if (c->sess->discovery) {
			target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
			c->rx_hdr_bad = true;
		}
		break;
	case PDU_OP_SNACK:
		/* ErrorRecoveryLevel 0: SNACK is not supported (RFC 7143 11.16). */
		target_conn_reject(c, PDU_REJECT_CMD_NOT_SUPPORTED);
		c->rx_hdr_bad = true;
		break;
	case PDU_OP_LOGIN_REQ:
		/* RFC 7143 6.1: a Login Request in Full Feature Phase is a protocol error. */
		target_conn_reject(c, PDU_REJECT_PROTOCOL_ERROR);
		c->rx_hdr_bad = true;
		break;
	default:
		target_conn_reject(c, PDU_REJECT_CMD_NOT_SUPPORTED);
		c->rx_hdr_bad = true;
		break;
	}
}

void
target_ffp_pdu(struct target_conn *c)
{
	switch (c->rx_hdr.opcode) {
	case PDU_OP_SCSI_CMD:
		scsi_cmd_pdu(c);
		break;
	case PDU_OP_DATA_OUT:
		data_out_pdu(c);
		break;
	case PDU_OP_NOP_OUT:
		nop_out_pdu(c);
		break;
	case PDU_OP_TMF_REQ:
		tmf_pdu(c);
		break;
	case PDU_OP_LOGOUT_REQ:
		logout_pdu(c);
		break;
	case PDU_OP_TEXT_REQ:
		target_login_text_pdu(c);
		break;
	default:
		break;
	}
}

void
target_ffp_data_digest_error(struct target_conn *c)
{
	struct target_task *t = c->rx_task;

	/*
	 * RFC 7143 7.8 / 11.17.1: discard the PDU and send a Reject with reason "Data (payload)
	 * Digest Error". At ErrorRecoveryLevel 0 no recovery R2T is possible, so the command
	 * the data belonged to ends with CHECK CONDITION, ABORTED COMMAND, PROTOCOL SERVICE CRC
	 * ERROR (0x47/0x05) once its data sequence is over.
	 */
	target_conn_reject(c, PDU_REJECT_DATA_DIGEST);
	if (!t)
		return;
	if (t->kind == TARGET_TASK_NOP) {
		task_abort(t);
		return;
	}
	if (t->kind == TARGET_TASK_SCSI && t->state == TARGET_TASK_DATA_OUT) {
		task_fail(t, TARGET_SENSE_ABORTED_COMMAND, 0x4705);
		/* Count the PDU as delivered so the sequence accounting still finishes. */
		c->rx_dest = NULL;
		if (c->rx_hdr.opcode == PDU_OP_DATA_OUT)
			data_out_pdu(c);
		else
			scsi_cmd_pdu(c);
	}
}

void
target_ffp_conn_gone(struct target_conn *c)
{
	struct target_session *s = c->sess;

	c->txq_head = c->txq_tail = NULL;
	for (uint32_t i = 0; i < s->ntasks; i++) {
		struct target_task *t = &s->tasks[i];

		if (t->state == TARGET_TASK_FREE || t->conn != c)
			continue;
		t->in_txq = false;
		t->tx_refs = 0;
		task_abort(t);
		t->conn = NULL;
	}
}

void
target_ffp_ping(struct target_conn *c)
{
	struct pdu_hdr h;
	struct target_session *s = c->sess;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_NOP_IN;
	h.flags = PDU_FLAG_FINAL;
	h.itt = PDU_RESERVED_TAG;
	c->nop_ttt = (++s->next_ttt & 0x7fffffff) | 0x40000000;
	h.nop_in.ttt = c->nop_ttt;
	/* RFC 7143 11.19.1: StatSN is not advanced by an unsolicited NOP-In. */
	h.nop_in.statsn = c->statsn;
	window(s, &h.nop_in.expcmdsn, &h.nop_in.maxcmdsn);
	if (target_conn_send_pdu(c, &h, NULL, 0) == 0) {
		c->nop_sent = ev_now(c->d->loop);
		c->d->ctr.nops_in++;
	} else {
		c->nop_ttt = 0;
	}
}

void
target_ffp_async_logout(struct target_conn *c, uint16_t wait_s)
{
	struct pdu_hdr h;
	struct target_session *s = c->sess;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_ASYNC;
	h.flags = PDU_FLAG_FINAL;
	h.itt = PDU_RESERVED_TAG;
	h.async.event = PDU_ASYNC_LOGOUT_REQUEST;
	h.async.statsn = c->statsn++;
	window(s, &h.async.expcmdsn, &h.async.maxcmdsn);
	/* Parameter3: the time the initiator has to log out, in seconds. */
	h.async.param3 = wait_s;
	target_conn_send_pdu(c, &h, NULL, 0);
}
