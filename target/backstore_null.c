/* null backstore datapath: reads return zeroes, writes and discards are dropped. Inline. */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>
#include <string.h>

#include "target/backstore.h"
#include "target/backstore_priv.h"

#include "common/datapath.h"

int
target_bs_null_submit(struct target_backstore *bs, struct target_bs_io *io)
{
	(void)bs;
	switch (io->op) {
	case TARGET_BS_OP_READ:
		memset(io->buf, 0, io->len);
		io->res = (int64_t)io->len;
		break;
	case TARGET_BS_OP_WRITE:
		io->res = (int64_t)io->len;
		break;
	case TARGET_BS_OP_FLUSH:
	case TARGET_BS_OP_DISCARD:
		io->res = 0;
		break;
	default:
		io->res = -EINVAL;
		break;
	}
	return 0;
}
