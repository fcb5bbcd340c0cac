/*
 * NBD server protocol engine (doc: /work/shared/specs/nbd-protocol.md, "fixed newstyle"):
 * one struct initiator_nbd_conn per client connection. Pure code: no I/O, no allocation, no
 * logging, no blocking. Safe on the datapath (initiator/nbd.c includes common/datapath.h).
 *
 * The daemon owns the socket. It feeds every received byte to initiator_nbd_feed() (any
 * fragmentation, even one byte at a time), sends whatever initiator_nbd_output() holds
 * (handshake replies only), and receives transmission-phase events through the callbacks of
 * struct initiator_nbd_ops. Replies to transmission requests are encoded by the daemon into its
 * own (pooled, per-slot) header buffers with initiator_nbd_encode_reply() and sent as an iovec
 * { header, data } so that read data is never copied.
 *
 * Typical loop (a blocking server; the io_uring daemon does the same from its CQE handlers):
 *
 *	initiator_nbd_conn_init(&c, &cfg);
 *	for (;;) {
 *		while ((n = initiator_nbd_output(&c, &out)) > 0)
 *			send(out, n) then initiator_nbd_output_consume(&c, sent);
 *		if (initiator_nbd_phase(&c) == INITIATOR_NBD_PHASE_CLOSED) close;
 *		r = initiator_nbd_feed(&c, rxbuf + off, rxlen - off);
 *		r < 0: hard disconnect (close the socket); r >= 0: off += r;
 *		if r < the bytes offered: the engine stalled (initiator_nbd_stall()); keep the
 *		unconsumed bytes and call feed again once output was sent / a slot was freed.
 *	}
 *
 * Threading: a conn is used by one thread at a time; the engine has no global state, so
 * connections on different threads are independent. Exports are read-only to the engine.
 */
#ifndef BALLAST_INITIATOR_NBD_H
#define BALLAST_INITIATOR_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- Wire values (nbd-protocol.md "Values"). ---- */

#define INITIATOR_NBD_MAGIC 0x4e42444d41474943ULL     /* "NBDMAGIC" */
#define INITIATOR_NBD_IHAVEOPT 0x49484156454f5054ULL  /* "IHAVEOPT" */
#define INITIATOR_NBD_REP_MAGIC 0x0003e889045565a9ULL /* option reply magic */
#define INITIATOR_NBD_REQUEST_MAGIC 0x25609513U
#define INITIATOR_NBD_SIMPLE_REPLY_MAGIC 0x67446698U
#define INITIATOR_NBD_STRUCTURED_REPLY_MAGIC 0x668e33efU

/* Handshake flags (server, 16 bits) and client flags (32 bits). */
#define INITIATOR_NBD_FLAG_FIXED_NEWSTYLE (1U << 0)
#define INITIATOR_NBD_FLAG_NO_ZEROES (1U << 1)
#define INITIATOR_NBD_FLAG_C_FIXED_NEWSTYLE (1U << 0)
#define INITIATOR_NBD_FLAG_C_NO_ZEROES (1U << 1)

/* Transmission flags (16 bits). */
#define INITIATOR_NBD_FLAG_HAS_FLAGS (1U << 0)
#define INITIATOR_NBD_FLAG_READ_ONLY (1U << 1)
#define INITIATOR_NBD_FLAG_SEND_FLUSH (1U << 2)
#define INITIATOR_NBD_FLAG_SEND_FUA (1U << 3)
#define INITIATOR_NBD_FLAG_ROTATIONAL (1U << 4)
#define INITIATOR_NBD_FLAG_SEND_TRIM (1U << 5)
#define INITIATOR_NBD_FLAG_SEND_WRITE_ZEROES (1U << 6)
#define INITIATOR_NBD_FLAG_SEND_DF (1U << 7)
#define INITIATOR_NBD_FLAG_CAN_MULTI_CONN (1U << 8)
#define INITIATOR_NBD_FLAG_SEND_CACHE (1U << 10)
#define INITIATOR_NBD_FLAG_SEND_FAST_ZERO (1U << 11)

/* Options. */
#define INITIATOR_NBD_OPT_EXPORT_NAME 1
#define INITIATOR_NBD_OPT_ABORT 2
#define INITIATOR_NBD_OPT_LIST 3
#define INITIATOR_NBD_OPT_STARTTLS 5
#define INITIATOR_NBD_OPT_INFO 6
#define INITIATOR_NBD_OPT_GO 7
#define INITIATOR_NBD_OPT_STRUCTURED_REPLY 8
#define INITIATOR_NBD_OPT_LIST_META_CONTEXT 9
#define INITIATOR_NBD_OPT_SET_META_CONTEXT 10
#define INITIATOR_NBD_OPT_EXTENDED_HEADERS 11

/* Option reply types. */
#define INITIATOR_NBD_REP_ACK 1U
#define INITIATOR_NBD_REP_SERVER 2U
#define INITIATOR_NBD_REP_INFO 3U
#define INITIATOR_NBD_REP_META_CONTEXT 4U
#define INITIATOR_NBD_REP_ERR_UNSUP (0x80000000U + 1)
#define INITIATOR_NBD_REP_ERR_POLICY (0x80000000U + 2)
#define INITIATOR_NBD_REP_ERR_INVALID (0x80000000U + 3)
#define INITIATOR_NBD_REP_ERR_PLATFORM (0x80000000U + 4)
#define INITIATOR_NBD_REP_ERR_TLS_REQD (0x80000000U + 5)
#define INITIATOR_NBD_REP_ERR_UNKNOWN (0x80000000U + 6)
#define INITIATOR_NBD_REP_ERR_SHUTDOWN (0x80000000U + 7)
#define INITIATOR_NBD_REP_ERR_BLOCK_SIZE_REQD (0x80000000U + 8)
#define INITIATOR_NBD_REP_ERR_TOO_BIG (0x80000000U + 9)

/* NBD_REP_INFO information types. */
#define INITIATOR_NBD_INFO_EXPORT 0
#define INITIATOR_NBD_INFO_NAME 1
#define INITIATOR_NBD_INFO_DESCRIPTION 2
#define INITIATOR_NBD_INFO_BLOCK_SIZE 3

/* Commands and command flags. */
#define INITIATOR_NBD_CMD_READ 0
#define INITIATOR_NBD_CMD_WRITE 1
#define INITIATOR_NBD_CMD_DISC 2
#define INITIATOR_NBD_CMD_FLUSH 3
#define INITIATOR_NBD_CMD_TRIM 4
#define INITIATOR_NBD_CMD_CACHE 5
#define INITIATOR_NBD_CMD_WRITE_ZEROES 6
#define INITIATOR_NBD_CMD_BLOCK_STATUS 7
#define INITIATOR_NBD_CMD_FLAG_FUA (1U << 0)
#define INITIATOR_NBD_CMD_FLAG_NO_HOLE (1U << 1)
#define INITIATOR_NBD_CMD_FLAG_DF (1U << 2)
#define INITIATOR_NBD_CMD_FLAG_REQ_ONE (1U << 3)
#define INITIATOR_NBD_CMD_FLAG_FAST_ZERO (1U << 4)

/* Structured reply flags and types. */
#define INITIATOR_NBD_REPLY_FLAG_DONE (1U << 0)
#define INITIATOR_NBD_REPLY_TYPE_NONE 0
#define INITIATOR_NBD_REPLY_TYPE_OFFSET_DATA 1
#define INITIATOR_NBD_REPLY_TYPE_OFFSET_HOLE 2
#define INITIATOR_NBD_REPLY_TYPE_BLOCK_STATUS 5
#define INITIATOR_NBD_REPLY_TYPE_ERROR ((1U << 15) + 1)
#define INITIATOR_NBD_REPLY_TYPE_ERROR_OFFSET ((1U << 15) + 2)

/* Error values (the only ones allowed on the wire). */
#define INITIATOR_NBD_EPERM 1U
#define INITIATOR_NBD_EIO 5U
#define INITIATOR_NBD_ENOMEM 12U
#define INITIATOR_NBD_EINVAL 22U
#define INITIATOR_NBD_ENOSPC 28U
#define INITIATOR_NBD_EOVERFLOW 75U
#define INITIATOR_NBD_ENOTSUP 95U
#define INITIATOR_NBD_ESHUTDOWN 108U

/* base:allocation status flags and the context id this server assigns to it. */
#define INITIATOR_NBD_STATE_HOLE (1U << 0)
#define INITIATOR_NBD_STATE_ZERO (1U << 1)
#define INITIATOR_NBD_META_ID_ALLOCATION 1U

/* ---- Limits. ---- */

#define INITIATOR_NBD_REQUEST_LEN 28	  /* transmission request header */
#define INITIATOR_NBD_SIMPLE_REPLY_LEN 16 /* simple reply header */
#define INITIATOR_NBD_CHUNK_HDR_LEN 20	  /* structured reply chunk header */
#define INITIATOR_NBD_STRING_MAX 4096	  /* export names and descriptions (spec "string") */
/*
 * Option data this server buffers. Large enough for NBD_OPT_GO with a maximal name and a
 * generous request list; longer options are answered NBD_REP_ERR_TOO_BIG and their data is
 * skipped (NBD_OPT_EXPORT_NAME cannot carry an error, so a longer one is a hard disconnect).
 */
#define INITIATOR_NBD_OPT_DATA_MAX 8192
#define INITIATOR_NBD_OUTBUF_LEN 16384 /* handshake output buffer, per connection */
#define INITIATOR_NBD_ERRMSG_MAX 128   /* error text in structured error chunks (truncated) */
/* Largest header initiator_nbd_encode_reply() writes; size per-slot header buffers with it. */
#define INITIATOR_NBD_REPLY_HDR_MAX (INITIATOR_NBD_CHUNK_HDR_LEN + 6 + INITIATOR_NBD_ERRMSG_MAX + 8)

/* ---- Exports. ---- */

/* Capabilities of one export (struct initiator_nbd_export.flags). */
#define INITIATOR_NBD_EXPORT_READ_ONLY (1U << 0)    /* writes, trims, zeroes: NBD_EPERM */
#define INITIATOR_NBD_EXPORT_FLUSH (1U << 1)	    /* advertise SEND_FLUSH (SYNCHRONIZE CACHE) */
#define INITIATOR_NBD_EXPORT_FUA (1U << 2)	    /* advertise SEND_FUA (WRITE with FUA) */
#define INITIATOR_NBD_EXPORT_TRIM (1U << 3)	    /* advertise SEND_TRIM (UNMAP) */
#define INITIATOR_NBD_EXPORT_WRITE_ZEROES (1U << 4) /* advertise SEND_WRITE_ZEROES */
#define INITIATOR_NBD_EXPORT_FAST_ZERO (1U << 5)    /* also SEND_FAST_ZERO (needs WRITE_ZEROES) */
#define INITIATOR_NBD_EXPORT_MULTI_CONN (1U << 6)   /* advertise CAN_MULTI_CONN */
#define INITIATOR_NBD_EXPORT_ROTATIONAL (1U << 7)   /* advertise ROTATIONAL */
#define INITIATOR_NBD_EXPORT_CACHE (1U << 8)	    /* advertise SEND_CACHE */

/*
 * One export, described by the daemon (one per LUN). Owned by the daemon; borrowed by every
 * connection from initiator_nbd_conn_init() until initiator_nbd_conn_fini(), so it must not
 * change meanwhile (to resize, make a new table for new connections).
 */
struct initiator_nbd_export {
	const char *name;	 /* NUL-terminated, 1..INITIATOR_NBD_STRING_MAX bytes */
	const char *description; /* NUL-terminated, up to INITIATOR_NBD_STRING_MAX bytes, or NULL */
	uint64_t size;		 /* bytes; a multiple of min_block */
	uint32_t min_block;	 /* logical block size: power of 2, 1..65536 (512 or 4096) */
	uint32_t pref_block;	 /* physical/optimal block: power of 2, >= max(min_block, 512) */
	uint32_t max_payload;	 /* max READ/WRITE length (max transfer): >= pref_block */
	uint32_t flags;		 /* INITIATOR_NBD_EXPORT_* */
	void *priv;		 /* the daemon's (e.g. its LUN); never touched by the engine */
};

/*
 * Transmission flags the engine advertises for @exp (HAS_FLAGS plus the capabilities).
 * Also what the daemon passes as NBD_ATTR_SERVER_FLAGS to the kernel. Pure.
 */
uint16_t initiator_nbd_export_tflags(const struct initiator_nbd_export *exp);

/* ---- Transmission-phase requests. ---- */

/*
 * One parsed transmission request, handed to ops->request(). Borrowed: valid only during the
 * callback, copy what you need (the cookie, offset, length, type, flags, error) into your slot.
 */
struct initiator_nbd_request {
	uint64_t cookie; /* opaque, echo it in the reply */
	uint64_t offset;
	uint32_t length;
	uint16_t type;	/* INITIATOR_NBD_CMD_* (unknown types arrive with error EINVAL) */
	uint16_t flags; /* INITIATOR_NBD_CMD_FLAG_* */
	/*
	 * 0: a valid request, carry it out. Nonzero (INITIATOR_NBD_E*): the engine rejected it
	 * (bad flags, out of range, read-only, unaligned, too long, unknown command...): do NOT
	 * perform it, just send an error reply with this value. Any WRITE payload has already
	 * been consumed and discarded.
	 */
	uint32_t error;
	const char *errmsg; /* with error: static text for a structured error chunk, else NULL */
	/* WRITE with error 0: the buffer ops->get_write_buffer() returned, now holding length
	 * bytes. */
	void *data;
};

/*
 * Callbacks from initiator_nbd_feed(), on the caller's thread, never re-entrant (do not call
 * initiator_nbd_feed() from a callback). ctx is initiator_nbd_config.ctx.
 */
struct initiator_nbd_ops {
	/*
	 * Required. Called for every transmission request once it is complete: READ, FLUSH,
	 * TRIM, CACHE, WRITE_ZEROES, BLOCK_STATUS after the 28-byte header; WRITE after its whole
	 * payload is in the buffer from get_write_buffer(); rejected requests (req->error != 0)
	 * after any payload was skipped; DISC (no reply may be sent; finish outstanding requests
	 * then close; the engine ignores all further input and its phase becomes CLOSED).
	 * Every request except DISC needs exactly one reply (initiator_nbd_encode_reply()).
	 * BLOCK_STATUS needs no I/O: reply at once (the whole range is reported as data).
	 * Return 0 when accepted. Return -ENOBUFS when there is no slot for it right now: the
	 * engine keeps the request (and its WRITE buffer), stops consuming input (stall
	 * INITIATOR_NBD_STALL_REQUEST) and calls request() again with the same request on the
	 * next initiator_nbd_feed() (which may be called with len 0). Other negative values
	 * make initiator_nbd_feed() return them (hard disconnect).
	 */
	int (*request)(void *ctx, const struct initiator_nbd_request *req);
	/*
	 * Required. A valid WRITE header arrived: return the buffer of at least req->length bytes
	 * that its payload goes into (typically the data buffer of a preallocated slot, which the
	 * daemon reserves now for this request; req->data is NULL here). Return NULL when no
	 * buffer is free: the engine stops before the payload (stall
	 * INITIATOR_NBD_STALL_WRITE_BUFFER) and asks again on the next initiator_nbd_feed().
	 * The buffer is the engine's to fill until request() accepts it (or the daemon calls
	 * initiator_nbd_conn_fini()).
	 */
	void *(*get_write_buffer)(void *ctx, const struct initiator_nbd_request *req);
	/*
	 * Optional. The handshake ended and transmission starts on @exp (after NBD_OPT_GO's ACK
	 * or NBD_OPT_EXPORT_NAME's reply were queued in the output). Return 0, or -errno to
	 * refuse (initiator_nbd_feed() returns it: hard disconnect).
	 */
	int (*go)(void *ctx, const struct initiator_nbd_export *exp);
};

struct initiator_nbd_config {
	const struct initiator_nbd_export *exports; /* borrowed until conn_fini */
	size_t nexports;
	/* Index of the export the empty name selects, or -1 for none (then "" is unknown). */
	int default_export;
	/*
	 * Refuse NBD_OPT_GO without an NBD_INFO_BLOCK_SIZE request (NBD_REP_ERR_BLOCK_SIZE_REQD,
	 * preceded by the NBD_INFO_BLOCK_SIZE reply) and NBD_OPT_EXPORT_NAME (hard disconnect)
	 * when an export's min_block is above 1. Default false: such clients are served and
	 * unaligned requests get NBD_EINVAL, which the spec also allows.
	 */
	bool require_block_size;
	/* Answer NBD_OPT_LIST with NBD_REP_ERR_POLICY instead of the export list. */
	bool deny_list;
	const struct initiator_nbd_ops *ops; /* borrowed until conn_fini */
	void *ctx;
};

enum initiator_nbd_phase {
	INITIATOR_NBD_PHASE_HANDSHAKE = 0,
	INITIATOR_NBD_PHASE_TRANSMISSION,
	/* Soft disconnect (NBD_OPT_ABORT, NBD_CMD_DISC): send what output is left, then close. */
	INITIATOR_NBD_PHASE_CLOSED,
};

/* Why initiator_nbd_feed() consumed fewer bytes than offered (or 0 with len 0). */
enum initiator_nbd_stall {
	INITIATOR_NBD_STALL_NONE = 0,
	/* Handshake replies are pending: send initiator_nbd_output() first. */
	INITIATOR_NBD_STALL_OUTPUT,
	/* ops->get_write_buffer() returned NULL: call feed again when a slot is free. */
	INITIATOR_NBD_STALL_WRITE_BUFFER,
	/* ops->request() returned -ENOBUFS: call feed again when a slot is free. */
	INITIATOR_NBD_STALL_REQUEST,
	/* Phase CLOSED: the engine takes no more input. */
	INITIATOR_NBD_STALL_CLOSED,
};

/*
 * Per-connection state: caller storage (embed it in a preallocated connection slot), about
 * 25 KiB, mostly the handshake buffers. Read-only outside initiator/nbd.c: use the accessors.
 */
struct initiator_nbd_conn {
	const struct initiator_nbd_config *cfg;
	int state; /* parser state, private */
	enum initiator_nbd_phase phase;
	enum initiator_nbd_stall stall;
	const struct initiator_nbd_export *export; /* selected export (transmission) */
	uint16_t tflags;			   /* transmission flags of the selected export */
	bool no_zeroes;				   /* client set NBD_FLAG_C_NO_ZEROES */
	bool structured;			   /* NBD_OPT_STRUCTURED_REPLY acknowledged */
	bool meta_alloc;			   /* base:allocation selected (for meta_export) */
	int meta_export; /* export index of the last SET_META_CONTEXT, or -1 */
	/* Input accumulation: option header+data during handshake, request header after. */
	uint32_t opt;			  /* current option */
	uint32_t opt_len;		  /* its data length */
	uint32_t have;			  /* bytes in ibuf for the current unit */
	uint64_t skip;			  /* bytes of input still to discard */
	struct initiator_nbd_request req; /* current transmission request */
	uint32_t payload_have;		  /* WRITE payload bytes received into req.data */
	/* Handshake output. */
	uint32_t out_head, out_tail;
	uint32_t list_next; /* NBD_OPT_LIST: next export to describe, private */
	bool listing;	    /* NBD_OPT_LIST replies still being generated */
	int error;	    /* sticky -errno after a fatal error */
	uint8_t ibuf[16 + INITIATOR_NBD_OPT_DATA_MAX];
	uint8_t obuf[INITIATOR_NBD_OUTBUF_LEN];
};

/*
 * Set up @c for a new client connection and queue the server greeting (NBDMAGIC, IHAVEOPT,
 * handshake flags FIXED_NEWSTYLE | NO_ZEROES) in its output. @cfg and everything it points to
 * are borrowed until initiator_nbd_conn_fini(). Returns 0, or -EINVAL when the config or an
 * export is malformed (no ops, bad block sizes, name empty or too long, default index out of
 * range). No allocation, never blocks.
 */
int initiator_nbd_conn_init(struct initiator_nbd_conn *c, const struct initiator_nbd_config *cfg);

/*
 * Like initiator_nbd_conn_init() but without a handshake: the connection starts directly in
 * transmission phase on export @index with simple replies and no output queued. This is the
 * daemon's end of a socketpair handed to the kernel nbd driver (NBD_CMD_CONNECT), which never
 * negotiates. Returns 0 or -EINVAL.
 */
int initiator_nbd_conn_init_transmission(struct initiator_nbd_conn *c,
					 const struct initiator_nbd_config *cfg, int index);

/*
 * Forget @c. The engine holds nothing (the write buffer it was filling, if any, is
 * req.data of a request that was never accepted: the daemon releases its slot). Idempotent.
 */
void initiator_nbd_conn_fini(struct initiator_nbd_conn *c);

/*
 * Feed @len received bytes at @data (borrowed for the call only). Parses as much as it can,
 * queueing handshake replies and calling ops->request() / get_write_buffer() / go().
 * Returns the number of bytes consumed, 0..len. Fewer than @len means the engine stalled
 * (initiator_nbd_stall() says why): keep the rest and offer it again later. Calling with
 * len 0 retries a stalled callback. Returns -EPROTO when the peer broke the protocol in a way
 * that requires a hard disconnect (bad magic, unknown client flags, EXPORT_NAME for an unknown
 * export, oversized EXPORT_NAME), or the -errno a callback returned; after an error the
 * connection is unusable (close it). Never blocks, never allocates.
 */
ssize_t initiator_nbd_feed(struct initiator_nbd_conn *c, const void *data, size_t len);

/*
 * Direct receive of WRITE payloads: when the engine is in the middle of a WRITE payload (it
 * has the buffer), returns the number of payload bytes still expected and sets *@buf to where
 * they go; the daemon may recv() straight into it and then report with
 * initiator_nbd_payload_commit(). Returns 0 (and *@buf NULL) in any other state.
 */
size_t initiator_nbd_payload_target(const struct initiator_nbd_conn *c, void **buf);

/*
 * @n bytes were received into the buffer given by initiator_nbd_payload_target() (n at most
 * what it returned). Completes the request (ops->request()) when the payload is whole.
 * Returns 0, or as initiator_nbd_feed() for the completion (-errno; a stall is reported by
 * initiator_nbd_stall() and retried by the next feed).
 */
int initiator_nbd_payload_commit(struct initiator_nbd_conn *c, size_t n);

/*
 * Handshake output waiting to be sent: sets *@data (borrowed until the next call on @c) and
 * returns its length, 0 when none. Transmission replies never go through here.
 */
size_t initiator_nbd_output(const struct initiator_nbd_conn *c, const void **data);

/* @n bytes of initiator_nbd_output() were sent; may queue more (a long NBD_OPT_LIST). */
void initiator_nbd_output_consume(struct initiator_nbd_conn *c, size_t n);

enum initiator_nbd_phase initiator_nbd_phase(const struct initiator_nbd_conn *c);
enum initiator_nbd_stall initiator_nbd_stall(const struct initiator_nbd_conn *c);
/* The export chosen by the handshake (NULL before transmission). */
const struct initiator_nbd_export *initiator_nbd_export(const struct initiator_nbd_conn *c);
/* Structured replies negotiated on @c. */
bool initiator_nbd_structured(const struct initiator_nbd_conn *c);

/* ---- Reply encoding (into caller buffers; pure). ---- */

/*
 * Encode the complete reply header for @req with NBD error @error (0 for success) into @buf
 * (@size bytes, INITIATOR_NBD_REPLY_HDR_MAX is always enough) according to what @c
 * negotiated. Returns the header length; -ENOSPC if @size is too small. What to send:
 * header, then (READ with error 0 only) req->length bytes of data: an iovec.
 *   - simple replies: 16-byte simple reply (also for errors; READ errors carry no data);
 *   - structured, READ success: one NBD_REPLY_TYPE_OFFSET_DATA chunk with DONE (28 bytes);
 *   - structured, BLOCK_STATUS success: one NBD_REPLY_TYPE_BLOCK_STATUS chunk with DONE and
 *     one extent covering the request (clipped at the export end), status 0 (allocated data);
 *   - structured, other success: a 16-byte simple reply (allowed: no payload);
 *   - structured, error: NBD_REPLY_TYPE_ERROR with DONE and @msg (may be NULL; truncated to
 *     INITIATOR_NBD_ERRMSG_MAX).
 * DISC has no reply (-EINVAL).
 */
int initiator_nbd_encode_reply(const struct initiator_nbd_conn *c,
			       const struct initiator_nbd_request *req, uint32_t error,
			       const char *msg, uint8_t *buf, size_t size);

/* Building blocks for daemons that split replies. Each writes into @buf, returns the length. */
/* 16-byte simple reply header. */
size_t initiator_nbd_encode_simple(uint8_t *buf, uint64_t cookie, uint32_t error);
/* 20-byte structured chunk header (the payload of @length bytes follows). */
size_t initiator_nbd_encode_chunk(uint8_t *buf, uint16_t flags, uint16_t type, uint64_t cookie,
				  uint32_t length);
/* NBD_REPLY_TYPE_OFFSET_DATA header for @datalen data bytes at @offset: 28 bytes; data follows. */
size_t initiator_nbd_encode_offset_data(uint8_t *buf, bool done, uint64_t cookie, uint64_t offset,
					uint32_t datalen);
/* NBD_REPLY_TYPE_NONE with DONE: 20 bytes. */
size_t initiator_nbd_encode_none(uint8_t *buf, uint64_t cookie);
/*
 * NBD_REPLY_TYPE_ERROR (or ERROR_OFFSET when @with_offset) with @msg (NULL or truncated to
 * INITIATOR_NBD_ERRMSG_MAX): at most INITIATOR_NBD_REPLY_HDR_MAX bytes.
 */
size_t initiator_nbd_encode_error(uint8_t *buf, bool done, uint64_t cookie, uint32_t error,
				  const char *msg, bool with_offset, uint64_t offset);

/* ---- Error mapping. ---- */

/*
 * Map the outcome of a SCSI command to an NBD error value. @status is the SCSI status byte
 * (0 GOOD -> 0), @key/@asc/@ascq the sense data when @status is CHECK CONDITION (0x02).
 * @write: the command modified data (WRITE, UNMAP, WRITE SAME, SYNCHRONIZE CACHE).
 * Choices (NBD defines only EPERM EIO ENOMEM EINVAL ENOSPC EOVERFLOW ENOTSUP ESHUTDOWN):
 *   DATA PROTECT (7), or ASC 0x27 (write protected) -> EPERM;
 *   ASC 0x27/0x07 (SPACE ALLOCATION FAILED WRITE PROTECT: thin pool full) -> ENOSPC;
 *   ILLEGAL REQUEST + LBA out of range (0x21/0x00) -> ENOSPC for writes, EINVAL otherwise;
 *   other ILLEGAL REQUEST (invalid opcode, field in CDB...) -> EINVAL (the daemon falls
 *   back, e.g. from WRITE SAME to plain writes, before it reports; the spec reserves ENOTSUP
 *   for fast zero);
 *   VOLUME OVERFLOW (0xd) -> ENOSPC;
 *   RECOVERED ERROR (1) -> 0 (the command completed);
 *   NOT READY, MEDIUM ERROR, HARDWARE ERROR, ABORTED COMMAND, UNIT ATTENTION (after the
 *   initiator's retries), MISCOMPARE, anything else -> EIO;
 *   status RESERVATION CONFLICT (0x18) -> EPERM (the LUN refuses this host: retrying won't
 *   help, and EPERM tells the user it is policy, not media);
 *   BUSY (0x08), TASK SET FULL (0x28), TASK ABORTED (0x40) that survived retries -> EIO;
 *   other non-GOOD status -> EIO.
 * Pure.
 */
uint32_t initiator_nbd_error_from_scsi(uint8_t status, uint8_t key, uint8_t asc, uint8_t ascq,
				       bool write);

/*
 * Map a -errno from the daemon's datapath (e.g. -EIO, -ENOSPC, -ETIMEDOUT, -ESHUTDOWN) to an
 * NBD error value: EPERM/EACCES/EROFS -> EPERM, ENOSPC/EDQUOT/EFBIG -> ENOSPC, EINVAL ->
 * EINVAL, EOVERFLOW -> EOVERFLOW, ENOTSUP/EOPNOTSUPP -> ENOTSUP, ESHUTDOWN -> ESHUTDOWN,
 * ENOMEM/ENOBUFS -> ENOMEM, anything else (and positive values) -> EIO; 0 -> 0. Pure.
 */
uint32_t initiator_nbd_error_from_errno(int err);

#endif
