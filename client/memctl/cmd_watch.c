/*
 * cmd_watch.c - `memctl watch`: a refreshing, top-like view.
 *
 * Every --interval seconds (default 2) it fetches the status, the pools
 * and the clients and redraws: a summary line, the pools table and the
 * clients holding the most bytes (at most MC_WATCH_CLIENTS).  On a
 * terminal each frame clears the screen; otherwise frames are separated by
 * a line, so the output can be logged or tested.  --count N stops after N
 * frames (default: until interrupted).  A daemon that goes away ends the
 * watch with exit 69.
 */
#include "memctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MC_WATCH_CLIENTS 10 /* client rows shown */

static const char mc_watch_usage[] =
        "Usage: memctl watch [--interval SECONDS] [--count N] [--socket PATH]\n"
        "\n"
        "Refresh a top-like view of memd: totals, pools, and the clients holding the\n"
        "most bytes.  --interval (default 2, fractions allowed) sets the period;\n"
        "--count stops after N refreshes (default: run until interrupted).\n";

/* Options of `watch`. */
struct mc_watch_opts {
	double interval; /* seconds between frames */
	uint64_t count;  /* frames to draw; 0: forever */
};

static int mc_watch_opt(struct memctl *m, void *ctx, int opt, const char *arg)
{
	struct mc_watch_opts *o = ctx;
	char *end;

	if (opt == 'c') {
		if (mc_parse_u64(arg, &o->count) < 0 || o->count == 0)
			return mc_usage_error(m, &mc_cmd_watch, "--count needs a positive number");
		return 0;
	}
	o->interval = strtod(arg, &end);
	if (*arg == '\0' || *end != '\0' || !(o->interval >= 0.01) || o->interval > 86400)
		return mc_usage_error(m, &mc_cmd_watch, "--interval needs seconds (0.01..86400)");
	return 0;
}

static int mc_client_cmp(const void *a, const void *b)
{
	const struct memd_stats_client *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static void mc_watch_pools(const struct memd_stats_pool *p, size_t n)
{
	static const char *const head[] = {"POOL",  ">RESERVED", ">IN USE", ">FREE",
	                                   ">FRAG", ">BLOCKS",   ">PUNCHED"};
	struct mc_table *t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	char a[32], b[32], c[32], d[32];

	for (size_t i = 0; i < n; i++)
		mc_table_row(t, "%s\t%s\t%s\t%s\t%.1f%%\t%llu\t%s", p[i].name,
		             mc_size(p[i].reserved_bytes, a, 32), mc_size(p[i].in_use_bytes, b, 32),
		             mc_size(p[i].free_bytes, c, 32), p[i].fragmentation_ppm / 1e4,
		             (unsigned long long)p[i].blocks, mc_size(p[i].punched_bytes, d, 32));
	mc_table_print(t, stdout);
}

static void mc_watch_clients(struct memd_stats_client *v, size_t n)
{
	static const char *const head[] = {">PID", ">UID", "NAME", ">BLOCKS", ">BYTES"};
	struct mc_table *t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	char a[32];
	size_t shown = 0;

	qsort(v, n, sizeof(*v), mc_client_cmp);
	for (size_t i = 0; i < n && shown < MC_WATCH_CLIENTS; i++) {
		if (v[i].flags & MEMD_CLIENT_SELF)
			continue;
		mc_table_row(t, "%u\t%u\t%s\t%llu\t%s", v[i].pid, v[i].uid,
		             v[i].comm[0]   ? v[i].comm
		             : v[i].name[0] ? v[i].name
		                            : "-",
		             (unsigned long long)v[i].blocks, mc_size(v[i].bytes, a, 32));
		shown++;
	}
	mc_table_print(t, stdout);
}

/* Fetch and draw one frame.  0 or -errno. */
static int mc_watch_frame(struct memctl *m, bool tty)
{
	struct memd_stats_req req = {0};
	struct memd_stats_pool *pools = NULL;
	struct memd_stats_client *clients = NULL;
	struct memd_stats_status st;
	size_t np, nc, len;
	const void *body;
	char a[32], b[32], c[32], up[32], now[32];
	int err;

	err = mc_call(m, MEMD_OP_STATS_STATUS, &req, &body, &len);
	if (err < 0)
		return err;
	memcpy(&st, body, sizeof(st));
	err = mc_list(m, MEMD_OP_STATS_POOLS, &req, sizeof(*pools), (void **)&pools, &np);
	if (err == 0)
		err = mc_list(m, MEMD_OP_STATS_CLIENTS, &req, sizeof(*clients), (void **)&clients,
		              &nc);
	if (err < 0)
		goto out;
	fputs(tty ? "\033[H\033[2J" : "----\n", stdout);
	printf("memd pid %u  up %s  %s  clients %u  blocks %llu  in use %s / reserved %s  "
	       "punched %s\n\n",
	       st.pid, mc_duration(st.start_ns ? st.now_ns - st.start_ns : 0, up, 32),
	       mc_time(st.now_ns, now, 32), st.clients > 0 ? st.clients - 1 : 0,
	       (unsigned long long)st.blocks, mc_size(st.in_use_bytes, a, 32),
	       mc_size(st.reserved_bytes, b, 32), mc_size(st.punched_bytes, c, 32));
	mc_watch_pools(pools, np);
	putchar('\n');
	mc_watch_clients(clients, nc);
	fflush(stdout);
out:
	free(pools);
	free(clients);
	return err;
}

static int mc_watch_run(struct memctl *m, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"interval", required_argument, NULL, 'i'},
	        {"count", required_argument, NULL, 'c'},
	        {NULL, 0, NULL, 0},
	};
	struct mc_watch_opts o = {.interval = 2};
	struct timespec ts;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_watch, argc, argv, opts, mc_watch_opt, &o, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_watch, "unexpected argument '%s'", argv[rest]);
	if (m->json)
		return mc_usage_error(m, &mc_cmd_watch,
		                      "--json is not supported (use stats --json)");
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	ts.tv_sec = (time_t)o.interval;
	ts.tv_nsec = (long)((o.interval - (double)ts.tv_sec) * 1e9);
	for (uint64_t i = 0; o.count == 0 || i < o.count; i++) {
		if (i > 0)
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		ts.tv_sec = (time_t)o.interval;
		ts.tv_nsec = (long)((o.interval - (double)ts.tv_sec) * 1e9);
		rc = mc_watch_frame(m, isatty(STDOUT_FILENO));
		if (rc < 0)
			return mc_fail(m, rc, "watch");
	}
	return MEMCTL_EX_OK;
}

const struct memctl_cmd mc_cmd_watch = {
        .name = "watch",
        .summary = "a refreshing top-like view (--interval S, --count N)",
        .usage = mc_watch_usage,
        .run = mc_watch_run,
};
