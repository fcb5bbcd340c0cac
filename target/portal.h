/* target/portal.h: not yet implemented. */
#ifndef BALLAST_TARGET_PORTAL_H
#define BALLAST_TARGET_PORTAL_H
#endif
