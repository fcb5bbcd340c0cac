/*
 * ballastadm: sessions. Logging in starts one ballastd for the node record, detached from the
 * terminal (or as a transient systemd unit), and waits until it reports ready; the daemon is
 * the session. Logging out asks the daemon over its control socket to log out and exit, then
 * waits for the process to be gone. Listing sessions asks each daemon found in the run
 * directory for its status.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/conf.h"
#include "common/mem.h"
#include "initiator/adm.h"
#include "initiator/config.h"
#include "initiator/control.h"

#define STATUS_MAX (64 * 1024)
#define SUN_PATH_MAX 108

/* iscsiadm's wording for its exit codes (what "initiator reported error (N - ...)" says). */
static const char *
exit_str(int e)
{
	switch (e) {
	case ADM_ERR_TRANS:
		return "encountered connection failure";
	case ADM_ERR_LOGIN:
		return "encountered iSCSI login failure";
	case ADM_ERR_INVAL:
		return "invalid parameter";
	case ADM_ERR_TRANS_TIMEOUT:
		return "connection timed out";
	case ADM_ERR_INTERNAL:
		return "internal error";
	case ADM_ERR_LOGOUT:
		return "encountered iSCSI logout failure";
	case ADM_ERR_SESS_EXISTS:
		return "session exists";
	case ADM_ERR_FATAL_LOGIN:
		return "encountered non-retryable iSCSI login failure";
	case ADM_ERR_HOST_NOT_FOUND:
		return "could not lookup host";
	case ADM_ERR_LOGIN_AUTH_FAILED:
		return "iSCSI login failed due to authorization failure";
	default:
		return "unknown error";
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
record_int(const struct adm_record *r, const char *key, int def)
{
	const char *v = adm_record_get(r, key);
	char *end;
	if (!v || !v[0])
		return def;
	long x = strtol(v, &end, 10);
	return *end ? def : (int)x;
}

/* FNV-1a, to shorten names that would not fit a socket path. */
static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

const char *
adm_session_name(const struct adm_ctx *ctx, const char *iqn, const char *host, unsigned port,
		 char *buf, size_t size)
{
	char full[TEXT_NAME_MAX + INITIATOR_HOST_MAX + 16];

	snprintf(full, sizeof(full), "%s,%s,%u", iqn, host, port);
	for (char *p = full; *p; p++)
		if (*p == '/' || !isprint((unsigned char)*p) || *p == ' ')
			*p = '_';
	/* "<run_dir>/<name>.session" must fit a sun_path (108 bytes) with ".ctl" too */
	size_t room = SUN_PATH_MAX - 1 - strlen(ctx->run_dir) - 1 - strlen(".session");
	if (strlen(full) <= room || room < 12) {
		snprintf(buf, size, "%s", full);
		return buf;
	}
	snprintf(buf, size, "%.*s~%08x", (int)(room - 9), full, name_hash(full));
	return buf;
}

static void
session_path(const struct adm_ctx *ctx, const char *name, const char *ext, char *buf,
	     size_t size)
{
	adm_fmt(buf, size, "%s/%s.%s", ctx->run_dir, name, ext);
}

static int
mkdir_p(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Serialise logins and logouts of every ballastadm on this run directory. */
static int
run_lock(const struct adm_ctx *ctx)
{
	char path[PATH_MAX + 32];
	int r = mkdir_p(ctx->run_dir, 0755);
	if (r) {
		fprintf(stderr, ADM_NAME ": %s: %s\n", ctx->run_dir, strerror(-r));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/.ballastadm.lock", ctx->run_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		fprintf(stderr, ADM_NAME ": %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The daemon's pid through its control socket, or -errno (no daemon: -ENOENT/-ECONNREFUSED). */
static long
daemon_pid(const char *ctl)
{
	char buf[64], msg[256];
	int n = initiator_control_query(ctl, "pid", buf, sizeof(buf), 2000, msg, sizeof(msg));
	if (n < 0)
		return n;
	long pid;
	if (sscanf(buf, "pid %ld", &pid) != 1 || pid <= 1)
		return -EPROTO;
	return pid;
}

/* ---- the session table --------------------------------------------------------------- */

struct session {
	char name[256];
	char ctl[PATH_MAX];
	long sid;
	long pid;
	struct adm_record *rec; /* the .session file: record as logged in, or NULL */
};

static int
session_cmp(const void *a, const void *b)
{
	const struct session *x = a, *y = b;
	return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static void
sessions_free(struct session *v, int n)
{
	for (int i = 0; i < n; i++)
		mem_free(v[i].rec);
	mem_free(v);
}

/*
 * The live sessions in the run directory: a control socket that answers. alive_only false
 * also returns the ones whose daemon is gone (pid -1), for cleanup and sid allocation.
 */
static int
sessions_scan(const struct adm_ctx *ctx, bool alive_only, struct session **out)
{
	struct session *v = NULL;
	int n = 0, cap = 0;
	char path[PATH_MAX + 300], msg[CONF_ERR_SIZE];

	*out = NULL;
	DIR *d = opendir(ctx->run_dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		bool is_ctl = l > 4 && !strcmp(e->d_name + l - 4, ".ctl");
		bool is_sess = l > 8 && !strcmp(e->d_name + l - 8, ".session");
		if (!is_ctl && !is_sess)
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(l - (is_ctl ? 4 : 8)), e->d_name);
		/* a session with both files is seen once, from its .ctl */
		if (is_sess) {
			struct stat st;
			session_path(ctx, name, "ctl", path, sizeof(path));
			if (lstat(path, &st) == 0)
				continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct session *nv = mem_zalloc((size_t)cap * sizeof(*nv));
			if (!nv) {
				closedir(d);
				sessions_free(v, n);
				return -ENOMEM;
			}
			if (n)
				memcpy(nv, v, (size_t)n * sizeof(*nv));
			mem_free(v);
			v = nv;
		}
		struct session *s = &v[n];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
		session_path(ctx, name, "ctl", s->ctl, sizeof(s->ctl));
		s->pid = is_ctl ? daemon_pid(s->ctl) : -ENOENT;
		if (s->pid < 0 && alive_only)
			continue;
		session_path(ctx, name, "session", path, sizeof(path));
		s->rec = adm_record_new();
		if (s->rec && adm_record_load(s->rec, path, msg, sizeof(msg))) {
			mem_free(s->rec);
			s->rec = NULL;
		}
		s->sid = s->rec ? record_int(s->rec, "session.sid", 0) : 0;
		if (!s->sid && s->pid > 0)
			s->sid = s->pid; /* a ballastd started by hand: its pid names it */
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), session_cmp);
	*out = v;
	return n;
}

/* The smallest session id no session (live or starting) uses. */
static long
sid_alloc(const struct adm_ctx *ctx)
{
	struct session *v;
	int n = sessions_scan(ctx, false, &v);
	long sid = 1;
	for (bool again = true; again;) {
		again = false;
		for (int i = 0; i < n; i++)
			if (v[i].sid == sid) {
				sid++;
				again = true;
			}
	}
	sessions_free(v, n > 0 ? n : 0);
	return sid;
}

static void
session_files_remove(const struct adm_ctx *ctx, const char *name, bool ctl)
{
	char path[PATH_MAX + 300];
	static const char *const exts[] = { "session", "conf", "log" };
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		session_path(ctx, name, exts[i], path, sizeof(path));
		unlink(path);
	}
	if (ctl) {
		struct stat st;
		session_path(ctx, name, "ctl", path, sizeof(path));
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
	}
}

/* ---- login --------------------------------------------------------------------------- */

struct conf_list {
	FILE *f;
};

static int
copy_entry(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	struct conf_list *cl = opaque;
	(void)msg;
	(void)msg_size;
	if (!strcmp(e->key, "control.socket"))
		return 0;
	fprintf(cl->f, "%s = %s\n", e->key, e->value);
	return 0;
}

/*
 * ballastd's configuration for r: <conf_dir>/ballastd.conf, then the record's keys that
 * ballastd knows (they win), then our control socket. Mode 0600: it holds the CHAP secrets.
 */
static int
write_daemon_conf(const struct adm_ctx *ctx, const struct adm_record *r, const char *path,
		  const char *ctl)
{
	char global[PATH_MAX + 32], err[CONF_ERR_SIZE];

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		fprintf(stderr, ADM_NAME ": %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ADM_ERR_IDBM;
	}
	fprintf(f, "# ballastd configuration written by " ADM_NAME " for %s\n", r->path);
	snprintf(global, sizeof(global), "%s/ballastd.conf", ctx->conf_dir);
	struct conf_list cl = { f };
	if (access(global, F_OK) == 0 &&
	    conf_parse_file(global, copy_entry, &cl, err, sizeof(err))) {
		fprintf(stderr, ADM_NAME ": %s\n", err);
		fclose(f);
		return ADM_ERR_INVAL;
	}
	fprintf(f, "# the node record\n");
	for (size_t i = 0; i < r->n; i++) {
		const char *k = r->kv[i].key;
		if (!strncmp(k, "iface.", 6) || !strncmp(k, "session.", 8) ||
		    !strcmp(k, "node.tpgt") || !strncmp(k, "node.discovery_", 15) ||
		    !strcmp(k, "node.conn[0].startup") || !strcmp(k, "control.socket"))
			continue;
		fprintf(f, "%s = %s\n", k, r->kv[i].value);
	}
	fprintf(f, "control.socket = %s\n", ctl);
	if (fclose(f)) {
		fprintf(stderr, ADM_NAME ": %s: %s\n", path, strerror(errno));
		return ADM_ERR_IDBM;
	}
	return ADM_OK;
}

/* What a failed ballastd said: its error lines, printed, and the exit code they mean. */
static int
report_daemon_errors(const char *text, int status)
{
	int code = 0;
	bool printed = false;
	char line[1024];

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)MIN(l, sizeof(line) - 1), p);
		p = nl ? nl + 1 : NULL;
		/* "ballastd[pid]: err: msg" (log lines) or "ballastd: msg" (usage errors) */
		const char *m = strstr(line, ": err: ");
		if (m)
			m += 7;
		else if (!strncmp(line, "ballastd: ", 10))
			m = line + 10;
		else if (line[0] == '<' && line[1] == '3' && line[2] == '>')
			m = line + 3;
		if (!m)
			continue;
		fprintf(stderr, ADM_NAME ": ballastd: %s\n", m);
		printed = true;
		if (code)
			continue;
		if (strstr(m, "authentication") || strstr(m, "CHAP") || strstr(m, "authorization"))
			code = ADM_ERR_LOGIN_AUTH_FAILED;
		else if (strstr(m, "cannot resolve"))
			code = ADM_ERR_HOST_NOT_FOUND;
		else if (strstr(m, "cannot connect") && strstr(m, "timed out"))
			code = ADM_ERR_TRANS_TIMEOUT;
		else if (strstr(m, "cannot connect"))
			code = ADM_ERR_TRANS;
		else if (strstr(m, "not found") || strstr(m, "removed"))
			code = ADM_ERR_FATAL_LOGIN;
	}
	if (!printed)
		fprintf(stderr,
			ADM_NAME ": ballastd exited without reporting an error (status %d)\n",
			status);
	/* ballastd exits with iscsiadm's codes for failed logins; older ones said it in words */
	if (WIFEXITED(status)) {
		switch (WEXITSTATUS(status)) {
		case ADM_ERR_TRANS:
		case ADM_ERR_LOGIN:
		case ADM_ERR_TRANS_TIMEOUT:
		case ADM_ERR_FATAL_LOGIN:
		case ADM_ERR_HOST_NOT_FOUND:
		case ADM_ERR_LOGIN_AUTH_FAILED:
			return WEXITSTATUS(status);
		case 2:
			if (!code)
				return ADM_ERR_INVAL;
			break;
		}
	}
	return code ? code : ADM_ERR_LOGIN;
}

static char *
read_file(const char *path, size_t max)
{
	char *buf = mem_zalloc(max + 1);
	if (!buf)
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	/* the tail: the errors come last */
	off_t end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)max)
		lseek(fd, end - (off_t)max, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	size_t have = 0;
	ssize_t n;
	while (have < max && (n = read(fd, buf + have, max - have)) > 0)
		have += (size_t)n;
	close(fd);
	return buf;
}

/*
 * Start ballastd detached (own session, stdin /dev/null, output to logpath) and wait for its
 * ready lines on a pipe. Returns ADM_OK with *pid_out, or an exit code (message printed).
 */
static int
spawn_forked(const struct adm_ctx *ctx, char *const argv[], const char *logpath, int timeout_s,
	     long *pid_out)
{
	int pfd[2];
	char ready[1024];
	size_t have = 0;

	if (pipe2(pfd, O_CLOEXEC)) {
		fprintf(stderr, ADM_NAME ": pipe: %s\n", strerror(errno));
		return ADM_ERR_INTERNAL;
	}
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, ADM_NAME ": %s: %s\n", logpath, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return ADM_ERR_INTERNAL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, ADM_NAME ": fork: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		close(logfd);
		return ADM_ERR_INTERNAL;
	}
	if (pid == 0) {
		/*
		 * The daemon outlives us: its own session (no controlling terminal, no SIGHUP
		 * from ours), nothing of ours open but the ready pipe as fd 3.
		 */
		setsid();
		int null = open("/dev/null", O_RDWR);
		int rfd = fcntl(pfd[1], F_DUPFD_CLOEXEC, 10);
		if (null < 0 || rfd < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0 || dup2(rfd, 3) < 0)
			_exit(127);
		closefrom(4); /* e.g. a make jobserver's pipe: not the daemon's business */
		if (chdir("/"))
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		dprintf(2, "ballastd: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	close(logfd);
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	bool eof = false;
	while (!eof) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			break;
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int r = poll(&p, 1, (int)MIN(left, 1000));
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		ssize_t n = read(pfd[0], ready + have, sizeof(ready) - 1 - have);
		if (n > 0 && have + (size_t)n < sizeof(ready) - 1)
			have += (size_t)n;
		else if (n == 0)
			eof = true;
	}
	close(pfd[0]);
	ready[have] = 0;
	int status = 0;
	pid_t w = waitpid(pid, &status, WNOHANG);
	if (eof && have && w == 0) {
		*pid_out = pid;
		return ADM_OK;
	}
	if (!eof) {
		/* bounded: a daemon that neither got ready nor failed is stopped */
		fprintf(stderr,
			ADM_NAME ": ballastd did not become ready within %d s; stopping it\n",
			timeout_s);
		kill(pid, SIGTERM);
		for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; i++)
			usleep(100000);
		if (waitpid(pid, &status, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		char *log = read_file(logpath, 16384);
		report_daemon_errors(log, status);
		mem_free(log);
		return ADM_ERR_TRANS_TIMEOUT;
	}
	if (w == 0)
		waitpid(pid, &status, 0);
	char *log = read_file(logpath, 16384);
	int code = report_daemon_errors(log, status);
	mem_free(log);
	return code;
}

/* Run argv, wait; returns its exit status or -1. Output to stderr. */
static int
run_wait(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(2, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Start ballastd as a transient systemd service (systemd-run) and wait until its control
 * socket answers, or the unit is gone. The journal has its log.
 */
static int
spawn_systemd(char *const dargv[], const char *unit, const char *ctl, int timeout_s,
	      long *pid_out)
{
	char *argv[32];
	char unitopt[300];
	size_t k = 0;
	struct stat st;

	if (stat("/run/systemd/system", &st) != 0) {
		fprintf(stderr, ADM_NAME ": --systemd: systemd is not running on this machine\n");
		return ADM_ERR_INVAL;
	}
	snprintf(unitopt, sizeof(unitopt), "--unit=%s", unit);
	argv[k++] = (char *)"systemd-run";
	argv[k++] = unitopt;
	argv[k++] = (char *)"--quiet";
	argv[k++] = (char *)"--collect";
	argv[k++] = (char *)"--property=Type=exec";
	argv[k++] = (char *)"--";
	for (size_t i = 0; dargv[i] && k < ARRAY_SIZE(argv) - 1; i++)
		argv[k++] = dargv[i];
	argv[k] = NULL;
	if (run_wait(argv) != 0) {
		fprintf(stderr, ADM_NAME ": systemd-run could not start %s\n", unit);
		return ADM_ERR_INTERNAL;
	}
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	while (now_ms() < deadline) {
		long pid = daemon_pid(ctl);
		if (pid > 0) {
			*pid_out = pid;
			return ADM_OK;
		}
		char *isact[] = { (char *)"systemctl", (char *)"is-active", (char *)"--quiet",
				  (char *)unit, NULL };
		if (run_wait(isact) != 0)
			break;
		usleep(200000);
	}
	fprintf(stderr, ADM_NAME ": %s did not become ready; see journalctl -u %s\n", unit, unit);
	char *stop[] = { (char *)"systemctl", (char *)"stop", (char *)unit, NULL };
	run_wait(stop);
	return ADM_ERR_LOGIN;
}

static void
portal_desc(const struct adm_record *r, char *buf, size_t size)
{
	const char *iface = adm_record_get(r, "iface.iscsi_ifacename");
	snprintf(buf, size, "[iface: %s, target: %s, portal: %s,%u]", iface ? iface : "default",
		 r->iqn, r->host, r->port);
}

int
adm_login(struct adm_ctx *ctx, const struct adm_record *r)
{
	char name[256], ctl[PATH_MAX + 300], conf[PATH_MAX + 300], sess[PATH_MAX + 300],
		logp[PATH_MAX + 300], desc[600], num[32], err[CONF_ERR_SIZE];
	char iname[CONF_ISCSI_NAME_MAX + 1] = "";
	struct adm_record *sr = NULL;
	long pid = 0;
	int ret;

	adm_session_name(ctx, r->iqn, r->host, r->port, name, sizeof(name));
	session_path(ctx, name, "ctl", ctl, sizeof(ctl));
	session_path(ctx, name, "conf", conf, sizeof(conf));
	session_path(ctx, name, "session", sess, sizeof(sess));
	session_path(ctx, name, "log", logp, sizeof(logp));
	portal_desc(r, desc, sizeof(desc));
	if (strlen(ctl) >= SUN_PATH_MAX) {
		fprintf(stderr, ADM_NAME ": run directory %s is too long for a socket path\n",
			ctx->run_dir);
		return ADM_ERR_INVAL;
	}
	int lock = run_lock(ctx);
	if (lock < 0)
		return ADM_ERR_ACCESS;
	if (daemon_pid(ctl) > 0) {
		fprintf(stderr, ADM_NAME ": %s: 1 session requested, but 1 already present.\n",
			adm_record_get(r, "iface.iscsi_ifacename") ?: "default");
		ret = ADM_ERR_SESS_EXISTS;
		goto out;
	}
	/* a daemon that died without cleaning up */
	session_files_remove(ctx, name, true);

	/* the initiator name: the record's iface, else initiatorname.iscsi */
	const char *in = adm_record_get(r, "iface.initiatorname");
	if (in && in[0]) {
		snprintf(iname, sizeof(iname), "%s", in);
	} else {
		struct initiator_config *cfg = mem_zalloc(sizeof(*cfg));
		char path[PATH_MAX + 32];
		if (!cfg) {
			ret = ADM_ERR_NOMEM;
			goto out;
		}
		snprintf(path, sizeof(path), "%s/initiatorname.iscsi", ctx->conf_dir);
		if (initiator_config_load_name(cfg, path, true, err, sizeof(err))) {
			fprintf(stderr, ADM_NAME ": %s\n", err);
			mem_free(cfg);
			ret = ADM_ERR_INVAL;
			goto out;
		}
		snprintf(iname, sizeof(iname), "%s", cfg->initiator_name);
		mem_free(cfg);
	}

	ret = write_daemon_conf(ctx, r, conf, ctl);
	if (ret)
		goto out;
	sr = adm_record_new();
	if (!sr) {
		ret = ADM_ERR_NOMEM;
		goto fail;
	}
	memcpy(sr, r, sizeof(*sr));
	long sid = sid_alloc(ctx);
	snprintf(num, sizeof(num), "%ld", sid);
	adm_record_set(sr, "session.sid", num);
	adm_record_set(sr, "session.pid", "0");
	adm_record_set(sr, "session.record", r->path);
	adm_record_set(sr, "session.initiatorname", iname[0] ? iname : "<default>");
	if (adm_record_save(sr, sess, err, sizeof(err))) {
		fprintf(stderr, ADM_NAME ": %s\n", err);
		ret = ADM_ERR_IDBM;
		goto fail;
	}

	printf("Logging in to %s\n", desc);
	fflush(stdout);
	int timeout = ctx->timeout;
	if (timeout <= 0) {
		int lt = record_int(r, "node.conn[0].timeo.login_timeout", 15);
		int retries = record_int(r, "node.session.initial_login_retry_max", 8);
		timeout = (lt + 1) * (MAX(retries, 0) + 1) + 30;
	}
	char *argv[16];
	size_t k = 0;
	argv[k++] = ctx->ballastd;
	argv[k++] = (char *)"-f";
	argv[k++] = (char *)"--config";
	argv[k++] = conf;
	if (iname[0]) {
		argv[k++] = (char *)"--initiator-name";
		argv[k++] = iname;
	}
	if (ctx->systemd) {
		char unit[64];
		argv[k] = NULL;
		snprintf(unit, sizeof(unit), "ballastd-session%ld.service", sid);
		ret = spawn_systemd(argv, unit, ctl, timeout, &pid);
	} else {
		argv[k++] = (char *)"--ready-fd";
		argv[k++] = (char *)"3";
		argv[k] = NULL;
		ret = spawn_forked(ctx, argv, logp, timeout, &pid);
	}
	if (ret)
		goto fail;
	snprintf(num, sizeof(num), "%ld", pid);
	adm_record_set(sr, "session.pid", num);
	if (adm_record_save(sr, sess, err, sizeof(err)))
		fprintf(stderr, ADM_NAME ": warning: %s\n", err);
	printf("Login to %s successful.\n", desc);
	goto out;
fail:
	if (ret != ADM_ERR_SESS_EXISTS) {
		fprintf(stderr, ADM_NAME ": Could not login to %s.\n", desc);
		fprintf(stderr, ADM_NAME ": initiator reported error (%d - %s)\n", ret,
			exit_str(ret));
	}
	session_files_remove(ctx, name, false);
out:
	mem_free(sr);
	close(lock);
	return ret;
}

/* ---- logout -------------------------------------------------------------------------- */

/* Wait until process pid is gone (or a zombie: it has exited); false on timeout. */
static bool
wait_gone(long pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		int r;
		do {
			int64_t left = deadline - now_ms();
			r = left > 0 ? poll(&p, 1, (int)left) : 0;
		} while (r < 0 && errno == EINTR);
		close(pfd);
		return r > 0;
	}
	if (errno == ESRCH)
		return true;
	while (now_ms() < deadline) {
		if (kill((pid_t)pid, 0) && errno == ESRCH)
			return true;
		usleep(50000);
	}
	return false;
}

static int
logout_session(const struct adm_ctx *ctx, const struct session *s)
{
	char desc[600], buf[128], msg[256];
	const struct adm_record *r = s->rec;

	if (r)
		snprintf(desc, sizeof(desc), "[sid: %ld, target: %s, portal: %s,%u]", s->sid,
			 r->iqn, r->host, r->port);
	else
		adm_fmt(desc, sizeof(desc), "[sid: %ld, control: %s]", s->sid, s->ctl);
	printf("Logging out of session %s\n", desc);
	fflush(stdout);
	int n = initiator_control_query(s->ctl, "logout", buf, sizeof(buf), 5000, msg, sizeof(msg));
	if (n < 0 || strncmp(buf, "ok logout", 9)) {
		fprintf(stderr, ADM_NAME ": Could not logout of %s: %s\n", desc,
			n < 0 ? msg : buf);
		fprintf(stderr, ADM_NAME ": initiator reported error (%d - %s)\n", ADM_ERR_LOGOUT,
			exit_str(ADM_ERR_LOGOUT));
		return ADM_ERR_LOGOUT;
	}
	int lt = r ? record_int(r, "node.conn[0].timeo.logout_timeout", 15) : 15;
	if (!wait_gone(s->pid, (lt + 10) * 1000)) {
		fprintf(stderr, ADM_NAME ": Could not logout of %s: ballastd (pid %ld) still "
			"running after %d s\n", desc, s->pid, lt + 10);
		fprintf(stderr, ADM_NAME ": initiator reported error (%d - %s)\n", ADM_ERR_LOGOUT,
			exit_str(ADM_ERR_LOGOUT));
		return ADM_ERR_LOGOUT;
	}
	session_files_remove(ctx, s->name, true);
	printf("Logout of %s successful.\n", desc);
	return ADM_OK;
}

int
adm_logout_node(struct adm_ctx *ctx, const char *iqn, const char *host, unsigned port,
		bool *found)
{
	char name[256];
	struct session *v;
	int ret = ADM_OK;

	*found = false;
	adm_session_name(ctx, iqn, host, port, name, sizeof(name));
	int lock = run_lock(ctx);
	if (lock < 0)
		return ADM_ERR_ACCESS;
	int n = sessions_scan(ctx, true, &v);
	for (int i = 0; i < n; i++) {
		if (strcmp(v[i].name, name))
			continue;
		*found = true;
		ret = logout_session(ctx, &v[i]);
	}
	if (n > 0)
		sessions_free(v, n);
	close(lock);
	return ret;
}

/* ---- session mode -------------------------------------------------------------------- */

/* The value after " key " in a status line ("key value key value ..."), into buf. */
static const char *
status_field(const char *status, const char *line_key, const char *key, char *buf, size_t size)
{
	char pat[64];
	buf[0] = 0;
	snprintf(pat, sizeof(pat), "%s ", line_key);
	for (const char *p = status; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (!strncmp(p, pat, strlen(pat))) {
			char line[2048], kp[80];
			snprintf(line, sizeof(line), " %.*s ", (int)MIN(l, sizeof(line) - 3), p);
			snprintf(kp, sizeof(kp), " %s ", key);
			const char *f = strstr(line, kp);
			if (f) {
				f += strlen(kp);
				size_t vl = strcspn(f, " ");
				snprintf(buf, size, "%.*s", (int)vl, f);
				return buf;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	return buf;
}

static const char *
val_or(const char *v, const char *def)
{
	return v && v[0] ? v : def;
}

static void
print_session_tree(const struct adm_ctx *ctx, const struct session *s, const char *status,
		   int level)
{
	const struct adm_record *r = s->rec;
	char tgt[TEXT_NAME_MAX + 1], peer[INITIATOR_HOST_MAX + 16], st[32], conn[32], b[64],
		pstr[INITIATOR_HOST_MAX + 16];

	status_field(status, "target", "target", tgt, sizeof(tgt));
	status_field(status, "target", "portal", peer, sizeof(peer));
	status_field(status, "session", "state", st, sizeof(st));
	status_field(status, "connection", "connection", conn, sizeof(conn));
	int tpgt = r ? r->tpgt : 1;
	printf("Target: %s (non-flash)\n", r ? r->iqn : tgt);
	printf("\tCurrent Portal: %s,%d\n", peer[0] ? peer : "?", tpgt);
	if (r)
		printf("\tPersistent Portal: %s,%d\n",
		       adm_portal_str(r->host, r->port, pstr, sizeof(pstr)), tpgt);
	printf("\t\t**********\n\t\tInterface:\n\t\t**********\n");
	printf("\t\tIface Name: %s\n", val_or(r ? adm_record_get(r, "iface.iscsi_ifacename") : NULL,
					      "default"));
	printf("\t\tIface Transport: tcp\n");
	printf("\t\tIface Initiatorname: %s\n",
	       val_or(r ? adm_record_get(r, "session.initiatorname") : NULL, "<unknown>"));
	printf("\t\tSID: %ld\n", s->sid);
	printf("\t\tDaemon PID: %ld\n", s->pid);
	printf("\t\tControl Socket: %s\n", s->ctl);
	printf("\t\tiSCSI Connection State: %s\n",
	       !strcmp(conn, "up") ? "LOGGED IN" : (conn[0] ? "TRANSPORT WAIT" : "UNKNOWN"));
	printf("\t\tiSCSI Session State: %s\n",
	       !strcmp(st, "logged_in") ? "LOGGED_IN" : (st[0] ? "FAILED" : "UNKNOWN"));
	if (level < 2)
		return;
	printf("\t\t*********\n\t\tTimeouts:\n\t\t*********\n");
	if (r) {
		printf("\t\tRecovery Timeout: %s\n",
		       val_or(adm_record_get(r, "node.session.timeo.replacement_timeout"), "120"));
		printf("\t\tLUN Reset Timeout: %s\n",
		       val_or(adm_record_get(r, "node.session.err_timeo.lu_reset_timeout"), "30"));
		printf("\t\tAbort Timeout: %s\n",
		       val_or(adm_record_get(r, "node.session.err_timeo.abort_timeout"), "15"));
	}
	printf("\t\t*****\n\t\tCHAP:\n\t\t*****\n");
	if (r) {
		static const char *const keys[] = { "username", "password", "username_in",
						    "password_in" };
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			char k[64];
			snprintf(k, sizeof(k), "node.session.auth.%s", keys[i]);
			const char *v = adm_record_get(r, k);
			if (strstr(keys[i], "password") && !ctx->show_secrets)
				v = v && v[0] ? "********" : NULL;
			printf("\t\t%s: %s\n", keys[i], val_or(v, "<empty>"));
		}
	}
	printf("\t\t************************\n\t\tNegotiated iSCSI params:\n"
	       "\t\t************************\n");
	static const struct {
		const char *label, *key;
	} params[] = {
		{ "HeaderDigest", "header_digest" },
		{ "DataDigest", "data_digest" },
		{ "MaxRecvDataSegmentLength", "max_recv_dsl" },
		{ "MaxXmitDataSegmentLength", "max_xmit_dsl" },
		{ "FirstBurstLength", "first_burst" },
		{ "MaxBurstLength", "max_burst" },
		{ "ImmediateData", "immediate_data" },
		{ "InitialR2T", "initial_r2t" },
		{ "MaxOutstandingR2T", "max_r2t" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(params); i++)
		printf("\t\t%s: %s\n", params[i].label,
		       val_or(status_field(status, "params", params[i].key, b, sizeof(b)), "?"));
	if (level < 3)
		return;
	printf("\t\t************************\n\t\tAttached LUNs:\n\t\t************************\n");
	for (const char *p = status; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)MIN(l, sizeof(line) - 1), p);
		p = nl ? nl + 1 : NULL;
		unsigned long long lun, blocks;
		unsigned bs;
		if (sscanf(line, "lun %llu blocks %llu block_size %u", &lun, &blocks, &bs) == 3) {
			/* vendor and product may hold blanks: cut at the next key */
			const char *vend = strstr(line, " vendor ");
			const char *prod = strstr(line, " product ");
			const char *wwn = strstr(line, " wwn ");
			bool vp = vend && prod && prod > vend, pw = prod && wwn && wwn > prod;
			printf("\t\tLUN: %llu\tVendor: %.*s\tProduct: %.*s\n", lun,
			       vp ? (int)(prod - vend - 8) : 1, vp ? vend + 8 : "?",
			       pw ? (int)(wwn - prod - 9) : 1, pw ? prod + 9 : "?");
			printf("\t\t\tSize: %llu MiB (%llu blocks of %u bytes)\n",
			       (blocks * bs) >> 20, blocks, bs);
			char lunw[32];
			snprintf(lunw, sizeof(lunw), "%llu", lun);
			/* export lines: "export WHERE lun NAME size ..." */
			for (const char *q = status; q && *q;) {
				const char *qn = strchr(q, '\n');
				size_t ql = qn ? (size_t)(qn - q) : strlen(q);
				char el[1024], where[512], ename[128];
				snprintf(el, sizeof(el), "%.*s", (int)MIN(ql, sizeof(el) - 1), q);
				q = qn ? qn + 1 : NULL;
				if (sscanf(el, "export %511s lun %127s", where, ename) != 2)
					continue;
				const char *digits = ename + strcspn(ename, "0123456789");
				if (!strcmp(digits, lunw))
					printf("\t\t\tExported at: %s\n", where);
			}
		}
	}
}

int
adm_session_mode(struct adm_ctx *ctx, long sid, bool logout)
{
	struct session *v;
	char pstr[INITIATOR_HOST_MAX + 16], msg[256], tgt[TEXT_NAME_MAX + 1];
	int ret = ADM_OK, shown = 0;
	int n = sessions_scan(ctx, true, &v);

	if (n < 0) {
		fprintf(stderr, ADM_NAME ": out of memory\n");
		return ADM_ERR_NOMEM;
	}
	char *status = mem_zalloc(STATUS_MAX);
	if (!status) {
		sessions_free(v, n);
		return ADM_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct session *s = &v[i];
		if (sid >= 0 && s->sid != sid)
			continue;
		shown++;
		if (logout) {
			int e = logout_session(ctx, s);
			if (e && !ret)
				ret = e;
			continue;
		}
		int sl = initiator_control_query(s->ctl, "status", status, STATUS_MAX, 5000, msg,
						 sizeof(msg));
		if (sl < 0) {
			fprintf(stderr, ADM_NAME ": session %ld: %s\n", s->sid, msg);
			status[0] = 0;
		}
		if (ctx->print_level >= 1) {
			print_session_tree(ctx, s, status, ctx->print_level);
			continue;
		}
		if (s->rec) {
			printf("tcp: [%ld] %s,%d %s (non-flash)\n", s->sid,
			       adm_portal_str(s->rec->host, s->rec->port, pstr, sizeof(pstr)),
			       s->rec->tpgt, s->rec->iqn);
		} else {
			char peer[INITIATOR_HOST_MAX + 16];
			status_field(status, "target", "target", tgt, sizeof(tgt));
			status_field(status, "target", "portal", peer, sizeof(peer));
			printf("tcp: [%ld] %s,1 %s (non-flash)\n", s->sid, peer, tgt);
		}
	}
	mem_free(status);
	sessions_free(v, n > 0 ? n : 0);
	if (!shown) {
		if (sid >= 0)
			fprintf(stderr, ADM_NAME ": Could not get session info for sid %ld\n", sid);
		else
			fprintf(stderr, ADM_NAME ": No active sessions.\n");
		return sid >= 0 ? ADM_ERR_SESS_NOT_FOUND : ADM_ERR_NO_OBJS_FOUND;
	}
	return ret;
}
