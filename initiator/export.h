/*
 * NBD exports of a session's LUNs: listeners (unix sockets, TCP on loopback by default,
 * kernel nbd over a socketpair), NBD client connections on the netreserve ring, and the glue
 * from NBD requests (initiator/nbd.h) to session tasks (initiator/session.h): each request
 * takes a task slot, a WRITE payload is received straight into the slot's data buffer, a READ
 * reply is sent from it. A client that vanishes leaves nothing behind: its outstanding tasks
 * finish and are put back, their replies dropped.
 *
 * Setup (initiator_export_new, _start) is control plane on the ring's owner thread; the rest is
 * datapath (export.c includes common/datapath.h). Logging: rate-limited errors, notices at
 * connect/disconnect.
 */
#ifndef BALLAST_INITIATOR_EXPORT_H
#define BALLAST_INITIATOR_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "initiator/config.h"
#include "initiator/session.h"
#include "netreserve/netreserve.h"

/* io_uring user_data kinds used by the daemon. */
#define INITIATOR_KIND_ACCEPT (NETRESERVE_KIND_USER + 0)
#define INITIATOR_KIND_CONTROL (NETRESERVE_KIND_USER + 1)

struct initiator_export;

struct initiator_export_config {
	const struct initiator_config *cfg;   /* borrowed until _free */
	struct initiator_session *sess;
	struct initiator_lun *luns;           /* borrowed until _free */
	size_t nluns;
	const char *target;                   /* target IQN (descriptions, default socket names) */
	struct netreserve_ring *ring;
};

/*
 * Build the export table and open every listener of cfg->nbd (or, when none is given, one
 * unix socket per LUN at <socket_dir>/<target>-lun<N>.sock). Kernel nbd exports are attached
 * here (socketpair + NBD_CMD_CONNECT). Control plane. Returns 0 or -errno with a message.
 */
int initiator_export_new(const struct initiator_export_config *ec, struct initiator_export **out,
			 char *msg, size_t msg_size);

/* NBD client slots (and so netreserve connections) the configuration needs. */
uint32_t initiator_export_client_slots(const struct initiator_config *cfg);
/* Bytes initiator_export_new() maps for cfg (for the footprint). */
uint64_t initiator_export_reserve_bytes(const struct initiator_config *cfg);

/* Arm the accepts on the ring. Returns 0 or -errno. */
int initiator_export_start(struct initiator_export *e);

/* Write one line per export point ("nbd unix:/path lun 1\n") to fd. Returns 0 or -errno. */
int initiator_export_ready_lines(struct initiator_export *e, int fd);

/*
 * After each ring poll, and after initiator_session_run(): let clients stalled on slots
 * continue, then send the NBD replies queued since the last call (task completions and
 * requests answered at once are gathered per client, several replies in one send). Datapath.
 */
void initiator_export_run(struct initiator_export *e);

/* Clients connected now. */
uint32_t initiator_export_clients(const struct initiator_export *e);

/* Stop accepting and disconnect every client (shutdown). */
void initiator_export_stop(struct initiator_export *e);

/* Close listeners, unlink sockets, disconnect kernel devices. Control plane. Accepts NULL. */
void initiator_export_free(struct initiator_export *e);

/*
 * Swap watch: swaps holds the text of /proc/swaps (len bytes, read by the caller with
 * open/read into its own buffer). Marks each kernel nbd device we attached that is, or has a
 * partition that is, an active swap area, logs a warning when one becomes swap (and a notice
 * when it stops): once per change. Returns how many of our devices are swap now. Other exports
 * (unix, tcp) are not tracked: what a client maps them onto cannot be known. Control plane,
 * owner thread, no allocation, does not block.
 */
int initiator_export_swap_update(struct initiator_export *e, const char *swaps, size_t len);

/*
 * Whether the text of /proc/swaps (len bytes) names dev ("/dev/nbd0") or one of its partitions
 * ("/dev/nbd0p2") as an active swap area. Pure.
 */
bool initiator_swaps_has(const char *swaps, size_t len, const char *dev);

/*
 * The swap watch of one device (kernel nbd or ublk): whether /proc/swaps' text names dev (or
 * a partition of it); when that differs from *swap, *swap is updated and the change logged
 * once: a warning naming dev and lun that points to the kernel initiator, or a notice that it
 * is no longer swap. Returns the new state. No allocation.
 */
bool initiator_swap_watch(const char *swaps, size_t len, const char *dev, const char *lun,
			  bool *swap);

/* Render exports and clients as text lines ("... swap yes /dev/nbdN" on swapped kernel
 * devices) into buf. */
int initiator_export_format(const struct initiator_export *e, char *buf, size_t len);

#endif
