/*
 * netreserve process protections (design c.5) and the steady-state marker. Control plane.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/capability.h>

#include "common/compiler.h"
#include "netreserve/protect.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#ifndef PR_GET_IO_FLUSHER
#define PR_GET_IO_FLUSHER 58
#endif

/* Defined by the LD_PRELOAD tripwire (tests/support/tripwire.c) when it is loaded. */
extern void nrshim_arm(int on) __attribute__((weak));

static const char *const prot_names[NETRESERVE_NPROT] = {
	[NETRESERVE_PROT_MEMLOCK] = "memlock",
	[NETRESERVE_PROT_MLOCKALL] = "mlockall",
	[NETRESERVE_PROT_OOM_ADJ] = "oom_score_adj",
	[NETRESERVE_PROT_NICE] = "nice",
	[NETRESERVE_PROT_IO_FLUSHER] = "io_flusher",
	[NETRESERVE_PROT_CORE] = "core_limit",
};

const char *
netreserve_prot_name(enum netreserve_prot p)
{
	return (unsigned int)p < NETRESERVE_NPROT ? prot_names[p] : "?";
}

bool
netreserve_have_cap(int cap)
{
	char line[256];
	bool have = false;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strstr(buf, "\nCapEff:");
	if (!p)
		return false;
	snprintf(line, sizeof(line), "%s", p + 8);
	unsigned long long eff = strtoull(line, NULL, 16);
	if (cap >= 0 && cap < 64)
		have = eff & (1ull << cap);
	return have;
}

static void
set_result(struct netreserve_prot_result *r, enum netreserve_prot_state s, int err, long long v)
{
	r->state = s;
	r->err = err;
	r->value = v;
}

static void
do_memlock(const struct netreserve_protect_config *cfg, struct netreserve_protect_report *rep)
{
	struct netreserve_prot_result *res = &rep->r[NETRESERVE_PROT_MEMLOCK];
	struct rlimit rl;
	uint64_t need = cfg->memlock_bytes;
	int err = 0;

	rep->memlock_needed = need;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		set_result(res, NETRESERVE_PROT_REFUSED, errno, 0);
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit want = rl;
		if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
			want.rlim_cur = rl.rlim_max;  /* raise soft to hard */
		} else {
			want.rlim_cur = want.rlim_max = need;  /* needs CAP_SYS_RESOURCE */
		}
		if (setrlimit(RLIMIT_MEMLOCK, &want) < 0) {
			err = errno;
			/* at least raise the soft limit to the hard one */
			want.rlim_cur = want.rlim_max = rl.rlim_max;
			(void)setrlimit(RLIMIT_MEMLOCK, &want);
		}
		getrlimit(RLIMIT_MEMLOCK, &rl);
	}
	rep->memlock_soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	rep->memlock_hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : rl.rlim_max;
	long long v = rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		set_result(res, NETRESERVE_PROT_APPLIED, 0, v);
	else if (rep->cap_ipc_lock)
		set_result(res, NETRESERVE_PROT_BYPASSED, err ? err : ENOMEM, v);
	else
		set_result(res, NETRESERVE_PROT_REFUSED, err ? err : ENOMEM, v);
}

static void
do_oom(const struct netreserve_protect_config *cfg, struct netreserve_protect_report *rep)
{
	struct netreserve_prot_result *res = &rep->r[NETRESERVE_PROT_OOM_ADJ];
	char buf[32];
	int want = cfg->oom_score_adj;
	int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		set_result(res, NETRESERVE_PROT_REFUSED, errno, 0);
		return;
	}
	int len = snprintf(buf, sizeof(buf), "%d\n", want);
	int err = write(fd, buf, (size_t)len) == len ? 0 : errno;
	long long now = 0;
	if (lseek(fd, 0, SEEK_SET) == 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = 0;
			now = strtoll(buf, NULL, 10);
		}
	}
	close(fd);
	if (!err && now == want)
		set_result(res, NETRESERVE_PROT_APPLIED, 0, now);
	else
		set_result(res, NETRESERVE_PROT_REFUSED, err ? err : EPERM, now);
}

static void
do_nice(const struct netreserve_protect_config *cfg, struct netreserve_protect_report *rep)
{
	struct netreserve_prot_result *res = &rep->r[NETRESERVE_PROT_NICE];
	/* nice 0 means "leave" (protect.h): setting 0 would undo a Nice= the service manager
	 * gave us, or fail unprivileged when we already run below 0. */
	if (!cfg->nice) {
		errno = 0;
		set_result(res, NETRESERVE_PROT_BYPASSED, 0, getpriority(PRIO_PROCESS, 0));
		return;
	}
	if (setpriority(PRIO_PROCESS, 0, cfg->nice) < 0) {
		int err = errno;
		errno = 0;
		int now = getpriority(PRIO_PROCESS, 0);
		set_result(res, NETRESERVE_PROT_REFUSED, err, now);
		return;
	}
	errno = 0;
	set_result(res, NETRESERVE_PROT_APPLIED, 0, getpriority(PRIO_PROCESS, 0));
}

int
netreserve_protect_thread(struct netreserve_protect_report *rep)
{
	int ret = prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0 ? -errno : 0;
	if (rep) {
		int now = prctl(PR_GET_IO_FLUSHER, 0, 0, 0, 0);
		set_result(&rep->r[NETRESERVE_PROT_IO_FLUSHER],
			   ret ? NETRESERVE_PROT_REFUSED : NETRESERVE_PROT_APPLIED, -ret,
			   now < 0 ? 0 : now);
	}
	return ret;
}

int
netreserve_protect_process(const struct netreserve_protect_config *cfg,
			   struct netreserve_protect_report *rep)
{
	unsigned int want = cfg->want ? cfg->want : NETRESERVE_PROT_ALL;
	int ret = 0;

	memset(rep, 0, sizeof(*rep));
	rep->cap_ipc_lock = netreserve_have_cap(CAP_IPC_LOCK);
	rep->cap_sys_resource = netreserve_have_cap(CAP_SYS_RESOURCE);

	if (want & NETRESERVE_PROT_BIT(NETRESERVE_PROT_MEMLOCK))
		do_memlock(cfg, rep);
	if (want & NETRESERVE_PROT_BIT(NETRESERVE_PROT_CORE)) {
		struct rlimit rl = { 0, 0 };
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			set_result(&rep->r[NETRESERVE_PROT_CORE], NETRESERVE_PROT_REFUSED, errno, -1);
		else
			set_result(&rep->r[NETRESERVE_PROT_CORE], NETRESERVE_PROT_APPLIED, 0, 0);
	}
	if (want & NETRESERVE_PROT_BIT(NETRESERVE_PROT_MLOCKALL)) {
		/* not MCL_ONFAULT: untouched pages would be faulted in later, an allocation */
		if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
			set_result(&rep->r[NETRESERVE_PROT_MLOCKALL], NETRESERVE_PROT_REFUSED, errno, 0);
		else
			set_result(&rep->r[NETRESERVE_PROT_MLOCKALL], NETRESERVE_PROT_APPLIED, 0, 1);
	}
	if (want & NETRESERVE_PROT_BIT(NETRESERVE_PROT_OOM_ADJ))
		do_oom(cfg, rep);
	if (want & NETRESERVE_PROT_BIT(NETRESERVE_PROT_NICE))
		do_nice(cfg, rep);
	if (want & NETRESERVE_PROT_BIT(NETRESERVE_PROT_IO_FLUSHER))
		netreserve_protect_thread(rep);

	for (int p = 0; p < NETRESERVE_NPROT; p++)
		if ((cfg->require & NETRESERVE_PROT_BIT(p)) &&
		    rep->r[p].state == NETRESERVE_PROT_REFUSED && !ret)
			ret = -(rep->r[p].err ? rep->r[p].err : EPERM);
	return ret;
}

int
netreserve_protect_format(const struct netreserve_protect_report *rep, char *buf, size_t len)
{
	static const char *const st[] = { "skipped", "applied", "bypassed", "refused" };
	size_t off = 0;
	int n;

	for (int p = 0; p < NETRESERVE_NPROT; p++) {
		const struct netreserve_prot_result *r = &rep->r[p];
		char err[96] = "";
		if (r->err)
			snprintf(err, sizeof(err), " err=%s", strerror(r->err));
		n = snprintf(buf + MIN(off, len), len - MIN(off, len), "%s %s value=%lld%s\n",
			     prot_names[p], st[r->state], r->value, err);
		if (n > 0)
			off += (size_t)n;
	}
	n = snprintf(buf + MIN(off, len), len - MIN(off, len),
		     "caps cap_ipc_lock=%d cap_sys_resource=%d memlock soft=%" PRIu64 " hard=%" PRIu64
		     " needed=%" PRIu64 "\n",
		     rep->cap_ipc_lock, rep->cap_sys_resource, rep->memlock_soft, rep->memlock_hard,
		     rep->memlock_needed);
	if (n > 0)
		off += (size_t)n;
	return (int)MIN(off, (size_t)INT_MAX);
}

int
netreserve_thread_create(pthread_t *t, size_t stack_size, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	if (!stack_size)
		stack_size = 256u << 10;
	if (stack_size < (size_t)PTHREAD_STACK_MIN)
		stack_size = PTHREAD_STACK_MIN;
	ret = pthread_attr_setstacksize(&attr, stack_size);
	if (!ret)
		ret = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -ret;
}

void
netreserve_ready(struct netreserve_stats_region *st)
{
	if (st && st->hdr)
		__atomic_store_n(&st->hdr->ready, 1, __ATOMIC_RELEASE);
	if (nrshim_arm)
		nrshim_arm(1);
}

void
netreserve_unready(struct netreserve_stats_region *st)
{
	if (nrshim_arm)
		nrshim_arm(0);
	if (st && st->hdr)
		__atomic_store_n(&st->hdr->ready, 0, __ATOMIC_RELEASE);
}
