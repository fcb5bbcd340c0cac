/*
 * Include LAST in every datapath .c file (the code that runs from Full Feature Phase on, and
 * the NBD/ublk request path). It poisons the heap allocator and other calls that allocate or
 * block, so that a slip is a compile error rather than a deadlock under memory pressure.
 * Control-plane code lives in other files and uses common/mem.h.
 */
#ifndef BALLAST_DATAPATH_H
#define BALLAST_DATAPATH_H

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#pragma GCC poison malloc calloc realloc reallocarray free strdup strndup asprintf vasprintf
#pragma GCC poison aligned_alloc posix_memalign memalign valloc pvalloc
#pragma GCC poison getaddrinfo gethostbyname fopen fdopen printf fprintf
#pragma GCC poison mem_alloc mem_zalloc mem_free mem_strdup

#endif
