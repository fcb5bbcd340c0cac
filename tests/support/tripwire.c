/* LD_PRELOAD allocation tripwire: not yet implemented. */
#include "config.h"
