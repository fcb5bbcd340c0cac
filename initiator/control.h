/*
 * ballastd's control socket: a unix stream socket answering one-line requests with a text
 * report, for tests, operators and ballastadm. The daemon side is polled on the netreserve ring
 * (IORING_OP_POLL_ADD) and answers from a static buffer, so serving a request never allocates;
 * a client has 200 ms to send its request line. The client side (initiator_control_request) is
 * what `ballastd ctl SOCKET CMD` runs; ballastadm uses initiator_control_query().
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
 * Listen on path (an existing socket there is replaced) and serve requests on ring r with fn.
 * Control plane. Returns 0 or -errno with a message. Release with initiator_control_free().
 */
int initiator_control_new(const char *path, struct netreserve_ring *r, unsigned int kind,
			  initiator_control_fn fn, void *ctx, struct initiator_control **out,
			  char *msg, size_t msg_size);

/* Close and unlink. Accepts NULL. */
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
