/*
 * io_uring constants and structs newer than liburing 2.3 (Debian 12), defined by hand with the
 * values of the current kernel uapi header. Each one is guarded so that a newer liburing
 * providing the real definition wins. Hand-written structs carry our own names (house style:
 * never define io_uring_*). Whether the running kernel supports a feature is probed at ring
 * setup (netreserve_ring_features()), never derived from a version number.
 */
#ifndef BALLAST_NETRESERVE_COMPAT_H
#define BALLAST_NETRESERVE_COMPAT_H

#include <stdint.h>
#include <liburing.h>

/* Linux 6.2: report in the send_zc notification whether the data was copied. */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

/* Linux 6.4: kernel-allocated buffer ring (io_uring_buf_reg.flags, "pad" in 2.3). */
#ifndef IOU_PBUF_RING_MMAP
#define IOU_PBUF_RING_MMAP 1
#endif
/* Linux 6.12: incremental buffer consumption. */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

/* Linux 6.10: recv/send bundles. */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
/* Other feature bits newer than 2.3 (names as in the uapi header, prefixed to avoid clashes). */
#define NETRESERVE_FEAT_REG_REG_RING (1U << 13)
#define NETRESERVE_FEAT_MIN_TIMEOUT (1U << 15)

/* Linux 6.6: no SQ index array. Do not combine with liburing 2.3's mmap code. */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

/* Linux 6.8: buffer ring head query. */
#define NETRESERVE_REGISTER_PBUF_STATUS 26
struct netreserve_uring_buf_status {
	uint32_t buf_group;
	uint32_t head;
	uint32_t resv[8];
};

/* Linux 6.9: NAPI busy poll registration. */
#define NETRESERVE_REGISTER_NAPI 27
#define NETRESERVE_UNREGISTER_NAPI 28
struct netreserve_uring_napi {
	uint32_t busy_poll_to;
	uint8_t prefer_busy_poll;
	uint8_t pad[3];
	uint64_t resv;
};

/* Linux 6.11 / 6.15 opcodes, for probing only. */
#define NETRESERVE_OP_BIND 56
#define NETRESERVE_OP_LISTEN 57
#define NETRESERVE_OP_RECV_ZC 58

#endif
