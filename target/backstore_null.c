/* target/backstore_null.c: not yet implemented. */
#include "config.h"
