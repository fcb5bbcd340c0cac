/* netreserve/stats.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_STATS_H
#define BALLAST_NETRESERVE_STATS_H
#endif
