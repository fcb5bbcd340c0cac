/*
 * netreserve footprint and ring layout: pure arithmetic, shared by netreserve_ring_new() (which
 * maps exactly nr_layout().total bytes) and netreserve_footprint() (which reports it), so the
 * printed footprint and the real mapping cannot drift apart.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/compiler.h"
#include "netreserve/footprint.h"
#include "netreserve/internal.h"

/* Smallest power of two >= v, or 0 when that does not fit 32 bits. */
static uint32_t
pow2_ceil(uint64_t v)
{
	uint64_t p = 1;
	if (v > ((uint64_t)1 << 31))
		return 0;
	while (p < v)
		p <<= 1;
	return (uint32_t)p;
}

static size_t
page_round(size_t n)
{
	return ALIGN_UP(n, (size_t)NR_PAGE);
}

int
nr_config_normalise(struct netreserve_config *cfg)
{
	if (!cfg->rx_bufs)
		cfg->rx_bufs = NR_DEF_RX_BUFS;
	if (!cfg->rx_buf_size)
		cfg->rx_buf_size = NR_DEF_RX_BUF_SIZE;
	if (!cfg->ctrl_slots)
		cfg->ctrl_slots = NR_DEF_CTRL_SLOTS;
	if (!cfg->hdr_size)
		cfg->hdr_size = NR_DEF_HDR_SIZE;
	if (!cfg->cmd_slot_size)
		cfg->cmd_slot_size = NR_DEF_CMD_SLOT;
	if (!cfg->max_seg)
		cfg->max_seg = cfg->max_payload;
	if (!cfg->rings)
		cfg->rings = 1;
	if (!cfg->stack_size)
		cfg->stack_size = NR_DEF_STACK;
	if (!cfg->max_conns || cfg->max_conns > 65536 || cfg->rx_bufs < 2 ||
	    cfg->rx_bufs > 32768 || (cfg->rx_bufs & (cfg->rx_bufs - 1)) ||
	    cfg->rx_buf_size % 64 || cfg->rx_buf_size > (1u << 30) || cfg->rings > 1024 ||
	    cfg->user_cqes > (1u << 20))
		return -EINVAL;
	return 0;
}

uint32_t
netreserve_cq_entries(const struct netreserve_config *cfg)
{
	uint32_t nrx = cfg->rx_bufs ? cfg->rx_bufs : NR_DEF_RX_BUFS;
	uint64_t n;
	/* Public: cfg need not be normalised, so the count itself may overflow. Too many to
	 * count is 0, never a CQ smaller than the bound (it could overflow). */
	if (__builtin_mul_overflow((uint64_t)cfg->max_conns, (uint64_t)nrx + NR_CONN_CQES_EXTRA,
				   &n) ||
	    __builtin_add_overflow(n, (uint64_t)cfg->user_cqes + 8, &n))
		return 0;
	uint32_t cq = pow2_ceil(n);
	uint32_t sq = netreserve_sq_entries(cfg);
	if (!cq || !sq)
		return 0;
	/* the kernel refuses a CQ smaller than the SQ */
	return MAX(cq, sq);
}

uint32_t
netreserve_sq_entries(const struct netreserve_config *cfg)
{
	if (cfg->sq_entries)
		return pow2_ceil(cfg->sq_entries);
	uint32_t n = pow2_ceil(2ull * cfg->max_conns + cfg->user_cqes);
	return n ? MAX(n, 64u) : 0;
}

int
nr_layout(const struct netreserve_config *cfg, struct nr_layout *l)
{
	size_t c = cfg->max_conns, nrx = cfg->rx_bufs;
	size_t off;

	memset(l, 0, sizeof(*l));
	if ((uint64_t)c * nrx * cfg->rx_buf_size > ((uint64_t)1 << 40))
		return -EINVAL;
	l->ring = 0;
	off = ALIGN_UP(sizeof(struct netreserve_ring), (size_t)64);
	l->conns = off;
	off += ALIGN_UP(c * sizeof(struct netreserve_conn), (size_t)64);
	l->free_slots = off;
	off += ALIGN_UP(c * sizeof(uint32_t), (size_t)64);
	l->held = off;
	off += ALIGN_UP(c * nrx * sizeof(struct nr_held), (size_t)64);
	l->iov = off;
	off += ALIGN_UP(c * NETRESERVE_CONN_IOV * sizeof(struct iovec), (size_t)64);
	l->conn_stats = off;
	off += ALIGN_UP(c * sizeof(struct netreserve_conn_stats), (size_t)64);
	l->table_end = page_round(off);
	l->bufring_stride = page_round(nrx * sizeof(struct io_uring_buf));
	l->bufrings = l->table_end;
	l->rxbufs = l->bufrings + c * l->bufring_stride;
	l->total = page_round(l->rxbufs + c * nrx * cfg->rx_buf_size);
	return 0;
}

/*
 * Checked arithmetic for the footprint: every configured size is a u32 (u64 for extra_locked)
 * and products of four of them overflow 64 bits. A wrapped total would size a cgroup limit or
 * RLIMIT_MEMLOCK far too small, so any overflow sets *ovf (sticky) and the result is refused.
 */
static uint64_t
fp_mul(uint64_t a, uint64_t b, bool *ovf)
{
	uint64_t r;
	*ovf |= __builtin_mul_overflow(a, b, &r);
	return r;
}

static uint64_t
fp_add(uint64_t a, uint64_t b, bool *ovf)
{
	uint64_t r;
	*ovf |= __builtin_add_overflow(a, b, &r);
	return r;
}

int
netreserve_footprint(const struct netreserve_config *in, struct netreserve_footprint *fp)
{
	struct netreserve_config cfg = *in;
	struct nr_layout l;
	bool ovf = false;

	memset(fp, 0, sizeof(*fp));
	if (nr_config_normalise(&cfg) < 0 || nr_layout(&cfg, &l) < 0)
		return -EINVAL;
	uint64_t rings = cfg.rings, c = cfg.max_conns, q = cfg.queue_depth, k = cfg.ctrl_slots;
	uint64_t b = cfg.max_payload, s = cfg.max_seg ? cfg.max_seg : 1;
	uint64_t rc = rings * c; /* <= 2^10 x 2^16 (nr_config_normalise) */

	fp->cq_entries = netreserve_cq_entries(&cfg);
	fp->sq_entries = netreserve_sq_entries(&cfg);
	if (!fp->cq_entries || !fp->sq_entries)
		return -EINVAL;

	/* C x (Q + K) x cmd_slot_size */
	fp->cmd_slots = fp_mul(fp_mul(rc, q + k, &ovf), cfg.cmd_slot_size, &ovf);
	/* C x (Q x (1 + ceil(B / S)) + K) x H */
	uint64_t hdrs_per_cmd = 1 + (b + s - 1) / s;
	fp->tx_hdrs = fp_mul(fp_mul(rc, fp_add(fp_mul(q, hdrs_per_cmd, &ovf), k, &ovf), &ovf),
			     cfg.hdr_size, &ovf);
	fp->conn_table = rings * l.table_end;
	fp->rx = rings * (l.total - l.table_end);
	/* SQ ring (head, tail, array), SQEs, CQ ring (CQEs): the kernel maps these pages */
	fp->uring = rings * (page_round(256 + (size_t)fp->sq_entries * 4) +
			     page_round((size_t)fp->sq_entries * sizeof(struct io_uring_sqe)) +
			     page_round(256 + (size_t)fp->cq_entries * sizeof(struct io_uring_cqe)));
	fp->stats = page_round(sizeof(struct netreserve_stats_hdr) +
			       rings * sizeof(struct netreserve_ring_stats) +
			       rc * sizeof(struct netreserve_conn_stats));
	fp->stacks = rings * cfg.stack_size;
	fp->extra = cfg.extra_locked;
	uint64_t locked = 0;
	const uint64_t parts[] = { fp->cmd_slots, fp->tx_hdrs, fp->conn_table, fp->rx,
				   fp->uring,	  fp->stats,   fp->stacks,     fp->extra };
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		locked = fp_add(locked, parts[i], &ovf);
	fp->locked = locked;
	fp->registered = fp_mul(fp_mul(rc, q, &ovf), page_round(b), &ovf);

	uint64_t snd = cfg.sndbuf ? cfg.sndbuf : NETRESERVE_AUTOTUNE_BUF;
	uint64_t rcv = cfg.rcvbuf ? cfg.rcvbuf : NETRESERVE_AUTOTUNE_BUF;
	/* the kernel doubles the value set; another x2 for skb truesize overhead (design c.2) */
	uint64_t per_conn = 2 * 2 * (snd + rcv);
	per_conn = MAX(per_conn, (uint64_t)cfg.sock_reserve);
	fp->sockmem = rc * per_conn; /* <= 2^26 x 2^35 */
	fp->slack = NETRESERVE_FOOTPRINT_SLACK;
	fp->total = fp_add(fp_add(fp_add(fp->locked, fp->registered, &ovf), fp->sockmem, &ovf),
			   fp->slack, &ovf);
	if (ovf) {
		memset(fp, 0, sizeof(*fp));
		return -EINVAL;
	}
	return 0;
}

int
netreserve_footprint_format(const struct netreserve_footprint *fp, char *buf, size_t len)
{
	return snprintf(buf, len,
			"cmd_slots %llu\ntx_hdrs %llu\nrx %llu\nconn_table %llu\nuring %llu\n"
			"stats %llu\nstacks %llu\nextra %llu\nlocked %llu\nregistered %llu\n"
			"sockmem %llu\nslack %llu\ncq_entries %u\nsq_entries %u\ntotal %llu\n",
			(unsigned long long)fp->cmd_slots, (unsigned long long)fp->tx_hdrs,
			(unsigned long long)fp->rx, (unsigned long long)fp->conn_table,
			(unsigned long long)fp->uring, (unsigned long long)fp->stats,
			(unsigned long long)fp->stacks, (unsigned long long)fp->extra,
			(unsigned long long)fp->locked, (unsigned long long)fp->registered,
			(unsigned long long)fp->sockmem, (unsigned long long)fp->slack,
			fp->cq_entries, fp->sq_entries, (unsigned long long)fp->total);
}
