/*
 * netreserve connections: slots in a ring's preallocated connection table. A connected stream
 * socket (TCP, or AF_UNIX for NBD) is attached to a slot; from then on the ring receives into
 * the slot's provided buffer ring with one multishot recv and sends gathered iovecs from the
 * caller's own buffers, with no allocation anywhere.
 *
 * Receive and backpressure: each received chunk is passed to ops->on_recv, which copies out
 * what it can and returns how many bytes it consumed. Returning less than len pauses the
 * connection: the buffer (and any chunks that arrive behind it) is held, recv is not re-armed,
 * data waits in the socket and the TCP window closes. netreserve_conn_resume_recv() redelivers
 * the rest. When the buffer ring runs empty the kernel ends the multishot recv with -ENOBUFS
 * (counted in rx_enobufs) and leaves the data in the socket; recv is re-armed (rx_rearm) only
 * once buffers are back, never on a timer.
 *
 * Send: netreserve_conn_send() queues caller-owned request storage; requests on one
 * connection complete in order, short sends are continued internally, consecutive requests are
 * gathered into one sendmsg (up to NETRESERVE_CONN_IOV iovecs).
 *
 * Close: EOF, an error, or netreserve_conn_close() start the close; on_close(conn, err) is
 * called exactly once, from the dispatch loop, after every operation the kernel held has
 * completed and every queued send has been completed with -ECANCELED (or the error). After
 * on_close the slot is free and the conn pointer must not be used.
 *
 * Threading: everything on the ring's owner thread. Callbacks run from the dispatch loop; they
 * may call any function here (send, pause, resume, close) but must not block.
 */
#ifndef BALLAST_NETRESERVE_CONN_H
#define BALLAST_NETRESERVE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "netreserve/ring.h"
#include "netreserve/stats.h"

struct netreserve_conn;

/* Most iovecs one gathered send SQE carries. */
#define NETRESERVE_CONN_IOV 64

struct netreserve_conn_ops {
	/*
	 * len > 0 bytes arrived at data (borrowed for the call only). Return the number of bytes
	 * consumed (copied out), 0 .. len: less than len pauses receiving until
	 * netreserve_conn_resume_recv(), and the remainder is passed again then. A negative
	 * -errno closes the connection with that error.
	 */
	long (*on_recv)(struct netreserve_conn *c, const void *data, size_t len, void *ctx);
	/*
	 * The connection is closed: err is 0 (EOF or netreserve_conn_close(c, 0)) or -errno.
	 * Called once. The fd is already closed (unless NETRESERVE_CONN_KEEP_FD) and every buffer
	 * and send request the kernel held has been returned.
	 */
	void (*on_close)(struct netreserve_conn *c, int err, void *ctx);
};

/* attach flags */
#define NETRESERVE_CONN_KEEP_FD 0x1u   /* do not close the fd at close; the owner does */
#define NETRESERVE_CONN_NO_SOCKOPT 0x2u /* do not touch socket options */
#define NETRESERVE_CONN_PAUSED 0x4u    /* attach without arming recv (resume later) */

/*
 * Attaches connected stream socket fd to a free slot of ring r: applies the socket options of
 * the ring's config (netreserve_sock_prepare()) and arms the multishot recv (the fd's
 * blocking mode is left alone: io_uring copes with both). ops (borrowed until on_close) and ctx are the owner's. The fd is owned by the
 * connection from now on (closed at close) unless NETRESERVE_CONN_KEEP_FD. Refused socket
 * options do not fail the attach: they are counted (ring stats sock_reserve_*, sockopt_err;
 * connection stats sock_reserve). Datapath-safe (no allocation), owner thread. Returns 0 with
 * *out set, -ENOSPC (table full), -EINVAL, or -errno from the recv arming.
 */
int netreserve_conn_attach(struct netreserve_ring *r, int fd, unsigned int flags,
			   const struct netreserve_conn_ops *ops, void *ctx,
			   struct netreserve_conn **out);

/*
 * Applies cfg's socket options to fd: SO_SNDBUF, SO_RCVBUF (call before connect()/listen()
 * too, since the receive buffer fixes the window scale), SO_RESERVE_MEM, and for TCP sockets
 * TCP_NODELAY, TCP_USER_TIMEOUT, SO_KEEPALIVE + TCP_KEEPIDLE/KEEPINTVL/KEEPCNT. AF_UNIX sockets
 * get the buffer sizes only. Returns 0 when every requested option was applied, else the
 * -errno of the first refusal (SO_RESERVE_MEM's is returned in *reserve_err instead; may be
 * NULL). Never allocates.
 */
int netreserve_sock_prepare(int fd, const struct netreserve_config *cfg, int *reserve_err);

/*
 * Starts closing c with err (0 or -errno): cancels the recv, shuts the socket down, fails
 * queued sends with -ECANCELED. on_close follows from the dispatch loop. Idempotent (the first
 * err wins). Owner thread, never blocks.
 */
void netreserve_conn_close(struct netreserve_conn *c, int err);

/* Stops receiving: chunks already in flight are held (as if on_recv had returned 0). */
void netreserve_conn_pause_recv(struct netreserve_conn *c);

/*
 * Resumes receiving: redelivers held data to on_recv (which may pause again), recycles the
 * buffers, and re-arms the recv if it had ended. Returns 0, or -EPIPE if the connection is
 * closing.
 */
int netreserve_conn_resume_recv(struct netreserve_conn *c);

/* Caller-embedded send request. */
struct netreserve_send {
	/*
	 * Set by the caller before netreserve_conn_send(): called once, from the dispatch loop,
	 * with res = bytes sent (the whole request) or -errno (-ECANCELED at close). The request
	 * storage, its iovec array and the bytes it points to are borrowed until then.
	 */
	void (*done)(struct netreserve_conn *c, struct netreserve_send *s, int res);
	unsigned int flags;          /* NETRESERVE_SEND_* */
	/* private to conn.c */
	struct netreserve_send *next;
	const struct iovec *iov;
	int iovcnt;
	int cur;                     /* first iovec not fully sent */
	size_t cur_off;              /* bytes of iov[cur] already sent */
	size_t total;
	uint32_t zc_pending;
};

/* send flags */
#define NETRESERVE_SEND_ZC 0x1u /* send with IORING_OP_SEND_ZC(_FIXED if in the registered
				 * arena); needs NETRESERVE_F_SEND_ZC on the ring and iovcnt 1,
				 * else a plain send. done() follows the notification CQE. */

/*
 * Queues req to send iovcnt (1 .. IOV_MAX) iovecs on c, after every request queued before it.
 * req->done must be set. Returns 0 (req is then the connection's until done()), -EPIPE if c is
 * closing (done() is not called), -EINVAL (no done, bad iovcnt, zero length) or -EBUSY (req
 * already queued). Datapath: never allocates, never blocks.
 */
int netreserve_conn_send(struct netreserve_conn *c, const struct iovec *iov, int iovcnt,
			 struct netreserve_send *req);

/* Accessors: owner thread, datapath-safe; c must be attached (before on_close returns). */
int netreserve_conn_fd(const struct netreserve_conn *c);
uint32_t netreserve_conn_slot(const struct netreserve_conn *c);  /* = bgid */
uint16_t netreserve_conn_gen(const struct netreserve_conn *c);   /* bumped at each attach */
void *netreserve_conn_ctx(const struct netreserve_conn *c);      /* the owner's, borrowed */
void netreserve_conn_set_ctx(struct netreserve_conn *c, void *ctx);
struct netreserve_ring *netreserve_conn_ring(const struct netreserve_conn *c);
/* Live counters of the slot (borrowed until netreserve_ring_free()). */
const struct netreserve_conn_stats *netreserve_conn_stats(const struct netreserve_conn *c);
/* Requests queued and not yet completed. */
uint32_t netreserve_conn_send_queued(const struct netreserve_conn *c);

/*
 * The connection in slot of r if its generation is gen and it is open; NULL otherwise.
 * For owners that encode (slot, gen) in their own user_data.
 */
struct netreserve_conn *netreserve_conn_lookup(struct netreserve_ring *r, uint32_t slot, uint16_t gen);

#endif
