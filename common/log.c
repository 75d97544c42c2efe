/*
 * log.c - the leveled stderr logger.
 *
 * What it does: formats "timestamp ident[pid] level: message" (or, for
 * systemd's journal, "<N>message") into a stack buffer and hands the whole
 * line to one write(2) on fd 2, so concurrent threads (and processes
 * sharing stderr) never interleave within a line.  Nothing is allocated; a
 * message too long for the buffer is truncated and still ends with a
 * newline.
 *
 * Journal detection: systemd sets $JOURNAL_STREAM to "<dev>:<inode>" of
 * the stream it connected stdout/stderr to.  The variable is inherited by
 * children whose stderr may point elsewhere, so (as sd-daemon(3) advises)
 * the format switches only when stderr's fstat() matches it.  The prefixes
 * follow sd-daemon.h: SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>",
 * SD_DEBUG "<7>".
 *
 * Invariants: the current level is always a valid enum log_level, the
 * format a valid enum log_format; both are atomics so any thread may change
 * or read them.  The ident buffer is always
 * NUL-terminated; it is written only by log_set_ident(), which callers use
 * before logging starts.
 *
 * Ownership: this file owns the two process-wide variables below and
 * nothing else; it never closes or reopens stderr.
 */
#include "log.h"

#include "debug.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <inttypes.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_IDENT_MAX 32 /* bytes of ident incl. NUL */

static _Atomic int log_level_cur = MEMD_LOG_INFO;
static _Atomic int log_format_cur = LOG_FORMAT_PLAIN;
static char log_ident[LOG_IDENT_MAX] = "memd";

static const char *const log_names[] = {"error", "warn", "info", "debug"};

/* sd-daemon.h priority prefixes by level. */
static const char *const log_prefixes[] = {"<3>", "<4>", "<6>", "<7>"};

void log_set_level(enum log_level level)
{
	memd_assert(level >= MEMD_LOG_ERROR && level <= MEMD_LOG_DEBUG);
	atomic_store_explicit(&log_level_cur, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level_cur, memory_order_relaxed);
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level_cur, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	for (int i = MEMD_LOG_ERROR; i <= MEMD_LOG_DEBUG; i++)
		if (strcasecmp(name, log_names[i]) == 0)
			return i;
	if (strcasecmp(name, "warning") == 0)
		return MEMD_LOG_WARN;
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < MEMD_LOG_ERROR || (int)level > MEMD_LOG_DEBUG)
		return "?";
	return log_names[level];
}

void log_set_format(enum log_format format)
{
	memd_assert(format == LOG_FORMAT_PLAIN || format == LOG_FORMAT_JOURNAL);
	atomic_store_explicit(&log_format_cur, (int)format, memory_order_relaxed);
}

enum log_format log_get_format(void)
{
	return (enum log_format)atomic_load_explicit(&log_format_cur, memory_order_relaxed);
}

/* Does $JOURNAL_STREAM ("<dev>:<inode>", decimal) name stderr's file? */
static int log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	char tail;

	if (v == NULL || sscanf(v, "%ju:%ju%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

enum log_format log_detect_journal(void)
{
	enum log_format f = log_stderr_is_journal() ? LOG_FORMAT_JOURNAL : LOG_FORMAT_PLAIN;

	log_set_format(f);
	return f;
}

void log_set_ident(const char *ident)
{
	if (ident == NULL)
		ident = "memd";
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
}

/* Format the UTC wall-clock time with milliseconds into buf; bytes used. */
static size_t log_format_time(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ ", ts.tv_nsec / 1000000L);
	return n < cap ? n : cap - 1;
}

/* Write buf[0..len) to stderr, retrying EINTR and short writes; errors are
 * ignored (there is nowhere left to report them). */
static void log_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	int saved_errno = errno;
	size_t n;
	int m;
	va_list ap;

	if (!log_enabled(level))
		return;
	if (log_get_format() == LOG_FORMAT_JOURNAL && level >= MEMD_LOG_ERROR &&
	    level <= MEMD_LOG_DEBUG) {
		n = (size_t)snprintf(line, sizeof(line), "%s", log_prefixes[level]);
	} else {
		n = log_format_time(line, sizeof(line));
		m = snprintf(line + n, sizeof(line) - n, "%s[%ld] %s: ", log_ident, (long)getpid(),
		             log_level_name(level));
		if (m > 0)
			n += (size_t)m;
	}
	if (n < sizeof(line) - 1) {
		va_start(ap, fmt);
		m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep room for the newline */
	if (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	log_write(line, n);
	errno = saved_errno;
}
