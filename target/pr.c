/*
 * Persistent reservations (SPC-4 5.13, 6.15, 6.16) and SPC-2 RESERVE/RELEASE for one logical
 * unit, over the LU's fixed registration table. No allocation.
 */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <string.h>

#include "common/compiler.h"
#include "target/pr.h"
#include "target/scsi.h"
#include "target/scsi_lu.h"

#include "common/datapath.h"

/* PERSISTENT RESERVE OUT service actions. */
#define PROUT_REGISTER 0x00
#define PROUT_RESERVE 0x01
#define PROUT_RELEASE 0x02
#define PROUT_CLEAR 0x03
#define PROUT_PREEMPT 0x04
#define PROUT_PREEMPT_ABORT 0x05
#define PROUT_REGISTER_IGNORE 0x06
#define PROUT_REGISTER_MOVE 0x07

/* PERSISTENT RESERVE IN service actions. */
#define PRIN_READ_KEYS 0x00
#define PRIN_READ_RESERVATION 0x01
#define PRIN_REPORT_CAPABILITIES 0x02
#define PRIN_READ_FULL_STATUS 0x03

#define TARGET_ASC_INVALID_RELEASE 0x2604

static bool
type_valid(uint8_t type)
{
	return type == TARGET_PR_WE || type == TARGET_PR_EA || type == TARGET_PR_WE_RO ||
	       type == TARGET_PR_EA_RO || type == TARGET_PR_WE_AR || type == TARGET_PR_EA_AR;
}

static bool
type_all_reg(uint8_t type)
{
	return type == TARGET_PR_WE_AR || type == TARGET_PR_EA_AR;
}

static int
reg_by_slot(const struct target_pr *pr, int slot)
{
	if (slot < 0)
		return -1;
	for (unsigned i = 0; i < pr->nregs; i++)
		if (pr->regs[i].used && pr->regs[i].slot == slot)
			return (int)i;
	return -1;
}

static bool
reg_is(const struct target_pr_reg *r, const struct target_scsi_nexus *nx)
{
	return r->used && r->rel_port == nx->rel_port &&
	       memcmp(r->isid, nx->isid, sizeof(r->isid)) == 0 &&
	       strcmp(r->initiator, nx->initiator) == 0;
}

static int
reg_by_nexus(const struct target_pr *pr, const struct target_scsi_nexus *nx)
{
	if (!nx)
		return -1;
	for (unsigned i = 0; i < pr->nregs; i++)
		if (reg_is(&pr->regs[i], nx))
			return (int)i;
	return -1;
}

/* Whether registration r holds the reservation. */
static bool
is_holder(const struct target_pr *pr, int r)
{
	if (!pr->reserved || r < 0)
		return false;
	return type_all_reg(pr->type) || pr->holder == r;
}

bool
target_pr_conflict(struct target_lu *lu, int slot, enum target_pr_class cls)
{
	const struct target_pr *pr = &lu->pr;
	int r;

	if (cls == TARGET_PR_ALLOWED)
		return false;
	/* SPC-2 reservation held through another nexus: everything else conflicts; the
	 * RESERVE/RELEASE handlers decide for themselves. */
	if (pr->spc2_slot >= 0 && pr->spc2_slot != slot)
		return cls != TARGET_PR_SPC2;
	if (cls == TARGET_PR_SPC2 || cls == TARGET_PR_PROUT || !pr->reserved)
		return false;
	r = reg_by_slot(pr, slot);
	/* SPC-4 table 63 (5.13.1): write-type commands conflict unless the nexus holds the
	 * reservation (or, for registrants-only / all-registrants types, is registered);
	 * read-type commands conflict only under the Exclusive Access types. */
	switch (pr->type) {
	case TARGET_PR_WE:
	case TARGET_PR_EA:
		if (is_holder(pr, r))
			return false;
		return pr->type == TARGET_PR_EA || cls == TARGET_PR_WRITE;
	default:
		if (r >= 0)
			return false;
		return pr->type == TARGET_PR_EA_RO || pr->type == TARGET_PR_EA_AR ||
		       cls == TARGET_PR_WRITE;
	}
}

static void
conflict(struct target_scsi_cmd *cmd)
{
	cmd->status = TARGET_SCSI_RESERVATION_CONFLICT;
	cmd->sense_len = 0;
}

static void
ua_registrants(struct target_lu *lu, int except_reg, uint16_t asc)
{
	for (unsigned i = 0; i < lu->pr.nregs; i++)
		if (lu->pr.regs[i].used && (int)i != except_reg)
			target_lu_ua_add(lu, lu->pr.regs[i].slot, asc);
}

static void
release_reservation(struct target_pr *pr)
{
	pr->reserved = false;
	pr->type = 0;
	pr->holder = -1;
}

/* Removes registration r, releasing what it held (SPC-4 5.13.11.2.3). */
static void
unregister(struct target_lu *lu, int r)
{
	struct target_pr *pr = &lu->pr;
	bool holder = is_holder(pr, r);

	pr->regs[r].used = false;
	pr->regs[r].slot = -1;
	if (!holder)
		return;
	if (type_all_reg(pr->type)) {
		/* All-registrants: released with the last registration. */
		for (unsigned i = 0; i < pr->nregs; i++)
			if (pr->regs[i].used)
				return;
		release_reservation(pr);
		return;
	}
	if (pr->type == TARGET_PR_WE_RO || pr->type == TARGET_PR_EA_RO)
		ua_registrants(lu, -1, TARGET_ASC_RESERVATIONS_RELEASED);
	release_reservation(pr);
}

static int
reg_alloc(struct target_pr *pr, const struct target_scsi_nexus *nx, uint64_t key)
{
	for (unsigned i = 0; i < pr->nregs; i++) {
		struct target_pr_reg *r = &pr->regs[i];

		if (r->used)
			continue;
		memset(r, 0, sizeof(*r));
		r->used = true;
		r->key = key;
		memcpy(r->initiator, nx->initiator, sizeof(r->initiator));
		memcpy(r->isid, nx->isid, sizeof(r->isid));
		r->rel_port = nx->rel_port;
		r->slot = nx->slot;
		return (int)i;
	}
	return -1;
}

/* Parses an iSCSI TransportID (SPC-4 7.6.4.6) into nx; returns false if malformed. */
static bool
parse_transport_id(const uint8_t *t, uint32_t len, struct target_scsi_nexus *nx)
{
	uint32_t alen, i, j;
	const char *s;

	if (len < 4 || (t[0] & 0x0f) != 0x05)
		return false;
	alen = get_be16(t + 2);
	if (alen + 4 > len)
		return false;
	s = (const char *)t + 4;
	memset(nx, 0, sizeof(*nx));
	nx->slot = -1;
	for (i = 0; i < alen && s[i] && s[i] != ',' && i < TARGET_SCSI_NAME_MAX - 1; i++)
		nx->initiator[i] = s[i];
	if ((t[0] >> 6) == 1) {
		/* Format 01b: "<name>,i,0x<ISID in 12 hex digits>" */
		if (i + 5 + 12 > alen || memcmp(s + i, ",i,0x", 5) != 0)
			return false;
		i += 5;
		for (j = 0; j < 12; j++) {
			char c = s[i + j];
			uint8_t v;

			if (c >= '0' && c <= '9')
				v = (uint8_t)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = (uint8_t)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v = (uint8_t)(c - 'A' + 10);
			else
				return false;
			nx->isid[j / 2] = (uint8_t)(nx->isid[j / 2] << 4 | v);
		}
	}
	return nx->initiator[0] != 0;
}

static void
pr_register_move(struct target_lu *lu, struct target_scsi_cmd *cmd, int me, uint64_t sakey,
		 const uint8_t *p, uint32_t plen, uint8_t type)
{
	struct target_pr *pr = &lu->pr;
	struct target_scsi_nexus dst;
	uint32_t tlen;
	uint16_t rtp;
	bool unreg = p[17] & 0x02;
	int r;

	/* SPC-4 5.13.8: only the holder of a reservation other than all-registrants. */
	if (me < 0 || !is_holder(pr, me) || type_all_reg(pr->type)) {
		conflict(cmd);
		return;
	}
	if (p[17] & 0x01) { /* APTPL */
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_PARAM);
		return;
	}
	rtp = get_be16(p + 18);
	tlen = get_be32(p + 20);
	if (24 + tlen > plen) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_PARAM_LIST_LENGTH);
		return;
	}
	if (sakey == 0 || !parse_transport_id(p + 24, tlen, &dst)) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_PARAM);
		return;
	}
	dst.rel_port = rtp ? rtp : 1;
	if (reg_is(&pr->regs[me], &dst)) {
		/* Moving to the same I_T nexus is not allowed. */
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_PARAM);
		return;
	}
	if (lu->tgt) {
		for (unsigned i = 0; i < lu->tgt->max_nexus; i++) {
			const struct target_scsi_nexus *nx = lu->tgt->nexus[i];

			if (nx && nx->rel_port == dst.rel_port &&
			    memcmp(nx->isid, dst.isid, 6) == 0 &&
			    strcmp(nx->initiator, dst.initiator) == 0)
				dst.slot = (int)i;
		}
	}
	r = reg_by_nexus(pr, &dst);
	if (r < 0) {
		r = reg_alloc(pr, &dst, sakey);
		if (r < 0) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INSUFFICIENT_REG_RESOURCES);
			return;
		}
	} else {
		pr->regs[r].key = sakey;
	}
	pr->holder = r;
	pr->type = type;
	if (unreg) {
		pr->regs[me].used = false;
		pr->regs[me].slot = -1;
	}
	pr->generation++;
	target_scsi_good(cmd);
}

static void
pr_preempt(struct target_lu *lu, struct target_scsi_cmd *cmd, int me, uint64_t sakey,
	   uint8_t type)
{
	struct target_pr *pr = &lu->pr;
	bool any = false;

	if (pr->reserved && !type_all_reg(pr->type)) {
		uint64_t hkey = pr->regs[pr->holder].key;

		if (sakey == 0) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INVALID_FIELD_PARAM);
			return;
		}
		if (sakey == hkey) {
			/* SPC-4 5.13.11.4.3: preempt the holder; take the reservation. */
			for (unsigned i = 0; i < pr->nregs; i++) {
				if (!pr->regs[i].used || pr->regs[i].key != sakey || (int)i == me)
					continue;
				target_lu_ua_add(lu, pr->regs[i].slot,
						 TARGET_ASC_REGISTRATIONS_PREEMPTED);
				pr->regs[i].used = false;
				pr->regs[i].slot = -1;
			}
			pr->holder = me;
			pr->type = type;
			pr->generation++;
			target_scsi_good(cmd);
			return;
		}
	} else if (pr->reserved && sakey == 0) {
		/* All-registrants reservation, key 0: remove every other registration and
		 * establish a new reservation (SPC-4 5.13.11.4.4). */
		for (unsigned i = 0; i < pr->nregs; i++) {
			if (!pr->regs[i].used || (int)i == me)
				continue;
			target_lu_ua_add(lu, pr->regs[i].slot, TARGET_ASC_REGISTRATIONS_PREEMPTED);
			pr->regs[i].used = false;
			pr->regs[i].slot = -1;
		}
		pr->holder = me;
		pr->type = type;
		pr->generation++;
		target_scsi_good(cmd);
		return;
	} else if (sakey == 0) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_PARAM);
		return;
	}
	/* Remove the registrations with SERVICE ACTION RESERVATION KEY; the reservation
	 * (if any) is unaffected. */
	for (unsigned i = 0; i < pr->nregs; i++) {
		if (!pr->regs[i].used || pr->regs[i].key != sakey)
			continue;
		any = true;
		if ((int)i == me)
			continue;
		target_lu_ua_add(lu, pr->regs[i].slot, TARGET_ASC_REGISTRATIONS_PREEMPTED);
		unregister(lu, (int)i);
	}
	if (!any) {
		conflict(cmd);
		return;
	}
	pr->generation++;
	target_scsi_good(cmd);
}

void
target_pr_out(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	struct target_pr *pr = &lu->pr;
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint8_t scope = cmd->cdb[2] >> 4;
	uint8_t type = cmd->cdb[2] & 0x0f;
	uint32_t plen = get_be32(cmd->cdb + 5);
	const uint8_t *p = cmd->data_out;
	uint64_t key, sakey;
	int me;

	cmd->xfer_len = plen;
	if (sa > PROUT_REGISTER_MOVE) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_CDB);
		return;
	}
	if (sa == PROUT_RESERVE || sa == PROUT_RELEASE || sa == PROUT_PREEMPT ||
	    sa == PROUT_PREEMPT_ABORT || sa == PROUT_REGISTER_MOVE) {
		if (scope != 0 || !type_valid(type)) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INVALID_FIELD_CDB);
			return;
		}
	}
	/* SPC-4 6.16.3: the list is 24 bytes (SPEC_I_PT=0; REGISTER AND MOVE has its own). */
	if ((sa != PROUT_REGISTER_MOVE && plen != 24) || (sa == PROUT_REGISTER_MOVE && plen < 24) ||
	    !p || cmd->data_out_len < plen) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_PARAM_LIST_LENGTH);
		return;
	}
	key = get_be64(p);
	sakey = get_be64(p + 8);
	me = reg_by_nexus(pr, cmd->nexus);
	if (sa == PROUT_REGISTER_MOVE) {
		if (me < 0 || pr->regs[me].key != key) {
			conflict(cmd);
			return;
		}
		pr_register_move(lu, cmd, me, sakey, p, plen, type);
		return;
	}
	/* SPEC_I_PT, ALL_TG_PT and APTPL are not supported (REPORT CAPABILITIES says so). */
	if (p[20] & 0x0d) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_PARAM);
		return;
	}

	if (sa == PROUT_REGISTER || sa == PROUT_REGISTER_IGNORE) {
		if (!cmd->nexus) {
			conflict(cmd);
			return;
		}
		if (me < 0) {
			/* SPC-4 5.13.7: an unregistered nexus registers with key 0 only. */
			if (sa == PROUT_REGISTER && key != 0) {
				conflict(cmd);
				return;
			}
			if (sakey != 0 && reg_alloc(pr, cmd->nexus, sakey) < 0) {
				target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
						      TARGET_ASC_INSUFFICIENT_REG_RESOURCES);
				return;
			}
		} else {
			if (sa == PROUT_REGISTER && key != pr->regs[me].key) {
				conflict(cmd);
				return;
			}
			if (sakey == 0)
				unregister(lu, me);
			else
				pr->regs[me].key = sakey;
		}
		pr->generation++;
		target_scsi_good(cmd);
		return;
	}
	/* Every other action needs a registered nexus quoting its key. */
	if (me < 0 || pr->regs[me].key != key) {
		conflict(cmd);
		return;
	}
	switch (sa) {
	case PROUT_RESERVE:
		if (pr->reserved) {
			if (!is_holder(pr, me) || pr->type != type)
				conflict(cmd);
			else
				target_scsi_good(cmd);
			return;
		}
		pr->reserved = true;
		pr->type = type;
		pr->holder = me;
		target_scsi_good(cmd);
		return;
	case PROUT_RELEASE:
		if (!pr->reserved || !is_holder(pr, me)) {
			target_scsi_good(cmd); /* SPC-4 5.13.11.2.2: no effect */
			return;
		}
		if (pr->type != type) {
			target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
					      TARGET_ASC_INVALID_RELEASE);
			return;
		}
		if (pr->type != TARGET_PR_WE && pr->type != TARGET_PR_EA)
			ua_registrants(lu, me, TARGET_ASC_RESERVATIONS_RELEASED);
		release_reservation(pr);
		target_scsi_good(cmd);
		return;
	case PROUT_CLEAR:
		ua_registrants(lu, me, TARGET_ASC_RESERVATIONS_PREEMPTED);
		for (unsigned i = 0; i < pr->nregs; i++) {
			pr->regs[i].used = false;
			pr->regs[i].slot = -1;
		}
		release_reservation(pr);
		pr->generation++;
		target_scsi_good(cmd);
		return;
	case PROUT_PREEMPT:
	case PROUT_PREEMPT_ABORT:
		/* PREEMPT AND ABORT: the transport aborts the preempted nexuses' tasks; here it
		 * behaves as PREEMPT. */
		pr_preempt(lu, cmd, me, sakey, type);
		return;
	}
}

/* Bounded writer into Data-In: bytes past the allocation length are counted, not stored. */
struct pr_out_buf {
	uint8_t *p;
	uint32_t cap;
	uint32_t n;
};

static void
emit(struct pr_out_buf *o, const void *src, uint32_t len)
{
	if (o->n < o->cap)
		memcpy(o->p + o->n, src, MIN(len, o->cap - o->n));
	o->n += len;
}

static uint32_t
transport_id(const struct target_pr_reg *r, uint8_t *t)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t l = 0;
	uint8_t *s = t + 4;

	for (const char *c = r->initiator; *c && l < 223; c++)
		s[l++] = (uint8_t)*c;
	memcpy(s + l, ",i,0x", 5);
	l += 5;
	for (int i = 0; i < 6; i++) {
		s[l++] = (uint8_t)hex[r->isid[i] >> 4];
		s[l++] = (uint8_t)hex[r->isid[i] & 0xf];
	}
	s[l++] = 0;
	while (l % 4 || l < 20)
		s[l++] = 0;
	t[0] = 0x45; /* format 01b (with ISID), protocol iSCSI */
	t[1] = 0;
	put_be16(t + 2, (uint16_t)l);
	return 4 + l;
}

void
target_pr_in(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	struct target_pr *pr = &lu->pr;
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint32_t alloc = get_be16(cmd->cdb + 7);
	struct pr_out_buf o = { cmd->data_in, MIN(alloc, cmd->data_in ? cmd->data_in_cap : 0), 0 };
	uint8_t b[24];
	uint32_t len = 0;

	switch (sa) {
	case PRIN_READ_KEYS:
		for (unsigned i = 0; i < pr->nregs; i++)
			len += pr->regs[i].used ? 8 : 0;
		put_be32(b, pr->generation);
		put_be32(b + 4, len);
		emit(&o, b, 8);
		for (unsigned i = 0; i < pr->nregs; i++) {
			if (!pr->regs[i].used)
				continue;
			put_be64(b, pr->regs[i].key);
			emit(&o, b, 8);
		}
		break;
	case PRIN_READ_RESERVATION:
		put_be32(b, pr->generation);
		put_be32(b + 4, pr->reserved ? 16 : 0);
		emit(&o, b, 8);
		if (pr->reserved) {
			memset(b, 0, 16);
			/* All-registrants types report key 0 (SPC-4 6.15.3.3). */
			if (!type_all_reg(pr->type))
				put_be64(b, pr->regs[pr->holder].key);
			b[13] = pr->type; /* scope 0: LU_SCOPE */
			emit(&o, b, 16);
		}
		break;
	case PRIN_REPORT_CAPABILITIES:
		memset(b, 0, 8);
		put_be16(b, 8);
		b[2] = 0x10;	/* CRH; SIP_C, ATP_C, PTPL_C = 0 */
		b[3] = 0x80;	/* TMV; ALLOW COMMANDS 0; PTPL_A 0 */
		b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
		b[5] = 0x01;				  /* EX_AC_AR */
		emit(&o, b, 8);
		break;
	case PRIN_READ_FULL_STATUS: {
		uint8_t t[4 + 256];

		for (unsigned i = 0; i < pr->nregs; i++)
			if (pr->regs[i].used)
				len += 24 + transport_id(&pr->regs[i], t);
		put_be32(b, pr->generation);
		put_be32(b + 4, len);
		emit(&o, b, 8);
		for (unsigned i = 0; i < pr->nregs; i++) {
			const struct target_pr_reg *r = &pr->regs[i];
			uint32_t tl;

			if (!r->used)
				continue;
			tl = transport_id(r, t);
			memset(b, 0, 24);
			put_be64(b, r->key);
			if (is_holder(pr, (int)i)) {
				b[12] = 0x01; /* R_HOLDER */
				b[13] = pr->type;
			}
			put_be16(b + 18, r->rel_port);
			put_be32(b + 20, tl);
			emit(&o, b, 24);
			emit(&o, t, tl);
		}
		break;
	}
	default:
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_CDB);
		return;
	}
	target_scsi_good(cmd);
	cmd->xfer_len = MIN(o.n, alloc);
	cmd->data_in_len = MIN(o.n, o.cap);
}

void
target_pr_reserve6(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	struct target_pr *pr = &lu->pr;
	int slot = target_scsi_cmd_slot(cmd);

	/* RESERVE(10) third-party and long-ID forms, and RESERVE(6) extents: unsupported. */
	if (cmd->cdb[1] & 0x13) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_CDB);
		return;
	}
	/* SPC-4 5.13.3 (CRH=1): RESERVE conflicts with a persistent reservation, or with an
	 * SPC-2 reservation held through another nexus. */
	if (pr->reserved || (pr->spc2_slot >= 0 && pr->spc2_slot != slot) || slot < 0) {
		conflict(cmd);
		return;
	}
	pr->spc2_slot = slot;
	target_scsi_good(cmd);
}

void
target_pr_release6(struct target_lu *lu, struct target_scsi_cmd *cmd)
{
	struct target_pr *pr = &lu->pr;
	int slot = target_scsi_cmd_slot(cmd);

	if (cmd->cdb[1] & 0x13) {
		target_scsi_set_sense(cmd, TARGET_SENSE_ILLEGAL_REQUEST,
				      TARGET_ASC_INVALID_FIELD_CDB);
		return;
	}
	/* Releasing a reservation we do not hold is not an error (SPC-2 7.17). */
	if (pr->spc2_slot >= 0 && pr->spc2_slot == slot)
		pr->spc2_slot = -1;
	target_scsi_good(cmd);
}

void
target_pr_nexus_bind(struct target_lu *lu, const struct target_scsi_nexus *nx)
{
	for (unsigned i = 0; i < lu->pr.nregs; i++)
		if (reg_is(&lu->pr.regs[i], nx))
			lu->pr.regs[i].slot = nx->slot;
}

void
target_pr_nexus_unbind(struct target_lu *lu, int slot)
{
	if (lu->pr.spc2_slot == slot)
		lu->pr.spc2_slot = -1;
	for (unsigned i = 0; i < lu->pr.nregs; i++)
		if (lu->pr.regs[i].used && lu->pr.regs[i].slot == slot)
			lu->pr.regs[i].slot = -1;
}
