/*
 * Discovery: SendTargets (RFC 7143 12.3, appendix C: log in to a portal with
 * SessionType=Discovery, ask SendTargets=All, collect TargetName/TargetAddress records, log
 * out) and the LUN scan of a normal session. Control plane: blocking, bounded by the login
 * timeout. No logging.
 */
#ifndef BALLAST_INITIATOR_DISCOVERY_H
#define BALLAST_INITIATOR_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "common/text.h"
#include "initiator/config.h"
#include "initiator/conn.h"
#include "initiator/session.h"

#define INITIATOR_DISC_ADDRS 4

struct initiator_discovered {
	char name[TEXT_NAME_MAX + 1];
	char addr[INITIATOR_DISC_ADDRS][TEXT_VALUE_MAX + 1]; /* "host:port,tpgt" as sent */
	size_t naddr;
};

/*
 * Discover the targets behind cfg's portal. Fills out[0..max) and returns how many targets the
 * portal listed (may exceed max), or -errno with a message in msg (connection, login or
 * protocol failure; -EACCES for authentication).
 */
int initiator_discover(const struct initiator_config *cfg, struct initiator_discovered *out,
		       size_t max, char *msg, size_t msg_size);

/*
 * LUN discovery on a logged-in session (before the datapath takes the connection): REPORT
 * LUNS, then per LUN INQUIRY (standard, VPD 0x00, 0x83, 0xB0, 0xB2) and READ CAPACITY (16),
 * retrying through unit attentions. Keeps direct-access LUNs only (and only cfg->lun when it
 * is >= 0). max_io caps the per-command transfer. Fills luns[0..max) and returns how many, or
 * -errno with a message (-ENODEV: no usable LUN).
 */
int initiator_discover_luns(struct initiator_sync *s, const struct initiator_config *cfg,
			    uint32_t max_io, struct initiator_lun *luns, size_t max, char *msg,
			    size_t msg_size);

#endif
