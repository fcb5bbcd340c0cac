/*
 * ballastd's control socket: a unix stream socket answering one-line requests ("status")
 * with a text report, for tests, operators and ballastadm. The daemon side is polled on the
 * netreserve ring (IORING_OP_POLL_ADD) and answers from a static buffer, so serving a request
 * never allocates; a client has 200 ms to send its request line. The client side
 * (initiator_control_request) is what `ballastd ctl SOCKET status` runs.
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

#endif
