/* common/chap.c: not yet implemented. */
#include "config.h"
