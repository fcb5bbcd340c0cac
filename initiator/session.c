/* initiator/session.c: not yet implemented. */
#include <config.h>
