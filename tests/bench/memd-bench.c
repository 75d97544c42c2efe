/*
 * memd-bench.c - command line, run orchestration and JSON output.
 *
 * memd-bench SUBCOMMAND [options]; each result is one JSON object per line
 * on stdout (jansson), errors go to stderr.  Subcommands:
 *
 *   core    --trace FILE [--runs N]  replay through the heap core over shm
 *   malloc  --trace FILE [--runs N]  replay through malloc/free
 *   compare --trace FILE [--runs N] [--client]
 *                                    malloc and core (and client) runs
 *                                    interleaved
 *   client  --trace FILE [--socket PATH] [--runs N]
 *                                    replay through libmemclient and memd
 *   info    --trace FILE             validate the trace, print its facts
 *   rtt [--socket PATH] [--iters N] [--runs N]   (rtt.c)
 *   throughput --clients N [--seconds S] [--size B] [--runs N]
 *                                    (throughput.c)
 *
 * client, rtt and throughput need memd and libmemclient (MEMD_BENCH_CLIENT,
 * set by meson.build when both are built).  Without --socket each run gets
 * a private memd of its own (memd_proc.h), started before the run's child
 * is forked and stopped, with its shutdown checked, after it.
 *
 * Each run is measured in a fresh child process (fork), so runs share no
 * heap state and no RSS high-water mark.  The child replays, prints its own
 * JSON line, sends its struct replay_result back through a pipe for the
 * summary, and exits.  The trace is parsed once, in the parent, into
 * anonymous mmap memory the children inherit.
 *
 * The parent does not call malloc until every child has run (the parser
 * and its reader use mmap, stdout is first written by the children, the
 * summaries come last): a child's malloc must start from the state a fresh
 * process has, with no freed-but-resident memory inherited from the parent
 * that a malloc replay would reuse without it counting as footprint.
 *
 * Exit status: 0; 1 a run failed (the allocator, the system); 2 the trace
 * is malformed or inconsistent; 64 usage; 66 trace missing or unreadable.
 */
#include "replay.h"
#include "bench.h"
#include "memd_proc.h"
#include "trace.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#ifndef MEMD_BENCH_CLIENT
#define MEMD_BENCH_CLIENT 0
#endif

#define RUNS_DEFAULT 3
#define RUNS_MAX     1000
#define OPTS_HELP    (-1) /* parse_opts: --help was answered */

/* Which replay a run uses. */
enum mode { MODE_MALLOC, MODE_CORE, MODE_CLIENT };

static const char *const mode_name[] = {
        [MODE_MALLOC] = "malloc", [MODE_CORE] = "core", [MODE_CLIENT] = "client"};

/* Options shared by the replay subcommands. */
struct opts {
	const char *trace;  /* --trace FILE */
	const char *socket; /* --socket PATH (client), or NULL: private memd */
	unsigned runs;      /* --runs N */
	bool with_client;   /* compare --client */
};

/* One finished run, as the summaries need it. */
struct run {
	double ns_per_op;      /* wall ns per event */
	double footprint;      /* peak RSS growth, bytes */
	double fragmentation;  /* footprint / peak live */
	double meta_per_block; /* < 0: unknown */
	double reserved;       /* core: segment bytes; client: memd's segment bytes */
	double round_trips;    /* client: requests written */
	double daemon_growth;  /* client: memd's peak RSS growth; < 0 unknown */
};

/* A subcommand. */
struct command {
	const char *name;                                            /* argv[1] */
	int (*fn)(const struct command *cmd, int argc, char **argv); /* runs it */
	const char *args;                                            /* its options */
	const char *help;                                            /* what it does */
};

/* Print usage to f. */
static void usage(FILE *f);

/* Print "memd-bench: <msg>" and a usage hint to stderr; returns EX_USAGE. */
static int usage_error(const char *msg, const char *arg)
{
	return bench_usage_error(msg, arg);
}

int bench_usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "memd-bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	fprintf(stderr, "Try 'memd-bench --help'.\n");
	return EX_USAGE;
}

/* Parse N for --runs.  true if 1 <= N <= RUNS_MAX. */
static bool parse_runs(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > RUNS_MAX || s[0] == '-')
		return false;
	*out = (unsigned)v;
	return true;
}

bool bench_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi || s[0] == '-')
		return false;
	*out = v;
	return true;
}

/* Parse the options of a replay subcommand (argv[0] is its name).  0;
 * OPTS_HELP after printing usage for --help; or an exit status after
 * printing why. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	        {"trace", required_argument, NULL, 't'},  {"runs", required_argument, NULL, 'r'},
	        {"socket", required_argument, NULL, 's'}, {"client", no_argument, NULL, 'c'},
	        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	bool client = !strcmp(argv[0], "client"), compare = !strcmp(argv[0], "compare");
	int c;

	*o = (struct opts){.runs = RUNS_DEFAULT};
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 't')
			o->trace = optarg;
		else if (c == 'r' && !parse_runs(optarg, &o->runs))
			return usage_error("--runs wants a number from 1 to 1000", optarg);
		else if (c == 's' && !client)
			return usage_error("--socket is for client only", NULL);
		else if (c == 's')
			o->socket = optarg;
		else if (c == 'c' && !compare)
			return usage_error("--client is for compare only", NULL);
		else if (c == 'c')
			o->with_client = true;
		else if (c == ':')
			return usage_error("option needs an argument", argv[optind - 1]);
		else if (c == '?')
			return usage_error("unknown option", argv[optind - 1]);
		else if (c == 'h') {
			usage(stdout);
			return OPTS_HELP;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (!o->trace)
		return usage_error("--trace FILE is required", NULL);
	return 0;
}

/* Load the trace named by o, mapping trace_status to an exit status. */
static int load(const struct opts *o, struct trace *t)
{
	static const int exit_of[] = {
	        [TRACE_OK] = 0, [TRACE_NO_INPUT] = EX_NOINPUT, [TRACE_BAD] = 2, [TRACE_NO_MEM] = 1};
	char err[512];
	int rc = trace_load(o->trace, t, err, sizeof err);

	if (rc != TRACE_OK)
		fprintf(stderr, "memd-bench: %s\n", err);
	return exit_of[rc];
}

/* Print obj as one compact line on stdout and drop it. */
static void emit(json_t *obj)
{
	bench_emit(obj);
}

void bench_emit(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));

	if (s) {
		puts(s);
		free(s);
	}
	json_decref(obj);
	fflush(stdout);
}

/* A JSON number, or null when v < 0 (unknown). */
static json_t *num_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

/* A new object with "bench" and "trace" (and for malloc, "ld_preload" when
 * $LD_PRELOAD may have put another allocator in front of glibc's). */
static json_t *head(const char *bench, const struct trace *t)
{
	json_t *o = json_object();
	const char *pre = getenv("LD_PRELOAD");

	json_object_set_new(o, "bench", json_string(bench));
	json_object_set_new(o, "trace", json_string(t->name));
	if (!strcmp(bench, "malloc") && pre && pre[0])
		json_object_set_new(o, "ld_preload", json_string(pre));
	return o;
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

/* Print the JSON line of run number i (from 1). */
static void print_run(enum mode m, const struct trace *t, unsigned i, const struct run *run,
                      const struct replay_result *r)
{
	json_t *o = head(mode_name[m], t);

	json_object_set_new(o, "run", json_integer(i));
	json_object_set_new(o, "ops", json_integer((json_int_t)t->nev));
	json_object_set_new(o, "ns_per_op", json_real(run->ns_per_op));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)t->peak_live_bytes));
	json_object_set_new(o, "peak_footprint_bytes", json_integer((json_int_t)run->footprint));
	json_object_set_new(o, "fragmentation", json_real(run->fragmentation));
	json_object_set_new(o, "meta_bytes_per_block", num_or_null(run->meta_per_block));
	json_object_set_new(o, "page_faults", json_integer((json_int_t)r->page_faults));
	if (m == MODE_CORE) {
		json_object_set_new(o, "reserved_bytes",
		                    json_integer((json_int_t)r->reserved_bytes));
		json_object_set_new(o, "segments", json_integer((json_int_t)r->segments));
	}
	if (m == MODE_CLIENT) {
		json_object_set_new(o, "round_trips", json_integer((json_int_t)r->round_trips));
		json_object_set_new(o, "round_trips_per_1000_ops",
		                    json_real(1000.0 * (double)r->round_trips / (double)t->nev));
		json_object_set_new(o, "reserved_bytes",
		                    r->reserved_bytes ? json_integer((json_int_t)r->reserved_bytes)
		                                      : json_null());
		json_object_set_new(o, "daemon_peak_growth_bytes",
		                    r->daemon_growth >= 0 ? json_integer(r->daemon_growth)
		                                          : json_null());
	}
	emit(o);
}

/* Write exactly len bytes to fd.  true on success. */
static bool write_full(int fd, const void *buf, size_t len)
{
	return bench_write_full(fd, buf, len);
}

bool bench_write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read exactly len bytes from fd.  true on success. */
static bool read_full(int fd, void *buf, size_t len)
{
	return bench_read_full(fd, buf, len);
}

bool bench_read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
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
	replay_fail(r, EX_USAGE, "this memd-bench was built without memd or libmemclient");
#endif
}

/* Child side of run number i: replay, print the run's line, send the
 * result through wfd, never return.  The parent notices a lost result. */
static void child_run(const struct trace *t, enum mode m, unsigned i, const char *socket,
                      const struct memd_proc *daemon, int wfd)
{
	struct replay_result r;
	struct run run;

	if (m == MODE_CORE)
		replay_core(t, &r);
	else if (m == MODE_CLIENT)
		child_client(t, socket, daemon, &r);
	else
		replay_malloc(t, &r);
	if (r.status == 0) {
		run = digest(t, &r);
		print_run(m, t, i, &run, &r);
	}
	(void)write_full(wfd, &r, sizeof r);
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

/* Run measurement number i of mode m in a fresh child, which prints it;
 * socket: client mode's memd, NULL to start a private one for this run.
 * Returns r->status. */
static int run_once(const struct trace *t, enum mode m, unsigned i, const char *socket,
                    struct replay_result *r)
{
	struct memd_proc daemon = {0};
	int fds[2];
	bool got;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (m == MODE_CLIENT && !socket && MEMD_BENCH_CLIENT) {
		if (memd_proc_start(&daemon, -1) < 0)
			return replay_fail(r, 1, "cannot start a private memd");
		socket = daemon.sock;
	}
	if (pipe(fds) < 0) {
		replay_fail(r, 1, "pipe: %s", strerror(errno));
		goto out_stop;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		replay_fail(r, 1, "fork: %s", strerror(errno));
		goto out_close_pipe;
	}
	if (pid == 0) {
		close(fds[0]);
		child_run(t, m, i, socket, daemon.pid ? &daemon : NULL, fds[1]);
	}
	close(fds[1]);
	fds[1] = -1;
	got = read_full(fds[0], r, sizeof(*r));
	reap(pid, got, r);

out_close_pipe:
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
out_stop:
	if (memd_proc_stop(&daemon) < 0 && r->status == 0)
		replay_fail(r, 1, "memd did not shut down cleanly");
	return r->status;
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

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of the n values at offset off of each run. */
static double median_of(const struct run *runs, unsigned n, size_t off)
{
	double v[RUNS_MAX];

	sorted_field(runs, n, off, v);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Smallest of the n values at offset off of each run. */
static double min_of(const struct run *runs, unsigned n, size_t off)
{
	double v[RUNS_MAX];

	sorted_field(runs, n, off, v);
	return v[0];
}

#define MEDIAN(runs, n, field) median_of((runs), (n), offsetof(struct run, field))
#define LOWEST(runs, n, field) min_of((runs), (n), offsetof(struct run, field))

/* Print the summary line of n runs of mode m. */
static void print_summary(enum mode m, const struct trace *t, const struct run *runs, unsigned n)
{
	json_t *o = head(mode_name[m], t);

	json_object_set_new(o, "runs", json_integer(n));
	json_object_set_new(o, "ops", json_integer((json_int_t)t->nev));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)t->peak_live_bytes));
	json_object_set_new(o, "median_ns_per_op", json_real(MEDIAN(runs, n, ns_per_op)));
	json_object_set_new(o, "min_ns_per_op", json_real(LOWEST(runs, n, ns_per_op)));
	json_object_set_new(o, "median_peak_footprint_bytes",
	                    json_integer((json_int_t)MEDIAN(runs, n, footprint)));
	json_object_set_new(o, "median_fragmentation", json_real(MEDIAN(runs, n, fragmentation)));
	json_object_set_new(o, "median_meta_bytes_per_block",
	                    num_or_null(MEDIAN(runs, n, meta_per_block)));
	if (m == MODE_CORE)
		json_object_set_new(o, "median_reserved_bytes",
		                    json_integer((json_int_t)MEDIAN(runs, n, reserved)));
	if (m == MODE_CLIENT) {
		double rt = MEDIAN(runs, n, round_trips), res = MEDIAN(runs, n, reserved);
		double dg = MEDIAN(runs, n, daemon_growth);

		json_object_set_new(o, "round_trips", json_integer((json_int_t)rt));
		json_object_set_new(o, "round_trips_per_1000_ops",
		                    json_real(1000.0 * rt / (double)t->nev));
		json_object_set_new(o, "median_reserved_bytes",
		                    res > 0 ? json_integer((json_int_t)res) : json_null());
		json_object_set_new(o, "median_daemon_peak_growth_bytes",
		                    dg >= 0 ? json_integer((json_int_t)dg) : json_null());
	}
	emit(o);
}

/* Measure run i of mode m (the child prints it), store it.  0 or an exit
 * status. */
static int measure(enum mode m, const struct trace *t, unsigned i, const struct opts *o,
                   struct run *out)
{
	struct replay_result r;

	if (run_once(t, m, i, o->socket, &r) != 0) {
		fprintf(stderr, "memd-bench: %s run %u on %s: %s\n", mode_name[m], i, t->name,
		        r.err);
		return r.status;
	}
	*out = digest(t, &r);
	return 0;
}

/* `core`, `malloc` and `client`: N runs of one mode, then a summary. */
static int cmd_replay(const struct command *cmd, int argc, char **argv)
{
	enum mode m = !strcmp(cmd->name, "core")     ? MODE_CORE
	              : !strcmp(cmd->name, "client") ? MODE_CLIENT
	                                             : MODE_MALLOC;
	static struct run runs[RUNS_MAX];
	struct opts o;
	struct trace t;
	int rc = parse_opts(argc, argv, &o);

	if (rc == 0)
		rc = load(&o, &t);
	if (rc != 0)
		return rc == OPTS_HELP ? 0 : rc;
	for (unsigned i = 0; i < o.runs && rc == 0; i++)
		rc = measure(m, &t, i + 1, &o, &runs[i]);
	if (rc == 0)
		print_summary(m, &t, runs, o.runs);
	trace_free(&t);
	return rc;
}

/* Print the compare summary: the median of the pairwise ratios core/malloc
 * of ns_per_op (runs i of both modes ran back to back), the ratio of the
 * fastest runs (less sensitive to a busy machine), and the fragmentation
 * difference core - malloc of the medians. */
static void print_compare(const struct trace *t, const struct run *mal, const struct run *core,
                          const struct run *cli, unsigned n)
{
	static struct run ratio[RUNS_MAX];
	json_t *o = head("compare", t);
	double fm = MEDIAN(mal, n, fragmentation), fc = MEDIAN(core, n, fragmentation);

	for (unsigned i = 0; i < n; i++)
		ratio[i].ns_per_op = core[i].ns_per_op / mal[i].ns_per_op;
	json_object_set_new(o, "runs", json_integer(n));
	json_object_set_new(o, "ops", json_integer((json_int_t)t->nev));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)t->peak_live_bytes));
	json_object_set_new(o, "median_ratio_ns_per_op", json_real(MEDIAN(ratio, n, ns_per_op)));
	json_object_set_new(o, "median_ns_per_op_malloc", json_real(MEDIAN(mal, n, ns_per_op)));
	json_object_set_new(o, "median_ns_per_op_core", json_real(MEDIAN(core, n, ns_per_op)));
	json_object_set_new(o, "ratio_of_min_ns_per_op",
	                    json_real(LOWEST(core, n, ns_per_op) / LOWEST(mal, n, ns_per_op)));
	json_object_set_new(o, "median_fragmentation_malloc", json_real(fm));
	json_object_set_new(o, "median_fragmentation_core", json_real(fc));
	json_object_set_new(o, "fragmentation_diff", json_real(fc - fm));
	if (cli) {
		double fcl = MEDIAN(cli, n, fragmentation), rt = MEDIAN(cli, n, round_trips);

		for (unsigned i = 0; i < n; i++)
			ratio[i].ns_per_op = cli[i].ns_per_op / mal[i].ns_per_op;
		json_object_set_new(o, "median_ratio_ns_per_op_client",
		                    json_real(MEDIAN(ratio, n, ns_per_op)));
		json_object_set_new(o, "median_ns_per_op_client",
		                    json_real(MEDIAN(cli, n, ns_per_op)));
		json_object_set_new(o, "median_fragmentation_client", json_real(fcl));
		json_object_set_new(o, "fragmentation_diff_client", json_real(fcl - fm));
		json_object_set_new(o, "round_trips_per_1000_ops_client",
		                    json_real(1000.0 * rt / (double)t->nev));
	}
	emit(o);
}

/* `compare`: malloc, core[, client], malloc, core[, client], ...; the
 * summaries, then the comparison. */
static int cmd_compare(const struct command *cmd, int argc, char **argv)
{
	static struct run mal[RUNS_MAX], core[RUNS_MAX], cli[RUNS_MAX];
	struct opts o;
	struct trace t;
	int rc = parse_opts(argc, argv, &o);

	(void)cmd;
	if (rc == 0)
		rc = load(&o, &t);
	if (rc != 0)
		return rc == OPTS_HELP ? 0 : rc;
	for (unsigned i = 0; i < o.runs && rc == 0; i++) {
		rc = measure(MODE_MALLOC, &t, i + 1, &o, &mal[i]);
		if (rc == 0)
			rc = measure(MODE_CORE, &t, i + 1, &o, &core[i]);
		if (rc == 0 && o.with_client)
			rc = measure(MODE_CLIENT, &t, i + 1, &o, &cli[i]);
	}
	if (rc == 0) {
		print_summary(MODE_MALLOC, &t, mal, o.runs);
		print_summary(MODE_CORE, &t, core, o.runs);
		if (o.with_client)
			print_summary(MODE_CLIENT, &t, cli, o.runs);
		print_compare(&t, mal, core, o.with_client ? cli : NULL, o.runs);
	}
	trace_free(&t);
	return rc;
}

/* `info`: what the parser learned about the trace, no replay. */
static int cmd_info(const struct command *cmd, int argc, char **argv)
{
	struct opts o;
	struct trace t;
	json_t *obj;
	int rc = parse_opts(argc, argv, &o);

	(void)cmd;
	if (rc == 0)
		rc = load(&o, &t);
	if (rc != 0)
		return rc == OPTS_HELP ? 0 : rc;
	obj = head("info", &t);
	json_object_set_new(obj, "ops", json_integer((json_int_t)t.nev));
	json_object_set_new(obj, "allocs", json_integer((json_int_t)t.allocs));
	json_object_set_new(obj, "frees", json_integer((json_int_t)t.frees));
	json_object_set_new(obj, "peak_live_bytes", json_integer((json_int_t)t.peak_live_bytes));
	json_object_set_new(obj, "peak_live_blocks", json_integer((json_int_t)t.peak_live_blocks));
	json_object_set_new(obj, "peak_live_event", json_integer((json_int_t)t.peak_live_index));
	json_object_set_new(obj, "max_live_blocks", json_integer(t.max_live_blocks));
	emit(obj);
	trace_free(&t);
	return 0;
}

#if MEMD_BENCH_CLIENT
/* rtt.c and throughput.c parse their own options. */
static int cmd_other(const struct command *cmd, int argc, char **argv)
{
	return !strcmp(cmd->name, "rtt") ? cmd_rtt(argc, argv) : cmd_throughput(argc, argv);
}
#else
/* This build has no memd or no libmemclient. */
static int cmd_other(const struct command *cmd, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "memd-bench: '%s' needs memd and libmemclient, not built here\n",
	        cmd->name);
	return EX_USAGE;
}
#endif

static const struct command commands[] = {
        {"core", cmd_replay, "--trace FILE [--runs N]", "replay through the heap core over shm"},
        {"malloc", cmd_replay, "--trace FILE [--runs N]", "replay through malloc/free"},
        {"compare", cmd_compare, "--trace FILE [--runs N] [--client]",
         "malloc, core (and client) runs interleaved"},
        {"client", cmd_replay, "--trace FILE [--socket PATH] [--runs N]",
         "replay through libmemclient and memd"},
        {"info", cmd_info, "--trace FILE", "validate the trace and print its facts"},
        {"rtt", cmd_other, "[--socket PATH] [--iters N] [--runs N]",
         "memd SIZE round trip vs a bare socket pair"},
        {"throughput", cmd_other, "--clients N [--seconds S] [--size B] [--runs N]",
         "N client processes against one memd"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The subcommand table as help text. */
static void usage(FILE *f)
{
	fprintf(f, "usage: memd-bench SUBCOMMAND [options]\n\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %-40s %s\n", commands[i].name, commands[i].args,
		        commands[i].help);
	fprintf(f,
	        "\nOne JSON object per line on stdout.  --runs defaults to %d (rtt: 5).\n"
	        "client, rtt and throughput start a private memd unless --socket is given.\n"
	        "Exit: 0 ok, 1 run failed, 2 bad trace, 64 usage, 66 no input.\n",
	        RUNS_DEFAULT);
}

/* Hand argv[1..] to the subcommand named by argv[1]. */
int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing subcommand", NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(&commands[i], argc - 1, argv + 1);
	return usage_error("unknown subcommand", argv[1]);
}
