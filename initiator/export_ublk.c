/*
 * ublk exports: LUN -> ublk device, ublk requests -> session tasks. The state of every device
 * (request records, the FIFO of requests waiting for a slot, the slots' own data pointers) is
 * mapped once by initiator_ublk_exports_new(); nothing here allocates afterwards. The
 * START_DEV/STOP_DEV helper threads are the only other threads; they touch nothing but their
 * device's control ring and a done flag.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "initiator/export.h"
#include "initiator/export_ublk.h"
#include "initiator/nbd.h"
#include "initiator/ublk.h"

#include "common/datapath.h"

enum ux_state {
	UX_FAILED = 0, /* never made, or START failed */
	UX_CREATED,    /* device and queue made, not started */
	UX_STARTING,   /* START_DEV helper running */
	UX_LIVE,       /* /dev/ublkbN serves */
	UX_STOPPING,   /* STOP_DEV helper running or queue not yet done */
	UX_STOPPED,    /* STOP_DEV returned and every tag was aborted */
};

static const char *const state_names[] = { "failed", "created", "starting",
					   "live",   "stopping", "stopped" };

enum ux_helper_op {
	UX_HELPER_START,
	UX_HELPER_STOP,
};

/* What a request needs while it waits for a task slot (the tag's buffer stays the kernel's). */
struct ux_req {
	uint64_t offset;
	uint32_t length;
	uint32_t flags;
	uint8_t op;
};

struct ux_stats {
	uint64_t requests, reads, writes, flushes, discards, zeroes, errors, slot_waits;
};

struct ux_dev {
	struct initiator_ublk_exports *x;
	const struct initiator_ublk_spec *spec;
	const struct initiator_lun *lun;
	struct initiator_ublk_dev *dev;
	struct initiator_ublk_queue *q;
	unsigned int kind;
	int id;
	uint16_t depth;
	uint8_t state;
	bool recovered;
	bool swap;		/* /dev/ublkbN (or a partition) is an active swap area */
	bool stop_ok;	   /* STOP_DEV succeeded: DEL_DEV at free */
	bool start_failed; /* START failed with the queue armed: stop it at shutdown */
	uint64_t size;
	uint32_t block;
	uint32_t max_io;
	uint64_t flags;
	char err[192];
	/* helper thread (START_DEV / STOP_DEV) */
	pthread_t helper;
	bool helper_running; /* created and not joined (owner thread only) */
	uint8_t helper_op;
	int helper_rc;	     /* written by the helper before helper_done */
	int helper_done;     /* atomic */
	/* per tag, mapped at setup */
	struct ux_req *reqs;
	void **own_data; /* the task slot's own buffer, restored before the put */
	uint16_t *wait;	 /* FIFO of tags waiting for a task slot */
	size_t map_len;
	uint32_t wait_head, wait_count;
	struct ux_stats st;
};

struct initiator_ublk_exports {
	struct initiator_ublk_exports_config ec;
	struct ux_dev devs[INITIATOR_MAX_UBLK];
	size_t ndevs;
};

/* ---- datapath ------------------------------------------------------------------------------- */

static void
task_done(struct initiator_task *t, uint32_t err)
{
	struct ux_dev *u = t->owner;
	uint16_t tag = (uint16_t)t->owner_gen;

	t->data = u->own_data[tag];
	initiator_session_task_put(u->x->ec.sess, t);
	if (err)
		u->st.errors++;
	/* NBD error values are Linux errno values; -ENOBUFS: committed by _run() */
	initiator_ublk_complete(u->q, tag, err ? -(int)err : 0);
}

/*
 * Turn request @tag into a session task. Returns 0 when submitted, -ENOBUFS when no task slot
 * is free (the request waits), or -errno to fail the request.
 */
static int
start_task(struct ux_dev *u, uint16_t tag)
{
	const struct ux_req *rq = &u->reqs[tag];
	struct initiator_session *s = u->x->ec.sess;
	enum initiator_op op;

	switch (rq->op) {
	case INITIATOR_UBLK_OP_READ:
		op = INITIATOR_OP_READ;
		break;
	case INITIATOR_UBLK_OP_WRITE:
		op = INITIATOR_OP_WRITE;
		break;
	case INITIATOR_UBLK_OP_FLUSH:
		op = INITIATOR_OP_FLUSH;
		break;
	case INITIATOR_UBLK_OP_DISCARD:
		if (!u->lun->can_unmap)
			return -EOPNOTSUPP;
		op = INITIATOR_OP_TRIM;
		break;
	case INITIATOR_UBLK_OP_WRITE_ZEROES:
		op = INITIATOR_OP_ZERO;
		break;
	default:
		return -EOPNOTSUPP;
	}
	struct initiator_task *t = initiator_session_task_get(
		s, op == INITIATOR_OP_READ ? NETRESERVE_CLASS_READ : NETRESERVE_CLASS_WRITEBACK);
	if (!t)
		return -ENOBUFS;
	t->owner = u;
	t->owner_gen = tag;
	t->lun = u->lun;
	t->op = op;
	t->offset = rq->offset;
	t->length = rq->length;
	t->fua = (rq->flags & INITIATOR_UBLK_F_FUA) != 0;
	t->no_hole = op == INITIATOR_OP_ZERO && (rq->flags & INITIATOR_UBLK_F_NOUNMAP);
	t->done = task_done;
	u->own_data[tag] = t->data;
	/*
	 * READ and WRITE move their data straight through the tag's buffer (max_io bytes, at
	 * least the request). TRIM and ZERO build their parameter data in the slot's own buffer.
	 */
	if (op == INITIATOR_OP_READ || op == INITIATOR_OP_WRITE)
		t->data = initiator_ublk_queue_buf(u->q, tag);
	else if (op == INITIATOR_OP_FLUSH)
		t->offset = t->length = 0; /* SYNCHRONIZE CACHE of the whole medium */
	initiator_session_submit(s, t);
	return 0;
}

static int
ux_submit(void *ctx, struct initiator_ublk_queue *q, const struct initiator_ublk_request *req)
{
	struct ux_dev *u = ctx;
	struct ux_req *rq = &u->reqs[req->tag];
	int r;

	(void)q;
	rq->op = req->op;
	rq->flags = req->flags;
	rq->offset = req->offset;
	rq->length = req->length;
	u->st.requests++;
	switch (req->op) {
	case INITIATOR_UBLK_OP_READ:
		u->st.reads++;
		break;
	case INITIATOR_UBLK_OP_WRITE:
		u->st.writes++;
		break;
	case INITIATOR_UBLK_OP_FLUSH:
		u->st.flushes++;
		break;
	case INITIATOR_UBLK_OP_DISCARD:
		u->st.discards++;
		break;
	case INITIATOR_UBLK_OP_WRITE_ZEROES:
		u->st.zeroes++;
		break;
	default:
		break;
	}
	/* keep arrival order behind requests already waiting */
	r = u->wait_count ? -ENOBUFS : start_task(u, req->tag);
	if (r == -ENOBUFS) {
		u->wait[(u->wait_head + u->wait_count) % u->depth] = req->tag;
		u->wait_count++;
		u->st.slot_waits++;
		return 0;
	}
	if (r < 0)
		u->st.errors++;
	return r;
}

static struct io_uring_sqe *
ux_get_sqe(void *ctx)
{
	struct ux_dev *u = ctx;

	return netreserve_ring_sqe(u->x->ec.ring);
}

static const struct initiator_ublk_queue_ops ux_ops = {
	.submit = ux_submit,
	.get_sqe = ux_get_sqe,
};

static void
ux_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	struct ux_dev *u = ctx;

	(void)r;
	if (!u->q)
		return;
	initiator_ublk_queue_cqe(u->q, cqe);
	initiator_ublk_queue_flush(u->q);
}

static void
run_dev(struct ux_dev *u)
{
	while (u->wait_count) {
		uint16_t tag = u->wait[u->wait_head];
		int r = start_task(u, tag);
		if (r == -ENOBUFS)
			break;
		u->wait_head = (u->wait_head + 1) % u->depth;
		u->wait_count--;
		if (r < 0) {
			u->st.errors++;
			initiator_ublk_complete(u->q, tag, r);
		}
	}
	initiator_ublk_queue_flush(u->q);
}

void
initiator_ublk_exports_run(struct initiator_ublk_exports *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->ndevs; i++)
		if (x->devs[i].q && x->devs[i].state != UX_FAILED)
			run_dev(&x->devs[i]);
		else if (x->devs[i].q && x->devs[i].start_failed)
			initiator_ublk_queue_flush(x->devs[i].q);
}

/* ---- control plane -------------------------------------------------------------------------- */

static size_t
page_round(size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t p = page > 0 ? (size_t)page : 4096;

	return (n + p - 1) / p * p;
}

static size_t
dev_state_bytes(uint32_t depth)
{
	return page_round((size_t)depth * (sizeof(struct ux_req) + sizeof(void *) + sizeof(uint16_t)));
}

uint64_t
initiator_ublk_exports_reserve_bytes(const struct initiator_config *cfg, uint32_t slots)
{
	if (!cfg->nublk)
		return 0;
	uint64_t per = (uint64_t)slots * cfg->max_io + dev_state_bytes(slots);
	return page_round(sizeof(struct initiator_ublk_exports)) + per * cfg->nublk;
}

uint32_t
initiator_ublk_exports_cqes(const struct initiator_config *cfg, uint32_t slots)
{
	return (uint32_t)cfg->nublk * slots;
}

static bool
pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static const struct initiator_lun *
pick_lun(const struct initiator_ublk_exports_config *ec, int64_t want)
{
	if (want < 0)
		want = ec->cfg->lun;
	if (want < 0)
		return ec->nluns ? &ec->luns[0] : NULL;
	for (size_t i = 0; i < ec->nluns; i++)
		if ((int64_t)ec->luns[i].info.lun == want)
			return &ec->luns[i];
	return NULL;
}

/* The device parameters for lun. Returns 0 or -EINVAL with u->err set. */
static int
params_for_lun(struct ux_dev *u, const struct initiator_ublk_exports_config *ec,
	       struct initiator_ublk_params *p)
{
	const struct initiator_lun *lun = u->lun;
	const struct initiator_lun_info *li = &lun->info;
	uint32_t bs = li->block_size;
	size_t page = page_round(1);

	memset(p, 0, sizeof(*p));
	if (bs < 512 || bs > 4096 || !pow2(bs)) {
		snprintf(u->err, sizeof(u->err),
			 "lun %llu: block size %u is not one ublk can serve (512..4096)",
			 (unsigned long long)li->lun, bs);
		return -EINVAL;
	}
	if (ec->slots < 1 || ec->slots > INITIATOR_UBLK_MAX_DEPTH) {
		snprintf(u->err, sizeof(u->err), "queue depth %u out of range", ec->slots);
		return -EINVAL;
	}
	p->dev_id = u->spec->dev_id;
	p->nr_queues = 1;
	p->queue_depth = (uint16_t)ec->slots;
	/* one request = one SCSI command where the target's limit allows (VPD B0) */
	uint64_t mio = MIN((uint64_t)ec->cfg->max_io, (uint64_t)lun->max_xfer_blocks * bs);
	mio = mio / page * page;
	p->max_io_bytes = (uint32_t)MAX(mio, (uint64_t)page);
	p->size = li->nblocks * bs;
	p->logical_block = bs;
	p->physical_block = pow2(li->phys_block_size) && li->phys_block_size >= bs &&
					    li->phys_block_size <= 65536
				    ? li->phys_block_size
				    : bs;
	uint64_t opt = (uint64_t)li->opt_transfer * bs;
	if (pow2(opt) && opt <= p->max_io_bytes && opt >= bs)
		p->io_opt = (uint32_t)opt;
	p->read_only = li->read_only;
	p->rotational = false;
	p->volatile_cache = li->wce;
	p->fua = lun->accept_fua;
	if (lun->can_unmap) {
		uint64_t g = (uint64_t)li->unmap_granularity * bs;
		p->max_discard_bytes =
			(uint32_t)MIN((uint64_t)lun->max_unmap_blocks * bs, (uint64_t)(1u << 30));
		p->discard_granularity = pow2(g) && g <= (1u << 30) ? (uint32_t)g : bs;
	}
	p->max_write_zeroes_bytes =
		(uint32_t)MIN((uint64_t)lun->max_ws_blocks * bs, (uint64_t)(1u << 30));
	p->recovery = ec->cfg->ublk_recovery;
	return 0;
}

static int
map_dev_state(struct ux_dev *u)
{
	size_t len = dev_state_bytes(u->depth);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	memset(m, 0, len);
	u->map_len = len;
	u->reqs = m;
	u->own_data = (void **)((char *)m + (size_t)u->depth * sizeof(struct ux_req));
	u->wait = (uint16_t *)((char *)u->own_data + (size_t)u->depth * sizeof(void *));
	return 0;
}

/* Take over device u->spec->dev_id after its server died. Returns 0 or -errno with u->err. */
static int
recover_dev(struct ux_dev *u, const struct initiator_ublk_exports_config *ec)
{
	int id = u->spec->dev_id;
	int r = initiator_ublk_dev_recover(id, ec->cfg->ublk_recover_timeout * 1000, &u->dev);

	if (r == -EOPNOTSUPP) {
		snprintf(u->err, sizeof(u->err),
			 "/dev/ublkc%d exists and was made without user recovery; "
			 "delete it or pick another id",
			 id);
		return r;
	}
	if (r == -ETIMEDOUT) {
		snprintf(u->err, sizeof(u->err),
			 "/dev/ublkc%d exists and is still served by another process "
			 "(not quiesced after %d s)",
			 id, ec->cfg->ublk_recover_timeout);
		return r;
	}
	if (r < 0) {
		snprintf(u->err, sizeof(u->err), "cannot recover /dev/ublkc%d: %s", id,
			 strerror(-r));
		return r;
	}
	const struct initiator_ublk_params *p = initiator_ublk_dev_params(u->dev);
	const struct initiator_lun_info *li = &u->lun->info;
	if (p->size != li->nblocks * li->block_size || p->logical_block != li->block_size) {
		snprintf(u->err, sizeof(u->err),
			 "/dev/ublkb%d (%llu bytes, %u-byte blocks) was made for another LUN than "
			 "lun %llu (%llu bytes, %u-byte blocks); left for its own server",
			 id, (unsigned long long)p->size, p->logical_block,
			 (unsigned long long)li->lun,
			 (unsigned long long)(li->nblocks * li->block_size), li->block_size);
		return -EINVAL;
	}
	if (p->nr_queues != 1 || p->queue_depth > ec->slots || p->max_io_bytes > ec->cfg->max_io) {
		snprintf(u->err, sizeof(u->err),
			 "/dev/ublkb%d has %u queue(s) of depth %u and %u-byte requests; this "
			 "daemon serves 1 queue of at most %u tags of at most %u bytes",
			 id, p->nr_queues, p->queue_depth, p->max_io_bytes, ec->slots,
			 ec->cfg->max_io);
		return -EINVAL;
	}
	u->recovered = true;
	return 0;
}

static int
make_dev(struct ux_dev *u, const struct initiator_ublk_exports_config *ec)
{
	struct initiator_ublk_params p;
	int r;

	r = params_for_lun(u, ec, &p);
	if (r)
		return r;
	r = initiator_ublk_dev_new(&p, &u->dev);
	if (r == -EEXIST && u->spec->dev_id >= 0) {
		log_notice("ublk: /dev/ublkc%d exists: taking it over (user recovery)",
			   u->spec->dev_id);
		r = recover_dev(u, ec);
	} else if (r == -EEXIST) {
		snprintf(u->err, sizeof(u->err), "ADD_DEV: %s", strerror(-r));
	} else if (r == -EINVAL) {
		snprintf(u->err, sizeof(u->err),
			 "ADD_DEV/SET_PARAMS refused the parameters (depth %u, max_io %u, size %llu, "
			 "block %u)",
			 p.queue_depth, p.max_io_bytes, (unsigned long long)p.size, p.logical_block);
	} else if (r < 0) {
		snprintf(u->err, sizeof(u->err), "ADD_DEV: %s", strerror(-r));
	}
	if (r)
		return r;
	const struct initiator_ublk_params *dp = initiator_ublk_dev_params(u->dev);
	u->id = initiator_ublk_dev_id(u->dev);
	u->depth = dp->queue_depth;
	u->size = dp->size;
	u->block = dp->logical_block;
	u->max_io = dp->max_io_bytes;
	u->flags = initiator_ublk_dev_flags(u->dev);
	r = map_dev_state(u);
	if (r) {
		snprintf(u->err, sizeof(u->err), "cannot map the request state: %s", strerror(-r));
		return r;
	}
	r = initiator_ublk_queue_new(u->dev, 0, &ux_ops, u, u->kind, ec->cfg->mlock, &u->q);
	if (r) {
		snprintf(u->err, sizeof(u->err), "queue: %s (%u tags of %u bytes)", strerror(-r),
			 u->depth, u->max_io);
		return r;
	}
	r = netreserve_ring_set_handler(ec->ring, u->kind, ux_cqe, u);
	if (r) {
		snprintf(u->err, sizeof(u->err), "ring handler: %s", strerror(-r));
		return r;
	}
	return 0;
}

/* Undo make_dev after a failure: the device is deleted unless it was recovered. */
static void
unmake_dev(struct ux_dev *u)
{
	initiator_ublk_queue_free(u->q);
	u->q = NULL;
	if (u->dev && !u->recovered)
		initiator_ublk_dev_del(u->dev);
	initiator_ublk_dev_free(u->dev);
	u->dev = NULL;
	if (u->map_len)
		munmap(u->reqs, u->map_len);
	u->map_len = 0;
}

int
initiator_ublk_exports_new(const struct initiator_ublk_exports_config *ec,
			   struct initiator_ublk_exports **out, char *msg, size_t msg_size)
{
	const struct initiator_config *cfg = ec->cfg;
	char why[192];

	if (cfg->nublk > INITIATOR_MAX_UBLK) {
		snprintf(msg, msg_size, "too many ublk exports");
		return -EINVAL;
	}
	size_t len = page_round(sizeof(struct initiator_ublk_exports));
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (m == MAP_FAILED) {
		snprintf(msg, msg_size, "cannot map the ublk export state");
		return -ENOMEM;
	}
	struct initiator_ublk_exports *x = m;
	memset(x, 0, sizeof(*x));
	x->ec = *ec;
	x->ndevs = cfg->nublk;
	int avail = initiator_ublk_available(why, sizeof(why));
	for (size_t i = 0; i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];
		u->x = x;
		u->spec = &cfg->ublk[i];
		u->kind = INITIATOR_KIND_UBLK_BASE + (unsigned int)i;
		u->id = u->spec->dev_id;
		u->state = UX_FAILED;
		u->lun = pick_lun(ec, u->spec->lun);
		if (!u->lun) {
			snprintf(u->err, sizeof(u->err), "no such LUN");
		} else if (avail < 0) {
			snprintf(u->err, sizeof(u->err), "%s", why);
		} else if (make_dev(u, ec) == 0) {
			u->state = UX_CREATED;
			log_info("ublk %s: /dev/ublkc%d for lun %llu: %llu bytes, %u-byte blocks, "
				 "depth %u, max_io %u, flags 0x%llx%s",
				 u->spec->spec, u->id, (unsigned long long)u->lun->info.lun,
				 (unsigned long long)u->size, u->block, u->depth, u->max_io,
				 (unsigned long long)u->flags,
				 u->recovered ? " (recovering)" : "");
			continue;
		} else {
			unmake_dev(u);
		}
		log_err("--ublk %s: %s", u->spec->spec, u->err);
	}
	*out = x;
	return 0;
}

unsigned int
initiator_ublk_exports_count(const struct initiator_ublk_exports *x)
{
	unsigned int n = 0;

	for (size_t i = 0; x && i < x->ndevs; i++)
		n += x->devs[i].state != UX_FAILED;
	return n;
}

static void *
helper_main(void *arg)
{
	struct ux_dev *u = arg;
	int r;

	if (u->helper_op == UX_HELPER_START)
		r = initiator_ublk_dev_start(u->dev, (int)getpid());
	else
		r = initiator_ublk_dev_stop(u->dev);
	u->helper_rc = r;
	__atomic_store_n(&u->helper_done, 1, __ATOMIC_RELEASE);
	netreserve_ring_wake(u->x->ec.ring);
	return NULL;
}

/* Start the helper thread for op, with every signal blocked (START_DEV waits interruptibly). */
static int
spawn_helper(struct ux_dev *u, enum ux_helper_op op)
{
	sigset_t all, old;
	int r;

	u->helper_op = (uint8_t)op;
	u->helper_rc = 0;
	__atomic_store_n(&u->helper_done, 0, __ATOMIC_RELEASE);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&u->helper, NULL, helper_main, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		u->helper_running = true;
	return r;
}

int
initiator_ublk_exports_start(struct initiator_ublk_exports *x)
{
	for (size_t i = 0; i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];
		int r;

		if (u->state != UX_CREATED)
			continue;
		/* FETCH_REQ for every tag, from this (the serving) thread */
		while ((r = initiator_ublk_queue_start(u->q)) == -ENOBUFS) {
			int p = netreserve_ring_poll(x->ec.ring);
			if (p < 0)
				return p;
		}
		if (r < 0 && r != -EALREADY)
			return r;
		r = netreserve_ring_poll(x->ec.ring);
		if (r < 0)
			return r;
		r = spawn_helper(u, UX_HELPER_START);
		if (r) {
			snprintf(u->err, sizeof(u->err), "cannot start a thread: %s", strerror(-r));
			log_err("--ublk %s: %s", u->spec->spec, u->err);
			u->state = UX_FAILED;
			u->start_failed = true;
			continue;
		}
		u->state = UX_STARTING;
	}
	return 0;
}

bool
initiator_ublk_exports_busy(const struct initiator_ublk_exports *x)
{
	for (size_t i = 0; x && i < x->ndevs; i++)
		if (x->devs[i].helper_running &&
		    !__atomic_load_n(&x->devs[i].helper_done, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

/* Join u's helper if it finished. Returns true when it did (its rc in u->helper_rc). */
static bool
join_helper(struct ux_dev *u)
{
	if (!u->helper_running || !__atomic_load_n(&u->helper_done, __ATOMIC_ACQUIRE))
		return false;
	pthread_join(u->helper, NULL);
	u->helper_running = false;
	return true;
}

int
initiator_ublk_exports_settle(struct initiator_ublk_exports *x)
{
	int live = 0;

	for (size_t i = 0; x && i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];

		if (u->state == UX_STARTING && join_helper(u)) {
			if (u->helper_rc == 0) {
				u->state = UX_LIVE;
				log_notice("ublk /dev/ublkb%d lun %llu: %s (%llu bytes, %u-byte "
					   "blocks, depth %u, max_io %u%s)",
					   u->id, (unsigned long long)u->lun->info.lun,
					   u->recovered ? "recovered" : "started",
					   (unsigned long long)u->size, u->block, u->depth, u->max_io,
					   (u->flags & INITIATOR_UBLK_DEV_F_USER_RECOVERY)
						   ? ", user recovery"
						   : "");
			} else {
				snprintf(u->err, sizeof(u->err), "%s: %s",
					 u->recovered ? "END_USER_RECOVERY" : "START_DEV",
					 strerror(-u->helper_rc));
				log_err("--ublk %s: %s", u->spec->spec, u->err);
				u->state = UX_FAILED;
				u->start_failed = true;
			}
		}
		live += u->state == UX_LIVE;
	}
	return live;
}

int
initiator_ublk_exports_ready_lines(struct initiator_ublk_exports *x, int fd)
{
	for (size_t i = 0; x && i < x->ndevs; i++) {
		const struct ux_dev *u = &x->devs[i];
		char line[96];

		if (u->state != UX_LIVE)
			continue;
		int n = snprintf(line, sizeof(line), "ublk /dev/ublkb%d lun %llu\n", u->id,
				 (unsigned long long)u->lun->info.lun);
		if (write(fd, line, (size_t)n) != n)
			return -errno;
	}
	return 0;
}

int
initiator_ublk_exports_stop(struct initiator_ublk_exports *x)
{
	int ret = 0;

	for (size_t i = 0; x && i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];

		/* a START still running (shutdown during startup) must return first */
		if (u->helper_running) {
			pthread_join(u->helper, NULL);
			u->helper_running = false;
			if (u->state == UX_STARTING)
				u->state = u->helper_rc == 0 ? UX_LIVE : UX_FAILED;
			u->start_failed = u->state == UX_FAILED;
		}
		if (!u->q || (u->state != UX_LIVE && !u->start_failed))
			continue;
		log_info("ublk /dev/ublkb%d: stopping (STOP_DEV)", u->id);
		int r = spawn_helper(u, UX_HELPER_STOP);
		if (r) {
			log_err("ublk /dev/ublkb%d: cannot start a thread: %s", u->id, strerror(-r));
			ret = r;
			continue;
		}
		u->state = UX_STOPPING;
	}
	return ret;
}

bool
initiator_ublk_exports_stopped(struct initiator_ublk_exports *x)
{
	bool all = true;

	for (size_t i = 0; x && i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];

		if (u->state != UX_STOPPING)
			continue;
		if (u->helper_running && !join_helper(u)) {
			all = false;
			continue;
		}
		if (u->helper_op == UX_HELPER_STOP && u->helper_rc < 0) {
			log_err("ublk /dev/ublkb%d: STOP_DEV: %s", u->id, strerror(-u->helper_rc));
			u->helper_op = UX_HELPER_START; /* logged once */
		}
		u->stop_ok = u->helper_rc == 0 || u->stop_ok;
		if (!initiator_ublk_queue_done(u->q)) {
			all = false;
			continue;
		}
		u->state = UX_STOPPED;
	}
	return all;
}

void
initiator_ublk_exports_free(struct initiator_ublk_exports *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];

		if (u->helper_running) {
			/* never returned: the kernel still holds the device; leave it */
			log_err("ublk /dev/ublkb%d: STOP_DEV did not return; leaving the device",
				u->id);
			continue;
		}
		netreserve_ring_set_handler(x->ec.ring, u->kind, NULL, NULL);
		if (u->q && !initiator_ublk_queue_done(u->q) && u->state != UX_CREATED) {
			log_err("ublk /dev/ublkb%d: the kernel still holds %s tags; leaving the "
				"device",
				u->id, "queue");
			continue;
		}
		initiator_ublk_queue_free(u->q);
		u->q = NULL;
		if (u->dev && (u->state == UX_STOPPED || u->state == UX_CREATED)) {
			int r = initiator_ublk_dev_del(u->dev);
			if (r < 0)
				log_err("ublk /dev/ublkc%d: DEL_DEV: %s", u->id, strerror(-r));
			else
				log_info("ublk /dev/ublkc%d: deleted", u->id);
		}
		initiator_ublk_dev_free(u->dev);
		u->dev = NULL;
		if (u->map_len)
			munmap(u->reqs, u->map_len);
	}
	munmap(x, page_round(sizeof(*x)));
}

int
initiator_ublk_exports_swap_update(struct initiator_ublk_exports *x, const char *swaps, size_t len)
{
	int nswap = 0;

	for (size_t i = 0; x && i < x->ndevs; i++) {
		struct ux_dev *u = &x->devs[i];
		if (u->state == UX_FAILED || u->id < 0)
			continue;
		char dev[32];
		snprintf(dev, sizeof(dev), "/dev/ublkb%d", u->id);
		char lun[24];
		snprintf(lun, sizeof(lun), "%llu",
			 u->lun ? (unsigned long long)u->lun->info.lun : 0ULL);
		nswap += initiator_swap_watch(swaps, len, dev, lun, &u->swap);
	}
	return nswap;
}

int
initiator_ublk_exports_format(const struct initiator_ublk_exports *x, char *buf, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; x && i < x->ndevs && off < len; i++) {
		const struct ux_dev *u = &x->devs[i];
		const char *st = u->state < ARRAY_SIZE(state_names) ? state_names[u->state] : "?";
		char lun[24];

		if (u->lun)
			snprintf(lun, sizeof(lun), "%llu", (unsigned long long)u->lun->info.lun);
		else
			snprintf(lun, sizeof(lun), "-");
		if (u->state == UX_FAILED) {
			off += (size_t)snprintf(buf + off, len - off,
						"ublk %s lun %s state failed error %s\n",
						u->spec->spec, lun, u->err);
			continue;
		}
		struct initiator_ublk_queue_stats qs;
		initiator_ublk_queue_stats(u->q, &qs);
		off += (size_t)snprintf(
			buf + off, len - off,
			"ublk /dev/ublkb%d lun %s state %s recovered %s size %llu block %u max_io %u "
			"depth %u flags 0x%llx requests %llu reads %llu writes %llu flushes %llu "
			"discards %llu zeroes %llu errors %llu slot_waits %llu waiting %u in_flight %u "
			"bad_cqe %llu swap %s\n",
			u->id, lun, st, u->recovered ? "yes" : "no", (unsigned long long)u->size,
			u->block, u->max_io, u->depth, (unsigned long long)u->flags,
			(unsigned long long)u->st.requests, (unsigned long long)u->st.reads,
			(unsigned long long)u->st.writes, (unsigned long long)u->st.flushes,
			(unsigned long long)u->st.discards, (unsigned long long)u->st.zeroes,
			(unsigned long long)u->st.errors, (unsigned long long)u->st.slot_waits,
			u->wait_count, qs.in_flight, (unsigned long long)qs.bad_cqe,
			u->swap ? "yes" : "no");
	}
	return (int)MIN(off, len);
}
