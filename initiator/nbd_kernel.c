/* initiator/nbd_kernel.c: not yet implemented. */
#include "config.h"
