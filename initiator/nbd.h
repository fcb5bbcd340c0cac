/* initiator/nbd.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_NBD_H
#define BALLAST_INITIATOR_NBD_H
#endif
