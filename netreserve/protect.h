/* netreserve/protect.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_PROTECT_H
#define BALLAST_NETRESERVE_PROTECT_H
#endif
