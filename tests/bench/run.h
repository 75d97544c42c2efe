/*
 * run.h - one measured replay run in a fresh process, and the summaries of
 * several (run.c).
 *
 * A run of mode m forks a child that replays the trace, prints the run's
 * JSON line and sends its struct replay_result back through a pipe.  A run
 * with a preload library (jemalloc, `malloc --preload LIB`) re-executes
 * memd-bench in that child with LD_PRELOAD set, as the hidden subcommand
 * `__replay-child`, which loads the trace again and replays it under the
 * preloaded allocator (see preload.h).
 */
#ifndef MEMD_BENCH_RUN_H
#define MEMD_BENCH_RUN_H

#include "trace.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define RUNS_MAX 1000

/* Which replay a run uses. */
enum mode {
	MODE_MALLOC,   /* malloc/free of this process (glibc, or --preload LIB) */
	MODE_CORE,     /* the heap core in-process over shm */
	MODE_CLIENT,   /* libmemclient against memd */
	MODE_JEMALLOC, /* malloc/free with jemalloc preloaded */
	MODE_COUNT,    /* number of modes */
};

/* "malloc", "core", "client", "jemalloc": the "bench" of their lines. */
extern const char *const run_mode_name[MODE_COUNT];

/* How to run one mode. */
struct run_spec {
	enum mode mode;         /* which replay */
	const char *preload;    /* library for LD_PRELOAD in a re-executed child
	                         * (malloc, jemalloc); NULL: plain fork */
	const char *socket;     /* client: memd's socket; NULL: a private memd per run */
	const char *trace_path; /* the trace file, reloaded by a re-executed child */
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

/* Run measurement number i (from 1) of s on t in a fresh child, which
 * prints the run's line; store it in *out.  0, or an exit status after
 * printing why to stderr.  The calling process does not touch the C heap. */
int run_measure(const struct run_spec *s, const struct trace *t, unsigned i, struct run *out);

/* Print the summary line (medians) of the n runs of s. */
void run_print_summary(const struct run_spec *s, const struct trace *t, const struct run *runs,
                       unsigned n);

/* Median and smallest of the double at byte offset off of each of n runs
 * (1 <= n <= RUNS_MAX). */
double run_median(const struct run *runs, unsigned n, size_t off);
double run_min(const struct run *runs, unsigned n, size_t off);

#define RUN_MEDIAN(runs, n, field) run_median((runs), (n), offsetof(struct run, field))
#define RUN_LOWEST(runs, n, field) run_min((runs), (n), offsetof(struct run, field))

/* A new object with "bench" and "trace", and "ld_preload" when preload is
 * a non-empty string. */
json_t *run_head(const char *bench, const struct trace *t, const char *preload);

/* The library in front of malloc for s: s->preload, or for malloc and
 * jemalloc runs without one, $LD_PRELOAD; NULL when none. */
const char *run_preload_of(const struct run_spec *s);

/* A JSON real, or null when v < 0 (unknown). */
json_t *run_num_or_null(double v);

/* The hidden subcommand `__replay-child MODE RUN FD TRACE` a preload run
 * executes (argv[0] is its name): replay once, print the line, write the
 * struct replay_result to FD.  Returns an exit status only on bad
 * arguments; otherwise it exits. */
int run_child_main(int argc, char **argv);

#endif /* MEMD_BENCH_RUN_H */
