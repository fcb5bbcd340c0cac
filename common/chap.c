/*
 * CHAP (RFC 1994) as used by iSCSI login (RFC 7143 section 12.1.3). See chap.h.
 *
 * Why no heap: login runs while the daemon may be under memory pressure (relogin of an
 * established session), so everything lives in caller storage or on the stack. OpenSSL may
 * still allocate internally (EVP_MD_fetch, EVP_Digest); that is outside our control.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/chap.h"
#include "common/compiler.h"

/* IANA "PPP Authentication Algorithms", as referenced by RFC 7143 12.1.3. */
const struct chap_alg chap_algs[] = {
	{ CHAP_A_MD5, "MD5", "MD5", 16 },
	{ CHAP_A_SHA1, "SHA1", "SHA1", 20 },
	{ CHAP_A_SHA256, "SHA256", "SHA256", 32 },
	{ CHAP_A_SHA3_256, "SHA3-256", "SHA3-256", 32 },
};
const size_t chap_algs_count = ARRAY_SIZE(chap_algs);

/* Fetch the EVP digest; the caller frees it with EVP_MD_free(). NULL if unavailable. */
static EVP_MD *
chap_fetch(const struct chap_alg *alg)
{
	if (!alg || !alg->evp_name)
		return NULL;
	return EVP_MD_fetch(NULL, alg->evp_name, NULL);
}

const struct chap_alg *
chap_alg_by_id(unsigned id)
{
	for (size_t i = 0; i < chap_algs_count; i++) {
		if (chap_algs[i].id != id)
			continue;
		EVP_MD *md = chap_fetch(&chap_algs[i]);
		if (!md)
			return NULL;
		EVP_MD_free(md);
		return &chap_algs[i];
	}
	return NULL;
}

/*
 * Parse one CHAP_A list element [p, end) as a decimal number. Returns the value, or -1 if it is
 * not a plain decimal number in 0..255 (then the element is skipped as unsupported).
 */
static int
chap_parse_alg_elem(const char *p, const char *end)
{
	unsigned v = 0;

	if (p == end || end - p > 3)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	return v <= 255 ? (int)v : -1;
}

static bool
chap_allowed(const uint8_t *allowed, size_t nallowed, int v)
{
	for (size_t i = 0; i < nallowed; i++)
		if (allowed[i] == v)
			return true;
	return false;
}

int
chap_select(const char *offer, const uint8_t *allowed, size_t nallowed, bool local_order)
{
	int vals[CHAP_MAX_ALG_LIST_LEN / 2 + 1];
	size_t nvals = 0;
	size_t len;

	if (!offer)
		return -EINVAL;
	len = strnlen(offer, CHAP_MAX_ALG_LIST_LEN + 1);
	if (len == 0 || len > CHAP_MAX_ALG_LIST_LEN)
		return -EINVAL;

	/* RFC 7143 6.1: list elements are separated by commas; an empty element is malformed. */
	for (const char *p = offer;;) {
		const char *comma = memchr(p, ',', (size_t)(offer + len - p));
		const char *end = comma ? comma : offer + len;

		if (end == p)
			return -EINVAL;
		vals[nvals++] = chap_parse_alg_elem(p, end);
		if (!comma)
			break;
		p = comma + 1;
	}

	if (local_order) {
		for (size_t i = 0; i < nallowed; i++)
			for (size_t j = 0; j < nvals; j++)
				if (vals[j] == allowed[i])
					return allowed[i];
	} else {
		/* RFC 7143 6.2.1: the first value of the originator's list that we support. */
		for (size_t j = 0; j < nvals; j++)
			if (vals[j] > 0 && chap_allowed(allowed, nallowed, vals[j]))
				return vals[j];
	}
	return -ENOENT;
}

int
chap_format_alg_list(const uint8_t *ids, size_t n, char *buf, size_t size)
{
	size_t pos = 0;

	if (!buf || size == 0)
		return -ENOSPC;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char tmp[8];
		int k = snprintf(tmp, sizeof(tmp), "%s%u", i ? "," : "", ids[i]);

		if ((size_t)k + pos >= size) {
			buf[0] = '\0';
			return -ENOSPC;
		}
		memcpy(buf + pos, tmp, (size_t)k + 1);
		pos += (size_t)k;
	}
	if (pos > INT_MAX)
		return -ENOSPC;
	return (int)pos;
}

int
chap_challenge_generate(struct chap_challenge *c, const struct chap_alg *alg, size_t len)
{
	if (!c || !alg)
		return -EINVAL;
	if (len == 0)
		len = alg->id == CHAP_A_MD5 ? CHAP_DEFAULT_MD5_CHALLENGE_LEN : alg->digest_len;
	if (len == 0 || len > CHAP_MAX_CHALLENGE_LEN)
		return -EINVAL;
	if (RAND_bytes(&c->id, 1) != 1 || RAND_bytes(c->value, (int)len) != 1)
		return -EIO;
	c->len = len;
	return 0;
}

static int
chap_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
chap_parse_id(const char *s, uint8_t *id)
{
	unsigned v = 0;

	if (!s || !*s)
		return -EINVAL;
	/* RFC 7143 6.1: a numerical value may be decimal or a hex-constant. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		if (!*s)
			return -EINVAL;
		for (; *s; s++) {
			int h = chap_hexval(*s);

			if (h < 0)
				return -EINVAL;
			v = v * 16 + (unsigned)h;
			if (v > 255)
				return -EINVAL;
		}
	} else {
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return -EINVAL;
			v = v * 10 + (unsigned)(*s - '0');
			if (v > 255)
				return -EINVAL;
		}
	}
	*id = (uint8_t)v;
	return 0;
}

int
chap_response(const struct chap_alg *alg, uint8_t id, const uint8_t *secret, size_t secret_len,
	      const uint8_t *challenge, size_t challenge_len, uint8_t *out, size_t out_size)
{
	/* I || secret || C on the stack: at most 1 + 256 + 1024 bytes. */
	uint8_t msg[1 + CHAP_MAX_SECRET_LEN + CHAP_MAX_CHALLENGE_LEN];
	unsigned int dlen = 0;
	EVP_MD *md;
	int rc;

	if (!alg || !secret || !challenge || !out || secret_len == 0 ||
	    secret_len > CHAP_MAX_SECRET_LEN || challenge_len == 0 ||
	    challenge_len > CHAP_MAX_CHALLENGE_LEN || alg->digest_len > CHAP_MAX_DIGEST_LEN)
		return -EINVAL;
	if (out_size < alg->digest_len)
		return -ENOSPC;
	md = chap_fetch(alg);
	if (!md)
		return -ENOTSUP;
	if ((size_t)EVP_MD_get_size(md) != alg->digest_len) {
		EVP_MD_free(md);
		return -ENOTSUP;
	}

	/* RFC 1994 4.1: the response is the hash of Identifier, secret and Challenge. */
	msg[0] = id;
	memcpy(msg + 1, secret, secret_len);
	memcpy(msg + 1 + secret_len, challenge, challenge_len);
	rc = EVP_Digest(msg, 1 + secret_len + challenge_len, out, &dlen, md, NULL);
	OPENSSL_cleanse(msg, 1 + secret_len);
	EVP_MD_free(md);
	if (rc != 1 || dlen != alg->digest_len)
		return -EIO;
	return (int)dlen;
}

int
chap_verify(const struct chap_alg *alg, uint8_t id, const uint8_t *secret, size_t secret_len,
	    const uint8_t *challenge, size_t challenge_len, const uint8_t *resp, size_t resp_len)
{
	uint8_t expect[CHAP_MAX_DIGEST_LEN];
	int n, rc;

	if (!resp)
		return -EINVAL;
	n = chap_response(alg, id, secret, secret_len, challenge, challenge_len, expect,
			  sizeof(expect));
	if (n < 0)
		return n;
	/* The length is public (it is fixed by the algorithm); the bytes are compared in constant
	 * time so a peer cannot learn a prefix of the expected response from timing. */
	if (resp_len != (size_t)n)
		rc = -EACCES;
	else
		rc = CRYPTO_memcmp(expect, resp, (size_t)n) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(expect, sizeof(expect));
	return rc;
}

int
chap_check_reflection(const struct chap_challenge *ours, const uint8_t *theirs, size_t theirs_len)
{
	/* RFC 7143 12.1.3 (reflection): a peer that returns our own challenge wants us to compute
	 * the response it owes us; refuse it. Lengths differ: not a reflection. */
	if (!ours || !theirs)
		return -EINVAL;
	if (ours->len != theirs_len)
		return 0;
	return CRYPTO_memcmp(ours->value, theirs, theirs_len) == 0 ? -EPERM : 0;
}

int
chap_secret_check(const uint8_t *secret, size_t len, const uint8_t *other, size_t other_len)
{
	int flags = 0;

	if (!secret || len == 0 || len > CHAP_MAX_SECRET_LEN)
		return -EINVAL;
	/* RFC 7143 9.2.1: secrets should carry at least 96 bits; and the two directions of
	 * mutual CHAP must not share a secret. */
	if (len < CHAP_RECOMMENDED_SECRET_LEN)
		flags |= CHAP_SECRET_SHORT;
	if (other && other_len == len && CRYPTO_memcmp(secret, other, len) == 0)
		flags |= CHAP_SECRET_REUSED;
	return flags;
}

static int
chap_b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static int
chap_decode_hex(const char *s, size_t n, uint8_t *out, size_t out_size)
{
	/* RFC 7143 6.1: each hex digit is 4 bits of a binary string; an odd count does not make
	 * whole bytes, so it is refused rather than guessed at. */
	if (n == 0 || n % 2)
		return -EINVAL;
	if (n / 2 > out_size)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i += 2) {
		int hi = chap_hexval(s[i]), lo = chap_hexval(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

static int
chap_decode_b64(const char *s, size_t n, uint8_t *out, size_t out_size)
{
	size_t pad = 0, olen;

	/* RFC 7143 6.1 refers to RFC 4648 base64 with padding: groups of 4, '=' only at the end. */
	if (n == 0 || n % 4)
		return -EINVAL;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	olen = n / 4 * 3 - pad;
	if (olen == 0)
		return -EINVAL;
	if (olen > out_size)
		return -EMSGSIZE;
	for (size_t i = 0, o = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;

		for (int k = 0; k < 4; k++) {
			if (last && s[i + k] == '=' && (size_t)k >= 4 - pad) {
				v[k] = 0;
				continue;
			}
			v[k] = chap_b64val(s[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		/* Non-canonical encodings (stray bits under the padding) are malformed. */
		if (last && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))))
			return -EINVAL;
		out[o++] = (uint8_t)(w >> 16);
		if (o < olen)
			out[o++] = (uint8_t)(w >> 8);
		if (o < olen)
			out[o++] = (uint8_t)w;
	}
	return (int)olen;
}

int
chap_decode(const char *s, uint8_t *out, size_t out_size)
{
	size_t n;

	if (!s || !out)
		return -EINVAL;
	n = strnlen(s, CHAP_MAX_ENCODED_LEN + 1);
	if (n > CHAP_MAX_ENCODED_LEN)
		return -EMSGSIZE;
	if (n < 3 || s[0] != '0')
		return -EINVAL;
	if (out_size > CHAP_MAX_VALUE_LEN)
		out_size = CHAP_MAX_VALUE_LEN;
	switch (s[1]) {
	case 'x':
	case 'X':
		return chap_decode_hex(s + 2, n - 2, out, out_size);
	case 'b':
	case 'B':
		return chap_decode_b64(s + 2, n - 2, out, out_size);
	default:
		return -EINVAL;
	}
}

int
chap_encode_hex(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 2;

	if (!in || !out || len == 0 || len > CHAP_MAX_VALUE_LEN)
		return -EINVAL;
	if (out_size < CHAP_HEX_ENCODED_SIZE(len))
		return -ENOSPC;
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		out[o++] = digits[in[i] >> 4];
		out[o++] = digits[in[i] & 0xf];
	}
	out[o] = '\0';
	return (int)o;
}

int
chap_encode_base64(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 2;

	if (!in || !out || len == 0 || len > CHAP_MAX_VALUE_LEN)
		return -EINVAL;
	if (out_size < CHAP_B64_ENCODED_SIZE(len))
		return -ENOSPC;
	out[0] = '0';
	out[1] = 'b';
	for (size_t i = 0; i < len; i += 3) {
		size_t rem = len - i;
		uint32_t w = (uint32_t)in[i] << 16;

		if (rem > 1)
			w |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			w |= in[i + 2];
		out[o++] = alphabet[w >> 18 & 0x3f];
		out[o++] = alphabet[w >> 12 & 0x3f];
		out[o++] = rem > 1 ? alphabet[w >> 6 & 0x3f] : '=';
		out[o++] = rem > 2 ? alphabet[w & 0x3f] : '=';
	}
	out[o] = '\0';
	return (int)o;
}
