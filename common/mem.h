/*
 * The only heap wrappers. Control-plane code only: datapath files include common/datapath.h,
 * which poisons these names. Allocation failure returns NULL; callers report -ENOMEM.
 */
#ifndef BALLAST_MEM_H
#define BALLAST_MEM_H

#include <stddef.h>

/* Returns zeroed memory or NULL. Owned by caller, release with mem_free(). */
void *mem_zalloc(size_t size);
/* Returns uninitialised memory or NULL. Owned by caller, release with mem_free(). */
void *mem_alloc(size_t size);
/* Accepts NULL. */
void mem_free(void *p);
/* Returns a copy of s or NULL. Owned by caller, release with mem_free(). */
char *mem_strdup(const char *s);

#endif
