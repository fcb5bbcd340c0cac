/* netreserve footprint arithmetic (design c.2), checked by hand and against a real ring. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "netreserve/netreserve.h"
#include "tests/unit/unit.h"

static const struct netreserve_config base = {
	.max_conns = 2, .queue_depth = 4, .max_payload = 65536, .rx_bufs = 8,
	.rx_buf_size = 16384, .sndbuf = 131072, .rcvbuf = 131072,
};

static void
test_arithmetic(void)
{
	struct netreserve_footprint fp;
	CU_ASSERT_EQUAL_FATAL(netreserve_footprint(&base, &fp), 0);
	CU_ASSERT_EQUAL(fp.cmd_slots, 2 * (4 + 4) * 256);          /* C (Q + K) slot */
	CU_ASSERT_EQUAL(fp.tx_hdrs, 2 * (4 * (1 + 1) + 4) * 56);   /* C (Q (1 + B/S) + K) H */
	CU_ASSERT_EQUAL(fp.registered, 2 * 4 * 65536);             /* C Q B */
	CU_ASSERT_EQUAL(fp.sockmem, 2 * 2 * 2 * (131072 + 131072)); /* C 2 2 (snd + rcv) */
	CU_ASSERT_EQUAL(fp.rx, 2 * 4096 + 2 * 8 * 16384);          /* bufrings + buffers */
	CU_ASSERT_EQUAL(fp.stacks, 256 << 10);
	CU_ASSERT_EQUAL(fp.cq_entries, 64);  /* 2 (8 + 6) + 8 = 36 -> 64 */
	CU_ASSERT_EQUAL(fp.sq_entries, 64);
	CU_ASSERT_EQUAL(fp.locked, fp.cmd_slots + fp.tx_hdrs + fp.conn_table + fp.rx + fp.uring +
					   fp.stats + fp.stacks + fp.extra);
	CU_ASSERT_EQUAL(fp.total, fp.locked + fp.registered + fp.sockmem + fp.slack);
	CU_ASSERT(fp.conn_table > 0 && fp.conn_table % 4096 == 0);
	CU_ASSERT(fp.uring >= 3 * 4096);

	/* segments smaller than the burst: more Data-Out headers */
	struct netreserve_config c = base;
	c.max_seg = 8192;
	CU_ASSERT_EQUAL_FATAL(netreserve_footprint(&c, &fp), 0);
	CU_ASSERT_EQUAL(fp.tx_hdrs, 2 * (4 * (1 + 8) + 4) * 56);
	/* a reserve larger than the buffers wins */
	c.sock_reserve = 4 << 20;
	CU_ASSERT_EQUAL_FATAL(netreserve_footprint(&c, &fp), 0);
	CU_ASSERT_EQUAL(fp.sockmem, 2ull * (4 << 20));
	/* autotuning assumed at NETRESERVE_AUTOTUNE_BUF per direction */
	c = base;
	c.sndbuf = c.rcvbuf = 0;
	CU_ASSERT_EQUAL_FATAL(netreserve_footprint(&c, &fp), 0);
	CU_ASSERT_EQUAL(fp.sockmem, 2ull * 4 * 2 * NETRESERVE_AUTOTUNE_BUF);
	/* rings multiply everything per ring */
	struct netreserve_footprint one, two;
	c = base;
	netreserve_footprint(&c, &one);
	c.rings = 2;
	netreserve_footprint(&c, &two);
	CU_ASSERT_EQUAL(two.registered, 2 * one.registered);
	CU_ASSERT_EQUAL(two.rx, 2 * one.rx);
	CU_ASSERT_EQUAL(two.sockmem, 2 * one.sockmem);
	/* user CQEs grow the CQ */
	c = base;
	c.user_cqes = 100;
	netreserve_footprint(&c, &fp);
	CU_ASSERT_EQUAL(fp.cq_entries, 256);  /* 36 + 100 = 136 -> 256 */
	CU_ASSERT(fp.cq_entries >= netreserve_cq_entries(&c));
}

static void
test_invalid(void)
{
	struct netreserve_footprint fp;
	struct netreserve_config c = base;
	c.max_conns = 0;
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	c = base;
	c.rx_bufs = 3;
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	c.rx_bufs = 1;
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	c = base;
	c.rx_buf_size = 1000;  /* not a multiple of 64 */
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
}

/*
 * Regression: products of the u32 sizes wrapped 64 bits (rings x C x Q x B reaches 2^90), so
 * netreserve_footprint() reported a tiny total that would size a cgroup limit or
 * RLIMIT_MEMLOCK far too small. Every overflow is now -EINVAL.
 */
static void
test_overflow(void)
{
	struct netreserve_footprint fp;
	struct netreserve_config c = base;

	c.rings = 1024;
	c.max_conns = 65536;
	c.queue_depth = UINT32_MAX;
	c.max_payload = UINT32_MAX; /* registered: 2^26 x 2^32 x 2^32 */
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	CU_ASSERT_EQUAL(fp.total, 0);
	c = base;
	c.rings = 1024;
	c.max_conns = 65536;
	c.queue_depth = UINT32_MAX;
	c.cmd_slot_size = UINT32_MAX; /* cmd_slots: 2^26 x 2^32 x 2^32 */
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	c = base;
	c.max_payload = UINT32_MAX;
	c.max_seg = 1; /* tx_hdrs: Q x 2^32 headers x H */
	c.queue_depth = UINT32_MAX;
	c.hdr_size = UINT32_MAX;
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	c = base;
	c.extra_locked = UINT64_MAX - 4096; /* the sums overflow too */
	CU_ASSERT_EQUAL(netreserve_footprint(&c, &fp), -EINVAL);
	/* large but representable: still computed */
	c = base;
	c.queue_depth = 1u << 20;
	c.max_payload = 1u << 30;
	CU_ASSERT_EQUAL_FATAL(netreserve_footprint(&c, &fp), 0);
	CU_ASSERT_EQUAL(fp.registered, 2ull * (1u << 20) * (1u << 30));

	/* A CQ count that does not fit 32 bits is 0, not the (smaller) SQ size. */
	struct netreserve_config big = { .max_conns = UINT32_MAX, .rx_bufs = UINT32_MAX };
	CU_ASSERT_EQUAL(netreserve_cq_entries(&big), 0);
	big.rx_bufs = 1u << 15;
	big.max_conns = 1u << 17;
	CU_ASSERT_EQUAL(netreserve_cq_entries(&big), 0);
	CU_ASSERT_EQUAL(netreserve_sq_entries(&big), 1u << 18); /* 2 x 2^17: fits */
	big.max_conns = UINT32_MAX;
	CU_ASSERT_EQUAL(netreserve_sq_entries(&big), 0);
	big.sq_entries = UINT32_MAX;
	CU_ASSERT_EQUAL(netreserve_sq_entries(&big), 0);
}

static void
test_format(void)
{
	struct netreserve_footprint fp;
	char buf[1024], last[64];
	netreserve_footprint(&base, &fp);
	int n = netreserve_footprint_format(&fp, buf, sizeof(buf));
	CU_ASSERT(n > 0 && (size_t)n < sizeof(buf));
	CU_ASSERT_EQUAL(buf[n - 1], '\n');
	const char *p = buf + n - 2;
	while (p > buf && p[-1] != '\n')
		p--;
	snprintf(last, sizeof(last), "total %llu\n", (unsigned long long)fp.total);
	CU_ASSERT_STRING_EQUAL(p, last);
	/* truncation reports the wanted length */
	CU_ASSERT_EQUAL(netreserve_footprint_format(&fp, buf, 10), n);
}

/* The footprint's ring part equals what netreserve_ring_new() really maps. */
static void
test_matches_ring(void)
{
	struct netreserve_footprint fp;
	struct netreserve_ring *r;
	int ret = netreserve_ring_new(&base, &r);
	if (ret == -ENOSYS || ret == -EPERM)
		return;  /* no io_uring here: the arithmetic tests still ran */
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	netreserve_footprint(&base, &fp);
	CU_ASSERT_EQUAL(netreserve_ring_mem(r), fp.conn_table + fp.rx);
	CU_ASSERT_EQUAL(netreserve_ring_features(r)->cq_entries, fp.cq_entries);
	CU_ASSERT_EQUAL(netreserve_ring_features(r)->sq_entries, fp.sq_entries);
	netreserve_ring_free(r);
}

static const struct unit_test tests[] = {
	{ "arithmetic", test_arithmetic },
	{ "invalid", test_invalid },
	{ "overflow", test_overflow },
	{ "format", test_format },
	{ "matches_ring", test_matches_ring },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "netreserve-footprint", tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
