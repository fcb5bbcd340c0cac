/*
 * ublk control plane: /dev/ublk-control commands on a private SQE128 ring, the char device,
 * and the setup of each queue's mappings and tag buffers. Runs before the datapath starts (or
 * while a device is replaced); may allocate and block.
 *
 * Driver facts this file relies on (drivers/block/ublk_drv.c, Linux 6.1 and later):
 *  - control commands need IORING_SETUP_SQE128 and CAP_SYS_ADMIN; the driver refuses the
 *    non-blocking first issue, so io_uring runs each one in an io-wq worker and the submitting
 *    thread only waits for its CQE;
 *  - START_DEV and END_USER_RECOVERY wait until every tag of every queue was fetched;
 *  - /dev/ublkcN can be open once at a time, and only one process may map it;
 *  - DEL_DEV waits until the last reference to the device is gone: the char device must be
 *    closed and unmapped first;
 *  - START_USER_RECOVERY is refused (-EBUSY) until the old server's file is released and the
 *    driver's monitor (every 5 s) has quiesced the device.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/mem.h"
#include "initiator/ublk.h"
#include "initiator/ublk_priv.h"

#define UBLK_CONTROL_PATH "/dev/ublk-control"
#define UBLK_CTRL_RING_ENTRIES 4
#define UBLK_CHAR_WAIT_MS 3000

static uint16_t ublk_queue_gen;

static int
ctrl_open(void)
{
	int fd = open(UBLK_CONTROL_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int
initiator_ublk_available(char *msg, size_t len)
{
	int fd = ctrl_open();
	const char *why;

	if (fd >= 0) {
		close(fd);
		if (msg && len)
			snprintf(msg, len, "ublk available (%s)", UBLK_CONTROL_PATH);
		return 0;
	}
	switch (fd) {
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		fd = -ENOENT;
		why = "the kernel has no ublk driver (CONFIG_BLK_DEV_UBLK; try modprobe ublk_drv)";
		break;
	case -EACCES:
	case -EPERM:
		why = "permission denied (ublk needs CAP_SYS_ADMIN)";
		break;
	default:
		why = strerror(-fd);
		break;
	}
	if (msg && len)
		snprintf(msg, len, "cannot use ublk: %s: %s", UBLK_CONTROL_PATH, why);
	return fd;
}

static int
ring_new(struct io_uring **out)
{
	struct io_uring *ring = mem_zalloc(sizeof(*ring));
	int r;

	if (!ring)
		return -ENOMEM;
	r = io_uring_queue_init(UBLK_CTRL_RING_ENTRIES, ring, IORING_SETUP_SQE128);
	if (r < 0) {
		mem_free(ring);
		return r;
	}
	*out = ring;
	return 0;
}

static void
ring_free(struct io_uring *ring)
{
	if (!ring)
		return;
	io_uring_queue_exit(ring);
	mem_free(ring);
}

/* One control command, synchronously. Returns the CQE's result. */
static int
ctrl_cmd(struct io_uring *ring, int ctrl_fd, uint32_t op, uint32_t dev_id, void *buf, uint16_t len,
	 uint64_t data0)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct initiator_ublk_ctrl_cmd *cmd;
	struct io_uring_cqe *cqe;
	int r;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ctrl_fd;
	sqe->cmd_op = op;
	cmd = (struct initiator_ublk_ctrl_cmd *)sqe->cmd;
	cmd->dev_id = dev_id;
	cmd->queue_id = 0xffff;
	cmd->len = len;
	cmd->addr = (uint64_t)(uintptr_t)buf;
	cmd->data[0] = data0;
	sqe->user_data = op;
	do
		r = io_uring_submit(ring);
	while (r == -EINTR);
	if (r < 0)
		return r;
	do
		r = io_uring_wait_cqe(ring, &cqe);
	while (r == -EINTR);
	if (r < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}

static int
get_features(struct io_uring *ring, int ctrl_fd, uint64_t *features)
{
	uint64_t f = 0;
	int r;

	/*
	 * Only the ioctl-encoded form exists. Drivers without it look the (nonexistent) device
	 * up first and answer -ENODEV (6.1), or reject the opcode (-EOPNOTSUPP, -EINVAL).
	 */
	r = ctrl_cmd(ring, ctrl_fd, ublk_ctrl_opcode(UBLK_OPC_GET_FEATURES, true), 0xffffffffu, &f,
		     sizeof(f), 0);
	if (r == -ENODEV || r == -EINVAL || r == -ENOTTY)
		r = -EOPNOTSUPP;
	if (r < 0)
		return r;
	*features = f;
	return 0;
}

int
initiator_ublk_get_features(uint64_t *features)
{
	struct io_uring *ring = NULL;
	int fd, r;

	fd = ctrl_open();
	if (fd < 0)
		return fd == -ENODEV || fd == -ENXIO ? -ENOENT : fd;
	r = ring_new(&ring);
	if (r == 0)
		r = get_features(ring, fd, features);
	ring_free(ring);
	close(fd);
	return r;
}

static bool
pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int
shift_of(uint32_t v)
{
	return v ? __builtin_ctz(v) : 0;
}

static int
check_params(const struct initiator_ublk_params *p)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t pb = p->physical_block ? p->physical_block : p->logical_block;

	if (p->nr_queues < 1 || p->nr_queues > INITIATOR_UBLK_MAX_QUEUES)
		return -EINVAL;
	if (p->queue_depth < 1 || p->queue_depth > INITIATOR_UBLK_MAX_DEPTH)
		return -EINVAL;
	if (!pow2(p->logical_block) || p->logical_block < 512 || p->logical_block > 4096)
		return -EINVAL;
	if (!pow2(pb) || pb < p->logical_block)
		return -EINVAL;
	if ((p->io_min && !pow2(p->io_min)) || (p->io_opt && !pow2(p->io_opt)))
		return -EINVAL;
	if (p->max_io_bytes < p->logical_block || page <= 0 || p->max_io_bytes % (uint32_t)page)
		return -EINVAL;
	if (p->size == 0 || p->size % p->logical_block)
		return -EINVAL;
	if (p->dev_id < -1)
		return -EINVAL;
	if (p->discard_granularity && !pow2(p->discard_granularity))
		return -EINVAL;
	return 0;
}

static void
params_to_wire(const struct initiator_ublk_params *p, struct initiator_ublk_params_wire *w)
{
	uint32_t pb = p->physical_block ? p->physical_block : p->logical_block;

	memset(w, 0, sizeof(*w));
	w->len = sizeof(*w);
	w->types = UBLK_WIRE_PARAM_TYPE_BASIC;
	w->basic.attrs = (p->read_only ? UBLK_WIRE_ATTR_READ_ONLY : 0) |
			 (p->rotational ? UBLK_WIRE_ATTR_ROTATIONAL : 0) |
			 (p->volatile_cache ? UBLK_WIRE_ATTR_VOLATILE_CACHE : 0) |
			 (p->fua ? UBLK_WIRE_ATTR_FUA : 0);
	w->basic.logical_bs_shift = (uint8_t)shift_of(p->logical_block);
	w->basic.physical_bs_shift = (uint8_t)shift_of(pb);
	w->basic.io_min_shift = (uint8_t)shift_of(p->io_min);
	w->basic.io_opt_shift = (uint8_t)shift_of(p->io_opt);
	w->basic.max_sectors = p->max_io_bytes >> 9;
	w->basic.dev_sectors = p->size >> 9;
	if (p->max_discard_bytes || p->max_write_zeroes_bytes) {
		w->types |= UBLK_WIRE_PARAM_TYPE_DISCARD;
		w->discard.discard_alignment = p->discard_alignment;
		w->discard.discard_granularity =
		    p->discard_granularity ? p->discard_granularity : p->logical_block;
		w->discard.max_discard_sectors = p->max_discard_bytes >> 9;
		w->discard.max_write_zeroes_sectors = p->max_write_zeroes_bytes >> 9;
		/* The driver serves single-range discards only. */
		w->discard.max_discard_segments = 1;
	}
}

static void
params_from_wire(const struct initiator_ublk_params_wire *w, const struct initiator_ublk_info *info,
		 struct initiator_ublk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->dev_id = info->dev_id;
	p->nr_queues = info->nr_queues;
	p->queue_depth = info->queue_depth;
	p->max_io_bytes = info->max_io_bytes;
	p->size = w->basic.dev_sectors << 9;
	p->logical_block = 1U << w->basic.logical_bs_shift;
	p->physical_block = 1U << w->basic.physical_bs_shift;
	p->io_min = w->basic.io_min_shift ? 1U << w->basic.io_min_shift : 0;
	p->io_opt = w->basic.io_opt_shift ? 1U << w->basic.io_opt_shift : 0;
	p->read_only = w->basic.attrs & UBLK_WIRE_ATTR_READ_ONLY;
	p->rotational = w->basic.attrs & UBLK_WIRE_ATTR_ROTATIONAL;
	p->volatile_cache = w->basic.attrs & UBLK_WIRE_ATTR_VOLATILE_CACHE;
	p->fua = w->basic.attrs & UBLK_WIRE_ATTR_FUA;
	if (w->types & UBLK_WIRE_PARAM_TYPE_DISCARD) {
		p->max_discard_bytes = w->discard.max_discard_sectors << 9;
		p->discard_granularity = w->discard.discard_granularity;
		p->discard_alignment = w->discard.discard_alignment;
		p->max_write_zeroes_bytes = w->discard.max_write_zeroes_sectors << 9;
	}
	p->recovery = info->flags & UBLK_WIRE_F_USER_RECOVERY;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Open /dev/ublkc@id. Without udev the node comes from devtmpfs; if /dev is a plain
 * directory, make it from sysfs.
 */
static int
char_open(int id)
{
	char path[64], sys[96], buf[32];
	unsigned int maj, min;
	int fd, waited = 0;

	snprintf(path, sizeof(path), "/dev/ublkc%d", id);
	for (;;) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != ENOENT || waited >= UBLK_CHAR_WAIT_MS)
			break;
		sleep_ms(20);
		waited += 20;
	}
	if (errno != ENOENT)
		return -errno;
	snprintf(sys, sizeof(sys), "/sys/class/ublk-char/ublkc%d/dev", id);
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	if (sscanf(buf, "%u:%u", &maj, &min) != 2)
		return -ENOENT;
	if (mknod(path, S_IFCHR | 0600, makedev(maj, min)) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int
dev_alloc(struct initiator_ublk_dev **out)
{
	struct initiator_ublk_dev *d = mem_zalloc(sizeof(*d));
	struct io_uring *ring = NULL;
	uint64_t features = 0;
	int r;

	if (!d)
		return -ENOMEM;
	d->char_fd = -1;
	d->id = -1;
	d->ctrl_fd = ctrl_open();
	if (d->ctrl_fd < 0) {
		r = d->ctrl_fd == -ENODEV || d->ctrl_fd == -ENXIO ? -ENOENT : d->ctrl_fd;
		goto fail;
	}
	r = ring_new(&ring);
	if (r < 0)
		goto fail;
	d->ring = ring;
	r = get_features(ring, d->ctrl_fd, &features);
	if (r < 0 && r != -EOPNOTSUPP)
		goto fail;
	d->encode = r == 0 && (features & UBLK_WIRE_F_CMD_IOCTL_ENCODE);
	*out = d;
	return 0;
fail:
	initiator_ublk_dev_free(d);
	return r;
}

static int
dev_cmd(struct initiator_ublk_dev *d, unsigned int nr, void *buf, uint16_t len, uint64_t data0)
{
	return ctrl_cmd(d->ring, d->ctrl_fd, ublk_ctrl_opcode(nr, d->encode), (uint32_t)d->id, buf,
			len, data0);
}

static int
get_info(struct initiator_ublk_dev *d, struct initiator_ublk_info *info)
{
	struct initiator_ublk_dev_info_wire w;
	int r;

	memset(&w, 0, sizeof(w));
	r = dev_cmd(d, UBLK_OPC_GET_DEV_INFO, &w, sizeof(w), 0);
	if (r < 0)
		return r;
	info->dev_id = (int)w.dev_id;
	info->nr_queues = w.nr_hw_queues;
	info->queue_depth = w.queue_depth;
	info->state = w.state;
	info->max_io_bytes = w.max_io_buf_bytes;
	info->server_pid = w.ublksrv_pid;
	info->flags = w.flags;
	return 0;
}

int
initiator_ublk_dev_new(const struct initiator_ublk_params *p, struct initiator_ublk_dev **out)
{
	struct initiator_ublk_dev_info_wire info;
	struct initiator_ublk_params_wire w;
	struct initiator_ublk_dev *d = NULL;
	bool added = false;
	int r;

	r = check_params(p);
	if (r < 0)
		return r;
	r = dev_alloc(&d);
	if (r < 0)
		return r;
	d->params = *p;
	if (!d->params.physical_block)
		d->params.physical_block = p->logical_block;

	memset(&info, 0, sizeof(info));
	info.nr_hw_queues = p->nr_queues;
	info.queue_depth = p->queue_depth;
	info.max_io_buf_bytes = p->max_io_bytes;
	info.dev_id = p->dev_id < 0 ? 0xffffffffu : (uint32_t)p->dev_id;
	info.ublksrv_pid = -1;
	if (p->recovery)
		info.flags |= UBLK_WIRE_F_USER_RECOVERY | UBLK_WIRE_F_USER_RECOVERY_REISSUE;
	if (d->encode)
		info.flags |= UBLK_WIRE_F_CMD_IOCTL_ENCODE;
	d->id = (int)info.dev_id;
	r = dev_cmd(d, UBLK_OPC_ADD_DEV, &info, sizeof(info), 0);
	if (r < 0)
		goto fail;
	added = true;
	d->id = (int)info.dev_id;
	d->flags = info.flags;
	d->params.dev_id = d->id;
	/* The driver clamps the queue count to the CPU count. */
	if (info.nr_hw_queues != p->nr_queues || info.queue_depth != p->queue_depth ||
	    info.max_io_buf_bytes != p->max_io_bytes) {
		d->params.nr_queues = info.nr_hw_queues;
		d->params.queue_depth = info.queue_depth;
		d->params.max_io_bytes = info.max_io_buf_bytes;
		if (!info.nr_hw_queues || !info.queue_depth ||
		    info.max_io_buf_bytes < p->logical_block) {
			r = -EINVAL;
			goto fail;
		}
	}
	params_to_wire(&d->params, &w);
	r = dev_cmd(d, UBLK_OPC_SET_PARAMS, &w, sizeof(w), 0);
	if (r < 0)
		goto fail;
	r = char_open(d->id);
	if (r < 0)
		goto fail;
	d->char_fd = r;
	*out = d;
	return 0;
fail:
	if (added)
		dev_cmd(d, UBLK_OPC_DEL_DEV, NULL, 0, 0);
	initiator_ublk_dev_free(d);
	return r;
}

int
initiator_ublk_dev_recover(int dev_id, int timeout_ms, struct initiator_ublk_dev **out)
{
	struct initiator_ublk_params_wire w;
	struct initiator_ublk_info info;
	struct initiator_ublk_dev *d = NULL;
	int r, waited = 0;

	if (dev_id < 0)
		return -EINVAL;
	r = dev_alloc(&d);
	if (r < 0)
		return r;
	d->id = dev_id;
	r = get_info(d, &info);
	if (r < 0)
		goto fail;
	d->flags = info.flags;
	if (!(info.flags & UBLK_WIRE_F_USER_RECOVERY)) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	d->encode = info.flags & UBLK_WIRE_F_CMD_IOCTL_ENCODE;
	memset(&w, 0, sizeof(w));
	w.len = sizeof(w);
	r = dev_cmd(d, UBLK_OPC_GET_PARAMS, &w, sizeof(w), 0);
	if (r < 0)
		goto fail;
	params_from_wire(&w, &info, &d->params);
	/* -EBUSY until the old server is gone and the monitor has quiesced the device. */
	for (;;) {
		r = dev_cmd(d, UBLK_OPC_START_USER_RECOVERY, NULL, 0, 0);
		if (r != -EBUSY)
			break;
		if (waited >= timeout_ms) {
			r = -ETIMEDOUT;
			break;
		}
		sleep_ms(100);
		waited += 100;
	}
	if (r < 0)
		goto fail;
	d->recovering = true;
	r = char_open(d->id);
	if (r < 0)
		goto fail;
	d->char_fd = r;
	*out = d;
	return 0;
fail:
	initiator_ublk_dev_free(d);
	return r;
}

int
initiator_ublk_dev_start(struct initiator_ublk_dev *d, int pid)
{
	int r;

	if (pid <= 0)
		return -EINVAL;
	r = dev_cmd(d, d->recovering ? UBLK_OPC_END_USER_RECOVERY : UBLK_OPC_START_DEV, NULL, 0,
		    (uint64_t)pid);
	if (r == 0)
		d->recovering = false;
	return r;
}

int
initiator_ublk_dev_stop(struct initiator_ublk_dev *d)
{
	return dev_cmd(d, UBLK_OPC_STOP_DEV, NULL, 0, 0);
}

int
initiator_ublk_dev_del(struct initiator_ublk_dev *d)
{
	if (d->nqueues_live)
		return -EBUSY;
	if (d->char_fd >= 0) {
		close(d->char_fd);
		d->char_fd = -1;
	}
	return dev_cmd(d, UBLK_OPC_DEL_DEV, NULL, 0, 0);
}

void
initiator_ublk_dev_free(struct initiator_ublk_dev *d)
{
	if (!d)
		return;
	if (d->char_fd >= 0)
		close(d->char_fd);
	ring_free(d->ring);
	if (d->ctrl_fd >= 0)
		close(d->ctrl_fd);
	mem_free(d);
}

int
initiator_ublk_dev_info(struct initiator_ublk_dev *d, struct initiator_ublk_info *info)
{
	return get_info(d, info);
}

int
initiator_ublk_dev_id(const struct initiator_ublk_dev *d)
{
	return d->id;
}

uint64_t
initiator_ublk_dev_flags(const struct initiator_ublk_dev *d)
{
	return d->flags;
}

const struct initiator_ublk_params *
initiator_ublk_dev_params(const struct initiator_ublk_dev *d)
{
	return &d->params;
}

int
initiator_ublk_queue_new(struct initiator_ublk_dev *d, uint16_t q_id,
			 const struct initiator_ublk_queue_ops *ops, void *ctx, unsigned int kind,
			 bool lock, struct initiator_ublk_queue **out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t max_cmd_buf =
	    ALIGN_UP(INITIATOR_UBLK_MAX_DEPTH * sizeof(struct initiator_ublk_io_desc), page);
	struct initiator_ublk_queue *q;
	void *p;
	int r;

	if (!ops || !ops->submit || !ops->get_sqe || q_id >= d->params.nr_queues || kind > 255 ||
	    d->char_fd < 0)
		return -EINVAL;
	q = mem_zalloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->dev = d;
	q->ops = ops;
	q->ctx = ctx;
	q->fd = d->char_fd;
	q->q_id = q_id;
	q->depth = d->params.queue_depth;
	q->gen = ++ublk_queue_gen;
	q->kind = kind;
	q->encode = d->encode;
	q->buf_size = d->params.max_io_bytes;
	q->iods = MAP_FAILED;
	q->bufs = MAP_FAILED;
	r = -ENOMEM;
	q->tags = mem_zalloc(q->depth * sizeof(*q->tags));
	q->defer = mem_zalloc(q->depth * sizeof(*q->defer));
	if (!q->tags || !q->defer)
		goto fail;

	/* The driver's descriptor array: read-only, one max-size slot per queue. */
	q->iods_len = ALIGN_UP(q->depth * sizeof(struct initiator_ublk_io_desc), page);
	p = mmap(NULL, q->iods_len, PROT_READ, MAP_SHARED | MAP_POPULATE, q->fd,
		 (off_t)(UBLK_WIRE_CMD_BUF_OFFSET + q_id * max_cmd_buf));
	if (p == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	q->iods = p;
	d->nqueues_live++;

	q->bufs_len = (size_t)q->depth * q->buf_size;
	p = mmap(NULL, q->bufs_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	q->bufs = p;
	/* Touch every page: MAP_POPULATE may be skipped under memory pressure. */
	for (size_t off = 0; off < q->bufs_len; off += page)
		q->bufs[off] = 0;
	if (lock && mlock(q->bufs, q->bufs_len) < 0) {
		r = -errno;
		goto fail;
	}
	*out = q;
	return 0;
fail:
	initiator_ublk_queue_free(q);
	return r;
}

void
initiator_ublk_queue_free(struct initiator_ublk_queue *q)
{
	if (!q)
		return;
	if (q->bufs != MAP_FAILED)
		munmap(q->bufs, q->bufs_len);
	if (q->iods != MAP_FAILED) {
		munmap((void *)q->iods, q->iods_len);
		q->dev->nqueues_live--;
	}
	mem_free(q->tags);
	mem_free(q->defer);
	mem_free(q);
}
