/* target/control.c: not yet implemented. */
#include "config.h"
