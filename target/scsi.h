/*
 * SCSI device emulation for ballast-targetd (SPC-4 / SBC-3 direct-access block device),
 * independent of the iSCSI transport.
 *
 * Objects:
 * - struct target_lu: one logical unit over a struct target_backstore. Control plane:
 *   target_lu_new()/target_lu_free(). Holds inquiry identity, mode pages, persistent and SPC-2
 *   reservations, and a fixed per-I_T-nexus unit attention table.
 * - struct target_scsi_tgt: the LUN map of one iSCSI target (LUNs 0..TARGET_SCSI_MAX_LUNS-1)
 *   plus its I_T nexus slot table. It answers REPORT LUNS, and INQUIRY / REQUEST SENSE /
 *   other commands addressed to a LUN that does not exist.
 * - struct target_scsi_nexus: the I_T nexus identity (initiator port name + ISID, target port),
 *   in session storage; registered with the tgt at login (gets a slot index), unregistered at
 *   session close.
 * - struct target_scsi_cmd: one command, in caller storage (the transport's task slot).
 *
 * Execution: target_scsi_exec() (or target_lu_exec()) returns TARGET_SCSI_EXEC_DONE (0) when
 * the command is done (all results are in the cmd; cmd->done is NOT called),
 * TARGET_SCSI_EXEC_PENDING (1) when it is pending on backstore I/O, or TARGET_SCSI_EXEC_WINDOW
 * (2) when it streams (below) and waits for the transport to move its data window. After a
 * pending return exactly one of cmd->done(cmd) (finished) or cmd->window(cmd) (window wanted)
 * is called later, from the thread that completes backstore I/O (the daemon's ring thread).
 * Everything here is single-threaded per tgt: call exec, resume, TMF hooks and backstore
 * completions from one thread. No function on the command path allocates.
 *
 * Data buffers belong to the transport: data_out holds the Data-Out (received before exec),
 * data_in receives Data-In (capacity = the initiator's expected transfer length or the task
 * buffer, whichever is smaller), scratch is a per-task work area used by VERIFY BYTCHK,
 * WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE and WRITE SAME (chunked when smaller than the
 * transfer; at least one logical block is needed for those commands). All buffers must be
 * 4096-byte aligned for LUs on O_DIRECT file backstores.
 *
 * Streaming: a transport that sets cmd->window lets the medium commands that move their data
 * in order (READ, WRITE, WRITE AND VERIFY, VERIFY with BYTCHK, ORWRITE: see
 * target_scsi_streamable()) transfer more than the task buffer, one buffer-sized window at a
 * time, without any allocation. cmd->buf_off is the transfer offset (in bytes from the start
 * of the command's data) of data_in[0] / data_out[0]. Data-Out: data_out_total says how much
 * the initiator sends in all; data_out_len is what the current window holds. When the command
 * needs Data-Out beyond the window it sets buf_off to the offset it needs next and stops
 * (WINDOW); the transport fills data_out with the Data-Out from buf_off on (data_out_len =
 * bytes available, a whole number of logical blocks unless it is the end) and calls
 * target_scsi_resume(). Data-In: data_in_total says how much the initiator accepts in all;
 * after each full window the command stops (WINDOW) with data_in[0 .. data_in_len) holding
 * the Data-In at buf_off; the transport sends it and, once the buffer is free again, calls
 * target_scsi_resume(). The last window is reported the ordinary way (done), again with
 * buf_off. A command waiting for its window holds nothing outside cmd: the transport may
 * abandon it (task aborted) instead of resuming it.
 *
 * Residuals: the command reports xfer_len, the number of bytes its CDB asks to move in its
 * data direction; the transport computes the iSCSI residual against ExpectedDataTransferLength
 * (the Data-In actually moved is buf_off + data_in_len).
 *
 * Persistent reservations: all SPC-4 service actions and types; APTPL is not supported
 * (REPORT CAPABILITIES says PTPL_C=0; APTPL=1 gets INVALID FIELD IN PARAMETER LIST), nor are
 * SPEC_I_PT and ALL_TG_PT (SIP_C=ATP_C=0; =1 gets INVALID FIELD IN PARAMETER LIST).
 * Reservations live in memory and are lost when the daemon stops.
 */
#ifndef BALLAST_TARGET_SCSI_H
#define BALLAST_TARGET_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/backstore.h"

struct target_lu;
struct target_scsi_tgt;

/* SAM-5 status codes (struct target_scsi_cmd.status). */
#define TARGET_SCSI_GOOD 0x00
#define TARGET_SCSI_CHECK_CONDITION 0x02
#define TARGET_SCSI_CONDITION_MET 0x04
#define TARGET_SCSI_BUSY 0x08
#define TARGET_SCSI_RESERVATION_CONFLICT 0x18
#define TARGET_SCSI_TASK_SET_FULL 0x28

/* Sense keys. */
#define TARGET_SENSE_NO_SENSE 0x0
#define TARGET_SENSE_NOT_READY 0x2
#define TARGET_SENSE_MEDIUM_ERROR 0x3
#define TARGET_SENSE_HARDWARE_ERROR 0x4
#define TARGET_SENSE_ILLEGAL_REQUEST 0x5
#define TARGET_SENSE_UNIT_ATTENTION 0x6
#define TARGET_SENSE_DATA_PROTECT 0x7
#define TARGET_SENSE_ABORTED_COMMAND 0xb
#define TARGET_SENSE_MISCOMPARE 0xe

/* Additional sense code and qualifier, as (ASC << 8 | ASCQ). */
#define TARGET_ASC_NONE 0x0000
#define TARGET_ASC_WRITE_ERROR 0x0c00
#define TARGET_ASC_READ_ERROR 0x1100
#define TARGET_ASC_MISCOMPARE_VERIFY 0x1d00
#define TARGET_ASC_PARAM_LIST_LENGTH 0x1a00
#define TARGET_ASC_INVALID_OPCODE 0x2000
#define TARGET_ASC_LBA_OUT_OF_RANGE 0x2100
#define TARGET_ASC_INVALID_FIELD_CDB 0x2400
#define TARGET_ASC_LU_NOT_SUPPORTED 0x2500
#define TARGET_ASC_INVALID_FIELD_PARAM 0x2600
#define TARGET_ASC_WRITE_PROTECTED 0x2700
#define TARGET_ASC_POWER_ON_RESET 0x2900
#define TARGET_ASC_BUS_RESET 0x2903 /* unused */
#define TARGET_ASC_PARAMS_CHANGED 0x2a00
#define TARGET_ASC_MODE_PARAMS_CHANGED 0x2a01
#define TARGET_ASC_RESERVATIONS_PREEMPTED 0x2a03
#define TARGET_ASC_RESERVATIONS_RELEASED 0x2a04
#define TARGET_ASC_REGISTRATIONS_PREEMPTED 0x2a05
#define TARGET_ASC_CAPACITY_CHANGED 0x2a09
#define TARGET_ASC_COMMANDS_CLEARED 0x2f00
#define TARGET_ASC_SAVING_NOT_SUPPORTED 0x3900
#define TARGET_ASC_REPORTED_LUNS_CHANGED 0x3f0e
#define TARGET_ASC_INTERNAL_FAILURE 0x4400
#define TARGET_ASC_INSUFFICIENT_REG_RESOURCES 0x5504

#define TARGET_SCSI_CDB_MAX 16
#define TARGET_SCSI_SENSE_MAX 32	/* fixed-format sense is 18 bytes; room to spare */
#define TARGET_SCSI_MAX_LUNS 256	/* LUN numbers 0..255 (SAM peripheral addressing) */
#define TARGET_SCSI_NAME_MAX 224	/* iSCSI name, 223 bytes + NUL (RFC 7143 6.1) */
#define TARGET_SCSI_UA_DEPTH 4		/* pending unit attentions per (LU, I_T nexus) */

/*
 * I_T nexus identity. Session storage; fill with target_scsi_nexus_init(), then
 * target_scsi_nexus_register() at login. Read-only outside scsi.c once registered.
 */
struct target_scsi_nexus {
	char initiator[TARGET_SCSI_NAME_MAX]; /* initiator iSCSI name */
	uint8_t isid[6];
	uint16_t tpgt;			       /* target portal group tag */
	uint16_t rel_port;		       /* relative target port identifier (>= 1) */
	const char *target_name;	       /* borrowed for the nexus lifetime (VPD 0x83) */
	int slot;			       /* tgt slot index, -1 when unregistered */
};

/* One SCSI command, in the transport's task slot. */
struct target_scsi_cmd {
	/* In: set by the transport before exec. */
	uint8_t cdb[TARGET_SCSI_CDB_MAX];
	uint8_t cdb_len;		/* > 16 gets INVALID OPCODE */
	uint64_t lun;			/* the 8-byte LUN field as a big-endian number */
	struct target_scsi_nexus *nexus; /* borrowed, registered */
	const uint8_t *data_out;	/* Data-Out (the current window when streaming), or NULL */
	uint32_t data_out_len;
	uint32_t data_out_total;	/* streaming: all Data-Out the initiator sends; 0: as
					 * data_out_len */
	uint8_t *data_in;		/* Data-In destination, or NULL */
	uint32_t data_in_cap;
	uint32_t data_in_total;		/* streaming: all Data-In the initiator takes; 0: as
					 * data_in_cap */
	void (*window)(struct target_scsi_cmd *cmd); /* streaming hook, NULL: no streaming */
	uint8_t *scratch;		/* per-task work buffer, or NULL */
	uint32_t scratch_cap;
	void (*done)(struct target_scsi_cmd *cmd); /* called only after a pending (1) return */
	void *priv;			/* transport cookie, untouched */

	/* Out: valid once done. */
	uint8_t status;			/* TARGET_SCSI_* status */
	uint8_t sense_len;		/* 0 unless CHECK CONDITION */
	uint8_t sense[TARGET_SCSI_SENSE_MAX]; /* fixed format (0x70) */
	uint32_t data_in_len;		/* bytes written to data_in (<= data_in_cap) */
	uint32_t buf_off;		/* transfer offset of data_in[0] / data_out[0] */
	uint32_t xfer_len;		/* bytes the CDB asks to move (for residuals) */

	/* private to scsi.c */
	struct target_bs_io io;
	struct target_lu *lu;
	int (*step)(struct target_scsi_cmd *cmd);
	uint64_t lba;
	uint32_t nblocks;
	uint64_t pos;			/* byte progress of multi-step commands */
	uint64_t end, cmp;		/* piece being verified: [cmp, end) */
	uint32_t aux;
	uint8_t phase;
	uint8_t fua;
};

/* Logical unit configuration, borrowed during target_lu_new(). */
struct target_lu_config {
	struct target_backstore *bs;	/* owned by the LU from a successful new() */
	bool readonly;			/* write protect (also implied by a read-only store) */
	bool wce;			/* initial write cache enable (MODE page 0x08) */
	bool thin;			/* advertise thin provisioning (needs TARGET_BS_CAP_DISCARD) */
	const char *vendor;		/* <= 8 chars, default "BALLAST" */
	const char *product;		/* <= 16 chars, default "VIRTUAL-DISK" */
	const char *revision;		/* <= 4 chars, default "0001" */
	const char *serial;		/* unit serial (VPD 0x80), <= 64 chars; required */
	uint64_t naa;			/* VPD 0x83 NAA designator (8 bytes, NAA nibble
					 * included, e.g. 5 = IEEE Registered); 0: NAA 3
					 * (locally assigned) derived from the serial */
	uint32_t max_xfer_blocks;	/* VPD B0 max transfer length; 0: 1 MiB worth */
	uint32_t max_unmap_blocks;	/* VPD B0 max unmap LBA count; 0: 1 GiB worth */
	uint32_t max_unmap_descs;	/* VPD B0 max unmap descriptors; 0: 256 */
	uint32_t max_ws_blocks;		/* VPD B0 max write same length; 0: 1 GiB worth */
	uint32_t phys_block_exp;	/* READ CAPACITY 16: log2(physical/logical); 0 on a
					 * 512-byte file LU means 3 (4 KiB filesystem blocks) */
	unsigned max_nexus;		/* size of the per-nexus tables; 0: 64 */
	unsigned max_registrations;	/* persistent reservation keys; 0: 64 */
};

/*
 * Creates an LU. Control plane (allocates the nexus and PR tables). On success the LU owns
 * cfg->bs. Returns 0 and *out (owned by caller, release with target_lu_free()) or -EINVAL /
 * -ENOMEM.
 */
int target_lu_new(const struct target_lu_config *cfg, struct target_lu **out);

/* Frees lu and its backstore; accepts NULL. No command may be pending. Control plane. */
void target_lu_free(struct target_lu *lu);

/* The LU's backstore (borrowed for the LU lifetime), e.g. to attach a submitter. */
struct target_backstore *target_lu_backstore(struct target_lu *lu);

/* Return values of target_lu_exec(), target_scsi_exec() and target_scsi_resume(). */
#define TARGET_SCSI_EXEC_DONE 0
#define TARGET_SCSI_EXEC_PENDING 1
#define TARGET_SCSI_EXEC_WINDOW 2

/*
 * Executes cmd on lu (cmd->lun is not looked at). Returns TARGET_SCSI_EXEC_DONE,
 * TARGET_SCSI_EXEC_PENDING (cmd->done or cmd->window follows) or TARGET_SCSI_EXEC_WINDOW
 * (only when cmd->window is set). Never fails: every outcome is a SCSI status in cmd.
 * Datapath.
 */
int target_lu_exec(struct target_lu *lu, struct target_scsi_cmd *cmd);

/*
 * Continues a streaming command after its window moved (see "Streaming" above). Same returns
 * as target_lu_exec(). Datapath.
 */
int target_scsi_resume(struct target_scsi_cmd *cmd);

/*
 * Whether a command with this CDB may stream (move more data than the task buffer holds)
 * when the transport sets cmd->window: the READ, WRITE, WRITE AND VERIFY, VERIFY and ORWRITE
 * families. Other commands must fit their data in the buffer. Any context.
 */
bool target_scsi_streamable(const uint8_t *cdb);

/*
 * LOGICAL UNIT RESET for lu (TMF hook): releases the SPC-2 reservation and queues POWER ON,
 * RESET unit attention for every I_T nexus. Persistent reservations survive (SPC-4). The
 * transport aborts the LU's tasks itself before calling this. Datapath-safe.
 */
void target_lu_reset(struct target_lu *lu);

/*
 * Re-reads the backstore size; when it changed, queues CAPACITY DATA HAS CHANGED for every
 * nexus. Returns 1 if changed, 0 if not, -errno. Control plane (no command may be pending).
 */
int target_lu_refresh_capacity(struct target_lu *lu);

/* Sets the LU's write protection at runtime (MODE SENSE WP bit, writes then fail). */
void target_lu_set_readonly(struct target_lu *lu, bool readonly);

/*
 * Creates an empty LUN map. ua_on_login: a newly registered nexus starts with POWER ON, RESET
 * unit attention on every LU (as after power-on). Returns 0 and *out (owned by caller, release
 * with target_scsi_tgt_free()) or -ENOMEM / -EINVAL. max_nexus must be <= every LU's
 * max_nexus (0: 64). Control plane.
 */
int target_scsi_tgt_new(unsigned max_nexus, bool ua_on_login, struct target_scsi_tgt **out);

/* Frees the map (not the LUs, which the caller owns); accepts NULL. Control plane. */
void target_scsi_tgt_free(struct target_scsi_tgt *tgt);

/*
 * Maps lun (0..TARGET_SCSI_MAX_LUNS-1) to lu (borrowed until removed) and queues REPORTED LUNS
 * DATA HAS CHANGED on the other LUs. Returns 0, -EEXIST, -ERANGE, or -EINVAL (the LU's
 * max_nexus is smaller than the tgt's). Control plane.
 */
int target_scsi_tgt_add_lu(struct target_scsi_tgt *tgt, unsigned lun, struct target_lu *lu);

/* Unmaps lun (returns the LU or NULL) and queues REPORTED LUNS DATA HAS CHANGED. */
struct target_lu *target_scsi_tgt_remove_lu(struct target_scsi_tgt *tgt, unsigned lun);

/* The LU at an 8-byte LUN field value, or NULL when none (or not single-level). Datapath. */
struct target_lu *target_scsi_tgt_lookup(struct target_scsi_tgt *tgt, uint64_t lun);

/*
 * Executes cmd against the LUN in cmd->lun: REPORT LUNS for the whole map; for an unmapped
 * LUN, INQUIRY answers peripheral qualifier 3, REQUEST SENSE reports LOGICAL UNIT NOT
 * SUPPORTED as data, everything else gets CHECK CONDITION / ILLEGAL REQUEST / LOGICAL UNIT NOT
 * SUPPORTED (0x25/0x00). Otherwise the same as target_lu_exec(). Returns 0 done, 1 pending.
 */
int target_scsi_exec(struct target_scsi_tgt *tgt, struct target_scsi_cmd *cmd);

/* Target reset TMF hook (TARGET WARM/COLD RESET): target_lu_reset() on every LU. */
void target_scsi_tgt_reset(struct target_scsi_tgt *tgt);

/*
 * Fills a nexus identity: initiator name (truncated to 223 bytes), ISID, TPGT, relative port
 * id (0 means 1) and target name (borrowed). slot = -1. Any context.
 */
void target_scsi_nexus_init(struct target_scsi_nexus *nx, const char *initiator,
			    const uint8_t isid[6], uint16_t tpgt, uint16_t rel_port,
			    const char *target_name);

/*
 * Binds nx to a slot of tgt (at login, or relogin). The same identity already registered (a
 * reinstated session) takes over its slot, with its unit attentions. Persistent reservation
 * registrations made earlier by this identity apply again. Returns 0, or -ENOSPC when every
 * slot is in use. No allocation.
 */
int target_scsi_nexus_register(struct target_scsi_tgt *tgt, struct target_scsi_nexus *nx);

/*
 * I_T nexus loss (session closed): releases SPC-2 reservations held through nx, drops its
 * unit attentions and frees the slot. Persistent registrations survive. No allocation.
 */
void target_scsi_nexus_unregister(struct target_scsi_tgt *tgt, struct target_scsi_nexus *nx);

/*
 * Sets cmd to CHECK CONDITION with fixed-format sense (key, asc = ASC << 8 | ASCQ). For the
 * transport's own failures (e.g. fault injection). Any context.
 */
void target_scsi_set_sense(struct target_scsi_cmd *cmd, uint8_t key, uint16_t asc);

#endif
