/* Listening portals: bind, listen, accept into target_conn_new(). Control plane. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/portal.h"
#include "target/target.h"

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct target_portal *p = container_of(w, struct target_portal, io);
	struct target_daemon *d = target_daemon;

	target_cp_enter();
	for (int i = 0; i < 16; i++) {
		int one = 1, r;
		int fd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("portal %s: accept: %s", p->bound, strerror(errno));
			break;
		}
		if (d->stopping) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		r = target_conn_new(d, p, fd);
		if (r < 0)
			log_ratelimited(&p->rl, LOG_LEVEL_WARN, "portal %s: connection refused: %s",
					p->bound, strerror(-r));
	}
	target_cp_leave();
}

/* Resolve host (numeric or name) for binding. */
static int
resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo hints = { 0 }, *res;
	char ps[8];
	int r;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	r = getaddrinfo(host[0] ? host : NULL, ps, &hints, &res);
	if (r)
		return -EADDRNOTAVAIL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
portal_listen(struct target_daemon *d, struct target_portal *p, char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, r;
	char host[INET6_ADDRSTRLEN];
	/* After "portal stop", rebind the port we had so that initiators find us again. */
	uint16_t port = p->port ? p->port : p->cfg.port;

	r = resolve(p->cfg.host, port, &ss, &sl);
	if (r < 0) {
		snprintf(err, err_size, "portal %s: cannot resolve '%s'", p->cfg.host, p->cfg.host);
		return r;
	}
	p->family = ss.ss_family;
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		goto fail;
	setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(p->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(p->fd, (struct sockaddr *)&ss, sl) < 0 || listen(p->fd, 128) < 0)
		goto fail;
	sl = sizeof(ss);
	if (getsockname(p->fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		p->port = ntohs(s6->sin6_port);
		snprintf(p->bound, sizeof(p->bound), "[%s]:%u", host, p->port);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		p->port = ntohs(s4->sin_port);
		snprintf(p->bound, sizeof(p->bound), "%s:%u", host, p->port);
	}
	if (p->cfg.advertise[0])
		snprintf(p->address, sizeof(p->address), "%s", p->cfg.advertise);
	else
		snprintf(p->address, sizeof(p->address), "%s", p->bound);
	ev_io_init(&p->io, accept_cb, p->fd, EV_READ);
	ev_io_start(d->loop, &p->io);
	p->listening = true;
	return 0;
fail:
	r = -errno;
	snprintf(err, err_size, "portal %s:%u: %s", p->cfg.host, port, strerror(errno));
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	return r;
}

static void
portal_unlisten(struct target_daemon *d, struct target_portal *p)
{
	if (!p->listening)
		return;
	ev_io_stop(d->loop, &p->io);
	close(p->fd);
	p->fd = -1;
	p->listening = false;
}

static int
portal_add(struct target_daemon *d, const struct target_config *cfg, unsigned i, char *err,
	   size_t err_size)
{
	struct target_portal *p = mem_zalloc(sizeof(*p)), **tail;
	int r;

	if (!p)
		return -ENOMEM;
	p->idx = i;
	p->cfg = cfg->portals[i];
	p->fd = -1;
	r = portal_listen(d, p, err, err_size);
	if (r < 0) {
		mem_free(p);
		return r;
	}
	for (tail = &d->portals; *tail; tail = &(*tail)->next)
		;
	*tail = p;
	log_notice("listening on %s%s%s", p->bound, p->cfg.advertise[0] ? ", advertised as " : "",
		   p->cfg.advertise);
	return 0;
}

int
target_portals_open(struct target_daemon *d, const struct target_config *cfg, char *err,
		    size_t err_size)
{
	for (unsigned i = 0; i < cfg->nportals; i++) {
		int r = portal_add(d, cfg, i, err, err_size);

		if (r < 0)
			return r;
	}
	return 0;
}

int
target_portals_reload(struct target_daemon *d, const struct target_config *cfg, char *err,
		      size_t err_size)
{
	for (unsigned i = 0; i < cfg->nportals; i++) {
		const struct target_portal_cfg *pc = &cfg->portals[i];
		struct target_portal *p;

		for (p = d->portals; p; p = p->next)
			if (!strcmp(p->cfg.host, pc->host) &&
			    (p->cfg.port == pc->port || p->port == pc->port))
				break;
		if (p) {
			/* Same listening address: only what it advertises may change. */
			p->idx = i;
			snprintf(p->cfg.advertise, sizeof(p->cfg.advertise), "%s", pc->advertise);
			p->cfg.tpgt = pc->tpgt;
			snprintf(p->address, sizeof(p->address), "%s",
				 pc->advertise[0] ? pc->advertise : p->bound);
			continue;
		}
		int r = portal_add(d, cfg, i, err, err_size);

		if (r < 0)
			return r;
	}
	return 0;
}

void
target_portals_free(struct target_daemon *d)
{
	while (d->portals) {
		struct target_portal *p = d->portals;

		d->portals = p->next;
		portal_unlisten(d, p);
		mem_free(p);
	}
}

int
target_portals_stop(struct target_daemon *d)
{
	for (struct target_portal *p = d->portals; p; p = p->next)
		portal_unlisten(d, p);
	return 0;
}

int
target_portals_start(struct target_daemon *d)
{
	char err[256];
	int r;

	for (struct target_portal *p = d->portals; p; p = p->next) {
		if (p->listening)
			continue;
		r = portal_listen(d, p, err, sizeof(err));
		if (r < 0) {
			log_err("%s", err);
			return r;
		}
	}
	return 0;
}

struct target_portal *
target_portal_by_idx(struct target_daemon *d, unsigned idx)
{
	for (struct target_portal *p = d->portals; p; p = p->next)
		if (p->idx == idx)
			return p;
	return NULL;
}
