/*
 * netreserve rings: setup (control plane) and the dispatch loop (datapath).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <unistd.h>

#include "common/compiler.h"
#include "netreserve/compat.h"
#include "netreserve/internal.h"
#include "netreserve/protect.h"
#include "netreserve/ring.h"

#include "common/datapath.h"

/* CQEs reaped per batch (copied out so that the CQ slot is free while handlers run). */
#define NR_BATCH 64

static void
probe_features(struct netreserve_ring *r, const struct io_uring_params *p)
{
	struct netreserve_features *f = &r->feat;
	struct io_uring_probe *pr;

	f->features = p->features;
	f->setup_flags = p->flags;
	f->sq_entries = p->sq_entries;
	f->cq_entries = p->cq_entries;
	f->defer_taskrun = p->flags & IORING_SETUP_DEFER_TASKRUN;
	f->bundle = p->features & IORING_FEAT_RECVSEND_BUNDLE;
	f->pbuf_ring = true;  /* our buffer rings registered, or setup failed before this */

	pr = io_uring_get_probe_ring(&r->uring);
	if (pr) {
		f->last_op = pr->last_op;
		f->recv_multishot = io_uring_opcode_supported(pr, IORING_OP_RECV);
		f->send_zc = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
		f->sendmsg_zc = io_uring_opcode_supported(pr, IORING_OP_SENDMSG_ZC);
		io_uring_free_probe(pr);
	}

	/* PBUF_STATUS: ask for the head of our slot 0 buffer ring. */
	struct netreserve_uring_buf_status bs = { .buf_group = 0 };
	f->pbuf_status = syscall(__NR_io_uring_register, r->uring.ring_fd,
				 NETRESERVE_REGISTER_PBUF_STATUS, &bs, 1) == 0;

	/* INC: a trial registration on a spare group id. */
	void *page = mmap(NULL, NR_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	if (page != MAP_FAILED) {
		struct io_uring_buf_reg reg = {
			.ring_addr = (unsigned long)page,
			.ring_entries = 2,
			.bgid = 0xfffe,
		};
		reg.pad = IOU_PBUF_RING_INC;  /* 2.3's pad is the kernel's flags */
		io_uring_buf_ring_init(page);
		if (io_uring_register_buf_ring(&r->uring, &reg, 0) == 0) {
			f->pbuf_inc = true;
			io_uring_unregister_buf_ring(&r->uring, 0xfffe);
		}
		munmap(page, NR_PAGE);
	}

	/* NAPI: register with busy_poll_to 0, then unregister. */
	struct netreserve_uring_napi napi = { 0 };
	if (syscall(__NR_io_uring_register, r->uring.ring_fd, NETRESERVE_REGISTER_NAPI, &napi, 1) == 0) {
		f->napi = true;
		syscall(__NR_io_uring_register, r->uring.ring_fd, NETRESERVE_UNREGISTER_NAPI, &napi, 1);
	}
}

int
netreserve_features_format(const struct netreserve_features *f, char *buf, size_t len)
{
	return snprintf(buf, len,
			"features=%#x setup=%#x sq=%u cq=%u last_op=%u defer_taskrun=%d "
			"recv_multishot=%d send_zc=%d sendmsg_zc=%d pbuf_ring=%d bundle=%d "
			"pbuf_inc=%d pbuf_status=%d napi=%d ring_fd_registered=%d "
			"arena_registered=%d arena_memlock_charged=%d arena_err=%d",
			f->features, f->setup_flags, f->sq_entries, f->cq_entries, f->last_op,
			f->defer_taskrun, f->recv_multishot, f->send_zc, f->sendmsg_zc, f->pbuf_ring,
			f->bundle, f->pbuf_inc, f->pbuf_status, f->napi, f->ring_fd_registered,
			f->arena_registered, f->arena_memlock_charged, f->arena_err);
}

static int
setup_bufrings(struct netreserve_ring *r, const struct nr_layout *l)
{
	char *base = r->map;
	uint32_t nrx = r->cfg.rx_bufs, rsz = r->cfg.rx_buf_size;

	for (uint32_t s = 0; s < r->cfg.max_conns; s++) {
		struct netreserve_conn *c = &r->conns[s];
		c->br = (struct io_uring_buf_ring *)(base + l->bufrings + s * l->bufring_stride);
		c->rx_base = base + l->rxbufs + (size_t)s * nrx * rsz;
		io_uring_buf_ring_init(c->br);
		for (uint32_t b = 0; b < nrx; b++)
			io_uring_buf_ring_add(c->br, c->rx_base + (size_t)b * rsz, rsz, (uint16_t)b,
					      (int)r->rx_mask, (int)b);
		io_uring_buf_ring_advance(c->br, (int)nrx);
		struct io_uring_buf_reg reg = {
			.ring_addr = (unsigned long)c->br,
			.ring_entries = nrx,
			.bgid = (uint16_t)s,
		};
		int ret = io_uring_register_buf_ring(&r->uring, &reg, 0);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void
arm_wake(struct netreserve_ring *r)
{
	if (r->wake_armed || r->wake_fd < 0)
		return;
	struct io_uring_sqe *sqe = nr_ring_sqe(r, netreserve_ud(NR_KIND_WAKE, 0, 0, 0));
	if (!sqe)
		return;
	io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof(r->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, netreserve_ud(NR_KIND_WAKE, 0, 0, 0));
	r->wake_armed = true;
}

/* Fills io_uring's request caches at peak concurrency: one burst of NOPs, reaped. */
static int
warm_up(struct netreserve_ring *r)
{
	unsigned int n = MIN(r->feat.sq_entries, r->feat.cq_entries / 2);
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
		if (!sqe)
			break;
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, netreserve_ud(NR_KIND_NONE, 0, 0, 0));
	}
	int ret = io_uring_submit_and_wait(&r->uring, n);
	if (ret < 0)
		return ret;
	/* anything else in flight (the wake read) stays; drain the NOP completions */
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;
	io_uring_for_each_cqe(&r->uring, head, cqe)
		seen++;
	io_uring_cq_advance(&r->uring, seen);
	return 0;
}

int
netreserve_ring_new(const struct netreserve_config *cfg_in, struct netreserve_ring **out)
{
	struct netreserve_config cfg = *cfg_in;
	struct netreserve_ring_stats *rst = NULL;
	struct netreserve_conn_stats *cst = NULL;
	struct nr_layout l;
	int ret;

	*out = NULL;
	if (nr_config_normalise(&cfg) < 0 || nr_layout(&cfg, &l) < 0)
		return -EINVAL;
	/* A CQ that cannot be sized to its bound could overflow: refuse the config. */
	if (!netreserve_cq_entries(&cfg) || !netreserve_sq_entries(&cfg))
		return -EINVAL;
	if (sysconf(_SC_PAGESIZE) != NR_PAGE)
		return -EINVAL;
	if (cfg.stats) {
		ret = netreserve_stats_claim(cfg.stats, cfg.max_conns, &rst, &cst);
		if (ret < 0)
			return ret;
	}

	int lock_err; /* refusal ignored: mlockall is the primary lock */
	void *map = nr_map_locked(l.total, false, &lock_err);
	if (!map)
		return -ENOMEM;

	struct netreserve_ring *r = map;
	r->map = map;
	r->map_len = l.total;
	r->cfg = cfg;
	r->st = rst ? rst : &r->own_st;
	r->conns = (struct netreserve_conn *)((char *)map + l.conns);
	r->free_slots = (uint32_t *)((char *)map + l.free_slots);
	r->rx_mask = (uint32_t)io_uring_buf_ring_mask(cfg.rx_bufs);
	r->wake_fd = -1;
	struct nr_held *held = (struct nr_held *)((char *)map + l.held);
	struct iovec *iov = (struct iovec *)((char *)map + l.iov);
	struct netreserve_conn_stats *own_cst =
		(struct netreserve_conn_stats *)((char *)map + l.conn_stats);
	for (uint32_t s = 0; s < cfg.max_conns; s++) {
		struct netreserve_conn *c = &r->conns[s];
		c->ring = r;
		c->slot = s;
		c->fd = -1;
		c->held = held + (size_t)s * cfg.rx_bufs;
		c->iov = iov + (size_t)s * NETRESERVE_CONN_IOV;
		c->st = cst ? &cst[s] : &own_cst[s];
		r->free_slots[cfg.max_conns - 1 - s] = s;
	}
	r->nfree = cfg.max_conns;

	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	if (!(cfg.flags & NETRESERVE_F_NO_DEFER))
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = netreserve_cq_entries(&cfg);
	ret = io_uring_queue_init_params(netreserve_sq_entries(&cfg), &r->uring, &p);
	if (ret < 0)
		goto fail;
	r->uring_up = true;
	r->last_koverflow = *r->uring.cq.koverflow;
	if (!(cfg.flags & NETRESERVE_F_NO_REGISTER_FD))
		r->feat.ring_fd_registered = io_uring_register_ring_fd(&r->uring) == 1;

	ret = setup_bufrings(r, &l);
	if (ret < 0)
		goto fail;
	probe_features(r, &p);
	r->feat.ring_fd_registered = r->uring.enter_ring_fd != r->uring.ring_fd;

	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (!(cfg.flags & NETRESERVE_F_NO_WARMUP)) {
		ret = warm_up(r);
		if (ret < 0)
			goto fail;
	}
	arm_wake(r);
	ret = io_uring_submit(&r->uring);
	if (ret < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	netreserve_ring_free(r);
	return ret;
}

void
netreserve_ring_free(struct netreserve_ring *r)
{
	if (!r)
		return;
	if (r->uring_up) {
		for (uint32_t s = 0; s < r->cfg.max_conns; s++)
			nr_conn_abort(&r->conns[s]);
		/* io_uring_queue_exit cancels whatever is still in flight and waits for it */
		io_uring_queue_exit(&r->uring);
	}
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	munmap(r->map, r->map_len);
}

const struct netreserve_features *
netreserve_ring_features(const struct netreserve_ring *r)
{
	return &r->feat;
}

const struct netreserve_ring_stats *
netreserve_ring_stats(const struct netreserve_ring *r)
{
	return r->st;
}

size_t
netreserve_ring_mem(const struct netreserve_ring *r)
{
	return r->map_len;
}

struct io_uring *
netreserve_ring_uring(struct netreserve_ring *r)
{
	return &r->uring;
}

int
netreserve_ring_fd(const struct netreserve_ring *r)
{
	return r->uring.ring_fd;
}

int
netreserve_ring_register_arena(struct netreserve_ring *r, const struct netreserve_arena *a)
{
	if (r->arena)
		return -EBUSY;
	if (!a->base || !a->nbufs)
		return -EINVAL;
	if (a->nbufs > 16384)
		return -E2BIG;
	size_t len = ALIGN_UP(a->nbufs * sizeof(struct iovec), (size_t)NR_PAGE);
	struct iovec *iov = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);
	if (iov == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->nbufs; i++) {
		iov[i].iov_base = netreserve_arena_buf(a, i);
		iov[i].iov_len = a->buf_size;
	}
	int ret = io_uring_register_buffers(&r->uring, iov, a->nbufs);
	munmap(iov, len);
	r->feat.arena_err = ret;
	if (ret < 0)
		return ret;
	r->arena = a;
	r->feat.arena_registered = true;
	r->feat.arena_memlock_charged = !netreserve_have_cap(CAP_IPC_LOCK);
	return 0;
}

int
netreserve_ring_set_handler(struct netreserve_ring *r, unsigned int kind,
			    void (*fn)(struct netreserve_ring *r, const struct io_uring_cqe *cqe,
				       void *ctx),
			    void *ctx)
{
	if (kind < NETRESERVE_KIND_USER || kind > NETRESERVE_KIND_MAX)
		return -EINVAL;
	r->handlers[kind].fn = fn;
	r->handlers[kind].ctx = ctx;
	return 0;
}

void
netreserve_ring_set_wake(struct netreserve_ring *r, void (*fn)(struct netreserve_ring *r, void *ctx),
			 void *ctx)
{
	r->wake_fn = fn;
	r->wake_ctx = ctx;
}

struct io_uring_sqe *
netreserve_ring_sqe(struct netreserve_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	if (likely(sqe))
		return sqe;
	r->st->sq_full++;
	int ret = io_uring_submit(&r->uring);
	if (ret > 0)
		r->st->sqes += (uint64_t)ret;
	r->st->enters++;
	sqe = io_uring_get_sqe(&r->uring);
	if (!sqe)
		r->st->sqe_fail++;
	return sqe;
}

struct io_uring_sqe *
nr_ring_sqe(struct netreserve_ring *r, uint64_t ud)
{
	struct io_uring_sqe *sqe = netreserve_ring_sqe(r);
	if (sqe)
		io_uring_sqe_set_data64(sqe, ud);
	return sqe;
}

void
netreserve_ring_wake(struct netreserve_ring *r)
{
	uint64_t one = 1;
	/* eventfd write never blocks with a counter far below its limit; coalesces */
	ssize_t n = write(r->wake_fd, &one, sizeof(one));
	(void)n;
}

void
netreserve_ring_stop(struct netreserve_ring *r)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	netreserve_ring_wake(r);
}

static void
wake_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe)
{
	r->wake_armed = false;
	r->st->wakeups++;
	if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -EINTR)
		return;  /* eventfd broken (ring teardown): do not re-arm */
	arm_wake(r);
	if (r->wake_fn)
		r->wake_fn(r, r->wake_ctx);
}

static void
dispatch(struct netreserve_ring *r, const struct io_uring_cqe *cqe)
{
	unsigned int kind = netreserve_ud_kind(cqe->user_data);

	r->st->cqes++;
	switch (kind) {
	case NR_KIND_NONE:
		return;
	case NR_KIND_RECV:
	case NR_KIND_SEND:
	case NR_KIND_SENDZC:
	case NR_KIND_CANCEL:
	case NR_KIND_CLOSE:
	case NR_KIND_RETRY:
		nr_conn_cqe(r, cqe);
		return;
	case NR_KIND_WAKE:
		wake_cqe(r, cqe);
		return;
	default:
		if (r->handlers[kind].fn)
			r->handlers[kind].fn(r, cqe, r->handlers[kind].ctx);
		else
			r->st->unknown_cqes++;
	}
}

static void
check_overflow(struct netreserve_ring *r)
{
	unsigned int ko = IO_URING_READ_ONCE(*r->uring.cq.koverflow);
	if (unlikely(ko != r->last_koverflow)) {
		r->st->cq_overflow += ko - r->last_koverflow;
		r->last_koverflow = ko;
	}
	if (unlikely(IO_URING_READ_ONCE(*r->uring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		r->st->cq_overflow_flag++;
}

/* Dispatches every CQE currently in the CQ. Returns how many. */
static int
reap(struct netreserve_ring *r)
{
	struct io_uring_cqe *ptrs[NR_BATCH];
	struct io_uring_cqe local[NR_BATCH];
	int total = 0;

	check_overflow(r);
	for (;;) {
		unsigned int n = io_uring_peek_batch_cqe(&r->uring, ptrs, NR_BATCH);
		if (!n)
			break;
		for (unsigned int i = 0; i < n; i++)
			local[i] = *ptrs[i];
		io_uring_cq_advance(&r->uring, n);
		for (unsigned int i = 0; i < n; i++)
			dispatch(r, &local[i]);
		total += (int)n;
	}
	return total;
}

/* Closes deferred for want of an SQE: retried from the loop, never from a callback. */
static inline void
retry_closes(struct netreserve_ring *r)
{
	if (unlikely(r->close_retry))
		nr_conn_retry_closes(r);
}

static int
enter_result(struct netreserve_ring *r, int ret)
{
	r->st->enters++;
	if (ret >= 0) {
		r->st->sqes += (uint64_t)ret;
		return 0;
	}
	if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY || ret == -ETIME)
		return 0;
	return ret;
}

int
netreserve_ring_poll(struct netreserve_ring *r)
{
	int total = 0;

	r->st->loops++;
	/* a few rounds: handlers' SQEs often complete inline (task work) */
	for (int round = 0; round < 4; round++) {
		int ret = enter_result(r, io_uring_submit_and_get_events(&r->uring));
		if (ret < 0)
			return ret;
		int n = reap(r);
		total += n;
		retry_closes(r);
		if (!n && !io_uring_sq_ready(&r->uring))
			break;
	}
	if (io_uring_sq_ready(&r->uring)) {
		int ret = enter_result(r, io_uring_submit(&r->uring));
		if (ret < 0)
			return ret;
	}
	return total;
}

int
netreserve_ring_wait(struct netreserve_ring *r, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	int ret;

	r->st->loops++;
	if (io_uring_cq_ready(&r->uring))
		ret = io_uring_submit_and_get_events(&r->uring);
	else
		ret = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1,
						       timeout_ms < 0 ? NULL : &ts, NULL);
	ret = enter_result(r, ret);
	if (ret < 0)
		return ret;
	int n = reap(r);
	retry_closes(r);
	if (io_uring_sq_ready(&r->uring)) {
		ret = enter_result(r, io_uring_submit(&r->uring));
		if (ret < 0)
			return ret;
	}
	return n;
}

int
netreserve_ring_run(struct netreserve_ring *r)
{
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		r->st->loops++;
		retry_closes(r);
		int ret = enter_result(r, io_uring_submit_and_wait(&r->uring, 1));
		if (ret < 0)
			return ret;
		reap(r);
	}
	__atomic_store_n(&r->stop, 0, __ATOMIC_RELAXED);
	return 0;
}
