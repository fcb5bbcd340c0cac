/* netreserve/pool.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_POOL_H
#define BALLAST_NETRESERVE_POOL_H
#endif
