/*
 * CRC32C (Castagnoli), the iSCSI header and data digest (RFC 7143 section 13.1, RFC 3720
 * appendix B.4). SSE4.2 when the CPU has it (detected at run time), slice-by-8 otherwise.
 * Pure code, safe on the datapath.
 */
#ifndef BALLAST_CRC32C_H
#define BALLAST_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRC32C_INIT 0xffffffffu

/*
 * Chaining form: state = CRC32C_INIT; state = crc32c_update(state, a, n); ...;
 * crc = crc32c_final(state). Thread: any.
 */
uint32_t crc32c_update(uint32_t state, const void *buf, size_t len);

static inline uint32_t
crc32c_final(uint32_t state)
{
	return state ^ 0xffffffffu;
}

/* One-shot CRC32C of buf. */
static inline uint32_t
crc32c(const void *buf, size_t len)
{
	return crc32c_final(crc32c_update(CRC32C_INIT, buf, len));
}

/* The portable and the hardware paths, exposed so tests can check both. Same chaining
 * contract as crc32c_update(). Thread: any; never blocks or allocates. */
uint32_t crc32c_update_sw(uint32_t state, const void *buf, size_t len);
/* The SSE4.2 path: call only if crc32c_have_hw() (falls back to _sw off x86). */
uint32_t crc32c_update_hw(uint32_t state, const void *buf, size_t len);
/* True if this CPU has the crc32 instruction (SSE4.2). Thread: any. */
bool crc32c_have_hw(void);

#endif
