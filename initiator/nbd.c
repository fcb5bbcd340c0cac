/* initiator/nbd.c: not yet implemented. */
#include "config.h"
