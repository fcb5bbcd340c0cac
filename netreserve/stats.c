/* netreserve/stats.c: not yet implemented. */
#include "config.h"
