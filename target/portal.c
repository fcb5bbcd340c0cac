/* target/portal.c: not yet implemented. */
#include "config.h"
