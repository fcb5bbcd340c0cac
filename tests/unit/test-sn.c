/* RFC 1982 serial number arithmetic (common/sn.h). */
#include <config.h>

#include "common/sn.h"
#include "tests/unit/unit.h"

static void
test_order(void)
{
	CU_ASSERT_TRUE(sn_lt(1, 2));
	CU_ASSERT_FALSE(sn_lt(2, 1));
	CU_ASSERT_FALSE(sn_lt(5, 5));
	CU_ASSERT_TRUE(sn_le(5, 5));
	CU_ASSERT_TRUE(sn_gt(2, 1));
	CU_ASSERT_TRUE(sn_ge(7, 7));
}

static void
test_wrap(void)
{
	/* 0xffffffff + 1 wraps to 0, which is "greater" */
	CU_ASSERT_TRUE(sn_lt(0xffffffffu, 0));
	CU_ASSERT_TRUE(sn_gt(0, 0xffffffffu));
	CU_ASSERT_TRUE(sn_lt(0xfffffff0u, 0x10));
	CU_ASSERT_TRUE(sn_in_window(2, 0xfffffffeu, 5));
	CU_ASSERT_FALSE(sn_in_window(6, 0xfffffffeu, 5));
	CU_ASSERT_FALSE(sn_in_window(0xfffffffdu, 0xfffffffeu, 5));
}

static void
test_undefined_pairs(void)
{
	/* RFC 1982 3.2: i1 and i2 exactly 2^31 apart are not comparable. */
	CU_ASSERT_FALSE(sn_lt(0, 0x80000000u));
	CU_ASSERT_FALSE(sn_gt(0, 0x80000000u));
	CU_ASSERT_FALSE(sn_lt(0x80000000u, 0));
	CU_ASSERT_FALSE(sn_gt(0x80000000u, 0));
	/* one less than half the space is still ordered */
	CU_ASSERT_TRUE(sn_lt(0, 0x7fffffffu));
	CU_ASSERT_TRUE(sn_gt(0, 0x80000001u));
}

static const struct unit_test sn_tests[] = {
	{ "order", test_order },
	{ "wrap", test_wrap },
	{ "undefined pairs", test_undefined_pairs },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "sn", sn_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
