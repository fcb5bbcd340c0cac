/*
 * ublk exports of a session's LUNs (issue 8): each --ublk (export.ublk) becomes one ublk device,
 * /dev/ublkbN, with one queue served on the daemon's netreserve ring (its one datapath thread),
 * queue depth = the session's task slots, one preallocated, locked buffer per tag
 * (initiator/ublk.h). Every request the kernel hands over becomes a session task
 * (initiator/session.h) exactly like an NBD request: READ, WRITE (FUA as for NBD: native where
 * the LU has DPOFUA, dropped where it has no write cache), FLUSH (SYNCHRONIZE CACHE), DISCARD
 * (UNMAP) and WRITE_ZEROES (WRITE SAME, or zeroed WRITEs). READ/WRITE tasks carry their data in
 * the tag's buffer (no copy). Requests therefore wait, are held and are replayed across an
 * iSCSI reconnect under the same replacement_timeout rules as NBD requests. When every task
 * slot is taken (NBD clients share them) a request waits in a per-tag FIFO reserved here.
 *
 * Parameters come from the LUN: size and logical/physical block size (READ CAPACITY 16), the
 * largest request from the target's block limits (VPD B0, capped by reserve.max_io_size),
 * discard from VPD B0/B2 (can_unmap, max_unmap_blocks, unmap granularity), write zeroes from
 * the WRITE SAME limit, write cache and FUA from the caching mode page (wce, accept_fua).
 *
 * User recovery (export.ublk.recovery, default Yes where the kernel has it, Linux 6.0+): a
 * device survives a ballastd crash (kill -9) and is taken over by the next ballastd started
 * with the same device id (ADD_DEV answers -EEXIST: START_USER_RECOVERY ... END_USER_RECOVERY);
 * requests the dead server held are reissued to the new one.
 *
 * Threads: everything runs on the ring's owner thread, except START_DEV / END_USER_RECOVERY and
 * STOP_DEV, which block until the queue has been served (the kernel reads the partition table
 * in START_DEV and flushes dirty pages through the queue in STOP_DEV): each runs on a
 * short-lived helper thread (signals blocked) created and joined by the owner thread, which
 * serves the ring meanwhile. The helper threads are created and joined outside the
 * netreserve_ready() window, so the allocation-free period has none.
 *
 * Control plane (may allocate, log, block): _new, _start, _settle, _stop, _free, _ready_lines.
 * Datapath (export_ublk.c includes common/datapath.h; no allocation, no blocking, no logging):
 * the CQE handler, the task callbacks, initiator_ublk_exports_run(). _format never allocates.
 */
#ifndef BALLAST_INITIATOR_EXPORT_UBLK_H
#define BALLAST_INITIATOR_EXPORT_UBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "initiator/config.h"
#include "initiator/session.h"
#include "netreserve/netreserve.h"

/* io_uring user_data kinds of the ublk queues: device i uses INITIATOR_KIND_UBLK_BASE + i. */
#define INITIATOR_KIND_UBLK_BASE (NETRESERVE_KIND_USER + 8)

struct initiator_ublk_exports;

struct initiator_ublk_exports_config {
	const struct initiator_config *cfg; /* borrowed until _free (cfg->ublk, recovery keys) */
	struct initiator_session *sess;	    /* borrowed until _free */
	const struct initiator_lun *luns;   /* borrowed until _free */
	size_t nluns;
	uint32_t slots;			    /* the session's task slots: the queue depth */
	struct netreserve_ring *ring;	    /* the owner thread's ring */
};

/* Bytes of tag buffers and state _new() maps and locks for cfg (for the footprint). Pure. */
uint64_t initiator_ublk_exports_reserve_bytes(const struct initiator_config *cfg, uint32_t slots);

/* CQEs the queues can have outstanding at once (one per tag), for netreserve's user_cqes. */
uint32_t initiator_ublk_exports_cqes(const struct initiator_config *cfg, uint32_t slots);

/*
 * Creates (or, for a device id whose device exists and waits for a new server, recovers) one
 * ublk device per cfg->ublk entry, with its queue and tag buffers (locked when cfg->mlock), and
 * sets the ring handlers. A device that cannot be made (no ublk_drv in the kernel, id taken,
 * LUN unsuitable...) is logged (err) with the reason and kept in state "failed" for the status;
 * the others go on. Control plane, owner thread, before the datapath starts. Returns 0 and
 * *@out (release with initiator_ublk_exports_free()), or -ENOMEM / -EINVAL with a message.
 */
int initiator_ublk_exports_new(const struct initiator_ublk_exports_config *ec,
			       struct initiator_ublk_exports **out, char *msg, size_t msg_size);

/* Devices made by _new() (not failed). */
unsigned int initiator_ublk_exports_count(const struct initiator_ublk_exports *x);

/*
 * Arms every queue (FETCH_REQ per tag, submitted on the ring here) and starts one helper
 * thread per device for START_DEV (END_USER_RECOVERY after a recovery). The caller then serves
 * the ring until initiator_ublk_exports_busy() is false and calls initiator_ublk_exports_settle().
 * Control plane, owner thread, after initiator_session_start(). Returns 0 or -errno (nothing
 * started).
 */
int initiator_ublk_exports_start(struct initiator_ublk_exports *x);

/* True while a START_DEV or STOP_DEV helper thread still runs. Never blocks; any thread. */
bool initiator_ublk_exports_busy(const struct initiator_ublk_exports *x);

/*
 * Joins the helper threads that finished and records their outcome (a device whose START
 * failed becomes "failed", logged). Returns how many devices are live. Control plane, owner
 * thread; blocks only to join threads that have finished.
 */
int initiator_ublk_exports_settle(struct initiator_ublk_exports *x);

/* Writes "ublk /dev/ublkbN lun L\n" per live device to fd. Returns 0 or -errno. */
int initiator_ublk_exports_ready_lines(struct initiator_ublk_exports *x, int fd);

/*
 * After each ring poll: requests waiting for a task slot are submitted, deferred completions
 * are committed. Datapath, owner thread.
 */
void initiator_ublk_exports_run(struct initiator_ublk_exports *x);

/*
 * Shutdown, first step: one helper thread per device runs STOP_DEV (the kernel flushes through
 * the queue, which the caller must keep serving, then aborts every tag). Then serve the ring
 * until initiator_ublk_exports_stopped(). Control plane, owner thread, after
 * netreserve_unready(). Returns 0 or -errno.
 */
int initiator_ublk_exports_stop(struct initiator_ublk_exports *x);

/* True once every STOP_DEV returned (threads joined) and every queue is done. Owner thread. */
bool initiator_ublk_exports_stopped(struct initiator_ublk_exports *x);

/*
 * Frees the queues and deletes the stopped devices (DEL_DEV: /dev/ublkcN goes), then releases
 * everything. A queue the kernel still holds is left mapped (logged). Call after the session
 * logged out. Control plane, owner thread. Accepts NULL.
 */
void initiator_ublk_exports_free(struct initiator_ublk_exports *x);

/*
 * Swap watch, as initiator_export_swap_update() for kernel nbd: swaps holds the text of
 * /proc/swaps; a device of ours that becomes (or stops being) an active swap area, itself or
 * a partition, is logged once per change (a warning pointing to the kernel initiator) and
 * shown as "swap yes" in the status. Returns how many of our devices are swap now. Control
 * plane, owner thread, no allocation.
 */
int initiator_ublk_exports_swap_update(struct initiator_ublk_exports *x, const char *swaps,
				       size_t len);

/*
 * One line per configured device into buf ("ublk /dev/ublkb0 lun 1 state live ..." or
 * "ublk auto lun - state failed error ..."). snprintf semantics. Never allocates.
 */
int initiator_ublk_exports_format(const struct initiator_ublk_exports *x, char *buf, size_t len);

#endif
