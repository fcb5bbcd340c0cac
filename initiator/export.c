/*
 * NBD exports: listeners, client connections on the netreserve ring, and NBD request -> task
 * glue. Setup maps its state once; nothing here allocates afterwards.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "initiator/export.h"
#include "initiator/nbd.h"
#include "initiator/nbd_kernel.h"

#include "common/datapath.h"

struct listener {
	enum initiator_nbd_kind kind;
	int fd;
	int default_export;
	char where[INITIATOR_PATH_MAX + 32]; /* "unix:/path", "tcp:127.0.0.1:10809", ... */
	char unlink_path[INITIATOR_PATH_MAX];
	int kernel_index;
	uint16_t gen;
	bool armed;
	bool swap; /* KERNEL: /dev/nbdN (or a partition of it) is an active swap area */
};

/*
 * NBD replies gathered into one send request: the replies of every task completed in one pass
 * of the dispatch loop go to the client in one sendmsg (one wakeup of the client) instead of
 * one each. When every batch of the client is in flight, replies go one by one.
 */
#define REPLY_BATCHES 2
#define REPLY_BATCH_IOV NETRESERVE_CONN_IOV

struct reply_batch {
	struct client *c;
	struct initiator_task *head; /* the replies it carries, through reply_next */
	struct iovec iov[REPLY_BATCH_IOV];
	struct netreserve_send send;
	bool busy;
};

struct client {
	struct initiator_export *e;
	uint32_t idx;
	uint32_t gen;
	bool in_use;
	bool stalled;
	bool hs_busy;
	bool kernel;
	int listener;
	uint32_t inflight;
	struct netreserve_conn *conn;
	struct initiator_task *wbuf; /* the WRITE buffer the engine is filling */
	struct iovec hs_iov;
	struct netreserve_send hs_send;
	struct initiator_nbd_config ncfg;
	struct initiator_nbd_conn nbd;
	/* replies built and not yet handed to the connection, through task->reply_next */
	struct initiator_task *rq_head, *rq_tail;
	struct reply_batch rb[REPLY_BATCHES];
};

struct initiator_export {
	struct initiator_export_config ec;
	size_t map_len;
	struct initiator_nbd_export exports[INITIATOR_MAX_LUNS];
	char names[INITIATOR_MAX_LUNS][24];
	char descs[INITIATOR_MAX_LUNS][TEXT_NAME_MAX + 96];
	struct listener listeners[INITIATOR_MAX_LISTENERS];
	size_t nlisteners;
	struct client *clients;
	uint32_t nclients;
	uint32_t connected;
	uint32_t stalled;
	uint32_t rr;
	bool replies_queued; /* some client has rq_head set */
	bool stopping;
	uint64_t accepted, refused;
	struct log_ratelimit rl;
};

static const struct initiator_nbd_ops nbd_ops;
static long client_recv(struct netreserve_conn *c, const void *data, size_t len, void *ctx);
static void client_closed(struct netreserve_conn *c, int err, void *ctx);

static const struct netreserve_conn_ops client_conn_ops = {
	.on_recv = client_recv,
	.on_close = client_closed,
};

/* ---- setup ------------------------------------------------------------------------------------ */

static int
fail_msg(char *msg, size_t msg_size, int err, const char *what, const char *where)
{
	snprintf(msg, msg_size, "%s %s: %s", what, where, strerror(-err));
	return err;
}

static int
listen_unix(struct listener *l, const char *path, char *msg, size_t msg_size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msg_size, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(msg, msg_size, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_msg(msg, msg_size, -errno, "socket for", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return fail_msg(msg, msg_size, err, "cannot listen on", path);
	}
	l->fd = fd;
	snprintf(l->unlink_path, sizeof(l->unlink_path), "%s", path);
	snprintf(l->where, sizeof(l->where), "unix:%s", path);
	return 0;
}

static int
listen_tcp(struct listener *l, const char *host, uint16_t port, char *msg, size_t msg_size)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	const char *h = !strcmp(host, "localhost") ? "127.0.0.1" : host;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else {
		snprintf(msg, msg_size, "tcp:%s: a numeric address or localhost is required", host);
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_msg(msg, msg_size, -errno, "socket for", host);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return fail_msg(msg, msg_size, err, "cannot listen on", host);
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	uint16_t bound = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	l->fd = fd;
	snprintf(l->where, sizeof(l->where), ss.ss_family == AF_INET6 ? "tcp:[%s]:%u" : "tcp:%s:%u",
		 h, bound);
	return 0;
}

/*
 * The kernel nbd client's socket and ours: a unix socketpair, or with tcp a connected pair over
 * loopback TCP (accepted from a one-shot listener on 127.0.0.1:0), TCP_NODELAY on both ends.
 * sv[0] goes to the kernel, sv[1] is ours. Control plane. Returns 0 or -errno.
 */
static int
kernel_sock_pair(bool tcp, int sv[2])
{
	if (!tcp)
		return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ? -errno : 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1, err = 0;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sv[0] = sv[1] = -1;
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	sv[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sv[1] < 0)
		goto fail;
	close(lfd);
	setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
fail:
	err = -errno;
	close(lfd);
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	sv[0] = sv[1] = -1;
	return err;
}

static struct client *
client_alloc(struct initiator_export *e)
{
	for (uint32_t i = 0; i < e->nclients; i++)
		if (!e->clients[i].in_use)
			return &e->clients[i];
	return NULL;
}

static void client_flush(struct client *c);

/*
 * AF_UNIX stream sockets do not autotune: their send buffer stays at net.core.wmem_default
 * (208 KiB), so a 1 MiB read reply went out in five pieces, each waiting for the client to
 * drain the last, and the task slot stayed taken meanwhile. Room for one largest reply
 * (max_io plus headers; the kernel doubles the value for bookkeeping) sends it in one piece.
 * The footprint already counts NETRESERVE_AUTOTUNE_BUF per direction and connection, which
 * covers this. A configured reserve.sndbuf is applied at attach and wins.
 */
static void
client_sndbuf(struct initiator_export *e, int fd, const struct listener *l)
{
	const struct initiator_config *cfg = e->ec.cfg;
	if (l->kind == INITIATOR_NBD_TCP || cfg->sndbuf)
		return;
	int v = (int)MIN((uint64_t)cfg->max_io + 65536, (uint64_t)INT32_MAX / 2);
	/* best effort: the default buffer works, only slower */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* Bring up a client on connected socket fd (owned from now on). */
static int
client_start(struct initiator_export *e, int fd, int li, bool kernel)
{
	struct client *c = client_alloc(e);
	struct listener *l = &e->listeners[li];
	int r;

	if (!c) {
		e->refused++;
		log_ratelimited(&e->rl, LOG_LEVEL_WARN,
				"nbd %s: refusing a client: all %u client slots in use", l->where,
				e->nclients);
		close(fd);
		return -ENOSPC;
	}
	c->in_use = true;
	c->stalled = false;
	c->hs_busy = false;
	c->kernel = kernel;
	c->listener = li;
	c->inflight = 0;
	c->wbuf = NULL;
	c->rq_head = c->rq_tail = NULL;
	c->ncfg = (struct initiator_nbd_config){
		.exports = e->exports,
		.nexports = e->ec.nluns,
		.default_export = l->default_export,
		.ops = &nbd_ops,
		.ctx = c,
	};
	if (kernel)
		r = initiator_nbd_conn_init_transmission(&c->nbd, &c->ncfg, l->default_export);
	else
		r = initiator_nbd_conn_init(&c->nbd, &c->ncfg);
	if (r == 0) {
		client_sndbuf(e, fd, l);
		r = netreserve_conn_attach(e->ec.ring, fd, 0, &client_conn_ops, c, &c->conn);
	}
	if (r) {
		log_ratelimited(&e->rl, LOG_LEVEL_ERR, "nbd %s: cannot serve a client: %s",
				l->where, strerror(-r));
		c->in_use = false;
		c->gen++;
		close(fd);
		return r;
	}
	e->connected++;
	e->accepted++;
	log_info("nbd %s: client c%u connected", l->where, c->idx);
	client_flush(c);
	return 0;
}

uint32_t
initiator_export_client_slots(const struct initiator_config *cfg)
{
	uint32_t n = cfg->nbd_clients;
	for (size_t i = 0; i < cfg->nnbd; i++)
		if (cfg->nbd[i].kind == INITIATOR_NBD_KERNEL)
			n++; /* the daemon's end of each kernel socketpair */
	return n;
}

uint64_t
initiator_export_reserve_bytes(const struct initiator_config *cfg)
{
	size_t base = ALIGN_UP(sizeof(struct initiator_export), (size_t)64);
	return ALIGN_UP(base + sizeof(struct client) * initiator_export_client_slots(cfg),
			(size_t)4096);
}

int
initiator_export_new(const struct initiator_export_config *ec, struct initiator_export **out,
		     char *msg, size_t msg_size)
{
	const struct initiator_config *cfg = ec->cfg;
	uint32_t nclients = initiator_export_client_slots(cfg);
	size_t base = ALIGN_UP(sizeof(struct initiator_export), (size_t)64);
	size_t len = initiator_export_reserve_bytes(cfg);
	int r = 0;

	if (ec->nluns == 0 || ec->nluns > INITIATOR_MAX_LUNS) {
		snprintf(msg, msg_size, "no LUN to export");
		return -ENODEV;
	}
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (m == MAP_FAILED) {
		snprintf(msg, msg_size, "cannot map the export state");
		return -ENOMEM;
	}
	struct initiator_export *e = m;
	memset(e, 0, sizeof(*e));
	e->map_len = len;
	e->ec = *ec;
	e->clients = (struct client *)((char *)m + base);
	e->nclients = nclients;
	for (uint32_t i = 0; i < e->nclients; i++) {
		e->clients[i].e = e;
		e->clients[i].idx = i;
	}
	for (size_t i = 0; i < INITIATOR_MAX_LISTENERS; i++)
		e->listeners[i].fd = -1;

	for (size_t i = 0; i < ec->nluns; i++) {
		const struct initiator_lun *lun = &ec->luns[i];
		struct initiator_nbd_export *x = &e->exports[i];
		snprintf(e->names[i], sizeof(e->names[i]), "%llu",
			 (unsigned long long)lun->info.lun);
		snprintf(e->descs[i], sizeof(e->descs[i]), "%s lun %llu (%s %s)", ec->target,
			 (unsigned long long)lun->info.lun, lun->info.vendor, lun->info.product);
		x->name = e->names[i];
		x->description = e->descs[i];
		x->size = lun->info.nblocks * lun->info.block_size;
		x->min_block = lun->info.block_size;
		x->pref_block = MAX(MAX(lun->info.phys_block_size, lun->info.block_size), 512u);
		x->max_payload = cfg->max_io;
		/* one session serves every connection and SYNCHRONIZE CACHE covers the whole LU:
		 * a flush on any connection covers writes completed on all of them */
		x->flags = INITIATOR_NBD_EXPORT_FLUSH | INITIATOR_NBD_EXPORT_WRITE_ZEROES |
			   INITIATOR_NBD_EXPORT_MULTI_CONN;
		/* FUA only where the LU honours it (DPOFUA) or has no write cache to bypass */
		if (lun->accept_fua)
			x->flags |= INITIATOR_NBD_EXPORT_FUA;
		if (lun->can_unmap)
			x->flags |= INITIATOR_NBD_EXPORT_TRIM;
		if (lun->info.read_only)
			x->flags |= INITIATOR_NBD_EXPORT_READ_ONLY;
		x->priv = (void *)lun;
	}

	int def = 0;
	if (cfg->lun >= 0) {
		def = -1;
		for (size_t i = 0; i < ec->nluns; i++)
			if ((int64_t)ec->luns[i].info.lun == cfg->lun)
				def = (int)i;
		if (def < 0) {
			snprintf(msg, msg_size, "LUN %lld not found on %s", (long long)cfg->lun,
				 ec->target);
			r = -ENOENT;
			goto fail;
		}
	}

	if (cfg->nnbd == 0) {
		/* default: one unix socket per LUN under socket_dir */
		mkdir(cfg->socket_dir, 0755);
		for (size_t i = 0; i < ec->nluns && i < INITIATOR_MAX_LISTENERS; i++) {
			if (cfg->lun >= 0 && (int)i != def)
				continue;
			char path[INITIATOR_PATH_MAX + 300];
			snprintf(path, sizeof(path), "%s/%s-lun%llu.sock", cfg->socket_dir,
				 ec->target, (unsigned long long)ec->luns[i].info.lun);
			struct listener *l = &e->listeners[e->nlisteners];
			l->kind = INITIATOR_NBD_UNIX;
			l->default_export = (int)i;
			r = listen_unix(l, path, msg, msg_size);
			if (r)
				goto fail;
			e->nlisteners++;
		}
	}
	for (size_t i = 0; i < cfg->nnbd; i++) {
		const struct initiator_nbd_spec *sp = &cfg->nbd[i];
		struct listener *l = &e->listeners[e->nlisteners];
		l->kind = sp->kind;
		l->default_export = def;
		if (sp->kind == INITIATOR_NBD_UNIX) {
			r = listen_unix(l, sp->path, msg, msg_size);
		} else if (sp->kind == INITIATOR_NBD_TCP) {
			r = listen_tcp(l, sp->host, sp->port, msg, msg_size);
		} else {
			r = initiator_nbd_kernel_available();
			if (r == -ENOENT) {
				snprintf(msg, msg_size,
					 "--nbd %s: the running kernel has no nbd driver (generic "
					 "netlink family \"nbd\" absent; try modprobe nbd)",
					 sp->spec);
				goto fail;
			}
			if (r) {
				fail_msg(msg, msg_size, r, "--nbd", sp->spec);
				goto fail;
			}
			int sv[2];
			r = kernel_sock_pair(cfg->kernel_nbd_tcp, sv);
			if (r < 0) {
				fail_msg(msg, msg_size, r,
					 cfg->kernel_nbd_tcp ? "loopback TCP pair for"
								: "socketpair for",
					 sp->spec);
				goto fail;
			}
			const struct initiator_nbd_export *x = &e->exports[def];
			struct initiator_nbd_kernel_params kp = {
				.index = sp->kernel_index,
				.size_bytes = x->size,
				.block_size = x->min_block,
				.server_flags = initiator_nbd_export_tflags(x),
				.timeout = 0,
				.dead_conn_timeout = 60,
				.sock_fds = &sv[0],
				.nsocks = 1,
				.backend = x->description,
			};
			r = initiator_nbd_kernel_connect(&kp);
			close(sv[0]);
			if (r < 0) {
				close(sv[1]);
				fail_msg(msg, msg_size, r, "kernel nbd attach for", sp->spec);
				goto fail;
			}
			l->kernel_index = r;
			snprintf(l->where, sizeof(l->where), "kernel:/dev/nbd%d", r);
			e->nlisteners++;
			r = client_start(e, sv[1], (int)(l - e->listeners), true);
			if (r) {
				snprintf(msg, msg_size, "cannot serve /dev/nbd%d", l->kernel_index);
				goto fail;
			}
			continue;
		}
		if (r)
			goto fail;
		e->nlisteners++;
	}
	*out = e;
	return 0;
fail:
	initiator_export_free(e);
	return r;
}

static void
arm_accept(struct initiator_export *e, size_t i)
{
	struct listener *l = &e->listeners[i];
	if (l->fd < 0 || l->armed || e->stopping)
		return;
	struct io_uring_sqe *sqe = netreserve_ring_sqe(e->ec.ring);
	if (!sqe)
		return; /* retried from initiator_export_run() */
	io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, netreserve_ud(INITIATOR_KIND_ACCEPT, (uint32_t)i, l->gen, 0));
	l->armed = true;
}

static void
accept_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	struct initiator_export *e = ctx;
	uint32_t i = netreserve_ud_slot(cqe->user_data);
	(void)r;
	if (i >= e->nlisteners)
		return;
	struct listener *l = &e->listeners[i];
	if (netreserve_ud_gen(cqe->user_data) != l->gen)
		return;
	l->armed = false;
	if (cqe->res >= 0) {
		if (e->stopping)
			close(cqe->res);
		else
			client_start(e, cqe->res, (int)i, false);
	} else if (cqe->res != -ECANCELED && cqe->res != -EINTR && cqe->res != -EAGAIN) {
		log_ratelimited(&e->rl, LOG_LEVEL_ERR, "nbd %s: accept: %s", l->where,
				strerror(-cqe->res));
	}
	arm_accept(e, i);
}

int
initiator_export_start(struct initiator_export *e)
{
	int r = netreserve_ring_set_handler(e->ec.ring, INITIATOR_KIND_ACCEPT, accept_cqe, e);
	if (r)
		return r;
	for (size_t i = 0; i < e->nlisteners; i++) {
		const struct listener *l = &e->listeners[i];
		log_notice("nbd %s: exporting lun %llu", l->where,
			   (unsigned long long)e->ec.luns[l->default_export].info.lun);
		arm_accept(e, i);
	}
	return 0;
}

int
initiator_export_ready_lines(struct initiator_export *e, int fd)
{
	for (size_t i = 0; i < e->nlisteners; i++) {
		const struct listener *l = &e->listeners[i];
		char line[INITIATOR_PATH_MAX + 64];
		int n = snprintf(line, sizeof(line), "nbd %s lun %llu\n", l->where,
				 (unsigned long long)e->ec.luns[l->default_export].info.lun);
		if (write(fd, line, (size_t)n) != n)
			return -errno;
	}
	return 0;
}

void
initiator_export_free(struct initiator_export *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nlisteners; i++) {
		struct listener *l = &e->listeners[i];
		if (l->fd >= 0)
			close(l->fd);
		if (l->unlink_path[0])
			unlink(l->unlink_path);
		if (l->kind == INITIATOR_NBD_KERNEL && l->where[0])
			initiator_nbd_kernel_disconnect(l->kernel_index);
	}
	munmap(e, e->map_len);
}

/* ---- clients ---------------------------------------------------------------------------------- */

static void
client_check_close(struct client *c)
{
	if (c->conn && initiator_nbd_phase(&c->nbd) == INITIATOR_NBD_PHASE_CLOSED && !c->inflight &&
	    !c->hs_busy)
		netreserve_conn_close(c->conn, 0);
}

static void
hs_sent(struct netreserve_conn *conn, struct netreserve_send *snd, int res)
{
	struct client *c = container_of(snd, struct client, hs_send);
	c->hs_busy = false;
	if (res < 0 || !c->in_use)
		return;
	initiator_nbd_output_consume(&c->nbd, c->hs_iov.iov_len);
	client_flush(c);
	if (c->hs_busy)
		return;
	if (initiator_nbd_phase(&c->nbd) == INITIATOR_NBD_PHASE_CLOSED) {
		client_check_close(c);
		return;
	}
	if (!c->stalled)
		netreserve_conn_resume_recv(conn);
}

/* Send pending handshake output, one request at a time. */
static void
client_flush(struct client *c)
{
	const void *out;
	if (c->hs_busy || !c->conn)
		return;
	size_t n = initiator_nbd_output(&c->nbd, &out);
	if (!n)
		return;
	c->hs_iov.iov_base = (void *)out;
	c->hs_iov.iov_len = n;
	c->hs_send.done = hs_sent;
	c->hs_send.flags = 0;
	if (netreserve_conn_send(c->conn, &c->hs_iov, 1, &c->hs_send) == 0)
		c->hs_busy = true;
}

static void
client_task_release(struct client *c, struct initiator_task *t)
{
	struct initiator_session *s = c->e->ec.sess;
	bool mine = c->in_use && c->gen == t->owner_gen;
	initiator_session_task_put(s, t);
	if (mine) {
		c->inflight--;
		client_check_close(c);
	}
}

static void
reply_sent(struct netreserve_conn *conn, struct netreserve_send *snd, int res)
{
	struct initiator_task *t = container_of(snd, struct initiator_task, reply_send);
	(void)conn;
	(void)res;
	client_task_release(t->owner, t);
}

static void
reply_batch_sent(struct netreserve_conn *conn, struct netreserve_send *snd, int res)
{
	struct reply_batch *b = container_of(snd, struct reply_batch, send);
	struct initiator_task *t = b->head;
	(void)conn;
	(void)res;
	b->head = NULL;
	b->busy = false;
	while (t) {
		struct initiator_task *next = t->reply_next;
		t->reply_next = NULL;
		client_task_release(b->c, t);
		t = next;
	}
}

/* Release replies that will never be sent (from head on). */
static void
replies_drop(struct client *c, struct initiator_task *t)
{
	while (t) {
		struct initiator_task *next = t->reply_next;
		t->reply_next = NULL;
		client_task_release(c, t);
		t = next;
	}
}

/*
 * Hand c's queued replies to the connection in order: as many as fit into each free batch,
 * one send request per batch; one request per reply when no batch is free.
 */
static void
client_flush_replies(struct client *c)
{
	while (c->rq_head) {
		struct reply_batch *b = NULL;
		for (size_t i = 0; i < REPLY_BATCHES && !b; i++)
			if (!c->rb[i].busy)
				b = &c->rb[i];
		struct initiator_task *t = c->rq_head;
		if (!c->conn) {
			c->rq_head = c->rq_tail = NULL;
			replies_drop(c, t);
			return;
		}
		if (!b || !t->reply_next) {
			c->rq_head = t->reply_next;
			if (!c->rq_head)
				c->rq_tail = NULL;
			t->reply_next = NULL;
			t->reply_send.done = reply_sent;
			t->reply_send.flags = 0;
			if (netreserve_conn_send(c->conn, t->reply_iov, t->reply_iovcnt,
						 &t->reply_send))
				client_task_release(c, t);
			continue;
		}
		int n = 0;
		struct initiator_task *last = NULL;
		while (t && n + t->reply_iovcnt <= REPLY_BATCH_IOV) {
			memcpy(&b->iov[n], t->reply_iov, sizeof(t->reply_iov[0]) * t->reply_iovcnt);
			n += t->reply_iovcnt;
			last = t;
			t = t->reply_next;
		}
		b->head = c->rq_head;
		last->reply_next = NULL;
		c->rq_head = t;
		if (!t)
			c->rq_tail = NULL;
		b->c = c;
		b->send.done = reply_batch_sent;
		b->send.flags = 0;
		if (netreserve_conn_send(c->conn, b->iov, n, &b->send)) {
			t = b->head;
			b->head = NULL;
			replies_drop(c, t);
			continue;
		}
		b->busy = true;
	}
}

/* Send every client's queued replies (after each dispatch pass, and before closing). */
static void
export_flush_replies(struct initiator_export *e)
{
	if (!e->replies_queued)
		return;
	e->replies_queued = false;
	for (uint32_t i = 0; i < e->nclients; i++)
		if (e->clients[i].rq_head)
			client_flush_replies(&e->clients[i]);
}

/* Send the reply for t (err: NBD error), or drop it if the client is gone. */
static void
reply(struct initiator_task *t, uint32_t err, const char *msg)
{
	struct client *c = t->owner;
	if (!c->in_use || c->gen != t->owner_gen || !c->conn) {
		client_task_release(c, t);
		return;
	}
	int n = initiator_nbd_encode_reply(&c->nbd, &t->nreq, err, msg, t->reply_hdr,
					   sizeof(t->reply_hdr));
	if (n < 0) {
		client_task_release(c, t);
		netreserve_conn_close(c->conn, -EPROTO);
		return;
	}
	int cnt = 1;
	t->reply_iov[0] = (struct iovec){ t->reply_hdr, (size_t)n };
	if (t->nreq.type == INITIATOR_NBD_CMD_READ && !err && t->nreq.length)
		t->reply_iov[cnt++] = (struct iovec){ t->data, t->nreq.length };
	t->reply_iovcnt = (uint8_t)cnt;
	/* replies are called from initiator_session_run() (task completions) and the receive
	 * path (requests answered at once); initiator_export_run() follows both and sends the
	 * queue, several replies per send */
	t->reply_next = NULL;
	if (c->rq_tail)
		c->rq_tail->reply_next = t;
	else
		c->rq_head = t;
	c->rq_tail = t;
	c->e->replies_queued = true;
}

static void
task_done(struct initiator_task *t, uint32_t err)
{
	reply(t, err, err ? "SCSI command failed" : NULL);
}

static void *
nbd_get_write_buffer(void *ctx, const struct initiator_nbd_request *req)
{
	struct client *c = ctx;
	(void)req;
	if (!c->wbuf) {
		c->wbuf = initiator_session_task_get(c->e->ec.sess, NETRESERVE_CLASS_WRITEBACK);
		if (!c->wbuf)
			return NULL;
	}
	return c->wbuf->data;
}

static int
nbd_request(void *ctx, const struct initiator_nbd_request *req)
{
	struct client *c = ctx;
	struct initiator_export *e = c->e;
	struct initiator_task *t;

	if (req->type == INITIATOR_NBD_CMD_DISC)
		return 0; /* the engine is CLOSED now: close once every reply is out */
	if (req->type == INITIATOR_NBD_CMD_WRITE && c->wbuf) {
		t = c->wbuf;
		c->wbuf = NULL;
	} else {
		bool wb = req->type != INITIATOR_NBD_CMD_READ &&
			  req->type != INITIATOR_NBD_CMD_BLOCK_STATUS &&
			  req->type != INITIATOR_NBD_CMD_CACHE;
		t = initiator_session_task_get(e->ec.sess, wb ? NETRESERVE_CLASS_WRITEBACK
							      : NETRESERVE_CLASS_READ);
		if (!t)
			return -ENOBUFS;
	}
	t->owner = c;
	t->owner_gen = c->gen;
	t->nreq = *req;
	t->nreq.data = NULL;
	c->inflight++;
	if (req->error) {
		reply(t, req->error, req->errmsg);
		return 0;
	}
	const struct initiator_nbd_export *x = initiator_nbd_export(&c->nbd);
	t->lun = x->priv;
	t->offset = req->offset;
	t->length = req->length;
	t->fua = (req->flags & INITIATOR_NBD_CMD_FLAG_FUA) != 0;
	t->no_hole = (req->flags & INITIATOR_NBD_CMD_FLAG_NO_HOLE) != 0;
	t->done = task_done;
	switch (req->type) {
	case INITIATOR_NBD_CMD_READ:
		t->op = INITIATOR_OP_READ;
		break;
	case INITIATOR_NBD_CMD_WRITE:
		t->op = INITIATOR_OP_WRITE;
		break;
	case INITIATOR_NBD_CMD_FLUSH:
		t->op = INITIATOR_OP_FLUSH;
		break;
	case INITIATOR_NBD_CMD_TRIM:
		t->op = INITIATOR_OP_TRIM;
		break;
	case INITIATOR_NBD_CMD_WRITE_ZEROES:
		if ((req->flags & INITIATOR_NBD_CMD_FLAG_FAST_ZERO) && !t->lun->can_write_same) {
			reply(t, INITIATOR_NBD_ENOTSUP, "zeroing would not be fast");
			return 0;
		}
		t->op = INITIATOR_OP_ZERO;
		break;
	case INITIATOR_NBD_CMD_CACHE:
	case INITIATOR_NBD_CMD_BLOCK_STATUS:
		reply(t, 0, NULL);
		return 0;
	default:
		reply(t, INITIATOR_NBD_EINVAL, "unsupported command");
		return 0;
	}
	initiator_session_submit(e->ec.sess, t);
	return 0;
}

static const struct initiator_nbd_ops nbd_ops = {
	.request = nbd_request,
	.get_write_buffer = nbd_get_write_buffer,
};

static void
client_mark_stalled(struct client *c)
{
	enum initiator_nbd_stall st = initiator_nbd_stall(&c->nbd);
	if ((st == INITIATOR_NBD_STALL_WRITE_BUFFER || st == INITIATOR_NBD_STALL_REQUEST) &&
	    !c->stalled) {
		c->stalled = true;
		c->e->stalled++;
	}
}

static long
client_recv(struct netreserve_conn *conn, const void *data, size_t len, void *ctx)
{
	struct client *c = ctx;
	(void)conn;

	if (c->hs_busy || c->stalled)
		return 0;
	if (initiator_nbd_phase(&c->nbd) == INITIATOR_NBD_PHASE_CLOSED)
		return (long)len; /* after NBD_CMD_DISC or ABORT: input is ignored */
	/* the commands of every request received in this dispatch pass go out together, at
	 * initiator_session_run() after the pass */
	initiator_session_defer(c->e->ec.sess);
	ssize_t n = initiator_nbd_feed(&c->nbd, data, len);
	if (n < 0) {
		log_ratelimited(&c->e->rl, LOG_LEVEL_WARN, "nbd c%u: protocol error: %s", c->idx,
				strerror((int)-n));
		return n;
	}
	client_flush(c);
	/* a request may be held back (no slot) even when every byte was consumed */
	if (initiator_nbd_phase(&c->nbd) == INITIATOR_NBD_PHASE_CLOSED)
		n = (ssize_t)len;
	else
		client_mark_stalled(c);
	client_check_close(c);
	return (long)n;
}

static void
client_closed(struct netreserve_conn *conn, int err, void *ctx)
{
	struct client *c = ctx;
	struct initiator_export *e = c->e;
	(void)conn;

	if (c->wbuf) {
		initiator_session_task_put(e->ec.sess, c->wbuf);
		c->wbuf = NULL;
	}
	if (c->stalled) {
		c->stalled = false;
		e->stalled--;
	}
	/* replies queued and never handed to the connection (batches were completed before) */
	c->conn = NULL;
	struct initiator_task *q = c->rq_head;
	c->rq_head = c->rq_tail = NULL;
	replies_drop(c, q);
	initiator_nbd_conn_fini(&c->nbd);
	c->in_use = false;
	c->gen++;
	e->connected--;
	if (err && err != -ECONNRESET && err != -EPIPE)
		log_info("nbd c%u: disconnected: %s", c->idx, strerror(-err));
	else
		log_info("nbd c%u: disconnected", c->idx);
}

static void export_run_stalled(struct initiator_export *e);

void
initiator_export_run(struct initiator_export *e)
{
	for (size_t i = 0; i < e->nlisteners; i++)
		if (!e->listeners[i].armed && e->listeners[i].fd >= 0)
			arm_accept(e, i);
	if (e->stalled && initiator_session_slot_freed(e->ec.sess)) {
		initiator_session_defer(e->ec.sess);
		export_run_stalled(e);
		initiator_session_flush(e->ec.sess);
	}
	export_flush_replies(e);
}

/* Feed the stalled clients again now that task slots are free. */
static void
export_run_stalled(struct initiator_export *e)
{
	/* round-robin so that one busy client cannot starve the others */
	for (uint32_t k = 0; k < e->nclients && e->stalled; k++) {
		struct client *c = &e->clients[(e->rr + k) % e->nclients];
		if (!c->in_use || !c->stalled)
			continue;
		ssize_t r = initiator_nbd_feed(&c->nbd, NULL, 0);
		if (r < 0) {
			netreserve_conn_close(c->conn, (int)r);
			continue;
		}
		enum initiator_nbd_stall st = initiator_nbd_stall(&c->nbd);
		if (st == INITIATOR_NBD_STALL_WRITE_BUFFER || st == INITIATOR_NBD_STALL_REQUEST) {
			e->rr = (e->rr + k) % e->nclients;
			return; /* still no slot: wait for the next put */
		}
		c->stalled = false;
		e->stalled--;
		client_flush(c);
		if (!c->hs_busy)
			netreserve_conn_resume_recv(c->conn);
	}
	e->rr++;
}

uint32_t
initiator_export_clients(const struct initiator_export *e)
{
	return e->connected;
}

void
initiator_export_stop(struct initiator_export *e)
{
	e->stopping = true;
	for (size_t i = 0; i < e->nlisteners; i++) {
		struct listener *l = &e->listeners[i];
		if (l->fd >= 0) {
			if (l->armed) {
				struct io_uring_sqe *sqe = netreserve_ring_sqe(e->ec.ring);
				if (sqe) {
					io_uring_prep_cancel64(
						sqe, netreserve_ud(INITIATOR_KIND_ACCEPT, (uint32_t)i,
								   l->gen, 0),
						0);
					io_uring_sqe_set_data64(sqe, 0);
				}
			}
		}
	}
	export_flush_replies(e);
	for (uint32_t i = 0; i < e->nclients; i++)
		if (e->clients[i].in_use && e->clients[i].conn)
			netreserve_conn_close(e->clients[i].conn, 0);
}

int
initiator_export_format(const struct initiator_export *e, char *buf, size_t len)
{
	size_t off = 0;
	for (size_t i = 0; i < e->nlisteners && off < len; i++) {
		const struct listener *l = &e->listeners[i];
		const struct initiator_nbd_export *x = &e->exports[l->default_export];
		char sw[32] = "";
		if (l->kind == INITIATOR_NBD_KERNEL)
			snprintf(sw, sizeof(sw), l->swap ? " swap yes /dev/nbd%d" : " swap no",
				 l->kernel_index);
		off += (size_t)snprintf(buf + off, len - off,
					"export %s lun %s size %llu block %u max_io %u%s\n",
					l->where, x->name, (unsigned long long)x->size,
					x->min_block, x->max_payload, sw);
	}
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off,
					"nbd clients %u accepted %llu refused %llu stalled %u\n",
					e->connected, (unsigned long long)e->accepted,
					(unsigned long long)e->refused, e->stalled);
	return (int)off;
}

/* Is the swap area named at p (up to end) dev or one of its partitions (devpN)? */
static bool
swap_name_is(const char *p, const char *end, const char *dev)
{
	size_t n = strlen(dev);
	if ((size_t)(end - p) < n || memcmp(p, dev, n) != 0)
		return false;
	p += n;
	if (p == end || *p == ' ' || *p == '\t')
		return true;
	/* partitions: /dev/nbd0p1, /dev/ublkb0p1 */
	if (*p++ != 'p' || p == end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p == end || *p == ' ' || *p == '\t';
}

bool
initiator_swaps_has(const char *swaps, size_t len, const char *dev)
{
	/* proc_swaps_show(): a header line, then the path as the first field */
	const char *end = swaps + len;
	for (const char *line = swaps; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		if (*line == '/' && swap_name_is(line, le, dev)) /* the header is no path */
			return true;
		line = nl ? nl + 1 : end;
	}
	return false;
}

int
initiator_export_swap_update(struct initiator_export *e, const char *swaps, size_t len)
{
	int nswap = 0;
	for (size_t i = 0; i < e->nlisteners; i++) {
		struct listener *l = &e->listeners[i];
		if (l->kind != INITIATOR_NBD_KERNEL || l->kernel_index < 0)
			continue;
		char dev[32];
		snprintf(dev, sizeof(dev), "/dev/nbd%d", l->kernel_index);
		nswap += initiator_swap_watch(swaps, len, dev, e->exports[l->default_export].name,
					      &l->swap);
	}
	return nswap;
}

bool
initiator_swap_watch(const char *swaps, size_t len, const char *dev, const char *lun, bool *swap)
{
	bool on = initiator_swaps_has(swaps, len, dev);
	if (on != *swap) {
		*swap = on;
		if (on)
			log_warn("%s (lun %s) is now SWAP: swapping through a userspace initiator "
				 "can deadlock under memory pressure (sockets cannot reach the "
				 "kernel's memalloc reserves); use the kernel iSCSI initiator for "
				 "swap (see doc/oom-safety.md)",
				 dev, lun);
		else
			log_notice("%s is no longer swap", dev);
	}
	return on;
}
