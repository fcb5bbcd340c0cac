/* target/login.c: not yet implemented. */
#include "config.h"
