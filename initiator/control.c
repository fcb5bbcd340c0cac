/*
 * The control socket, served entirely with io_uring operations on the daemon's ring: the
 * listening socket is read with IORING_OP_ACCEPT, a request with IORING_OP_RECV and the answer
 * sent with IORING_OP_SEND, so that nothing here blocks the datapath thread that owns the ring,
 * whatever a local client does (connect and send nothing, send half a line, never read).
 *
 * Storage is static: one object per process (the daemon has one control socket), with
 * CONTROL_SLOTS client slots, each holding its request and answer buffers. Nothing is allocated
 * after initiator_control_new(), and a buffer the kernel may still write to is never unmapped.
 *
 * At most CONTROL_SLOTS clients are in progress at once; the accept is armed only while a slot
 * is free, so further clients wait in the listen backlog instead of being dropped.
 *
 * Deadlines: a client has CONTROL_REQUEST_MS from its accept to send its request line, and
 * CONTROL_ANSWER_MS to take the answer. One IORING_OP_TIMEOUT ticks every CONTROL_TICK_MS while
 * a slot is in use; a slot past its deadline is shut down (shutdown(2) on a unix socket never
 * blocks), which completes its pending recv (0) or send (-EPIPE), and its CQE then closes the
 * slot without an answer. A per-operation IORING_OP_LINK_TIMEOUT would do the same with twice
 * the CQEs; this way the control socket never has more than CONTROL_SLOTS + 1 CQEs outstanding
 * (each slot has one operation at a time, plus the accept, which is armed only while a slot
 * is free, plus the tick), which stays within the 4 user CQEs that ballastd's ring config
 * (initiator/main.c) sets aside for it.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "initiator/control.h"

#include "common/datapath.h"

#define CONTROL_SLOTS 3
#define CONTROL_REQ_MAX 256
#define CONTROL_REPLY_MAX (64 * 1024)
#define CONTROL_REQUEST_MS 1000
#define CONTROL_ANSWER_MS 2000
#define CONTROL_TICK_MS 100
#define CONTROL_BACKLOG 64

/* user_data aux: which operation a CQE completes */
enum {
	AUX_ACCEPT = 1,
	AUX_RECV,
	AUX_SEND,
	AUX_TICK,
};

enum slot_state {
	SLOT_FREE,
	SLOT_RECV, /* one recv in flight */
	SLOT_SEND, /* one send in flight */
};

struct control_slot {
	enum slot_state state;
	int fd;
	uint16_t gen;
	bool expired; /* past its deadline and shut down: close without an answer */
	bool logout;  /* the request was "logout": SIGTERM once the slot is closed */
	int64_t deadline_ms;
	size_t have;  /* request bytes received */
	size_t len;   /* answer length */
	size_t off;   /* answer bytes sent */
	char req[CONTROL_REQ_MAX];
	char reply[CONTROL_REPLY_MAX];
};

struct initiator_control {
	bool in_use;
	int fd;
	char path[108];
	struct netreserve_ring *ring;
	unsigned int kind;
	initiator_control_fn fn;
	void *ctx;
	uint16_t gen;          /* of the accept and the tick */
	bool accept_armed;
	bool accept_retry;     /* the accept failed or had no SQE: re-arm it from the tick */
	bool tick_armed;
	struct __kernel_timespec tick_ts;
	struct control_slot slot[CONTROL_SLOTS];
};

/* The only control object; its generations go on across a free and a new. */
static struct initiator_control control_store;
static uint16_t control_gen;

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
slots_busy(const struct initiator_control *c)
{
	for (unsigned int i = 0; i < CONTROL_SLOTS; i++)
		if (c->slot[i].state != SLOT_FREE)
			return true;
	return false;
}

static struct control_slot *
free_slot(struct initiator_control *c)
{
	for (unsigned int i = 0; i < CONTROL_SLOTS; i++)
		if (c->slot[i].state == SLOT_FREE)
			return &c->slot[i];
	return NULL;
}

static void
arm_tick(struct initiator_control *c)
{
	if (c->tick_armed)
		return;
	struct io_uring_sqe *sqe = netreserve_ring_sqe(c->ring);
	if (!sqe)
		return; /* the next slot CQE tries again */
	c->tick_ts.tv_sec = 0;
	c->tick_ts.tv_nsec = (long long)CONTROL_TICK_MS * 1000000;
	io_uring_prep_timeout(sqe, &c->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, netreserve_ud(c->kind, CONTROL_SLOTS, c->gen, AUX_TICK));
	c->tick_armed = true;
}

static void
arm_accept(struct initiator_control *c)
{
	if (c->accept_armed || c->fd < 0 || !free_slot(c))
		return;
	struct io_uring_sqe *sqe = netreserve_ring_sqe(c->ring);
	if (!sqe) {
		c->accept_retry = true;
		arm_tick(c);
		return;
	}
	io_uring_prep_accept(sqe, c->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, netreserve_ud(c->kind, CONTROL_SLOTS, c->gen, AUX_ACCEPT));
	c->accept_armed = true;
}

/*
 * The slot's operation has completed (or was never submitted): close the client, free the
 * slot, take the next client from the backlog. A logout request takes the daemon's SIGTERM
 * path (its handler asks the main loop to stop, which drains the exports and logs out of the
 * target), so there is one shutdown sequence to get right; the answer was sent (or the client
 * gave up) and the connection closed first.
 */
static void
slot_finish(struct initiator_control *c, struct control_slot *s)
{
	bool logout = s->logout;

	close(s->fd);
	s->fd = -1;
	s->state = SLOT_FREE;
	s->logout = false;
	arm_accept(c);
	if (logout)
		kill(getpid(), SIGTERM);
}

static uint32_t
slot_index(const struct initiator_control *c, const struct control_slot *s)
{
	return (uint32_t)(s - c->slot);
}

static bool
submit_recv(struct initiator_control *c, struct control_slot *s)
{
	struct io_uring_sqe *sqe = netreserve_ring_sqe(c->ring);
	if (!sqe)
		return false;
	io_uring_prep_recv(sqe, s->fd, s->req + s->have, sizeof(s->req) - 1 - s->have, 0);
	io_uring_sqe_set_data64(sqe, netreserve_ud(c->kind, slot_index(c, s), s->gen, AUX_RECV));
	s->state = SLOT_RECV;
	return true;
}

static bool
submit_send(struct initiator_control *c, struct control_slot *s)
{
	struct io_uring_sqe *sqe = netreserve_ring_sqe(c->ring);
	if (!sqe)
		return false;
	/* no MSG_DONTWAIT: io_uring waits for room by polling, off this thread */
	io_uring_prep_send(sqe, s->fd, s->reply + s->off, s->len - s->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, netreserve_ud(c->kind, slot_index(c, s), s->gen, AUX_SEND));
	s->state = SLOT_SEND;
	return true;
}

/*
 * Requests the control socket answers itself, whatever the daemon's handler: they must work
 * the same in every daemon state. Returns the reply length, or -1 when cmd is not one of them.
 */
static int
builtin_answer(const char *cmd, char *buf, size_t len, bool *logout)
{
	if (!strcmp(cmd, "pid"))
		return snprintf(buf, len, "pid %ld\n", (long)getpid());
	if (!strcmp(cmd, "logout")) {
		*logout = true;
		return snprintf(buf, len, "ok logout pid %ld\n", (long)getpid());
	}
	if (!strcmp(cmd, "help"))
		return snprintf(buf, len, "commands: status pid logout help\n");
	return -1;
}

/* The request line is complete (or the client closed its side after part of one): answer it. */
static void
slot_answer(struct initiator_control *c, struct control_slot *s)
{
	s->req[s->have] = 0;
	char *nl = strchr(s->req, '\n');
	if (nl)
		*nl = 0;
	int len = builtin_answer(s->req, s->reply, sizeof(s->reply), &s->logout);
	if (len < 0)
		len = c->fn(c->ctx, s->req, s->reply, sizeof(s->reply));
	if (len < 0)
		len = snprintf(s->reply, sizeof(s->reply), "error %s\n", strerror(-len));
	if (len < 0)
		len = 0;
	if ((size_t)len >= sizeof(s->reply))
		len = (int)sizeof(s->reply) - 1;
	s->len = (size_t)len;
	s->off = 0;
	s->deadline_ms = now_ms() + CONTROL_ANSWER_MS;
	if (s->len == 0 || !submit_send(c, s))
		slot_finish(c, s);
}

static void
recv_cqe(struct initiator_control *c, struct control_slot *s, int res)
{
	if (s->expired || res < 0) {
		slot_finish(c, s);
		return;
	}
	if (res == 0) {
		/* EOF: answer what came before it, as a line; nothing at all gets nothing */
		if (s->have)
			slot_answer(c, s);
		else
			slot_finish(c, s);
		return;
	}
	size_t from = s->have;
	s->have += (size_t)res;
	if (memchr(s->req + from, '\n', s->have - from) || s->have >= sizeof(s->req) - 1) {
		slot_answer(c, s);
		return;
	}
	if (!submit_recv(c, s))
		slot_finish(c, s);
}

static void
send_cqe(struct initiator_control *c, struct control_slot *s, int res)
{
	if (s->expired || res <= 0) {
		slot_finish(c, s);
		return;
	}
	s->off += (size_t)res;
	if (s->off >= s->len || !submit_send(c, s))
		slot_finish(c, s);
}

static void
accept_cqe(struct initiator_control *c, int res)
{
	c->accept_armed = false;
	if (res < 0) {
		if (res == -ECANCELED)
			return;
		/* -EMFILE and the like would fail again at once: retry from the tick */
		if (res == -EINTR || res == -EAGAIN || res == -ECONNABORTED)
			arm_accept(c);
		else
			c->accept_retry = true;
		arm_tick(c);
		return;
	}
	struct control_slot *s = free_slot(c);
	if (!s) {
		close(res); /* cannot happen: the accept is armed only with a free slot */
		return;
	}
	s->fd = res;
	s->gen = ++control_gen;
	s->expired = false;
	s->logout = false;
	s->have = 0;
	s->deadline_ms = now_ms() + CONTROL_REQUEST_MS;
	if (!submit_recv(c, s)) {
		close(s->fd);
		s->fd = -1;
		s->state = SLOT_FREE;
	}
	arm_accept(c);
	arm_tick(c);
}

static void
tick_cqe(struct initiator_control *c)
{
	c->tick_armed = false;
	int64_t now = now_ms();
	for (unsigned int i = 0; i < CONTROL_SLOTS; i++) {
		struct control_slot *s = &c->slot[i];
		if (s->state == SLOT_FREE || s->expired || now < s->deadline_ms)
			continue;
		/* its pending recv or send completes at once, and its CQE closes it */
		s->expired = true;
		shutdown(s->fd, SHUT_RDWR);
	}
	if (c->accept_retry) {
		c->accept_retry = false;
		arm_accept(c);
	}
	if (slots_busy(c) || c->accept_retry)
		arm_tick(c);
}

static void
control_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	struct initiator_control *c = ctx;
	uint32_t i = netreserve_ud_slot(cqe->user_data);
	uint16_t gen = netreserve_ud_gen(cqe->user_data);
	(void)r;

	if (!c->in_use)
		return;
	switch (netreserve_ud_aux(cqe->user_data)) {
	case AUX_ACCEPT:
		if (gen == c->gen && c->accept_armed)
			accept_cqe(c, cqe->res);
		else if (cqe->res >= 0)
			close(cqe->res); /* a stale accept still hands over a connection */
		break;
	case AUX_TICK:
		if (gen == c->gen && c->tick_armed)
			tick_cqe(c);
		break;
	case AUX_RECV:
		if (i < CONTROL_SLOTS && c->slot[i].gen == gen && c->slot[i].state == SLOT_RECV)
			recv_cqe(c, &c->slot[i], cqe->res);
		break;
	case AUX_SEND:
		if (i < CONTROL_SLOTS && c->slot[i].gen == gen && c->slot[i].state == SLOT_SEND)
			send_cqe(c, &c->slot[i], cqe->res);
		break;
	default:
		break;
	}
}

int
initiator_control_new(const char *path, struct netreserve_ring *r, unsigned int kind,
		      initiator_control_fn fn, void *ctx, struct initiator_control **out,
		      char *msg, size_t msg_size)
{
	struct initiator_control *c = &control_store;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msg_size, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	if (c->in_use) {
		snprintf(msg, msg_size, "control socket %s: one control socket per process", path);
		return -EBUSY;
	}
	/* touch every page now, so that serving a request never faults one in */
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	for (unsigned int i = 0; i < CONTROL_SLOTS; i++)
		c->slot[i].fd = -1;
	c->gen = ++control_gen;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->fd, CONTROL_BACKLOG) < 0) {
		err = -errno;
		snprintf(msg, msg_size, "control socket %s: %s", path, strerror(-err));
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return err;
	}
	c->ring = r;
	c->kind = kind;
	c->fn = fn;
	c->ctx = ctx;
	err = netreserve_ring_set_handler(r, kind, control_cqe, c);
	if (err) {
		snprintf(msg, msg_size, "control socket: %s", strerror(-err));
		close(c->fd);
		unlink(c->path);
		c->fd = -1;
		return err;
	}
	c->in_use = true;
	arm_accept(c);
	*out = c;
	return 0;
}

/*
 * Cancels, and waits for, every operation of ours on fd (fd >= 0) or the one with user_data
 * ud, so that the kernel is done with the slot buffers and the socket before it is closed.
 */
static void
cancel_sync(struct initiator_control *c, int fd, uint64_t ud)
{
	struct io_uring_sync_cancel_reg reg = {
		.addr = ud,
		.fd = fd,
		.flags = fd >= 0 ? IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL : 0,
		.timeout = { .tv_sec = -1, .tv_nsec = -1 },
	};
	io_uring_register_sync_cancel(netreserve_ring_uring(c->ring), &reg);
}

void
initiator_control_free(struct initiator_control *c)
{
	if (!c || !c->in_use)
		return;
	c->in_use = false;
	netreserve_ring_set_handler(c->ring, c->kind, NULL, NULL);
	for (unsigned int i = 0; i < CONTROL_SLOTS; i++) {
		struct control_slot *s = &c->slot[i];
		if (s->state == SLOT_FREE)
			continue;
		cancel_sync(c, s->fd, 0);
		close(s->fd);
		s->fd = -1;
		s->state = SLOT_FREE;
	}
	if (c->accept_armed)
		cancel_sync(c, c->fd, 0);
	if (c->tick_armed)
		cancel_sync(c, -1, netreserve_ud(c->kind, CONTROL_SLOTS, c->gen, AUX_TICK));
	close(c->fd);
	unlink(c->path);
	c->fd = -1;
}

/* `ballastd ctl` error line on stderr (stdio's fprintf is poisoned in this file). */
static void PRINTF_FMT(1, 2)
ctl_err(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fputs("ballastd ctl: ", stderr);
	fputs(line, stderr);
	fputs("\n", stderr);
}

int
initiator_control_request(const char *path, const char *cmd, FILE *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];

	if (strlen(path) >= sizeof(sa.sun_path)) {
		ctl_err("socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		ctl_err("%s: %s", path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int n = snprintf(buf, sizeof(buf), "%s\n", cmd);
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		int err = -errno;
		ctl_err("send: %s", strerror(-err));
		close(fd);
		return err;
	}
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0) {
			int err = -errno;
			ctl_err("receive: %s", strerror(-err));
			close(fd);
			return err;
		}
		if (r == 0)
			break;
		fwrite(buf, 1, (size_t)r, out);
	}
	close(fd);
	return 0;
}

int
initiator_control_query(const char *path, const char *cmd, char *buf, size_t size,
			int timeout_ms, char *msg, size_t msg_size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[512];
	size_t have = 0;
	int err;

	if (size)
		buf[0] = 0;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msg_size, "%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line) || strchr(cmd, '\n')) {
		snprintf(msg, msg_size, "bad control request");
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		snprintf(msg, msg_size, "%s: %s", path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		err = errno ? -errno : -EIO;
		snprintf(msg, msg_size, "%s: send: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = spent >= timeout_ms ? 0 : poll(&p, 1, (int)(timeout_ms - spent));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			err = pr < 0 ? -errno : -ETIMEDOUT;
			snprintf(msg, msg_size, "%s: no answer: %s", path, strerror(-err));
			close(fd);
			return err;
		}
		char tmp[4096];
		ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			snprintf(msg, msg_size, "%s: receive: %s", path, strerror(-err));
			close(fd);
			return err;
		}
		if (r == 0)
			break;
		if (size && have < size - 1) {
			size_t k = MIN((size_t)r, size - 1 - have);
			memcpy(buf + have, tmp, k);
			have += k;
			buf[have] = 0;
		}
	}
	close(fd);
	return (int)have;
}
