/*
 * netreserve statistics: plain 64-bit counters, updated by the owning ring thread without
 * locks or allocation, optionally living in a locked shared-memory file so that a test or an
 * operator can read them from outside the process (and from outside its memory cgroup) without
 * the daemon doing any I/O. Each counter is an aligned 64-bit word written by one thread, so a
 * reader sees every counter individually consistent; a snapshot across counters is not atomic.
 *
 * File layout (version 1): struct netreserve_stats_hdr, then hdr.max_rings ring stats
 * (hdr.ring_size bytes each), then hdr.max_conns connection stats (hdr.conn_size bytes each).
 */
#ifndef BALLAST_NETRESERVE_STATS_H
#define BALLAST_NETRESERVE_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Per ring. */
struct netreserve_ring_stats {
	uint64_t loops;              /* poll/run iterations */
	uint64_t enters;             /* io_uring_enter calls */
	uint64_t sqes;               /* SQEs submitted */
	uint64_t cqes;               /* CQEs dispatched */
	uint64_t cq_overflow;        /* kernel koverflow seen (must stay 0) */
	uint64_t cq_overflow_flag;   /* times IORING_SQ_CQ_OVERFLOW was seen set */
	uint64_t stale_cqes;         /* CQEs rejected by the generation check */
	uint64_t unknown_cqes;       /* CQEs of a kind without handler */
	uint64_t sq_full;            /* netreserve_ring_sqe() had to flush a full SQ */
	uint64_t sqe_fail;           /* ... and still got none */
	uint64_t conns_attached;
	uint64_t conns_closed;
	uint64_t conns_active;
	uint64_t attach_fail;        /* table full or setup error */
	uint64_t sock_reserve_ok;    /* SO_RESERVE_MEM taken */
	uint64_t sock_reserve_eopnotsupp; /* memcg does not account sockets (v1 without tcp limit) */
	uint64_t sock_reserve_err;   /* other refusals (last errno in sock_reserve_errno) */
	uint64_t sock_reserve_errno;
	uint64_t sockopt_err;        /* other socket options refused (last errno below) */
	uint64_t sockopt_errno;
	uint64_t wakeups;            /* netreserve_ring_wake() deliveries */
	uint64_t rx_bytes, tx_bytes; /* sums over connections */
	uint64_t rx_enobufs, rx_rearm;
	uint64_t tx_errors;
	uint64_t zc_sends, zc_copied;
	uint64_t tx_nomem;           /* sends the kernel could not charge (memcg full), retried */
	uint64_t rx_nomem;           /* recvs that ended on memory, re-armed later */
	uint64_t reserved[6];
};

/* Per connection slot (reset at attach, except gen). */
struct netreserve_conn_stats {
	uint64_t gen;                /* generation of the current/last attachment */
	uint64_t state;              /* 0 free, 1 open, 2 closing */
	uint64_t rx_bytes;
	uint64_t rx_chunks;          /* CQEs carrying data */
	uint64_t rx_enobufs;         /* multishot recv ended on an empty buffer ring */
	uint64_t rx_rearm;           /* recv re-armed after ENOBUFS or a pause */
	uint64_t rx_paused;          /* times the owner stopped receiving */
	uint64_t rx_held_max;        /* most rx buffers held back at once */
	uint64_t tx_bytes;
	uint64_t tx_reqs;            /* netreserve_send requests completed */
	uint64_t tx_sqes;            /* send SQEs (gathered) */
	uint64_t tx_partial;         /* short sends continued */
	uint64_t tx_errors;
	uint64_t tx_queued_max;      /* most requests queued at once */
	uint64_t zc_sends, zc_copied;
	uint64_t sock_reserve;       /* 0 taken, else errno (EOPNOTSUPP: socket not accounted) */
	uint64_t sndbuf, rcvbuf;     /* as read back after setting (the kernel doubles) */
	uint64_t close_err;          /* errno given to on_close */
	uint64_t tx_nomem;           /* sends the kernel could not charge (memcg full), retried */
	uint64_t rx_nomem;           /* recvs that ended on memory, re-armed later */
	uint64_t reserved[2];
};

#define NETRESERVE_STATS_MAGIC "NRSTATS1"
#define NETRESERVE_STATS_APP_MAX 16

struct netreserve_stats_hdr {
	char magic[8];
	uint32_t version;            /* 1 */
	uint32_t hdr_size;
	uint32_t ring_size;
	uint32_t conn_size;
	uint32_t max_rings;
	uint32_t max_conns;
	uint32_t rings_used;
	uint32_t conns_used;
	int32_t pid;
	uint32_t ready;              /* set by netreserve_ready() */
	char name[32];
	char app_name[NETRESERVE_STATS_APP_MAX][24];
	uint64_t app[NETRESERVE_STATS_APP_MAX];  /* the daemon's own counters */
};

/*
 * The writer side, in caller storage. Read-only outside stats.c.
 */
struct netreserve_stats_region {
	struct netreserve_stats_hdr *hdr;
	struct netreserve_ring_stats *rings;
	struct netreserve_conn_stats *conns;
	size_t len;
	char path[128];              /* empty: anonymous, not visible from outside */
};

/*
 * Formats the conventional path "/dev/shm/ballast-<name>-<pid>" into buf. Returns the length or
 * -ENAMETOOLONG.
 */
int netreserve_stats_path(char *buf, size_t len, const char *name);

/*
 * Removes the stats files that daemons killed without a chance to unlink them left in dir
 * (NULL: "/dev/shm", where they take memory): "ballast-<name>-<pid>" whose pid no longer
 * exists and whose file was last modified at least min_age_s seconds ago (a test may still be
 * reading a daemon it has just killed). Regular files only, never through a symlink. Control
 * plane (may allocate). Returns how many were removed, or -errno when dir cannot be read.
 */
int netreserve_stats_sweep(const char *dir, const char *name, unsigned int min_age_s);

/*
 * Creates the region: a file at path (created 0644, truncated, never through a symlink:
 * -ELOOP; unlinked again by _destroy) or,
 * with path NULL, anonymous shared memory. Sized for max_rings rings and max_conns connections
 * in total, mapped shared, populated, locked (refusal ignored: mlockall covers it) and zeroed.
 * name (may be NULL) is copied into the header. Control plane. Returns 0 or -errno.
 */
int netreserve_stats_create(struct netreserve_stats_region *st, const char *path, const char *name,
			    uint32_t max_rings, uint32_t max_conns);

/* Unmaps and unlinks. Accepts a zeroed region. Rings using it must be freed first. */
void netreserve_stats_destroy(struct netreserve_stats_region *st);

/*
 * Claims one ring's counters and nconns connection counters (used by netreserve_ring_new()).
 * Thread-safe (rings are created on their own threads). Claims are never released: a region
 * is sized for the rings of one process lifetime. Returns 0 or -ENOSPC.
 */
int netreserve_stats_claim(struct netreserve_stats_region *st, uint32_t nconns,
			   struct netreserve_ring_stats **ring, struct netreserve_conn_stats **conns);

/*
 * Names application counter i (0 .. NETRESERVE_STATS_APP_MAX-1) and returns a pointer to it:
 * the daemon increments it directly (datapath-safe). NULL if i is out of range.
 */
uint64_t *netreserve_stats_app(struct netreserve_stats_region *st, unsigned int i, const char *name);

/* The reader side: a read-only mapping of somebody's stats file. */
struct netreserve_stats_view {
	const struct netreserve_stats_hdr *hdr;
	const void *rings;
	const void *conns;
	size_t len;
};

/* Maps path read-only and validates magic, version and sizes (the used counts are clamped to
 * them on every read). Control plane. Returns 0 or -errno (-EPROTO: not a stats file). */
int netreserve_stats_map(const char *path, struct netreserve_stats_view *v);
/* Unmaps a view from netreserve_stats_map(). Accepts a zeroed view. */
void netreserve_stats_unmap(struct netreserve_stats_view *v);

/*
 * Looks up a counter by name: "ring<N>.<field>", "conn<N>.<field>" (N = global index),
 * "sum.<conn field>" (sum over all connection slots), "app.<name>", "ready", "pid".
 * Fields are the member names of the structs above. Returns 0 or -ENOENT.
 */
int netreserve_stats_lookup(const struct netreserve_stats_view *v, const char *name, uint64_t *out);

/*
 * Calls fn(name, value, arg) for every ring and used connection counter, app counter and
 * header value, in file order. For dumps (tests/support/nrstat).
 */
void netreserve_stats_foreach(const struct netreserve_stats_view *v,
			      void (*fn)(const char *name, uint64_t value, void *arg), void *arg);

#endif
