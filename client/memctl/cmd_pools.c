/*
 * cmd_pools.c - `memctl pools` and `memctl pool NAME`.
 *
 * `pools` lists every pool (STATS_POOLS, paged) in one table: segments,
 * reserved / in use / free bytes, largest free run, fragmentation, blocks.
 * `pool NAME` shows one pool in full (STATS_POOL): the same numbers, its
 * limits and counters, its access rules and quotas, and the occupancy of
 * every size class that has slabs.  With --json, `pools` gives every pool
 * in full (one STATS_POOL per pool) and `pool NAME` that one pool.
 */
#include "memctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char mc_pools_usage[] =
        "Usage: memctl pools [--json] [--socket PATH]\n"
        "\n"
        "List every pool: segments, reserved / in use / free bytes, the largest free\n"
        "page run, fragmentation (1 - largest free run / free run bytes) and live blocks.\n"
        "With --json each pool also carries its size classes and access rules.\n";

static const char mc_pool_usage[] =
        "Usage: memctl pool NAME [--json] [--socket PATH]\n"
        "\n"
        "Show one pool in full: sizes, limits, counters, access rules and quotas, and\n"
        "the occupancy of each size class that has slabs.\n";

static int mc_pools_json(struct memctl *m, const struct memd_stats_pool *pools, size_t n)
{
	json_t *doc = json_object(), *arr = json_array();
	struct mc_pool_detail d;
	int err;

	if (doc == NULL || arr == NULL) {
		json_decref(doc);
		json_decref(arr);
		return mc_json_print(NULL);
	}
	json_object_set_new(doc, "pools", arr);
	for (size_t i = 0; i < n; i++) {
		err = mc_pool_detail(m, pools[i].id, &d);
		if (err < 0) {
			json_decref(doc);
			return mc_fail(m, err, "pool detail");
		}
		json_array_append_new(arr, mc_json_pool_detail(&d));
		mc_pool_detail_free(&d);
	}
	return mc_json_print(doc);
}

static void mc_pools_table(const struct memd_stats_pool *pools, size_t n)
{
	static const char *const head[] = {"POOL",     ">SEGS", ">RESERVED", ">IN USE", ">FREE",
	                                   ">LARGEST", ">FRAG", ">BLOCKS",   ">SHARED", ">MAX"};
	struct mc_table *t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	char a[32], b[32], c[32], d[32], e[32];

	for (size_t i = 0; i < n; i++) {
		const struct memd_stats_pool *p = &pools[i];

		mc_table_row(t, "%s\t%llu\t%s\t%s\t%s\t%s\t%.1f%%\t%llu\t%llu\t%s", p->name,
		             (unsigned long long)p->segments, mc_size(p->reserved_bytes, a, 32),
		             mc_size(p->in_use_bytes, b, 32), mc_size(p->free_bytes, c, 32),
		             mc_size(p->largest_free_run, d, 32), p->fragmentation_ppm / 1e4,
		             (unsigned long long)p->blocks, (unsigned long long)p->shared_blocks,
		             mc_size(p->max_size, e, 32));
	}
	mc_table_print(t, stdout);
}

static int mc_pools_run(struct memctl *m, int argc, char **argv)
{
	struct memd_stats_req req = {0};
	struct memd_stats_pool *pools;
	size_t n;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_pools, argc, argv, NULL, NULL, NULL, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_pools, "unexpected argument '%s'", argv[rest]);
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	rc = mc_list(m, MEMD_OP_STATS_POOLS, &req, sizeof(*pools), (void **)&pools, &n);
	if (rc < 0)
		return mc_fail(m, rc, "pools");
	if (m->json)
		rc = mc_pools_json(m, pools, n);
	else
		mc_pools_table(pools, n);
	free(pools);
	return rc;
}

/* The human form of one pool. */
static void mc_pool_print(const struct mc_pool_detail *d)
{
	static const char *const head[] = {">CLASS", ">SLAB", ">SLABS", ">SLOTS", ">USED", ">FILL"};
	const struct memd_stats_pool *p = &d->pool;
	struct mc_table *t;
	char a[32], b[32], c[32], e[32];

	printf("pool          %s (id %u)\n", p->name, p->id);
	printf("segments      %llu (%llu created, %llu released)\n",
	       (unsigned long long)p->segments, (unsigned long long)p->segments_created,
	       (unsigned long long)p->segments_released);
	printf("reserved      %s of max %s (first segment %s)\n", mc_size(p->reserved_bytes, a, 32),
	       mc_size(p->max_size, b, 32), mc_size(p->segment_size, c, 32));
	printf("in use        %s in %llu blocks (%llu shared)\n", mc_size(p->in_use_bytes, a, 32),
	       (unsigned long long)p->blocks, (unsigned long long)p->shared_blocks);
	printf("free          %s; %llu free runs, largest %s, fragmentation %.1f%%\n",
	       mc_size(p->free_bytes, a, 32), (unsigned long long)p->free_runs,
	       mc_size(p->largest_free_run, b, 32), p->fragmentation_ppm / 1e4);
	printf("memory        %s resident; %s punched now, %s since start (%llu trims, "
	       "threshold %s)\n",
	       mc_size(p->resident_bytes, c, 32), mc_size(p->punched_bytes, a, 32),
	       mc_size(p->punched_total, b, 32), (unsigned long long)p->trims,
	       mc_size(p->trim_threshold, e, 32));
	printf("metadata      %s (daemon-private)\n", mc_size(p->meta_bytes, a, 32));
	printf("alloc fails   %llu\n", (unsigned long long)p->enomem);
	printf("you may       %s\n", p->flags & MEMD_POOL_WRITE  ? "read and write"
	                             : p->flags & MEMD_POOL_READ ? "read"
	                                                         : "not access it");
	printf("access:\n");
	for (const char *s = d->text, *nl; *s != '\0'; s = nl + 1) {
		nl = strchr(s, '\n');
		if (nl == NULL)
			nl = s + strlen(s) - 1;
		printf("  %.*s\n", (int)(nl - s), s);
	}
	printf("size classes with slabs:\n");
	t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	for (size_t i = 0; i < d->class_count; i++) {
		const struct memd_stats_class *k = &d->classes[i];

		if (k->slabs == 0)
			continue;
		mc_table_row(t, "%s\t%s\t%llu\t%llu\t%llu\t%.1f%%", mc_size(k->size, a, 32),
		             mc_size(k->slab_bytes, b, 32), (unsigned long long)k->slabs,
		             (unsigned long long)k->slots, (unsigned long long)k->used,
		             k->slots ? 100.0 * (double)k->used / (double)k->slots : 0.0);
	}
	mc_table_print(t, stdout);
}

static int mc_pool_run(struct memctl *m, int argc, char **argv)
{
	struct memd_stats_pool p;
	struct mc_pool_detail d;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_pool, argc, argv, NULL, NULL, NULL, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest + 1 != argc)
		return mc_usage_error(m, &mc_cmd_pool, "expected one pool name");
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	rc = mc_pool_by_name(m, argv[rest], &p);
	if (rc == -ENOENT) {
		fprintf(stderr, "%s: no pool named '%s'\n", m->prog, argv[rest]);
		return MEMCTL_EX_FAIL;
	}
	if (rc == 0)
		rc = mc_pool_detail(m, p.id, &d);
	if (rc < 0)
		return mc_fail(m, rc, "pool");
	if (m->json)
		rc = mc_json_print(mc_json_pool_detail(&d));
	else
		mc_pool_print(&d);
	mc_pool_detail_free(&d);
	return rc;
}

const struct memctl_cmd mc_cmd_pools = {
        .name = "pools",
        .summary = "every pool: sizes, free runs, fragmentation, blocks",
        .usage = mc_pools_usage,
        .run = mc_pools_run,
};

const struct memctl_cmd mc_cmd_pool = {
        .name = "pool",
        .summary = "one pool in full: limits, access, quotas, size classes",
        .usage = mc_pool_usage,
        .run = mc_pool_run,
};
