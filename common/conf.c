/* common/conf.c: not yet implemented. */
#include "config.h"
