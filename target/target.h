/*
 * ballast-targetd: daemon-wide state shared by the target's transport modules (portal, login,
 * session, conn, ffp, control). One datapath thread runs the libev loop; every function here
 * is called on that thread unless its comment says otherwise.
 */
#ifndef BALLAST_TARGET_TARGET_H
#define BALLAST_TARGET_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct ev_loop;
struct target_config;
struct target_portal;
struct target_session;
struct target_conn;
struct target_control;
struct target_node;

/* Counters, bumped on the datapath thread, read by `status`. */
struct target_counters {
	uint64_t logins, login_failures, auth_failures, sessions_reinstated;
	uint64_t pdus_rx, pdus_tx, cmds, reads, writes, bytes_read, bytes_written;
	uint64_t rejects, digest_errors, nops_in, nops_out, tmfs, conn_drops, timeouts;
	uint64_t backpressure;
};

/* Fault injection state (control socket). Read by conn/ffp on the datapath. */
struct target_faults {
	int64_t drop_after;     /* < 0: off; else close every connection after N more PDUs */
	uint32_t delay_ms;      /* delay every response by this many milliseconds */
	bool blackhole;         /* keep connections, answer nothing */
	bool reject_logins;     /* answer logins with Service Unavailable */
	bool ignore_nop;        /* neither answer NOP-Out nor send NOP-In pings */
	uint32_t fail_next;     /* fail the next N SCSI commands with this sense */
	uint8_t fail_key, fail_asc, fail_ascq;
	bool corrupt_digest;    /* corrupt the digest of the next PDU sent with a digest */
};

/* The daemon: one per process. Read-only outside main.c/control.c except counters/faults. */
struct target_daemon {
	struct ev_loop *loop;
	struct target_config *cfg;
	const char *config_path;        /* borrowed from argv, NULL without --config */
	struct target_portal *portals;  /* list */
	struct target_node *nodes;      /* runtime targets */
	struct target_session *sessions;
	struct target_conn *conns;      /* every connection (login and FFP) */
	struct target_control *control;
	struct target_counters ctr;
	struct target_faults faults;
	uint16_t next_tsih;
	uint32_t next_conn_id;
	uint32_t next_session_id;
	bool stopping;
};

/* The process-wide daemon instance (set in main()). */
extern struct target_daemon *target_daemon;

/*
 * Control-plane sections. Once the daemon is ready (netreserve_ready(), which arms the test
 * allocation tripwire), the datapath must not allocate; accepting, logging in, closing,
 * reloading and control commands may. They run between target_cp_enter() and
 * target_cp_leave() (nestable), which leave and re-enter steady state, so that a tripwire run
 * measures exactly the datapath. Loop thread only.
 */
void target_cp_enter(void);
void target_cp_leave(void);

/* Steady state begins (startup done): arms the tripwire through netreserve_ready(). */
void target_cp_ready(void);

#endif
