/*
 * leakcheck.c - a leak in a Criterion test process fails the run.
 *
 * Why: Criterion runs each test in a worker process and takes the test's
 * result from the worker before the worker exits, so LeakSanitizer's own
 * check at exit (which reports, then exits 23) changes nothing: the run
 * still passes.  memd's leaks were caught anyway (the harness requires a
 * clean exit of the daemon), but libmemclient's run inside the test
 * processes, so its leaks went unseen.
 *
 * How: the runner (PRE_ALL) makes an empty marker file and names it in
 * $MEMD_LEAK_MARK, which the workers inherit.  A worker checks for leaks
 * when it exits (registered at start-up, so it runs before LSan's own
 * at-exit check) and appends a byte to the marker if it found any.  At the
 * end (POST_ALL) the runner counts one failed test per such byte, which
 * makes the run's exit status non-zero; LSan's report above says where.
 *
 * Linked into every Criterion test binary of a -Db_sanitize=address build
 * only (tests/meson.build).
 */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <sanitizer/lsan_interface.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEAK_MARK_ENV "MEMD_LEAK_MARK"

static char leak_mark[64]; /* the runner's marker file, "" if none */

/* At a worker's exit: a byte in the marker if LSan finds a leak (its
 * report goes to stderr). */
static void leak_check_at_exit(void)
{
	const char *mark = getenv(LEAK_MARK_ENV);
	int fd;

	if (mark == NULL || __lsan_do_recoverable_leak_check() == 0)
		return;
	fd = open(mark, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "L", 1) != 1)
		perror("leakcheck: marker");
	close(fd);
}

/* Workers find the marker in their environment; the runner does not yet
 * (PRE_ALL runs after this), so it registers nothing. */
__attribute__((constructor)) static void leak_check_register(void)
{
	if (getenv(LEAK_MARK_ENV) != NULL)
		atexit(leak_check_at_exit);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	int fd;

	(void)set;
	strcpy(leak_mark, "/tmp/memd-leaks-XXXXXX");
	fd = mkstemp(leak_mark);
	if (fd < 0) {
		perror("leakcheck: mkstemp");
		leak_mark[0] = '\0';
		return;
	}
	close(fd);
	setenv(LEAK_MARK_ENV, leak_mark, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	struct stat st;

	if (leak_mark[0] == '\0')
		return;
	if (stat(leak_mark, &st) == 0 && st.st_size > 0) {
		fprintf(stderr, "leakcheck: %lld test process(es) leaked memory (reports above)\n",
		        (long long)st.st_size);
		stats->tests_failed += (size_t)st.st_size;
		stats->tests_passed -= stats->tests_passed < (size_t)st.st_size
		                               ? stats->tests_passed
		                               : (size_t)st.st_size;
	}
	unlink(leak_mark);
}
