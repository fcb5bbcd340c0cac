/* target/backstore.c: not yet implemented. */
#include "config.h"
