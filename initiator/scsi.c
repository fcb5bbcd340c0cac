/* initiator/scsi.c: not yet implemented. */
#include "config.h"
