/* netreserve/ring.c: not yet implemented. */
#include "config.h"
