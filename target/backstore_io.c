/* Backstore datapath dispatch: target_bs_submit() and friends route to the type's code. */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>

#include "target/backstore.h"
#include "target/backstore_priv.h"

#include "common/datapath.h"

int
target_bs_submit(struct target_backstore *bs, struct target_bs_io *io)
{
	io->bs = bs;
	io->progress = 0;
	io->res = 0;
	if (bs->readonly && (io->op == TARGET_BS_OP_WRITE || io->op == TARGET_BS_OP_DISCARD)) {
		io->res = -EROFS;
		return 0;
	}
	switch (bs->type) {
	case TARGET_BS_MEM:
		return target_bs_mem_submit(bs, io);
	case TARGET_BS_FILE:
		return target_bs_file_submit(bs, io);
	case TARGET_BS_NULL:
		return target_bs_null_submit(bs, io);
	}
	io->res = -EINVAL;
	return 0;
}

void
target_bs_io_complete(struct target_bs_io *io, int res)
{
	target_bs_file_complete(io, res);
}

int
target_bs_lba_status(struct target_backstore *bs, uint64_t off, uint64_t *len, bool *mapped)
{
	if (off >= bs->size)
		return -EINVAL;
	if (bs->type == TARGET_BS_MEM)
		return target_bs_mem_lba_status(bs, off, len, mapped);
	if (bs->type == TARGET_BS_FILE && (bs->caps & TARGET_BS_CAP_LBA_STATUS))
		return target_bs_file_lba_status(bs, off, len, mapped);
	*mapped = true;
	*len = bs->size - off;
	return 0;
}
