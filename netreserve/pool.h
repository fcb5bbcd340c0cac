/*
 * netreserve pools: fixed-size object pools over memory that is mapped, populated and locked
 * at init, with per-class floors (the mempool idea applied per class), waiters embedded in the
 * caller's own request slot, poisoning on put, counters and a low-water mark. Also the
 * registered-buffer arena: one region split into fixed per-tag payload buffers.
 *
 * Threading: a pool is owned by one thread (normally a ring's thread); no locking. _init/_fini
 * are control plane (they map memory and may block); _get/_put/_wait are datapath: they never
 * allocate, block or log.
 */
#ifndef BALLAST_NETRESERVE_POOL_H
#define BALLAST_NETRESERVE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Request classes: lower value = more important. */
enum netreserve_class {
	NETRESERVE_CLASS_CONTROL,   /* NOP, TMF, logout, relogin, R2T-driven Data-Out */
	NETRESERVE_CLASS_WRITEBACK, /* WRITE, SYNC CACHE, FUA: the reclaim path */
	NETRESERVE_CLASS_READ,      /* READ and everything else */
	NETRESERVE_NCLASS
};

/*
 * A waiter, embedded in the caller's own (preallocated) request slot. Set cls and wake, then
 * pass it to netreserve_pool_get_or_wait(). When a slot becomes available to that class, the
 * pool removes the waiter from its queue and calls wake(w, obj) with the object already taken
 * on the waiter's behalf (the caller owns obj from then on). wake runs on the pool's thread,
 * from inside netreserve_pool_put(); it may call _get/_put/_wait on the same pool.
 */
struct netreserve_waiter {
	enum netreserve_class cls;
	void (*wake)(struct netreserve_waiter *w, void *obj);
	/* private to pool.c */
	struct netreserve_waiter *next;
	bool queued;
};

/* Pool counters; read-only outside pool.c. */
struct netreserve_pool_stats {
	uint64_t gets;                         /* successful gets, including handoffs to waiters */
	uint64_t puts;
	uint64_t fails[NETRESERVE_NCLASS];     /* gets refused by the class floor or emptiness */
	uint64_t waits[NETRESERVE_NCLASS];     /* waiters queued */
	uint64_t handoffs;                     /* puts that went straight to a waiter */
	uint32_t in_use;
	uint32_t max_in_use;
	uint32_t low_water;                    /* fewest free slots ever seen */
};

/* pool flags */
#define NETRESERVE_POOL_NO_FILL 0x1u   /* do not fill put objects with NETRESERVE_POOL_POISON
					 * (large payload pools: the memset costs bandwidth) */
#define NETRESERVE_POOL_NO_LOCK 0x2u   /* do not mlock (unit tests); default: mlock, and
					 * record a refusal in lock_err */
#define NETRESERVE_POOL_ZERO 0x4u      /* zero objects on get */

#define NETRESERVE_POOL_POISON 0x6b    /* fill byte of a put object */

struct netreserve_pool_config {
	const char *name;                    /* borrowed for the pool's lifetime; may be NULL */
	size_t obj_size;                     /* > 0; the stride is obj_size rounded up to align */
	size_t align;                        /* power of two <= 4096; 0 = 64 (a cache line) */
	uint32_t count;                      /* > 0 */
	/*
	 * floor[c]: a get in class c succeeds only while free slots > floor[c], i.e. floor[c]
	 * slots are kept for the classes more important than c. Must be non-decreasing
	 * (floor[CONTROL] <= floor[WRITEBACK] <= floor[READ]) and floor[READ] < count.
	 */
	uint32_t floor[NETRESERVE_NCLASS];
	void *mem;    /* optional caller memory of count * stride bytes (e.g. an arena region),
		       * borrowed until _fini; NULL: the pool maps, populates and locks its own */
	unsigned int flags;                  /* NETRESERVE_POOL_* */
};

/* A pool in caller storage; read-only outside pool.c. */
struct netreserve_pool {
	const char *name;
	char *base;
	size_t stride;
	size_t obj_size;
	uint32_t count;
	uint32_t nfree;
	uint32_t floor[NETRESERVE_NCLASS];
	unsigned int flags;
	uint32_t *free_stack;                /* indices of free slots, top at nfree - 1 */
	uint8_t *state;                      /* 1 = in use, per slot (double-put detection) */
	struct netreserve_waiter *wait_head[NETRESERVE_NCLASS];
	struct netreserve_waiter *wait_tail[NETRESERVE_NCLASS];
	void *map;                           /* what _init mapped (objects and/or bookkeeping) */
	size_t map_len;
	int lock_err;                        /* 0 or -errno of the mlock refusal */
	struct netreserve_pool_stats stats;
};

/*
 * Maps (MAP_POPULATE), touches and mlocks the slots and their bookkeeping, and poisons every
 * slot. Control plane: may block. Returns 0, -EINVAL (bad size, alignment, count or floors)
 * or -ENOMEM.
 * An mlock refusal is not an error: it is recorded in p->lock_err (process-wide mlockall,
 * netreserve_protect_process(), is the primary lock). Release with netreserve_pool_fini().
 */
int netreserve_pool_init(struct netreserve_pool *p, const struct netreserve_pool_config *cfg);

/* Unmaps what _init mapped. Accepts a zeroed or half-built pool. Objects must all be back. */
void netreserve_pool_fini(struct netreserve_pool *p);

/*
 * Takes a slot for class cls, or returns NULL (the -ENOBUFS case, counted in fails[cls]) when
 * free slots <= floor[cls] or when waiters of an equally or more important class are queued
 * (no overtaking). The object is unpoisoned (and zeroed with NETRESERVE_POOL_ZERO); its content
 * is otherwise undefined. Owned by caller, release with netreserve_pool_put(). Datapath.
 */
void *netreserve_pool_get(struct netreserve_pool *p, enum netreserve_class cls);

/*
 * As netreserve_pool_get(), but when no slot is available queues w (FIFO per class) and
 * returns -EAGAIN; w->wake(w, obj) delivers the slot later. Returns 0 with *out set on success.
 * w is borrowed until woken or cancelled. -EBUSY if w is already queued. Datapath.
 */
int netreserve_pool_get_or_wait(struct netreserve_pool *p, struct netreserve_waiter *w, void **out);

/* Removes a queued waiter (e.g. its connection closes). Returns true if it was queued. */
bool netreserve_pool_cancel_wait(struct netreserve_pool *p, struct netreserve_waiter *w);

/*
 * Returns obj (from this pool) to the pool. Poisons it (fill pattern unless NO_FILL, then ASan
 * or valgrind no-access), then hands it to the first waiter, most important class first, whose
 * floor allows it; otherwise it goes back on the free stack. Putting a foreign or already free
 * object is a bug (assert). Datapath.
 */
void netreserve_pool_put(struct netreserve_pool *p, void *obj);

/* Slot index of obj (0 .. count-1), for user_data encoding. */
static inline uint32_t
netreserve_pool_index(const struct netreserve_pool *p, const void *obj)
{
	return (uint32_t)(((const char *)obj - p->base) / p->stride);
}

/* Object at index i; borrowed (the slot is not taken). */
static inline void *
netreserve_pool_at(const struct netreserve_pool *p, uint32_t i)
{
	return p->base + (size_t)i * p->stride;
}

static inline uint32_t
netreserve_pool_free(const struct netreserve_pool *p)
{
	return p->nfree;
}

/* Bytes _init maps for this configuration (for footprint checks). */
size_t netreserve_pool_mem_size(const struct netreserve_pool_config *cfg);

/*
 * The registered-buffer arena: nbufs payload buffers of buf_size bytes (rounded up to 4 KiB) in
 * one mapped, populated, locked region. Register it with netreserve_ring_register_arena() so
 * that buffer i is io_uring fixed buffer index i (read_fixed/write_fixed/send_zc_fixed).
 * Read-only outside pool.c.
 */
struct netreserve_arena {
	char *base;
	size_t buf_size;
	uint32_t nbufs;
	size_t map_len;
	int lock_err;                        /* 0 or -errno of the mlock refusal */
};

/* Control plane. Returns 0, -EINVAL or -ENOMEM. Release with netreserve_arena_fini(). */
int netreserve_arena_init(struct netreserve_arena *a, uint32_t nbufs, size_t buf_size);

/* Accepts a zeroed or half-built arena. Unregister it from rings first (ring fini does). */
void netreserve_arena_fini(struct netreserve_arena *a);

/* Buffer i (borrowed; the arena does no allocation bookkeeping: tags own buffers). */
static inline void *
netreserve_arena_buf(const struct netreserve_arena *a, uint32_t i)
{
	return a->base + (size_t)i * a->buf_size;
}

/* Index of the buffer holding p, or -1 if p is outside the arena. */
static inline int
netreserve_arena_index(const struct netreserve_arena *a, const void *p)
{
	const char *c = p;
	if (!a->base || c < a->base || c >= a->base + (size_t)a->nbufs * a->buf_size)
		return -1;
	return (int)((size_t)(c - a->base) / a->buf_size);
}

#endif
