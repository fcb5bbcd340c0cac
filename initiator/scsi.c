/*
 * SCSI CDB builders and response parsers for the initiator (SBC-4, SPC-5). Pure: no I/O, no
 * allocation. Used on the datapath (READ/WRITE/SYNCHRONIZE CACHE/UNMAP/WRITE SAME) and at
 * LUN scan time.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "initiator/scsi.h"

#include "common/datapath.h"

int
initiator_scsi_cdb_rw(uint8_t *cdb, bool write, uint64_t lba, uint32_t nblocks, bool fua)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	/* SBC-4 5.11/5.36: FUA is bit 3 of byte 1 in both forms. */
	if (lba <= 0xffffffffull && nblocks <= 0xffff) {
		cdb[0] = write ? INITIATOR_SCSI_WRITE_10 : INITIATOR_SCSI_READ_10;
		cdb[1] = fua ? 0x08 : 0;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)nblocks);
		return 10;
	}
	cdb[0] = write ? INITIATOR_SCSI_WRITE_16 : INITIATOR_SCSI_READ_16;
	cdb[1] = fua ? 0x08 : 0;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, nblocks);
	return 16;
}

int
initiator_scsi_cdb_sync_cache(uint8_t *cdb, uint64_t lba, uint32_t nblocks)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	if (lba <= 0xffffffffull && nblocks <= 0xffff) {
		cdb[0] = INITIATOR_SCSI_SYNC_CACHE_10;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)nblocks);
		return 10;
	}
	cdb[0] = INITIATOR_SCSI_SYNC_CACHE_16;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, nblocks);
	return 16;
}

int
initiator_scsi_cdb_write_same(uint8_t *cdb, uint64_t lba, uint32_t nblocks, bool unmap)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	cdb[0] = INITIATOR_SCSI_WRITE_SAME_16;
	cdb[1] = unmap ? 0x08 : 0; /* SBC-4 5.50: UNMAP bit */
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, nblocks);
	return 16;
}

int
initiator_scsi_cdb_unmap(uint8_t *cdb, uint16_t param_len)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	cdb[0] = INITIATOR_SCSI_UNMAP;
	put_be16(cdb + 7, param_len);
	return 10;
}

int
initiator_scsi_unmap_param(uint8_t *buf, uint64_t lba, uint32_t nblocks)
{
	/* SBC-4 5.32.2: data length, block descriptor data length, then 16-byte descriptors. */
	memset(buf, 0, INITIATOR_SCSI_UNMAP_PARAM_LEN);
	put_be16(buf, INITIATOR_SCSI_UNMAP_PARAM_LEN - 2);
	put_be16(buf + 2, 16);
	put_be64(buf + 8, lba);
	put_be32(buf + 16, nblocks);
	return INITIATOR_SCSI_UNMAP_PARAM_LEN;
}

int
initiator_scsi_cdb_report_luns(uint8_t *cdb, uint32_t alloc_len)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	cdb[0] = INITIATOR_SCSI_REPORT_LUNS;
	put_be32(cdb + 6, alloc_len);
	return 12;
}

int
initiator_scsi_cdb_inquiry(uint8_t *cdb, bool evpd, uint8_t page, uint16_t alloc_len)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	cdb[0] = INITIATOR_SCSI_INQUIRY;
	cdb[1] = evpd ? 1 : 0;
	cdb[2] = evpd ? page : 0;
	put_be16(cdb + 3, alloc_len);
	return 6;
}

int
initiator_scsi_cdb_read_capacity16(uint8_t *cdb, uint32_t alloc_len)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	cdb[0] = INITIATOR_SCSI_SERVICE_ACTION_IN_16;
	cdb[1] = INITIATOR_SCSI_SAI_READ_CAPACITY_16;
	put_be32(cdb + 10, alloc_len);
	return 16;
}

int
initiator_scsi_cdb_test_unit_ready(uint8_t *cdb)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	return 6;
}

int
initiator_scsi_cdb_mode_sense(uint8_t *cdb, bool ten, uint8_t page, uint16_t alloc_len)
{
	memset(cdb, 0, INITIATOR_SCSI_CDB_MAX);
	/* SPC-5 6.14/6.15: DBD (byte 1 bit 3), PC 00b (current) and page code in byte 2 */
	cdb[1] = 0x08;
	cdb[2] = page & 0x3f;
	if (ten) {
		cdb[0] = INITIATOR_SCSI_MODE_SENSE_10;
		put_be16(cdb + 7, alloc_len);
		return 10;
	}
	cdb[0] = INITIATOR_SCSI_MODE_SENSE_6;
	cdb[4] = (uint8_t)MIN(alloc_len, (uint16_t)255);
	return 6;
}

void
initiator_scsi_lun_encode(uint64_t lun, uint8_t out[8])
{
	/* SAM-5 4.7: single level LUN, peripheral device (00b) or flat space (01b) addressing. */
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun;
	} else if (lun < 16384) {
		out[0] = (uint8_t)(0x40 | (lun >> 8));
		out[1] = (uint8_t)lun;
	} else {
		put_be64(out, lun);
	}
}

uint64_t
initiator_scsi_lun_decode(const uint8_t in[8])
{
	switch (in[0] >> 6) {
	case 0: /* peripheral device addressing: bus 0 only */
		if ((in[0] & 0x3f) == 0)
			return in[1];
		break;
	case 1: /* flat space */
		return (uint64_t)(in[0] & 0x3f) << 8 | in[1];
	}
	return get_be64(in);
}

int
initiator_scsi_parse_report_luns(const uint8_t *buf, size_t len, uint64_t *luns, size_t max)
{
	if (len < 8)
		return -EBADMSG;
	uint32_t list_len = get_be32(buf);
	size_t n = list_len / 8;
	size_t avail = (len - 8) / 8;
	for (size_t i = 0; i < n && i < avail && i < max; i++)
		luns[i] = initiator_scsi_lun_decode(buf + 8 + 8 * i);
	return (int)MIN(n, (size_t)0x7fffffff);
}

static void
copy_trim(char *dst, const uint8_t *src, size_t n)
{
	size_t len = n;
	while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == 0))
		len--;
	for (size_t i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = 0;
}

int
initiator_scsi_parse_inquiry(const uint8_t *buf, size_t len, struct initiator_lun_info *info)
{
	if (len < 36)
		return -EBADMSG;
	info->type = buf[0] & 0x1f;
	if ((buf[0] >> 5) != 0) /* peripheral qualifier: LU not present */
		info->type = 0x1f;
	info->removable = (buf[1] & 0x80) != 0;
	copy_trim(info->vendor, buf + 8, 8);
	copy_trim(info->product, buf + 16, 16);
	copy_trim(info->revision, buf + 32, 4);
	return 0;
}

static void
hex_into(char *out, size_t cap, const char *prefix, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;
	for (const char *s = prefix; *s && o + 1 < cap; s++)
		out[o++] = *s;
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		out[o++] = hx[p[i] >> 4];
		out[o++] = hx[p[i] & 15];
	}
	out[o] = 0;
}

int
initiator_scsi_parse_vpd83(const uint8_t *buf, size_t len, struct initiator_lun_info *info)
{
	if (len < 4 || buf[1] != 0x83)
		return -EBADMSG;
	size_t end = MIN(len, (size_t)get_be16(buf + 2) + 4);
	int best = 0;
	info->wwn[0] = 0;
	for (size_t off = 4; off + 4 <= end;) {
		const uint8_t *d = buf + off;
		size_t dlen = d[3];
		if (off + 4 + dlen > end)
			break;
		uint8_t code_set = d[0] & 0x0f, assoc = (d[1] >> 4) & 3, type = d[1] & 0x0f;
		/* SPC-5 7.7.6: only designators of the logical unit itself (association 0). */
		if (assoc == 0) {
			if (type == 3 && code_set == 1 && best < 3) { /* NAA */
				hex_into(info->wwn, sizeof(info->wwn), "naa.", d + 4, dlen);
				best = 3;
			} else if (type == 2 && code_set == 1 && best < 2) { /* EUI-64 */
				hex_into(info->wwn, sizeof(info->wwn), "eui.", d + 4, dlen);
				best = 2;
			} else if (type == 1 && best < 1) { /* T10 vendor identification */
				size_t n = MIN(dlen, sizeof(info->wwn) - 5);
				memcpy(info->wwn, "t10.", 4);
				copy_trim(info->wwn + 4, d + 4, n);
				best = 1;
			}
		}
		off += 4 + dlen;
	}
	return 0;
}

int
initiator_scsi_parse_vpd_b0(const uint8_t *buf, size_t len, struct initiator_lun_info *info)
{
	if (len < 16 || buf[1] != 0xb0)
		return -EBADMSG;
	size_t plen = MIN(len, (size_t)get_be16(buf + 2) + 4);
	/* SBC-4 6.6.4 */
	if (plen >= 12)
		info->max_transfer = get_be32(buf + 8);
	if (plen >= 16)
		info->opt_transfer = get_be32(buf + 12);
	if (plen >= 28) {
		info->max_unmap_lba = get_be32(buf + 20);
		info->max_unmap_desc = get_be32(buf + 24);
	}
	if (plen >= 32)
		info->unmap_granularity = get_be32(buf + 28);
	if (plen >= 44)
		info->max_write_same = get_be64(buf + 36);
	return 0;
}

int
initiator_scsi_parse_vpd_b2(const uint8_t *buf, size_t len, struct initiator_lun_info *info)
{
	if (len < 6 || buf[1] != 0xb2)
		return -EBADMSG;
	/* SBC-4 6.6.6: byte 5: LBPU (7), LBPWS (6), LBPWS10 (5), LBPRZ (bits 4..2) */
	info->lbpu = (buf[5] & 0x80) != 0;
	info->lbpws = (buf[5] & 0x40) != 0;
	if (buf[5] & 0x1c)
		info->lbprz = true;
	return 0;
}

bool
initiator_scsi_vpd_supported(const uint8_t *buf, size_t len, uint8_t page)
{
	if (len < 4 || buf[1] != 0)
		return false;
	size_t end = MIN(len, (size_t)get_be16(buf + 2) + 4);
	for (size_t i = 4; i < end; i++)
		if (buf[i] == page)
			return true;
	return false;
}

int
initiator_scsi_parse_read_capacity16(const uint8_t *buf, size_t len,
				     struct initiator_lun_info *info)
{
	if (len < 32)
		return -EBADMSG;
	uint64_t last = get_be64(buf);
	uint32_t bs = get_be32(buf + 8);
	if (last == UINT64_MAX || bs == 0 || (bs & (bs - 1)) != 0)
		return -EBADMSG;
	info->nblocks = last + 1;
	info->block_size = bs;
	unsigned exp = buf[13] & 0x0f;
	info->phys_block_size = exp < 8 ? bs << exp : bs;
	info->lbpme = (buf[14] & 0x80) != 0;
	info->lbprz = (buf[14] & 0x40) != 0;
	return 0;
}

int
initiator_scsi_parse_mode_caching(const uint8_t *buf, size_t len, bool ten,
				  struct initiator_lun_info *info)
{
	/*
	 * SPC-5 7.5.5: the mode parameter header is 8 bytes for MODE SENSE (10) (mode data length
	 * in bytes 0-1, device-specific parameter in byte 3, block descriptor length in bytes 6-7)
	 * and 4 bytes for (6) (length in byte 0, device-specific in byte 2, block descriptor
	 * length in byte 3). The mode data length excludes its own field.
	 */
	size_t hdr = ten ? 8 : 4;
	if (len < hdr)
		return -EBADMSG;
	size_t end = ten ? (size_t)get_be16(buf) + 2 : (size_t)buf[0] + 1;
	uint8_t dsp = ten ? buf[3] : buf[2];
	size_t bdlen = ten ? get_be16(buf + 6) : buf[3];
	end = MIN(end, len);

	for (size_t off = hdr + bdlen; off + 2 <= end;) {
		const uint8_t *p = buf + off;
		/* SPC-5 7.5.7: SPF (bit 6) selects the sub_page format, a 4-byte page header */
		size_t plen = (p[0] & 0x40) ? (off + 4 <= end ? (size_t)get_be16(p + 2) + 4 : end)
					    : (size_t)p[1] + 2;
		if ((p[0] & 0x7f) == INITIATOR_SCSI_MODE_PAGE_CACHING) {
			/* SBC-4 6.5.5: WCE is bit 2 of byte 2 of the caching page */
			if (plen < 3 || off + 3 > end)
				return -EBADMSG;
			/* SBC-4 6.5.1: device-specific parameter: WP (bit 7), DPOFUA (bit 4) */
			info->read_only = (dsp & 0x80) != 0;
			info->dpofua = (dsp & 0x10) != 0;
			info->wce = (p[2] & 0x04) != 0;
			return 0;
		}
		off += plen;
	}
	return -EBADMSG;
}

void
initiator_scsi_parse_sense(const uint8_t *buf, size_t len, struct initiator_sense *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return;
	uint8_t code = buf[0] & 0x7f;
	if ((code == 0x70 || code == 0x71) && len >= 3) {
		/* SPC-5 4.4.3 fixed format */
		out->valid = true;
		out->key = buf[2] & 0x0f;
		if (len >= 14) {
			out->asc = buf[12];
			out->ascq = buf[13];
		}
	} else if ((code == 0x72 || code == 0x73) && len >= 4) {
		/* SPC-5 4.4.2 descriptor format */
		out->valid = true;
		out->key = buf[1] & 0x0f;
		out->asc = buf[2];
		out->ascq = buf[3];
	}
}

const char *
initiator_scsi_status_str(uint8_t status)
{
	switch (status) {
	case INITIATOR_SCSI_GOOD:
		return "GOOD";
	case INITIATOR_SCSI_CHECK_CONDITION:
		return "CHECK CONDITION";
	case INITIATOR_SCSI_BUSY:
		return "BUSY";
	case INITIATOR_SCSI_RESERVATION_CONFLICT:
		return "RESERVATION CONFLICT";
	case INITIATOR_SCSI_TASK_SET_FULL:
		return "TASK SET FULL";
	case INITIATOR_SCSI_TASK_ABORTED:
		return "TASK ABORTED";
	}
	return "unknown status";
}

const char *
initiator_scsi_sense_key_str(uint8_t key)
{
	static const char *const names[16] = {
		"NO SENSE",	   "RECOVERED ERROR", "NOT READY",	 "MEDIUM ERROR",
		"HARDWARE ERROR",  "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
		"BLANK CHECK",	   "VENDOR SPECIFIC", "COPY ABORTED",	 "ABORTED COMMAND",
		"RESERVED",	   "VOLUME OVERFLOW", "MISCOMPARE",	 "COMPLETED",
	};
	return names[key & 15];
}
