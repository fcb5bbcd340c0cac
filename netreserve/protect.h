/*
 * netreserve process protections and the steady-state marker. Each protection is reported as
 * applied, bypassed (not needed) or refused with its errno, never silently skipped; the
 * daemon logs the report (netreserve never logs). A protection listed in cfg.require that is
 * refused makes netreserve_protect_process() fail; the others degrade with a warning.
 *
 * Order at startup (design c.5): raise RLIMIT_MEMLOCK, create every thread with a small stack
 * (netreserve_thread_create()), map and populate all pools, rings and arenas, then
 * mlockall(MCL_CURRENT | MCL_FUTURE), oom_score_adj, nice; each datapath thread calls
 * netreserve_protect_thread(); finally netreserve_ready().
 */
#ifndef BALLAST_NETRESERVE_PROTECT_H
#define BALLAST_NETRESERVE_PROTECT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netreserve/stats.h"

enum netreserve_prot {
	NETRESERVE_PROT_MEMLOCK,    /* RLIMIT_MEMLOCK >= cfg.memlock_bytes */
	NETRESERVE_PROT_MLOCKALL,   /* mlockall(MCL_CURRENT | MCL_FUTURE) */
	NETRESERVE_PROT_OOM_ADJ,    /* /proc/self/oom_score_adj = cfg.oom_score_adj */
	NETRESERVE_PROT_NICE,       /* setpriority(PRIO_PROCESS, 0, cfg.nice) */
	NETRESERVE_PROT_IO_FLUSHER, /* prctl(PR_SET_IO_FLUSHER, 1), per datapath thread */
	NETRESERVE_PROT_CORE,       /* RLIMIT_CORE = 0 (a core of locked pools is large) */
	NETRESERVE_NPROT
};

#define NETRESERVE_PROT_BIT(p) (1u << (p))
#define NETRESERVE_PROT_ALL ((1u << NETRESERVE_NPROT) - 1)

enum netreserve_prot_state {
	NETRESERVE_PROT_NOT_REQUESTED,
	NETRESERVE_PROT_APPLIED,
	NETRESERVE_PROT_BYPASSED,   /* not needed: e.g. RLIMIT_MEMLOCK too low but CAP_IPC_LOCK */
	NETRESERVE_PROT_REFUSED,
};

struct netreserve_prot_result {
	enum netreserve_prot_state state;
	int err;                    /* errno (positive) of the refusal, 0 otherwise */
	long long value;            /* value in effect afterwards (limit, adj, nice, 0/1) */
};

struct netreserve_protect_config {
	uint64_t memlock_bytes;     /* footprint.locked + footprint.registered + slack */
	unsigned int want;          /* NETRESERVE_PROT_BIT() set to apply; 0 = all */
	unsigned int require;       /* refused => netreserve_protect_process() fails */
	int oom_score_adj;          /* written as given when want has OOM_ADJ (0 is a value:
				     * daemons set -1000 themselves) */
	int nice;                   /* e.g. -10; 0 = leave the priority alone (BYPASSED) */
};

struct netreserve_protect_report {
	struct netreserve_prot_result r[NETRESERVE_NPROT];
	bool cap_ipc_lock;
	bool cap_sys_resource;
	uint64_t memlock_soft, memlock_hard;  /* after the attempt */
	uint64_t memlock_needed;
};

/*
 * Applies the process-wide protections in cfg.want (all but IO_FLUSHER, which is per thread:
 * when wanted here it is applied to the calling thread). Fills rep (always, even on failure).
 * Control plane. Returns 0, or the -errno of the first refused protection in cfg.require
 * (RLIMIT_MEMLOCK counts as refused only if it is too low and CAP_IPC_LOCK is absent).
 */
int netreserve_protect_process(const struct netreserve_protect_config *cfg,
			       struct netreserve_protect_report *rep);

/*
 * Marks the calling thread PR_SET_IO_FLUSHER (its allocations behave as GFP_NOIO, local dirty
 * throttling only). Call on every datapath thread. Records the result in rep (may be NULL).
 * Returns 0 or -errno (-EPERM without CAP_SYS_RESOURCE).
 */
int netreserve_protect_thread(struct netreserve_protect_report *rep);

/* Short name of a protection ("memlock", "mlockall", "oom_score_adj", ...). */
const char *netreserve_prot_name(enum netreserve_prot p);

/*
 * Formats the report, one line per protection: "<name> applied|bypassed|refused|skipped
 * value=<v> [err=<strerror>]", plus a capabilities line. Returns the length it wanted.
 */
int netreserve_protect_format(const struct netreserve_protect_report *rep, char *buf, size_t len);

/* Capability check helpers (read from /proc/self/status CapEff). */
bool netreserve_have_cap(int cap);

/*
 * Creates a joinable thread with a stack of stack_size bytes (0 = 256 KiB; rounded up to the
 * minimum). Create datapath threads before mlockall(MCL_FUTURE) so that only small stacks get
 * locked. Returns 0 or -errno.
 */
int netreserve_thread_create(pthread_t *t, size_t stack_size, void *(*fn)(void *), void *arg);

/*
 * Steady state begins. Sets hdr.ready in st (may be NULL) and, if a test build preloaded the
 * allocation tripwire (tests/support/tripwire.c), arms it through the weak symbol nrshim_arm():
 * from now on any heap allocation in the process is counted, fails or aborts.
 */
void netreserve_ready(struct netreserve_stats_region *st);

/* Leaves steady state (shutdown): disarms the tripwire, clears hdr.ready. */
void netreserve_unready(struct netreserve_stats_region *st);

#endif
