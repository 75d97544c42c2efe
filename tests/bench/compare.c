/*
 * compare.c - `memd-bench compare`: every allocator on one trace, side by
 * side in one run, and issue 7's targets.
 *
 * compare --trace FILE [--runs N] [--socket PATH] [--no-client]
 *         [--no-jemalloc]
 *
 * Modes: glibc malloc ("malloc"), the heap core ("core"), libmemclient
 * against memd ("client", a private memd per run unless --socket) and
 * jemalloc through LD_PRELOAD ("jemalloc", when preload.h finds it).  They
 * run interleaved, one run of each in that order, then the next round, so
 * that a change in the machine's load hits every mode alike; N rounds
 * (default 3; fewer than 3 is allowed but warned about, and the targets are
 * then left undecided).  Every run is a fresh process (run.h) and prints
 * its own line; then come the summary line of each mode (medians, as the
 * single-mode subcommands print them) and one "compare" line.
 *
 * The compare line keeps the fields of the malloc-vs-core comparison that
 * came first (median_ratio_ns_per_op ... fragmentation_diff, and the
 * *_client ones when the client ran) and adds, with null for a mode that
 * did not run:
 *
 *   modes                          the modes that ran, in round order
 *   <m>_ns_ratio                   median over rounds of ns(m) / ns(malloc)
 *                                  of the same round (m: core, client,
 *                                  jemalloc)
 *   <m>_frag_delta                 median fragmentation of m minus malloc's
 *   client_frag_delta_with_daemon  the same with memd's own peak RSS growth
 *                                  added to the client's footprint
 *   client_round_trips_per_1000    median round trips * 1000 / events
 *   jemalloc                       the library preloaded
 *   median_ns_per_op_jemalloc, median_fragmentation_jemalloc
 *   client_skipped, jemalloc_skipped   why a mode did not run, else null
 *   issue7_client_ns_ratio_ok      client_ns_ratio <= 1.5
 *   issue7_client_frag_delta_ok    client_frag_delta <= 0.10
 *   issue7_client_round_trips_ok   client_round_trips_per_1000 <= 5
 *   issue7_targets_met             all three, over at least 3 rounds
 *
 * The issue7_* booleans are null when the client did not run, and
 * issue7_targets_met also when there were fewer than 3 rounds.  They judge
 * numbers from one machine at one moment: structure is testable, speed is
 * not (DESIGN.md section 8), so no test asserts them.
 */
#include "bench.h"
#include "preload.h"
#include "run.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#ifndef MEMD_BENCH_CLIENT
#define MEMD_BENCH_CLIENT 0
#endif

#define ISSUE7_NS_RATIO_MAX   1.5  /* client ns per event / glibc's */
#define ISSUE7_FRAG_DELTA_MAX 0.10 /* client fragmentation - glibc's */
#define ISSUE7_RT_MAX         5.0  /* round trips per 1000 events */
#define ISSUE7_RUNS_MIN       3u   /* medians of at least this many runs */

/* The order of the modes in each round. */
static const enum mode round_order[] = {MODE_MALLOC, MODE_CORE, MODE_CLIENT, MODE_JEMALLOC};

#define NORDER (sizeof round_order / sizeof round_order[0])

/* What compare runs, and what it measured. */
struct plan {
	struct run_spec spec[MODE_COUNT]; /* how each mode runs */
	const char *skipped[MODE_COUNT];  /* why a mode does not run; NULL: it runs */
	struct run *runs[MODE_COUNT];     /* each mode's results, one per round */
	unsigned n;                       /* rounds */
};

/* Decide which modes run and how. */
static void plan_modes(const struct opts *o, struct plan *p)
{
	static struct run results[MODE_COUNT][RUNS_MAX];
	const char *why = NULL;

	for (unsigned m = 0; m < MODE_COUNT; m++) {
		p->spec[m] = (struct run_spec){.mode = m, .trace_path = o->trace};
		p->runs[m] = results[m];
		p->skipped[m] = NULL;
	}
	p->spec[MODE_CLIENT].socket = o->socket;
	if (!o->with_client)
		p->skipped[MODE_CLIENT] = "not asked for (--no-client)";
	else if (!MEMD_BENCH_CLIENT)
		p->skipped[MODE_CLIENT] = "this memd-bench was built without memd or libmemclient";
	p->spec[MODE_JEMALLOC].preload = o->with_jemalloc ? preload_find_jemalloc(&why) : NULL;
	if (!o->with_jemalloc)
		p->skipped[MODE_JEMALLOC] = "not asked for (--no-jemalloc)";
	else if (!p->spec[MODE_JEMALLOC].preload)
		p->skipped[MODE_JEMALLOC] = why;
	p->n = o->runs;
}

/* Say on stderr what will not run, and that few rounds decide nothing. */
static void plan_warn(const struct plan *p)
{
	for (unsigned m = 0; m < MODE_COUNT; m++)
		if (p->skipped[m])
			fprintf(stderr, "memd-bench: compare: %s skipped: %s\n", run_mode_name[m],
			        p->skipped[m]);
	if (p->n < ISSUE7_RUNS_MIN)
		fprintf(stderr,
		        "memd-bench: compare: warning: --runs %u; issue 7's targets want the "
		        "median of at least %u runs, so they are left undecided (null)\n",
		        p->n, ISSUE7_RUNS_MIN);
}

/* The rounds.  0 or the exit status of the first failed run. */
static int plan_run(const struct trace *t, struct plan *p)
{
	int rc = 0;

	for (unsigned i = 0; i < p->n && rc == 0; i++)
		for (size_t k = 0; k < NORDER && rc == 0; k++)
			if (!p->skipped[round_order[k]])
				rc = run_measure(&p->spec[round_order[k]], t, i + 1,
				                 &p->runs[round_order[k]][i]);
	return rc;
}

/* Median over the n rounds of a[i].ns_per_op / b[i].ns_per_op. */
static double ratio_median(const struct run *a, const struct run *b, unsigned n)
{
	double v[RUNS_MAX];

	for (unsigned i = 0; i < n; i++)
		v[i] = a[i].ns_per_op / b[i].ns_per_op;
	return bench_median(v, n);
}

/* Set key to v, or to null when the mode did not run (on is false). */
static void set_real(json_t *o, const char *key, bool on, double v)
{
	json_object_set_new(o, key, on ? json_real(v) : json_null());
}

/* The fields of the malloc-vs-core comparison (and its client part), as
 * they were before jemalloc and the targets came. */
static void compare_legacy(json_t *o, const struct trace *t, const struct plan *p)
{
	const struct run *mal = p->runs[MODE_MALLOC], *core = p->runs[MODE_CORE];
	const struct run *cli = p->runs[MODE_CLIENT];
	double fm = RUN_MEDIAN(mal, p->n, fragmentation),
	       fc = RUN_MEDIAN(core, p->n, fragmentation);
	double fcl, rt;

	json_object_set_new(o, "median_ratio_ns_per_op", json_real(ratio_median(core, mal, p->n)));
	json_object_set_new(o, "median_ns_per_op_malloc",
	                    json_real(RUN_MEDIAN(mal, p->n, ns_per_op)));
	json_object_set_new(o, "median_ns_per_op_core",
	                    json_real(RUN_MEDIAN(core, p->n, ns_per_op)));
	json_object_set_new(
	        o, "ratio_of_min_ns_per_op",
	        json_real(RUN_LOWEST(core, p->n, ns_per_op) / RUN_LOWEST(mal, p->n, ns_per_op)));
	json_object_set_new(o, "median_fragmentation_malloc", json_real(fm));
	json_object_set_new(o, "median_fragmentation_core", json_real(fc));
	json_object_set_new(o, "fragmentation_diff", json_real(fc - fm));
	if (p->skipped[MODE_CLIENT])
		return;
	fcl = RUN_MEDIAN(cli, p->n, fragmentation);
	rt = RUN_MEDIAN(cli, p->n, round_trips);
	json_object_set_new(o, "median_ratio_ns_per_op_client",
	                    json_real(ratio_median(cli, mal, p->n)));
	json_object_set_new(o, "median_ns_per_op_client",
	                    json_real(RUN_MEDIAN(cli, p->n, ns_per_op)));
	json_object_set_new(o, "median_fragmentation_client", json_real(fcl));
	json_object_set_new(o, "fragmentation_diff_client", json_real(fcl - fm));
	json_object_set_new(o, "round_trips_per_1000_ops_client",
	                    json_real(1000.0 * rt / (double)t->nev));
}

/* "<m>_ns_ratio" and "<m>_frag_delta" of mode m against malloc. */
static void compare_vs_malloc(json_t *o, const struct plan *p, enum mode m)
{
	const struct run *mal = p->runs[MODE_MALLOC];
	bool on = !p->skipped[m];
	char key[64];

	snprintf(key, sizeof key, "%s_ns_ratio", run_mode_name[m]);
	set_real(o, key, on, on ? ratio_median(p->runs[m], mal, p->n) : 0);
	snprintf(key, sizeof key, "%s_frag_delta", run_mode_name[m]);
	set_real(o, key, on,
	         on ? RUN_MEDIAN(p->runs[m], p->n, fragmentation) -
	                         RUN_MEDIAN(mal, p->n, fragmentation)
	            : 0);
}

/* Median over rounds of (client footprint + memd's growth) / peak live,
 * or -1 when memd's growth is unknown for some round. */
static double frag_with_daemon(const struct trace *t, const struct plan *p)
{
	const struct run *cli = p->runs[MODE_CLIENT];
	double v[RUNS_MAX];

	for (unsigned i = 0; i < p->n; i++) {
		if (cli[i].daemon_growth < 0)
			return -1;
		v[i] = (cli[i].footprint + cli[i].daemon_growth) / (double)t->peak_live_bytes;
	}
	return bench_median(v, p->n);
}

/* The figures issue 7 sets targets for. */
struct client_figures {
	double ns_ratio;    /* client_ns_ratio */
	double frag_delta;  /* client_frag_delta */
	double rt_per_1000; /* client_round_trips_per_1000 */
};

/* The client's fields: ratios, round trips, why it was skipped.  Returns
 * the figures of the targets (meaningless when the client did not run). */
static struct client_figures compare_client(json_t *o, const struct trace *t, const struct plan *p)
{
	const struct run *cli = p->runs[MODE_CLIENT], *mal = p->runs[MODE_MALLOC];
	bool on = !p->skipped[MODE_CLIENT];
	double fm = RUN_MEDIAN(mal, p->n, fragmentation), fd = on ? frag_with_daemon(t, p) : -1;
	struct client_figures f = {0};

	if (on) {
		f.ns_ratio = ratio_median(cli, mal, p->n);
		f.frag_delta = RUN_MEDIAN(cli, p->n, fragmentation) - fm;
		f.rt_per_1000 = 1000.0 * RUN_MEDIAN(cli, p->n, round_trips) / (double)t->nev;
	}
	set_real(o, "client_ns_ratio", on, f.ns_ratio);
	set_real(o, "client_frag_delta", on, f.frag_delta);
	set_real(o, "client_frag_delta_with_daemon", fd >= 0, fd - fm);
	set_real(o, "client_round_trips_per_1000", on, f.rt_per_1000);
	json_object_set_new(o, "client_skipped",
	                    on ? json_null() : json_string(p->skipped[MODE_CLIENT]));
	return f;
}

/* jemalloc's fields. */
static void compare_jemalloc(json_t *o, const struct plan *p)
{
	const struct run *je = p->runs[MODE_JEMALLOC];
	const char *why = p->skipped[MODE_JEMALLOC];
	bool on = !why;

	json_object_set_new(o, "jemalloc",
	                    on ? json_string(p->spec[MODE_JEMALLOC].preload) : json_null());
	set_real(o, "median_ns_per_op_jemalloc", on, on ? RUN_MEDIAN(je, p->n, ns_per_op) : 0);
	set_real(o, "median_fragmentation_jemalloc", on,
	         on ? RUN_MEDIAN(je, p->n, fragmentation) : 0);
	compare_vs_malloc(o, p, MODE_JEMALLOC);
	json_object_set_new(o, "jemalloc_skipped", on ? json_null() : json_string(why));
}

/* Set key to the truth of ok, or to null when that is not known. */
static void set_bool(json_t *o, const char *key, bool known, bool ok)
{
	json_object_set_new(o, key, known ? json_boolean(ok) : json_null());
}

/* Issue 7's three targets for the client figures f. */
static void compare_targets(json_t *o, const struct plan *p, const struct client_figures *f)
{
	bool on = !p->skipped[MODE_CLIENT];
	bool ok_ns = f->ns_ratio <= ISSUE7_NS_RATIO_MAX;
	bool ok_fd = f->frag_delta <= ISSUE7_FRAG_DELTA_MAX;
	bool ok_rt = f->rt_per_1000 <= ISSUE7_RT_MAX;

	set_bool(o, "issue7_client_ns_ratio_ok", on, ok_ns);
	set_bool(o, "issue7_client_frag_delta_ok", on, ok_fd);
	set_bool(o, "issue7_client_round_trips_ok", on, ok_rt);
	set_bool(o, "issue7_targets_met", on && p->n >= ISSUE7_RUNS_MIN, ok_ns && ok_fd && ok_rt);
}

/* Print the summary of every mode that ran, then the compare line. */
static void print_compare(const struct trace *t, const struct plan *p)
{
	json_t *o = run_head("compare", t, NULL), *modes = json_array();
	struct client_figures f;

	for (size_t k = 0; k < NORDER; k++) {
		enum mode m = round_order[k];

		if (p->skipped[m])
			continue;
		run_print_summary(&p->spec[m], t, p->runs[m], p->n);
		json_array_append_new(modes, json_string(run_mode_name[m]));
	}
	json_object_set_new(o, "runs", json_integer(p->n));
	json_object_set_new(o, "ops", json_integer((json_int_t)t->nev));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)t->peak_live_bytes));
	compare_legacy(o, t, p);
	json_object_set_new(o, "modes", modes);
	compare_vs_malloc(o, p, MODE_CORE);
	f = compare_client(o, t, p);
	compare_jemalloc(o, p);
	compare_targets(o, p, &f);
	bench_emit(o);
}

int cmd_compare(int argc, char **argv)
{
	static struct plan p;
	struct opts o;
	struct trace t;
	int rc = bench_parse_opts(argc, argv, &o);

	if (rc == 0)
		rc = bench_load(&o, &t);
	if (rc != 0)
		return rc == BENCH_OPTS_HELP ? 0 : rc;
	plan_modes(&o, &p);
	plan_warn(&p);
	rc = plan_run(&t, &p);
	if (rc == 0)
		print_compare(&t, &p);
	trace_free(&t);
	return rc;
}
