/* common/text.c: not yet implemented. */
#include "config.h"
