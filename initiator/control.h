/*
 * ballastd's control socket: a unix stream socket answering one-line requests with a text
 * report, for tests, operators and ballastadm. The daemon side is served asynchronously on the
 * netreserve ring (accept, recv and send are io_uring operations) from static storage, so
 * serving a request never allocates and never blocks the thread that owns the ring. At most 3
 * clients are served at once (more wait in the listen backlog); a client has 1 s from its
 * connection to send its request line and 2 s to take the answer (up to 64 KiB), else it is
 * closed without one. The client side (initiator_control_request) is what
 * `ballastd ctl SOCKET CMD` runs; ballastadm uses initiator_control_query().
 *
 * Requests (one line each, answered and then the connection is closed):
 *   status  the daemon's report (rendered by the daemon's initiator_control_fn)
 *   pid     "pid N": the daemon's process id (ballastadm waits on it after a logout)
 *   logout  "ok logout pid N", then the daemon is sent SIGTERM, so it takes exactly the
 *           shutdown path of `kill -TERM`: stop the exports, drain, iSCSI Logout, exit 0
 *   help    the list of requests
 * Anything else is passed to the daemon's initiator_control_fn.
 */
#ifndef BALLAST_INITIATOR_CONTROL_H
#define BALLAST_INITIATOR_CONTROL_H

#include <stddef.h>
#include <stdio.h>

#include "netreserve/netreserve.h"

struct initiator_control;

/* Renders the answer to request cmd ("status") into buf; returns its length or -errno. */
typedef int (*initiator_control_fn)(void *ctx, const char *cmd, char *buf, size_t len);

/*
 * Listen on path (an existing socket there is replaced) and serve requests on ring r with fn,
 * whose CQEs carry kind (the handler for kind is set here). fn is called on r's owner thread,
 * from the ring's dispatch, with a 64 KiB buffer; it must not block. ctx is borrowed until
 * initiator_control_free(). Storage is static: one control object per process (-EBUSY for a
 * second). Uses at most 4 of r's user CQEs at once. Control plane, on r's owner thread.
 * Returns 0 or -errno with a message. Release with initiator_control_free().
 */
int initiator_control_new(const char *path, struct netreserve_ring *r, unsigned int kind,
			  initiator_control_fn fn, void *ctx, struct initiator_control **out,
			  char *msg, size_t msg_size);

/*
 * Cancels the requests in progress (unanswered), closes and unlinks. On r's owner thread,
 * before r is freed. Accepts NULL.
 */
void initiator_control_free(struct initiator_control *c);

/*
 * Client: send cmd to the daemon at path and copy the answer to out. Returns 0, or -errno
 * with a message on stderr.
 */
int initiator_control_request(const char *path, const char *cmd, FILE *out);

/*
 * Client: send cmd to the daemon at path and copy the answer, NUL-terminated and truncated to
 * size - 1 bytes, into buf. Waits at most timeout_ms for the whole answer. Returns the answer's
 * length, or -errno (-ENOENT / -ECONNREFUSED: no daemon there) with a message in msg. Prints
 * nothing. Control plane; blocks.
 */
int initiator_control_query(const char *path, const char *cmd, char *buf, size_t size,
			    int timeout_ms, char *msg, size_t msg_size);

#endif
