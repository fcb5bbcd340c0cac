/* netreserve/ring.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_RING_H
#define BALLAST_NETRESERVE_RING_H
#endif
