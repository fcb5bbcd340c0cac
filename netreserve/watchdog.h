/*
 * netreserve reclaim watchdog: makes sure the OOM killer can still run when the datapath is
 * stuck in a kernel allocation that will never invoke it.
 *
 * A datapath thread marked PR_SET_IO_FLUSHER (netreserve_protect_thread) allocates as if with
 * GFP_NOIO, socket buffers included, and the kernel never invokes the OOM killer for NOIO
 * allocations (out_of_memory() returns early for them). When a memory hog has taken every page
 * and stopped allocating, and the only reclaimable pages are under writeback to the daemon's
 * own device, the datapath loops in reclaim inside its send and nothing else calls the OOM
 * killer: a livelock (doc/oom-safety.md, "A finding: PR_SET_IO_FLUSHER").
 *
 * The watchdog is a thread created before the process protections (so it is not an IO
 * flusher: the flag is inherited by threads created after it is set) that watches a heartbeat
 * the datapath advances at least every few hundred milliseconds (e.g. the ring's loop counter).
 * While armed, when the heartbeat has not moved for stall_ms, it faults in one page of a small
 * region it keeps unlocked and empty: an ordinary GFP_HIGHUSER allocation, which reclaims with
 * I/O allowed and, when nothing can be reclaimed, invokes the OOM killer (which spares a daemon
 * with oom_score_adj -1000). The page is handed back at once. At most one poke per stall_ms.
 *
 * The watchdog never allocates after netreserve_watchdog_start(): its thread and region are
 * mapped there; a poke is a page fault, not a malloc or mmap.
 */
#ifndef BALLAST_NETRESERVE_WATCHDOG_H
#define BALLAST_NETRESERVE_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

struct netreserve_watchdog;

struct netreserve_watchdog_config {
	const uint64_t *heartbeat; /* written by the datapath thread, read atomically here */
	uint32_t stall_ms;	   /* heartbeat silence that triggers a poke (default 2000) */
	uint32_t period_ms;	   /* how often the heartbeat is sampled (default stall_ms / 8) */
};

/*
 * Creates the watchdog thread (disarmed) and its page region. Call before
 * netreserve_protect_process()/_thread() so that the thread is not an IO flusher. Control
 * plane. Returns 0 and *out (release with netreserve_watchdog_stop()), or -errno.
 */
int netreserve_watchdog_start(const struct netreserve_watchdog_config *cfg,
			      struct netreserve_watchdog **out);

/*
 * Arms (steady state) or disarms (startup, shutdown, long control-plane work on the datapath
 * thread) the watchdog. The first arming unlocks the region (mlockall locked and populated it)
 * and empties it, so the first arm is control plane; later calls only flip a flag.
 */
void netreserve_watchdog_arm(struct netreserve_watchdog *w, bool armed);

/* Pokes so far (any thread). */
uint64_t netreserve_watchdog_pokes(const struct netreserve_watchdog *w);

/* Longest heartbeat silence seen while armed, in ms (any thread). */
uint64_t netreserve_watchdog_max_stall_ms(const struct netreserve_watchdog *w);

/* Stops and joins the thread, unmaps the region. Control plane. Accepts NULL. */
void netreserve_watchdog_stop(struct netreserve_watchdog *w);

#endif
