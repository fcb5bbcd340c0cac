/*
 * Configuration file parsing. See conf.h for the syntax.
 *
 * Comments are full-line only, like iscsid.conf: a trailing "# ..." would silently cut a CHAP
 * secret or a path containing '#', which is worse than asking users to comment on their own
 * line.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/mem.h"

static const char *
conf_file_name(const char *file)
{
	return file ? file : "<memory>";
}

int
conf_errorf(char *err, size_t err_size, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || err_size == 0)
		return -EINVAL;
	n = snprintf(err, err_size, "%s:%u: ", conf_file_name(file), line);
	if (n >= 0 && (size_t)n < err_size) {
		va_start(ap, fmt);
		vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Write a message without position to msg (may be NULL). */
static void PRINTF_FMT(3, 4)
conf_msg(char *msg, size_t msg_size, const char *fmt, ...)
{
	va_list ap;

	if (!msg || msg_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msg_size, fmt, ap);
	va_end(ap);
}

static bool
conf_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
conf_is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '[' || c == ']';
}

void
conf_lexer_init(struct conf_lexer *lx, const char *buf, size_t len, const char *file,
		unsigned flags)
{
	lx->buf = buf;
	lx->len = buf ? len : 0;
	lx->pos = 0;
	lx->file = conf_file_name(file);
	lx->line = 0;
	lx->flags = flags;
	lx->key[0] = '\0';
	lx->value[0] = '\0';
}

/* Describe character c for an error message. */
static const char *
conf_char_desc(char c, char *buf, size_t size)
{
	if (c >= 0x21 && c <= 0x7e)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", (unsigned char)c);
	return buf;
}

/* Copy [p, p + n) into dst (cap + 1 bytes). */
static bool
conf_copy(char *dst, size_t cap, const char *p, size_t n)
{
	if (n > cap)
		return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* Tokenize a `<tag arg>` or `</tag>` line [p, e), already trimmed, p[0] == '<'. */
static int
conf_lex_tag(struct conf_lexer *lx, const char *p, const char *e, struct conf_token *tok,
	     char *err, size_t err_size)
{
	bool close = false;
	const char *name, *q;
	char cd[16];

	if (!(lx->flags & CONF_LEX_TAGS))
		return conf_errorf(err, err_size, lx->file, lx->line, "unexpected tag line");
	if (e[-1] != '>' || e - p < 2)
		return conf_errorf(err, err_size, lx->file, lx->line, "tag not closed with '>'");
	p++;
	e--;
	if (p < e && *p == '/') {
		close = true;
		p++;
	}
	name = p;
	while (p < e && conf_is_key_char(*p))
		p++;
	if (p == name)
		return conf_errorf(err, err_size, lx->file, lx->line, "missing tag name");
	if (!conf_copy(lx->key, CONF_MAX_KEY, name, (size_t)(p - name)))
		return conf_errorf(err, err_size, lx->file, lx->line, "tag name too long");
	if (p < e && !conf_is_blank(*p))
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "invalid character %s in tag name",
				   conf_char_desc(*p, cd, sizeof(cd)));
	while (p < e && conf_is_blank(*p))
		p++;
	q = e;
	while (q > p && conf_is_blank(q[-1]))
		q--;
	if (close && q != p)
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "unexpected text in closing tag </%s>", lx->key);
	if (!conf_copy(lx->value, CONF_MAX_VALUE, p, (size_t)(q - p)))
		return conf_errorf(err, err_size, lx->file, lx->line, "tag argument too long");
	tok->kind = close ? CONF_TOK_TAG_CLOSE : CONF_TOK_TAG_OPEN;
	return 1;
}

/* Tokenize a `key = value` (or `key value`) line [p, e), already trimmed. */
static int
conf_lex_kv(struct conf_lexer *lx, const char *p, const char *e, struct conf_token *tok,
	    char *err, size_t err_size)
{
	const char *key = p;
	char cd[16];
	bool blank;

	while (p < e && conf_is_key_char(*p))
		p++;
	if (p == key)
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "invalid character %s at start of key",
				   conf_char_desc(*p, cd, sizeof(cd)));
	if (!conf_copy(lx->key, CONF_MAX_KEY, key, (size_t)(p - key)))
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "key longer than %d bytes", CONF_MAX_KEY);
	blank = p < e && conf_is_blank(*p);
	while (p < e && conf_is_blank(*p))
		p++;
	if (p < e && *p == '=') {
		p++;
		while (p < e && conf_is_blank(*p))
			p++;
	} else if (!(lx->flags & CONF_LEX_SPACE_SEP)) {
		if (p == e)
			return conf_errorf(err, err_size, lx->file, lx->line,
					   "missing '=' after key '%s'", lx->key);
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "invalid character %s in key '%s' (expected '=')",
				   conf_char_desc(*p, cd, sizeof(cd)), lx->key);
	} else if (p < e && !blank) {
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "invalid character %s in key '%s'",
				   conf_char_desc(*p, cd, sizeof(cd)), lx->key);
	}
	/* e is already trimmed, so the value is [p, e). */
	if (!conf_copy(lx->value, CONF_MAX_VALUE, p, (size_t)(e - p)))
		return conf_errorf(err, err_size, lx->file, lx->line,
				   "value of '%s' longer than %d bytes", lx->key, CONF_MAX_VALUE);
	tok->kind = CONF_TOK_KV;
	return 1;
}

int
conf_lexer_next(struct conf_lexer *lx, struct conf_token *tok, char *err, size_t err_size)
{
	while (lx->pos < lx->len) {
		const char *start = lx->buf + lx->pos;
		size_t rest = lx->len - lx->pos;
		const char *nl = memchr(start, '\n', rest);
		const char *p = start, *e = nl ? nl : start + rest;
		int rc;

		lx->pos += (size_t)(e - start) + (nl ? 1 : 0);
		lx->line++;
		if ((size_t)(e - start) > CONF_MAX_LINE)
			return conf_errorf(err, err_size, lx->file, lx->line,
					   "line longer than %d bytes", CONF_MAX_LINE);
		if (memchr(start, '\0', (size_t)(e - start)))
			return conf_errorf(err, err_size, lx->file, lx->line, "NUL byte in line");
		if (e > p && e[-1] == '\r')
			e--;
		while (p < e && conf_is_blank(*p))
			p++;
		while (e > p && conf_is_blank(e[-1]))
			e--;
		if (p == e || *p == '#')
			continue;

		tok->file = lx->file;
		tok->line = lx->line;
		tok->key = lx->key;
		tok->value = lx->value;
		if (*p == '<')
			rc = conf_lex_tag(lx, p, e, tok, err, err_size);
		else
			rc = conf_lex_kv(lx, p, e, tok, err, err_size);
		return rc;
	}
	return 0;
}

int
conf_parse_buffer(const char *buf, size_t len, const char *file, conf_entry_fn cb, void *opaque,
		  char *err, size_t err_size)
{
	struct conf_lexer lx;
	struct conf_token tok;
	int rc;

	if (err && err_size)
		err[0] = '\0';
	conf_lexer_init(&lx, buf, len, file, 0);
	while ((rc = conf_lexer_next(&lx, &tok, err, err_size)) > 0) {
		struct conf_entry e = {
			.key = tok.key, .value = tok.value, .file = tok.file, .line = tok.line
		};
		char msg[CONF_ERR_SIZE];

		msg[0] = '\0';
		rc = cb(&e, opaque, msg, sizeof(msg));
		if (rc < 0) {
			if (msg[0])
				conf_errorf(err, err_size, tok.file, tok.line, "%s", msg);
			else
				conf_errorf(err, err_size, tok.file, tok.line,
					    "invalid setting '%s'", tok.key);
			return rc;
		}
	}
	return rc;
}

int
conf_parse_file(const char *path, conf_entry_fn cb, void *opaque, char *err, size_t err_size)
{
	struct stat st;
	size_t cap, got = 0;
	char *buf = NULL;
	int fd, rc;

	if (err && err_size)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail_io;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail_io;
	}
	if (S_ISREG(st.st_mode) && st.st_size > CONF_MAX_FILE_SIZE) {
		rc = -EFBIG;
		goto fail_io;
	}
	/* One byte more than we accept, so an oversized stream is detected. */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : CONF_MAX_FILE_SIZE + 1;
	buf = mem_alloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto fail_io;
	}
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto fail_io;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CONF_MAX_FILE_SIZE) {
		rc = -EFBIG;
		goto fail_io;
	}
	close(fd);
	rc = conf_parse_buffer(buf, got, path, cb, opaque, err, err_size);
	mem_free(buf);
	return rc;

fail_io:
	if (err && err_size)
		snprintf(err, err_size, "%s: %s", path,
			 rc == -EFBIG ? "file too large" : strerror(-rc));
	if (fd >= 0)
		close(fd);
	mem_free(buf);
	return rc;
}

struct conf_array_ctx {
	struct conf_kv *kv;
	size_t n;
	size_t count;
};

static int
conf_array_cb(const struct conf_entry *e, void *opaque, char *msg, size_t msg_size)
{
	struct conf_array_ctx *ctx = opaque;
	struct conf_kv *kv;

	if (ctx->count == ctx->n) {
		conf_msg(msg, msg_size, "too many entries (at most %zu)", ctx->n);
		return -ENOSPC;
	}
	kv = &ctx->kv[ctx->count++];
	kv->line = e->line;
	/* The lexer already bounded both lengths. */
	snprintf(kv->key, sizeof(kv->key), "%s", e->key);
	snprintf(kv->value, sizeof(kv->value), "%s", e->value);
	return 0;
}

int
conf_parse_buffer_array(const char *buf, size_t len, const char *file, struct conf_kv *kv,
			size_t n, char *err, size_t err_size)
{
	struct conf_array_ctx ctx = { .kv = kv, .n = n, .count = 0 };
	int rc = conf_parse_buffer(buf, len, file, conf_array_cb, &ctx, err, err_size);

	if (rc < 0)
		return rc;
	return (int)ctx.count;
}

int
conf_parse_int(const char *value, long long min, long long max, long long *out, char *msg,
	       size_t msg_size)
{
	const char *p = value;
	char *end;
	long long v;
	int base = 10;

	if (!value)
		return -EINVAL;
	if (*p == '-' || *p == '+')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	/* strtoll alone would accept leading blanks and an empty "0x". */
	if (!(*p >= '0' && *p <= '9') && !(base == 16 && ((*p >= 'a' && *p <= 'f') ||
							  (*p >= 'A' && *p <= 'F')))) {
		conf_msg(msg, msg_size, "'%s' is not an integer", value);
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(value, &end, base);
	if (*end != '\0') {
		conf_msg(msg, msg_size, "'%s' is not an integer", value);
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		conf_msg(msg, msg_size, "%s is out of range [%lld, %lld]", value, min, max);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int
conf_parse_bool(const char *value, bool *out, char *msg, size_t msg_size)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (!value)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	conf_msg(msg, msg_size, "'%s' is not a boolean (Yes or No)", value);
	return -EINVAL;
}

int
conf_parse_enum(const char *value, const char *const *names, unsigned *out, char *msg,
		size_t msg_size)
{
	size_t pos;
	int n;

	if (!value || !names)
		return -EINVAL;
	for (unsigned i = 0; names[i]; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	if (!msg || msg_size == 0)
		return -EINVAL;
	n = snprintf(msg, msg_size, "'%s' is not one of:", value);
	pos = n > 0 ? (size_t)n : 0;
	for (unsigned i = 0; names[i] && pos < msg_size; i++) {
		n = snprintf(msg + pos, msg_size - pos, "%s %s", i ? "," : "", names[i]);
		if (n < 0)
			break;
		pos += (size_t)n;
	}
	return -EINVAL;
}

int
conf_parse_size(const char *value, uint64_t min, uint64_t max, uint64_t *out, char *msg,
		size_t msg_size)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!value)
		return -EINVAL;
	/* strtoull would accept blanks and negate "-1". */
	if (!(value[0] >= '0' && value[0] <= '9')) {
		conf_msg(msg, msg_size, "'%s' is not a size", value);
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(value, &end, 10);
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		conf_msg(msg, msg_size, "'%s' is not a size (suffixes K, M, G, T)", value);
		return -EINVAL;
	}
	if (shift && end[1] != '\0') {
		conf_msg(msg, msg_size, "'%s' is not a size (suffixes K, M, G, T)", value);
		return -EINVAL;
	}
	if (errno == ERANGE || v > (UINT64_MAX >> shift) || (v << shift) < min ||
	    (v << shift) > max) {
		conf_msg(msg, msg_size, "%s is out of range [%llu, %llu]", value,
			 (unsigned long long)min, (unsigned long long)max);
		return -ERANGE;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

static bool
conf_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
conf_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3722 stringprep output restricted to ASCII: lowercase letters, digits, '-', '.', ':'. */
static bool
conf_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || conf_is_digit(c) || c == '-' || c == '.' || c == ':';
}

static int
conf_check_hex_name(const char *name, const char *hex, size_t len, char *msg, size_t msg_size)
{
	size_t n = strlen(hex);

	for (size_t i = 0; i < n; i++) {
		if (!conf_is_hex(hex[i])) {
			conf_msg(msg, msg_size, "'%.4s' name has a non-hex character", name);
			return -EINVAL;
		}
	}
	if (n != len && !(name[0] == 'n' && (n == 16 || n == 32))) {
		conf_msg(msg, msg_size, "'%.4s' name needs %s hex digits, not %zu", name,
			 name[0] == 'n' ? "16 or 32" : "16", n);
		return -EINVAL;
	}
	return 0;
}

int
conf_check_iscsi_name(const char *name, char *msg, size_t msg_size)
{
	size_t len;
	const char *p;
	int month;

	if (!name)
		return -EINVAL;
	len = strnlen(name, CONF_ISCSI_NAME_MAX + 1);
	if (len == 0) {
		conf_msg(msg, msg_size, "empty iSCSI name");
		return -EINVAL;
	}
	if (len > CONF_ISCSI_NAME_MAX) {
		conf_msg(msg, msg_size, "iSCSI name longer than %d bytes", CONF_ISCSI_NAME_MAX);
		return -EINVAL;
	}
	/* RFC 7143 4.2.7.4: eui. + 16 hex digits (EUI-64); RFC 3980: naa. + 16 or 32. */
	if (strncmp(name, "eui.", 4) == 0)
		return conf_check_hex_name(name, name + 4, 16, msg, msg_size);
	if (strncmp(name, "naa.", 4) == 0)
		return conf_check_hex_name(name, name + 4, 16, msg, msg_size);
	if (strncmp(name, "iqn.", 4) != 0) {
		conf_msg(msg, msg_size, "iSCSI name must start with iqn., eui. or naa.");
		return -EINVAL;
	}

	/* RFC 7143 4.2.7.3: iqn.yyyy-mm.reversed.domain.name[:unique]. */
	p = name + 4;
	if (!(conf_is_digit(p[0]) && conf_is_digit(p[1]) && conf_is_digit(p[2]) &&
	      conf_is_digit(p[3]) && p[4] == '-' && conf_is_digit(p[5]) && conf_is_digit(p[6]))) {
		conf_msg(msg, msg_size, "iqn. name needs a yyyy-mm date");
		return -EINVAL;
	}
	month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12) {
		conf_msg(msg, msg_size, "iqn. name has invalid month %.2s", p + 5);
		return -EINVAL;
	}
	p += 7;
	if (*p != '.') {
		conf_msg(msg, msg_size,
			 "iqn. name needs '.' and a naming authority after the date");
		return -EINVAL;
	}
	p++;
	/* The naming authority: dot-separated labels of [a-z0-9-], none empty. */
	for (;;) {
		const char *label = p;

		while (*p && *p != '.' && *p != ':') {
			if (*p >= 'A' && *p <= 'Z') {
				conf_msg(msg, msg_size, "iSCSI names are lowercase");
				return -EINVAL;
			}
			if (!((*p >= 'a' && *p <= 'z') || conf_is_digit(*p) || *p == '-')) {
				conf_msg(msg, msg_size, "invalid character in naming authority");
				return -EINVAL;
			}
			p++;
		}
		if (p == label) {
			conf_msg(msg, msg_size, "empty label in naming authority");
			return -EINVAL;
		}
		if (*p != '.')
			break;
		p++;
	}
	if (*p == ':') {
		for (p++; *p; p++) {
			if (*p >= 'A' && *p <= 'Z') {
				conf_msg(msg, msg_size, "iSCSI names are lowercase");
				return -EINVAL;
			}
			if (!conf_is_name_char(*p)) {
				conf_msg(msg, msg_size, "invalid character in iSCSI name");
				return -EINVAL;
			}
		}
	}
	return 0;
}
