/*
 * The iSCSI connection, control-plane side: TCP connect with a timeout and blocking PDU
 * exchange for the phases before the datapath takes the socket over (login, SendTargets
 * discovery, the LUN scan, logout). The same sequence-number state (struct initiator_sync)
 * then seeds the session's datapath.
 *
 * Control plane only: may block (bounded by the deadline given), may allocate (getaddrinfo).
 * Thread: the caller's. No logging: -errno plus a message where useful.
 */
#ifndef BALLAST_INITIATOR_CONN_H
#define BALLAST_INITIATOR_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pdu.h"

/*
 * Resolve host and connect a TCP socket with a timeout. Returns the connected, blocking fd,
 * or -errno (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -ENOENT when the name does not resolve)
 * with a message in msg. peer (may be NULL) receives "addr:port" of the peer.
 * Owned by caller, release with close().
 */
int initiator_conn_connect(const char *host, uint16_t port, int timeout_ms, char *peer,
			   size_t peer_size, char *msg, size_t msg_size);

/*
 * Blocking PDU I/O state of one connection before Full Feature Phase hands it to the
 * datapath. Caller storage.
 */
struct initiator_sync {
	int fd;
	bool header_digest;       /* CRC32C on headers (after login negotiated it) */
	bool data_digest;
	uint32_t max_recv_dsl;    /* largest data segment accepted */
	uint32_t max_xmit_dsl;    /* largest data segment sent */
	uint32_t cmdsn;           /* next CmdSN to use */
	uint32_t expstatsn;       /* next StatSN expected */
	uint32_t expcmdsn, maxcmdsn;
	uint32_t next_itt;
	int timeout_ms;           /* per PDU */
};

/* Send one PDU: h is encoded (data_len set from len), then data and padding, digests as set. */
int initiator_sync_send(struct initiator_sync *s, struct pdu_hdr *h, const void *data,
			uint32_t len);

/*
 * Receive one PDU into h and data[0..cap). *len gets the data segment length. A longer data
 * segment than cap (or max_recv_dsl) is -EMSGSIZE; a malformed header -EBADMSG; a digest
 * mismatch -EILSEQ; EOF -ECONNRESET; the deadline -ETIMEDOUT. ExpStatSN, ExpCmdSN and MaxCmdSN
 * are tracked from every PDU that carries them.
 */
int initiator_sync_recv(struct initiator_sync *s, struct pdu_hdr *h, void *data, uint32_t cap,
			uint32_t *len);

/* Result of one synchronous SCSI command. */
struct initiator_sync_result {
	uint8_t status;
	uint8_t response;
	uint32_t data_len;        /* Data-In bytes received */
	uint8_t sense[96];
	uint32_t sense_len;
};

/*
 * Run one SCSI command with a READ data phase (or none) and wait for its completion: Data-In
 * into buf[0..buf_len), status from the SCSI Response or a Data-In with S. NOP-Ins are
 * answered. Returns 0 (see res->status) or -errno from the connection.
 */
int initiator_sync_scsi(struct initiator_sync *s, uint64_t lun, const uint8_t *cdb,
			size_t cdb_len, void *buf, uint32_t buf_len,
			struct initiator_sync_result *res);

/* Logout the session (reason 0) and wait for the response. Returns 0 or -errno. */
int initiator_sync_logout(struct initiator_sync *s);

#endif
