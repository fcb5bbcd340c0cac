/* common/log.h: not yet implemented. */
#ifndef BALLAST_COMMON_LOG_H
#define BALLAST_COMMON_LOG_H
#endif
