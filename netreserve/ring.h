/*
 * netreserve rings: one io_uring per datapath thread (SINGLE_ISSUER | DEFER_TASKRUN, CQ sized
 * from the configuration so it cannot overflow), owning a preallocated connection table (see
 * conn.h), one provided buffer ring per connection slot, and a dispatch loop that routes each
 * CQE by the kind encoded in its user_data.
 *
 * Threading: a ring belongs to the thread that called netreserve_ring_new() (SINGLE_ISSUER
 * binds the ring to it). Every function here except netreserve_ring_wake() and
 * netreserve_ring_stop() must be called on that thread. Under DEFER_TASKRUN nothing completes
 * unless that thread enters the ring, so it must never block on anything else.
 *
 * Two ways to drive a ring:
 *  - a dedicated datapath thread calls netreserve_ring_run() (blocks until stopped);
 *  - a libev loop on the same thread watches netreserve_ring_fd() with an ev_io (EV_READ) and
 *    calls netreserve_ring_poll() from the watcher, and once before sleeping (an ev_prepare
 *    watcher), so that SQEs prepared by other callbacks are submitted. Verified on Linux 6.18:
 *    the ring fd polls readable when deferred task work is pending under DEFER_TASKRUN, so no
 *    eventfd is needed.
 */
#ifndef BALLAST_NETRESERVE_RING_H
#define BALLAST_NETRESERVE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>

#include "netreserve/pool.h"
#include "netreserve/stats.h"

/* ring flags (struct netreserve_config.flags) */
#define NETRESERVE_F_SEND_ZC 0x1u       /* allow NETRESERVE_SEND_ZC requests (default: plain
					 * sendmsg; on loopback zero copy copies anyway) */
#define NETRESERVE_F_NO_DEFER 0x2u      /* no DEFER_TASKRUN (comparison runs only) */
#define NETRESERVE_F_NO_WARMUP 0x4u     /* skip the NOP warm-up at setup */
#define NETRESERVE_F_NO_REGISTER_FD 0x8u /* do not register the ring fd */

/*
 * Sizes, from configured limits x negotiated maxima. Used by netreserve_ring_new() (the fields
 * marked "ring") and by netreserve_footprint() (all fields). Zero means the default given.
 */
struct netreserve_config {
	uint32_t max_conns;          /* ring: C, connection table size of this ring (>= 1) */
	uint32_t rx_bufs;            /* ring: N_rx per connection, power of two >= 2 (default 16) */
	uint32_t rx_buf_size;        /* ring: R, multiple of 64 (default 16384) */
	uint32_t user_cqes;          /* ring: most CQEs the owner's own SQEs (file I/O, timeouts,
				      * URING_CMD...) can have outstanding at once */
	uint32_t sq_entries;         /* ring: default max(64, next pow2 of 2*C + user_cqes) */
	uint32_t sndbuf;             /* ring: fixed SO_SNDBUF; 0 = leave autotuning on */
	uint32_t rcvbuf;             /* ring: fixed SO_RCVBUF; 0 = leave autotuning on */
	uint32_t sock_reserve;       /* ring: SO_RESERVE_MEM bytes taken at attach; 0 = off */
	uint32_t tcp_user_timeout_ms; /* ring: TCP_USER_TIMEOUT; 0 = leave */
	uint32_t keepalive_idle_s;   /* ring: SO_KEEPALIVE + TCP_KEEPIDLE/INTVL/CNT; 0 = off */
	uint32_t keepalive_intvl_s;
	uint32_t keepalive_cnt;
	unsigned int flags;          /* ring: NETRESERVE_F_* */
	struct netreserve_stats_region *stats; /* ring: where counters live; NULL = private */

	/* footprint only: the daemon's pools, so that --print-footprint covers everything */
	uint32_t queue_depth;        /* Q: commands in flight per connection */
	uint32_t ctrl_slots;         /* K: control slots per connection (default 4) */
	uint32_t max_payload;        /* B: max payload per command; arena = C x Q x B */
	uint32_t max_seg;            /* S_peer: peer's max data segment (default B) */
	uint32_t hdr_size;           /* H: tx header slot size (default 48 + 8) */
	uint32_t cmd_slot_size;      /* bytes per command slot (default 256) */
	uint32_t rings;              /* rings (datapath threads) with this config (default 1) */
	uint32_t stack_size;         /* per datapath thread (default 256 KiB) */
	uint64_t extra_locked;       /* anything else the daemon locks */
};

/* Kernel features seen at setup (netreserve_ring_features()). */
struct netreserve_features {
	uint32_t features;           /* io_uring_params.features */
	uint32_t setup_flags;        /* flags the ring was created with */
	uint32_t sq_entries, cq_entries;
	uint8_t last_op;             /* highest opcode the kernel knows */
	bool defer_taskrun;
	bool recv_multishot;         /* IORING_OP_RECV + IORING_RECV_MULTISHOT (6.0) */
	bool send_zc;                /* IORING_OP_SEND_ZC (6.0) */
	bool sendmsg_zc;
	bool pbuf_ring;              /* IORING_REGISTER_PBUF_RING (5.19) */
	bool bundle;                 /* IORING_FEAT_RECVSEND_BUNDLE (6.10) */
	bool pbuf_inc;               /* IOU_PBUF_RING_INC accepted (6.12) */
	bool pbuf_status;            /* IORING_REGISTER_PBUF_STATUS (6.8) */
	bool napi;                   /* IORING_REGISTER_NAPI (6.9) */
	bool ring_fd_registered;
	bool arena_registered;
	bool arena_memlock_charged;  /* registered without CAP_IPC_LOCK: counts against memlock */
	int arena_err;               /* 0 or -errno of the last arena registration */
};

struct netreserve_ring;

/*
 * Creates a ring on the calling thread (which then owns it): maps, populates and locks the
 * connection table, buffer rings and rx buffers; sets up io_uring with SINGLE_ISSUER |
 * DEFER_TASKRUN | CQSIZE (CQ = netreserve_cq_entries(cfg)); registers one provided buffer ring
 * per connection slot (bgid = slot); probes kernel features; warms up the request caches with a
 * burst of NOPs. cfg is copied. Control plane: may block. Returns 0, -EINVAL (bad config),
 * -ENOMEM, -ENOSPC (stats region full) or the io_uring setup error. Release with
 * netreserve_ring_free().
 */
int netreserve_ring_new(const struct netreserve_config *cfg, struct netreserve_ring **out);

/*
 * Closes every connection (without calling on_close), waits for the kernel to return every
 * buffer, unregisters and unmaps. On the owner thread. Accepts NULL.
 */
void netreserve_ring_free(struct netreserve_ring *r);

/* Kernel features probed at setup. Borrowed until netreserve_ring_free(). */
const struct netreserve_features *netreserve_ring_features(const struct netreserve_ring *r);

/*
 * Formats the features as one line of "name=value" pairs into buf (always NUL-terminated).
 * Returns the length it wanted (snprintf semantics).
 */
int netreserve_features_format(const struct netreserve_features *f, char *buf, size_t len);

/* The ring's counters (live; in the stats region when one was given). */
const struct netreserve_ring_stats *netreserve_ring_stats(const struct netreserve_ring *r);

/* Bytes of memory the ring mapped (connection table, buffer rings, rx buffers). */
size_t netreserve_ring_mem(const struct netreserve_ring *r);

/* The ring's liburing handle, for io_uring_prep_* helpers and registration (owner thread). */
struct io_uring *netreserve_ring_uring(struct netreserve_ring *r);

/* Fd to watch for EV_READ in a libev loop (the ring fd). */
int netreserve_ring_fd(const struct netreserve_ring *r);

/*
 * Registers arena a: buffer i becomes fixed buffer index i for this ring. Without
 * CAP_IPC_LOCK the kernel charges it to RLIMIT_MEMLOCK. a is borrowed until netreserve_ring_free().
 * Control plane. Returns 0, -E2BIG (more than 16384 buffers), -EBUSY (one arena per ring) or
 * the registration error (-ENOMEM at the memlock limit).
 */
int netreserve_ring_register_arena(struct netreserve_ring *r, const struct netreserve_arena *a);

/*
 * user_data layout: kind (8 bits) | generation (16) | slot (24) | aux (16). Kinds below
 * NETRESERVE_KIND_USER are netreserve's own; the owner uses NETRESERVE_KIND_USER ..
 * NETRESERVE_KIND_MAX for its SQEs and registers a handler per kind.
 */
#define NETRESERVE_KIND_USER 16u
#define NETRESERVE_KIND_MAX 255u
#define NETRESERVE_SLOT_MAX 0xffffffu

static inline uint64_t
netreserve_ud(unsigned int kind, uint32_t slot, uint16_t gen, uint16_t aux)
{
	return (uint64_t)(kind & 0xff) << 56 | (uint64_t)gen << 40 |
	       (uint64_t)(slot & NETRESERVE_SLOT_MAX) << 16 | aux;
}

static inline unsigned int
netreserve_ud_kind(uint64_t ud)
{
	return (unsigned int)(ud >> 56);
}

static inline uint16_t
netreserve_ud_gen(uint64_t ud)
{
	return (uint16_t)(ud >> 40);
}

static inline uint32_t
netreserve_ud_slot(uint64_t ud)
{
	return (uint32_t)(ud >> 16) & NETRESERVE_SLOT_MAX;
}

static inline uint16_t
netreserve_ud_aux(uint64_t ud)
{
	return (uint16_t)ud;
}

/*
 * Completion handler for a user kind. Called from the dispatch loop on the owner thread, once
 * per CQE whose user_data has that kind. cqe is borrowed for the call. The handler checks the
 * generation of its own slots (stale CQEs of a reused slot must be ignored) and may prepare
 * new SQEs. It must not block.
 */
struct netreserve_handler {
	void (*fn)(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx);
	void *ctx;
};

/*
 * Sets the handler for kind (NETRESERVE_KIND_USER .. NETRESERVE_KIND_MAX); fn NULL clears it.
 * Returns 0 or -EINVAL.
 */
int netreserve_ring_set_handler(struct netreserve_ring *r, unsigned int kind,
				void (*fn)(struct netreserve_ring *r, const struct io_uring_cqe *cqe,
					   void *ctx),
				void *ctx);

/*
 * Returns a free SQE for the owner's own operation, flushing the SQ once if it is full, or
 * NULL (counted in sqe_fail). Prepare it with io_uring_prep_*(), THEN set its user_data with
 * io_uring_sqe_set_data64(sqe, netreserve_ud(kind, slot, gen, aux)) (newer liburing prep
 * helpers may clear user_data). It is submitted by the next poll/run iteration. The CQEs it
 * can produce must be within cfg.user_cqes. Datapath.
 */
struct io_uring_sqe *netreserve_ring_sqe(struct netreserve_ring *r);

/*
 * One non-blocking iteration: submit prepared SQEs, run deferred task work, dispatch every
 * available CQE, then submit what the handlers prepared. For an ev_io watcher on
 * netreserve_ring_fd(). Returns the number of CQEs dispatched or -errno from io_uring_enter
 * (-EINTR/-EAGAIN/-EBUSY are retried internally and not returned).
 */
int netreserve_ring_poll(struct netreserve_ring *r);

/*
 * As netreserve_ring_poll(), but waits up to timeout_ms (-1: no limit) for at least one CQE.
 * Returns CQEs dispatched (0 on timeout) or -errno.
 */
int netreserve_ring_wait(struct netreserve_ring *r, int timeout_ms);

/*
 * Runs the ring on the calling (owner) thread until netreserve_ring_stop(). Returns 0 when
 * stopped, or -errno on a fatal io_uring_enter error.
 */
int netreserve_ring_run(struct netreserve_ring *r);

/*
 * Asks netreserve_ring_run() to return after the current iteration. Safe from any thread and
 * from handlers (wakes the ring through its eventfd).
 */
void netreserve_ring_stop(struct netreserve_ring *r);

/*
 * Wakes the ring from any thread: the owner thread then calls the wake handler (if set) from
 * its dispatch loop. Wakes coalesce. Never blocks, never allocates.
 */
void netreserve_ring_wake(struct netreserve_ring *r);

/* Sets the function the owner thread calls after a netreserve_ring_wake(). */
void netreserve_ring_set_wake(struct netreserve_ring *r, void (*fn)(struct netreserve_ring *r, void *ctx),
			      void *ctx);

/*
 * CQ entries for cfg: C x (N_rx + 6) + user_cqes + 8, rounded up to a power of two, and at
 * least the SQ size; 0 when that does not fit 32 bits (no ring can be made for cfg).
 */
uint32_t netreserve_cq_entries(const struct netreserve_config *cfg);

/* SQ entries for cfg (cfg->sq_entries or the default above, rounded up to a power of two);
 * 0 when that does not fit 32 bits. */
uint32_t netreserve_sq_entries(const struct netreserve_config *cfg);

#endif
