/*
 * ballast-targetd configuration: the in-memory model of /etc/ballast/targets.conf (tgt's
 * targets.conf shape, see targets.conf(5)) merged with the command line. Control plane only.
 */
/*
 * Files in target/ that write #include "config.h" find this header first (quote includes
 * search the including file's directory before -I). Pull in the autoconf header from the
 * include path so that they still get it. Angle brackets: target/ is not on the path.
 */
#include <config.h>

#ifndef BALLAST_TARGET_CONFIG_H
#define BALLAST_TARGET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TARGET_NAME_MAX 224       /* iSCSI name + NUL */
#define TARGET_HOST_MAX 256       /* host or address text + NUL */
#define TARGET_PATH_MAX 4096
#define TARGET_CHAP_USER_MAX 256
#define TARGET_CHAP_SECRET_MAX 256
#define TARGET_MAX_LUNS 64
#define TARGET_MAX_ACCOUNTS 8
#define TARGET_MAX_ACL 32
#define TARGET_MAX_PORTALS 16
#define TARGET_MAX_TARGETS 64
#define TARGET_MAX_CHAP_ALGS 4

enum target_backing {
	TARGET_BACKING_MEM = 0,
	TARGET_BACKING_FILE,
	TARGET_BACKING_NULL,
};

struct target_lun_cfg {
	unsigned lun;
	enum target_backing backing;
	char path[TARGET_PATH_MAX]; /* file backing */
	uint64_t size;              /* bytes; 0 for a file: use the file's size */
	uint32_t block_size;        /* 512 or 4096 */
	bool read_only;
	bool direct;                /* O_DIRECT for file backing */
	char serial[33];            /* unit serial number, "" = derived */
};

struct target_account {
	char user[TARGET_CHAP_USER_MAX];
	char secret[TARGET_CHAP_SECRET_MAX + 1];
	size_t secret_len;
};

/* A listening address. host "" or "0.0.0.0"/"::" binds all addresses. */
struct target_portal_cfg {
	char host[TARGET_HOST_MAX];
	uint16_t port;               /* 0: ephemeral, reported once bound */
	char advertise[TARGET_HOST_MAX + 8]; /* TargetAddress override "host:port", "" = bound */
	uint16_t tpgt;
};

struct target_target_cfg {
	char iqn[TARGET_NAME_MAX];
	char alias[TARGET_NAME_MAX];
	struct target_lun_cfg luns[TARGET_MAX_LUNS];
	unsigned nluns;
	struct target_account in[TARGET_MAX_ACCOUNTS]; /* incominguser: initiator proves to us */
	unsigned nin;
	struct target_account out;                     /* outgoinguser: we prove (mutual CHAP) */
	bool has_out;
	char acl[TARGET_MAX_ACL][TARGET_NAME_MAX];     /* initiator-name; none = everyone */
	unsigned nacl;
	unsigned portal_idx[TARGET_MAX_PORTALS];       /* portals of this target; none = all */
	unsigned nportals;
};

/* Digest policy: refuse CRC32C, accept it when the initiator prefers it, or insist on it. */
#define TARGET_DIGEST_NONE 0
#define TARGET_DIGEST_ALLOW 1
#define TARGET_DIGEST_REQUIRED 2

/* Operational parameters we offer or accept (RFC 7143 section 13). */
struct target_params {
	uint32_t max_recv_dsl;     /* our MaxRecvDataSegmentLength */
	uint32_t max_burst;
	uint32_t first_burst;
	bool immediate_data;
	bool initial_r2t;
	uint32_t max_outstanding_r2t;
	uint32_t max_connections;
	uint32_t default_time2wait, default_time2retain;
	uint8_t header_digest;     /* TARGET_DIGEST_* */
	uint8_t data_digest;
};

struct target_config {
	struct target_portal_cfg portals[TARGET_MAX_PORTALS];
	unsigned nportals;
	struct target_target_cfg *targets[TARGET_MAX_TARGETS];
	unsigned ntargets;
	struct target_account discovery_in[TARGET_MAX_ACCOUNTS]; /* incomingdiscoveryuser */
	unsigned ndiscovery_in;
	struct target_account discovery_out;
	bool has_discovery_out;
	uint8_t chap_algs[TARGET_MAX_CHAP_ALGS];  /* preference order, CHAP_A numbers */
	unsigned nchap_algs;
	struct target_params params;
	uint32_t queue_depth;         /* commands per session (CmdSN window) */
	uint32_t max_xfer;            /* largest data transfer per command, bytes */
	uint32_t max_sessions;        /* whole daemon */
	uint32_t max_sessions_per_initiator;
	uint32_t max_text_len;        /* total text of a login/text negotiation, bytes */
	uint32_t login_timeout_ms;
	uint32_t idle_timeout_ms;     /* 0: none */
	uint32_t nop_interval_ms;     /* 0: no NOP-In pings */
	uint32_t nop_timeout_ms;
	uint32_t block_size;          /* default for LUNs */
	int log_level;
};

/* Parse state for the command line (LUNs are applied to the --target given). */
struct target_cli {
	struct target_config *cfg;
	struct target_target_cfg *cur; /* the last --target */
};

/* A new configuration with every default set, no portals or targets. NULL on -ENOMEM. */
struct target_config *target_config_new(void);
/* Accepts NULL. */
void target_config_free(struct target_config *cfg);

/*
 * Read a targets.conf file into cfg (adds portals and targets to what cfg holds). Returns 0,
 * or -errno with "file:line: message" in err (err_size bytes).
 */
int target_config_load(struct target_config *cfg, const char *path, char *err, size_t err_size);

/* Same, from a buffer (tests, fuzzing). `file` names the source in messages. */
int target_config_load_buffer(struct target_config *cfg, const char *buf, size_t len,
			      const char *file, char *err, size_t err_size);

/*
 * Command-line helpers: each applies one option to cli->cfg. Return 0 or -EINVAL with a
 * message in err.
 */
int target_cli_portal(struct target_cli *cli, const char *arg, char *err, size_t err_size);
int target_cli_target(struct target_cli *cli, const char *iqn, char *err, size_t err_size);
int target_cli_lun(struct target_cli *cli, const char *arg, char *err, size_t err_size);
int target_cli_read_only(struct target_cli *cli, const char *arg, char *err, size_t err_size);
int target_cli_chap(struct target_cli *cli, const char *arg, bool mutual, char *err,
		    size_t err_size);
int target_cli_allow(struct target_cli *cli, const char *iqn, char *err, size_t err_size);

/*
 * Final checks after all sources are merged (a target needs a LUN, names are valid, defaults
 * filled: a portal 0.0.0.0:3260 if none). Returns 0 or -EINVAL with a message.
 */
int target_config_finish(struct target_config *cfg, char *err, size_t err_size);

/* Look a target up by IQN (case-insensitive per RFC 3722 mapping of ASCII). NULL if none. */
struct target_target_cfg *target_config_find(const struct target_config *cfg, const char *iqn);

/* True when initiator `name` may log in to t (empty ACL = everyone). */
bool target_config_acl_allows(const struct target_target_cfg *t, const char *name);

/* Parse "HOST:PORT", "[V6]:PORT", "HOST" (port 3260). Returns 0 or -EINVAL. */
int target_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port);

#endif
