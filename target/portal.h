/*
 * Listening portals of ballast-targetd: IPv4/IPv6 TCP sockets watched by the libev loop.
 * Port 0 binds an ephemeral port; the bound address is kept for --ready-fd, logs and
 * SendTargets (unless the portal advertises another TargetAddress). Control plane.
 * Thread: the daemon's loop thread.
 */
#ifndef BALLAST_TARGET_PORTAL_H
#define BALLAST_TARGET_PORTAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "target/config.h"

struct target_daemon;

/* read-only outside portal.c */
struct target_portal {
	struct target_portal *next;
	unsigned idx;                   /* index in the configuration's portal list */
	struct target_portal_cfg cfg;
	int fd;
	ev_io io;
	bool listening;
	int family;
	char bound[TARGET_HOST_MAX + 8];   /* "host:port" or "[v6]:port" as bound */
	char address[TARGET_HOST_MAX + 8]; /* what SendTargets reports: advertise or bound */
	uint16_t port;                     /* bound port */
	struct log_ratelimit rl;           /* accept failures (connection floods) */
};

/* Bind and listen on every portal of cfg. Returns 0 or -errno with a message in err. */
int target_portals_open(struct target_daemon *d, const struct target_config *cfg, char *err,
			size_t err_size);

/* Re-read portal settings after a reload: new portals are opened, advertise updated. */
int target_portals_reload(struct target_daemon *d, const struct target_config *cfg, char *err,
			  size_t err_size);

/* Close every listening socket and free the portals. */
void target_portals_free(struct target_daemon *d);

/* Stop accepting (close the listening sockets) / start again on the same ports. */
int target_portals_stop(struct target_daemon *d);
int target_portals_start(struct target_daemon *d);

/* Portal by configuration index, or NULL. */
struct target_portal *target_portal_by_idx(struct target_daemon *d, unsigned idx);

#endif
