/* common/text.h: not yet implemented. */
#ifndef BALLAST_COMMON_TEXT_H
#define BALLAST_COMMON_TEXT_H
#endif
