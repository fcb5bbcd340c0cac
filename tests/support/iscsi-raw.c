/*
 * iscsi-raw: a minimal blocking iSCSI initiator for the target's tests. It logs in with a
 * chosen ISID and initiator name, sends well-formed and deliberately broken PDUs, and prints
 * what comes back, one result per line, for shell tests to match (tests/interop/target-*.sh).
 *
 * Built on common/pdu.h (BHS codec) and common/text.h (key=value text); no digests, one
 * connection per scenario (flood opens many), ErrorRecoveryLevel 0. A test tool: it allocates
 * freely and exits on errors it does not expect.
 *
 * usage: iscsi-raw [-i INITIATOR] [-I ISID] [-w SECONDS] HOST:PORT TARGET SCENARIO [ARG...]
 * (scenarios: see the sc_* functions below)
 * Exit status 0 when the scenario ran (its outcome is in the output), 1 on usage or
 * connection errors, 2 when the login itself failed (the status is printed first).
 */
#include <config.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/pdu.h"
#include "common/text.h"

#define RAW_MRDSL 262144u
#define RAW_MAX_DATA (16u << 20)

/* One connection and its session state. */
struct raw_conn {
	int fd;
	uint32_t cmdsn, expstatsn, itt;
	uint32_t exp_cmdsn, max_cmdsn; /* from the target */
	uint16_t tsih;
	uint32_t peer_mrdsl, max_burst, first_burst;
	bool immediate_data, initial_r2t;
};

/* A received PDU. */
struct raw_pdu {
	struct pdu_hdr h;
	uint8_t bhs[PDU_BHS_LEN];
	uint8_t *data; /* data_len bytes (+ padding room) */
	uint32_t len;
};

static const char *opt_initiator = "iqn.2024-01.org.ballast:raw";
static uint8_t opt_isid[6] = { 0x80, 0x00, 0x00, 0x00, 0x52, 0x57 };
static double opt_wait = 5.0;
static FILE *opt_record; /* -R: a copy of every byte sent (fuzz corpus material) */
static const char *opt_host, *opt_port, *opt_target;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "iscsi-raw: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
raw_connect(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	int fd = -1, one = 1;
	int r = getaddrinfo(opt_host, opt_port, &hints, &ai);

	if (r)
		die("%s:%s: %s", opt_host, opt_port, gai_strerror(r));
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		die("connect %s:%s: %s", opt_host, opt_port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Writes everything; false when the peer is gone. */
static bool
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (opt_record)
		fwrite(buf, 1, len, opt_record);
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads exactly len bytes before the deadline: 1 done, 0 closed by the peer, -1 timeout. */
static int
read_full(int fd, void *buf, size_t len, double deadline)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - now();
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) == 0)
			continue;
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/* Sends a PDU (header h, data). False when the peer is gone. */
static bool
send_pdu(struct raw_conn *c, struct pdu_hdr *h, const void *data, uint32_t len)
{
	uint8_t bhs[PDU_BHS_LEN];
	static const uint8_t pad[4];

	h->data_len = len;
	pdu_encode(h, bhs);
	if (!write_all(c->fd, bhs, sizeof(bhs)))
		return false;
	if (len && !write_all(c->fd, data, len))
		return false;
	return write_all(c->fd, pad, pdu_pad_len(len));
}

/*
 * Receives one PDU before the deadline: 1 (in *p, data owned by caller: free(p->data)),
 * 0 closed, -1 timeout, -2 malformed (printed).
 */
static int
recv_pdu(struct raw_conn *c, struct raw_pdu *p, double deadline)
{
	struct pdu_err err;
	uint32_t skip;
	int r;

	memset(p, 0, sizeof(*p));
	r = read_full(c->fd, p->bhs, PDU_BHS_LEN, deadline);
	if (r <= 0)
		return r;
	if (pdu_decode(p->bhs, PDU_SIDE_INITIATOR, NULL, &p->h, &err) < 0) {
		printf("malformed %s: %s\n", pdu_opcode_str(p->bhs[0] & PDU_OPCODE_MASK),
		       pdu_defect_str(err.defect));
		return -2;
	}
	if (p->h.data_len > RAW_MAX_DATA) {
		printf("malformed: data segment of %u bytes\n", p->h.data_len);
		return -2;
	}
	skip = p->h.ahs_words * 4u;
	p->len = p->h.data_len;
	p->data = calloc(1, skip + p->len + 4);
	if (!p->data)
		die("out of memory");
	r = read_full(c->fd, p->data, skip + p->len + pdu_pad_len(p->len), deadline);
	if (r <= 0) {
		free(p->data);
		p->data = NULL;
		return r;
	}
	if (skip)
		memmove(p->data, p->data + skip, p->len);
	return 1;
}

/* Bookkeeping common to every target PDU that carries StatSN / window fields. */
static void
note_sn(struct raw_conn *c, const struct pdu_hdr *h)
{
	uint32_t statsn = 0, exp = 0, max = 0;
	bool has_statsn = true;

	switch (h->opcode) {
	case PDU_OP_SCSI_RSP:
		statsn = h->scsi_rsp.statsn, exp = h->scsi_rsp.expcmdsn, max = h->scsi_rsp.maxcmdsn;
		break;
	case PDU_OP_NOP_IN:
		statsn = h->nop_in.statsn, exp = h->nop_in.expcmdsn, max = h->nop_in.maxcmdsn;
		has_statsn = h->itt != PDU_RESERVED_TAG;
		break;
	case PDU_OP_TEXT_RSP:
		statsn = h->text_rsp.statsn, exp = h->text_rsp.expcmdsn, max = h->text_rsp.maxcmdsn;
		break;
	case PDU_OP_LOGOUT_RSP:
		statsn = h->logout_rsp.statsn, exp = h->logout_rsp.expcmdsn;
		max = h->logout_rsp.maxcmdsn;
		break;
	case PDU_OP_TMF_RSP:
		statsn = h->tmf_rsp.statsn, exp = h->tmf_rsp.expcmdsn, max = h->tmf_rsp.maxcmdsn;
		break;
	case PDU_OP_ASYNC:
		statsn = h->async.statsn, exp = h->async.expcmdsn, max = h->async.maxcmdsn;
		break;
	case PDU_OP_REJECT:
		statsn = h->reject.statsn, exp = h->reject.expcmdsn, max = h->reject.maxcmdsn;
		break;
	case PDU_OP_R2T:
		exp = h->r2t.expcmdsn, max = h->r2t.maxcmdsn;
		has_statsn = false;
		break;
	case PDU_OP_DATA_IN:
		exp = h->data_in.expcmdsn, max = h->data_in.maxcmdsn;
		statsn = h->data_in.statsn;
		has_statsn = h->flags & PDU_DATA_IN_STATUS;
		break;
	default:
		return;
	}
	if (has_statsn)
		c->expstatsn = statsn + 1;
	c->exp_cmdsn = exp;
	c->max_cmdsn = max;
}

static uint64_t
pair_u64(const struct text_pair *pairs, int n, const char *key, uint64_t dflt)
{
	const struct text_pair *p = text_find(pairs, (size_t)n, key);
	uint64_t v;

	if (!p || text_value_u64(p->value, p->value_len, &v) < 0)
		return dflt;
	return v;
}

static bool
pair_bool(const struct text_pair *pairs, int n, const char *key, bool dflt)
{
	const struct text_pair *p = text_find(pairs, (size_t)n, key);
	bool v;

	if (!p || text_value_bool(p->value, p->value_len, &v) < 0)
		return dflt;
	return v;
}

/*
 * Logs in (security stage with AuthMethod=None, then operational keys, then Full Feature
 * Phase). Prints "login 0xSSSS ..." and returns the login status (0 success), or -1 when the
 * connection closed or timed out.
 */
static int
raw_login(struct raw_conn *c, bool discovery)
{
	char text[4096];
	struct text_buf tb;
	uint8_t csg = PDU_STAGE_SECURITY, nsg = PDU_STAGE_OPERATIONAL;
	double deadline = now() + opt_wait;
	bool op_keys_sent = false;
	char answers[1024];
	size_t answers_len = 0;

	memset(c, 0, sizeof(*c));
	c->fd = raw_connect();
	c->cmdsn = 1;
	c->itt = 1;
	c->peer_mrdsl = 8192;
	c->max_burst = 262144;
	c->first_burst = 65536;
	c->initial_r2t = true;
	for (int round = 0; round < 6; round++) {
		struct pdu_hdr h;
		struct raw_pdu rsp;
		struct text_pair pairs[64];
		int n, r;

		text_buf_init(&tb, text, sizeof(text));
		if (round == 0) {
			text_buf_add(&tb, "InitiatorName", opt_initiator);
			text_buf_add(&tb, "SessionType", discovery ? "Discovery" : "Normal");
			if (!discovery)
				text_buf_add(&tb, "TargetName", opt_target);
			text_buf_add(&tb, "AuthMethod", "None");
		} else if (csg == PDU_STAGE_OPERATIONAL && !op_keys_sent) {
			op_keys_sent = true;
			text_buf_add(&tb, "HeaderDigest", "None");
			text_buf_add(&tb, "DataDigest", "None");
			text_buf_add_u64(&tb, "MaxRecvDataSegmentLength", RAW_MRDSL);
			text_buf_add(&tb, "ErrorRecoveryLevel", "0");
			if (!discovery) {
				text_buf_add(&tb, "InitialR2T", "Yes");
				text_buf_add(&tb, "ImmediateData", "No");
				text_buf_add_u64(&tb, "MaxBurstLength", 262144);
				text_buf_add_u64(&tb, "FirstBurstLength", 65536);
				text_buf_add(&tb, "MaxOutstandingR2T", "1");
			}
		}
		/* Accept whatever the target offered on its own in the previous round. */
		if (answers_len && tb.len + answers_len <= sizeof(text)) {
			memcpy(text + tb.len, answers, answers_len);
			tb.len += answers_len;
		}
		answers_len = 0;
		memset(&h, 0, sizeof(h));
		h.opcode = PDU_OP_LOGIN_REQ;
		h.immediate = true;
		h.flags = PDU_LOGIN_TRANSIT | (uint8_t)(csg << PDU_LOGIN_CSG_SHIFT) | nsg;
		h.itt = 0;
		memcpy(h.login_req.isid, opt_isid, 6);
		h.login_req.cmdsn = c->cmdsn;
		h.login_req.expstatsn = c->expstatsn;
		if (!send_pdu(c, &h, text, (uint32_t)tb.len))
			return -1;
		r = recv_pdu(c, &rsp, deadline);
		if (r <= 0) {
			printf("login %s\n", r == 0 ? "closed" : "timeout");
			return -1;
		}
		if (rsp.h.opcode != PDU_OP_LOGIN_RSP) {
			printf("login unexpected %s\n", pdu_opcode_str(rsp.h.opcode));
			free(rsp.data);
			return -1;
		}
		c->expstatsn = rsp.h.login_rsp.statsn + 1;
		c->exp_cmdsn = rsp.h.login_rsp.expcmdsn;
		c->max_cmdsn = rsp.h.login_rsp.maxcmdsn;
		if (rsp.h.login_rsp.status) {
			printf("login 0x%04x\n", rsp.h.login_rsp.status);
			free(rsp.data);
			return rsp.h.login_rsp.status;
		}
		n = rsp.len ? text_parse((const char *)rsp.data, rsp.len, pairs, ARRAY_SIZE(pairs),
					 NULL) :
			      0;
		if (n > 0) {
			c->peer_mrdsl = (uint32_t)pair_u64(pairs, n, "MaxRecvDataSegmentLength",
							   c->peer_mrdsl);
			c->max_burst = (uint32_t)pair_u64(pairs, n, "MaxBurstLength", c->max_burst);
			c->first_burst = (uint32_t)pair_u64(pairs, n, "FirstBurstLength",
							    c->first_burst);
			c->initial_r2t = pair_bool(pairs, n, "InitialR2T", c->initial_r2t);
			c->immediate_data = pair_bool(pairs, n, "ImmediateData",
						      c->immediate_data);
			for (int i = 0; i < n; i++) {
				char key[TEXT_KEY_MAX + 2];
				int l;

				snprintf(key, sizeof(key), "%.*s", pairs[i].key_len, pairs[i].key);
				if (memmem(text, tb.len, key, strlen(key)) ||
				    !strcmp(key, "TargetPortalGroupTag") ||
				    !strcmp(key, "TargetAlias"))
					continue; /* an answer to us, or a declaration */
				l = snprintf(answers + answers_len, sizeof(answers) - answers_len,
					     "%s=%s", key, pairs[i].value);
				if (l > 0 && answers_len + (size_t)l + 1 < sizeof(answers))
					answers_len += (size_t)l + 1;
			}
		}
		free(rsp.data);
		if (!(rsp.h.flags & PDU_LOGIN_TRANSIT))
			continue; /* the target wants another round in this stage */
		if ((rsp.h.flags & PDU_LOGIN_NSG_MASK) == PDU_STAGE_FULL_FEATURE) {
			c->tsih = rsp.h.login_rsp.tsih;
			printf("login 0x0000 tsih %u\n", c->tsih);
			return 0;
		}
		csg = PDU_STAGE_OPERATIONAL;
		nsg = PDU_STAGE_FULL_FEATURE;
	}
	printf("login did not complete\n");
	return -1;
}

/* Sends a SCSI command (CmdSN from the session unless cmdsn_override). */
static bool
send_scsi(struct raw_conn *c, const uint8_t cdb[16], uint32_t itt, uint32_t edtl, bool read,
	  bool write, const uint32_t *cmdsn_override)
{
	struct pdu_hdr h;

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_SCSI_CMD;
	h.flags = PDU_FLAG_FINAL | PDU_ATTR_SIMPLE | (read ? PDU_SCSI_READ : 0) |
		  (write ? PDU_SCSI_WRITE : 0);
	h.lun = (uint64_t)1 << 48; /* LUN 1 */
	h.itt = itt;
	h.scsi_cmd.edtl = edtl;
	h.scsi_cmd.cmdsn = cmdsn_override ? *cmdsn_override : c->cmdsn++;
	h.scsi_cmd.expstatsn = c->expstatsn;
	memcpy(h.scsi_cmd.cdb, cdb, 16);
	return send_pdu(c, &h, NULL, 0);
}

/*
 * Runs one SCSI command to its end: answers R2Ts from out, collects Data-In into in. Returns
 * the SCSI status (>= 0), or -1 closed / timeout / protocol surprise (printed).
 */
static int
run_scsi(struct raw_conn *c, const uint8_t cdb[16], const uint8_t *out, uint8_t *in,
	 uint32_t len)
{
	uint32_t itt = ++c->itt;
	double deadline = now() + opt_wait * 4;

	if (!send_scsi(c, cdb, itt, len, in != NULL, out != NULL, NULL))
		return -1;
	for (;;) {
		struct raw_pdu p;
		int r = recv_pdu(c, &p, deadline);

		if (r <= 0) {
			printf("scsi %s\n", r == 0 ? "closed" : "timeout");
			return -1;
		}
		note_sn(c, &p.h);
		switch (p.h.opcode) {
		case PDU_OP_R2T: {
			uint32_t off = p.h.r2t.offset, want = p.h.r2t.desired_len, sn = 0;

			if (!out || (uint64_t)off + want > len) {
				printf("bad R2T offset %u length %u\n", off, want);
				free(p.data);
				return -1;
			}
			while (want) {
				struct pdu_hdr h;
				uint32_t n = MIN(want, c->peer_mrdsl);

				memset(&h, 0, sizeof(h));
				h.opcode = PDU_OP_DATA_OUT;
				h.flags = n == want ? PDU_FLAG_FINAL : 0;
				h.lun = p.h.lun;
				h.itt = itt;
				h.data_out.ttt = p.h.r2t.ttt;
				h.data_out.expstatsn = c->expstatsn;
				h.data_out.datasn = sn++;
				h.data_out.offset = off;
				if (!send_pdu(c, &h, out + off, n))
					return -1;
				off += n;
				want -= n;
			}
			break;
		}
		case PDU_OP_DATA_IN:
			if (!in || (uint64_t)p.h.data_in.offset + p.len > len) {
				printf("bad Data-In offset %u length %u\n", p.h.data_in.offset,
				       p.len);
				free(p.data);
				return -1;
			}
			memcpy(in + p.h.data_in.offset, p.data, p.len);
			if (p.h.flags & PDU_DATA_IN_STATUS) {
				free(p.data);
				return p.h.data_in.status;
			}
			break;
		case PDU_OP_SCSI_RSP:
			free(p.data);
			return p.h.scsi_rsp.status;
		case PDU_OP_NOP_IN:
			break;
		default:
			printf("unexpected %s\n", pdu_opcode_str(p.h.opcode));
			free(p.data);
			return -1;
		}
		free(p.data);
	}
}

/*
 * Waits for the target's next move and prints it: "reject 0xRR", "closed", "timeout", or the
 * opcode name. Returns the opcode (or -1 closed, -2 timeout).
 */
static int
expect_any(struct raw_conn *c, double secs)
{
	struct raw_pdu p;
	int r = recv_pdu(c, &p, now() + secs);

	if (r == 0) {
		printf("closed\n");
		return -1;
	}
	if (r < 0) {
		printf("timeout\n");
		return -2;
	}
	note_sn(c, &p.h);
	if (p.h.opcode == PDU_OP_REJECT)
		printf("reject 0x%02x\n", p.h.reject.reason);
	else if (p.h.opcode == PDU_OP_SCSI_RSP)
		printf("scsi-response itt 0x%08x status 0x%02x\n", p.h.itt, p.h.scsi_rsp.status);
	else
		printf("%s\n", pdu_opcode_str(p.h.opcode));
	free(p.data);
	return p.h.opcode;
}

/* ---- scenarios ---- */

/*
 * login [HOLD]: log in, then hold the connection for HOLD seconds (default 0): an Async logout
 * request is answered with a Logout ("async-logout" then "logout-response"), a closed
 * connection ends the wait ("closed after N s").
 */
static int
sc_login(struct raw_conn *c, const char *arg)
{
	double hold = arg ? atof(arg) : 0, t0 = now(), end = t0 + hold;

	while (now() < end) {
		struct raw_pdu p;
		int r = recv_pdu(c, &p, end);

		if (r == 0) {
			printf("closed after %.1f s\n", now() - t0);
			return 0;
		}
		if (r < 0)
			break;
		note_sn(c, &p.h);
		if (p.h.opcode == PDU_OP_ASYNC && p.h.async.event == PDU_ASYNC_LOGOUT_REQUEST) {
			struct pdu_hdr h;

			printf("async-logout %u s\n", p.h.async.param3);
			memset(&h, 0, sizeof(h));
			h.opcode = PDU_OP_LOGOUT_REQ;
			h.immediate = true;
			h.flags = PDU_FLAG_FINAL;
			h.itt = ++c->itt;
			h.logout_req.reason = PDU_LOGOUT_SESSION;
			h.logout_req.cmdsn = c->cmdsn;
			h.logout_req.expstatsn = c->expstatsn;
			send_pdu(c, &h, NULL, 0);
		} else if (p.h.opcode == PDU_OP_LOGOUT_RSP) {
			printf("logout-response 0x%02x\n", p.h.logout_rsp.response);
		} else if (p.h.opcode == PDU_OP_NOP_IN && p.h.nop_in.ttt != PDU_RESERVED_TAG) {
			struct pdu_hdr h;

			/* Answer pings so that only the idle timeout can end the wait. */
			memset(&h, 0, sizeof(h));
			h.opcode = PDU_OP_NOP_OUT;
			h.immediate = true;
			h.flags = PDU_FLAG_FINAL;
			h.itt = PDU_RESERVED_TAG;
			h.nop_out.ttt = p.h.nop_in.ttt;
			h.nop_out.cmdsn = c->cmdsn;
			h.nop_out.expstatsn = c->expstatsn;
			send_pdu(c, &h, NULL, 0);
		} else {
			printf("%s\n", pdu_opcode_str(p.h.opcode));
		}
		free(p.data);
	}
	printf("open after %.1f s\n", now() - t0);
	return 0;
}

/* nop: a NOP-Out ping that wants an answer: "nop-in" or "timeout". */
static int
sc_nop(struct raw_conn *c)
{
	struct pdu_hdr h;
	static const uint8_t ping[8] = "ballast";

	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_NOP_OUT;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	h.itt = ++c->itt;
	h.nop_out.ttt = PDU_RESERVED_TAG;
	h.nop_out.cmdsn = c->cmdsn;
	h.nop_out.expstatsn = c->expstatsn;
	if (!send_pdu(c, &h, ping, sizeof(ping)))
		return 1;
	for (;;) {
		struct raw_pdu p;
		int r = recv_pdu(c, &p, now() + opt_wait);

		if (r <= 0) {
			printf("%s\n", r == 0 ? "closed" : "timeout");
			return 0;
		}
		note_sn(c, &p.h);
		if (p.h.opcode == PDU_OP_NOP_IN && p.h.itt == h.itt) {
			printf("nop-in %s\n", p.len == sizeof(ping) && !memcmp(p.data, ping, 8) ?
						      "echo" :
						      "bad-echo");
			free(p.data);
			return 0;
		}
		free(p.data);
	}
}

/*
 * rw SIZE [LBA]: one WRITE(16) of SIZE (MiB, or KiB with a K suffix) of a pattern at LBA
 * (default 2048, 512-byte blocks), one READ(16) back, compare: "rw ok".
 */
static int
sc_rw(struct raw_conn *c, const char *arg, const char *lba_arg)
{
	uint32_t n = arg ? (uint32_t)atoi(arg) : 4;
	bool kib = arg && strchr(arg, 'K');
	uint32_t len = kib ? n << 10 : n << 20, blocks = len / 512;
	uint64_t lba = lba_arg ? strtoull(lba_arg, NULL, 0) : 2048;
	uint8_t *out = malloc(len ? len : 1), *in = malloc(len ? len : 1);
	uint8_t cdb[16] = { 0x8a };
	int st;

	if (!out || !in || !n || n > (kib ? 262144u : 256u) || len % 512)
		die("rw: bad size");
	for (uint32_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 13 + (i >> 12) + n);
	memset(in, 0, len);
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, blocks);
	st = run_scsi(c, cdb, out, NULL, len);
	printf("write16 %u %s status %d\n", n, kib ? "KiB" : "MiB", st);
	cdb[0] = 0x88;
	st = run_scsi(c, cdb, NULL, in, len);
	printf("read16 %u %s status %d\n", n, kib ? "KiB" : "MiB", st);
	if (st == 0 && !memcmp(out, in, len))
		printf("rw ok\n");
	else
		printf("rw mismatch\n");
	free(out);
	free(in);
	return 0;
}

/* sendtargets VALUE: a discovery session's SendTargets answer, one key=value per line. */
static int
sc_sendtargets(struct raw_conn *c, const char *arg)
{
	char text[512];
	struct text_buf tb;
	struct pdu_hdr h;
	struct raw_pdu p;
	int r;

	text_buf_init(&tb, text, sizeof(text));
	text_buf_add(&tb, "SendTargets", arg ? arg : "All");
	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_TEXT_REQ;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	h.itt = ++c->itt;
	h.text_req.ttt = PDU_RESERVED_TAG;
	h.text_req.cmdsn = c->cmdsn;
	h.text_req.expstatsn = c->expstatsn;
	if (!send_pdu(c, &h, text, (uint32_t)tb.len))
		return 1;
	r = recv_pdu(c, &p, now() + opt_wait);
	if (r <= 0 || p.h.opcode != PDU_OP_TEXT_RSP) {
		printf("no text response\n");
		return 0;
	}
	for (uint32_t i = 0; i < p.len; i += (uint32_t)strlen((char *)p.data + i) + 1)
		if (p.data[i])
			printf("%s\n", (char *)p.data + i);
	printf("end\n");
	free(p.data);
	return 0;
}

/*
 * hostile CASE (after login unless noted): what the target does about a broken PDU.
 *  garbage      (no login) 4 KiB of junk
 *  truncated    (no login) half a Login Request BHS, then the write side shut
 *  oversize     a SCSI Command announcing a 16 MiB - 1 data segment
 *  opcode       an undefined initiator opcode (0x1c)
 *  tgt-opcode   a target opcode (NOP-In) sent to the target
 *  cmdsn        TEST UNIT READY with a CmdSN far outside the window, then a good one
 *  ahs          a SCSI Command with TotalAHSLength 255 and garbage AHS
 *  dataout      a Data-Out for a task that does not exist
 *  login-ffp    a Login Request in Full Feature Phase
 */
static int
sc_hostile(const char *what)
{
	struct raw_conn c;
	struct pdu_hdr h;
	uint8_t bhs[PDU_BHS_LEN];
	static const uint8_t tur[16] = { 0 };

	if (!strcmp(what, "garbage") || !strcmp(what, "truncated")) {
		uint8_t junk[4096];

		memset(&c, 0, sizeof(c));
		c.fd = raw_connect();
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 131 + 7);
		if (!strcmp(what, "garbage")) {
			write_all(c.fd, junk, sizeof(junk));
		} else {
			memset(&h, 0, sizeof(h));
			h.opcode = PDU_OP_LOGIN_REQ;
			h.immediate = true;
			h.flags = PDU_LOGIN_TRANSIT | PDU_STAGE_OPERATIONAL;
			h.data_len = 100;
			pdu_encode(&h, bhs);
			write_all(c.fd, bhs, 20);
			shutdown(c.fd, SHUT_WR);
		}
		expect_any(&c, opt_wait);
		close(c.fd);
		return 0;
	}
	if (raw_login(&c, false) != 0)
		return 2;
	memset(&h, 0, sizeof(h));
	if (!strcmp(what, "oversize")) {
		h.opcode = PDU_OP_SCSI_CMD;
		h.flags = PDU_FLAG_FINAL | PDU_SCSI_WRITE;
		h.lun = (uint64_t)1 << 48;
		h.itt = ++c.itt;
		h.scsi_cmd.edtl = PDU_MAX_DATA_LEN;
		h.scsi_cmd.cmdsn = c.cmdsn++;
		h.scsi_cmd.cdb[0] = 0x2a;
		h.data_len = PDU_MAX_DATA_LEN;
		pdu_encode(&h, bhs);
		write_all(c.fd, bhs, sizeof(bhs));
		expect_any(&c, opt_wait);
	} else if (!strcmp(what, "opcode") || !strcmp(what, "tgt-opcode")) {
		pdu_encode(&h, bhs);
		bhs[0] = !strcmp(what, "opcode") ? 0x1c : PDU_OP_NOP_IN;
		bhs[1] = PDU_FLAG_FINAL;
		memset(bhs + 16, 0xff, 4);
		write_all(c.fd, bhs, sizeof(bhs));
		expect_any(&c, opt_wait);
	} else if (!strcmp(what, "cmdsn")) {
		uint32_t bad = c.exp_cmdsn + 100000;

		send_scsi(&c, tur, 0x1000, 0, false, false, &bad);
		send_scsi(&c, tur, 0x2000, 0, false, false, NULL);
		/* The bad one is ignored (RFC 7143 4.2.2.1): the first answer is the good one. */
		expect_any(&c, opt_wait);
	} else if (!strcmp(what, "ahs")) {
		uint8_t ahs[255 * 4];

		memset(ahs, 0xa5, sizeof(ahs));
		h.opcode = PDU_OP_SCSI_CMD;
		h.flags = PDU_FLAG_FINAL;
		h.lun = (uint64_t)1 << 48;
		h.itt = ++c.itt;
		h.scsi_cmd.cmdsn = c.cmdsn++;
		h.ahs_words = 255;
		pdu_encode(&h, bhs);
		write_all(c.fd, bhs, sizeof(bhs));
		write_all(c.fd, ahs, sizeof(ahs));
		expect_any(&c, opt_wait);
	} else if (!strcmp(what, "dataout")) {
		static const uint8_t junk[512];

		h.opcode = PDU_OP_DATA_OUT;
		h.flags = PDU_FLAG_FINAL;
		h.itt = 0x7777;
		h.data_out.ttt = 0x12345;
		h.data_out.expstatsn = c.expstatsn;
		send_pdu(&c, &h, junk, sizeof(junk));
		/* Silently dropped: the connection still answers a NOP. */
		return sc_nop(&c);
	} else if (!strcmp(what, "login-ffp")) {
		h.opcode = PDU_OP_LOGIN_REQ;
		h.immediate = true;
		h.flags = PDU_LOGIN_TRANSIT | (PDU_STAGE_OPERATIONAL << PDU_LOGIN_CSG_SHIFT) |
			  PDU_STAGE_FULL_FEATURE;
		memcpy(h.login_req.isid, opt_isid, 6);
		h.login_req.cmdsn = c.cmdsn;
		send_pdu(&c, &h, NULL, 0);
		expect_any(&c, opt_wait);
	} else {
		die("unknown hostile case %s", what);
	}
	close(c.fd);
	return 0;
}

/*
 * flood N [HOLD]: N connections opened and abandoned in the middle of a Login Request (BHS
 * sent and data promised, half a BHS, or nothing), all open at once. Without HOLD they are
 * closed at once ("flood N"); with HOLD they stay open HOLD seconds while the target may close
 * them (login timeout): "flood N closed-by-target M".
 */
static int
sc_flood(const char *arg, const char *hold_arg)
{
	int n = arg ? atoi(arg) : 100, opened = 0, closed = 0;
	double hold = hold_arg ? atof(hold_arg) : 0;
	int *fds = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
	struct pdu_hdr h;
	uint8_t bhs[PDU_BHS_LEN];

	if (!fds || n <= 0)
		die("flood: bad count");
	memset(&h, 0, sizeof(h));
	h.opcode = PDU_OP_LOGIN_REQ;
	h.immediate = true;
	h.flags = PDU_LOGIN_TRANSIT | PDU_STAGE_OPERATIONAL;
	memcpy(h.login_req.isid, opt_isid, 6);
	h.data_len = 1000;
	pdu_encode(&h, bhs);
	for (int i = 0; i < n; i++) {
		fds[i] = raw_connect();
		opened++;
		if (i % 3 == 0)
			write_all(fds[i], bhs, sizeof(bhs)); /* promises data it never sends */
		else if (i % 3 == 1)
			write_all(fds[i], bhs, 30); /* half a header */
	}
	if (hold > 0) {
		double end = now() + hold;
		struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));

		if (!pfd)
			die("out of memory");
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		while (closed < n && now() < end) {
			if (poll(pfd, (nfds_t)n, 100) <= 0)
				continue;
			for (int i = 0; i < n; i++) {
				char b[256];

				if (pfd[i].fd < 0 || !pfd[i].revents)
					continue;
				if (recv(pfd[i].fd, b, sizeof(b), MSG_DONTWAIT) <= 0) {
					pfd[i].fd = -1; /* poll ignores it from now on */
					closed++;
				}
			}
		}
		free(pfd);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	if (hold > 0)
		printf("flood %d closed-by-target %d\n", opened, closed);
	else
		printf("flood %d\n", opened);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: iscsi-raw [-i INITIATOR] [-I ISID-HEX12] [-w SECONDS] [-R RECORD-FILE] "
		"HOST:PORT TARGET SCENARIO [ARG...]\n"
		"scenarios: login [HOLD_S] | nop | rw MIB|KIBK [LBA] | sendtargets VALUE |"
		" hostile CASE | flood N [HOLD_S]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct raw_conn c;
	const char *scenario, *arg;
	char *hostport, *colon;
	int opt, r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "i:I:w:R:")) != -1) {
		switch (opt) {
		case 'i':
			opt_initiator = optarg;
			break;
		case 'I':
			if (strlen(optarg) != 12)
				usage();
			for (int i = 0; i < 6; i++) {
				char b[3] = { optarg[2 * i], optarg[2 * i + 1], 0 };

				opt_isid[i] = (uint8_t)strtoul(b, NULL, 16);
			}
			break;
		case 'w':
			opt_wait = atof(optarg);
			break;
		case 'R':
			opt_record = fopen(optarg, "w");
			if (!opt_record)
				die("%s: %s", optarg, strerror(errno));
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 3)
		usage();
	hostport = strdup(argv[optind]);
	colon = hostport ? strrchr(hostport, ':') : NULL;
	if (!colon)
		usage();
	*colon = 0;
	opt_host = hostport[0] == '[' ? hostport + 1 : hostport;
	if (hostport[0] == '[' && colon[-1] == ']')
		colon[-1] = 0;
	opt_port = colon + 1;
	opt_target = argv[optind + 1];
	scenario = argv[optind + 2];
	arg = argc - optind > 3 ? argv[optind + 3] : NULL;

	if (!strcmp(scenario, "hostile"))
		return arg ? sc_hostile(arg) : 1;
	if (!strcmp(scenario, "flood"))
		return sc_flood(arg, argc - optind > 4 ? argv[optind + 4] : NULL);
	r = raw_login(&c, !strcmp(scenario, "sendtargets"));
	if (r != 0)
		return 2;
	if (!strcmp(scenario, "login"))
		r = sc_login(&c, arg);
	else if (!strcmp(scenario, "nop"))
		r = sc_nop(&c);
	else if (!strcmp(scenario, "rw"))
		r = sc_rw(&c, arg, argc - optind > 4 ? argv[optind + 4] : NULL);
	else if (!strcmp(scenario, "sendtargets"))
		r = sc_sendtargets(&c, arg);
	else
		usage();
	close(c.fd);
	free(hostport);
	if (opt_record)
		fclose(opt_record);
	return r;
}
