/*
 * netreserve rings, buffer rings and connections over a socketpair, both ends attached to the
 * same ring: multishot recv bookkeeping, -ENOBUFS backpressure and re-arm, pause/resume with
 * the data left in the socket, in-order gathered sends, close semantics and stale-CQE
 * rejection, user kinds, wakes, and the shared stats page; sends and recvs failing on memory
 * pressure (-ENOBUFS/-ENOMEM/-EAGAIN, injected through the ring's test hook) are retried from
 * a backing-off timer without closing. Skips (77) without io_uring.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "netreserve/internal.h"
#include "netreserve/netreserve.h"
#include "tests/unit/unit.h"

#define RXBUF 4096
#define NRX 4

struct end {
	struct netreserve_conn *c;
	unsigned char *rx;
	size_t rx_len, rx_cap;
	long consume_limit;  /* -1: consume all; else at most this many per call, then pause */
	int closed;
	int close_err;
	int recv_calls;
};

static struct netreserve_ring *ring;
static struct end ea, eb;

static long
on_recv(struct netreserve_conn *c, const void *data, size_t len, void *ctx)
{
	struct end *e = ctx;
	size_t n = len;
	e->recv_calls++;
	if (e->consume_limit >= 0 && n > (size_t)e->consume_limit)
		n = (size_t)e->consume_limit;
	/* beyond rx_cap the bytes are counted and dropped */
	size_t keep = e->rx_len >= e->rx_cap ? 0 : MIN(n, e->rx_cap - e->rx_len);
	memcpy(e->rx + e->rx_len, data, keep);
	e->rx_len += keep;
	return (long)n;
}

static void
on_close(struct netreserve_conn *c, int err, void *ctx)
{
	struct end *e = ctx;
	e->closed++;
	e->close_err = err;
	e->c = NULL;
}

static const struct netreserve_conn_ops ops = { on_recv, on_close };

static int
setup(void)
{
	struct netreserve_config cfg = { .max_conns = 4, .rx_bufs = NRX, .rx_buf_size = RXBUF };
	int ret = netreserve_ring_new(&cfg, &ring);
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "io_uring unavailable (%d): skip\n", ret);
		exit(77);
	}
	return ret;
}

static int both_closed(void);
static int run_until(int (*cond)(void));

static void
pair(struct end *a, struct end *b, size_t cap)
{
	int sv[2];
	if (a->c)
		netreserve_conn_close(a->c, 0);
	if (b->c)
		netreserve_conn_close(b->c, 0);
	if (a->c || b->c) {
		a->closed = !a->c;
		b->closed = !b->c;
		CU_ASSERT_EQUAL_FATAL(run_until(both_closed), 0);
	}
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	free(a->rx);
	free(b->rx);
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->rx = malloc(cap);
	b->rx = malloc(cap);
	a->rx_cap = b->rx_cap = cap;
	a->consume_limit = b->consume_limit = -1;
	CU_ASSERT_EQUAL_FATAL(netreserve_conn_attach(ring, sv[0], 0, &ops, a, &a->c), 0);
	CU_ASSERT_EQUAL_FATAL(netreserve_conn_attach(ring, sv[1], 0, &ops, b, &b->c), 0);
}

/* Runs the ring until cond() or 2000 iterations of 10 ms. */
static int
run_until(int (*cond)(void))
{
	for (int i = 0; i < 2000 && !cond(); i++)
		if (netreserve_ring_wait(ring, 10) < 0) {
			fprintf(stderr, "ring_wait failed\n");
			return -1;
		}
	if (!cond())
		fprintf(stderr, "condition not met: a closed %d b closed %d b rx %zu\n", ea.closed,
			eb.closed, eb.rx_len);
	return cond() ? 0 : -1;
}

static int
both_closed(void)
{
	return ea.closed && eb.closed;
}

static size_t want_b;
static int
b_has_all(void)
{
	return eb.rx_len >= want_b;
}

static int sends_done;
static int send_order[16];
static int send_res[16];

struct sreq {
	struct netreserve_send s;
	int id;
	struct iovec iov[3];
};

static void
send_done(struct netreserve_conn *c, struct netreserve_send *s, int res)
{
	struct sreq *r = (struct sreq *)s;
	send_res[r->id] = res;
	send_order[sends_done++] = r->id;
}

static void
fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed) >> 3);
}

static void
test_features(void)
{
	const struct netreserve_features *f = netreserve_ring_features(ring);
	char buf[512];
	CU_ASSERT_TRUE(f->defer_taskrun);
	CU_ASSERT_TRUE(f->recv_multishot);
	CU_ASSERT(f->cq_entries >= netreserve_cq_entries(&(struct netreserve_config){
					  .max_conns = 4, .rx_bufs = NRX }));
	CU_ASSERT(netreserve_features_format(f, buf, sizeof(buf)) > 0);
	printf("\n  %s\n", buf);
}

/* 64 KiB through 4 x 4 KiB buffers: the ring runs empty, ENOBUFS, re-arm, nothing lost. */
static void
test_enobufs_rearm(void)
{
	static unsigned char data[65536];
	struct sreq r = { .id = 0 };

	pair(&ea, &eb, sizeof(data));
	fill(data, sizeof(data), 7);
	r.s.done = send_done;
	r.iov[0].iov_base = data;
	r.iov[0].iov_len = sizeof(data);
	sends_done = 0;
	CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r.iov, 1, &r.s), 0);
	CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r.iov, 1, &r.s), -EBUSY);
	want_b = sizeof(data);
	CU_ASSERT_EQUAL_FATAL(run_until(b_has_all), 0);
	CU_ASSERT_EQUAL(eb.rx_len, sizeof(data));
	CU_ASSERT_EQUAL(memcmp(eb.rx, data, sizeof(data)), 0);
	CU_ASSERT_EQUAL(send_res[0], (int)sizeof(data));
	const struct netreserve_conn_stats *st = netreserve_conn_stats(eb.c);
	printf("\n  rx_chunks=%llu rx_enobufs=%llu rx_rearm=%llu\n",
	       (unsigned long long)st->rx_chunks, (unsigned long long)st->rx_enobufs,
	       (unsigned long long)st->rx_rearm);
	CU_ASSERT(st->rx_enobufs > 0);
	CU_ASSERT_EQUAL(st->rx_rearm, st->rx_enobufs);
	CU_ASSERT_EQUAL(st->rx_bytes, sizeof(data));
	CU_ASSERT_EQUAL(netreserve_ring_stats(ring)->cq_overflow, 0);
}

static int
b_paused_full(void)
{
	return netreserve_conn_stats(eb.c)->rx_held_max >= NRX &&
	       netreserve_conn_stats(eb.c)->rx_enobufs > 0;
}

/* on_recv consuming nothing: buffers held, recv stops, data waits in the socket. */
static void
test_pause_resume(void)
{
	static unsigned char data[65536];
	struct sreq r = { .id = 1 };
	int pending = 0;

	pair(&ea, &eb, sizeof(data));
	fill(data, sizeof(data), 3);
	eb.consume_limit = 0;
	r.s.done = send_done;
	r.iov[0].iov_base = data;
	r.iov[0].iov_len = sizeof(data);
	CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r.iov, 1, &r.s), 0);
	CU_ASSERT_EQUAL_FATAL(run_until(b_paused_full), 0);
	for (int i = 0; i < 5; i++)
		netreserve_ring_wait(ring, 5);
	CU_ASSERT_EQUAL(eb.rx_len, 0);
	CU_ASSERT_EQUAL(ioctl(netreserve_conn_fd(eb.c), FIONREAD, &pending), 0);
	printf("\n  held=%llu, left in socket: %d bytes\n",
	       (unsigned long long)netreserve_conn_stats(eb.c)->rx_held_max, pending);
	CU_ASSERT(pending >= (int)sizeof(data) - NRX * RXBUF);
	/* partial consumption: 1000 bytes per call, pauses after each */
	eb.consume_limit = 1000;
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(netreserve_conn_resume_recv(eb.c), 0);
	CU_ASSERT_EQUAL(eb.rx_len, 3000);
	eb.consume_limit = -1;
	CU_ASSERT_EQUAL(netreserve_conn_resume_recv(eb.c), 0);
	want_b = sizeof(data);
	CU_ASSERT_EQUAL_FATAL(run_until(b_has_all), 0);
	CU_ASSERT_EQUAL(memcmp(eb.rx, data, sizeof(data)), 0);
	CU_ASSERT(netreserve_conn_stats(eb.c)->rx_rearm > 0);
}

static int
sends_all_done(void)
{
	return sends_done >= 8;
}

/* Eight requests of three iovecs each (gathered); in order; then large data both ways. */
static void
test_send_order(void)
{
	static unsigned char data[8][3][1000];
	static struct sreq r[8];

	pair(&ea, &eb, sizeof(data));
	sends_done = 0;
	for (int i = 0; i < 8; i++) {
		r[i].id = i;
		r[i].s.done = send_done;
		for (int j = 0; j < 3; j++) {
			fill(data[i][j], sizeof(data[i][j]), (unsigned int)(i * 3 + j));
			r[i].iov[j].iov_base = data[i][j];
			r[i].iov[j].iov_len = sizeof(data[i][j]);
		}
		CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r[i].iov, 3, &r[i].s), 0);
	}
	CU_ASSERT_EQUAL_FATAL(run_until(sends_all_done), 0);
	want_b = sizeof(data);
	CU_ASSERT_EQUAL_FATAL(run_until(b_has_all), 0);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(send_order[i], i);
		CU_ASSERT_EQUAL(send_res[i], 3000);
	}
	CU_ASSERT_EQUAL(memcmp(eb.rx, data, sizeof(data)), 0);
	CU_ASSERT(netreserve_conn_stats(ea.c)->tx_sqes < 8);  /* gathered */
	CU_ASSERT_EQUAL(netreserve_conn_stats(ea.c)->tx_reqs, 8);
}


/* Local close with a send queued, EOF on the other end, slot reuse with a new generation. */
static void
test_close(void)
{
	static unsigned char big[1 << 20];
	struct sreq r = { .id = 2 };

	pair(&ea, &eb, 4096);
	uint32_t slot = netreserve_conn_slot(ea.c);
	uint16_t gen = netreserve_conn_gen(ea.c);
	CU_ASSERT_PTR_EQUAL(netreserve_conn_lookup(ring, slot, gen), ea.c);
	eb.consume_limit = 0;  /* b holds: a's big send cannot finish */
	r.s.done = send_done;
	r.iov[0].iov_base = big;
	r.iov[0].iov_len = sizeof(big);
	sends_done = 0;
	send_res[2] = 1;
	CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r.iov, 1, &r.s), 0);
	for (int i = 0; i < 5; i++)
		netreserve_ring_wait(ring, 5);
	CU_ASSERT_EQUAL(sends_done, 0);
	struct netreserve_conn *a = ea.c;
	netreserve_conn_close(a, -ECONNRESET);
	CU_ASSERT_EQUAL(ea.closed, 0);  /* never from inside close() */
	CU_ASSERT_EQUAL(netreserve_conn_send(a, r.iov, 1, &r.s), -EPIPE);
	netreserve_conn_close(a, -EIO);  /* idempotent, first error wins */
	eb.consume_limit = -1;
	netreserve_conn_resume_recv(eb.c);
	CU_ASSERT_EQUAL_FATAL(run_until(both_closed), 0);
	CU_ASSERT_EQUAL(ea.closed, 1);
	CU_ASSERT_EQUAL(ea.close_err, -ECONNRESET);
	CU_ASSERT_EQUAL(eb.closed, 1);
	CU_ASSERT_EQUAL(eb.close_err, 0);  /* EOF */
	CU_ASSERT_EQUAL(sends_done, 1);
	CU_ASSERT(send_res[2] < 0);
	CU_ASSERT_PTR_NULL(netreserve_conn_lookup(ring, slot, gen));
	/* the slots are reusable, with a new generation */
	pair(&ea, &eb, 4096);
	CU_ASSERT(netreserve_conn_gen(ea.c) != gen || netreserve_conn_slot(ea.c) != slot);
	netreserve_conn_close(ea.c, 0);
	CU_ASSERT_EQUAL_FATAL(run_until(both_closed), 0);
	CU_ASSERT_EQUAL(netreserve_ring_stats(ring)->conns_active, 0);
}

/* A forged CQE for an old generation is rejected (via a NOP carrying that user_data). */
static void
test_stale(void)
{
	pair(&ea, &eb, 4096);
	uint64_t before = netreserve_ring_stats(ring)->stale_cqes;
	struct io_uring_sqe *sqe = netreserve_ring_sqe(ring);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sqe);
	io_uring_prep_nop(sqe);
	/* kind 1 = recv, generation one behind */
	io_uring_sqe_set_data64(sqe, netreserve_ud(1, netreserve_conn_slot(ea.c),
						     (uint16_t)(netreserve_conn_gen(ea.c) - 1), 0));
	for (int i = 0; i < 3; i++)
		netreserve_ring_wait(ring, 5);
	CU_ASSERT_EQUAL(netreserve_ring_stats(ring)->stale_cqes, before + 1);
	netreserve_conn_close(ea.c, 0);
	CU_ASSERT_EQUAL_FATAL(run_until(both_closed), 0);
}

/*
 * Regression: when a close could get no SQE for its final NOP, conn_close_check() finished the
 * close on the spot, so on_close ran (and the slot was freed) inside netreserve_conn_close()
 * itself: inside on_recv, a send's done() or netreserve_conn_send(). Now the dispatch loop
 * retries. The SQ is made unusable by filling it from a thread that is not the ring's single
 * issuer: its flush fails (-EEXIST), exactly like a submit the kernel refuses.
 */
static struct end ec;
static struct netreserve_ring *r_nosqe;

static void *
close_without_sqe(void *arg)
{
	struct io_uring *u = netreserve_ring_uring(r_nosqe);
	struct io_uring_sqe *sqe;
	(void)arg;
	while ((sqe = io_uring_get_sqe(u))) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, netreserve_ud(42, 0, 0, 0));
	}
	netreserve_conn_close(ec.c, -EIO);
	return NULL;
}

static void
test_close_no_sqe(void)
{
	struct netreserve_config cfg = { .max_conns = 2, .rx_bufs = 2, .sq_entries = 8,
					 .user_cqes = 16 };
	pthread_t t;
	int sv[2];

	CU_ASSERT_EQUAL_FATAL(netreserve_ring_new(&cfg, &r_nosqe), 0);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&ec, 0, sizeof(ec));
	/* paused: no recv armed, so the close goes straight to its final NOP */
	CU_ASSERT_EQUAL_FATAL(netreserve_conn_attach(r_nosqe, sv[0], NETRESERVE_CONN_PAUSED, &ops,
						     &ec, &ec.c), 0);
	uint64_t fails = netreserve_ring_stats(r_nosqe)->sqe_fail;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, close_without_sqe, NULL), 0);
	pthread_join(t, NULL);
	CU_ASSERT(netreserve_ring_stats(r_nosqe)->sqe_fail > fails); /* the path was taken */
	CU_ASSERT_EQUAL(ec.closed, 0); /* not from inside netreserve_conn_close() */
	for (int i = 0; i < 100 && !ec.closed; i++)
		CU_ASSERT(netreserve_ring_wait(r_nosqe, 10) >= 0);
	CU_ASSERT_EQUAL(ec.closed, 1);
	CU_ASSERT_EQUAL(ec.close_err, -EIO);
	CU_ASSERT_EQUAL(netreserve_ring_stats(r_nosqe)->conns_active, 0);
	close(sv[1]);
	netreserve_ring_free(r_nosqe);
}

static int user_calls;
static uint64_t user_ud;

static void
user_handler(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	user_calls++;
	user_ud = cqe->user_data;
	CU_ASSERT_PTR_EQUAL(ctx, &user_calls);
}

static void
test_user_kind(void)
{
	CU_ASSERT_EQUAL(netreserve_ring_set_handler(ring, 3, user_handler, NULL), -EINVAL);
	CU_ASSERT_EQUAL(netreserve_ring_set_handler(ring, 40, user_handler, &user_calls), 0);
	struct io_uring_sqe *sqe = netreserve_ring_sqe(ring);
	io_uring_prep_nop(sqe);
	uint64_t ud = netreserve_ud(40, 0x123456, 0xbeef, 0x77);
	io_uring_sqe_set_data64(sqe, ud);
	CU_ASSERT(netreserve_ring_poll(ring) >= 1);
	CU_ASSERT_EQUAL(user_calls, 1);
	CU_ASSERT_EQUAL(netreserve_ud_kind(user_ud), 40);
	CU_ASSERT_EQUAL(netreserve_ud_slot(user_ud), 0x123456);
	CU_ASSERT_EQUAL(netreserve_ud_gen(user_ud), 0xbeef);
	CU_ASSERT_EQUAL(netreserve_ud_aux(user_ud), 0x77);
}

static int woken;

static void
wake_fn(struct netreserve_ring *r, void *ctx)
{
	woken++;
}

static void *
stopper(void *arg)
{
	usleep(20000);
	netreserve_ring_wake(arg);
	usleep(20000);
	netreserve_ring_stop(arg);
	return NULL;
}

static void
test_wake_stop(void)
{
	pthread_t t;
	netreserve_ring_set_wake(ring, wake_fn, NULL);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, stopper, ring), 0);
	CU_ASSERT_EQUAL(netreserve_ring_run(ring), 0);  /* returns only when stopped */
	pthread_join(t, NULL);
	CU_ASSERT(woken >= 1);
}

static void
test_stats_page(void)
{
	struct netreserve_stats_region st;
	struct netreserve_stats_view v;
	struct netreserve_ring *r2;
	char path[128];
	uint64_t val;

	snprintf(path, sizeof(path), "/tmp/nr-unit-stats-%d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(netreserve_stats_create(&st, path, "unit", 1, 2), 0);
	uint64_t *app = netreserve_stats_app(&st, 0, "widgets");
	CU_ASSERT_PTR_NOT_NULL_FATAL(app);
	*app = 42;
	struct netreserve_config cfg = { .max_conns = 2, .rx_bufs = 2, .stats = &st };
	int ret = netreserve_ring_new(&cfg, &r2);
	if (ret)
		fprintf(stderr, "ring_new: %s\n", strerror(-ret));
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	struct netreserve_ring *r3; /* not the shared `ring`: _new() NULLs its out pointer */
	CU_ASSERT_EQUAL(netreserve_ring_new(&cfg, &r3), -ENOSPC);  /* region full */
	CU_ASSERT_PTR_NULL(r3);
	netreserve_ready(&st);
	CU_ASSERT_EQUAL_FATAL(netreserve_stats_map(path, &v), 0);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "app.widgets", &val), 0);
	CU_ASSERT_EQUAL(val, 42);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "ready", &val), 0);
	CU_ASSERT_EQUAL(val, 1);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "ring0.cq_overflow", &val), 0);
	CU_ASSERT_EQUAL(val, 0);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "ring0.loops", &val), 0);
	uint64_t loops = val;
	netreserve_ring_poll(r2);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "ring0.loops", &val), 0);
	CU_ASSERT_EQUAL(val, loops + 1);  /* live, shared */
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "sum.rx_enobufs", &val), 0);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "conn1.rx_bytes", &val), 0);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "conn9.rx_bytes", &val), -ENOENT);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "ring0.nope", &val), -ENOENT);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "app.nope", &val), -ENOENT);
	netreserve_unready(&st);
	netreserve_stats_unmap(&v);
	netreserve_ring_free(r2);
	netreserve_stats_destroy(&st);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
}

static void
count_cb(const char *name, uint64_t value, void *arg)
{
	(void)name;
	(void)value;
	(*(int *)arg)++;
}

/*
 * Regressions in the stats file handling: (1) the writer followed a symlink planted at its
 * predictable /dev/shm path and truncated its target; (2) the reader trusted the live
 * rings_used/conns_used words and walked past the mapping when they exceed max_rings/max_conns.
 */
static void
test_stats_hostile(void)
{
	struct netreserve_stats_region st;
	struct netreserve_stats_view v;
	char path[128], victim[128], buf[8];
	uint64_t val;
	int n = 0;

	snprintf(path, sizeof(path), "/tmp/nr-unit-stats-link-%d", (int)getpid());
	snprintf(victim, sizeof(victim), "/tmp/nr-unit-stats-victim-%d", (int)getpid());
	FILE *f = fopen(victim, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("keep", f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, path), 0);
	CU_ASSERT_EQUAL(netreserve_stats_create(&st, path, "unit", 1, 2), -ELOOP);
	f = fopen(victim, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "keep");
	unlink(path);
	unlink(victim);

	CU_ASSERT_EQUAL_FATAL(netreserve_stats_create(&st, path, "unit", 1, 2), 0);
	st.hdr->rings_used = 1u << 30;
	st.hdr->conns_used = 1u << 30;
	st.conns[1].rx_bytes = 7;
	CU_ASSERT_EQUAL_FATAL(netreserve_stats_map(path, &v), 0);
	CU_ASSERT_EQUAL(netreserve_stats_lookup(&v, "sum.rx_bytes", &val), 0);
	CU_ASSERT_EQUAL(val, 7);
	netreserve_stats_foreach(&v, count_cb, &n);
	CU_ASSERT(n > 0 && n < 200); /* pid, ready, 1 ring, 2 conns */
	netreserve_stats_unmap(&v);
	netreserve_stats_destroy(&st);
}

/* Regression: stats claims from concurrent ring-creating threads raced (shared slots). */
static struct netreserve_stats_region claim_st;
static struct netreserve_ring_stats *claimed[4][200];

static void *
claimer(void *arg)
{
	struct netreserve_ring_stats **out = arg;
	struct netreserve_conn_stats *cs;
	for (int i = 0; i < 200; i++)
		if (netreserve_stats_claim(&claim_st, 1, &out[i], &cs) < 0)
			out[i] = NULL;
	return NULL;
}

static int
ptr_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	return x < y ? -1 : x > y;
}

static void
test_stats_claim_threads(void)
{
	pthread_t t[4];
	CU_ASSERT_EQUAL_FATAL(netreserve_stats_create(&claim_st, NULL, "claim", 1000, 1000), 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, claimer, claimed[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(claim_st.hdr->rings_used, 800);
	CU_ASSERT_EQUAL(claim_st.hdr->conns_used, 800);
	qsort(claimed, 800, sizeof(claimed[0][0]), ptr_cmp);
	int dup = 0;
	for (int i = 1; i < 800; i++)
		dup += claimed[i / 200][i % 200] == claimed[(i - 1) / 200][(i - 1) % 200];
	CU_ASSERT_EQUAL(dup, 0);
	CU_ASSERT_PTR_NOT_NULL(claimed[0][0]);
	netreserve_stats_destroy(&claim_st);
}

/* The registered arena: buffer i is fixed buffer i (a WRITE_FIXED from buffer 1 to a pipe). */
static void
test_arena(void)
{
	static struct netreserve_arena a;  /* borrowed by the ring until netreserve_ring_free() */
	int pfd[2];
	char out[16];

	CU_ASSERT_EQUAL_FATAL(netreserve_arena_init(&a, 4, 4096), 0);
	int ret = netreserve_ring_register_arena(ring, &a);
	const struct netreserve_features *f = netreserve_ring_features(ring);
	printf("\n  arena register: %d, memlock charged: %d\n", ret, f->arena_memlock_charged);
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_TRUE(f->arena_registered);
	CU_ASSERT_EQUAL(netreserve_ring_register_arena(ring, &a), -EBUSY);
	memcpy(netreserve_arena_buf(&a, 1), "fixed buffer 1", 15);
	CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
	struct io_uring_sqe *sqe = netreserve_ring_sqe(ring);
	io_uring_prep_write_fixed(sqe, pfd[1], netreserve_arena_buf(&a, 1), 15, 0, 1);
	io_uring_sqe_set_data64(sqe, netreserve_ud(41, 0, 0, 0));
	CU_ASSERT_EQUAL(netreserve_ring_set_handler(ring, 41, user_handler, &user_calls), 0);
	user_calls = 0;
	for (int i = 0; i < 10 && !user_calls; i++)
		netreserve_ring_wait(ring, 10);
	CU_ASSERT_EQUAL(user_calls, 1);
	CU_ASSERT_EQUAL(read(pfd[0], out, sizeof(out)), 15);
	CU_ASSERT_STRING_EQUAL(out, "fixed buffer 1");
	close(pfd[0]);
	close(pfd[1]);
	/* the arena stays registered until the ring is freed (main() frees it) */
}

/* ---- memory pressure: the ring's test hook injects failed results on real CQEs ---------- */

static int inject_res = 1;

static void
inject_probe_handler(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	inject_res = cqe->res;
}

/* Does the kernel honour IORING_NOP_INJECT_RESULT (6.10)? */
static bool
can_inject(void)
{
	static int known = -1;
	if (known >= 0)
		return known;
	CU_ASSERT_EQUAL_FATAL(netreserve_ring_set_handler(ring, 41, inject_probe_handler, NULL), 0);
	struct io_uring_sqe *sqe = netreserve_ring_sqe(ring);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sqe);
	io_uring_prep_nop(sqe);
	sqe->rw_flags = NR_NOP_INJECT_RESULT;
	sqe->len = (uint32_t)-ENOBUFS;
	io_uring_sqe_set_data64(sqe, netreserve_ud(41, 0, 0, 0));
	for (int i = 0; i < 10 && inject_res == 1; i++)
		netreserve_ring_wait(ring, 10);
	known = inject_res == -ENOBUFS;
	if (!known)
		printf("\n  NOP result injection unsupported (%d): not tested\n", inject_res);
	return known;
}

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
sends_4_done(void)
{
	return sends_done >= 4;
}

/*
 * A send failing with err (the memcg cannot charge the socket buffer) is not a dead peer:
 * the connection stays open, the queue is resent in order from a timer backing off 1, 2, 4 ..
 * ms (no spinning), every request completes with its full length and the bytes arrive intact.
 */
static void
tx_nomem_case(int err)
{
	static unsigned char data[4][3][1000];
	static struct sreq r[4];
	const int fails = 4;

	pair(&ea, &eb, sizeof(data));
	sends_done = 0;
	ring->test_fail_err = err;
	ring->test_fail_tx = fails;
	uint64_t cqes0 = netreserve_ring_stats(ring)->cqes;
	double t0 = now_ms();
	for (int i = 0; i < 4; i++) {
		r[i].id = i;
		r[i].s.done = send_done;
		for (int j = 0; j < 3; j++) {
			fill(data[i][j], sizeof(data[i][j]), (unsigned int)(i * 7 + j + err));
			r[i].iov[j].iov_base = data[i][j];
			r[i].iov[j].iov_len = sizeof(data[i][j]);
		}
		CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r[i].iov, 3, &r[i].s), 0);
	}
	CU_ASSERT_EQUAL_FATAL(run_until(sends_4_done), 0);
	double dt = now_ms() - t0;
	want_b = sizeof(data);
	CU_ASSERT_EQUAL_FATAL(run_until(b_has_all), 0);
	const struct netreserve_conn_stats *st = netreserve_conn_stats(ea.c);
	printf("\n  err %d: tx_nomem=%llu tx_sqes=%llu tx_errors=%llu %.1f ms, %llu CQEs\n", err,
	       (unsigned long long)st->tx_nomem, (unsigned long long)st->tx_sqes,
	       (unsigned long long)st->tx_errors, dt,
	       (unsigned long long)(netreserve_ring_stats(ring)->cqes - cqes0));
	CU_ASSERT_EQUAL(ring->test_fail_tx, 0);
	CU_ASSERT_EQUAL(ea.closed, 0);
	CU_ASSERT_EQUAL(eb.closed, 0);
	CU_ASSERT_EQUAL(st->tx_nomem, (uint64_t)fails);
	CU_ASSERT(netreserve_ring_stats(ring)->tx_nomem >= (uint64_t)fails);
	CU_ASSERT_EQUAL(st->tx_errors, 0);
	CU_ASSERT_EQUAL(st->tx_reqs, 4);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(send_order[i], i);
		CU_ASSERT_EQUAL(send_res[i], 3000);
	}
	CU_ASSERT_EQUAL(memcmp(eb.rx, data, sizeof(data)), 0);
	/* backoff 1 + 2 + 4 + 8 ms before the send that went through, not a spin */
	CU_ASSERT(dt >= 14.0);
	CU_ASSERT(netreserve_ring_stats(ring)->cqes - cqes0 < 64);
}

static void
test_tx_nomem(void)
{
	if (!can_inject())
		return;
	tx_nomem_case(-ENOBUFS);
	tx_nomem_case(-ENOMEM);
	tx_nomem_case(-EAGAIN);
}

/*
 * A recv ending with -ENOMEM, or with -ENOBUFS while every buffer was in the ring (not the
 * empty-ring backpressure case), does not close either: recv is re-armed from the timer.
 */
static void
rx_nomem_case(int err)
{
	static unsigned char data[10000];
	struct sreq r = { .id = 0 };

	ring->test_fail_err = err;
	ring->test_fail_rx = 2;  /* the first recv of both ends */
	pair(&ea, &eb, sizeof(data));
	CU_ASSERT_EQUAL(ring->test_fail_rx, 0);
	fill(data, sizeof(data), 11);
	r.s.done = send_done;
	r.iov[0].iov_base = data;
	r.iov[0].iov_len = sizeof(data);
	sends_done = 0;
	CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r.iov, 1, &r.s), 0);
	want_b = sizeof(data);
	CU_ASSERT_EQUAL_FATAL(run_until(b_has_all), 0);
	const struct netreserve_conn_stats *st = netreserve_conn_stats(eb.c);
	printf("\n  err %d: rx_nomem=%llu rx_enobufs=%llu\n", err,
	       (unsigned long long)st->rx_nomem, (unsigned long long)st->rx_enobufs);
	CU_ASSERT_EQUAL(eb.closed, 0);
	CU_ASSERT_EQUAL(ea.closed, 0);
	CU_ASSERT_EQUAL(st->rx_nomem, 1);
	CU_ASSERT_EQUAL(netreserve_conn_stats(ea.c)->rx_nomem, 1);
	CU_ASSERT_EQUAL(st->rx_enobufs, 0);
	CU_ASSERT_EQUAL(memcmp(eb.rx, data, sizeof(data)), 0);
}

static void
test_rx_nomem(void)
{
	if (!can_inject())
		return;
	rx_nomem_case(-ENOMEM);
	rx_nomem_case(-ENOBUFS);
}

static int
a_nomem_3(void)
{
	return netreserve_conn_stats(ea.c)->tx_nomem >= 3;
}

/* Closing while the retry timer runs: the timer is cancelled, the send gets -ECANCELED. */
static void
test_nomem_close(void)
{
	static unsigned char data[100];
	struct sreq r = { .id = 5 };

	if (!can_inject())
		return;
	pair(&ea, &eb, 4096);
	ring->test_fail_err = -ENOBUFS;
	ring->test_fail_tx = 1000;
	r.s.done = send_done;
	r.iov[0].iov_base = data;
	r.iov[0].iov_len = sizeof(data);
	sends_done = 0;
	send_res[5] = 1;
	CU_ASSERT_EQUAL(netreserve_conn_send(ea.c, r.iov, 1, &r.s), 0);
	CU_ASSERT_EQUAL_FATAL(run_until(a_nomem_3), 0);
	CU_ASSERT_EQUAL(sends_done, 0);
	netreserve_conn_close(ea.c, -EIO);
	CU_ASSERT_EQUAL_FATAL(run_until(both_closed), 0);
	ring->test_fail_tx = 0;
	CU_ASSERT_EQUAL(ea.close_err, -EIO);
	CU_ASSERT_EQUAL(sends_done, 1);
	CU_ASSERT_EQUAL(send_res[5], -ECANCELED);
	CU_ASSERT_EQUAL(netreserve_ring_stats(ring)->conns_active, 0);
}

static const struct unit_test tests[] = {
	{ "features", test_features },
	{ "enobufs_rearm", test_enobufs_rearm },
	{ "pause_resume", test_pause_resume },
	{ "send_order", test_send_order },
	{ "close", test_close },
	{ "stale", test_stale },
	{ "tx_nomem", test_tx_nomem },
	{ "rx_nomem", test_rx_nomem },
	{ "nomem_close", test_nomem_close },
	{ "close_no_sqe", test_close_no_sqe },
	{ "user_kind", test_user_kind },
	{ "wake_stop", test_wake_stop },
	{ "arena", test_arena },
	{ "stats_page", test_stats_page },
	{ "stats_hostile", test_stats_hostile },
	{ "stats_claim_threads", test_stats_claim_threads },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "netreserve-bufring", tests },
	{ NULL, NULL },
};

int
main(void)
{
	if (setup() < 0) {
		fprintf(stderr, "netreserve_ring_new failed\n");
		return 99;
	}
	int ret = unit_run(suites);
	netreserve_ring_free(ring);
	free(ea.rx);
	free(eb.rx);
	return ret;
}
