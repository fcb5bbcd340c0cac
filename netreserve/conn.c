/*
 * netreserve connections: socket options, multishot recv over a per-connection provided
 * buffer ring with ENOBUFS backpressure, gathered in-order sends, and a close that waits for
 * the kernel to hand everything back. Datapath: no allocation anywhere in this file.
 *
 * Memory pressure is not a dead peer: when the kernel cannot charge a socket buffer (a memory
 * cgroup at its limit, e.g. a neighbour stuck there with the OOM killer disabled), sendmsg
 * fails with -ENOBUFS (AF_UNIX) or -ENOMEM, and a recv may end the same way. Those results
 * keep the request at the head of the queue and retry it from a per-connection timer
 * (IORING_OP_TIMEOUT, backing off 1 ms .. 100 ms), so nothing spins and nothing allocates.
 * A POLLOUT would not do: the socket is writable all along, it is the charge that fails.
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/compiler.h"
#include "netreserve/compat.h"
#include "netreserve/conn.h"
#include "netreserve/internal.h"

#include "common/datapath.h"

#ifndef SO_RESERVE_MEM
#define SO_RESERVE_MEM 73
#endif

/* ---- socket options ---------------------------------------------------------------------- */

static int
setopt(int fd, int level, int name, int val, int *first_err)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) == 0)
		return 0;
	int err = -errno;
	if (!*first_err)
		*first_err = err;
	return err;
}

int
netreserve_sock_prepare(int fd, const struct netreserve_config *cfg, int *reserve_err)
{
	int first = 0, domain = 0, proto = 0;
	socklen_t sl = sizeof(domain);

	if (reserve_err)
		*reserve_err = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) < 0)
		return -errno;
	sl = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &sl) < 0)
		return -errno;
	bool tcp = (domain == AF_INET || domain == AF_INET6) && proto == IPPROTO_TCP;

	if (cfg->sndbuf)
		setopt(fd, SOL_SOCKET, SO_SNDBUF, (int)cfg->sndbuf, &first);
	if (cfg->rcvbuf)
		setopt(fd, SOL_SOCKET, SO_RCVBUF, (int)cfg->rcvbuf, &first);
	if (cfg->sock_reserve && tcp) {
		/* Linux 5.16: pre-charges the memcg; EOPNOTSUPP when sockets are not accounted */
		int dummy = 0;
		int err = setopt(fd, SOL_SOCKET, SO_RESERVE_MEM, (int)cfg->sock_reserve, &dummy);
		if (reserve_err)
			*reserve_err = err;
	}
	if (!tcp)
		return first;
	setopt(fd, IPPROTO_TCP, TCP_NODELAY, 1, &first);
	if (cfg->tcp_user_timeout_ms)
		setopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)cfg->tcp_user_timeout_ms, &first);
	if (cfg->keepalive_idle_s) {
		setopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, &first);
		setopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)cfg->keepalive_idle_s, &first);
		if (cfg->keepalive_intvl_s)
			setopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, (int)cfg->keepalive_intvl_s, &first);
		if (cfg->keepalive_cnt)
			setopt(fd, IPPROTO_TCP, TCP_KEEPCNT, (int)cfg->keepalive_cnt, &first);
	}
	return first;
}

/* ---- memory-pressure retry --------------------------------------------------------------- */

static void conn_close_check(struct netreserve_conn *c);

static inline uint64_t
conn_ud(const struct netreserve_conn *c, unsigned int kind)
{
	return netreserve_ud(kind, c->slot, c->gen, 0);
}

/* Results that mean "the kernel is short of memory right now", not "the peer is gone". */
static inline bool
nomem_err(int res)
{
	return res == -ENOBUFS || res == -ENOMEM || res == -EAGAIN;
}

static uint32_t
backoff(uint32_t *ms)
{
	*ms = *ms ? MIN(*ms * 2, NR_RETRY_MAX_MS) : NR_RETRY_MIN_MS;
	return *ms;
}

/*
 * Arms the retry timer (unless it is already running: both directions share it) for the next
 * step of *ms. Returns 0 or -EBUSY (no SQE).
 */
static int
retry_arm(struct netreserve_conn *c, uint32_t *ms)
{
	uint32_t delay = backoff(ms);

	if (c->retry_pending)
		return 0;
	struct io_uring_sqe *sqe = nr_ring_sqe(c->ring, conn_ud(c, NR_KIND_RETRY));
	if (!sqe)
		return -EBUSY;
	/* the kernel reads the timespec when it takes the SQE: it lives in the slot */
	c->retry_ts.tv_sec = delay / 1000;
	c->retry_ts.tv_nsec = (long long)(delay % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &c->retry_ts, 0, 0);  /* count 0: a pure timer */
	io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_RETRY));
	c->retry_pending = true;
	return 0;
}

/* Unit-test hook (ring->test_fail_*): turns sqe into a NOP completing with test_fail_err. */
static void
inject_failure(struct netreserve_ring *r, struct io_uring_sqe *sqe)
{
	io_uring_prep_nop(sqe);
	sqe->rw_flags = NR_NOP_INJECT_RESULT;
	sqe->len = (uint32_t)r->test_fail_err;
}

/* ---- receive ----------------------------------------------------------------------------- */

static void
rx_recycle(struct netreserve_conn *c, uint16_t bid)
{
	struct netreserve_ring *r = c->ring;
	io_uring_buf_ring_add(c->br, c->rx_base + (size_t)bid * r->cfg.rx_buf_size,
			      r->cfg.rx_buf_size, bid, (int)r->rx_mask, 0);
	io_uring_buf_ring_advance(c->br, 1);
}

static int
rx_arm(struct netreserve_conn *c)
{
	struct io_uring_sqe *sqe = nr_ring_sqe(c->ring, conn_ud(c, NR_KIND_RECV));
	if (!sqe)
		return -EBUSY;
	if (unlikely(c->ring->test_fail_rx)) {
		c->ring->test_fail_rx--;
		inject_failure(c->ring, sqe);
	} else {
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = (uint16_t)c->slot;
	}
	io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_RECV));
	c->rx_armed = true;
	c->rx_got = false;
	return 0;
}

/*
 * Re-arms the recv when it has ended and every buffer is back in the kernel's ring (nothing
 * held): never on a timer, and never on an empty ring (that only yields ENOBUFS again).
 */
static void
rx_maybe_rearm(struct netreserve_conn *c)
{
	if (c->state != NR_CONN_OPEN || c->rx_armed || c->rx_paused || c->rx_eof || c->held_n ||
	    c->rx_nomem_wait)
		return;
	if (rx_arm(c) < 0) {
		netreserve_conn_close(c, -EBUSY);
		return;
	}
	if (c->rx_enobufs_seen) {
		c->rx_enobufs_seen = false;
		c->st->rx_rearm++;
		c->ring->st->rx_rearm++;
	}
}

static void
rx_hold(struct netreserve_conn *c, uint16_t bid, uint32_t len, uint32_t off)
{
	uint32_t cap = c->ring->cfg.rx_bufs;
	assert(c->held_n < cap);
	struct nr_held *h = &c->held[(c->held_head + c->held_n) % cap];
	h->bid = bid;
	h->len = len;
	h->off = off;
	c->held_n++;
	if (c->held_n > c->st->rx_held_max)
		c->st->rx_held_max = c->held_n;
}

static void
rx_pause(struct netreserve_conn *c)
{
	if (!c->rx_paused) {
		c->rx_paused = true;
		c->rx_enobufs_seen = true;  /* the eventual re-arm counts as one */
		c->st->rx_paused++;
	}
}

/*
 * Delivers one chunk to on_recv. Returns true if it was consumed entirely (the buffer may be
 * recycled), false if the connection paused (the caller holds the remainder) or closed.
 */
static bool
rx_deliver(struct netreserve_conn *c, const char *data, uint32_t len, uint32_t *off)
{
	long ret = c->ops->on_recv(c, data + *off, len - *off, c->ctx);
	if (ret < 0) {
		netreserve_conn_close(c, (int)ret);
		return true;
	}
	if ((unsigned long)ret > len - *off)
		ret = (long)(len - *off);
	*off += (uint32_t)ret;
	if (*off == len && c->state == NR_CONN_OPEN)
		return true;
	if (c->state != NR_CONN_OPEN)
		return true;  /* closed inside the callback: drop the rest */
	rx_pause(c);
	return false;
}

/* Delivers held chunks in order until one is not consumed or none is left. */
static void
rx_drain(struct netreserve_conn *c)
{
	uint32_t cap = c->ring->cfg.rx_bufs;

	if (c->rx_draining)
		return;
	c->rx_draining = true;
	while (c->held_n && !c->rx_paused && c->state == NR_CONN_OPEN) {
		struct nr_held *h = &c->held[c->held_head];
		const char *data = c->rx_base + (size_t)h->bid * c->ring->cfg.rx_buf_size;
		if (!rx_deliver(c, data, h->len, &h->off))
			break;
		rx_recycle(c, h->bid);
		c->held_head = (c->held_head + 1) % cap;
		c->held_n--;
	}
	c->rx_draining = false;
	if (c->state != NR_CONN_OPEN)
		return;
	if (!c->held_n && c->rx_eof) {
		netreserve_conn_close(c, 0);
		return;
	}
	rx_maybe_rearm(c);
}

static void
rx_cqe(struct netreserve_conn *c, const struct io_uring_cqe *cqe)
{
	struct netreserve_ring *r = c->ring;
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		c->rx_armed = false;
	if (cqe->res > 0) {
		assert(cqe->flags & IORING_CQE_F_BUFFER);
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		uint32_t len = (uint32_t)cqe->res;
		c->rx_got = true;
		c->rx_retry_ms = 0;
		c->st->rx_bytes += len;
		c->st->rx_chunks++;
		r->st->rx_bytes += len;
		if (c->state != NR_CONN_OPEN) {
			rx_recycle(c, bid);
		} else if (c->rx_paused || c->held_n) {
			rx_hold(c, bid, len, 0);
		} else {
			uint32_t off = 0;
			if (rx_deliver(c, c->rx_base + (size_t)bid * r->cfg.rx_buf_size, len, &off))
				rx_recycle(c, bid);
			else
				rx_hold(c, bid, len, off);
		}
	} else if (cqe->res == 0) {
		if (c->state == NR_CONN_OPEN) {
			c->rx_eof = true;
			c->rx_armed = false;
			if (!c->held_n)
				netreserve_conn_close(c, 0);
		}
	} else if (cqe->res == -ENOBUFS && c->rx_got) {
		/* the buffer ring ran empty: the data stays in the socket (backpressure) */
		c->st->rx_enobufs++;
		r->st->rx_enobufs++;
		c->rx_enobufs_seen = true;
	} else if (nomem_err(cqe->res) && c->state == NR_CONN_OPEN) {
		/*
		 * Short of memory, not an empty buffer ring: the recv was armed with every
		 * buffer in the ring (held_n was 0) and none was used. Re-arming at once would
		 * spin; re-arm from the retry timer instead.
		 */
		c->st->rx_nomem++;
		r->st->rx_nomem++;
		c->rx_nomem_wait = true;
		if (retry_arm(c, &c->rx_retry_ms) < 0)
			netreserve_conn_close(c, cqe->res);
	} else if (cqe->res != -ECANCELED && c->state == NR_CONN_OPEN) {
		netreserve_conn_close(c, cqe->res);
	}
	if (c->state != NR_CONN_OPEN)
		conn_close_check(c);
	else if (!c->rx_armed)
		rx_maybe_rearm(c);
}

void
netreserve_conn_pause_recv(struct netreserve_conn *c)
{
	if (c->state == NR_CONN_OPEN)
		rx_pause(c);
}

int
netreserve_conn_resume_recv(struct netreserve_conn *c)
{
	if (c->state != NR_CONN_OPEN)
		return -EPIPE;
	c->rx_paused = false;
	rx_drain(c);
	return 0;
}

/* ---- send -------------------------------------------------------------------------------- */

static void tx_kick(struct netreserve_conn *c);

static void
tx_complete(struct netreserve_conn *c, struct netreserve_send *s, int res)
{
	s->next = NULL;
	s->iov = NULL;
	if (res >= 0)
		c->st->tx_reqs++;
	s->done(c, s, res);
}

/* Pops the head request. */
static struct netreserve_send *
tx_pop(struct netreserve_conn *c)
{
	struct netreserve_send *s = c->tx_head;
	c->tx_head = s->next;
	if (!c->tx_head)
		c->tx_tail = NULL;
	c->tx_n--;
	return s;
}

static bool
tx_use_zc(const struct netreserve_conn *c, const struct netreserve_send *s)
{
	return (s->flags & NETRESERVE_SEND_ZC) && (c->ring->cfg.flags & NETRESERVE_F_SEND_ZC) &&
	       c->ring->feat.send_zc && s->iovcnt == 1;
}

static void
tx_kick(struct netreserve_conn *c)
{
	struct netreserve_send *s = c->tx_head;
	struct io_uring_sqe *sqe;
	size_t bytes = 0;
	int n = 0;

	if (c->tx_inflight || c->zc_notifs || c->tx_nomem_wait || !s || c->state != NR_CONN_OPEN)
		return;
	if (tx_use_zc(c, s)) {
		const char *p = (const char *)s->iov[0].iov_base + s->cur_off;
		size_t len = s->iov[0].iov_len - s->cur_off;
		sqe = nr_ring_sqe(c->ring, conn_ud(c, NR_KIND_SENDZC));
		if (!sqe)
			goto busy;
		const struct netreserve_arena *a = c->ring->arena;
		int idx = a ? netreserve_arena_index(a, p) : -1;
		if (idx >= 0 && netreserve_arena_index(a, p + len - 1) == idx)
			io_uring_prep_send_zc_fixed(sqe, c->fd, p, len, MSG_NOSIGNAL,
						    IORING_SEND_ZC_REPORT_USAGE, (unsigned int)idx);
		else
			io_uring_prep_send_zc(sqe, c->fd, p, len, MSG_NOSIGNAL,
					      IORING_SEND_ZC_REPORT_USAGE);
		io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_SENDZC));
		c->tx_inflight = true;
		c->tx_inflight_bytes = len;
		c->st->tx_sqes++;
		c->st->zc_sends++;
		c->ring->st->zc_sends++;
		return;
	}
	/* gather: from the head's current position across following requests */
	for (; s && n < NETRESERVE_CONN_IOV; s = s->next) {
		if (s != c->tx_head && tx_use_zc(c, s))
			break;  /* zero-copy requests go alone */
		for (int i = s->cur; i < s->iovcnt && n < NETRESERVE_CONN_IOV; i++) {
			size_t skip = i == s->cur ? s->cur_off : 0;
			if (s->iov[i].iov_len == skip)
				continue;
			c->iov[n].iov_base = (char *)s->iov[i].iov_base + skip;
			c->iov[n].iov_len = s->iov[i].iov_len - skip;
			bytes += c->iov[n].iov_len;
			n++;
		}
	}
	sqe = nr_ring_sqe(c->ring, conn_ud(c, NR_KIND_SEND));
	if (!sqe)
		goto busy;
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = (size_t)n;
	if (unlikely(c->ring->test_fail_tx)) {
		c->ring->test_fail_tx--;
		inject_failure(c->ring, sqe);
	} else {
		io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_SEND));
	c->tx_inflight = true;
	c->tx_inflight_bytes = bytes;
	c->st->tx_sqes++;
	return;
busy:
	netreserve_conn_close(c, -EBUSY);
}

/*
 * Advances the queue by res bytes. Requests fully sent are moved to a local list and
 * completed afterwards in order (their done() may send more or close the connection).
 * A zero-copy request stays at the head until its notification arrived.
 */
static void
tx_advance(struct netreserve_conn *c, size_t res)
{
	struct netreserve_send *done_head = NULL, **done_tail = &done_head;

	for (struct netreserve_send *s = c->tx_head; s && res;) {
		while (s->cur < s->iovcnt && res) {
			size_t left = s->iov[s->cur].iov_len - s->cur_off;
			size_t take = MIN(left, res);
			s->cur_off += take;
			res -= take;
			if (s->cur_off == s->iov[s->cur].iov_len) {
				s->cur++;
				s->cur_off = 0;
			}
		}
		/* skip trailing empty iovecs */
		while (s->cur < s->iovcnt && s->iov[s->cur].iov_len == 0)
			s->cur++;
		if (s->cur < s->iovcnt || s->zc_pending)
			break;
		struct netreserve_send *next = s->next;
		tx_pop(c);
		s->next = NULL;
		*done_tail = s;
		done_tail = &s->next;
		s = next;
	}
	while (done_head) {
		struct netreserve_send *s = done_head;
		done_head = s->next;
		tx_complete(c, s, (int)MIN(s->total, (size_t)INT_MAX));
	}
}

static void
tx_fail_all(struct netreserve_conn *c, int err)
{
	while (c->tx_head)
		tx_complete(c, tx_pop(c), err);
}

static void
tx_cqe(struct netreserve_conn *c, const struct io_uring_cqe *cqe, bool zc)
{
	struct netreserve_ring *r = c->ring;

	if (zc && (cqe->flags & IORING_CQE_F_NOTIF)) {
		/* the kernel let go of the buffer */
		c->zc_notifs--;
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) {
			c->st->zc_copied++;
			r->st->zc_copied++;
		}
		struct netreserve_send *s = c->tx_head;
		if (s && s->zc_pending) {
			s->zc_pending--;
			if (!s->zc_pending && s->cur >= s->iovcnt) {
				tx_pop(c);
				tx_complete(c, s, (int)MIN(s->total, (size_t)INT_MAX));
			}
		}
		goto out;
	}
	c->tx_inflight = false;
	if (zc && (cqe->flags & IORING_CQE_F_MORE)) {
		c->zc_notifs++;
		if (c->tx_head)
			c->tx_head->zc_pending++;
	}
	if (nomem_err(cqe->res) && c->state == NR_CONN_OPEN) {
		/*
		 * The kernel could not charge the socket buffer (memcg at its limit): nothing
		 * was sent, the peer is fine. The queue stays as it is (order kept) and is sent
		 * again from the retry timer. A zero-copy head still waits for its notification.
		 */
		c->st->tx_nomem++;
		r->st->tx_nomem++;
		c->tx_nomem_wait = true;
		if (retry_arm(c, &c->tx_retry_ms) < 0)
			netreserve_conn_close(c, cqe->res);
		goto out;
	}
	if (cqe->res <= 0) {
		int err = cqe->res ? cqe->res : -EPIPE;
		if (c->state == NR_CONN_OPEN) {
			c->st->tx_errors++;
			r->st->tx_errors++;
			netreserve_conn_close(c, err);
		}
		goto out;
	}
	c->tx_retry_ms = 0;
	c->st->tx_bytes += (uint64_t)cqe->res;
	r->st->tx_bytes += (uint64_t)cqe->res;
	if ((size_t)cqe->res < c->tx_inflight_bytes)
		c->st->tx_partial++;
	tx_advance(c, (size_t)cqe->res);
out:
	if (c->state == NR_CONN_OPEN)
		tx_kick(c);
	else
		conn_close_check(c);
}

/* The retry timer fired (-ETIME), or was cancelled by a close (-ECANCELED). */
static void
retry_cqe(struct netreserve_conn *c)
{
	c->retry_pending = false;
	if (c->state != NR_CONN_OPEN) {
		conn_close_check(c);
		return;
	}
	if (c->tx_nomem_wait) {
		c->tx_nomem_wait = false;
		tx_kick(c);
	}
	if (c->rx_nomem_wait) {
		c->rx_nomem_wait = false;
		rx_maybe_rearm(c);
	}
}

int
netreserve_conn_send(struct netreserve_conn *c, const struct iovec *iov, int iovcnt,
		     struct netreserve_send *req)
{
	if (c->state != NR_CONN_OPEN)
		return -EPIPE;
	if (!req->done || iovcnt < 1 || iovcnt > IOV_MAX)
		return -EINVAL;
	for (struct netreserve_send *s = c->tx_head; s; s = s->next)
		if (s == req)
			return -EBUSY;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (!total)
		return -EINVAL;
	req->iov = iov;
	req->iovcnt = iovcnt;
	req->cur = 0;
	req->cur_off = 0;
	req->total = total;
	req->zc_pending = 0;
	req->next = NULL;
	while (req->cur < iovcnt && !iov[req->cur].iov_len)
		req->cur++;
	if (c->tx_tail)
		c->tx_tail->next = req;
	else
		c->tx_head = req;
	c->tx_tail = req;
	c->tx_n++;
	if (c->tx_n > c->st->tx_queued_max)
		c->st->tx_queued_max = c->tx_n;
	tx_kick(c);
	return 0;
}

/* ---- attach and close -------------------------------------------------------------------- */

static void
count_sockopts(struct netreserve_conn *c, int ret, int reserve_err)
{
	struct netreserve_ring_stats *rs = c->ring->st;
	int v = 0;
	socklen_t sl = sizeof(v);

	if (ret < 0) {
		rs->sockopt_err++;
		rs->sockopt_errno = (uint64_t)-ret;
	}
	if (c->ring->cfg.sock_reserve) {
		c->st->sock_reserve = (uint64_t)-reserve_err;
		if (!reserve_err)
			rs->sock_reserve_ok++;
		else if (reserve_err == -EOPNOTSUPP)
			rs->sock_reserve_eopnotsupp++;
		else {
			rs->sock_reserve_err++;
			rs->sock_reserve_errno = (uint64_t)-reserve_err;
		}
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0)
		c->st->sndbuf = (uint64_t)v;
	sl = sizeof(v);
	if (getsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &v, &sl) == 0)
		c->st->rcvbuf = (uint64_t)v;
}

int
netreserve_conn_attach(struct netreserve_ring *r, int fd, unsigned int flags,
		       const struct netreserve_conn_ops *ops, void *ctx,
		       struct netreserve_conn **out)
{
	*out = NULL;
	if (fd < 0 || !ops || !ops->on_recv || !ops->on_close)
		return -EINVAL;
	if (!r->nfree) {
		r->st->attach_fail++;
		return -ENOSPC;
	}
	struct netreserve_conn *c = &r->conns[r->free_slots[--r->nfree]];
	assert(c->state == NR_CONN_FREE && !c->held_n && !c->tx_head);

	c->gen++;
	c->fd = fd;
	c->flags = flags;
	c->ops = ops;
	c->ctx = ctx;
	c->close_err = 0;
	c->rx_armed = c->rx_paused = c->rx_eof = c->rx_draining = c->rx_enobufs_seen = false;
	c->rx_got = c->rx_nomem_wait = c->tx_nomem_wait = c->retry_pending = false;
	c->tx_retry_ms = c->rx_retry_ms = 0;
	c->held_head = c->held_n = 0;
	c->tx_head = c->tx_tail = NULL;
	c->tx_n = 0;
	c->tx_inflight = false;
	c->zc_notifs = 0;
	c->cancels_pending = 0;
	c->close_nop_pending = c->close_nop_needed = false;
	memset(c->st, 0, sizeof(*c->st));
	c->st->gen = c->gen;
	c->state = NR_CONN_OPEN;
	c->st->state = NR_CONN_OPEN;

	if (!(flags & NETRESERVE_CONN_NO_SOCKOPT)) {
		int reserve_err = 0;
		int ret = netreserve_sock_prepare(fd, &r->cfg, &reserve_err);
		count_sockopts(c, ret, reserve_err);
	}
	if (flags & NETRESERVE_CONN_PAUSED) {
		c->rx_paused = true;
	} else if (rx_arm(c) < 0) {
		c->state = NR_CONN_FREE;
		c->st->state = NR_CONN_FREE;
		r->free_slots[r->nfree++] = c->slot;
		r->st->attach_fail++;
		return -EBUSY;
	}
	r->st->conns_attached++;
	r->st->conns_active++;
	*out = c;
	return 0;
}

void
netreserve_conn_close(struct netreserve_conn *c, int err)
{
	if (c->state != NR_CONN_OPEN)
		return;
	c->state = NR_CONN_CLOSING;
	c->st->state = NR_CONN_CLOSING;
	c->close_err = err;
	/* shutdown ends a recv or send waiting in the kernel; cancel covers the armed recv */
	shutdown(c->fd, SHUT_RDWR);
	if (c->rx_armed) {
		struct io_uring_sqe *sqe = nr_ring_sqe(c->ring, conn_ud(c, NR_KIND_CANCEL));
		if (sqe) {
			io_uring_prep_cancel64(sqe, conn_ud(c, NR_KIND_RECV), 0);
			io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_CANCEL));
			c->cancels_pending++;
		}
	}
	/* the retry timer would end by itself within 100 ms; cancelling just closes sooner */
	if (c->retry_pending) {
		struct io_uring_sqe *sqe = nr_ring_sqe(c->ring, conn_ud(c, NR_KIND_CANCEL));
		if (sqe) {
			io_uring_prep_cancel64(sqe, conn_ud(c, NR_KIND_RETRY), 0);
			io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_CANCEL));
			c->cancels_pending++;
		}
	}
	/* on_close must come from the dispatch loop, never from inside this call */
	c->close_nop_needed = true;
	conn_close_check(c);
}

/* Finishes the close once the kernel holds nothing of this connection. */
static void
conn_close_check(struct netreserve_conn *c)
{
	struct netreserve_ring *r = c->ring;

	if (c->state != NR_CONN_CLOSING || c->rx_armed || c->tx_inflight || c->zc_notifs ||
	    c->retry_pending || c->cancels_pending || c->close_nop_pending)
		return;
	if (c->close_nop_needed) {
		struct io_uring_sqe *sqe = nr_ring_sqe(r, conn_ud(c, NR_KIND_CLOSE));
		if (sqe) {
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, conn_ud(c, NR_KIND_CLOSE));
			c->close_nop_needed = false;
			c->close_nop_pending = true;
			return;
		}
		/*
		 * No SQE even after flushing the SQ (the kernel refused the submit, e.g. short
		 * of memory). Finishing here would run on_close and free the slot inside the
		 * caller's own call (netreserve_conn_close() from on_recv, a send's done(), or
		 * netreserve_conn_send() itself), which may then touch a freed or re-attached
		 * slot. The dispatch loop retries instead.
		 */
		r->close_retry = true;
		return;
	}
	tx_fail_all(c, -ECANCELED);
	while (c->held_n) {
		rx_recycle(c, c->held[c->held_head].bid);
		c->held_head = (c->held_head + 1) % r->cfg.rx_bufs;
		c->held_n--;
	}
	if (!(c->flags & NETRESERVE_CONN_KEEP_FD))
		close(c->fd);
	c->fd = -1;
	c->state = NR_CONN_FREE;
	c->st->state = NR_CONN_FREE;
	c->st->close_err = (uint64_t)-c->close_err;
	r->st->conns_closed++;
	r->st->conns_active--;
	r->free_slots[r->nfree++] = c->slot;
	c->ops->on_close(c, c->close_err, c->ctx);
}

void
nr_conn_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe)
{
	uint32_t slot = netreserve_ud_slot(cqe->user_data);
	struct netreserve_conn *c;

	if (slot >= r->cfg.max_conns) {
		r->st->stale_cqes++;
		return;
	}
	c = &r->conns[slot];
	if (netreserve_ud_gen(cqe->user_data) != c->gen || c->state == NR_CONN_FREE) {
		/* a CQE for an earlier attachment of this slot: nothing may touch the new one */
		r->st->stale_cqes++;
		return;
	}
	switch (netreserve_ud_kind(cqe->user_data)) {
	case NR_KIND_RECV:
		rx_cqe(c, cqe);
		break;
	case NR_KIND_SEND:
		tx_cqe(c, cqe, false);
		break;
	case NR_KIND_SENDZC:
		tx_cqe(c, cqe, true);
		break;
	case NR_KIND_CANCEL:
		if (c->cancels_pending)
			c->cancels_pending--;
		conn_close_check(c);
		break;
	case NR_KIND_RETRY:
		retry_cqe(c);
		break;
	case NR_KIND_CLOSE:
		c->close_nop_pending = false;
		conn_close_check(c);
		break;
	}
}

void
nr_conn_retry_closes(struct netreserve_ring *r)
{
	r->close_retry = false;
	for (uint32_t s = 0; s < r->cfg.max_conns; s++) {
		struct netreserve_conn *c = &r->conns[s];
		if (c->state == NR_CONN_CLOSING && c->close_nop_needed)
			conn_close_check(c);
	}
}

void
nr_conn_abort(struct netreserve_conn *c)
{
	if (c->state == NR_CONN_FREE)
		return;
	if (!(c->flags & NETRESERVE_CONN_KEEP_FD) && c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = NR_CONN_FREE;
	c->st->state = NR_CONN_FREE;
}

/* ---- accessors --------------------------------------------------------------------------- */

int
netreserve_conn_fd(const struct netreserve_conn *c)
{
	return c->fd;
}

uint32_t
netreserve_conn_slot(const struct netreserve_conn *c)
{
	return c->slot;
}

uint16_t
netreserve_conn_gen(const struct netreserve_conn *c)
{
	return c->gen;
}

void *
netreserve_conn_ctx(const struct netreserve_conn *c)
{
	return c->ctx;
}

void
netreserve_conn_set_ctx(struct netreserve_conn *c, void *ctx)
{
	c->ctx = ctx;
}

struct netreserve_ring *
netreserve_conn_ring(const struct netreserve_conn *c)
{
	return c->ring;
}

const struct netreserve_conn_stats *
netreserve_conn_stats(const struct netreserve_conn *c)
{
	return c->st;
}

uint32_t
netreserve_conn_send_queued(const struct netreserve_conn *c)
{
	return c->tx_n;
}

struct netreserve_conn *
netreserve_conn_lookup(struct netreserve_ring *r, uint32_t slot, uint16_t gen)
{
	if (slot >= r->cfg.max_conns)
		return NULL;
	struct netreserve_conn *c = &r->conns[slot];
	return c->gen == gen && c->state == NR_CONN_OPEN ? c : NULL;
}
