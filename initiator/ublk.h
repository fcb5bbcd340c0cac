/* initiator/ublk.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_UBLK_H
#define BALLAST_INITIATOR_UBLK_H
#endif
