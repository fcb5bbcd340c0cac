/*
 * The daemons' logging facility. (Other common/ and netreserve/ modules never log: they return
 * errors and counters; the daemons log.)
 *
 * Each message is formatted into a fixed stack buffer of LOG_LINE_MAX bytes and emitted with a
 * single write(2) to the log fd (stderr by default), so lines from several threads never
 * interleave (LOG_LINE_MAX <= PIPE_BUF) and logging never allocates. An overlong message is
 * truncated and ends with "...\n". errno is preserved across every log call.
 *
 * Line formats (enum log_format):
 *   LOG_FORMAT_JOURNAL    "<N>msg\n"             N = syslog priority; for systemd-journald
 *   LOG_FORMAT_PLAIN      "ident[pid]: level: msg\n"
 *   LOG_FORMAT_TIMESTAMP  "YYYY-MM-DDTHH:MM:SS.uuuuuuZ ident[pid]: level: msg\n" (UTC)
 *   LOG_FORMAT_AUTO       JOURNAL when $JOURNAL_STREAM names the log fd's device:inode (as
 *                         systemd sets it for a unit's stderr), else PLAIN. The default.
 * Debug messages carry their category after the level: "debug: pdu: msg" ("<7>pdu: msg").
 *
 * Filtering: err..info messages are emitted when their level <= the level threshold (default
 * LOG_LEVEL_INFO). Debug messages with a category (log_debug) are emitted iff that category's
 * bit is enabled, whatever the threshold, so the datapath formats nothing unless asked; the
 * check is an inline load. log_msg(LOG_LEVEL_DEBUG, ...) without category follows the threshold.
 *
 * Configuration (log_set_*) is meant for startup, before threads exist; emitting is thread-safe.
 * The names avoid <syslog.h>'s LOG_ERR, LOG_INFO, ... so both headers can be included.
 */
#ifndef BALLAST_LOG_H
#define BALLAST_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

/* Values are the syslog priorities used in "<N>" prefixes. */
enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Debug categories, one bit each; names for log_parse_categories() in brackets. */
#define LOG_CAT_PDU 0x0001     /* [pdu] PDU headers in and out */
#define LOG_CAT_LOGIN 0x0002   /* [login] login, text negotiation, CHAP */
#define LOG_CAT_URING 0x0004   /* [uring] io_uring submissions and completions */
#define LOG_CAT_POOL 0x0008    /* [pool] pool and buffer-ring accounting */
#define LOG_CAT_NBD 0x0010     /* [nbd] NBD requests and replies */
#define LOG_CAT_SCSI 0x0020    /* [scsi] SCSI commands, sense */
#define LOG_CAT_CONN 0x0040    /* [conn] connection and session state */
#define LOG_CAT_CTL 0x0080     /* [ctl] control socket, ballastadm requests */
#define LOG_CAT_UBLK 0x0100    /* [ublk] ublk requests */
#define LOG_CAT_CONF 0x0200    /* [conf] configuration */
#define LOG_CAT_FAULT 0x0400   /* [fault] fault injection */
#define LOG_CAT_ALL 0x07ff     /* [all] */

#define LOG_LINE_MAX 1024 /* bytes per line including prefix and newline; <= PIPE_BUF */
#define LOG_IDENT_MAX 32

enum log_format {
	LOG_FORMAT_AUTO = 0,
	LOG_FORMAT_JOURNAL,
	LOG_FORMAT_PLAIN,
	LOG_FORMAT_TIMESTAMP,
};

/* Read-only outside log.c; use log_enabled(). */
extern unsigned log_categories;

/* Set the identity shown in PLAIN/TIMESTAMP lines (truncated to LOG_IDENT_MAX - 1). */
void log_set_ident(const char *ident);
/* Set the fd lines are written to (default 2). Borrowed: the caller keeps it open. */
void log_set_fd(int fd);
/* Set the line format; AUTO is resolved here, against the current fd and $JOURNAL_STREAM. */
void log_set_format(enum log_format format);
/* Returns the resolved format in use (never AUTO). */
enum log_format log_get_format(void);
/* Set the threshold for err..info (and uncategorised debug) messages. */
void log_set_level(enum log_level level);
/* The threshold in use. */
enum log_level log_get_level(void);
/* Parse "err", "warn"/"warning", "notice", "info", "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

/*
 * Parse a comma-separated list of category names ("pdu,login"; "all"; "none" or "" for 0)
 * into *mask. Blanks around names are ignored. Returns 0 or -EINVAL on an unknown name.
 */
int log_parse_categories(const char *spec, unsigned *mask);
/* Parse spec and enable exactly those categories. Returns 0 or -EINVAL (mask unchanged). */
int log_set_categories(const char *spec);
/* Enable exactly the LOG_CAT_* bits of mask (others ignored). Startup only. */
void log_set_category_mask(unsigned mask);
/* Name of a single category bit ("pdu"), or "?" */
const char *log_category_name(unsigned cat);

/* Fast check, safe on the datapath: is any bit of cat enabled for debug output? */
static inline bool
log_enabled(unsigned cat)
{
	return (log_categories & cat) != 0;
}

/* True if a message of this level would be emitted (threshold check only). */
bool log_level_enabled(enum log_level level);

/*
 * Emit one line at level (filtered by the threshold). cat is 0, or one LOG_CAT_* bit that is
 * named in the line. Never fails visibly: a failed write is dropped. Thread: any.
 */
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_FMT(2, 3);
void log_vmsg(enum log_level level, unsigned cat, const char *fmt, va_list ap)
	PRINTF_FMT(3, 0);
/* Emit a categorised debug line unconditionally; use via log_debug(), which checks first. */
void log_debug_emit(unsigned cat, const char *fmt, ...) PRINTF_FMT(2, 3);

#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
/* Arguments are not evaluated unless cat is enabled. */
#define log_debug(cat, ...)                                                                        \
	do {                                                                                       \
		if (unlikely(log_enabled(cat)))                                                    \
			log_debug_emit((cat), __VA_ARGS__);                                        \
	} while (0)

/*
 * Rate limiting for datapath errors: at most one line per interval (default 1 s) per state,
 * e.g. one struct per connection. Caller storage; zero-initialise (LOG_RATELIMIT_INIT) or set
 * interval_ns. Not thread-safe: one state per thread/connection. Monotonic clock.
 */
struct log_ratelimit {
	uint64_t interval_ns; /* 0 means LOG_RATELIMIT_DEFAULT_NS */
	uint64_t last_ns;     /* when the last line was let through */
	uint32_t suppressed;  /* lines refused since then */
	bool primed;          /* last_ns is valid */
};
#define LOG_RATELIMIT_DEFAULT_NS 1000000000ull
#define LOG_RATELIMIT_INIT { 0, 0, 0, false }

/*
 * May a line be emitted now? now_ns is a CLOCK_MONOTONIC time (the _at form lets callers and
 * tests supply it). On true, *suppressed (may be NULL) gets the number of lines refused since
 * the previous one let through, and the count restarts; on false the count is bumped.
 */
bool log_ratelimit_check_at(struct log_ratelimit *rl, uint64_t now_ns, uint32_t *suppressed);
bool log_ratelimit_check(struct log_ratelimit *rl, uint32_t *suppressed);

/*
 * log_msg() through a rate limiter: if level is filtered nothing happens (rl untouched);
 * otherwise emits if rl allows, appending " (N similar messages suppressed)" when N > 0.
 */
void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	PRINTF_FMT(3, 4);

#endif
