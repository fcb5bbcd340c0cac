/* target/pr.c: not yet implemented. */
#include "config.h"
