/* initiator/discovery.c: not yet implemented. */
#include <config.h>
