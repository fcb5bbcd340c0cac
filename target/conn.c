/* target/conn.c: not yet implemented. */
#include "config.h"
