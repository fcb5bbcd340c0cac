/*
 * ballastadm: the iscsiadm-style administration tool of the Ballast initiator. The command
 * line follows iscsiadm(8) (modes, options, output lines and exit codes), so an administrator's
 * habits and scripts carry over: discovery creates node records, login starts a ballastd for a
 * record, logout stops it cleanly, session mode lists the running daemons.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/compiler.h"
#include "initiator/adm.h"
#include "initiator/initiator.h"

#ifndef SBINDIR
#define SBINDIR "/usr/sbin"
#endif

static void
usage(FILE *f)
{
	fputs("Usage: ballastadm -m discovery -t sendtargets|st -p HOST[:PORT] [-I default]\n"
	      "                  [-o new|delete|nonpersistent] [-l]\n"
	      "       ballastadm -m node [-T IQN] [-p HOST[:PORT][,TPGT]] [-S]\n"
	      "                  [-o new|delete|show|update -n KEY -v VALUE]\n"
	      "       ballastadm -m node -T IQN -p HOST[:PORT] -l|--login | -u|--logout\n"
	      "       ballastadm -m node -L|--loginall=all|manual|automatic|onboot\n"
	      "       ballastadm -m node -U|--logoutall=all|manual|automatic|onboot\n"
	      "       ballastadm -m session [-r SID] [-P 0..3] [-u]\n"
	      "Common options:\n"
	      "  --node-dir DIR   node records (BALLAST_NODE_DIR, default " SYSCONFDIR
	      "/ballast/nodes)\n"
	      "  --conf-dir DIR   ballastd.conf and initiatorname.iscsi (BALLAST_CONF_DIR, default "
	      SYSCONFDIR "/ballast)\n"
	      "  --run-dir DIR    control sockets and session files (BALLAST_RUN_DIR, default "
	      INITIATOR_SOCKET_DIR ")\n"
	      "  --ballastd PATH  the daemon to start (BALLASTD)\n"
	      "  --systemd        start ballastd as a transient systemd unit (systemd-run)\n"
	      "  --timeout SEC    how long a login may take to become ready\n"
	      "  -S, --show       show CHAP secrets\n"
	      "  -h, --help       this text; -V, --version\n"
	      "See ballastadm(8).\n",
	      f);
}

enum {
	OPT_NODE_DIR = 256,
	OPT_CONF_DIR,
	OPT_RUN_DIR,
	OPT_BALLASTD,
	OPT_SYSTEMD,
	OPT_TIMEOUT,
};

static const struct option long_opts[] = {
	{ "mode", required_argument, NULL, 'm' },
	{ "type", required_argument, NULL, 't' },
	{ "portal", required_argument, NULL, 'p' },
	{ "targetname", required_argument, NULL, 'T' },
	{ "interface", required_argument, NULL, 'I' },
	{ "op", required_argument, NULL, 'o' },
	{ "name", required_argument, NULL, 'n' },
	{ "value", required_argument, NULL, 'v' },
	{ "login", no_argument, NULL, 'l' },
	{ "logout", no_argument, NULL, 'u' },
	{ "loginall", required_argument, NULL, 'L' },
	{ "logoutall", required_argument, NULL, 'U' },
	{ "print", required_argument, NULL, 'P' },
	{ "sid", required_argument, NULL, 'r' },
	{ "show", no_argument, NULL, 'S' },
	{ "discover", no_argument, NULL, 'D' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "node-dir", required_argument, NULL, OPT_NODE_DIR },
	{ "conf-dir", required_argument, NULL, OPT_CONF_DIR },
	{ "run-dir", required_argument, NULL, OPT_RUN_DIR },
	{ "ballastd", required_argument, NULL, OPT_BALLASTD },
	{ "systemd", no_argument, NULL, OPT_SYSTEMD },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

static int
set_path(char *dst, const char *src, const char *what)
{
	if (!src[0] || strlen(src) >= PATH_MAX - 64) {
		fprintf(stderr, ADM_NAME ": %s: bad or too long path '%s'\n", what, src);
		return -EINVAL;
	}
	snprintf(dst, PATH_MAX, "%s", src);
	/* no trailing slash: names are joined with one */
	size_t l = strlen(dst);
	while (l > 1 && dst[l - 1] == '/')
		dst[--l] = 0;
	return 0;
}

/* The ballastd next to us (build tree, or the same sbin), else the configured sbindir's. */
static void
default_ballastd(char *dst)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 16);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			snprintf(slash + 1, sizeof(self) - (size_t)(slash + 1 - self), "ballastd");
			if (access(self, X_OK) == 0) {
				snprintf(dst, PATH_MAX, "%s", self);
				return;
			}
		}
	}
	snprintf(dst, PATH_MAX, "%s/ballastd", SBINDIR);
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct adm_ctx ctx = { .print_level = -1 };
	struct adm_filter f = { .port = -1, .tpgt = -1 };
	const char *mode = NULL, *type = NULL, *portal = NULL, *op = NULL, *key = NULL,
		   *value = NULL, *loginall = NULL, *logoutall = NULL;
	bool login = false, logout = false;
	long sid = -1, v;
	int c;

	snprintf(ctx.node_dir, sizeof(ctx.node_dir), "%s", SYSCONFDIR "/ballast/nodes");
	snprintf(ctx.conf_dir, sizeof(ctx.conf_dir), "%s", SYSCONFDIR "/ballast");
	snprintf(ctx.run_dir, sizeof(ctx.run_dir), "%s", INITIATOR_SOCKET_DIR);
	default_ballastd(ctx.ballastd);
	const char *env;
	if ((env = getenv("BALLAST_NODE_DIR")) && env[0] &&
	    set_path(ctx.node_dir, env, "BALLAST_NODE_DIR"))
		return ADM_ERR_INVAL;
	if ((env = getenv("BALLAST_CONF_DIR")) && env[0] &&
	    set_path(ctx.conf_dir, env, "BALLAST_CONF_DIR"))
		return ADM_ERR_INVAL;
	if ((env = getenv("BALLAST_RUN_DIR")) && env[0] &&
	    set_path(ctx.run_dir, env, "BALLAST_RUN_DIR"))
		return ADM_ERR_INVAL;
	if ((env = getenv("BALLASTD")) && env[0] && set_path(ctx.ballastd, env, "BALLASTD"))
		return ADM_ERR_INVAL;

	while ((c = getopt_long(argc, argv, "m:t:p:T:I:o:n:v:luL:U:P:r:SDhV", long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'm':
			mode = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'p':
			portal = optarg;
			break;
		case 'T':
			f.iqn = optarg;
			break;
		case 'I':
			ctx.iface = optarg;
			break;
		case 'o':
			op = optarg;
			break;
		case 'n':
			key = optarg;
			break;
		case 'v':
			value = optarg;
			break;
		case 'l':
			login = true;
			break;
		case 'u':
			logout = true;
			break;
		case 'L':
			loginall = optarg;
			break;
		case 'U':
			logoutall = optarg;
			break;
		case 'P':
			if (parse_long(optarg, 0, 3, &v)) {
				fprintf(stderr, ADM_NAME ": -P: print level 0..3 expected\n");
				return ADM_ERR_INVAL;
			}
			ctx.print_level = (int)v;
			break;
		case 'r':
			if (parse_long(optarg, 0, LONG_MAX, &sid)) {
				fprintf(stderr, ADM_NAME ": -r: session id expected, got '%s'\n",
					optarg);
				return ADM_ERR_INVAL;
			}
			break;
		case 'S':
			ctx.show_secrets = true;
			break;
		case 'D':
			break;
		case 'h':
			usage(stdout);
			return ADM_OK;
		case 'V':
			printf(ADM_NAME " version " PACKAGE_VERSION "\n");
			return ADM_OK;
		case OPT_NODE_DIR:
			if (set_path(ctx.node_dir, optarg, "--node-dir"))
				return ADM_ERR_INVAL;
			break;
		case OPT_CONF_DIR:
			if (set_path(ctx.conf_dir, optarg, "--conf-dir"))
				return ADM_ERR_INVAL;
			break;
		case OPT_RUN_DIR:
			if (set_path(ctx.run_dir, optarg, "--run-dir"))
				return ADM_ERR_INVAL;
			break;
		case OPT_BALLASTD:
			if (set_path(ctx.ballastd, optarg, "--ballastd"))
				return ADM_ERR_INVAL;
			break;
		case OPT_SYSTEMD:
			ctx.systemd = true;
			break;
		case OPT_TIMEOUT:
			if (parse_long(optarg, 1, 86400, &v)) {
				fprintf(stderr, ADM_NAME ": --timeout: seconds expected\n");
				return ADM_ERR_INVAL;
			}
			ctx.timeout = (int)v;
			break;
		default:
			usage(stderr);
			return ADM_ERR_INVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, ADM_NAME ": unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return ADM_ERR_INVAL;
	}
	if (!mode) {
		fprintf(stderr, ADM_NAME ": no mode specified (-m discovery, node or session)\n");
		usage(stderr);
		return ADM_ERR_INVAL;
	}
	if (ctx.iface && strcmp(ctx.iface, "default")) {
		fprintf(stderr, ADM_NAME ": iface '%s' not found (only the 'default' iface, tcp, "
			"is supported)\n", ctx.iface);
		return ADM_ERR_NO_OBJS_FOUND;
	}
	if (portal && adm_parse_portal(portal, &f)) {
		fprintf(stderr, ADM_NAME ": bad portal '%s' (HOST[:PORT][,TPGT] expected)\n",
			portal);
		return ADM_ERR_INVAL;
	}
	if (login && logout) {
		fprintf(stderr, ADM_NAME ": --login and --logout together\n");
		return ADM_ERR_INVAL;
	}

	if (!strcmp(mode, "discovery") || !strcmp(mode, "discoverydb")) {
		if (!type) {
			fprintf(stderr, ADM_NAME ": discovery needs -t sendtargets\n");
			return ADM_ERR_INVAL;
		}
		if (strcmp(type, "sendtargets") && strcmp(type, "st")) {
			fprintf(stderr, ADM_NAME ": discovery type '%s' is not supported (only "
				"sendtargets)\n", type);
			return ADM_ERR_UNKNOWN_DISCOVERY_TYPE;
		}
		if (!portal) {
			fprintf(stderr, ADM_NAME ": discovery needs -p HOST[:PORT]\n");
			return ADM_ERR_INVAL;
		}
		return adm_discovery(&ctx, portal, op, login);
	}
	if (!strcmp(mode, "node")) {
		if (loginall || logoutall) {
			if (loginall && logoutall) {
				fprintf(stderr, ADM_NAME ": --loginall and --logoutall together\n");
				return ADM_ERR_INVAL;
			}
			return adm_node_login_all(&ctx, loginall ? loginall : logoutall,
						  loginall != NULL);
		}
		if (login || logout)
			return adm_node_login(&ctx, &f, login);
		if (op)
			return adm_node_op(&ctx, &f, op, key, value);
		if (f.iqn || f.host[0])
			return adm_node_op(&ctx, &f, "show", NULL, NULL);
		return adm_node_list(&ctx, &f);
	}
	if (!strcmp(mode, "session")) {
		if (login || op) {
			fprintf(stderr, ADM_NAME ": session mode: only -r, -P and -u apply\n");
			return ADM_ERR_OP_NOT_SUPP;
		}
		return adm_session_mode(&ctx, sid, logout);
	}
	fprintf(stderr, ADM_NAME ": unknown mode '%s' (discovery, node or session)\n", mode);
	return ADM_ERR_INVAL;
}
