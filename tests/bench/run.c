/*
 * run.c - one measured replay run in a fresh child process, its JSON line,
 * and the summary (medians) of several runs.
 *
 * Each run is measured in a fresh child process (fork), so runs share no
 * heap state and no RSS high-water mark.  The child replays, prints its own
 * JSON line, sends its struct replay_result back through a pipe for the
 * summary, and exits.  The trace is parsed once, in the parent, into
 * anonymous mmap memory the children inherit.
 *
 * A run with a preload library cannot use the forked image: its child
 * executes memd-bench again with LD_PRELOAD set (preload.h), as the hidden
 * subcommand `__replay-child` (run_child_main below), which loads the trace
 * itself and then does what a forked child does, writing its result to the
 * same pipe (the write end survives exec).
 *
 * The parent does not call malloc until every child has run (memd-bench.c
 * says why): the run loop, memd_proc and preload use no heap memory, and
 * the summaries that print JSON come last.
 *
 * A client run without --socket gets a private memd of its own
 * (memd_proc.h), started before the child is forked and stopped, with its
 * shutdown checked, after it.
 */
#include "run.h"
#include "bench.h"
#include "memd_proc.h"
#include "preload.h"
#include "replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MEMD_BENCH_CLIENT
#define MEMD_BENCH_CLIENT 0
#endif

const char *const run_mode_name[MODE_COUNT] = {[MODE_MALLOC] = "malloc",
                                               [MODE_CORE] = "core",
                                               [MODE_CLIENT] = "client",
                                               [MODE_JEMALLOC] = "jemalloc"};

json_t *run_num_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

json_t *run_head(const char *bench, const struct trace *t, const char *preload)
{
	json_t *o = json_object();

	json_object_set_new(o, "bench", json_string(bench));
	json_object_set_new(o, "trace", json_string(t->name));
	if (preload && preload[0])
		json_object_set_new(o, "ld_preload", json_string(preload));
	return o;
}

const char *run_preload_of(const struct run_spec *s)
{
	if (s->mode != MODE_MALLOC && s->mode != MODE_JEMALLOC)
		return NULL;
	return s->preload ? s->preload : getenv("LD_PRELOAD");
}

/* Turn a child's result into a struct run. */
static struct run digest(const struct trace *t, const struct replay_result *r)
{
	double fp = r->hwm > r->baseline_rss ? (double)(r->hwm - r->baseline_rss) : 0;

	return (struct run){
	        .ns_per_op = (double)r->elapsed_ns / (double)t->nev,
	        .footprint = fp,
	        .fragmentation = fp / (double)t->peak_live_bytes,
	        .meta_per_block = r->meta_bytes_per_block,
	        .reserved = (double)r->reserved_bytes,
	        .round_trips = (double)r->round_trips,
	        .daemon_growth = (double)r->daemon_growth,
	};
}

/* Add the client's own fields to a run line. */
static void print_run_client(json_t *o, const struct trace *t, const struct replay_result *r)
{
	json_object_set_new(o, "round_trips", json_integer((json_int_t)r->round_trips));
	json_object_set_new(o, "round_trips_per_1000_ops",
	                    json_real(1000.0 * (double)r->round_trips / (double)t->nev));
	json_object_set_new(o, "reserved_bytes",
	                    r->reserved_bytes ? json_integer((json_int_t)r->reserved_bytes)
	                                      : json_null());
	json_object_set_new(o, "daemon_peak_growth_bytes",
	                    r->daemon_growth >= 0 ? json_integer(r->daemon_growth) : json_null());
}

/* Print the JSON line of run number i (from 1). */
static void print_run(const struct run_spec *s, const struct trace *t, unsigned i,
                      const struct run *run, const struct replay_result *r)
{
	json_t *o = run_head(run_mode_name[s->mode], t, run_preload_of(s));

	json_object_set_new(o, "run", json_integer(i));
	json_object_set_new(o, "ops", json_integer((json_int_t)t->nev));
	json_object_set_new(o, "ns_per_op", json_real(run->ns_per_op));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)t->peak_live_bytes));
	json_object_set_new(o, "peak_footprint_bytes", json_integer((json_int_t)run->footprint));
	json_object_set_new(o, "fragmentation", json_real(run->fragmentation));
	json_object_set_new(o, "meta_bytes_per_block", run_num_or_null(run->meta_per_block));
	json_object_set_new(o, "page_faults", json_integer((json_int_t)r->page_faults));
	if (s->mode == MODE_CORE) {
		json_object_set_new(o, "reserved_bytes",
		                    json_integer((json_int_t)r->reserved_bytes));
		json_object_set_new(o, "segments", json_integer((json_int_t)r->segments));
	}
	if (s->mode == MODE_CLIENT)
		print_run_client(o, t, r);
	bench_emit(o);
}

/* The client replay, or a failure when this build has no client. */
static void child_client(const struct trace *t, const char *socket, const struct memd_proc *daemon,
                         struct replay_result *r)
{
#if MEMD_BENCH_CLIENT
	replay_client(t, socket, daemon, r);
#else
	(void)t;
	(void)socket;
	(void)daemon;
	memset(r, 0, sizeof(*r));
	replay_fail(r, 64, "this memd-bench was built without memd or libmemclient");
#endif
}

/* Child side of run number i: replay, print the run's line, send the
 * result through wfd, never return.  The parent notices a lost result. */
static void child_run(const struct run_spec *s, const struct trace *t, unsigned i,
                      const struct memd_proc *daemon, int wfd)
{
	struct replay_result r;
	struct run run;

	if (s->mode == MODE_CORE)
		replay_core(t, &r);
	else if (s->mode == MODE_CLIENT)
		child_client(t, s->socket, daemon, &r);
	else
		replay_malloc(t, &r);
	if (r.status == 0) {
		run = digest(t, &r);
		print_run(s, t, i, &run, &r);
	}
	(void)bench_write_full(wfd, &r, sizeof r);
	_exit(r.status);
}

/* Child side of a preload run: execute memd-bench again under LD_PRELOAD;
 * report a failed exec through wfd.  Never returns. */
static void child_exec(const struct run_spec *s, unsigned i, int wfd)
{
	struct replay_result r = {0};
	int err = preload_exec(s->preload, run_mode_name[s->mode], i, wfd, s->trace_path);

	replay_fail(&r, 1, "cannot execute memd-bench again: %s", strerror(-err));
	(void)bench_write_full(wfd, &r, sizeof r);
	_exit(r.status);
}

/* Wait for pid and fold how it ended into *r. */
static void reap(pid_t pid, bool got_result, struct replay_result *r)
{
	int ws = 0;

	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR) {
			replay_fail(r, 1, "waitpid: %s", strerror(errno));
			return;
		}
	}
	if (WIFSIGNALED(ws))
		replay_fail(r, 1, "replay child killed by signal %d (%s)", WTERMSIG(ws),
		            strsignal(WTERMSIG(ws)));
	else if (!got_result)
		replay_fail(r, 1, "replay child exited with status %d and no result",
		            WEXITSTATUS(ws));
}

/* Fork the child of run i, which reports through fds[1], and collect its
 * result.  Returns r->status. */
static int run_child(const struct run_spec *s, const struct trace *t, unsigned i,
                     const struct memd_proc *daemon, int fds[2], struct replay_result *r)
{
	pid_t pid;
	bool got;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return replay_fail(r, 1, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		if (s->preload)
			child_exec(s, i, fds[1]);
		child_run(s, t, i, daemon, fds[1]);
	}
	close(fds[1]);
	fds[1] = -1;
	got = bench_read_full(fds[0], r, sizeof(*r));
	reap(pid, got, r);
	return r->status;
}

/* Run measurement number i of s in a fresh child, which prints it; a
 * client run without a socket gets a private memd for this run.  Returns
 * r->status. */
static int run_once(const struct run_spec *s, const struct trace *t, unsigned i,
                    struct replay_result *r)
{
	struct run_spec spec = *s;
	struct memd_proc daemon = {0};
	int fds[2];

	memset(r, 0, sizeof(*r));
	if (s->mode == MODE_CLIENT && !s->socket && MEMD_BENCH_CLIENT) {
		if (memd_proc_start(&daemon, -1) < 0)
			return replay_fail(r, 1, "cannot start a private memd");
		spec.socket = daemon.sock;
	}
	if (pipe(fds) < 0) {
		replay_fail(r, 1, "pipe: %s", strerror(errno));
		goto out_stop;
	}
	run_child(&spec, t, i, daemon.pid ? &daemon : NULL, fds, r);
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
out_stop:
	if (memd_proc_stop(&daemon) < 0 && r->status == 0)
		replay_fail(r, 1, "memd did not shut down cleanly");
	return r->status;
}

int run_measure(const struct run_spec *s, const struct trace *t, unsigned i, struct run *out)
{
	struct replay_result r;

	if (run_once(s, t, i, &r) != 0) {
		fprintf(stderr, "memd-bench: %s run %u on %s: %s\n", run_mode_name[s->mode], i,
		        t->name, r.err);
		return r.status;
	}
	*out = digest(t, &r);
	return 0;
}

/* qsort order for doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Copy the double at offset off (bytes) of each of the n runs into v,
 * sorted. */
static void sorted_field(const struct run *runs, unsigned n, size_t off, double *v)
{
	for (unsigned i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&runs[i] + off, sizeof(double));
	qsort(v, n, sizeof(double), cmp_double);
}

double run_median(const struct run *runs, unsigned n, size_t off)
{
	double v[RUNS_MAX];

	sorted_field(runs, n, off, v);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double run_min(const struct run *runs, unsigned n, size_t off)
{
	double v[RUNS_MAX];

	sorted_field(runs, n, off, v);
	return v[0];
}

/* Add the client's medians to a summary line. */
static void summary_client(json_t *o, const struct trace *t, const struct run *runs, unsigned n)
{
	double rt = RUN_MEDIAN(runs, n, round_trips), res = RUN_MEDIAN(runs, n, reserved);
	double dg = RUN_MEDIAN(runs, n, daemon_growth);

	json_object_set_new(o, "round_trips", json_integer((json_int_t)rt));
	json_object_set_new(o, "round_trips_per_1000_ops", json_real(1000.0 * rt / (double)t->nev));
	json_object_set_new(o, "median_reserved_bytes",
	                    res > 0 ? json_integer((json_int_t)res) : json_null());
	json_object_set_new(o, "median_daemon_peak_growth_bytes",
	                    dg >= 0 ? json_integer((json_int_t)dg) : json_null());
}

void run_print_summary(const struct run_spec *s, const struct trace *t, const struct run *runs,
                       unsigned n)
{
	json_t *o = run_head(run_mode_name[s->mode], t, run_preload_of(s));

	json_object_set_new(o, "runs", json_integer(n));
	json_object_set_new(o, "ops", json_integer((json_int_t)t->nev));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)t->peak_live_bytes));
	json_object_set_new(o, "median_ns_per_op", json_real(RUN_MEDIAN(runs, n, ns_per_op)));
	json_object_set_new(o, "min_ns_per_op", json_real(RUN_LOWEST(runs, n, ns_per_op)));
	json_object_set_new(o, "median_peak_footprint_bytes",
	                    json_integer((json_int_t)RUN_MEDIAN(runs, n, footprint)));
	json_object_set_new(o, "median_fragmentation",
	                    json_real(RUN_MEDIAN(runs, n, fragmentation)));
	json_object_set_new(o, "median_meta_bytes_per_block",
	                    run_num_or_null(RUN_MEDIAN(runs, n, meta_per_block)));
	if (s->mode == MODE_CORE)
		json_object_set_new(o, "median_reserved_bytes",
		                    json_integer((json_int_t)RUN_MEDIAN(runs, n, reserved)));
	if (s->mode == MODE_CLIENT)
		summary_client(o, t, runs, n);
	bench_emit(o);
}

/* The mode named s (malloc or jemalloc: the ones a preload run replays). */
static bool preload_mode_of(const char *s, enum mode *m)
{
	if (!strcmp(s, run_mode_name[MODE_MALLOC]))
		*m = MODE_MALLOC;
	else if (!strcmp(s, run_mode_name[MODE_JEMALLOC]))
		*m = MODE_JEMALLOC;
	else
		return false;
	return true;
}

int run_child_main(int argc, char **argv)
{
	struct run_spec s = {0};
	struct replay_result r = {0};
	struct trace t;
	unsigned long i, fd;
	char err[200];

	if (argc != 5 || !preload_mode_of(argv[1], &s.mode) ||
	    !bench_parse_uint(argv[2], 1, RUNS_MAX, &i) ||
	    !bench_parse_uint(argv[3], 0, 1 << 20, &fd))
		return bench_usage_error("__replay-child is for memd-bench's own use", NULL);
	s.trace_path = argv[4];
	if (trace_load(s.trace_path, &t, err, sizeof err) != TRACE_OK)
		replay_fail(&r, 1, "%s", err);
	else if (s.mode == MODE_JEMALLOC && !preload_jemalloc_active())
		replay_fail(&r, 1, "LD_PRELOAD=%s did not put jemalloc in front of malloc",
		            getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
	else
		child_run(&s, &t, (unsigned)i, NULL, (int)fd);
	(void)bench_write_full((int)fd, &r, sizeof r);
	_exit(r.status);
}
