/*
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78): the iSCSI header and data digest
 * (RFC 7143 section 13.1, RFC 3720 appendix B.4).
 *
 * Two implementations: the SSE4.2 crc32 instruction, chosen at run time when the CPU has it,
 * and a portable slice-by-8 table walk. Both work on the pre-inverted running state (start
 * with CRC32C_INIT, finish with crc32c_final()), so they can be mixed freely in one chain.
 * No allocation: the tables are static storage filled once before main().
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_X86 1
#endif

#include "common/compiler.h"
#include "common/crc32c.h"

#include "common/datapath.h"

#define CRC32C_POLY 0x82f63b78u

/* crc32c_table[k][b]: the CRC of byte b followed by k zero bytes (slice-by-8). */
static uint32_t crc32c_table[8][256];
static bool crc32c_table_ready;
static bool crc32c_use_hw;

static void
crc32c_init_tables(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc32c_table[0][b] = c;
	}
	for (unsigned b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++) {
			uint32_t prev = crc32c_table[k - 1][b];
			crc32c_table[k][b] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
		}
	__atomic_store_n(&crc32c_table_ready, true, __ATOMIC_RELEASE);
}

/*
 * Runs before main(), while the process is single-threaded, so the tables and the dispatch
 * flag are read-only by the time any datapath thread exists.
 */
__attribute__((constructor)) static void
crc32c_setup(void)
{
	crc32c_init_tables();
	crc32c_use_hw = crc32c_have_hw();
}

bool
crc32c_have_hw(void)
{
#ifdef CRC32C_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
#else
	return false;
#endif
}

uint32_t
crc32c_update_sw(uint32_t state, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = state;

	/* Only reachable unset from another constructor that ran before ours. */
	if (unlikely(!__atomic_load_n(&crc32c_table_ready, __ATOMIC_ACQUIRE)))
		crc32c_init_tables();

	/* Byte-wise loads keep this endian-neutral and alignment-free. */
	while (len >= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][p[4]] ^ crc32c_table[2][p[5]] ^ crc32c_table[1][p[6]] ^
		    crc32c_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
	return c;
}

#ifdef CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t
crc32c_update_hw(uint32_t state, const void *buf, size_t len)
{
	const uint8_t *p = buf;
#ifdef __x86_64__
	uint64_t c = state;

	/* Align so the 8-byte loads do not straddle cache lines. */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
#else
	uint32_t c32 = state;
	while (len >= 4) {
		uint32_t v;
		memcpy(&v, p, sizeof(v));
		c32 = _mm_crc32_u32(c32, v);
		p += 4;
		len -= 4;
	}
#endif
	while (len--)
		c32 = _mm_crc32_u8(c32, *p++);
	return c32;
}
#else
uint32_t
crc32c_update_hw(uint32_t state, const void *buf, size_t len)
{
	/* No hardware path on this architecture: crc32c_have_hw() is false; stay correct anyway. */
	return crc32c_update_sw(state, buf, len);
}
#endif

uint32_t
crc32c_update(uint32_t state, const void *buf, size_t len)
{
	if (likely(crc32c_use_hw))
		return crc32c_update_hw(state, buf, len);
	return crc32c_update_sw(state, buf, len);
}
