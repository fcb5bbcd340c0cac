/*
 * ublk export: serve a LUN as /dev/ublkbN through the kernel's ublk driver (ublk_drv), which
 * hands block requests to userspace over io_uring passthrough commands (IORING_OP_URING_CMD).
 *
 * Two halves:
 *  - control plane (initiator/ublk_ctrl.c, may allocate and block): a device object talking to
 *    /dev/ublk-control on a private SQE128 ring (ADD_DEV, SET_PARAMS, START_DEV, STOP_DEV,
 *    DEL_DEV, GET_DEV_INFO, GET_PARAMS, GET_FEATURES where the kernel has it,
 *    START/END_USER_RECOVERY), and one queue object per datapath thread: /dev/ublkcN's io
 *    descriptors mapped, one preallocated, touched buffer per tag (queue depth = the caller's
 *    command slots);
 *  - datapath (initiator/ublk.c, includes common/datapath.h: no allocation, no blocking, no
 *    logging): FETCH_REQ / COMMIT_AND_FETCH_REQ on the caller's io_uring. Each request that
 *    arrives is decoded into struct initiator_ublk_request and given to ops->submit(); the
 *    caller carries it out (READ, WRITE, FLUSH, DISCARD, WRITE_ZEROES: the daemon maps them to
 *    its iSCSI task path exactly like NBD requests) and finishes it with initiator_ublk_complete().
 *
 * Rings. The datapath commands are 16 bytes and fit a normal 64-byte SQE, so they can share a
 * netreserve ring (SINGLE_ISSUER | DEFER_TASKRUN) with the iSCSI sockets: the queue takes SQEs
 * through ops->get_sqe (netreserve_ring_sqe() or io_uring_get_sqe()), tags each with
 * netreserve_ud(kind, tag, generation, q_id), and the caller routes CQEs of that kind to
 * initiator_ublk_queue_cqe(). Each tag has exactly one command outstanding in the kernel while
 * the queue runs, so the ring's CQ budget for a queue is its depth. Control commands need
 * IORING_SETUP_SQE128, which a netreserve ring does not have: the device keeps its own small
 * ring for them.
 *
 * Threads (the ublk driver binds a queue to the task that fetched on it):
 *   control thread: initiator_ublk_dev_new() / _dev_recover(), initiator_ublk_queue_new() for
 *     each queue, then hand each queue to its datapath thread;
 *   datapath thread q: initiator_ublk_queue_start(), submit, then serve CQEs;
 *   control thread: initiator_ublk_dev_start() (blocks until every queue has fetched; the
 *     kernel then reads the partition table, which the datapath threads serve);
 *   ... I/O ...
 *   control thread: initiator_ublk_dev_stop(): the kernel aborts every tag (CQE res -ENODEV),
 *     initiator_ublk_queue_done() becomes true on each datapath thread, which stops serving;
 *   control thread: initiator_ublk_queue_free() for each, initiator_ublk_dev_del() and
 *     initiator_ublk_dev_free().
 * A control call must never run on a thread that serves a queue of the same device.
 *
 * Recovery (UBLK_F_USER_RECOVERY, Linux 6.0+): a device created with params.recovery survives
 * the death of its server: the kernel quiesces it (within its 5 s monitor period) and holds new
 * I/O; in-flight requests are reissued (UBLK_F_USER_RECOVERY_REISSUE). A new process calls
 * initiator_ublk_dev_recover(), creates its queues as above, and initiator_ublk_dev_start() then
 * ends the recovery instead of starting the device.
 *
 * Deadlock warning (issue 8): a daemon that has a file system on its own ublk device mounted in
 * its mount namespace can deadlock on exit; run it with PrivateMounts=yes.
 */
#ifndef BALLAST_INITIATOR_UBLK_H
#define BALLAST_INITIATOR_UBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_uring_sqe;
struct io_uring_cqe;

/* Request operations (values of the ublk uapi, UBLK_IO_OP_*). */
#define INITIATOR_UBLK_OP_READ 0
#define INITIATOR_UBLK_OP_WRITE 1
#define INITIATOR_UBLK_OP_FLUSH 2
#define INITIATOR_UBLK_OP_DISCARD 3
#define INITIATOR_UBLK_OP_WRITE_ZEROES 5

/* Request flags (struct initiator_ublk_request.flags; uapi UBLK_IO_F_* >> 8). */
#define INITIATOR_UBLK_F_FUA (1U << 5)	   /* write through (UBLK_IO_F_FUA) */
#define INITIATOR_UBLK_F_NOUNMAP (1U << 7) /* WRITE_ZEROES must not deallocate */

/* Device feature bits (uapi UBLK_F_*), as reported by initiator_ublk_dev_flags(). */
#define INITIATOR_UBLK_DEV_F_USER_RECOVERY (1ULL << 3)
#define INITIATOR_UBLK_DEV_F_USER_RECOVERY_REISSUE (1ULL << 4)
#define INITIATOR_UBLK_DEV_F_CMD_IOCTL_ENCODE (1ULL << 6)

#define INITIATOR_UBLK_MAX_QUEUES 64
#define INITIATOR_UBLK_MAX_DEPTH 4096 /* the driver's tag space */

/* Device states (uapi UBLK_S_DEV_*). */
#define INITIATOR_UBLK_STATE_DEAD 0
#define INITIATOR_UBLK_STATE_LIVE 1
#define INITIATOR_UBLK_STATE_QUIESCED 2

/*
 * What the daemon knows about the LUN, for ADD_DEV and SET_PARAMS. Sizes in bytes.
 */
struct initiator_ublk_params {
	int dev_id;		 /* N of /dev/ublkbN, or -1: the kernel picks */
	uint16_t nr_queues;	 /* one per datapath thread, 1..INITIATOR_UBLK_MAX_QUEUES */
	uint16_t queue_depth;	 /* command slots per queue, 1..INITIATOR_UBLK_MAX_DEPTH */
	uint32_t max_io_bytes;	 /* largest READ/WRITE (target's block limits; per-tag buffer
				  * size), a multiple of the page size, >= logical_block */
	uint64_t size;		 /* device size, a multiple of logical_block */
	uint32_t logical_block;	 /* 512..4096, power of two */
	uint32_t physical_block; /* >= logical_block, power of two (0: = logical_block) */
	uint32_t io_min;	 /* power of two or 0 */
	uint32_t io_opt;	 /* power of two or 0 */
	bool read_only;
	bool rotational;
	bool volatile_cache; /* the LUN has a write cache: the kernel sends FLUSH */
	bool fua;	     /* the LUN honours FUA writes */
	/* Discard (VPD 0xB0): max_discard_bytes 0 = no DISCARD. */
	uint32_t max_discard_bytes;
	uint32_t discard_granularity;	 /* bytes, required with discard (0: logical_block) */
	uint32_t discard_alignment;	 /* bytes */
	uint32_t max_write_zeroes_bytes; /* 0 = no WRITE_ZEROES */
	bool recovery; /* ask for UBLK_F_USER_RECOVERY | _REISSUE (when the kernel has it) */
};

/* One request handed to ops->submit(). Borrowed for the call: copy what you need. */
struct initiator_ublk_request {
	uint16_t q_id;
	uint16_t tag;	 /* 0..queue_depth-1: the caller's slot index */
	uint8_t op;	 /* INITIATOR_UBLK_OP_* */
	uint32_t flags;	 /* INITIATOR_UBLK_F_* */
	uint64_t offset; /* bytes */
	uint32_t length; /* bytes; READ/WRITE at most max_io_bytes */
	/*
	 * The tag's buffer (max_io_bytes, page aligned): WRITE data is there; READ data goes
	 * there. Owned by the caller from submit() until initiator_ublk_complete() for this tag.
	 */
	void *buf;
};

struct initiator_ublk_queue;
struct initiator_ublk_dev;

struct initiator_ublk_queue_ops {
	/*
	 * Required. A request arrived on @q. Return 0 when taken: the caller completes it later
	 * (or right now, from this callback) with initiator_ublk_complete(). Return -errno to
	 * fail it at once (the queue completes it with that error). Called on the queue's thread
	 * from initiator_ublk_queue_cqe(); must not block.
	 */
	int (*submit)(void *ctx, struct initiator_ublk_queue *q,
		      const struct initiator_ublk_request *req);
	/*
	 * Required. Returns a free SQE of the queue's ring (e.g. netreserve_ring_sqe()), or NULL
	 * when none is free. The queue sets its user_data; the caller submits.
	 */
	struct io_uring_sqe *(*get_sqe)(void *ctx);
};

/* Device information (GET_DEV_INFO). */
struct initiator_ublk_info {
	int dev_id;
	uint16_t nr_queues;
	uint16_t queue_depth;
	uint16_t state; /* INITIATOR_UBLK_STATE_* */
	uint32_t max_io_bytes;
	int32_t server_pid;
	uint64_t flags; /* negotiated UBLK_F_* */
};

/* Counters of one queue (read-only snapshot). */
struct initiator_ublk_queue_stats {
	uint64_t requests;  /* requests given to ops->submit() */
	uint64_t completed; /* completions committed */
	uint64_t errors;    /* requests completed with an error */
	uint64_t bad_cqe;   /* CQEs with an unexpected result or stale generation */
	uint64_t sqe_full;  /* commits deferred because get_sqe() returned NULL */
	uint32_t armed;	    /* tags with a command in the kernel */
	uint32_t in_flight; /* tags owned by the caller */
};

/* ---- Control plane (initiator/ublk_ctrl.c): may allocate, may block, no datapath thread. ---- */

/*
 * Whether the kernel offers ublk: 0 when /dev/ublk-control exists and opens, -ENOENT when the
 * kernel has no ublk_drv (module not loaded or not built: this never loads it), -EACCES /
 * -EPERM without privilege, other -errno otherwise. Writes a one-line explanation into @msg
 * (@len bytes, may be NULL) for the daemon's log. Does not allocate.
 */
int initiator_ublk_available(char *msg, size_t len);

/*
 * UBLK_CMD_GET_FEATURES (Linux 6.5+): sets *@features to the UBLK_F_* the driver supports.
 * Returns 0, -EOPNOTSUPP when the driver predates the command (6.1: every UBLK_F_* up to
 * USER_RECOVERY_REISSUE may then be requested, and the driver masks what it lacks in ADD_DEV's
 * answer), -ENOENT without ublk_drv, or -errno. Blocks briefly.
 */
int initiator_ublk_get_features(uint64_t *features);

/*
 * ADD_DEV + SET_PARAMS: creates /dev/ublkcN (the kernel answers with the negotiated flags
 * and the device id) and opens it. /dev/ublkbN appears only at initiator_ublk_dev_start().
 * Returns 0 and *@out (owned by caller, release with initiator_ublk_dev_free()), -EINVAL for
 * bad params, -ENOENT without ublk_drv, -EEXIST when dev_id is taken, or the kernel's -errno.
 * On failure nothing is left behind (the device is deleted again).
 */
int initiator_ublk_dev_new(const struct initiator_ublk_params *p, struct initiator_ublk_dev **out);

/*
 * Takes over /dev/ublkc@dev_id after its previous server died (user recovery): reads the
 * device's info and parameters, waits up to @timeout_ms for the kernel to quiesce it (its
 * monitor notices a dead server within ~5 s) and issues START_USER_RECOVERY; then opens the
 * char device. Create the queues and call initiator_ublk_dev_start() as after dev_new.
 * Returns 0 and *@out, -EOPNOTSUPP when the device was not created with user recovery,
 * -ENODEV when it does not exist, -ETIMEDOUT when it never became quiesced (its server still
 * runs), or -errno.
 */
int initiator_ublk_dev_recover(int dev_id, int timeout_ms, struct initiator_ublk_dev **out);

/*
 * START_DEV (or END_USER_RECOVERY after initiator_ublk_dev_recover()): blocks until every
 * queue has all its tags fetched, then the kernel adds /dev/ublkb@id (and reads it: the queue
 * threads must be serving). @pid is the server's process id (getpid()). Returns 0 or -errno.
 */
int initiator_ublk_dev_start(struct initiator_ublk_dev *d, int pid);

/*
 * STOP_DEV: removes /dev/ublkbN (flushing dirty pages through the queues, which must still be
 * served) and aborts every fetched tag, after which each queue reports done. Returns 0 or -errno.
 */
int initiator_ublk_dev_stop(struct initiator_ublk_dev *d);

/*
 * DEL_DEV: deletes /dev/ublkcN. Call after stopping and after every queue was freed (the
 * char device is closed first). Returns 0 or -errno. initiator_ublk_dev_free() remains needed.
 */
int initiator_ublk_dev_del(struct initiator_ublk_dev *d);

/*
 * Releases @d (closes the char device and the control ring) without deleting the kernel
 * device: a device with user recovery then waits for a new server. Queues of @d must have
 * been freed. Accepts NULL.
 */
void initiator_ublk_dev_free(struct initiator_ublk_dev *d);

/* GET_DEV_INFO into *@info. Returns 0 or -errno. */
int initiator_ublk_dev_info(struct initiator_ublk_dev *d, struct initiator_ublk_info *info);

/* The device id N (/dev/ublkbN, /dev/ublkcN). */
int initiator_ublk_dev_id(const struct initiator_ublk_dev *d);
/* UBLK_F_* the kernel accepted at ADD_DEV. */
uint64_t initiator_ublk_dev_flags(const struct initiator_ublk_dev *d);
/* Parameters in force (after dev_recover: as read back from the kernel). Borrowed. */
const struct initiator_ublk_params *initiator_ublk_dev_params(const struct initiator_ublk_dev *d);

/*
 * Creates queue @q_id of @d: maps its io descriptors from /dev/ublkcN and maps, populates and
 * (when @lock) mlocks queue_depth x max_io_bytes of tag buffers. @ops and @ctx are borrowed
 * until initiator_ublk_queue_free(). @kind is the user_data kind its SQEs carry (the caller's
 * netreserve handler kind, NETRESERVE_KIND_USER..255). Returns 0 and *@out (owned by caller,
 * release with initiator_ublk_queue_free()), -EINVAL, -ENOMEM, or -errno of mmap/mlock.
 */
int initiator_ublk_queue_new(struct initiator_ublk_dev *d, uint16_t q_id,
			     const struct initiator_ublk_queue_ops *ops, void *ctx,
			     unsigned int kind, bool lock, struct initiator_ublk_queue **out);

/* Unmaps and frees @q. The queue must be done (or never started). Accepts NULL. */
void initiator_ublk_queue_free(struct initiator_ublk_queue *q);

/* ---- Datapath (initiator/ublk.c): the queue's thread only; no allocation, never blocks. ---- */

/*
 * Prepares one FETCH_REQ per tag (SQEs from ops->get_sqe; the caller submits them). Call on the
 * thread that will serve the queue, before initiator_ublk_dev_start() on the control thread.
 * Returns 0, -ENOBUFS when get_sqe() ran dry (call again after submitting: it continues where
 * it stopped), -EALREADY when every tag is already armed.
 */
int initiator_ublk_queue_start(struct initiator_ublk_queue *q);

/*
 * Handles one CQE of the queue's kind: a request (res 0) goes to ops->submit(); an abort
 * (-ENODEV: device stopping or server replaced) retires the tag. Returns 1 when a request was
 * dispatched, 0 when the CQE was consumed otherwise, -ESTALE for a CQE of an earlier
 * generation or another queue (counted, ignored).
 */
int initiator_ublk_queue_cqe(struct initiator_ublk_queue *q, const struct io_uring_cqe *cqe);

/*
 * Completes request @tag: @error 0 for success (READ data in the tag's buffer), -errno for
 * failure (the block layer sees an I/O error). Prepares COMMIT_AND_FETCH_REQ, which also
 * re-arms the tag. Returns 0, -EINVAL when @tag is not owned by the caller, or -ENOBUFS when no
 * SQE was free: the completion is kept and retried by initiator_ublk_queue_flush().
 */
int initiator_ublk_complete(struct initiator_ublk_queue *q, uint16_t tag, int error);

/*
 * Retries completions deferred for lack of SQEs. Returns how many are still waiting.
 */
unsigned int initiator_ublk_queue_flush(struct initiator_ublk_queue *q);

/* True once every tag was aborted by the kernel (after STOP_DEV): the queue can be freed. */
bool initiator_ublk_queue_done(const struct initiator_ublk_queue *q);

/* The buffer of @tag (max_io_bytes). Borrowed until initiator_ublk_queue_free(). */
void *initiator_ublk_queue_buf(struct initiator_ublk_queue *q, uint16_t tag);

/* Queue id and depth. */
uint16_t initiator_ublk_queue_id(const struct initiator_ublk_queue *q);
uint16_t initiator_ublk_queue_depth(const struct initiator_ublk_queue *q);

/* Counters snapshot into *@st. */
void initiator_ublk_queue_stats(const struct initiator_ublk_queue *q,
				struct initiator_ublk_queue_stats *st);

#endif
