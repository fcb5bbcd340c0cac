/*
 * netreserve footprint: what a configuration locks, registers and charges as socket memory,
 * computed from struct netreserve_config (design section c.2). The daemons print it
 * (--print-footprint, last line "total BYTES"); tests size cgroup limits from it; the same
 * numbers go into RLIMIT_MEMLOCK and systemd MemoryMin=. Pure arithmetic: no system calls.
 */
#ifndef BALLAST_NETRESERVE_FOOTPRINT_H
#define BALLAST_NETRESERVE_FOOTPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "netreserve/ring.h"

/* Socket buffer assumed per direction when autotuning is left on (sndbuf/rcvbuf 0). */
#define NETRESERVE_AUTOTUNE_BUF (4u << 20)
/* Fixed slack added to the total (allocator arenas, libev, libc, page tables). */
#define NETRESERVE_FOOTPRINT_SLACK (4u << 20)

/* All sizes in bytes, summed over cfg.rings rings. */
struct netreserve_footprint {
	uint64_t cmd_slots;          /* C x (Q + K) x cmd_slot_size */
	uint64_t tx_hdrs;            /* C x (Q x (1 + ceil(B / S)) + K) x H */
	uint64_t rx;                 /* buffer rings + C x N_rx x R (netreserve_ring_mem()) */
	uint64_t conn_table;         /* connection table (part of netreserve_ring_mem()) */
	uint64_t uring;              /* SQ, CQ and SQE arrays (kernel memory, locked) */
	uint64_t stats;              /* shared stats page(s) */
	uint64_t stacks;             /* rings x stack_size */
	uint64_t extra;              /* cfg.extra_locked */
	uint64_t locked;             /* sum of the above: user memory that must stay resident */
	uint64_t registered;         /* arena C x Q x B (registered; locked too) */
	uint64_t sockmem;            /* C x 2 x 2 x (sndbuf + rcvbuf), or the reserve if larger */
	uint64_t slack;
	uint64_t total;              /* locked + registered + sockmem + slack */
	uint32_t cq_entries, sq_entries;
};

/* Computes fp from cfg (defaults applied as in struct netreserve_config). Returns 0 or -EINVAL
 * (max_conns 0, rx_bufs not a power of two >= 2, or overflow). */
int netreserve_footprint(const struct netreserve_config *cfg, struct netreserve_footprint *fp);

/*
 * Formats fp as "name bytes" lines (cmd_slots, tx_hdrs, rx, conn_table, uring, stats, stacks,
 * extra, locked, registered, sockmem, slack, cq_entries, sq_entries) ending with "total BYTES\n".
 * Returns the length it wanted (snprintf semantics).
 */
int netreserve_footprint_format(const struct netreserve_footprint *fp, char *buf, size_t len);

#endif
