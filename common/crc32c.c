/* common/crc32c.c: not yet implemented. */
#include "config.h"
