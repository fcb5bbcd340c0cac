/* initiator/control.c: not yet implemented. */
#include <config.h>
