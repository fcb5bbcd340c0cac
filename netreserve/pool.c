/* netreserve/pool.c: not yet implemented. */
#include "config.h"
