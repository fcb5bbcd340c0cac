/*
 * SCSI emulation control plane: logical unit and LUN map creation and teardown, nexus slot
 * registration, resets and unit attention queues. Allocation happens only in the _new()
 * functions; nexus registration and resets use the fixed tables.
 */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "common/mem.h"
#include "target/backstore.h"
#include "target/pr.h"
#include "target/scsi.h"
#include "target/scsi_lu.h"

static void
copy_padded(char *dst, size_t size, const char *src, const char *dflt)
{
	const char *s = src && *src ? src : dflt;
	size_t l = strnlen(s, size - 1);

	memset(dst, 0, size);
	memcpy(dst, s, l);
}

/* FNV-1a over the serial: a stable 36-bit vendor-specific value for the NAA designator. */
static uint64_t
naa_from_serial(const char *serial)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = serial; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ULL;
	}
	/* NAA 3 (locally assigned): the other 60 bits are ours to choose. */
	return 3ULL << 60 | (h & 0x0fffffffffffffffULL);
}

int
target_lu_new(const struct target_lu_config *cfg, struct target_lu **out)
{
	struct target_lu *lu;
	uint32_t bsz;

	*out = NULL;
	if (!cfg->bs || !cfg->serial || !*cfg->serial || strlen(cfg->serial) > 64)
		return -EINVAL;
	bsz = target_bs_block_size(cfg->bs);
	lu = mem_zalloc(sizeof(*lu));
	if (!lu)
		return -ENOMEM;
	lu->block_size = bsz;
	lu->block_shift = (uint8_t)__builtin_ctz(bsz);
	lu->nblocks = target_bs_size(cfg->bs) >> lu->block_shift;
	lu->readonly = cfg->readonly || target_bs_readonly(cfg->bs);
	lu->wce = cfg->wce;
	lu->thin = cfg->thin && (target_bs_caps(cfg->bs) & TARGET_BS_CAP_DISCARD);
	lu->lbprz = lu->thin && (target_bs_caps(cfg->bs) & TARGET_BS_CAP_DISCARD_ZEROES);
	copy_padded(lu->vendor, sizeof(lu->vendor), cfg->vendor, "BALLAST");
	copy_padded(lu->product, sizeof(lu->product), cfg->product, "VIRTUAL-DISK");
	copy_padded(lu->revision, sizeof(lu->revision), cfg->revision, "0001");
	copy_padded(lu->serial, sizeof(lu->serial), cfg->serial, "0");
	lu->naa = cfg->naa ? cfg->naa : naa_from_serial(lu->serial);
	lu->max_xfer = cfg->max_xfer_blocks ? cfg->max_xfer_blocks : (1U << 20) >> lu->block_shift;
	lu->max_unmap = cfg->max_unmap_blocks ? cfg->max_unmap_blocks :
						(1U << 30) >> lu->block_shift;
	lu->max_unmap_descs = cfg->max_unmap_descs ? cfg->max_unmap_descs : 256;
	lu->max_ws = cfg->max_ws_blocks ? cfg->max_ws_blocks : (1U << 30) >> lu->block_shift;
	lu->phys_exp = cfg->phys_block_exp;
	if (!lu->phys_exp && bsz == 512 && target_bs_type(cfg->bs) == TARGET_BS_FILE)
		lu->phys_exp = 3; /* filesystems allocate (and punch holes) in 4 KiB blocks */
	lu->max_nexus = cfg->max_nexus ? cfg->max_nexus : 64;
	lu->ua = mem_zalloc(lu->max_nexus * sizeof(*lu->ua));
	lu->pr.nregs = cfg->max_registrations ? cfg->max_registrations : 64;
	lu->pr.regs = mem_zalloc(lu->pr.nregs * sizeof(*lu->pr.regs));
	lu->pr.holder = -1;
	lu->pr.spc2_slot = -1;
	if (!lu->ua || !lu->pr.regs) {
		mem_free(lu->ua);
		mem_free(lu->pr.regs);
		mem_free(lu);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < lu->pr.nregs; i++)
		lu->pr.regs[i].slot = -1;
	lu->bs = cfg->bs;
	*out = lu;
	return 0;
}

void
target_lu_free(struct target_lu *lu)
{
	if (!lu)
		return;
	target_bs_free(lu->bs);
	mem_free(lu->ua);
	mem_free(lu->pr.regs);
	mem_free(lu);
}

struct target_backstore *
target_lu_backstore(struct target_lu *lu)
{
	return lu->bs;
}

void
target_lu_ua_add(struct target_lu *lu, int slot, uint16_t asc)
{
	struct target_lu_ua *ua;

	if (slot < 0 || (unsigned)slot >= lu->max_nexus)
		return;
	ua = &lu->ua[slot];
	for (unsigned i = 0; i < ua->n; i++)
		if (ua->asc[i] == asc)
			return;
	if (ua->n < TARGET_SCSI_UA_DEPTH)
		ua->asc[ua->n++] = asc;
	else
		ua->asc[TARGET_SCSI_UA_DEPTH - 1] = asc; /* keep the newest condition */
}

void
target_lu_ua_all(struct target_lu *lu, int skip, uint16_t asc)
{
	for (unsigned i = 0; i < lu->max_nexus; i++)
		if ((int)i != skip)
			target_lu_ua_add(lu, (int)i, asc);
}

void
target_lu_reset(struct target_lu *lu)
{
	/* SAM-5 6.3.1: a logical unit reset releases SPC-2 reservations, keeps persistent
	 * ones, and establishes POWER ON, RESET OR BUS DEVICE RESET OCCURRED (29h/00h)
	 * for every I_T nexus. Older conditions are superseded by the reset. */
	lu->pr.spc2_slot = -1;
	for (unsigned i = 0; i < lu->max_nexus; i++)
		lu->ua[i].n = 0;
	target_lu_ua_all(lu, -1, TARGET_ASC_POWER_ON_RESET);
}

int
target_lu_refresh_capacity(struct target_lu *lu)
{
	int r = target_bs_refresh_size(lu->bs);

	if (r <= 0)
		return r;
	lu->nblocks = target_bs_size(lu->bs) >> lu->block_shift;
	target_lu_ua_all(lu, -1, TARGET_ASC_CAPACITY_CHANGED);
	return 1;
}

void
target_lu_set_readonly(struct target_lu *lu, bool readonly)
{
	lu->readonly = readonly || target_bs_readonly(lu->bs);
}

int
target_scsi_tgt_new(unsigned max_nexus, bool ua_on_login, struct target_scsi_tgt **out)
{
	struct target_scsi_tgt *tgt;

	*out = NULL;
	tgt = mem_zalloc(sizeof(*tgt));
	if (!tgt)
		return -ENOMEM;
	tgt->max_nexus = max_nexus ? max_nexus : 64;
	tgt->ua_on_login = ua_on_login;
	tgt->nexus = mem_zalloc(tgt->max_nexus * sizeof(*tgt->nexus));
	if (!tgt->nexus) {
		mem_free(tgt);
		return -ENOMEM;
	}
	*out = tgt;
	return 0;
}

void
target_scsi_tgt_free(struct target_scsi_tgt *tgt)
{
	if (!tgt)
		return;
	for (unsigned i = 0; i < TARGET_SCSI_MAX_LUNS; i++)
		if (tgt->luns[i])
			tgt->luns[i]->tgt = NULL;
	mem_free(tgt->nexus);
	mem_free(tgt);
}

static void
tgt_luns_changed(struct target_scsi_tgt *tgt, unsigned except)
{
	for (unsigned i = 0; i < TARGET_SCSI_MAX_LUNS; i++)
		if (i != except && tgt->luns[i])
			target_lu_ua_all(tgt->luns[i], -1, TARGET_ASC_REPORTED_LUNS_CHANGED);
}

int
target_scsi_tgt_add_lu(struct target_scsi_tgt *tgt, unsigned lun, struct target_lu *lu)
{
	if (lun >= TARGET_SCSI_MAX_LUNS)
		return -ERANGE;
	if (tgt->luns[lun])
		return -EEXIST;
	if (lu->max_nexus < tgt->max_nexus)
		return -EINVAL;
	tgt->luns[lun] = lu;
	lu->tgt = tgt;
	tgt_luns_changed(tgt, lun);
	return 0;
}

struct target_lu *
target_scsi_tgt_remove_lu(struct target_scsi_tgt *tgt, unsigned lun)
{
	struct target_lu *lu;

	if (lun >= TARGET_SCSI_MAX_LUNS || !tgt->luns[lun])
		return NULL;
	lu = tgt->luns[lun];
	tgt->luns[lun] = NULL;
	lu->tgt = NULL;
	tgt_luns_changed(tgt, lun);
	return lu;
}

void
target_scsi_tgt_reset(struct target_scsi_tgt *tgt)
{
	for (unsigned i = 0; i < TARGET_SCSI_MAX_LUNS; i++)
		if (tgt->luns[i])
			target_lu_reset(tgt->luns[i]);
}

void
target_scsi_nexus_init(struct target_scsi_nexus *nx, const char *initiator,
		       const uint8_t isid[6], uint16_t tpgt, uint16_t rel_port,
		       const char *target_name)
{
	memset(nx, 0, sizeof(*nx));
	if (initiator)
		memcpy(nx->initiator, initiator, strnlen(initiator, sizeof(nx->initiator) - 1));
	if (isid)
		memcpy(nx->isid, isid, sizeof(nx->isid));
	nx->tpgt = tpgt;
	nx->rel_port = rel_port ? rel_port : 1;
	nx->target_name = target_name;
	nx->slot = -1;
}

static bool
nexus_same(const struct target_scsi_nexus *a, const struct target_scsi_nexus *b)
{
	return a->tpgt == b->tpgt && a->rel_port == b->rel_port &&
	       memcmp(a->isid, b->isid, sizeof(a->isid)) == 0 &&
	       strcmp(a->initiator, b->initiator) == 0;
}

int
target_scsi_nexus_register(struct target_scsi_tgt *tgt, struct target_scsi_nexus *nx)
{
	bool reinstated = false;
	int slot = -1;

	for (unsigned i = 0; i < tgt->max_nexus; i++) {
		if (tgt->nexus[i] && nexus_same(tgt->nexus[i], nx)) {
			/* Session reinstatement: the new session inherits the nexus. */
			tgt->nexus[i]->slot = -1;
			slot = (int)i;
			reinstated = true;
			break;
		}
		if (!tgt->nexus[i] && slot < 0)
			slot = (int)i;
	}
	if (slot < 0)
		return -ENOSPC;
	if (!reinstated) {
		/* A fresh slot: start from a clean unit attention queue. */
		for (unsigned l = 0; l < TARGET_SCSI_MAX_LUNS; l++) {
			struct target_lu *lu = tgt->luns[l];

			if (!lu || (unsigned)slot >= lu->max_nexus)
				continue;
			lu->ua[slot].n = 0;
			if (tgt->ua_on_login)
				target_lu_ua_add(lu, slot, TARGET_ASC_POWER_ON_RESET);
		}
	}
	tgt->nexus[slot] = nx;
	nx->slot = slot;
	for (unsigned l = 0; l < TARGET_SCSI_MAX_LUNS; l++)
		if (tgt->luns[l])
			target_pr_nexus_bind(tgt->luns[l], nx);
	return 0;
}

void
target_scsi_nexus_unregister(struct target_scsi_tgt *tgt, struct target_scsi_nexus *nx)
{
	int slot = nx->slot;

	if (slot < 0 || (unsigned)slot >= tgt->max_nexus || tgt->nexus[slot] != nx) {
		nx->slot = -1;
		return;
	}
	for (unsigned l = 0; l < TARGET_SCSI_MAX_LUNS; l++) {
		struct target_lu *lu = tgt->luns[l];

		if (!lu)
			continue;
		target_pr_nexus_unbind(lu, slot);
		if ((unsigned)slot < lu->max_nexus)
			lu->ua[slot].n = 0;
	}
	tgt->nexus[slot] = NULL;
	nx->slot = -1;
}
