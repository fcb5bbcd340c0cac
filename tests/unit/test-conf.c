/*
 * conf unit tests: key = value parsing from memory and from a file, every syntax error with its
 * file:line, the tag tokenizer, typed value helpers and iSCSI name validation.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/conf.h"
#include "tests/unit/unit.h"

#define KV_MAX 16

static int
parse(const char *text, struct conf_kv *kv, char *err)
{
	return conf_parse_buffer_array(text, strlen(text), "t.conf", kv, KV_MAX, err,
				       CONF_ERR_SIZE);
}

static void
test_good_buffer(void)
{
	static const char text[] =
		"# iscsid.conf-like\n"
		"\n"
		"   # indented comment\n"
		"node.startup = automatic\n"
		"node.conn[0].timeo.noop_out_interval=5\n"
		"\tnode.session.auth.password =  se#cret with spaces  \n"
		"discovery.sendtargets.auth.authmethod = CHAP\r\n"
		"empty.value =\n"
		"key_with-dash = a = b\n"
		"last.line.without.newline = 42";
	struct conf_kv kv[KV_MAX];
	char err[CONF_ERR_SIZE];
	int n = parse(text, kv, err);

	CU_ASSERT_EQUAL_FATAL(n, 7);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(kv[0].key, "node.startup");
	CU_ASSERT_STRING_EQUAL(kv[0].value, "automatic");
	CU_ASSERT_EQUAL(kv[0].line, 4);
	CU_ASSERT_STRING_EQUAL(kv[1].key, "node.conn[0].timeo.noop_out_interval");
	CU_ASSERT_STRING_EQUAL(kv[1].value, "5");
	CU_ASSERT_EQUAL(kv[1].line, 5);
	/* '#' after the start of a line is part of the value; blanks trimmed at both ends. */
	CU_ASSERT_STRING_EQUAL(kv[2].key, "node.session.auth.password");
	CU_ASSERT_STRING_EQUAL(kv[2].value, "se#cret with spaces");
	CU_ASSERT_STRING_EQUAL(kv[3].value, "CHAP"); /* CR stripped */
	CU_ASSERT_STRING_EQUAL(kv[4].key, "empty.value");
	CU_ASSERT_STRING_EQUAL(kv[4].value, "");
	CU_ASSERT_STRING_EQUAL(kv[5].key, "key_with-dash");
	CU_ASSERT_STRING_EQUAL(kv[5].value, "a = b");
	CU_ASSERT_STRING_EQUAL(kv[6].value, "42");
	CU_ASSERT_EQUAL(kv[6].line, 10);
}

static void
test_empty_inputs(void)
{
	struct conf_kv kv[KV_MAX];
	char err[CONF_ERR_SIZE];

	CU_ASSERT_EQUAL(parse("", kv, err), 0);
	CU_ASSERT_EQUAL(parse("\n\n# only comments\n  \t \n", kv, err), 0);
	CU_ASSERT_EQUAL(conf_parse_buffer_array(NULL, 0, NULL, kv, KV_MAX, err, sizeof(err)), 0);
}

struct err_case {
	const char *text;
	const char *msg; /* expected error message, exactly */
};

static void
test_errors(void)
{
	static const struct err_case cases[] = {
		{ "a = 1\nb 2\n", "t.conf:2: invalid character '2' in key 'b' (expected '=')" },
		{ "a = 1\n\n# c\nnode.startup\n",
		  "t.conf:4: missing '=' after key 'node.startup'" },
		{ "= value\n", "t.conf:1: invalid character '=' at start of key" },
		{ "a = 1\n  key!x = 1\n",
		  "t.conf:2: invalid character '!' in key 'key' (expected '=')" },
		{ "\xc3\xa9t\xc3\xa9 = 1\n",
		  "t.conf:1: invalid character byte 0xc3 at start of key" },
		{ "a = 1\n<target iqn.2001-04.com.example:t>\n", "t.conf:2: unexpected tag line" },
		{ "x = 1\ny = 2\nz = 3\n\"q\" = 4\n",
		  "t.conf:4: invalid character '\"' at start of key" },
	};
	struct conf_kv kv[KV_MAX];
	char err[CONF_ERR_SIZE];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CU_ASSERT_EQUAL(parse(cases[i].text, kv, err), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, cases[i].msg);
	}
}

static void
test_limit_errors(void)
{
	static char text[CONF_MAX_LINE + 64];
	struct conf_kv kv[KV_MAX];
	char err[CONF_ERR_SIZE];
	size_t n;

	/* A key of CONF_MAX_KEY bytes is fine, one more is not. */
	memset(text, 'k', CONF_MAX_KEY);
	strcpy(text + CONF_MAX_KEY, " = v\n");
	CU_ASSERT_EQUAL(parse(text, kv, err), 1);
	CU_ASSERT_EQUAL(strlen(kv[0].key), CONF_MAX_KEY);
	memset(text, 'k', CONF_MAX_KEY + 1);
	strcpy(text + CONF_MAX_KEY + 1, " = v\n");
	CU_ASSERT_EQUAL(parse(text, kv, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "t.conf:1: key longer than 255 bytes");

	/* Values likewise. */
	strcpy(text, "# c\nk = ");
	n = strlen(text);
	memset(text + n, 'v', CONF_MAX_VALUE);
	strcpy(text + n + CONF_MAX_VALUE, "\n");
	CU_ASSERT_EQUAL(parse(text, kv, err), 1);
	CU_ASSERT_EQUAL(strlen(kv[0].value), CONF_MAX_VALUE);
	memset(text + n, 'v', CONF_MAX_VALUE + 1);
	strcpy(text + n + CONF_MAX_VALUE + 1, "\n");
	CU_ASSERT_EQUAL(parse(text, kv, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "t.conf:2: value of 'k' longer than 1023 bytes");

	/* Lines longer than CONF_MAX_LINE, even comments. */
	strcpy(text, "a = 1\n#");
	n = strlen(text);
	memset(text + n, 'c', CONF_MAX_LINE);
	strcpy(text + n + CONF_MAX_LINE, "\n");
	CU_ASSERT_EQUAL(parse(text, kv, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "t.conf:2: line longer than 4096 bytes");

	/* NUL bytes. */
	static const char nul[] = "a = 1\nb = x\0y\n";
	CU_ASSERT_EQUAL(conf_parse_buffer_array(nul, sizeof(nul) - 1, "t.conf", kv, KV_MAX, err,
						sizeof(err)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "t.conf:2: NUL byte in line");

	/* More entries than the array holds. */
	CU_ASSERT_EQUAL(conf_parse_buffer_array("a=1\nb=2\nc=3\n", 12, "t.conf", kv, 2, err,
						sizeof(err)),
			-ENOSPC);
	CU_ASSERT_STRING_EQUAL(err, "t.conf:3: too many entries (at most 2)");

	/* A small error buffer truncates but stays terminated. */
	char tiny[8];
	CU_ASSERT_EQUAL(conf_parse_buffer_array("= x\n", 4, "t.conf", kv, KV_MAX, tiny,
						sizeof(tiny)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(tiny, "t.conf:");
	/* NULL error buffer is allowed. */
	CU_ASSERT_EQUAL(conf_parse_buffer_array("= x\n", 4, "t.conf", kv, KV_MAX, NULL, 0),
			-EINVAL);
}

/* A callback that validates typed settings, as a daemon would. */
struct settings {
	long long interval;
	bool startup_auto;
	uint64_t bufsize;
	unsigned method;
	int seen;
};

static int
settings_cb(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	static const char *const methods[] = { "None", "CHAP", NULL };
	struct settings *s = opaque;

	s->seen++;
	if (strcmp(e->key, "noop_out_interval") == 0)
		return conf_parse_int(e->value, 0, 3600, &s->interval, msg, msg_size);
	if (strcmp(e->key, "auto") == 0)
		return conf_parse_bool(e->value, &s->startup_auto, msg, msg_size);
	if (strcmp(e->key, "bufsize") == 0)
		return conf_parse_size(e->value, 4096, 1ull << 30, &s->bufsize, msg, msg_size);
	if (strcmp(e->key, "authmethod") == 0)
		return conf_parse_enum(e->value, methods, &s->method, msg, msg_size);
	if (strcmp(e->key, "silent") == 0)
		return -ENOTSUP; /* no message: the parser supplies one */
	snprintf(msg, msg_size, "unknown key '%s'", e->key);
	return -EINVAL;
}

static void
test_callback(void)
{
	static const char good[] = "noop_out_interval = 10\nauto = Yes\nbufsize = 64K\n"
				   "authmethod = chap\n";
	struct settings s = { 0 };
	char err[CONF_ERR_SIZE];

	CU_ASSERT_EQUAL(conf_parse_buffer(good, strlen(good), "n.conf", settings_cb, &s, err,
					  sizeof(err)),
			0);
	CU_ASSERT_EQUAL(s.seen, 4);
	CU_ASSERT_EQUAL(s.interval, 10);
	CU_ASSERT_TRUE(s.startup_auto);
	CU_ASSERT_EQUAL(s.bufsize, 65536);
	CU_ASSERT_EQUAL(s.method, 1);

	static const struct err_case bad[] = {
		{ "auto = yes\nnoop_out_interval = 5000\n",
		  "n.conf:2: 5000 is out of range [0, 3600]" },
		{ "\n\nauto = maybe\n", "n.conf:3: 'maybe' is not a boolean (Yes or No)" },
		{ "bufsize = 1X\n", "n.conf:1: '1X' is not a size (suffixes K, M, G, T)" },
		{ "bufsize = 2G\n", "n.conf:1: 2G is out of range [4096, 1073741824]" },
		{ "authmethod = Kerberos\n", "n.conf:1: 'Kerberos' is not one of: None, CHAP" },
		{ "a.b = 1\n", "n.conf:1: unknown key 'a.b'" },
		{ "# x\nsilent = 1\n", "n.conf:2: invalid setting 'silent'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc = conf_parse_buffer(bad[i].text, strlen(bad[i].text), "n.conf", settings_cb,
					   &s, err, sizeof(err));

		CU_ASSERT(rc < 0);
		CU_ASSERT_STRING_EQUAL(err, bad[i].msg);
	}
	/* The callback's own error code is returned. */
	CU_ASSERT_EQUAL(conf_parse_buffer("silent=1", 8, "n.conf", settings_cb, &s, err,
					  sizeof(err)),
			-ENOTSUP);
	CU_ASSERT_EQUAL(conf_parse_buffer("auto=2", 6, "n.conf", settings_cb, &s, err,
					  sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(conf_parse_buffer("bufsize=1", 9, "n.conf", settings_cb, &s, err,
					  sizeof(err)),
			-ERANGE);
}

static void
test_file(void)
{
	char path[] = "/tmp/test-conf-XXXXXX";
	static const char text[] = "a = 1\n# c\nb = two words\nbad line\n";
	struct conf_kv kv[KV_MAX];
	struct settings s = { 0 };
	char err[CONF_ERR_SIZE], expect[CONF_ERR_SIZE + 64];
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	CU_ASSERT_EQUAL(conf_parse_file(path, settings_cb, &s, err, sizeof(err)), -EINVAL);
	/* The first entry failed in the callback: "a" is unknown. */
	snprintf(expect, sizeof(expect), "%s:1: unknown key 'a'", path);
	CU_ASSERT_STRING_EQUAL(err, expect);

	/* Syntax error position through the file path. */
	struct conf_lexer lx;
	struct conf_token tok;
	conf_lexer_init(&lx, text, strlen(text), path, 0);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:4: invalid character 'l' in key 'bad' (expected '=')",
		 path);
	CU_ASSERT_STRING_EQUAL(err, expect);
	(void)kv;

	unlink(path);
	CU_ASSERT_EQUAL(conf_parse_file(path, settings_cb, &s, err, sizeof(err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: %s", path, strerror(ENOENT));
	CU_ASSERT_STRING_EQUAL(err, expect);
}

static int
collect_cb(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	int *count = opaque;

	(void)msg;
	(void)msg_size;
	(*count)++;
	CU_ASSERT_STRING_EQUAL(e->key, "k");
	return 0;
}

static void
test_file_good_and_big(void)
{
	char path[] = "/tmp/test-conf-XXXXXX";
	char err[CONF_ERR_SIZE];
	int count = 0;
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(write(fd, "k = 1\nk = 2\n", 12), 12);
	CU_ASSERT_EQUAL(conf_parse_file(path, collect_cb, &count, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(count, 2);
	/* Grow past CONF_MAX_FILE_SIZE. */
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, CONF_MAX_FILE_SIZE + 1), 0);
	close(fd);
	CU_ASSERT_EQUAL(conf_parse_file(path, collect_cb, &count, err, sizeof(err)), -EFBIG);
	unlink(path);
}

static void
test_lexer_tags(void)
{
	static const char text[] = "# tgt targets.conf\n"
				   "default-driver iscsi\n"
				   "<target iqn.2001-04.com.example:disk1>\n"
				   "\tbacking-store /dev/vg/lv\n"
				   "\tincominguser  user  pass word  \n"
				   "\tMaxRecvDataSegmentLength = 65536\n"
				   "   < / target >  \n"
				   "<target iqn.2001-04.com.example:disk2>\n"
				   "flag\n"
				   "</target>\n";
	static const struct {
		enum conf_token_kind kind;
		const char *key, *value;
		unsigned line;
	} expect[] = {
		{ CONF_TOK_KV, "default-driver", "iscsi", 2 },
		{ CONF_TOK_TAG_OPEN, "target", "iqn.2001-04.com.example:disk1", 3 },
		{ CONF_TOK_KV, "backing-store", "/dev/vg/lv", 4 },
		{ CONF_TOK_KV, "incominguser", "user  pass word", 5 },
		{ CONF_TOK_KV, "MaxRecvDataSegmentLength", "65536", 6 },
	};
	struct conf_lexer lx;
	struct conf_token tok;
	char err[CONF_ERR_SIZE];

	conf_lexer_init(&lx, text, strlen(text), "targets.conf",
			CONF_LEX_SPACE_SEP | CONF_LEX_TAGS);
	for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
		CU_ASSERT_EQUAL_FATAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 1);
		CU_ASSERT_EQUAL(tok.kind, expect[i].kind);
		CU_ASSERT_STRING_EQUAL(tok.key, expect[i].key);
		CU_ASSERT_STRING_EQUAL(tok.value, expect[i].value);
		CU_ASSERT_EQUAL(tok.line, expect[i].line);
		CU_ASSERT_STRING_EQUAL(tok.file, "targets.conf");
	}
	/* "< / target >": '<' then '/' is not a tag name character in open position. */
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "targets.conf:7: missing tag name");
	/* The lexer carries on with the next line after an error. */
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(tok.kind, CONF_TOK_TAG_OPEN);
	CU_ASSERT_EQUAL(tok.line, 8);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(tok.kind, CONF_TOK_KV);
	CU_ASSERT_STRING_EQUAL(tok.key, "flag");
	CU_ASSERT_STRING_EQUAL(tok.value, "");
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(tok.kind, CONF_TOK_TAG_CLOSE);
	CU_ASSERT_STRING_EQUAL(tok.key, "target");
	CU_ASSERT_STRING_EQUAL(tok.value, "");
	CU_ASSERT_EQUAL(tok.line, 10);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), 0);
}

static void
test_lexer_tag_errors(void)
{
	static const struct err_case cases[] = {
		{ "<target iqn.x\n", "c:1: tag not closed with '>'" },
		{ "<>\n", "c:1: missing tag name" },
		{ "</target extra>\n", "c:1: unexpected text in closing tag </target>" },
		{ "<tar$get x>\n", "c:1: invalid character '$' in tag name" },
		{ "key\tvalue\nkey$ v\n", "c:2: invalid character '$' in key 'key'" },
	};
	struct conf_lexer lx;
	struct conf_token tok;
	char err[CONF_ERR_SIZE];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		conf_lexer_init(&lx, cases[i].text, strlen(cases[i].text), "c",
				CONF_LEX_SPACE_SEP | CONF_LEX_TAGS);
		while ((rc = conf_lexer_next(&lx, &tok, err, sizeof(err))) > 0)
			;
		CU_ASSERT_EQUAL(rc, -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, cases[i].msg);
	}
	/* Without CONF_LEX_SPACE_SEP, `key value` needs '='. */
	conf_lexer_init(&lx, "key value\n", 10, "c", CONF_LEX_TAGS);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "c:1: invalid character 'v' in key 'key' (expected '=')");
	/* Default file name. */
	conf_lexer_init(&lx, "<x>\n", 4, NULL, 0);
	CU_ASSERT_EQUAL(conf_lexer_next(&lx, &tok, err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "<memory>:1: unexpected tag line");
}

static void
test_parse_int(void)
{
	long long v = 0;
	char msg[128];

	CU_ASSERT_EQUAL(conf_parse_int("0", 0, 10, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(conf_parse_int("-5", -10, 10, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, -5);
	CU_ASSERT_EQUAL(conf_parse_int("+7", -10, 10, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(conf_parse_int("0x1F", 0, 100, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 31);
	CU_ASSERT_EQUAL(conf_parse_int("010", 0, 100, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 10); /* decimal, not octal */
	CU_ASSERT_EQUAL(conf_parse_int("9223372036854775807", 0, INT64_MAX, &v, NULL, 0), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(conf_parse_int("9223372036854775808", 0, INT64_MAX, &v, msg, sizeof(msg)),
			-ERANGE);
	CU_ASSERT_EQUAL(conf_parse_int("11", 0, 10, &v, msg, sizeof(msg)), -ERANGE);
	CU_ASSERT_STRING_EQUAL(msg, "11 is out of range [0, 10]");
	CU_ASSERT_EQUAL(conf_parse_int("-1", 0, 10, &v, msg, sizeof(msg)), -ERANGE);
	static const char *const bad[] = { "", " 1", "1 ", "1.5", "abc", "0x", "--1", "-", "1e3",
					   "0xg" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CU_ASSERT_EQUAL(conf_parse_int(bad[i], -100, 100, &v, msg, sizeof(msg)), -EINVAL);
	}
	CU_ASSERT_STRING_EQUAL(msg, "'0xg' is not an integer");
}

static void
test_parse_bool(void)
{
	static const char *const t[] = { "Yes", "yes", "YES", "true", "True", "1", "on" };
	static const char *const f[] = { "No", "no", "false", "FALSE", "0", "off" };
	static const char *const bad[] = { "", "y", "n", "2", "yes ", "nope" };
	bool b;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		b = false;
		CU_ASSERT_EQUAL(conf_parse_bool(t[i], &b, NULL, 0), 0);
		CU_ASSERT_TRUE(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		b = true;
		CU_ASSERT_EQUAL(conf_parse_bool(f[i], &b, NULL, 0), 0);
		CU_ASSERT_FALSE(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CU_ASSERT_EQUAL(conf_parse_bool(bad[i], &b, NULL, 0), -EINVAL);
}

static void
test_parse_enum(void)
{
	static const char *const names[] = { "manual", "automatic", "onboot", NULL };
	unsigned idx = 99;
	char msg[128];

	CU_ASSERT_EQUAL(conf_parse_enum("automatic", names, &idx, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(idx, 1);
	CU_ASSERT_EQUAL(conf_parse_enum("OnBoot", names, &idx, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(idx, 2);
	CU_ASSERT_EQUAL(conf_parse_enum("auto", names, &idx, msg, sizeof(msg)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(msg, "'auto' is not one of: manual, automatic, onboot");
	CU_ASSERT_EQUAL(conf_parse_enum("", names, &idx, NULL, 0), -EINVAL);
	/* A short message buffer truncates safely. */
	char tiny[12];
	CU_ASSERT_EQUAL(conf_parse_enum("x", names, &idx, tiny, sizeof(tiny)), -EINVAL);
	CU_ASSERT_EQUAL(strlen(tiny), sizeof(tiny) - 1);
}

static void
test_parse_size(void)
{
	uint64_t v = 0;
	char msg[128];

	CU_ASSERT_EQUAL(conf_parse_size("0", 0, UINT64_MAX, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(conf_parse_size("512", 0, UINT64_MAX, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 512);
	CU_ASSERT_EQUAL(conf_parse_size("4k", 0, UINT64_MAX, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(conf_parse_size("3M", 0, UINT64_MAX, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 3ull << 20);
	CU_ASSERT_EQUAL(conf_parse_size("2g", 0, UINT64_MAX, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 2ull << 30);
	CU_ASSERT_EQUAL(conf_parse_size("16777215T", 0, UINT64_MAX, &v, msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(v, 16777215ull << 40);
	CU_ASSERT_EQUAL(conf_parse_size("16777216T", 0, UINT64_MAX, &v, msg, sizeof(msg)), -ERANGE);
	CU_ASSERT_EQUAL(conf_parse_size("18446744073709551616", 0, UINT64_MAX, &v, msg,
					sizeof(msg)),
			-ERANGE);
	CU_ASSERT_EQUAL(conf_parse_size("1K", 2048, 4096, &v, msg, sizeof(msg)), -ERANGE);
	CU_ASSERT_STRING_EQUAL(msg, "1K is out of range [2048, 4096]");
	CU_ASSERT_EQUAL(conf_parse_size("5K", 2048, 4096, &v, msg, sizeof(msg)), -ERANGE);
	static const char *const bad[] = { "", "-1", " 1", "1KB", "1 K", "K", "1.5M", "1P", "+1" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CU_ASSERT_EQUAL(conf_parse_size(bad[i], 0, UINT64_MAX, &v, msg, sizeof(msg)),
				-EINVAL);
}

static void
test_iscsi_names(void)
{
	static const char *const good[] = {
		"iqn.2001-04.com.example",
		"iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
		"iqn.2001-04.com.example:storage.tape1.sys1.xyz",
		"iqn.1991-05.com.microsoft:host-01",
		"iqn.2003-01.org.linux-iscsi.host.x8664:sn.0123456789ab",
		"iqn.2024-12.x",
		"iqn.2001-04.com.example:",
		"eui.02004567A425678D",
		"eui.02004567a425678d",
		"naa.52004567BA64678D",
		"naa.6001405abcdef0123456789abcdef012",
	};
	static const struct {
		const char *name, *msg;
	} bad[] = {
		{ "", "empty iSCSI name" },
		{ "iqn", "iSCSI name must start with iqn., eui. or naa." },
		{ "IQN.2001-04.com.example", "iSCSI name must start with iqn., eui. or naa." },
		{ "foo.2001-04.com.example", "iSCSI name must start with iqn., eui. or naa." },
		{ "iqn.2001-4.com.example", "iqn. name needs a yyyy-mm date" },
		{ "iqn.01-04.com.example", "iqn. name needs a yyyy-mm date" },
		{ "iqn.2001/04.com.example", "iqn. name needs a yyyy-mm date" },
		{ "iqn.2001-00.com.example", "iqn. name has invalid month 00" },
		{ "iqn.2001-13.com.example", "iqn. name has invalid month 13" },
		{ "iqn.2001-04", "iqn. name needs '.' and a naming authority after the date" },
		{ "iqn.2001-04:com", "iqn. name needs '.' and a naming authority after the date" },
		{ "iqn.2001-04.", "empty label in naming authority" },
		{ "iqn.2001-04.com..example", "empty label in naming authority" },
		{ "iqn.2001-04.com.example.:x", "empty label in naming authority" },
		{ "iqn.2001-04.:x", "empty label in naming authority" },
		{ "iqn.2001-04.com.Example", "iSCSI names are lowercase" },
		{ "iqn.2001-04.com.example:Disk", "iSCSI names are lowercase" },
		{ "iqn.2001-04.com.exa_mple", "invalid character in naming authority" },
		{ "iqn.2001-04.com.example:disk_1", "invalid character in iSCSI name" },
		{ "iqn.2001-04.com.example:a b", "invalid character in iSCSI name" },
		{ "eui.02004567A425678", "'eui.' name needs 16 hex digits, not 15" },
		{ "eui.02004567A425678D0", "'eui.' name needs 16 hex digits, not 17" },
		{ "eui.02004567A425678G", "'eui.' name has a non-hex character" },
		{ "eui.", "'eui.' name needs 16 hex digits, not 0" },
		{ "naa.52004567BA64678", "'naa.' name needs 16 or 32 hex digits, not 15" },
		{ "naa.52004567BA64678D52004567BA64678",
		  "'naa.' name needs 16 or 32 hex digits, not 31" },
		{ "naa.52004567BA64678D:x", "'naa.' name has a non-hex character" },
	};
	char msg[128];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		msg[0] = '\0';
		CU_ASSERT_EQUAL(conf_check_iscsi_name(good[i], msg, sizeof(msg)), 0);
		if (msg[0])
			fprintf(stderr, "%s: %s\n", good[i], msg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		msg[0] = '\0';
		CU_ASSERT_EQUAL(conf_check_iscsi_name(bad[i].name, msg, sizeof(msg)), -EINVAL);
		CU_ASSERT_STRING_EQUAL(msg, bad[i].msg);
		if (strcmp(msg, bad[i].msg) != 0)
			fprintf(stderr, "'%s': got '%s'\n", bad[i].name, msg);
	}
}

static void
test_iscsi_name_length(void)
{
	char name[CONF_ISCSI_NAME_MAX + 2];
	char msg[128];

	/* Exactly 223 bytes passes, 224 fails. */
	memset(name, 'a', sizeof(name));
	memcpy(name, "iqn.2001-04.com.example:", 24);
	name[CONF_ISCSI_NAME_MAX] = '\0';
	CU_ASSERT_EQUAL(conf_check_iscsi_name(name, msg, sizeof(msg)), 0);
	name[CONF_ISCSI_NAME_MAX] = 'a';
	name[CONF_ISCSI_NAME_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(conf_check_iscsi_name(name, msg, sizeof(msg)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(msg, "iSCSI name longer than 223 bytes");
	CU_ASSERT_EQUAL(conf_check_iscsi_name(name, NULL, 0), -EINVAL);
}

static void
test_errorf(void)
{
	char err[64];

	CU_ASSERT_EQUAL(conf_errorf(err, sizeof(err), "f", 12, "bad %s %d", "thing", 3), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "f:12: bad thing 3");
	CU_ASSERT_EQUAL(conf_errorf(err, sizeof(err), NULL, 1, "x"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "<memory>:1: x");
	CU_ASSERT_EQUAL(conf_errorf(NULL, 0, "f", 1, "x"), -EINVAL);
}

static const struct unit_test conf_tests[] = {
	{ "good buffer", test_good_buffer },
	{ "empty and comment-only inputs", test_empty_inputs },
	{ "syntax errors with file:line", test_errors },
	{ "length limits and NUL bytes", test_limit_errors },
	{ "typed callback errors with file:line", test_callback },
	{ "file errors with path:line", test_file },
	{ "file read and size limit", test_file_good_and_big },
	{ "tokenizer: tags and space-separated keys", test_lexer_tags },
	{ "tokenizer: tag errors", test_lexer_tag_errors },
	{ "integer values", test_parse_int },
	{ "boolean values", test_parse_bool },
	{ "enum values", test_parse_enum },
	{ "size values", test_parse_size },
	{ "iSCSI name table", test_iscsi_names },
	{ "iSCSI name length limit", test_iscsi_name_length },
	{ "conf_errorf", test_errorf },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "conf", conf_tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
