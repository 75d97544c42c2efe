/*
 * memd-bench.c - command line and the single-mode subcommands.
 *
 * memd-bench SUBCOMMAND [options]; each result is one JSON object per line
 * on stdout (jansson), errors go to stderr.  Subcommands:
 *
 *   core     --trace FILE [--runs N]  replay through the heap core over shm
 *   malloc   --trace FILE [--runs N] [--preload LIB]
 *                                     replay through malloc/free (LIB put
 *                                     in front of it with LD_PRELOAD)
 *   jemalloc --trace FILE [--runs N]  malloc with jemalloc preloaded
 *   compare  --trace FILE [--runs N] [--socket PATH] [--no-client]
 *            [--no-jemalloc]          every mode interleaved (compare.c)
 *   client   --trace FILE [--socket PATH] [--runs N]
 *                                     replay through libmemclient and memd
 *   info     --trace FILE             validate the trace, print its facts
 *   rtt [--socket PATH] [--iters N] [--runs N]   (rtt.c)
 *   throughput --clients N [--seconds S] [--size B] [--runs N]
 *                                     (throughput.c)
 *
 * plus `__replay-child`, which a preload run executes (run.h).
 *
 * client, rtt and throughput need memd and libmemclient (MEMD_BENCH_CLIENT,
 * set by meson.build when both are built).  Runs, their lines and their
 * summaries are run.c's business.
 *
 * The parent does not call malloc until every child has run (the parser
 * and its reader use mmap, stdout is first written by the children, the
 * summaries come last): a child's malloc must start from the state a fresh
 * process has, with no freed-but-resident memory inherited from the parent
 * that a malloc replay would reuse without it counting as footprint.
 *
 * Exit status: 0; 1 a run failed (the allocator, the system); 2 the trace
 * is malformed or inconsistent; 64 usage; 66 trace or library missing or
 * unreadable.
 */
#include "bench.h"
#include "preload.h"
#include "run.h"
#include "trace.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define RUNS_DEFAULT 3
#define SPEC_SKIPPED (-2) /* replay_spec: the mode cannot run here */

/* A subcommand. */
struct command {
	const char *name;                                            /* argv[1] */
	int (*fn)(const struct command *cmd, int argc, char **argv); /* runs it */
	const char *args;                                            /* its options */
	const char *help; /* what it does; NULL: hidden */
};

/* Print usage to f. */
static void usage(FILE *f);

int bench_usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "memd-bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	fprintf(stderr, "Try 'memd-bench --help'.\n");
	return EX_USAGE;
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

/* The long options of the replay subcommands. */
static const struct option replay_longopts[] = {
        {"trace", required_argument, NULL, 't'},
        {"runs", required_argument, NULL, 'r'},
        {"socket", required_argument, NULL, 's'},
        {"client", no_argument, NULL, 'c'},
        {"no-client", no_argument, NULL, 'C'},
        {"no-jemalloc", no_argument, NULL, 'J'},
        {"preload", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
};

/* Apply option c (with optarg) of subcommand cmd to o.  0 or an exit
 * status after printing why. */
static int apply_opt(const char *cmd, int c, struct opts *o)
{
	bool compare = !strcmp(cmd, "compare");
	unsigned long runs;

	if (c == 't')
		o->trace = optarg;
	else if (c == 'r' && !bench_parse_uint(optarg, 1, RUNS_MAX, &runs))
		return bench_usage_error("--runs wants a number from 1 to 1000", optarg);
	else if (c == 'r')
		o->runs = (unsigned)runs;
	else if (c == 's' && !compare && strcmp(cmd, "client"))
		return bench_usage_error("--socket is for client and compare only", NULL);
	else if (c == 's')
		o->socket = optarg;
	else if ((c == 'c' || c == 'C' || c == 'J') && !compare)
		return bench_usage_error("--client, --no-client and --no-jemalloc are for compare",
		                         NULL);
	else if (c == 'c' || c == 'C')
		o->with_client = c == 'c';
	else if (c == 'J')
		o->with_jemalloc = false;
	else if (c == 'p' && strcmp(cmd, "malloc"))
		return bench_usage_error("--preload is for malloc only", NULL);
	else if (c == 'p')
		o->preload = optarg;
	return 0;
}

int bench_parse_opts(int argc, char **argv, struct opts *o)
{
	int c, rc;

	*o = (struct opts){.runs = RUNS_DEFAULT, .with_client = true, .with_jemalloc = true};
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", replay_longopts, NULL)) != -1) {
		if (c == ':')
			return bench_usage_error("option needs an argument", argv[optind - 1]);
		if (c == '?')
			return bench_usage_error("unknown option", argv[optind - 1]);
		if (c == 'h') {
			usage(stdout);
			return BENCH_OPTS_HELP;
		}
		rc = apply_opt(argv[0], c, o);
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return bench_usage_error("unexpected argument", argv[optind]);
	if (!o->trace)
		return bench_usage_error("--trace FILE is required", NULL);
	return 0;
}

int bench_load(const struct opts *o, struct trace *t)
{
	static const int exit_of[] = {
	        [TRACE_OK] = 0, [TRACE_NO_INPUT] = EX_NOINPUT, [TRACE_BAD] = 2, [TRACE_NO_MEM] = 1};
	char err[512];
	int rc = trace_load(o->trace, t, err, sizeof err);

	if (rc != TRACE_OK)
		fprintf(stderr, "memd-bench: %s\n", err);
	return exit_of[rc];
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

/* qsort order for doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Print the line of a mode that was skipped, and why, also to stderr. */
static void print_skipped(const char *bench, const struct trace *t, const char *why)
{
	json_t *o = run_head(bench, t, NULL);

	fprintf(stderr, "memd-bench: %s skipped: %s\n", bench, why);
	json_object_set_new(o, "skipped", json_string(why));
	bench_emit(o);
}

/* Fill in how the subcommand cmd runs: its mode and preload library.  0;
 * SPEC_SKIPPED when the mode is skipped (its line printed); or an exit
 * status. */
static int replay_spec(const char *cmd, const struct opts *o, const struct trace *t,
                       struct run_spec *s)
{
	const char *why;

	*s = (struct run_spec){.socket = o->socket, .trace_path = o->trace};
	s->mode = !strcmp(cmd, "core")     ? MODE_CORE
	          : !strcmp(cmd, "client") ? MODE_CLIENT
	          : !strcmp(cmd, "malloc") ? MODE_MALLOC
	                                   : MODE_JEMALLOC;
	if (s->mode == MODE_JEMALLOC) {
		s->preload = preload_find_jemalloc(&why);
		if (!s->preload)
			print_skipped(cmd, t, why);
		return s->preload ? 0 : SPEC_SKIPPED;
	}
	if (o->preload && !preload_usable(o->preload, &why)) {
		fprintf(stderr, "memd-bench: --preload: %s\n", why);
		return EX_NOINPUT;
	}
	s->preload = o->preload;
	return 0;
}

/* `core`, `malloc`, `jemalloc` and `client`: N runs of one mode, then a
 * summary. */
static int cmd_replay(const struct command *cmd, int argc, char **argv)
{
	static struct run runs[RUNS_MAX];
	struct run_spec s;
	struct opts o;
	struct trace t;
	int rc = bench_parse_opts(argc, argv, &o);

	if (rc == 0)
		rc = bench_load(&o, &t);
	if (rc != 0)
		return rc == BENCH_OPTS_HELP ? 0 : rc;
	rc = replay_spec(cmd->name, &o, &t, &s);
	for (unsigned i = 0; i < o.runs && rc == 0; i++)
		rc = run_measure(&s, &t, i + 1, &runs[i]);
	if (rc == 0)
		run_print_summary(&s, &t, runs, o.runs);
	trace_free(&t);
	return rc == SPEC_SKIPPED ? 0 : rc;
}

/* `compare`: compare.c. */
static int cmd_compare_entry(const struct command *cmd, int argc, char **argv)
{
	(void)cmd;
	return cmd_compare(argc, argv);
}

/* `info`: what the parser learned about the trace, no replay. */
static int cmd_info(const struct command *cmd, int argc, char **argv)
{
	struct opts o;
	struct trace t;
	json_t *obj;
	int rc = bench_parse_opts(argc, argv, &o);

	(void)cmd;
	if (rc == 0)
		rc = bench_load(&o, &t);
	if (rc != 0)
		return rc == BENCH_OPTS_HELP ? 0 : rc;
	obj = run_head("info", &t, NULL);
	json_object_set_new(obj, "ops", json_integer((json_int_t)t.nev));
	json_object_set_new(obj, "allocs", json_integer((json_int_t)t.allocs));
	json_object_set_new(obj, "frees", json_integer((json_int_t)t.frees));
	json_object_set_new(obj, "peak_live_bytes", json_integer((json_int_t)t.peak_live_bytes));
	json_object_set_new(obj, "peak_live_blocks", json_integer((json_int_t)t.peak_live_blocks));
	json_object_set_new(obj, "peak_live_event", json_integer((json_int_t)t.peak_live_index));
	json_object_set_new(obj, "max_live_blocks", json_integer(t.max_live_blocks));
	bench_emit(obj);
	trace_free(&t);
	return 0;
}

/* `__replay-child`: run.c. */
static int cmd_child(const struct command *cmd, int argc, char **argv)
{
	(void)cmd;
	return run_child_main(argc, argv);
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
        {"malloc", cmd_replay, "--trace FILE [--runs N] [--preload LIB]",
         "replay through malloc/free (LIB via LD_PRELOAD)"},
        {"jemalloc", cmd_replay, "--trace FILE [--runs N]",
         "malloc with jemalloc preloaded (skipped if absent)"},
        {"compare", cmd_compare_entry,
         "--trace FILE [--runs N] [--socket PATH] [--no-client] [--no-jemalloc]",
         "malloc, core, client and jemalloc runs interleaved; then issue 7's targets"},
        {"client", cmd_replay, "--trace FILE [--socket PATH] [--runs N]",
         "replay through libmemclient and memd"},
        {"info", cmd_info, "--trace FILE", "validate the trace and print its facts"},
        {"rtt", cmd_other, "[--socket PATH] [--iters N] [--runs N]",
         "memd SIZE round trip vs a bare socket pair"},
        {"throughput", cmd_other, "--clients N [--seconds S] [--size B] [--runs N]",
         "N client processes against one memd"},
        {"__replay-child", cmd_child, "", NULL},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The subcommand table as help text. */
static void usage(FILE *f)
{
	fprintf(f, "usage: memd-bench SUBCOMMAND [options]\n\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].help)
			fprintf(f, "  %-10s %s\n  %-10s   %s\n", commands[i].name, commands[i].args,
			        "", commands[i].help);
	fprintf(f,
	        "\nOne JSON object per line on stdout.  --runs defaults to %d (rtt: 5);\n"
	        "compare warns below 3.  client, rtt and throughput (and compare's client\n"
	        "runs) start a private memd unless --socket is given.  jemalloc is looked\n"
	        "for in $MEMD_BENCH_JEMALLOC, the library directories and `ldconfig -p`.\n"
	        "Exit: 0 ok, 1 run failed, 2 bad trace, 64 usage, 66 no input.\n",
	        RUNS_DEFAULT);
}

/* Hand argv[1..] to the subcommand named by argv[1]. */
int main(int argc, char **argv)
{
	if (argc < 2)
		return bench_usage_error("missing subcommand", NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(&commands[i], argc - 1, argv + 1);
	return bench_usage_error("unknown subcommand", argv[1]);
}
