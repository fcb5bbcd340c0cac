/*
 * file backstore datapath: a regular file or a block device. Each logical request becomes one
 * or more syscall-shaped requests (struct target_sys_io). With a submitter attached they go to
 * the daemon's io_uring and complete through target_bs_io_complete(); without one (or when the
 * submitter cannot queue, or the file lives in memory: bs->inline_io) they run synchronously
 * with pread/pwritev2/fdatasync/fallocate.
 */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/compiler.h"
#include "target/backstore.h"
#include "target/backstore_priv.h"

#include "common/datapath.h"

/* Largest single syscall transfer; larger requests are split (keeps sys.len in 32 bits). */
#define FILE_MAX_CHUNK (1U << 30)

/* Source of zeroes for the DISCARD fallback; aligned for O_DIRECT. */
static const uint8_t file_zeroes[65536] __attribute__((aligned(4096)));

static void
file_prepare(struct target_backstore *bs, struct target_bs_io *io)
{
	struct target_sys_io *s = &io->sys;
	uint64_t left = io->len - io->progress;

	memset(s, 0, sizeof(*s));
	s->fd = bs->fd;
	switch (io->op) {
	case TARGET_BS_OP_READ:
	case TARGET_BS_OP_WRITE:
		s->op = io->op == TARGET_BS_OP_READ ? TARGET_SYS_READ : TARGET_SYS_WRITE;
		s->buf = (uint8_t *)io->buf + io->progress;
		s->len = (uint32_t)MIN(left, (uint64_t)FILE_MAX_CHUNK);
		s->off = io->offset + io->progress;
		if (io->op == TARGET_BS_OP_WRITE && (io->flags & TARGET_BS_F_FUA))
			s->rw_flags = RWF_DSYNC;
		break;
	case TARGET_BS_OP_FLUSH:
		s->op = TARGET_SYS_FDATASYNC;
		break;
	case TARGET_BS_OP_DISCARD:
		s->op = TARGET_SYS_FALLOCATE;
		s->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		s->off = io->offset;
		s->len = (uint32_t)MIN(io->len, (uint64_t)UINT32_MAX & ~4095ULL);
		break;
	}
}

/* One synchronous syscall for io->sys: bytes or -errno. */
static int64_t
file_sys_sync(struct target_sys_io *s)
{
	ssize_t n;

	switch (s->op) {
	case TARGET_SYS_READ:
		do
			n = pread(s->fd, s->buf, s->len, (off_t)s->off);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	case TARGET_SYS_WRITE: {
		struct iovec iov = { .iov_base = s->buf, .iov_len = s->len };

		do
			n = pwritev2(s->fd, &iov, 1, (off_t)s->off, s->rw_flags);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	}
	case TARGET_SYS_FDATASYNC:
		return fdatasync(s->fd) < 0 ? -errno : 0;
	case TARGET_SYS_FALLOCATE:
		return fallocate(s->fd, s->mode, (off_t)s->off, (off_t)s->len) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

/* DISCARD fallback when punching holes is not supported: write zeroes (synchronously). */
static int64_t
file_zero_fill(struct target_backstore *bs, uint64_t off, uint64_t len)
{
	while (len) {
		struct target_sys_io s = {
			.op = TARGET_SYS_WRITE,
			.fd = bs->fd,
			.buf = (void *)file_zeroes,
			.len = (uint32_t)MIN(len, (uint64_t)sizeof(file_zeroes)),
			.off = off,
		};
		int64_t n = file_sys_sync(&s);

		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int64_t
file_blkdiscard(struct target_backstore *bs, uint64_t off, uint64_t len)
{
	uint64_t range[2] = { off, len };

	return ioctl(bs->fd, BLKDISCARD, range) < 0 ? -errno : 0;
}

/*
 * Accounts for one finished syscall of io. Returns true when io is complete (io->res set),
 * false when another syscall is prepared in io->sys.
 */
static bool
file_advance(struct target_backstore *bs, struct target_bs_io *io, int64_t res)
{
	switch (io->sys.op) {
	case TARGET_SYS_READ:
	case TARGET_SYS_WRITE:
		if (res < 0) {
			io->res = res;
			return true;
		}
		if (res == 0) {
			if (io->sys.op == TARGET_SYS_WRITE) {
				io->res = -EIO;
				return true;
			}
			/* Past the end of a file that shrank under us: zeroes. */
			memset((uint8_t *)io->buf + io->progress, 0, io->len - io->progress);
			res = (int64_t)(io->len - io->progress);
		}
		io->progress += (uint64_t)res;
		if (io->progress >= io->len) {
			io->res = (int64_t)io->len;
			return true;
		}
		file_prepare(bs, io);
		return false;
	case TARGET_SYS_FALLOCATE:
		if (res == -EOPNOTSUPP || res == -EINVAL)
			res = file_zero_fill(bs, io->sys.off, io->sys.len);
		if (res < 0) {
			io->res = res;
			return true;
		}
		io->progress += io->sys.len;
		if (io->progress >= io->len) {
			io->res = 0;
			return true;
		}
		io->sys.off += io->sys.len;
		io->sys.len = (uint32_t)MIN(io->len - io->progress, (uint64_t)UINT32_MAX & ~4095ULL);
		return false;
	default:
		io->res = res < 0 ? res : 0;
		return true;
	}
}

/*
 * Runs the prepared syscalls of io: synchronously, or by handing them to the submitter.
 * Returns 0 when io completed, 1 when a syscall is queued.
 */
static int
file_run(struct target_backstore *bs, struct target_bs_io *io)
{
	for (;;) {
		int64_t res;

		if (bs->sub && !bs->inline_io && bs->sub->submit(bs->sub->opaque, io) == 0)
			return 1;
		res = file_sys_sync(&io->sys);
		if (file_advance(bs, io, res))
			return 0;
	}
}

int
target_bs_file_submit(struct target_backstore *bs, struct target_bs_io *io)
{
	if (io->op == TARGET_BS_OP_DISCARD && bs->blkdiscard) {
		io->res = file_blkdiscard(bs, io->offset, io->len);
		return 0;
	}
	if (io->op < TARGET_BS_OP_READ || io->op > TARGET_BS_OP_DISCARD) {
		io->res = -EINVAL;
		return 0;
	}
	if ((io->op == TARGET_BS_OP_READ || io->op == TARGET_BS_OP_WRITE) && io->len == 0) {
		io->res = 0;
		return 0;
	}
	file_prepare(bs, io);
	return file_run(bs, io);
}

void
target_bs_file_complete(struct target_bs_io *io, int res)
{
	struct target_backstore *bs = io->bs;

	if (!file_advance(bs, io, res) && file_run(bs, io) == 1)
		return;
	io->done(io);
}

int
target_bs_file_lba_status(struct target_backstore *bs, uint64_t off, uint64_t *len, bool *mapped)
{
	off_t data, hole;
	uint64_t end;

	data = lseek(bs->fd, (off_t)off, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) {
			/* Only a hole from off to the end of the file. */
			*mapped = false;
			*len = bs->size - off;
			return 0;
		}
		if (errno == EINVAL || errno == EOPNOTSUPP) {
			*mapped = true;
			*len = bs->size - off;
			return 0;
		}
		return -errno;
	}
	if ((uint64_t)data > off) {
		*mapped = false;
		end = (uint64_t)data;
	} else {
		hole = lseek(bs->fd, (off_t)off, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		*mapped = true;
		end = (uint64_t)hole;
	}
	if (end > bs->size)
		end = bs->size;
	/* Report whole blocks: round a partial block into the mapped side. */
	if (*mapped)
		end = ALIGN_UP(end, (uint64_t)bs->block_size);
	else
		end -= end % bs->block_size;
	if (end <= off)
		end = off + bs->block_size;
	if (end > bs->size)
		end = bs->size;
	*len = end - off;
	return 0;
}
