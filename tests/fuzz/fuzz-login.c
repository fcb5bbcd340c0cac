/*
 * Fuzz target for the target's connection path: the streaming PDU parser, the login state
 * machine (text negotiation, CHAP), and, when the input logs in, Full Feature Phase (SCSI
 * commands, Data-Out, R2T, NOP, TMF, Text/SendTargets, Logout) on a small mem LUN.
 *
 * The input is the byte stream an initiator sends. Byte 0 selects the variant (bit 0: the
 * target requires CHAP, bit 1: header digests required, bit 2: tiny chunks); the rest is
 * written into one end of a socketpair whose other end is a real target connection (the
 * readv/writev transport) and the loop runs until the connection is closed or quiet. Whatever
 * the target answers is read and discarded. Crashes, sanitizer reports and leaks (every
 * connection and session must be gone afterwards) are the findings.
 */
#include <config.h>

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "target/config.h"
#include "target/conn.h"
#include "target/control.h"
#include "target/session.h"
#include "target/target.h"
#include "target/xport.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_IQN "iqn.2024-01.org.ballast:fuzz"

struct target_daemon *target_daemon;

/* control.c calls back into main.c for `reload`; the fuzzer never reloads. */
int
target_reload(struct target_daemon *d, char *msg, size_t msg_size)
{
	(void)d;
	snprintf(msg, msg_size, "not in the fuzzer");
	return -ENOTSUP;
}

static struct target_daemon daemons[2];

static struct target_daemon *
setup(bool chap)
{
	struct target_daemon *d = &daemons[chap];
	struct target_cli cli;
	char err[256];

	if (d->loop)
		return d;
	log_set_level(getenv("FUZZ_LOGIN_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
	signal(SIGPIPE, SIG_IGN); /* the target writes to a peer that may be gone */
	d->cfg = target_config_new();
	if (!d->cfg)
		abort();
	cli.cfg = d->cfg;
	cli.cur = NULL;
	if (target_cli_target(&cli, FUZZ_IQN, err, sizeof(err)) < 0 ||
	    target_cli_lun(&cli, "1:mem:1M", err, sizeof(err)) < 0 ||
	    (chap && target_cli_chap(&cli, "user:secret-secret", false, err, sizeof(err)) < 0))
		abort();
	/* Close to the defaults (the seeds were recorded against them), with less memory. */
	d->cfg->queue_depth = 8;
	d->cfg->max_xfer = 262144;
	d->cfg->params.max_burst = 262144;
	d->cfg->params.max_recv_dsl = 262144;
	d->cfg->max_text_len = 16384;
	d->cfg->login_timeout_ms = 1000;
	d->cfg->nop_interval_ms = 0;
	if (target_config_finish(d->cfg, err, sizeof(err)) < 0)
		abort();
	d->loop = ev_default_loop(0);
	d->faults.drop_after = -1;
	if (target_nodes_create(d, d->cfg, err, sizeof(err)) < 0)
		abort();
	if (!daemons[!chap].loop) {
		bool uring;

		if (target_xport_setup(d->loop, 0, 0, true, &uring) < 0)
			abort();
	}
	return d;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct target_daemon *d;
	int sv[2];
	size_t off = 1, chunk;
	uint8_t sink[65536];
	int idle = 0;

	if (size < 1 || size > (1 << 20))
		return 0;
	d = setup(data[0] & 1);
	target_daemon = d;
	d->cfg->params.header_digest = data[0] & 2 ? TARGET_DIGEST_REQUIRED : TARGET_DIGEST_ALLOW;
	chunk = data[0] & 4 ? 7 : 65536;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (target_conn_new(d, NULL, sv[0]) < 0)
		abort();
	/* Feed the stream, let the target run, drain its answers. */
	while (d->conns && idle < 50) {
		bool progress = false;

		if (off < size) {
			ssize_t n = send(sv[1], data + off, MIN(chunk, size - off), MSG_NOSIGNAL);

			if (n > 0) {
				off += (size_t)n;
				progress = true;
			} else if (n < 0 && errno == EPIPE) {
				off = size;
			}
		} else if (off == size) {
			shutdown(sv[1], SHUT_WR);
			off++;
		}
		while (read(sv[1], sink, sizeof(sink)) > 0)
			progress = true;
		ev_run(d->loop, EVRUN_NOWAIT);
		idle = progress ? 0 : idle + 1;
	}
	/* Whatever is left (the peer went quiet mid-login): close it as a timeout would. */
	for (struct target_conn *c = d->conns; c; c = c->next)
		target_conn_close(c, -ETIMEDOUT, NULL);
	for (int i = 0; i < 100 && (d->conns || d->sessions); i++) {
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
		ev_run(d->loop, EVRUN_NOWAIT);
	}
	close(sv[1]);
	if (d->conns || d->sessions)
		abort(); /* a connection or a session leaked */
	return 0;
}
