/*
 * Fuzz target for the PDU codec. The first 48 bytes are a BHS, decoded as both sides with and
 * without limits; the rest is fed to the AHS parser. Properties checked:
 * - decode returns 0 or -EBADMSG, and a defect exactly when it fails;
 * - a header that decodes re-encodes to bytes that decode again to the same header
 *   (encode(decode(encode(decode(x)))) == encode(decode(x)));
 * - AHS that parses rebuilds to an AHS that parses to the same CDB and bidi length.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pdu.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void
fuzz_bhs(const uint8_t *bhs, enum pdu_side side, const struct pdu_limits *limits)
{
	struct pdu_hdr h, h2;
	struct pdu_err err, err2;
	uint8_t wire[PDU_BHS_LEN], wire2[PDU_BHS_LEN];

	int r = pdu_decode(bhs, side, limits, &h, &err);
	CHECK(r == 0 || r == -EBADMSG);
	CHECK((r == 0) == (err.defect == PDU_OK));
	CHECK((unsigned)err.defect < PDU_DEFECT__COUNT);
	CHECK(pdu_defect_str(err.defect) != NULL);
	CHECK(pdu_opcode_str(h.opcode) != NULL);
	CHECK(h.opcode == (bhs[0] & PDU_OPCODE_MASK));
	/* The result never depends on whether err is supplied. */
	CHECK(pdu_decode(bhs, side, limits, &h2, NULL) == r);
	if (r != 0)
		return;

	CHECK(h.data_len <= PDU_MAX_DATA_LEN);
	CHECK(!h.immediate || pdu_may_be_immediate(h.opcode));
	(void)pdu_wire_len(&h, true, true);

	pdu_encode(&h, wire);
	CHECK(pdu_decode(wire, side, limits, &h2, &err2) == 0);
	pdu_encode(&h2, wire2);
	CHECK(memcmp(wire, wire2, PDU_BHS_LEN) == 0);
	CHECK(h2.opcode == h.opcode && h2.flags == h.flags && h2.itt == h.itt &&
	      h2.data_len == h.data_len && h2.ahs_words == h.ahs_words && h2.lun == h.lun &&
	      h2.immediate == h.immediate);
}

static void
fuzz_ahs(const uint8_t *ahs, size_t len)
{
	struct pdu_ahs a, b;
	struct pdu_err err;
	uint8_t cdb[PDU_MAX_CDB_LEN];
	uint8_t buf[PDU_MAX_AHS_LEN];

	int r = pdu_ahs_parse(ahs, len, &a, &err);
	CHECK(r == 0 || (r == -EBADMSG && err.defect == PDU_DEFECT_AHS_MALFORMED));
	if (r != 0)
		return;
	CHECK(a.cdb_len >= 16 && a.cdb_len <= PDU_MAX_CDB_LEN);

	memset(cdb, 0, 16);
	memcpy(cdb + 16, a.cdb_ext, a.cdb_len - 16u);
	int n = pdu_ahs_build(buf, sizeof(buf), cdb, a.cdb_len,
			      a.has_bidi_read_len ? (int64_t)a.bidi_read_len : -1);
	CHECK(n >= 0 && n % 4 == 0);
	CHECK(pdu_ahs_parse(buf, (size_t)n, &b, &err) == 0);
	/* A 16-byte "extended" CDB (AHSLength 1) rebuilds as no AHS: same CDB either way. */
	CHECK(b.cdb_len == a.cdb_len);
	CHECK(memcmp(b.cdb_ext, a.cdb_ext, a.cdb_len - 16u) == 0);
	CHECK(b.has_bidi_read_len == a.has_bidi_read_len);
	CHECK(b.bidi_read_len == a.bidi_read_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pdu_limits tight = { .max_data_len = 8192, .max_ahs_len = 16 };

	if (size < PDU_BHS_LEN) {
		fuzz_ahs(data, size);
		return 0;
	}
	fuzz_bhs(data, PDU_SIDE_TARGET, NULL);
	fuzz_bhs(data, PDU_SIDE_INITIATOR, NULL);
	fuzz_bhs(data, PDU_SIDE_TARGET, &tight);
	fuzz_bhs(data, PDU_SIDE_INITIATOR, &tight);

	size_t ahs_len = size - PDU_BHS_LEN;
	if (ahs_len > PDU_MAX_AHS_LEN + 4)
		ahs_len = PDU_MAX_AHS_LEN + 4;
	fuzz_ahs(data + PDU_BHS_LEN, ahs_len);
	return 0;
}
