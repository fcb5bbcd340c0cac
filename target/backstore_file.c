/* target/backstore_file.c: not yet implemented. */
#include "config.h"
