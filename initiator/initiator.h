/* initiator/initiator.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_INITIATOR_H
#define BALLAST_INITIATOR_INITIATOR_H
#endif
