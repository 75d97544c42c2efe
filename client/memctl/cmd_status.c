/*
 * cmd_status.c - `memctl status`: the daemon at a glance.
 *
 * One STATS_STATUS request: version, pid, uptime, socket, pools, clients,
 * bytes in use, reserved and punched.  The client count excludes memctl's
 * own connection.
 */
#include "memctl.h"

#include <string.h>

static const char mc_status_usage[] =
        "Usage: memctl status [--json] [--socket PATH]\n"
        "\n"
        "Show the daemon's version, pid, uptime, socket, pools, connected clients,\n"
        "and bytes in use, reserved (segments) and punched (returned to the OS).\n";

/* JSON of a status reply. */
static json_t *mc_status_json(const struct memd_stats_status *st)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "version", json_integer(st->version));
	json_object_set_new(o, "pid", json_integer(st->pid));
	json_object_set_new(o, "uid", json_integer(st->uid));
	json_object_set_new(o, "socket", json_string(st->socket));
	json_object_set_new(o, "start_time_ns", mc_json_u64(st->start_ns));
	json_object_set_new(o, "uptime_seconds",
	                    json_real(st->start_ns != 0 && st->now_ns > st->start_ns
	                                      ? (double)(st->now_ns - st->start_ns) / 1e9
	                                      : 0));
	json_object_set_new(o, "pools", json_integer(st->pools));
	json_object_set_new(o, "clients", json_integer(st->clients > 0 ? st->clients - 1 : 0));
	json_object_set_new(o, "segments", mc_json_u64(st->segments));
	json_object_set_new(o, "blocks", mc_json_u64(st->blocks));
	json_object_set_new(o, "shared_blocks", mc_json_u64(st->shared_blocks));
	json_object_set_new(o, "names", mc_json_u64(st->names));
	json_object_set_new(o, "in_use", mc_json_u64(st->in_use_bytes));
	json_object_set_new(o, "reserved", mc_json_u64(st->reserved_bytes));
	json_object_set_new(o, "free", mc_json_u64(st->free_bytes));
	json_object_set_new(o, "resident", mc_json_u64(st->resident_bytes));
	json_object_set_new(o, "punched", mc_json_u64(st->punched_bytes));
	json_object_set_new(o, "punched_total", mc_json_u64(st->punched_total));
	json_object_set_new(o, "admin", json_boolean(st->flags & MEMD_STATUS_ADMIN));
	return o;
}

/* Human form. */
static void mc_status_print(const struct memd_stats_status *st)
{
	char a[32], b[32], c[32], d[32];

	printf("memd        version %u (protocol), pid %u, uid %u\n", st->version, st->pid,
	       st->uid);
	printf("socket      %s\n", st->socket);
	printf("started     %s (up %s)\n", mc_time(st->start_ns, a, sizeof(a)),
	       mc_duration(st->start_ns != 0 ? st->now_ns - st->start_ns : 0, b, sizeof(b)));
	printf("pools       %u (%llu segments)\n", st->pools, (unsigned long long)st->segments);
	printf("clients     %u\n", st->clients > 0 ? st->clients - 1 : 0);
	printf("blocks      %llu (%llu shared), %llu names\n", (unsigned long long)st->blocks,
	       (unsigned long long)st->shared_blocks, (unsigned long long)st->names);
	printf("in use      %s of %s reserved (%s free)\n", mc_size(st->in_use_bytes, a, sizeof(a)),
	       mc_size(st->reserved_bytes, b, sizeof(b)), mc_size(st->free_bytes, c, sizeof(c)));
	printf("memory      %s resident, %s punched (returned to the OS; %s since start)\n",
	       mc_size(st->resident_bytes, a, sizeof(a)), mc_size(st->punched_bytes, d, sizeof(d)),
	       mc_size(st->punched_total, b, sizeof(b)));
}

/* Fetch the status.  0 or -errno. */
static int mc_status_get(struct memctl *m, struct memd_stats_status *st)
{
	struct memd_stats_req req = {0};
	const void *body;
	size_t len;
	int err;

	err = mc_call(m, MEMD_OP_STATS_STATUS, &req, &body, &len);
	if (err == 0)
		memcpy(st, body, sizeof(*st));
	return err;
}

static int mc_status_run(struct memctl *m, int argc, char **argv)
{
	struct memd_stats_status st;
	int rc, rest;

	rc = mc_parse(m, &mc_cmd_status, argc, argv, NULL, NULL, NULL, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest < argc)
		return mc_usage_error(m, &mc_cmd_status, "unexpected argument '%s'", argv[rest]);
	rc = mc_connect(m);
	if (rc != 0)
		return rc;
	rc = mc_status_get(m, &st);
	if (rc < 0)
		return mc_fail(m, rc, "status");
	if (m->json)
		return mc_json_print(mc_status_json(&st));
	mc_status_print(&st);
	return MEMCTL_EX_OK;
}

const struct memctl_cmd mc_cmd_status = {
        .name = "status",
        .summary = "daemon version, pid, uptime, socket, totals",
        .usage = mc_status_usage,
        .run = mc_status_run,
};
