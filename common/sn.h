/* RFC 1982 serial number arithmetic for 32-bit iSCSI sequence numbers (RFC 7143 section 4.2.2.1). */
#ifndef BALLAST_SN_H
#define BALLAST_SN_H

#include <stdbool.h>
#include <stdint.h>

/* a < b in serial arithmetic. Undefined pairs (distance exactly 2^31) compare false both ways. */
static inline bool
sn_lt(uint32_t a, uint32_t b)
{
	return a != b && ((a < b && b - a < (1u << 31)) || (a > b && a - b > (1u << 31)));
}

static inline bool
sn_gt(uint32_t a, uint32_t b)
{
	return a != b && ((a < b && b - a > (1u << 31)) || (a > b && a - b < (1u << 31)));
}

static inline bool
sn_le(uint32_t a, uint32_t b)
{
	return a == b || sn_lt(a, b);
}

static inline bool
sn_ge(uint32_t a, uint32_t b)
{
	return a == b || sn_gt(a, b);
}

/* lo <= x <= hi in serial arithmetic (the CmdSN window check). */
static inline bool
sn_in_window(uint32_t x, uint32_t lo, uint32_t hi)
{
	return sn_le(lo, x) && sn_le(x, hi);
}

#endif
