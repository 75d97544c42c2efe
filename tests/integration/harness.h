/*
 * harness.h - start the real memd for an integration test, stop it, and
 * check that it left nothing behind.
 *
 * A test calls memd_start() (optionally with INI text for a config file),
 * talks to the daemon through libmemclient or a raw socket, and ends with
 * memd_stop_clean(), which asserts a clean exit: status 0 after SIGTERM, no
 * socket file, no /dev/shm segment with the test's prefix.  Every test also
 * names harness_fini as its Criterion .fini, which reaps whatever is still
 * running (memd, forked children) when the body stopped early on a failed
 * assertion; it never asserts (Criterion ignores assertions in .fini).
 *
 * Only processes the harness started are ever signalled.
 */
#ifndef MEMD_TEST_HARNESS_H
#define MEMD_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

/* One running (or stopped) memd. */
struct memd_harness {
	pid_t pid;          /* memd's pid; 0 when not running */
	bool stopped_clean; /* memd_stop_clean() ran to the end */
	char dir[PATH_MAX]; /* private temp dir (mkdtemp) */
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* socket path */
	char prefix[64];       /* shm prefix, unique to this test run */
	char config[PATH_MAX]; /* config file path, "" if none */
	char log[PATH_MAX];    /* memd's stdout+stderr */
};

/* The memd of the current test (each Criterion test runs in its own
 * process, so one global per process is one per test). */
extern struct memd_harness H;

/* Start $MEMD_BIN on a socket in a fresh temp dir with a unique shm prefix
 * (passed as $MEMD_SHM_PREFIX), under $MEMD_TEST_WRAPPER if set (words
 * such as "/usr/bin/valgrind --error-exitcode=99"; the first must be an
 * absolute path) and with --log-level $MEMD_TEST_LOG_LEVEL if set.  config_ini: INI text written to
 * <dir>/memd.conf and passed with --config, or NULL for no config file.
 * Waits (up to 10 s) until the socket accepts a connection.  Fails the test
 * (cr_assert) if memd cannot start, showing its output. */
void memd_start(struct memd_harness *h, const char *config_ini);

/* Turn libmemclient's per-thread block caches off for the clients this test
 * process (and its children) connects from now on ($MEMC_CACHE_BYTES=0),
 * for tests that count exactly what the daemon holds: a cache keeps freed
 * private blocks held.  Criterion runs each test in its own process, so
 * this does not leak into other tests. */
void harness_cache_off(void);

/* Send sig (SIGTERM or SIGINT) to memd, wait up to 10 s (then SIGKILL),
 * and assert: exit status 0, socket file gone, no /dev/shm/<prefix>-*
 * entry (any found are removed).  Removes the temp dir.  Fails the test
 * after cleaning up if any check fails. */
void memd_stop_clean(struct memd_harness *h, int sig);

/* Run $MEMD_BIN once more with extra_args (NULL-terminated, after argv[0])
 * and $MEMD_SHM_PREFIX=prefix, output to log_path, and wait up to
 * timeout_ms for it to exit on its own.  Returns its child_wait()-style
 * status, or -1 if it was still running (it is then stopped with SIGTERM,
 * then SIGKILL, and reaped).  For daemons that are expected to refuse to
 * start. */
int memd_run_expect_exit(const char *const *extra_args, const char *prefix, const char *log_path,
                         int timeout_ms);

/* Does the file at path contain needle?  Used on memd logs (their first
 * MiB). */
bool file_contains(const char *path, const char *needle);

/* A value from /proc/<pid>/status in kB (key "VmRSS", "VmHWM"...), or -1. */
long proc_status_kb(pid_t pid, const char *key);

/* Lines of /proc/<pid>/maps that contain needle (a mapping's name). */
int proc_maps_count(pid_t pid, const char *needle);

/* How many times needle occurs in the file at path (0 if it cannot be
 * read; 1 for an empty needle), over its first MiB as file_contains. */
int file_count(const char *path, const char *needle);

/* Criterion .fini: kill and reap leftover children and memd, remove the
 * shm entries and the temp dir.  Prints memd's log when the test did not
 * reach memd_stop_clean().  Never asserts. */
void harness_fini(void);

/* Names of /dev/shm entries starting with "<prefix>-": their number, and
 * the sum of their sizes in *bytes (if non-NULL). */
int shm_count(const char *prefix, uint64_t *bytes);

/* Bytes of memory the /dev/shm entries starting with "<prefix>-" really
 * occupy (st_blocks * 512): what punching holes gives back. */
uint64_t shm_resident(const char *prefix);

/* Write a path inside the test's temp dir into buf. */
void harness_path(const struct memd_harness *h, const char *name, char *buf, size_t len);

/* Fork a child that runs fn(arg) and _exit()s with its return value (0..255;
 * anything else becomes 255).  The child must not use Criterion asserts or
 * any memc_client of the parent.  Returns the pid (recorded, so harness_fini
 * reaps it), or fails the test. */
pid_t child_fork(int (*fn)(void *arg), void *arg);

/* Wait for a child started by child_fork.  Returns its exit status (0..255),
 * 1000 + signal number if it was killed, or -1 if it did not exit within
 * timeout_ms (it is then killed with SIGKILL and reaped). */
int child_wait(pid_t pid, int timeout_ms);

/* child_fork + child_wait. */
int child_run(int (*fn)(void *arg), void *arg, int timeout_ms);

/* Send SIGKILL to a child started by child_fork and reap it.  Returns what
 * child_wait returns (1009 normally). */
int child_kill(pid_t pid);

/* Describe a child_wait() result ("exit 3", "signal 11 (Segmentation
 * fault)", "timeout") into buf; returns buf. */
const char *child_status_str(int st, char *buf, size_t len);

/* A config with the default pool and a "small" pool that must grow
 * (64 KiB first segment) and stop at 1 MiB. */
#define SMALL_POOL         "small"
#define SMALL_POOL_MAX     (1024u * 1024u)
#define SMALL_POOL_SEGMENT (64u * 1024u)
#define CONFIG_SMALL_POOL                                                                          \
	"[memd]\n"                                                                                 \
	"log_level = info\n"                                                                       \
	"\n"                                                                                       \
	"[pool default]\n"                                                                         \
	"max_size = 64M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"\n"                                                                                       \
	"[pool small]\n"                                                                           \
	"max_size = 1M\n"                                                                          \
	"segment_size = 64K\n"

/* Fill len bytes at p with a pattern derived from seed. */
void pattern_fill(void *p, size_t len, uint32_t seed);

/* Offset of the first byte at p that differs from pattern_fill(seed), or
 * -1 if all len bytes match. */
long pattern_check(const void *p, size_t len, uint32_t seed);

/* Monotonic milliseconds. */
int64_t now_ms(void);

/* Sleep ms milliseconds. */
void sleep_ms(int ms);

#endif /* MEMD_TEST_HARNESS_H */
