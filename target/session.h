/* target/session.h: not yet implemented. */
#ifndef BALLAST_TARGET_SESSION_H
#define BALLAST_TARGET_SESSION_H
#endif
