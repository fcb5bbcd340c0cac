/*
 * ballastd: log into an iSCSI target and export each LUN over NBD and/or ublk on an
 * allocation-free io_uring datapath.
 *
 * Startup (control plane, may allocate): configuration, discovery, login, LUN scan, then
 * every reserve (netreserve ring, task pool, data arena, NBD client table, ublk devices with
 * their tag buffers), protections, the ublk devices started (START_DEV on helper threads while
 * this thread serves the ring), netreserve_ready(). From then on the main thread only runs
 * the ring; nothing allocates.
 *
 * Shutdown (SIGTERM): netreserve_unready(), STOP_DEV for each ublk device (on helper threads,
 * the ring still served so that the kernel can flush through it), the NBD exports stopped,
 * outstanding commands drained, iSCSI Logout, then DEL_DEV.
 *
 * ublk where the kernel has no ublk_drv: with NBD exports configured too, the error is logged
 * and the daemon serves the NBD exports; with only ublk exports it exits 1 before logging in.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "initiator/config.h"
#include "initiator/control.h"
#include "initiator/discovery.h"
#include "initiator/export.h"
#include "initiator/export_ublk.h"
#include "initiator/initiator.h"
#include "initiator/login.h"
#include "initiator/nbd_kernel.h"
#include "initiator/session.h"
#include "initiator/ublk.h"
#include "netreserve/netreserve.h"

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: ballastd [-f] --portal HOST[:PORT] [--target IQN] [--lun N]\n"
		"                [--chap USER:SECRET] [--mutual-chap USER:SECRET]\n"
		"                [--initiator-name IQN] [--nbd unix:PATH|tcp:HOST:PORT|kernel[:/dev/nbdN]]...\n"
		"                [--ublk [ID|auto][,lun=N]]...\n"
		"                [--ready-fd N] [--config FILE] [--control SOCKET] [--print-footprint]\n"
		"                [--log-level LEVEL] [--debug CATEGORIES]\n"
		"       ballastd discover --portal HOST[:PORT] [--initiator-name IQN] [--config FILE]\n"
		"       ballastd ctl SOCKET status\n");
}

enum {
	OPT_PORTAL = 256,
	OPT_TARGET,
	OPT_LUN,
	OPT_CHAP,
	OPT_MUTUAL,
	OPT_NAME,
	OPT_NBD,
	OPT_READY_FD,
	OPT_CONFIG,
	OPT_CONTROL,
	OPT_FOOTPRINT,
	OPT_LOG_LEVEL,
	OPT_DEBUG,
	OPT_SET,
	OPT_UBLK,
};

static const struct option long_opts[] = {
	{ "foreground", no_argument, NULL, 'f' },
	{ "portal", required_argument, NULL, OPT_PORTAL },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "lun", required_argument, NULL, OPT_LUN },
	{ "chap", required_argument, NULL, OPT_CHAP },
	{ "mutual-chap", required_argument, NULL, OPT_MUTUAL },
	{ "initiator-name", required_argument, NULL, OPT_NAME },
	{ "nbd", required_argument, NULL, OPT_NBD },
	{ "ublk", optional_argument, NULL, OPT_UBLK },
	{ "ready-fd", required_argument, NULL, OPT_READY_FD },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "print-footprint", no_argument, NULL, OPT_FOOTPRINT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "debug", required_argument, NULL, OPT_DEBUG },
	{ "set", required_argument, NULL, OPT_SET },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Flags are applied after the configuration file: keep them aside first. */
struct flags {
	const char *config;
	const char *portal, *target, *lun, *chap, *mutual, *name, *control;
	const char *nbd[INITIATOR_MAX_LISTENERS];
	size_t nnbd;
	const char *ublk[INITIATOR_MAX_UBLK];
	size_t nublk;
	const char *set[32];
	size_t nset;
	int ready_fd;
	bool foreground, footprint;
	const char *log_level, *debug;
};

static int
parse_flags(int argc, char **argv, struct flags *fl)
{
	int c;
	memset(fl, 0, sizeof(*fl));
	fl->ready_fd = -1;
	while ((c = getopt_long(argc, argv, "fh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fl->foreground = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_PORTAL:
			fl->portal = optarg;
			break;
		case OPT_TARGET:
			fl->target = optarg;
			break;
		case OPT_LUN:
			fl->lun = optarg;
			break;
		case OPT_CHAP:
			fl->chap = optarg;
			break;
		case OPT_MUTUAL:
			fl->mutual = optarg;
			break;
		case OPT_NAME:
			fl->name = optarg;
			break;
		case OPT_NBD:
			if (fl->nnbd == INITIATOR_MAX_LISTENERS) {
				fprintf(stderr, "ballastd: too many --nbd (at most %d)\n",
					INITIATOR_MAX_LISTENERS);
				return -EINVAL;
			}
			fl->nbd[fl->nnbd++] = optarg;
			break;
		case OPT_UBLK:
			if (fl->nublk == INITIATOR_MAX_UBLK) {
				fprintf(stderr, "ballastd: too many --ublk (at most %d)\n",
					INITIATOR_MAX_UBLK);
				return -EINVAL;
			}
			/* "--ublk 3": the id is optional, so it may come as the next word (ballastd
			 * takes no positional arguments) */
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			fl->ublk[fl->nublk++] = optarg ? optarg : "";
			break;
		case OPT_READY_FD: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 65535) {
				fprintf(stderr, "ballastd: --ready-fd: bad descriptor '%s'\n", optarg);
				return -EINVAL;
			}
			fl->ready_fd = (int)v;
			break;
		}
		case OPT_CONFIG:
			fl->config = optarg;
			break;
		case OPT_CONTROL:
			fl->control = optarg;
			break;
		case OPT_FOOTPRINT:
			fl->footprint = true;
			break;
		case OPT_LOG_LEVEL:
			fl->log_level = optarg;
			break;
		case OPT_DEBUG:
			fl->debug = optarg;
			break;
		case OPT_SET:
			if (fl->nset < ARRAY_SIZE(fl->set))
				fl->set[fl->nset++] = optarg;
			break;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ballastd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* Configuration: defaults, file, initiatorname, then flags. */
static int
build_config(const struct flags *fl, struct initiator_config *cfg)
{
	char err[CONF_ERR_SIZE], msg[256];
	int r;

	initiator_config_defaults(cfg);
	r = initiator_config_load(cfg, fl->config ? fl->config : INITIATOR_CONF_PATH, !fl->config,
				  err, sizeof(err));
	if (r) {
		fprintf(stderr, "ballastd: %s\n", err);
		return r;
	}
	for (size_t i = 0; i < fl->nset; i++) {
		char key[256];
		const char *eq = strchr(fl->set[i], '=');
		if (!eq || (size_t)(eq - fl->set[i]) >= sizeof(key)) {
			fprintf(stderr, "ballastd: --set KEY=VALUE expected\n");
			return -EINVAL;
		}
		memcpy(key, fl->set[i], (size_t)(eq - fl->set[i]));
		key[eq - fl->set[i]] = 0;
		r = initiator_config_set(cfg, key, eq + 1, msg, sizeof(msg));
		if (r) {
			fprintf(stderr, "ballastd: --set %s: %s\n", key, msg);
			return r;
		}
	}
	if (fl->name)
		snprintf(cfg->initiator_name, sizeof(cfg->initiator_name), "%s", fl->name);
	r = initiator_config_load_name(cfg, INITIATOR_NAME_PATH, true, err, sizeof(err));
	if (r) {
		fprintf(stderr, "ballastd: %s\n", err);
		return r;
	}
	if (fl->portal && initiator_config_parse_hostport(fl->portal, cfg->portal_host,
							  sizeof(cfg->portal_host),
							  &cfg->portal_port, 3260)) {
		fprintf(stderr, "ballastd: --portal: HOST[:PORT] expected, got '%s'\n", fl->portal);
		return -EINVAL;
	}
	if (fl->target)
		snprintf(cfg->target, sizeof(cfg->target), "%s", fl->target);
	if (fl->lun) {
		char *end;
		long v = strtol(fl->lun, &end, 10);
		if (*end || v < 0 || v > 16383) {
			fprintf(stderr, "ballastd: --lun: bad LUN '%s'\n", fl->lun);
			return -EINVAL;
		}
		cfg->lun = v;
	}
	if (fl->chap && initiator_config_parse_chap(fl->chap, false, &cfg->auth, msg, sizeof(msg))) {
		fprintf(stderr, "ballastd: --chap: %s\n", msg);
		return -EINVAL;
	}
	if (fl->mutual) {
		if (!fl->chap && !cfg->auth.enabled) {
			fprintf(stderr, "ballastd: --mutual-chap needs --chap\n");
			return -EINVAL;
		}
		if (initiator_config_parse_chap(fl->mutual, true, &cfg->auth, msg, sizeof(msg))) {
			fprintf(stderr, "ballastd: --mutual-chap: %s\n", msg);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < fl->nnbd; i++) {
		if (initiator_config_parse_nbd(fl->nbd[i], &cfg->nbd[cfg->nnbd], msg, sizeof(msg))) {
			fprintf(stderr, "ballastd: --nbd %s: %s\n", fl->nbd[i], msg);
			return -EINVAL;
		}
		cfg->nnbd++;
	}
	if (!fl->nnbd && cfg->nbd_tcp[0] && cfg->nnbd < INITIATOR_MAX_LISTENERS) {
		char spec[INITIATOR_HOST_MAX + 16];
		snprintf(spec, sizeof(spec), "tcp:%s", cfg->nbd_tcp);
		if (initiator_config_parse_nbd(spec, &cfg->nbd[cfg->nnbd], msg, sizeof(msg)) == 0)
			cfg->nnbd++;
	}
	if (!fl->nnbd && cfg->kernel_nbd && cfg->nnbd < INITIATOR_MAX_LISTENERS) {
		initiator_config_parse_nbd("kernel", &cfg->nbd[cfg->nnbd], msg, sizeof(msg));
		cfg->nnbd++;
	}
	if (fl->nublk)
		cfg->nublk = 0; /* --ublk replaces the file's export.ublk lines */
	for (size_t i = 0; i < fl->nublk; i++) {
		if (initiator_config_parse_ublk(fl->ublk[i], &cfg->ublk[cfg->nublk], msg,
						sizeof(msg))) {
			fprintf(stderr, "ballastd: --ublk %s: %s\n", fl->ublk[i], msg);
			return -EINVAL;
		}
		cfg->nublk++;
	}
	if (fl->control)
		snprintf(cfg->control, sizeof(cfg->control), "%s", fl->control);
	if (fl->log_level)
		snprintf(cfg->log_level, sizeof(cfg->log_level), "%s", fl->log_level);
	if (fl->debug)
		snprintf(cfg->log_debug, sizeof(cfg->log_debug), "%s", fl->debug);
	cfg->ready_fd = fl->ready_fd;
	cfg->foreground = fl->foreground;
	cfg->print_footprint = fl->footprint;
	return 0;
}

static uint32_t
session_slots(const struct initiator_config *cfg)
{
	return MIN(cfg->queue_depth, cfg->cmds_max);
}

static void
ring_config(const struct initiator_config *cfg, struct netreserve_config *nc,
	    struct netreserve_stats_region *st)
{
	memset(nc, 0, sizeof(*nc));
	nc->max_conns = 1 + initiator_export_client_slots(cfg);
	nc->rx_bufs = cfg->rx_bufs;
	nc->rx_buf_size = cfg->rx_buf_size;
	/* accepts, the control socket, and the relogin's connect and its cancel; one per ublk tag */
	nc->user_cqes = INITIATOR_MAX_LISTENERS + 4 + 2 +
			initiator_ublk_exports_cqes(cfg, session_slots(cfg));
	nc->sndbuf = cfg->sndbuf;
	nc->rcvbuf = cfg->rcvbuf;
	nc->sock_reserve = cfg->sock_reserve;
	/* unacknowledged data for longer than a NOP-Out round is a dead connection too */
	if (cfg->noop_out_interval > 0 && cfg->noop_out_timeout > 0)
		nc->tcp_user_timeout_ms =
			(uint32_t)(cfg->noop_out_interval + cfg->noop_out_timeout) * 1000;
	nc->stats = st;
	/* our own reserves (task pool, Data-Out pool, data arena, NBD client table, ublk tag
	 * buffers) */
	nc->extra_locked = initiator_session_reserve_bytes(cfg, session_slots(cfg), cfg->max_io) +
			   initiator_export_reserve_bytes(cfg) +
			   initiator_ublk_exports_reserve_bytes(cfg, session_slots(cfg));
}

static int
print_footprint(const struct initiator_config *cfg)
{
	struct netreserve_config nc;
	struct netreserve_footprint fp;
	char buf[2048];

	ring_config(cfg, &nc, NULL);
	int r = netreserve_footprint(&nc, &fp);
	if (r) {
		fprintf(stderr, "ballastd: cannot compute the footprint: %s\n", strerror(-r));
		return 1;
	}
	netreserve_footprint_format(&fp, buf, sizeof(buf));
	fputs(buf, stdout);
	return 0;
}

/* `ballastd discover`: list the portal's targets. */
static int
run_discover(int argc, char **argv)
{
	struct flags fl;
	struct initiator_config cfg;
	struct initiator_discovered found[64];
	char msg[512];

	if (parse_flags(argc - 1, argv + 1, &fl) || build_config(&fl, &cfg))
		return 2;
	if (!cfg.initiator_name[0] || !cfg.portal_host[0]) {
		fprintf(stderr, "ballastd discover: --portal and an initiator name are required\n");
		return 2;
	}
	int n = initiator_discover(&cfg, found, ARRAY_SIZE(found), msg, sizeof(msg));
	if (n < 0) {
		fprintf(stderr, "ballastd discover: %s\n", msg);
		return 1;
	}
	for (int i = 0; i < n && i < (int)ARRAY_SIZE(found); i++)
		for (size_t a = 0; a < MAX(found[i].naddr, (size_t)1); a++)
			printf("%s %s\n", found[i].naddr ? found[i].addr[a] : "-", found[i].name);
	return 0;
}

/* Everything the running daemon holds, for the control socket. */
struct daemon {
	struct initiator_config *cfg;
	struct initiator_session *sess;
	struct initiator_export *exp;     /* NULL with only ublk exports */
	struct initiator_ublk_exports *ux; /* NULL without ublk exports */
	struct netreserve_ring *ring;
	struct netreserve_protect_report prot;
	struct netreserve_watchdog *wd;    /* NULL when reserve.watchdog_ms is 0 */
	char target[TEXT_NAME_MAX + 1];
	char peer[INITIATOR_HOST_MAX + 16];
	struct initiator_lun *luns;
	size_t nluns;
};

/* How NBD FUA is served on lun (see struct initiator_lun). */
static const char *
fua_mode(const struct initiator_lun *lun)
{
	if (lun->send_fua)
		return "native";
	return lun->accept_fua ? "dropped-no-cache" : "off-use-flush";
}

static int
control_answer(void *ctx, const char *cmd, char *buf, size_t len)
{
	struct daemon *d = ctx;
	size_t off = 0;

	if (strcmp(cmd, "status") != 0)
		return snprintf(buf, len, "error unknown command '%s' (try: status)\n", cmd);
	off += (size_t)snprintf(buf + off, len - off, "target %s portal %s\n", d->target, d->peer);
	for (size_t i = 0; i < d->nluns && off < len; i++) {
		const struct initiator_lun_info *li = &d->luns[i].info;
		off += (size_t)snprintf(buf + off, len - off,
					"lun %llu blocks %llu block_size %u vendor %s product %s "
					"wwn %s max_transfer %u unmap %s wce %d dpofua %d fua %s\n",
					(unsigned long long)li->lun, (unsigned long long)li->nblocks,
					li->block_size, li->vendor, li->product,
					li->wwn[0] ? li->wwn : "-", li->max_transfer,
					d->luns[i].can_unmap ? "yes" : "no", li->wce, li->dpofua,
					fua_mode(&d->luns[i]));
	}
	if (off < len)
		off += (size_t)initiator_session_format(d->sess, buf + off, len - off);
	if (off < len && d->exp)
		off += (size_t)initiator_export_format(d->exp, buf + off, len - off);
	if (off < len && d->ux)
		off += (size_t)initiator_ublk_exports_format(d->ux, buf + off, len - off);
	if (off < len)
		off += (size_t)netreserve_protect_format(&d->prot, buf + off, len - off);
	if (off < len && d->wd)
		off += (size_t)snprintf(buf + off, len - off,
					"watchdog stall_ms %u pokes %llu max_stall_ms %llu\n",
					d->cfg->watchdog_ms,
					(unsigned long long)netreserve_watchdog_pokes(d->wd),
					(unsigned long long)netreserve_watchdog_max_stall_ms(d->wd));
	if (off < len) {
		const struct netreserve_ring_stats *rs = netreserve_ring_stats(d->ring);
		off += (size_t)snprintf(buf + off, len - off,
					"ring cqes %llu cq_overflow %llu stale_cqes %llu "
					"rx_enobufs %llu\n",
					(unsigned long long)rs->cqes,
					(unsigned long long)rs->cq_overflow,
					(unsigned long long)rs->stale_cqes,
					(unsigned long long)rs->rx_enobufs);
	}
	return (int)MIN(off, len - 1);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Swap watch (control plane, from the main loop every few seconds): /proc/swaps into a stack
 * buffer with open/read (no stdio: nothing may allocate after ready), matched against our
 * kernel nbd and ublk devices by initiator_export_swap_update() and
 * initiator_ublk_exports_swap_update(), which warn once per change.
 */
#define SWAP_CHECK_MS 3000
/* Stats files of dead ballastds are swept at startup once this old (s). */
#define STATS_SWEEP_AGE_S 600

static void
swap_check(struct initiator_export *exp, struct initiator_ublk_exports *ux)
{
	char buf[8192];
	size_t len = 0;
	int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (exp)
		initiator_export_swap_update(exp, buf, len);
	initiator_ublk_exports_swap_update(ux, buf, len);
}

static void
log_protections(const struct netreserve_protect_report *rep)
{
	char buf[2048];
	netreserve_protect_format(rep, buf, sizeof(buf));
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		log_info("protection: %s", line);
}

/*
 * One round of the datapath outside the main loop (ublk START/STOP, drain): poll the ring up to
 * timeout_ms, timers, deferred completions, stalled NBD clients, waiting ublk requests.
 */
static void
serve(struct daemon *d, int timeout_ms)
{
	netreserve_ring_wait(d->ring, timeout_ms);
	initiator_session_tick(d->sess);
	initiator_session_run(d->sess);
	if (d->exp)
		initiator_export_run(d->exp);
	initiator_ublk_exports_run(d->ux);
}

/* Connect and log in, retrying transient failures (initial_login_retry_max). */
/*
 * Exit codes of failed logins and discoveries: open-iscsi's (iscsiadm's) numbers, so that
 * scripts and ballastadm can tell a wrong secret from an unreachable portal.
 */
enum {
	EXIT_FAIL = 1,
	EXIT_TRANS = 4,		   /* connection failure */
	EXIT_LOGIN = 5,		   /* login failure (may be retried) */
	EXIT_TRANS_TIMEOUT = 8,	   /* connection timed out */
	EXIT_FATAL_LOGIN = 19,	   /* non-retryable login failure (target not found, removed) */
	EXIT_HOST_NOT_FOUND = 23,  /* the portal's name does not resolve */
	EXIT_LOGIN_AUTH_FAILED = 24, /* CHAP failed either way, or the target forbids us */
};

static int
connect_exit_code(int r)
{
	return r == -ENOENT ? EXIT_HOST_NOT_FOUND : r == -ETIMEDOUT ? EXIT_TRANS_TIMEOUT : EXIT_TRANS;
}

static int
login_exit_code(int r)
{
	switch (r) {
	case -EACCES:
		return EXIT_LOGIN_AUTH_FAILED;
	case -ENOENT:
		return EXIT_FATAL_LOGIN;
	case -ETIMEDOUT:
		return EXIT_TRANS_TIMEOUT;
	case -ECONNRESET:
	case -EPIPE:
		return EXIT_TRANS;
	default:
		return EXIT_LOGIN;
	}
}

static int
login(const struct initiator_config *cfg, const uint8_t isid[6], struct initiator_sync *s,
      struct initiator_login *l, char *peer, size_t peer_size, int *code)
{
	char msg[512];
	int r = -EIO;

	for (int attempt = 0; attempt <= cfg->initial_login_retry_max; attempt++) {
		if (attempt)
			sleep(1);
		memset(s, 0, sizeof(*s));
		s->timeout_ms = cfg->login_timeout * 1000;
		r = initiator_conn_connect(cfg->portal_host, cfg->portal_port,
					   cfg->login_timeout * 1000, peer, peer_size, msg,
					   sizeof(msg));
		if (r < 0) {
			log_err("%s", msg);
			*code = connect_exit_code(r);
			if (r == -ENOENT)
				return r;
			continue;
		}
		s->fd = r;
		struct initiator_login_params p = { 0 };
		p.initiator_name = cfg->initiator_name;
		p.initiator_alias = cfg->initiator_alias[0] ? cfg->initiator_alias : NULL;
		p.target_name = cfg->target;
		memcpy(p.isid, isid, 6);
		p.tsih = 0;
		p.cid = 0;
		p.cmdsn = 1;
		p.chap = &cfg->auth;
		initiator_login_local_from_config(&p.local, cfg, false);
		initiator_login_init(l, &p);
		r = initiator_login_run(l, s);
		if (r == 0)
			return 0;
		log_err("login to %s at %s failed: %s", cfg->target, peer, l->msg);
		*code = login_exit_code(r);
		close(s->fd);
		s->fd = -1;
		/* authentication and missing targets are not transient */
		if (r != -EAGAIN && r != -ETIMEDOUT && r != -ECONNRESET)
			return r;
	}
	return r;
}

static int
run_daemon(struct initiator_config *cfg)
{
	struct daemon d = { .cfg = cfg };
	struct initiator_sync sync = { .fd = -1 };
	struct initiator_login *l = NULL;
	struct initiator_lun *luns = NULL;
	struct netreserve_stats_region stats = { 0 };
	struct netreserve_ring *ring = NULL;
	struct initiator_session *sess = NULL;
	struct initiator_export *exp = NULL;
	struct initiator_ublk_exports *ux = NULL;
	struct initiator_control *ctl = NULL;
	char msg[512], path[160];
	uint8_t isid[6];
	int ret = 1, r;

	/* discovery when no target was named: the first one the portal lists */
	if (!cfg->target[0]) {
		struct initiator_discovered found[8];
		r = initiator_discover(cfg, found, ARRAY_SIZE(found), msg, sizeof(msg));
		if (r < 0) {
			log_err("%s", msg);
			return r == -ENOENT || r == -ETIMEDOUT || r == -ECONNREFUSED ||
					       r == -EHOSTUNREACH || r == -ENETUNREACH
				       ? connect_exit_code(r)
				       : login_exit_code(r);
		}
		if (r == 0) {
			log_err("portal %s:%u lists no target", cfg->portal_host, cfg->portal_port);
			return 1;
		}
		snprintf(cfg->target, sizeof(cfg->target), "%s", found[0].name);
		log_info("discovered %d target(s) at %s:%u; using %s", r, cfg->portal_host,
			 cfg->portal_port, cfg->target);
	}
	snprintf(d.target, sizeof(d.target), "%s", cfg->target);

	l = mem_zalloc(sizeof(*l));
	luns = mem_zalloc(sizeof(*luns) * INITIATOR_MAX_LUNS);
	if (!l || !luns) {
		log_err("out of memory");
		goto out;
	}
	initiator_login_random_isid(isid);
	r = login(cfg, isid, &sync, l, d.peer, sizeof(d.peer), &ret);
	if (r)
		goto out;
	ret = EXIT_FAIL;
	const struct text_params *np = &l->neg.params;
	char isid_s[13];
	initiator_login_isid_str(isid, isid_s);
	log_notice("logged in to %s at %s as %s (isid %s tsih %u%s)", cfg->target, d.peer,
		   cfg->initiator_name, isid_s, l->tsih,
		   cfg->auth.enabled ? (cfg->auth.username_in[0] ? ", mutual CHAP" : ", CHAP")
				     : "");
	log_info("negotiated: HeaderDigest=%s DataDigest=%s MaxRecvDataSegmentLength=%u "
		 "MaxXmitDataSegmentLength=%u FirstBurstLength=%u MaxBurstLength=%u "
		 "ImmediateData=%s InitialR2T=%s MaxOutstandingR2T=%u",
		 np->header_digest ? "CRC32C" : "None", np->data_digest ? "CRC32C" : "None",
		 np->max_recv_dsl, np->max_xmit_dsl, np->first_burst, np->max_burst,
		 np->immediate_data ? "Yes" : "No", np->initial_r2t ? "Yes" : "No",
		 np->max_outstanding_r2t);

	int nl = initiator_discover_luns(&sync, cfg, cfg->max_io, luns, INITIATOR_MAX_LUNS, msg,
					 sizeof(msg));
	if (nl < 0) {
		log_err("%s: %s", cfg->target, msg);
		goto out;
	}
	d.luns = luns;
	d.nluns = (size_t)nl;
	for (int i = 0; i < nl; i++) {
		const struct initiator_lun_info *li = &luns[i].info;
		log_info("lun %llu: %s %s, %llu blocks of %u bytes (%llu MiB), wwn %s, "
			 "max transfer %u blocks, unmap %s, wce %d dpofua %d (fua %s)%s",
			 (unsigned long long)li->lun, li->vendor, li->product,
			 (unsigned long long)li->nblocks, li->block_size,
			 (unsigned long long)(li->nblocks * li->block_size >> 20),
			 li->wwn[0] ? li->wwn : "-", li->max_transfer,
			 luns[i].can_unmap ? "yes" : "no", li->wce, li->dpofua,
			 fua_mode(&luns[i]), li->read_only ? ", write protected" : "");
	}

	/* reserves; first the stats files of ballastds killed long ago (they sit in memory) */
	r = netreserve_stats_sweep(NULL, "ballastd", STATS_SWEEP_AGE_S);
	if (r > 0)
		log_info("removed %d stats file(s) of dead ballastd processes from /dev/shm", r);
	struct netreserve_config nc;
	if (netreserve_stats_path(path, sizeof(path), "ballastd") < 0 ||
	    netreserve_stats_create(&stats, path, "ballastd", 1,
				    1 + initiator_export_client_slots(cfg)) < 0) {
		/* not fatal: private counters */
		memset(&stats, 0, sizeof(stats));
	}
	ring_config(cfg, &nc, stats.hdr ? &stats : NULL);
	r = netreserve_ring_new(&nc, &ring);
	if (r) {
		log_err("cannot set up io_uring: %s", strerror(-r));
		goto out;
	}
	d.ring = ring;
	struct initiator_session_config sc = {
		.cfg = cfg,
		.luns = luns,
		.nluns = (size_t)nl,
		.slots = session_slots(cfg),
		.max_io = cfg->max_io,
		.stats = stats.hdr ? &stats : NULL,
	};
	r = initiator_session_new(&sc, ring, &sess);
	if (r) {
		log_err("cannot reserve the session (%u slots of %u bytes): %s", sc.slots,
			sc.max_io, strerror(-r));
		goto out;
	}
	d.sess = sess;
	struct initiator_export_config ec = {
		.cfg = cfg,
		.sess = sess,
		.luns = luns,
		.nluns = (size_t)nl,
		.target = cfg->target,
		.ring = ring,
	};
	/* NBD: explicit --nbd exports, or the default unix sockets unless only ublk is asked for */
	if (cfg->nnbd || !cfg->nublk) {
		r = initiator_export_new(&ec, &exp, msg, sizeof(msg));
		if (r) {
			log_err("%s", msg);
			goto out;
		}
		d.exp = exp;
	}
	if (cfg->nublk) {
		struct initiator_ublk_exports_config uc = {
			.cfg = cfg,
			.sess = sess,
			.luns = luns,
			.nluns = (size_t)nl,
			.slots = sc.slots,
			.ring = ring,
		};
		r = initiator_ublk_exports_new(&uc, &ux, msg, sizeof(msg));
		if (r) {
			log_err("%s", msg);
			goto out;
		}
		d.ux = ux;
		if (!initiator_ublk_exports_count(ux)) {
			if (!exp) {
				log_err("no ublk device could be made and no NBD export is "
					"configured: exiting");
				goto out;
			}
			log_err("no ublk device could be made: serving the NBD exports only");
		}
	}
	if (cfg->control[0]) {
		r = initiator_control_new(cfg->control, ring, INITIATOR_KIND_CONTROL, control_answer,
					  &d, &ctl, msg, sizeof(msg));
		if (r) {
			log_err("%s", msg);
			goto out;
		}
	}

	/* the reclaim watchdog's thread must exist before this thread becomes an IO flusher
	 * (threads inherit the flag), so that its page fault may invoke the OOM killer */
	if (cfg->watchdog_ms) {
		struct netreserve_watchdog_config wc = {
			.heartbeat = &netreserve_ring_stats(ring)->loops,
			.stall_ms = cfg->watchdog_ms,
		};
		r = netreserve_watchdog_start(&wc, &d.wd);
		if (r) {
			log_err("cannot start the reclaim watchdog: %s", strerror(-r));
			goto out;
		}
	}

	/* protections: everything is mapped now */
	struct netreserve_footprint fp;
	netreserve_footprint(&nc, &fp);
	struct netreserve_protect_config pc = {
		.memlock_bytes = fp.locked + fp.registered + fp.slack,
		.want = NETRESERVE_PROT_ALL & ~NETRESERVE_PROT_BIT(NETRESERVE_PROT_NICE),
		.require = cfg->require_prot,
		.oom_score_adj = cfg->oom_score_adj,
	};
	if (!cfg->mlock)
		pc.want &= ~NETRESERVE_PROT_BIT(NETRESERVE_PROT_MLOCKALL);
	r = netreserve_protect_process(&pc, &d.prot);
	log_protections(&d.prot);
	if (r) {
		log_err("a required protection was refused: %s", strerror(-r));
		goto out;
	}

	r = initiator_session_start(sess, &sync, np, l->tsih, isid);
	if (r) {
		log_err("cannot start the datapath: %s", strerror(-r));
		goto out;
	}
	sync.fd = -1; /* the ring owns it now */
	r = exp ? initiator_export_start(exp) : 0;
	if (r) {
		log_err("cannot arm the NBD listeners: %s", strerror(-r));
		goto out;
	}
	mem_free(l);
	l = NULL;
	if (ux && initiator_ublk_exports_count(ux)) {
		/* START_DEV on helper threads; the kernel reads the partition table through the
		 * queue, which this thread serves meanwhile */
		r = initiator_ublk_exports_start(ux);
		if (r) {
			log_err("cannot arm the ublk queues: %s", strerror(-r));
			goto stop;
		}
		while (initiator_ublk_exports_busy(ux) && !initiator_session_dead(sess))
			serve(&d, 200);
		if (initiator_ublk_exports_settle(ux) == 0 && !exp) {
			log_err("no ublk device started and no NBD export is configured: exiting");
			goto stop;
		}
	}

	netreserve_ready(stats.hdr ? &stats : NULL);
	netreserve_watchdog_arm(d.wd, true);
	if (cfg->ready_fd >= 0) {
		if (exp)
			initiator_export_ready_lines(exp, cfg->ready_fd);
		initiator_ublk_exports_ready_lines(ux, cfg->ready_fd);
		close(cfg->ready_fd);
		cfg->ready_fd = -1;
	}
	log_notice("ready: %zu lun(s) exported, %u task slots of %u KiB", d.nluns, sc.slots,
		   sc.max_io >> 10);

	ret = 0;
	swap_check(exp, ux);
	int64_t next_swap_check = now_ms() + SWAP_CHECK_MS;
	uint64_t pokes = 0;
	while (!stop_requested) {
		r = netreserve_ring_wait(ring, 200);
		if (r < 0) {
			log_err("io_uring: %s", strerror(-r));
			ret = 1;
			break;
		}
		/* timers (pings, command timeouts, relogin, replacement_timeout) are deadlines
		 * checked here, at least every 200 ms */
		initiator_session_tick(sess);
		initiator_session_run(sess);
		if (exp)
			initiator_export_run(exp);
		initiator_ublk_exports_run(ux);
		if (d.wd && netreserve_watchdog_pokes(d.wd) != pokes) {
			pokes = netreserve_watchdog_pokes(d.wd);
			log_warn("the datapath was stuck in the kernel (longest stall %llu ms): the reclaim "
				 "watchdog faulted in a page so that the kernel could reclaim or "
				 "OOM-kill (%llu pokes so far)",
				 (unsigned long long)netreserve_watchdog_max_stall_ms(d.wd),
				 (unsigned long long)pokes);
		}
		if (now_ms() >= next_swap_check) {
			swap_check(exp, ux);
			next_swap_check = now_ms() + SWAP_CHECK_MS;
		}
		if (initiator_session_dead(sess)) {
			/* node.session.reopen_max relogins failed: what was held has failed */
			initiator_session_run(sess);
			netreserve_ring_wait(ring, 0);
			log_err("session lost: exiting");
			ret = 1;
			break;
		}
	}
stop:
	netreserve_watchdog_arm(d.wd, false);
	netreserve_unready(stats.hdr ? &stats : NULL);
	if (stop_requested)
		log_notice("shutting down");
	if (ux) {
		/* STOP_DEV flushes dirty pages through the queues: keep serving them (a dead
		 * session fails what is left at once) */
		if (initiator_ublk_exports_stop(ux) == 0)
			while (!initiator_ublk_exports_stopped(ux))
				serve(&d, 100);
	}
	initiator_session_shutdown(sess);
	initiator_session_run(sess);
	if (exp)
		initiator_export_stop(exp);
	/* let outstanding commands finish, then log out */
	int64_t deadline = now_ms() + (int64_t)cfg->logout_timeout * 1000;
	while (initiator_session_up(sess) && initiator_session_busy(sess) && now_ms() < deadline)
		serve(&d, 100);
	if (initiator_session_up(sess) && initiator_session_logout(sess) == 0) {
		while (!initiator_session_logged_out(sess) && now_ms() < deadline)
			netreserve_ring_wait(ring, 100);
		if (initiator_session_logged_out(sess))
			log_info("logged out of %s", cfg->target);
	}
out:
	netreserve_watchdog_stop(d.wd);
	/* DEL_DEV after the logout (the queues are done; the ring no longer holds their tags) */
	initiator_ublk_exports_free(ux);
	initiator_control_free(ctl);
	netreserve_ring_free(ring);
	initiator_export_free(exp);
	initiator_session_free(sess);
	netreserve_stats_destroy(&stats);
	if (sync.fd >= 0)
		close(sync.fd);
	mem_free(l);
	mem_free(luns);
	if (cfg->ready_fd >= 0)
		close(cfg->ready_fd);
	return ret;
}

int
main(int argc, char **argv)
{
	struct flags fl;
	struct initiator_config cfg;
	enum log_level lvl;

	log_set_ident(INITIATOR_IDENT);
	if (argc >= 2 && !strcmp(argv[1], "ctl")) {
		if (argc != 4) {
			usage(stderr);
			return 2;
		}
		return initiator_control_request(argv[2], argv[3], stdout) ? 1 : 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "discover"))
		return run_discover(argc, argv);
	if (parse_flags(argc, argv, &fl) || build_config(&fl, &cfg))
		return 2;
	if (cfg.print_footprint)
		return print_footprint(&cfg);
	char msg[256];
	if (initiator_config_check(&cfg, msg, sizeof(msg))) {
		fprintf(stderr, "ballastd: %s\n", msg);
		return 2;
	}
	for (size_t i = 0; i < cfg.nnbd; i++) {
		if (cfg.nbd[i].kind != INITIATOR_NBD_KERNEL)
			continue;
		/* fail before logging in: the kernel part cannot work without the driver */
		int r = initiator_nbd_kernel_available();
		if (r == -ENOENT) {
			fprintf(stderr,
				"ballastd: --nbd %s: the running kernel has no nbd driver (generic "
				"netlink family \"nbd\" absent; load it with modprobe nbd)\n",
				cfg.nbd[i].spec);
			return 1;
		}
		if (r) {
			fprintf(stderr, "ballastd: --nbd %s: cannot query the kernel nbd driver: %s\n",
				cfg.nbd[i].spec, strerror(-r));
			return 1;
		}
	}
	if (log_parse_level(cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	if (cfg.log_debug[0] && log_set_categories(cfg.log_debug)) {
		fprintf(stderr, "ballastd: bad debug categories '%s'\n", cfg.log_debug);
		return 2;
	}
	if (cfg.nublk) {
		/* fail before logging in when ublk is all we were asked for and cannot work */
		char why[192];
		if (initiator_ublk_available(why, sizeof(why)) < 0) {
			if (!cfg.nnbd) {
				fprintf(stderr, "ballastd: --ublk: %s\n", why);
				return 1;
			}
			/* with NBD exports too: logged per device at startup, NBD goes on */
		}
	}
	if (!cfg.foreground)
		log_notice("running in the foreground (use systemd to supervise ballastd)");

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return run_daemon(&cfg);
}
