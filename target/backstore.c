/*
 * Backstore control plane: creation, sizing, teardown. The datapath entry points live in
 * backstore_io.c and backstore_{mem,file,null}.c.
 */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/mem.h"
#include "target/backstore.h"
#include "target/backstore_priv.h"

static int
bs_file_size(struct target_backstore *bs, uint64_t *size)
{
	struct stat st;

	if (fstat(bs->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;

		if (ioctl(bs->fd, BLKGETSIZE64, &sz) < 0)
			return -errno;
		*size = sz;
		bs->blkdev = true;
	} else if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else {
		return -EINVAL;
	}
	return 0;
}

/*
 * Whether fd is a file of a memory filesystem (tmpfs, ramfs). Those have no FMODE_NOWAIT
 * (preadv2 RWF_NOWAIT says EOPNOTSUPP on 6.18), so io_uring cannot try a read or write inline
 * and hands every one to an io-wq worker thread: a thread wake-up, a context switch and an
 * eventfd signal for what is a memory copy. At 4 KiB QD1 on /dev/shm that doubled the CPU per
 * I/O and halved the IOPS against tgtd (tests/bench/target.sh). The syscall itself cannot wait
 * for a device, so the backstore runs it inline instead.
 */
static bool
bs_file_in_memory(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

static int
bs_file_open(struct target_backstore *bs, const struct target_bs_config *cfg)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	uint64_t size;
	int r;

	if (!cfg->path)
		return -EINVAL;
	if (cfg->direct)
		flags |= O_DIRECT;
	if (cfg->create && !cfg->readonly)
		flags |= O_CREAT;
	bs->fd = open(cfg->path, flags, 0600);
	if (bs->fd < 0)
		return -errno;
	r = bs_file_size(bs, &size);
	if (r < 0)
		return r;
	if (cfg->size && !bs->blkdev && size < cfg->size) {
		if (cfg->readonly)
			return -EINVAL;
		if (ftruncate(bs->fd, (off_t)cfg->size) < 0)
			return -errno;
		size = cfg->size;
	} else if (cfg->size && cfg->size < size) {
		size = cfg->size; /* export only the first cfg->size bytes */
	}
	bs->size = size;
	bs->inline_io = bs_file_in_memory(bs->fd);
	bs->caps = TARGET_BS_CAP_FLUSH | (cfg->direct ? TARGET_BS_CAP_ALIGNED : 0);
	if (!bs->blkdev) {
		/* Punch-hole support depends on the filesystem: DISCARD falls back to writing
		 * zeroes when fallocate() says -EOPNOTSUPP. */
		bs->caps |= TARGET_BS_CAP_DISCARD | TARGET_BS_CAP_DISCARD_ZEROES |
			    TARGET_BS_CAP_LBA_STATUS;
	} else if (cfg->blkdiscard) {
		bs->blkdiscard = true;
		bs->caps |= TARGET_BS_CAP_DISCARD;
	} else {
		/* fallocate(PUNCH_HOLE) on a block device zeroes (and discards if it can). */
		bs->caps |= TARGET_BS_CAP_DISCARD | TARGET_BS_CAP_DISCARD_ZEROES;
	}
	return 0;
}

static int
bs_mem_alloc(struct target_backstore *bs, const struct target_bs_config *cfg)
{
	size_t nblocks, words;

	if (!cfg->size)
		return -EINVAL;
	bs->size = cfg->size;
	bs->mem_len = (size_t)cfg->size;
	/* Anonymous and populated: the pages exist before the first command, and mlock keeps
	 * them. MAP_NORESERVE is not used on purpose: the memory must be there. */
	bs->mem = mmap(NULL, bs->mem_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (bs->mem == MAP_FAILED) {
		bs->mem = NULL;
		return -ENOMEM;
	}
	if (cfg->mlock) {
		if (mlock(bs->mem, bs->mem_len) < 0)
			return -errno;
		bs->mlocked = true;
	}
	nblocks = (size_t)(cfg->size / cfg->block_size);
	words = (nblocks + 63) / 64;
	bs->map = mem_zalloc(words * sizeof(uint64_t));
	if (!bs->map)
		return -ENOMEM;
	bs->caps = TARGET_BS_CAP_DISCARD | TARGET_BS_CAP_DISCARD_ZEROES | TARGET_BS_CAP_LBA_STATUS;
	return 0;
}

int
target_bs_new(const struct target_bs_config *cfg, struct target_backstore **out)
{
	struct target_backstore *bs;
	int r;

	*out = NULL;
	if (cfg->block_size != 512 && cfg->block_size != 4096)
		return -EINVAL;
	bs = mem_zalloc(sizeof(*bs));
	if (!bs)
		return -ENOMEM;
	bs->fd = -1;
	bs->type = cfg->type;
	bs->block_size = cfg->block_size;
	bs->readonly = cfg->readonly;
	bs->direct = cfg->direct;
	switch (cfg->type) {
	case TARGET_BS_MEM:
		r = bs_mem_alloc(bs, cfg);
		break;
	case TARGET_BS_FILE:
		r = bs_file_open(bs, cfg);
		break;
	case TARGET_BS_NULL:
		r = cfg->size ? 0 : -EINVAL;
		bs->size = cfg->size;
		bs->caps = TARGET_BS_CAP_DISCARD | TARGET_BS_CAP_DISCARD_ZEROES;
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0)
		goto fail;
	bs->size -= bs->size % bs->block_size;
	if (bs->size == 0) {
		r = -EINVAL;
		goto fail;
	}
	*out = bs;
	return 0;
fail:
	target_bs_free(bs);
	return r;
}

void
target_bs_free(struct target_backstore *bs)
{
	if (!bs)
		return;
	if (bs->mem) {
		if (bs->mlocked)
			munlock(bs->mem, bs->mem_len);
		munmap(bs->mem, bs->mem_len);
	}
	mem_free(bs->map);
	if (bs->fd >= 0)
		close(bs->fd);
	mem_free(bs);
}

uint64_t
target_bs_size(const struct target_backstore *bs)
{
	return bs->size;
}

uint32_t
target_bs_block_size(const struct target_backstore *bs)
{
	return bs->block_size;
}

enum target_bs_type
target_bs_type(const struct target_backstore *bs)
{
	return bs->type;
}

unsigned
target_bs_caps(const struct target_backstore *bs)
{
	return bs->caps;
}

bool
target_bs_readonly(const struct target_backstore *bs)
{
	return bs->readonly;
}

int
target_bs_refresh_size(struct target_backstore *bs)
{
	uint64_t size;
	int r;

	if (bs->type != TARGET_BS_FILE)
		return 0;
	r = bs_file_size(bs, &size);
	if (r < 0)
		return r;
	size -= size % bs->block_size;
	if (size == bs->size)
		return 0;
	bs->size = size;
	return 1;
}

void
target_bs_set_submitter(struct target_backstore *bs, const struct target_io_submitter *sub)
{
	bs->sub = sub;
}
