/*
 * The LD_PRELOAD allocation tripwire (tests only; design Appendix A.1). Preloaded into a daemon
 * or test program, it interposes the heap allocator and anonymous mmap/mremap. Once armed
 * (netreserve_ready() calls nrshim_arm(1) through a weak reference), every allocation is
 * counted and, by TRIPWIRE_MODE:
 *	count  (default) just counted;
 *	fail   allocations return NULL / MAP_FAILED with ENOMEM (the program must not notice);
 *	abort  the first one prints a backtrace to stderr and aborts.
 * Environment: TRIPWIRE_MODE=count|fail|abort (NRSHIM_MODE is accepted too);
 * TRIPWIRE_STATS=PATH maps the counters in a shared file (struct tripwire_counters) readable
 * from outside while the program runs; TRIPWIRE_QUIET=1 suppresses the exit summary. At exit one
 * write(2) to stderr prints
 *	"tripwire: mode=M armed_allocs=N armed_frees=N armed_mmaps=N armed_fails=N total_allocs=N\n"
 */
#ifndef BALLAST_TESTS_SUPPORT_TRIPWIRE_H
#define BALLAST_TESTS_SUPPORT_TRIPWIRE_H

#include <stdint.h>

#define TRIPWIRE_MAGIC "TRIPWIR1"

struct tripwire_counters {
	char magic[8];
	int64_t mode;          /* 0 count, 1 fail, 2 abort */
	int64_t armed;         /* 0/1 */
	int64_t armed_allocs;  /* malloc-family calls while armed */
	int64_t armed_frees;   /* free() of non-NULL while armed */
	int64_t armed_mmaps;   /* anonymous mmap/mremap while armed */
	int64_t armed_fails;   /* calls failed on purpose (fail mode) */
	int64_t total_allocs;  /* malloc-family calls since start */
	int64_t arm_count;     /* times armed */
};

/* Arms (on != 0) or disarms the tripwire. Called by netreserve_ready()/netreserve_unready(). */
void nrshim_arm(int on);

/* The live counters (in the shared file if TRIPWIRE_STATS was set). */
const struct tripwire_counters *tripwire_counters(void);

#endif
