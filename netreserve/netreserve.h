/* netreserve/netreserve.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_NETRESERVE_H
#define BALLAST_NETRESERVE_NETRESERVE_H
#endif
