/* target/conn.h: not yet implemented. */
#ifndef BALLAST_TARGET_CONN_H
#define BALLAST_TARGET_CONN_H
#endif
