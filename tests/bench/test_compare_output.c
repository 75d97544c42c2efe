/*
 * test_compare_output.c - the shape of `memd-bench compare`'s output.
 *
 * Runs the memd-bench this build made ($MEMD_BENCH) on a small synthetic
 * trace ($MEMD_BENCH_TRACE, gen-trace's "small" kind) and checks what
 * scripts and BENCHMARKS.md rely on: one line per run, interleaved round by
 * round; one summary line per mode that ran; one final "compare" line with
 * every field, each of its type, the derived figures consistent with the
 * summaries, and the issue-7 booleans consistent with the figures.  It
 * never asserts on speed or memory figures themselves: benchmarks are not
 * tests (DESIGN.md section 8), the structure of their output is.
 *
 * jemalloc is optional: with it the jemalloc fields are numbers and its
 * lines name the library; without it (or in a sanitizer build, which cannot
 * preload) they are null and jemalloc_skipped says why.
 */
#include <criterion/criterion.h>
#include <jansson.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINES 64

/* What one memd-bench invocation printed. */
struct output {
	json_t *line[MAX_LINES]; /* each stdout line, parsed */
	size_t n;                /* lines */
	int status;              /* exit status, or -1 if it did not exit */
};

/* Read everything from fd into a NUL-terminated heap buffer. */
static char *slurp(int fd)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	ssize_t n;

	cr_assert_not_null(buf);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

/* Split text into lines and parse each as a JSON object. */
static void parse_lines(char *text, struct output *out)
{
	char *save = NULL;
	json_error_t e;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		cr_assert_lt(out->n, MAX_LINES, "too many lines");
		out->line[out->n] = json_loads(l, 0, &e);
		cr_assert_not_null(out->line[out->n], "not JSON: %s (%s)", l, e.text);
		cr_assert(json_is_object(out->line[out->n]), "not an object: %s", l);
		out->n++;
	}
}

/* Run memd-bench compare with extra arguments (NULL-terminated list);
 * jemalloc_env, when not NULL, becomes $MEMD_BENCH_JEMALLOC. */
static void run_compare(struct output *out, const char *jemalloc_env, const char *runs,
                        const char *extra)
{
	const char *bench = getenv("MEMD_BENCH"), *trace = getenv("MEMD_BENCH_TRACE");
	int fds[2], ws;
	pid_t pid;
	char *text;

	cr_assert(bench && trace, "MEMD_BENCH and MEMD_BENCH_TRACE must be set");
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		if (jemalloc_env)
			setenv("MEMD_BENCH_JEMALLOC", jemalloc_env, 1);
		execl(bench, bench, "compare", "--trace", trace, "--runs", runs, extra,
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	memset(out, 0, sizeof(*out));
	text = slurp(fds[0]);
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	out->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
	parse_lines(text, out);
	free(text);
}

static void output_free(struct output *out)
{
	for (size_t i = 0; i < out->n; i++)
		json_decref(out->line[i]);
}

/* A string member, or NULL. */
static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A number member (asserted to be one). */
static double num(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(json_is_number(v), "\"%s\" is not a number", key);
	return json_number_value(v);
}

/* The final line, asserted to be the compare line. */
static json_t *compare_line(const struct output *out)
{
	cr_assert_eq(out->status, 0, "memd-bench compare exited with %d", out->status);
	cr_assert_gt(out->n, 0);
	cr_assert_str_eq(str(out->line[out->n - 1], "bench"), "compare");
	return out->line[out->n - 1];
}

/* The summary line of mode m (has "runs", no "run"), or NULL. */
static json_t *summary_of(const struct output *out, const char *m)
{
	for (size_t i = 0; i + 1 < out->n; i++)
		if (!strcmp(str(out->line[i], "bench"), m) && json_object_get(out->line[i], "runs"))
			return out->line[i];
	return NULL;
}

/* true if a and b agree to the 6 significant digits the output keeps. */
static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-5 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

Test(compare, interleaves_one_run_of_each_mode_per_round, .timeout = 120)
{
	struct output out;
	json_t *c, *modes;
	size_t nm;

	run_compare(&out, NULL, "3", NULL);
	c = compare_line(&out);
	modes = json_object_get(c, "modes");
	nm = json_array_size(modes);
	cr_assert_geq(nm, 3, "malloc, core and client must run");
	cr_assert_str_eq(json_string_value(json_array_get(modes, 0)), "malloc");
	cr_assert_str_eq(json_string_value(json_array_get(modes, 1)), "core");
	cr_assert_str_eq(json_string_value(json_array_get(modes, 2)), "client");
	cr_assert_eq(num(c, "runs"), 3);
	cr_assert_eq(out.n, 3 * nm + nm + 1, "3 rounds, a summary per mode, compare");
	for (size_t k = 0; k < 3 * nm; k++) {
		json_t *l = out.line[k];

		cr_assert_str_eq(str(l, "bench"), json_string_value(json_array_get(modes, k % nm)));
		cr_assert_eq(num(l, "run"), (double)(k / nm + 1));
		num(l, "ns_per_op");
		num(l, "fragmentation");
	}
	output_free(&out);
}

Test(compare, prints_a_summary_per_mode_that_ran, .timeout = 120)
{
	struct output out;
	json_t *c, *modes;

	run_compare(&out, NULL, "3", NULL);
	c = compare_line(&out);
	modes = json_object_get(c, "modes");
	for (size_t k = 0; k < json_array_size(modes); k++) {
		json_t *s = summary_of(&out, json_string_value(json_array_get(modes, k)));

		cr_assert_not_null(s, "no summary for %s",
		                   json_string_value(json_array_get(modes, k)));
		cr_assert_eq(num(s, "runs"), 3);
		num(s, "median_ns_per_op");
		num(s, "median_fragmentation");
		cr_assert_eq(num(s, "ops"), num(c, "ops"));
	}
	num(summary_of(&out, "client"), "round_trips");
	output_free(&out);
}

/* The compare line's fields that must be numbers when the client ran. */
static const char *const number_keys[] = {"runs",
                                          "ops",
                                          "peak_live_bytes",
                                          "median_ratio_ns_per_op",
                                          "median_ns_per_op_malloc",
                                          "median_ns_per_op_core",
                                          "ratio_of_min_ns_per_op",
                                          "median_fragmentation_malloc",
                                          "median_fragmentation_core",
                                          "fragmentation_diff",
                                          "median_ratio_ns_per_op_client",
                                          "median_ns_per_op_client",
                                          "median_fragmentation_client",
                                          "fragmentation_diff_client",
                                          "round_trips_per_1000_ops_client",
                                          "core_ns_ratio",
                                          "core_frag_delta",
                                          "client_ns_ratio",
                                          "client_frag_delta",
                                          "client_frag_delta_with_daemon",
                                          "client_round_trips_per_1000"};

/* Fields that depend on jemalloc being there. */
static const char *const jemalloc_keys[] = {"median_ns_per_op_jemalloc",
                                            "median_fragmentation_jemalloc", "jemalloc_ns_ratio",
                                            "jemalloc_frag_delta"};

/* The issue-7 booleans. */
static const char *const target_keys[] = {"issue7_client_ns_ratio_ok",
                                          "issue7_client_frag_delta_ok",
                                          "issue7_client_round_trips_ok", "issue7_targets_met"};

Test(compare, compare_line_has_every_field_with_its_type, .timeout = 120)
{
	struct output out;
	json_t *c;
	bool je;

	run_compare(&out, NULL, "3", NULL);
	c = compare_line(&out);
	for (size_t i = 0; i < sizeof number_keys / sizeof number_keys[0]; i++)
		num(c, number_keys[i]);
	for (size_t i = 0; i < sizeof target_keys / sizeof target_keys[0]; i++)
		cr_assert(json_is_boolean(json_object_get(c, target_keys[i])), "%s",
		          target_keys[i]);
	cr_assert(json_is_null(json_object_get(c, "client_skipped")));
	je = json_is_string(json_object_get(c, "jemalloc"));
	cr_assert(je || json_is_null(json_object_get(c, "jemalloc")));
	cr_assert(je ? json_is_null(json_object_get(c, "jemalloc_skipped"))
	             : json_is_string(json_object_get(c, "jemalloc_skipped")));
	for (size_t i = 0; i < sizeof jemalloc_keys / sizeof jemalloc_keys[0]; i++)
		cr_assert(je ? json_is_number(json_object_get(c, jemalloc_keys[i]))
		             : json_is_null(json_object_get(c, jemalloc_keys[i])),
		          "%s", jemalloc_keys[i]);
	output_free(&out);
}

Test(compare, derived_figures_and_targets_agree, .timeout = 120)
{
	struct output out;
	json_t *c, *cli, *mal;
	double rt;
	bool ns, fd, rtok;

	run_compare(&out, NULL, "3", NULL);
	c = compare_line(&out);
	cli = summary_of(&out, "client");
	mal = summary_of(&out, "malloc");
	cr_assert(close_to(num(c, "core_ns_ratio"), num(c, "median_ratio_ns_per_op")));
	cr_assert(close_to(num(c, "core_frag_delta"), num(c, "fragmentation_diff")));
	cr_assert(close_to(num(c, "client_ns_ratio"), num(c, "median_ratio_ns_per_op_client")));
	cr_assert(close_to(num(c, "client_frag_delta"), num(c, "fragmentation_diff_client")));
	cr_assert(close_to(num(c, "client_frag_delta"),
	                   num(cli, "median_fragmentation") - num(mal, "median_fragmentation")));
	rt = num(c, "client_round_trips_per_1000");
	cr_assert(close_to(rt, num(c, "round_trips_per_1000_ops_client")));
	cr_assert(close_to(rt, 1000.0 * num(cli, "round_trips") / num(c, "ops")));
	ns = num(c, "client_ns_ratio") <= 1.5;
	fd = num(c, "client_frag_delta") <= 0.10;
	rtok = rt <= 5.0;
	cr_assert_eq(json_is_true(json_object_get(c, "issue7_client_ns_ratio_ok")), ns);
	cr_assert_eq(json_is_true(json_object_get(c, "issue7_client_frag_delta_ok")), fd);
	cr_assert_eq(json_is_true(json_object_get(c, "issue7_client_round_trips_ok")), rtok);
	cr_assert_eq(json_is_true(json_object_get(c, "issue7_targets_met")), ns && fd && rtok);
	output_free(&out);
}

Test(compare, jemalloc_lines_name_the_preloaded_library, .timeout = 120)
{
	struct output out;
	const char *lib;
	json_t *c;

	run_compare(&out, NULL, "3", NULL);
	c = compare_line(&out);
	lib = str(c, "jemalloc");
	if (!lib) {
		output_free(&out);
		cr_skip_test("jemalloc not run here: %s", str(c, "jemalloc_skipped"));
	}
	for (size_t i = 0; i + 1 < out.n; i++)
		if (!strcmp(str(out.line[i], "bench"), "jemalloc"))
			cr_assert_str_eq(str(out.line[i], "ld_preload"), lib);
	cr_assert(close_to(num(c, "median_ns_per_op_jemalloc"),
	                   num(summary_of(&out, "jemalloc"), "median_ns_per_op")));
	for (size_t i = 0; i + 1 < out.n; i++)
		if (!strcmp(str(out.line[i], "bench"), "malloc"))
			cr_assert_null(json_object_get(out.line[i], "ld_preload"));
	output_free(&out);
}

Test(compare, skipped_modes_are_null_and_say_why, .timeout = 120)
{
	struct output out;
	json_t *c;

	run_compare(&out, "/nonexistent/libjemalloc.so.2", "1", "--no-client");
	c = compare_line(&out);
	cr_assert_eq(json_array_size(json_object_get(c, "modes")), 2);
	cr_assert_eq(out.n, 2 + 2 + 1, "2 runs, 2 summaries, compare");
	cr_assert_null(summary_of(&out, "client"));
	cr_assert_null(summary_of(&out, "jemalloc"));
	cr_assert(json_is_string(json_object_get(c, "client_skipped")));
	cr_assert(json_is_string(json_object_get(c, "jemalloc_skipped")));
	if (!strstr(str(c, "jemalloc_skipped"), "AddressSanitizer"))
		cr_assert(!strncmp(str(c, "jemalloc_skipped"), "jemalloc not installed", 22), "%s",
		          str(c, "jemalloc_skipped"));
	cr_assert(json_is_null(json_object_get(c, "jemalloc")));
	cr_assert_null(json_object_get(c, "median_ratio_ns_per_op_client"));
	for (size_t i = 0; i < sizeof jemalloc_keys / sizeof jemalloc_keys[0]; i++)
		cr_assert(json_is_null(json_object_get(c, jemalloc_keys[i])), "%s",
		          jemalloc_keys[i]);
	for (size_t i = 0; i < sizeof target_keys / sizeof target_keys[0]; i++)
		cr_assert(json_is_null(json_object_get(c, target_keys[i])), "%s", target_keys[i]);
	cr_assert(json_is_null(json_object_get(c, "client_ns_ratio")));
	num(c, "core_ns_ratio");
	output_free(&out);
}
