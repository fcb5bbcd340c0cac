/* target/login.h: not yet implemented. */
#ifndef BALLAST_TARGET_LOGIN_H
#define BALLAST_TARGET_LOGIN_H
#endif
