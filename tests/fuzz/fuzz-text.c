/*
 * Fuzz target for common/text.[ch]: the parser (direct and through C-bit accumulation split
 * at a fuzzer-chosen byte), then the negotiation engine in both roles.
 *
 * Input: byte 0 = control (bits 0-1 stage, bit 2 discovery, bit 3 secondary connection,
 * bit 4 pre-feed a valid first request to the target, bits 5-7 local configuration variant),
 * byte 1 = accumulation split point, the rest = the peer's text. Invariants are checked with
 * abort() so that any violation is a crash the fuzzer reports.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/text.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_PAIRS 256
#define FUZZ_ACCUM_CAP (4 * TEXT_MIN_TOTAL)

static void
check(bool cond)
{
	if (!cond)
		abort();
}

static void
local_variant(struct text_local *l, unsigned v, bool discovery)
{
	text_local_defaults(l);
	l->initiator_name = "iqn.2024-01.org.ballast:fuzz-i";
	l->target_name = "iqn.2024-01.org.ballast:fuzz-t";
	l->session_type = discovery ? TEXT_SESSION_DISCOVERY : TEXT_SESSION_NORMAL;
	l->target_portal_group_tag = 1;
	switch (v & 7) {
	case 1:
		l->auth_methods = TEXT_AUTH_F_CHAP;
		l->header_digest = TEXT_DIGEST_CRC32C_ONLY;
		l->data_digest = TEXT_DIGEST_PREFER_CRC32C;
		break;
	case 2:
		l->max_burst = 65536;
		l->first_burst = 16384;
		l->immediate_data = false;
		l->max_recv_dsl = 65536;
		l->max_xmit_dsl = 65536;
		break;
	case 3:
		l->initial_r2t = false;
		l->max_connections = 4;
		l->max_outstanding_r2t = 8;
		l->error_recovery_level = 2;
		l->default_time2retain = 0;
		break;
	case 4:
		l->auth_methods = TEXT_AUTH_F_CHAP | TEXT_AUTH_F_NONE;
		l->header_digest = TEXT_DIGEST_PREFER_NONE;
		l->data_digest = TEXT_DIGEST_PREFER_NONE;
		l->target_alias = "fuzz";
		l->initiator_alias = "fuzz";
		break;
	case 5:
		/* Out-of-range configuration: the engine clamps it. */
		l->max_burst = 1;
		l->first_burst = 0xffffffffu;
		l->max_recv_dsl = 0;
		l->max_xmit_dsl = 0xffffffffu;
		l->error_recovery_level = 7;
		break;
	default:
		break;
	}
}

/* Results never exceed what our configuration allows. */
static void
check_limits(const struct text_neg *n)
{
	const struct text_params *p = &n->params;
	const struct text_local *l = &n->local;

	check(p->max_recv_dsl == l->max_recv_dsl);
	check(p->max_xmit_dsl <= l->max_xmit_dsl && p->max_xmit_dsl >= TEXT_DSL_MIN);
	if (!n->leading || p->session_type == TEXT_SESSION_DISCOVERY)
		return;
	check(p->max_burst <= l->max_burst && p->max_burst >= TEXT_DSL_MIN);
	check(p->first_burst <= p->max_burst);
	if (!p->first_burst_irrelevant)
		check(p->first_burst <= l->first_burst);
	check(p->max_connections <= l->max_connections);
	check(p->max_outstanding_r2t <= l->max_outstanding_r2t);
	check(p->error_recovery_level <= l->error_recovery_level);
	check(p->default_time2retain <= l->default_time2retain);
	check(p->default_time2wait <= 3600);
	check(!p->immediate_data || l->immediate_data);
	check(p->initial_r2t || !l->initial_r2t);
	check(p->data_pdu_in_order || !l->data_pdu_in_order);
	check(!p->header_digest || l->header_digest != TEXT_DIGEST_NONE_ONLY);
	check(p->header_digest || l->header_digest != TEXT_DIGEST_CRC32C_ONLY);
}

static void
run_role(enum text_role role, unsigned ctl, const struct text_pair *pairs, size_t np)
{
	static const enum text_stage stages[4] = {TEXT_STAGE_SECURITY, TEXT_STAGE_OPERATIONAL,
						  TEXT_STAGE_FULL_FEATURE, TEXT_STAGE_OPERATIONAL};
	static char replybuf[TEXT_REPLY_MIN];
	static struct text_pair rp[FUZZ_MAX_PAIRS];
	enum text_stage st = stages[ctl & 3];
	bool discovery = ctl & 4;
	bool leading = !(ctl & 8);
	struct text_local l;
	struct text_neg n;
	struct text_buf reply;
	int r;

	local_variant(&l, ctl >> 5, discovery);
	text_neg_init(&n, role, &l, leading);
	text_buf_init(&reply, replybuf, sizeof(replybuf));
	if (role == TEXT_ROLE_INITIATOR) {
		/* We spoke first: the input is the target's response to our offers. */
		r = text_neg_offer(&n, TEXT_STAGE_SECURITY, &reply);
		check(r == 0);
		if (st != TEXT_STAGE_SECURITY) {
			text_buf_init(&reply, replybuf, sizeof(replybuf));
			r = text_neg_offer(&n, TEXT_STAGE_OPERATIONAL, &reply);
			check(r == 0);
		}
	} else if (ctl & 0x10) {
		static const char first[] = "InitiatorName=iqn.x:i\0TargetName=iqn.x:t\0";
		struct text_pair fp[2];
		check(text_parse(first, sizeof(first) - 1, fp, 2, NULL) == 2);
		check(text_neg_recv(&n, TEXT_STAGE_SECURITY, fp, 2, &reply) == 0);
	}

	text_buf_init(&reply, replybuf, sizeof(replybuf));
	r = text_neg_recv(&n, st, pairs, np, &reply);
	/* TEXT_REPLY_MIN always holds the answers: -ENOSPC would be a contract violation. */
	check(r == 0 || r == -EPROTO);
	if (r < 0) {
		check(n.fail.reason != TEXT_FAIL_NONE);
		check(text_fail_str(n.fail.reason) != NULL);
		check(strlen(n.fail.key_name) <= TEXT_KEY_MAX);
		check(text_neg_finish(&n) == -EPROTO);
		return;
	}
	r = text_neg_offer(&n, st, &reply);
	check(r == 0);
	/* Our reply is always well-formed text. */
	int nr = text_parse(reply.buf, reply.len, rp, FUZZ_MAX_PAIRS, NULL);
	check(nr >= 0);
	if (text_neg_finish(&n) == 0)
		check_limits(&n);
	/* The same text again is a renegotiation during login: never crashes. */
	text_buf_init(&reply, replybuf, sizeof(replybuf));
	r = text_neg_recv(&n, st, pairs, np, &reply);
	check(r == 0 || r == -EPROTO);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct text_pair pairs[FUZZ_MAX_PAIRS], pairs2[FUZZ_MAX_PAIRS];
	static char accbuf[FUZZ_ACCUM_CAP];
	struct text_accum acc;

	if (size < 2)
		return 0;
	unsigned ctl = data[0];
	const char *text = (const char *)data + 2;
	size_t len = size - 2;
	size_t split = len ? (size_t)data[1] * len / 255 : 0;

	int n = text_parse(text, len, pairs, FUZZ_MAX_PAIRS, NULL);
	check(n >= 0 || n == -EINVAL || n == -EMSGSIZE || n == -ENOSPC);

	/* Accumulated in two pieces: same result as parsing in one piece. */
	text_accum_init(&acc, accbuf, sizeof(accbuf));
	int r1 = text_accum_append(&acc, text, split);
	int r2 = r1 == 0 ? text_accum_append(&acc, text + split, len - split) : r1;
	if (len > sizeof(accbuf)) {
		check(r1 == -E2BIG || r2 == -E2BIG);
		return 0;
	}
	check(r1 == 0 && r2 == 0 && acc.len == len);
	int n2 = text_accum_parse(&acc, pairs2, FUZZ_MAX_PAIRS, NULL);
	check(n2 == n);
	for (int i = 0; i < n; i++) {
		check(pairs[i].key_len == pairs2[i].key_len);
		check(pairs[i].value_len == pairs2[i].value_len);
		check(memcmp(pairs[i].key, pairs2[i].key, pairs[i].key_len) == 0);
		check(memcmp(pairs[i].value, pairs2[i].value, pairs[i].value_len) == 0);
		check(pairs[i].key_len >= 1 && pairs[i].key_len <= TEXT_KEY_MAX);
		check(pairs[i].value[pairs[i].value_len] == '\0');
		check(pairs[i].value_len <= TEXT_VALUE_LARGE_MAX);
	}
	if (n < 0)
		return 0;

	run_role(TEXT_ROLE_TARGET, ctl, pairs, (size_t)n);
	run_role(TEXT_ROLE_INITIATOR, ctl, pairs, (size_t)n);

	/* Rebuild the parsed pairs: the builder accepts everything the parser accepted. */
	static char rebuilt[FUZZ_ACCUM_CAP + 16];
	struct text_buf b;
	text_buf_init(&b, rebuilt, sizeof(rebuilt));
	for (int i = 0; i < n; i++) {
		char key[TEXT_KEY_MAX + 1];
		memcpy(key, pairs[i].key, pairs[i].key_len);
		key[pairs[i].key_len] = '\0';
		check(text_buf_add_len(&b, key, pairs[i].value, pairs[i].value_len) == 0);
	}
	check(text_parse(b.buf, b.len, pairs2, FUZZ_MAX_PAIRS, NULL) == n);
	return 0;
}
