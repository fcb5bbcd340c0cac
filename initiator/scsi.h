/*
 * SCSI for the initiator (SBC-4, SPC-5): CDB builders for the commands ballastd issues, parsers
 * for the data they return (REPORT LUNS, INQUIRY and its VPD pages 0x83, 0xB0 and 0xB2,
 * READ CAPACITY (16)), sense data decoding and the 8-byte LUN encoding.
 *
 * Pure code: no I/O, no allocation, no logging. Safe on the datapath. Thread: any.
 */
#ifndef BALLAST_INITIATOR_SCSI_H
#define BALLAST_INITIATOR_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Operation codes. */
#define INITIATOR_SCSI_TEST_UNIT_READY 0x00
#define INITIATOR_SCSI_INQUIRY 0x12
#define INITIATOR_SCSI_MODE_SENSE_6 0x1a
#define INITIATOR_SCSI_MODE_SENSE_10 0x5a
#define INITIATOR_SCSI_READ_10 0x28
#define INITIATOR_SCSI_WRITE_10 0x2a
#define INITIATOR_SCSI_SYNC_CACHE_10 0x35
#define INITIATOR_SCSI_WRITE_SAME_10 0x41
#define INITIATOR_SCSI_UNMAP 0x42
#define INITIATOR_SCSI_READ_16 0x88
#define INITIATOR_SCSI_WRITE_16 0x8a
#define INITIATOR_SCSI_SYNC_CACHE_16 0x91
#define INITIATOR_SCSI_WRITE_SAME_16 0x93
#define INITIATOR_SCSI_SERVICE_ACTION_IN_16 0x9e
#define INITIATOR_SCSI_SAI_READ_CAPACITY_16 0x10
#define INITIATOR_SCSI_REPORT_LUNS 0xa0

/* Status bytes. */
#define INITIATOR_SCSI_GOOD 0x00
#define INITIATOR_SCSI_CHECK_CONDITION 0x02
#define INITIATOR_SCSI_BUSY 0x08
#define INITIATOR_SCSI_RESERVATION_CONFLICT 0x18
#define INITIATOR_SCSI_TASK_SET_FULL 0x28
#define INITIATOR_SCSI_TASK_ABORTED 0x40

/* Sense keys used by the retry logic. */
#define INITIATOR_SENSE_NO_SENSE 0x0
#define INITIATOR_SENSE_RECOVERED 0x1
#define INITIATOR_SENSE_NOT_READY 0x2
#define INITIATOR_SENSE_ILLEGAL_REQUEST 0x5
#define INITIATOR_SENSE_UNIT_ATTENTION 0x6
#define INITIATOR_SENSE_ABORTED_COMMAND 0xb

/* Mode page codes. */
#define INITIATOR_SCSI_MODE_PAGE_CACHING 0x08

/* Peripheral device type of a direct-access block device (the only kind we export). */
#define INITIATOR_SCSI_TYPE_DISK 0x00

#define INITIATOR_SCSI_CDB_MAX 16
#define INITIATOR_SCSI_UNMAP_PARAM_LEN 24 /* header + one block descriptor */

/* Decoded sense data. valid is false when the buffer held no recognisable sense. */
struct initiator_sense {
	bool valid;
	uint8_t key;
	uint8_t asc;
	uint8_t ascq;
};

/* What the initiator learns about a LUN at scan time. */
struct initiator_lun_info {
	uint64_t lun;               /* LUN number (as from REPORT LUNS, decoded) */
	uint8_t type;               /* peripheral device type */
	bool removable;
	char vendor[9], product[17], revision[5];
	char wwn[80];               /* from VPD 0x83: "naa.<hex>", "eui.<hex>", "t10.<text>" or "" */
	uint64_t nblocks;           /* READ CAPACITY: last LBA + 1 */
	uint32_t block_size;        /* logical block length in bytes */
	uint32_t phys_block_size;   /* logical block size << LOGICAL BLOCKS PER PHYSICAL EXPONENT */
	bool lbpme;                 /* logical block provisioning management enabled */
	bool lbprz;                 /* unmapped blocks read back as zeroes */
	/* VPD 0xB0 (0 = not reported / no limit) */
	uint32_t max_transfer;      /* blocks */
	uint32_t opt_transfer;      /* blocks */
	uint32_t max_unmap_lba;     /* blocks per UNMAP */
	uint32_t max_unmap_desc;
	uint32_t unmap_granularity; /* blocks */
	uint64_t max_write_same;    /* blocks */
	/* VPD 0xB2 */
	bool lbpu;                  /* UNMAP supported */
	bool lbpws;                 /* WRITE SAME (16) with UNMAP supported */
	/* MODE SENSE (caching page); when the LU does not answer: wce true, dpofua false */
	bool read_only;             /* WP: write protected */
	bool dpofua;                /* DPOFUA: the LU honours the FUA bit in WRITE */
	bool wce;                   /* WCE: volatile write cache enabled */
};

/*
 * CDB builders. Each writes cdb (INITIATOR_SCSI_CDB_MAX bytes, zeroed first) and returns the
 * CDB length. READ/WRITE pick the 10-byte form when lba and nblocks fit, else the 16-byte one.
 */
int initiator_scsi_cdb_rw(uint8_t *cdb, bool write, uint64_t lba, uint32_t nblocks, bool fua);
int initiator_scsi_cdb_sync_cache(uint8_t *cdb, uint64_t lba, uint32_t nblocks);
int initiator_scsi_cdb_write_same(uint8_t *cdb, uint64_t lba, uint32_t nblocks, bool unmap);
int initiator_scsi_cdb_unmap(uint8_t *cdb, uint16_t param_len);
int initiator_scsi_cdb_report_luns(uint8_t *cdb, uint32_t alloc_len);
int initiator_scsi_cdb_inquiry(uint8_t *cdb, bool evpd, uint8_t page, uint16_t alloc_len);
int initiator_scsi_cdb_read_capacity16(uint8_t *cdb, uint32_t alloc_len);
int initiator_scsi_cdb_test_unit_ready(uint8_t *cdb);
/*
 * MODE SENSE (10) when ten, else MODE SENSE (6), for the current values of page, with block
 * descriptors disabled (DBD). alloc_len is capped at 255 for the 6-byte form.
 */
int initiator_scsi_cdb_mode_sense(uint8_t *cdb, bool ten, uint8_t page, uint16_t alloc_len);

/*
 * UNMAP parameter list with one block descriptor (INITIATOR_SCSI_UNMAP_PARAM_LEN bytes at
 * buf). Returns the length.
 */
int initiator_scsi_unmap_param(uint8_t *buf, uint64_t lba, uint32_t nblocks);

/* The 8-byte LUN field for LUN number lun (peripheral addressing below 256, else flat). */
void initiator_scsi_lun_encode(uint64_t lun, uint8_t out[8]);
/* The LUN number of an 8-byte LUN field (peripheral or flat addressing; others as-is). */
uint64_t initiator_scsi_lun_decode(const uint8_t in[8]);

/*
 * REPORT LUNS data (len bytes at buf): stores up to max LUN numbers in luns and returns how many
 * the target listed (may exceed max), or -EBADMSG when the data is too short.
 */
int initiator_scsi_parse_report_luns(const uint8_t *buf, size_t len, uint64_t *luns, size_t max);

/* Standard INQUIRY data into info (type, removable, vendor, product, revision). 0 or -EBADMSG. */
int initiator_scsi_parse_inquiry(const uint8_t *buf, size_t len, struct initiator_lun_info *info);
/* VPD 0x83: the best designator (NAA > EUI-64 > T10 vendor id) into info->wwn. 0 or -EBADMSG. */
int initiator_scsi_parse_vpd83(const uint8_t *buf, size_t len, struct initiator_lun_info *info);
/* VPD 0xB0 (block limits) into info. 0 or -EBADMSG. */
int initiator_scsi_parse_vpd_b0(const uint8_t *buf, size_t len, struct initiator_lun_info *info);
/* VPD 0xB2 (logical block provisioning) into info. 0 or -EBADMSG. */
int initiator_scsi_parse_vpd_b2(const uint8_t *buf, size_t len, struct initiator_lun_info *info);
/* Is page listed in VPD 0x00 (supported pages)? */
bool initiator_scsi_vpd_supported(const uint8_t *buf, size_t len, uint8_t page);
/* READ CAPACITY (16) data into info (nblocks, block sizes, LBPME/LBPRZ). 0 or -EBADMSG. */
int initiator_scsi_parse_read_capacity16(const uint8_t *buf, size_t len,
					 struct initiator_lun_info *info);

/*
 * MODE SENSE data (len bytes at buf, from the 10-byte command when ten, else the 6-byte one)
 * holding the caching mode page: info->read_only (WP) and info->dpofua from the header's
 * device-specific parameter, info->wce from the page. Returns 0, or -EBADMSG when the header
 * is truncated or the caching page is absent or short; info is untouched then.
 */
int initiator_scsi_parse_mode_caching(const uint8_t *buf, size_t len, bool ten,
				      struct initiator_lun_info *info);

/* Decode fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data. */
void initiator_scsi_parse_sense(const uint8_t *buf, size_t len, struct initiator_sense *out);

/* Short text for a status byte ("CHECK CONDITION"...), never NULL. */
const char *initiator_scsi_status_str(uint8_t status);
/* Short text for a sense key ("UNIT ATTENTION"...), never NULL. */
const char *initiator_scsi_sense_key_str(uint8_t key);

#endif
