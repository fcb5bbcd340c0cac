/*
 * nbd-memserver: a test-only NBD server over a unix socket, backed by a RAM disk, built on
 * the initiator's NBD protocol engine (initiator/nbd.c) with plain blocking sockets. It lets
 * real clients (nbdinfo, nbdcopy, qemu-img, qemu-io) exercise the engine before ballastd
 * exists. Test code: it may allocate.
 *
 * usage: nbd-memserver [--size BYTES] [--block N] [--pref N] [--max-payload N]
 *                      [--pidfile FILE] SOCKET
 * Exports "mem" (default, read-write) and "mem-ro" (read-only view of the same disk). After
 * the socket listens, the process forks into the background, writes the server's pid to
 * FILE (if given) and the foreground process exits 0: the caller can connect at once.
 * One child process per connection; the disk is a shared mapping, so multi-conn holds.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/compiler.h"
#include "initiator/nbd.h"

static uint8_t *disk;

struct session {
	int fd;
	struct initiator_nbd_conn c;
	uint8_t *slot; /* one write buffer: max_payload bytes */
	bool slot_busy;
	bool disc;
};

static int
send_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t r = writev(fd, iov, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int
on_request(void *ctx, const struct initiator_nbd_request *req)
{
	struct session *s = ctx;
	uint8_t hdr[INITIATOR_NBD_REPLY_HDR_MAX];
	struct iovec iov[2];
	uint32_t err = req->error;
	int n;

	if (req->type == INITIATOR_NBD_CMD_DISC) {
		s->disc = true;
		return 0;
	}
	if (!err) {
		switch (req->type) {
		case INITIATOR_NBD_CMD_WRITE:
			memcpy(disk + req->offset, req->data, req->length);
			s->slot_busy = false;
			break;
		case INITIATOR_NBD_CMD_TRIM:
		case INITIATOR_NBD_CMD_WRITE_ZEROES:
			/* Both read back as zeroes here. */
			memset(disk + req->offset, 0, req->length);
			break;
		default:
			/* READ sends from the disk below; FLUSH, CACHE, BLOCK_STATUS: nothing. */
			break;
		}
	}
	n = initiator_nbd_encode_reply(&s->c, req, err, req->errmsg, hdr, sizeof(hdr));
	if (n < 0)
		return n;
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_base = disk + req->offset;
	iov[1].iov_len = req->length;
	return send_all(s->fd, iov, req->type == INITIATOR_NBD_CMD_READ && !err ? 2 : 1);
}

static void *
on_write_buffer(void *ctx, const struct initiator_nbd_request *req)
{
	struct session *s = ctx;

	(void)req;
	if (s->slot_busy)
		return NULL;
	s->slot_busy = true;
	return s->slot;
}

static const struct initiator_nbd_ops ops = {
    .request = on_request,
    .get_write_buffer = on_write_buffer,
};

static int
serve(int fd, const struct initiator_nbd_config *base, uint32_t max_payload)
{
	static uint8_t rx[256 * 1024];
	struct initiator_nbd_config cfg = *base;
	struct session *s = calloc(1, sizeof(*s));
	size_t have = 0, off = 0;
	int r;

	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->slot = malloc(max_payload);
	if (!s->slot)
		return -ENOMEM;
	cfg.ctx = s;
	r = initiator_nbd_conn_init(&s->c, &cfg);
	if (r < 0)
		return r;
	for (;;) {
		const void *out;
		size_t n;
		void *dst;

		while ((n = initiator_nbd_output(&s->c, &out)) > 0) {
			ssize_t w = send(fd, out, n, MSG_NOSIGNAL);

			if (w < 0)
				return -errno;
			initiator_nbd_output_consume(&s->c, (size_t)w);
		}
		if (initiator_nbd_phase(&s->c) == INITIATOR_NBD_PHASE_CLOSED || s->disc)
			return 0;
		if (off < have) {
			ssize_t used = initiator_nbd_feed(&s->c, rx + off, have - off);

			if (used < 0)
				return (int)used;
			off += (size_t)used;
			if (off < have &&
			    initiator_nbd_stall(&s->c) != INITIATOR_NBD_STALL_OUTPUT &&
			    initiator_nbd_stall(&s->c) != INITIATOR_NBD_STALL_CLOSED)
				return -EDEADLK; /* one slot, used synchronously: cannot happen */
			continue;
		}
		/* Large WRITE payloads go straight into the slot. */
		n = initiator_nbd_payload_target(&s->c, &dst);
		if (n > 0) {
			ssize_t got = recv(fd, dst, n, 0);

			if (got <= 0)
				return got < 0 ? -errno : 0;
			r = initiator_nbd_payload_commit(&s->c, (size_t)got);
			if (r < 0)
				return r;
			continue;
		}
		ssize_t got = recv(fd, rx, sizeof(rx), 0);

		if (got <= 0)
			return got < 0 ? -errno : 0; /* the client vanished */
		have = (size_t)got;
		off = 0;
	}
}

static unsigned long long
num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	else if (*end)
		v = 0;
	return v;
}

int
main(int argc, char **argv)
{
	unsigned long long size = 64ULL << 20;
	uint32_t block = 512, pref = 4096, maxp = 1U << 20;
	const char *pidfile = NULL, *path = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct initiator_nbd_export ex[2];
	struct initiator_nbd_config cfg = {0};
	int lfd;
	pid_t pid;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = num(argv[++i]);
		else if (!strcmp(argv[i], "--block") && i + 1 < argc)
			block = (uint32_t)num(argv[++i]);
		else if (!strcmp(argv[i], "--pref") && i + 1 < argc)
			pref = (uint32_t)num(argv[++i]);
		else if (!strcmp(argv[i], "--max-payload") && i + 1 < argc)
			maxp = (uint32_t)num(argv[++i]);
		else if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			goto usage;
	}
	if (!path || !size || strlen(path) >= sizeof(sa.sun_path))
		goto usage;

	disk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (disk == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	ex[0] = (struct initiator_nbd_export){
	    .name = "mem",
	    .description = "ballast nbd engine test RAM disk",
	    .size = size,
	    .min_block = block,
	    .pref_block = pref,
	    .max_payload = maxp,
	    .flags = INITIATOR_NBD_EXPORT_FLUSH | INITIATOR_NBD_EXPORT_FUA |
		     INITIATOR_NBD_EXPORT_TRIM | INITIATOR_NBD_EXPORT_WRITE_ZEROES |
		     INITIATOR_NBD_EXPORT_MULTI_CONN | INITIATOR_NBD_EXPORT_CACHE,
	};
	ex[1] = ex[0];
	ex[1].name = "mem-ro";
	ex[1].description = "read-only view";
	ex[1].flags = INITIATOR_NBD_EXPORT_READ_ONLY | INITIATOR_NBD_EXPORT_MULTI_CONN;
	cfg.exports = ex;
	cfg.nexports = 2;
	cfg.default_export = 0;
	cfg.ops = &ops;
	{
		/* Validate now so that a bad geometry fails in the foreground. */
		static struct initiator_nbd_conn probe;

		cfg.ctx = NULL;
		if (initiator_nbd_conn_init(&probe, &cfg) < 0) {
			fprintf(stderr, "nbd-memserver: invalid export geometry\n");
			return 1;
		}
	}

	strcpy(sa.sun_path, path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
		perror("nbd-memserver: socket");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid > 0) {
		if (pidfile) {
			FILE *f = fopen(pidfile, "w");

			if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
				perror(pidfile);
				kill(pid, SIGTERM);
				return 1;
			}
		}
		return 0;
	}
	setsid();
	signal(SIGCHLD, SIG_IGN); /* reap connection children automatically */
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		pid = fork();
		if (pid == 0) {
			int r;

			close(lfd);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			r = serve(fd, &cfg, maxp);
			if (r < 0)
				fprintf(stderr, "nbd-memserver: connection ended: %s\n",
					strerror(-r));
			_exit(r < 0 ? 1 : 0);
		}
		close(fd);
	}
usage:
	fprintf(stderr, "usage: nbd-memserver [--size BYTES] [--block N] [--pref N] "
			"[--max-payload N] [--pidfile FILE] SOCKET\n");
	return 2;
}
