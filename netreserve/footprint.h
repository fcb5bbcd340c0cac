/* netreserve/footprint.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_FOOTPRINT_H
#define BALLAST_NETRESERVE_FOOTPRINT_H
#endif
