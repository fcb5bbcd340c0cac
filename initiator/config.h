/* initiator/config.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_CONFIG_H
#define BALLAST_INITIATOR_CONFIG_H
#endif
