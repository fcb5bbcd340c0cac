/* netreserve/compat.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_COMPAT_H
#define BALLAST_NETRESERVE_COMPAT_H
#endif
