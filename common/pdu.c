/* common/pdu.c: not yet implemented. */
#include "config.h"
