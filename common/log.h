/*
 * log.h - a tiny leveled logger writing one line per message to stderr.
 *
 * Line format: "2026-11-26T05:41:05.123Z memd[1234] warn: message\n" (UTC
 * timestamp with milliseconds, ident, pid, level).  Each line is written
 * with a single write(2), so lines from several threads never interleave.
 * Messages longer than LOG_LINE_MAX bytes are truncated.
 *
 * The level and ident are process-wide (the only process-wide state in
 * common/); the level is an atomic, safe to change from any thread.  The
 * default level is MEMD_LOG_INFO, the default ident "memd".
 *
 * Level names are MEMD_LOG_* (not LOG_*) so this header can live next to
 * <syslog.h>.
 */
#ifndef MEMD_LOG_H
#define MEMD_LOG_H

#define LOG_LINE_MAX 1024 /* bytes in one log line, newline included */

enum log_level {
	MEMD_LOG_ERROR = 0, /* something failed; the process may go on */
	MEMD_LOG_WARN = 1,  /* suspicious input or a degraded state */
	MEMD_LOG_INFO = 2,  /* start, stop, pools, sessions */
	MEMD_LOG_DEBUG = 3, /* per-request detail */
};

/* Messages above level are dropped from now on.  level must be one of the
 * enum values (asserted). */
void log_set_level(enum log_level level);

/* The current level. */
enum log_level log_get_level(void);

/* Would a message at level be written?  Use to skip costly formatting. */
int log_enabled(enum log_level level);

/* Parse "error", "warn" (or "warning"), "info", "debug" (case-insensitive)
 * into the level, or -EINVAL.  name NULL gives -EINVAL. */
int log_level_parse(const char *name);

/* The lower-case name of level ("info"), or "?" for an invalid value. */
const char *log_level_name(enum log_level level);

/* Set the ident printed on each line (copied, at most 31 bytes kept).
 * NULL restores "memd".  Call before threads start logging. */
void log_set_ident(const char *ident);

/* Write one line at level if enabled; fmt is printf-style, no newline
 * needed (a trailing one is dropped).  errno is preserved. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(MEMD_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(MEMD_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(MEMD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(MEMD_LOG_DEBUG, __VA_ARGS__)

#endif /* MEMD_LOG_H */
