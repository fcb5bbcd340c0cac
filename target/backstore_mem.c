/* target/backstore_mem.c: not yet implemented. */
#include "config.h"
