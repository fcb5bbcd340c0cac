/*
 * ublk datapath: FETCH_REQ / COMMIT_AND_FETCH_REQ on the queue's ring, request decoding and
 * completion. No allocation, no blocking, no logging: everything was mapped by
 * initiator_ublk_queue_new() (initiator/ublk_ctrl.c).
 *
 * Protocol (Documentation/block/ublk.rst): every tag has one uring_cmd outstanding in the
 * kernel. FETCH_REQ arms a tag the first time and names the buffer the driver copies WRITE data
 * into (and READ data from, at commit). The CQE of that command (res UBLK_IO_RES_OK) announces
 * a request whose descriptor is iods[tag]. The server answers with COMMIT_AND_FETCH_REQ carrying
 * the result (bytes done, or -errno) and the buffer again, which re-arms the tag. When the
 * device stops, or its server is being replaced, the driver completes the outstanding commands
 * with UBLK_IO_RES_ABORT (-ENODEV).
 */
#include <config.h>

#include <errno.h>
#include <liburing.h>

#include "common/compiler.h"
#include "initiator/ublk.h"
#include "initiator/ublk_priv.h"
#include "netreserve/ring.h"
#include "common/datapath.h"

static void
prep_io_cmd(struct initiator_ublk_queue *q, struct io_uring_sqe *sqe, unsigned int nr, uint16_t tag,
	    int32_t result)
{
	struct initiator_ublk_io_cmd *cmd = (struct initiator_ublk_io_cmd *)&sqe->addr3;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->fd;
	sqe->cmd_op = ublk_io_opcode(nr, q->encode);
	cmd->q_id = q->q_id;
	cmd->tag = tag;
	cmd->result = result;
	cmd->addr = (uint64_t)(uintptr_t)(q->bufs + (size_t)tag * q->buf_size);
	sqe->user_data = netreserve_ud(q->kind, tag, q->gen, q->q_id);
}

int
initiator_ublk_queue_start(struct initiator_ublk_queue *q)
{
	if (q->next_fetch >= q->depth)
		return -EALREADY;
	while (q->next_fetch < q->depth) {
		uint16_t tag = (uint16_t)q->next_fetch;
		struct io_uring_sqe *sqe = q->ops->get_sqe(q->ctx);

		if (!sqe)
			return -ENOBUFS;
		prep_io_cmd(q, sqe, UBLK_OPC_IO_FETCH_REQ, tag, 0);
		q->tags[tag].state = UBLK_TAG_ARMED;
		q->st.armed++;
		q->next_fetch++;
	}
	return 0;
}

/* Prepare the commit of @tag; false when no SQE was free. */
static bool
commit(struct initiator_ublk_queue *q, uint16_t tag, int32_t result)
{
	struct io_uring_sqe *sqe = q->ops->get_sqe(q->ctx);

	if (!sqe)
		return false;
	prep_io_cmd(q, sqe, UBLK_OPC_IO_COMMIT_AND_FETCH_REQ, tag, result);
	q->tags[tag].state = UBLK_TAG_ARMED;
	q->st.armed++;
	q->st.in_flight--;
	q->st.completed++;
	return true;
}

static void
defer(struct initiator_ublk_queue *q, uint16_t tag, int32_t result)
{
	/* At most depth tags can be deferred: the FIFO cannot overflow. */
	q->tags[tag].state = UBLK_TAG_DEFERRED;
	q->tags[tag].result = result;
	q->defer[(q->defer_head + q->defer_count) % q->depth] = tag;
	q->defer_count++;
	q->st.sqe_full++;
}

static int32_t
result_of(const struct ublk_tag *t, int error)
{
	if (error < 0)
		return error;
	/* READ/WRITE report the bytes transferred; the others 0. */
	if (t->op == INITIATOR_UBLK_OP_READ || t->op == INITIATOR_UBLK_OP_WRITE)
		return (int32_t)t->length;
	return 0;
}

int
initiator_ublk_complete(struct initiator_ublk_queue *q, uint16_t tag, int error)
{
	struct ublk_tag *t;
	int32_t res;

	if (tag >= q->depth || q->tags[tag].state != UBLK_TAG_OWNED)
		return -EINVAL;
	t = &q->tags[tag];
	if (error > 0)
		error = -EIO;
	if (error < 0)
		q->st.errors++;
	res = result_of(t, error);
	/* Keep completions in order behind earlier deferred ones. */
	if (q->defer_count == 0 && commit(q, tag, res))
		return 0;
	defer(q, tag, res);
	return -ENOBUFS;
}

unsigned int
initiator_ublk_queue_flush(struct initiator_ublk_queue *q)
{
	while (q->defer_count > 0) {
		uint16_t tag = q->defer[q->defer_head];

		if (!commit(q, tag, q->tags[tag].result))
			break;
		q->defer_head = (q->defer_head + 1) % q->depth;
		q->defer_count--;
	}
	return q->defer_count;
}

/* 0, or the error a malformed or unknown request is completed with. */
static int
check_request(const struct initiator_ublk_queue *q, const struct initiator_ublk_request *r,
	      uint32_t sectors)
{
	switch (r->op) {
	case INITIATOR_UBLK_OP_READ:
	case INITIATOR_UBLK_OP_WRITE:
		return sectors > 0 && r->length <= q->buf_size ? 0 : -EINVAL;
	case INITIATOR_UBLK_OP_FLUSH:
		return 0;
	case INITIATOR_UBLK_OP_DISCARD:
	case INITIATOR_UBLK_OP_WRITE_ZEROES:
		return sectors > 0 ? 0 : -EINVAL;
	default:
		/* WRITE_SAME and anything newer: not advertised, not served. */
		return -EOPNOTSUPP;
	}
}

int
initiator_ublk_queue_cqe(struct initiator_ublk_queue *q, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t tag32 = netreserve_ud_slot(ud);
	const struct initiator_ublk_io_desc *iod;
	struct initiator_ublk_request req;
	struct ublk_tag *t;
	uint16_t tag;
	uint32_t sectors;
	int r;

	if (netreserve_ud_kind(ud) != q->kind || netreserve_ud_gen(ud) != q->gen ||
	    netreserve_ud_aux(ud) != q->q_id || tag32 >= q->depth ||
	    q->tags[tag32].state != UBLK_TAG_ARMED) {
		q->st.bad_cqe++;
		return -ESTALE;
	}
	tag = (uint16_t)tag32;
	t = &q->tags[tag];
	q->st.armed--;
	if (cqe->res != UBLK_WIRE_IO_RES_OK) {
		/*
		 * -ENODEV: stopping, or quiescing for a new server. Anything else (-EINVAL,
		 * -EBUSY) is a command the driver refused; the tag cannot be re-armed either.
		 */
		if (cqe->res != -ENODEV)
			q->st.bad_cqe++;
		t->state = UBLK_TAG_DEAD;
		q->dead++;
		return 0;
	}

	/* The descriptor is written by the driver before it completes the command. */
	iod = &q->iods[tag];
	sectors = __atomic_load_n(&iod->nr_sectors, __ATOMIC_ACQUIRE);
	req.q_id = q->q_id;
	req.tag = tag;
	req.op = (uint8_t)(iod->op_flags & 0xff);
	req.flags = iod->op_flags >> 8;
	req.offset = iod->start_sector << 9;
	req.length = sectors > UINT32_MAX >> 9 ? UINT32_MAX : sectors << 9;
	req.buf = q->bufs + (size_t)tag * q->buf_size;
	t->op = req.op;
	t->length = req.length;
	t->state = UBLK_TAG_OWNED;
	q->st.in_flight++;
	q->st.requests++;
	r = check_request(q, &req, sectors);
	if (r < 0) {
		initiator_ublk_complete(q, tag, r);
		return 1;
	}
	r = q->ops->submit(q->ctx, q, &req);
	if (r < 0 && q->tags[tag].state == UBLK_TAG_OWNED)
		initiator_ublk_complete(q, tag, r);
	return 1;
}

bool
initiator_ublk_queue_done(const struct initiator_ublk_queue *q)
{
	return q->next_fetch > 0 && q->dead == q->depth;
}

void *
initiator_ublk_queue_buf(struct initiator_ublk_queue *q, uint16_t tag)
{
	return tag < q->depth ? q->bufs + (size_t)tag * q->buf_size : NULL;
}

uint16_t
initiator_ublk_queue_id(const struct initiator_ublk_queue *q)
{
	return q->q_id;
}

uint16_t
initiator_ublk_queue_depth(const struct initiator_ublk_queue *q)
{
	return q->depth;
}

void
initiator_ublk_queue_stats(const struct initiator_ublk_queue *q,
			   struct initiator_ublk_queue_stats *st)
{
	*st = q->st;
}
