/*
 * cmd_blocks.c - `memctl blocks` (who holds what) and `memctl names`.
 *
 * `blocks` lists live blocks (STATS_BLOCKS, paged; --pool and --pid
 * filter in the daemon): reference, pool, size, private or shared, the
 * holders' pids and any names published for the block (joined from
 * STATS_NAMES).  A block record carries at most MEMD_STATS_HOLDERS_INLINE
 * pids; past that the count says how many more.  `names` lists every
 * published name with its block, sorted by name.
 */
#include "memctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

static const char mc_blocks_usage[] =
        "Usage: memctl blocks [--pool NAME] [--pid PID] [--json] [--socket PATH]\n"
        "\n"
        "List live blocks: reference, pool, size, private or shared, holders' pids and\n"
        "published names.  --pool keeps one pool's blocks, --pid the blocks a process\n"
        "holds.\n";

static const char mc_names_usage[] = "Usage: memctl names [--json] [--socket PATH]\n"
                                     "\n"
                                     "List every published name with its block.\n";

/* Options of `blocks`. */
struct mc_blocks_opts {
	const char *pool; /* --pool NAME */
	uint64_t pid;     /* --pid N; 0: any */
};

/* What a listing needs besides the blocks: pools and names. */
struct mc_catalog {
	struct memd_stats_pool *pools; /* every pool */
	size_t npools;                 /* entries in pools */
	struct memd_stats_name *names; /* every name */
	size_t nnames;                 /* entries in names */
};

static int mc_blocks_opt(struct memctl *m, void *ctx, int opt, const char *arg)
{
	struct mc_blocks_opts *o = ctx;

	if (opt == 'p') {
		o->pool = arg;
		return 0;
	}
	if (mc_parse_u64(arg, &o->pid) < 0 || o->pid == 0 || o->pid > INT32_MAX)
		return mc_usage_error(m, &mc_cmd_blocks, "--pid needs a process id, not '%s'", arg);
	return 0;
}

static int mc_catalog_get(struct memctl *m, struct mc_catalog *cat)
{
	struct memd_stats_req req = {0};
	int err;

	memset(cat, 0, sizeof(*cat));
	err = mc_list(m, MEMD_OP_STATS_POOLS, &req, sizeof(*cat->pools), (void **)&cat->pools,
	              &cat->npools);
	if (err == 0)
		err = mc_list(m, MEMD_OP_STATS_NAMES, &req, sizeof(*cat->names),
		              (void **)&cat->names, &cat->nnames);
	return err;
}

static void mc_catalog_free(struct mc_catalog *cat)
{
	free(cat->pools);
	free(cat->names);
}

static const char *mc_pool_name(const struct mc_catalog *cat, uint32_t id)
{
	for (size_t i = 0; i < cat->npools; i++)
		if (cat->pools[i].id == id)
			return cat->pools[i].name;
	return "?";
}

static json_t *mc_block_json(const struct mc_catalog *cat, const struct memd_stats_block *b)
{
	json_t *o = json_object(), *pids = json_array(), *names = json_array();
	uint32_t shown =
	        b->holders < MEMD_STATS_HOLDERS_INLINE ? b->holders : MEMD_STATS_HOLDERS_INLINE;

	for (uint32_t i = 0; i < shown; i++)
		json_array_append_new(pids, json_integer(b->pids[i]));
	for (size_t i = 0; i < cat->nnames; i++)
		if (cat->names[i].ref == b->ref)
			json_array_append_new(names, json_string(cat->names[i].name));
	json_object_set_new(o, "ref", mc_json_ref(b->ref));
	json_object_set_new(o, "segment", json_integer(memd_ref_seg(b->ref)));
	json_object_set_new(o, "offset", mc_json_u64(memd_ref_off(b->ref)));
	json_object_set_new(o, "pool", json_string(mc_pool_name(cat, b->pool_id)));
	json_object_set_new(o, "size", mc_json_u64(b->size));
	json_object_set_new(o, "shared", json_boolean(b->flags & MEMD_BLOCK_SHARED));
	json_object_set_new(o, "holders", json_integer(b->holders));
	json_object_set_new(o, "pids", pids);
	json_object_set_new(o, "names", names);
	return o;
}

/* "123,456" (+N more) into buf. */
static const char *mc_pids_str(const struct memd_stats_block *b, char *buf, size_t len)
{
	uint32_t shown =
	        b->holders < MEMD_STATS_HOLDERS_INLINE ? b->holders : MEMD_STATS_HOLDERS_INLINE;
	size_t at = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < shown && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%u", i ? "," : "", b->pids[i]);
	if (b->holders > shown && at < len)
		snprintf(buf + at, len - at, " +%u", b->holders - shown);
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
	return buf;
}

static void mc_blocks_table(const struct mc_catalog *cat, const struct memd_stats_block *v,
                            size_t n)
{
	static const char *const head[] = {"REF", "POOL", ">SIZE", "KIND", "HOLDERS", "NAMES"};
	struct mc_table *t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	char a[32], pids[128], names[256];

	for (size_t i = 0; i < n; i++) {
		size_t at = 0;

		names[0] = '\0';
		for (size_t k = 0; k < cat->nnames && at < sizeof(names); k++)
			if (cat->names[k].ref == v[i].ref)
				at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s",
				                       at ? "," : "", cat->names[k].name);
		mc_table_row(t, "0x%llx\t%s\t%s\t%s\t%s\t%s", (unsigned long long)v[i].ref,
		             mc_pool_name(cat, v[i].pool_id), mc_size(v[i].size, a, sizeof(a)),
		             v[i].flags & MEMD_BLOCK_SHARED ? "shared" : "private",
		             mc_pids_str(&v[i], pids, sizeof(pids)), names[0] ? names : "-");
	}
	mc_table_print(t, stdout);
}

static int mc_blocks_show(struct memctl *m, const struct mc_blocks_opts *o)
{
	struct memd_stats_req req = {.pid = (uint32_t)o->pid};
	struct memd_stats_block *v = NULL;
	struct mc_catalog cat;
	json_t *doc, *arr;
	size_t n = 0;
	int err, rc = MEMCTL_EX_OK;

	err = mc_catalog_get(m, &cat);
	for (size_t i = 0; err == 0 && o->pool != NULL && i <= cat.npools; i++) {
		if (i == cat.npools) {
			fprintf(stderr, "%s: no pool named '%s'\n", m->prog, o->pool);
			mc_catalog_free(&cat);
			return MEMCTL_EX_FAIL;
		}
		if (strcmp(cat.pools[i].name, o->pool) == 0) {
			req.pool_id = cat.pools[i].id;
			break;
		}
	}
	if (err == 0)
		err = mc_list(m, MEMD_OP_STATS_BLOCKS, &req, sizeof(*v), (void **)&v, &n);
	if (err < 0) {
		mc_catalog_free(&cat);
		return mc_fail(m, err, "blocks");
	}
	if (m->json) {
		doc = json_object();
		arr = json_array();
		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(arr, mc_block_json(&cat, &v[i]));
		json_object_set_new(doc, "blocks", arr);
		rc = mc_json_print(doc);
	} else {
		mc_blocks_table(&cat, v, n);
	}
	free(v);
	mc_catalog_free(&cat);
	return rc;
}

static int mc_blocks_run(struct memctl *m, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"pool", required_argument, NULL, 'p'},
	        {"pid", required_argument, NULL, 'P'},
	        {NULL, 0, NULL, 0},
	};
	struct mc_blocks_opts o = {0};
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_blocks, argc, argv, opts, mc_blocks_opt, &o, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_blocks, "unexpected argument '%s'", argv[rest]);
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	return mc_blocks_show(m, &o);
}

static int mc_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct memd_stats_name *)a)->name,
	              ((const struct memd_stats_name *)b)->name);
}

static int mc_names_print(struct memctl *m, struct mc_catalog *cat)
{
	static const char *const head[] = {"NAME", "REF", "POOL", ">SIZE"};
	struct mc_table *t;
	json_t *doc, *arr;
	char a[32];

	qsort(cat->names, cat->nnames, sizeof(*cat->names), mc_name_cmp);
	if (m->json) {
		doc = json_object();
		arr = json_array();
		for (size_t i = 0; arr != NULL && i < cat->nnames; i++) {
			const struct memd_stats_name *e = &cat->names[i];

			json_array_append_new(arr, json_pack("{s:s, s:o, s:s, s:o}", "name",
			                                     e->name, "ref", mc_json_ref(e->ref),
			                                     "pool", mc_pool_name(cat, e->pool_id),
			                                     "size", mc_json_u64(e->size)));
		}
		json_object_set_new(doc, "names", arr);
		return mc_json_print(doc);
	}
	t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	for (size_t i = 0; i < cat->nnames; i++) {
		const struct memd_stats_name *e = &cat->names[i];

		mc_table_row(t, "%s\t0x%llx\t%s\t%s", e->name, (unsigned long long)e->ref,
		             mc_pool_name(cat, e->pool_id), mc_size(e->size, a, sizeof(a)));
	}
	mc_table_print(t, stdout);
	return MEMCTL_EX_OK;
}

static int mc_names_run(struct memctl *m, int argc, char **argv)
{
	struct mc_catalog cat;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_names, argc, argv, NULL, NULL, NULL, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_names, "unexpected argument '%s'", argv[rest]);
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	rc = mc_catalog_get(m, &cat);
	if (rc < 0) {
		mc_catalog_free(&cat);
		return mc_fail(m, rc, "names");
	}
	rc = mc_names_print(m, &cat);
	mc_catalog_free(&cat);
	return rc;
}

const struct memctl_cmd mc_cmd_blocks = {
        .name = "blocks",
        .summary = "live blocks: pool, size, private/shared, holders, names",
        .usage = mc_blocks_usage,
        .run = mc_blocks_run,
};

const struct memctl_cmd mc_cmd_names = {
        .name = "names",
        .summary = "every published name with its block",
        .usage = mc_names_usage,
        .run = mc_names_run,
};
