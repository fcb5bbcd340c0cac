/*
 * Shared CUnit boilerplate for tests/unit/. A test file defines its tests and a table of
 * suites, then calls unit_run(). Exit status follows the automake harness: 0 when every test
 * passed, 1 on any failure, 99 when CUnit itself failed to set up.
 */
#ifndef BALLAST_TESTS_UNIT_H
#define BALLAST_TESTS_UNIT_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

struct unit_suite {
	const char *name;
	const struct unit_test *tests; /* terminated by { NULL, NULL } */
};

static inline int
unit_run(const struct unit_suite *suites)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	for (const struct unit_suite *s = suites; s->name; s++) {
		CU_pSuite cs = CU_add_suite(s->name, NULL, NULL);
		if (!cs)
			goto fail;
		for (const struct unit_test *t = s->tests; t->name; t++)
			if (!CU_add_test(cs, t->name, t->fn))
				goto fail;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	unsigned run = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (run == 0) {
		fputs("no test ran\n", stderr);
		return 99;
	}
	return failed ? 1 : 0;
fail:
	CU_cleanup_registry();
	return 99;
}

#endif
