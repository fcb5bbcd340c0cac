/*
 * netreserve pools and the registered-buffer arena. _init/_fini are control plane (mmap);
 * _get/_put/_wait are datapath and never allocate.
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/compiler.h"
#include "netreserve/internal.h"
#include "netreserve/pool.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define NR_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define NR_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#elif defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define NR_POISON(p, n) VALGRIND_MAKE_MEM_NOACCESS(p, n)
#define NR_UNPOISON(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#endif
#endif
#ifndef NR_POISON
#define NR_POISON(p, n) ((void)(p), (void)(n))
#define NR_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#include "common/datapath.h"

static size_t
page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (n + pg - 1) & ~(pg - 1);
}

void *
nr_map_locked(size_t len, bool nolock, int *lock_err)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < len; off += pg)
		((volatile char *)p)[off] = 0;
	*lock_err = 0;
	if (!nolock && mlock(p, len) < 0)
		*lock_err = -errno;
	return p;
}

static size_t
pool_stride(const struct netreserve_pool_config *cfg)
{
	size_t align = cfg->align ? cfg->align : 64;
	return ALIGN_UP(cfg->obj_size, align);
}

static bool
pool_config_ok(const struct netreserve_pool_config *cfg)
{
	size_t align = cfg->align ? cfg->align : 64;
	/* Bound align before pool_stride() rounds with it: a huge align wraps the stride (to 0
	 * or to a size whose product with count wraps), and _init would then poison slots far
	 * beyond the mapping. Objects larger than a page gain nothing from a larger alignment. */
	if (!cfg->obj_size || !cfg->count || (align & (align - 1)) || align > 4096)
		return false;
	if (cfg->obj_size > ((size_t)1 << 40) / cfg->count ||
	    pool_stride(cfg) > ((size_t)1 << 40) / cfg->count)
		return false;
	for (int c = 1; c < NETRESERVE_NCLASS; c++)
		if (cfg->floor[c] < cfg->floor[c - 1])
			return false;
	return cfg->floor[NETRESERVE_CLASS_READ] < cfg->count;
}

/* Bookkeeping bytes: free stack (4 B per slot) and state bytes, page rounded as one block. */
static size_t
pool_meta_size(uint32_t count)
{
	return ALIGN_UP((size_t)count * sizeof(uint32_t) + count, 64);
}

size_t
netreserve_pool_mem_size(const struct netreserve_pool_config *cfg)
{
	size_t objs = cfg->mem ? 0 : (size_t)cfg->count * pool_stride(cfg);
	return page_round(ALIGN_UP(objs, 64) + pool_meta_size(cfg->count));
}

static void
poison_obj(struct netreserve_pool *p, void *obj)
{
	if (!(p->flags & NETRESERVE_POOL_NO_FILL))
		memset(obj, NETRESERVE_POOL_POISON, p->obj_size);
	NR_POISON(obj, p->stride);
}

int
netreserve_pool_init(struct netreserve_pool *p, const struct netreserve_pool_config *cfg)
{
	memset(p, 0, sizeof(*p));
	if (!pool_config_ok(cfg))
		return -EINVAL;
	p->name = cfg->name;
	p->stride = pool_stride(cfg);
	p->obj_size = cfg->obj_size;
	p->count = cfg->count;
	p->flags = cfg->flags;
	memcpy(p->floor, cfg->floor, sizeof(p->floor));
	p->map_len = netreserve_pool_mem_size(cfg);
	p->map = nr_map_locked(p->map_len, cfg->flags & NETRESERVE_POOL_NO_LOCK, &p->lock_err);
	if (!p->map) {
		p->map_len = 0;
		return -ENOMEM;
	}
	size_t objs = cfg->mem ? 0 : ALIGN_UP((size_t)cfg->count * p->stride, 64);
	p->base = cfg->mem ? cfg->mem : p->map;
	p->free_stack = (uint32_t *)((char *)p->map + objs);
	p->state = (uint8_t *)(p->free_stack + cfg->count);
	/* Slot 0 on top of the stack, so that gets hand out ascending indices. */
	for (uint32_t i = 0; i < cfg->count; i++) {
		p->free_stack[i] = cfg->count - 1 - i;
		p->state[i] = 0;
		poison_obj(p, netreserve_pool_at(p, i));
	}
	p->nfree = cfg->count;
	p->stats.low_water = cfg->count;
	return 0;
}

void
netreserve_pool_fini(struct netreserve_pool *p)
{
	if (p->map) {
		if (p->base != p->map)
			NR_UNPOISON(p->base, (size_t)p->count * p->stride);
		else
			NR_UNPOISON(p->map, p->map_len);
		munmap(p->map, p->map_len);
	}
	memset(p, 0, sizeof(*p));
}

/* Could a get of class cls succeed right now, ignoring waiters? */
static inline bool
class_may_take(const struct netreserve_pool *p, int cls)
{
	return p->nfree > p->floor[cls];
}

static inline bool
waiters_at_or_above(const struct netreserve_pool *p, int cls)
{
	for (int c = 0; c <= cls; c++)
		if (p->wait_head[c])
			return true;
	return false;
}

static void *
take(struct netreserve_pool *p)
{
	uint32_t i = p->free_stack[--p->nfree];
	void *obj = netreserve_pool_at(p, i);
	assert(!p->state[i]);
	p->state[i] = 1;
	NR_UNPOISON(obj, p->stride);
	if (p->flags & NETRESERVE_POOL_ZERO)
		memset(obj, 0, p->obj_size);
	p->stats.gets++;
	p->stats.in_use++;
	if (p->stats.in_use > p->stats.max_in_use)
		p->stats.max_in_use = p->stats.in_use;
	if (p->nfree < p->stats.low_water)
		p->stats.low_water = p->nfree;
	return obj;
}

void *
netreserve_pool_get(struct netreserve_pool *p, enum netreserve_class cls)
{
	assert((unsigned int)cls < NETRESERVE_NCLASS);
	if (unlikely(!class_may_take(p, cls) || waiters_at_or_above(p, cls))) {
		p->stats.fails[cls]++;
		return NULL;
	}
	return take(p);
}

int
netreserve_pool_get_or_wait(struct netreserve_pool *p, struct netreserve_waiter *w, void **out)
{
	if (w->queued)
		return -EBUSY;
	assert((unsigned int)w->cls < NETRESERVE_NCLASS && w->wake);
	void *obj = netreserve_pool_get(p, w->cls);
	if (obj) {
		*out = obj;
		return 0;
	}
	w->next = NULL;
	w->queued = true;
	if (p->wait_tail[w->cls])
		p->wait_tail[w->cls]->next = w;
	else
		p->wait_head[w->cls] = w;
	p->wait_tail[w->cls] = w;
	p->stats.waits[w->cls]++;
	return -EAGAIN;
}

bool
netreserve_pool_cancel_wait(struct netreserve_pool *p, struct netreserve_waiter *w)
{
	if (!w->queued)
		return false;
	struct netreserve_waiter **pp = &p->wait_head[w->cls], *prev = NULL;
	while (*pp && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return false;
	*pp = w->next;
	if (p->wait_tail[w->cls] == w)
		p->wait_tail[w->cls] = prev;
	w->next = NULL;
	w->queued = false;
	return true;
}

void
netreserve_pool_put(struct netreserve_pool *p, void *obj)
{
	uint32_t i = netreserve_pool_index(p, obj);
	assert((char *)obj >= p->base && i < p->count &&
	       (char *)obj == (char *)netreserve_pool_at(p, i));
	assert(p->state[i]);
	p->state[i] = 0;
	poison_obj(p, obj);
	p->free_stack[p->nfree++] = i;
	p->stats.puts++;
	p->stats.in_use--;

	/* Most important class first; within a class, FIFO. */
	for (int c = 0; c < NETRESERVE_NCLASS; c++) {
		struct netreserve_waiter *w = p->wait_head[c];
		if (!w)
			continue;
		if (!class_may_take(p, c))
			return;  /* less important classes have higher floors: none may take */
		p->wait_head[c] = w->next;
		if (!w->next)
			p->wait_tail[c] = NULL;
		w->next = NULL;
		w->queued = false;
		p->stats.handoffs++;
		w->wake(w, take(p));
		return;
	}
}

int
netreserve_arena_init(struct netreserve_arena *a, uint32_t nbufs, size_t buf_size)
{
	memset(a, 0, sizeof(*a));
	if (!nbufs || !buf_size || buf_size > ((size_t)1 << 30))
		return -EINVAL;
	a->buf_size = ALIGN_UP(buf_size, (size_t)4096);
	if (a->buf_size > ((size_t)1 << 40) / nbufs)
		return -EINVAL;
	a->map_len = page_round(a->buf_size * nbufs);
	a->base = nr_map_locked(a->map_len, false, &a->lock_err);
	if (!a->base) {
		a->map_len = 0;
		return -ENOMEM;
	}
	a->nbufs = nbufs;
	return 0;
}

void
netreserve_arena_fini(struct netreserve_arena *a)
{
	if (a->base)
		munmap(a->base, a->map_len);
	memset(a, 0, sizeof(*a));
}
