/*
 * Unit tests of the ublk export (initiator/ublk.c, initiator/ublk_ctrl.c) that need no ublk
 * driver: the -ENOENT path on kernels without ublk_drv (this host), parameter validation, and
 * the datapath's command encoding and tag bookkeeping on a queue whose descriptors live in
 * plain memory (the real driver is exercised by tests/kernel/ublk-memserver.sh).
 */
#include <config.h>

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <unistd.h>

#include "initiator/ublk.h"
#include "initiator/ublk_priv.h"
#include "netreserve/ring.h"
#include "tests/unit/unit.h"

static bool
have_ublk(void)
{
	return access("/dev/ublk-control", F_OK) == 0;
}

static void
test_available_enoent(void)
{
	char msg[160] = "";
	int r = initiator_ublk_available(msg, sizeof(msg));

	if (have_ublk()) {
		CU_ASSERT(r == 0 || r == -EACCES || r == -EPERM);
		return;
	}
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "/dev/ublk-control"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "no ublk driver"));
	/* NULL message buffer is allowed. */
	CU_ASSERT_EQUAL(initiator_ublk_available(NULL, 0), -ENOENT);
}

static struct initiator_ublk_params
good_params(void)
{
	struct initiator_ublk_params p = {
	    .dev_id = -1,
	    .nr_queues = 1,
	    .queue_depth = 32,
	    .max_io_bytes = 256 << 10,
	    .size = 64ULL << 20,
	    .logical_block = 512,
	    .physical_block = 4096,
	};
	return p;
}

static void
test_dev_new_enoent(void)
{
	struct initiator_ublk_params p = good_params();
	struct initiator_ublk_dev *d = NULL;
	uint64_t f = 0;

	if (have_ublk())
		return;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -ENOENT);
	CU_ASSERT_PTR_NULL(d);
	CU_ASSERT_EQUAL(initiator_ublk_dev_recover(0, 0, &d), -ENOENT);
	CU_ASSERT_EQUAL(initiator_ublk_get_features(&f), -ENOENT);
}

static void
test_params_invalid(void)
{
	struct initiator_ublk_dev *d = NULL;
	struct initiator_ublk_params p;

	/* Validation comes before the kernel is asked, so these hold on any host. */
	p = good_params(), p.nr_queues = 0;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.queue_depth = 0;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.queue_depth = 5000;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.logical_block = 1000;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.logical_block = 8192;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.logical_block = 4096, p.physical_block = 512;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.max_io_bytes = 1000;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.size = 1000;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.size = 0;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.dev_id = -2;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	p = good_params(), p.discard_granularity = 3000, p.max_discard_bytes = 1 << 20;
	CU_ASSERT_EQUAL(initiator_ublk_dev_new(&p, &d), -EINVAL);
	CU_ASSERT_PTR_NULL(d);
}

/* ---- Datapath on a hand-built queue. ---- */

#define DEPTH 4
#define BUFSZ 8192
#define KIND 42

struct fake {
	struct io_uring_sqe sqes[16];
	unsigned int nsqe, limit;
	struct initiator_ublk_request last;
	unsigned int submits;
	int submit_ret;
	bool complete_inline;
};

static struct io_uring_sqe *
fake_get_sqe(void *ctx)
{
	struct fake *f = ctx;

	if (f->nsqe >= f->limit || f->nsqe >= 16)
		return NULL;
	return &f->sqes[f->nsqe++];
}

static int
fake_submit(void *ctx, struct initiator_ublk_queue *q, const struct initiator_ublk_request *req)
{
	struct fake *f = ctx;

	f->last = *req;
	f->submits++;
	if (f->complete_inline)
		return initiator_ublk_complete(q, req->tag, 0);
	return f->submit_ret;
}

static const struct initiator_ublk_queue_ops fake_ops = {
    .submit = fake_submit,
    .get_sqe = fake_get_sqe,
};

static struct initiator_ublk_io_desc iods[DEPTH];
static uint8_t bufs[DEPTH * BUFSZ];
static struct ublk_tag tags[DEPTH];
static uint16_t defq[DEPTH];

static void
fake_queue(struct initiator_ublk_queue *q, struct fake *f)
{
	memset(q, 0, sizeof(*q));
	memset(f, 0, sizeof(*f));
	memset(tags, 0, sizeof(tags));
	memset(iods, 0, sizeof(iods));
	f->limit = 16;
	q->ops = &fake_ops;
	q->ctx = f;
	q->fd = 7;
	q->q_id = 3;
	q->depth = DEPTH;
	q->gen = 9;
	q->kind = KIND;
	q->buf_size = BUFSZ;
	q->iods = iods;
	q->bufs = bufs;
	q->tags = tags;
	q->defer = defq;
}

static const struct initiator_ublk_io_cmd *
cmd_of(const struct io_uring_sqe *sqe)
{
	return (const struct initiator_ublk_io_cmd *)&sqe->addr3;
}

static struct io_uring_cqe
cqe_for(const struct initiator_ublk_queue *q, uint16_t tag, int res)
{
	struct io_uring_cqe c = {.user_data = netreserve_ud(q->kind, tag, q->gen, q->q_id),
				 .res = res};
	return c;
}

static void
test_fetch_encoding(void)
{
	struct initiator_ublk_queue q;
	struct fake f;

	fake_queue(&q, &f);
	f.limit = 3;
	CU_ASSERT_EQUAL(initiator_ublk_queue_start(&q), -ENOBUFS);
	CU_ASSERT_EQUAL(f.nsqe, 3);
	f.limit = 16;
	CU_ASSERT_EQUAL(initiator_ublk_queue_start(&q), 0);
	CU_ASSERT_EQUAL(f.nsqe, DEPTH);
	CU_ASSERT_EQUAL(initiator_ublk_queue_start(&q), -EALREADY);
	for (uint16_t t = 0; t < DEPTH; t++) {
		const struct io_uring_sqe *s = &f.sqes[t];

		CU_ASSERT_EQUAL(s->opcode, IORING_OP_URING_CMD);
		CU_ASSERT_EQUAL(s->fd, 7);
		CU_ASSERT_EQUAL(s->cmd_op, UBLK_OPC_IO_FETCH_REQ);
		CU_ASSERT_EQUAL(cmd_of(s)->q_id, 3);
		CU_ASSERT_EQUAL(cmd_of(s)->tag, t);
		CU_ASSERT_EQUAL(cmd_of(s)->addr, (uint64_t)(uintptr_t)(bufs + t * BUFSZ));
		CU_ASSERT_EQUAL(netreserve_ud_kind(s->user_data), KIND);
		CU_ASSERT_EQUAL(netreserve_ud_slot(s->user_data), t);
		CU_ASSERT_EQUAL(netreserve_ud_gen(s->user_data), 9);
		CU_ASSERT_EQUAL(netreserve_ud_aux(s->user_data), 3);
	}
	CU_ASSERT_FALSE(initiator_ublk_queue_done(&q));
}

static void
test_request_and_commit(void)
{
	struct initiator_ublk_queue q;
	struct initiator_ublk_queue_stats st;
	struct io_uring_cqe c;
	struct fake f;

	fake_queue(&q, &f);
	initiator_ublk_queue_start(&q);
	f.nsqe = 0;
	iods[2].op_flags = INITIATOR_UBLK_OP_WRITE | (INITIATOR_UBLK_F_FUA << 8);
	iods[2].nr_sectors = 8;
	iods[2].start_sector = 100;
	c = cqe_for(&q, 2, 0);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	CU_ASSERT_EQUAL(f.submits, 1);
	CU_ASSERT_EQUAL(f.last.op, INITIATOR_UBLK_OP_WRITE);
	CU_ASSERT_EQUAL(f.last.flags, INITIATOR_UBLK_F_FUA);
	CU_ASSERT_EQUAL(f.last.offset, 100 * 512);
	CU_ASSERT_EQUAL(f.last.length, 4096);
	CU_ASSERT_EQUAL(f.last.tag, 2);
	CU_ASSERT_EQUAL(f.last.q_id, 3);
	CU_ASSERT_PTR_EQUAL(f.last.buf, bufs + 2 * BUFSZ);
	/* A second CQE for an owned tag is stale. */
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), -ESTALE);
	/* Wrong generation, wrong queue. */
	c = cqe_for(&q, 1, 0);
	c.user_data = netreserve_ud(KIND, 1, 8, 3);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), -ESTALE);
	c.user_data = netreserve_ud(KIND, 1, 9, 4);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), -ESTALE);

	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 1, 0), -EINVAL); /* not owned */
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 2, 0), 0);
	CU_ASSERT_EQUAL(f.nsqe, 1);
	CU_ASSERT_EQUAL(f.sqes[0].cmd_op, UBLK_OPC_IO_COMMIT_AND_FETCH_REQ);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[0])->tag, 2);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[0])->result, 4096);	     /* bytes written */
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 2, 0), -EINVAL); /* armed again */

	/* A READ that fails reports the error, not a length. */
	iods[0].op_flags = INITIATOR_UBLK_OP_READ;
	iods[0].nr_sectors = 1;
	c = cqe_for(&q, 0, 0);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 0, -EIO), 0);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[1])->result, -EIO);

	/* FLUSH succeeds with 0. */
	iods[3].op_flags = INITIATOR_UBLK_OP_FLUSH;
	iods[3].nr_sectors = 0;
	f.complete_inline = true;
	c = cqe_for(&q, 3, 0);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[2])->result, 0);

	initiator_ublk_queue_stats(&q, &st);
	CU_ASSERT_EQUAL(st.requests, 3);
	CU_ASSERT_EQUAL(st.completed, 3);
	CU_ASSERT_EQUAL(st.errors, 1);
	CU_ASSERT_EQUAL(st.bad_cqe, 3);
	CU_ASSERT_EQUAL(st.armed, DEPTH);
	CU_ASSERT_EQUAL(st.in_flight, 0);
}

static void
test_invalid_ops(void)
{
	struct initiator_ublk_queue q;
	struct io_uring_cqe c;
	struct fake f;

	fake_queue(&q, &f);
	initiator_ublk_queue_start(&q);
	f.nsqe = 0;
	/* WRITE_SAME (4) is never advertised: -EOPNOTSUPP without bothering the caller. */
	iods[0].op_flags = 4;
	iods[0].nr_sectors = 8;
	c = cqe_for(&q, 0, 0);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	CU_ASSERT_EQUAL(f.submits, 0);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[0])->result, -EOPNOTSUPP);
	/* A READ larger than the tag buffer: -EINVAL. */
	iods[1].op_flags = INITIATOR_UBLK_OP_READ;
	iods[1].nr_sectors = BUFSZ / 512 + 1;
	c = cqe_for(&q, 1, 0);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	CU_ASSERT_EQUAL(f.submits, 0);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[1])->result, -EINVAL);
	/* The caller refusing a request fails it with its error. */
	iods[2].op_flags = INITIATOR_UBLK_OP_DISCARD;
	iods[2].nr_sectors = 16;
	f.submit_ret = -ENOSPC;
	c = cqe_for(&q, 2, 0);
	CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	CU_ASSERT_EQUAL(f.submits, 1);
	CU_ASSERT_EQUAL(f.last.length, 16 * 512);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[2])->result, -ENOSPC);
}

static void
test_defer_and_abort(void)
{
	struct initiator_ublk_queue q;
	struct io_uring_cqe c;
	struct fake f;

	fake_queue(&q, &f);
	initiator_ublk_queue_start(&q);
	f.nsqe = 0;
	for (uint16_t t = 0; t < 3; t++) {
		iods[t].op_flags = INITIATOR_UBLK_OP_READ;
		iods[t].nr_sectors = 1;
		c = cqe_for(&q, t, 0);
		CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 1);
	}
	f.limit = 1; /* one SQE left */
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 1, 0), 0);
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 0, 0), -ENOBUFS);
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 2, 0), -ENOBUFS);
	CU_ASSERT_EQUAL(initiator_ublk_complete(&q, 0, 0), -EINVAL); /* already deferred */
	CU_ASSERT_EQUAL(initiator_ublk_queue_flush(&q), 2);
	f.limit = 2;
	CU_ASSERT_EQUAL(initiator_ublk_queue_flush(&q), 1);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[1])->tag, 0); /* FIFO order */
	f.limit = 16;
	CU_ASSERT_EQUAL(initiator_ublk_queue_flush(&q), 0);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[2])->tag, 2);
	CU_ASSERT_EQUAL(cmd_of(&f.sqes[2])->result, 512);

	/* STOP_DEV: every armed tag comes back with -ENODEV. */
	for (uint16_t t = 0; t < DEPTH; t++) {
		CU_ASSERT_FALSE(initiator_ublk_queue_done(&q));
		c = cqe_for(&q, t, -ENODEV);
		CU_ASSERT_EQUAL(initiator_ublk_queue_cqe(&q, &c), 0);
	}
	CU_ASSERT_TRUE(initiator_ublk_queue_done(&q));
}

static const struct unit_test host_tests[] = {
    {"available() is -ENOENT without ublk_drv", test_available_enoent},
    {"dev_new/recover/get_features are -ENOENT without ublk_drv", test_dev_new_enoent},
    {"dev_new rejects bad parameters with -EINVAL", test_params_invalid},
    {NULL, NULL},
};

static const struct unit_test datapath_tests[] = {
    {"FETCH_REQ encoding and -ENOBUFS resume", test_fetch_encoding},
    {"request decoding and COMMIT_AND_FETCH results", test_request_and_commit},
    {"unknown ops, oversize I/O, caller refusal", test_invalid_ops},
    {"deferred commits in FIFO order, abort retires tags", test_defer_and_abort},
    {NULL, NULL},
};

int
main(void)
{
	static const struct unit_suite suites[] = {
	    {"ublk control plane (host)", host_tests},
	    {"ublk datapath", datapath_tests},
	    {NULL, NULL},
	};
	return unit_run(suites);
}
