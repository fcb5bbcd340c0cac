/* common/chap.h: not yet implemented. */
#ifndef BALLAST_COMMON_CHAP_H
#define BALLAST_COMMON_CHAP_H
#endif
