/*
 * runner.c - main() of a test binary built against the Criterion stand-in
 * (criterion/criterion.h in this directory; why it exists is explained
 * there).
 *
 * It runs the registered tests one at a time, each in its own forked
 * process as Criterion does (so a test's globals, environment and memd are
 * its own): .init, the body, .fini.  A fatal check prints its message,
 * runs .fini and exits 1; a failed expectation prints and sets the exit
 * status to 1 when the body ends.  The parent waits up to the test's
 * .timeout (default RUNNER_TIMEOUT_S), kills it if needed, and prints one
 * line per test and a summary; its exit status is 0 only if every test
 * passed (or was skipped).
 *
 * Arguments: "--filter PATTERN" (fnmatch on "suite/name") runs a subset;
 * "--jobs N" and "--verbose" are accepted and ignored (meson passes them
 * to every integration test).
 */
#include "criterion/criterion.h"

#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNNER_TIMEOUT_S 300.0 /* a test without .timeout gets this long */
#define EXIT_SKIPPED     77    /* a test's exit status when it skipped */

static struct cri_test *registry; /* every test, in registration order */
static struct cri_test *current;  /* the test this process runs (in the child) */
static int expect_failures;       /* failed cr_expect checks so far (in the child) */

void cri_register(struct cri_test *t)
{
	t->next = registry;
	registry = t;
}

/* Run the current test's .fini once. */
static void run_fini(void)
{
	static bool done;

	if (done || current == NULL || current->opts.fini == NULL)
		return;
	done = true;
	current->opts.fini();
}

void cri_fail(const char *file, int line, bool fatal, const char *expr, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[----] %s:%d: %s\n[----]   %s\n", file, line,
	        fatal ? "Assertion Failed" : "Expectation Failed", msg[0] ? msg : expr);
	if (!fatal) {
		expect_failures++;
		return;
	}
	run_fini();
	fflush(NULL);
	exit(1);
}

void cri_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "[SKIP] ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	run_fini();
	fflush(NULL);
	exit(EXIT_SKIPPED);
}

void cri_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "[----] ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run t in a child; its wait status, or -1 if it timed out (killed). */
static int run_one(struct cri_test *t)
{
	double limit = t->opts.timeout > 0 ? t->opts.timeout : RUNNER_TIMEOUT_S;
	double deadline = now_s() + limit;
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("runner: fork");
		exit(2);
	}
	if (pid == 0) {
		current = t;
		if (t->opts.init != NULL)
			t->opts.init();
		t->body();
		run_fini();
		fflush(NULL);
		exit(expect_failures > 0 ? 1 : 0);
	}
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR) {
			perror("runner: waitpid");
			exit(2);
		}
		if (now_s() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
}

/* Order tests by suite, then name. */
static int test_cmp(const void *a, const void *b)
{
	const struct cri_test *x = *(struct cri_test *const *)a;
	const struct cri_test *y = *(struct cri_test *const *)b;
	int d = strcmp(x->suite, y->suite);

	return d != 0 ? d : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	struct cri_test **v;
	size_t n = 0, i = 0;
	int passed = 0, failed = 0, crashed = 0, skipped = 0;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--filter") == 0 && a + 1 < argc)
			filter = argv[++a];
		else if (strncmp(argv[a], "--filter=", 9) == 0)
			filter = argv[a] + 9;
		else if (strcmp(argv[a], "--jobs") == 0 && a + 1 < argc)
			a++;
	}
	for (struct cri_test *t = registry; t != NULL; t = t->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL)
		return 2;
	for (struct cri_test *t = registry; t != NULL; t = t->next)
		v[i++] = t;
	qsort(v, n, sizeof(*v), test_cmp);
	for (i = 0; i < n; i++) {
		char full[512];
		double t0;
		int st;

		snprintf(full, sizeof(full), "%s/%s", v[i]->suite, v[i]->name);
		if (v[i]->opts.disabled || (filter != NULL && fnmatch(filter, full, 0) != 0))
			continue;
		fprintf(stderr, "[RUN ] %s::%s\n", v[i]->suite, v[i]->name);
		t0 = now_s();
		st = run_one(v[i]);
		if (st == -1) {
			fprintf(stderr, "[FAIL] %s::%s: timed out after %.0f s\n", v[i]->suite,
			        v[i]->name, now_s() - t0);
			crashed++;
		} else if (WIFSIGNALED(st)) {
			fprintf(stderr, "[FAIL] %s::%s: killed by signal %d (%s)\n", v[i]->suite,
			        v[i]->name, WTERMSIG(st), strsignal(WTERMSIG(st)));
			crashed++;
		} else if (WEXITSTATUS(st) == EXIT_SKIPPED) {
			skipped++;
		} else if (WEXITSTATUS(st) != 0) {
			fprintf(stderr, "[FAIL] %s::%s: exit %d (%.2fs)\n", v[i]->suite, v[i]->name,
			        WEXITSTATUS(st), now_s() - t0);
			failed++;
		} else {
			fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", v[i]->suite, v[i]->name,
			        now_s() - t0);
			passed++;
		}
	}
	free(v);
	fprintf(stderr,
	        "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d | "
	        "Skipped: %d\n",
	        passed + failed + crashed, passed, failed, crashed, skipped);
	return failed + crashed > 0 ? 1 : 0;
}
