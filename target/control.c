/* Control socket and fault injection (see control.h). Control plane. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "target/config.h"
#include "target/control.h"
#include "target/conn.h"
#include "target/portal.h"
#include "target/session.h"
#include "target/target.h"

#define CTL_LINE_MAX 512
#define CTL_REPLY_MAX 16384

struct target_control {
	int fd;
	ev_io io;
	char path[108];
};

struct ctl_client {
	ev_io io;
	ev_timer timer;
	char buf[CTL_LINE_MAX];
	size_t len;
};

static int
reply_ok(char *reply, size_t size, const char *fmt, ...) PRINTF_FMT(3, 4);

static int
reply_ok(char *reply, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(reply, size, "ok");

	if (fmt && (size_t)n < size) {
		reply[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(reply + n, size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0;
}

static int
reply_err(char *reply, size_t size, int err, const char *fmt, ...) PRINTF_FMT(4, 5);

static int
reply_err(char *reply, size_t size, int err, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(reply, size, "error: ");

	va_start(ap, fmt);
	vsnprintf(reply + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}

static int
parse_onoff(const char *arg, bool *out)
{
	if (!arg)
		return -EINVAL;
	if (!strcmp(arg, "on") || !strcmp(arg, "1") || !strcmp(arg, "yes"))
		*out = true;
	else if (!strcmp(arg, "off") || !strcmp(arg, "0") || !strcmp(arg, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int
parse_num(const char *arg, long long max, long long *out)
{
	char *end;
	long long v;

	if (!arg || !*arg)
		return -EINVAL;
	errno = 0;
	v = strtoll(arg, &end, 0);
	if (errno || *end || v < 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void
status(struct target_daemon *d, char *reply, size_t size)
{
	struct target_counters *k = &d->ctr;
	struct target_faults *f = &d->faults;
	unsigned nconns = 0;
	size_t n = 0;

#define OUT(...)                                                                                   \
	do {                                                                                       \
		if (n < size)                                                                      \
			n += (size_t)snprintf(reply + n, size - n, __VA_ARGS__);                   \
	} while (0)
	OUT("ok\n");
	for (struct target_portal *p = d->portals; p; p = p->next)
		OUT("portal %s %s%s%s\n", p->bound, p->listening ? "listening" : "stopped",
		    p->cfg.advertise[0] ? " advertise " : "", p->cfg.advertise);
	for (struct target_session *s = d->sessions; s; s = s->next) {
		uint32_t used = s->ntasks - s->tasks_free;

		OUT("session s%u tsih %u %s initiator %s target %s conns %u tasks %u/%u "
		    "cmdsn %u..%u%s\n",
		    s->id, s->tsih, s->discovery ? "discovery" : "normal", s->initiator,
		    s->node ? s->node->cfg.iqn : "-", s->nconns, used, s->ntasks, s->exp_cmdsn,
		    s->max_cmdsn, s->closing ? " closing" : "");
	}
	for (struct target_conn *c = d->conns; c; c = c->next)
		OUT("conn c%u %s %s s%u tx %u/%u pdus %llu\n", c->id, c->peer,
		    c->state == TARGET_CONN_LOGIN ? "login" :
		    c->state == TARGET_CONN_FFP	  ? "ffp" :
		    c->state == TARGET_CONN_LOGOUT ? "logout" :
						     "closing",
		    c->sess ? c->sess->id : 0, c->tx_used, TARGET_TX_SLOTS,
		    (unsigned long long)c->pdus_rx);
	for (struct target_conn *c = d->conns; c; c = c->next)
		nconns++;
	OUT("sessions %u connections %u\n", target_session_count(d), nconns);
	OUT("counters logins %llu login_failures %llu auth_failures %llu reinstated %llu "
	    "pdus_rx %llu pdus_tx %llu cmds %llu reads %llu writes %llu bytes_read %llu "
	    "bytes_written %llu rejects %llu digest_errors %llu nops_in %llu nops_out %llu "
	    "tmfs %llu drops %llu timeouts %llu backpressure %llu\n",
	    (unsigned long long)k->logins, (unsigned long long)k->login_failures,
	    (unsigned long long)k->auth_failures, (unsigned long long)k->sessions_reinstated,
	    (unsigned long long)k->pdus_rx, (unsigned long long)k->pdus_tx,
	    (unsigned long long)k->cmds, (unsigned long long)k->reads,
	    (unsigned long long)k->writes, (unsigned long long)k->bytes_read,
	    (unsigned long long)k->bytes_written, (unsigned long long)k->rejects,
	    (unsigned long long)k->digest_errors, (unsigned long long)k->nops_in,
	    (unsigned long long)k->nops_out, (unsigned long long)k->tmfs,
	    (unsigned long long)k->conn_drops, (unsigned long long)k->timeouts,
	    (unsigned long long)k->backpressure);
	OUT("faults drop_after %lld delay_ms %u blackhole %s reject_logins %s ignore_nop %s "
	    "fail_next %u corrupt_digest %s\n",
	    (long long)f->drop_after, f->delay_ms, f->blackhole ? "on" : "off",
	    f->reject_logins ? "on" : "off", f->ignore_nop ? "on" : "off", f->fail_next,
	    f->corrupt_digest ? "pending" : "off");
#undef OUT
	if (n && n < size && reply[n - 1] == '\n')
		reply[n - 1] = '\0';
}

static unsigned
drop_all(struct target_daemon *d)
{
	unsigned n = 0;

	for (struct target_conn *c = d->conns; c; c = c->next)
		if (c->state != TARGET_CONN_CLOSING) {
			target_conn_close(c, -ECONNRESET, "fault injection (drop)");
			n++;
		}
	return n;
}

int
target_control_exec(struct target_daemon *d, const char *line, char *reply, size_t size)
{
	char buf[CTL_LINE_MAX];
	char *argv[8];
	int argc = 0;
	struct target_faults *f = &d->faults;
	long long v;
	bool b;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *save = NULL, *tok = strtok_r(buf, " \t\r\n", &save); tok && argc < 8;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = tok;
	if (!argc)
		return reply_err(reply, size, -EINVAL, "empty command");
	log_info("control: %s", line);
	if (!strcmp(argv[0], "status")) {
		status(d, reply, size);
		return 0;
	}
	if (!strcmp(argv[0], "reload")) {
		char msg[512];
		int r = target_reload(d, msg, sizeof(msg));

		if (r < 0)
			return reply_err(reply, size, r, "%s", msg);
		return reply_ok(reply, size, "reloaded");
	}
#ifdef ENABLE_FAULT_INJECTION
	if (!strcmp(argv[0], "drop"))
		return reply_ok(reply, size, "dropped %u connections", drop_all(d));
	if (!strcmp(argv[0], "drop-after")) {
		if (argc != 2 || parse_num(argv[1], 1LL << 40, &v) < 0)
			return reply_err(reply, size, -EINVAL, "usage: drop-after N");
		if (v == 0)
			return reply_ok(reply, size, "dropped %u connections", drop_all(d));
		f->drop_after = v;
		return reply_ok(reply, size, "dropping after %lld PDUs", v);
	}
	if (!strcmp(argv[0], "delay")) {
		if (argc != 2 || parse_num(argv[1], 600000, &v) < 0)
			return reply_err(reply, size, -EINVAL, "usage: delay MS (0..600000)");
		f->delay_ms = (uint32_t)v;
		return reply_ok(reply, size, "delay %lld ms", v);
	}
	if (!strcmp(argv[0], "blackhole") || !strcmp(argv[0], "reject-logins") ||
	    !strcmp(argv[0], "ignore-nop")) {
		bool *flag = argv[0][0] == 'b' ? &f->blackhole :
			     argv[0][0] == 'r' ? &f->reject_logins :
						 &f->ignore_nop;

		if (argc != 2 || parse_onoff(argv[1], &b) < 0)
			return reply_err(reply, size, -EINVAL, "usage: %s on|off", argv[0]);
		*flag = b;
		if (flag == &f->blackhole && !b) {
			/* Answer what queued up meanwhile. */
			for (struct target_conn *c = d->conns; c; c = c->next)
				target_conn_tx_pump(c);
		}
		return reply_ok(reply, size, "%s %s", argv[0], b ? "on" : "off");
	}
	if (!strcmp(argv[0], "fail-next")) {
		unsigned key, asc, ascq;

		if (argc != 3 || parse_num(argv[1], 1000000, &v) < 0 ||
		    sscanf(argv[2], "%x/%x/%x", &key, &asc, &ascq) != 3 || key > 0xf ||
		    asc > 0xff || ascq > 0xff)
			return reply_err(reply, size, -EINVAL,
					 "usage: fail-next N KEY/ASC/ASCQ (hex, e.g. 3/11/00)");
		f->fail_next = (uint32_t)v;
		f->fail_key = (uint8_t)key;
		f->fail_asc = (uint8_t)asc;
		f->fail_ascq = (uint8_t)ascq;
		return reply_ok(reply, size, "failing the next %lld commands with %x/%02x/%02x", v,
				key, asc, ascq);
	}
	if (!strcmp(argv[0], "corrupt-digest")) {
		f->corrupt_digest = true;
		return reply_ok(reply, size,
				"the next PDU sent with a digest gets a corrupted digest");
	}
	if (!strcmp(argv[0], "portal")) {
		if (argc == 2 && !strcmp(argv[1], "stop")) {
			target_portals_stop(d);
			return reply_ok(reply, size, "portals stopped");
		}
		if (argc == 2 && !strcmp(argv[1], "start")) {
			int r = target_portals_start(d);

			if (r < 0)
				return reply_err(reply, size, r, "cannot listen again: %s",
						 strerror(-r));
			return reply_ok(reply, size, "portals started");
		}
		return reply_err(reply, size, -EINVAL, "usage: portal stop|start");
	}
#else
	(void)f;
	(void)v;
	(void)b;
	(void)drop_all;
	(void)parse_onoff;
	(void)parse_num;
#endif
	return reply_err(reply, size, -EINVAL, "unknown command '%s'", argv[0]);
}

static void
client_free(struct ev_loop *loop, struct ctl_client *cl)
{
	ev_io_stop(loop, &cl->io);
	ev_timer_stop(loop, &cl->timer);
	close(cl->io.fd);
	mem_free(cl);
}

static void
client_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	target_cp_enter();
	client_free(loop, container_of(w, struct ctl_client, timer));
	target_cp_leave();
}

static void client_io(struct ev_loop *loop, struct ctl_client *cl);

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *cl = container_of(w, struct ctl_client, io);

	target_cp_enter();
	client_io(loop, cl);
	target_cp_leave();
}

static void
client_io(struct ev_loop *loop, struct ctl_client *cl)
{
	ev_io *w = &cl->io;
	char *nl, *reply;
	ssize_t n = read(w->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len);
	struct timeval tv = { 2, 0 };

	if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
		if (n == 0 && cl->len)
			goto run; /* no newline but EOF: take what we have */
		client_free(loop, cl);
		return;
	}
	if (n < 0)
		return;
	cl->len += (size_t)n;
	cl->buf[cl->len] = '\0';
	nl = strchr(cl->buf, '\n');
	if (!nl && cl->len < sizeof(cl->buf) - 1)
		return;
	if (nl)
		*nl = '\0';
run:
	cl->buf[cl->len < sizeof(cl->buf) ? cl->len : sizeof(cl->buf) - 1] = '\0';
	reply = mem_alloc(CTL_REPLY_MAX);
	if (reply) {
		size_t len;

		target_control_exec(target_daemon, cl->buf, reply, CTL_REPLY_MAX - 1);
		len = strlen(reply);
		reply[len++] = '\n';
		/* Replies are small: wait for the socket (bounded) rather than queue them. */
		setsockopt(w->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		for (size_t off = 0; off < len;) {
			ssize_t wn = send(w->fd, reply + off, len - off, MSG_NOSIGNAL);

			if (wn < 0 && errno == EAGAIN) {
				fd_set ws;

				FD_ZERO(&ws);
				FD_SET(w->fd, &ws);
				if (select(w->fd + 1, NULL, &ws, NULL, &tv) <= 0)
					break;
				continue;
			}
			if (wn <= 0)
				break;
			off += (size_t)wn;
		}
		mem_free(reply);
	}
	client_free(loop, cl);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct target_control *ctl = container_of(w, struct target_control, io);
	int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct ctl_client *cl;

	if (fd < 0)
		return;
	target_cp_enter();
	cl = mem_zalloc(sizeof(*cl));
	target_cp_leave();
	if (!cl) {
		close(fd);
		return;
	}
	ev_io_init(&cl->io, client_cb, fd, EV_READ);
	ev_io_start(loop, &cl->io);
	ev_timer_init(&cl->timer, client_timeout, 10., 0.);
	ev_timer_start(loop, &cl->timer);
}

int
target_control_open(struct target_daemon *d, const char *path)
{
	struct target_control *ctl;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ctl = mem_zalloc(sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0)
		goto fail;
	unlink(path);
	if (bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ctl->fd, 8) < 0)
		goto fail;
	ev_io_init(&ctl->io, accept_cb, ctl->fd, EV_READ);
	ev_io_start(d->loop, &ctl->io);
	d->control = ctl;
	return 0;
fail:
	r = -errno;
	if (ctl->fd >= 0)
		close(ctl->fd);
	mem_free(ctl);
	return r;
}

void
target_control_close(struct target_daemon *d)
{
	struct target_control *ctl = d->control;

	if (!ctl)
		return;
	ev_io_stop(d->loop, &ctl->io);
	close(ctl->fd);
	unlink(ctl->path);
	mem_free(ctl);
	d->control = NULL;
}

int
target_control_client(const char *path, int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[CTL_LINE_MAX], buf[4096];
	size_t n = 0;
	int fd, ok = -1;
	ssize_t r;

	if (strlen(path) >= sizeof(sa.sun_path) || argc < 1) {
		fprintf(stderr, "usage: ballast-targetd ctl SOCKET COMMAND [ARGS]\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		int w = snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "", argv[i]);

		if (w < 0 || (size_t)w >= sizeof(line) - n - 1) {
			fprintf(stderr, "ctl: command too long\n");
			return 2;
		}
		n += (size_t)w;
	}
	line[n++] = '\n';
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "ctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	if (write(fd, line, n) != (ssize_t)n) {
		fprintf(stderr, "ctl: write: %s\n", strerror(errno));
		close(fd);
		return 2;
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		if (ok < 0)
			ok = r >= 2 && !memcmp(buf, "ok", 2);
		fwrite(buf, 1, (size_t)r, stdout);
	}
	close(fd);
	if (ok < 0) {
		fprintf(stderr, "ctl: no reply\n");
		return 2;
	}
	return ok ? 0 : 1;
}
