/*
 * netreserve reclaim watchdog: pokes (page faults) only while armed and only when the
 * heartbeat stands still for stall_ms; a beating heart or a disarmed watchdog never pokes; the
 * region it faults in is not kept locked by mlockall().
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "netreserve/watchdog.h"
#include "tests/unit/unit.h"

static uint64_t heart;

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Beats the heart every 10 ms for ms. */
static void
beat_for(unsigned int ms)
{
	for (unsigned int t = 0; t < ms; t += 10) {
		__atomic_fetch_add(&heart, 1, __ATOMIC_RELAXED);
		sleep_ms(10);
	}
}

static long
minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void
test_pokes(void)
{
	struct netreserve_watchdog *w;
	struct netreserve_watchdog_config c = { .heartbeat = &heart, .stall_ms = 100,
						.period_ms = 10 };

	/* as in the daemons: started, then the process is locked, then armed */
	CU_ASSERT_EQUAL_FATAL(netreserve_watchdog_start(&c, &w), 0);
	bool locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0;

	/* disarmed: a still heart is not a stall */
	sleep_ms(300);
	CU_ASSERT_EQUAL(netreserve_watchdog_pokes(w), 0);

	/* armed and beating: no poke */
	netreserve_watchdog_arm(w, true);
	beat_for(300);
	CU_ASSERT_EQUAL(netreserve_watchdog_pokes(w), 0);
	CU_ASSERT(netreserve_watchdog_max_stall_ms(w) < 100);

	/* armed and still for 350 ms: a poke about every 100 ms, each a page fault */
	long f0 = minflt();
	sleep_ms(350);
	uint64_t p = netreserve_watchdog_pokes(w);
	long faults = minflt() - f0;
	printf("\n  pokes %llu, minor faults %ld, max stall %llu ms, mlockall %s\n",
	       (unsigned long long)p, faults,
	       (unsigned long long)netreserve_watchdog_max_stall_ms(w), locked ? "yes" : "no");
	CU_ASSERT(p >= 2 && p <= 4);
	CU_ASSERT(netreserve_watchdog_max_stall_ms(w) >= 200);
	if (locked)
		CU_ASSERT(faults >= (long)p); /* the region was handed back, not kept locked */

	/* beating again: no more pokes */
	beat_for(300);
	CU_ASSERT_EQUAL(netreserve_watchdog_pokes(w), p);

	/* disarmed (shutdown): still, but no poke */
	netreserve_watchdog_arm(w, false);
	sleep_ms(300);
	CU_ASSERT_EQUAL(netreserve_watchdog_pokes(w), p);

	netreserve_watchdog_stop(w);
	if (locked)
		munlockall();
}

static void
test_bad_config(void)
{
	struct netreserve_watchdog *w = (struct netreserve_watchdog *)1;
	struct netreserve_watchdog_config c = { .heartbeat = NULL };
	CU_ASSERT_EQUAL(netreserve_watchdog_start(&c, &w), -EINVAL);
	CU_ASSERT_PTR_NULL(w);
	netreserve_watchdog_stop(NULL);
	netreserve_watchdog_arm(NULL, true);
	CU_ASSERT_EQUAL(netreserve_watchdog_pokes(NULL), 0);
}

static const struct unit_test tests[] = {
	{ "pokes", test_pokes },
	{ "bad_config", test_bad_config },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "netreserve-watchdog", tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
