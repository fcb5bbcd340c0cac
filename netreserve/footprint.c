/* netreserve/footprint.c: not yet implemented. */
#include "config.h"
