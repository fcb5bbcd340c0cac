/*
 * Internal definitions shared by scsi.c (command path), pr.c (reservations) and scsi_lu.c
 * (control plane): the logical unit, the LUN map and small helpers. Not for the transport.
 */
#ifndef BALLAST_TARGET_SCSI_LU_H
#define BALLAST_TARGET_SCSI_LU_H

#include <stdbool.h>
#include <stdint.h>

#include "target/backstore.h"
#include "target/pr.h"
#include "target/scsi.h"

/* Pending unit attentions of one I_T nexus on one LU, oldest first. */
struct target_lu_ua {
	uint16_t asc[TARGET_SCSI_UA_DEPTH];
	uint8_t n;
};

struct target_lu {
	struct target_backstore *bs;
	struct target_scsi_tgt *tgt; /* the map this LU is in, or NULL */
	uint32_t block_size;
	uint8_t block_shift;
	uint64_t nblocks;
	bool readonly;
	bool wce;
	bool thin;	/* LBPME: UNMAP / WRITE SAME UNMAP supported */
	bool lbprz;	/* deallocated blocks read as zeroes */
	bool caw_busy;	/* a COMPARE AND WRITE is pending on async I/O */
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[65];
	uint64_t naa;
	uint32_t max_xfer;
	uint32_t max_unmap;
	uint32_t max_unmap_descs;
	uint32_t max_ws;
	uint32_t phys_exp;
	unsigned max_nexus;
	struct target_lu_ua *ua; /* [max_nexus] */
	struct target_pr pr;
};

struct target_scsi_tgt {
	struct target_lu *luns[TARGET_SCSI_MAX_LUNS];
	unsigned max_nexus;
	bool ua_on_login;
	struct target_scsi_nexus **nexus; /* [max_nexus] */
};

/* Queues a unit attention for nexus slot (ignored if out of range or a duplicate). */
void target_lu_ua_add(struct target_lu *lu, int slot, uint16_t asc);

/* Queues a unit attention for every nexus slot except skip (-1: all). */
void target_lu_ua_all(struct target_lu *lu, int skip, uint16_t asc);

/* Sets GOOD status with no data. */
void target_scsi_good(struct target_scsi_cmd *cmd);

/* Copies len bytes of response data into data_in, truncated to the capacity. */
void target_scsi_data_in(struct target_scsi_cmd *cmd, const void *buf, uint32_t len);

/* Slot of cmd's nexus, or -1. */
static inline int
target_scsi_cmd_slot(const struct target_scsi_cmd *cmd)
{
	return cmd->nexus ? cmd->nexus->slot : -1;
}

#endif
