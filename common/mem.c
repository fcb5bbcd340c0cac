/* Heap wrappers: one place to count, fail or trace control-plane allocations. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void *
mem_zalloc(size_t size)
{
	return calloc(1, size ? size : 1);
}

void *
mem_alloc(size_t size)
{
	return malloc(size ? size : 1);
}

void
mem_free(void *p)
{
	free(p);
}

char *
mem_strdup(const char *s)
{
	return strdup(s);
}
