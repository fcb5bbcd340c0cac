/*
 * netreserve internals shared by ring.c, conn.c, pool.c and footprint.c. Not part of the
 * public API: include netreserve/netreserve.h instead.
 */
#ifndef BALLAST_NETRESERVE_INTERNAL_H
#define BALLAST_NETRESERVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <liburing.h>

#include "netreserve/conn.h"
#include "netreserve/ring.h"
#include "netreserve/stats.h"

/* Internal user_data kinds (below NETRESERVE_KIND_USER). */
enum {
	NR_KIND_NONE = 0,   /* warm-up NOPs: ignored */
	NR_KIND_RECV = 1,
	NR_KIND_SEND = 2,
	NR_KIND_SENDZC = 3,
	NR_KIND_CANCEL = 4,
	NR_KIND_CLOSE = 5,  /* NOP that finishes a close from the dispatch loop */
	NR_KIND_WAKE = 6,   /* eventfd read */
	NR_KIND_RETRY = 7,  /* a connection's memory-pressure retry timer (IORING_OP_TIMEOUT) */
};

/*
 * Memory-pressure retry: a send (or recv arming) that fails with -ENOBUFS, -ENOMEM or -EAGAIN
 * is retried after a timer backing off from NR_RETRY_MIN_MS to NR_RETRY_MAX_MS.
 */
#define NR_RETRY_MIN_MS 1u
#define NR_RETRY_MAX_MS 100u

/* IORING_NOP_INJECT_RESULT (Linux 6.10; sqe->nop_flags shares rw_flags): the test hook. */
#define NR_NOP_INJECT_RESULT (1u << 0)

/* Defaults of struct netreserve_config. */
#define NR_DEF_RX_BUFS 16u
#define NR_DEF_RX_BUF_SIZE 16384u
#define NR_DEF_CTRL_SLOTS 4u
#define NR_DEF_HDR_SIZE (48u + 8u)
#define NR_DEF_CMD_SLOT 256u
#define NR_DEF_STACK (256u << 10)
#define NR_PAGE 4096u
/* CQEs one connection can have outstanding: recv (N_rx + final), send + zc notif, cancel,
 * close NOP, and one spare. The retry timer only runs while no send is in flight, and its
 * cancel while the close NOP is not yet issued, so they fit the same bound. */
#define NR_CONN_CQES_EXTRA 6u

enum { NR_CONN_FREE = 0, NR_CONN_OPEN = 1, NR_CONN_CLOSING = 2 };

struct nr_held {
	uint16_t bid;
	uint32_t len;
	uint32_t off;
};

struct netreserve_conn {
	struct netreserve_ring *ring;
	uint32_t slot;
	uint16_t gen;
	uint8_t state;
	int fd;
	unsigned int flags;
	const struct netreserve_conn_ops *ops;
	void *ctx;
	struct netreserve_conn_stats *st;
	int close_err;

	/* receive */
	struct io_uring_buf_ring *br;
	char *rx_base;
	bool rx_armed;
	bool rx_paused;
	bool rx_eof;
	bool rx_draining;
	bool rx_enobufs_seen;     /* the last recv ended on ENOBUFS or a pause: count the re-arm */
	bool rx_got;              /* data arrived since the recv was last armed */
	bool rx_nomem_wait;       /* recv ended on memory pressure: re-arm at the retry timer */
	struct nr_held *held;     /* ring of held chunks, capacity N_rx */
	uint32_t held_head;
	uint32_t held_n;

	/* send */
	struct netreserve_send *tx_head, *tx_tail;
	uint32_t tx_n;
	bool tx_inflight;
	uint32_t zc_notifs;
	size_t tx_inflight_bytes;
	struct msghdr msg;
	struct iovec *iov;        /* NETRESERVE_CONN_IOV entries */
	bool tx_nomem_wait;       /* the head send failed on memory: resend at the retry timer */

	/* memory-pressure retry timer, shared by both directions */
	bool retry_pending;       /* the timeout SQE is the kernel's */
	uint32_t tx_retry_ms, rx_retry_ms; /* current backoff per direction; 0 after a success */
	struct __kernel_timespec retry_ts;  /* read by the kernel when it takes the SQE */

	/* close */
	uint8_t cancels_pending;  /* cancel SQEs in flight (recv, retry timer) */
	bool close_nop_pending;
	bool close_nop_needed;
};

struct netreserve_ring {
	struct io_uring uring;
	struct netreserve_config cfg;
	struct netreserve_features feat;
	struct netreserve_ring_stats *st;
	struct netreserve_ring_stats own_st;
	struct netreserve_conn *conns;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t rx_mask;
	unsigned int last_koverflow;
	struct netreserve_handler handlers[NETRESERVE_KIND_MAX + 1];
	const struct netreserve_arena *arena;

	int wake_fd;
	uint64_t wake_buf;
	bool wake_armed;
	int stop;                 /* atomic */
	void (*wake_fn)(struct netreserve_ring *r, void *ctx);
	void *wake_ctx;

	void *map;
	size_t map_len;
	bool uring_up;
	bool close_retry;         /* a close found no SQE: nr_conn_retry_closes() from the loop */

	/*
	 * Unit-test hook, never set by the daemons: the next test_fail_tx plain send SQEs and
	 * test_fail_rx recv armings are replaced by NOPs completing with test_fail_err
	 * (NR_NOP_INJECT_RESULT), so that the error paths run on real CQEs.
	 */
	uint32_t test_fail_tx, test_fail_rx;
	int test_fail_err;
};

/* Memory layout of a ring's single mapping; offsets from its start. */
struct nr_layout {
	size_t ring;              /* struct netreserve_ring */
	size_t conns;             /* C x struct netreserve_conn */
	size_t free_slots;        /* C x uint32_t */
	size_t held;              /* C x N_rx x struct nr_held */
	size_t iov;               /* C x NETRESERVE_CONN_IOV x struct iovec */
	size_t conn_stats;        /* C x struct netreserve_conn_stats (private stats) */
	size_t table_end;         /* page aligned: end of the bookkeeping part */
	size_t bufrings;          /* C x page_round(N_rx x 16), page aligned */
	size_t bufring_stride;
	size_t rxbufs;            /* C x N_rx x R */
	size_t total;             /* page aligned */
};

/*
 * Maps len bytes (private, anonymous, MAP_POPULATE), touches every page (MAP_POPULATE may be
 * partial under pressure) and mlocks them unless nolock. Control plane. Returns the mapping
 * (owned by caller, release with munmap()) or NULL; *lock_err gets 0 or the mlock -errno.
 * Shared by pools, arenas and ring tables (pool.c).
 */
void *nr_map_locked(size_t len, bool nolock, int *lock_err);

/* Applies the defaults to *cfg. Returns 0 or -EINVAL. */
int nr_config_normalise(struct netreserve_config *cfg);

/* Computes the layout for a normalised cfg. Returns 0 or -EINVAL on overflow. */
int nr_layout(const struct netreserve_config *cfg, struct nr_layout *l);

/* conn.c entry points used by the ring's dispatch loop. */
void nr_conn_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe);
void nr_conn_init_slot(struct netreserve_ring *r, struct netreserve_conn *c);
/*
 * Retries the closes that could not get an SQE for their final NOP (ring->close_retry). Called
 * by the dispatch loop only, so that on_close never runs inside the caller's own
 * netreserve_conn_close(), netreserve_conn_send() or on_recv.
 */
void nr_conn_retry_closes(struct netreserve_ring *r);
/* Forced teardown at ring free: closes the fd, no callbacks. */
void nr_conn_abort(struct netreserve_conn *c);

/* ring.c helper: an SQE with user_data set, or NULL. */
struct io_uring_sqe *nr_ring_sqe(struct netreserve_ring *r, uint64_t ud);

#endif
