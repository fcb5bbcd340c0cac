/*
 * iSCSI connection, control-plane side: connect, and blocking PDU exchange before the
 * datapath (login, discovery, LUN scan, logout). Each call is bounded by s->timeout_ms.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/sn.h"
#include "initiator/conn.h"
#include "initiator/scsi.h"

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)MIN(left, 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

int
initiator_conn_connect(const char *host, uint16_t port, int timeout_ms, char *peer,
		       size_t peer_size, char *msg, size_t msg_size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char portstr[8];
	int fd = -1, err = -ENOENT;
	int64_t deadline = now_ms() + timeout_ms;

	snprintf(portstr, sizeof(portstr), "%u", port);
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g) {
		snprintf(msg, msg_size, "cannot resolve %s: %s", host, gai_strerror(g));
		return -ENOENT;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			err = 0;
		} else if (errno == EINPROGRESS) {
			err = wait_fd(fd, POLLOUT, deadline);
			if (err == 0) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				err = -soerr;
			}
		} else {
			err = -errno;
		}
		if (err == 0) {
			if (peer) {
				char a[INET6_ADDRSTRLEN] = "?";
				if (ai->ai_family == AF_INET)
					inet_ntop(AF_INET,
						  &((struct sockaddr_in *)ai->ai_addr)->sin_addr, a,
						  sizeof(a));
				else if (ai->ai_family == AF_INET6)
					inet_ntop(AF_INET6,
						  &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
						  a, sizeof(a));
				snprintf(peer, peer_size, ai->ai_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
					 a, port);
			}
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (err) {
		snprintf(msg, msg_size, "cannot connect to %s:%u: %s", host, port, strerror(-err));
		return err;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

static int
write_iov(int fd, struct iovec *iov, int n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_fd(fd, POLLOUT, deadline);
				if (r)
					return r;
				continue;
			}
			return -errno;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static int
read_full(int fd, void *buf, size_t len, int64_t deadline)
{
	char *p = buf;
	while (len > 0) {
		int r = wait_fd(fd, POLLIN, deadline);
		if (r)
			return r;
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
initiator_sync_send(struct initiator_sync *s, struct pdu_hdr *h, const void *data, uint32_t len)
{
	uint8_t bhs[PDU_BHS_LEN + PDU_DIGEST_LEN];
	uint8_t pad[4] = { 0 }, dd[4];
	struct iovec iov[4];
	int n = 0;

	h->data_len = len;
	log_debug(LOG_CAT_PDU, "sync tx %s itt 0x%08x len %u", pdu_opcode_str(h->opcode), h->itt,
		  len);
	pdu_encode(h, bhs);
	size_t hlen = PDU_BHS_LEN;
	if (s->header_digest) {
		pdu_put_digest(bhs + PDU_BHS_LEN, pdu_header_digest(bhs, PDU_BHS_LEN));
		hlen += PDU_DIGEST_LEN;
	}
	iov[n++] = (struct iovec){ bhs, hlen };
	if (len) {
		iov[n++] = (struct iovec){ (void *)data, len };
		if (pdu_pad_len(len))
			iov[n++] = (struct iovec){ pad, pdu_pad_len(len) };
		if (s->data_digest) {
			pdu_put_digest(dd, pdu_data_digest(data, len));
			iov[n++] = (struct iovec){ dd, 4 };
		}
	}
	return write_iov(s->fd, iov, n, now_ms() + s->timeout_ms);
}

static void
track_sn(struct initiator_sync *s, const struct pdu_hdr *h)
{
	pdu_track_target_sn(h, &s->expstatsn, &s->expcmdsn, &s->maxcmdsn);
}

int
initiator_sync_recv(struct initiator_sync *s, struct pdu_hdr *h, void *data, uint32_t cap,
		    uint32_t *len)
{
	uint8_t bhs[PDU_BHS_LEN + PDU_MAX_AHS_LEN + PDU_DIGEST_LEN];
	uint8_t tail[8];
	struct pdu_err perr;
	struct pdu_limits lim = { .max_data_len = s->max_recv_dsl };
	int64_t deadline = now_ms() + s->timeout_ms;
	int r;

	r = read_full(s->fd, bhs, PDU_BHS_LEN, deadline);
	if (r)
		return r;
	r = pdu_decode(bhs, PDU_SIDE_INITIATOR, &lim, h, &perr);
	log_debug(LOG_CAT_PDU, "sync rx %s itt 0x%08x flags 0x%02x len %u%s%s",
		  pdu_opcode_str(h->opcode), h->itt, h->flags, h->data_len, r ? ": " : "",
		  r ? pdu_defect_str(perr.defect) : "");
	if (r)
		return -EBADMSG;
	size_t ahs = (size_t)h->ahs_words * 4;
	if (ahs) {
		r = read_full(s->fd, bhs + PDU_BHS_LEN, ahs, deadline);
		if (r)
			return r;
	}
	if (s->header_digest) {
		r = read_full(s->fd, tail, 4, deadline);
		if (r)
			return r;
		if (pdu_check_header_digest(bhs, PDU_BHS_LEN + ahs, tail, NULL))
			return -EILSEQ;
	}
	*len = h->data_len;
	if (h->data_len) {
		if (h->data_len > cap)
			return -EMSGSIZE;
		r = read_full(s->fd, data, h->data_len, deadline);
		if (r)
			return r;
		uint32_t pad = pdu_pad_len(h->data_len);
		r = read_full(s->fd, tail, pad + (s->data_digest ? 4 : 0), deadline);
		if (r)
			return r;
		if (s->data_digest &&
		    pdu_check_data_digest(pdu_data_digest(data, h->data_len), tail + pad, NULL))
			return -EILSEQ;
	}
	track_sn(s, h);
	return 0;
}

/* Answer a target's NOP-In ping (TTT != 0xffffffff) with a NOP-Out (RFC 7143 11.18). */
static int
answer_nop(struct initiator_sync *s, const struct pdu_hdr *h, const void *data, uint32_t len)
{
	if (h->nop_in.ttt == PDU_RESERVED_TAG)
		return 0;
	struct pdu_hdr o = { 0 };
	o.opcode = PDU_OP_NOP_OUT;
	o.immediate = true;
	o.flags = PDU_FLAG_FINAL;
	o.lun = h->lun;
	o.itt = PDU_RESERVED_TAG;
	o.nop_out.ttt = h->nop_in.ttt;
	o.nop_out.cmdsn = s->cmdsn;
	o.nop_out.expstatsn = s->expstatsn;
	return initiator_sync_send(s, &o, data, MIN(len, s->max_xmit_dsl));
}

int
initiator_sync_scsi(struct initiator_sync *s, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
		    void *buf, uint32_t buf_len, struct initiator_sync_result *res)
{
	struct pdu_hdr h = { 0 };
	uint8_t lunb[8];
	uint32_t cap = MAX(s->max_recv_dsl, 8192u);
	uint8_t *scratch;
	int r;

	memset(res, 0, sizeof(*res));
	if (cdb_len > 16)
		return -EINVAL;
	scratch = mem_alloc(cap);
	if (!scratch)
		return -ENOMEM;
	initiator_scsi_lun_encode(lun, lunb);
	uint32_t itt = s->next_itt++;
	if (itt == PDU_RESERVED_TAG)
		itt = s->next_itt++;
	h.opcode = PDU_OP_SCSI_CMD;
	h.flags = PDU_FLAG_FINAL | PDU_ATTR_SIMPLE | (buf_len ? PDU_SCSI_READ : 0);
	h.lun = get_be64(lunb);
	h.itt = itt;
	h.scsi_cmd.edtl = buf_len;
	h.scsi_cmd.cmdsn = s->cmdsn++;
	h.scsi_cmd.expstatsn = s->expstatsn;
	memcpy(h.scsi_cmd.cdb, cdb, cdb_len);
	r = initiator_sync_send(s, &h, NULL, 0);
	while (r == 0) {
		struct pdu_hdr in;
		uint32_t len;
		r = initiator_sync_recv(s, &in, scratch, cap, &len);
		if (r)
			break;
		if (in.opcode == PDU_OP_NOP_IN) {
			r = answer_nop(s, &in, scratch, len);
		} else if (in.opcode == PDU_OP_ASYNC) {
			continue;
		} else if (in.opcode == PDU_OP_DATA_IN) {
			if (in.itt != itt)
				continue;
			if ((uint64_t)in.data_in.offset + len > buf_len) {
				r = -EPROTO;
				break;
			}
			memcpy((char *)buf + in.data_in.offset, scratch, len);
			res->data_len = MAX(res->data_len, in.data_in.offset + len);
			if (in.flags & PDU_DATA_IN_STATUS) {
				res->status = in.data_in.status;
				break;
			}
		} else if (in.opcode == PDU_OP_SCSI_RSP) {
			if (in.itt != itt)
				continue;
			res->status = in.scsi_rsp.status;
			res->response = in.scsi_rsp.response;
			if (len >= 2) {
				uint32_t sl = get_be16(scratch);
				sl = MIN(sl, len - 2);
				sl = MIN(sl, (uint32_t)sizeof(res->sense));
				memcpy(res->sense, scratch + 2, sl);
				res->sense_len = sl;
			}
			if (res->response != PDU_RESPONSE_COMPLETED)
				r = -EIO;
			break;
		} else {
			r = -EPROTO; /* Reject or anything unexpected */
		}
	}
	mem_free(scratch);
	return r;
}

int
initiator_sync_logout(struct initiator_sync *s)
{
	struct pdu_hdr h = { 0 };
	uint8_t buf[512];
	int r;

	h.opcode = PDU_OP_LOGOUT_REQ;
	h.immediate = true;
	h.flags = PDU_FLAG_FINAL;
	h.itt = s->next_itt++;
	h.logout_req.reason = PDU_LOGOUT_SESSION;
	h.logout_req.cmdsn = s->cmdsn;
	h.logout_req.expstatsn = s->expstatsn;
	r = initiator_sync_send(s, &h, NULL, 0);
	if (r)
		return r;
	for (;;) {
		struct pdu_hdr in;
		uint32_t len;
		r = initiator_sync_recv(s, &in, buf, sizeof(buf), &len);
		if (r)
			return r;
		if (in.opcode == PDU_OP_LOGOUT_RSP)
			return in.logout_rsp.response == PDU_LOGOUT_RSP_OK ? 0 : -EIO;
	}
}
