/*
 * cmd_check.c - `memctl check` and `memctl trim [POOL]`.
 *
 * check: the daemon runs its integrity walker (heap_check) over every
 * pool, and checks every session's holds against the pools, while clients
 * stay connected (the daemon's loop is single-threaded, so the walk sees
 * one consistent moment).  Exit 0 when consistent; 1 with one line per
 * problem on stdout.
 *
 * trim: the daemon punches every free page run out of its segments now
 * (pool_trim) and says how many bytes went back to the OS.  It needs the
 * daemon's uid, root or the [memd] admin list: anyone else gets exit 77.
 */
#include "memctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char mc_check_usage[] =
        "Usage: memctl check [POOL] [--json] [--socket PATH]\n"
        "\n"
        "Run the daemon's integrity walker over every pool (or POOL) and check every\n"
        "client's holds, while clients stay connected.  Exit 0 when consistent, 1 with\n"
        "what is wrong.\n";

static const char mc_trim_usage[] =
        "Usage: memctl trim [POOL] [--json] [--socket PATH]\n"
        "\n"
        "Return every free page of every pool (or POOL) to the OS now, and say how\n"
        "much.  Needs memd's uid, root, or the admin list in [memd] (else exit 77).\n";

/* Pool id of the optional POOL operand (0: all).  0 or an exit code. */
static int mc_pool_operand(struct memctl *m, int argc, char **argv, int rest, uint32_t *id)
{
	struct memd_stats_pool p;
	int err;

	*id = 0;
	if (rest >= argc)
		return 0;
	err = mc_pool_by_name(m, argv[rest], &p);
	if (err == -ENOENT) {
		fprintf(stderr, "%s: no pool named '%s'\n", m->prog, argv[rest]);
		return MEMCTL_EX_FAIL;
	}
	if (err < 0)
		return mc_fail(m, err, "pools");
	*id = p.id;
	return 0;
}

static int mc_check_report(struct memctl *m, const struct memd_stats_check *c, const char *text)
{
	json_t *doc, *arr;
	char *copy, *line, *save = NULL;

	if (!m->json) {
		if (c->failed == 0)
			printf("consistent: %u pool(s) checked\n", c->pools);
		else
			printf("INCONSISTENT: %u of %u pool(s)\n%s", c->failed, c->pools, text);
		return c->failed == 0 ? MEMCTL_EX_OK : MEMCTL_EX_FAIL;
	}
	doc = json_object();
	arr = json_array();
	copy = strdup(text);
	for (line = copy ? strtok_r(copy, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(arr, json_string(line));
	free(copy);
	json_object_set_new(doc, "consistent", json_boolean(c->failed == 0));
	json_object_set_new(doc, "pools_checked", json_integer(c->pools));
	json_object_set_new(doc, "pools_failed", json_integer(c->failed));
	json_object_set_new(doc, "problems", arr);
	if (mc_json_print(doc) != MEMCTL_EX_OK)
		return MEMCTL_EX_FAIL;
	return c->failed == 0 ? MEMCTL_EX_OK : MEMCTL_EX_FAIL;
}

static int mc_check_run(struct memctl *m, int argc, char **argv)
{
	struct memd_stats_req req = {0};
	struct memd_stats_check c;
	const void *body;
	size_t len;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_check, argc, argv, NULL, NULL, NULL, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest + 1 < argc)
		return mc_usage_error(m, &mc_cmd_check, "unexpected argument '%s'", argv[rest + 1]);
	rc = mc_connect(m);
	if (rc == 0)
		rc = mc_pool_operand(m, argc, argv, rest, &req.pool_id);
	if (rc != 0)
		return rc;
	rc = mc_call(m, MEMD_OP_STATS_CHECK, &req, &body, &len);
	if (rc < 0)
		return mc_fail(m, rc, "check");
	memcpy(&c, body, sizeof(c));
	return mc_check_report(m, &c, c.text_len ? (const char *)body + sizeof(c) : "");
}

static int mc_trim_run(struct memctl *m, int argc, char **argv)
{
	struct memd_stats_req req = {0};
	struct memd_stats_trim t;
	const void *body;
	char sz[32];
	size_t len;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_trim, argc, argv, NULL, NULL, NULL, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest + 1 < argc)
		return mc_usage_error(m, &mc_cmd_trim, "unexpected argument '%s'", argv[rest + 1]);
	rc = mc_connect(m);
	if (rc == 0)
		rc = mc_pool_operand(m, argc, argv, rest, &req.pool_id);
	if (rc != 0)
		return rc;
	rc = mc_call(m, MEMD_OP_STATS_TRIM, &req, &body, &len);
	if (rc == -EPERM || rc == -EACCES) {
		fprintf(stderr,
		        "%s: trim: permission denied (needs memd's uid, root, or the [memd] "
		        "admin list)\n",
		        m->prog);
		return MEMCTL_EX_NOPERM;
	}
	if (rc < 0)
		return mc_fail(m, rc, "trim");
	memcpy(&t, body, sizeof(t));
	if (m->json)
		return mc_json_print(json_pack("{s:o, s:I}", "punched", mc_json_u64(t.punched),
		                               "pools", (json_int_t)t.pools));
	printf("trimmed %s (%llu bytes) from %u pool(s)\n", mc_size(t.punched, sz, sizeof(sz)),
	       (unsigned long long)t.punched, t.pools);
	return MEMCTL_EX_OK;
}

const struct memctl_cmd mc_cmd_check = {
        .name = "check",
        .summary = "run the heap integrity walker over every pool (exit 1 if bad)",
        .usage = mc_check_usage,
        .run = mc_check_run,
};

const struct memctl_cmd mc_cmd_trim = {
        .name = "trim",
        .summary = "return free pages to the OS now (admin only)",
        .usage = mc_trim_usage,
        .run = mc_trim_run,
};
