/*
 * Sessions of ballast-targetd and the runtime targets (nodes) they log in to.
 *
 * A node is a configured target at runtime: its LUN map (target/scsi.h) and LUs. A session
 * (Normal or Discovery) has a TSIH, the I_T nexus, the negotiated parameters, the CmdSN window
 * and, for Normal sessions, the task slots and their data buffers, allocated when the leading
 * login completes (before Full Feature Phase) and sized queue_depth x max_xfer.
 * Session reinstatement: a new leading login with the same InitiatorName + ISID closes the old
 * session (RFC 7143 6.3.5). Thread: the daemon's loop thread.
 */
#ifndef BALLAST_TARGET_SESSION_H
#define BALLAST_TARGET_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/text.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/scsi.h"

struct target_daemon;

/* A configured target at runtime. read-only outside session.c. */
struct target_node {
	struct target_node *next;
	struct target_target_cfg cfg;  /* copy */
	struct target_scsi_tgt *scsi;
	struct target_lu *lus[TARGET_MAX_LUNS];
	unsigned lun_nums[TARGET_MAX_LUNS];
	unsigned nlus;
	unsigned nsessions;
	bool removed;                  /* gone from the configuration: freed with its last session */
};

/* A session. read-only outside session.c/ffp.c/login.c. */
struct target_session {
	uint32_t id;                   /* s<N> in logs */
	struct target_session *next;
	struct target_daemon *d;
	struct target_node *node;      /* NULL for discovery */
	bool discovery;
	uint16_t tsih;
	uint8_t isid[6];
	char initiator[TEXT_NAME_MAX + 1];
	struct text_params params;
	struct target_scsi_nexus nexus;
	bool nexus_registered;
	struct target_conn *conns;
	unsigned nconns;
	bool closing;

	/* CmdSN window (RFC 7143 4.2.2.1) */
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t adv_maxcmdsn;         /* last MaxCmdSN sent */

	/* tasks */
	struct target_task *tasks;
	uint32_t ntasks;               /* queue_depth + immediate reserve */
	uint32_t tasks_free;
	uint32_t tasks_pending_io;     /* in the SCSI layer: the session outlives its conns */
	uint8_t *arena;                /* data + scratch buffers, mmap'ed */
	size_t arena_len;
	uint32_t *free_stack;
	uint32_t nreserve;             /* slots kept for immediate commands and pings */
	uint32_t next_ttt;
};

/* Build the runtime nodes from cfg (backstores, LUs, LUN maps). Control plane. */
int target_nodes_create(struct target_daemon *d, const struct target_config *cfg, char *err,
			size_t err_size);

/*
 * Apply a new configuration: new targets get nodes, removed targets close their sessions,
 * targets whose LUNs changed are rebuilt (their sessions closed); ACL, CHAP and portal
 * changes apply to the next login without touching established sessions. Control plane.
 */
int target_nodes_reload(struct target_daemon *d, const struct target_config *cfg, char *err,
			size_t err_size);

/* Free every node (after every session is gone). */
void target_nodes_free(struct target_daemon *d);

/* The node for a target name, or NULL. */
struct target_node *target_node_find(struct target_daemon *d, const char *iqn);

/*
 * Create a session for a completed leading login on conn (allocates task slots and buffers:
 * control plane, before Full Feature Phase). Returns 0 and *out, or -errno.
 */
int target_session_new(struct target_daemon *d, struct target_conn *conn, bool discovery,
		       struct target_node *node, const uint8_t isid[6], const char *initiator,
		       const struct text_params *params, struct target_session **out);

/* Session with this InitiatorName + ISID (for reinstatement), or NULL. */
struct target_session *target_session_find(struct target_daemon *d, const char *initiator,
					   const uint8_t isid[6]);

/* Session with this TSIH, or NULL. */
struct target_session *target_session_by_tsih(struct target_daemon *d, uint16_t tsih);

/* Count sessions of an initiator (limits). */
unsigned target_session_count_initiator(struct target_daemon *d, const char *initiator);

/* Count all sessions. */
unsigned target_session_count(struct target_daemon *d);

/* A free TSIH (never 0, not in use). */
uint16_t target_session_alloc_tsih(struct target_daemon *d);

/* Close every connection of s; the session is freed when its last connection and I/O are gone. */
void target_session_close(struct target_session *s, const char *reason);

/* A connection of s went away (called by conn). Frees s when nothing is left. */
void target_session_conn_gone(struct target_session *s, struct target_conn *c);

/* Maybe free s (no connections, no pending I/O). */
void target_session_maybe_free(struct target_session *s);

/* Task slots (datapath). get returns NULL when none is free. */
struct target_task *target_task_get(struct target_session *s);
void target_task_put(struct target_task *t);

/* MaxCmdSN from the free task slots (held back when the slots are full). Datapath. */
void target_session_update_window(struct target_session *s);

#endif
