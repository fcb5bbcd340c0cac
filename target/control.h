/*
 * Control socket of ballast-targetd: a unix stream socket taking one command line per
 * connection and answering "ok[ detail]" or "error: reason" (then the connection closes).
 * Commands: status, drop, drop-after N, delay MS, blackhole on|off, reject-logins on|off,
 * fail-next N KEY/ASC/ASCQ, corrupt-digest, ignore-nop on|off, portal stop|start, reload.
 * The fault-injection commands exist only with --enable-fault-injection (the default).
 * Control plane; the loop thread.
 */
#ifndef BALLAST_TARGET_CONTROL_H
#define BALLAST_TARGET_CONTROL_H

#include <stddef.h>

struct target_daemon;

/* Listen on path (replacing a stale socket). Returns 0 or -errno. */
int target_control_open(struct target_daemon *d, const char *path);

/* Stop listening, unlink the socket. Accepts d->control NULL. */
void target_control_close(struct target_daemon *d);

/*
 * Execute one command line (no trailing newline needed); the answer goes to reply
 * (reply_size bytes, NUL-terminated). Returns 0 when the command took effect, -errno
 * otherwise (the reply then starts with "error"). For tests and the socket.
 */
int target_control_exec(struct target_daemon *d, const char *line, char *reply,
			size_t reply_size);

/*
 * The client: `ballast-targetd ctl SOCKET COMMAND [ARGS...]`. Prints the reply on stdout.
 * Returns the process exit status: 0 when the command took effect, 1 if refused, 2 on a
 * connection error.
 */
int target_control_client(const char *path, int argc, char **argv);

/* Reload the configuration (SIGHUP, `reload`). Implemented in main.c. Returns 0 or -errno. */
int target_reload(struct target_daemon *d, char *msg, size_t msg_size);

#endif
