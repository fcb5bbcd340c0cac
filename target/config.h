/* target/config.h: not yet implemented. */
#ifndef BALLAST_TARGET_CONFIG_H
#define BALLAST_TARGET_CONFIG_H
#endif
