/*
 * test_examples.c - the producer and consumer examples work together.
 *
 * The examples are documentation that runs, so this test runs them the way
 * examples/README.md says: `producer MESSAGE | consumer` (the reference
 * travels through the pipe, the bytes through shared memory), and the
 * two-step form with the reference on the consumer's command line.  The
 * binaries come from $MEMD_EXAMPLE_PRODUCER and $MEMD_EXAMPLE_CONSUMER
 * (set by meson); without them the test is skipped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MESSAGE "frames cross processes without a copy"

/* How to run one example in a child. */
struct exec_arg {
	const char *bin;     /* program */
	const char *argv[6]; /* argv[0..], NULL-terminated */
	int in_fd;           /* becomes stdin (or -1: keep) */
	int out_fd;          /* becomes stdout (or -1: keep) */
	int close_fds[4];    /* other pipe ends to close in the child, -1 = none */
};

/* Child: wire stdin/stdout and exec the example.  Returns 127 if exec
 * fails. */
static int exec_child(void *argp)
{
	struct exec_arg *a = argp;

	if (a->in_fd >= 0)
		dup2(a->in_fd, STDIN_FILENO);
	if (a->out_fd >= 0)
		dup2(a->out_fd, STDOUT_FILENO);
	for (int i = 0; i < 4; i++) {
		if (a->close_fds[i] >= 0)
			close(a->close_fds[i]);
	}
	if (a->in_fd > STDERR_FILENO)
		close(a->in_fd);
	if (a->out_fd > STDERR_FILENO)
		close(a->out_fd);
	execv(a->bin, (char *const *)a->argv);
	fprintf(stderr, "exec %s: %s\n", a->bin, strerror(errno));
	return 127;
}

/* Read everything from fd (until EOF or timeout_ms) into buf. */
static size_t read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t got = 0;

	while (got + 1 < cap && now_ms() < deadline) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* The example binaries, or skip the test. */
static void example_bins(const char **prod, const char **cons)
{
	*prod = getenv("MEMD_EXAMPLE_PRODUCER");
	*cons = getenv("MEMD_EXAMPLE_CONSUMER");
	if (!*prod || !*cons)
		cr_skip_test("examples not built");
}

Test(examples, producer_piped_into_consumer_prints_the_message, .fini = harness_fini)
{
	struct exec_arg pa = {.in_fd = -1, .close_fds = {-1, -1, -1, -1}};
	struct exec_arg ca = {.close_fds = {-1, -1, -1, -1}};
	const char *prod, *cons;
	int link[2], out[2], st;
	char buf[512], want[256], why[64];
	pid_t pp, cp;

	example_bins(&prod, &cons);
	memd_start(&H, NULL);
	cr_assert_eq(pipe(link), 0);
	cr_assert_eq(pipe(out), 0);
	pa.bin = prod;
	pa.argv[0] = prod;
	pa.argv[1] = "--socket";
	pa.argv[2] = H.sock;
	pa.argv[3] = MESSAGE;
	pa.out_fd = link[1];
	pa.close_fds[0] = link[0];
	pa.close_fds[1] = out[0];
	pa.close_fds[2] = out[1];
	ca.bin = cons;
	ca.argv[0] = cons;
	ca.argv[1] = "--socket";
	ca.argv[2] = H.sock;
	ca.in_fd = link[0];
	ca.out_fd = out[1];
	ca.close_fds[0] = link[1];
	ca.close_fds[1] = out[0];
	pp = child_fork(exec_child, &pa);
	cp = child_fork(exec_child, &ca);
	close(link[0]);
	close(link[1]);
	close(out[1]);
	read_all(out[0], buf, sizeof(buf), 10000);
	close(out[0]);
	st = child_wait(cp, 10000);
	cr_assert_eq(st, 0, "consumer: %s", child_status_str(st, why, sizeof(why)));
	st = child_wait(pp, 10000);
	cr_assert_eq(st, 0, "producer: %s (it should exit once the consumer closed the pipe)",
	             child_status_str(st, why, sizeof(why)));
	snprintf(want, sizeof(want), "from pid %d: %s\n", (int)pp, MESSAGE);
	cr_assert_str_eq(buf, want, "consumer printed \"%s\"", buf);
	memd_stop_clean(&H, SIGTERM);
}

Test(examples, consumer_takes_the_reference_on_its_command_line, .fini = harness_fini)
{
	struct exec_arg pa = {.in_fd = -1, .close_fds = {-1, -1, -1, -1}};
	struct exec_arg ca = {.in_fd = -1, .close_fds = {-1, -1, -1, -1}};
	int ref_pipe[2], out[2], st;
	char ref[64], buf[512], want[256], why[64];
	const char *prod, *cons;
	size_t n = 0;
	pid_t pp, cp;

	example_bins(&prod, &cons);
	memd_start(&H, NULL);
	cr_assert_eq(pipe(ref_pipe), 0);
	cr_assert_eq(pipe(out), 0);
	/* The producer prints the reference into ref_pipe and keeps its
	 * block until we close our end of that pipe. */
	pa.bin = prod;
	pa.argv[0] = prod;
	pa.argv[1] = "--socket";
	pa.argv[2] = H.sock;
	pa.argv[3] = MESSAGE;
	pa.out_fd = ref_pipe[1];
	pa.close_fds[0] = ref_pipe[0];
	pa.close_fds[1] = out[0];
	pa.close_fds[2] = out[1];
	pp = child_fork(exec_child, &pa);
	close(ref_pipe[1]);
	/* One line: "0x...\n". */
	while (n + 1 < sizeof(ref) && read(ref_pipe[0], ref + n, 1) == 1 && ref[n] != '\n')
		n++;
	ref[n] = '\0';
	cr_assert_eq(strncmp(ref, "0x", 2), 0, "producer printed \"%s\"", ref);

	ca.bin = cons;
	ca.argv[0] = cons;
	ca.argv[1] = "--socket";
	ca.argv[2] = H.sock;
	ca.argv[3] = ref;
	ca.out_fd = out[1];
	ca.close_fds[0] = out[0];
	ca.close_fds[1] = ref_pipe[0];
	cp = child_fork(exec_child, &ca);
	close(out[1]);
	read_all(out[0], buf, sizeof(buf), 10000);
	close(out[0]);
	st = child_wait(cp, 10000);
	cr_assert_eq(st, 0, "consumer: %s", child_status_str(st, why, sizeof(why)));
	snprintf(want, sizeof(want), "from pid %d: %s\n", (int)pp, MESSAGE);
	cr_assert_str_eq(buf, want, "consumer printed \"%s\"", buf);

	/* Closing the reader of its stdout lets the producer free and exit. */
	close(ref_pipe[0]);
	st = child_wait(pp, 10000);
	cr_assert_eq(st, 0, "producer: %s", child_status_str(st, why, sizeof(why)));

	/* A made-up reference is refused, not a crash. */
	ca.argv[3] = "0x0000ffff00000000";
	ca.out_fd = -1;
	for (int i = 0; i < 4; i++)
		ca.close_fds[i] = -1;
	st = child_run(exec_child, &ca, 10000);
	cr_assert_eq(st, 1, "consumer with a bogus reference: %s",
	             child_status_str(st, why, sizeof(why)));
	memd_stop_clean(&H, SIGTERM);
}
