/*
 * ballast-targetd: the iSCSI target daemon. Command line, configuration, startup (portals,
 * control socket, readiness), signals (SIGHUP reload, SIGTERM/SIGINT shutdown with an Async
 * logout request) and the `ctl` client.
 */
#include <config.h>

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/mem.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/control.h"
#include "target/ffp.h"
#include "target/portal.h"
#include "target/session.h"
#include "target/target.h"
#include "target/xport.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/ballast/targets.conf"
#define SHUTDOWN_GRACE 3.0 /* seconds initiators get to log out */

struct target_daemon *target_daemon;

static struct {
	int argc;
	char **argv;
	const char *pidfile;
	const char *control;
	int ready_fd;
	bool foreground;
	bool print_footprint;
	bool no_uring;
	const char *debug;
} opt = { .ready_fd = -1 };

static ev_signal sig_hup, sig_term, sig_int;
static ev_timer shutdown_timer;
static ev_tstamp shutdown_deadline;

enum {
	OPT_PORTAL = 256,
	OPT_TARGET,
	OPT_LUN,
	OPT_BLOCK_SIZE,
	OPT_READ_ONLY_LUN,
	OPT_CHAP,
	OPT_MUTUAL_CHAP,
	OPT_ALLOW,
	OPT_READY_FD,
	OPT_CONTROL,
	OPT_CONFIG,
	OPT_PIDFILE,
	OPT_PRINT_FOOTPRINT,
	OPT_QUEUE_DEPTH,
	OPT_MAX_XFER,
	OPT_NOP_INTERVAL,
	OPT_LOGIN_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_DISCOVERY_CHAP,
	OPT_DIGEST,
	OPT_HEADER_DIGEST,
	OPT_DATA_DIGEST,
	OPT_LOG_LEVEL,
	OPT_DEBUG,
	OPT_NO_URING,
	OPT_MAX_SESSIONS,
	OPT_CHAP_ALGS,
};

static const struct option long_opts[] = {
	{ "foreground", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "portal", required_argument, NULL, OPT_PORTAL },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "lun", required_argument, NULL, OPT_LUN },
	{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
	{ "read-only-lun", required_argument, NULL, OPT_READ_ONLY_LUN },
	{ "chap", required_argument, NULL, OPT_CHAP },
	{ "mutual-chap", required_argument, NULL, OPT_MUTUAL_CHAP },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "ready-fd", required_argument, NULL, OPT_READY_FD },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "print-footprint", no_argument, NULL, OPT_PRINT_FOOTPRINT },
	{ "queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH },
	{ "max-xfer", required_argument, NULL, OPT_MAX_XFER },
	{ "nop-interval", required_argument, NULL, OPT_NOP_INTERVAL },
	{ "login-timeout", required_argument, NULL, OPT_LOGIN_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "discovery-chap", required_argument, NULL, OPT_DISCOVERY_CHAP },
	{ "digest", required_argument, NULL, OPT_DIGEST },
	{ "header-digest", required_argument, NULL, OPT_HEADER_DIGEST },
	{ "data-digest", required_argument, NULL, OPT_DATA_DIGEST },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "debug", required_argument, NULL, OPT_DEBUG },
	{ "no-uring", no_argument, NULL, OPT_NO_URING },
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
	{ "chap-algorithms", required_argument, NULL, OPT_CHAP_ALGS },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fputs("usage: ballast-targetd [-f] [--config FILE] [--portal HOST:PORT]...\n"
	      "         [--target IQN --lun N:mem:SIZE|N:file:PATH|N:null:SIZE ...\n"
	      "          [--read-only-lun N] [--chap USER:SECRET] [--mutual-chap USER:SECRET]\n"
	      "          [--allow INITIATOR-IQN]]...\n"
	      "         [--block-size 512|4096] [--queue-depth N] [--max-xfer SIZE]\n"
	      "         [--nop-interval S] [--login-timeout S] [--idle-timeout S]\n"
	      "         [--discovery-chap USER:SECRET] [--chap-algorithms LIST]\n"
	      "         [--digest|--header-digest|--data-digest none|crc32c|required]\n"
	      "         [--max-sessions N]\n"
	      "         [--ready-fd N] [--control SOCKET] [--pidfile FILE] [--print-footprint]\n"
	      "         [--log-level LEVEL] [--debug CATEGORIES] [--no-uring]\n"
	      "       ballast-targetd ctl SOCKET COMMAND [ARGS]\n"
	      "See ballast-targetd(8) and targets.conf(5).\n",
	      f);
}

/*
 * Build a configuration from the command line (and the file it names, or the default file
 * when no target is given on the command line). Used at startup and on reload.
 */
static int
build_config(int argc, char **argv, struct target_config **out, const char **config_path,
	     char *err, size_t err_size)
{
	struct target_config *cfg = target_config_new();
	struct target_cli cli = { .cfg = cfg };
	const char *path = NULL;
	bool have_target = false;
	int c, r = 0;
	long long v;

	if (!cfg) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	/* First pass: the config file, so that the command line can add to it. */
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fhV", long_opts, NULL)) != -1) {
		if (c == OPT_CONFIG)
			path = optarg;
		if (c == OPT_TARGET)
			have_target = true;
	}
	if (!path && !have_target)
		path = DEFAULT_CONFIG;
	if (path) {
		r = target_config_load(cfg, path, err, err_size);
		if (r < 0)
			goto fail;
	}
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "+fhV", long_opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case OPT_PORTAL:
			r = target_cli_portal(&cli, optarg, err, err_size);
			break;
		case OPT_TARGET:
			r = target_cli_target(&cli, optarg, err, err_size);
			break;
		case OPT_LUN:
			r = target_cli_lun(&cli, optarg, err, err_size);
			break;
		case OPT_READ_ONLY_LUN:
			r = target_cli_read_only(&cli, optarg, err, err_size);
			break;
		case OPT_CHAP:
		case OPT_MUTUAL_CHAP:
			r = target_cli_chap(&cli, optarg, c == OPT_MUTUAL_CHAP, err, err_size);
			break;
		case OPT_ALLOW:
			r = target_cli_allow(&cli, optarg, err, err_size);
			break;
		case OPT_BLOCK_SIZE:
		case OPT_QUEUE_DEPTH:
		case OPT_MAX_XFER:
		case OPT_NOP_INTERVAL:
		case OPT_LOGIN_TIMEOUT:
		case OPT_IDLE_TIMEOUT:
		case OPT_DISCOVERY_CHAP:
		case OPT_DIGEST:
		case OPT_HEADER_DIGEST:
		case OPT_DATA_DIGEST:
		case OPT_MAX_SESSIONS:
		case OPT_CHAP_ALGS: {
			/* These map onto targets.conf keys: reuse that parser. */
			static const char *const keys[] = {
				[OPT_BLOCK_SIZE - OPT_PORTAL] = "block-size",
				[OPT_QUEUE_DEPTH - OPT_PORTAL] = "queue-depth",
				[OPT_MAX_XFER - OPT_PORTAL] = "max-xfer",
				[OPT_NOP_INTERVAL - OPT_PORTAL] = "nop-interval",
				[OPT_LOGIN_TIMEOUT - OPT_PORTAL] = "login-timeout",
				[OPT_IDLE_TIMEOUT - OPT_PORTAL] = "idle-timeout",
				[OPT_DISCOVERY_CHAP - OPT_PORTAL] = "incomingdiscoveryuser",
				[OPT_DIGEST - OPT_PORTAL] = "HeaderDigest",
				[OPT_HEADER_DIGEST - OPT_PORTAL] = "HeaderDigest",
				[OPT_DATA_DIGEST - OPT_PORTAL] = "DataDigest",
				[OPT_MAX_SESSIONS - OPT_PORTAL] = "max-sessions",
				[OPT_CHAP_ALGS - OPT_PORTAL] = "chap-algorithms",
			};
			char line[1100];
			int n;

			if (c == OPT_DISCOVERY_CHAP && strchr(optarg, ':'))
				n = snprintf(line, sizeof(line), "%s %.*s %s\n",
					     keys[c - OPT_PORTAL],
					     (int)(strchr(optarg, ':') - optarg), optarg,
					     strchr(optarg, ':') + 1);
			else if (c == OPT_DIGEST)
				n = snprintf(line, sizeof(line),
					     "HeaderDigest %s\nDataDigest %s\n", optarg, optarg);
			else
				n = snprintf(line, sizeof(line), "%s %s\n", keys[c - OPT_PORTAL],
					     optarg);
			r = target_config_load_buffer(cfg, line, (size_t)n, "command line", err,
						      err_size);
			break;
		}
		case OPT_READY_FD:
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || *end || v < 0 || v > 65535) {
				snprintf(err, err_size, "--ready-fd: bad fd '%s'", optarg);
				r = -EINVAL;
			}
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, (enum log_level *)&cfg->log_level) < 0) {
				snprintf(err, err_size, "--log-level: unknown level '%s'", optarg);
				r = -EINVAL;
			}
			break;
		case 'f':
		case 'h':
		case 'V':
		case OPT_CONTROL:
		case OPT_CONFIG:
		case OPT_PIDFILE:
		case OPT_PRINT_FOOTPRINT:
		case OPT_DEBUG:
		case OPT_NO_URING:
			break;
		default:
			snprintf(err, err_size, "bad option (see --help)");
			r = -EINVAL;
			break;
		}
		if (r < 0)
			goto fail;
	}
	if (optind < argc) {
		snprintf(err, err_size, "unexpected argument '%s'", argv[optind]);
		r = -EINVAL;
		goto fail;
	}
	r = target_config_finish(cfg, err, err_size);
	if (r < 0)
		goto fail;
	*out = cfg;
	*config_path = path;
	return 0;
fail:
	target_config_free(cfg);
	return r;
}

int
target_reload(struct target_daemon *d, char *msg, size_t msg_size)
{
	struct target_config *cfg;
	const char *path;
	int r;

	r = build_config(opt.argc, opt.argv, &cfg, &path, msg, msg_size);
	if (r < 0) {
		log_err("reload failed, keeping the running configuration: %s", msg);
		return r;
	}
	r = target_nodes_reload(d, cfg, msg, msg_size);
	if (r == 0)
		r = target_portals_reload(d, cfg, msg, msg_size);
	if (r < 0) {
		log_err("reload failed: %s", msg);
		target_config_free(cfg);
		return r;
	}
	/* Operational limits apply to new logins; sessions keep what they negotiated. */
	target_config_free(d->cfg);
	d->cfg = cfg;
	log_set_level((enum log_level)cfg->log_level);
	log_notice("configuration reloaded (%u targets, %u portals)", cfg->ntargets,
		   cfg->nportals);
	snprintf(msg, msg_size, "reloaded");
	return 0;
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	char msg[512];

	target_cp_enter();
	target_reload(target_daemon, msg, sizeof(msg));
	target_cp_leave();
}

static void
shutdown_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct target_daemon *d = target_daemon;

	if (!d->conns) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	if (ev_now(loop) >= shutdown_deadline) {
		for (struct target_conn *c = d->conns; c; c = c->next)
			target_conn_close(c, -ESHUTDOWN, "shutting down");
		shutdown_deadline += 1e9;
	}
}

static void
term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct target_daemon *d = target_daemon;

	if (d->stopping) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	d->stopping = true;
	target_cp_enter(); /* shutdown is control plane from here on */
	log_notice("shutting down (signal %d)", w->signum);
	target_portals_free(d);
	for (struct target_conn *c = d->conns; c; c = c->next) {
		if (c->state == TARGET_CONN_FFP && c->sess && !c->sess->discovery)
			target_ffp_async_logout(c, (uint16_t)SHUTDOWN_GRACE);
		else
			target_conn_close(c, -ESHUTDOWN, "shutting down");
	}
	shutdown_deadline = ev_now(loop) + SHUTDOWN_GRACE;
	ev_timer_init(&shutdown_timer, shutdown_tick, 0.05, 0.05);
	ev_timer_start(loop, &shutdown_timer);
}

static void
sd_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path)));
	close(fd);
}

static void
print_footprint(const struct target_config *cfg)
{
	uint64_t per_sess = (uint64_t)(cfg->queue_depth + 4) * (cfg->max_xfer + 65536);
	uint64_t per_conn = (uint64_t)TARGET_TX_SLOTS * sizeof(struct target_txpdu) +
			    cfg->params.max_recv_dsl + 2ull * cfg->max_text_len + 65536 +
			    sizeof(struct target_conn);

	printf("queue depth %u, max transfer %u bytes, max sessions %u\n", cfg->queue_depth,
	       cfg->max_xfer, cfg->max_sessions);
	printf("per session: %llu bytes (task data and scratch buffers, locked)\n",
	       (unsigned long long)per_sess);
	printf("per connection: %llu bytes (tx slots, rx and text buffers)\n",
	       (unsigned long long)per_conn);
	printf("at max sessions: %llu bytes\n",
	       (unsigned long long)(per_sess + per_conn) * cfg->max_sessions);
}

static void
warm_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	/* Leave the eventfd readable: every iteration must see all of them at once. */
}

static void
warm_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/*
 * libev grows its pending-event, timer-heap and epoll-event arrays lazily, with realloc, the
 * first time that many events are pending at once. Make that happen now, before steady state,
 * for as many events as the configured sessions can produce (a few watchers each).
 */
static void
warm_up_loop(struct ev_loop *loop, unsigned n)
{
	ev_io *ios = mem_zalloc(sizeof(*ios) * n);
	ev_timer *tms = mem_zalloc(sizeof(*tms) * n);
	unsigned nio = 0;

	if (!ios || !tms)
		goto out;
	for (unsigned i = 0; i < n; i++) {
		int fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);

		ev_timer_init(&tms[i], warm_timer_cb, 0., 0.);
		ev_timer_start(loop, &tms[i]);
		if (fd < 0)
			continue;
		ev_io_init(&ios[nio], warm_cb, fd, EV_READ);
		ev_io_start(loop, &ios[nio]);
		nio++;
	}
	/* The epoll event array doubles per iteration that fills it. */
	for (unsigned i = 0; i < 16; i++)
		ev_run(loop, EVRUN_NOWAIT);
	for (unsigned i = 0; i < n; i++)
		ev_timer_stop(loop, &tms[i]);
	for (unsigned i = 0; i < nio; i++) {
		ev_io_stop(loop, &ios[i]);
		close(ios[i].fd);
	}
out:
	mem_free(ios);
	mem_free(tms);
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	struct target_daemon d = { 0 };
	char err[1024];
	const char *path = NULL;
	bool uring = false;
	int c, r;

	if (argc >= 2 && !strcmp(argv[1], "ctl")) {
		if (argc < 4) {
			fprintf(stderr, "usage: ballast-targetd ctl SOCKET COMMAND [ARGS]\n");
			return 2;
		}
		return target_control_client(argv[2], argc - 3, argv + 3);
	}
	log_set_ident("ballast-targetd");
	opt.argc = argc;
	opt.argv = argv;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+fhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			opt.foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("ballast-targetd " PACKAGE_VERSION);
			return 0;
		case OPT_READY_FD:
			opt.ready_fd = atoi(optarg);
			break;
		case OPT_CONTROL:
			opt.control = optarg;
			break;
		case OPT_PIDFILE:
			opt.pidfile = optarg;
			break;
		case OPT_PRINT_FOOTPRINT:
			opt.print_footprint = true;
			break;
		case OPT_DEBUG:
			opt.debug = optarg;
			break;
		case OPT_NO_URING:
			opt.no_uring = true;
			break;
		default:
			break;
		}
	}
	r = build_config(argc, argv, &d.cfg, &path, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "ballast-targetd: %s\n", err);
		return 1;
	}
	d.config_path = path;
	log_set_level((enum log_level)d.cfg->log_level);
	if (opt.debug && log_set_categories(opt.debug) < 0) {
		fprintf(stderr, "ballast-targetd: --debug: unknown category in '%s'\n", opt.debug);
		return 1;
	}
	if (opt.print_footprint) {
		print_footprint(d.cfg);
		target_config_free(d.cfg);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!opt.foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "ballast-targetd: daemon: %s\n", strerror(errno));
		return 1;
	}
	target_daemon = &d;
	d.faults.drop_after = -1;
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		log_err("cannot create the event loop");
		return 1;
	}
	/* The ring first: file LUNs get its I/O submitter when they are created. Every task
	 * slot may have one backstore request in flight. */
	r = target_xport_setup(d.loop, d.cfg->max_sessions * 2,
			       d.cfg->max_sessions * (d.cfg->queue_depth + 4), opt.no_uring, &uring);
	if (r < 0)
		log_warn("io_uring transport unavailable (%s): using readv/writev", strerror(-r));
	r = target_nodes_create(&d, d.cfg, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		fprintf(stderr, "ballast-targetd: %s\n", err);
		return 1;
	}
	r = target_portals_open(&d, d.cfg, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		fprintf(stderr, "ballast-targetd: %s\n", err);
		return 1;
	}
	if (opt.control) {
		r = target_control_open(&d, opt.control);
		if (r < 0) {
			log_err("control socket %s: %s", opt.control, strerror(-r));
			return 1;
		}
	}
	if (opt.pidfile && (r = write_pidfile(opt.pidfile)) < 0) {
		log_err("pidfile %s: %s", opt.pidfile, strerror(-r));
		return 1;
	}
	ev_signal_init(&sig_hup, hup_cb, SIGHUP);
	ev_signal_init(&sig_term, term_cb, SIGTERM);
	ev_signal_init(&sig_int, term_cb, SIGINT);
	ev_signal_start(d.loop, &sig_hup);
	ev_signal_start(d.loop, &sig_term);
	ev_signal_start(d.loop, &sig_int);
	log_notice("ready: %u targets, %s transport%s%s", d.cfg->ntargets,
		   uring ? "io_uring" : "readv/writev", path ? ", config " : "", path ? path : "");
	if (opt.ready_fd >= 0) {
		char line[TARGET_HOST_MAX + 16];

		for (struct target_portal *p = d.portals; p; p = p->next) {
			int n = snprintf(line, sizeof(line), "%s\n", p->bound);

			if (write(opt.ready_fd, line, (size_t)n) != n)
				log_warn("--ready-fd %d: %s", opt.ready_fd, strerror(errno));
		}
		close(opt.ready_fd);
	}
	sd_notify_ready();
	warm_up_loop(d.loop, MIN(4096u, d.cfg->max_sessions * 4 + 32));
	target_cp_ready();
	ev_run(d.loop, 0);

	target_portals_free(&d);
	target_control_close(&d);
	/* Let the transport finish closing what is left. */
	for (int i = 0; i < 100 && d.conns; i++) {
		for (struct target_conn *cn = d.conns; cn; cn = cn->next)
			target_conn_close(cn, -ESHUTDOWN, NULL);
		ev_run(d.loop, EVRUN_NOWAIT);
	}
	if (!d.conns && !d.sessions)
		target_nodes_free(&d);
	target_xport_teardown();
	if (opt.pidfile)
		unlink(opt.pidfile);
	target_config_free(d.cfg);
	log_notice("stopped");
	return 0;
}
