/*
 * log.h - a tiny leveled logger writing one line per message to stderr.
 *
 * Two line formats:
 *  - plain (the default): "2026-11-26T05:41:05.123Z memd[1234] warn: message\n"
 *    (UTC timestamp with milliseconds, ident, pid, level);
 *  - journal: "<4>message\n", the sd-daemon.h priority prefix (<3> error,
 *    <4> warning, <6> info, <7> debug) and nothing else: when stderr is
 *    connected to systemd's journal, the journal stamps time, ident and
 *    pid itself and reads the priority from the prefix.
 * log_detect_journal() picks the format from $JOURNAL_STREAM.  Each line is written
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

/* Line formats (see the top of this file). */
enum log_format {
	LOG_FORMAT_PLAIN = 0,   /* timestamp ident[pid] level: message */
	LOG_FORMAT_JOURNAL = 1, /* <N>message, for systemd's journal */
};

/* Use format from now on (any thread; an atomic). */
void log_set_format(enum log_format format);

/* The current format. */
enum log_format log_get_format(void);

/* Choose the format the way sd-daemon(3) recommends: journal when
 * $JOURNAL_STREAM is set and names ("<dev>:<inode>") the very file stderr
 * is open on (so a child whose stderr was redirected elsewhere keeps
 * timestamps), plain otherwise.  Returns the format chosen. */
enum log_format log_detect_journal(void);

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
