/*
 * ballastd configuration: defaults, the iscsid.conf-style file, initiatorname.iscsi and the
 * command line value parsers. Control plane.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/conf.h"
#include "initiator/config.h"
#include "netreserve/protect.h"

void
initiator_config_defaults(struct initiator_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->portal_port = 3260;
	cfg->lun = -1;
	cfg->auth.algs[0] = CHAP_A_MD5; /* iscsid.conf: node.session.auth.chap_algs = MD5 */
	cfg->auth.nalgs = 1;
	cfg->disc_auth.algs[0] = CHAP_A_MD5;
	cfg->disc_auth.nalgs = 1;
	cfg->replacement_timeout = 120;
	cfg->noop_out_interval = 5;
	cfg->noop_out_timeout = 5;
	cfg->login_timeout = 15;
	cfg->logout_timeout = 15;
	cfg->abort_timeout = 15;
	cfg->lu_reset_timeout = 30;
	cfg->cmd_timeout = 30;
	cfg->initial_login_retry_max = 8;
	cfg->reopen_max = 0;
	cfg->cmds_max = 128;
	cfg->queue_depth = 32;
	cfg->initial_r2t = false;
	cfg->immediate_data = true;
	cfg->first_burst = 262144;
	cfg->max_burst = 16776192;
	cfg->max_recv_dsl = 262144;
	cfg->max_xmit_dsl = 0;
	cfg->max_outstanding_r2t = 1;
	cfg->header_digest = TEXT_DIGEST_NONE_ONLY;
	cfg->data_digest = TEXT_DIGEST_NONE_ONLY;
	cfg->disc_max_recv_dsl = 32768;
	snprintf(cfg->socket_dir, sizeof(cfg->socket_dir), "%s", INITIATOR_SOCKET_DIR);
	cfg->max_io = 1u << 20;
	cfg->nbd_clients = 8;
	cfg->ublk_recovery = true;
	cfg->ublk_recover_timeout = 30;
	cfg->rx_bufs = 16;
	cfg->rx_buf_size = 65536;
	cfg->mlock = true;
	cfg->oom_score_adj = -1000;
	cfg->watchdog_ms = 2000;
	cfg->ready_fd = -1;
	snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
}

static int
set_str(char *dst, size_t size, const char *value, char *msg, size_t msg_size)
{
	if (strlen(value) >= size) {
		snprintf(msg, msg_size, "value too long (at most %zu bytes)", size - 1);
		return -ERANGE;
	}
	snprintf(dst, size, "%s", value);
	return 0;
}

static int
set_int(int *dst, const char *value, long long min, long long max, char *msg, size_t msg_size)
{
	long long v;
	int r = conf_parse_int(value, min, max, &v, msg, msg_size);
	if (r == 0)
		*dst = (int)v;
	return r;
}

static int
set_u32(uint32_t *dst, const char *value, long long min, long long max, char *msg,
	size_t msg_size)
{
	long long v;
	int r = conf_parse_int(value, min, max, &v, msg, msg_size);
	if (r == 0)
		*dst = (uint32_t)v;
	return r;
}

static int
set_size(uint32_t *dst, const char *value, uint64_t min, uint64_t max, char *msg,
	 size_t msg_size)
{
	uint64_t v;
	int r = conf_parse_size(value, min, max, &v, msg, msg_size);
	if (r == 0)
		*dst = (uint32_t)v;
	return r;
}

/* open-iscsi digest values: "None", "CRC32C", "CRC32C,None", "None,CRC32C". */
static int
set_digest(enum text_digest_pref *dst, const char *value, char *msg, size_t msg_size)
{
	static const char *const names[] = { "None", "CRC32C", "CRC32C,None", "None,CRC32C", NULL };
	unsigned idx;
	int r = conf_parse_enum(value, names, &idx, msg, msg_size);
	if (r)
		return r;
	static const enum text_digest_pref map[] = { TEXT_DIGEST_NONE_ONLY, TEXT_DIGEST_CRC32C_ONLY,
						     TEXT_DIGEST_PREFER_CRC32C,
						     TEXT_DIGEST_PREFER_NONE };
	*dst = map[idx];
	return 0;
}

/* chap_algs: comma-separated names (MD5, SHA1, SHA256, SHA3-256) in order of preference. */
static int
set_chap_algs(struct initiator_chap_cfg *c, const char *value, char *msg, size_t msg_size)
{
	char buf[128];
	size_t n = 0;
	uint8_t algs[4];
	if (set_str(buf, sizeof(buf), value, msg, msg_size))
		return -ERANGE;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		size_t l = strlen(tok);
		while (l && isspace((unsigned char)tok[l - 1]))
			tok[--l] = 0;
		uint8_t id = 0;
		for (size_t i = 0; i < chap_algs_count; i++)
			if (!strcasecmp(tok, chap_algs[i].name))
				id = chap_algs[i].id;
		if (!id) {
			snprintf(msg, msg_size,
				 "unknown CHAP algorithm '%s' (MD5, SHA1, SHA256, SHA3-256)", tok);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++)
			if (algs[i] == id) {
				snprintf(msg, msg_size, "CHAP algorithm '%s' listed twice", tok);
				return -EINVAL;
			}
		if (n == ARRAY_SIZE(algs)) {
			snprintf(msg, msg_size, "too many CHAP algorithms");
			return -EINVAL;
		}
		algs[n++] = id;
	}
	if (!n) {
		snprintf(msg, msg_size, "empty CHAP algorithm list");
		return -EINVAL;
	}
	memcpy(c->algs, algs, n);
	c->nalgs = n;
	return 0;
}

static int
set_auth(struct initiator_chap_cfg *c, const char *sub, const char *value, char *msg,
	 size_t msg_size)
{
	if (!strcmp(sub, "authmethod")) {
		static const char *const names[] = { "None", "CHAP", NULL };
		unsigned idx;
		int r = conf_parse_enum(value, names, &idx, msg, msg_size);
		if (r == 0)
			c->enabled = idx == 1;
		return r;
	}
	if (!strcmp(sub, "chap_algs"))
		return set_chap_algs(c, value, msg, msg_size);
	if (!strcmp(sub, "username"))
		return set_str(c->username, sizeof(c->username), value, msg, msg_size);
	if (!strcmp(sub, "password"))
		return set_str(c->password, sizeof(c->password), value, msg, msg_size);
	if (!strcmp(sub, "username_in"))
		return set_str(c->username_in, sizeof(c->username_in), value, msg, msg_size);
	if (!strcmp(sub, "password_in"))
		return set_str(c->password_in, sizeof(c->password_in), value, msg, msg_size);
	return -ENOENT;
}

/* iscsid.conf keys we accept for compatibility but that have no effect in ballastd. */
static const char *const ignored_keys[] = {
	"iscsid.startup",
	"iscsid.safe_logout",
	"node.startup",
	"node.leading_login",
	"node.session.scan",
	"node.session.nr_sessions",
	"node.session.xmit_thread_priority",
	"node.session.iscsi.FastAbort",
	"node.session.err_timeo.tgt_reset_timeout",
	"node.session.err_timeo.host_reset_timeout",
	"node.conn[0].iscsi.IFMarker",
	"node.conn[0].iscsi.OFMarker",
	"discovery.sendtargets.use_discoveryd",
	"discovery.sendtargets.discoveryd_poll_interval",
	"discovery.sendtargets.reopen_max",
	"discovery.sendtargets.timeo.login_timeout",
	"discovery.sendtargets.timeo.auth_timeout",
	"discovery.sendtargets.timeo.active_timeout",
	NULL,
};

int
initiator_config_set(struct initiator_config *cfg, const char *key, const char *value,
		     char *msg, size_t msg_size)
{
	char m[256] = "";
	int r;

	if (!msg) {
		msg = m;
		msg_size = sizeof(m);
	}
	msg[0] = 0;
	if (!strncmp(key, "node.session.auth.", 18)) {
		r = set_auth(&cfg->auth, key + 18, value, msg, msg_size);
		goto out;
	}
	if (!strncmp(key, "discovery.sendtargets.auth.", 27)) {
		r = set_auth(&cfg->disc_auth, key + 27, value, msg, msg_size);
		goto out;
	}
	if (!strcmp(key, "node.name")) {
		r = set_str(cfg->target, sizeof(cfg->target), value, msg, msg_size);
		if (r == 0 && value[0])
			r = conf_check_iscsi_name(value, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].address")) {
		r = set_str(cfg->portal_host, sizeof(cfg->portal_host), value, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].port")) {
		long long v;
		r = conf_parse_int(value, 1, 65535, &v, msg, msg_size);
		if (r == 0)
			cfg->portal_port = (uint16_t)v;
	} else if (!strcmp(key, "node.lun")) {
		long long v;
		r = conf_parse_int(value, -1, 16383, &v, msg, msg_size);
		if (r == 0)
			cfg->lun = v;
	} else if (!strcmp(key, "node.session.timeo.replacement_timeout")) {
		r = set_int(&cfg->replacement_timeout, value, -1, 86400 * 365, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].timeo.noop_out_interval")) {
		r = set_int(&cfg->noop_out_interval, value, 0, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].timeo.noop_out_timeout")) {
		r = set_int(&cfg->noop_out_timeout, value, 0, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].timeo.login_timeout") ||
		   !strcmp(key, "login_timeout")) {
		r = set_int(&cfg->login_timeout, value, 1, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].timeo.logout_timeout")) {
		r = set_int(&cfg->logout_timeout, value, 1, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.session.err_timeo.abort_timeout")) {
		r = set_int(&cfg->abort_timeout, value, 1, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.session.err_timeo.lu_reset_timeout")) {
		r = set_int(&cfg->lu_reset_timeout, value, 1, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.session.timeo.cmd_timeout")) {
		r = set_int(&cfg->cmd_timeout, value, 0, 3600, msg, msg_size);
	} else if (!strcmp(key, "node.session.reopen_max")) {
		r = set_int(&cfg->reopen_max, value, 0, 1000000, msg, msg_size);
	} else if (!strcmp(key, "node.session.initial_login_retry_max")) {
		r = set_int(&cfg->initial_login_retry_max, value, 0, 1000000, msg, msg_size);
	} else if (!strcmp(key, "node.session.cmds_max")) {
		r = set_u32(&cfg->cmds_max, value, 2, 2048, msg, msg_size);
	} else if (!strcmp(key, "node.session.queue_depth") || !strcmp(key, "queue_depth")) {
		r = set_u32(&cfg->queue_depth, value, 1, INITIATOR_MAX_SLOTS, msg, msg_size);
	} else if (!strcmp(key, "node.session.iscsi.InitialR2T")) {
		r = conf_parse_bool(value, &cfg->initial_r2t, msg, msg_size);
	} else if (!strcmp(key, "node.session.iscsi.ImmediateData")) {
		r = conf_parse_bool(value, &cfg->immediate_data, msg, msg_size);
	} else if (!strcmp(key, "node.session.iscsi.FirstBurstLength")) {
		r = set_u32(&cfg->first_burst, value, 512, 16777215, msg, msg_size);
	} else if (!strcmp(key, "node.session.iscsi.MaxBurstLength")) {
		r = set_u32(&cfg->max_burst, value, 512, 16777215, msg, msg_size);
	} else if (!strcmp(key, "node.session.iscsi.MaxOutstandingR2T")) {
		r = set_u32(&cfg->max_outstanding_r2t, value, 1, INITIATOR_MAX_R2T, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].iscsi.MaxRecvDataSegmentLength")) {
		r = set_u32(&cfg->max_recv_dsl, value, 512, 16777215, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].iscsi.MaxXmitDataSegmentLength")) {
		r = set_u32(&cfg->max_xmit_dsl, value, 0, 16777215, msg, msg_size);
		if (r == 0 && cfg->max_xmit_dsl && cfg->max_xmit_dsl < 512) {
			snprintf(msg, msg_size, "must be 0 or at least 512");
			r = -ERANGE;
		}
	} else if (!strcmp(key, "discovery.sendtargets.iscsi.MaxRecvDataSegmentLength")) {
		r = set_u32(&cfg->disc_max_recv_dsl, value, 512, 16777215, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].iscsi.HeaderDigest")) {
		r = set_digest(&cfg->header_digest, value, msg, msg_size);
	} else if (!strcmp(key, "node.conn[0].iscsi.DataDigest")) {
		r = set_digest(&cfg->data_digest, value, msg, msg_size);
	} else if (!strcmp(key, "export.nbd.socket_dir")) {
		r = set_str(cfg->socket_dir, sizeof(cfg->socket_dir) - 40, value, msg, msg_size);
		if (r == 0 && value[0] != '/') {
			snprintf(msg, msg_size, "must be an absolute path");
			r = -EINVAL;
		}
	} else if (!strcmp(key, "export.nbd.tcp")) {
		char host[INITIATOR_HOST_MAX];
		uint16_t port;
		r = set_str(cfg->nbd_tcp, sizeof(cfg->nbd_tcp), value, msg, msg_size);
		if (r == 0 && value[0] &&
		    initiator_config_parse_hostport(value, host, sizeof(host), &port, 0)) {
			snprintf(msg, msg_size, "'%s' is not HOST:PORT", value);
			r = -EINVAL;
		}
	} else if (!strcmp(key, "export.kernel_nbd")) {
		r = conf_parse_bool(value, &cfg->kernel_nbd, msg, msg_size);
	} else if (!strcmp(key, "export.kernel_nbd.transport")) {
		if (!strcmp(value, "unix") || !strcmp(value, "tcp")) {
			cfg->kernel_nbd_tcp = !strcmp(value, "tcp");
			r = 0;
		} else {
			snprintf(msg, msg_size, "'%s': unix or tcp", value);
			r = -EINVAL;
		}
	} else if (!strcmp(key, "export.ublk")) {
		/* repeatable: each line adds one device */
		if (cfg->nublk == INITIATOR_MAX_UBLK) {
			snprintf(msg, msg_size, "too many ublk exports (at most %d)",
				 INITIATOR_MAX_UBLK);
			r = -ERANGE;
		} else {
			r = initiator_config_parse_ublk(value, &cfg->ublk[cfg->nublk], msg,
							msg_size);
			if (r == 0)
				cfg->nublk++;
		}
	} else if (!strcmp(key, "export.ublk.recovery")) {
		r = conf_parse_bool(value, &cfg->ublk_recovery, msg, msg_size);
	} else if (!strcmp(key, "export.ublk.recover_timeout")) {
		r = set_int(&cfg->ublk_recover_timeout, value, 1, 3600, msg, msg_size);
	} else if (!strcmp(key, "reserve.max_io_size")) {
		r = set_size(&cfg->max_io, value, 4096, 32u << 20, msg, msg_size);
		if (r == 0 && (cfg->max_io & 4095)) {
			snprintf(msg, msg_size, "must be a multiple of 4096");
			r = -EINVAL;
		}
	} else if (!strcmp(key, "reserve.nbd_clients")) {
		r = set_u32(&cfg->nbd_clients, value, 1, INITIATOR_MAX_NBD_CLIENTS, msg, msg_size);
	} else if (!strcmp(key, "reserve.rx_bufs")) {
		r = set_u32(&cfg->rx_bufs, value, 2, 4096, msg, msg_size);
		if (r == 0 && (cfg->rx_bufs & (cfg->rx_bufs - 1))) {
			snprintf(msg, msg_size, "must be a power of two");
			r = -EINVAL;
		}
	} else if (!strcmp(key, "reserve.rx_buf_size")) {
		r = set_size(&cfg->rx_buf_size, value, 4096, 1u << 20, msg, msg_size);
		if (r == 0 && (cfg->rx_buf_size & 63)) {
			snprintf(msg, msg_size, "must be a multiple of 64");
			r = -EINVAL;
		}
	} else if (!strcmp(key, "reserve.sndbuf")) {
		r = set_size(&cfg->sndbuf, value, 0, 64u << 20, msg, msg_size);
	} else if (!strcmp(key, "reserve.rcvbuf")) {
		r = set_size(&cfg->rcvbuf, value, 0, 64u << 20, msg, msg_size);
	} else if (!strcmp(key, "reserve.sock_reserve")) {
		r = set_size(&cfg->sock_reserve, value, 0, 256u << 20, msg, msg_size);
	} else if (!strcmp(key, "reserve.mlock")) {
		r = conf_parse_bool(value, &cfg->mlock, msg, msg_size);
	} else if (!strcmp(key, "reserve.oom_score_adj")) {
		r = set_int(&cfg->oom_score_adj, value, -1000, 1000, msg, msg_size);
	} else if (!strcmp(key, "reserve.watchdog_ms")) {
		r = set_u32(&cfg->watchdog_ms, value, 0, 600000, msg, msg_size);
		if (r == 0 && cfg->watchdog_ms && cfg->watchdog_ms < 500) {
			snprintf(msg, msg_size, "must be 0 (off) or at least 500 ms (the datapath "
				 "wakes every 200 ms when idle)");
			r = -ERANGE;
		}
	} else if (!strcmp(key, "reserve.require")) {
		/* comma-separated protection names that must be applied, or "none" */
		char buf[128], *save = NULL;
		uint32_t mask = 0;
		r = set_str(buf, sizeof(buf), value, msg, msg_size);
		for (char *t = r ? NULL : strtok_r(buf, ", ", &save); t;
		     t = strtok_r(NULL, ", ", &save)) {
			if (!strcasecmp(t, "none"))
				continue;
			int found = -1;
			for (int p = 0; p < NETRESERVE_NPROT; p++)
				if (!strcasecmp(t, netreserve_prot_name((enum netreserve_prot)p)))
					found = p;
			if (found < 0) {
				snprintf(msg, msg_size, "unknown protection '%s'", t);
				r = -EINVAL;
				break;
			}
			mask |= NETRESERVE_PROT_BIT(found);
		}
		if (r == 0)
			cfg->require_prot = mask;
	} else if (!strcmp(key, "control.socket")) {
		r = set_str(cfg->control, sizeof(cfg->control), value, msg, msg_size);
	} else if (!strcmp(key, "log.level")) {
		static const char *const names[] = { "err", "warn", "notice", "info", "debug",
						     NULL };
		unsigned idx;
		r = conf_parse_enum(value, names, &idx, msg, msg_size);
		if (r == 0)
			snprintf(cfg->log_level, sizeof(cfg->log_level), "%s", names[idx]);
	} else if (!strcmp(key, "log.debug")) {
		r = set_str(cfg->log_debug, sizeof(cfg->log_debug), value, msg, msg_size);
	} else {
		r = -ENOENT;
		for (size_t i = 0; ignored_keys[i]; i++)
			if (!strcmp(key, ignored_keys[i]))
				r = 0;
	}
out:
	if (r == -ENOENT)
		snprintf(msg, msg_size, "unknown key '%s'", key);
	return r;
}

static int
config_entry(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	int r = initiator_config_set(opaque, e->key, e->value, msg, msg_size);
	return r == -ENOENT ? -EINVAL : r;
}

int
initiator_config_load(struct initiator_config *cfg, const char *path, bool missing_ok, char *err,
		      size_t err_size)
{
	if (missing_ok && access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	return conf_parse_file(path, config_entry, cfg, err, err_size);
}

struct name_ctx {
	struct initiator_config *cfg;
	bool found;
};

static int
name_entry(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	struct name_ctx *nc = opaque;
	if (strcmp(e->key, "InitiatorName") && strcmp(e->key, "InitiatorAlias")) {
		snprintf(msg, msg_size, "unknown key '%s' (expected InitiatorName=)", e->key);
		return -EINVAL;
	}
	if (!strcmp(e->key, "InitiatorAlias"))
		return set_str(nc->cfg->initiator_alias, sizeof(nc->cfg->initiator_alias),
			       e->value, msg, msg_size);
	int r = conf_check_iscsi_name(e->value, msg, msg_size);
	if (r)
		return r;
	nc->found = true;
	if (!nc->cfg->initiator_name[0])
		snprintf(nc->cfg->initiator_name, sizeof(nc->cfg->initiator_name), "%s", e->value);
	return 0;
}

int
initiator_config_load_name(struct initiator_config *cfg, const char *path, bool missing_ok,
			   char *err, size_t err_size)
{
	struct name_ctx nc = { cfg, false };
	if (missing_ok && access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	int r = conf_parse_file(path, name_entry, &nc, err, err_size);
	if (r == 0 && !nc.found) {
		snprintf(err, err_size, "%s: no InitiatorName= line", path);
		return -EINVAL;
	}
	return r;
}

int
initiator_config_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port,
				uint16_t defport)
{
	const char *colon;
	size_t hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end)
			return -EINVAL;
		hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= host_size)
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = 0;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (!colon && end[1])
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -EINVAL; /* bare IPv6 needs brackets */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen == 0 || hlen >= host_size)
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = 0;
	}
	if (!colon) {
		*port = defport;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int
initiator_config_parse_chap(const char *s, bool mutual, struct initiator_chap_cfg *chap,
			    char *msg, size_t msg_size)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s || !colon[1]) {
		snprintf(msg, msg_size, "expected USER:SECRET");
		return -EINVAL;
	}
	size_t ulen = (size_t)(colon - s);
	char *user = mutual ? chap->username_in : chap->username;
	char *pass = mutual ? chap->password_in : chap->password;
	if (ulen >= sizeof(chap->username) || strlen(colon + 1) > CHAP_MAX_SECRET_LEN) {
		snprintf(msg, msg_size, "user name or secret too long");
		return -EINVAL;
	}
	memcpy(user, s, ulen);
	user[ulen] = 0;
	snprintf(pass, CHAP_MAX_SECRET_LEN + 1, "%s", colon + 1);
	chap->enabled = true;
	return 0;
}

int
initiator_config_parse_nbd(const char *s, struct initiator_nbd_spec *spec, char *msg,
			   size_t msg_size)
{
	memset(spec, 0, sizeof(*spec));
	spec->kernel_index = -1;
	if (strlen(s) >= sizeof(spec->spec)) {
		snprintf(msg, msg_size, "--nbd value too long");
		return -EINVAL;
	}
	snprintf(spec->spec, sizeof(spec->spec), "%s", s);
	if (!strncmp(s, "unix:", 5)) {
		spec->kind = INITIATOR_NBD_UNIX;
		if (!s[5] || strlen(s + 5) >= sizeof(spec->path)) {
			snprintf(msg, msg_size, "unix:PATH: bad or too long path");
			return -EINVAL;
		}
		snprintf(spec->path, sizeof(spec->path), "%s", s + 5);
		return 0;
	}
	if (!strncmp(s, "tcp:", 4)) {
		spec->kind = INITIATOR_NBD_TCP;
		if (initiator_config_parse_hostport(s + 4, spec->host, sizeof(spec->host),
						    &spec->port, 10809)) {
			snprintf(msg, msg_size, "tcp:HOST:PORT expected");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(s, "kernel") || !strncmp(s, "kernel:", 7)) {
		spec->kind = INITIATOR_NBD_KERNEL;
		if (s[6] == ':') {
			const char *dev = s + 7;
			char *end;
			if (strncmp(dev, "/dev/nbd", 8) != 0) {
				snprintf(msg, msg_size, "kernel:/dev/nbdN expected");
				return -EINVAL;
			}
			long n = strtol(dev + 8, &end, 10);
			if (end == dev + 8 || *end || n < 0 || n > 65535) {
				snprintf(msg, msg_size, "kernel:/dev/nbdN expected");
				return -EINVAL;
			}
			spec->kernel_index = (int)n;
			snprintf(spec->path, sizeof(spec->path), "%s", dev);
		}
		return 0;
	}
	snprintf(msg, msg_size, "expected unix:PATH, tcp:HOST:PORT or kernel[:/dev/nbdN]");
	return -EINVAL;
}

static int
parse_ublk_id(const char *s, size_t len, int *id)
{
	char buf[16];
	char *end;

	if (len == 0 || (len == 4 && !strncmp(s, "auto", 4))) {
		*id = -1;
		return 0;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || end == buf || *end || v < 0 || v > 1048575)
		return -EINVAL;
	*id = (int)v;
	return 0;
}

int
initiator_config_parse_ublk(const char *s, struct initiator_ublk_spec *spec, char *msg,
			    size_t msg_size)
{
	const char *lun = NULL;
	size_t idlen;

	memset(spec, 0, sizeof(*spec));
	spec->dev_id = -1;
	spec->lun = -1;
	if (strlen(s) >= sizeof(spec->spec)) {
		snprintf(msg, msg_size, "--ublk value too long");
		return -EINVAL;
	}
	snprintf(spec->spec, sizeof(spec->spec), "%s", s[0] ? s : "auto");
	if (!strncmp(s, "lun=", 4)) {
		idlen = 0;
		lun = s + 4;
	} else {
		const char *comma = strchr(s, ',');
		idlen = comma ? (size_t)(comma - s) : strlen(s);
		if (comma) {
			if (strncmp(comma + 1, "lun=", 4)) {
				snprintf(msg, msg_size, "expected [ID|auto][,lun=N]");
				return -EINVAL;
			}
			lun = comma + 5;
		}
	}
	if (parse_ublk_id(s, idlen, &spec->dev_id)) {
		snprintf(msg, msg_size, "ublk device id: a number (N of /dev/ublkbN) or auto expected");
		return -EINVAL;
	}
	if (lun) {
		char *end;
		errno = 0;
		long v = strtol(lun, &end, 10);
		if (errno || end == lun || *end || v < 0 || v > 16383) {
			snprintf(msg, msg_size, "lun=N: bad LUN '%s'", lun);
			return -EINVAL;
		}
		spec->lun = v;
	}
	return 0;
}

static int
check_chap(const struct initiator_chap_cfg *c, const char *what, char *msg, size_t msg_size)
{
	if (!c->enabled)
		return 0;
	if (!c->username[0] || !c->password[0]) {
		snprintf(msg, msg_size, "%s: CHAP needs a user name and a secret", what);
		return -EINVAL;
	}
	if (chap_secret_check((const uint8_t *)c->password, strlen(c->password), NULL, 0) < 0) {
		snprintf(msg, msg_size, "%s: invalid CHAP secret", what);
		return -EINVAL;
	}
	if ((c->username_in[0] != 0) != (c->password_in[0] != 0)) {
		snprintf(msg, msg_size, "%s: mutual CHAP needs both username_in and password_in",
			 what);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nalgs; i++)
		if (!chap_alg_by_id(c->algs[i])) {
			snprintf(msg, msg_size, "%s: CHAP algorithm %u unavailable in this OpenSSL",
				 what, c->algs[i]);
			return -EINVAL;
		}
	return 0;
}

int
initiator_config_check(const struct initiator_config *cfg, char *msg, size_t msg_size)
{
	char m[200];
	if (!cfg->initiator_name[0]) {
		snprintf(msg, msg_size,
			 "no initiator name (--initiator-name or InitiatorName= in %s)",
			 INITIATOR_NAME_PATH);
		return -EINVAL;
	}
	if (conf_check_iscsi_name(cfg->initiator_name, m, sizeof(m))) {
		snprintf(msg, msg_size, "initiator name '%s': %s", cfg->initiator_name, m);
		return -EINVAL;
	}
	if (!cfg->portal_host[0]) {
		snprintf(msg, msg_size, "no portal (--portal HOST:PORT or node.conn[0].address)");
		return -EINVAL;
	}
	if (cfg->target[0] && conf_check_iscsi_name(cfg->target, m, sizeof(m))) {
		snprintf(msg, msg_size, "target name '%s': %s", cfg->target, m);
		return -EINVAL;
	}
	int r = check_chap(&cfg->auth, "node.session.auth", msg, msg_size);
	if (r)
		return r;
	r = check_chap(&cfg->disc_auth, "discovery.sendtargets.auth", msg, msg_size);
	if (r)
		return r;
	for (size_t i = 0; i < cfg->nublk; i++)
		for (size_t j = 0; j < i; j++)
			if (cfg->ublk[i].dev_id >= 0 && cfg->ublk[i].dev_id == cfg->ublk[j].dev_id) {
				snprintf(msg, msg_size, "ublk device %d named twice",
					 cfg->ublk[i].dev_id);
				return -EINVAL;
			}
	if (cfg->queue_depth > cfg->cmds_max) {
		snprintf(msg, msg_size, "queue_depth %u exceeds cmds_max %u", cfg->queue_depth,
			 cfg->cmds_max);
		return -EINVAL;
	}
	return 0;
}
