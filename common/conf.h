/* common/conf.h: not yet implemented. */
#ifndef BALLAST_COMMON_CONF_H
#define BALLAST_COMMON_CONF_H
#endif
