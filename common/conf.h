/*
 * Configuration file parsing: iscsid.conf-style `key = value` files, a line tokenizer that
 * the target config uses for its tgt-style `<target NAME> ... </target>` blocks, typed value
 * helpers with range checks, and iSCSI name validation.
 *
 * Syntax (one entry per line):
 *   - blank lines are ignored; a line whose first non-blank character is '#' is a comment.
 *     Comments are full-line only, as in iscsid.conf: a '#' later in a line belongs to the
 *     value (CHAP secrets and paths may contain '#').
 *   - key = value: the key is [A-Za-z0-9._\-\[\]]+ (e.g. node.conn[0].timeo.noop_out_interval);
 *     the value runs to the end of the line, with surrounding blanks trimmed; it may be empty.
 *     No quoting, escapes or continuation lines. CRLF line ends are accepted.
 *   - with CONF_LEX_SPACE_SEP, `key value` (no '=') is also accepted (tgt targets.conf).
 *   - with CONF_LEX_TAGS, `<tag arg...>` opens a block and `</tag>` closes it; the tokenizer
 *     only reports them, nesting is the caller's business.
 * Limits: lines CONF_MAX_LINE bytes, keys CONF_MAX_KEY, values CONF_MAX_VALUE; NUL bytes are
 * rejected. Errors are reported as "file:line: message" in a caller buffer, with -EINVAL.
 *
 * Control plane only. No logging. Thread: any (no global state).
 */
#ifndef BALLAST_CONF_H
#define BALLAST_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define CONF_MAX_LINE 4096
#define CONF_MAX_KEY 255
#define CONF_MAX_VALUE 1023
#define CONF_MAX_FILE_SIZE (1024 * 1024)
#define CONF_ERR_SIZE 512 /* a comfortable size for error buffers */

/* Tokenizer flags. */
#define CONF_LEX_SPACE_SEP 0x1 /* accept `key value` as well as `key = value` */
#define CONF_LEX_TAGS 0x2      /* accept `<tag arg>` and `</tag>` lines */

enum conf_token_kind {
	CONF_TOK_KV = 1,    /* key, value */
	CONF_TOK_TAG_OPEN,  /* <key value>: key is the tag name, value the rest (may be "") */
	CONF_TOK_TAG_CLOSE, /* </key>: value is "" */
};

/* A token; key and value point into the lexer and are borrowed until the next call. */
struct conf_token {
	enum conf_token_kind kind;
	const char *key;
	const char *value;
	const char *file;
	unsigned line;
};

/* Tokenizer state in caller storage. Read-only outside conf. */
struct conf_lexer {
	const char *buf;
	size_t len;
	size_t pos;
	const char *file;
	unsigned line;
	unsigned flags;
	char key[CONF_MAX_KEY + 1];
	char value[CONF_MAX_VALUE + 1];
};

/*
 * Start tokenizing buf[0..len) (need not be NUL terminated). file names the source in error
 * messages (borrowed for the lexer's lifetime; "<memory>" if NULL). flags: CONF_LEX_*.
 */
void conf_lexer_init(struct conf_lexer *lx, const char *buf, size_t len, const char *file,
		     unsigned flags);

/*
 * Next token. Returns 1 and fills *tok, 0 at end of input, or -EINVAL with "file:line: msg"
 * written to err (err_size bytes; err may be NULL). After an error the lexer continues with
 * the next line if called again.
 */
int conf_lexer_next(struct conf_lexer *lx, struct conf_token *tok, char *err, size_t err_size);

/* One parsed entry, as given to a callback. Borrowed for the duration of the call. */
struct conf_entry {
	const char *key;
	const char *value;
	const char *file;
	unsigned line;
};

/*
 * Per-entry callback. Return 0 to continue or -errno to stop; on failure the callback may write
 * a message (without the "file:line: " prefix, which the parser adds) to msg.
 */
typedef int (*conf_entry_fn)(const struct conf_entry *e, void *opaque, char *msg,
			     size_t msg_size);

/*
 * Parse `key = value` entries (tags are an error) from a memory buffer or a file, calling cb
 * for each in order. Returns 0, the callback's error, -EINVAL for a syntax error, or (file)
 * -errno from open/read, -EFBIG if larger than CONF_MAX_FILE_SIZE; err receives
 * "file:line: message" ("file: message" for I/O errors). conf_parse_file() allocates a
 * temporary copy of the file (control plane).
 */
int conf_parse_buffer(const char *buf, size_t len, const char *file, conf_entry_fn cb,
		      void *opaque, char *err, size_t err_size);
int conf_parse_file(const char *path, conf_entry_fn cb, void *opaque, char *err,
		    size_t err_size);

/* An entry stored by value, for conf_parse_buffer_array(). */
struct conf_kv {
	unsigned line;
	char key[CONF_MAX_KEY + 1];
	char value[CONF_MAX_VALUE + 1];
};

/*
 * Parse buf into kv[0..n). Returns the number of entries, -ENOSPC (with an error message) if
 * there are more than n, or -EINVAL for a syntax error.
 */
int conf_parse_buffer_array(const char *buf, size_t len, const char *file, struct conf_kv *kv,
			    size_t n, char *err, size_t err_size);

/* Write "file:line: <formatted message>" to err (may be NULL) and return -EINVAL. */
int conf_errorf(char *err, size_t err_size, const char *file, unsigned line, const char *fmt,
		...) PRINTF_FMT(5, 6);

/*
 * Typed value helpers. Each returns 0 and sets *out, or -EINVAL (syntax) / -ERANGE (outside
 * [min, max] or overflow) and writes a message without position (e.g. "'x' is not an
 * integer") to msg (may be NULL), ready to be returned from a conf_entry_fn.
 */
/* Decimal, optional sign, or "0x" hex. */
int conf_parse_int(const char *value, long long min, long long max, long long *out, char *msg,
		   size_t msg_size);
/* Yes/No, True/False, On/Off, 1/0 (case-insensitive). */
int conf_parse_bool(const char *value, bool *out, char *msg, size_t msg_size);
/* Index of value in names[] (NULL terminated), case-insensitive. */
int conf_parse_enum(const char *value, const char *const *names, unsigned *out, char *msg,
		    size_t msg_size);
/* Unsigned decimal with an optional K, M, G or T suffix (powers of 1024, case-insensitive). */
int conf_parse_size(const char *value, uint64_t min, uint64_t max, uint64_t *out, char *msg,
		    size_t msg_size);

#define CONF_ISCSI_NAME_MAX 223 /* RFC 7143 4.2.7.1 / 6.6: bytes, without the NUL */

/*
 * Validate an iSCSI name (RFC 7143 4.2.7, RFC 3722 stringprep restricted to ASCII):
 *   iqn.YYYY-MM.<reversed domain>[:<anything>]  lowercase a-z 0-9 '-' '.' ':', month 01-12
 *   eui.<16 hex digits>
 *   naa.<16 or 32 hex digits>
 * at most CONF_ISCSI_NAME_MAX bytes. Returns 0 or -EINVAL with a reason in msg (may be NULL).
 */
int conf_check_iscsi_name(const char *name, char *msg, size_t msg_size);

#endif
