/* tests/support/tripwire.h: not yet implemented. */
#ifndef BALLAST_TESTS_SUPPORT_TRIPWIRE_H
#define BALLAST_TESTS_SUPPORT_TRIPWIRE_H
#endif
