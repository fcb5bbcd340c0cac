/*
 * ballastd configuration: defaults (open-iscsi's iscsid.conf values where a key applies), the
 * configuration file (/etc/ballast/ballastd.conf, iscsid.conf syntax and key names plus
 * ballast's own export.* and reserve.* keys), /etc/ballast/initiatorname.iscsi, and the helpers
 * that parse one-shot command line values (--portal, --chap, --nbd, --ublk).
 *
 * Control plane only (main thread, startup). Errors are -errno with a message in a caller
 * buffer ("file:line: ..." for file errors). No logging.
 */
#ifndef BALLAST_INITIATOR_CONFIG_H
#define BALLAST_INITIATOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chap.h"
#include "common/conf.h"
#include "common/text.h"
#include "initiator/initiator.h"

#define INITIATOR_HOST_MAX 256
#define INITIATOR_PATH_MAX 108 /* sun_path */

enum initiator_nbd_kind {
	INITIATOR_NBD_UNIX,
	INITIATOR_NBD_TCP,
	INITIATOR_NBD_KERNEL,
};

/* One --nbd export point. */
struct initiator_nbd_spec {
	enum initiator_nbd_kind kind;
	char path[INITIATOR_PATH_MAX]; /* UNIX: socket path; KERNEL: device or "" (next free) */
	char host[INITIATOR_HOST_MAX]; /* TCP */
	uint16_t port;                 /* TCP; 0 = pick a free port (reported on --ready-fd) */
	int kernel_index;              /* KERNEL: N of /dev/nbdN or -1 */
	char spec[INITIATOR_PATH_MAX + 16]; /* as given, for messages */
};

/* Most ublk exports (/dev/ublkbN) one daemon serves. */
#define INITIATOR_MAX_UBLK 8

/* One --ublk export: "[ID|auto][,lun=N]". */
struct initiator_ublk_spec {
	int dev_id;                    /* N of /dev/ublkbN, or -1: the kernel picks */
	int64_t lun;                   /* LUN to export, or -1: --lun / the first LUN */
	char spec[48];                 /* as given, for messages */
};

struct initiator_chap_cfg {
	bool enabled;                  /* authmethod = CHAP */
	char username[256];
	char password[CHAP_MAX_SECRET_LEN + 1];
	char username_in[256];         /* mutual CHAP: the target's name */
	char password_in[CHAP_MAX_SECRET_LEN + 1];
	uint8_t algs[4];               /* chap_algs, ordered, CHAP_A numbers */
	size_t nalgs;
};

struct initiator_config {
	/* the node */
	char initiator_name[CONF_ISCSI_NAME_MAX + 1];
	char initiator_alias[TEXT_VALUE_MAX + 1];
	char target[TEXT_NAME_MAX + 1];          /* node.name / --target; "" = first discovered */
	char portal_host[INITIATOR_HOST_MAX];    /* node.conn[0].address / --portal */
	uint16_t portal_port;                    /* node.conn[0].port (3260) */
	int64_t lun;                             /* --lun; -1: every disk LUN */
	struct initiator_chap_cfg auth;          /* node.session.auth.* */
	struct initiator_chap_cfg disc_auth;     /* discovery.sendtargets.auth.* */
	/* timeouts (seconds) */
	int replacement_timeout;                 /* 120 */
	int noop_out_interval;                   /* 5 */
	int noop_out_timeout;                    /* 5 */
	int login_timeout;                       /* 15 */
	int logout_timeout;                      /* 15 */
	int abort_timeout;                       /* 15 */
	int lu_reset_timeout;                    /* 30 */
	int cmd_timeout;                         /* 30: node.session.timeo.cmd_timeout, 0 = off */
	int initial_login_retry_max;             /* 8 */
	int reopen_max;                          /* 0: relogin attempts per outage, 0 = no limit */
	/* queueing */
	uint32_t cmds_max;                       /* 128 */
	uint32_t queue_depth;                    /* 32: task slots of the session */
	/* operational keys we offer */
	bool initial_r2t;                        /* No */
	bool immediate_data;                     /* Yes */
	uint32_t first_burst;                    /* 262144 */
	uint32_t max_burst;                      /* 16776192 */
	uint32_t max_recv_dsl;                   /* 262144 */
	uint32_t max_xmit_dsl;                   /* 0: as the target declares */
	uint32_t max_outstanding_r2t;            /* 1 */
	enum text_digest_pref header_digest;     /* None */
	enum text_digest_pref data_digest;       /* None */
	uint32_t disc_max_recv_dsl;              /* 32768 */
	/* exports */
	struct initiator_nbd_spec nbd[INITIATOR_MAX_LISTENERS];
	size_t nnbd;
	char socket_dir[INITIATOR_PATH_MAX];     /* export.nbd.socket_dir (/run/ballast) */
	char nbd_tcp[INITIATOR_HOST_MAX + 8];    /* export.nbd.tcp HOST:PORT or "" */
	bool kernel_nbd;                         /* export.kernel_nbd */
	bool kernel_nbd_tcp;                     /* export.kernel_nbd.transport = tcp (unix) */
	struct initiator_ublk_spec ublk[INITIATOR_MAX_UBLK]; /* --ublk / export.ublk (repeatable) */
	size_t nublk;
	bool ublk_recovery;                      /* export.ublk.recovery (Yes): user recovery */
	int ublk_recover_timeout;                /* export.ublk.recover_timeout (30 s) */
	/* reserves */
	uint32_t max_io;                         /* reserve.max_io_size: NBD max payload (1 MiB) */
	uint32_t nbd_clients;                    /* reserve.nbd_clients (8) */
	uint32_t rx_bufs;                        /* reserve.rx_bufs (16) */
	uint32_t rx_buf_size;                    /* reserve.rx_buf_size (65536) */
	uint32_t sndbuf, rcvbuf;                 /* reserve.sndbuf / rcvbuf (0 = autotune) */
	uint32_t sock_reserve;                   /* reserve.sock_reserve (0) */
	bool mlock;                              /* reserve.mlock (Yes) */
	uint32_t require_prot;                   /* reserve.require: NETRESERVE_PROT_BIT() mask */
	int oom_score_adj;                       /* reserve.oom_score_adj (-1000) */
	uint32_t watchdog_ms;                    /* reserve.watchdog_ms: reclaim watchdog (2000,
						  * 0 = off; netreserve/watchdog.h) */
	/* daemon */
	char control[INITIATOR_PATH_MAX];        /* control socket path or "" */
	int ready_fd;                            /* -1 */
	bool foreground;
	bool print_footprint;
	char log_level[16];
	char log_debug[128];
};

/* Fill cfg with the defaults listed above. */
void initiator_config_defaults(struct initiator_config *cfg);

/*
 * Apply one `key = value` (file or tests). Returns 0, -ENOENT for an unknown key or -EINVAL /
 * -ERANGE for a bad value, with a message (no position) in msg.
 */
int initiator_config_set(struct initiator_config *cfg, const char *key, const char *value,
			 char *msg, size_t msg_size);

/*
 * Load a configuration file. missing_ok: a missing file is not an error. Returns 0 or -errno
 * with "file:line: message" in err.
 */
int initiator_config_load(struct initiator_config *cfg, const char *path, bool missing_ok,
			  char *err, size_t err_size);

/*
 * Read InitiatorName= from an initiatorname.iscsi file into cfg->initiator_name (unless one is
 * already set). missing_ok as above. Returns 0 or -errno with a message.
 */
int initiator_config_load_name(struct initiator_config *cfg, const char *path, bool missing_ok,
			       char *err, size_t err_size);

/* Parse "HOST:PORT", "[V6]:PORT" or "HOST" (port defport). Returns 0 or -EINVAL. */
int initiator_config_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port,
				    uint16_t defport);

/* Parse "USER:SECRET" into chap (enables it). Returns 0 or -EINVAL with a message. */
int initiator_config_parse_chap(const char *s, bool mutual, struct initiator_chap_cfg *chap,
				char *msg, size_t msg_size);

/* Parse an --nbd value into spec. Returns 0 or -EINVAL with a message. */
int initiator_config_parse_nbd(const char *s, struct initiator_nbd_spec *spec, char *msg,
			       size_t msg_size);

/*
 * Parse a --ublk / export.ublk value ("", "auto", "N", each optionally followed by ",lun=L";
 * or "lun=L") into spec. Returns 0 or -EINVAL with a message.
 */
int initiator_config_parse_ublk(const char *s, struct initiator_ublk_spec *spec, char *msg,
				size_t msg_size);

/*
 * Final checks after the file and the flags: initiator name valid, target and portal set,
 * secrets valid, limits consistent. Returns 0 or -EINVAL with a message.
 */
int initiator_config_check(const struct initiator_config *cfg, char *msg, size_t msg_size);

#endif
