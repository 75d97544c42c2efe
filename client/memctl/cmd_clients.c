/*
 * cmd_clients.c - `memctl clients`: every session the daemon has.
 *
 * One row per connection (STATS_CLIENTS, paged): session id, pid, uid,
 * process name (/proc/PID/comm as the daemon read it, else the HELLO
 * name), the blocks and bytes it holds split into those in use and those
 * sitting in libmemclient's cache, and since when.  memctl's own
 * connection is left out unless --all.  "Since" is when the session
 * began; a daemon that only knows a lower bound flags it, shown with a
 * leading '~' (and "connected_since_approx": true in JSON).
 *
 * Cached and in use: the daemon only knows what a session holds; a client
 * with a cache counters page (CACHE_PAGE) says how much of that sits in
 * its caches, and the daemon reports that clamped to what is held.  In use
 * is held minus cached (never below 0, whatever a daemon sends).  JSON
 * keeps "blocks" and "bytes" as held and adds the split.
 */
#include "memctl.h"

#include <getopt.h>
#include <stdlib.h>

static const char mc_clients_usage[] =
        "Usage: memctl clients [--all] [--json] [--socket PATH]\n"
        "\n"
        "List every connected client: session, pid, uid, process name, blocks and\n"
        "bytes in use and in libmemclient's cache (together: what it holds), connected\n"
        "since.  --all includes memctl's own connection.\n";

/* Options of `clients`. */
struct mc_clients_opts {
	bool all; /* --all: include our own session */
};

static int mc_clients_opt(struct memctl *m, void *ctx, int opt, const char *arg)
{
	struct mc_clients_opts *o = ctx;

	(void)m;
	(void)arg;
	if (opt == 'a')
		o->all = true;
	return 0;
}

/* held - cached, or 0 if a daemon ever reports more cached than held. */
static uint64_t mc_in_use(uint64_t held, uint64_t cached)
{
	return cached < held ? held - cached : 0;
}

static json_t *mc_client_json(const struct memd_stats_client *c)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "session", mc_json_u64(c->session));
	json_object_set_new(o, "pid", json_integer(c->pid));
	json_object_set_new(o, "uid", json_integer(c->uid));
	json_object_set_new(o, "gid", json_integer(c->gid));
	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "comm", json_string(c->comm));
	json_object_set_new(o, "blocks", mc_json_u64(c->blocks));
	json_object_set_new(o, "bytes", mc_json_u64(c->bytes));
	json_object_set_new(o, "cached_blocks", mc_json_u64(c->cached_blocks));
	json_object_set_new(o, "cached_bytes", mc_json_u64(c->cached_bytes));
	json_object_set_new(o, "in_use_blocks",
	                    mc_json_u64(mc_in_use(c->blocks, c->cached_blocks)));
	json_object_set_new(o, "in_use_bytes", mc_json_u64(mc_in_use(c->bytes, c->cached_bytes)));
	json_object_set_new(o, "connected_since_ns", mc_json_u64(c->since_ns));
	json_object_set_new(o, "connected_since_approx",
	                    json_boolean(c->flags & MEMD_CLIENT_SINCE_APPROX));
	json_object_set_new(o, "self", json_boolean(c->flags & MEMD_CLIENT_SELF));
	return o;
}

static int mc_clients_json(const struct memd_stats_client *v, size_t n, bool all)
{
	json_t *doc = json_object(), *arr = json_array();

	if (doc == NULL || arr == NULL) {
		json_decref(doc);
		json_decref(arr);
		return mc_json_print(NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (all || !(v[i].flags & MEMD_CLIENT_SELF))
			json_array_append_new(arr, mc_client_json(&v[i]));
	json_object_set_new(doc, "clients", arr);
	return mc_json_print(doc);
}

static void mc_clients_table(const struct memd_stats_client *v, size_t n, bool all)
{
	static const char *const head[] = {">SESSION", ">PID",          ">UID",
	                                   "NAME",     ">IN USE",       ">IN USE BYTES",
	                                   ">CACHED",  ">CACHED BYTES", "SINCE"};
	struct mc_table *t = mc_table_new(sizeof(head) / sizeof(head[0]), head);
	char a[32], b[32], d[32];

	for (size_t i = 0; i < n; i++) {
		const struct memd_stats_client *c = &v[i];
		const char *name = c->comm[0] != '\0' ? c->comm : c->name[0] ? c->name : "-";

		if (!all && (c->flags & MEMD_CLIENT_SELF))
			continue;
		mc_table_row(t, "%llu\t%u\t%u\t%s%s\t%llu\t%s\t%llu\t%s\t%s%s",
		             (unsigned long long)c->session, c->pid, c->uid, name,
		             c->flags & MEMD_CLIENT_SELF ? " (memctl)" : "",
		             (unsigned long long)mc_in_use(c->blocks, c->cached_blocks),
		             mc_size(mc_in_use(c->bytes, c->cached_bytes), a, sizeof(a)),
		             (unsigned long long)c->cached_blocks,
		             mc_size(c->cached_bytes, d, sizeof(d)),
		             c->flags & MEMD_CLIENT_SINCE_APPROX ? "~" : "",
		             mc_time(c->since_ns, b, sizeof(b)));
	}
	mc_table_print(t, stdout);
}

static int mc_clients_run(struct memctl *m, int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
	struct mc_clients_opts o = {0};
	struct memd_stats_req req = {0};
	struct memd_stats_client *v;
	size_t n;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_clients, argc, argv, opts, mc_clients_opt, &o, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_clients, "unexpected argument '%s'", argv[rest]);
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	rc = mc_list(m, MEMD_OP_STATS_CLIENTS, &req, sizeof(*v), (void **)&v, &n);
	if (rc < 0)
		return mc_fail(m, rc, "clients");
	if (m->json)
		rc = mc_clients_json(v, n, o.all);
	else
		mc_clients_table(v, n, o.all);
	free(v);
	return rc;
}

const struct memctl_cmd mc_cmd_clients = {
        .name = "clients",
        .summary = "every connected client: pid, uid, name, blocks in use and cached",
        .usage = mc_clients_usage,
        .run = mc_clients_run,
};
