/* netreserve/protect.c: not yet implemented. */
#include "config.h"
