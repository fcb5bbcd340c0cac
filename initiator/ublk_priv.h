/*
 * Private to initiator/ublk.c and initiator/ublk_ctrl.c: the ublk uapi (linux/ublk_cmd.h when
 * the build host has it, else our own copy of the values) and the device and queue objects.
 * Wire structs carry our own names; with the kernel header present their sizes are checked
 * against it.
 */
#ifndef BALLAST_INITIATOR_UBLK_PRIV_H
#define BALLAST_INITIATOR_UBLK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/ioctl.h>

#ifdef HAVE_LINUX_UBLK_CMD_H
#include <linux/ublk_cmd.h>
#endif

#include "initiator/ublk.h"

/* Legacy (Linux 6.0-6.1) command opcodes. */
#define UBLK_OPC_GET_DEV_INFO 0x02
#define UBLK_OPC_ADD_DEV 0x04
#define UBLK_OPC_DEL_DEV 0x05
#define UBLK_OPC_START_DEV 0x06
#define UBLK_OPC_STOP_DEV 0x07
#define UBLK_OPC_SET_PARAMS 0x08
#define UBLK_OPC_GET_PARAMS 0x09
#define UBLK_OPC_START_USER_RECOVERY 0x10
#define UBLK_OPC_END_USER_RECOVERY 0x11
#define UBLK_OPC_GET_FEATURES 0x13 /* Linux 6.5, ioctl-encoded only */
#define UBLK_OPC_IO_FETCH_REQ 0x20
#define UBLK_OPC_IO_COMMIT_AND_FETCH_REQ 0x21

#define UBLK_WIRE_IO_RES_OK 0
#define UBLK_WIRE_CMD_BUF_OFFSET 0
#define UBLK_WIRE_F_USER_RECOVERY (1ULL << 3)
#define UBLK_WIRE_F_USER_RECOVERY_REISSUE (1ULL << 4)
#define UBLK_WIRE_F_CMD_IOCTL_ENCODE (1ULL << 6)
#define UBLK_WIRE_PARAM_TYPE_BASIC (1U << 0)
#define UBLK_WIRE_PARAM_TYPE_DISCARD (1U << 1)
#define UBLK_WIRE_ATTR_READ_ONLY (1U << 0)
#define UBLK_WIRE_ATTR_ROTATIONAL (1U << 1)
#define UBLK_WIRE_ATTR_VOLATILE_CACHE (1U << 2)
#define UBLK_WIRE_ATTR_FUA (1U << 3)

/* sqe->cmd of a control command (SQE128 only: 32 bytes). */
struct initiator_ublk_ctrl_cmd {
	uint32_t dev_id;
	uint16_t queue_id; /* 0xffff when not for a queue */
	uint16_t len;
	uint64_t addr;
	uint64_t data[2];
};

struct initiator_ublk_dev_info_wire {
	uint16_t nr_hw_queues;
	uint16_t queue_depth;
	uint16_t state;
	uint16_t pad0;
	uint32_t max_io_buf_bytes;
	uint32_t dev_id;
	int32_t ublksrv_pid;
	uint32_t pad1;
	uint64_t flags;
	uint64_t ublksrv_flags;
	uint64_t reserved[3];
};

/* One per tag, in the shared, read-only mapping of /dev/ublkcN. */
struct initiator_ublk_io_desc {
	uint32_t op_flags; /* op: bits 0-7, flags: 8-31 */
	uint32_t nr_sectors;
	uint64_t start_sector;
	uint64_t addr;
};

/* sqe->cmd of an io command (16 bytes: fits a 64-byte SQE). */
struct initiator_ublk_io_cmd {
	uint16_t q_id;
	uint16_t tag;
	int32_t result;
	uint64_t addr;
};

struct initiator_ublk_param_basic {
	uint32_t attrs;
	uint8_t logical_bs_shift;
	uint8_t physical_bs_shift;
	uint8_t io_opt_shift;
	uint8_t io_min_shift;
	uint32_t max_sectors;
	uint32_t chunk_sectors;
	uint64_t dev_sectors;
	uint64_t virt_boundary_mask;
};

struct initiator_ublk_param_discard {
	uint32_t discard_alignment;
	uint32_t discard_granularity;
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	uint16_t max_discard_segments;
	uint16_t reserved0;
};

/* The 6.1 layout; later kernels append members and honour len. */
struct initiator_ublk_params_wire {
	uint32_t len;
	uint32_t types;
	struct initiator_ublk_param_basic basic;
	struct initiator_ublk_param_discard discard;
};

_Static_assert(sizeof(struct initiator_ublk_ctrl_cmd) == 32, "ublksrv_ctrl_cmd");
_Static_assert(sizeof(struct initiator_ublk_dev_info_wire) == 64, "ublksrv_ctrl_dev_info");
_Static_assert(sizeof(struct initiator_ublk_io_desc) == 24, "ublksrv_io_desc");
_Static_assert(sizeof(struct initiator_ublk_io_cmd) == 16, "ublksrv_io_cmd");
_Static_assert(sizeof(struct initiator_ublk_param_basic) == 32, "ublk_param_basic");
_Static_assert(sizeof(struct initiator_ublk_param_discard) == 20, "ublk_param_discard");
#ifdef HAVE_LINUX_UBLK_CMD_H
_Static_assert(sizeof(struct initiator_ublk_ctrl_cmd) == sizeof(struct ublksrv_ctrl_cmd), "");
_Static_assert(sizeof(struct initiator_ublk_dev_info_wire) == sizeof(struct ublksrv_ctrl_dev_info),
	       "");
_Static_assert(sizeof(struct initiator_ublk_io_desc) == sizeof(struct ublksrv_io_desc), "");
_Static_assert(sizeof(struct initiator_ublk_io_cmd) == sizeof(struct ublksrv_io_cmd), "");
_Static_assert(UBLK_IO_FETCH_REQ == UBLK_OPC_IO_FETCH_REQ, "");
_Static_assert(UBLK_IO_COMMIT_AND_FETCH_REQ == UBLK_OPC_IO_COMMIT_AND_FETCH_REQ, "");
_Static_assert(UBLK_CMD_START_USER_RECOVERY == UBLK_OPC_START_USER_RECOVERY, "");
_Static_assert(UBLK_IO_OP_WRITE_ZEROES == INITIATOR_UBLK_OP_WRITE_ZEROES, "");
_Static_assert(UBLK_F_USER_RECOVERY_REISSUE == UBLK_WIRE_F_USER_RECOVERY_REISSUE, "");
_Static_assert(UBLK_IO_F_FUA >> 8 == INITIATOR_UBLK_F_FUA, "");
#endif

/* Command opcode for sqe->cmd_op: ioctl-encoded ('u', nr) when the device negotiated it. */
static inline uint32_t
ublk_ctrl_opcode(unsigned int nr, bool encode)
{
	if (!encode)
		return nr;
	if (nr == UBLK_OPC_GET_DEV_INFO || nr == UBLK_OPC_GET_PARAMS || nr == UBLK_OPC_GET_FEATURES)
		return _IOR('u', nr, struct initiator_ublk_ctrl_cmd);
	return _IOWR('u', nr, struct initiator_ublk_ctrl_cmd);
}

static inline uint32_t
ublk_io_opcode(unsigned int nr, bool encode)
{
	return encode ? (uint32_t)_IOWR('u', nr, struct initiator_ublk_io_cmd) : nr;
}

/* Per-tag state, owned by the queue's thread. */
enum ublk_tag_state {
	UBLK_TAG_IDLE = 0, /* no command in the kernel (before start) */
	UBLK_TAG_ARMED,	   /* FETCH or COMMIT_AND_FETCH in the kernel */
	UBLK_TAG_OWNED,	   /* request with the caller */
	UBLK_TAG_DEFERRED, /* completed by the caller, commit waits for an SQE */
	UBLK_TAG_DEAD,	   /* aborted by the kernel */
};

struct ublk_tag {
	uint8_t state;
	uint8_t op;
	int32_t result; /* for a deferred commit */
	uint32_t length;
};

struct initiator_ublk_dev {
	int ctrl_fd; /* /dev/ublk-control */
	int char_fd; /* /dev/ublkcN */
	void *ring;  /* struct io_uring, SQE128, for control commands */
	int id;
	uint64_t flags;
	bool encode;	 /* ioctl-encoded opcodes */
	bool recovering; /* dev_start ends a recovery */
	unsigned int nqueues_live;
	struct initiator_ublk_params params;
};

struct initiator_ublk_queue {
	struct initiator_ublk_dev *dev;
	const struct initiator_ublk_queue_ops *ops;
	void *ctx;
	int fd;
	uint16_t q_id;
	uint16_t depth;
	uint16_t gen;
	unsigned int kind;
	bool encode;
	uint32_t buf_size;
	const struct initiator_ublk_io_desc *iods;
	size_t iods_len;
	uint8_t *bufs;
	size_t bufs_len;
	struct ublk_tag *tags;
	uint16_t *defer; /* FIFO of deferred commits, depth entries */
	uint32_t defer_head;
	uint32_t defer_count;
	uint32_t next_fetch;
	uint32_t dead;
	struct initiator_ublk_queue_stats st;
};

#endif
