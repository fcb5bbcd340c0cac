/* initiator/control.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_CONTROL_H
#define BALLAST_INITIATOR_CONTROL_H
#endif
