/*
 * CHAP for iSCSI login authentication (RFC 1994, RFC 7143 section 12.1.3).
 *
 * Algorithms are identified by their CHAP_A number as registered with IANA (PPP Authentication
 * Algorithms): 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256. Some tgt versions treat 7 as SHA-1; the
 * functions below take a struct chap_alg pointer rather than a number, so a caller that must
 * interoperate with such a peer can build its own table entry. Digests go through OpenSSL EVP.
 *
 * Control plane only (login). No heap use except what OpenSSL does internally; every object
 * lives in caller storage. No logging: functions return -errno and flags. Thread: any; the
 * functions keep no state of their own.
 */
#ifndef BALLAST_CHAP_H
#define BALLAST_CHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CHAP_A values (RFC numbering). */
#define CHAP_A_MD5 5
#define CHAP_A_SHA1 6
#define CHAP_A_SHA256 7
#define CHAP_A_SHA3_256 8

#define CHAP_MAX_DIGEST_LEN 64            /* room for any EVP digest we may add */
#define CHAP_MAX_CHALLENGE_LEN 1024       /* RFC 7143 12.1.3: CHAP_C at most 1024 bytes */
#define CHAP_DEFAULT_MD5_CHALLENGE_LEN 16 /* other algorithms default to their digest length */
#define CHAP_MAX_SECRET_LEN 256
#define CHAP_RECOMMENDED_SECRET_LEN 12    /* RFC 7143 9.2.1: at least 96 bits */
#define CHAP_MAX_ALG_LIST_LEN 255         /* a CHAP_A offer string, without the NUL */
#define CHAP_MAX_VALUE_LEN CHAP_MAX_CHALLENGE_LEN /* longest binary value we decode */

/* Buffer size (with NUL) to encode n bytes as "0x" + hex, and as "0b" + base64. */
#define CHAP_HEX_ENCODED_SIZE(n) (2 + 2 * (size_t)(n) + 1)
#define CHAP_B64_ENCODED_SIZE(n) (2 + 4 * (((size_t)(n) + 2) / 3) + 1)
/* Longest encoded string chap_decode() accepts (without the NUL): "0x" + 2048 hex digits. */
#define CHAP_MAX_ENCODED_LEN (CHAP_HEX_ENCODED_SIZE(CHAP_MAX_VALUE_LEN) - 1)

struct chap_alg {
	uint8_t id;             /* CHAP_A value */
	const char *name;       /* "MD5", "SHA1", "SHA256", "SHA3-256" */
	const char *evp_name;   /* OpenSSL digest name for EVP_MD_fetch() */
	size_t digest_len;      /* response length in bytes */
};

/* The built-in table, RFC numbering, in ascending CHAP_A order. */
extern const struct chap_alg chap_algs[];
extern const size_t chap_algs_count;

/*
 * Returns the table entry for CHAP_A value id, or NULL if unknown or if this OpenSSL cannot
 * provide the digest (e.g. MD5 under a FIPS provider). Borrowed: static storage.
 */
const struct chap_alg *chap_alg_by_id(unsigned id);

/*
 * Choose a CHAP_A value from the peer's offer, a comma-separated list of decimal numbers such
 * as "7,5" (at most CHAP_MAX_ALG_LIST_LEN bytes). allowed[0..nallowed) is our acceptable set,
 * in our order of preference. With local_order false (RFC 7143 6.2.1 list negotiation) the
 * first offered value that we allow wins; with local_order true the first of our allowed
 * values that is offered wins. Elements that are not decimal numbers we know are skipped.
 * Returns the chosen CHAP_A value (> 0), -ENOENT if nothing acceptable was offered (the
 * target answers CHAP_A=Reject), -EINVAL if the offer is malformed (empty element, too long).
 */
int chap_select(const char *offer, const uint8_t *allowed, size_t nallowed, bool local_order);

/*
 * Format our CHAP_A offer "7,5" from ids[0..n) into buf (size bytes, NUL terminated).
 * Returns the string length or -ENOSPC.
 */
int chap_format_alg_list(const uint8_t *ids, size_t n, char *buf, size_t size);

/* A challenge we generated (CHAP_I, CHAP_C) or received. Caller storage. */
struct chap_challenge {
	uint8_t id;
	size_t len;
	uint8_t value[CHAP_MAX_CHALLENGE_LEN];
};

/*
 * Fill c with a random identifier and a random challenge of len bytes from RAND_bytes(); len 0
 * picks the default (16 for MD5, the digest length otherwise). Returns 0, -EINVAL if len
 * exceeds CHAP_MAX_CHALLENGE_LEN, -EIO if the random generator fails.
 */
int chap_challenge_generate(struct chap_challenge *c, const struct chap_alg *alg, size_t len);

/*
 * Parse a CHAP_I value: a decimal or "0x" hex number 0..255. Returns 0 and sets *id, or
 * -EINVAL.
 */
int chap_parse_id(const char *s, uint8_t *id);

/*
 * Compute R = H(I || secret || C) into out (out_size bytes, at least alg->digest_len).
 * secret_len must be 1..CHAP_MAX_SECRET_LEN, challenge_len 1..CHAP_MAX_CHALLENGE_LEN.
 * Returns the response length, -EINVAL on bad lengths, -ENOSPC if out is too small, -ENOTSUP
 * if OpenSSL lacks the digest, -EIO if it failed.
 */
int chap_response(const struct chap_alg *alg, uint8_t id, const uint8_t *secret,
		  size_t secret_len, const uint8_t *challenge, size_t challenge_len, uint8_t *out,
		  size_t out_size);

/*
 * Check the peer's response against R = H(I || secret || C), comparing in constant time.
 * Returns 0 if it matches, -EACCES if it does not (including a wrong length), or an error of
 * chap_response().
 */
int chap_verify(const struct chap_alg *alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		const uint8_t *challenge, size_t challenge_len, const uint8_t *resp,
		size_t resp_len);

/*
 * Mutual CHAP reflection check: the peer's challenge must not equal the challenge we sent it,
 * or it could make us compute the response it owes us. Returns 0, or -EPERM if they are equal
 * (refuse the login).
 */
int chap_check_reflection(const struct chap_challenge *ours, const uint8_t *theirs,
			  size_t theirs_len);

/* Secret advisory flags returned by chap_secret_check(). */
#define CHAP_SECRET_SHORT 0x1  /* shorter than CHAP_RECOMMENDED_SECRET_LEN */
#define CHAP_SECRET_REUSED 0x2 /* same as the other direction's secret */

/*
 * Validate a secret. other (may be NULL) is the secret of the other direction in mutual CHAP.
 * Returns -EINVAL if len is 0 or exceeds CHAP_MAX_SECRET_LEN, otherwise a mask of
 * CHAP_SECRET_* advisory flags (0 when all is well); the caller decides whether to warn.
 */
int chap_secret_check(const uint8_t *secret, size_t len, const uint8_t *other, size_t other_len);

/*
 * Decode a binary value "0x..."/"0X..." (hex, case-insensitive, even number of digits) or
 * "0b..."/"0B..." (base64 with padding) from the NUL-terminated string s into out. Returns
 * the decoded length (>= 1), -EINVAL if malformed, -EMSGSIZE if longer than out_size bytes or
 * than CHAP_MAX_ENCODED_LEN characters.
 */
int chap_decode(const char *s, uint8_t *out, size_t out_size);

/*
 * Encode in[0..len) as "0x" + lowercase hex (the default for values we send) or "0b" + base64,
 * NUL terminated, into out. Returns the string length, -ENOSPC if out_size is too small (see
 * CHAP_*_ENCODED_SIZE), -EINVAL if len is 0.
 */
int chap_encode_hex(const uint8_t *in, size_t len, char *out, size_t out_size);
int chap_encode_base64(const uint8_t *in, size_t len, char *out, size_t out_size);

#endif
