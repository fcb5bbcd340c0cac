/*
 * LD_PRELOAD allocation tripwire; see tripwire.h. Interposes the malloc family on top of
 * glibc's __libc_* entry points (no dlsym bootstrap problem: dlsym itself allocates), and
 * mmap/mremap via raw system calls, counting only anonymous mappings (file mappings are
 * reads of existing objects, not allocation).
 */
#include <config.h>

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/support/tripwire.h"

/* glibc declares these only in <malloc.h>; declare the ones we interpose. */
void *memalign(size_t align, size_t n);
void *pvalloc(size_t n);

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

#define EXPORT __attribute__((visibility("default")))

enum { MODE_COUNT, MODE_FAIL, MODE_ABORT };

static struct tripwire_counters local_counters;
static struct tripwire_counters *tw = &local_counters;

static void
trip_abort(const char *what)
{
	static const char msg[] = "tripwire: allocation while armed: ";
	void *bt[32];

	__atomic_store_n(&tw->armed, 0, __ATOMIC_RELEASE);
	if (write(2, msg, sizeof(msg) - 1) < 0 || write(2, what, strlen(what)) < 0 ||
	    write(2, "\n", 1) < 0) {
		/* stderr closed: abort anyway */
	}
	backtrace_symbols_fd(bt, backtrace(bt, 32), 2);
	abort();
}

/* Armed and failing on purpose? Counts the failure and sets errno. */
static int
trip_fail(void)
{
	if (tw->mode != MODE_FAIL)
		return 0;
	__atomic_fetch_add(&tw->armed_fails, 1, __ATOMIC_RELAXED);
	errno = ENOMEM;
	return 1;
}

static int
hit(const char *what)
{
	__atomic_fetch_add(&tw->total_allocs, 1, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&tw->armed, __ATOMIC_ACQUIRE))
		return 0;
	__atomic_fetch_add(&tw->armed_allocs, 1, __ATOMIC_RELAXED);
	if (tw->mode == MODE_ABORT)
		trip_abort(what);
	return trip_fail();
}

EXPORT void *
malloc(size_t n)
{
	return hit("malloc") ? NULL : __libc_malloc(n);
}

EXPORT void *
calloc(size_t n, size_t m)
{
	return hit("calloc") ? NULL : __libc_calloc(n, m);
}

EXPORT void *
realloc(void *p, size_t n)
{
	return hit("realloc") ? NULL : __libc_realloc(p, n);
}

EXPORT void *
reallocarray(void *p, size_t n, size_t m)
{
	if (m && n > SIZE_MAX / m) {
		errno = ENOMEM;
		return NULL;
	}
	return hit("reallocarray") ? NULL : __libc_realloc(p, n * m);
}

EXPORT void *
memalign(size_t align, size_t n)
{
	return hit("memalign") ? NULL : __libc_memalign(align, n);
}

EXPORT void *
aligned_alloc(size_t align, size_t n)
{
	return hit("aligned_alloc") ? NULL : __libc_memalign(align, n);
}

EXPORT int
posix_memalign(void **out, size_t align, size_t n)
{
	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	if (hit("posix_memalign"))
		return ENOMEM;
	void *p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *
valloc(size_t n)
{
	return hit("valloc") ? NULL : __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

EXPORT void *
pvalloc(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return hit("pvalloc") ? NULL : __libc_memalign(pg, (n + pg - 1) & ~(pg - 1));
}

EXPORT void
free(void *p)
{
	if (p && __atomic_load_n(&tw->armed, __ATOMIC_ACQUIRE))
		__atomic_fetch_add(&tw->armed_frees, 1, __ATOMIC_RELAXED);
	__libc_free(p);
}

static int
map_hit(const char *what)
{
	if (!__atomic_load_n(&tw->armed, __ATOMIC_ACQUIRE))
		return 0;
	__atomic_fetch_add(&tw->armed_mmaps, 1, __ATOMIC_RELAXED);
	if (tw->mode == MODE_ABORT)
		trip_abort(what);
	return trip_fail();
}

EXPORT void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if ((flags & MAP_ANONYMOUS) && map_hit("mmap"))
		return MAP_FAILED;
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return (void *)r;
}

EXPORT void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *
mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (new_len > old_len && map_hit("mremap"))
		return MAP_FAILED;
	long r = syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	return (void *)r;
}

EXPORT void
nrshim_arm(int on)
{
	if (on)
		__atomic_fetch_add(&tw->arm_count, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&tw->armed, on ? 1 : 0, __ATOMIC_RELEASE);
}

EXPORT const struct tripwire_counters *
tripwire_counters(void)
{
	return tw;
}

__attribute__((constructor)) static void
tripwire_init(void)
{
	const char *m = getenv("TRIPWIRE_MODE");
	if (!m)
		m = getenv("NRSHIM_MODE");
	int mode = !m ? MODE_COUNT : !strcmp(m, "fail") ? MODE_FAIL
			     : !strcmp(m, "abort")            ? MODE_ABORT
							      : MODE_COUNT;
	const char *path = getenv("TRIPWIRE_STATS");
	if (path && *path) {
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (ftruncate(fd, 4096) == 0) {
				void *p = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE,
							  MAP_SHARED | MAP_POPULATE, fd, 0);
				if (p != MAP_FAILED) {
					tw = p;
					*tw = local_counters;
				}
			}
			close(fd);
		}
	}
	tw->mode = mode;
	/* load libgcc_s for backtrace() now, not while armed */
	void *bt[2];
	backtrace(bt, 2);
	memcpy(tw->magic, TRIPWIRE_MAGIC, sizeof(tw->magic));
}

__attribute__((destructor)) static void
tripwire_fini(void)
{
	static const char *const modes[] = { "count", "fail", "abort" };
	char buf[256];
	const char *q = getenv("TRIPWIRE_QUIET");

	if (q && *q == '1')
		return;
	int n = snprintf(buf, sizeof(buf),
			 "tripwire: mode=%s armed_allocs=%lld armed_frees=%lld armed_mmaps=%lld "
			 "armed_fails=%lld total_allocs=%lld arms=%lld\n",
			 modes[tw->mode < 0 || tw->mode > 2 ? 0 : tw->mode],
			 (long long)tw->armed_allocs, (long long)tw->armed_frees,
			 (long long)tw->armed_mmaps, (long long)tw->armed_fails,
			 (long long)tw->total_allocs, (long long)tw->arm_count);
	if (n > 0 && write(2, buf, (size_t)n) < 0) {
		/* stderr closed: nothing to do */
	}
}
