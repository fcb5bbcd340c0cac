/* ballast-targetd configuration: targets.conf parsing, command-line options, defaults. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/chap.h"
#include "common/conf.h"
#include "common/mem.h"
#include "target/config.h"

struct target_config *
target_config_new(void)
{
	struct target_config *cfg = mem_zalloc(sizeof(*cfg));

	if (!cfg)
		return NULL;
	/* Our offers; RFC 7143 section 13 defaults where the RFC has one. */
	cfg->params.max_recv_dsl = 262144;
	cfg->params.max_burst = 1048576;
	cfg->params.first_burst = 65536;
	cfg->params.immediate_data = true;
	cfg->params.initial_r2t = false;
	cfg->params.max_outstanding_r2t = 1;
	cfg->params.max_connections = 1;
	cfg->params.default_time2wait = 2;
	cfg->params.default_time2retain = 0;
	cfg->params.header_digest = TARGET_DIGEST_ALLOW;
	cfg->params.data_digest = TARGET_DIGEST_ALLOW;
	cfg->chap_algs[0] = CHAP_A_SHA3_256;
	cfg->chap_algs[1] = CHAP_A_SHA256;
	cfg->chap_algs[2] = CHAP_A_SHA1;
	cfg->chap_algs[3] = CHAP_A_MD5;
	cfg->nchap_algs = 4;
	cfg->queue_depth = 32;
	cfg->max_xfer = 1048576;
	cfg->max_sessions = 64;
	cfg->max_sessions_per_initiator = 16;
	cfg->max_text_len = 65536;
	cfg->login_timeout_ms = 15000;
	cfg->idle_timeout_ms = 0;
	cfg->nop_interval_ms = 5000;
	cfg->nop_timeout_ms = 30000;
	cfg->block_size = 512;
	cfg->log_level = 5;
	return cfg;
}

void
target_config_free(struct target_config *cfg)
{
	if (!cfg)
		return;
	for (unsigned i = 0; i < cfg->ntargets; i++)
		mem_free(cfg->targets[i]);
	mem_free(cfg);
}

static int
errf(char *err, size_t err_size, const char *fmt, ...) PRINTF_FMT(3, 4);

static int
errf(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int
target_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port)
{
	const char *colon, *hend;
	char *end;
	unsigned long p = 3260;

	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend)
			return -EINVAL;
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] && !colon)
			return -EINVAL;
		s++;
	} else {
		colon = strrchr(s, ':');
		/* A bare IPv6 address has several colons: no port. */
		if (colon && strchr(s, ':') != colon)
			colon = NULL;
		hend = colon ? colon : s + strlen(s);
	}
	if ((size_t)(hend - s) >= host_size)
		return -EINVAL;
	memcpy(host, s, (size_t)(hend - s));
	host[hend - s] = '\0';
	if (colon) {
		errno = 0;
		p = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || p > 65535)
			return -EINVAL;
	}
	*port = (uint16_t)p;
	return 0;
}

/* Add (or find) a portal by address; returns its index or -errno. */
static int
add_portal(struct target_config *cfg, const char *spec, char *msg, size_t msg_size)
{
	struct target_portal_cfg pc;
	char addr[TARGET_HOST_MAX + 8];
	const char *adv = NULL, *sp;

	memset(&pc, 0, sizeof(pc));
	pc.tpgt = 1;
	/* "HOST:PORT [advertise HOST:PORT] [tpgt N]" */
	sp = strpbrk(spec, " \t");
	if ((size_t)(sp ? sp - spec : (long)strlen(spec)) >= sizeof(addr))
		return errf(msg, msg_size, "portal address too long");
	snprintf(addr, sizeof(addr), "%.*s", (int)(sp ? sp - spec : (long)strlen(spec)), spec);
	while (sp && *sp) {
		char word[32];
		int n = 0;

		while (*sp == ' ' || *sp == '\t')
			sp++;
		if (!*sp)
			break;
		if (sscanf(sp, "%31s%n", word, &n) != 1)
			break;
		sp += n;
		while (*sp == ' ' || *sp == '\t')
			sp++;
		if (!strcmp(word, "advertise")) {
			n = 0;
			if (sscanf(sp, "%*s%n", &n) < 0 || n == 0)
				return errf(msg, msg_size, "advertise needs HOST:PORT");
			if ((size_t)n >= sizeof(pc.advertise))
				return errf(msg, msg_size, "advertised address too long");
			snprintf(pc.advertise, sizeof(pc.advertise), "%.*s", n, sp);
			adv = pc.advertise;
			sp += n;
		} else if (!strcmp(word, "tpgt")) {
			char *end;
			unsigned long v = strtoul(sp, &end, 10);

			if (end == sp || v == 0 || v > 65535)
				return errf(msg, msg_size, "tpgt must be 1..65535");
			pc.tpgt = (uint16_t)v;
			sp = end;
		} else {
			return errf(msg, msg_size, "unknown portal option '%s'", word);
		}
	}
	if (target_parse_hostport(addr, pc.host, sizeof(pc.host), &pc.port) < 0)
		return errf(msg, msg_size, "bad portal address '%s' (HOST:PORT or [V6]:PORT)", addr);
	for (unsigned i = 0; i < cfg->nportals; i++) {
		struct target_portal_cfg *o = &cfg->portals[i];

		if (!strcmp(o->host, pc.host) && o->port == pc.port && pc.port != 0) {
			if (adv)
				snprintf(o->advertise, sizeof(o->advertise), "%s", adv);
			return (int)i;
		}
	}
	if (cfg->nportals >= TARGET_MAX_PORTALS)
		return errf(msg, msg_size, "too many portals (at most %d)", TARGET_MAX_PORTALS);
	cfg->portals[cfg->nportals] = pc;
	return (int)cfg->nportals++;
}

static struct target_target_cfg *
add_target(struct target_config *cfg, const char *iqn, char *msg, size_t msg_size)
{
	struct target_target_cfg *t;
	char why[128];

	if (conf_check_iscsi_name(iqn, why, sizeof(why)) < 0) {
		errf(msg, msg_size, "invalid target name '%s': %s", iqn, why);
		return NULL;
	}
	if (target_config_find(cfg, iqn)) {
		errf(msg, msg_size, "target '%s' defined twice", iqn);
		return NULL;
	}
	if (cfg->ntargets >= TARGET_MAX_TARGETS) {
		errf(msg, msg_size, "too many targets (at most %d)", TARGET_MAX_TARGETS);
		return NULL;
	}
	t = mem_zalloc(sizeof(*t));
	if (!t) {
		errf(msg, msg_size, "out of memory");
		return NULL;
	}
	snprintf(t->iqn, sizeof(t->iqn), "%s", iqn);
	cfg->targets[cfg->ntargets++] = t;
	return t;
}

static struct target_lun_cfg *
add_lun(struct target_target_cfg *t, unsigned lun, char *msg, size_t msg_size)
{
	struct target_lun_cfg *l;

	if (lun > 16383) {
		errf(msg, msg_size, "LUN %u out of range (0..16383)", lun);
		return NULL;
	}
	for (unsigned i = 0; i < t->nluns; i++)
		if (t->luns[i].lun == lun) {
			errf(msg, msg_size, "LUN %u defined twice in %s", lun, t->iqn);
			return NULL;
		}
	if (t->nluns >= TARGET_MAX_LUNS) {
		errf(msg, msg_size, "too many LUNs (at most %d)", TARGET_MAX_LUNS);
		return NULL;
	}
	l = &t->luns[t->nluns++];
	memset(l, 0, sizeof(*l));
	l->lun = lun;
	return l;
}

static unsigned
next_lun(const struct target_target_cfg *t)
{
	unsigned n = 1;

	for (unsigned i = 0; i < t->nluns; i++)
		if (t->luns[i].lun >= n)
			n = t->luns[i].lun + 1;
	return n;
}

/* "mem:SIZE", "null:SIZE", "file:PATH" or a bare path (file). */
static int
parse_backing(struct target_lun_cfg *l, const char *spec, char *msg, size_t msg_size)
{
	uint64_t size;

	if (!strncmp(spec, "mem:", 4) || !strncmp(spec, "null:", 5)) {
		bool mem = spec[0] == 'm';
		const char *v = spec + (mem ? 4 : 5);

		if (conf_parse_size(v, 4096, (uint64_t)1 << 50, &size, msg, msg_size) < 0)
			return -EINVAL;
		l->backing = mem ? TARGET_BACKING_MEM : TARGET_BACKING_NULL;
		l->size = size;
		return 0;
	}
	if (!strncmp(spec, "file:", 5))
		spec += 5;
	if (!*spec)
		return errf(msg, msg_size, "empty backing-store path");
	if (strlen(spec) >= sizeof(l->path))
		return errf(msg, msg_size, "backing-store path too long");
	l->backing = TARGET_BACKING_FILE;
	snprintf(l->path, sizeof(l->path), "%s", spec);
	return 0;
}

static int
parse_account(struct target_account *a, const char *v, char *msg, size_t msg_size)
{
	const char *sp = strpbrk(v, " \t:");
	const char *sec;

	if (!sp || sp == v)
		return errf(msg, msg_size, "expected USER SECRET");
	if ((size_t)(sp - v) >= sizeof(a->user))
		return errf(msg, msg_size, "CHAP user name too long");
	sec = sp;
	while (*sec == ' ' || *sec == '\t' || (*sec == ':' && sec == sp))
		sec++;
	if (!*sec)
		return errf(msg, msg_size, "missing CHAP secret");
	if (strlen(sec) > TARGET_CHAP_SECRET_MAX)
		return errf(msg, msg_size, "CHAP secret longer than %d bytes",
			    TARGET_CHAP_SECRET_MAX);
	memset(a, 0, sizeof(*a));
	memcpy(a->user, v, (size_t)(sp - v));
	snprintf(a->secret, sizeof(a->secret), "%s", sec);
	a->secret_len = strlen(a->secret);
	return 0;
}

static int
parse_u32(const char *v, long long min, long long max, uint32_t *out, char *msg,
	  size_t msg_size)
{
	long long x;
	int r = conf_parse_int(v, min, max, &x, msg, msg_size);

	if (r < 0)
		return r;
	*out = (uint32_t)x;
	return 0;
}

static int
parse_size32(const char *v, uint64_t min, uint64_t max, uint32_t *out, char *msg,
	     size_t msg_size)
{
	uint64_t x;
	int r = conf_parse_size(v, min, max, &x, msg, msg_size);

	if (r < 0)
		return r;
	*out = (uint32_t)x;
	return 0;
}

static int
parse_alg_list(struct target_config *cfg, const char *v, char *msg, size_t msg_size)
{
	char buf[64];
	unsigned n = 0;

	snprintf(buf, sizeof(buf), "%s", v);
	for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		unsigned id;

		if (!strcasecmp(tok, "MD5"))
			id = CHAP_A_MD5;
		else if (!strcasecmp(tok, "SHA1") || !strcasecmp(tok, "SHA-1"))
			id = CHAP_A_SHA1;
		else if (!strcasecmp(tok, "SHA256") || !strcasecmp(tok, "SHA-256"))
			id = CHAP_A_SHA256;
		else if (!strcasecmp(tok, "SHA3-256"))
			id = CHAP_A_SHA3_256;
		else if (tok[0] >= '5' && tok[0] <= '8' && !tok[1])
			id = (unsigned)(tok[0] - '0');
		else
			return errf(msg, msg_size, "unknown CHAP algorithm '%s' (5-8 or names)", tok);
		if (n >= TARGET_MAX_CHAP_ALGS)
			return errf(msg, msg_size, "too many CHAP algorithms");
		cfg->chap_algs[n++] = (uint8_t)id;
	}
	if (!n)
		return errf(msg, msg_size, "empty CHAP algorithm list");
	cfg->nchap_algs = n;
	return 0;
}

/* Daemon-wide keys, valid at top level. Returns 1 if handled, 0 if unknown, -errno. */
static int
global_key(struct target_config *cfg, const char *k, const char *v, char *msg, size_t ms)
{
	struct target_params *p = &cfg->params;
	bool b;
	int r = 1;

#define IS(name) (!strcasecmp(k, name))
	if (IS("portal"))
		r = add_portal(cfg, v, msg, ms) < 0 ? -EINVAL : 1;
	else if (IS("incomingdiscoveryuser")) {
		if (cfg->ndiscovery_in >= TARGET_MAX_ACCOUNTS)
			return errf(msg, ms, "too many discovery accounts");
		r = parse_account(&cfg->discovery_in[cfg->ndiscovery_in], v, msg, ms);
		if (!r) {
			cfg->ndiscovery_in++;
			r = 1;
		}
	} else if (IS("outgoingdiscoveryuser")) {
		r = parse_account(&cfg->discovery_out, v, msg, ms);
		if (!r) {
			cfg->has_discovery_out = true;
			r = 1;
		}
	} else if (IS("chap-algorithms"))
		r = parse_alg_list(cfg, v, msg, ms) ? -EINVAL : 1;
	else if (IS("default-driver"))
		r = strcasecmp(v, "iscsi") ? errf(msg, ms, "only the iscsi driver exists") : 1;
	else if (IS("queue-depth"))
		r = parse_u32(v, 1, 1024, &cfg->queue_depth, msg, ms) ?: 1;
	else if (IS("max-xfer"))
		r = parse_size32(v, 4096, 16 << 20, &cfg->max_xfer, msg, ms) ?: 1;
	else if (IS("max-sessions"))
		r = parse_u32(v, 1, 4096, &cfg->max_sessions, msg, ms) ?: 1;
	else if (IS("max-sessions-per-initiator"))
		r = parse_u32(v, 1, 4096, &cfg->max_sessions_per_initiator, msg, ms) ?: 1;
	else if (IS("max-text-length"))
		r = parse_size32(v, 8192, 1 << 20, &cfg->max_text_len, msg, ms) ?: 1;
	else if (IS("login-timeout"))
		r = parse_u32(v, 1, 3600, &cfg->login_timeout_ms, msg, ms) ?: 2;
	else if (IS("idle-timeout"))
		r = parse_u32(v, 0, 86400, &cfg->idle_timeout_ms, msg, ms) ?: 2;
	else if (IS("nop-interval"))
		r = parse_u32(v, 0, 3600, &cfg->nop_interval_ms, msg, ms) ?: 2;
	else if (IS("nop-timeout"))
		r = parse_u32(v, 1, 3600, &cfg->nop_timeout_ms, msg, ms) ?: 2;
	else if (IS("block-size")) {
		r = parse_u32(v, 512, 4096, &cfg->block_size, msg, ms) ?: 1;
		if (r == 1 && cfg->block_size != 512 && cfg->block_size != 4096)
			r = errf(msg, ms, "block-size must be 512 or 4096");
	} else if (IS("MaxRecvDataSegmentLength"))
		r = parse_u32(v, 512, 16777215, &p->max_recv_dsl, msg, ms) ?: 1;
	else if (IS("MaxBurstLength"))
		r = parse_u32(v, 512, 16777215, &p->max_burst, msg, ms) ?: 1;
	else if (IS("FirstBurstLength"))
		r = parse_u32(v, 512, 16777215, &p->first_burst, msg, ms) ?: 1;
	else if (IS("MaxOutstandingR2T"))
		r = parse_u32(v, 1, 65535, &p->max_outstanding_r2t, msg, ms) ?: 1;
	else if (IS("MaxConnections"))
		r = parse_u32(v, 1, 1, &p->max_connections, msg, ms) ?: 1;
	else if (IS("DefaultTime2Wait"))
		r = parse_u32(v, 0, 3600, &p->default_time2wait, msg, ms) ?: 1;
	else if (IS("DefaultTime2Retain"))
		r = parse_u32(v, 0, 3600, &p->default_time2retain, msg, ms) ?: 1;
	else if (IS("ImmediateData")) {
		r = conf_parse_bool(v, &b, msg, ms) ?: 1;
		p->immediate_data = b;
	} else if (IS("InitialR2T")) {
		r = conf_parse_bool(v, &b, msg, ms) ?: 1;
		p->initial_r2t = b;
	} else if (IS("header-digest") || IS("HeaderDigest") || IS("data-digest") ||
		   IS("DataDigest")) {
		bool hd = k[0] == 'h' || k[0] == 'H';
		static const char *const names[] = { "none", "crc32c", "required", NULL };
		unsigned e;

		r = conf_parse_enum(v, names, &e, msg, ms);
		if (r < 0)
			return r;
		if (hd)
			p->header_digest = (uint8_t)e;
		else
			p->data_digest = (uint8_t)e;
		r = 1;
	} else if (IS("log-level"))
		r = parse_u32(v, 0, 7, (uint32_t *)&cfg->log_level, msg, ms) ?: 1;
	else
		r = 0;
#undef IS
	if (r == 2) {
		/* Timeouts are given in seconds, kept in milliseconds. */
		uint32_t *f = !strcasecmp(k, "login-timeout")  ? &cfg->login_timeout_ms :
			      !strcasecmp(k, "idle-timeout")   ? &cfg->idle_timeout_ms :
			      !strcasecmp(k, "nop-interval")   ? &cfg->nop_interval_ms :
								 &cfg->nop_timeout_ms;
		*f *= 1000;
		r = 1;
	}
	return r;
}

static int
lun_key(struct target_lun_cfg *l, const char *k, const char *v, char *msg, size_t ms)
{
	bool b;
	uint32_t bs;

	if (!strcasecmp(k, "block-size")) {
		if (parse_u32(v, 512, 4096, &bs, msg, ms) < 0)
			return -EINVAL;
		if (bs != 512 && bs != 4096)
			return errf(msg, ms, "block-size must be 512 or 4096");
		l->block_size = bs;
	} else if (!strcasecmp(k, "readonly") || !strcasecmp(k, "read-only")) {
		if (conf_parse_bool(v, &b, msg, ms) < 0)
			return -EINVAL;
		l->read_only = b;
	} else if (!strcasecmp(k, "direct")) {
		if (conf_parse_bool(v, &b, msg, ms) < 0)
			return -EINVAL;
		l->direct = b;
	} else if (!strcasecmp(k, "size")) {
		if (conf_parse_size(v, 4096, (uint64_t)1 << 50, &l->size, msg, ms) < 0)
			return -EINVAL;
	} else if (!strcasecmp(k, "scsi_sn") || !strcasecmp(k, "serial")) {
		if (strlen(v) >= sizeof(l->serial))
			return errf(msg, ms, "serial longer than 32 bytes");
		snprintf(l->serial, sizeof(l->serial), "%s", v);
	} else {
		return 0;
	}
	return 1;
}

static int
target_key(struct target_config *cfg, struct target_target_cfg *t, const char *k,
	   const char *v, char *msg, size_t ms)
{
	struct target_lun_cfg *l;
	int r;

	if (!strcasecmp(k, "backing-store") || !strcasecmp(k, "direct-store")) {
		l = add_lun(t, next_lun(t), msg, ms);
		if (!l || parse_backing(l, v, msg, ms) < 0)
			return -EINVAL;
		l->direct = k[0] == 'd';
		return 1;
	}
	if (!strcasecmp(k, "lun")) {
		/* ours: "lun N mem:SIZE|null:SIZE|file:PATH|PATH" */
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (end == v || (*end != ' ' && *end != '\t' && *end != ':'))
			return errf(msg, ms, "expected 'lun N BACKING'");
		while (*end == ' ' || *end == '\t' || *end == ':')
			end++;
		l = add_lun(t, (unsigned)n, msg, ms);
		if (!l || parse_backing(l, end, msg, ms) < 0)
			return -EINVAL;
		return 1;
	}
	if (!strcasecmp(k, "incominguser")) {
		if (t->nin >= TARGET_MAX_ACCOUNTS)
			return errf(msg, ms, "too many incominguser accounts");
		if (parse_account(&t->in[t->nin], v, msg, ms) < 0)
			return -EINVAL;
		t->nin++;
		return 1;
	}
	if (!strcasecmp(k, "outgoinguser")) {
		if (parse_account(&t->out, v, msg, ms) < 0)
			return -EINVAL;
		t->has_out = true;
		return 1;
	}
	if (!strcasecmp(k, "initiator-name")) {
		char why[128];

		if (conf_check_iscsi_name(v, why, sizeof(why)) < 0)
			return errf(msg, ms, "invalid initiator name '%s': %s", v, why);
		if (t->nacl >= TARGET_MAX_ACL)
			return errf(msg, ms, "too many initiator-name entries");
		snprintf(t->acl[t->nacl++], TARGET_NAME_MAX, "%s", v);
		return 1;
	}
	if (!strcasecmp(k, "portal")) {
		r = add_portal(cfg, v, msg, ms);
		if (r < 0)
			return r;
		if (t->nportals >= TARGET_MAX_PORTALS)
			return errf(msg, ms, "too many portals");
		t->portal_idx[t->nportals++] = (unsigned)r;
		return 1;
	}
	if (!strcasecmp(k, "alias")) {
		snprintf(t->alias, sizeof(t->alias), "%s", v);
		return 1;
	}
	if (!strcasecmp(k, "block-size") || !strcasecmp(k, "readonly")) {
		/* tgt allows these at target level: apply to every LUN of the target so far. */
		for (unsigned i = 0; i < t->nluns; i++)
			if (lun_key(&t->luns[i], k, v, msg, ms) < 0)
				return -EINVAL;
		if (!t->nluns)
			return errf(msg, ms, "'%s' before any LUN of the target", k);
		return 1;
	}
	if (!strcasecmp(k, "initiator-address") || !strcasecmp(k, "vendor_id") ||
	    !strcasecmp(k, "product_id") || !strcasecmp(k, "bs-type") ||
	    !strcasecmp(k, "write-cache"))
		return 1; /* tgt keys we accept and ignore */
	return 0;
}

int
target_config_load_buffer(struct target_config *cfg, const char *buf, size_t len,
			  const char *file, char *err, size_t err_size)
{
	struct conf_lexer lx;
	struct conf_token tok;
	struct target_target_cfg *t = NULL;
	struct target_lun_cfg *l = NULL;
	char msg[CONF_ERR_SIZE];
	int r;

	conf_lexer_init(&lx, buf, len, file, CONF_LEX_SPACE_SEP | CONF_LEX_TAGS);
	while ((r = conf_lexer_next(&lx, &tok, err, err_size)) > 0) {
		msg[0] = '\0';
		if (tok.kind == CONF_TOK_TAG_OPEN) {
			if (!strcasecmp(tok.key, "target") && !t) {
				t = add_target(cfg, tok.value, msg, sizeof(msg));
				if (!t)
					goto bad;
			} else if (!strcasecmp(tok.key, "backing-store") && t && !l) {
				l = add_lun(t, next_lun(t), msg, sizeof(msg));
				if (!l || parse_backing(l, tok.value, msg, sizeof(msg)) < 0)
					goto bad;
			} else {
				snprintf(msg, sizeof(msg), "unexpected <%s> here", tok.key);
				goto bad;
			}
			continue;
		}
		if (tok.kind == CONF_TOK_TAG_CLOSE) {
			if (l && !strcasecmp(tok.key, "backing-store")) {
				l = NULL;
			} else if (t && !l && !strcasecmp(tok.key, "target")) {
				t = NULL;
			} else {
				snprintf(msg, sizeof(msg), "unexpected </%s>", tok.key);
				goto bad;
			}
			continue;
		}
		if (l) {
			if (!strcasecmp(tok.key, "lun")) {
				char *end;
				unsigned long n = strtoul(tok.value, &end, 10);

				if (end == tok.value || *end || n > 16383) {
					snprintf(msg, sizeof(msg), "bad LUN number '%s'", tok.value);
					goto bad;
				}
				for (unsigned i = 0; i < t->nluns; i++)
					if (&t->luns[i] != l && t->luns[i].lun == n) {
						snprintf(msg, sizeof(msg), "LUN %lu defined twice", n);
						goto bad;
					}
				l->lun = (unsigned)n;
				continue;
			}
			r = lun_key(l, tok.key, tok.value, msg, sizeof(msg));
		} else if (t) {
			r = target_key(cfg, t, tok.key, tok.value, msg, sizeof(msg));
		} else {
			r = global_key(cfg, tok.key, tok.value, msg, sizeof(msg));
		}
		if (r < 0)
			goto bad;
		if (r == 0) {
			snprintf(msg, sizeof(msg), "unknown key '%s'%s", tok.key,
				 l ? " in <backing-store>" : t ? " in <target>" : "");
			goto bad;
		}
	}
	if (r < 0)
		return r;
	if (t || l)
		return conf_errorf(err, err_size, file, lx.line, "missing </%s> at end of file",
				   l ? "backing-store" : "target");
	return 0;
bad:
	return conf_errorf(err, err_size, tok.file, tok.line, "%s",
			   msg[0] ? msg : "invalid value");
}

int
target_config_load(struct target_config *cfg, const char *path, char *err, size_t err_size)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return r;
	}
	for (;;) {
		if (len == cap) {
			char *nb;

			if (cap >= CONF_MAX_FILE_SIZE) {
				fclose(f);
				mem_free(buf);
				snprintf(err, err_size, "%s: file too large", path);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 8192;
			nb = mem_alloc(cap);
			if (!nb) {
				fclose(f);
				mem_free(buf);
				snprintf(err, err_size, "%s: out of memory", path);
				return -ENOMEM;
			}
			if (buf)
				memcpy(nb, buf, len);
			mem_free(buf);
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);

		if (!n)
			break;
		len += n;
	}
	if (ferror(f)) {
		fclose(f);
		mem_free(buf);
		snprintf(err, err_size, "%s: read error", path);
		return -EIO;
	}
	fclose(f);
	r = target_config_load_buffer(cfg, buf ? buf : "", len, path, err, err_size);
	mem_free(buf);
	return r;
}

int
target_cli_portal(struct target_cli *cli, const char *arg, char *err, size_t err_size)
{
	return add_portal(cli->cfg, arg, err, err_size) < 0 ? -EINVAL : 0;
}

int
target_cli_target(struct target_cli *cli, const char *iqn, char *err, size_t err_size)
{
	cli->cur = add_target(cli->cfg, iqn, err, err_size);
	return cli->cur ? 0 : -EINVAL;
}

int
target_cli_lun(struct target_cli *cli, const char *arg, char *err, size_t err_size)
{
	struct target_lun_cfg *l;
	char *end;
	unsigned long n;

	if (!cli->cur)
		return errf(err, err_size, "--lun needs a --target before it");
	n = strtoul(arg, &end, 10);
	if (end == arg || *end != ':')
		return errf(err, err_size, "--lun N:mem:SIZE|N:file:PATH|N:null:SIZE");
	l = add_lun(cli->cur, (unsigned)n, err, err_size);
	if (!l)
		return -EINVAL;
	return parse_backing(l, end + 1, err, err_size);
}

int
target_cli_read_only(struct target_cli *cli, const char *arg, char *err, size_t err_size)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);

	if (!cli->cur || end == arg || *end)
		return errf(err, err_size, "--read-only-lun N after --target and --lun");
	for (unsigned i = 0; i < cli->cur->nluns; i++)
		if (cli->cur->luns[i].lun == n) {
			cli->cur->luns[i].read_only = true;
			return 0;
		}
	return errf(err, err_size, "--read-only-lun %lu: no such LUN", n);
}

int
target_cli_chap(struct target_cli *cli, const char *arg, bool mutual, char *err,
		size_t err_size)
{
	struct target_target_cfg *t = cli->cur;

	if (!t)
		return errf(err, err_size, "--chap/--mutual-chap need a --target before them");
	if (!strchr(arg, ':'))
		return errf(err, err_size, "expected USER:SECRET");
	if (mutual) {
		if (parse_account(&t->out, arg, err, err_size) < 0)
			return -EINVAL;
		t->has_out = true;
		return 0;
	}
	if (t->nin >= TARGET_MAX_ACCOUNTS)
		return errf(err, err_size, "too many CHAP accounts");
	if (parse_account(&t->in[t->nin], arg, err, err_size) < 0)
		return -EINVAL;
	t->nin++;
	return 0;
}

int
target_cli_allow(struct target_cli *cli, const char *iqn, char *err, size_t err_size)
{
	char why[128];

	if (!cli->cur)
		return errf(err, err_size, "--allow needs a --target before it");
	if (conf_check_iscsi_name(iqn, why, sizeof(why)) < 0)
		return errf(err, err_size, "--allow '%s': %s", iqn, why);
	if (cli->cur->nacl >= TARGET_MAX_ACL)
		return errf(err, err_size, "too many --allow entries");
	snprintf(cli->cur->acl[cli->cur->nacl++], TARGET_NAME_MAX, "%s", iqn);
	return 0;
}

int
target_config_finish(struct target_config *cfg, char *err, size_t err_size)
{
	struct target_params *p = &cfg->params;
	char msg[128];

	if (!cfg->nportals)
		add_portal(cfg, "0.0.0.0:3260", msg, sizeof(msg));
	if (!cfg->ntargets)
		return errf(err, err_size, "no target configured (--target or --config)");
	for (unsigned i = 0; i < cfg->ntargets; i++) {
		struct target_target_cfg *t = cfg->targets[i];

		if (!t->nluns)
			return errf(err, err_size, "target %s has no LUN", t->iqn);
		if (t->has_out && !t->nin)
			return errf(err, err_size,
				    "target %s: outgoinguser (mutual CHAP) needs an incominguser",
				    t->iqn);
		for (unsigned j = 0; j < t->nluns; j++) {
			struct target_lun_cfg *l = &t->luns[j];

			if (!l->block_size)
				l->block_size = cfg->block_size;
			if (l->backing != TARGET_BACKING_FILE &&
			    (!l->size || l->size % l->block_size))
				return errf(err, err_size,
					    "target %s LUN %u: size must be a multiple of %u",
					    t->iqn, l->lun, l->block_size);
		}
	}
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst;
	/* Whole 4 KiB pieces: commands larger than the buffer stream through it in windows of
	 * whole logical blocks (ffp.c), and a burst must fit one window. */
	cfg->max_xfer &= ~4095u;
	if (p->max_burst > cfg->max_xfer)
		p->max_burst = cfg->max_xfer;
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst;
	if (cfg->max_sessions_per_initiator > cfg->max_sessions)
		cfg->max_sessions_per_initiator = cfg->max_sessions;
	return 0;
}

struct target_target_cfg *
target_config_find(const struct target_config *cfg, const char *iqn)
{
	for (unsigned i = 0; i < cfg->ntargets; i++)
		if (!strcasecmp(cfg->targets[i]->iqn, iqn))
			return cfg->targets[i];
	return NULL;
}

bool
target_config_acl_allows(const struct target_target_cfg *t, const char *name)
{
	if (!t->nacl)
		return true;
	for (unsigned i = 0; i < t->nacl; i++)
		if (!strcasecmp(t->acl[i], name))
			return true;
	return false;
}
