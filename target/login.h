/*
 * Login phase of ballast-targetd (RFC 7143 section 6, 11.12-11.13): security negotiation
 * (AuthMethod None or CHAP one-way/mutual with CHAP_A 5/6/7/8), operational negotiation through
 * the common/text engine, target lookup, ACLs, session limits, TSIH allocation and session
 * reinstatement; and the Text requests of Full Feature Phase (SendTargets, renegotiation).
 * Control plane (allocations happen here, before Full Feature Phase); the per-connection
 * negotiation state is allocated at accept.
 * Thread: the daemon's loop thread.
 */
#ifndef BALLAST_TARGET_LOGIN_H
#define BALLAST_TARGET_LOGIN_H

#include <stdint.h>

struct target_conn;
struct target_login;

/* Allocate the login state of c (at accept). Returns 0 or -ENOMEM. */
int target_login_new(struct target_conn *c);

/* Free it (connection close). Accepts c->login NULL. */
void target_login_free(struct target_conn *c);

/* A Login Request PDU arrived (header in c->rx_hdr, data in c->rxbuf). */
void target_login_pdu(struct target_conn *c);

/* A Text Request arrived in Full Feature Phase. */
void target_login_text_pdu(struct target_conn *c);

#endif
