/*
 * ballastd: limits and small types shared by the initiator's modules.
 *
 * The daemon is single threaded: the main thread parses the configuration, discovers and logs
 * in with blocking sockets (control plane), scans the LUNs, reserves every pool, then runs the
 * datapath on its netreserve ring: the iSCSI connection, the NBD listeners and clients and the
 * control socket all complete on that one io_uring. A lost connection is reopened on the ring
 * too (connect, login, replay: session.h), from state reserved at startup. Header-only.
 */
#ifndef BALLAST_INITIATOR_H
#define BALLAST_INITIATOR_H

#include <stdint.h>

#define INITIATOR_IDENT "ballastd"

/* Most LUNs one session exports (REPORT LUNS beyond this are ignored with a warning). */
#define INITIATOR_MAX_LUNS 64
/* Most --nbd listeners. */
#define INITIATOR_MAX_LISTENERS 16
/* NBD client connections served at once, all listeners together. */
#define INITIATOR_MAX_NBD_CLIENTS 32
/* Task slots (commands in flight per session): hard ceiling of node.session.queue_depth. */
#define INITIATOR_MAX_SLOTS 1024
/* Data-Out PDUs one task may have queued for sending at once (headers from the Data-Out pool). */
#define INITIATOR_DOUT_PER_TASK 16
/* R2Ts one task can hold; MaxOutstandingR2T is never offered above this. */
#define INITIATOR_MAX_R2T 8
/* Times a command is reissued after UNIT ATTENTION / BUSY / TASK SET FULL before it fails. */
#define INITIATOR_MAX_RETRIES 8
/* Largest sense data kept per task. */
#define INITIATOR_SENSE_MAX 96
/* Bytes of a target's text / login response we accept (RFC 7143 6.2 minimum is 8192). */
#define INITIATOR_TEXT_MAX 65536

/* Default paths. */
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#define INITIATOR_CONF_PATH SYSCONFDIR "/ballast/ballastd.conf"
#define INITIATOR_NAME_PATH SYSCONFDIR "/ballast/initiatorname.iscsi"
#define INITIATOR_SOCKET_DIR RUNSTATEDIR "/ballast"

#endif
