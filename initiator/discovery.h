/* initiator/discovery.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_DISCOVERY_H
#define BALLAST_INITIATOR_DISCOVERY_H
#endif
