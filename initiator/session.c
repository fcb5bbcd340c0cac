/*
 * The iSCSI session datapath: task slots, SCSI command issue, Data-Out, Data-In, responses,
 * the CmdSN window and the receive parser, all on the netreserve ring's owner thread.
 *
 * Memory: the session state and the receive buffer are one mapping made at startup; task slots
 * and Data-Out headers are netreserve pools; data buffers are a netreserve arena, buffer i
 * belonging to task slot i. Nothing here allocates after initiator_session_new().
 *
 * Recovery (RFC 7143 ERL 0, issue 6): when the connection is lost (socket error, NOP-Out ping
 * timeout, a target's Async Message or Reject, a command that neither ABORT TASK nor LUN RESET
 * could recover), every command the target has not answered is held in the replay queue with
 * its request and data still in its slot; the session logs in again with the same ISID and
 * TSIH 0 (session reinstatement: the target drops the old session and its tasks) on the ring,
 * without blocking and from the login state reserved in this mapping, then reissues the held
 * commands in their original CmdSN order as new tasks. Answered commands are never repeated.
 * replacement_timeout bounds how long I/O waits: then it fails with EIO until the session is
 * back. The connect is an IORING_OP_CONNECT on a non-blocking socket; timers are deadlines
 * checked from initiator_session_tick(), which the main loop calls at least every 200 ms.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/pdu.h"
#include "common/sn.h"
#include "initiator/config.h"
#include "initiator/login.h"
#include "initiator/session.h"

#include "common/datapath.h"

/* task states */
enum {
	T_FREE = 0,
	T_TAKEN,    /* owned by the submitter, not submitted */
	T_WINDOW,   /* waiting for the CmdSN window */
	T_ISSUED,   /* command sent (or being sent) */
	T_COMPLETE, /* on the completion queue */
	T_HELD,     /* in the replay queue: waiting for the session to come back */
};

/* connection states; status shows logged_in, reopening, failed (I/O fails) or logged_out */
enum {
	CS_UP = 0,     /* Full Feature Phase */
	CS_WAIT,       /* down: waiting for the next attempt (backoff, Time2Wait) */
	CS_CONNECTING, /* IORING_OP_CONNECT in flight */
	CS_LOGIN,      /* attached, Login Requests and Responses on the ring */
	CS_OFF,        /* logged out, shut down or given up: no more attempts */
};

/* what a Logout Request in flight is for */
enum {
	LOGOUT_NONE,
	LOGOUT_SHUTDOWN, /* the daemon stops */
	LOGOUT_RELOGIN,  /* the target asked (Async Message): log out, then in again */
};

/* task management escalation for a command that timed out */
enum {
	TMF_IDLE,
	TMF_ABORT,     /* ABORT TASK sent, abort_timeout running */
	TMF_LUN_RESET, /* LOGICAL UNIT RESET sent, lu_reset_timeout running */
};

/* user_data aux values of INITIATOR_KIND_SESSION SQEs */
#define AUX_CONNECT 1
#define AUX_CANCEL 2

/* Backoff between relogin attempts: 0, then 250 ms doubling up to RELOGIN_BACKOFF_MAX_MS. */
#define RELOGIN_BACKOFF_MIN_MS 250
#define RELOGIN_BACKOFF_MAX_MS 2000
/* Longest Time2Wait from a target that we honour. */
#define TIME2WAIT_MAX_S 60
/* RFC 7143 13.12: MaxRecvDataSegmentLength during login is 8192. */
#define LOGIN_DSL 8192

/* receive parser states */
enum {
	RX_BHS,
	RX_AHS,
	RX_DATA,
	RX_TAIL,
};

#define NOP_DATA_MAX 4096
/* Control PDUs use ITTs with bit 31 set; task ITTs never do (gen is 15 bits). */
#define PING_ITT_BASE 0x80000000u
#define LOGOUT_ITT 0x8001ffffu
#define TMF_ITT_BASE 0x80020000u

/* A control PDU in flight (NOP-Out, Logout): caller-embedded send storage. */
struct ctl_pdu {
	uint8_t hdr[PDU_BHS_LEN + PDU_DIGEST_LEN];
	uint8_t dd[PDU_DIGEST_LEN];
	struct iovec iov[4];
	struct netreserve_send send;
	bool busy;
	struct initiator_session *sess;
};

/*
 * SCSI Command PDUs gathered into one send request: every command issued during one pass of
 * the dispatch loop (NBD requests received, commands the CmdSN window released, next chunks)
 * goes to the target in one sendmsg, so one TCP segment and one wakeup of the target carry
 * them all instead of one each. CMD_BATCHES requests may be in flight at once; when all are,
 * further commands are sent one by one (the previous behaviour), so nothing ever waits.
 */
#define CMD_BATCHES 4
#define CMD_BATCH_IOV NETRESERVE_CONN_IOV

struct cmd_batch {
	struct initiator_session *sess;
	struct initiator_task *head; /* the commands it carries, through tx_next */
	struct iovec iov[CMD_BATCH_IOV];
	struct netreserve_send send;
	bool busy;
};

/* One Data-Out PDU in flight (from the Data-Out pool). */
struct dout {
	struct initiator_task *task;
	uint8_t hdr[PDU_BHS_LEN + PDU_DIGEST_LEN];
	uint8_t dd[PDU_DIGEST_LEN];
	struct iovec iov[4];
	struct netreserve_send send;
};

struct initiator_session {
	struct initiator_session_config sc;
	const struct initiator_config *cfg;
	struct netreserve_ring *ring;
	struct netreserve_conn *conn;
	size_t map_len;
	bool up;
	bool logout_sent, logged_out;
	int logout_kind;
	int64_t logout_deadline_ms;
	int last_err;
	char isid_str[13];
	uint8_t isid[6];
	uint16_t tsih;
	/* recovery */
	int cstate;
	bool shutting_down, dead, expired, quiesce, err_set, connect_timed_out, dropping;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_str[INET6_ADDRSTRLEN + 16];
	int cfd;                          /* socket being connected, or -1 */
	uint16_t cgen;                    /* generation of the connect SQE */
	int64_t down_since_ms, next_attempt_ms, login_deadline_ms;
	uint32_t time2wait_ms;
	uint32_t attempts;                /* failed attempts in this outage */
	uint64_t reconnects, reconnect_attempts, drops, replayed, replacement_expiries;
	int64_t last_outage_ms, max_outage_ms;
	char last_error[200];
	struct initiator_task *rq_head, *rq_tail; /* held for replay, in CmdSN order */
	/* task management */
	int tmf_state;
	uint32_t tmf_itt, tmf_seq, tmf_ref_itt;
	struct initiator_task *tmf_task;
	const struct initiator_lun *tmf_lun;
	int64_t tmf_deadline_ms, next_scan_ms;
	uint64_t cmd_timeouts, aborts, lun_resets;
	/* negotiated */
	bool hd, dd;
	uint32_t max_xmit, max_recv, first_burst, max_burst, max_r2t;
	bool imm_data, initial_r2t;
	/* sequence numbers */
	uint32_t cmdsn, expcmdsn, maxcmdsn, expstatsn;
	/* reserves */
	struct netreserve_pool tasks;
	struct netreserve_pool douts;
	struct netreserve_arena arena;
	uint32_t busy;
	bool slot_freed;
	/* CmdSN window queue and completion queue (intrusive through task->next) */
	struct initiator_task *wq_head, *wq_tail;
	struct initiator_task *cq_head, *cq_tail;
	/* commands built and not yet handed to the connection (through task->tx_next) */
	struct initiator_task *txq_head, *txq_tail;
	bool defer;                       /* gather commands until flush_cmds() */
	struct cmd_batch batch[CMD_BATCHES];
	/* receive parser */
	int rx_state;
	uint32_t rx_need, rx_have;
	struct pdu_hdr rx_h;
	uint8_t *rx_dst;
	uint32_t rx_dlen, rx_dgot;
	uint32_t rx_crc;
	uint8_t rx_tail[8];
	uint8_t rx_hdr[PDU_BHS_LEN + PDU_MAX_AHS_LEN + PDU_DIGEST_LEN];
	uint8_t *rxbuf;
	uint32_t rxbuf_cap;
	/* control PDUs */
	struct ctl_pdu nop, ping, logout, tmf;
	/* relogin: two request buffers used in turn (a send's completion may be reaped after
	 * the response it caused), the login state machine and the reserved CHAP digests */
	struct ctl_pdu lpdu[2];
	unsigned lturn;
	char login_tx[2][LOGIN_DSL];
	struct initiator_login login;
	struct initiator_login_crypto crypto;
	uint8_t *nop_data;
	uint32_t ping_itt;
	int64_t ping_sent_ms;
	bool ping_out;
	int64_t last_rx_ms;
	/* counters */
	struct initiator_session_stats st;
	uint64_t priv_counters[16];
	uint64_t protocol_errors;
	struct log_ratelimit rl;
};

static const uint8_t zero_pad[4];

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline struct initiator_task *
task_at(struct initiator_session *s, uint32_t i)
{
	return netreserve_pool_at(&s->tasks, i);
}

/* ---- setup (control plane) ----------------------------------------------------------------- */

static uint64_t *
counter(struct initiator_session *s, unsigned i, const char *name)
{
	uint64_t *p = s->sc.stats ? netreserve_stats_app(s->sc.stats, i, name) : NULL;
	return p ? p : &s->priv_counters[i];
}

int
initiator_session_new(const struct initiator_session_config *sc, struct netreserve_ring *r,
		      struct initiator_session **out)
{
	const struct initiator_config *cfg = sc->cfg;
	size_t base = ALIGN_UP(sizeof(struct initiator_session), (size_t)4096);
	uint32_t rxcap = MAX(cfg->max_recv_dsl, 8192u);
	size_t len = base + ALIGN_UP((size_t)rxcap + NOP_DATA_MAX, (size_t)4096);
	int err;

	if (!sc->slots || sc->slots > INITIATOR_MAX_SLOTS || sc->max_io < 4096)
		return -EINVAL;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	struct initiator_session *s = m;
	memset(s, 0, sizeof(*s));
	s->map_len = len;
	s->sc = *sc;
	s->cfg = cfg;
	s->ring = r;
	s->rxbuf = (uint8_t *)m + base;
	s->rxbuf_cap = rxcap;
	s->nop_data = s->rxbuf + rxcap;
	s->nop.sess = s->ping.sess = s->logout.sess = s->tmf.sess = s;
	for (size_t i = 0; i < CMD_BATCHES; i++)
		s->batch[i].sess = s;
	s->lpdu[0].sess = s->lpdu[1].sess = s;
	s->cfd = -1;
	err = initiator_login_crypto_init(&s->crypto, &cfg->auth);
	if (err) {
		munmap(m, len);
		return err;
	}

	/* Task slots: floors keep the last slots for writeback and control (pool.h). */
	struct netreserve_pool_config pc = {
		.name = "tasks",
		.obj_size = sizeof(struct initiator_task),
		.count = sc->slots,
		.flags = NETRESERVE_POOL_NO_FILL,
	};
	if (sc->slots >= 8) {
		pc.floor[NETRESERVE_CLASS_WRITEBACK] = 1;
		pc.floor[NETRESERVE_CLASS_READ] = sc->slots / 8;
	}
	err = netreserve_pool_init(&s->tasks, &pc);
	if (err)
		goto fail;
	struct netreserve_pool_config dc = {
		.name = "data-out",
		.obj_size = sizeof(struct dout),
		.count = sc->slots * INITIATOR_DOUT_PER_TASK,
	};
	err = netreserve_pool_init(&s->douts, &dc);
	if (err)
		goto fail;
	err = netreserve_arena_init(&s->arena, sc->slots, sc->max_io);
	if (err)
		goto fail;
	s->st.cmds = counter(s, 0, "cmds");
	s->st.reads = counter(s, 1, "reads");
	s->st.writes = counter(s, 2, "writes");
	s->st.read_bytes = counter(s, 3, "read_bytes");
	s->st.write_bytes = counter(s, 4, "write_bytes");
	s->st.flushes = counter(s, 5, "flushes");
	s->st.trims = counter(s, 6, "trims");
	s->st.zeroes = counter(s, 7, "zeroes");
	s->st.errors = counter(s, 8, "errors");
	s->st.retries = counter(s, 9, "retries");
	s->st.r2ts = counter(s, 10, "r2ts");
	s->st.window_waits = counter(s, 11, "window_waits");
	s->st.nop_pings = counter(s, 12, "nop_pings");
	s->st.slot_waits = counter(s, 13, "slot_waits");
	s->st.cmd_sends = counter(s, 14, "cmd_sends");
	*out = s;
	return 0;
fail:
	netreserve_arena_fini(&s->arena);
	netreserve_pool_fini(&s->douts);
	netreserve_pool_fini(&s->tasks);
	initiator_login_crypto_fini(&s->crypto);
	munmap(m, len);
	return err;
}

uint64_t
initiator_session_reserve_bytes(const struct initiator_config *cfg, uint32_t slots,
				uint32_t max_io)
{
	size_t base = ALIGN_UP(sizeof(struct initiator_session), (size_t)4096);
	uint32_t rxcap = MAX(cfg->max_recv_dsl, 8192u);
	uint64_t total = base + ALIGN_UP((size_t)rxcap + NOP_DATA_MAX, (size_t)4096);
	struct netreserve_pool_config pc = { .obj_size = sizeof(struct initiator_task),
					     .count = slots };
	struct netreserve_pool_config dc = { .obj_size = sizeof(struct dout),
					     .count = slots * INITIATOR_DOUT_PER_TASK };
	total += netreserve_pool_mem_size(&pc) + netreserve_pool_mem_size(&dc);
	total += (uint64_t)slots * ALIGN_UP((uint64_t)max_io, 4096);
	return total;
}

void
initiator_session_free(struct initiator_session *s)
{
	if (!s)
		return;
	if (s->cfd >= 0)
		close(s->cfd);
	initiator_login_crypto_fini(&s->crypto);
	netreserve_arena_fini(&s->arena);
	netreserve_pool_fini(&s->douts);
	netreserve_pool_fini(&s->tasks);
	munmap(s, s->map_len);
}

static long on_recv(struct netreserve_conn *c, const void *data, size_t len, void *ctx);
static void on_close(struct netreserve_conn *c, int err, void *ctx);

static const struct netreserve_conn_ops conn_ops = {
	.on_recv = on_recv,
	.on_close = on_close,
};

/* Limits and modes negotiated at login (the first one or a relogin). */
static void
apply_params(struct initiator_session *s, const struct text_params *p)
{
	s->hd = p->header_digest;
	s->dd = p->data_digest;
	s->max_xmit = p->max_xmit_dsl;
	s->max_recv = MIN(p->max_recv_dsl, s->rxbuf_cap);
	s->first_burst = p->first_burst;
	s->max_burst = p->max_burst;
	s->max_r2t = MIN(MAX(p->max_outstanding_r2t, 1u), (uint32_t)INITIATOR_MAX_R2T);
	s->imm_data = p->immediate_data;
	s->initial_r2t = p->initial_r2t;
}

static void rx_reset(struct initiator_session *s);
static void on_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx);

int
initiator_session_start(struct initiator_session *s, const struct initiator_sync *sync,
			const struct text_params *p, uint16_t tsih, const uint8_t isid[6])
{
	apply_params(s, p);
	s->cmdsn = sync->cmdsn;
	s->expcmdsn = sync->expcmdsn;
	s->maxcmdsn = sync->maxcmdsn;
	s->expstatsn = sync->expstatsn;
	s->tsih = tsih;
	memcpy(s->isid, isid, 6);
	snprintf(s->isid_str, sizeof(s->isid_str), "%02x%02x%02x%02x%02x%02x", isid[0], isid[1],
		 isid[2], isid[3], isid[4], isid[5]);
	/* a relogin connects to the same address (no name resolution on the datapath) */
	s->peer_len = sizeof(s->peer);
	if (getpeername(sync->fd, (struct sockaddr *)&s->peer, &s->peer_len) < 0)
		return -errno;
	char a[INET6_ADDRSTRLEN] = "?";
	if (s->peer.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&s->peer;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(s->peer_str, sizeof(s->peer_str), "%s:%u", a, ntohs(in->sin_port));
	} else if (s->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&s->peer;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(s->peer_str, sizeof(s->peer_str), "[%s]:%u", a, ntohs(in6->sin6_port));
	}
	int r = netreserve_ring_set_handler(s->ring, INITIATOR_KIND_SESSION, on_cqe, s);
	if (r)
		return r;
	rx_reset(s);
	s->last_rx_ms = now_ms();
	r = netreserve_conn_attach(s->ring, sync->fd, 0, &conn_ops, s, &s->conn);
	if (r)
		return r;
	s->up = true;
	s->cstate = CS_UP;
	return 0;
}

/* ---- slots --------------------------------------------------------------------------------- */

struct initiator_task *
initiator_session_task_get(struct initiator_session *s, enum netreserve_class cls)
{
	struct initiator_task *t = netreserve_pool_get(&s->tasks, cls);
	if (!t) {
		(*s->st.slot_waits)++;
		return NULL;
	}
	uint32_t idx = netreserve_pool_index(&s->tasks, t);
	uint16_t gen = t->gen; /* kept across uses (NO_FILL pool) so stale ITTs never match */
	memset(t, 0, offsetof(struct initiator_task, cmd_hdr));
	t->sess = s;
	t->index = idx;
	t->gen = gen;
	t->state = T_TAKEN;
	t->data = netreserve_arena_buf(&s->arena, idx);
	t->owner = NULL;
	s->busy++;
	return t;
}

void
initiator_session_task_put(struct initiator_session *s, struct initiator_task *t)
{
	t->state = T_FREE;
	t->itt = PDU_RESERVED_TAG;
	s->busy--;
	s->slot_freed = true;
	netreserve_pool_put(&s->tasks, t);
}

bool
initiator_session_slot_freed(struct initiator_session *s)
{
	bool f = s->slot_freed;
	s->slot_freed = false;
	return f;
}

bool
initiator_session_up(const struct initiator_session *s)
{
	return s->up;
}

uint32_t
initiator_session_busy(const struct initiator_session *s)
{
	return s->busy;
}

static struct initiator_task *
task_by_itt(struct initiator_session *s, uint32_t itt)
{
	uint32_t idx = itt & 0xffff;
	if (itt == PDU_RESERVED_TAG || idx >= s->tasks.count)
		return NULL;
	struct initiator_task *t = task_at(s, idx);
	if (s->tasks.state[idx] == 0 || t->itt != itt || t->state != T_ISSUED)
		return NULL;
	return t;
}

/* ---- completion ----------------------------------------------------------------------------- */

static void
cq_push(struct initiator_session *s, struct initiator_task *t)
{
	t->state = T_COMPLETE;
	t->next = NULL;
	if (s->cq_tail)
		s->cq_tail->next = t;
	else
		s->cq_head = t;
	s->cq_tail = t;
}

/* Fail t at once (connection down, bad request): err is an NBD error. */
static void
task_fail(struct initiator_session *s, struct initiator_task *t, uint32_t err)
{
	t->have_status = true;
	t->fail_err = err;
	cq_push(s, t);
}

static void
maybe_complete(struct initiator_session *s, struct initiator_task *t)
{
	if (t->state == T_ISSUED && t->have_status && t->sends == 0 && t->dout_inflight == 0)
		cq_push(s, t);
}

/* Hold t for replay (the session is down or quiescing). */
static void
rq_append(struct initiator_session *s, struct initiator_task *t)
{
	t->state = T_HELD;
	t->next = NULL;
	if (s->rq_tail)
		s->rq_tail->next = t;
	else
		s->rq_head = t;
	s->rq_tail = t;
}

/* May a command wait for the session instead of failing? */
static bool
may_hold(const struct initiator_session *s)
{
	if (s->up)
		return true; /* quiescing for a logout the target asked for */
	return !s->expired && !s->dead && !s->shutting_down && s->cfg->replacement_timeout != 0;
}

/* ---- building and sending commands -------------------------------------------------------- */

static void send_cmd(struct initiator_session *s, struct initiator_task *t);
static void pump_dout(struct initiator_session *s, struct initiator_task *t);
static void flush_cmds(struct initiator_session *s);

/* Build the SCSI command for the next part of t's request (from chunk_off on). */
static void
build_cmd(struct initiator_session *s, struct initiator_task *t)
{
	const struct initiator_lun *lun = t->lun;
	uint32_t bs = lun->info.block_size;
	uint64_t left = t->length - t->chunk_off;
	uint64_t lba = (t->offset + t->chunk_off) / bs;
	uint64_t nb = left / bs;
	uint32_t n;

	t->dir_read = t->dir_write = false;
	t->data_off = 0;
	switch (t->op) {
	case INITIATOR_OP_READ:
	case INITIATOR_OP_WRITE:
		n = (uint32_t)MIN(nb, (uint64_t)lun->max_xfer_blocks);
		t->chunk_len = n * bs;
		t->data_off = (uint32_t)t->chunk_off;
		/* the FUA bit only where the LU advertised DPOFUA (see initiator_lun) */
		t->cdb_len = (uint8_t)initiator_scsi_cdb_rw(t->cdb, t->op == INITIATOR_OP_WRITE, lba,
							    n, t->fua && lun->send_fua);
		t->edtl = t->chunk_len;
		t->dir_read = t->op == INITIATOR_OP_READ;
		t->dir_write = t->op == INITIATOR_OP_WRITE;
		break;
	case INITIATOR_OP_FLUSH:
		/* SBC-4 5.24: LBA 0 and 0 blocks: the whole medium */
		t->chunk_len = (uint32_t)MIN(left, (uint64_t)UINT32_MAX);
		t->cdb_len = (uint8_t)initiator_scsi_cdb_sync_cache(t->cdb, 0, 0);
		t->edtl = 0;
		break;
	case INITIATOR_OP_TRIM:
		n = (uint32_t)MIN(nb, (uint64_t)lun->max_unmap_blocks);
		t->chunk_len = n * bs;
		t->edtl = (uint32_t)initiator_scsi_unmap_param(t->data, lba, n);
		t->cdb_len = (uint8_t)initiator_scsi_cdb_unmap(t->cdb, (uint16_t)t->edtl);
		t->dir_write = true;
		break;
	case INITIATOR_OP_ZERO:
		if (lun->can_write_same) {
			n = (uint32_t)MIN(nb, (uint64_t)lun->max_ws_blocks);
			memset(t->data, 0, bs);
			t->cdb_len = (uint8_t)initiator_scsi_cdb_write_same(
				t->cdb, lba, n, !t->no_hole && lun->info.lbpws && lun->info.lbprz);
			t->edtl = bs;
		} else {
			/* fallback: WRITE from a zeroed buffer */
			n = (uint32_t)MIN(nb, (uint64_t)lun->max_xfer_blocks);
			n = MIN(n, s->sc.max_io / bs);
			memset(t->data, 0, (size_t)n * bs);
			t->cdb_len = (uint8_t)initiator_scsi_cdb_rw(t->cdb, true, lba, n,
								    t->fua && lun->send_fua);
			t->edtl = n * bs;
		}
		t->chunk_len = n * bs;
		t->dir_write = true;
		break;
	}
}

/* (Re)issue t's current command: new ITT, then the CmdSN window decides when it goes out. */
static void
issue(struct initiator_session *s, struct initiator_task *t)
{
	t->gen++;
	t->itt = (uint32_t)(t->gen & 0x7fff) << 16 | t->index;
	t->xfer = 0;
	t->have_status = false;
	t->status = 0;
	t->response = 0;
	t->rsp_flags = 0;
	t->residual = 0;
	t->fail_err = 0;
	t->nbursts = 0;
	memset(&t->sense, 0, sizeof(t->sense));
	if (!s->up || s->quiesce) {
		if (may_hold(s)) {
			rq_append(s, t);
			return;
		}
		t->state = T_ISSUED;
		task_fail(s, t, INITIATOR_NBD_EIO);
		return;
	}
	/* RFC 7143 3.2.2.1: CmdSN must stay within [ExpCmdSN, MaxCmdSN] */
	if (!s->wq_head && sn_le(s->cmdsn, s->maxcmdsn)) {
		send_cmd(s, t);
		return;
	}
	(*s->st.window_waits)++;
	t->state = T_WINDOW;
	t->next = NULL;
	if (s->wq_tail)
		s->wq_tail->next = t;
	else
		s->wq_head = t;
	s->wq_tail = t;
}

static void
drain_window(struct initiator_session *s)
{
	while (s->wq_head && s->up && !s->quiesce && sn_le(s->cmdsn, s->maxcmdsn)) {
		struct initiator_task *t = s->wq_head;
		s->wq_head = t->next;
		if (!s->wq_head)
			s->wq_tail = NULL;
		send_cmd(s, t);
	}
}

static void
cmd_sent(struct netreserve_conn *c, struct netreserve_send *snd, int res)
{
	struct initiator_task *t = container_of(snd, struct initiator_task, cmd_send);
	(void)c;
	(void)res; /* a failed send means the connection is closing: on_close fails the task */
	t->sends--;
	maybe_complete(t->sess, t);
}

static void
put_hdr_digest(struct initiator_session *s, uint8_t *hdr, struct iovec *iov)
{
	iov->iov_base = hdr;
	iov->iov_len = PDU_BHS_LEN;
	if (s->hd) {
		pdu_put_digest(hdr + PDU_BHS_LEN, pdu_header_digest(hdr, PDU_BHS_LEN));
		iov->iov_len += PDU_DIGEST_LEN;
	}
}

/* iov[1..] for a data segment: data, padding, data digest. Returns the iovec count added. */
static int
put_data(struct initiator_session *s, struct iovec *iov, void *data, uint32_t len, uint8_t *dd)
{
	int n = 0;
	if (!len)
		return 0;
	iov[n++] = (struct iovec){ data, len };
	if (pdu_pad_len(len))
		iov[n++] = (struct iovec){ (void *)zero_pad, pdu_pad_len(len) };
	if (s->dd) {
		pdu_put_digest(dd, pdu_data_digest(data, len));
		iov[n++] = (struct iovec){ dd, PDU_DIGEST_LEN };
	}
	return n;
}

static void
send_cmd(struct initiator_session *s, struct initiator_task *t)
{
	struct pdu_hdr h;
	uint32_t imm = 0, unsol = 0;

	memset(&h, 0, sizeof(h));
	t->state = T_ISSUED;
	t->cmdsn = s->cmdsn++;
	t->issued_ms = now_ms();
	if (t->dir_write) {
		/* RFC 7143 13.13/13.14: immediate data and unsolicited Data-Out together are at
		 * most FirstBurstLength; each PDU at most MaxRecvDataSegmentLength of the target. */
		uint32_t unsol_total = 0;
		if (s->imm_data)
			imm = MIN(MIN(t->edtl, s->first_burst), s->max_xmit);
		if (!s->initial_r2t)
			unsol_total = MIN(t->edtl, s->first_burst);
		else
			unsol_total = imm;
		unsol = unsol_total > imm ? unsol_total - imm : 0;
	}
	h.opcode = PDU_OP_SCSI_CMD;
	h.flags = (uint8_t)(PDU_ATTR_SIMPLE | (t->dir_read ? PDU_SCSI_READ : 0) |
			    (t->dir_write ? PDU_SCSI_WRITE : 0) | (unsol ? 0 : PDU_FLAG_FINAL));
	h.lun = t->lun->lun_field;
	h.itt = t->itt;
	h.data_len = imm;
	h.scsi_cmd.edtl = t->edtl;
	h.scsi_cmd.cmdsn = t->cmdsn;
	h.scsi_cmd.expstatsn = s->expstatsn;
	memcpy(h.scsi_cmd.cdb, t->cdb, sizeof(h.scsi_cmd.cdb));
	pdu_encode(&h, t->cmd_hdr);
	put_hdr_digest(s, t->cmd_hdr, &t->cmd_iov[0]);
	t->cmd_iovcnt = (uint8_t)(1 + put_data(s, &t->cmd_iov[1], (char *)t->data + t->data_off,
					       imm, t->cmd_dd));
	(*s->st.cmds)++;
	if (unsol) {
		/* pumped by flush_cmds() once the command is queued: Data-Out follows it */
		t->bursts[0] = (struct initiator_burst){ PDU_RESERVED_TAG, imm, unsol, 0 };
		t->nbursts = 1;
	}
	/* the command counts as a send in progress until its send request completes */
	t->sends++;
	t->tx_next = NULL;
	if (s->txq_tail)
		s->txq_tail->tx_next = t;
	else
		s->txq_head = t;
	s->txq_tail = t;
	if (!s->defer)
		flush_cmds(s);
}

static void
cmd_batch_sent(struct netreserve_conn *c, struct netreserve_send *snd, int res)
{
	struct cmd_batch *b = container_of(snd, struct cmd_batch, send);
	struct initiator_task *t = b->head;
	(void)c;
	(void)res; /* a failed send means the connection is closing: on_close holds the tasks */
	b->head = NULL;
	b->busy = false;
	while (t) {
		struct initiator_task *next = t->tx_next;
		t->tx_next = NULL;
		t->sends--;
		maybe_complete(b->sess, t);
		t = next;
	}
}

/* Queued Data-Out of the commands from head on (unsolicited data follows its command). */
static void
pump_unsolicited(struct initiator_session *s, struct initiator_task *head)
{
	for (struct initiator_task *t = head; t; t = t->tx_next)
		if (t->nbursts)
			pump_dout(s, t);
}

/*
 * Hand the queued commands to the connection in CmdSN order: as many as fit into each free
 * batch, one send request per batch; one request per command when no batch is free.
 */
static void
flush_cmds(struct initiator_session *s)
{
	s->defer = false;
	while (s->txq_head) {
		struct cmd_batch *b = NULL;
		for (size_t i = 0; i < CMD_BATCHES && !b; i++)
			if (!s->batch[i].busy)
				b = &s->batch[i];
		struct initiator_task *t = s->txq_head;
		if (!b || !t->tx_next) {
			/* alone, or no batch free: the command's own send request */
			s->txq_head = t->tx_next;
			if (!s->txq_head)
				s->txq_tail = NULL;
			t->tx_next = NULL;
			t->cmd_send.done = cmd_sent;
			t->cmd_send.flags = 0;
			if (!s->conn || netreserve_conn_send(s->conn, t->cmd_iov, t->cmd_iovcnt,
							     &t->cmd_send) != 0) {
				t->sends--; /* closing: on_close holds the command for replay */
				continue;
			}
			(*s->st.cmd_sends)++;
			pump_unsolicited(s, t);
			continue;
		}
		int n = 0;
		struct initiator_task *last = NULL;
		while (t && n + t->cmd_iovcnt <= CMD_BATCH_IOV) {
			memcpy(&b->iov[n], t->cmd_iov, sizeof(t->cmd_iov[0]) * t->cmd_iovcnt);
			n += t->cmd_iovcnt;
			last = t;
			t = t->tx_next;
		}
		b->head = s->txq_head;
		last->tx_next = NULL;
		s->txq_head = t;
		if (!t)
			s->txq_tail = NULL;
		b->send.done = cmd_batch_sent;
		b->send.flags = 0;
		if (!s->conn || netreserve_conn_send(s->conn, b->iov, n, &b->send) != 0) {
			for (t = b->head; t;) {
				struct initiator_task *next = t->tx_next;
				t->tx_next = NULL;
				t->sends--;
				t = next;
			}
			b->head = NULL;
			continue;
		}
		b->busy = true;
		(*s->st.cmd_sends)++;
		pump_unsolicited(s, b->head);
	}
}

void
initiator_session_defer(struct initiator_session *s)
{
	s->defer = true;
}

void
initiator_session_flush(struct initiator_session *s)
{
	flush_cmds(s);
}

static void dout_sent(struct netreserve_conn *c, struct netreserve_send *snd, int res);

/* Build and queue one Data-Out PDU of t's first burst into d. */
static void
send_dout(struct initiator_session *s, struct initiator_task *t, struct dout *d)
{
	struct initiator_burst *b = &t->bursts[0];
	struct pdu_hdr h;
	uint32_t len = MIN(b->left, s->max_xmit);

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_DATA_OUT;
	h.flags = len == b->left ? PDU_FLAG_FINAL : 0;
	h.lun = t->lun->lun_field;
	h.itt = t->itt;
	h.data_len = len;
	h.data_out.ttt = b->ttt;
	h.data_out.expstatsn = s->expstatsn;
	h.data_out.datasn = b->datasn++;
	h.data_out.offset = b->offset;
	pdu_encode(&h, d->hdr);
	put_hdr_digest(s, d->hdr, &d->iov[0]);
	int n = 1 + put_data(s, &d->iov[1], (char *)t->data + t->data_off + b->offset, len, d->dd);
	b->offset += len;
	b->left -= len;
	if (!b->left) {
		memmove(&t->bursts[0], &t->bursts[1], sizeof(t->bursts[0]) * (t->nbursts - 1u));
		t->nbursts--;
	}
	d->task = t;
	d->send.done = dout_sent;
	d->send.flags = 0;
	if (netreserve_conn_send(s->conn, d->iov, n, &d->send) == 0) {
		t->dout_inflight++;
	} else {
		netreserve_pool_put(&s->douts, d);
	}
}

static void
dout_wake(struct netreserve_waiter *w, void *obj)
{
	struct initiator_task *t = container_of(w, struct initiator_task, dout_wait);
	struct initiator_session *s = t->sess;
	if (t->state != T_ISSUED || !t->nbursts || t->have_status || !s->up) {
		netreserve_pool_put(&s->douts, obj);
		return;
	}
	send_dout(s, t, obj);
	pump_dout(s, t);
}

static void
pump_dout(struct initiator_session *s, struct initiator_task *t)
{
	while (t->nbursts && !t->have_status && s->up &&
	       t->dout_inflight < INITIATOR_DOUT_PER_TASK && !t->dout_wait.queued) {
		void *obj = NULL;
		t->dout_wait.cls = NETRESERVE_CLASS_CONTROL;
		t->dout_wait.wake = dout_wake;
		if (netreserve_pool_get_or_wait(&s->douts, &t->dout_wait, &obj) != 0)
			return; /* dout_wake continues */
		send_dout(s, t, obj);
	}
}

static void
dout_sent(struct netreserve_conn *c, struct netreserve_send *snd, int res)
{
	struct dout *d = container_of(snd, struct dout, send);
	struct initiator_task *t = d->task;
	struct initiator_session *s = t->sess;
	(void)c;
	netreserve_pool_put(&s->douts, d);
	t->dout_inflight--;
	if (res >= 0)
		pump_dout(s, t);
	maybe_complete(s, t);
}

void
initiator_session_submit(struct initiator_session *s, struct initiator_task *t)
{
	uint32_t bs = t->lun->info.block_size;

	t->chunk_off = 0;
	t->retries = 0;
	switch (t->op) {
	case INITIATOR_OP_READ:
		(*s->st.reads)++;
		(*s->st.read_bytes) += t->length;
		break;
	case INITIATOR_OP_WRITE:
		(*s->st.writes)++;
		(*s->st.write_bytes) += t->length;
		break;
	case INITIATOR_OP_FLUSH:
		(*s->st.flushes)++;
		break;
	case INITIATOR_OP_TRIM:
		(*s->st.trims)++;
		break;
	case INITIATOR_OP_ZERO:
		(*s->st.zeroes)++;
		break;
	}
	if (t->op != INITIATOR_OP_FLUSH &&
	    (t->offset % bs || t->length % bs || t->length == 0 ||
	     ((t->op == INITIATOR_OP_READ || t->op == INITIATOR_OP_WRITE) &&
	      t->length > s->sc.max_io))) {
		t->state = T_ISSUED;
		task_fail(s, t, INITIATOR_NBD_EINVAL);
		return;
	}
	build_cmd(s, t);
	issue(s, t);
}

/* Runs a finished command's outcome: next chunk, retry or completion. */
static void
finish(struct initiator_session *s, struct initiator_task *t)
{
	uint32_t err = 0;
	bool retry = false;

	if (t->fail_err) {
		err = t->fail_err;
		goto done;
	}
	if (t->response != PDU_RESPONSE_COMPLETED) {
		err = INITIATOR_NBD_EIO;
		goto done;
	}
	switch (t->status) {
	case INITIATOR_SCSI_GOOD:
		/* RFC 7143 11.4.5: residual underflow: the target moved less than asked. That
		 * loses data for READ and WRITE; for UNMAP and WRITE SAME some targets report
		 * the parameter data as residual, which is harmless. */
		if ((t->dir_read && t->xfer < t->edtl) ||
		    ((t->op == INITIATOR_OP_READ || t->op == INITIATOR_OP_WRITE ||
		      t->cdb[0] == INITIATOR_SCSI_WRITE_10 || t->cdb[0] == INITIATOR_SCSI_WRITE_16) &&
		     (t->rsp_flags & PDU_RSP_UNDERFLOW) && t->residual)) {
			log_ratelimited(&s->rl, LOG_LEVEL_ERR,
					"s%u: ITT 0x%08x: short transfer (CDB 0x%02x, %u of %u "
					"bytes, residual %u)",
					s->tsih, t->itt, t->cdb[0], t->dir_read ? t->xfer : t->edtl,
					t->edtl, t->residual);
			err = INITIATOR_NBD_EIO;
			goto done;
		}
		break;
	case INITIATOR_SCSI_CHECK_CONDITION:
		switch (t->sense.key) {
		case INITIATOR_SENSE_RECOVERED:
		case INITIATOR_SENSE_NO_SENSE:
			break;
		case INITIATOR_SENSE_UNIT_ATTENTION:
		case INITIATOR_SENSE_ABORTED_COMMAND:
			retry = true;
			break;
		case INITIATOR_SENSE_NOT_READY:
			/* 04/01: becoming ready */
			retry = t->sense.asc == 0x04 && t->sense.ascq == 0x01;
			break;
		case INITIATOR_SENSE_ILLEGAL_REQUEST:
			if (t->op == INITIATOR_OP_ZERO && t->cdb[0] == INITIATOR_SCSI_WRITE_SAME_16 &&
			    (t->sense.asc == 0x20 || t->sense.asc == 0x24)) {
				/* invalid opcode / field: write zeroes with plain WRITEs from now on */
				for (size_t i = 0; i < s->sc.nluns; i++)
					if (&s->sc.luns[i] == t->lun)
						s->sc.luns[i].can_write_same = false;
				build_cmd(s, t);
				issue(s, t);
				return;
			}
			break;
		}
		if (!retry && t->sense.key != INITIATOR_SENSE_RECOVERED &&
		    t->sense.key != INITIATOR_SENSE_NO_SENSE) {
			err = initiator_nbd_error_from_scsi(t->status, t->sense.key, t->sense.asc,
							    t->sense.ascq, t->dir_write);
			if (!err)
				break;
			log_ratelimited(&s->rl, LOG_LEVEL_ERR,
					"s%u: lun %llu: CDB 0x%02x failed: %s, sense %s "
					"asc/ascq 0x%02x/0x%02x",
					s->tsih, (unsigned long long)t->lun->info.lun, t->cdb[0],
					initiator_scsi_status_str(t->status),
					initiator_scsi_sense_key_str(t->sense.key), t->sense.asc,
					t->sense.ascq);
			goto done;
		}
		break;
	case INITIATOR_SCSI_BUSY:
	case INITIATOR_SCSI_TASK_SET_FULL:
	case INITIATOR_SCSI_TASK_ABORTED:
		retry = true;
		break;
	default:
		err = initiator_nbd_error_from_scsi(t->status, 0, 0, 0, t->dir_write);
		log_ratelimited(&s->rl, LOG_LEVEL_ERR, "s%u: lun %llu: CDB 0x%02x: status %s",
				s->tsih, (unsigned long long)t->lun->info.lun, t->cdb[0],
				initiator_scsi_status_str(t->status));
		goto done;
	}
	if (retry) {
		if (t->retries++ < INITIATOR_MAX_RETRIES) {
			(*s->st.retries)++;
			issue(s, t);
			return;
		}
		err = initiator_nbd_error_from_scsi(t->status, t->sense.key, t->sense.asc,
						    t->sense.ascq, t->dir_write);
		if (!err)
			err = INITIATOR_NBD_EIO;
		goto done;
	}
	t->chunk_off += t->chunk_len;
	if (t->chunk_off < t->length) {
		t->retries = 0;
		build_cmd(s, t);
		issue(s, t);
		return;
	}
done:
	if (err)
		(*s->st.errors)++;
	t->state = T_TAKEN;
	t->itt = PDU_RESERVED_TAG;
	t->done(t, err);
}

void
initiator_session_run(struct initiator_session *s)
{
	/* next chunks and retries go out with what the receive path gathered */
	s->defer = true;
	while (s->cq_head) {
		struct initiator_task *t = s->cq_head;
		s->cq_head = t->next;
		if (!s->cq_head)
			s->cq_tail = NULL;
		finish(s, t);
	}
	flush_cmds(s);
}

/* ---- control PDUs ------------------------------------------------------------------------ */

static void
ctl_sent(struct netreserve_conn *c, struct netreserve_send *snd, int res)
{
	struct ctl_pdu *p = container_of(snd, struct ctl_pdu, send);
	(void)c;
	(void)res;
	p->busy = false;
}

static int
ctl_send(struct initiator_session *s, struct ctl_pdu *p, struct pdu_hdr *h, void *data,
	 uint32_t len)
{
	if (p->busy || !s->conn)
		return -EBUSY;
	h->data_len = len;
	pdu_encode(h, p->hdr);
	put_hdr_digest(s, p->hdr, &p->iov[0]);
	int n = 1 + put_data(s, &p->iov[1], data, len, p->dd);
	p->send.done = ctl_sent;
	p->send.flags = 0;
	int r = netreserve_conn_send(s->conn, p->iov, n, &p->send);
	if (r == 0)
		p->busy = true;
	return r;
}

/* RFC 7143 11.18/11.19: answer a NOP-In ping with a NOP-Out carrying its TTT and data. */
static void
answer_ping(struct initiator_session *s, const struct pdu_hdr *in, const void *data,
	    uint32_t len)
{
	struct pdu_hdr h;

	if (len > NOP_DATA_MAX || s->nop.busy) {
		log_ratelimited(&s->rl, LOG_LEVEL_WARN, "s%u: NOP-In ping not answered (%s)",
				s->tsih, s->nop.busy ? "previous answer in flight" : "too long");
		return;
	}
	memcpy(s->nop_data, data, len);
	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_NOP_OUT;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	h.lun = in->lun;
	h.itt = PDU_RESERVED_TAG;
	h.nop_out.ttt = in->nop_in.ttt;
	h.nop_out.cmdsn = s->cmdsn;
	h.nop_out.expstatsn = s->expstatsn;
	ctl_send(s, &s->nop, &h, s->nop_data, len);
}

static void
send_ping(struct initiator_session *s)
{
	struct pdu_hdr h;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_NOP_OUT;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	s->ping_itt = PING_ITT_BASE | ((s->ping_itt + 1) & 0xffff);
	h.itt = s->ping_itt;
	h.nop_out.ttt = PDU_RESERVED_TAG;
	h.nop_out.cmdsn = s->cmdsn;
	h.nop_out.expstatsn = s->expstatsn;
	int r = ctl_send(s, &s->ping, &h, NULL, 0);
	/* -EBUSY: the previous ping is still stuck in the send queue, which is as good a
	 * question to the peer as a new one: its timeout runs from now */
	if (r == 0 || r == -EBUSY) {
		s->ping_out = true;
		s->ping_sent_ms = now_ms();
		(*s->st.nop_pings)++;
	}
}

static const char *
errstr(int err)
{
	const char *d = err ? strerrordesc_np(err < 0 ? -err : err) : NULL;
	return d ? d : (err ? "unknown error" : "closed by the target");
}

/* Record why the connection is going down (status "last_error"); the first reason wins. */
static void PRINTF_FMT(3, 4)
set_error(struct initiator_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	if (s->err_set)
		return;
	s->err_set = true;
	s->last_err = err;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
}

/* Close the connection because of a detected fault; on_close starts the recovery. */
static void
drop_conn(struct initiator_session *s, int err)
{
	if (!s->conn)
		return;
	s->dropping = true; /* no more timers on this connection until on_close */
	netreserve_conn_close(s->conn, err);
}

static int
send_logout(struct initiator_session *s, int kind)
{
	struct pdu_hdr h;

	if (!s->up)
		return -ENOTCONN;
	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_LOGOUT_REQ;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	h.itt = LOGOUT_ITT;
	h.logout_req.reason = PDU_LOGOUT_SESSION;
	h.logout_req.cmdsn = s->cmdsn;
	h.logout_req.expstatsn = s->expstatsn;
	int r = ctl_send(s, &s->logout, &h, NULL, 0);
	if (r == 0) {
		s->logout_sent = true;
		s->logout_kind = kind;
		s->logout_deadline_ms = now_ms() + (int64_t)s->cfg->logout_timeout * 1000;
	}
	return r;
}

/* ---- task management (command timeouts) ------------------------------------------------------ */

static void
tmf_send(struct initiator_session *s, uint8_t fn, const struct initiator_lun *lun, uint32_t rtt,
	 uint32_t refcmdsn, int timeout_s)
{
	struct pdu_hdr h;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_TMF_REQ;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	h.lun = lun->lun_field;
	s->tmf_itt = TMF_ITT_BASE | (++s->tmf_seq & 0xffff);
	h.itt = s->tmf_itt;
	h.tmf_req.function = fn;
	h.tmf_req.rtt = rtt;
	h.tmf_req.cmdsn = s->cmdsn;
	h.tmf_req.expstatsn = s->expstatsn;
	h.tmf_req.refcmdsn = refcmdsn;
	/* the deadline runs even if the request cannot be queued now: escalation goes on */
	s->tmf_deadline_ms = now_ms() + (int64_t)timeout_s * 1000;
	ctl_send(s, &s->tmf, &h, NULL, 0);
}

/*
 * The target no longer holds t's command (ABORT TASK or LUN RESET completed, or it never had
 * it): complete it as TASK ABORTED, which finish() retries as a new command.
 */
static void
task_aborted(struct initiator_session *s, struct initiator_task *t)
{
	if (t->state != T_ISSUED || t->have_status)
		return;
	if (t->dout_wait.queued)
		netreserve_pool_cancel_wait(&s->douts, &t->dout_wait);
	t->nbursts = 0;
	t->have_status = true;
	t->response = PDU_RESPONSE_COMPLETED;
	t->status = INITIATOR_SCSI_TASK_ABORTED;
	maybe_complete(s, t);
}

static void
lun_reset(struct initiator_session *s, const struct initiator_lun *lun)
{
	log_ratelimited(&s->rl, LOG_LEVEL_WARN,
			"s%u: lun %llu: ABORT TASK did not help within %d s: LOGICAL UNIT RESET",
			s->tsih, (unsigned long long)lun->info.lun, s->cfg->abort_timeout);
	s->lun_resets++;
	s->tmf_state = TMF_LUN_RESET;
	s->tmf_lun = lun;
	s->tmf_task = NULL;
	tmf_send(s, PDU_TMF_LUN_RESET, lun, PDU_RESERVED_TAG, s->cmdsn, s->cfg->lu_reset_timeout);
}

/* A TMF Response. Returns 0, or -errno to drop the connection. */
static int
on_tmf_rsp(struct initiator_session *s, const struct pdu_hdr *h)
{
	uint8_t rsp = h->tmf_rsp.response;

	if (h->itt != s->tmf_itt || s->tmf_state == TMF_IDLE)
		return 0;
	if (s->tmf_state == TMF_ABORT) {
		/* RFC 7143 11.6.1: after "function complete" the target sends nothing more for
		 * the task; "task does not exist": it finished (its status is in) or never
		 * arrived. Either way a command without status is reissued. */
		if (rsp == PDU_TMF_RSP_COMPLETE || rsp == PDU_TMF_RSP_NO_TASK) {
			struct initiator_task *t = s->tmf_task;
			if (t && t->itt == s->tmf_ref_itt)
				task_aborted(s, t);
			s->tmf_state = TMF_IDLE;
			s->tmf_task = NULL;
			return 0;
		}
		lun_reset(s, s->tmf_lun);
		return 0;
	}
	if (rsp != PDU_TMF_RSP_COMPLETE) {
		set_error(s, -EIO, "LOGICAL UNIT RESET refused (response %u): reopening the session",
			  rsp);
		return -EIO;
	}
	/* SAM-5: a LU reset aborts every task of the LU; the unit attention (29/03) that the
	 * next command gets is retried by finish() */
	for (uint32_t i = 0; i < s->tasks.count; i++) {
		struct initiator_task *t = task_at(s, i);
		if (s->tasks.state[i] && t->state == T_ISSUED && t->lun == s->tmf_lun)
			task_aborted(s, t);
	}
	s->tmf_state = TMF_IDLE;
	s->tmf_lun = NULL;
	return 0;
}

/* Command timeouts: ABORT TASK, then LUN RESET, then drop the connection (session recovery). */
static void
tmf_tick(struct initiator_session *s, int64_t now)
{
	const struct initiator_config *cfg = s->cfg;

	if (s->tmf_state == TMF_ABORT && now >= s->tmf_deadline_ms) {
		lun_reset(s, s->tmf_lun);
		return;
	}
	if (s->tmf_state == TMF_LUN_RESET && now >= s->tmf_deadline_ms) {
		log_err("s%u: lun %llu: LOGICAL UNIT RESET not answered within %d s: dropping the "
			"connection",
			s->tsih, (unsigned long long)s->tmf_lun->info.lun, cfg->lu_reset_timeout);
		set_error(s, -ETIMEDOUT, "LOGICAL UNIT RESET not answered within %d s",
			  cfg->lu_reset_timeout);
		drop_conn(s, -ETIMEDOUT);
		return;
	}
	if (s->tmf_state != TMF_IDLE || cfg->cmd_timeout <= 0 || now < s->next_scan_ms)
		return;
	s->next_scan_ms = now + 1000;
	struct initiator_task *oldest = NULL;
	for (uint32_t i = 0; i < s->tasks.count; i++) {
		struct initiator_task *t = task_at(s, i);
		if (!s->tasks.state[i] || t->state != T_ISSUED || t->have_status)
			continue;
		if (!oldest || t->issued_ms < oldest->issued_ms)
			oldest = t;
	}
	if (!oldest || now - oldest->issued_ms < (int64_t)cfg->cmd_timeout * 1000)
		return;
	s->cmd_timeouts++;
	s->aborts++;
	log_ratelimited(&s->rl, LOG_LEVEL_WARN,
			"s%u: lun %llu: command ITT 0x%08x (CDB 0x%02x) not answered within %d s: "
			"ABORT TASK",
			s->tsih, (unsigned long long)oldest->lun->info.lun, oldest->itt,
			oldest->cdb[0], cfg->cmd_timeout);
	s->tmf_state = TMF_ABORT;
	s->tmf_task = oldest;
	s->tmf_ref_itt = oldest->itt;
	s->tmf_lun = oldest->lun;
	tmf_send(s, PDU_TMF_ABORT_TASK, oldest->lun, oldest->itt, oldest->cmdsn,
		 cfg->abort_timeout);
}

/* ---- recovery --------------------------------------------------------------------------------- */

/* Fail every held command with EIO (replacement_timeout, shutdown, giving up). */
static void
fail_held(struct initiator_session *s)
{
	while (s->rq_head) {
		struct initiator_task *t = s->rq_head;
		s->rq_head = t->next;
		t->state = T_ISSUED;
		task_fail(s, t, INITIATOR_NBD_EIO);
	}
	s->rq_tail = NULL;
}

/*
 * The connection is gone: every command sent and not answered goes to the front of the replay
 * queue in CmdSN order, then those that waited for the CmdSN window, then those already held.
 * Answered commands complete normally. Returns the number of commands held.
 */
static uint32_t
hold_outstanding(struct initiator_session *s)
{
	struct initiator_task *head = NULL, *tail = NULL;
	uint32_t n = 0;

	/* commands built and never handed to the connection: held below like the others */
	for (struct initiator_task *t = s->txq_head; t;) {
		struct initiator_task *next = t->tx_next;
		t->tx_next = NULL;
		t = next;
	}
	s->txq_head = s->txq_tail = NULL;
	s->defer = false;
	for (uint32_t i = 0; i < s->tasks.count; i++) {
		struct initiator_task *t = task_at(s, i);
		if (!s->tasks.state[i] || t->state != T_ISSUED)
			continue;
		if (t->dout_wait.queued)
			netreserve_pool_cancel_wait(&s->douts, &t->dout_wait);
		t->sends = 0;
		t->dout_inflight = 0;
		t->nbursts = 0;
		if (t->have_status) {
			cq_push(s, t); /* answered: never repeated */
			continue;
		}
		/* insertion in CmdSN order (at most a few hundred slots, once per outage) */
		t->state = T_HELD;
		struct initiator_task **pp = &head;
		while (*pp && sn_le((*pp)->cmdsn, t->cmdsn))
			pp = &(*pp)->next;
		t->next = *pp;
		*pp = t;
		if (!t->next)
			tail = t;
		n++;
	}
	for (struct initiator_task *t = s->wq_head; t; t = t->next) {
		t->state = T_HELD;
		n++;
	}
	/* head ++ window queue ++ replay queue */
	struct initiator_task *rest = s->rq_head, *rest_tail = s->rq_tail;
	for (struct initiator_task *t = rest; t; t = t->next)
		n++;
	if (s->wq_head) {
		s->wq_tail->next = rest;
		rest = s->wq_head;
		if (!rest_tail)
			rest_tail = s->wq_tail;
	}
	s->wq_head = s->wq_tail = NULL;
	if (head) {
		tail->next = rest;
		s->rq_head = head;
		s->rq_tail = rest ? rest_tail : tail;
	} else {
		s->rq_head = rest;
		s->rq_tail = rest_tail;
	}
	return n;
}

static void
expire(struct initiator_session *s)
{
	uint32_t n = 0;
	for (struct initiator_task *t = s->rq_head; t; t = t->next)
		n++;
	s->expired = true;
	s->replacement_expiries++;
	log_err("s%u: replacement_timeout (%d s) expired: failing %u held command(s) with EIO; "
		"new I/O fails until the session is back",
		s->tsih, s->cfg->replacement_timeout, n);
	fail_held(s);
}

static int64_t
backoff_ms(const struct initiator_session *s)
{
	int64_t d = 0;
	if (s->attempts)
		d = MIN((int64_t)RELOGIN_BACKOFF_MIN_MS << MIN(s->attempts - 1, 8u),
			(int64_t)RELOGIN_BACKOFF_MAX_MS);
	return MAX(d, (int64_t)s->time2wait_ms);
}

/* A relogin attempt failed, or the connection was lost: schedule the next attempt. */
static void
schedule_relogin(struct initiator_session *s, int64_t now)
{
	const struct initiator_config *cfg = s->cfg;

	if (cfg->reopen_max > 0 && s->attempts >= (uint32_t)cfg->reopen_max) {
		log_err("s%u: giving up after %u relogin attempts (node.session.reopen_max): "
			"failing I/O",
			s->tsih, s->attempts);
		s->dead = true;
		s->cstate = CS_OFF;
		fail_held(s);
		return;
	}
	s->cstate = CS_WAIT;
	s->next_attempt_ms = now + backoff_ms(s);
	s->time2wait_ms = 0;
}

static void start_connect(struct initiator_session *s, int64_t now);


/* Connection lost (on_close outside shutdown): hold the commands, schedule a relogin. */
static void
conn_lost(struct initiator_session *s, int err)
{
	int64_t now = now_ms();
	bool was_up = s->cstate == CS_UP;

	if (!s->err_set)
		set_error(s, err, "%s", errstr(err));
	s->err_set = false;
	s->dropping = false;
	s->quiesce = false;
	s->logout_sent = false;
	s->logged_out = false;
	s->logout_kind = LOGOUT_NONE;
	s->ping_out = false;
	s->tmf_state = TMF_IDLE;
	s->tmf_task = NULL;
	uint32_t held = hold_outstanding(s);
	if (was_up) {
		s->down_since_ms = now;
		s->attempts = 0;
		s->drops++;
		log_warn("s%u: connection to %s lost: %s; reopening the session (%u command(s) to "
			 "replay)",
			 s->tsih, s->peer_str, s->last_error, held);
		if (s->cfg->replacement_timeout == 0)
			expire(s);
	} else {
		s->attempts++;
		log_ratelimited(&s->rl, LOG_LEVEL_WARN, "s%u: relogin attempt %u to %s failed: %s",
				s->tsih, s->attempts, s->peer_str, s->last_error);
	}
	schedule_relogin(s, now);
	/* the first attempt goes out now, not at the next tick */
	if (s->cstate == CS_WAIT && s->next_attempt_ms <= now && !s->shutting_down)
		start_connect(s, now);
}

static void
rx_reset(struct initiator_session *s)
{
	s->rx_state = RX_BHS;
	s->rx_have = 0;
	s->rx_need = PDU_BHS_LEN;
	s->rx_dst = NULL;
}

static void
start_connect(struct initiator_session *s, int64_t now)
{
	s->reconnect_attempts++;
	s->login_deadline_ms = now + (int64_t)s->cfg->login_timeout * 1000;
	s->connect_timed_out = false;
	int fd = socket(s->peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = -errno;
		set_error(s, err, "socket: %s", errstr(err));
		conn_lost(s, err);
		return;
	}
	struct io_uring_sqe *sqe = netreserve_ring_sqe(s->ring);
	if (!sqe) {
		close(fd);
		set_error(s, -EAGAIN, "no submission queue entry for the connect");
		conn_lost(s, -EAGAIN);
		return;
	}
	s->cfd = fd;
	s->cgen++;
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&s->peer, s->peer_len);
	io_uring_sqe_set_data64(sqe, netreserve_ud(INITIATOR_KIND_SESSION, 0, s->cgen,
						   AUX_CONNECT));
	s->cstate = CS_CONNECTING;
}

static void
cancel_connect(struct initiator_session *s)
{
	struct io_uring_sqe *sqe = netreserve_ring_sqe(s->ring);
	if (!sqe)
		return; /* tried again at the next tick */
	io_uring_prep_cancel64(sqe, netreserve_ud(INITIATOR_KIND_SESSION, 0, s->cgen, AUX_CONNECT),
			       0);
	io_uring_sqe_set_data64(sqe, netreserve_ud(INITIATOR_KIND_SESSION, 0, s->cgen, AUX_CANCEL));
	s->connect_timed_out = true;
}

/* Send the next Login Request of the relogin. Returns 0 or -errno. */
static int
login_send(struct initiator_session *s)
{
	struct pdu_hdr h;
	unsigned k = s->lturn++ & 1;
	char *buf = s->login_tx[k];

	int n = initiator_login_next(&s->login, &h, buf, sizeof(s->login_tx[k]));
	if (n < 0) {
		set_error(s, n, "login: %s", s->login.msg);
		return n;
	}
	int r = ctl_send(s, &s->lpdu[k], &h, n ? buf : NULL, (uint32_t)n);
	if (r) {
		set_error(s, r, "login: cannot send a Login Request: %s", errstr(r));
		return r;
	}
	return 0;
}

static void
login_start(struct initiator_session *s)
{
	const struct initiator_config *cfg = s->cfg;
	struct initiator_login_params p;

	s->cstate = CS_LOGIN;
	s->hd = s->dd = false;
	s->max_recv = LOGIN_DSL;
	s->max_xmit = LOGIN_DSL;
	rx_reset(s);
	s->last_rx_ms = now_ms();
	memset(&p, 0, sizeof(p));
	p.initiator_name = cfg->initiator_name;
	p.initiator_alias = cfg->initiator_alias[0] ? cfg->initiator_alias : NULL;
	p.target_name = cfg->target;
	memcpy(p.isid, s->isid, 6);
	p.tsih = 0; /* RFC 7143 6.3.5: session reinstatement */
	p.cid = 0;
	p.cmdsn = s->cmdsn;
	p.chap = &cfg->auth;
	p.crypto = &s->crypto;
	initiator_login_local_from_config(&p.local, cfg, false);
	initiator_login_init(&s->login, &p);
	int r = login_send(s);
	if (r)
		drop_conn(s, r);
}

/* Full Feature Phase again: adopt the new session and replay the held commands in order. */
static void
login_done(struct initiator_session *s, const struct pdu_hdr *h)
{
	int64_t now = now_ms();
	uint32_t n = 0;

	apply_params(s, &s->login.neg.params);
	s->expstatsn = s->login.expstatsn;
	s->expcmdsn = h->login_rsp.expcmdsn;
	s->maxcmdsn = h->login_rsp.maxcmdsn;
	s->tsih = s->login.tsih;
	s->up = true;
	s->cstate = CS_UP;
	s->expired = false;
	s->err_set = false;
	s->reconnects++;
	s->last_outage_ms = now - s->down_since_ms;
	s->max_outage_ms = MAX(s->max_outage_ms, s->last_outage_ms);
	s->last_rx_ms = now;
	s->next_scan_ms = now + 1000;
	for (struct initiator_task *t = s->rq_head; t; t = t->next)
		n++;
	log_notice("s%u: session reinstated on %s after %lld ms and %u failed attempt(s) "
		   "(isid %s): replaying %u command(s)",
		   s->tsih, s->peer_str, (long long)s->last_outage_ms, s->attempts, s->isid_str, n);
	s->attempts = 0;
	s->replayed += n;
	/* issue() sends in order while the CmdSN window allows and queues the rest behind */
	while (s->rq_head) {
		struct initiator_task *t = s->rq_head;
		s->rq_head = t->next;
		if (!s->rq_head)
			s->rq_tail = NULL;
		issue(s, t);
	}
}

/* A PDU during the relogin. Returns 0 or -errno to drop the connection. */
static int
login_rsp(struct initiator_session *s)
{
	const struct pdu_hdr *h = &s->rx_h;
	int r = initiator_login_recv(&s->login, h, s->rx_dst ? (const void *)s->rx_dst : zero_pad,
				     h->data_len);
	if (r < 0) {
		set_error(s, r, "login: %s", s->login.msg);
		return r;
	}
	if (r == 0)
		return login_send(s);
	login_done(s, h);
	return 0;
}

/* IORING_OP_CONNECT (and its cancel) completions. */
static void
on_cqe(struct netreserve_ring *r, const struct io_uring_cqe *cqe, void *ctx)
{
	struct initiator_session *s = ctx;
	uint64_t ud = cqe->user_data;
	(void)r;

	if (netreserve_ud_aux(ud) != AUX_CONNECT || netreserve_ud_gen(ud) != s->cgen ||
	    s->cfd < 0)
		return; /* a cancel's own completion, or stale */
	int fd = s->cfd;
	s->cfd = -1;
	s->cgen++;
	if (s->cstate != CS_CONNECTING || s->shutting_down) {
		close(fd);
		return;
	}
	int res = cqe->res;
	if (res < 0 && s->connect_timed_out)
		res = -ETIMEDOUT;
	if (res < 0) {
		close(fd);
		set_error(s, res, "connect to %s: %s", s->peer_str, errstr(res));
		conn_lost(s, res);
		return;
	}
	int err = netreserve_conn_attach(s->ring, fd, 0, &conn_ops, s, &s->conn);
	if (err) {
		close(fd);
		set_error(s, err, "cannot attach the connection: %s", errstr(err));
		conn_lost(s, err);
		return;
	}
	login_start(s);
}

/* Down: replacement_timeout, backoff, connect and login deadlines. */
static void
recovery_tick(struct initiator_session *s, int64_t now)
{
	const struct initiator_config *cfg = s->cfg;

	if (!s->expired && cfg->replacement_timeout > 0 &&
	    now - s->down_since_ms >= (int64_t)cfg->replacement_timeout * 1000)
		expire(s);
	switch (s->cstate) {
	case CS_WAIT:
		if (now >= s->next_attempt_ms)
			start_connect(s, now);
		break;
	case CS_CONNECTING:
		if (now >= s->login_deadline_ms)
			cancel_connect(s);
		break;
	case CS_LOGIN:
		if (now >= s->login_deadline_ms) {
			set_error(s, -ETIMEDOUT, "login not completed within %d s (login_timeout)",
				  cfg->login_timeout);
			drop_conn(s, -ETIMEDOUT);
		}
		break;
	default:
		break;
	}
}

/* Tasks the target holds now (sent, not answered). */
static uint32_t
count_issued(struct initiator_session *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->tasks.count; i++)
		n += s->tasks.state[i] && task_at(s, i)->state == T_ISSUED;
	return n;
}

void
initiator_session_tick(struct initiator_session *s)
{
	const struct initiator_config *cfg = s->cfg;
	int64_t now = now_ms();

	if (s->cstate == CS_OFF)
		return;
	if (!s->up) {
		recovery_tick(s, now);
		return;
	}
	if (s->dropping)
		return;
	if (s->logout_sent) {
		if (now >= s->logout_deadline_ms) {
			set_error(s, -ETIMEDOUT, "Logout Response not received within %d s",
				  cfg->logout_timeout);
			drop_conn(s, -ETIMEDOUT);
		}
		return;
	}
	if (s->quiesce) {
		/* the target asked for a logout: let what it holds finish first */
		if (now >= s->logout_deadline_ms || !count_issued(s))
			send_logout(s, LOGOUT_RELOGIN);
		return;
	}
	if (s->ping_out && cfg->noop_out_timeout > 0 &&
	    now - s->ping_sent_ms > (int64_t)cfg->noop_out_timeout * 1000) {
		if (s->last_rx_ms > s->ping_sent_ms) {
			s->ping_out = false; /* not answered, but the target is talking */
		} else {
			log_err("s%u: NOP-Out ping not answered within %d s: dropping the "
				"connection",
				s->tsih, cfg->noop_out_timeout);
			set_error(s, -ETIMEDOUT, "NOP-Out ping not answered within %d s",
				  cfg->noop_out_timeout);
			drop_conn(s, -ETIMEDOUT);
			return;
		}
	}
	if (!s->ping_out && cfg->noop_out_interval > 0 &&
	    now - s->last_rx_ms >= (int64_t)cfg->noop_out_interval * 1000)
		send_ping(s);
	tmf_tick(s, now);
}

int
initiator_session_logout(struct initiator_session *s)
{
	return send_logout(s, LOGOUT_SHUTDOWN);
}

bool
initiator_session_logged_out(const struct initiator_session *s)
{
	return s->logged_out || !s->up;
}

void
initiator_session_shutdown(struct initiator_session *s)
{
	s->shutting_down = true;
	if (s->up)
		return; /* the caller drains and logs out; on_close ends the rest */
	if (s->cstate == CS_CONNECTING)
		cancel_connect(s);
	if (s->cstate == CS_LOGIN)
		drop_conn(s, -ECANCELED);
	if (s->cstate != CS_LOGIN)
		s->cstate = CS_OFF;
	fail_held(s);
}

bool
initiator_session_dead(const struct initiator_session *s)
{
	return s->dead;
}

/* ---- receive --------------------------------------------------------------------------------- */

/* Sequence numbers from a target PDU (RFC 7143 4.2.2.1, 11.x "StatSN"). */
static void
track_sn(struct initiator_session *s, const struct pdu_hdr *h)
{
	pdu_track_target_sn(h, &s->expstatsn, &s->expcmdsn, &s->maxcmdsn);
}

static int
protocol_error(struct initiator_session *s, const char *what, uint32_t itt)
{
	s->protocol_errors++;
	log_ratelimited(&s->rl, LOG_LEVEL_ERR, "s%u: protocol error: %s (ITT 0x%08x)", s->tsih,
			what, itt);
	return -EPROTO;
}

static int
on_r2t(struct initiator_session *s, const struct pdu_hdr *h)
{
	struct initiator_task *t = task_by_itt(s, h->itt);
	if (!t)
		return 0; /* RFC 7143 ERL 0: stale; the command is gone */
	if (!t->dir_write || t->have_status)
		return protocol_error(s, "R2T for a command without write data", h->itt);
	if ((uint64_t)h->r2t.offset + h->r2t.desired_len > t->edtl || !h->r2t.desired_len)
		return protocol_error(s, "R2T outside the command's data", h->itt);
	if (t->nbursts >= s->max_r2t + 1u || t->nbursts >= ARRAY_SIZE(t->bursts))
		return protocol_error(s, "more R2Ts than MaxOutstandingR2T", h->itt);
	t->bursts[t->nbursts++] = (struct initiator_burst){ h->r2t.ttt, h->r2t.offset,
							    h->r2t.desired_len, 0 };
	(*s->st.r2ts)++;
	pump_dout(s, t);
	return 0;
}

/* RFC 7143 11.9: Asynchronous Message. Returns 0, or -errno to drop the connection. */
static int
on_async(struct initiator_session *s, const struct pdu_hdr *h)
{
	switch (h->async.event) {
	case PDU_ASYNC_SCSI:
		log_ratelimited(&s->rl, LOG_LEVEL_NOTICE, "s%u: asynchronous SCSI event", s->tsih);
		break;
	case PDU_ASYNC_LOGOUT_REQUEST:
		/* Parameter3: seconds left to log out. Stop issuing, let the commands the target
		 * holds finish, then log out and back in (initiator_session_tick). */
		if (s->quiesce || s->logout_sent)
			break;
		log_warn("s%u: target requests a logout within %u s: logging out and in again",
			 s->tsih, h->async.param3);
		s->quiesce = true;
		s->logout_deadline_ms =
			now_ms() + (int64_t)MIN(MAX((int)h->async.param3, 1), s->cfg->logout_timeout) *
					   1000;
		set_error(s, 0, "target requested a logout (asynchronous message)");
		break;
	case PDU_ASYNC_DROP_CONNECTION:
	case PDU_ASYNC_DROP_ALL:
		/* Parameter2: Time2Wait before reconnecting */
		s->time2wait_ms = (uint32_t)MIN((int)h->async.param2, TIME2WAIT_MAX_S) * 1000;
		log_warn("s%u: target drops the connection (Time2Wait %u s)", s->tsih,
			 h->async.param2);
		set_error(s, -ECONNRESET, "target dropped the connection (asynchronous message)");
		return -ECONNRESET;
	default:
		break;
	}
	return 0;
}

/* RFC 7143 11.17: Reject. Returns 0, or -errno to drop the connection. */
static int
on_reject(struct initiator_session *s, const struct pdu_hdr *h)
{
	uint8_t reason = h->reject.reason;
	uint32_t ritt = PDU_RESERVED_TAG;

	if (h->data_len >= PDU_BHS_LEN && s->rx_dst)
		ritt = get_be32(s->rx_dst + 16);
	log_ratelimited(&s->rl, LOG_LEVEL_ERR,
			"s%u: target rejected a PDU (reason 0x%02x, ITT 0x%08x)", s->tsih, reason,
			ritt);
	if (ritt != PDU_RESERVED_TAG && ritt == s->ping_itt)
		s->ping_out = false;
	switch (reason) {
	case PDU_REJECT_DATA_DIGEST:
	case PDU_REJECT_WAITING_FOR_LOGOUT:
		/* ERL 0: the command cannot complete on this connection: recover the session */
		set_error(s, -EPROTO, "target rejected a PDU (reason 0x%02x)", reason);
		return -ECONNRESET;
	default:
		break;
	}
	struct initiator_task *t = task_by_itt(s, ritt);
	if (!t || t->have_status)
		return 0;
	t->have_status = true;
	t->nbursts = 0;
	if (reason == PDU_REJECT_IMMEDIATE_CMD || reason == PDU_REJECT_OUT_OF_RESOURCES) {
		/* transient: finish() retries it like BUSY */
		t->response = PDU_RESPONSE_COMPLETED;
		t->status = INITIATOR_SCSI_BUSY;
	} else {
		t->fail_err = INITIATOR_NBD_EIO;
	}
	maybe_complete(s, t);
	return 0;
}

/* A complete PDU is in s->rx_h (data at rx_dst). Returns 0 or -errno to drop the connection. */
static int
pdu_done(struct initiator_session *s)
{
	const struct pdu_hdr *h = &s->rx_h;
	struct initiator_task *t;
	int r;

	if (s->cstate == CS_LOGIN) {
		if (h->opcode != PDU_OP_LOGIN_RSP) {
			set_error(s, -EPROTO, "login: unexpected %s", pdu_opcode_str(h->opcode));
			return -EPROTO;
		}
		return login_rsp(s);
	}
	track_sn(s, h);
	switch (h->opcode) {
	case PDU_OP_DATA_IN:
		t = task_by_itt(s, h->itt);
		if (!t)
			break;
		t->xfer += h->data_len;
		if (h->flags & PDU_DATA_IN_STATUS) {
			/* RFC 7143 11.7.4: status in the last Data-In (phase collapse) */
			t->have_status = true;
			t->response = PDU_RESPONSE_COMPLETED;
			t->status = h->data_in.status;
			t->rsp_flags = h->flags;
			t->residual = h->data_in.residual;
			maybe_complete(s, t);
		}
		break;
	case PDU_OP_SCSI_RSP:
		t = task_by_itt(s, h->itt);
		if (!t)
			break;
		t->have_status = true;
		t->response = h->scsi_rsp.response;
		t->status = h->scsi_rsp.status;
		t->rsp_flags = h->flags;
		t->residual = h->scsi_rsp.residual;
		if (h->data_len >= 2 && s->rx_dst) {
			/* RFC 7143 11.4.7: SenseLength, then the sense data */
			uint32_t sl = MIN((uint32_t)get_be16(s->rx_dst), h->data_len - 2);
			initiator_scsi_parse_sense(s->rx_dst + 2, sl, &t->sense);
		}
		t->nbursts = 0;
		maybe_complete(s, t);
		break;
	case PDU_OP_R2T:
		return on_r2t(s, h);
	case PDU_OP_NOP_IN:
		if (h->nop_in.ttt != PDU_RESERVED_TAG)
			answer_ping(s, h, s->rx_dst, h->data_len);
		if (h->itt != PDU_RESERVED_TAG && h->itt == s->ping_itt)
			s->ping_out = false;
		break;
	case PDU_OP_ASYNC:
		r = on_async(s, h);
		if (r)
			return r;
		break;
	case PDU_OP_REJECT:
		r = on_reject(s, h);
		if (r)
			return r;
		break;
	case PDU_OP_TMF_RSP:
		r = on_tmf_rsp(s, h);
		if (r)
			return r;
		break;
	case PDU_OP_LOGOUT_RSP:
		if (h->itt != LOGOUT_ITT)
			break;
		s->logged_out = true;
		if (s->logout_kind == LOGOUT_RELOGIN) {
			/* logged out as the target asked: close, then log in again after Time2Wait */
			s->time2wait_ms =
				(uint32_t)MIN((int)h->logout_rsp.time2wait, TIME2WAIT_MAX_S) * 1000;
			drop_conn(s, 0);
		}
		break;
	default:
		break;
	}
	drain_window(s);
	return 0;
}

/* The header is complete: decide where the data segment goes. */
static int
start_data(struct initiator_session *s)
{
	const struct pdu_hdr *h = &s->rx_h;

	s->rx_dlen = h->data_len;
	s->rx_dgot = 0;
	s->rx_crc = CRC32C_INIT;
	s->rx_dst = NULL;
	if (h->opcode == PDU_OP_DATA_IN) {
		struct initiator_task *t = task_by_itt(s, h->itt);
		if (t) {
			if (!t->dir_read || (uint64_t)h->data_in.offset + h->data_len > t->edtl)
				return protocol_error(s, "Data-In outside the command's buffer",
						      h->itt);
			s->rx_dst = (uint8_t *)t->data + t->data_off + h->data_in.offset;
		}
	} else if (h->data_len) {
		if (h->data_len > s->rxbuf_cap)
			return protocol_error(s, "data segment too long", h->itt);
		s->rx_dst = s->rxbuf;
	}
	if (!s->rx_dlen)
		goto tail;
	s->rx_state = RX_DATA;
	return 0;
tail:
	s->rx_state = RX_TAIL;
	s->rx_have = 0;
	s->rx_need = 0;
	return 0;
}

static long
on_recv(struct netreserve_conn *c, const void *data, size_t len, void *ctx)
{
	struct initiator_session *s = ctx;
	const uint8_t *p = data;
	size_t left = len;
	int r;
	(void)c;

	s->last_rx_ms = now_ms();
	/* commands the window releases go out at initiator_session_run(), gathered */
	s->defer = true;
	while (left || (s->rx_state == RX_TAIL && s->rx_have == s->rx_need)) {
		switch (s->rx_state) {
		case RX_BHS: {
			uint32_t n = (uint32_t)MIN((size_t)(PDU_BHS_LEN - s->rx_have), left);
			memcpy(s->rx_hdr + s->rx_have, p, n);
			s->rx_have += n;
			p += n;
			left -= n;
			if (s->rx_have < PDU_BHS_LEN)
				break;
			struct pdu_err perr;
			struct pdu_limits lim = { .max_data_len = s->max_recv };
			if (pdu_decode(s->rx_hdr, PDU_SIDE_INITIATOR, &lim, &s->rx_h, &perr)) {
				log_ratelimited(&s->rl, LOG_LEVEL_ERR,
						"s%u: bad PDU header from the target: %s (opcode 0x%02x)",
						s->tsih, pdu_defect_str(perr.defect),
						s->rx_hdr[0] & PDU_OPCODE_MASK);
				s->protocol_errors++;
				return -EPROTO;
			}
			s->rx_need = (uint32_t)s->rx_h.ahs_words * 4 + (s->hd ? PDU_DIGEST_LEN : 0);
			if (s->rx_need) {
				s->rx_state = RX_AHS;
				break;
			}
			r = start_data(s);
			if (r)
				return r;
			break;
		}
		case RX_AHS: {
			uint32_t n = (uint32_t)MIN((size_t)(s->rx_need - (s->rx_have - PDU_BHS_LEN)),
						   left);
			memcpy(s->rx_hdr + s->rx_have, p, n);
			s->rx_have += n;
			p += n;
			left -= n;
			if (s->rx_have - PDU_BHS_LEN < s->rx_need)
				break;
			if (s->hd) {
				size_t hl = s->rx_have - PDU_DIGEST_LEN;
				if (pdu_check_header_digest(s->rx_hdr, hl, s->rx_hdr + hl, NULL)) {
					log_ratelimited(&s->rl, LOG_LEVEL_ERR,
							"s%u: header digest error: dropping the "
							"connection",
							s->tsih);
					return -EBADMSG;
				}
			}
			r = start_data(s);
			if (r)
				return r;
			break;
		}
		case RX_DATA: {
			uint32_t n = (uint32_t)MIN((size_t)(s->rx_dlen - s->rx_dgot), left);
			if (s->rx_dst)
				memcpy(s->rx_dst + s->rx_dgot, p, n);
			if (s->dd)
				s->rx_crc = crc32c_update(s->rx_crc, p, n);
			s->rx_dgot += n;
			p += n;
			left -= n;
			if (s->rx_dgot < s->rx_dlen)
				break;
			s->rx_state = RX_TAIL;
			s->rx_have = 0;
			s->rx_need = pdu_pad_len(s->rx_dlen) + (s->dd ? PDU_DIGEST_LEN : 0);
			break;
		}
		case RX_TAIL: {
			uint32_t n = (uint32_t)MIN((size_t)(s->rx_need - s->rx_have), left);
			memcpy(s->rx_tail + s->rx_have, p, n);
			s->rx_have += n;
			p += n;
			left -= n;
			if (s->rx_have < s->rx_need)
				break;
			if (s->dd && s->rx_dlen) {
				uint32_t pad = pdu_pad_len(s->rx_dlen);
				uint32_t st = crc32c_update(s->rx_crc, s->rx_tail, pad);
				if (crc32c_final(st) != pdu_get_digest(s->rx_tail + pad)) {
					log_ratelimited(&s->rl, LOG_LEVEL_ERR,
							"s%u: data digest error (ITT 0x%08x): "
							"dropping the connection",
							s->tsih, s->rx_h.itt);
					return -EBADMSG;
				}
			}
			r = pdu_done(s);
			if (r)
				return r;
			s->rx_state = RX_BHS;
			s->rx_have = 0;
			s->rx_need = PDU_BHS_LEN;
			break;
		}
		}
	}
	return (long)len;
}

static void
on_close(struct netreserve_conn *c, int err, void *ctx)
{
	struct initiator_session *s = ctx;
	(void)c;

	s->up = false;
	s->conn = NULL;
	if (!s->shutting_down && !s->dead) {
		conn_lost(s, err);
		return;
	}
	/* shutting down: nothing is replayed any more */
	s->last_err = err;
	if (!s->logout_sent || !s->logged_out)
		log_err("s%u: connection to the target closed%s%s", s->tsih, err ? ": " : "",
			err ? errstr(err) : "");
	s->cstate = CS_OFF;
	hold_outstanding(s);
	fail_held(s);
}

/* ---- status ----------------------------------------------------------------------------------- */

static const char *
state_str(const struct initiator_session *s)
{
	if (s->up)
		return "logged_in";
	if (s->dead || (s->expired && s->cstate != CS_OFF))
		return "failed";
	if (s->cstate == CS_OFF)
		return s->logged_out ? "logged_out" : "closed";
	return "reopening";
}

static const char *
phase_str(const struct initiator_session *s)
{
	switch (s->cstate) {
	case CS_UP:
		return s->quiesce ? "quiescing" : (s->logout_sent ? "logging_out" : "full_feature");
	case CS_WAIT:
		return "waiting";
	case CS_CONNECTING:
		return "connecting";
	case CS_LOGIN:
		return "login";
	}
	return "off";
}

int
initiator_session_format(const struct initiator_session *s, char *buf, size_t len)
{
	const struct netreserve_conn_stats *cs =
		s->conn && s->up ? netreserve_conn_stats(s->conn) : NULL;
	int64_t now = now_ms();
	uint32_t held = 0;
	for (const struct initiator_task *t = s->rq_head; t; t = t->next)
		held++;
	return snprintf(
		buf, len,
		"session s%u isid %s state %s\n"
		"connection %s state %s phase %s portal %s rx_bytes %llu tx_bytes %llu\n"
		"recovery reconnects %llu attempts %llu drops %llu failed_attempts %u held %u "
		"replayed %llu replacement_expiries %llu down_ms %lld last_outage_ms %lld "
		"max_outage_ms %lld cmd_timeouts %llu aborts %llu lun_resets %llu\n"
		"last_error %s\n"
		"params header_digest %s data_digest %s max_xmit_dsl %u max_recv_dsl %u "
		"first_burst %u max_burst %u max_r2t %u immediate_data %s initial_r2t %s\n"
		"sn cmdsn %u expcmdsn %u maxcmdsn %u expstatsn %u\n"
		"slots total %u busy %u low_water %u\n"
		"counters cmds %llu reads %llu writes %llu read_bytes %llu write_bytes %llu "
		"flushes %llu trims %llu zeroes %llu errors %llu retries %llu r2ts %llu "
		"window_waits %llu nop_pings %llu slot_waits %llu protocol_errors %llu\n",
		s->tsih, s->isid_str, state_str(s), s->up ? "up" : "down", state_str(s),
		phase_str(s), s->peer_str[0] ? s->peer_str : "-",
		cs ? (unsigned long long)cs->rx_bytes : 0ull,
		cs ? (unsigned long long)cs->tx_bytes : 0ull, (unsigned long long)s->reconnects,
		(unsigned long long)s->reconnect_attempts, (unsigned long long)s->drops, s->attempts,
		held, (unsigned long long)s->replayed, (unsigned long long)s->replacement_expiries,
		s->up ? 0ll : (long long)(now - s->down_since_ms), (long long)s->last_outage_ms,
		(long long)s->max_outage_ms, (unsigned long long)s->cmd_timeouts,
		(unsigned long long)s->aborts, (unsigned long long)s->lun_resets,
		s->last_error[0] ? s->last_error : "-", s->hd ? "CRC32C" : "None",
		s->dd ? "CRC32C" : "None", s->max_xmit, s->max_recv, s->first_burst, s->max_burst,
		s->max_r2t, s->imm_data ? "Yes" : "No", s->initial_r2t ? "Yes" : "No", s->cmdsn,
		s->expcmdsn, s->maxcmdsn, s->expstatsn, s->tasks.count, s->busy,
		s->tasks.stats.low_water, (unsigned long long)*s->st.cmds,
		(unsigned long long)*s->st.reads, (unsigned long long)*s->st.writes,
		(unsigned long long)*s->st.read_bytes, (unsigned long long)*s->st.write_bytes,
		(unsigned long long)*s->st.flushes, (unsigned long long)*s->st.trims,
		(unsigned long long)*s->st.zeroes, (unsigned long long)*s->st.errors,
		(unsigned long long)*s->st.retries, (unsigned long long)*s->st.r2ts,
		(unsigned long long)*s->st.window_waits, (unsigned long long)*s->st.nop_pings,
		(unsigned long long)*s->st.slot_waits, (unsigned long long)s->protocol_errors);
}
