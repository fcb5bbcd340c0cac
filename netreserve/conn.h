/* netreserve/conn.h: not yet implemented. */
#ifndef BALLAST_NETRESERVE_CONN_H
#define BALLAST_NETRESERVE_CONN_H
#endif
