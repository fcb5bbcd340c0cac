/* target/config.c: not yet implemented. */
#include "config.h"
