/*
 * ballastadm internals: the node database (adm_node.c) and sessions (adm_session.c), shared
 * with the command line front end (adm.c). Private to the ballastadm program.
 *
 * Node records live in <node_dir>/<IQN>/<HOST>,<PORT>,<TPGT>, one ballastd.conf-style file
 * each (node.* and iface.* keys, mode 0600: they hold CHAP secrets), like open-iscsi's
 * /etc/iscsi/nodes. A session is one ballastd process started for a record; its files in
 * <run_dir> are named after the record (adm_session_name()):
 *   <name>.ctl      ballastd's control socket
 *   <name>.conf     the configuration ballastd was started with (ballastd.conf + record)
 *   <name>.session  the record as logged in, plus session.sid and session.pid
 *   <name>.log      ballastd's stderr (not under systemd)
 *
 * Control plane, single threaded, blocking. Functions print their own error messages
 * ("ballastadm: ...") on stderr and return exit codes from enum adm_exit.
 */
#ifndef BALLAST_INITIATOR_ADM_H
#define BALLAST_INITIATOR_ADM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/conf.h"
#include "common/text.h"
#include "initiator/config.h"

/* Exit codes: open-iscsi's numbering (iscsiadm(8) EXIT STATUS), which scripts test. */
enum adm_exit {
	ADM_OK = 0,
	ADM_ERR = 1,
	ADM_ERR_SESS_NOT_FOUND = 2,
	ADM_ERR_NOMEM = 3,
	ADM_ERR_TRANS = 4,
	ADM_ERR_LOGIN = 5,
	ADM_ERR_IDBM = 6,
	ADM_ERR_INVAL = 7,
	ADM_ERR_TRANS_TIMEOUT = 8,
	ADM_ERR_INTERNAL = 9,
	ADM_ERR_LOGOUT = 10,
	ADM_ERR_ACCESS = 13,
	ADM_ERR_SESS_EXISTS = 15,
	ADM_ERR_FATAL_LOGIN = 19,
	ADM_ERR_NO_OBJS_FOUND = 21,
	ADM_ERR_HOST_NOT_FOUND = 23,
	ADM_ERR_LOGIN_AUTH_FAILED = 24,
	ADM_ERR_OP_NOT_SUPP = 27,
	ADM_ERR_UNKNOWN_DISCOVERY_TYPE = 30,
};

#define ADM_RECORD_MAX_KEYS 128
#define ADM_NAME "ballastadm"

/* Where things are and how to run; filled by adm.c from options and the environment. */
struct adm_ctx {
	char node_dir[PATH_MAX];  /* BALLAST_NODE_DIR / --node-dir (/etc/ballast/nodes) */
	char conf_dir[PATH_MAX];  /* BALLAST_CONF_DIR / --conf-dir (/etc/ballast) */
	char run_dir[PATH_MAX];   /* BALLAST_RUN_DIR / --run-dir (/run/ballast) */
	char ballastd[PATH_MAX];  /* BALLASTD / --ballastd: the daemon to start */
	const char *iface;        /* -I: only "default" */
	bool systemd;             /* --systemd: start ballastd with systemd-run */
	bool show_secrets;        /* -S */
	int print_level;          /* -P, -1 if not given */
	int timeout;              /* --timeout seconds for login readiness; 0: from the record */
};

/* One node record in memory (heap: adm_record_new / mem_free). */
struct adm_record {
	char path[PATH_MAX];
	char iqn[TEXT_NAME_MAX + 1];
	char host[INITIATOR_HOST_MAX];
	uint16_t port;
	int tpgt;
	size_t n;
	struct conf_kv kv[ADM_RECORD_MAX_KEYS];
};

/* A selection of records (-T, -p): empty fields match anything. */
struct adm_filter {
	const char *iqn;
	char host[INITIATOR_HOST_MAX];
	int port; /* -1: any */
	int tpgt; /* -1: any */
};

/*
 * Parse -p HOST[:PORT][,TPGT] ("[v6]:PORT" too) into f (port/tpgt -1 when absent). Returns 0
 * or -EINVAL.
 */
int adm_parse_portal(const char *s, struct adm_filter *f);

/*
 * snprintf() that reports truncation: returns 0, or -ENAMETOOLONG when the result did not fit
 * (buf then holds a truncated string). For paths built from user input.
 */
int adm_fmt(char *buf, size_t size, const char *fmt, ...) PRINTF_FMT(3, 4);

/* "HOST:PORT" with brackets around an IPv6 host, into buf. Returns buf. */
const char *adm_portal_str(const char *host, unsigned port, char *buf, size_t size);

/* ---- records (adm_node.c) ------------------------------------------------------------------ */

/* A zeroed record or NULL. Owned by caller, release with mem_free(). */
struct adm_record *adm_record_new(void);

/* The value of key, or NULL. Borrowed until the record changes. */
const char *adm_record_get(const struct adm_record *r, const char *key);

/* Set key (appended when absent). Returns 0 or -ENOSPC / -ERANGE. */
int adm_record_set(struct adm_record *r, const char *key, const char *value);

/*
 * Fill r with a new record for iqn at host:port,tpgt: the built-in defaults, overridden by
 * the node.* keys of <conf_dir>/ballastd.conf, then the identity keys. Sets r->path. Returns
 * 0 or an exit code (message printed).
 */
int adm_record_init(const struct adm_ctx *ctx, struct adm_record *r, const char *iqn,
		    const char *host, uint16_t port, int tpgt);

/* Load the record file at path (identity from its keys). Returns 0 or -errno with msg. */
int adm_record_load(struct adm_record *r, const char *path, char *msg, size_t msg_size);

/* Write r to path (r->path when NULL) atomically, mode 0600. Returns 0 or -errno with msg. */
int adm_record_save(const struct adm_record *r, const char *path, char *msg, size_t msg_size);

/* True when f selects r. */
bool adm_filter_match(const struct adm_filter *f, const struct adm_record *r);

/*
 * Load every record of the node DB that f selects, sorted by target then portal. Returns how
 * many (*out owned by caller, release each with mem_free() then the array with mem_free()),
 * or an exit code < 0 negated (-ADM_ERR_IDBM) with a message printed.
 */
int adm_records_find(const struct adm_ctx *ctx, const struct adm_filter *f,
		     struct adm_record ***out);

/* Release what adm_records_find() returned. */
void adm_records_free(struct adm_record **v, int n);

/*
 * Check that key = value may be stored by -o update: a key of the record table or one
 * ballastd's configuration accepts (with a valid value), and not an identity key. Returns 0 or
 * ADM_ERR_INVAL with a message printed.
 */
int adm_record_check_update(const char *key, const char *value);

/* Print r as `-o show` does (secrets masked unless ctx->show_secrets). */
void adm_record_show(const struct adm_ctx *ctx, const struct adm_record *r);

/* ---- modes (adm_node.c, adm_session.c) ----------------------------------------------------- */

/* -m discovery -t st -p PORTAL [-o new|delete|nonpersistent] [-l]. Returns an exit code. */
int adm_discovery(struct adm_ctx *ctx, const char *portal, const char *op, bool login);

/* -m node -o OP [-n KEY -v VALUE] on the records f selects. Returns an exit code. */
int adm_node_op(struct adm_ctx *ctx, const struct adm_filter *f, const char *op,
		const char *key, const char *value);

/* -m node: list the records f selects ("HOST:PORT,TPGT IQN"). Returns an exit code. */
int adm_node_list(struct adm_ctx *ctx, const struct adm_filter *f);

/* Log in to record r (start its ballastd). Returns an exit code; prints iscsiadm-like lines. */
int adm_login(struct adm_ctx *ctx, const struct adm_record *r);

/* --login / --logout on the records f selects. Returns the first error's exit code. */
int adm_node_login(struct adm_ctx *ctx, const struct adm_filter *f, bool login);

/* --loginall=all|automatic|manual|onboot / --logoutall=... Returns an exit code. */
int adm_node_login_all(struct adm_ctx *ctx, const char *which, bool login);

/*
 * Log out every session of record identity (iqn, host, port); *found set when one existed.
 * Returns an exit code.
 */
int adm_logout_node(struct adm_ctx *ctx, const char *iqn, const char *host, unsigned port,
		    bool *found);

/* -m session [-r SID] [-P N] [-u]. sid < 0: all. Returns an exit code. */
int adm_session_mode(struct adm_ctx *ctx, long sid, bool logout);

/* The run-dir base name of the session of (iqn, host, port), into buf. Returns buf. */
const char *adm_session_name(const struct adm_ctx *ctx, const char *iqn, const char *host,
			     unsigned port, char *buf, size_t size);

#endif
