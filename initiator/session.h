/* initiator/session.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_SESSION_H
#define BALLAST_INITIATOR_SESSION_H
#endif
