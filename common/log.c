/*
 * Logging for the daemons. See log.h for formats and filtering.
 *
 * Why one write(2) of a stack buffer: the datapath may log an error while the machine is out of
 * memory; stdio would allocate its buffer and could interleave partial lines from several
 * threads. A write of at most PIPE_BUF bytes to a pipe (journald's stdout stream is a socket,
 * a terminal or file is fine too) arrives whole.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* Datapath errors are logged (rate-limited) from here: it must stay allocation-free. */
#include "common/datapath.h"

_Static_assert(LOG_LINE_MAX <= PIPE_BUF, "a log line must be written atomically");

unsigned log_categories;

static int log_fd = 2;
static enum log_level log_threshold = LOG_LEVEL_INFO;
/* Requested format, and the resolved one (AUTO until resolved; see log_resolved_format()). */
static enum log_format log_format_req = LOG_FORMAT_AUTO;
static int log_format_eff = LOG_FORMAT_AUTO;
static char log_ident[LOG_IDENT_MAX] = "ballast";

static const struct {
	unsigned bit;
	const char *name;
} log_cat_names[] = {
	{ LOG_CAT_PDU, "pdu" },   { LOG_CAT_LOGIN, "login" }, { LOG_CAT_URING, "uring" },
	{ LOG_CAT_POOL, "pool" }, { LOG_CAT_NBD, "nbd" },     { LOG_CAT_SCSI, "scsi" },
	{ LOG_CAT_CONN, "conn" }, { LOG_CAT_CTL, "ctl" },     { LOG_CAT_UBLK, "ublk" },
	{ LOG_CAT_CONF, "conf" }, { LOG_CAT_FAULT, "fault" },
};

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERR] = "err",   [LOG_LEVEL_WARN] = "warn",   [LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

static const char *
log_level_name(enum log_level level)
{
	if (level < LOG_LEVEL_ERR || level > LOG_LEVEL_DEBUG)
		return "?";
	return log_level_names[level];
}

void
log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "ballast");
}

/*
 * systemd sets JOURNAL_STREAM="<dev>:<ino>" for a unit whose stdout/stderr go to the journal;
 * the variable is inherited by children, so compare it with the fd we actually write to.
 */
static bool
log_fd_is_journal(int fd)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!js || !*js)
		return false;
	if (sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void
log_resolve_format(void)
{
	int f = log_format_req;

	if (f == LOG_FORMAT_AUTO)
		f = log_fd_is_journal(log_fd) ? LOG_FORMAT_JOURNAL : LOG_FORMAT_PLAIN;
	__atomic_store_n(&log_format_eff, f, __ATOMIC_RELAXED);
}

void
log_set_fd(int fd)
{
	log_fd = fd;
	log_resolve_format();
}

void
log_set_format(enum log_format format)
{
	log_format_req = format;
	log_resolve_format();
}

enum log_format
log_get_format(void)
{
	int f = __atomic_load_n(&log_format_eff, __ATOMIC_RELAXED);

	if (f == LOG_FORMAT_AUTO) {
		/* Nobody configured the log: resolve on first use (idempotent). */
		log_resolve_format();
		f = __atomic_load_n(&log_format_eff, __ATOMIC_RELAXED);
	}
	return (enum log_format)f;
}

void
log_set_level(enum log_level level)
{
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_threshold = level;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

bool
log_level_enabled(enum log_level level)
{
	return level <= log_threshold;
}

int
log_parse_level(const char *s, enum log_level *out)
{
	if (!s)
		return -EINVAL;
	for (int l = LOG_LEVEL_ERR; l <= LOG_LEVEL_DEBUG; l++) {
		if (strcasecmp(s, log_level_names[l]) == 0) {
			*out = (enum log_level)l;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *
log_category_name(unsigned cat)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_cat_names); i++)
		if (log_cat_names[i].bit == cat)
			return log_cat_names[i].name;
	return "?";
}

static bool
log_name_eq(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

int
log_parse_categories(const char *spec, unsigned *mask)
{
	unsigned m = 0;
	const char *p = spec;

	if (!spec || !mask)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*mask = 0;
		return 0;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		const char *q;
		size_t n;
		bool found = false;

		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		q = end;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		n = (size_t)(q - p);
		if (n == 0)
			return -EINVAL;
		if (log_name_eq(p, n, "all")) {
			m |= LOG_CAT_ALL;
			found = true;
		} else if (log_name_eq(p, n, "none")) {
			found = true;
		}
		for (size_t i = 0; !found && i < ARRAY_SIZE(log_cat_names); i++) {
			if (log_name_eq(p, n, log_cat_names[i].name)) {
				m |= log_cat_names[i].bit;
				found = true;
			}
		}
		if (!found)
			return -EINVAL;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	*mask = m;
	return 0;
}

int
log_set_categories(const char *spec)
{
	unsigned m;
	int rc = log_parse_categories(spec, &m);

	if (rc < 0)
		return rc;
	log_categories = m;
	return 0;
}

void
log_set_category_mask(unsigned mask)
{
	log_categories = mask & LOG_CAT_ALL;
}

/* Append to line[*pos..LOG_LINE_MAX) without overflowing; *pos stays <= LOG_LINE_MAX - 1. */
static void PRINTF_FMT(3, 4)
log_append(char *line, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= LOG_LINE_MAX - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line + *pos, LOG_LINE_MAX - *pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*pos += (size_t)n;
	if (*pos > LOG_LINE_MAX - 1)
		*pos = LOG_LINE_MAX - 1;
}

/* Format the prefix for level/cat into line; returns its length. */
static size_t
log_prefix(char *line, enum log_level level, unsigned cat)
{
	enum log_format f = log_get_format();
	size_t pos = 0;

	if (f == LOG_FORMAT_JOURNAL) {
		log_append(line, &pos, "<%d>", (int)level);
	} else {
		if (f == LOG_FORMAT_TIMESTAMP) {
			struct timespec ts;
			struct tm tm;

			/* gmtime_r: localtime_r may load zone files (allocate) on first use. */
			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			log_append(line, &pos, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ ",
				   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
		}
		log_append(line, &pos, "%s[%ld]: %s: ", log_ident, (long)getpid(),
			   log_level_name(level));
	}
	if (cat)
		log_append(line, &pos, "%s: ", log_category_name(cat));
	return pos;
}

static void
log_write(const char *line, size_t len)
{
	ssize_t n;

	do
		n = write(log_fd, line, len);
	while (n < 0 && errno == EINTR);
}

/* Format and write one line, unconditionally. Preserves errno. */
static void PRINTF_FMT(3, 0)
log_emit(enum log_level level, unsigned cat, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno;
	size_t pos, avail, end;
	int n;

	pos = log_prefix(line, level, cat);
	/* Room for the message: everything but the final newline. */
	avail = LOG_LINE_MAX - 1 - pos;
	errno = saved; /* for %m */
	n = vsnprintf(line + pos, avail + 1, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > avail) {
		memcpy(line + LOG_LINE_MAX - 4, "...", 3);
		end = LOG_LINE_MAX - 1;
	} else {
		end = pos + (size_t)n;
		/* Callers need not end messages with a newline; we add it. */
		if (end > pos && line[end - 1] == '\n')
			end--;
	}
	/* One message, one line: embedded line breaks (from peer-supplied strings) would
	 * forge extra log lines, or lose the priority prefix under journald. */
	for (size_t i = pos; i < end; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[end] = '\n';
	log_write(line, end + 1);
	errno = saved;
}

void
log_vmsg(enum log_level level, unsigned cat, const char *fmt, va_list ap)
{
	if (level > log_threshold && !(level == LOG_LEVEL_DEBUG && cat && log_enabled(cat)))
		return;
	log_emit(level, cat, fmt, ap);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	log_emit(level, 0, fmt, ap);
	va_end(ap);
}

void
log_debug_emit(unsigned cat, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_DEBUG, cat, fmt, ap);
	va_end(ap);
}

bool
log_ratelimit_check_at(struct log_ratelimit *rl, uint64_t now_ns, uint32_t *suppressed)
{
	uint64_t interval = rl->interval_ns ? rl->interval_ns : LOG_RATELIMIT_DEFAULT_NS;

	if (!rl->primed || now_ns - rl->last_ns >= interval) {
		if (suppressed)
			*suppressed = rl->suppressed;
		rl->suppressed = 0;
		rl->last_ns = now_ns;
		rl->primed = true;
		return true;
	}
	if (rl->suppressed < UINT32_MAX)
		rl->suppressed++;
	return false;
}

bool
log_ratelimit_check(struct log_ratelimit *rl, uint32_t *suppressed)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return log_ratelimit_check_at(rl, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
				      suppressed);
}

/* Helper with a va_list-free signature so the suffix can be added in one emit. */
static void PRINTF_FMT(3, 4)
log_emit_fmt(enum log_level level, unsigned cat, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, cat, fmt, ap);
	va_end(ap);
}

void
log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	uint32_t suppressed = 0;
	int saved = errno;
	va_list ap;

	if (!log_level_enabled(level) || !log_ratelimit_check(rl, &suppressed))
		return;
	errno = saved; /* for %m */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errno = saved;
	if (suppressed)
		log_emit_fmt(level, 0, "%s (%u similar messages suppressed)", msg, suppressed);
	else
		log_emit_fmt(level, 0, "%s", msg);
}
