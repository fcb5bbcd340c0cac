/*
 * nrexchange: moves data both ways over reserved netreserve connections on loopback TCP and
 * checks it, for the integration and fault tests. Role "both" runs both ends of every
 * connection on one ring; "server"/"client" run one side each (two processes, so one can sit
 * in a memory cgroup). Every end sends --bytes of a deterministic pattern and verifies the
 * CRC32C of what it receives against the expected stream, computed before steady state.
 *
 * Steady state starts at netreserve_ready() (which arms the LD_PRELOAD tripwire when present)
 * and ends after the last close: between them the program must not allocate, fault or grow,
 * which --strict checks (ru_minflt delta 0, VmRSS unchanged, CQ overflow 0).
 *
 * Output on stdout, one "key value" per line; exit 0 on success, 1 on a failed check,
 * 2 on timeout, 99 on setup errors.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "netreserve/netreserve.h"

#define MAX_CONNS 16
#define MAX_ENDS (2 * MAX_CONNS)
#define MAX_DEPTH 64
#define PATTERN_SIZE (4u << 20)

struct sreq {
	struct netreserve_send s;
	struct iovec iov;
	struct end *e;
};

struct end {
	struct netreserve_conn *c;
	int idx;                 /* connection pair index */
	int side;                /* 0 client, 1 server */
	uint64_t want_tx, want_rx;
	uint64_t tx_queued, tx_done, rx_bytes;
	uint32_t tx_crc, rx_crc, expect_rx_crc;
	uint64_t rx_mismatch;    /* received bytes differing from the expected stream */
	int closed, close_err, done, failed;
	struct sreq req[MAX_DEPTH];
};

static struct {
	const char *role;
	int conns;
	uint64_t bytes;
	bool oneway;
	uint32_t chunk;
	int depth;
	uint32_t rx_bufs, rx_buf_size, sndbuf, rcvbuf, reserve;
	const char *drive;
	const char *port_file;
	int port;
	const char *stats;
	const char *wait_go;
	const char *setup_file;
	bool strict, expect_enobufs, no_protect, malloc_per_send, print_footprint, zc;
	int timeout;
} opt = {
	.role = "both", .conns = 2, .bytes = 64u << 20, .chunk = 256u << 10, .depth = 4,
	.rx_bufs = 16, .rx_buf_size = 65536, .sndbuf = 1u << 20, .rcvbuf = 1u << 20,
	.drive = "run", .timeout = 50,
};

static struct netreserve_ring *ring;
static struct netreserve_stats_region stats;
static struct end ends[MAX_ENDS];
static int nends, ends_closed, ends_done, failures;
static unsigned char *pattern;
static struct ev_loop *evloop;
static uint64_t *app_rx, *app_tx, *app_done;

static uint64_t
parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; break;
	}
	return v;
}

static void
on_alarm(int sig)
{
	static const char msg[] = "nrexchange: timeout\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS in kB, read with raw open/read (no stdio, no allocation). */
static long
vmrss_kb(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, "VmRSS:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

/* Offset into the pattern where the stream of (pair idx, sender side) starts. */
static uint32_t
stream_seed(int idx, int side)
{
	return (uint32_t)(idx * 2 + side) * 1000003u % PATTERN_SIZE;
}

/* Contiguous pattern bytes of the stream at pos: pointer and length (<= max). */
static const unsigned char *
stream_at(uint32_t seed, uint64_t pos, uint64_t max, uint32_t *len)
{
	uint32_t off = (uint32_t)((pos + seed) % PATTERN_SIZE);
	*len = (uint32_t)MIN((uint64_t)PATTERN_SIZE - off, max);
	return pattern + off;
}

static uint32_t
stream_crc(uint32_t seed, uint64_t bytes)
{
	uint32_t st = CRC32C_INIT, len;
	for (uint64_t pos = 0; pos < bytes; pos += len) {
		const unsigned char *p = stream_at(seed, pos, bytes - pos, &len);
		st = crc32c_update(st, p, len);
	}
	return st;
}

static void check_all_done(void);

static void
end_fail(struct end *e, const char *why)
{
	/* datapath: no stdio; one write */
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "nrexchange: end %d/%d: %s\n", e->idx, e->side, why);
	if (n > 0 && write(2, buf, (size_t)n) < 0)
		failures++;
	e->failed = 1;
	failures++;
}

static void
end_check(struct end *e)
{
	if (e->done || e->tx_done < e->want_tx || e->rx_bytes < e->want_rx)
		return;
	e->done = 1;
	ends_done++;
	if (app_done)
		(*app_done)++;
	check_all_done();
}

static void send_done(struct netreserve_conn *c, struct netreserve_send *s, int res);

static uint64_t leak_fails;

/*
 * --malloc-per-send: a deliberate datapath allocation, the negative control for the tripwire
 * (count mode must count it, fail mode makes it fail, abort mode aborts).
 */
static void
leak_check(void)
{
	void *(*volatile alloc)(size_t) = malloc;  /* through a pointer: no builtin folding */
	void *p = alloc(256);
	if (!p)
		leak_fails++;
	free(p);
}

static void
end_send_more(struct end *e, struct sreq *r)
{
	uint32_t len;
	if (e->tx_queued >= e->want_tx || !e->c)
		return;
	const unsigned char *p = stream_at(stream_seed(e->idx, e->side), e->tx_queued,
					   MIN((uint64_t)opt.chunk, e->want_tx - e->tx_queued), &len);
	r->iov.iov_base = (void *)p;
	r->iov.iov_len = len;
	r->s.done = send_done;
	r->s.flags = opt.zc ? NETRESERVE_SEND_ZC : 0;
	e->tx_crc = crc32c_update(e->tx_crc, p, len);
	e->tx_queued += len;
	int ret = netreserve_conn_send(e->c, &r->iov, 1, &r->s);
	if (ret < 0)
		end_fail(e, "send refused");
}

static void
send_done(struct netreserve_conn *c, struct netreserve_send *s, int res)
{
	struct sreq *r = (struct sreq *)s;
	struct end *e = r->e;
	if (res < 0) {
		if (!e->done)
			end_fail(e, "send failed");
		return;
	}
	e->tx_done += (uint64_t)res;
	if (opt.malloc_per_send)
		leak_check();
	if (app_tx)
		*app_tx += (uint64_t)res;
	end_send_more(e, r);
	end_check(e);
}

static long
on_recv(struct netreserve_conn *c, const void *data, size_t len, void *ctx)
{
	struct end *e = ctx;
	if (e->rx_bytes + len > e->want_rx) {
		end_fail(e, "more data than expected");
		return -EPROTO;
	}
	/* exact, position-aware check against the sender's pattern, then the running CRC */
	const unsigned char *d = data;
	uint32_t seed = stream_seed(e->idx, !e->side), n;
	for (size_t off = 0; off < len; off += n) {
		const unsigned char *p = stream_at(seed, e->rx_bytes + off, len - off, &n);
		if (memcmp(p, d + off, n))
			e->rx_mismatch++;
	}
	e->rx_crc = crc32c_update(e->rx_crc, data, len);
	e->rx_bytes += len;
	if (app_rx)
		*app_rx += len;
	end_check(e);
	return (long)len;
}

static void
on_close(struct netreserve_conn *c, int err, void *ctx)
{
	struct end *e = ctx;
	e->closed = 1;
	e->close_err = err;
	e->c = NULL;
	if (!e->done)
		end_fail(e, "closed early");
	ends_closed++;
	if (ends_closed == nends) {
		if (evloop)
			ev_break(evloop, EVBREAK_ALL);
		else
			netreserve_ring_stop(ring);
	}
}

static const struct netreserve_conn_ops ops = { on_recv, on_close };

static void
check_all_done(void)
{
	if (ends_done < nends)
		return;
	for (int i = 0; i < nends; i++)
		if (ends[i].c)
			netreserve_conn_close(ends[i].c, 0);
}

static int
tcp_socket(const struct netreserve_config *cfg)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* buffer sizes before connect/listen: they fix the window scale */
	netreserve_sock_prepare(fd, cfg, NULL);
	return fd;
}

static int
setup_sockets(const struct netreserve_config *cfg, int *fds, int *sides, int *idxs)
{
	bool server = strcmp(opt.role, "client"), client = strcmp(opt.role, "server");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = -1, n = 0;

	if (server) {
		int one = 1;
		lfd = tcp_socket(cfg);
		if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, MAX_CONNS) < 0 ||
		    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
			return -1;
		if (opt.port_file) {
			char tmp[256];
			snprintf(tmp, sizeof(tmp), "%s.tmp", opt.port_file);
			FILE *f = fopen(tmp, "w");
			if (!f)
				return -1;
			fprintf(f, "%d\n", ntohs(sa.sin_port));
			fclose(f);
			rename(tmp, opt.port_file);
		}
	} else {
		sa.sin_port = htons((uint16_t)opt.port);
	}
	for (int i = 0; i < opt.conns; i++) {
		if (client) {
			int fd = tcp_socket(cfg);
			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
				return -1;
			fds[n] = fd;
			sides[n] = 0;
			idxs[n++] = i;
		}
		if (server) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				return -1;
			fds[n] = fd;
			sides[n] = 1;
			idxs[n++] = i;
		}
	}
	if (lfd >= 0)
		close(lfd);
	return n;
}

static void
ring_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int ret = netreserve_ring_poll(ring);
	if (ret < 0) {
		failures++;
		ev_break(loop, EVBREAK_ALL);
	}
}

static void
usage(void)
{
	fputs("usage: nrexchange [--role both|server|client] [--conns N] [--bytes N[KMG]] [--oneway]\n"
	      "  [--chunk N] [--depth N] [--rx-bufs N] [--rx-buf-size N] [--sndbuf N] [--rcvbuf N]\n"
	      "  [--reserve N] [--drive run|ev] [--port-file F] [--port P] [--stats PATH]\n"
	      "  [--wait-go FILE] [--strict] [--expect-enobufs] [--no-protect] [--timeout S]\n",
	      stderr);
	exit(99);
}

static void
parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "role", 1, NULL, 'r' }, { "conns", 1, NULL, 'c' }, { "bytes", 1, NULL, 'b' },
		{ "oneway", 0, NULL, 'o' }, { "chunk", 1, NULL, 'k' }, { "depth", 1, NULL, 'd' },
		{ "rx-bufs", 1, NULL, 'n' }, { "rx-buf-size", 1, NULL, 'z' },
		{ "sndbuf", 1, NULL, 'S' }, { "rcvbuf", 1, NULL, 'R' }, { "reserve", 1, NULL, 'M' },
		{ "drive", 1, NULL, 'D' }, { "port-file", 1, NULL, 'f' }, { "port", 1, NULL, 'p' },
		{ "stats", 1, NULL, 's' }, { "wait-go", 1, NULL, 'g' }, { "strict", 0, NULL, 'X' },
		{ "expect-enobufs", 0, NULL, 'E' }, { "no-protect", 0, NULL, 'P' },
		{ "timeout", 1, NULL, 't' }, { "malloc-per-send", 0, NULL, 'L' },
		{ "print-footprint", 0, NULL, 'F' }, { "setup-file", 1, NULL, 'Y' },
		{ "zc", 0, NULL, 'Z' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': opt.role = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'b': opt.bytes = parse_size(optarg); break;
		case 'o': opt.oneway = true; break;
		case 'k': opt.chunk = (uint32_t)parse_size(optarg); break;
		case 'd': opt.depth = atoi(optarg); break;
		case 'n': opt.rx_bufs = (uint32_t)parse_size(optarg); break;
		case 'z': opt.rx_buf_size = (uint32_t)parse_size(optarg); break;
		case 'S': opt.sndbuf = (uint32_t)parse_size(optarg); break;
		case 'R': opt.rcvbuf = (uint32_t)parse_size(optarg); break;
		case 'M': opt.reserve = (uint32_t)parse_size(optarg); break;
		case 'D': opt.drive = optarg; break;
		case 'f': opt.port_file = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 's': opt.stats = optarg; break;
		case 'g': opt.wait_go = optarg; break;
		case 'X': opt.strict = true; break;
		case 'E': opt.expect_enobufs = true; break;
		case 'P': opt.no_protect = true; break;
		case 't': opt.timeout = atoi(optarg); break;
		case 'L': opt.malloc_per_send = true; break;
		case 'F': opt.print_footprint = true; break;
		case 'Y': opt.setup_file = optarg; break;
		case 'Z': opt.zc = true; break;
		default: usage();
		}
	}
	if (opt.conns < 1 || opt.conns > MAX_CONNS || opt.depth < 1 || opt.depth > MAX_DEPTH ||
	    !opt.chunk || (strcmp(opt.role, "both") && strcmp(opt.role, "server") &&
			   strcmp(opt.role, "client")) ||
	    (!strcmp(opt.role, "client") && !opt.port) ||
	    (strcmp(opt.drive, "run") && strcmp(opt.drive, "ev")))
		usage();
}

static void
make_config(struct netreserve_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = (uint32_t)(strcmp(opt.role, "both") ? opt.conns : 2 * opt.conns);
	cfg->rx_bufs = opt.rx_bufs;
	cfg->rx_buf_size = opt.rx_buf_size;
	cfg->sndbuf = opt.sndbuf;
	cfg->rcvbuf = opt.rcvbuf;
	cfg->sock_reserve = opt.reserve;
	cfg->tcp_user_timeout_ms = 10000;
	cfg->extra_locked = PATTERN_SIZE;
	if (opt.zc)
		cfg->flags |= NETRESERVE_F_SEND_ZC;
}

/* Everything runs on this (small-stack) thread: it owns the ring. */
static void *
datapath(void *arg)
{
	int *status = arg;
	int fds[MAX_ENDS], sides[MAX_ENDS], idxs[MAX_ENDS];
	struct netreserve_config cfg;
	struct netreserve_protect_report rep;
	struct rusage ru0, ru1;
	ev_io rio;
	char buf[2048];
	int ret;

	*status = 99;
	make_config(&cfg);
	if (opt.stats) {
		ret = netreserve_stats_create(&stats, opt.stats, "nrexchange", 1, MAX_ENDS);
		if (ret < 0) {
			fprintf(stderr, "stats: %s\n", strerror(-ret));
			return NULL;
		}
		cfg.stats = &stats;
		app_rx = netreserve_stats_app(&stats, 0, "rx_bytes");
		app_tx = netreserve_stats_app(&stats, 1, "tx_bytes");
		app_done = netreserve_stats_app(&stats, 2, "ends_done");
	}
	ret = netreserve_ring_new(&cfg, &ring);
	if (ret < 0) {
		fprintf(stderr, "netreserve_ring_new: %s\n", strerror(-ret));
		return NULL;
	}
	netreserve_features_format(netreserve_ring_features(ring), buf, sizeof(buf));
	printf("features %s\n", buf);

	pattern = mmap(NULL, PATTERN_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pattern == MAP_FAILED)
		return NULL;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < PATTERN_SIZE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pattern + i, &x, 8);
	}

	nends = setup_sockets(&cfg, fds, sides, idxs);
	if (nends < 0) {
		perror("sockets");
		return NULL;
	}
	for (int i = 0; i < nends; i++) {
		struct end *e = &ends[i];
		e->idx = idxs[i];
		e->side = sides[i];
		e->want_tx = opt.oneway && e->side == 1 ? 0 : opt.bytes;
		e->want_rx = opt.oneway && e->side == 0 ? 0 : opt.bytes;
		e->tx_crc = e->rx_crc = CRC32C_INIT;
		/* role both: compared with the peer end's CRC of what it sent; split roles: the
		 * expected stream's CRC, computed here (keep split runs small) */
		if (strcmp(opt.role, "both"))
			e->expect_rx_crc = stream_crc(stream_seed(e->idx, !e->side), e->want_rx);
		for (int d = 0; d < opt.depth; d++)
			e->req[d].e = e;
		ret = netreserve_conn_attach(ring, fds[i], 0, &ops, e, &e->c);
		if (ret < 0) {
			fprintf(stderr, "attach: %s\n", strerror(-ret));
			return NULL;
		}
		const struct netreserve_conn_stats *cs = netreserve_conn_stats(e->c);
		printf("conn %d side %d sndbuf %llu rcvbuf %llu sock_reserve_errno %llu\n", e->idx,
		       e->side, (unsigned long long)cs->sndbuf, (unsigned long long)cs->rcvbuf,
		       (unsigned long long)cs->sock_reserve);
	}
	if (!strcmp(opt.drive, "ev")) {
		evloop = ev_loop_new(EVBACKEND_EPOLL);
		if (!evloop)
			return NULL;
		ev_io_init(&rio, ring_cb, netreserve_ring_fd(ring), EV_READ);
		ev_io_start(evloop, &rio);
		/*
		 * Warm-up: libev grows its pending and epoll event arrays lazily, with realloc, the
		 * first time a watcher fires (the tripwire caught it). Make the ring fd readable
		 * with a NOP and let the watcher fire before steady state.
		 */
		for (int i = 0; i < 2; i++) {
			struct io_uring_sqe *sqe = netreserve_ring_sqe(ring);
			if (!sqe)
				return NULL;
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, netreserve_ud(0, 0, 0, 0));
			io_uring_submit(netreserve_ring_uring(ring));
			ev_run(evloop, EVRUN_NOWAIT);
		}
	}
	if (opt.setup_file) {
		/* sockets attached, reserves taken: tell the test */
		int fd = open(opt.setup_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	if (opt.wait_go) {
		struct stat sb;
		for (int i = 0; i < opt.timeout * 100 && stat(opt.wait_go, &sb) < 0; i++)
			usleep(10000);
	}

	if (!opt.no_protect) {
		struct netreserve_footprint fp;
		netreserve_footprint(&cfg, &fp);
		struct netreserve_protect_config pc = {
			.memlock_bytes = fp.locked + fp.registered,
			.oom_score_adj = -1000,
			.nice = 0,
		};
		netreserve_protect_process(&pc, &rep);
		netreserve_protect_format(&rep, buf, sizeof(buf));
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			printf("protect %s\n", l);
	}
	fflush(stdout);

	/* steady state: from here to the last close nothing may allocate. Touch what the
	 * measurement itself uses first (the vDSO data page faults in on first use). */
	(void)now();
	(void)vmrss_kb();
	getrusage(RUSAGE_SELF, &ru0);
	long rss0 = vmrss_kb();
	netreserve_ready(opt.stats ? &stats : NULL);
	double t0 = now();
	for (int i = 0; i < nends; i++) {
		for (int d = 0; d < opt.depth; d++)
			end_send_more(&ends[i], &ends[i].req[d]);
		end_check(&ends[i]);
	}
	if (evloop) {
		netreserve_ring_poll(ring);
		ev_run(evloop, 0);
	} else {
		ret = netreserve_ring_run(ring);
		if (ret < 0)
			failures++;
	}
	double t1 = now();
	long rss1 = vmrss_kb();
	getrusage(RUSAGE_SELF, &ru1);
	netreserve_unready(opt.stats ? &stats : NULL);

	/* report */
	const struct netreserve_ring_stats *rs = netreserve_ring_stats(ring);
	uint64_t rx = 0, tx = 0, enobufs = 0, rearm = 0;
	int crc_bad = 0;
	for (int i = 0; i < nends; i++) {
		struct end *e = &ends[i];
		rx += e->rx_bytes;
		tx += e->tx_done;
		if (!strcmp(opt.role, "both"))
			for (int j = 0; j < nends; j++)
				if (ends[j].idx == e->idx && ends[j].side != e->side)
					e->expect_rx_crc = ends[j].tx_crc;
		if (crc32c_final(e->rx_crc) != crc32c_final(e->expect_rx_crc) || e->rx_mismatch ||
		    e->rx_bytes != e->want_rx || e->tx_done != e->want_tx) {
			crc_bad++;
			failures++;
		}
		printf("end %d/%d rx %llu tx %llu rx_crc %08x expect %08x close_err %d\n", e->idx,
		       e->side, (unsigned long long)e->rx_bytes, (unsigned long long)e->tx_done,
		       crc32c_final(e->rx_crc), crc32c_final(e->expect_rx_crc), e->close_err);
	}
	enobufs = rs->rx_enobufs;
	rearm = rs->rx_rearm;
	double secs = t1 - t0;
	long minflt = ru1.ru_minflt - ru0.ru_minflt, majflt = ru1.ru_majflt - ru0.ru_majflt;
	printf("drive %s\nrole %s\nends %d\nrx_bytes %llu\ntx_bytes %llu\nseconds %.3f\n"
	       "rx_mib_s %.1f\ncrc_bad %d\nminflt_delta %ld\nmajflt_delta %ld\nrss_before_kb %ld\n"
	       "rss_after_kb %ld\ncq_overflow %llu\ncq_overflow_flag %llu\nstale_cqes %llu\n"
	       "rx_enobufs %llu\nrx_rearm %llu\nsock_reserve_ok %llu\nsock_reserve_eopnotsupp %llu\n"
	       "sock_reserve_err %llu\nsock_reserve_errno %llu\nloops %llu\nenters %llu\n"
	       "cqes %llu\nleak_fails %llu\nzc_sends %llu\nzc_copied %llu\n",
	       opt.drive, opt.role, nends, (unsigned long long)rx, (unsigned long long)tx, secs,
	       secs > 0 ? (double)rx / (1 << 20) / secs : 0.0, crc_bad, minflt, majflt, rss0, rss1,
	       (unsigned long long)rs->cq_overflow, (unsigned long long)rs->cq_overflow_flag,
	       (unsigned long long)rs->stale_cqes, (unsigned long long)enobufs,
	       (unsigned long long)rearm, (unsigned long long)rs->sock_reserve_ok,
	       (unsigned long long)rs->sock_reserve_eopnotsupp,
	       (unsigned long long)rs->sock_reserve_err, (unsigned long long)rs->sock_reserve_errno,
	       (unsigned long long)rs->loops, (unsigned long long)rs->enters,
	       (unsigned long long)rs->cqes, (unsigned long long)leak_fails,
	       (unsigned long long)rs->zc_sends, (unsigned long long)rs->zc_copied);
	int bad = failures;
	if (opt.strict) {
		if (minflt || majflt) {
			printf("FAIL page faults in steady state\n");
			bad++;
		}
		if (rss1 != rss0) {
			printf("FAIL VmRSS changed\n");
			bad++;
		}
		if (rs->cq_overflow || rs->cq_overflow_flag) {
			printf("FAIL CQ overflow\n");
			bad++;
		}
	}
	if (opt.expect_enobufs && (!enobufs || !rearm)) {
		printf("FAIL expected rx_enobufs > 0 and rx_rearm > 0\n");
		bad++;
	}
	printf("result %s\n", bad ? "FAIL" : "PASS");
	fflush(stdout);
	if (evloop)
		ev_loop_destroy(evloop);
	netreserve_ring_free(ring);
	netreserve_stats_destroy(&stats);
	*status = bad ? 1 : 0;
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t t;
	int status = 99;

	parse(argc, argv);
	if (opt.print_footprint) {
		struct netreserve_config cfg;
		struct netreserve_footprint fp;
		char buf[1024];
		make_config(&cfg);
		if (netreserve_footprint(&cfg, &fp) < 0)
			return 99;
		netreserve_footprint_format(&fp, buf, sizeof(buf));
		fputs(buf, stdout);
		return 0;
	}
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned int)opt.timeout);
	/* small stack, created before mlockall */
	if (netreserve_thread_create(&t, 0, datapath, &status) < 0)
		return 99;
	pthread_join(t, NULL);
	return status;
}
