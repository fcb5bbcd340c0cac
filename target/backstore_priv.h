/*
 * Internal definitions of the backstores: the object shared by backstore.c (control plane)
 * and backstore_{mem,file,null}.c (datapath). Not for other modules.
 */
#ifndef BALLAST_TARGET_BACKSTORE_PRIV_H
#define BALLAST_TARGET_BACKSTORE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "target/backstore.h"

struct target_backstore {
	enum target_bs_type type;
	uint64_t size;
	uint32_t block_size;
	unsigned caps;
	bool readonly;
	bool direct;
	bool blkdev;
	bool blkdiscard;
	/* mem */
	uint8_t *mem;
	size_t mem_len;
	bool mlocked;
	uint64_t *map;	/* mem: one bit per block, set = mapped (written since discard) */
	/* file */
	int fd;
	bool inline_io;	/* memory-backed file (tmpfs, ramfs): syscalls run inline, see
			 * bs_file_open() */
	const struct target_io_submitter *sub;
};

/* Datapath entry points of each type: return 0 done inline, 1 pending. */
int target_bs_mem_submit(struct target_backstore *bs, struct target_bs_io *io);
int target_bs_null_submit(struct target_backstore *bs, struct target_bs_io *io);
int target_bs_file_submit(struct target_backstore *bs, struct target_bs_io *io);

/* file: continuation of an asynchronous request after the submitter completed io->sys. */
void target_bs_file_complete(struct target_bs_io *io, int res);

/* lba status per type (see target_bs_lba_status()). */
int target_bs_mem_lba_status(struct target_backstore *bs, uint64_t off, uint64_t *len,
			     bool *mapped);
int target_bs_file_lba_status(struct target_backstore *bs, uint64_t off, uint64_t *len,
			      bool *mapped);

#endif
