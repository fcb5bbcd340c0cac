/*
 * The control socket. The listening socket is watched with a poll request on the ring; a
 * request is read and answered synchronously with short timeouts, from static storage.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/mem.h"
#include "initiator/control.h"

#define CONTROL_REPLY_MAX (64 * 1024)

struct initiator_control {
	int fd;
	char path[108];
	struct netreserve_ring *ring;
	unsigned int kind;
	initiator_control_fn fn;
	void *ctx;
	bool armed;
	uint16_t gen;
};

static char reply_buf[CONTROL_REPLY_MAX];

static void
arm(struct initiator_control *c)
{
	struct io_uring_sqe *sqe = netreserve_ring_sqe(c->ring);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, c->fd, POLLIN);
	io_uring_sqe_set_data64(sqe, netreserve_ud(c->kind, 0, c->gen, 0));
	c->armed = true;
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

/* Serve one connection; returns true when it asked the daemon to log out. */
static bool
serve_one(struct initiator_control *c, int fd)
{
	char req[256];
	size_t have = 0;
	bool logout = false;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (have < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + have, sizeof(req) - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		if (memchr(req, '\n', have))
			break;
	}
	req[have] = 0;
	char *nl = strchr(req, '\n');
	if (nl)
		*nl = 0;
	int len = builtin_answer(req, reply_buf, sizeof(reply_buf), &logout);
	if (len < 0)
		len = c->fn(c->ctx, req, reply_buf, sizeof(reply_buf));
	if (len < 0)
		len = snprintf(reply_buf, sizeof(reply_buf), "error %s\n", strerror(-len));
	if ((size_t)len >= sizeof(reply_buf))
		len = (int)sizeof(reply_buf) - 1;
	size_t off = 0;
	while (off < (size_t)len) {
		ssize_t n = send(fd, reply_buf + off, (size_t)len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	return logout;
}

static void
control_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	struct initiator_control *c = ctx;
	(void)r;
	if (netreserve_ud_gen(cqe->user_data) != c->gen)
		return;
	c->armed = false;
	bool logout = false;
	if (cqe->res >= 0) {
		for (int i = 0; i < 4; i++) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			if (poll(&p, 1, 0) <= 0)
				break;
			int fd = accept(c->fd, NULL, NULL);
			if (fd < 0)
				break;
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			/* the request itself is read blocking, with a timeout */
			if (serve_one(c, fd))
				logout = true;
			close(fd);
		}
	}
	arm(c);
	/*
	 * A logout request takes the daemon's SIGTERM path (its handler asks the main loop to
	 * stop, which drains the exports and logs out of the target), so there is one shutdown
	 * sequence to get right. The reply was sent and the connection closed first.
	 */
	if (logout)
		kill(getpid(), SIGTERM);
}

int
initiator_control_new(const char *path, struct netreserve_ring *r, unsigned int kind,
		      initiator_control_fn fn, void *ctx, struct initiator_control **out,
		      char *msg, size_t msg_size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msg_size, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	struct initiator_control *c = mem_zalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->fd, 8) < 0) {
		err = -errno;
		snprintf(msg, msg_size, "control socket %s: %s", path, strerror(-err));
		if (c->fd >= 0)
			close(c->fd);
		mem_free(c);
		return err;
	}
	c->ring = r;
	c->kind = kind;
	c->fn = fn;
	c->ctx = ctx;
	err = netreserve_ring_set_handler(r, kind, control_cqe, c);
	if (err) {
		snprintf(msg, msg_size, "control socket: %s", strerror(-err));
		initiator_control_free(c);
		return err;
	}
	arm(c);
	*out = c;
	return 0;
}

void
initiator_control_free(struct initiator_control *c)
{
	if (!c)
		return;
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	mem_free(c);
}

int
initiator_control_request(const char *path, const char *cmd, FILE *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ballastd ctl: socket path too long\n");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		fprintf(stderr, "ballastd ctl: %s: %s\n", path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int n = snprintf(buf, sizeof(buf), "%s\n", cmd);
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		int err = -errno;
		fprintf(stderr, "ballastd ctl: send: %s\n", strerror(-err));
		close(fd);
		return err;
	}
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0) {
			int err = -errno;
			fprintf(stderr, "ballastd ctl: receive: %s\n", strerror(-err));
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
