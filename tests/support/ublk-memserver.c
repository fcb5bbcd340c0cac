/*
 * ublk-memserver: a test-only ublk server backed by a RAM disk, built on the initiator's ublk
 * module (initiator/ublk.c, initiator/ublk_ctrl.c). It lets the kernel tier exercise the
 * module against the real driver before ballastd serves LUNs over ublk. Test code: it may
 * allocate (the module's datapath itself does not).
 *
 * usage: ublk-memserver [--size BYTES] [--queues N] [--depth N] [--max-io BYTES]
 *                       [--block N] [--id N] [--backing FILE] [--recovery] [--recover ID]
 *                       [--ring netreserve|plain] [--ready-file FILE] [--keep] [--delay-us N]
 *                       [--stall FILE] [--stall-from BYTES]
 *   --backing FILE   the disk is FILE (created, sized, MAP_SHARED; put it on tmpfs): it
 *                    outlives the server, so a restarted server (--recover) sees every write
 *                    the killed one acknowledged. Default: anonymous memory.
 *   --recovery       create the device with UBLK_F_USER_RECOVERY(_REISSUE)
 *   --recover ID     take over /dev/ublkcID after its server died (size etc. come from the
 *                    kernel) instead of creating a device
 *   --ring           each queue thread serves its queue on a netreserve ring (SINGLE_ISSUER |
 *                    DEFER_TASKRUN, 64-byte SQEs: the daemon's ring; default) or on a plain
 *                    liburing ring
 *   --keep           on SIGTERM stop the device but do not delete it
 *   --delay-us N     sleep N us in every WRITE before acknowledging it
 *   --stall FILE     once FILE exists, the next WRITE is neither carried out nor acknowledged:
 *                    the server creates FILE.held and its queue thread sleeps forever (the
 *                    kill -9 test then kills it with that write provably in flight);
 *                    FILE.held holds "offset length" of that write
 *   --stall-from B   hold only a WRITE that starts at byte B or beyond (default 0), so that
 *                    the held write is the test's own and not, say, a journal commit
 * Prints "ublk-memserver: /dev/ublkbN ..." once the device is started and then writes
 * "/dev/ublkbN" into the ready file. SIGTERM/SIGINT: STOP_DEV, DEL_DEV (unless --keep), exit 0.
 * Exit status: 0 ok, 2 usage, 3 no ublk in this kernel (-ENOENT), 1 other errors.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "initiator/ublk.h"
#include "netreserve/ring.h"

#define KIND_UBLK (NETRESERVE_KIND_USER + 1)

struct qctx {
	struct initiator_ublk_queue *q;
	pthread_t thread;
	bool use_nr;
	struct netreserve_ring *nr;
	struct io_uring plain;
	int err;
	bool armed; /* FETCHes submitted */
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
};

static uint8_t *disk;
static uint64_t disk_size;
static unsigned int delay_us;
static const char *stall_path;
static uint64_t stall_from;

/*
 * --stall: hold this WRITE forever once the trigger file exists (and it starts at or beyond
 * --stall-from). FILE.held gets "offset length" of the held write, written to a temporary
 * name and renamed so that a reader never sees it empty.
 */
static void
maybe_stall(const struct initiator_ublk_request *req)
{
	char held[512], tmp[520], line[64];
	int fd, n;

	if (!stall_path || req->offset < stall_from || access(stall_path, F_OK) < 0)
		return;
	snprintf(held, sizeof(held), "%s.held", stall_path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", held);
	n = snprintf(line, sizeof(line), "%llu %u\n", (unsigned long long)req->offset,
		     req->length);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			n = -1;
		close(fd);
		if (n > 0)
			rename(tmp, held);
	}
	for (;;)
		pause();
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
mem_submit(void *ctx, struct initiator_ublk_queue *q, const struct initiator_ublk_request *req)
{
	int err = 0;

	(void)ctx;
	if (req->op != INITIATOR_UBLK_OP_FLUSH &&
	    (req->offset > disk_size || req->length > disk_size - req->offset))
		return -EINVAL;
	switch (req->op) {
	case INITIATOR_UBLK_OP_READ:
		memcpy(req->buf, disk + req->offset, req->length);
		break;
	case INITIATOR_UBLK_OP_WRITE:
		maybe_stall(req);
		memcpy(disk + req->offset, req->buf, req->length);
		if (delay_us)
			usleep(delay_us);
		break;
	case INITIATOR_UBLK_OP_FLUSH:
		break;
	case INITIATOR_UBLK_OP_DISCARD:
	case INITIATOR_UBLK_OP_WRITE_ZEROES:
		memset(disk + req->offset, 0, req->length);
		break;
	default:
		err = -EOPNOTSUPP;
		break;
	}
	/* Completion right away; ENOBUFS means it was deferred and flushed later. */
	int r = initiator_ublk_complete(q, req->tag, err);
	return r == -ENOBUFS ? 0 : r;
}

static struct io_uring_sqe *
get_sqe(void *arg)
{
	struct qctx *c = arg;

	return c->use_nr ? netreserve_ring_sqe(c->nr) : io_uring_get_sqe(&c->plain);
}

static const struct initiator_ublk_queue_ops mem_ops = {
    .submit = mem_submit,
    .get_sqe = get_sqe,
};

static void
nr_handler(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *arg)
{
	struct qctx *c = arg;

	initiator_ublk_queue_cqe(c->q, cqe);
	initiator_ublk_queue_flush(c->q);
	if (initiator_ublk_queue_done(c->q))
		netreserve_ring_stop(r);
}

static void
signal_armed(struct qctx *c, int err)
{
	pthread_mutex_lock(c->lock);
	c->err = err;
	c->armed = true;
	pthread_cond_broadcast(c->cond);
	pthread_mutex_unlock(c->lock);
}

static void *
queue_main(void *arg)
{
	struct qctx *c = arg;
	uint16_t depth = initiator_ublk_queue_depth(c->q);
	int r;

	if (c->use_nr) {
		struct netreserve_config cfg = {
		    .max_conns = 1, .rx_bufs = 2, .rx_buf_size = 4096, .user_cqes = depth};

		r = netreserve_ring_new(&cfg, &c->nr);
		if (r == 0)
			r = netreserve_ring_set_handler(c->nr, KIND_UBLK, nr_handler, c);
	} else {
		r = io_uring_queue_init(depth < 8 ? 16 : 2u * depth, &c->plain, 0);
	}
	if (r < 0) {
		signal_armed(c, r);
		return NULL;
	}
	r = initiator_ublk_queue_start(c->q);
	if (r == 0)
		r = c->use_nr ? netreserve_ring_poll(c->nr) : io_uring_submit(&c->plain);
	if (r < 0) {
		signal_armed(c, r);
		goto out;
	}
	signal_armed(c, 0);

	if (c->use_nr) {
		r = netreserve_ring_run(c->nr);
	} else {
		while (!initiator_ublk_queue_done(c->q)) {
			struct io_uring_cqe *cqe;
			unsigned int head, n = 0;

			r = io_uring_submit_and_wait(&c->plain, 1);
			if (r < 0 && r != -EINTR)
				break;
			io_uring_for_each_cqe(&c->plain, head, cqe)
			{
				initiator_ublk_queue_cqe(c->q, cqe);
				n++;
			}
			io_uring_cq_advance(&c->plain, n);
			initiator_ublk_queue_flush(c->q);
			r = 0;
		}
	}
	if (r < 0)
		fprintf(stderr, "ublk-memserver: queue %u: ring: %s\n",
			initiator_ublk_queue_id(c->q), strerror(-r));
out:
	c->err = r;
	return NULL;
}

static void
usage(void)
{
	fputs("usage: ublk-memserver [--size BYTES] [--queues N] [--depth N] [--max-io BYTES]\n"
	      "       [--block N] [--id N] [--backing FILE] [--recovery] [--recover ID]\n"
	      "       [--ring netreserve|plain] [--ready-file FILE] [--keep] [--delay-us N]\n"
	      "       [--stall FILE] [--stall-from BYTES]\n",
	      stderr);
	exit(2);
}

static uint64_t
parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		usage();
	return v;
}

static int
map_disk(const char *backing, uint64_t size, bool recover)
{
	int fd = -1, flags = MAP_SHARED;

	if (backing) {
		fd = open(backing, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (!recover && ftruncate(fd, (off_t)size) < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
	} else {
		flags |= MAP_ANONYMOUS;
	}
	disk = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (fd >= 0)
		close(fd);
	if (disk == MAP_FAILED)
		return -errno;
	disk_size = size;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"size", required_argument, NULL, 's'},
	    {"queues", required_argument, NULL, 'q'},
	    {"depth", required_argument, NULL, 'd'},
	    {"max-io", required_argument, NULL, 'm'},
	    {"block", required_argument, NULL, 'b'},
	    {"id", required_argument, NULL, 'i'},
	    {"backing", required_argument, NULL, 'B'},
	    {"recovery", no_argument, NULL, 'R'},
	    {"recover", required_argument, NULL, 'r'},
	    {"ring", required_argument, NULL, 'g'},
	    {"ready-file", required_argument, NULL, 'f'},
	    {"keep", no_argument, NULL, 'k'},
	    {"delay-us", required_argument, NULL, 'D'},
	    {"stall", required_argument, NULL, 'S'},
	    {"stall-from", required_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	struct initiator_ublk_params p = {
	    .dev_id = -1,
	    .nr_queues = 1,
	    .queue_depth = 64,
	    .max_io_bytes = 512 << 10,
	    .size = 256ULL << 20,
	    .logical_block = 512,
	    .physical_block = 4096,
	    .volatile_cache = true,
	    .fua = true,
	    .max_discard_bytes = 64 << 20,
	    .discard_granularity = 4096,
	    .max_write_zeroes_bytes = 64 << 20,
	};
	const char *backing = NULL, *ready = NULL;
	struct initiator_ublk_dev *d = NULL;
	struct qctx *qs = NULL;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	bool use_nr = true, keep = false;
	int recover_id = -1, o, r, rc = 1;
	unsigned int nq = 0, started = 0;
	char msg[160];
	double t0 = now_s(), t_start;
	sigset_t set;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			p.size = parse_size(optarg);
			break;
		case 'q':
			p.nr_queues = (uint16_t)atoi(optarg);
			break;
		case 'd':
			p.queue_depth = (uint16_t)atoi(optarg);
			break;
		case 'm':
			p.max_io_bytes = (uint32_t)parse_size(optarg);
			break;
		case 'b':
			p.logical_block = (uint32_t)atoi(optarg);
			break;
		case 'i':
			p.dev_id = atoi(optarg);
			break;
		case 'B':
			backing = optarg;
			break;
		case 'R':
			p.recovery = true;
			break;
		case 'r':
			recover_id = atoi(optarg);
			break;
		case 'g':
			if (!strcmp(optarg, "plain"))
				use_nr = false;
			else if (strcmp(optarg, "netreserve"))
				usage();
			break;
		case 'f':
			ready = optarg;
			break;
		case 'k':
			keep = true;
			break;
		case 'D':
			delay_us = (unsigned int)atoi(optarg);
			break;
		case 'S':
			stall_path = optarg;
			break;
		case 'F':
			stall_from = parse_size(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (p.physical_block < p.logical_block)
		p.physical_block = p.logical_block;

	/* Signals are taken by sigwait() in this thread; the queue threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	r = initiator_ublk_available(msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "ublk-memserver: %s\n", msg);
		return r == -ENOENT ? 3 : 1;
	}
	if (recover_id >= 0) {
		r = initiator_ublk_dev_recover(recover_id, 30000, &d);
		if (r < 0) {
			fprintf(stderr, "ublk-memserver: recover ublkc%d: %s\n", recover_id,
				strerror(-r));
			return 1;
		}
		p = *initiator_ublk_dev_params(d);
	} else {
		r = initiator_ublk_dev_new(&p, &d);
		if (r < 0) {
			fprintf(stderr, "ublk-memserver: add device: %s\n", strerror(-r));
			return r == -ENOENT ? 3 : 1;
		}
		p = *initiator_ublk_dev_params(d);
	}
	r = map_disk(backing, p.size, recover_id >= 0);
	if (r < 0) {
		fprintf(stderr, "ublk-memserver: disk: %s\n", strerror(-r));
		goto out;
	}

	qs = calloc(p.nr_queues, sizeof(*qs));
	if (!qs)
		goto out;
	for (nq = 0; nq < p.nr_queues; nq++) {
		struct qctx *c = &qs[nq];

		c->use_nr = use_nr;
		c->lock = &lock;
		c->cond = &cond;
		r = initiator_ublk_queue_new(d, (uint16_t)nq, &mem_ops, c, KIND_UBLK, false, &c->q);
		if (r < 0) {
			fprintf(stderr, "ublk-memserver: queue %u: %s\n", nq, strerror(-r));
			goto out;
		}
	}
	for (started = 0; started < nq; started++) {
		if (pthread_create(&qs[started].thread, NULL, queue_main, &qs[started])) {
			fprintf(stderr, "ublk-memserver: pthread_create failed\n");
			goto out;
		}
	}
	/* Every queue must have fetched before START_DEV (which waits for that). */
	pthread_mutex_lock(&lock);
	for (unsigned int i = 0; i < nq; i++)
		while (!qs[i].armed)
			pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (unsigned int i = 0; i < nq; i++) {
		if (qs[i].err < 0) {
			fprintf(stderr, "ublk-memserver: queue %u: %s\n", i, strerror(-qs[i].err));
			goto stop;
		}
	}
	t_start = now_s();
	r = initiator_ublk_dev_start(d, getpid());
	if (r < 0) {
		fprintf(stderr, "ublk-memserver: %s: %s\n",
			recover_id >= 0 ? "END_USER_RECOVERY" : "START_DEV", strerror(-r));
		goto stop;
	}
	printf("ublk-memserver: /dev/ublkb%d size=%llu queues=%u depth=%u max_io=%u flags=0x%llx "
	       "ring=%s %s in %.3fs (start %.3fs)\n",
	       initiator_ublk_dev_id(d), (unsigned long long)p.size, p.nr_queues, p.queue_depth,
	       p.max_io_bytes, (unsigned long long)initiator_ublk_dev_flags(d),
	       use_nr ? "netreserve" : "plain", recover_id >= 0 ? "recovered" : "started",
	       now_s() - t0, now_s() - t_start);
	fflush(stdout);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f) {
			fprintf(f, "/dev/ublkb%d\n", initiator_ublk_dev_id(d));
			fclose(f);
		}
	}
	do
		r = sigwait(&set, &o);
	while (r == EINTR);
	rc = 0;
stop:
	t_start = now_s();
	r = initiator_ublk_dev_stop(d);
	if (r < 0) {
		fprintf(stderr, "ublk-memserver: STOP_DEV: %s\n", strerror(-r));
		rc = 1;
	}
out:
	for (unsigned int i = 0; i < started; i++) {
		struct initiator_ublk_queue_stats st;

		pthread_join(qs[i].thread, NULL);
		initiator_ublk_queue_stats(qs[i].q, &st);
		printf("ublk-memserver: queue %u: requests=%llu completed=%llu errors=%llu "
		       "bad_cqe=%llu sqe_full=%llu\n",
		       i, (unsigned long long)st.requests, (unsigned long long)st.completed,
		       (unsigned long long)st.errors, (unsigned long long)st.bad_cqe,
		       (unsigned long long)st.sqe_full);
		if (qs[i].use_nr)
			netreserve_ring_free(qs[i].nr);
		else
			io_uring_queue_exit(&qs[i].plain);
	}
	for (unsigned int i = 0; i < nq; i++)
		initiator_ublk_queue_free(qs[i].q);
	if (d && !keep) {
		r = initiator_ublk_dev_del(d);
		if (r < 0) {
			fprintf(stderr, "ublk-memserver: DEL_DEV: %s\n", strerror(-r));
			rc = 1;
		}
	}
	if (rc == 0)
		printf("ublk-memserver: stopped%s in %.3fs\n", keep ? "" : " and deleted",
		       now_s() - t_start);
	initiator_ublk_dev_free(d);
	free(qs);
	return rc;
}
