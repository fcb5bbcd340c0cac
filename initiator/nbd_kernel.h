/*
 * Kernel nbd attach over the generic netlink family "nbd" (doc:
 * /work/shared/specs/nbd-netlink.md), as nbd-client does, with raw AF_NETLINK NETLINK_GENERIC
 * sockets (no libnl). Control plane: every call opens its own netlink socket, blocks on the
 * kernel's answer (bounded by a receive timeout) and closes it; no allocation (stack buffers),
 * no logging (the caller logs the -errno). Needs CAP_NET_ADMIN (CAP_SYS_ADMIN for some
 * commands). Thread-safe (no shared state).
 *
 * The daemon makes a socketpair(AF_UNIX, SOCK_STREAM), passes one end here and serves the
 * other with initiator_nbd_conn_init_transmission(): the kernel skips the handshake and sends
 * transmission requests straight away, and only understands simple replies.
 */
#ifndef BALLAST_INITIATOR_NBD_KERNEL_H
#define BALLAST_INITIATOR_NBD_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INITIATOR_NBD_KERNEL_MAX_SOCKS 16

/* NBD_ATTR_CLIENT_FLAGS values (linux/nbd.h NBD_CFLAG_*). */
#define INITIATOR_NBD_KERNEL_DESTROY_ON_DISCONNECT (1U << 0)
#define INITIATOR_NBD_KERNEL_DISCONNECT_ON_CLOSE (1U << 1)

struct initiator_nbd_kernel_params {
	int index;		    /* /dev/nbdN to use, or -1: the kernel picks a free one */
	uint64_t size_bytes;	    /* export size (required, > 0) */
	uint64_t block_size;	    /* logical block size: 512..PAGE_SIZE, power of 2 */
	uint64_t server_flags;	    /* transmission flags: initiator_nbd_export_tflags() */
	uint64_t client_flags;	    /* INITIATOR_NBD_KERNEL_*, 0 for none */
	uint64_t timeout;	    /* request timeout in seconds; 0: not sent (kernel default) */
	uint64_t dead_conn_timeout; /* seconds to wait for a reconfigure; 0: not sent */
	const int *sock_fds; /* connected stream sockets, 1..INITIATOR_NBD_KERNEL_MAX_SOCKS */
	size_t nsocks;
	const char *backend; /* NBD_ATTR_BACKEND_IDENTIFIER (e.g. "ballast:iqn...:lun0"), or NULL */
};

/*
 * Whether the running kernel offers the "nbd" generic netlink family. Returns 0 when it does,
 * -ENOENT when it does not (no nbd module loaded or built: this function never loads one;
 * the daemon decides whether to run `modprobe nbd` and ask again), or another -errno when
 * netlink itself fails. Blocks briefly.
 */
int initiator_nbd_kernel_available(void);

/*
 * NBD_CMD_CONNECT: attach the device described by @p. The kernel takes its own reference on
 * each socket; the caller may close its copies of @p->sock_fds afterwards and serves the peer
 * ends. Returns the device index (N of /dev/nbdN, read back from the kernel's reply, or
 * @p->index when the kernel did not echo it), or -errno: -ENOENT no nbd family (see
 * initiator_nbd_kernel_available()), -EINVAL bad parameters, -EBUSY device in use, -EPERM
 * not privileged, or the kernel's error. Blocks until the kernel answers.
 */
int initiator_nbd_kernel_connect(const struct initiator_nbd_kernel_params *p);

/*
 * NBD_CMD_DISCONNECT /dev/nbd@index: the kernel fails outstanding I/O and drops its socket
 * references. Returns 0 or -errno (-ENOENT as above, or the kernel's error).
 */
int initiator_nbd_kernel_disconnect(int index);

/*
 * NBD_CMD_RECONFIGURE /dev/nbd@index with new sockets (after a daemon restart, within the
 * device's dead-connection timeout): @fds/@nfds as in connect. @dead_conn_timeout 0: unchanged.
 * Returns 0 or -errno.
 */
int initiator_nbd_kernel_reconfigure(int index, const int *fds, size_t nfds,
				     uint64_t dead_conn_timeout);

/*
 * NBD_CMD_STATUS for /dev/nbd@index: sets *@connected. Returns 0, -ENOENT when the family is
 * absent, -ENODEV when the kernel did not report that device, or -errno.
 */
int initiator_nbd_kernel_status(int index, bool *connected);

/*
 * NBD_CMD_STATUS for all devices: returns the lowest index that exists and is not connected,
 * -ENODEV when none is free (the caller may then connect with index -1 and let the kernel
 * create one), -ENOENT when the family is absent, or -errno.
 */
int initiator_nbd_kernel_find_free(void);

#endif
