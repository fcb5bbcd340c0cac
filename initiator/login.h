/*
 * iSCSI login, initiator side (RFC 7143 6, 11.12, 11.13): the security stage with CHAP
 * (one-way and mutual, CHAP_A from an ordered list) or none, the operational stage through
 * common/text.h, ISID/TSIH handling and the transition to Full Feature Phase.
 *
 * The exchange is a state machine over caller storage so that a relogin can be driven from
 * preallocated state: initiator_login_build() fills the next Login Request, and
 * initiator_login_recv() consumes each Login Response. initiator_login_run() drives it over a
 * blocking connection (struct initiator_sync); the session's relogin drives it from the ring
 * with initiator_login_next() (issue 6). No logging: the outcome and a human-readable reason
 * are in struct initiator_login.
 *
 * Allocation: with a struct initiator_login_crypto prepared at startup, a login with CHAP MD5,
 * SHA1 or SHA256 (one-way or mutual) never allocates; SHA3-256 still allocates inside OpenSSL
 * 3.0 (one EVP provider context per digest). Without one (discovery, tools) OpenSSL is used
 * directly and may allocate. Thread: the caller's.
 */
#ifndef BALLAST_INITIATOR_LOGIN_H
#define BALLAST_INITIATOR_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chap.h"
#include "common/pdu.h"
#include "common/text.h"
#include "initiator/config.h"
#include "initiator/conn.h"

#define INITIATOR_LOGIN_PAIRS 160

/*
 * Digest state reserved for CHAP at startup (control plane) so that a relogin computes and
 * checks responses without allocating. Caller storage; opaque pointers to OpenSSL objects.
 */
struct initiator_login_crypto {
	void *sha3_md;                        /* EVP_MD * for SHA3-256 (when configured) */
	void *sha3_ctx;                       /* EVP_MD_CTX * */
};

/*
 * Prepare cr for the algorithms of chap (may be NULL) and warm every digest and the random
 * generator up, so that their first use after startup does not allocate. Control plane.
 * Returns 0 or -ENOTSUP (SHA3-256 configured but unavailable), -EIO. Release with _fini.
 */
int initiator_login_crypto_init(struct initiator_login_crypto *cr,
				const struct initiator_chap_cfg *chap);
void initiator_login_crypto_fini(struct initiator_login_crypto *cr);

/* What a login needs. Strings and chap are borrowed until the login is finished. */
struct initiator_login_params {
	const char *initiator_name;
	const char *initiator_alias;          /* or NULL */
	const char *target_name;              /* NULL for a discovery session */
	bool discovery;
	uint8_t isid[6];
	uint16_t tsih;                        /* 0: new session; else reinstatement */
	uint16_t cid;
	uint32_t cmdsn;                       /* the session's next CmdSN */
	const struct initiator_chap_cfg *chap; /* NULL or !enabled: AuthMethod=None */
	const struct initiator_login_crypto *crypto; /* reserved digests, or NULL */
	struct text_local local;              /* operational offers (text_local_defaults + cfg) */
};

enum initiator_login_state {
	INITIATOR_LOGIN_START,
	INITIATOR_LOGIN_SEC,                  /* security stage, before CHAP_A */
	INITIATOR_LOGIN_CHAP_A,               /* CHAP_A sent, waiting for the challenge */
	INITIATOR_LOGIN_CHAP_R,               /* CHAP_R sent, waiting for the transition */
	INITIATOR_LOGIN_OP,                   /* operational stage */
	INITIATOR_LOGIN_DONE,                 /* Full Feature Phase */
	INITIATOR_LOGIN_FAILED,
};

/* Login state, caller storage (about 100 KiB). Read-only outside login.c. */
struct initiator_login {
	struct initiator_login_params p;
	enum initiator_login_state state;
	int stage;                            /* current stage (CSG) */
	bool transit;                         /* T bit of our next request */
	int nsg;
	bool continue_rx;                     /* the target set C: send an empty request */
	uint32_t itt;
	uint32_t expstatsn;
	bool have_statsn;
	uint16_t tsih;                        /* assigned by the target */
	uint16_t status;                      /* last Login Response status */
	uint8_t chap_alg;                     /* chosen CHAP_A */
	struct chap_challenge ours;           /* mutual CHAP: our challenge to the target */
	struct text_neg neg;
	struct text_accum acc;
	struct text_buf out;
	struct text_pair pairs[INITIATOR_LOGIN_PAIRS];
	char accbuf[INITIATOR_TEXT_MAX];
	char outbuf[TEXT_REPLY_MIN];
	char msg[256];                        /* why it failed */
};

/* Start a login. p is copied (strings stay borrowed). Never fails. */
void initiator_login_init(struct initiator_login *l, const struct initiator_login_params *p);

/*
 * Build the next Login Request into h (data_len set) and data[0..cap). Returns the data length
 * or -errno (-ENOSPC: text does not fit in cap).
 */
int initiator_login_build(struct initiator_login *l, struct pdu_hdr *h, char *data, size_t cap);

/*
 * Build the next Login Request into h and buf[0..cap): the answers initiator_login_recv() left
 * pending, then initiator_login_build()'s offers; h->data_len and the return value are the
 * whole data length, or -errno (-ENOSPC) with the reason in l->msg. Never allocates.
 */
int initiator_login_next(struct initiator_login *l, struct pdu_hdr *h, char *buf, size_t cap);

/*
 * Consume a Login Response. Returns 1 when Full Feature Phase is reached (l->neg.params holds
 * the result, l->tsih the TSIH), 0 when another request must be sent, or -errno on failure
 * (-EACCES authentication, -ENOENT target not found, -EAGAIN target temporarily unavailable,
 * -EPROTO protocol or negotiation error) with the reason in l->msg.
 */
int initiator_login_recv(struct initiator_login *l, const struct pdu_hdr *h, const void *data,
			 uint32_t len);

/*
 * Run a whole login over s (blocking, each PDU bounded by s->timeout_ms). On success s holds
 * the session's sequence numbers and negotiated digests and limits. Returns 0 or -errno with
 * the reason in l->msg.
 */
int initiator_login_run(struct initiator_login *l, struct initiator_sync *s);

/* A random ISID of type "random" (RFC 7143 11.12.5: T = 10b). */
void initiator_login_random_isid(uint8_t isid[6]);

/* Fill local with our operational offers from cfg (discovery: the discovery limits). */
void initiator_login_local_from_config(struct text_local *local,
				       const struct initiator_config *cfg, bool discovery);

/* "ISID" as 12 hex digits into buf (13 bytes). */
void initiator_login_isid_str(const uint8_t isid[6], char buf[13]);

#endif
