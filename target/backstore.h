/* target/backstore.h: not yet implemented. */
#ifndef BALLAST_TARGET_BACKSTORE_H
#define BALLAST_TARGET_BACKSTORE_H
#endif
