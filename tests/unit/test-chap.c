/*
 * CHAP unit tests: known-answer responses for each algorithm, value encoding, CHAP_A
 * selection, reflection refusal, verification and secret checks.
 *
 * The expected digests were computed when the test was written, independently of chap.c, with
 *   printf '\x01ballast-secret\x00\x01...\x0f' | openssl dgst -md5 (-sha1, -sha256, -sha3-256)
 *   printf '\xa5initiatorpwd\xde\xad\xbe\xef' | openssl dgst ...
 * and cross-checked with Python's hashlib.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "common/chap.h"
#include "common/compiler.h"
#include "tests/unit/unit.h"

static const uint8_t secret1[] = "ballast-secret"; /* 14 bytes, without the NUL */
static const uint8_t chal1[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const uint8_t secret2[] = "initiatorpwd"; /* 12 bytes */
static const uint8_t chal2[4] = { 0xde, 0xad, 0xbe, 0xef };

struct kat {
	unsigned alg;
	const char *r1; /* id 0x01, secret1, chal1 */
	const char *r2; /* id 0xa5, secret2, chal2 */
};

static const struct kat kats[] = {
	{ CHAP_A_MD5, "0xa8d8862b28bf98324c44080d8fd68d8e", "0x58eb16f41bc922777b7a8028399689b1" },
	{ CHAP_A_SHA1, "0xc512c532add5ee1df5b7783b838e22455fb84b91",
	  "0x6af9539c2295fd04c825174d2eb1b2a10b9df9f4" },
	{ CHAP_A_SHA256, "0xa0ae2ec289c15213ab646f2a55995c5059b3650b9fe81bfde1957010f0a16830",
	  "0xd0ccd3dc758fb585cc208ed0e902d53ad59abb9e7b34577a932c1f484a379ef7" },
	{ CHAP_A_SHA3_256, "0xb78769fe8698069b6655b3f0019d9f31e0b061e4793a62afdbdc308825c8e814",
	  "0x2b9978f002eb816fc7a67e07559fcffb9baa82ddd12720502465e1252b80d49f" },
};

static void
check_kat(const struct chap_alg *alg, uint8_t id, const uint8_t *secret, size_t slen,
	  const uint8_t *chal, size_t clen, const char *expect_hex)
{
	uint8_t r[CHAP_MAX_DIGEST_LEN];
	char hex[CHAP_HEX_ENCODED_SIZE(CHAP_MAX_DIGEST_LEN)];
	int n;

	n = chap_response(alg, id, secret, slen, chal, clen, r, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(n, (int)alg->digest_len);
	CU_ASSERT_EQUAL(chap_encode_hex(r, (size_t)n, hex, sizeof(hex)), 2 + 2 * n);
	CU_ASSERT_STRING_EQUAL(hex, expect_hex);
}

static void
test_known_answers(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(kats); i++) {
		const struct chap_alg *alg = chap_alg_by_id(kats[i].alg);

		CU_ASSERT_PTR_NOT_NULL_FATAL(alg);
		CU_ASSERT_EQUAL(alg->id, kats[i].alg);
		check_kat(alg, 0x01, secret1, sizeof(secret1) - 1, chal1, sizeof(chal1),
			  kats[i].r1);
		check_kat(alg, 0xa5, secret2, sizeof(secret2) - 1, chal2, sizeof(chal2),
			  kats[i].r2);
	}
}

static void
test_alg_table(void)
{
	CU_ASSERT_EQUAL(chap_algs_count, 4);
	CU_ASSERT_EQUAL(chap_alg_by_id(CHAP_A_MD5)->digest_len, 16);
	CU_ASSERT_EQUAL(chap_alg_by_id(CHAP_A_SHA1)->digest_len, 20);
	/* RFC numbering: 7 is SHA-256 (some tgt versions disagree). */
	CU_ASSERT_EQUAL(chap_alg_by_id(7)->digest_len, 32);
	CU_ASSERT_STRING_EQUAL(chap_alg_by_id(7)->name, "SHA256");
	CU_ASSERT_STRING_EQUAL(chap_alg_by_id(8)->name, "SHA3-256");
	CU_ASSERT_PTR_NULL(chap_alg_by_id(0));
	CU_ASSERT_PTR_NULL(chap_alg_by_id(4));
	CU_ASSERT_PTR_NULL(chap_alg_by_id(9));
	CU_ASSERT_PTR_NULL(chap_alg_by_id(0x105));
}

static void
test_custom_alg_entry(void)
{
	/* A caller can map 7 to SHA-1 for a quirky peer by building its own entry. */
	const struct chap_alg quirk = { 7, "SHA1", "SHA1", 20 };
	const struct chap_alg bogus = { 99, "nope", "NO-SUCH-DIGEST", 16 };
	const struct chap_alg wrong_len = { 6, "SHA1", "SHA1", 16 };
	uint8_t r[CHAP_MAX_DIGEST_LEN];

	check_kat(&quirk, 0x01, secret1, sizeof(secret1) - 1, chal1, sizeof(chal1), kats[1].r1);
	CU_ASSERT_EQUAL(chap_response(&bogus, 1, secret1, 14, chal1, 16, r, sizeof(r)), -ENOTSUP);
	CU_ASSERT_EQUAL(chap_response(&wrong_len, 1, secret1, 14, chal1, 16, r, sizeof(r)),
			-ENOTSUP);
}

static void
test_response_args(void)
{
	const struct chap_alg *md5 = chap_alg_by_id(CHAP_A_MD5);
	uint8_t big[CHAP_MAX_CHALLENGE_LEN + 1] = { 0 };
	uint8_t r[CHAP_MAX_DIGEST_LEN];

	CU_ASSERT_EQUAL(chap_response(md5, 1, secret1, 0, chal1, 16, r, sizeof(r)), -EINVAL);
	CU_ASSERT_EQUAL(chap_response(md5, 1, big, CHAP_MAX_SECRET_LEN + 1, chal1, 16, r,
				      sizeof(r)), -EINVAL);
	CU_ASSERT_EQUAL(chap_response(md5, 1, secret1, 14, chal1, 0, r, sizeof(r)), -EINVAL);
	CU_ASSERT_EQUAL(chap_response(md5, 1, secret1, 14, big, sizeof(big), r, sizeof(r)),
			-EINVAL);
	CU_ASSERT_EQUAL(chap_response(md5, 1, secret1, 14, chal1, 16, r, 15), -ENOSPC);
	CU_ASSERT_EQUAL(chap_response(NULL, 1, secret1, 14, chal1, 16, r, sizeof(r)), -EINVAL);
	/* The limits themselves are accepted. */
	CU_ASSERT_EQUAL(chap_response(md5, 1, big, CHAP_MAX_SECRET_LEN, big,
				      CHAP_MAX_CHALLENGE_LEN, r, sizeof(r)), 16);
}

static void
test_verify(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(kats); i++) {
		const struct chap_alg *alg = chap_alg_by_id(kats[i].alg);
		uint8_t r[CHAP_MAX_DIGEST_LEN];
		int n = chap_decode(kats[i].r1, r, sizeof(r));

		CU_ASSERT_EQUAL_FATAL(n, (int)alg->digest_len);
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret1, 14, chal1, 16, r, (size_t)n), 0);
		/* Wrong identifier, secret, challenge, a flipped bit, a short response. */
		CU_ASSERT_EQUAL(chap_verify(alg, 2, secret1, 14, chal1, 16, r, (size_t)n), -EACCES);
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret2, 12, chal1, 16, r, (size_t)n), -EACCES);
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret1, 14, chal1, 15, r, (size_t)n), -EACCES);
		r[n - 1] ^= 0x01;
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret1, 14, chal1, 16, r, (size_t)n), -EACCES);
		r[n - 1] ^= 0x01;
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret1, 14, chal1, 16, r, (size_t)n - 1),
				-EACCES);
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret1, 14, chal1, 16, r, 0), -EACCES);
		CU_ASSERT_EQUAL(chap_verify(alg, 1, secret1, 0, chal1, 16, r, (size_t)n), -EINVAL);
	}
}

static void
test_challenge_generate(void)
{
	struct chap_challenge a, b;

	CU_ASSERT_EQUAL(chap_challenge_generate(&a, chap_alg_by_id(CHAP_A_MD5), 0), 0);
	CU_ASSERT_EQUAL(a.len, 16);
	CU_ASSERT_EQUAL(chap_challenge_generate(&a, chap_alg_by_id(CHAP_A_SHA1), 0), 0);
	CU_ASSERT_EQUAL(a.len, 20);
	CU_ASSERT_EQUAL(chap_challenge_generate(&a, chap_alg_by_id(CHAP_A_SHA256), 0), 0);
	CU_ASSERT_EQUAL(a.len, 32);
	CU_ASSERT_EQUAL(chap_challenge_generate(&a, chap_alg_by_id(CHAP_A_SHA3_256), 0), 0);
	CU_ASSERT_EQUAL(a.len, 32);
	CU_ASSERT_EQUAL(chap_challenge_generate(&a, chap_alg_by_id(CHAP_A_MD5), 1024), 0);
	CU_ASSERT_EQUAL(a.len, 1024);
	CU_ASSERT_EQUAL(chap_challenge_generate(&b, chap_alg_by_id(CHAP_A_MD5), 1024), 0);
	/* Two 8192-bit random values do not collide. */
	CU_ASSERT(memcmp(a.value, b.value, 1024) != 0);
	CU_ASSERT_EQUAL(chap_challenge_generate(&a, chap_alg_by_id(CHAP_A_MD5), 1025), -EINVAL);
	CU_ASSERT_EQUAL(chap_challenge_generate(&a, NULL, 16), -EINVAL);
}

static void
test_parse_id(void)
{
	uint8_t id = 0;

	CU_ASSERT_EQUAL(chap_parse_id("0", &id), 0);
	CU_ASSERT_EQUAL(id, 0);
	CU_ASSERT_EQUAL(chap_parse_id("255", &id), 0);
	CU_ASSERT_EQUAL(id, 255);
	CU_ASSERT_EQUAL(chap_parse_id("0xA5", &id), 0);
	CU_ASSERT_EQUAL(id, 0xa5);
	CU_ASSERT_EQUAL(chap_parse_id("256", &id), -EINVAL);
	CU_ASSERT_EQUAL(chap_parse_id("0x100", &id), -EINVAL);
	CU_ASSERT_EQUAL(chap_parse_id("", &id), -EINVAL);
	CU_ASSERT_EQUAL(chap_parse_id("0x", &id), -EINVAL);
	CU_ASSERT_EQUAL(chap_parse_id("-1", &id), -EINVAL);
	CU_ASSERT_EQUAL(chap_parse_id("12a", &id), -EINVAL);
	CU_ASSERT_EQUAL(chap_parse_id(" 1", &id), -EINVAL);
}

static void
test_select(void)
{
	const uint8_t pref_5_7[] = { 5, 7 };
	const uint8_t pref_7_5[] = { 7, 5 };
	const uint8_t md5_only[] = { 5 };
	const uint8_t all[] = { 8, 7, 6, 5 };

	/* RFC order: the first offered value we allow. */
	CU_ASSERT_EQUAL(chap_select("7,5", pref_5_7, 2, false), 7);
	CU_ASSERT_EQUAL(chap_select("5,7", pref_7_5, 2, false), 5);
	/* Local order: our first allowed value that was offered. */
	CU_ASSERT_EQUAL(chap_select("7,5", pref_5_7, 2, true), 5);
	CU_ASSERT_EQUAL(chap_select("5,7", pref_7_5, 2, true), 7);
	CU_ASSERT_EQUAL(chap_select("7,6,5", md5_only, 1, false), 5);
	CU_ASSERT_EQUAL(chap_select("5", all, 4, true), 5);
	/* Unknown and non-numeric elements are skipped. */
	CU_ASSERT_EQUAL(chap_select("99,foo,0x5,8", all, 4, false), 8);
	CU_ASSERT_EQUAL(chap_select("1000,5", md5_only, 1, false), 5);
	/* Nothing acceptable. */
	CU_ASSERT_EQUAL(chap_select("7,6", md5_only, 1, false), -ENOENT);
	CU_ASSERT_EQUAL(chap_select("None", all, 4, true), -ENOENT);
	CU_ASSERT_EQUAL(chap_select("5", all, 0, false), -ENOENT);
	/* Malformed offers. */
	CU_ASSERT_EQUAL(chap_select("", all, 4, false), -EINVAL);
	CU_ASSERT_EQUAL(chap_select("5,", all, 4, false), -EINVAL);
	CU_ASSERT_EQUAL(chap_select(",5", all, 4, false), -EINVAL);
	CU_ASSERT_EQUAL(chap_select("7,,5", all, 4, false), -EINVAL);
	CU_ASSERT_EQUAL(chap_select(NULL, all, 4, false), -EINVAL);

	char longest[CHAP_MAX_ALG_LIST_LEN + 2];
	memset(longest, '7', sizeof(longest));
	for (size_t i = 1; i < sizeof(longest) - 1; i += 2)
		longest[i] = ',';
	longest[CHAP_MAX_ALG_LIST_LEN] = '\0'; /* 255 bytes: "7,7,...,7" (128 elements) */
	CU_ASSERT_EQUAL(chap_select(longest, all, 4, false), 7);
	longest[CHAP_MAX_ALG_LIST_LEN] = ',';
	longest[CHAP_MAX_ALG_LIST_LEN + 1] = '\0';
	CU_ASSERT_EQUAL(chap_select(longest, all, 4, false), -EINVAL);
}

static void
test_format_alg_list(void)
{
	const uint8_t ids[] = { 7, 5 };
	char buf[8];

	CU_ASSERT_EQUAL(chap_format_alg_list(ids, 2, buf, sizeof(buf)), 3);
	CU_ASSERT_STRING_EQUAL(buf, "7,5");
	CU_ASSERT_EQUAL(chap_format_alg_list(ids, 1, buf, sizeof(buf)), 1);
	CU_ASSERT_STRING_EQUAL(buf, "7");
	CU_ASSERT_EQUAL(chap_format_alg_list(ids, 2, buf, 3), -ENOSPC);
	CU_ASSERT_EQUAL(chap_format_alg_list(ids, 2, buf, 4), 3);
}

static void
test_reflection(void)
{
	struct chap_challenge ours;
	uint8_t theirs[CHAP_MAX_CHALLENGE_LEN];

	CU_ASSERT_EQUAL_FATAL(chap_challenge_generate(&ours, chap_alg_by_id(CHAP_A_MD5), 0), 0);
	memcpy(theirs, ours.value, ours.len);
	/* The initiator reflects our challenge: refuse. */
	CU_ASSERT_EQUAL(chap_check_reflection(&ours, theirs, ours.len), -EPERM);
	/* A different challenge, or one of different length, is fine. */
	theirs[3] ^= 0x80;
	CU_ASSERT_EQUAL(chap_check_reflection(&ours, theirs, ours.len), 0);
	theirs[3] ^= 0x80;
	CU_ASSERT_EQUAL(chap_check_reflection(&ours, theirs, ours.len - 1), 0);
	CU_ASSERT_EQUAL(chap_check_reflection(NULL, theirs, ours.len), -EINVAL);
}

static void
test_secret_check(void)
{
	const uint8_t a[] = "0123456789ab", b[] = "0123456789ac";
	uint8_t big[CHAP_MAX_SECRET_LEN + 1] = { 0 };

	CU_ASSERT_EQUAL(chap_secret_check(a, 12, NULL, 0), 0);
	CU_ASSERT_EQUAL(chap_secret_check(a, 11, NULL, 0), CHAP_SECRET_SHORT);
	CU_ASSERT_EQUAL(chap_secret_check(a, 1, NULL, 0), CHAP_SECRET_SHORT);
	CU_ASSERT_EQUAL(chap_secret_check(a, 12, b, 12), 0);
	CU_ASSERT_EQUAL(chap_secret_check(a, 12, a, 12), CHAP_SECRET_REUSED);
	CU_ASSERT_EQUAL(chap_secret_check(a, 11, b, 11), CHAP_SECRET_SHORT | CHAP_SECRET_REUSED);
	CU_ASSERT_EQUAL(chap_secret_check(a, 12, a, 11), 0);
	CU_ASSERT_EQUAL(chap_secret_check(a, 0, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(chap_secret_check(big, CHAP_MAX_SECRET_LEN, NULL, 0), 0);
	CU_ASSERT_EQUAL(chap_secret_check(big, CHAP_MAX_SECRET_LEN + 1, NULL, 0), -EINVAL);
}

static void
test_decode_hex(void)
{
	uint8_t out[CHAP_MAX_VALUE_LEN + 1];
	static const uint8_t expect[] = { 0x00, 0xff, 0x10, 0xab };

	CU_ASSERT_EQUAL(chap_decode("0x00ff10ab", out, sizeof(out)), 4);
	CU_ASSERT(memcmp(out, expect, 4) == 0);
	CU_ASSERT_EQUAL(chap_decode("0X00FF10AB", out, sizeof(out)), 4);
	CU_ASSERT(memcmp(out, expect, 4) == 0);
	CU_ASSERT_EQUAL(chap_decode("0x00Ff10aB", out, sizeof(out)), 4);
	CU_ASSERT(memcmp(out, expect, 4) == 0);
	/* Malformed. */
	CU_ASSERT_EQUAL(chap_decode("0x", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0xabc", out, sizeof(out)), -EINVAL); /* odd length */
	CU_ASSERT_EQUAL(chap_decode("0xag", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0x12 4", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0x-1", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("1234", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0z1234", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("", out, sizeof(out)), -EINVAL);
	/* Too long for the buffer. */
	CU_ASSERT_EQUAL(chap_decode("0x00ff10ab", out, 3), -EMSGSIZE);
	CU_ASSERT_EQUAL(chap_decode("0x00ff10ab", out, 4), 4);
}

static void
test_decode_limits(void)
{
	char s[CHAP_MAX_ENCODED_LEN + 3];
	uint8_t out[CHAP_MAX_VALUE_LEN + 1];

	/* Exactly 1024 bytes of hex is accepted; 1025 is too long even with a big buffer. */
	memset(s, 'a', sizeof(s));
	s[0] = '0';
	s[1] = 'x';
	s[CHAP_MAX_ENCODED_LEN] = '\0';
	CU_ASSERT_EQUAL(chap_decode(s, out, sizeof(out)), CHAP_MAX_VALUE_LEN);
	s[CHAP_MAX_ENCODED_LEN] = 'a';
	s[CHAP_MAX_ENCODED_LEN + 1] = 'a';
	s[CHAP_MAX_ENCODED_LEN + 2] = '\0';
	CU_ASSERT_EQUAL(chap_decode(s, out, sizeof(out)), -EMSGSIZE);
}

static void
test_decode_base64(void)
{
	uint8_t out[64];

	CU_ASSERT_EQUAL(chap_decode("0baGVsbG8gd29ybGQh", out, sizeof(out)), 12);
	CU_ASSERT(memcmp(out, "hello world!", 12) == 0);
	CU_ASSERT_EQUAL(chap_decode("0BAP8Q", out, sizeof(out)), 3);
	CU_ASSERT(out[0] == 0x00 && out[1] == 0xff && out[2] == 0x10);
	CU_ASSERT_EQUAL(chap_decode("0bYWI=", out, sizeof(out)), 2);
	CU_ASSERT(memcmp(out, "ab", 2) == 0);
	CU_ASSERT_EQUAL(chap_decode("0bYQ==", out, sizeof(out)), 1);
	CU_ASSERT_EQUAL(out[0], 'a');
	/* Malformed: bad length, bad characters, misplaced padding, non-canonical bits. */
	CU_ASSERT_EQUAL(chap_decode("0bYWI", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0bYW!=", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0bY=I=", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0bYQ==YQ==", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0b====", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0bYR==", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0b", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(chap_decode("0baGVsbG8gd29ybGQh", out, 11), -EMSGSIZE);
}

static void
test_encode_roundtrip(void)
{
	uint8_t in[CHAP_MAX_VALUE_LEN], out[CHAP_MAX_VALUE_LEN];
	char enc[CHAP_HEX_ENCODED_SIZE(CHAP_MAX_VALUE_LEN)];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (size_t len = 1; len <= sizeof(in); len += (len < 8 ? 1 : 97)) {
		int n = chap_encode_hex(in, len, enc, sizeof(enc));

		CU_ASSERT_EQUAL(n, (int)(2 + 2 * len));
		CU_ASSERT_EQUAL(chap_decode(enc, out, sizeof(out)), (int)len);
		CU_ASSERT(memcmp(in, out, len) == 0);
		n = chap_encode_base64(in, len, enc, sizeof(enc));
		CU_ASSERT_EQUAL(n + 1, (int)CHAP_B64_ENCODED_SIZE(len));
		CU_ASSERT_EQUAL(chap_decode(enc, out, sizeof(out)), (int)len);
		CU_ASSERT(memcmp(in, out, len) == 0);
	}
	CU_ASSERT_EQUAL(chap_encode_hex(in, 1024, enc, sizeof(enc)), 2050);
	CU_ASSERT_EQUAL(chap_decode(enc, out, sizeof(out)), 1024);
	/* Known encodings, and exact buffer sizes. */
	char small[8];
	CU_ASSERT_EQUAL(chap_encode_hex((const uint8_t *)"\x00\xff\x10", 3, small, sizeof(small)),
			-ENOSPC);
	CU_ASSERT_EQUAL(chap_encode_hex((const uint8_t *)"\x00\xff\x10", 3, enc, 9), 8);
	CU_ASSERT_STRING_EQUAL(enc, "0x00ff10");
	CU_ASSERT_EQUAL(chap_encode_base64((const uint8_t *)"ab", 2, small, sizeof(small)), 6);
	CU_ASSERT_STRING_EQUAL(small, "0bYWI=");
	CU_ASSERT_EQUAL(chap_encode_base64((const uint8_t *)"ab", 2, small, 6), -ENOSPC);
	CU_ASSERT_EQUAL(chap_encode_hex(in, 0, enc, sizeof(enc)), -EINVAL);
}

static void
test_mutual_exchange(void)
{
	/* Both sides of a mutual CHAP exchange with distinct secrets, through the encodings. */
	const struct chap_alg *alg = chap_alg_by_id(CHAP_A_SHA256);
	const uint8_t tsecret[] = "target-secret-1", isecret[] = "initiator-secret";
	struct chap_challenge tc, ic;
	char wire[CHAP_HEX_ENCODED_SIZE(CHAP_MAX_CHALLENGE_LEN)];
	uint8_t rx[CHAP_MAX_CHALLENGE_LEN], r[CHAP_MAX_DIGEST_LEN];
	int n, rlen;

	CU_ASSERT_EQUAL(chap_secret_check(isecret, 16, tsecret, 15), 0);
	/* Target -> initiator: CHAP_I, CHAP_C. */
	CU_ASSERT_EQUAL_FATAL(chap_challenge_generate(&tc, alg, 0), 0);
	CU_ASSERT(chap_encode_hex(tc.value, tc.len, wire, sizeof(wire)) > 0);
	n = chap_decode(wire, rx, sizeof(rx));
	CU_ASSERT_EQUAL_FATAL(n, (int)tc.len);
	/* Initiator answers CHAP_R, sends its own challenge. */
	rlen = chap_response(alg, tc.id, isecret, 16, rx, (size_t)n, r, sizeof(r));
	CU_ASSERT_EQUAL_FATAL(rlen, 32);
	CU_ASSERT_EQUAL_FATAL(chap_challenge_generate(&ic, alg, 0), 0);
	/* Target: not a reflection, response verifies. */
	CU_ASSERT_EQUAL(chap_check_reflection(&tc, ic.value, ic.len), 0);
	CU_ASSERT_EQUAL(chap_verify(alg, tc.id, isecret, 16, tc.value, tc.len, r, (size_t)rlen), 0);
	/* Target answers with its own secret; initiator verifies. */
	rlen = chap_response(alg, ic.id, tsecret, 15, ic.value, ic.len, r, sizeof(r));
	CU_ASSERT_EQUAL(chap_verify(alg, ic.id, tsecret, 15, ic.value, ic.len, r, (size_t)rlen), 0);
	CU_ASSERT_EQUAL(chap_verify(alg, ic.id, isecret, 16, ic.value, ic.len, r, (size_t)rlen),
			-EACCES);
}

static const struct unit_test chap_tests[] = {
	{ "known answers (MD5, SHA-1, SHA-256, SHA3-256)", test_known_answers },
	{ "algorithm table uses RFC numbering", test_alg_table },
	{ "caller-built algorithm entry", test_custom_alg_entry },
	{ "response argument limits", test_response_args },
	{ "constant-time verify true/false", test_verify },
	{ "challenge generation lengths", test_challenge_generate },
	{ "CHAP_I parsing", test_parse_id },
	{ "CHAP_A selection", test_select },
	{ "CHAP_A list formatting", test_format_alg_list },
	{ "reflected challenge refused", test_reflection },
	{ "secret checks", test_secret_check },
	{ "hex decode and malformed input", test_decode_hex },
	{ "decode length limit", test_decode_limits },
	{ "base64 decode and malformed input", test_decode_base64 },
	{ "encode/decode round trips", test_encode_roundtrip },
	{ "mutual exchange", test_mutual_exchange },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "chap", chap_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
