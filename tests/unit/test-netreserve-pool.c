/* netreserve pools: class floors, embedded waiters, poisoning, counters; and the arena. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "netreserve/pool.h"
#include "tests/unit/unit.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

static struct netreserve_pool pool;

static void
make_pool(uint32_t count, uint32_t fc, uint32_t fw, uint32_t fr, unsigned int flags)
{
	struct netreserve_pool_config cfg = {
		.name = "test", .obj_size = 100, .count = count,
		.floor = { fc, fw, fr }, .flags = flags | NETRESERVE_POOL_NO_LOCK,
	};
	CU_ASSERT_EQUAL_FATAL(netreserve_pool_init(&pool, &cfg), 0);
}

static void
test_config(void)
{
	struct netreserve_pool p;
	struct netreserve_pool_config cfg = { .obj_size = 8, .count = 4, .floor = { 0, 2, 1 } };
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL); /* decreasing floors */
	cfg.floor[2] = 4;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL); /* READ floor >= count */
	cfg.floor[2] = 3;
	cfg.obj_size = 0;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL);
	cfg.obj_size = 8;
	cfg.align = 24;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL); /* align not a power of two */
	cfg.align = 0;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), 0);
	CU_ASSERT_EQUAL(p.stride, 64);
	CU_ASSERT(netreserve_pool_mem_size(&cfg) >= 4 * 64);
	CU_ASSERT_EQUAL(p.map_len, netreserve_pool_mem_size(&cfg));
	netreserve_pool_fini(&p);
	netreserve_pool_fini(&p); /* zeroed: accepted */
}

/*
 * Regression: a huge power-of-two align wrapped the stride arithmetic (align 2^62, 4 slots:
 * count x stride == 2^64 == 0), so _init mapped one page and poisoned slots 1..3 far outside
 * it. Such configs are refused now, as is any align above a page.
 */
static void
test_config_overflow(void)
{
	struct netreserve_pool p;
	struct netreserve_pool_config cfg = { .obj_size = 8, .count = 4,
					      .flags = NETRESERVE_POOL_NO_LOCK };
	cfg.align = (size_t)1 << 62;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL);
	cfg.align = (size_t)1 << 63;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL);
	cfg.align = 8192;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL);
	cfg.align = 4096;
	CU_ASSERT_EQUAL_FATAL(netreserve_pool_init(&p, &cfg), 0);
	CU_ASSERT_EQUAL(p.stride, 4096);
	netreserve_pool_fini(&p);
	/* stride (not just obj_size) x count is bounded: 2^31 slots of 1 byte at stride 4096 */
	cfg.obj_size = 1;
	cfg.count = 1u << 31;
	CU_ASSERT_EQUAL(netreserve_pool_init(&p, &cfg), -EINVAL);
}

static void
test_floors(void)
{
	void *objs[11]; /* one more: the loops store the failing NULL */
	int n = 0;

	make_pool(10, 0, 2, 5, 0);
	/* READ may take while free > 5: 5 slots */
	while ((objs[n] = netreserve_pool_get(&pool, NETRESERVE_CLASS_READ)))
		n++;
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 5);
	CU_ASSERT_EQUAL(pool.stats.fails[NETRESERVE_CLASS_READ], 1);
	/* WRITEBACK while free > 2: 3 more */
	while ((objs[n] = netreserve_pool_get(&pool, NETRESERVE_CLASS_WRITEBACK)))
		n++;
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_PTR_NULL(netreserve_pool_get(&pool, NETRESERVE_CLASS_READ));
	/* CONTROL takes the last two */
	while ((objs[n] = netreserve_pool_get(&pool, NETRESERVE_CLASS_CONTROL)))
		n++;
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 0);
	CU_ASSERT_EQUAL(pool.stats.fails[NETRESERVE_CLASS_CONTROL], 1);
	CU_ASSERT_EQUAL(pool.stats.fails[NETRESERVE_CLASS_WRITEBACK], 1);
	CU_ASSERT_EQUAL(pool.stats.fails[NETRESERVE_CLASS_READ], 2);
	/* all distinct slots */
	for (int i = 0; i < 10; i++)
		for (int j = i + 1; j < 10; j++)
			CU_ASSERT_PTR_NOT_EQUAL(objs[i], objs[j]);
	CU_ASSERT_EQUAL(pool.stats.in_use, 10);
	CU_ASSERT_EQUAL(pool.stats.max_in_use, 10);
	CU_ASSERT_EQUAL(pool.stats.low_water, 0);
	for (int i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(netreserve_pool_at(&pool, netreserve_pool_index(&pool, objs[i])),
				objs[i]);
		netreserve_pool_put(&pool, objs[i]);
	}
	CU_ASSERT_EQUAL(pool.stats.gets, 10);
	CU_ASSERT_EQUAL(pool.stats.puts, 10);
	CU_ASSERT_EQUAL(pool.stats.in_use, 0);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 10);
	/* after a put, READ may take again */
	void *o = netreserve_pool_get(&pool, NETRESERVE_CLASS_READ);
	CU_ASSERT_PTR_NOT_NULL(o);
	netreserve_pool_put(&pool, o);
	netreserve_pool_fini(&pool);
}

struct req {
	struct netreserve_waiter w;
	void *got;
	int order;
};

static int wake_seq;

static void
on_wake(struct netreserve_waiter *w, void *obj)
{
	struct req *r = (struct req *)((char *)w - offsetof(struct req, w));
	r->got = obj;
	r->order = ++wake_seq;
}

static void
test_waiters(void)
{
	void *objs[4];
	struct req rd1 = { .w = { .cls = NETRESERVE_CLASS_READ, .wake = on_wake } };
	struct req rd2 = rd1, rd3 = rd1;
	struct req wb = { .w = { .cls = NETRESERVE_CLASS_WRITEBACK, .wake = on_wake } };
	struct req ct = { .w = { .cls = NETRESERVE_CLASS_CONTROL, .wake = on_wake } };
	void *out = NULL;

	wake_seq = 0;
	make_pool(4, 0, 1, 2, 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i] = netreserve_pool_get(&pool, NETRESERVE_CLASS_CONTROL));
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &rd1.w, &out), -EAGAIN);
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &rd1.w, &out), -EBUSY);
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &rd2.w, &out), -EAGAIN);
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &rd3.w, &out), -EAGAIN);
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &wb.w, &out), -EAGAIN);
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &ct.w, &out), -EAGAIN);
	CU_ASSERT_EQUAL(pool.stats.waits[NETRESERVE_CLASS_READ], 3);

	/* first put: CONTROL waiter first, though it queued last */
	netreserve_pool_put(&pool, objs[0]);
	CU_ASSERT_PTR_EQUAL(ct.got, objs[0]);
	CU_ASSERT_EQUAL(ct.order, 1);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 0);
	/* second put: free 1 is not > WRITEBACK floor 1: stays free; nobody woken */
	netreserve_pool_put(&pool, objs[1]);
	CU_ASSERT_PTR_NULL(wb.got);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 1);
	/* a READ get may not overtake queued waiters, nor take below its floor */
	CU_ASSERT_PTR_NULL(netreserve_pool_get(&pool, NETRESERVE_CLASS_READ));
	/* third put: free 2 > 1: WRITEBACK waiter gets one, free back to 1 */
	netreserve_pool_put(&pool, objs[2]);
	CU_ASSERT_PTR_NOT_NULL(wb.got);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 1);
	/* cancel rd2: the remaining READ waiters stay FIFO */
	CU_ASSERT_TRUE(netreserve_pool_cancel_wait(&pool, &rd2.w));
	CU_ASSERT_FALSE(netreserve_pool_cancel_wait(&pool, &rd2.w));
	/* fourth put: free 2, READ floor 2: nothing */
	netreserve_pool_put(&pool, objs[3]);
	CU_ASSERT_PTR_NULL(rd1.got);
	/* return the CONTROL and WRITEBACK slots: free 3 > 2 -> rd1, then free 3 again -> rd3 */
	netreserve_pool_put(&pool, ct.got);
	CU_ASSERT_PTR_NOT_NULL(rd1.got);
	CU_ASSERT_PTR_NULL(rd3.got);
	netreserve_pool_put(&pool, wb.got);
	CU_ASSERT_PTR_NOT_NULL(rd3.got);
	CU_ASSERT(rd1.order < rd3.order);
	CU_ASSERT_PTR_NULL(rd2.got);
	CU_ASSERT_EQUAL(pool.stats.handoffs, 4);
	netreserve_pool_put(&pool, rd1.got);
	netreserve_pool_put(&pool, rd3.got);
	CU_ASSERT_EQUAL(netreserve_pool_free(&pool), 4);
	/* get_or_wait succeeds at once when a slot is there */
	CU_ASSERT_EQUAL(netreserve_pool_get_or_wait(&pool, &rd2.w, &out), 0);
	CU_ASSERT_PTR_NOT_NULL(out);
	netreserve_pool_put(&pool, out);
	netreserve_pool_fini(&pool);
}

static void
test_poison(void)
{
	make_pool(2, 0, 0, 0, 0);
	unsigned char *o = netreserve_pool_get(&pool, NETRESERVE_CLASS_READ);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
#if defined(__SANITIZE_ADDRESS__)
	CU_ASSERT_FALSE(__asan_address_is_poisoned(o));
	CU_ASSERT_FALSE(__asan_address_is_poisoned(o + 99));
#endif
	/* a fresh slot carries the fill pattern from init */
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL_FATAL(o[i], NETRESERVE_POOL_POISON);
	memset(o, 0x11, 100);
	netreserve_pool_put(&pool, o);
#if defined(__SANITIZE_ADDRESS__)
	CU_ASSERT_TRUE(__asan_address_is_poisoned(o));
	CU_ASSERT_TRUE(__asan_address_is_poisoned(o + 99));
	ASAN_UNPOISON_MEMORY_REGION(o, 100);
#endif
	/* put overwrote the caller's bytes with the pattern */
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL_FATAL(o[i], NETRESERVE_POOL_POISON);
#if defined(__SANITIZE_ADDRESS__)
	ASAN_POISON_MEMORY_REGION(o, 100);
#endif
	netreserve_pool_fini(&pool);

	/* NETRESERVE_POOL_ZERO: zeroed on get; NO_FILL: put leaves the bytes */
	make_pool(1, 0, 0, 0, NETRESERVE_POOL_ZERO | NETRESERVE_POOL_NO_FILL);
	o = netreserve_pool_get(&pool, NETRESERVE_CLASS_READ);
	CU_ASSERT_EQUAL(o[0], 0);
	CU_ASSERT_EQUAL(o[99], 0);
	memset(o, 0x22, 100);
	netreserve_pool_put(&pool, o);
#if !defined(__SANITIZE_ADDRESS__)
	CU_ASSERT_EQUAL(o[50], 0x22);
#endif
	o = netreserve_pool_get(&pool, NETRESERVE_CLASS_READ);
	CU_ASSERT_EQUAL(o[50], 0);
	netreserve_pool_put(&pool, o);
	netreserve_pool_fini(&pool);
}

static void
test_caller_mem(void)
{
	static char mem[8 * 128] __attribute__((aligned(64)));
	struct netreserve_pool_config cfg = {
		.obj_size = 128, .count = 8, .mem = mem, .flags = NETRESERVE_POOL_NO_LOCK,
	};
	CU_ASSERT_EQUAL_FATAL(netreserve_pool_init(&pool, &cfg), 0);
	char *o = netreserve_pool_get(&pool, NETRESERVE_CLASS_WRITEBACK);
	CU_ASSERT(o >= mem && o < mem + sizeof(mem));
	netreserve_pool_put(&pool, o);
	netreserve_pool_fini(&pool);
}

static void
test_arena(void)
{
	struct netreserve_arena a;
	CU_ASSERT_EQUAL(netreserve_arena_init(&a, 0, 4096), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(netreserve_arena_init(&a, 4, 5000), 0);
	CU_ASSERT_EQUAL(a.buf_size, 8192);
	CU_ASSERT_EQUAL(a.nbufs, 4);
	CU_ASSERT_EQUAL(netreserve_arena_index(&a, netreserve_arena_buf(&a, 2)), 2);
	CU_ASSERT_EQUAL(netreserve_arena_index(&a, (char *)netreserve_arena_buf(&a, 3) + 8191), 3);
	CU_ASSERT_EQUAL(netreserve_arena_index(&a, (char *)netreserve_arena_buf(&a, 3) + 8192), -1);
	CU_ASSERT_EQUAL(netreserve_arena_index(&a, &a), -1);
	memset(netreserve_arena_buf(&a, 3), 1, 8192);  /* mapped and writable */
	netreserve_arena_fini(&a);
	netreserve_arena_fini(&a);
}

static const struct unit_test tests[] = {
	{ "config", test_config },
	{ "config_overflow", test_config_overflow },
	{ "floors", test_floors },
	{ "waiters", test_waiters },
	{ "poison", test_poison },
	{ "caller_mem", test_caller_mem },
	{ "arena", test_arena },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "netreserve-pool", tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
