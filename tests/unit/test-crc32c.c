/*
 * CRC32C: RFC 3720 appendix B.4 vectors and the CRC catalogue check value on both the
 * portable and the SSE4.2 paths, chaining across arbitrary splits and alignments, and
 * software/hardware agreement on random buffers.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "tests/unit/unit.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 B.4: "An iSCSI - SCSI Read (10) Command PDU". */
static const uint8_t rfc_read_pdu[48] = {
	0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static uint32_t
one_shot(crc_fn fn, const void *buf, size_t len)
{
	return crc32c_final(fn(CRC32C_INIT, buf, len));
}

static void
check_vectors(crc_fn fn)
{
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(one_shot(fn, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT_EQUAL(one_shot(fn, buf, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(one_shot(fn, buf, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CU_ASSERT_EQUAL(one_shot(fn, buf, 32), 0x113fdb5c);
	CU_ASSERT_EQUAL(one_shot(fn, rfc_read_pdu, sizeof(rfc_read_pdu)), 0xd9963a56);
	CU_ASSERT_EQUAL(one_shot(fn, "123456789", 9), 0xe3069283);
	CU_ASSERT_EQUAL(one_shot(fn, "", 0), 0);
}

static void
test_vectors_sw(void)
{
	check_vectors(crc32c_update_sw);
}

static void
test_vectors_hw(void)
{
	if (!crc32c_have_hw()) {
		fputs("(no SSE4.2: hardware path not tested) ", stdout);
		return;
	}
	check_vectors(crc32c_update_hw);
}

static void
test_vectors_dispatch(void)
{
	check_vectors(crc32c_update);
	CU_ASSERT_EQUAL(crc32c(rfc_read_pdu, sizeof(rfc_read_pdu)), 0xd9963a56);
}

static void
fill_random(uint8_t *buf, size_t len, unsigned *seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(rand_r(seed) >> 7);
}

/* Chained updates over random split points, at every alignment, equal the one-shot CRC. */
static void
check_chaining(crc_fn fn)
{
	static uint8_t buf[4096 + 8];
	unsigned seed = 12345;

	fill_random(buf, sizeof(buf), &seed);
	for (int iter = 0; iter < 400; iter++) {
		size_t align = (size_t)iter % 8;
		size_t len = (size_t)rand_r(&seed) % 4097;
		const uint8_t *p = buf + align;
		uint32_t want = one_shot(fn, p, len);
		uint32_t state = CRC32C_INIT;
		size_t off = 0;
		while (off < len) {
			size_t n = (size_t)rand_r(&seed) % 67;
			if (n > len - off)
				n = len - off;
			state = fn(state, p + off, n);
			off += n;
		}
		CU_ASSERT_EQUAL_FATAL(crc32c_final(state), want);
	}
}

static void
test_chaining_sw(void)
{
	check_chaining(crc32c_update_sw);
}

static void
test_chaining_hw(void)
{
	if (crc32c_have_hw())
		check_chaining(crc32c_update_hw);
}

static void
test_chaining_mixed(void)
{
	/* Both paths keep the same running state, so they can alternate within one chain. */
	static uint8_t buf[3000];
	unsigned seed = 99;

	fill_random(buf, sizeof(buf), &seed);
	uint32_t state = CRC32C_INIT;
	state = crc32c_update_sw(state, buf, 1001);
	state = crc32c_update(state, buf + 1001, 999);
	state = crc32c_update_sw(state, buf + 2000, 1000);
	CU_ASSERT_EQUAL(crc32c_final(state), one_shot(crc32c_update_sw, buf, sizeof(buf)));
}

static void
test_sw_equals_hw(void)
{
	static uint8_t buf[70000];
	unsigned seed = 4242;

	if (!crc32c_have_hw())
		return;
	fill_random(buf, sizeof(buf), &seed);
	for (size_t len = 0; len <= 1100; len++) {
		size_t off = len % 13;
		CU_ASSERT_EQUAL_FATAL(crc32c_update_sw(CRC32C_INIT, buf + off, len),
				      crc32c_update_hw(CRC32C_INIT, buf + off, len));
		/* A non-initial state too. */
		CU_ASSERT_EQUAL_FATAL(crc32c_update_sw((uint32_t)len * 2654435761u, buf, len),
				      crc32c_update_hw((uint32_t)len * 2654435761u, buf, len));
	}
	for (int iter = 0; iter < 50; iter++) {
		size_t off = (size_t)rand_r(&seed) % 64;
		size_t len = (size_t)rand_r(&seed) % (sizeof(buf) - 64);
		CU_ASSERT_EQUAL_FATAL(one_shot(crc32c_update_sw, buf + off, len),
				      one_shot(crc32c_update_hw, buf + off, len));
	}
}

static const struct unit_test crc_tests[] = {
	{ "RFC 3720 B.4 vectors, software", test_vectors_sw },
	{ "RFC 3720 B.4 vectors, SSE4.2", test_vectors_hw },
	{ "RFC 3720 B.4 vectors, dispatch", test_vectors_dispatch },
	{ "chaining at random splits, software", test_chaining_sw },
	{ "chaining at random splits, SSE4.2", test_chaining_hw },
	{ "chaining mixing both paths", test_chaining_mixed },
	{ "software equals SSE4.2 on random buffers", test_sw_equals_hw },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "crc32c", crc_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
