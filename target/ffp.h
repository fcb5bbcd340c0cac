/*
 * Full Feature Phase of ballast-targetd (RFC 7143 sections 4-7, 11): SCSI Command with
 * immediate and unsolicited data, R2T, Data-Out, Data-In with phase collapse and residuals,
 * SCSI Response, NOP-Out/NOP-In, Task Management, Logout, Text, SNACK (rejected at ERL 0),
 * digest errors, and the CmdSN window. Datapath: nothing here allocates.
 * Thread: the daemon's loop thread.
 */
#ifndef BALLAST_TARGET_FFP_H
#define BALLAST_TARGET_FFP_H

#include <stdbool.h>
#include <stdint.h>

struct target_conn;
struct target_task;

/*
 * A header (BHS + AHS) arrived in Full Feature Phase: validate it against the session state
 * and set c->rx_dest / c->rx_task for its data segment (NULL dest: discard). May send a
 * Reject or close the connection.
 */
void target_ffp_header(struct target_conn *c);

/* The whole PDU (header and data) arrived in Full Feature Phase. */
void target_ffp_pdu(struct target_conn *c);

/* The data digest of the current PDU did not match (RFC 7143 7.8). */
void target_ffp_data_digest_error(struct target_conn *c);

/*
 * Build the next PDU(s) of a queued task into free tx slots (R2T, Data-In, SCSI Response,
 * NOP-In echo). Returns true when the task has nothing more to send now, false when slots ran
 * out (the pump retries later).
 */
bool target_ffp_task_tx(struct target_conn *c, struct target_task *t);

/*
 * A transmit slot of t completed (conn.c): once every Data-In PDU of a streaming window has
 * left, the SCSI layer gets the buffer back and produces the next window. Datapath.
 */
void target_ffp_stream_sent(struct target_task *t);

/* A connection is going away: abort its tasks (buffers are released as their I/O ends). */
void target_ffp_conn_gone(struct target_conn *c);

/* Send an unsolicited NOP-In ping on c (TTT != 0xffffffff). */
void target_ffp_ping(struct target_conn *c);

/* Send an Async Message requesting logout (shutdown), with Time2Wait/Retain parameters. */
void target_ffp_async_logout(struct target_conn *c, uint16_t wait_s);

#endif
