/*
 * SendTargets discovery. RFC 7143 11.10/11.11 (Text Request/Response), 12.3 (SendTargets).
 * Control plane.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/mem.h"
#include "initiator/conn.h"
#include "initiator/discovery.h"
#include "initiator/login.h"
#include "initiator/scsi.h"

static int
parse_targets(const struct text_pair *pairs, size_t n, struct initiator_discovered *out,
	      size_t max)
{
	int count = 0;
	struct initiator_discovered *cur = NULL;

	for (size_t i = 0; i < n; i++) {
		if (text_pair_is(&pairs[i], "TargetName")) {
			cur = (size_t)count < max ? &out[count] : NULL;
			count++;
			if (cur) {
				memset(cur, 0, sizeof(*cur));
				snprintf(cur->name, sizeof(cur->name), "%s", pairs[i].value);
			}
		} else if (text_pair_is(&pairs[i], "TargetAddress") && cur &&
			   cur->naddr < INITIATOR_DISC_ADDRS) {
			snprintf(cur->addr[cur->naddr++], sizeof(cur->addr[0]), "%s",
				 pairs[i].value);
		}
	}
	return count;
}

int
initiator_discover(const struct initiator_config *cfg, struct initiator_discovered *out,
		   size_t max, char *msg, size_t msg_size)
{
	struct initiator_sync s = { .fd = -1, .timeout_ms = cfg->login_timeout * 1000 };
	struct initiator_login *l = NULL;
	struct initiator_login_params p = { 0 };
	char *text = NULL;
	struct text_pair *pairs = NULL;
	size_t tlen = 0;
	int r;

	l = mem_zalloc(sizeof(*l));
	text = mem_alloc(INITIATOR_TEXT_MAX);
	pairs = mem_alloc(sizeof(*pairs) * 1024);
	if (!l || !text || !pairs) {
		r = -ENOMEM;
		snprintf(msg, msg_size, "out of memory");
		goto out;
	}
	r = initiator_conn_connect(cfg->portal_host, cfg->portal_port, cfg->login_timeout * 1000,
				   NULL, 0, msg, msg_size);
	if (r < 0)
		goto out;
	s.fd = r;
	p.initiator_name = cfg->initiator_name;
	p.initiator_alias = cfg->initiator_alias[0] ? cfg->initiator_alias : NULL;
	p.discovery = true;
	initiator_login_random_isid(p.isid);
	p.cmdsn = 1;
	p.chap = &cfg->disc_auth;
	initiator_login_local_from_config(&p.local, cfg, true);
	initiator_login_init(l, &p);
	r = initiator_login_run(l, &s);
	if (r) {
		snprintf(msg, msg_size, "discovery login to %s:%u: %s", cfg->portal_host,
			 cfg->portal_port, l->msg);
		goto out;
	}

	/* RFC 7143 11.10: SendTargets=All; a continued response is fetched with empty
	 * requests carrying the Target Transfer Tag. */
	uint32_t ttt = PDU_RESERVED_TAG;
	uint32_t itt = 0x20000000u;
	const char req[] = "SendTargets=All";
	bool first = true;
	for (;;) {
		struct pdu_hdr h = { 0 };
		h.opcode = PDU_OP_TEXT_REQ;
		h.immediate = true;
		h.flags = PDU_FLAG_FINAL;
		h.itt = itt;
		h.lun = 0;
		h.text_req.ttt = ttt;
		h.text_req.cmdsn = s.cmdsn;
		h.text_req.expstatsn = s.expstatsn;
		r = initiator_sync_send(&s, &h, first ? req : NULL, first ? sizeof(req) : 0);
		if (r) {
			snprintf(msg, msg_size, "SendTargets: %s", strerror(-r));
			goto out;
		}
		first = false;
		struct pdu_hdr in;
		uint32_t len;
		r = initiator_sync_recv(&s, &in, text + tlen, (uint32_t)(INITIATOR_TEXT_MAX - tlen),
					&len);
		if (r) {
			snprintf(msg, msg_size, "SendTargets: no response: %s", strerror(-r));
			goto out;
		}
		if (in.opcode != PDU_OP_TEXT_RSP || in.itt != itt) {
			r = -EPROTO;
			snprintf(msg, msg_size, "SendTargets: unexpected %s",
				 pdu_opcode_str(in.opcode));
			goto out;
		}
		tlen += len;
		if (!(in.flags & PDU_TEXT_CONTINUE))
			break;
		ttt = in.text_rsp.ttt;
	}
	int n = text_parse(text, tlen, pairs, 1024, NULL);
	if (n < 0) {
		r = n;
		snprintf(msg, msg_size, "SendTargets: malformed response");
		goto out;
	}
	r = parse_targets(pairs, (size_t)n, out, max);
	initiator_sync_logout(&s);
out:
	if (s.fd >= 0)
		close(s.fd);
	mem_free(pairs);
	mem_free(text);
	mem_free(l);
	return r;
}

/* One scan command with unit attention / becoming-ready retries. */
static int
scan_cmd(struct initiator_sync *s, uint64_t lun, const uint8_t *cdb, size_t cdb_len, void *buf,
	 uint32_t len, uint32_t *got, struct initiator_sense *sense)
{
	struct initiator_sync_result res;

	for (int attempt = 0; attempt < 20; attempt++) {
		int r = initiator_sync_scsi(s, lun, cdb, cdb_len, buf, len, &res);
		if (r)
			return r;
		memset(sense, 0, sizeof(*sense));
		if (res.status == INITIATOR_SCSI_GOOD) {
			*got = res.data_len;
			return 0;
		}
		if (res.status == INITIATOR_SCSI_CHECK_CONDITION) {
			initiator_scsi_parse_sense(res.sense, res.sense_len, sense);
			if (sense->key == INITIATOR_SENSE_UNIT_ATTENTION)
				continue;
			if (sense->key == INITIATOR_SENSE_NOT_READY && sense->asc == 0x04 &&
			    sense->ascq == 0x01) {
				usleep(100000);
				continue;
			}
			return -EIO;
		}
		if (res.status == INITIATOR_SCSI_BUSY || res.status == INITIATOR_SCSI_TASK_SET_FULL) {
			usleep(100000);
			continue;
		}
		return -EIO;
	}
	return -EIO;
}

/*
 * The caching mode page: MODE SENSE (10), falling back to (6) (SPC-5 allows either to be
 * unimplemented). A LU that answers neither is assumed to have a volatile write cache and no
 * FUA support (WCE=1, DPOFUA=0), the setting that never loses a FUA write: FUA is then not
 * advertised and clients flush.
 */
static void
scan_caching(struct initiator_sync *s, uint64_t lunno, struct initiator_lun *l)
{
	uint8_t cdb[INITIATOR_SCSI_CDB_MAX], buf[255];
	struct initiator_sense sense;
	uint32_t got;
	int n;

	l->info.wce = true;
	l->info.dpofua = false;
	for (int ten = 1; ten >= 0; ten--) {
		n = initiator_scsi_cdb_mode_sense(cdb, ten, INITIATOR_SCSI_MODE_PAGE_CACHING,
						  sizeof(buf));
		if (scan_cmd(s, lunno, cdb, (size_t)n, buf, sizeof(buf), &got, &sense) == 0 &&
		    initiator_scsi_parse_mode_caching(buf, MIN(got, (uint32_t)sizeof(buf)), ten,
						      &l->info) == 0)
			break;
	}
	l->send_fua = l->info.dpofua;
	l->accept_fua = l->info.dpofua || !l->info.wce;
}

static int
scan_one(struct initiator_sync *s, uint64_t lunno, uint32_t max_io, struct initiator_lun *l,
	 char *msg, size_t msg_size)
{
	uint8_t cdb[INITIATOR_SCSI_CDB_MAX], buf[512];
	struct initiator_sense sense;
	uint32_t got;
	int r, n;

	memset(l, 0, sizeof(*l));
	l->info.lun = lunno;
	uint8_t field[8];
	initiator_scsi_lun_encode(lunno, field);
	l->lun_field = get_be64(field);

	n = initiator_scsi_cdb_inquiry(cdb, false, 0, 96);
	r = scan_cmd(s, lunno, cdb, (size_t)n, buf, 96, &got, &sense);
	if (r || initiator_scsi_parse_inquiry(buf, got, &l->info)) {
		snprintf(msg, msg_size, "lun %llu: INQUIRY failed", (unsigned long long)lunno);
		return r ? r : -EIO;
	}
	if (l->info.type != INITIATOR_SCSI_TYPE_DISK)
		return 1; /* not a block device: skipped */

	bool b0 = false, b2 = false, p83 = false;
	n = initiator_scsi_cdb_inquiry(cdb, true, 0x00, 255);
	if (scan_cmd(s, lunno, cdb, (size_t)n, buf, 255, &got, &sense) == 0) {
		b0 = initiator_scsi_vpd_supported(buf, got, 0xb0);
		b2 = initiator_scsi_vpd_supported(buf, got, 0xb2);
		p83 = initiator_scsi_vpd_supported(buf, got, 0x83);
	}
	if (p83) {
		n = initiator_scsi_cdb_inquiry(cdb, true, 0x83, 255);
		if (scan_cmd(s, lunno, cdb, (size_t)n, buf, 255, &got, &sense) == 0)
			initiator_scsi_parse_vpd83(buf, got, &l->info);
	}
	if (b0) {
		n = initiator_scsi_cdb_inquiry(cdb, true, 0xb0, 64);
		if (scan_cmd(s, lunno, cdb, (size_t)n, buf, 64, &got, &sense) == 0)
			initiator_scsi_parse_vpd_b0(buf, got, &l->info);
	}
	if (b2) {
		n = initiator_scsi_cdb_inquiry(cdb, true, 0xb2, 64);
		if (scan_cmd(s, lunno, cdb, (size_t)n, buf, 64, &got, &sense) == 0)
			initiator_scsi_parse_vpd_b2(buf, got, &l->info);
	}
	scan_caching(s, lunno, l);
	n = initiator_scsi_cdb_read_capacity16(cdb, 32);
	r = scan_cmd(s, lunno, cdb, (size_t)n, buf, 32, &got, &sense);
	if (r || initiator_scsi_parse_read_capacity16(buf, got, &l->info)) {
		snprintf(msg, msg_size, "lun %llu: READ CAPACITY (16) failed",
			 (unsigned long long)lunno);
		return r ? r : -EIO;
	}
	uint32_t bs = l->info.block_size;
	if (bs < 512 || bs > 65536 || max_io < bs) {
		snprintf(msg, msg_size, "lun %llu: unsupported block size %u",
			 (unsigned long long)lunno, bs);
		return -EINVAL;
	}
	/* Per-command limits: VPD B0 when reported, our buffers, and 1 GiB per command so that
	 * byte counts stay in 32 bits. */
	uint32_t cap = (1u << 30) / bs;
	l->max_xfer_blocks = max_io / bs;
	if (l->info.max_transfer)
		l->max_xfer_blocks = MIN(l->max_xfer_blocks, l->info.max_transfer);
	l->can_unmap = l->info.lbpu && l->info.lbpme;
	l->max_unmap_blocks = l->info.max_unmap_lba ? MIN(l->info.max_unmap_lba, cap) : cap;
	l->max_ws_blocks = l->info.max_write_same ? (uint32_t)MIN(l->info.max_write_same,
								    (uint64_t)cap)
						  : MIN((32u << 20) / bs, cap);
	if (l->info.max_transfer)
		l->max_ws_blocks = MIN(l->max_ws_blocks, MAX(l->info.max_transfer, 1u));
	l->can_write_same = true;
	return 0;
}

int
initiator_discover_luns(struct initiator_sync *s, const struct initiator_config *cfg,
			uint32_t max_io, struct initiator_lun *luns, size_t max, char *msg,
			size_t msg_size)
{
	uint8_t cdb[INITIATOR_SCSI_CDB_MAX];
	uint32_t alloc = 8 + 8 * 512, got = 0;
	uint64_t list[512];
	struct initiator_sense sense;
	size_t n = 0;
	int r;

	uint8_t *buf = mem_alloc(alloc);
	if (!buf)
		return -ENOMEM;
	int cl = initiator_scsi_cdb_report_luns(cdb, alloc);
	r = scan_cmd(s, 0, cdb, (size_t)cl, buf, alloc, &got, &sense);
	int count = r ? r : initiator_scsi_parse_report_luns(buf, got, list, ARRAY_SIZE(list));
	mem_free(buf);
	if (count < 0) {
		snprintf(msg, msg_size, "REPORT LUNS failed: %s", strerror(-count));
		return count;
	}
	count = MIN(count, (int)ARRAY_SIZE(list));
	for (int i = 0; i < count && n < max; i++) {
		if (cfg->lun >= 0 && list[i] != (uint64_t)cfg->lun)
			continue;
		r = scan_one(s, list[i], max_io, &luns[n], msg, msg_size);
		if (r < 0)
			return r;
		if (r == 0)
			n++;
	}
	if (!n) {
		if (cfg->lun >= 0)
			snprintf(msg, msg_size, "LUN %lld is not a disk on this target (or absent)",
				 (long long)cfg->lun);
		else
			snprintf(msg, msg_size, "the target has no disk LUN");
		return -ENODEV;
	}
	return (int)n;
}
