/* initiator/login.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_LOGIN_H
#define BALLAST_INITIATOR_LOGIN_H
#endif
