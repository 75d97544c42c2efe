/*
 * cmd_map.c - `memctl map POOL [--svg FILE]`: a picture of each segment.
 *
 * The daemon sends the pool's page runs (STATS_MAP, paged), which tile
 * each segment in address order.  Each segment is drawn as rows of
 * MC_MAP_COLS cells; a cell covers an equal share of the segment (at least
 * one page) and shows what occupies most of its bytes:
 *
 *   '#' private blocks   '@' shared blocks   '.' free (resident)
 *   '_' punched (free and returned to the OS)
 *
 * A slab's bytes are split by its occupancy: used slots are private or
 * shared blocks, free slots count as free.  With --svg the same runs are
 * written as an SVG picture (svg.c); --json gives the runs themselves.
 */
#include "memctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MC_MAP_COLS     64  /* cells per row */
#define MC_MAP_MAXCELLS 256 /* cells per segment at most (4 rows) */
#define MC_PAGE         4096u

static const char mc_map_usage[] =
        "Usage: memctl map POOL [--svg FILE] [--json] [--socket PATH]\n"
        "\n"
        "Draw each segment of POOL: '#' private blocks, '@' shared blocks, '.' free\n"
        "pages still resident, '_' punched pages (returned to the OS).  --svg FILE\n"
        "also writes the picture as SVG; --json prints the page runs.\n";

static const char *const mc_kind_names[] = {"free", "punched", "slab", "large"};

/* Options of `map`. */
struct mc_map_opts {
	const char *svg; /* --svg FILE */
};

static int mc_map_opt(struct memctl *m, void *ctx, int opt, const char *arg)
{
	struct mc_map_opts *o = ctx;

	(void)m;
	if (opt == 's')
		o->svg = arg;
	return 0;
}

void mc_run_occupancy(const struct memd_stats_run *r, uint64_t lo, uint64_t hi,
                      struct mc_occupancy *o)
{
	uint64_t a = r->off > lo ? r->off : lo, b = r->off + r->len < hi ? r->off + r->len : hi;
	double part, used, shared;

	if (b <= a)
		return;
	part = (double)(b - a);
	switch (r->kind) {
	case MEMD_RUN_FREE:
		o->free_bytes += b - a;
		break;
	case MEMD_RUN_PUNCHED:
		o->punched_bytes += b - a;
		break;
	case MEMD_RUN_LARGE:
		if (r->shared != 0)
			o->shared_bytes += b - a;
		else
			o->private_bytes += b - a;
		break;
	default: /* a slab: spread its occupancy evenly */
		used = r->len ? (double)r->used * r->slot_size / (double)r->len : 0;
		shared = r->used ? used * r->shared / r->used : 0;
		o->shared_bytes += (uint64_t)(part * shared);
		o->private_bytes += (uint64_t)(part * (used - shared));
		o->free_bytes += (uint64_t)(part * (1 - used));
		break;
	}
}

/* The character for a cell's occupancy. */
static char mc_cell_char(const struct mc_occupancy *o)
{
	uint64_t used = o->private_bytes + o->shared_bytes;

	if (used > 0) /* any use shows: a cell is free only when all of it is */
		return o->shared_bytes > o->private_bytes ? '@' : '#';
	return o->punched_bytes > o->free_bytes ? '_' : '.';
}

/* Draw one segment (runs[0..n) all of it). */
static void mc_map_segment(const struct memd_stats_run *runs, size_t n, bool color)
{
	uint64_t size = runs[n - 1].off + runs[n - 1].len, cell, lo;
	struct mc_occupancy tot = {0};
	size_t cells, r = 0;
	char a[32], b[32], c[32], d[32], e[32];

	cells = (size_t)(size / MC_PAGE);
	if (cells > MC_MAP_MAXCELLS)
		cells = MC_MAP_MAXCELLS;
	if (cells == 0)
		cells = 1;
	cell = (size + cells - 1) / cells;
	for (size_t i = 0; i < n; i++)
		mc_run_occupancy(&runs[i], 0, size, &tot);
	printf("segment %u: %s, private %s, shared %s, free %s, punched %s\n", runs[0].seg_id,
	       mc_size(size, a, 32), mc_size(tot.private_bytes, b, 32),
	       mc_size(tot.shared_bytes, c, 32), mc_size(tot.free_bytes, d, 32),
	       mc_size(tot.punched_bytes, e, 32));
	for (size_t i = 0; i < cells; i++) {
		struct mc_occupancy o = {0};
		char ch;

		lo = (uint64_t)i * cell;
		while (r < n && runs[r].off + runs[r].len <= lo)
			r++;
		for (size_t k = r; k < n && runs[k].off < lo + cell; k++)
			mc_run_occupancy(&runs[k], lo, lo + cell, &o);
		ch = mc_cell_char(&o);
		if (i % MC_MAP_COLS == 0)
			fputs("  |", stdout);
		if (color)
			printf("\033[%sm%c\033[0m", ch == '#' ? "32" : ch == '@' ? "35" : "2", ch);
		else
			putchar(ch);
		if (i % MC_MAP_COLS == MC_MAP_COLS - 1 || i + 1 == cells)
			puts("|");
	}
	printf("  1 cell = %s\n", mc_size(cell, a, 32));
}

static void mc_map_print(const char *pool, const struct memd_stats_run *runs, size_t n)
{
	bool color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	size_t i = 0, j;

	printf("pool %s\n", pool);
	while (i < n) {
		for (j = i; j < n && runs[j].seg_id == runs[i].seg_id; j++)
			;
		mc_map_segment(runs + i, j - i, color);
		i = j;
	}
	puts("legend: # private  @ shared  . free (resident)  _ punched (returned to the OS)");
}

static int mc_map_json(const char *pool, const struct memd_stats_run *runs, size_t n)
{
	json_t *doc = json_object(), *segs = json_array(), *seg = NULL, *rarr = NULL;

	json_object_set_new(doc, "pool", json_string(pool));
	json_object_set_new(doc, "segments", segs);
	for (size_t i = 0; i < n; i++) {
		const struct memd_stats_run *r = &runs[i];

		if (i == 0 || r->seg_id != runs[i - 1].seg_id) {
			seg = json_object();
			rarr = json_array();
			json_object_set_new(seg, "id", json_integer(r->seg_id));
			json_object_set_new(seg, "runs", rarr);
			json_array_append_new(segs, seg);
		}
		json_object_set_new(seg, "size", mc_json_u64(r->off + r->len));
		json_array_append_new(
		        rarr,
		        json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:I}", "kind",
		                  r->kind < 4 ? mc_kind_names[r->kind] : "?", "offset",
		                  mc_json_u64(r->off), "length", mc_json_u64(r->len), "slot_size",
		                  (json_int_t)r->slot_size, "slots", (json_int_t)r->slots, "used",
		                  (json_int_t)r->used, "shared", (json_int_t)r->shared));
	}
	return mc_json_print(doc);
}

static int mc_map_show(struct memctl *m, const char *name, const struct mc_map_opts *o)
{
	struct memd_stats_run *runs = NULL;
	struct memd_stats_req req = {0};
	struct memd_stats_pool p;
	size_t n;
	int err, rc = MEMCTL_EX_OK;

	err = mc_pool_by_name(m, name, &p);
	if (err == -ENOENT) {
		fprintf(stderr, "%s: no pool named '%s'\n", m->prog, name);
		return MEMCTL_EX_FAIL;
	}
	req.pool_id = p.id;
	if (err == 0)
		err = mc_list(m, MEMD_OP_STATS_MAP, &req, sizeof(*runs), (void **)&runs, &n);
	if (err < 0)
		return mc_fail(m, err, "map");
	if (o->svg != NULL) {
		err = mc_svg_write(o->svg, name, runs, n);
		if (err < 0) {
			fprintf(stderr, "%s: %s: %s\n", m->prog, o->svg, strerror(-err));
			rc = MEMCTL_EX_FAIL;
		}
	}
	if (m->json && rc == MEMCTL_EX_OK)
		rc = mc_map_json(name, runs, n);
	else if (!m->json)
		mc_map_print(name, runs, n);
	free(runs);
	return rc;
}

static int mc_map_run(struct memctl *m, int argc, char **argv)
{
	static const struct option opts[] = {{"svg", required_argument, NULL, 's'},
	                                     {NULL, 0, NULL, 0}};
	struct mc_map_opts o = {0};
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_map, argc, argv, opts, mc_map_opt, &o, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest + 1 != argc)
		return mc_usage_error(m, &mc_cmd_map, "expected one pool name");
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	return mc_map_show(m, argv[rest], &o);
}

const struct memctl_cmd mc_cmd_map = {
        .name = "map",
        .summary = "a picture of each segment of a pool (--svg FILE too)",
        .usage = mc_map_usage,
        .run = mc_map_run,
};
