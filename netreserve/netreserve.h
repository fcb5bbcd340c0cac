/*
 * netreserve: reserve-aware networking for Ballast's daemons. It knows nothing about iSCSI.
 *
 * Everything the datapath needs is reserved at startup: object pools with per-class floors
 * (pool.h), a registered payload arena (pool.h), one io_uring per datapath thread with a
 * preallocated connection table, a provided buffer ring per connection and a CQ that cannot
 * overflow (ring.h, conn.h), fixed kernel socket memory taken at attach time (conn.h), process
 * protections (protect.h), a footprint calculator (footprint.h) and counters in locked shared
 * memory readable from outside (stats.h). From netreserve_ready() on, the datapath functions
 * never allocate, never block and never log: exhaustion is -ENOBUFS / NULL plus backpressure.
 *
 * Typical daemon startup (control plane):
 *
 *	struct netreserve_config cfg = { .max_conns = 8, .rx_bufs = 16, .rx_buf_size = 16384,
 *		.sndbuf = 256 << 10, .rcvbuf = 256 << 10, .sock_reserve = 256 << 10,
 *		.queue_depth = 64, .max_payload = 256 << 10, ... };
 *	struct netreserve_footprint fp;
 *	netreserve_footprint(&cfg, &fp);                  // --print-footprint prints this
 *	netreserve_stats_create(&st, path, "targetd", 1, cfg.max_conns);   // path from
 *	cfg.stats = &st;                                  // netreserve_stats_path()
 *	netreserve_thread_create(&tid, 0, datapath_main, arg);   // small stacks, before locking
 *	   // in datapath_main: netreserve_ring_new(&cfg, &ring); pools; arena;
 *	   // netreserve_ring_register_arena(); netreserve_protect_thread(&rep);
 *	netreserve_protect_process(&pcfg, &rep);          // memlock, mlockall, oom, nice
 *	netreserve_ready(&st);                            // steady state: arms the tripwire
 *
 * Datapath (owner thread of the ring):
 *
 *	netreserve_conn_attach(ring, fd, 0, &ops, ctx, &conn);
 *	ops.on_recv(conn, data, len, ctx)  -> copy out, return bytes consumed (< len pauses)
 *	netreserve_conn_send(conn, iov, n, &slot->send)   -> slot->send.done(conn, &send, res)
 *	netreserve_ring_sqe(ring) + io_uring_prep_*() + io_uring_sqe_set_data64(sqe,
 *		netreserve_ud(MY_KIND, slot, gen, aux));  handler set with
 *		netreserve_ring_set_handler(ring, MY_KIND, fn, ctx)
 *	netreserve_ring_run(ring)  (dedicated thread)   or
 *	ev_io on netreserve_ring_fd(ring) calling netreserve_ring_poll(ring)   (libev thread)
 *
 * Conventions: int returns are >= 0 on success or -errno; "datapath" functions never
 * allocate, block or log; "control plane" functions may. Ownership is stated on each
 * prototype. netreserve never logs: it returns errors and counters, and the _format()
 * helpers render reports into caller buffers for the daemon's log.
 *
 * Memory accounting facts on Linux 6.18 (design doc, Appendix B): registered buffers are
 * charged to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK; mlockall(MCL_FUTURE) populates
 * every later mapping (so create threads with small stacks first); SO_RESERVE_MEM needs memcg
 * socket accounting (v1: memory.kmem.tcp.limit_in_bytes set; v2: the memory controller) and
 * otherwise fails with EOPNOTSUPP, which is counted, not fatal; the kernel doubles
 * SO_SNDBUF/SO_RCVBUF.
 */
#ifndef BALLAST_NETRESERVE_NETRESERVE_H
#define BALLAST_NETRESERVE_NETRESERVE_H

#include "netreserve/pool.h"
#include "netreserve/stats.h"
#include "netreserve/ring.h"
#include "netreserve/conn.h"
#include "netreserve/footprint.h"
#include "netreserve/protect.h"
#include "netreserve/watchdog.h"

#endif
