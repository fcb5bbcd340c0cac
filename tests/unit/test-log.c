/*
 * log unit tests: exact bytes of each line format written to a pipe, one write per message
 * (checked through a datagram socket, where each write is one record), truncation, level and
 * category filtering, category parsing, rate limiting with an injected clock.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h> /* must coexist with log.h */
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/unit.h"

/* The level values are the syslog priorities used in "<N>" prefixes. */
_Static_assert(LOG_LEVEL_ERR == LOG_ERR && LOG_LEVEL_WARN == LOG_WARNING &&
		       LOG_LEVEL_NOTICE == LOG_NOTICE && LOG_LEVEL_INFO == LOG_INFO &&
		       LOG_LEVEL_DEBUG == LOG_DEBUG,
	       "log levels are syslog priorities");

static int pipefd[2] = { -1, -1 };
static int dgram[2] = { -1, -1 };

/* Route the log to a fresh non-blocking pipe with a known ident, format and filters. */
static void
setup_pipe(enum log_format format)
{
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	CU_ASSERT_FATAL(pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) == 0);
	log_set_ident("ballastd");
	log_set_fd(pipefd[1]);
	log_set_format(format);
	log_set_level(LOG_LEVEL_INFO);
	log_set_category_mask(0);
}

/* Everything written so far, NUL terminated; returns the byte count. */
static size_t
drain(char *buf, size_t size)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(pipefd[0], buf + got, size - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

static char pidbuf[32];

static const char *
pid(void)
{
	snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)getpid());
	return pidbuf;
}

static void
test_plain_format(void)
{
	char buf[4096], expect[256];

	setup_pipe(LOG_FORMAT_PLAIN);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_PLAIN);
	log_err("login failed for %s: %d", "iqn.2001-04.com.example:t", -13);
	log_warn("w");
	log_notice("n");
	log_info("i");
	snprintf(expect, sizeof(expect),
		 "ballastd[%s]: err: login failed for iqn.2001-04.com.example:t: -13\n"
		 "ballastd[%s]: warn: w\n"
		 "ballastd[%s]: notice: n\n"
		 "ballastd[%s]: info: i\n",
		 pid(), pid(), pid(), pid());
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, expect);

	/* Categorised debug lines name their category. */
	log_set_category_mask(LOG_CAT_PDU);
	log_debug(LOG_CAT_PDU, "c%u itt 0x%08x", 3u, 0x1234u);
	snprintf(expect, sizeof(expect), "ballastd[%s]: debug: pdu: c3 itt 0x00001234\n", pid());
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, expect);
}

static void
test_journal_format(void)
{
	char buf[4096];

	setup_pipe(LOG_FORMAT_JOURNAL);
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_category_mask(LOG_CAT_LOGIN | LOG_CAT_NBD);
	log_err("e");
	log_warn("w");
	log_notice("n");
	log_info("i");
	log_msg(LOG_LEVEL_DEBUG, "d");
	log_debug(LOG_CAT_LOGIN, "CHAP_A=%d", 5);
	log_debug(LOG_CAT_NBD, "nbd");
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf,
			       "<3>e\n<4>w\n<5>n\n<6>i\n<7>d\n<7>login: CHAP_A=5\n<7>nbd: nbd\n");
}

static void
test_timestamp_format(void)
{
	char buf[4096], pattern[256];
	regex_t re;

	setup_pipe(LOG_FORMAT_TIMESTAMP);
	log_info("hello");
	drain(buf, sizeof(buf));
	snprintf(pattern, sizeof(pattern),
		 "^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{6}Z "
		 "ballastd\\[%s\\]: info: hello\n$",
		 pid());
	CU_ASSERT_FATAL(regcomp(&re, pattern, REG_EXTENDED) == 0);
	CU_ASSERT_EQUAL(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
}

static void
test_auto_format(void)
{
	struct stat st;
	char js[64];

	setup_pipe(LOG_FORMAT_PLAIN);
	CU_ASSERT_FATAL(fstat(pipefd[1], &st) == 0);

	/* JOURNAL_STREAM naming our fd: journal format. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_set_format(LOG_FORMAT_AUTO);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_JOURNAL);

	/* Inherited from a parent whose stderr was the journal, but ours is elsewhere. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	log_set_format(LOG_FORMAT_AUTO);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_PLAIN);

	setenv("JOURNAL_STREAM", "garbage", 1);
	log_set_format(LOG_FORMAT_AUTO);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_PLAIN);

	unsetenv("JOURNAL_STREAM");
	log_set_format(LOG_FORMAT_AUTO);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_PLAIN);

	/* Changing the fd re-resolves AUTO. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_set_fd(2);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_PLAIN);
	log_set_fd(pipefd[1]);
	CU_ASSERT_EQUAL(log_get_format(), LOG_FORMAT_JOURNAL);
	unsetenv("JOURNAL_STREAM");
}

/* Route the log to a datagram socket: each write(2) arrives as exactly one record. */
static void
setup_dgram(void)
{
	if (dgram[0] < 0)
		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram) == 0);
	log_set_fd(dgram[1]);
	log_set_format(LOG_FORMAT_JOURNAL);
	log_set_level(LOG_LEVEL_INFO);
}

static ssize_t
recv_one(char *buf, size_t size)
{
	ssize_t n = recv(dgram[0], buf, size, MSG_DONTWAIT);

	if (n >= 0 && (size_t)n < size)
		buf[n] = '\0';
	return n;
}

static void
test_truncation(void)
{
	static char big[3 * LOG_LINE_MAX];
	char rec[2 * LOG_LINE_MAX];
	ssize_t n;

	setup_dgram();
	memset(big, 'a', sizeof(big) - 1);
	log_info("%s", big);
	n = recv_one(rec, sizeof(rec));
	/* One record of exactly LOG_LINE_MAX bytes ending with "...\n". */
	CU_ASSERT_EQUAL(n, LOG_LINE_MAX);
	CU_ASSERT(memcmp(rec, "<6>aaa", 6) == 0);
	CU_ASSERT(memcmp(rec + LOG_LINE_MAX - 5, "a...\n", 5) == 0);
	CU_ASSERT_EQUAL(recv_one(rec, sizeof(rec)), -1); /* nothing more */

	/* A message that exactly fits: prefix "<6>" + LOG_LINE_MAX - 4 bytes + "\n". */
	big[LOG_LINE_MAX - 4] = '\0';
	log_info("%s", big);
	n = recv_one(rec, sizeof(rec));
	CU_ASSERT_EQUAL(n, LOG_LINE_MAX);
	CU_ASSERT(memcmp(rec + LOG_LINE_MAX - 5, "aaaa\n", 5) == 0);
	/* One byte more is truncated. */
	big[LOG_LINE_MAX - 4] = 'a';
	big[LOG_LINE_MAX - 3] = '\0';
	log_info("%s", big);
	n = recv_one(rec, sizeof(rec));
	CU_ASSERT_EQUAL(n, LOG_LINE_MAX);
	CU_ASSERT(memcmp(rec + LOG_LINE_MAX - 5, "a...\n", 5) == 0);
	memset(big, 'a', sizeof(big) - 1);

	/* Truncation with the long plain prefix too. */
	log_set_format(LOG_FORMAT_PLAIN);
	log_err("%s", big);
	n = recv_one(rec, sizeof(rec));
	CU_ASSERT_EQUAL(n, LOG_LINE_MAX);
	CU_ASSERT(strncmp(rec, "ballastd[", 9) == 0);
	CU_ASSERT(memcmp(rec + LOG_LINE_MAX - 4, "...\n", 4) == 0);
}

static void
test_newlines_and_errno(void)
{
	char rec[LOG_LINE_MAX + 1];

	setup_dgram();
	/* A trailing newline is not doubled; embedded ones cannot forge lines. */
	log_info("one line\n");
	CU_ASSERT_EQUAL(recv_one(rec, sizeof(rec)), 12);
	CU_ASSERT_STRING_EQUAL(rec, "<6>one line\n");
	log_info("name %s", "evil\n<0>forged\r");
	CU_ASSERT(recv_one(rec, sizeof(rec)) > 0);
	CU_ASSERT_STRING_EQUAL(rec, "<6>name evil <0>forged \n");
	log_info("%s", "");
	CU_ASSERT_EQUAL(recv_one(rec, sizeof(rec)), 4);
	CU_ASSERT_STRING_EQUAL(rec, "<6>\n");

	/* errno survives, and %m sees the caller's errno. */
	errno = ENOBUFS;
	log_err("pool: %m");
	CU_ASSERT_EQUAL(errno, ENOBUFS);
	CU_ASSERT(recv_one(rec, sizeof(rec)) > 0);
	char expect[128];
	snprintf(expect, sizeof(expect), "<3>pool: %s\n", strerror(ENOBUFS));
	CU_ASSERT_STRING_EQUAL(rec, expect);
	errno = EAGAIN;
	log_info("filtered? no");
	log_debug(LOG_CAT_POOL, "filtered");
	CU_ASSERT_EQUAL(errno, EAGAIN);
	CU_ASSERT(recv_one(rec, sizeof(rec)) > 0);
	CU_ASSERT_EQUAL(recv_one(rec, sizeof(rec)), -1);
}

static int side_effects;

static int
bump(void)
{
	return ++side_effects;
}

static void
test_level_filtering(void)
{
	char buf[4096];

	setup_pipe(LOG_FORMAT_JOURNAL);
	log_set_level(LOG_LEVEL_WARN);
	CU_ASSERT_EQUAL(log_get_level(), LOG_LEVEL_WARN);
	CU_ASSERT_TRUE(log_level_enabled(LOG_LEVEL_ERR));
	CU_ASSERT_TRUE(log_level_enabled(LOG_LEVEL_WARN));
	CU_ASSERT_FALSE(log_level_enabled(LOG_LEVEL_NOTICE));
	log_err("e");
	log_warn("w");
	log_notice("n");
	log_info("i");
	log_msg(LOG_LEVEL_DEBUG, "d");
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "<3>e\n<4>w\n");

	/* Category debug ignores the threshold but needs its bit; arguments are not evaluated
	 * when the category is off. */
	side_effects = 0;
	log_debug(LOG_CAT_URING, "x %d", bump());
	CU_ASSERT_EQUAL(side_effects, 0);
	log_set_category_mask(LOG_CAT_URING);
	log_debug(LOG_CAT_URING, "x %d", bump());
	log_debug(LOG_CAT_POOL, "y %d", bump());
	CU_ASSERT_EQUAL(side_effects, 1);
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "<7>uring: x 1\n");

	/* Errors only. */
	log_set_level(LOG_LEVEL_ERR);
	log_warn("w");
	log_err("e");
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "<3>e\n");
}

static void
vmsg(enum log_level level, unsigned cat, const char *fmt, ...) PRINTF_FMT(3, 4);

static void
vmsg(enum log_level level, unsigned cat, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, cat, fmt, ap);
	va_end(ap);
}

static void
test_vmsg(void)
{
	char buf[4096];

	setup_pipe(LOG_FORMAT_JOURNAL);
	vmsg(LOG_LEVEL_INFO, 0, "a%d", 1);
	vmsg(LOG_LEVEL_DEBUG, LOG_CAT_SCSI, "b%d", 2); /* category off, level info: dropped */
	log_set_category_mask(LOG_CAT_SCSI);
	vmsg(LOG_LEVEL_DEBUG, LOG_CAT_SCSI, "c%d", 3);
	vmsg(LOG_LEVEL_DEBUG, LOG_CAT_CONN, "d%d", 4);
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "<6>a1\n<7>scsi: c3\n");
}

static void
test_categories(void)
{
	unsigned m = 12345;

	CU_ASSERT_EQUAL(log_parse_categories("pdu,login", &m), 0);
	CU_ASSERT_EQUAL(m, LOG_CAT_PDU | LOG_CAT_LOGIN);
	CU_ASSERT_EQUAL(log_parse_categories(" pdu , LOGIN ,uring", &m), 0);
	CU_ASSERT_EQUAL(m, LOG_CAT_PDU | LOG_CAT_LOGIN | LOG_CAT_URING);
	CU_ASSERT_EQUAL(log_parse_categories("pool,nbd,scsi,conn,ctl,ublk,conf,fault", &m), 0);
	CU_ASSERT_EQUAL(m, LOG_CAT_POOL | LOG_CAT_NBD | LOG_CAT_SCSI | LOG_CAT_CONN | LOG_CAT_CTL |
				   LOG_CAT_UBLK | LOG_CAT_CONF | LOG_CAT_FAULT);
	CU_ASSERT_EQUAL(log_parse_categories("all", &m), 0);
	CU_ASSERT_EQUAL(m, LOG_CAT_ALL);
	CU_ASSERT_EQUAL(log_parse_categories("none", &m), 0);
	CU_ASSERT_EQUAL(m, 0);
	m = 1;
	CU_ASSERT_EQUAL(log_parse_categories("", &m), 0);
	CU_ASSERT_EQUAL(m, 0);
	CU_ASSERT_EQUAL(log_parse_categories("pdu,pdu", &m), 0);
	CU_ASSERT_EQUAL(m, LOG_CAT_PDU);
	m = 77;
	CU_ASSERT_EQUAL(log_parse_categories("pdu,,login", &m), -EINVAL);
	CU_ASSERT_EQUAL(log_parse_categories("pdu,", &m), -EINVAL);
	CU_ASSERT_EQUAL(log_parse_categories("pdux", &m), -EINVAL);
	CU_ASSERT_EQUAL(log_parse_categories("pd", &m), -EINVAL);
	CU_ASSERT_EQUAL(log_parse_categories("bogus", &m), -EINVAL);
	CU_ASSERT_EQUAL(m, 77); /* untouched on error */

	CU_ASSERT_EQUAL(log_set_categories("nbd,ctl"), 0);
	CU_ASSERT_TRUE(log_enabled(LOG_CAT_NBD));
	CU_ASSERT_TRUE(log_enabled(LOG_CAT_CTL));
	CU_ASSERT_TRUE(log_enabled(LOG_CAT_CTL | LOG_CAT_PDU));
	CU_ASSERT_FALSE(log_enabled(LOG_CAT_PDU));
	CU_ASSERT_EQUAL(log_set_categories("nbd,nope"), -EINVAL);
	CU_ASSERT_TRUE(log_enabled(LOG_CAT_NBD)); /* unchanged */
	CU_ASSERT_EQUAL(log_set_categories("none"), 0);
	CU_ASSERT_FALSE(log_enabled(LOG_CAT_ALL));

	CU_ASSERT_STRING_EQUAL(log_category_name(LOG_CAT_URING), "uring");
	CU_ASSERT_STRING_EQUAL(log_category_name(LOG_CAT_PDU | LOG_CAT_NBD), "?");
}

static void
test_parse_level(void)
{
	enum log_level l;

	CU_ASSERT_EQUAL(log_parse_level("err", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_ERR);
	CU_ASSERT_EQUAL(log_parse_level("warning", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_WARN);
	CU_ASSERT_EQUAL(log_parse_level("WARN", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_WARN);
	CU_ASSERT_EQUAL(log_parse_level("notice", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_NOTICE);
	CU_ASSERT_EQUAL(log_parse_level("info", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_INFO);
	CU_ASSERT_EQUAL(log_parse_level("debug", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_DEBUG);
	CU_ASSERT_EQUAL(log_parse_level("trace", &l), -EINVAL);
	CU_ASSERT_EQUAL(log_parse_level("", &l), -EINVAL);
}

static void
test_ratelimit_clock(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT;
	const uint64_t s = 1000000000ull;
	uint32_t sup = 99;

	/* The first line always passes (even at time 0), with nothing suppressed. */
	CU_ASSERT_TRUE(log_ratelimit_check_at(&rl, 0, &sup));
	CU_ASSERT_EQUAL(sup, 0);
	/* Within the second: refused and counted. */
	CU_ASSERT_FALSE(log_ratelimit_check_at(&rl, 1, &sup));
	CU_ASSERT_FALSE(log_ratelimit_check_at(&rl, s / 2, &sup));
	CU_ASSERT_FALSE(log_ratelimit_check_at(&rl, s - 1, NULL));
	CU_ASSERT_EQUAL(rl.suppressed, 3);
	/* One second after the last emitted line: passes and reports 3. */
	CU_ASSERT_TRUE(log_ratelimit_check_at(&rl, s, &sup));
	CU_ASSERT_EQUAL(sup, 3);
	CU_ASSERT_EQUAL(rl.suppressed, 0);
	/* The window restarts from the line let through, not from the refused ones. */
	CU_ASSERT_FALSE(log_ratelimit_check_at(&rl, 2 * s - 1, &sup));
	CU_ASSERT_TRUE(log_ratelimit_check_at(&rl, 2 * s, &sup));
	CU_ASSERT_EQUAL(sup, 1);
	/* A long quiet period: passes with nothing suppressed. */
	CU_ASSERT_TRUE(log_ratelimit_check_at(&rl, 100 * s, &sup));
	CU_ASSERT_EQUAL(sup, 0);

	/* Custom interval. */
	struct log_ratelimit fast = { .interval_ns = 10 };
	CU_ASSERT_TRUE(log_ratelimit_check_at(&fast, 1000, &sup));
	CU_ASSERT_FALSE(log_ratelimit_check_at(&fast, 1009, &sup));
	CU_ASSERT_TRUE(log_ratelimit_check_at(&fast, 1010, &sup));
	CU_ASSERT_EQUAL(sup, 1);

	/* The counter saturates. */
	struct log_ratelimit sat = LOG_RATELIMIT_INIT;
	CU_ASSERT_TRUE(log_ratelimit_check_at(&sat, 5, NULL));
	sat.suppressed = UINT32_MAX - 1;
	CU_ASSERT_FALSE(log_ratelimit_check_at(&sat, 6, NULL));
	CU_ASSERT_FALSE(log_ratelimit_check_at(&sat, 7, NULL));
	CU_ASSERT_EQUAL(sat.suppressed, UINT32_MAX);
}

static void
test_ratelimited_lines(void)
{
	struct log_ratelimit rl = { .interval_ns = 3600 * 1000000000ull };
	char buf[4096];

	setup_pipe(LOG_FORMAT_JOURNAL);
	/* Monotonic clock check: the first passes, the next ones within the hour do not. */
	CU_ASSERT_TRUE(log_ratelimit_check(&rl, NULL));
	CU_ASSERT_FALSE(log_ratelimit_check(&rl, NULL));
	rl = (struct log_ratelimit){ .interval_ns = 3600 * 1000000000ull };

	log_ratelimited(&rl, LOG_LEVEL_ERR, "c%d: digest error", 1);
	log_ratelimited(&rl, LOG_LEVEL_ERR, "c%d: digest error", 1);
	log_ratelimited(&rl, LOG_LEVEL_ERR, "c%d: digest error", 1);
	/* A filtered level leaves the limiter alone. */
	log_ratelimited(&rl, LOG_LEVEL_INFO + 1, "dropped");
	CU_ASSERT_EQUAL(rl.suppressed, 2);
	/* Let the next one through. */
	rl.interval_ns = 1;
	log_ratelimited(&rl, LOG_LEVEL_WARN, "c%d: digest error", 1);
	log_ratelimited(&rl, LOG_LEVEL_WARN, "c%d: again", 1);
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "<3>c1: digest error\n"
				    "<4>c1: digest error (2 similar messages suppressed)\n"
				    "<4>c1: again\n");
}

static const struct unit_test log_tests[] = {
	{ "plain format, exact bytes", test_plain_format },
	{ "journal <N> prefixes", test_journal_format },
	{ "timestamp format", test_timestamp_format },
	{ "auto format follows JOURNAL_STREAM", test_auto_format },
	{ "truncation: one write ending ...\\n", test_truncation },
	{ "newlines and errno", test_newlines_and_errno },
	{ "level and category filtering", test_level_filtering },
	{ "log_vmsg filtering", test_vmsg },
	{ "category parsing", test_categories },
	{ "level parsing", test_parse_level },
	{ "rate limiter with injected clock", test_ratelimit_clock },
	{ "rate-limited lines", test_ratelimited_lines },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "log", log_tests },
	{ NULL, NULL },
};

int
main(void)
{
	unsetenv("JOURNAL_STREAM");
	int rc = unit_run(suites);
	/* Restore stderr before exit so nothing is written to a closed descriptor. */
	log_set_fd(2);
	return rc;
}
