/*
 * mem backstore datapath: a preallocated anonymous mapping (populated, optionally mlocked at
 * creation) plus a bitmap of mapped blocks so that UNMAP/GET LBA STATUS behave like a thin
 * device. Every request completes inline.
 */
#include <config.h> /* angle brackets: target/config.h would shadow it */

#include <errno.h>
#include <string.h>

#include "target/backstore.h"
#include "target/backstore_priv.h"

#include "common/datapath.h"

static void
map_set(uint64_t *map, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t b = first; b < first + n; b++) {
		if (on)
			map[b / 64] |= 1ULL << (b % 64);
		else
			map[b / 64] &= ~(1ULL << (b % 64));
	}
}

static bool
map_get(const uint64_t *map, uint64_t b)
{
	return map[b / 64] >> (b % 64) & 1;
}

int
target_bs_mem_submit(struct target_backstore *bs, struct target_bs_io *io)
{
	uint64_t first = io->offset / bs->block_size;
	uint64_t last = (io->offset + io->len + bs->block_size - 1) / bs->block_size;

	switch (io->op) {
	case TARGET_BS_OP_READ:
		memcpy(io->buf, bs->mem + io->offset, io->len);
		io->res = (int64_t)io->len;
		break;
	case TARGET_BS_OP_WRITE:
		memcpy(bs->mem + io->offset, io->buf, io->len);
		map_set(bs->map, first, last - first, true);
		io->res = (int64_t)io->len;
		break;
	case TARGET_BS_OP_FLUSH:
		io->res = 0;
		break;
	case TARGET_BS_OP_DISCARD:
		/* Deallocation is logical: zero the bytes (LBPRZ) and clear the map bits of the
		 * whole blocks in the range. */
		memset(bs->mem + io->offset, 0, io->len);
		first = (io->offset + bs->block_size - 1) / bs->block_size;
		last = (io->offset + io->len) / bs->block_size;
		if (last > first)
			map_set(bs->map, first, last - first, false);
		io->res = 0;
		break;
	default:
		io->res = -EINVAL;
		break;
	}
	return 0;
}

int
target_bs_mem_lba_status(struct target_backstore *bs, uint64_t off, uint64_t *len, bool *mapped)
{
	uint64_t nblocks = bs->size / bs->block_size;
	uint64_t b = off / bs->block_size;
	bool m = map_get(bs->map, b);
	uint64_t e = b + 1;

	while (e < nblocks && map_get(bs->map, e) == m)
		e++;
	*mapped = m;
	*len = (e - b) * bs->block_size;
	return 0;
}
