/*
 * netreserve reclaim watchdog (watchdog.h). Its thread never allocates after start: it sleeps
 * in poll(2) on an eventfd (the stop signal), samples the heartbeat, and pokes by writing to a
 * page of its own region and handing the page back with MADV_DONTNEED.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "netreserve/protect.h"
#include "netreserve/watchdog.h"

#define NR_WD_PAGES 16u
#define NR_WD_PAGE 4096u
#define NR_WD_STACK (64u << 10)
#define NR_WD_DEF_STALL_MS 2000u

struct netreserve_watchdog {
	const uint64_t *heartbeat;
	uint32_t stall_ms, period_ms;
	int stop_fd;
	pthread_t thread;
	bool thread_up;
	bool region_ready;	/* unlocked and emptied by the first arm */
	int armed;		/* atomic */
	uint64_t pokes;		/* atomic */
	uint64_t max_stall_ms;	/* atomic */
	char *region;		/* NR_WD_PAGES pages */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One ordinary page fault, with I/O allowed: reclaim, or the OOM killer when nothing is left. */
static void
poke(struct netreserve_watchdog *w, uint64_t n)
{
	volatile char *p = w->region + (size_t)(n % NR_WD_PAGES) * NR_WD_PAGE;
	*p = 1;
	madvise((void *)p, NR_WD_PAGE, MADV_DONTNEED);
}

static void *
watch(void *arg)
{
	struct netreserve_watchdog *w = arg;
	struct pollfd pfd = { .fd = w->stop_fd, .events = POLLIN };
	uint64_t last = 0;
	int64_t since = mono_ms(), last_poke = 0;

	for (;;) {
		int r = poll(&pfd, 1, (int)w->period_ms);
		if (r > 0)
			break; /* stop */
		int64_t now = mono_ms();
		uint64_t hb = __atomic_load_n(w->heartbeat, __ATOMIC_RELAXED);
		if (!__atomic_load_n(&w->armed, __ATOMIC_ACQUIRE) || hb != last) {
			last = hb;
			since = now;
			continue;
		}
		uint64_t silent = (uint64_t)(now - since);
		if (silent > __atomic_load_n(&w->max_stall_ms, __ATOMIC_RELAXED))
			__atomic_store_n(&w->max_stall_ms, silent, __ATOMIC_RELAXED);
		if (silent >= w->stall_ms && now - last_poke >= (int64_t)w->stall_ms) {
			uint64_t n = __atomic_fetch_add(&w->pokes, 1, __ATOMIC_RELAXED);
			poke(w, n);
			last_poke = mono_ms();
		}
	}
	return NULL;
}

int
netreserve_watchdog_start(const struct netreserve_watchdog_config *cfg,
			  struct netreserve_watchdog **out)
{
	*out = NULL;
	if (!cfg->heartbeat)
		return -EINVAL;
	struct netreserve_watchdog *w = mem_zalloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->heartbeat = cfg->heartbeat;
	w->stall_ms = cfg->stall_ms ? cfg->stall_ms : NR_WD_DEF_STALL_MS;
	w->period_ms = cfg->period_ms ? cfg->period_ms : w->stall_ms / 8;
	if (!w->period_ms)
		w->period_ms = 1;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret;
	if (w->stop_fd < 0) {
		ret = -errno;
		goto fail;
	}
	w->region = mmap(NULL, (size_t)NR_WD_PAGES * NR_WD_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->region == MAP_FAILED) {
		w->region = NULL;
		ret = -errno;
		goto fail;
	}
	ret = netreserve_thread_create(&w->thread, NR_WD_STACK, watch, w);
	if (ret < 0)
		goto fail;
	w->thread_up = true;
	*out = w;
	return 0;
fail:
	netreserve_watchdog_stop(w);
	return ret;
}

void
netreserve_watchdog_arm(struct netreserve_watchdog *w, bool armed)
{
	if (!w)
		return;
	if (armed && !w->region_ready) {
		/* mlockall() locked and populated the region: give it back, so that a poke faults */
		munlock(w->region, (size_t)NR_WD_PAGES * NR_WD_PAGE);
		madvise(w->region, (size_t)NR_WD_PAGES * NR_WD_PAGE, MADV_DONTNEED);
		w->region_ready = true;
	}
	__atomic_store_n(&w->armed, armed ? 1 : 0, __ATOMIC_RELEASE);
}

uint64_t
netreserve_watchdog_pokes(const struct netreserve_watchdog *w)
{
	return w ? __atomic_load_n(&w->pokes, __ATOMIC_RELAXED) : 0;
}

uint64_t
netreserve_watchdog_max_stall_ms(const struct netreserve_watchdog *w)
{
	return w ? __atomic_load_n(&w->max_stall_ms, __ATOMIC_RELAXED) : 0;
}

void
netreserve_watchdog_stop(struct netreserve_watchdog *w)
{
	if (!w)
		return;
	if (w->thread_up) {
		uint64_t one = 1;
		if (write(w->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			pthread_cancel(w->thread);
		pthread_join(w->thread, NULL);
	}
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->region)
		munmap(w->region, (size_t)NR_WD_PAGES * NR_WD_PAGE);
	mem_free(w);
}
