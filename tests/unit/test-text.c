/*
 * Unit tests for common/text.[ch]: key=value parsing with C-bit accumulation, building, and
 * the RFC 7143 negotiation engine in both roles.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/text.h"
#include "tests/unit/unit.h"

/* A text literal with embedded NULs: "K=V\0K2=V2\0" (the literal's own final NUL dropped). */
#define LIT(s) (s), (sizeof(s) - 1)

#define MAXP 64

/* ---- helpers ------------------------------------------------------------------------------ */

static struct text_pair g_pairs[MAXP];
static char g_reply[TEXT_REPLY_MIN];
static struct text_buf g_out;

/* Does the text in b contain exactly the pair "kv" (e.g. "MaxBurstLength=65536")? */
static bool
has_pair(const struct text_buf *b, const char *kv)
{
	size_t l = strlen(kv);
	size_t off = 0;
	while (off < b->len) {
		size_t pl = strnlen(b->buf + off, b->len - off);
		if (pl == l && memcmp(b->buf + off, kv, l) == 0)
			return true;
		off += pl + 1;
	}
	return false;
}

/* Is key present at all in b? */
static bool
has_key(const struct text_buf *b, const char *key)
{
	size_t l = strlen(key);
	size_t off = 0;
	while (off < b->len) {
		size_t pl = strnlen(b->buf + off, b->len - off);
		if (pl > l && memcmp(b->buf + off, key, l) == 0 && b->buf[off + l] == '=')
			return true;
		off += pl + 1;
	}
	return false;
}

static size_t
count_pairs(const struct text_buf *b)
{
	struct text_pair p[MAXP];
	int n = text_parse(b->buf, b->len, p, MAXP, NULL);
	CU_ASSERT(n >= 0);
	return n < 0 ? 0 : (size_t)n;
}

/* Parse text and feed it to n; the reply lands in g_out (reset first). */
static int
feed(struct text_neg *n, enum text_stage st, const char *text, size_t len)
{
	int np = text_parse(text, len, g_pairs, MAXP, NULL);
	CU_ASSERT_FATAL(np >= 0);
	text_buf_init(&g_out, g_reply, sizeof(g_reply));
	return text_neg_recv(n, st, g_pairs, (size_t)np, &g_out);
}

/* Target with defaults, already past a first request naming the initiator and target. */
static void
target_ready(struct text_neg *n, const struct text_local *l)
{
	text_neg_init(n, TEXT_ROLE_TARGET, l, true);
	CU_ASSERT_EQUAL_FATAL(feed(n, TEXT_STAGE_SECURITY,
				   LIT("InitiatorName=iqn.1993-08.org.debian:01:abc\0"
				       "TargetName=iqn.2003-01.org.example:t1\0"
				       "SessionType=Normal\0AuthMethod=None\0")),
			      0);
}

/* One operational-stage offer "key=value" to a default-ready target; returns recv status. */
static int
target_answer(const struct text_local *l, const char *text, size_t len, struct text_neg *n)
{
	target_ready(n, l);
	return feed(n, TEXT_STAGE_OPERATIONAL, text, len);
}

/* Initiator that has offered its operational keys (the offer text is discarded). */
static void
initiator_offered(struct text_neg *n, const struct text_local *l)
{
	char buf[TEXT_REPLY_MIN];
	struct text_buf b;
	text_neg_init(n, TEXT_ROLE_INITIATOR, l, true);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(text_neg_offer(n, TEXT_STAGE_SECURITY, &b), 0);
	CU_ASSERT_EQUAL_FATAL(feed(n, TEXT_STAGE_SECURITY, LIT("AuthMethod=None\0")), 0);
	CU_ASSERT_EQUAL_FATAL(text_neg_offer(n, TEXT_STAGE_OPERATIONAL, &b), 0);
}

static void
local_initiator(struct text_local *l)
{
	text_local_defaults(l);
	l->initiator_name = "iqn.2024-01.org.ballast:init";
	l->target_name = "iqn.2024-01.org.ballast:tgt";
}

/* ---- parsing ------------------------------------------------------------------------------ */

static void
test_parse_basic(void)
{
	static const char t[] = "A=1\0Bb.c-d+e@f_g=hello world\0Empty=\0";
	struct text_pair p[8];
	int n = text_parse(t, sizeof(t) - 1, p, 8, NULL);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT(text_pair_is(&p[0], "A"));
	CU_ASSERT_EQUAL(p[0].value_len, 1);
	CU_ASSERT_STRING_EQUAL(p[0].value, "1");
	CU_ASSERT(text_pair_is(&p[1], "Bb.c-d+e@f_g"));
	CU_ASSERT_STRING_EQUAL(p[1].value, "hello world");
	CU_ASSERT(text_pair_is(&p[2], "Empty"));
	CU_ASSERT_EQUAL(p[2].value_len, 0);
	CU_ASSERT_PTR_EQUAL(text_find(p, 3, "Empty"), &p[2]);
	CU_ASSERT_PTR_NULL(text_find(p, 3, "Missing"));
	CU_ASSERT_FALSE(text_pair_is(&p[1], "Bb"));
	/* Values may contain '='. */
	CU_ASSERT_EQUAL(text_parse(LIT("K=a=b\0"), p, 8, NULL), 1);
	CU_ASSERT_STRING_EQUAL(p[0].value, "a=b");
}

static void
test_parse_empty(void)
{
	struct text_pair p[4];
	CU_ASSERT_EQUAL(text_parse("", 0, p, 4, NULL), 0);
	CU_ASSERT_EQUAL(text_parse(LIT("\0\0"), p, 4, NULL), 0);
	CU_ASSERT_EQUAL(text_parse(LIT("\0A=1\0\0B=2\0"), p, 4, NULL), 2);
	CU_ASSERT_EQUAL(text_parse(LIT("A=1\0"), p, 0, NULL), -ENOSPC);
}

static void
test_parse_malformed(void)
{
	struct text_pair p[4];
	size_t off = 99;
	CU_ASSERT_EQUAL(text_parse(LIT("A=1\0NoEquals\0"), p, 4, &off), -EINVAL);
	CU_ASSERT_EQUAL(off, 4);
	CU_ASSERT_EQUAL(text_parse(LIT("A=1"), p, 4, &off), -EINVAL); /* no final NUL */
	CU_ASSERT_EQUAL(off, 0);
	CU_ASSERT_EQUAL(text_parse(LIT("=1\0"), p, 4, NULL), -EINVAL); /* empty key */
	CU_ASSERT_EQUAL(text_parse(LIT("_abc=1\0"), p, 4, NULL), -EINVAL);
	/* RFC 7144's iSCSIProtocolLevel starts with a lowercase letter. */
	CU_ASSERT_EQUAL(text_parse(LIT("iSCSIProtocolLevel=1\0"), p, 4, NULL), 1);
	CU_ASSERT_EQUAL(text_parse(LIT("1abc=1\0"), p, 4, NULL), -EINVAL);
	CU_ASSERT_EQUAL(text_parse(LIT("A b=1\0"), p, 4, NULL), -EINVAL);
	CU_ASSERT_EQUAL(text_parse(LIT("A#b=1\0"), p, 4, NULL), -EINVAL);
	CU_ASSERT_EQUAL(text_parse(LIT("X-#=1\0"), p, 4, NULL), -EINVAL);
	CU_ASSERT_EQUAL(text_parse(LIT("A\xff=1\0"), p, 4, NULL), -EINVAL);
	/* Extension keys. */
	CU_ASSERT_EQUAL(text_parse(LIT("X#iana.key=1\0X-com.example.k=v\0"), p, 4, NULL), 2);
}

static void
test_parse_limits(void)
{
	static char buf[2 * TEXT_VALUE_LARGE_MAX];
	struct text_pair p[2];
	size_t len;

	/* Key: 63 ok, 64 too long. */
	memset(buf, 'K', 64);
	buf[63] = '=';
	buf[64] = '\0';
	CU_ASSERT_EQUAL(text_parse(buf, 65, p, 2, NULL), 1);
	memset(buf, 'K', 64);
	buf[64] = '=';
	buf[65] = '\0';
	CU_ASSERT_EQUAL(text_parse(buf, 66, p, 2, NULL), -EMSGSIZE);

	/* Value: 255 ok, 256 too long for an ordinary key. */
	memcpy(buf, "TargetAlias=", 12);
	memset(buf + 12, 'v', 256);
	buf[12 + 255] = '\0';
	CU_ASSERT_EQUAL(text_parse(buf, 12 + 256, p, 2, NULL), 1);
	CU_ASSERT_EQUAL(p[0].value_len, 255);
	buf[12 + 255] = 'v';
	buf[12 + 256] = '\0';
	CU_ASSERT_EQUAL(text_parse(buf, 12 + 257, p, 2, NULL), -EMSGSIZE);

	/* CHAP_C: large-binary-value, up to 8192 characters. */
	memcpy(buf, "CHAP_C=0x", 9);
	len = 7 + TEXT_VALUE_LARGE_MAX;
	memset(buf + 9, 'a', len - 9);
	buf[len] = '\0';
	CU_ASSERT_EQUAL(text_parse(buf, len + 1, p, 2, NULL), 1);
	CU_ASSERT_EQUAL(p[0].value_len, TEXT_VALUE_LARGE_MAX);
	buf[len] = 'a';
	buf[len + 1] = '\0';
	CU_ASSERT_EQUAL(text_parse(buf, len + 2, p, 2, NULL), -EMSGSIZE);
}

static void
test_value_decoders(void)
{
	uint64_t x;
	bool b;
	CU_ASSERT_EQUAL(text_value_u64(LIT("0"), &x), 0);
	CU_ASSERT_EQUAL(x, 0);
	CU_ASSERT_EQUAL(text_value_u64(LIT("262144"), &x), 0);
	CU_ASSERT_EQUAL(x, 262144);
	CU_ASSERT_EQUAL(text_value_u64(LIT("0x40000"), &x), 0);
	CU_ASSERT_EQUAL(x, 262144);
	CU_ASSERT_EQUAL(text_value_u64(LIT("0XfF"), &x), 0);
	CU_ASSERT_EQUAL(x, 255);
	CU_ASSERT_EQUAL(text_value_u64(LIT("18446744073709551615"), &x), 0);
	CU_ASSERT_EQUAL(x, UINT64_MAX);
	CU_ASSERT_EQUAL(text_value_u64(LIT("18446744073709551616"), &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_u64(LIT("0x10000000000000000"), &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_u64("", 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_u64(LIT("0x"), &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_u64(LIT("12a"), &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_u64(LIT("-1"), &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_u64(LIT(" 1"), &x), -EINVAL);
	CU_ASSERT_EQUAL(text_value_bool(LIT("Yes"), &b), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(text_value_bool(LIT("No"), &b), 0);
	CU_ASSERT_FALSE(b);
	CU_ASSERT_EQUAL(text_value_bool(LIT("yes"), &b), -EINVAL);
	CU_ASSERT_EQUAL(text_value_bool(LIT("Yes "), &b), -EINVAL);
	CU_ASSERT_EQUAL(text_value_bool("", 0, &b), -EINVAL);
}

/* A realistic open-iscsi operational request, used for the split tests. */
static const char sample[] = "HeaderDigest=None\0DataDigest=None\0ErrorRecoveryLevel=0\0"
			     "InitialR2T=No\0ImmediateData=Yes\0MaxBurstLength=16776192\0"
			     "FirstBurstLength=262144\0MaxConnections=1\0DataPDUInOrder=Yes\0"
			     "DataSequenceInOrder=Yes\0MaxOutstandingR2T=1\0DefaultTime2Wait=2\0"
			     "DefaultTime2Retain=0\0MaxRecvDataSegmentLength=262144\0"
			     "IFMarker=No\0OFMarker=No\0";

static void
check_same_pairs(const struct text_pair *a, int na, const struct text_pair *b, int nb)
{
	CU_ASSERT_EQUAL_FATAL(na, nb);
	for (int i = 0; i < na; i++) {
		CU_ASSERT_EQUAL(a[i].key_len, b[i].key_len);
		CU_ASSERT_EQUAL(a[i].value_len, b[i].value_len);
		CU_ASSERT(memcmp(a[i].key, b[i].key, a[i].key_len) == 0);
		CU_ASSERT(memcmp(a[i].value, b[i].value, a[i].value_len + 1) == 0);
	}
}

static void
test_accum_split_every_byte(void)
{
	const size_t len = sizeof(sample) - 1;
	struct text_pair ref[MAXP], got[MAXP];
	int nref = text_parse(sample, len, ref, MAXP, NULL);
	CU_ASSERT_EQUAL_FATAL(nref, 16);
	char store[512];
	struct text_accum a;

	/* Two PDUs, split at every byte position (pairs straddle the boundary). */
	for (size_t s = 0; s <= len; s++) {
		text_accum_init(&a, store, sizeof(store));
		CU_ASSERT_EQUAL_FATAL(text_accum_append(&a, sample, s), 0);
		CU_ASSERT_EQUAL_FATAL(text_accum_append(&a, sample + s, len - s), 0);
		int n = text_accum_parse(&a, got, MAXP, NULL);
		check_same_pairs(ref, nref, got, n);
	}
	/* Three PDUs, every pair of split positions. */
	for (size_t s = 0; s <= len; s++) {
		for (size_t t = s; t <= len; t++) {
			text_accum_reset(&a);
			CU_ASSERT_EQUAL_FATAL(text_accum_append(&a, sample, s), 0);
			CU_ASSERT_EQUAL_FATAL(text_accum_append(&a, sample + s, t - s), 0);
			CU_ASSERT_EQUAL_FATAL(text_accum_append(&a, sample + t, len - t), 0);
			int n = text_accum_parse(&a, got, MAXP, NULL);
			check_same_pairs(ref, nref, got, n);
		}
	}
	/* A prefix that ends inside a pair is incomplete: parsing it fails, not misparses. */
	text_accum_reset(&a);
	CU_ASSERT_EQUAL(text_accum_append(&a, sample, 20), 0);
	CU_ASSERT_EQUAL(text_accum_parse(&a, got, MAXP, NULL), -EINVAL);
}

static void
test_accum_cap(void)
{
	char store[16];
	struct text_accum a;
	text_accum_init(&a, store, sizeof(store));
	CU_ASSERT_EQUAL(text_accum_append(&a, "0123456789", 10), 0);
	CU_ASSERT_EQUAL(text_accum_append(&a, "0123456", 7), -E2BIG);
	CU_ASSERT_EQUAL(a.len, 10); /* nothing appended */
	CU_ASSERT_EQUAL(text_accum_append(&a, "012345", 6), 0);
	CU_ASSERT_EQUAL(a.len, 16);
	CU_ASSERT_EQUAL(text_accum_append(&a, "x", 1), -E2BIG);
	CU_ASSERT_EQUAL(text_accum_append(&a, "", 0), 0);
	text_accum_reset(&a);
	CU_ASSERT_EQUAL(a.len, 0);
	/* A peer sending an endless C-bit sequence hits the cap. */
	char big[TEXT_MIN_TOTAL];
	struct text_accum b;
	text_accum_init(&b, big, sizeof(big));
	int r = 0;
	unsigned pdus = 0;
	while ((r = text_accum_append(&b, sample, sizeof(sample) - 1)) == 0)
		pdus++;
	CU_ASSERT_EQUAL(r, -E2BIG);
	CU_ASSERT_EQUAL(pdus, TEXT_MIN_TOTAL / (sizeof(sample) - 1));
	CU_ASSERT(b.len <= TEXT_MIN_TOTAL);
}

/* ---- building ----------------------------------------------------------------------------- */

static void
test_build(void)
{
	char store[64];
	struct text_buf b;
	text_buf_init(&b, store, sizeof(store));
	CU_ASSERT_EQUAL(text_buf_add(&b, "A", "x"), 0);
	CU_ASSERT_EQUAL(text_buf_add_u64(&b, "N", 0), 0);
	CU_ASSERT_EQUAL(text_buf_add_u64(&b, "M", 16777215), 0);
	CU_ASSERT_EQUAL(text_buf_add_bool(&b, "Y", true), 0);
	CU_ASSERT_EQUAL(text_buf_add_bool(&b, "Z", false), 0);
	CU_ASSERT_EQUAL(b.len, sizeof("A=x\0N=0\0M=16777215\0Y=Yes\0Z=No\0") - 1);
	CU_ASSERT(memcmp(store, "A=x\0N=0\0M=16777215\0Y=Yes\0Z=No\0", b.len) == 0);

	/* Round trip through the parser. */
	struct text_pair p[8];
	CU_ASSERT_EQUAL_FATAL(text_parse(b.buf, b.len, p, 8, NULL), 5);
	uint64_t x;
	CU_ASSERT_EQUAL(text_value_u64(p[2].value, p[2].value_len, &x), 0);
	CU_ASSERT_EQUAL(x, 16777215);

	/* Invalid keys and values. */
	size_t before = b.len;
	CU_ASSERT_EQUAL(text_buf_add(&b, "_bad", "x"), -EINVAL);
	CU_ASSERT_EQUAL(text_buf_add(&b, "Bad Key", "x"), -EINVAL);
	CU_ASSERT_EQUAL(text_buf_add(&b, "", "x"), -EINVAL);
	CU_ASSERT_EQUAL(text_buf_add_len(&b, "K", "a\0b", 3), -EINVAL);
	CU_ASSERT_EQUAL(b.len, before);

	/* u64 max. */
	char s2[64];
	struct text_buf b2;
	text_buf_init(&b2, s2, sizeof(s2));
	CU_ASSERT_EQUAL(text_buf_add_u64(&b2, "U", UINT64_MAX), 0);
	CU_ASSERT_STRING_EQUAL(s2, "U=18446744073709551615");

	/* Regression: an empty value may come as NULL (memchr(NULL, ...) was undefined). */
	text_buf_init(&b2, s2, sizeof(s2));
	CU_ASSERT_EQUAL(text_buf_add_len(&b2, "E", NULL, 0), 0);
	CU_ASSERT_EQUAL(b2.len, sizeof("E=\0") - 1);
	CU_ASSERT(memcmp(s2, "E=\0", b2.len) == 0);
}

static void
test_build_overflow(void)
{
	char store[12];
	struct text_buf b;
	text_buf_init(&b, store, sizeof(store));
	CU_ASSERT_EQUAL(text_buf_add(&b, "Key", "123"), 0);    /* 8 bytes */
	CU_ASSERT_EQUAL(text_buf_add(&b, "K", "12"), -ENOSPC); /* needs 5, 4 left */
	CU_ASSERT_EQUAL(b.len, 8);			       /* atomic */
	CU_ASSERT_EQUAL(text_buf_add_u64(&b, "K", 100), -ENOSPC);
	CU_ASSERT_EQUAL(text_buf_add_bool(&b, "K", true), -ENOSPC);
	CU_ASSERT_EQUAL(text_buf_add(&b, "K", "1"), 0); /* exactly fills */
	CU_ASSERT_EQUAL(b.len, 12);
	CU_ASSERT_EQUAL(text_buf_add(&b, "K", ""), -ENOSPC);
	/* Zero-capacity buffer. */
	struct text_buf z;
	text_buf_init(&z, store, 0);
	CU_ASSERT_EQUAL(text_buf_add(&z, "K", "v"), -ENOSPC);
}

static void
test_keys(void)
{
	CU_ASSERT_EQUAL(text_key_lookup(LIT("MaxBurstLength")), TEXT_KEY_MAX_BURST_LENGTH);
	CU_ASSERT_EQUAL(text_key_lookup(LIT("maxburstlength")), -ENOENT);
	CU_ASSERT_EQUAL(text_key_lookup(LIT("CHAP_A")), -ENOENT);
	CU_ASSERT_EQUAL(text_key_lookup(LIT("iSCSIProtocolLevel")), TEXT_KEY_PROTOCOL_LEVEL);
	for (int k = 0; k < TEXT_KEY__COUNT; k++) {
		const char *name = text_key_name((enum text_key)k);
		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		CU_ASSERT_EQUAL(text_key_lookup(name, strlen(name)), k);
	}
	CU_ASSERT_PTR_NULL(text_key_name(TEXT_KEY__COUNT));
	CU_ASSERT_TRUE(text_key_is_auth(LIT("CHAP_R")));
	CU_ASSERT_FALSE(text_key_is_auth(LIT("AuthMethod")));
	CU_ASSERT_STRING_EQUAL(text_fail_str(TEXT_FAIL_DUPLICATE), "key sent more than once");
}

/* ---- negotiation: target answering -------------------------------------------------------- */

static void
test_target_login_open_iscsi(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	l.auth_methods = TEXT_AUTH_F_CHAP;
	l.target_portal_group_tag = 1;
	l.target_alias = "disk1";
	l.max_recv_dsl = 65536;
	l.max_xmit_dsl = 131072;
	l.max_burst = 1048576;
	l.first_burst = 65536;
	l.initial_r2t = false;
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);

	/* Security stage, first request. */
	CU_ASSERT_EQUAL_FATAL(feed(&n, TEXT_STAGE_SECURITY,
				   LIT("InitiatorName=iqn.1993-08.org.debian:01:abc\0"
				       "InitiatorAlias=host1\0"
				       "TargetName=iqn.2003-01.org.example:t1\0"
				       "SessionType=Normal\0AuthMethod=CHAP,None\0")),
			      0);
	CU_ASSERT(has_pair(&g_out, "AuthMethod=CHAP"));
	CU_ASSERT_EQUAL(count_pairs(&g_out), 1);
	CU_ASSERT_EQUAL(n.params.auth_method, TEXT_AUTH_CHAP);
	CU_ASSERT_STRING_EQUAL(n.params.initiator_name, "iqn.1993-08.org.debian:01:abc");
	CU_ASSERT_STRING_EQUAL(n.params.target_name, "iqn.2003-01.org.example:t1");
	CU_ASSERT_STRING_EQUAL(n.params.initiator_alias, "host1");
	CU_ASSERT_EQUAL(n.params.session_type, TEXT_SESSION_NORMAL);
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &g_out), 0);
	CU_ASSERT(has_pair(&g_out, "TargetPortalGroupTag=1"));
	CU_ASSERT(has_pair(&g_out, "TargetAlias=disk1"));
	CU_ASSERT_FALSE(has_key(&g_out, "MaxRecvDataSegmentLength"));

	/* CHAP keys are passed through untouched. */
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("CHAP_A=5\0")), 0);
	CU_ASSERT_EQUAL(g_out.len, 0);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY,
			     LIT("CHAP_N=user\0CHAP_R=0x0123456789abcdef0123456789abcdef\0")),
			0);
	CU_ASSERT_EQUAL(g_out.len, 0);

	/* Operational stage. */
	CU_ASSERT_EQUAL_FATAL(feed(&n, TEXT_STAGE_OPERATIONAL, sample, sizeof(sample) - 1), 0);
	CU_ASSERT(has_pair(&g_out, "HeaderDigest=None"));
	CU_ASSERT(has_pair(&g_out, "DataDigest=None"));
	CU_ASSERT(has_pair(&g_out, "ErrorRecoveryLevel=0"));
	CU_ASSERT(has_pair(&g_out, "InitialR2T=No"));
	CU_ASSERT(has_pair(&g_out, "ImmediateData=Yes"));
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=1048576"));
	CU_ASSERT(has_pair(&g_out, "FirstBurstLength=65536"));
	CU_ASSERT(has_pair(&g_out, "MaxConnections=1"));
	CU_ASSERT(has_pair(&g_out, "DataPDUInOrder=Yes"));
	CU_ASSERT(has_pair(&g_out, "DataSequenceInOrder=Yes"));
	CU_ASSERT(has_pair(&g_out, "MaxOutstandingR2T=1"));
	CU_ASSERT(has_pair(&g_out, "DefaultTime2Wait=2"));
	CU_ASSERT(has_pair(&g_out, "DefaultTime2Retain=0"));
	CU_ASSERT(has_pair(&g_out, "IFMarker=No"));
	CU_ASSERT(has_pair(&g_out, "OFMarker=No"));
	/* MaxRecvDataSegmentLength is a declaration: not answered, declared by our offer. */
	CU_ASSERT_FALSE(has_key(&g_out, "MaxRecvDataSegmentLength"));
	CU_ASSERT_EQUAL(count_pairs(&g_out), 15);
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &g_out), 0);
	CU_ASSERT(has_pair(&g_out, "MaxRecvDataSegmentLength=65536"));
	CU_ASSERT_EQUAL(count_pairs(&g_out), 16);
	CU_ASSERT_FALSE(text_neg_pending(&n));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
	CU_ASSERT_EQUAL(n.params.max_burst, 1048576);
	CU_ASSERT_EQUAL(n.params.first_burst, 65536);
	CU_ASSERT_FALSE(n.params.initial_r2t);
	CU_ASSERT_TRUE(n.params.immediate_data);
	CU_ASSERT_EQUAL(n.params.default_time2retain, 0);
	CU_ASSERT_EQUAL(n.params.peer_max_recv_dsl, 262144);
	CU_ASSERT_EQUAL(n.params.max_xmit_dsl, 131072); /* capped by our transmit limit */
	CU_ASSERT_EQUAL(n.params.max_recv_dsl, 65536);
	CU_ASSERT_FALSE(n.params.first_burst_irrelevant);
}

struct bool_case {
	const char *offer;
	bool local;
	const char *answer;
};

static void
run_bool_table(const char *key, const struct bool_case *c, size_t nc, bool and_fn)
{
	for (size_t i = 0; i < nc; i++) {
		struct text_local l;
		struct text_neg n;
		char text[64], want[64];
		text_local_defaults(&l);
		if (and_fn)
			l.immediate_data = c[i].local;
		else
			l.initial_r2t = c[i].local;
		int len = snprintf(text, sizeof(text), "%s=%s", key, c[i].offer);
		snprintf(want, sizeof(want), "%s=%s", key, c[i].answer);
		CU_ASSERT_EQUAL(target_answer(&l, text, (size_t)len + 1, &n), 0);
		CU_ASSERT(has_pair(&g_out, want));
	}
}

static void
test_target_booleans(void)
{
	static const struct bool_case and_tab[] = {
	    {"Yes", true, "Yes"},      {"Yes", false, "No"},	{"No", true, "No"},
	    {"No", false, "No"},       {"yes", true, "Reject"}, {"", true, "Reject"},
	    {"Maybe", true, "Reject"},
	};
	static const struct bool_case or_tab[] = {
	    {"Yes", true, "Yes"}, {"Yes", false, "Yes"},  {"No", true, "Yes"},
	    {"No", false, "No"},  {"1", false, "Reject"},
	};
	run_bool_table("ImmediateData", and_tab, ARRAY_SIZE(and_tab), true);
	run_bool_table("InitialR2T", or_tab, ARRAY_SIZE(or_tab), false);

	/* Markers are always No; their intervals Reject (RFC 7143 13.26); RDMAExtensions No. */
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	CU_ASSERT_EQUAL(target_answer(&l,
				      LIT("OFMarker=Yes\0IFMarker=Yes\0OFMarkInt=2048~8192\0"
					  "IFMarkInt=2048~8192\0RDMAExtensions=Yes\0"),
				      &n),
			0);
	CU_ASSERT(has_pair(&g_out, "OFMarker=No"));
	CU_ASSERT(has_pair(&g_out, "IFMarker=No"));
	CU_ASSERT(has_pair(&g_out, "OFMarkInt=Reject"));
	CU_ASSERT(has_pair(&g_out, "IFMarkInt=Reject"));
	CU_ASSERT(has_pair(&g_out, "RDMAExtensions=No"));
}

struct num_case {
	const char *text; /* offer "Key=value" */
	const char *answer;
};

static void
test_target_numbers(void)
{
	/* Local: defaults except MaxBurstLength 262144 (default), FirstBurst 65536. */
	static const struct num_case tab[] = {
	    /* min */
	    {"MaxBurstLength=1048576", "MaxBurstLength=262144"},
	    {"MaxBurstLength=4096", "MaxBurstLength=4096"},
	    {"MaxBurstLength=512", "MaxBurstLength=512"},
	    {"MaxBurstLength=511", "MaxBurstLength=Reject"},
	    {"MaxBurstLength=16777216", "MaxBurstLength=Reject"},
	    {"MaxBurstLength=0x1000", "MaxBurstLength=4096"},
	    {"MaxBurstLength=abc", "MaxBurstLength=Reject"},
	    {"MaxBurstLength=", "MaxBurstLength=Reject"},
	    {"MaxBurstLength=99999999999999999999999", "MaxBurstLength=Reject"},
	    {"MaxConnections=8", "MaxConnections=1"},
	    {"MaxConnections=0", "MaxConnections=Reject"},
	    {"MaxConnections=65536", "MaxConnections=Reject"},
	    {"MaxOutstandingR2T=16", "MaxOutstandingR2T=1"},
	    {"MaxOutstandingR2T=0", "MaxOutstandingR2T=Reject"},
	    {"ErrorRecoveryLevel=2", "ErrorRecoveryLevel=0"},
	    {"ErrorRecoveryLevel=3", "ErrorRecoveryLevel=Reject"},
	    {"DefaultTime2Retain=30", "DefaultTime2Retain=20"},
	    {"DefaultTime2Retain=0", "DefaultTime2Retain=0"},
	    {"DefaultTime2Retain=3601", "DefaultTime2Retain=Reject"},
	    /* max */
	    {"DefaultTime2Wait=0", "DefaultTime2Wait=2"},
	    {"DefaultTime2Wait=10", "DefaultTime2Wait=10"},
	    {"DefaultTime2Wait=3600", "DefaultTime2Wait=3600"},
	    {"DefaultTime2Wait=3601", "DefaultTime2Wait=Reject"},
	    /* RFC 7144 */
	    {"iSCSIProtocolLevel=2", "iSCSIProtocolLevel=1"},
	    {"iSCSIProtocolLevel=0", "iSCSIProtocolLevel=0"},
	    {"iSCSIProtocolLevel=32", "iSCSIProtocolLevel=Reject"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		struct text_local l;
		struct text_neg n;
		text_local_defaults(&l);
		CU_ASSERT_EQUAL(target_answer(&l, tab[i].text, strlen(tab[i].text) + 1, &n), 0);
		if (!has_pair(&g_out, tab[i].answer))
			fprintf(stderr, "\n  %s: expected %s\n", tab[i].text, tab[i].answer);
		CU_ASSERT(has_pair(&g_out, tab[i].answer));
		CU_ASSERT_EQUAL(count_pairs(&g_out), 1);
	}
}

static void
test_target_reject_keeps_value(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxBurstLength=100\0ErrorRecoveryLevel=9\0"), &n),
			0);
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=Reject"));
	CU_ASSERT_EQUAL(n.params.max_burst, 262144);
	CU_ASSERT_EQUAL(n.params.error_recovery_level, 0);

	/* Rejecting would leave the default 262144, beyond our 65536: failure instead. */
	l.max_burst = 65536;
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxBurstLength=100\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);
	CU_ASSERT_STRING_EQUAL(n.fail.value, "100");
	text_local_defaults(&l);
	l.immediate_data = false;
	CU_ASSERT_EQUAL(target_answer(&l, LIT("ImmediateData=maybe\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);
}

static void
test_target_first_burst(void)
{
	struct text_local l;
	struct text_neg n;

	/* RFC 7143 13.14: Irrelevant when InitialR2T=Yes and ImmediateData=No, whatever the
	 * order of the keys in the request. */
	text_local_defaults(&l);
	CU_ASSERT_EQUAL(target_answer(&l,
				      LIT("FirstBurstLength=65536\0InitialR2T=Yes\0"
					  "ImmediateData=No\0"),
				      &n),
			0);
	CU_ASSERT(has_pair(&g_out, "FirstBurstLength=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "InitialR2T=Yes"));
	CU_ASSERT(has_pair(&g_out, "ImmediateData=No"));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
	CU_ASSERT_TRUE(n.params.first_burst_irrelevant);

	/* ImmediateData=No forced by our local AND, InitialR2T=Yes forced by our OR. */
	text_local_defaults(&l);
	l.immediate_data = false;
	l.initial_r2t = true;
	CU_ASSERT_EQUAL(target_answer(&l,
				      LIT("InitialR2T=No\0ImmediateData=Yes\0"
					  "FirstBurstLength=65536\0"),
				      &n),
			0);
	CU_ASSERT(has_pair(&g_out, "FirstBurstLength=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "ImmediateData=No"));

	/* Relevant as soon as unsolicited data is possible. */
	text_local_defaults(&l);
	CU_ASSERT_EQUAL(target_answer(&l,
				      LIT("InitialR2T=Yes\0ImmediateData=Yes\0"
					  "FirstBurstLength=32768\0"),
				      &n),
			0);
	CU_ASSERT(has_pair(&g_out, "FirstBurstLength=32768"));

	/* FirstBurstLength <= MaxBurstLength, MaxBurstLength after it in the request. */
	text_local_defaults(&l);
	l.first_burst = 262144;
	CU_ASSERT_EQUAL(
	    target_answer(&l, LIT("FirstBurstLength=131072\0MaxBurstLength=8192\0"), &n), 0);
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=8192"));
	CU_ASSERT(has_pair(&g_out, "FirstBurstLength=8192"));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
	CU_ASSERT(n.params.first_burst <= n.params.max_burst);

	/* Local first_burst larger than local max_burst is clamped. */
	text_local_defaults(&l);
	l.first_burst = 1048576;
	l.max_burst = 131072;
	CU_ASSERT_EQUAL(target_answer(&l, LIT("FirstBurstLength=16777215\0"), &n), 0);
	CU_ASSERT(has_pair(&g_out, "FirstBurstLength=131072"));
}

static void
test_target_digests(void)
{
	static const struct {
		enum text_digest_pref pref;
		const char *offer;
		const char *answer; /* NULL: negotiation failure */
		bool crc;
	} tab[] = {
	    {TEXT_DIGEST_PREFER_NONE, "CRC32C,None", "CRC32C", true},
	    {TEXT_DIGEST_PREFER_CRC32C, "None,CRC32C", "None", false},
	    {TEXT_DIGEST_NONE_ONLY, "CRC32C,None", "None", false},
	    {TEXT_DIGEST_CRC32C_ONLY, "None,CRC32C", "CRC32C", true},
	    {TEXT_DIGEST_NONE_ONLY, "None", "None", false},
	    /* None only vs CRC32C only, from either side. */
	    {TEXT_DIGEST_NONE_ONLY, "CRC32C", "Reject", false},
	    {TEXT_DIGEST_CRC32C_ONLY, "None", NULL, false},
	    /* Unknown values are skipped. */
	    {TEXT_DIGEST_PREFER_CRC32C, "X-vendor,CRC32C", "CRC32C", true},
	    {TEXT_DIGEST_PREFER_CRC32C, "X-vendor", "Reject", false},
	    {TEXT_DIGEST_PREFER_CRC32C, "", "Reject", false},
	    {TEXT_DIGEST_PREFER_CRC32C, ",,None", "None", false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		for (int hd = 0; hd < 2; hd++) {
			struct text_local l;
			struct text_neg n;
			char text[64], want[64];
			const char *key = hd ? "HeaderDigest" : "DataDigest";
			text_local_defaults(&l);
			l.header_digest = tab[i].pref;
			l.data_digest = tab[i].pref;
			int len = snprintf(text, sizeof(text), "%s=%s", key, tab[i].offer);
			int r = target_answer(&l, text, (size_t)len + 1, &n);
			if (!tab[i].answer) {
				CU_ASSERT_EQUAL(r, -EPROTO);
				CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_NO_COMMON);
				CU_ASSERT_STRING_EQUAL(n.fail.key_name, key);
				continue;
			}
			CU_ASSERT_EQUAL(r, 0);
			snprintf(want, sizeof(want), "%s=%s", key, tab[i].answer);
			CU_ASSERT(has_pair(&g_out, want));
			CU_ASSERT_EQUAL(hd ? n.params.header_digest : n.params.data_digest,
					tab[i].crc);
		}
	}
}

static void
test_target_auth(void)
{
	struct text_local l;
	struct text_neg n;

	text_local_defaults(&l);
	l.auth_methods = TEXT_AUTH_F_CHAP | TEXT_AUTH_F_NONE;
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY,
			     LIT("InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0"
				 "AuthMethod=KRB5,SRP,None,CHAP\0")),
			0);
	CU_ASSERT(has_pair(&g_out, "AuthMethod=None"));
	CU_ASSERT_EQUAL(n.params.auth_method, TEXT_AUTH_NONE);

	/* We require CHAP; the initiator offers None only: authentication failure. */
	l.auth_methods = TEXT_AUTH_F_CHAP;
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY,
			     LIT("InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0AuthMethod=None\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_NO_COMMON);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_AUTH_METHOD);
	CU_ASSERT_EQUAL(n.fail.status_class, 0x02);
	CU_ASSERT_EQUAL(n.fail.status_detail, 0x01);
	/* Once failed, the object stays failed. */
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("AuthMethod=CHAP\0")), -EPROTO);

	/* No AuthMethod at all: not negotiated, the login code decides. */
	l.auth_methods = TEXT_AUTH_F_NONE;
	target_ready(&n, &l);
	CU_ASSERT_EQUAL(n.params.auth_method, TEXT_AUTH_NONE);
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(
	    feed(&n, TEXT_STAGE_OPERATIONAL, LIT("InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0")),
	    0);
	CU_ASSERT_EQUAL(n.params.auth_method, TEXT_AUTH_UNSET);
}

static void
test_target_unknown_keys(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	CU_ASSERT_EQUAL(target_answer(&l,
				      LIT("X-com.example.Foo=bar\0Bogus=1\0X#iana=2\0"
					  "TaskReporting=ResponseFence,RFC3720\0"
					  "TargetRecvDataSegmentLength=8192\0"
					  "InitiatorRecvDataSegmentLength=8192\0"
					  "MaxOutstandingUnexpectedPDUs=4\0"),
				      &n),
			0);
	CU_ASSERT(has_pair(&g_out, "X-com.example.Foo=NotUnderstood"));
	CU_ASSERT(has_pair(&g_out, "Bogus=NotUnderstood"));
	CU_ASSERT(has_pair(&g_out, "X#iana=NotUnderstood"));
	CU_ASSERT(has_pair(&g_out, "TaskReporting=RFC3720"));
	CU_ASSERT(has_pair(&g_out, "TargetRecvDataSegmentLength=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "InitiatorRecvDataSegmentLength=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "MaxOutstandingUnexpectedPDUs=Irrelevant"));
	/* Answers in the order of the request. */
	CU_ASSERT(memcmp(g_out.buf, "X-com.example.Foo=NotUnderstood", 31) == 0);

	CU_ASSERT_EQUAL(target_answer(&l, LIT("TaskReporting=FastAbort\0"), &n), 0);
	CU_ASSERT(has_pair(&g_out, "TaskReporting=Reject"));

	/* The number of NotUnderstood answers a peer can provoke is bounded. */
	char big[4096];
	size_t len = 0;
	for (int i = 0; i <= TEXT_MAX_UNKNOWN; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "X-k%d=v", i) + 1;
	CU_ASSERT_EQUAL(target_answer(&l, big, len, &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_TOO_MANY);
}

static void
test_target_duplicates(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);

	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxBurstLength=4096\0MaxBurstLength=8192\0"), &n),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_DUPLICATE);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_MAX_BURST_LENGTH);
	CU_ASSERT_STRING_EQUAL(n.fail.value, "8192");

	/* Across two PDU sequences of the same login. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("ImmediateData=Yes\0"), &n), 0);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("ImmediateData=No\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_DUPLICATE);

	/* Declarations too. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxRecvDataSegmentLength=8192\0"), &n), 0);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("MaxRecvDataSegmentLength=8192\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_DUPLICATE);

	/* Unknown keys. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("X-a=1\0X-b=1\0X-a=2\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_DUPLICATE);
	CU_ASSERT_STRING_EQUAL(n.fail.key_name, "X-a");
	CU_ASSERT_EQUAL(n.fail.key, -1);
}

static void
test_target_stages(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);

	/* Operational keys in the security stage. */
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY,
			     LIT("InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0AuthMethod=None\0"
				 "MaxBurstLength=4096\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_MAX_BURST_LENGTH);

	/* Security keys in the operational stage. */
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL,
			     LIT("InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0AuthMethod=None\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
	CU_ASSERT_EQUAL(target_answer(&l, LIT("CHAP_A=5\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
	CU_ASSERT_STRING_EQUAL(n.fail.key_name, "CHAP_A");

	/* SendTargets only in Full Feature Phase. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("SendTargets=All\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);

	/* Target-only keys from an initiator. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("TargetPortalGroupTag=1\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
	CU_ASSERT_EQUAL(target_answer(&l, LIT("TargetAlias=x\0"), &n), -EPROTO);

	/* Login keys in Full Feature Phase. */
	target_ready(&n, &l);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_FULL_FEATURE, LIT("MaxBurstLength=4096\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
}

/*
 * Regression: text_neg_recv() computed 1u << stage for whatever stage it was given (a CSG
 * from the wire): undefined for 32 and above. The reserved stage 2 and anything above Full
 * Feature Phase now fail the negotiation as a stage error, keys or not.
 */
static void
test_target_bad_stage(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);

	const unsigned bad[] = { 2, 4, 31, 32, 40, 0xffffffffu };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		target_ready(&n, &l);
		CU_ASSERT_EQUAL(feed(&n, (enum text_stage)bad[i], LIT("MaxBurstLength=4096\0")),
				-EPROTO);
		CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
		target_ready(&n, &l);
		CU_ASSERT_EQUAL(feed(&n, (enum text_stage)bad[i], LIT("\0")), -EPROTO);
		CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
	}
}

static void
test_target_missing(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);

	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("TargetName=iqn.x:t\0AuthMethod=None\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_MISSING);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_INITIATOR_NAME);
	CU_ASSERT_EQUAL(n.fail.status_class, 0x02);
	CU_ASSERT_EQUAL(n.fail.status_detail, 0x07);

	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("InitiatorName=iqn.x:i\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_TARGET_NAME);

	/* Discovery needs no TargetName. */
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(
	    feed(&n, TEXT_STAGE_SECURITY,
		 LIT("InitiatorName=iqn.x:i\0SessionType=Discovery\0AuthMethod=None\0")),
	    0);
	CU_ASSERT_EQUAL(n.params.session_type, TEXT_SESSION_DISCOVERY);

	/* Bad declarations. */
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(
	    feed(&n, TEXT_STAGE_SECURITY, LIT("InitiatorName=iqn.x:i\0SessionType=Bogus\0")),
	    -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_VALUE);
	char name[300];
	memcpy(name, "InitiatorName=", 14);
	memset(name + 14, 'n', 224);
	name[14 + 224] = '\0';
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, name, 14 + 224 + 1), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_VALUE);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_INITIATOR_NAME);
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("InitiatorName=\0TargetName=t\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_VALUE);
	/* A constant offered as if it were a value. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxBurstLength=Reject\0"), &n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_SYNTAX);
}

static void
test_target_discovery(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	l.target_portal_group_tag = 1;
	l.target_alias = "alias";
	text_neg_init(&n, TEXT_ROLE_TARGET, &l, true);
	/* SessionType after the keys it makes irrelevant, in one request. */
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL,
			     LIT("InitiatorName=iqn.x:i\0InitialR2T=No\0MaxBurstLength=4096\0"
				 "ErrorRecoveryLevel=0\0DefaultTime2Wait=5\0HeaderDigest=None\0"
				 "MaxConnections=4\0SessionType=Discovery\0"
				 "MaxRecvDataSegmentLength=32768\0")),
			0);
	CU_ASSERT(has_pair(&g_out, "InitialR2T=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "MaxConnections=Irrelevant"));
	CU_ASSERT(has_pair(&g_out, "ErrorRecoveryLevel=0"));
	CU_ASSERT(has_pair(&g_out, "DefaultTime2Wait=5"));
	CU_ASSERT(has_pair(&g_out, "HeaderDigest=None"));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &g_out), 0);
	CU_ASSERT(has_key(&g_out, "MaxRecvDataSegmentLength"));
	CU_ASSERT_FALSE(has_key(&g_out, "TargetPortalGroupTag"));
	CU_ASSERT_FALSE(has_key(&g_out, "TargetAlias"));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);

	/* Full Feature Phase: SendTargets, repeatedly. */
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_FULL_FEATURE, LIT("SendTargets=All\0")), 0);
	CU_ASSERT_TRUE(n.params.send_targets_requested);
	CU_ASSERT_STRING_EQUAL(n.params.send_targets, "All");
	CU_ASSERT_EQUAL(g_out.len, 0);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_FULL_FEATURE, LIT("SendTargets=iqn.x:t\0")), 0);
	CU_ASSERT_STRING_EQUAL(n.params.send_targets, "iqn.x:t");
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_FULL_FEATURE, LIT("X-foo=1\0")), 0);
	CU_ASSERT_FALSE(n.params.send_targets_requested);
	CU_ASSERT(has_pair(&g_out, "X-foo=NotUnderstood"));
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_FULL_FEATURE, LIT("SendTargets=All\0SendTargets=\0")),
			-EPROTO);
}

static void
test_mrdsl_per_direction(void)
{
	struct text_local li, lt;
	struct text_neg ni, nt;
	char buf[TEXT_REPLY_MIN];
	struct text_buf b;

	local_initiator(&li);
	li.max_recv_dsl = 262144;
	li.max_xmit_dsl = 16384;
	text_local_defaults(&lt);
	lt.max_recv_dsl = 65536;

	initiator_offered(&ni, &li);
	target_ready(&nt, &lt);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&nt, TEXT_STAGE_OPERATIONAL, &b), 0);
	CU_ASSERT(has_pair(&b, "MaxRecvDataSegmentLength=65536"));
	/* Initiator declares 262144, target 65536: each direction independent. */
	CU_ASSERT_EQUAL(feed(&nt, TEXT_STAGE_OPERATIONAL, LIT("MaxRecvDataSegmentLength=262144\0")),
			0);
	CU_ASSERT_EQUAL(g_out.len, 0); /* declarations are not answered */
	CU_ASSERT_EQUAL(feed(&ni, TEXT_STAGE_OPERATIONAL, LIT("MaxRecvDataSegmentLength=65536\0")),
			0);
	CU_ASSERT_EQUAL(nt.params.max_recv_dsl, 65536);
	CU_ASSERT_EQUAL(nt.params.peer_max_recv_dsl, 262144);
	CU_ASSERT_EQUAL(nt.params.max_xmit_dsl, 262144);
	CU_ASSERT_EQUAL(ni.params.max_recv_dsl, 262144);
	CU_ASSERT_EQUAL(ni.params.peer_max_recv_dsl, 65536);
	CU_ASSERT_EQUAL(ni.params.max_xmit_dsl, 16384); /* our transmit limit */

	/* Not declared: default 8192. */
	target_ready(&nt, &lt);
	CU_ASSERT_EQUAL(text_neg_finish(&nt), 0);
	CU_ASSERT_EQUAL(nt.params.max_xmit_dsl, 8192);

	/* Out of range declaration. */
	CU_ASSERT_EQUAL(target_answer(&lt, LIT("MaxRecvDataSegmentLength=511\0"), &nt), -EPROTO);
	CU_ASSERT_EQUAL(nt.fail.reason, TEXT_FAIL_VALUE);
	CU_ASSERT_EQUAL(target_answer(&lt, LIT("MaxRecvDataSegmentLength=16777216\0"), &nt),
			-EPROTO);
	CU_ASSERT_EQUAL(target_answer(&lt, LIT("MaxRecvDataSegmentLength=16777215\0"), &nt), 0);
	CU_ASSERT_EQUAL(nt.params.max_xmit_dsl, TEXT_DSL_MAX);
}

/* Whatever the initiator offers, the target never agrees beyond its local limits. */
static void
test_target_local_limits(void)
{
	static const uint32_t vals[] = {
	    0, 1, 2, 511, 512, 4096, 8191, 65536, 262144, 1048576, 16777215, 16777216, 4294967295u};
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	l.max_burst = 65536;
	l.first_burst = 16384;
	l.max_connections = 2;
	l.max_outstanding_r2t = 4;
	l.error_recovery_level = 1;
	l.default_time2retain = 10;
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
		char text[512];
		int len = snprintf(text, sizeof(text),
				   "MaxBurstLength=%u%cFirstBurstLength=%u%cMaxConnections=%u%c"
				   "MaxOutstandingR2T=%u%cErrorRecoveryLevel=%u%c"
				   "DefaultTime2Retain=%u%cImmediateData=Yes%c",
				   vals[i], 0, vals[i], 0, vals[i], 0, vals[i], 0, vals[i], 0,
				   vals[i], 0, 0);
		int r = target_answer(&l, text, (size_t)len, &n);
		if (r < 0) {
			/* Rejected offer whose default we cannot serve either. */
			CU_ASSERT_EQUAL(r, -EPROTO);
			CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);
			CU_ASSERT(vals[i] < 512 || vals[i] > 3600);
			continue;
		}
		CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
		CU_ASSERT(n.params.max_burst <= 65536);
		CU_ASSERT(n.params.first_burst <= 16384);
		CU_ASSERT(n.params.max_connections <= 2);
		CU_ASSERT(n.params.max_outstanding_r2t <= 4);
		CU_ASSERT(n.params.error_recovery_level <= 1);
		CU_ASSERT(n.params.default_time2retain <= 10);
		CU_ASSERT(n.params.first_burst <= n.params.max_burst);
	}
}

/* The initiator stays silent about a key whose default we cannot serve: the target offers it. */
static void
test_target_offers_limits(void)
{
	struct text_local l;
	struct text_neg n;
	text_local_defaults(&l);
	l.max_burst = 65536;
	l.first_burst = 16384;
	l.immediate_data = false;
	l.header_digest = TEXT_DIGEST_CRC32C_ONLY;
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxRecvDataSegmentLength=8192\0"), &n), 0);
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &g_out), 0);
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=65536"));
	CU_ASSERT(has_pair(&g_out, "ImmediateData=No"));
	/* InitialR2T=Yes (default) and ImmediateData=No: FirstBurstLength is irrelevant. */
	CU_ASSERT_FALSE(has_key(&g_out, "FirstBurstLength"));
	CU_ASSERT(has_pair(&g_out, "HeaderDigest=CRC32C"));
	CU_ASSERT_FALSE(has_key(&g_out, "DataDigest"));
	CU_ASSERT_FALSE(has_key(&g_out, "InitialR2T"));
	CU_ASSERT_TRUE(text_neg_pending(&n));
	CU_ASSERT_EQUAL(text_neg_finish(&n), -EPROTO); /* answers still owed */
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_MISSING);

	/* Legal answers complete it. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxRecvDataSegmentLength=8192\0"), &n), 0);
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &g_out), 0);
	CU_ASSERT_EQUAL(
	    feed(&n, TEXT_STAGE_OPERATIONAL, LIT("MaxBurstLength=32768\0HeaderDigest=CRC32C\0")),
	    0);
	CU_ASSERT_EQUAL(g_out.len, 0);
	CU_ASSERT_FALSE(text_neg_pending(&n));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
	CU_ASSERT_EQUAL(n.params.max_burst, 32768);
	CU_ASSERT_FALSE(n.params.immediate_data);
	CU_ASSERT_TRUE(n.params.header_digest);

	/* An illegal answer (more than we offered) fails. */
	CU_ASSERT_EQUAL(target_answer(&l, LIT("MaxRecvDataSegmentLength=8192\0"), &n), 0);
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &g_out), 0);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("MaxBurstLength=131072\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_ILLEGAL_ANSWER);

	/* A login that never reaches the operational stage keeps defaults: refused. */
	target_ready(&n, &l);
	CU_ASSERT_EQUAL(text_neg_finish(&n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);
}

static void
test_target_secondary_connection(void)
{
	struct text_local l;
	struct text_neg lead, n;
	text_local_defaults(&l);
	l.max_connections = 4;
	target_ready(&lead, &l);
	CU_ASSERT_EQUAL(
	    feed(&lead, TEXT_STAGE_OPERATIONAL, LIT("MaxConnections=4\0MaxBurstLength=65536\0")),
	    0);
	CU_ASSERT_EQUAL(text_neg_finish(&lead), 0);

	text_neg_init(&n, TEXT_ROLE_TARGET, &l, false);
	text_neg_inherit(&n, &lead.params);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL,
			     LIT("InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0"
				 "HeaderDigest=None\0MaxBurstLength=4096\0")),
			0);
	CU_ASSERT(has_pair(&g_out, "HeaderDigest=None"));
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=Irrelevant"));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
	CU_ASSERT_EQUAL(n.params.max_burst, 65536);
	CU_ASSERT_EQUAL(n.params.max_connections, 4);
}

/* ---- negotiation: initiator offering ------------------------------------------------------ */

static void
test_initiator_offers(void)
{
	struct text_local l;
	struct text_neg n;
	char buf[TEXT_REPLY_MIN];
	struct text_buf b;

	local_initiator(&l);
	l.auth_methods = TEXT_AUTH_F_CHAP | TEXT_AUTH_F_NONE;
	l.initiator_alias = "host";
	l.header_digest = TEXT_DIGEST_PREFER_CRC32C;
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &b), 0);
	static const char sec[] = "InitiatorName=iqn.2024-01.org.ballast:init\0"
				  "InitiatorAlias=host\0TargetName=iqn.2024-01.org.ballast:tgt\0"
				  "SessionType=Normal\0AuthMethod=CHAP,None\0";
	CU_ASSERT_EQUAL(b.len, sizeof(sec) - 1);
	CU_ASSERT(memcmp(b.buf, sec, sizeof(sec) - 1) == 0);
	CU_ASSERT_TRUE(text_neg_pending(&n));
	/* Offered once only. */
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &b), 0);
	CU_ASSERT_EQUAL(b.len, 0);

	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY,
			     LIT("AuthMethod=CHAP\0TargetPortalGroupTag=1\0TargetAlias=disk\0")),
			0);
	CU_ASSERT_EQUAL(g_out.len, 0);
	CU_ASSERT_EQUAL(n.params.auth_method, TEXT_AUTH_CHAP);
	CU_ASSERT_EQUAL(n.params.target_portal_group_tag, 1);
	CU_ASSERT_STRING_EQUAL(n.params.target_alias, "disk");
	CU_ASSERT_FALSE(text_neg_pending(&n));

	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &b), 0);
	static const char *const want[] = {
	    "HeaderDigest=CRC32C,None", "DataDigest=None",	  "MaxRecvDataSegmentLength=8192",
	    "MaxConnections=1",		"InitialR2T=Yes",	  "ImmediateData=Yes",
	    "MaxBurstLength=262144",	"FirstBurstLength=65536", "DefaultTime2Wait=2",
	    "DefaultTime2Retain=20",	"MaxOutstandingR2T=1",	  "DataPDUInOrder=Yes",
	    "DataSequenceInOrder=Yes",	"ErrorRecoveryLevel=0",
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		CU_ASSERT(has_pair(&b, want[i]));
	CU_ASSERT_EQUAL(count_pairs(&b), ARRAY_SIZE(want));
	CU_ASSERT_FALSE(has_key(&b, "OFMarker"));

	/* Discovery: only what is relevant there. */
	l.session_type = TEXT_SESSION_DISCOVERY;
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &b), 0);
	CU_ASSERT(has_pair(&b, "SessionType=Discovery"));
	CU_ASSERT_FALSE(has_key(&b, "TargetName"));
	CU_ASSERT_FALSE(has_key(&b, "AuthMethod"));
	CU_ASSERT(has_key(&b, "DefaultTime2Wait"));
	CU_ASSERT(has_key(&b, "ErrorRecoveryLevel"));
	CU_ASSERT(has_key(&b, "MaxRecvDataSegmentLength"));
	CU_ASSERT_FALSE(has_key(&b, "MaxBurstLength"));
	CU_ASSERT_FALSE(has_key(&b, "InitialR2T"));
	CU_ASSERT_FALSE(has_key(&b, "MaxConnections"));

	/* Secondary connection: no session-wide keys, no SessionType. */
	l.session_type = TEXT_SESSION_NORMAL;
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, false);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &b), 0);
	CU_ASSERT(has_key(&b, "InitiatorName"));
	CU_ASSERT(has_key(&b, "TargetName"));
	CU_ASSERT_FALSE(has_key(&b, "SessionType"));
	CU_ASSERT(has_key(&b, "HeaderDigest"));
	CU_ASSERT_FALSE(has_key(&b, "MaxBurstLength"));

	/* Configured names obey the limits enforced on the peer. */
	char longname[TEXT_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	struct text_local bad = l;
	bad.initiator_name = longname;
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &bad, true);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &b), -EINVAL);
	longname[TEXT_NAME_MAX] = '\0';
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &bad, true);
	text_buf_init(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &b), 0);

	/* -ENOSPC: nothing partial, the offer resumes in the next buffer. */
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	char small[40];
	text_buf_init(&b, small, sizeof(small));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &b), -ENOSPC);
	CU_ASSERT_EQUAL(count_pairs(&b), 0);
	size_t total = 0;
	for (int i = 0; i < 10; i++) {
		text_buf_init(&b, buf, 64);
		int r = text_neg_offer(&n, TEXT_STAGE_SECURITY, &b);
		total += count_pairs(&b);
		if (r == 0)
			break;
		CU_ASSERT_EQUAL(r, -ENOSPC);
	}
	CU_ASSERT_EQUAL(total, 5);
}

struct answer_case {
	const char *answer;
	int result; /* 0 or -EPROTO */
	enum text_fail_reason reason;
};

static void
test_initiator_answers(void)
{
	static const struct answer_case tab[] = {
	    {"MaxBurstLength=65536", 0, TEXT_FAIL_NONE},
	    {"MaxBurstLength=262144", 0, TEXT_FAIL_NONE},
	    {"MaxBurstLength=262145", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"MaxBurstLength=511", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"MaxBurstLength=x", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"MaxBurstLength=Reject", 0, TEXT_FAIL_NONE},
	    {"MaxBurstLength=Irrelevant", 0, TEXT_FAIL_NONE},
	    {"MaxBurstLength=NotUnderstood", 0, TEXT_FAIL_NONE},
	    {"DefaultTime2Wait=1", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"DefaultTime2Wait=3600", 0, TEXT_FAIL_NONE},
	    {"DefaultTime2Wait=3601", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"ImmediateData=No", 0, TEXT_FAIL_NONE},
	    {"ImmediateData=Yes", 0, TEXT_FAIL_NONE},
	    {"ImmediateData=yes", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"InitialR2T=Yes", 0, TEXT_FAIL_NONE},
	    {"InitialR2T=No", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER}, /* we offered Yes (OR) */
	    {"HeaderDigest=None", 0, TEXT_FAIL_NONE},
	    {"HeaderDigest=CRC32C", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER}, /* not offered */
	    {"HeaderDigest=None,CRC32C", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"HeaderDigest=Reject", 0, TEXT_FAIL_NONE},
	    {"ErrorRecoveryLevel=NotUnderstood", 0, TEXT_FAIL_NONE},
	    {"MaxRecvDataSegmentLength=1024", 0, TEXT_FAIL_NONE},
	    {"MaxConnections=2", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	    {"MaxConnections=0", -EPROTO, TEXT_FAIL_ILLEGAL_ANSWER},
	};
	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		struct text_local l;
		struct text_neg n;
		local_initiator(&l);
		initiator_offered(&n, &l);
		int r = feed(&n, TEXT_STAGE_OPERATIONAL, tab[i].answer, strlen(tab[i].answer) + 1);
		if (r != tab[i].result)
			fprintf(stderr, "\n  %s: got %d\n", tab[i].answer, r);
		CU_ASSERT_EQUAL(r, tab[i].result);
		CU_ASSERT_EQUAL(n.fail.reason, tab[i].reason);
		CU_ASSERT_EQUAL(g_out.len, 0); /* answers are not answered */
	}

	/* Results recorded. */
	struct text_local l;
	struct text_neg n;
	local_initiator(&l);
	l.immediate_data = false;
	l.header_digest = TEXT_DIGEST_PREFER_CRC32C;
	initiator_offered(&n, &l);
	CU_ASSERT_TRUE(text_neg_pending(&n));
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL,
			     LIT("HeaderDigest=CRC32C\0DataDigest=None\0MaxConnections=1\0"
				 "InitialR2T=Yes\0MaxBurstLength=131072\0"
				 "FirstBurstLength=Irrelevant\0DefaultTime2Wait=4\0"
				 "DefaultTime2Retain=0\0MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
				 "DataSequenceInOrder=Yes\0ErrorRecoveryLevel=0\0"
				 "MaxRecvDataSegmentLength=131072\0TargetAlias=t\0")),
			0);
	/* ImmediateData=No determined the result (RFC 7143 6.2.2): no answer needed. */
	CU_ASSERT_FALSE(text_neg_pending(&n));
	CU_ASSERT_EQUAL(text_neg_finish(&n), 0);
	CU_ASSERT_TRUE(n.params.header_digest);
	CU_ASSERT_FALSE(n.params.data_digest);
	CU_ASSERT_FALSE(n.params.immediate_data);
	CU_ASSERT_TRUE(n.params.initial_r2t);
	CU_ASSERT_TRUE(n.params.first_burst_irrelevant);
	CU_ASSERT_EQUAL(n.params.max_burst, 131072);
	CU_ASSERT_EQUAL(n.params.default_time2wait, 4);
	CU_ASSERT_EQUAL(n.params.default_time2retain, 0);
	CU_ASSERT_EQUAL(n.params.peer_max_recv_dsl, 131072);
}

static void
test_initiator_reject_limits(void)
{
	struct text_local l;
	struct text_neg n;

	/* Reject keeps the default (262144): beyond our 65536, so the login fails. */
	local_initiator(&l);
	l.max_burst = 65536;
	initiator_offered(&n, &l);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("MaxBurstLength=Reject\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);
	CU_ASSERT_EQUAL(n.fail.key, TEXT_KEY_MAX_BURST_LENGTH);

	/* Within our limits: default kept. */
	local_initiator(&l);
	l.max_burst = 1048576;
	initiator_offered(&n, &l);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("MaxBurstLength=Reject\0")), 0);
	CU_ASSERT_EQUAL(n.params.max_burst, 262144);

	/* We insist on CRC32C; the target cannot: Reject leaves None. */
	local_initiator(&l);
	l.data_digest = TEXT_DIGEST_CRC32C_ONLY;
	initiator_offered(&n, &l);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("DataDigest=Reject\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);

	/* ImmediateData: we offered No; a Reject would bring back the default Yes. */
	local_initiator(&l);
	l.immediate_data = false;
	initiator_offered(&n, &l);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("ImmediateData=Reject\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_LIMIT);

	/* AuthMethod has no usable default. */
	local_initiator(&l);
	l.auth_methods = TEXT_AUTH_F_CHAP;
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	text_buf_init(&g_out, g_reply, sizeof(g_reply));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &g_out), 0);
	CU_ASSERT(has_pair(&g_out, "AuthMethod=CHAP"));
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("AuthMethod=Reject\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_NO_COMMON);
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	text_buf_init(&g_out, g_reply, sizeof(g_reply));
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_SECURITY, &g_out), 0);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_SECURITY, LIT("AuthMethod=None\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_ILLEGAL_ANSWER);

	/* Unanswered offer at the end of the login. */
	local_initiator(&l);
	initiator_offered(&n, &l);
	CU_ASSERT_EQUAL(text_neg_finish(&n), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_MISSING);
}

static void
test_initiator_answers_target_offers(void)
{
	struct text_local l;
	struct text_neg n;
	local_initiator(&l);
	l.max_burst = 131072;
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	/* The target starts negotiating keys we did not offer (yet). */
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL,
			     LIT("MaxBurstLength=1048576\0iSCSIProtocolLevel=2\0X-T=1\0"
				 "ImmediateData=No\0TargetPortalGroupTag=7\0")),
			0);
	CU_ASSERT(has_pair(&g_out, "MaxBurstLength=131072"));
	CU_ASSERT(has_pair(&g_out, "iSCSIProtocolLevel=1"));
	CU_ASSERT(has_pair(&g_out, "X-T=NotUnderstood"));
	CU_ASSERT(has_pair(&g_out, "ImmediateData=No"));
	CU_ASSERT_EQUAL(n.params.target_portal_group_tag, 7);
	/* Our own offer skips what has been negotiated already. */
	CU_ASSERT_EQUAL(text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &g_out), 0);
	/* 4 answers + 3 declarations + digests/MRDSL + 11 session keys - 2 already done */
	CU_ASSERT_EQUAL(count_pairs(&g_out), 4 + 3 + 3 + 11 - 2);
	/* Keys only a target sends, from an initiator's point of view. */
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("SessionType=Normal\0")), -EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_STAGE);
	text_neg_init(&n, TEXT_ROLE_INITIATOR, &l, true);
	CU_ASSERT_EQUAL(feed(&n, TEXT_STAGE_OPERATIONAL, LIT("TargetPortalGroupTag=65536\0")),
			-EPROTO);
	CU_ASSERT_EQUAL(n.fail.reason, TEXT_FAIL_VALUE);
}

/* Our initiator against our target, exchange by exchange, until both are done. */
static void
loop_login(const struct text_local *li, const struct text_local *lt, struct text_neg *ni,
	   struct text_neg *nt)
{
	static char b1[TEXT_REPLY_MIN], b2[TEXT_REPLY_MIN];
	struct text_buf req, rsp;
	struct text_pair p[MAXP];
	int np;

	text_neg_init(ni, TEXT_ROLE_INITIATOR, li, true);
	text_neg_init(nt, TEXT_ROLE_TARGET, lt, true);
	text_buf_init(&req, b1, sizeof(b1));
	for (enum text_stage st = TEXT_STAGE_SECURITY; st <= TEXT_STAGE_OPERATIONAL; st++) {
		CU_ASSERT_EQUAL_FATAL(text_neg_offer(ni, st, &req), 0);
		for (int round = 0; round < 4; round++) {
			np = text_parse(req.buf, req.len, p, MAXP, NULL);
			CU_ASSERT_FATAL(np >= 0);
			text_buf_init(&rsp, b2, sizeof(b2));
			CU_ASSERT_EQUAL_FATAL(text_neg_recv(nt, st, p, (size_t)np, &rsp), 0);
			CU_ASSERT_EQUAL_FATAL(text_neg_offer(nt, st, &rsp), 0);
			np = text_parse(rsp.buf, rsp.len, p, MAXP, NULL);
			CU_ASSERT_FATAL(np >= 0);
			text_buf_init(&req, b1, sizeof(b1));
			CU_ASSERT_EQUAL_FATAL(text_neg_recv(ni, st, p, (size_t)np, &req), 0);
			CU_ASSERT_EQUAL_FATAL(text_neg_offer(ni, st, &req), 0);
			if (req.len == 0 && !text_neg_pending(ni) && !text_neg_pending(nt))
				break;
		}
	}
	CU_ASSERT_EQUAL(text_neg_finish(ni), 0);
	CU_ASSERT_EQUAL(text_neg_finish(nt), 0);
}

static void
check_agree(const struct text_neg *ni, const struct text_neg *nt)
{
	const struct text_params *a = &ni->params, *b = &nt->params;
	CU_ASSERT_EQUAL(a->auth_method, b->auth_method);
	CU_ASSERT_EQUAL(a->header_digest, b->header_digest);
	CU_ASSERT_EQUAL(a->data_digest, b->data_digest);
	CU_ASSERT_EQUAL(a->max_connections, b->max_connections);
	CU_ASSERT_EQUAL(a->initial_r2t, b->initial_r2t);
	CU_ASSERT_EQUAL(a->immediate_data, b->immediate_data);
	CU_ASSERT_EQUAL(a->max_burst, b->max_burst);
	CU_ASSERT_EQUAL(a->first_burst, b->first_burst);
	CU_ASSERT_EQUAL(a->default_time2wait, b->default_time2wait);
	CU_ASSERT_EQUAL(a->default_time2retain, b->default_time2retain);
	CU_ASSERT_EQUAL(a->max_outstanding_r2t, b->max_outstanding_r2t);
	CU_ASSERT_EQUAL(a->data_pdu_in_order, b->data_pdu_in_order);
	CU_ASSERT_EQUAL(a->data_sequence_in_order, b->data_sequence_in_order);
	CU_ASSERT_EQUAL(a->error_recovery_level, b->error_recovery_level);
	/* Declared per direction: what one receives is what the other may send. */
	CU_ASSERT_EQUAL(a->peer_max_recv_dsl, b->max_recv_dsl);
	CU_ASSERT_EQUAL(b->peer_max_recv_dsl, a->max_recv_dsl);
}

static void
test_loopback(void)
{
	struct text_local li, lt;
	struct text_neg ni, nt;

	local_initiator(&li);
	li.auth_methods = TEXT_AUTH_F_CHAP | TEXT_AUTH_F_NONE;
	li.header_digest = TEXT_DIGEST_PREFER_CRC32C;
	li.data_digest = TEXT_DIGEST_PREFER_NONE;
	li.max_recv_dsl = 262144;
	li.max_burst = 16776192;
	li.first_burst = 262144;
	li.initial_r2t = false;
	li.default_time2retain = 0;
	li.error_recovery_level = 2;
	text_local_defaults(&lt);
	lt.auth_methods = TEXT_AUTH_F_NONE;
	lt.header_digest = TEXT_DIGEST_PREFER_NONE;
	lt.data_digest = TEXT_DIGEST_PREFER_CRC32C;
	lt.max_recv_dsl = 65536;
	lt.max_burst = 1048576;
	lt.first_burst = 65536;
	lt.initial_r2t = false;
	lt.error_recovery_level = 1;
	lt.target_portal_group_tag = 3;
	loop_login(&li, &lt, &ni, &nt);
	check_agree(&ni, &nt);
	CU_ASSERT_EQUAL(ni.params.auth_method, TEXT_AUTH_NONE);
	CU_ASSERT_TRUE(ni.params.header_digest); /* initiator's order: CRC32C first */
	CU_ASSERT_FALSE(ni.params.data_digest);	 /* initiator's order: None first */
	CU_ASSERT_EQUAL(ni.params.max_burst, 1048576);
	CU_ASSERT_EQUAL(ni.params.first_burst, 65536);
	CU_ASSERT_FALSE(ni.params.initial_r2t);
	CU_ASSERT_EQUAL(ni.params.error_recovery_level, 1);
	CU_ASSERT_EQUAL(ni.params.default_time2retain, 0);
	CU_ASSERT_EQUAL(ni.params.target_portal_group_tag, 3);
	CU_ASSERT_STRING_EQUAL(nt.params.initiator_name, "iqn.2024-01.org.ballast:init");

	/* Target limits the initiator does not know about: the target offers them. */
	local_initiator(&li);
	text_local_defaults(&lt);
	lt.max_burst = 65536;
	lt.first_burst = 8192;
	lt.immediate_data = false;
	lt.data_digest = TEXT_DIGEST_CRC32C_ONLY;
	li.data_digest = TEXT_DIGEST_PREFER_NONE;
	loop_login(&li, &lt, &ni, &nt);
	check_agree(&ni, &nt);
	CU_ASSERT_EQUAL(nt.params.max_burst, 65536);
	CU_ASSERT_TRUE(nt.params.first_burst_irrelevant);
	CU_ASSERT_FALSE(nt.params.immediate_data);
	CU_ASSERT_TRUE(nt.params.data_digest);
}

static const struct unit_test parse_tests[] = {
    {"basic", test_parse_basic},
    {"empty", test_parse_empty},
    {"malformed", test_parse_malformed},
    {"limits", test_parse_limits},
    {"value decoders", test_value_decoders},
    {"accumulation split at every byte", test_accum_split_every_byte},
    {"accumulation cap", test_accum_cap},
    {NULL, NULL},
};

static const struct unit_test build_tests[] = {
    {"build", test_build},
    {"overflow", test_build_overflow},
    {"keys", test_keys},
    {NULL, NULL},
};

static const struct unit_test target_tests[] = {
    {"open-iscsi login", test_target_login_open_iscsi},
    {"booleans AND/OR", test_target_booleans},
    {"numbers min/max/range", test_target_numbers},
    {"reject keeps value", test_target_reject_keeps_value},
    {"FirstBurstLength interplay", test_target_first_burst},
    {"digest lists", test_target_digests},
    {"AuthMethod", test_target_auth},
    {"unknown keys", test_target_unknown_keys},
    {"duplicates", test_target_duplicates},
    {"stages and senders", test_target_stages},
    {"out-of-range stage", test_target_bad_stage},
    {"missing/invalid declarations", test_target_missing},
    {"discovery and SendTargets", test_target_discovery},
    {"MaxRecvDataSegmentLength per direction", test_mrdsl_per_direction},
    {"local limits never exceeded", test_target_local_limits},
    {"target offers its limits", test_target_offers_limits},
    {"secondary connection", test_target_secondary_connection},
    {NULL, NULL},
};

static const struct unit_test initiator_tests[] = {
    {"offers", test_initiator_offers},
    {"answers checked", test_initiator_answers},
    {"Reject vs local limits", test_initiator_reject_limits},
    {"answers target offers", test_initiator_answers_target_offers},
    {"loopback login", test_loopback},
    {NULL, NULL},
};

static const struct unit_suite suites[] = {
    {"text parse", parse_tests},
    {"text build", build_tests},
    {"text negotiation target", target_tests},
    {"text negotiation initiator", initiator_tests},
    {NULL, NULL},
};

int
main(void)
{
	return unit_run(suites);
}
