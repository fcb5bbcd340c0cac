/*
 * Byte transport of one target connection: receive chunks with backpressure, ordered gathered
 * sends with caller-embedded requests, close. Two backends with one contract:
 *  - netreserve (io_uring multishot recv into provided buffers, gathered sendmsg), the
 *    default when the ring can be set up;
 *  - a readv/writev fallback on libev watchers (no io_uring), used when the ring cannot be
 *    created or with --no-uring. Neither allocates after attach.
 * The contract is netreserve's (netreserve/conn.h): on_recv returns the bytes it consumed
 * (fewer pauses receiving until target_xport_resume()); send requests complete in order;
 * on_close is called once, after every queued send completed.
 * Thread: the daemon's loop thread only.
 */
#ifndef BALLAST_TARGET_XPORT_H
#define BALLAST_TARGET_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "netreserve/conn.h"

struct ev_loop;
struct target_xport;

struct target_xport_ops {
	long (*on_recv)(struct target_xport *x, const void *data, size_t len, void *ctx);
	void (*on_close)(struct target_xport *x, int err, void *ctx);
};

/* Caller-embedded send request (must stay valid until done() is called). */
struct target_send {
	void (*done)(struct target_send *s, int res); /* bytes sent or -errno */
	/* private to xport.c */
	struct netreserve_send nr;
	struct target_send *next;
	const struct iovec *iov;
	int iovcnt;
	int cur;
	size_t cur_off;
	size_t total;
};

/*
 * Set up the transport for the loop: try a netreserve ring sized for max_conns connections
 * and user_cqes backstore requests (unless no_uring). Control plane. Returns 0, or the ring's
 * -errno; either way the transport is usable afterwards (the readv/writev fallback when the
 * ring could not be made) and *using_uring tells which.
 */
int target_xport_setup(struct ev_loop *loop, uint32_t max_conns, uint32_t user_cqes,
		       bool no_uring, bool *using_uring);

/* Tear down (after every connection is closed). Accepts being called when setup failed. */
void target_xport_teardown(void);

/*
 * Attach connected socket fd (owned from now on) and start receiving. Control plane (at
 * accept). Returns 0 and *out, or -errno (fd closed).
 */
int target_xport_attach(int fd, const struct target_xport_ops *ops, void *ctx,
			struct target_xport **out);

/* Queue a send. Returns 0 or -EPIPE (closing; done not called). Datapath. */
int target_xport_send(struct target_xport *x, const struct iovec *iov, int iovcnt,
		      struct target_send *s);

/* Start closing; on_close follows from the loop. Idempotent. */
void target_xport_close(struct target_xport *x, int err);

/* Stop / resume receiving (resume redelivers held data). */
void target_xport_pause(struct target_xport *x);
void target_xport_resume(struct target_xport *x);

/* The socket fd (for getsockname/getpeername). */
int target_xport_fd(const struct target_xport *x);

/*
 * The asynchronous backstore submitter over the ring (file LUNs read and write through
 * io_uring; completions are dispatched by the ring), or NULL without the io_uring backend.
 * Static storage.
 */
struct target_io_submitter;
const struct target_io_submitter *target_xport_submitter(void);

/* The netreserve ring when the io_uring backend is in use, else NULL. */
struct netreserve_ring *target_xport_ring(void);

#endif
