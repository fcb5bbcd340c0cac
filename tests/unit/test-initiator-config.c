/* ballastd configuration (initiator/config.h): defaults, keys, file:line errors, flag values. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "initiator/config.h"
#include "tests/unit/unit.h"

static int
write_file(char *path, const char *text)
{
	strcpy(path, "/tmp/test-initiator-config.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void
test_defaults(void)
{
	struct initiator_config c;
	initiator_config_defaults(&c);
	/* open-iscsi iscsid.conf defaults */
	CU_ASSERT_EQUAL(c.replacement_timeout, 120);
	CU_ASSERT_EQUAL(c.noop_out_interval, 5);
	CU_ASSERT_EQUAL(c.noop_out_timeout, 5);
	CU_ASSERT_EQUAL(c.login_timeout, 15);
	CU_ASSERT_EQUAL(c.cmds_max, 128);
	CU_ASSERT_EQUAL(c.queue_depth, 32);
	CU_ASSERT_FALSE(c.initial_r2t);
	CU_ASSERT_TRUE(c.immediate_data);
	CU_ASSERT_EQUAL(c.first_burst, 262144);
	CU_ASSERT_EQUAL(c.max_burst, 16776192);
	CU_ASSERT_EQUAL(c.max_recv_dsl, 262144);
	CU_ASSERT_EQUAL(c.auth.nalgs, 1);
	CU_ASSERT_EQUAL(c.auth.algs[0], CHAP_A_MD5);
	CU_ASSERT_EQUAL(c.portal_port, 3260);
	CU_ASSERT_EQUAL(c.lun, -1);
	CU_ASSERT_EQUAL(c.max_io, 1u << 20);
}

static void
test_keys(void)
{
	struct initiator_config c;
	char msg[256];
	initiator_config_defaults(&c);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.cmds_max", "64", msg, sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.cmds_max, 64);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.conn[0].iscsi.HeaderDigest", "CRC32C,None",
					     msg, sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.header_digest, TEXT_DIGEST_PREFER_CRC32C);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.auth.chap_algs",
					     "SHA3-256, SHA256,MD5", msg, sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.auth.nalgs, 3);
	CU_ASSERT_EQUAL(c.auth.algs[0], CHAP_A_SHA3_256);
	CU_ASSERT_EQUAL(c.auth.algs[1], CHAP_A_SHA256);
	CU_ASSERT_EQUAL(c.auth.algs[2], CHAP_A_MD5);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.auth.authmethod", "CHAP", msg,
					     sizeof(msg)),
			0);
	CU_ASSERT_TRUE(c.auth.enabled);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "reserve.max_io_size", "256K", msg, sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.max_io, 256u << 10);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.startup", "automatic", msg, sizeof(msg)),
			0); /* accepted, no effect */
	/* recovery (issue 6) */
	CU_ASSERT_EQUAL(c.cmd_timeout, 30);
	CU_ASSERT_EQUAL(c.reopen_max, 0);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.timeo.cmd_timeout", "7", msg,
					     sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.cmd_timeout, 7);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.reopen_max", "5", msg, sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.reopen_max, 5);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.timeo.replacement_timeout", "-1",
					     msg, sizeof(msg)),
			0);
	CU_ASSERT_EQUAL(c.replacement_timeout, -1);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.session.reopen_max", "-1", msg, sizeof(msg)),
			-ERANGE);
	/* the kernel nbd transport and the reclaim watchdog */
	CU_ASSERT_FALSE(c.kernel_nbd_tcp);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "export.kernel_nbd.transport", "tcp", msg,
					     sizeof(msg)),
			0);
	CU_ASSERT_TRUE(c.kernel_nbd_tcp);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "export.kernel_nbd.transport", "udp", msg,
					     sizeof(msg)),
			-EINVAL);
	CU_ASSERT_EQUAL(c.watchdog_ms, 2000);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "reserve.watchdog_ms", "0", msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(c.watchdog_ms, 0);
	CU_ASSERT_EQUAL(initiator_config_set(&c, "reserve.watchdog_ms", "100", msg, sizeof(msg)),
			-ERANGE);
	/* errors */
	CU_ASSERT_EQUAL(initiator_config_set(&c, "node.bogus", "1", msg, sizeof(msg)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "unknown key"));
	CU_ASSERT_NOT_EQUAL(initiator_config_set(&c, "node.session.cmds_max", "many", msg,
						 sizeof(msg)),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_set(&c, "node.session.cmds_max", "1", msg,
						 sizeof(msg)),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_set(&c, "node.session.auth.chap_algs", "MD4", msg,
						 sizeof(msg)),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_set(&c, "reserve.rx_bufs", "12", msg, sizeof(msg)),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_set(&c, "node.name", "not-an-iqn", msg, sizeof(msg)),
			    0);
}

static void
test_file_errors(void)
{
	struct initiator_config c;
	char path[64], err[512], expect[128];
	initiator_config_defaults(&c);
	CU_ASSERT_EQUAL_FATAL(write_file(path, "# comment\n"
					       "node.session.queue_depth = 16\n"
					       "\n"
					       "node.session.iscsi.InitialR2T = maybe\n"),
			      0);
	CU_ASSERT_EQUAL(initiator_config_load(&c, path, false, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:4:", path);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, expect));
	CU_ASSERT_EQUAL(c.queue_depth, 16);
	unlink(path);

	CU_ASSERT_EQUAL_FATAL(write_file(path, "node.session.queue_depth = 16\nfoo.bar = 1\n"), 0);
	CU_ASSERT_EQUAL(initiator_config_load(&c, path, false, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:2: unknown key 'foo.bar'", path);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, expect));
	unlink(path);

	/* missing files: an error unless missing_ok */
	CU_ASSERT_NOT_EQUAL(initiator_config_load(&c, "/nonexistent/ballastd.conf", false, err,
						  sizeof(err)),
			    0);
	CU_ASSERT_EQUAL(initiator_config_load(&c, "/nonexistent/ballastd.conf", true, err,
					      sizeof(err)),
			0);
}

static void
test_sample_config(void)
{
	/* the shipped conf/ballastd.conf parses and states the defaults */
	const char *top = getenv("top_srcdir");
	char path[4096], err[512];
	struct initiator_config c, d;
	snprintf(path, sizeof(path), "%s/conf/ballastd.conf", top ? top : "../..");
	if (access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "%s/conf/ballastd.conf", ".");
	initiator_config_defaults(&c);
	initiator_config_defaults(&d);
	CU_ASSERT_EQUAL(initiator_config_load(&c, path, false, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.cmds_max, d.cmds_max);
	CU_ASSERT_EQUAL(c.queue_depth, d.queue_depth);
	CU_ASSERT_EQUAL(c.replacement_timeout, d.replacement_timeout);
	CU_ASSERT_EQUAL(c.cmd_timeout, d.cmd_timeout);
	CU_ASSERT_EQUAL(c.reopen_max, d.reopen_max);
	CU_ASSERT_EQUAL(c.max_io, d.max_io);
	CU_ASSERT_EQUAL(c.rx_buf_size, d.rx_buf_size);

	/* initiatorname.iscsi */
	char np[64];
	CU_ASSERT_EQUAL_FATAL(write_file(np, "## comment\nInitiatorName=iqn.2024-01.org.x:y\n"), 0);
	CU_ASSERT_EQUAL(initiator_config_load_name(&c, np, false, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.initiator_name, "iqn.2024-01.org.x:y");
	unlink(np);
	CU_ASSERT_EQUAL_FATAL(write_file(np, "InitiatorName=bad name\n"), 0);
	initiator_config_defaults(&c);
	CU_ASSERT_NOT_EQUAL(initiator_config_load_name(&c, np, false, err, sizeof(err)), 0);
	unlink(np);
}

static void
test_flag_values(void)
{
	char host[256], msg[256];
	uint16_t port;
	struct initiator_nbd_spec sp;
	struct initiator_chap_cfg chap;

	CU_ASSERT_EQUAL(initiator_config_parse_hostport("10.0.0.1:3261", host, sizeof(host), &port,
							3260),
			0);
	CU_ASSERT_STRING_EQUAL(host, "10.0.0.1");
	CU_ASSERT_EQUAL(port, 3261);
	CU_ASSERT_EQUAL(initiator_config_parse_hostport("storage", host, sizeof(host), &port, 3260),
			0);
	CU_ASSERT_EQUAL(port, 3260);
	CU_ASSERT_EQUAL(initiator_config_parse_hostport("[::1]:99", host, sizeof(host), &port,
							3260),
			0);
	CU_ASSERT_STRING_EQUAL(host, "::1");
	CU_ASSERT_NOT_EQUAL(initiator_config_parse_hostport("::1:99", host, sizeof(host), &port,
							    3260),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_parse_hostport("h:99999", host, sizeof(host), &port,
							    3260),
			    0);

	CU_ASSERT_EQUAL(initiator_config_parse_nbd("unix:/run/x.sock", &sp, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(sp.kind, INITIATOR_NBD_UNIX);
	CU_ASSERT_STRING_EQUAL(sp.path, "/run/x.sock");
	CU_ASSERT_EQUAL(initiator_config_parse_nbd("tcp:127.0.0.1:0", &sp, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(sp.kind, INITIATOR_NBD_TCP);
	CU_ASSERT_EQUAL(sp.port, 0);
	CU_ASSERT_EQUAL(initiator_config_parse_nbd("kernel", &sp, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(sp.kind, INITIATOR_NBD_KERNEL);
	CU_ASSERT_EQUAL(sp.kernel_index, -1);
	CU_ASSERT_EQUAL(initiator_config_parse_nbd("kernel:/dev/nbd3", &sp, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(sp.kernel_index, 3);
	CU_ASSERT_NOT_EQUAL(initiator_config_parse_nbd("kernel:/dev/sda", &sp, msg, sizeof(msg)),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_parse_nbd("nbd://x", &sp, msg, sizeof(msg)), 0);

	memset(&chap, 0, sizeof(chap));
	CU_ASSERT_EQUAL(initiator_config_parse_chap("user:se:cret", false, &chap, msg, sizeof(msg)),
			0);
	CU_ASSERT_STRING_EQUAL(chap.username, "user");
	CU_ASSERT_STRING_EQUAL(chap.password, "se:cret");
	CU_ASSERT_EQUAL(initiator_config_parse_chap("tgt:secret2", true, &chap, msg, sizeof(msg)),
			0);
	CU_ASSERT_STRING_EQUAL(chap.username_in, "tgt");
	CU_ASSERT_NOT_EQUAL(initiator_config_parse_chap("nosecret", false, &chap, msg, sizeof(msg)),
			    0);
	CU_ASSERT_NOT_EQUAL(initiator_config_parse_chap(":x", false, &chap, msg, sizeof(msg)), 0);
}

static void
test_check(void)
{
	struct initiator_config c;
	char msg[256];
	initiator_config_defaults(&c);
	CU_ASSERT_NOT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0); /* no name */
	snprintf(c.initiator_name, sizeof(c.initiator_name), "iqn.2024-01.org.x:i");
	CU_ASSERT_NOT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0); /* no portal */
	snprintf(c.portal_host, sizeof(c.portal_host), "127.0.0.1");
	CU_ASSERT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0);
	c.auth.enabled = true;
	CU_ASSERT_NOT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0); /* no secret */
	snprintf(c.auth.username, sizeof(c.auth.username), "u");
	snprintf(c.auth.password, sizeof(c.auth.password), "secret-secret");
	CU_ASSERT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0);
	snprintf(c.auth.username_in, sizeof(c.auth.username_in), "t");
	CU_ASSERT_NOT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0); /* half mutual */
	c.queue_depth = 200;
	c.auth.username_in[0] = 0;
	CU_ASSERT_NOT_EQUAL(initiator_config_check(&c, msg, sizeof(msg)), 0); /* > cmds_max */
}

static const struct unit_test config_tests[] = {
	{ "defaults", test_defaults },
	{ "keys", test_keys },
	{ "file errors", test_file_errors },
	{ "sample config", test_sample_config },
	{ "flag values", test_flag_values },
	{ "check", test_check },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "initiator config", config_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
