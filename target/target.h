/* target/target.h: not yet implemented. */
#ifndef BALLAST_TARGET_TARGET_H
#define BALLAST_TARGET_TARGET_H
#endif
