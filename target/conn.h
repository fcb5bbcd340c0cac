/*
 * One iSCSI connection of ballast-targetd: the streaming PDU parser fed by transport chunks
 * (BHS -> AHS -> header digest -> data straight into its destination -> padding -> data
 * digest), the transmit slots (responses are built lazily into a fixed ring of PDU slots), and
 * the dispatch to login (login.c) and Full Feature Phase (ffp.c).
 *
 * Memory: the connection object, its receive buffer and its transmit slots are allocated at
 * accept (control plane); task slots and data buffers belong to the session and are allocated
 * when the login completes. From Full Feature Phase on nothing here allocates.
 * Thread: the daemon's loop thread.
 */
#ifndef BALLAST_TARGET_CONN_H
#define BALLAST_TARGET_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/log.h"
#include "common/pdu.h"
#include "target/scsi.h"
#include "target/xport.h"

struct target_daemon;
struct target_portal;
struct target_session;
struct target_login;
struct target_conn;

#define TARGET_TX_SLOTS 256       /* PDU slots per connection */
#define TARGET_TX_INLINE 264      /* inline payload: sense (2 + 252) or a rejected BHS */
#define TARGET_TX_LOW 8           /* free slots needed before parsing another PDU */
#define TARGET_MAX_AHS 264        /* AHS bytes we accept (extended CDB + bidi length) */
#define TARGET_LOGIN_DSL 8192     /* data segment limit during login (RFC 7143 default) */
#define TARGET_MAX_R2T 16         /* outstanding R2Ts per task we track */

/* A PDU being sent. read-only outside conn.c/ffp.c. */
struct target_txpdu {
	struct target_send send;
	struct target_conn *conn;
	struct target_task *task;  /* holds a reference on the task's buffer, or NULL */
	struct iovec iov[4];
	int iovcnt;
	bool busy;
	uint8_t hdr[PDU_BHS_LEN + PDU_DIGEST_LEN];
	uint8_t trailer[3 + PDU_DIGEST_LEN]; /* padding + data digest */
	uint8_t inl[TARGET_TX_INLINE];
};

enum target_task_state {
	TARGET_TASK_FREE = 0,
	TARGET_TASK_DATA_OUT,  /* waiting for write data (immediate, unsolicited, R2T) */
	TARGET_TASK_QUEUED,    /* read or NOP: its PDU is still arriving */
	TARGET_TASK_EXEC,      /* in the SCSI layer (pending backstore I/O) */
	TARGET_TASK_TX,        /* result being sent */
};

enum target_task_kind {
	TARGET_TASK_SCSI = 0,
	TARGET_TASK_NOP,       /* NOP-Out ping that needs an echo */
};

/* A task slot (one SCSI command or NOP-Out ping). Session storage. */
struct target_task {
	struct target_scsi_cmd cmd;    /* must stay first: cmd.priv points back here anyway */
	struct target_session *sess;
	struct target_conn *conn;
	uint8_t state;                 /* enum target_task_state */
	uint8_t kind;                  /* enum target_task_kind */
	uint16_t idx, gen;
	bool immediate;
	bool read, write;
	bool aborted;                  /* TMF: complete silently */
	bool oversize;                 /* EDTL above the buffer: fail, discard data */
	bool unsol_done;               /* the unsolicited sequence has ended */
	bool status_sent;              /* final PDU queued */
	bool in_txq;
	uint32_t itt, cmdsn, edtl;
	uint64_t lun;
	uint8_t *buf;                  /* data buffer (buf_cap bytes) */
	uint32_t buf_cap;
	uint8_t *scratch;
	uint32_t scratch_cap;
	/* write side; a write larger than buf_cap streams through it one window at a time */
	uint32_t wr_len;               /* bytes of write data we take in (<= edtl) */
	uint32_t wr_recv;              /* bytes received */
	uint32_t win_base, win_end;    /* Data-Out window: buf[0] holds offset win_base */
	uint32_t r2t_off;              /* next offset to solicit */
	uint32_t r2t_out;              /* R2Ts outstanding */
	uint32_t r2tsn;
	uint32_t data_out_sn;          /* expected DataSN in the current sequence */
	/* read side */
	uint32_t rd_base;              /* transfer offset of buf[0] */
	uint32_t rd_len;               /* send Data-In up to this transfer offset */
	bool rd_final;                 /* the last window: the status follows */
	bool started;                  /* the SCSI layer has the command (streaming resumes it) */
	bool stream_wait;              /* resume the SCSI command once this window is sent */
	uint32_t tx_off;
	uint32_t datasn;
	uint32_t tx_refs;              /* tx slots pointing into buf */
	struct target_task *txq_next;  /* conn tx queue */
};

enum target_conn_state {
	TARGET_CONN_LOGIN = 0,
	TARGET_CONN_FFP,
	TARGET_CONN_LOGOUT,            /* Logout Response queued: close once sent */
	TARGET_CONN_CLOSING,
};

enum target_rx_state {
	TARGET_RX_BHS = 0,
	TARGET_RX_AHS,
	TARGET_RX_HDIGEST,
	TARGET_RX_DATA,
	TARGET_RX_PAD,
	TARGET_RX_DDIGEST,
};

/* A connection. read-only outside conn.c/login.c/ffp.c/session.c. */
struct target_conn {
	uint32_t id;                   /* c<N> in logs */
	struct target_conn *next;      /* daemon list */
	struct target_conn *sess_next; /* session list */
	struct target_daemon *d;
	struct target_portal *portal;
	struct target_xport *x;
	struct target_session *sess;   /* NULL until the login completes */
	struct target_login *login;    /* during login */
	enum target_conn_state state;
	char peer[64];                 /* "addr:port" */
	char local[64];
	int local_family;
	uint16_t cid;
	uint16_t tpgt;

	/* negotiated (valid in FFP; login uses the RFC defaults) */
	bool hdigest, ddigest;
	uint32_t max_xmit_dsl;         /* peer's MaxRecvDataSegmentLength */
	uint32_t max_recv_dsl;         /* ours */

	/* receive */
	enum target_rx_state rx_state;
	uint32_t rx_need, rx_got;      /* bytes of the current element */
	uint8_t rx_bhs[PDU_BHS_LEN];
	uint8_t rx_ahs[TARGET_MAX_AHS];
	uint8_t rx_dig[PDU_DIGEST_LEN];
	struct pdu_hdr rx_hdr;
	uint32_t rx_crc;               /* running data digest */
	uint8_t *rx_dest;              /* where data goes, or NULL: discard */
	uint32_t rx_data_len;
	uint32_t rx_data_got;
	struct target_task *rx_task;   /* task the data belongs to */
	bool rx_hdr_bad;               /* header already rejected: discard the data */
	bool rx_digest_bad;
	uint8_t *rxbuf;                /* data of non-SCSI PDUs */
	uint32_t rxbuf_cap;
	bool rx_paused;

	/* transmit */
	struct target_txpdu *tx;       /* TARGET_TX_SLOTS */
	uint32_t tx_head, tx_used;     /* ring: next free = (head + used) % n; oldest = head */
	struct target_task *txq_head, *txq_tail;
	uint32_t statsn;               /* next StatSN to send */
	uint32_t exp_statsn;

	/* text responses longer than one PDU (login and Text) */
	char *text_out;
	uint32_t text_out_len, text_out_off, text_out_cap;
	uint32_t text_ttt;

	/* timers */
	ev_timer login_timer;
	ev_timer nop_timer;
	ev_tstamp last_rx;
	uint32_t nop_ttt;              /* outstanding ping TTT, 0 if none */
	ev_tstamp nop_sent;
	ev_timer delay_timer;          /* fault injection: delayed flushing */
	bool delay_armed;

	struct log_ratelimit rl;
	uint64_t pdus_rx;
};

/*
 * Accept-time setup: a connection for socket fd (owned from now on) accepted on portal.
 * Starts the login timer. Control plane. Returns 0 or -errno (fd closed).
 */
int target_conn_new(struct target_daemon *d, struct target_portal *portal, int fd);

/*
 * Close c (reason logged at info when not NULL). Tasks are released once the transport has
 * returned every buffer. Idempotent. Any state.
 */
void target_conn_close(struct target_conn *c, int err, const char *reason);

/*
 * Get a free transmit slot, or NULL when none is free (callers that must answer keep
 * TARGET_TX_LOW slots in reserve by pausing the receiver). Datapath.
 */
struct target_txpdu *target_conn_tx_get(struct target_conn *c);

/*
 * Finish and send slot p whose BHS is h: encodes, adds the header digest, pads and digests
 * data[0..len) (borrowed until the slot completes; task pins it via tx_refs). Returns 0 or
 * -EPIPE (connection closing; the slot is released). Datapath.
 */
int target_conn_tx_send(struct target_conn *c, struct target_txpdu *p, struct pdu_hdr *h,
			const void *data, uint32_t len, struct target_task *task);

/* Convenience: a PDU with inline data (len <= TARGET_TX_INLINE). Returns 0/-EPIPE/-ENOBUFS. */
int target_conn_send_pdu(struct target_conn *c, struct pdu_hdr *h, const void *data,
			 uint32_t len);

/* Queue task on the connection's transmit queue (the tx pump builds its PDUs). Datapath. */
void target_conn_txq_add(struct target_conn *c, struct target_task *t);

/* Build PDUs for queued tasks while slots are free. Datapath. */
void target_conn_tx_pump(struct target_conn *c);

/* Send a Reject for the header in c->rx_bhs with reason. Datapath. */
void target_conn_reject(struct target_conn *c, uint8_t reason);

/* Resume the receiver if it was paused for lack of tx slots. */
void target_conn_maybe_resume(struct target_conn *c);

/* Switch to Full Feature Phase after a successful login (digests, limits, timers). */
void target_conn_enter_ffp(struct target_conn *c);

/* Start / stop NOP-In pinging according to the configuration. */
void target_conn_nop_arm(struct target_conn *c);

#endif
