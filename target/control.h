/* target/control.h: not yet implemented. */
#ifndef BALLAST_TARGET_CONTROL_H
#define BALLAST_TARGET_CONTROL_H
#endif
