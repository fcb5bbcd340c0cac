/*
 * SPC-4 persistent reservations and SPC-2 RESERVE/RELEASE for one logical unit. Internal to
 * the SCSI emulation (scsi.c calls it); state lives in struct target_lu. All functions are
 * datapath-safe: fixed tables, no allocation.
 */
#ifndef BALLAST_TARGET_PR_H
#define BALLAST_TARGET_PR_H

#include <stdbool.h>
#include <stdint.h>

#include "target/scsi.h"

/* Persistent reservation types (SPC-4 table 191). */
#define TARGET_PR_WE 0x1
#define TARGET_PR_EA 0x3
#define TARGET_PR_WE_RO 0x5
#define TARGET_PR_EA_RO 0x6
#define TARGET_PR_WE_AR 0x7
#define TARGET_PR_EA_AR 0x8

/* One registration: an I_T nexus identity and its key. */
struct target_pr_reg {
	bool used;
	uint64_t key;
	char initiator[TARGET_SCSI_NAME_MAX];
	uint8_t isid[6];
	uint16_t rel_port;
	int slot; /* tgt nexus slot while that nexus is logged in, else -1 */
};

/* Per-LU reservation state. read-only outside pr.c */
struct target_pr {
	struct target_pr_reg *regs; /* [nregs], allocated with the LU */
	unsigned nregs;
	uint32_t generation;
	bool reserved;
	uint8_t type;
	int holder;		    /* regs index of the holder (not used for *_AR types) */
	int spc2_slot;		    /* nexus slot holding an SPC-2 reservation, or -1 */
};

/* Command classes for the conflict check. */
enum target_pr_class {
	TARGET_PR_ALLOWED,	/* never conflicts (INQUIRY, REPORT LUNS, PR IN, ...) */
	TARGET_PR_READ,		/* read-type: allowed under Write Exclusive */
	TARGET_PR_WRITE,	/* write-type: conflicts under any reservation held by another */
	TARGET_PR_PROUT,	/* PERSISTENT RESERVE OUT: conflicts only with SPC-2 reservations */
	TARGET_PR_SPC2,		/* RESERVE/RELEASE 6/10 */
};

/*
 * Whether a command of class cls from nexus slot conflicts with the LU's reservations
 * (returns true: answer RESERVATION CONFLICT).
 */
bool target_pr_conflict(struct target_lu *lu, int slot, enum target_pr_class cls);

/* PERSISTENT RESERVE IN / OUT, RESERVE 6/10, RELEASE 6/10: complete cmd inline. */
void target_pr_in(struct target_lu *lu, struct target_scsi_cmd *cmd);
void target_pr_out(struct target_lu *lu, struct target_scsi_cmd *cmd);
void target_pr_reserve6(struct target_lu *lu, struct target_scsi_cmd *cmd);
void target_pr_release6(struct target_lu *lu, struct target_scsi_cmd *cmd);

/* Rebinds registrations of nx's identity to its slot (at nexus register). */
void target_pr_nexus_bind(struct target_lu *lu, const struct target_scsi_nexus *nx);

/* Nexus slot going away: registrations keep their identity, SPC-2 reservation released. */
void target_pr_nexus_unbind(struct target_lu *lu, int slot);

#endif
