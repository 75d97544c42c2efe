/*
 * cmd_stats.c - `memctl stats [--prometheus]`: metrics for scrapers.
 *
 * The numbers of STATS_STATUS and STATS_POOLS become a list of metrics,
 * each with a name (memd_*), a type (gauge or counter), a help text and
 * samples (per pool: a pool="NAME" label).  The list is built once as
 * JSON (the --json output) and printed from it:
 *
 *   --prometheus  the text exposition format, for node_exporter's textfile
 *                 collector: "# HELP" and "# TYPE" before each metric's
 *                 samples, label values escaped (\\, \", \n);
 *   default       the sample lines only ("name{labels} value").
 */
#include "memctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char mc_stats_usage[] =
        "Usage: memctl stats [--prometheus] [--json] [--socket PATH]\n"
        "\n"
        "Print memd's metrics.  --prometheus prints the Prometheus text exposition\n"
        "format (# HELP, # TYPE, memd_* metrics with pool labels) for a textfile\n"
        "collector; without it, one \"name{labels} value\" line per sample.\n";

/* A per-pool metric: how to read it from a pool record. */
struct mc_pool_metric {
	const char *name; /* metric name */
	const char *type; /* "gauge" or "counter" */
	const char *help; /* help text */
	size_t off;       /* offset of a uint64_t field in struct memd_stats_pool; or */
	int ppm;          /* 1: fragmentation ratio, 2: utilization ratio (from ppm) */
};

#define MC_U64(field) offsetof(struct memd_stats_pool, field), 0

static const struct mc_pool_metric mc_pool_metrics[] = {
        {"memd_pool_segments", "gauge", "Live shm segments of the pool.", MC_U64(segments)},
        {"memd_pool_reserved_bytes", "gauge", "Bytes of the pool's segments.",
         MC_U64(reserved_bytes)},
        {"memd_pool_max_bytes", "gauge", "Configured size limit of the pool.", MC_U64(max_size)},
        {"memd_pool_in_use_bytes", "gauge", "Usable bytes of live blocks.", MC_U64(in_use_bytes)},
        {"memd_pool_free_bytes", "gauge", "Reserved bytes not in live blocks.", MC_U64(free_bytes)},
        {"memd_pool_largest_free_run_bytes", "gauge", "Bytes of the largest free page run.",
         MC_U64(largest_free_run)},
        {"memd_pool_resident_bytes", "gauge", "Segment bytes backed by memory now.",
         MC_U64(resident_bytes)},
        {"memd_pool_punched_bytes", "gauge", "Segment bytes returned to the OS now (holes).",
         MC_U64(punched_bytes)},
        {"memd_pool_punched_bytes_total", "counter", "Bytes punched out since memd started.",
         MC_U64(punched_total)},
        {"memd_pool_blocks", "gauge", "Live blocks.", MC_U64(blocks)},
        {"memd_pool_shared_blocks", "gauge", "Live blocks that are shared.", MC_U64(shared_blocks)},
        {"memd_pool_metadata_bytes", "gauge", "Daemon-private allocator metadata.",
         MC_U64(meta_bytes)},
        {"memd_pool_segments_created_total", "counter", "Segments created.",
         MC_U64(segments_created)},
        {"memd_pool_segments_released_total", "counter", "Empty segments released.",
         MC_U64(segments_released)},
        {"memd_pool_trims_total", "counter", "Trim passes run.", MC_U64(trims)},
        {"memd_pool_alloc_failures_total", "counter", "Allocations refused for lack of room.",
         MC_U64(enomem)},
        {"memd_pool_fragmentation_ratio", "gauge",
         "1 - largest free run / free run bytes (0: unfragmented).", 0, 1},
        {"memd_pool_utilization_ratio", "gauge", "Usable bytes / bytes of used pages.", 0, 2},
};

/* Options of `stats`. */
struct mc_stats_opts {
	bool prometheus; /* --prometheus */
};

static int mc_stats_opt(struct memctl *m, void *ctx, int opt, const char *arg)
{
	struct mc_stats_opts *o = ctx;

	(void)m;
	(void)arg;
	if (opt == 'p')
		o->prometheus = true;
	return 0;
}

/* Append a metric with one unlabelled sample. */
static void mc_metric1(json_t *arr, const char *name, const char *type, const char *help, double v)
{
	json_array_append_new(arr,
	                      json_pack("{s:s, s:s, s:s, s:[{s:{}, s:f}]}", "name", name, "type",
	                                type, "help", help, "samples", "labels", "value", v));
}

static json_t *mc_metrics(const struct memd_stats_status *st, const struct memd_stats_pool *p,
                          size_t n)
{
	json_t *arr = json_array();

	mc_metric1(arr, "memd_up", "gauge", "1 if memd answered.", 1);
	mc_metric1(arr, "memd_uptime_seconds", "gauge", "Seconds since memd started.",
	           st->start_ns ? (double)(st->now_ns - st->start_ns) / 1e9 : 0);
	mc_metric1(arr, "memd_clients", "gauge", "Connected clients (memctl excluded).",
	           st->clients > 0 ? st->clients - 1 : 0);
	mc_metric1(arr, "memd_names", "gauge", "Published names.", (double)st->names);
	mc_metric1(arr, "memd_pools", "gauge", "Configured pools.", st->pools);
	for (size_t k = 0; k < sizeof(mc_pool_metrics) / sizeof(mc_pool_metrics[0]); k++) {
		const struct mc_pool_metric *pm = &mc_pool_metrics[k];
		json_t *samples = json_array();

		for (size_t i = 0; i < n; i++) {
			double v;
			uint64_t u;

			if (pm->ppm != 0) {
				v = (pm->ppm == 1 ? p[i].fragmentation_ppm : p[i].utilization_ppm) /
				    1e6;
			} else {
				memcpy(&u, (const char *)&p[i] + pm->off, sizeof(u));
				v = (double)u;
			}
			json_array_append_new(samples, json_pack("{s:{s:s}, s:f}", "labels", "pool",
			                                         p[i].name, "value", v));
		}
		json_array_append_new(arr,
		                      json_pack("{s:s, s:s, s:s, s:o}", "name", pm->name, "type",
		                                pm->type, "help", pm->help, "samples", samples));
	}
	return arr;
}

/* Print a label value escaped for the exposition format. */
static void mc_prom_label(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

static void mc_prom_print(json_t *metrics, bool comments)
{
	size_t i, j;
	json_t *m, *s;

	json_array_foreach(metrics, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));

		if (comments)
			printf("# HELP %s %s\n# TYPE %s %s\n", name,
			       json_string_value(json_object_get(m, "help")), name,
			       json_string_value(json_object_get(m, "type")));
		json_array_foreach(json_object_get(m, "samples"), j, s)
		{
			json_t *labels = json_object_get(s, "labels"), *v;
			const char *key, *sep = "{";

			fputs(name, stdout);
			json_object_foreach(labels, key, v)
			{
				printf("%s%s=\"", sep, key);
				mc_prom_label(json_string_value(v));
				putchar('"');
				sep = ",";
			}
			if (json_object_size(labels) > 0)
				putchar('}');
			printf(" %.15g\n", json_number_value(json_object_get(s, "value")));
		}
	}
}

static int mc_stats_run(struct memctl *m, int argc, char **argv)
{
	static const struct option opts[] = {{"prometheus", no_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	struct mc_stats_opts o = {0};
	struct memd_stats_req req = {0};
	struct memd_stats_status st;
	struct memd_stats_pool *pools;
	json_t *metrics;
	const void *body;
	size_t len, n;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_stats, argc, argv, opts, mc_stats_opt, &o, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_stats, "unexpected argument '%s'", argv[rest]);
	if (o.prometheus && m->json)
		return mc_usage_error(m, &mc_cmd_stats,
		                      "--prometheus and --json exclude each other");
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	rc = mc_call(m, MEMD_OP_STATS_STATUS, &req, &body, &len);
	if (rc == 0)
		memcpy(&st, body, sizeof(st));
	if (rc == 0)
		rc = mc_list(m, MEMD_OP_STATS_POOLS, &req, sizeof(*pools), (void **)&pools, &n);
	if (rc < 0)
		return mc_fail(m, rc, "stats");
	metrics = mc_metrics(&st, pools, n);
	free(pools);
	if (m->json)
		return mc_json_print(json_pack("{s:o}", "metrics", metrics));
	mc_prom_print(metrics, o.prometheus);
	json_decref(metrics);
	return fflush(stdout) == 0 ? MEMCTL_EX_OK : MEMCTL_EX_FAIL;
}

const struct memctl_cmd mc_cmd_stats = {
        .name = "stats",
        .summary = "metrics; --prometheus for the text exposition format",
        .usage = mc_stats_usage,
        .run = mc_stats_run,
};
