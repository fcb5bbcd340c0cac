/*
 * ballastadm: the node database and discovery. A record is a ballastd.conf-style file, so an
 * administrator can read and edit it by hand, and every key ballastd understands can be set
 * per node; the keys ballastd has no use for (node.tpgt, iface.*, node.discovery_*) are kept
 * for iscsiadm compatibility and filtered out when the daemon's configuration is written.
 */
#include <config.h>

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/conf.h"
#include "common/mem.h"
#include "initiator/adm.h"
#include "initiator/config.h"
#include "initiator/discovery.h"

#define KEY_SECRET 0x1 /* masked by -o show unless -S */
#define KEY_ID 0x2     /* part of the record's identity: not changed by -o update */

/*
 * The keys of a new record, in iscsiadm's order, with open-iscsi's defaults (which are also
 * ballastd's). node.lun is ballast's own: the LUN to export, -1 for all.
 */
static const struct {
	const char *key;
	const char *def;
	unsigned flags;
} record_keys[] = {
	{ "node.name", "", KEY_ID },
	{ "node.tpgt", "1", KEY_ID },
	{ "node.startup", "manual", 0 },
	{ "node.leading_login", "No", 0 },
	{ "iface.iscsi_ifacename", "default", 0 },
	{ "iface.transport_name", "tcp", 0 },
	{ "iface.initiatorname", "", 0 },
	{ "node.discovery_address", "", 0 },
	{ "node.discovery_port", "0", 0 },
	{ "node.discovery_type", "static", 0 },
	{ "node.lun", "-1", 0 },
	{ "node.session.initial_login_retry_max", "8", 0 },
	{ "node.session.cmds_max", "128", 0 },
	{ "node.session.queue_depth", "32", 0 },
	{ "node.session.auth.authmethod", "None", 0 },
	{ "node.session.auth.chap_algs", "MD5", 0 },
	{ "node.session.auth.username", "", 0 },
	{ "node.session.auth.password", "", KEY_SECRET },
	{ "node.session.auth.username_in", "", 0 },
	{ "node.session.auth.password_in", "", KEY_SECRET },
	{ "node.session.timeo.replacement_timeout", "120", 0 },
	{ "node.session.err_timeo.abort_timeout", "15", 0 },
	{ "node.session.err_timeo.lu_reset_timeout", "30", 0 },
	{ "node.session.iscsi.InitialR2T", "No", 0 },
	{ "node.session.iscsi.ImmediateData", "Yes", 0 },
	{ "node.session.iscsi.FirstBurstLength", "262144", 0 },
	{ "node.session.iscsi.MaxBurstLength", "16776192", 0 },
	{ "node.session.iscsi.MaxOutstandingR2T", "1", 0 },
	{ "node.conn[0].address", "", KEY_ID },
	{ "node.conn[0].port", "3260", KEY_ID },
	{ "node.conn[0].startup", "manual", 0 },
	{ "node.conn[0].timeo.logout_timeout", "15", 0 },
	{ "node.conn[0].timeo.login_timeout", "15", 0 },
	{ "node.conn[0].timeo.noop_out_interval", "5", 0 },
	{ "node.conn[0].timeo.noop_out_timeout", "5", 0 },
	{ "node.conn[0].iscsi.MaxXmitDataSegmentLength", "0", 0 },
	{ "node.conn[0].iscsi.MaxRecvDataSegmentLength", "262144", 0 },
	{ "node.conn[0].iscsi.HeaderDigest", "None", 0 },
	{ "node.conn[0].iscsi.DataDigest", "None", 0 },
};

/* Keys only ballastadm uses: ballastd's parser does not know them. */
static const char *const adm_only_keys[] = {
	"node.tpgt", "node.discovery_address", "node.discovery_port", "node.discovery_type",
	"node.conn[0].startup", NULL,
};

static int
key_flags(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(record_keys); i++)
		if (!strcmp(record_keys[i].key, key))
			return (int)record_keys[i].flags;
	if (strstr(key, "password"))
		return KEY_SECRET;
	return -1;
}

static bool
adm_only(const char *key)
{
	if (!strncmp(key, "iface.", 6) || !strncmp(key, "session.", 8))
		return true;
	for (size_t i = 0; adm_only_keys[i]; i++)
		if (!strcmp(key, adm_only_keys[i]))
			return true;
	return false;
}

int
adm_parse_portal(const char *s, struct adm_filter *f)
{
	char buf[INITIATOR_HOST_MAX + 32];
	uint16_t port;

	f->port = -1;
	f->tpgt = -1;
	if (strlen(s) >= sizeof(buf) || !s[0])
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	char *comma = strrchr(buf, ',');
	if (comma && (!strchr(buf, ']') || comma > strchr(buf, ']'))) {
		char *end;
		long t = strtol(comma + 1, &end, 10);
		if (end == comma + 1 || *end || t < 0 || t > 65535)
			return -EINVAL;
		f->tpgt = (int)t;
		*comma = 0;
	}
	/* a bare IPv6 address (more than one colon, no brackets): the whole thing is the host */
	if (buf[0] != '[' && strchr(buf, ':') != strrchr(buf, ':')) {
		return adm_fmt(f->host, sizeof(f->host), "%s", buf) ? -EINVAL : 0;
	}
	if (initiator_config_parse_hostport(buf, f->host, sizeof(f->host), &port, 0))
		return -EINVAL;
	if (port)
		f->port = port;
	return 0;
}

int
adm_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

const char *
adm_portal_str(const char *host, unsigned port, char *buf, size_t size)
{
	if (strchr(host, ':'))
		snprintf(buf, size, "[%s]:%u", host, port);
	else
		snprintf(buf, size, "%s:%u", host, port);
	return buf;
}

struct adm_record *
adm_record_new(void)
{
	return mem_zalloc(sizeof(struct adm_record));
}

const char *
adm_record_get(const struct adm_record *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->kv[i].key, key))
			return r->kv[i].value;
	return NULL;
}

int
adm_record_set(struct adm_record *r, const char *key, const char *value)
{
	if (strlen(key) > CONF_MAX_KEY || strlen(value) > CONF_MAX_VALUE)
		return -ERANGE;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->kv[i].key, key)) {
			snprintf(r->kv[i].value, sizeof(r->kv[i].value), "%s", value);
			return 0;
		}
	if (r->n == ADM_RECORD_MAX_KEYS)
		return -ENOSPC;
	snprintf(r->kv[r->n].key, sizeof(r->kv[r->n].key), "%s", key);
	snprintf(r->kv[r->n].value, sizeof(r->kv[r->n].value), "%s", value);
	r->n++;
	return 0;
}

/* Fill the identity fields from the record's keys; false when they are missing or invalid. */
static bool
record_identity(struct adm_record *r)
{
	const char *name = adm_record_get(r, "node.name");
	const char *host = adm_record_get(r, "node.conn[0].address");
	const char *port = adm_record_get(r, "node.conn[0].port");
	const char *tpgt = adm_record_get(r, "node.tpgt");
	char *end;

	if (!name || !name[0] || !host || !host[0] || !port)
		return false;
	long p = strtol(port, &end, 10);
	if (*end || p < 1 || p > 65535)
		return false;
	long t = tpgt ? strtol(tpgt, &end, 10) : 1;
	if ((tpgt && *end) || t < 0 || t > 65535)
		return false;
	snprintf(r->iqn, sizeof(r->iqn), "%s", name);
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->port = (uint16_t)p;
	r->tpgt = (int)t;
	return true;
}

static int
record_path(const struct adm_ctx *ctx, struct adm_record *r)
{
	return adm_fmt(r->path, sizeof(r->path), "%s/%s/%s,%u,%d", ctx->node_dir, r->iqn, r->host,
		 r->port, r->tpgt);
}

struct seed_ctx {
	struct adm_record *r;
};

/* Global ballastd.conf entries: node.* keys seed new records (iscsid.conf's role). */
static int
seed_entry(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	struct seed_ctx *sc = opaque;
	if (strncmp(e->key, "node.", 5) != 0 || (key_flags(e->key) > 0 &&
						  (key_flags(e->key) & KEY_ID)))
		return 0;
	if (adm_record_set(sc->r, e->key, e->value)) {
		snprintf(msg, msg_size, "too many or too long node keys");
		return -ERANGE;
	}
	return 0;
}

int
adm_record_init(const struct adm_ctx *ctx, struct adm_record *r, const char *iqn,
		const char *host, uint16_t port, int tpgt)
{
	char path[PATH_MAX + 32], err[CONF_ERR_SIZE], num[16];

	memset(r, 0, sizeof(*r));
	/* both become file names: a target's answer must not walk out of the node DB */
	if (conf_check_iscsi_name(iqn, err, sizeof(err)) || strchr(host, '/') || host[0] == '.' ||
	    !host[0]) {
		fprintf(stderr, ADM_NAME ": refusing record for '%s' at '%s': not a valid target "
			"name and host\n", iqn, host);
		return ADM_ERR_INVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(record_keys); i++)
		adm_record_set(r, record_keys[i].key, record_keys[i].def);
	snprintf(path, sizeof(path), "%s/ballastd.conf", ctx->conf_dir);
	struct seed_ctx sc = { r };
	if (access(path, F_OK) == 0 && conf_parse_file(path, seed_entry, &sc, err, sizeof(err))) {
		fprintf(stderr, ADM_NAME ": %s\n", err);
		return ADM_ERR_IDBM;
	}
	adm_record_set(r, "node.name", iqn);
	adm_record_set(r, "node.conn[0].address", host);
	snprintf(num, sizeof(num), "%u", port);
	adm_record_set(r, "node.conn[0].port", num);
	snprintf(num, sizeof(num), "%d", tpgt);
	adm_record_set(r, "node.tpgt", num);
	if (ctx->iface)
		adm_record_set(r, "iface.iscsi_ifacename", ctx->iface);
	if (!record_identity(r) || record_path(ctx, r)) {
		fprintf(stderr, ADM_NAME ": bad or too long record name %s at %s:%u,%d\n", iqn,
			host, port, tpgt);
		return ADM_ERR_INVAL;
	}
	return ADM_OK;
}

static int
load_entry(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	if (adm_record_set(opaque, e->key, e->value)) {
		snprintf(msg, msg_size, "too many keys (at most %d)", ADM_RECORD_MAX_KEYS);
		return -ERANGE;
	}
	return 0;
}

int
adm_record_load(struct adm_record *r, const char *path, char *msg, size_t msg_size)
{
	memset(r, 0, sizeof(*r));
	int e = conf_parse_file(path, load_entry, r, msg, msg_size);
	if (e)
		return e;
	if (!record_identity(r)) {
		snprintf(msg, msg_size, "%s: not a node record (node.name, node.conn[0].address "
			 "and node.conn[0].port are required)", path);
		return -EINVAL;
	}
	snprintf(r->path, sizeof(r->path), "%s", path);
	return 0;
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

int
adm_record_save(const struct adm_record *r, const char *path, char *msg, size_t msg_size)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16];
	int err;

	if (!path)
		path = r->path;
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		err = mkdir_p(dir, 0755);
		if (err) {
			snprintf(msg, msg_size, "%s: %s", dir, strerror(-err));
			return err;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(msg, msg_size, "%s: %s", tmp, strerror(-err));
		return err;
	}
	fprintf(f, "# BEGIN RECORD (written by " ADM_NAME ")\n");
	for (size_t i = 0; i < r->n; i++)
		fprintf(f, "%s = %s\n", r->kv[i].key, r->kv[i].value);
	fprintf(f, "# END RECORD\n");
	if (fflush(f) || fsync(fileno(f))) {
		err = -errno;
		fclose(f);
		unlink(tmp);
		snprintf(msg, msg_size, "%s: %s", tmp, strerror(-err));
		return err;
	}
	fclose(f);
	if (rename(tmp, path)) {
		err = -errno;
		unlink(tmp);
		snprintf(msg, msg_size, "%s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

bool
adm_filter_match(const struct adm_filter *f, const struct adm_record *r)
{
	if (f->iqn && strcmp(f->iqn, r->iqn))
		return false;
	if (f->host[0] && strcmp(f->host, r->host))
		return false;
	if (f->port >= 0 && f->port != r->port)
		return false;
	if (f->tpgt >= 0 && f->tpgt != r->tpgt)
		return false;
	return true;
}

static int
record_cmp(const void *a, const void *b)
{
	const struct adm_record *x = *(struct adm_record *const *)a;
	const struct adm_record *y = *(struct adm_record *const *)b;
	int c = strcmp(x->iqn, y->iqn);
	if (!c)
		c = strcmp(x->host, y->host);
	if (!c)
		c = (int)x->port - (int)y->port;
	if (!c)
		c = x->tpgt - y->tpgt;
	return c;
}

void
adm_records_free(struct adm_record **v, int n)
{
	for (int i = 0; i < n; i++)
		mem_free(v[i]);
	mem_free(v);
}

int
adm_records_find(const struct adm_ctx *ctx, const struct adm_filter *f, struct adm_record ***out)
{
	struct adm_record **v = NULL;
	size_t n = 0, cap = 0;
	char path[PATH_MAX * 2], msg[CONF_ERR_SIZE];

	*out = NULL;
	DIR *top = opendir(ctx->node_dir);
	if (!top) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, ADM_NAME ": node database %s: %s\n", ctx->node_dir,
			strerror(errno));
		return -ADM_ERR_IDBM;
	}
	struct dirent *t;
	while ((t = readdir(top))) {
		if (t->d_name[0] == '.' || (f->iqn && strcmp(f->iqn, t->d_name)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", ctx->node_dir, t->d_name);
		DIR *d = opendir(path);
		if (!d)
			continue;
		struct dirent *p;
		while ((p = readdir(d))) {
			if (p->d_name[0] == '.' || strstr(p->d_name, ".tmp"))
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", ctx->node_dir, t->d_name,
				 p->d_name);
			struct adm_record *r = adm_record_new();
			if (!r)
				goto nomem;
			if (adm_record_load(r, path, msg, sizeof(msg))) {
				fprintf(stderr, ADM_NAME ": skipping %s\n", msg);
				mem_free(r);
				continue;
			}
			if (!adm_filter_match(f, r)) {
				mem_free(r);
				continue;
			}
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct adm_record **nv = mem_alloc(ncap * sizeof(*nv));
				if (!nv) {
					mem_free(r);
					closedir(d);
					goto nomem;
				}
				if (n)
					memcpy(nv, v, n * sizeof(*nv));
				mem_free(v);
				v = nv;
				cap = ncap;
			}
			v[n++] = r;
		}
		closedir(d);
	}
	closedir(top);
	if (n)
		qsort(v, n, sizeof(*v), record_cmp);
	*out = v;
	return (int)n;
nomem:
	closedir(top);
	adm_records_free(v, (int)n);
	fprintf(stderr, ADM_NAME ": out of memory\n");
	return -ADM_ERR_NOMEM;
}

int
adm_record_check_update(const char *key, const char *value)
{
	char msg[256];
	int fl = key_flags(key);

	if (strchr(value, '\n') || strchr(key, '\n')) {
		fprintf(stderr, ADM_NAME ": values cannot contain newlines\n");
		return ADM_ERR_INVAL;
	}
	if (fl > 0 && (fl & KEY_ID)) {
		fprintf(stderr,
			ADM_NAME ": %s identifies the record and cannot be updated (create a new "
			"record with -o new and delete this one)\n", key);
		return ADM_ERR_INVAL;
	}
	if (!strcmp(key, "control.socket")) {
		fprintf(stderr, ADM_NAME ": control.socket is chosen by " ADM_NAME "\n");
		return ADM_ERR_INVAL;
	}
	if (adm_only(key)) {
		if (fl < 0 && strncmp(key, "iface.", 6)) {
			fprintf(stderr, ADM_NAME ": unknown key '%s'\n", key);
			return ADM_ERR_INVAL;
		}
		return ADM_OK;
	}
	struct initiator_config *cfg = mem_zalloc(sizeof(*cfg));
	if (!cfg)
		return ADM_ERR_NOMEM;
	initiator_config_defaults(cfg);
	int r = initiator_config_set(cfg, key, value, msg, sizeof(msg));
	mem_free(cfg);
	if (r) {
		fprintf(stderr, ADM_NAME ": %s = %s: %s\n", key, value, msg);
		return ADM_ERR_INVAL;
	}
	return ADM_OK;
}

void
adm_record_show(const struct adm_ctx *ctx, const struct adm_record *r)
{
	printf("# BEGIN RECORD " PACKAGE_VERSION "\n");
	for (size_t i = 0; i < r->n; i++) {
		const char *v = r->kv[i].value;
		int fl = key_flags(r->kv[i].key);
		if (fl > 0 && (fl & KEY_SECRET) && !ctx->show_secrets && v[0])
			v = "********";
		printf("%s = %s\n", r->kv[i].key, v[0] ? v : "<empty>");
	}
	printf("# END RECORD\n");
}

/* ---- discovery ----------------------------------------------------------------------- */

/* The configuration discovery runs with: ballastd.conf, initiatorname.iscsi, the portal. */
static int
discovery_config(const struct adm_ctx *ctx, struct initiator_config *cfg, const char *host,
		 uint16_t port)
{
	char path[PATH_MAX + 32], err[CONF_ERR_SIZE];

	initiator_config_defaults(cfg);
	snprintf(path, sizeof(path), "%s/ballastd.conf", ctx->conf_dir);
	if (initiator_config_load(cfg, path, true, err, sizeof(err))) {
		fprintf(stderr, ADM_NAME ": %s\n", err);
		return ADM_ERR_INVAL;
	}
	snprintf(path, sizeof(path), "%s/initiatorname.iscsi", ctx->conf_dir);
	if (initiator_config_load_name(cfg, path, true, err, sizeof(err))) {
		fprintf(stderr, ADM_NAME ": %s\n", err);
		return ADM_ERR_INVAL;
	}
	if (!cfg->initiator_name[0]) {
		fprintf(stderr, ADM_NAME ": no initiator name: add InitiatorName= to %s\n", path);
		return ADM_ERR_INVAL;
	}
	snprintf(cfg->portal_host, sizeof(cfg->portal_host), "%s", host);
	cfg->portal_port = port;
	/* discovery never retries: an admin is waiting */
	cfg->initial_login_retry_max = 0;
	return ADM_OK;
}

/* A discovery failure message to an exit code. */
static int
discovery_error(int err, const char *msg)
{
	if (err == -EACCES || strstr(msg, "authentication") || strstr(msg, "CHAP"))
		return ADM_ERR_LOGIN_AUTH_FAILED;
	if (err == -ENOENT)
		return ADM_ERR_HOST_NOT_FOUND;
	if (err == -ETIMEDOUT)
		return ADM_ERR_TRANS_TIMEOUT;
	if (err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -ENETUNREACH ||
	    strstr(msg, "connect"))
		return ADM_ERR_TRANS;
	return ADM_ERR_LOGIN;
}

int
adm_discovery(struct adm_ctx *ctx, const char *portal, const char *op, bool login)
{
	struct adm_filter pf;
	struct initiator_config *cfg = NULL;
	struct initiator_discovered *found = NULL;
	struct adm_record *r = NULL;
	char msg[512], pstr[INITIATOR_HOST_MAX + 16];
	const size_t max_found = 256;
	bool persist = true, del = true;
	int ret = ADM_OK, first_err = ADM_OK;

	if (op && !strcmp(op, "nonpersistent")) {
		persist = false;
		del = false;
	} else if (op && !strcmp(op, "new")) {
		del = false;
	} else if (op && strcmp(op, "delete") && strcmp(op, "update")) {
		fprintf(stderr,
			ADM_NAME ": discovery: unknown operation '%s' (new, delete, update, "
				 "nonpersistent)\n",
			op);
		return ADM_ERR_INVAL;
	}
	if (adm_parse_portal(portal, &pf) || pf.tpgt >= 0) {
		fprintf(stderr, ADM_NAME ": bad portal '%s' (HOST[:PORT] expected)\n", portal);
		return ADM_ERR_INVAL;
	}
	uint16_t dport = pf.port > 0 ? (uint16_t)pf.port : 3260;
	cfg = mem_zalloc(sizeof(*cfg));
	found = mem_zalloc(max_found * sizeof(*found));
	r = adm_record_new();
	if (!cfg || !found || !r) {
		ret = ADM_ERR_NOMEM;
		goto out;
	}
	ret = discovery_config(ctx, cfg, pf.host, dport);
	if (ret)
		goto out;
	int n = initiator_discover(cfg, found, max_found, msg, sizeof(msg));
	if (n < 0) {
		fprintf(stderr, ADM_NAME ": cannot discover targets at %s: %s\n",
			adm_portal_str(pf.host, dport, pstr, sizeof(pstr)), msg);
		ret = discovery_error(n, msg);
		goto out;
	}
	if ((size_t)n > max_found) {
		fprintf(stderr, ADM_NAME ": %d targets listed, only the first %zu are used\n", n,
			max_found);
		n = (int)max_found;
	}
	if (n == 0) {
		fprintf(stderr, ADM_NAME ": No portals found\n");
		ret = ADM_ERR_NO_OBJS_FOUND;
		goto out;
	}
	char dport_s[16];
	snprintf(dport_s, sizeof(dport_s), "%u", dport);
	/* the records we have (or had) from this discovery portal, for -o delete */
	struct adm_record **old = NULL;
	struct adm_filter all = { .port = -1, .tpgt = -1 };
	int nold = persist ? adm_records_find(ctx, &all, &old) : 0;
	if (nold < 0) {
		ret = -nold;
		goto out;
	}
	bool *seen = nold ? mem_zalloc((size_t)nold * sizeof(bool)) : NULL;
	for (int i = 0; i < n; i++) {
		for (size_t a = 0; a < MAX(found[i].naddr, (size_t)1); a++) {
			struct adm_filter af;
			/* no TargetAddress: the target is at the discovery portal (RFC 7143 C) */
			if (!found[i].naddr || adm_parse_portal(found[i].addr[a], &af)) {
				af = pf;
				af.tpgt = -1;
			}
			uint16_t port = af.port > 0 ? (uint16_t)af.port : 3260;
			int tpgt = af.tpgt >= 0 ? af.tpgt : 1;
			printf("%s,%d %s\n", adm_portal_str(af.host, port, pstr, sizeof(pstr)),
			       tpgt, found[i].name);
			if (!persist)
				continue;
			bool exists = false;
			for (int k = 0; k < nold; k++)
				if (!strcmp(old[k]->iqn, found[i].name) &&
				    !strcmp(old[k]->host, af.host) && old[k]->port == port &&
				    old[k]->tpgt == tpgt) {
					seen[k] = true;
					exists = true;
				}
			if (exists && !login)
				continue;
			int e = adm_record_init(ctx, r, found[i].name, af.host, port, tpgt);
			if (e) {
				if (!first_err)
					first_err = e;
				continue;
			}
			if (exists) {
				/* -l: log in to what was discovered, existing records included */
				if (adm_record_load(r, r->path, msg, sizeof(msg)) == 0) {
					e = adm_login(ctx, r);
					if (e && !first_err)
						first_err = e;
				}
				continue;
			}
			adm_record_set(r, "node.discovery_address", pf.host);
			adm_record_set(r, "node.discovery_port", dport_s);
			adm_record_set(r, "node.discovery_type", "send_targets");
			if (adm_record_save(r, NULL, msg, sizeof(msg))) {
				fprintf(stderr, ADM_NAME ": cannot write the node record: %s\n",
					msg);
				ret = ADM_ERR_IDBM;
				goto out_old;
			}
			if (login) {
				e = adm_login(ctx, r);
				if (e && !first_err)
					first_err = e;
			}
		}
	}
	/* records that came from this portal and are no longer listed */
	for (int k = 0; del && k < nold; k++) {
		const char *da = adm_record_get(old[k], "node.discovery_address");
		const char *dp = adm_record_get(old[k], "node.discovery_port");
		const char *dt = adm_record_get(old[k], "node.discovery_type");
		if (seen[k] || !da || !dp || !dt || strcmp(dt, "send_targets") ||
		    strcmp(da, pf.host) || strcmp(dp, dport_s))
			continue;
		bool running = false;
		adm_logout_node(ctx, old[k]->iqn, old[k]->host, old[k]->port, &running);
		unlink(old[k]->path);
		adm_fmt(msg, sizeof(msg), "%s/%s", ctx->node_dir, old[k]->iqn);
		rmdir(msg);
	}
out_old:
	mem_free(seen);
	adm_records_free(old, nold);
out:
	mem_free(cfg);
	mem_free(found);
	mem_free(r);
	return ret ? ret : first_err;
}

/* ---- node mode ----------------------------------------------------------------------- */

int
adm_node_list(struct adm_ctx *ctx, const struct adm_filter *f)
{
	struct adm_record **v;
	char pstr[INITIATOR_HOST_MAX + 16];
	int n = adm_records_find(ctx, f, &v);

	if (n < 0)
		return -n;
	if (n == 0) {
		fprintf(stderr, ADM_NAME ": No records found\n");
		return ADM_ERR_NO_OBJS_FOUND;
	}
	for (int i = 0; i < n; i++)
		printf("%s,%d %s\n", adm_portal_str(v[i]->host, v[i]->port, pstr, sizeof(pstr)),
		       v[i]->tpgt, v[i]->iqn);
	adm_records_free(v, n);
	return ADM_OK;
}

static int
node_new(struct adm_ctx *ctx, const struct adm_filter *f)
{
	char msg[CONF_ERR_SIZE], m[256];
	struct stat st;

	if (!f->iqn || !f->host[0]) {
		fprintf(stderr, ADM_NAME ": -o new needs -T IQN and -p HOST[:PORT][,TPGT]\n");
		return ADM_ERR_INVAL;
	}
	if (conf_check_iscsi_name(f->iqn, m, sizeof(m))) {
		fprintf(stderr, ADM_NAME ": target name '%s': %s\n", f->iqn, m);
		return ADM_ERR_INVAL;
	}
	struct adm_record *r = adm_record_new();
	if (!r)
		return ADM_ERR_NOMEM;
	uint16_t port = f->port > 0 ? (uint16_t)f->port : 3260;
	int ret = adm_record_init(ctx, r, f->iqn, f->host, port, f->tpgt >= 0 ? f->tpgt : 1);
	if (ret)
		goto out;
	if (stat(r->path, &st) == 0) {
		fprintf(stderr, ADM_NAME ": a record for %s at %s,%u,%d already exists\n", r->iqn,
			r->host, r->port, r->tpgt);
		ret = ADM_ERR_IDBM;
		goto out;
	}
	if (adm_record_save(r, NULL, msg, sizeof(msg))) {
		fprintf(stderr, ADM_NAME ": cannot write the node record: %s\n", msg);
		ret = ADM_ERR_IDBM;
		goto out;
	}
	printf("New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=%s] %s,%u,%d %s] added\n",
	       adm_record_get(r, "iface.iscsi_ifacename"), r->host, r->port, r->tpgt, r->iqn);
out:
	mem_free(r);
	return ret;
}

int
adm_node_op(struct adm_ctx *ctx, const struct adm_filter *f, const char *op, const char *key,
	    const char *value)
{
	struct adm_record **v;
	char msg[CONF_ERR_SIZE];
	int ret = ADM_OK;

	if (!strcmp(op, "new"))
		return node_new(ctx, f);
	bool show = !strcmp(op, "show"), update = !strcmp(op, "update"),
	     del = !strcmp(op, "delete");
	if (!show && !update && !del) {
		fprintf(stderr, ADM_NAME ": node: unknown operation '%s' (new, delete, update, "
			"show)\n", op);
		return ADM_ERR_INVAL;
	}
	if (update) {
		if (!key || !value) {
			fprintf(stderr, ADM_NAME ": -o update needs -n KEY and -v VALUE\n");
			return ADM_ERR_INVAL;
		}
		ret = adm_record_check_update(key, value);
		if (ret)
			return ret;
	}
	int n = adm_records_find(ctx, f, &v);
	if (n < 0)
		return -n;
	if (n == 0) {
		fprintf(stderr, ADM_NAME ": No records found\n");
		return ADM_ERR_NO_OBJS_FOUND;
	}
	for (int i = 0; i < n; i++) {
		struct adm_record *r = v[i];
		if (show) {
			adm_record_show(ctx, r);
		} else if (update) {
			if (adm_record_set(r, key, value) ||
			    adm_record_save(r, NULL, msg, sizeof(msg))) {
				fprintf(stderr, ADM_NAME ": cannot update %s: %s\n", r->path, msg);
				ret = ADM_ERR_IDBM;
			}
		} else {
			/* iscsiadm(8): deleting a record in use stops its session first */
			bool running = false;
			int e = adm_logout_node(ctx, r->iqn, r->host, r->port, &running);
			if (e) {
				if (!ret)
					ret = e;
				continue;
			}
			if (unlink(r->path)) {
				fprintf(stderr, ADM_NAME ": cannot delete %s: %s\n", r->path,
					strerror(errno));
				ret = ADM_ERR_IDBM;
				continue;
			}
			adm_fmt(msg, sizeof(msg), "%s/%s", ctx->node_dir, r->iqn);
			rmdir(msg); /* the target's directory, when it was its last portal */
		}
	}
	adm_records_free(v, n);
	return ret;
}

/* Records whose node.startup (or node.conn[0].startup) is `which` ("all": every one). */
static bool
startup_matches(const struct adm_record *r, const char *which)
{
	if (!strcmp(which, "all")) {
		/* iscsiadm(8): all, except the ones marked onboot */
		const char *s = adm_record_get(r, "node.startup");
		return !s || strcmp(s, "onboot");
	}
	const char *s = adm_record_get(r, "node.startup");
	const char *c = adm_record_get(r, "node.conn[0].startup");
	return (s && !strcmp(s, which)) || (c && !strcmp(c, which));
}

int
adm_node_login_all(struct adm_ctx *ctx, const char *which, bool login)
{
	struct adm_filter all = { .port = -1, .tpgt = -1 };
	struct adm_record **v;
	int ret = ADM_OK, matched = 0;

	if (strcmp(which, "all") && strcmp(which, "manual") && strcmp(which, "automatic") &&
	    strcmp(which, "onboot")) {
		fprintf(stderr, ADM_NAME ": --%sall: expected all, manual, automatic or onboot\n",
			login ? "login" : "logout");
		return ADM_ERR_INVAL;
	}
	int n = adm_records_find(ctx, &all, &v);
	if (n < 0)
		return -n;
	for (int i = 0; i < n; i++) {
		if (!startup_matches(v[i], which))
			continue;
		matched++;
		int e;
		if (login) {
			e = adm_login(ctx, v[i]);
		} else {
			bool found = false;
			e = adm_logout_node(ctx, v[i]->iqn, v[i]->host, v[i]->port, &found);
			if (!found)
				matched--;
		}
		if (e && !ret)
			ret = e;
	}
	adm_records_free(v, n);
	if (!matched) {
		fprintf(stderr, ADM_NAME ": No %s found\n",
			login ? "records" : "matching sessions");
		return ADM_ERR_NO_OBJS_FOUND;
	}
	return ret;
}

int
adm_node_login(struct adm_ctx *ctx, const struct adm_filter *f, bool login)
{
	struct adm_record **v;
	int ret = ADM_OK, found_any = 0;
	int n = adm_records_find(ctx, f, &v);

	if (n < 0)
		return -n;
	if (n == 0) {
		fprintf(stderr, ADM_NAME ": No records found\n");
		return ADM_ERR_NO_OBJS_FOUND;
	}
	for (int i = 0; i < n; i++) {
		int e;
		if (login) {
			e = adm_login(ctx, v[i]);
		} else {
			bool found = false;
			e = adm_logout_node(ctx, v[i]->iqn, v[i]->host, v[i]->port, &found);
			found_any += found;
		}
		if (e && !ret)
			ret = e;
	}
	adm_records_free(v, n);
	if (!login && !found_any && !ret) {
		fprintf(stderr, ADM_NAME ": No matching sessions found\n");
		return ADM_ERR_NO_OBJS_FOUND;
	}
	return ret;
}
