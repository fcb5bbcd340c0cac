/* common/log.c: not yet implemented. */
#include "config.h"
