/*
 * Backing stores for target logical units: mem (preallocated RAM), file (regular file or block
 * device) and null (reads zeroes, discards writes).
 *
 * Control plane: target_bs_new()/target_bs_free() open, size and allocate everything a store
 * will ever need. Datapath: target_bs_submit() runs one byte-addressed I/O and never allocates.
 *
 * Completion model. target_bs_submit() returns 0 when the I/O completed inline (io->res holds
 * the result and io->done is NOT called), or 1 when it is pending: io->done(io) is called later,
 * exactly once, from the thread that drives the I/O submitter (never from inside
 * target_bs_submit()). mem and null always complete inline. file completes inline through
 * pread/pwrite/fdatasync/fallocate unless a struct target_io_submitter was attached with
 * target_bs_set_submitter(); then every kernel-level request is handed to the submitter
 * (the daemon implements it over its io_uring) and completes later.
 */
#ifndef BALLAST_TARGET_BACKSTORE_H
#define BALLAST_TARGET_BACKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct target_backstore;

enum target_bs_type {
	TARGET_BS_MEM = 1,
	TARGET_BS_FILE,
	TARGET_BS_NULL,
};

/* Logical operations (struct target_bs_io.op). */
enum target_bs_op {
	TARGET_BS_OP_READ = 1,	/* read len bytes at offset into buf */
	TARGET_BS_OP_WRITE,	/* write len bytes at offset from buf */
	TARGET_BS_OP_FLUSH,	/* make every completed write durable (offset/len ignored) */
	TARGET_BS_OP_DISCARD,	/* deallocate [offset, offset+len); reads back zeroes afterwards */
};

/* struct target_bs_io.flags */
#define TARGET_BS_F_FUA 0x01 /* WRITE: durable on completion (RWF_DSYNC / fdatasync) */

/* Kernel-level operations a submitter must perform (struct target_sys_io.op). */
enum target_sys_op {
	TARGET_SYS_READ = 1,	/* pread(fd, buf, len, off) */
	TARGET_SYS_WRITE,	/* pwritev2(fd, buf, len, off, rw_flags); rw_flags may hold RWF_DSYNC */
	TARGET_SYS_FDATASYNC,	/* fdatasync(fd) (IORING_FSYNC_DATASYNC) */
	TARGET_SYS_FALLOCATE,	/* fallocate(fd, mode, off, len) */
};

/* One syscall-shaped request, filled by the backstore for the submitter. */
struct target_sys_io {
	uint8_t op;	  /* enum target_sys_op */
	int fd;
	void *buf;	  /* borrowed until completion; NULL for FDATASYNC/FALLOCATE */
	uint32_t len;
	uint64_t off;
	int rw_flags;	  /* WRITE only: 0 or RWF_DSYNC */
	int mode;	  /* FALLOCATE only: FALLOC_FL_* bits */
};

/*
 * One backstore I/O, in caller storage (embedded in the SCSI command). Borrowed by the
 * backstore from target_bs_submit() until it completes.
 */
struct target_bs_io {
	/* Set by the caller before target_bs_submit(). */
	uint8_t op;	  /* enum target_bs_op */
	uint8_t flags;	  /* TARGET_BS_F_* */
	void *buf;	  /* READ destination / WRITE source; borrowed until completion */
	uint64_t offset;  /* bytes from the start of the store */
	uint64_t len;	  /* bytes */
	void (*done)(struct target_bs_io *io); /* only for pending (1) returns */
	void *priv;	  /* caller's cookie, untouched by the backstore */

	/* Result: >= 0 success (bytes for READ/WRITE), -errno failure. */
	int64_t res;

	/* read-only outside backstore: the request handed to the submitter */
	struct target_sys_io sys;
	/* private to the backstore */
	struct target_backstore *bs;
	uint64_t progress;
};

/*
 * Asynchronous I/O hook, implemented by the daemon over its datapath io_uring.
 * submit() queues io->sys (and only that: it must not look at the logical fields) and returns
 * 0, then later, from the ring thread and never from inside submit(), calls
 * target_bs_io_complete(io, res) with the syscall-style result (bytes or -errno). A short
 * READ/WRITE result is fine: the backstore resubmits the remainder. submit() returns -errno
 * when it cannot queue (e.g. -EBUSY when the ring is full); the backstore then performs that
 * request synchronously. Must not allocate.
 */
struct target_io_submitter {
	void *opaque;
	int (*submit)(void *opaque, struct target_bs_io *io);
};

struct target_bs_config {
	enum target_bs_type type;
	const char *path;	/* file: regular file or block device; borrowed during new() */
	uint64_t size;		/* bytes; mem/null: required; file: 0 = current file/device size,
				 * else a regular file is extended (never truncated) to size */
	uint32_t block_size;	/* 512 or 4096: size is rounded down to a multiple */
	bool readonly;		/* open O_RDONLY; writes fail with -EROFS */
	bool direct;		/* file: O_DIRECT (buffers must then be 4096-aligned) */
	bool create;		/* file: create a missing regular file (needs size) */
	bool mlock;		/* mem: mlock() the store (failure is an error) */
	bool blkdiscard;	/* file on a block device: BLKDISCARD for DISCARD (sync ioctl) */
};

/* Capability bits returned by target_bs_caps(). */
#define TARGET_BS_CAP_DISCARD 0x01	 /* DISCARD deallocates (UNMAP, WRITE SAME UNMAP) */
#define TARGET_BS_CAP_DISCARD_ZEROES 0x02 /* deallocated blocks read back as zeroes (LBPRZ) */
#define TARGET_BS_CAP_LBA_STATUS 0x04	 /* target_bs_lba_status() reports real holes */
#define TARGET_BS_CAP_FLUSH 0x08	 /* FLUSH does something (volatile cache to flush) */
#define TARGET_BS_CAP_ALIGNED 0x10	 /* READ/WRITE must cover whole blocks (O_DIRECT) */

/*
 * Creates a backstore from cfg (borrowed during the call). Control plane: opens, sizes,
 * allocates (mem: an anonymous populated mapping). Returns 0 and *out (owned by caller,
 * release with target_bs_free()), or -EINVAL (bad config), -ENOMEM, or the open/stat errno.
 */
int target_bs_new(const struct target_bs_config *cfg, struct target_backstore **out);

/* Releases a backstore; accepts NULL. No I/O may be pending. Control plane. */
void target_bs_free(struct target_backstore *bs);

/* Size in bytes (a multiple of the block size). Thread-safe read. */
uint64_t target_bs_size(const struct target_backstore *bs);

/* Logical block size given at creation. */
uint32_t target_bs_block_size(const struct target_backstore *bs);

/* enum target_bs_type of bs. */
enum target_bs_type target_bs_type(const struct target_backstore *bs);

/* TARGET_BS_CAP_* bits. */
unsigned target_bs_caps(const struct target_backstore *bs);

/* Whether the store was opened read-only. */
bool target_bs_readonly(const struct target_backstore *bs);

/*
 * Re-reads the size of a file backstore (after the file or device grew or shrank).
 * Returns 1 if it changed, 0 if not, -errno on failure. Control plane.
 */
int target_bs_refresh_size(struct target_backstore *bs);

/*
 * Attaches an asynchronous submitter (borrowed until detached with NULL or the store is
 * freed; only the file backstore uses it, others ignore it). No I/O may be pending.
 */
void target_bs_set_submitter(struct target_backstore *bs, const struct target_io_submitter *sub);

/*
 * Runs io on bs. The range must lie within the store (the caller checks against
 * target_bs_size()). Returns 0 when completed inline (see io->res), 1 when pending
 * (io->done(io) is called later). Datapath: never allocates; may block only for the
 * synchronous file fallback.
 */
int target_bs_submit(struct target_backstore *bs, struct target_bs_io *io);

/*
 * Called by a struct target_io_submitter when io->sys finished with res (bytes or -errno).
 * Continues or completes io (calling io->done(io) once it is entirely done). Datapath.
 */
void target_bs_io_complete(struct target_bs_io *io, int res);

/*
 * Provisioning status of the extent starting at byte offset off: sets *mapped and *len (bytes,
 * >= 1 block, up to the end of that extent or the store). Stores without
 * TARGET_BS_CAP_LBA_STATUS report everything mapped. Returns 0 or -errno. Synchronous
 * (lseek SEEK_DATA/SEEK_HOLE), datapath-safe.
 */
int target_bs_lba_status(struct target_backstore *bs, uint64_t off, uint64_t *len, bool *mapped);

#endif
