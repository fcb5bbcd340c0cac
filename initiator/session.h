/*
 * The iSCSI session datapath (RFC 7143 ERL 0, one connection): per-tag task slots with their
 * data buffers preallocated, SCSI commands built from block requests (READ/WRITE 10/16 with
 * FUA, SYNCHRONIZE CACHE, UNMAP, WRITE SAME), immediate and unsolicited data, R2T-driven
 * Data-Out up to MaxOutstandingR2T, Data-In with status, residuals, CmdSN window flow control,
 * retries on UNIT ATTENTION / BUSY / TASK SET FULL, sense mapped to NBD errors, NOP-In pings,
 * and a clean logout. Everything runs on the netreserve ring's owner thread.
 *
 * Recovery (ERL 0): a task keeps its whole request (block range, flags, data in its own buffer)
 * until it completes, and each SCSI command it issues is rebuilt from that state. When the
 * connection is lost (socket error, NOP-Out ping timeout, Async Message, Reject, a command
 * timeout that ABORT TASK and LUN RESET did not cure) the commands the target did not answer
 * are held, the session logs in again on the ring with the same ISID (session reinstatement,
 * backoff, login_timeout, node.session.reopen_max) and reissues them in CmdSN order with new
 * ITTs; new requests wait meanwhile, up to replacement_timeout, then fail with EIO until the
 * session is back. The relogin runs from state reserved here (login state, request buffers,
 * CHAP digests): it never allocates or blocks.
 *
 * Control plane: initiator_session_new/_free/_start. Datapath (never allocates, blocks or logs
 * except rate-limited errors and one line per connection event): everything else. The file
 * includes common/datapath.h.
 */
#ifndef BALLAST_INITIATOR_SESSION_H
#define BALLAST_INITIATOR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/pdu.h"
#include "common/text.h"
#include "initiator/conn.h"
#include "initiator/initiator.h"
#include "initiator/nbd.h"
#include "initiator/scsi.h"
#include "netreserve/netreserve.h"

/* One exported logical unit. Filled at scan time; read-only afterwards. */
struct initiator_lun {
	struct initiator_lun_info info;
	uint64_t lun_field;          /* the 8-byte LUN as pdu_hdr.lun */
	uint32_t max_xfer_blocks;    /* per READ/WRITE command (VPD B0, capped by max_io) */
	uint32_t max_unmap_blocks;   /* per UNMAP */
	uint32_t max_ws_blocks;      /* per WRITE SAME */
	bool can_unmap;
	bool can_write_same;         /* cleared at run time if the LU refuses WRITE SAME */
	/* FUA policy (from MODE SENSE, set at scan): send_fua puts the FUA bit in WRITE CDBs
	 * (only when DPOFUA=1); accept_fua advertises NBD SEND_FUA: DPOFUA=1, or WCE=0 where
	 * every write is durable already and the bit is dropped. With DPOFUA=0 and WCE=1 FUA is
	 * not advertised and clients use FLUSH (SYNCHRONIZE CACHE). */
	bool send_fua;
	bool accept_fua;
};

/* Block operations a task carries. */
enum initiator_op {
	INITIATOR_OP_READ,
	INITIATOR_OP_WRITE,
	INITIATOR_OP_FLUSH,
	INITIATOR_OP_TRIM,
	INITIATOR_OP_ZERO,
};

/* io_uring user_data kind of the session's own SQEs (the relogin's connect). */
#define INITIATOR_KIND_SESSION (NETRESERVE_KIND_USER + 2)

struct initiator_session;
struct initiator_task;

/* Called once when a submitted task finishes: err is 0 or an NBD error (INITIATOR_NBD_E*). */
typedef void (*initiator_task_done_fn)(struct initiator_task *t, uint32_t err);

/* A pending R2T (or the unsolicited burst: ttt 0xffffffff). */
struct initiator_burst {
	uint32_t ttt;
	uint32_t offset;             /* within the command's data */
	uint32_t left;
	uint32_t datasn;
};

/*
 * A task slot: one block request from its submission to its completion, plus the SCSI command
 * currently carrying (part of) it. Preallocated in the session's task pool, with its data
 * buffer (max_io bytes) in the session's arena. Read-only outside session.c except the owner
 * area at the end, which belongs to whoever submitted the task (the NBD export).
 */
struct initiator_task {
	/* --- the request (kept for retries and replay) --- */
	struct initiator_session *sess;
	const struct initiator_lun *lun;
	enum initiator_op op;
	uint64_t offset;             /* bytes */
	uint64_t length;             /* bytes */
	bool fua;
	bool no_hole;
	void *data;                  /* max_io bytes, this slot's buffer */
	initiator_task_done_fn done;
	/* --- progress --- */
	uint32_t index;              /* slot index */
	uint16_t gen;                /* bumped at every issue: ITT = (gen & 0x7fff) << 16 | index */
	uint8_t state;               /* private */
	uint8_t retries;
	uint64_t chunk_off;          /* bytes of the request already done */
	uint32_t chunk_len;          /* bytes covered by the current command */
	uint32_t itt;
	uint32_t cmdsn;
	int64_t issued_ms;           /* CLOCK_MONOTONIC ms when the command was sent */
	uint32_t edtl;               /* data transfer length of the current command */
	bool dir_write;
	bool dir_read;
	uint8_t cdb[INITIATOR_SCSI_CDB_MAX];
	uint8_t cdb_len;
	uint32_t data_off;           /* offset of the command's data in the buffer */
	uint32_t xfer;               /* Data-In bytes received */
	bool have_status;
	uint8_t status;
	uint8_t response;
	uint8_t rsp_flags;
	uint32_t fail_err;           /* nonzero: failed locally with this NBD error */
	uint32_t residual;
	struct initiator_sense sense;
	uint32_t sends;              /* our PDUs still queued for sending */
	struct initiator_task *tx_next; /* command send queue / the command batch it went in */
	uint8_t cmd_iovcnt;          /* iovecs of the SCSI Command PDU in cmd_iov */
	struct initiator_burst bursts[INITIATOR_MAX_R2T + 1];
	uint8_t nbursts;
	uint8_t dout_inflight;
	struct netreserve_waiter dout_wait;
	struct initiator_task *next; /* window queue / retry list */
	/* the SCSI Command PDU */
	uint8_t cmd_hdr[PDU_BHS_LEN + PDU_DIGEST_LEN];
	uint8_t cmd_dd[PDU_DIGEST_LEN];
	struct iovec cmd_iov[4];
	struct netreserve_send cmd_send;
	/* --- owner area (the NBD export) --- */
	void *owner;
	uint32_t owner_gen;
	struct initiator_nbd_request nreq;
	uint8_t reply_hdr[INITIATOR_NBD_REPLY_HDR_MAX];
	struct iovec reply_iov[2];
	uint8_t reply_iovcnt;
	struct initiator_task *reply_next;
	struct netreserve_send reply_send;
};

/* Session counters (also in the shared stats region as app.<name>). */
struct initiator_session_stats {
	uint64_t *cmds, *reads, *writes, *read_bytes, *write_bytes, *flushes, *trims, *zeroes;
	uint64_t *errors, *retries, *r2ts, *window_waits, *nop_pings, *slot_waits;
	uint64_t *cmd_sends;         /* send requests that carried SCSI Command PDUs */
};

struct initiator_session_config {
	const struct initiator_config *cfg;  /* borrowed until _free */
	struct initiator_lun *luns;          /* borrowed until _free */
	size_t nluns;
	uint32_t slots;                      /* task slots (queue depth) */
	uint32_t max_io;                     /* data buffer per slot */
	struct netreserve_stats_region *stats; /* may be NULL */
};

/*
 * Control plane: reserve the task pool, the Data-Out header pool, the data arena and the
 * receive buffer for a session on ring r (owner thread). Returns 0 or -errno.
 * Release with initiator_session_free().
 */
int initiator_session_new(const struct initiator_session_config *sc, struct netreserve_ring *r,
			  struct initiator_session **out);
void initiator_session_free(struct initiator_session *s);

/* Bytes initiator_session_new() reserves (pools, arena, state) for these sizes. Pure. */
uint64_t initiator_session_reserve_bytes(const struct initiator_config *cfg, uint32_t slots,
					 uint32_t max_io);

/*
 * Control plane: hand the logged-in connection (fd and its sequence numbers, negotiated
 * params) to the datapath: the fd is attached to the ring, its peer address is kept for
 * relogins and the INITIATOR_KIND_SESSION handler is set. Returns 0 or -errno.
 */
int initiator_session_start(struct initiator_session *s, const struct initiator_sync *sync,
			    const struct text_params *params, uint16_t tsih, const uint8_t isid[6]);

/* Take a free task for class cls, or NULL (-ENOBUFS: try again after a slot is freed). */
struct initiator_task *initiator_session_task_get(struct initiator_session *s,
						  enum netreserve_class cls);
/* Return a task (not submitted, or finished). */
void initiator_session_task_put(struct initiator_session *s, struct initiator_task *t);

/*
 * Start t: lun, op, offset, length, fua, data (WRITE) and done must be set. done(t, err) is
 * called exactly once, later, from the ring's dispatch loop (never from inside this call).
 */
void initiator_session_submit(struct initiator_session *s, struct initiator_task *t);

/* A slot was freed since the last call (clears the flag): stalled submitters may retry. */
bool initiator_session_slot_freed(struct initiator_session *s);

/* True while the connection is logged in and usable (false while it is being reopened). */
bool initiator_session_up(const struct initiator_session *s);
/* True once the session gave up (node.session.reopen_max attempts failed): I/O fails. */
bool initiator_session_dead(const struct initiator_session *s);
/* Tasks in flight (taken and not put). */
uint32_t initiator_session_busy(const struct initiator_session *s);

/*
 * Timers, from the main loop at least every 200 ms: NOP-Out pings and their timeout, command
 * timeouts (ABORT TASK, LUN RESET), the logout deadline, and while the connection is down the
 * relogin (backoff, connect, login_timeout) and replacement_timeout. Datapath.
 */
void initiator_session_tick(struct initiator_session *s);

/*
 * Deferred work after a ring poll: complete tasks whose status arrived (done callbacks run
 * here, outside the receive parser), then send the SCSI commands gathered since the last
 * call (see initiator_session_defer()). Must be called after every netreserve_ring_wait() or
 * _poll() that may have run this session's or its submitters' callbacks. Datapath.
 */
void initiator_session_run(struct initiator_session *s);

/*
 * Gather from now on: SCSI Command PDUs of submitted (or window-released) tasks are queued and
 * go out together, several PDUs in one send request, at the next initiator_session_flush() or
 * initiator_session_run(), instead of one send each. For submitters calling
 * initiator_session_submit() from ring callbacks (the NBD receive path), where
 * initiator_session_run() follows before the ring waits again. The receive path of the
 * session itself gathers the same way. Datapath, owner thread, never fails.
 */
void initiator_session_defer(struct initiator_session *s);

/* Send what initiator_session_defer() gathered, and stop gathering. Datapath. */
void initiator_session_flush(struct initiator_session *s);

/* Start a Logout (reason: close the session). initiator_session_logged_out() says when done. */
int initiator_session_logout(struct initiator_session *s);
/*
 * The daemon stops: no more relogins; if the connection is down, held commands fail with EIO
 * now (if it is up, the caller drains and logs out). Datapath, owner thread.
 */
void initiator_session_shutdown(struct initiator_session *s);
bool initiator_session_logged_out(const struct initiator_session *s);

/*
 * Render a status report into buf, one line per topic: "session", "connection ... state
 * logged_in|reopening|failed|logged_out phase ...", "recovery" (reconnects, attempts, drops,
 * held and replayed commands, outage times, command timeouts), "last_error TEXT", "params",
 * "sn", "slots", "counters". snprintf semantics. Never allocates.
 */
int initiator_session_format(const struct initiator_session *s, char *buf, size_t len);

#endif
