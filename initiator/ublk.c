/* initiator/ublk.c: not yet implemented. */
#include <config.h>
