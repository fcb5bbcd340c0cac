/* initiator/conn.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_CONN_H
#define BALLAST_INITIATOR_CONN_H
#endif
