/*
 * server_reload.c - SIGHUP: read the configuration again and apply what
 * may change while memd runs (server.h, server_reload).
 *
 * The file is read exactly as at start (config_load with main's command
 * line and environment, server_set_args).  Settings only a restart can
 * change (socket, shm_prefix) are compared and, if different, logged and
 * kept.  Pools new in the file are created; existing pools take their new
 * limits, quotas and access lists, except a max_size below the bytes a
 * pool's segments already hold, which is refused with a log line (the old
 * limit stays); pools missing from the file stay.  [memd] limits, the
 * admin list, the log level, the scheduling policy and busy_poll_us take
 * effect at once.  Sessions, blocks and names are untouched.  The service
 * manager hears RELOADING=1 first and READY=1 with a new STATUS= after,
 * also when the reload failed (nothing changed then).
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "busy_poll.h"
#include "debug.h"
#include "log.h"
#include "sched_policy.h"

void server_set_args(struct memd_server *srv, int argc, char **argv)
{
	srv->argc = argc;
	srv->argv = argv;
}

/* Read the configuration again, the way main() first did. */
static int server_reload_read(struct memd_server *srv, struct memd_config *nc, char *err,
                              size_t errlen)
{
	int rc;

	if (srv->argv == NULL)
		return config_load_file(nc, srv->cfg->config_path, err, errlen);
	rc = config_load(nc, srv->argc, srv->argv, err, errlen);
	if (rc == CONFIG_EXIT) {
		config_free(nc);
		snprintf(err, errlen, "the command line asks for no daemon");
		return -EINVAL;
	}
	return rc;
}

/* [memd] settings only a restart can change: keep the running ones in nc
 * (logged).  A changed socket_mode is applied to a socket we bound.  0 or
 * -ENOMEM. */
static int server_reload_fixed(struct memd_server *srv, struct memd_config *nc)
{
	const struct memd_config *oc = srv->cfg;

	if (strcmp(nc->socket_path, oc->socket_path) != 0) {
		char *keep = strdup(oc->socket_path);
		if (keep == NULL)
			return -ENOMEM;
		log_warn("reload: socket %s -> %s needs a restart; still serving %s",
		         oc->socket_path, nc->socket_path, srv->listen_path);
		free(nc->socket_path);
		nc->socket_path = keep;
	}
	if (strcmp(nc->shm_prefix, oc->shm_prefix) != 0) {
		log_warn("reload: shm_prefix '%s' -> '%s' needs a restart; keeping '%s'",
		         oc->shm_prefix, nc->shm_prefix, oc->shm_prefix);
		memcpy(nc->shm_prefix, oc->shm_prefix, sizeof(nc->shm_prefix));
	}
	if (nc->socket_mode == oc->socket_mode)
		return 0;
	if (srv->activated) {
		log_warn("reload: systemd owns the socket (SocketMode=); socket_mode ignored");
		nc->socket_mode = oc->socket_mode;
	} else if (chmod(oc->socket_path, (mode_t)nc->socket_mode) < 0) {
		log_warn("reload: chmod %s: %s; keeping mode %04o", oc->socket_path,
		         strerror(errno), (unsigned)oc->socket_mode);
		nc->socket_mode = oc->socket_mode;
	} else {
		log_info("reload: socket mode %04o -> %04o", (unsigned)oc->socket_mode,
		         (unsigned)nc->socket_mode);
	}
	return 0;
}

static bool access_list_same(const struct access_list *a, const struct access_list *b)
{
	return a->set == b->set && a->count == b->count &&
	       memcmp(a->e, b->e, a->count * sizeof(a->e[0])) == 0;
}

/* Apply pc (from the new file; fixed up in place to what was applied) to
 * the live pool p.  max_size may not fall below the bytes p's segments
 * hold: then the old limit (and segment size) stay, and that is logged. */
static void server_reload_pool(struct pool *p, struct memd_pool_config *pc)
{
	const struct memd_pool_config *old = &p->cfg;

	if (pc->max_size < p->reserved) {
		log_warn("reload: pool %s: max_size %" PRIu64 " is below the %" PRIu64
		         " bytes the pool has in use; keeping max_size %" PRIu64,
		         old->name, pc->max_size, p->reserved, old->max_size);
		pc->max_size = old->max_size;
		if (pc->segment_size > pc->max_size)
			pc->segment_size = old->segment_size;
	}
	if (pc->max_size != old->max_size || pc->segment_size != old->segment_size ||
	    pc->trim_threshold != old->trim_threshold || pc->client_quota != old->client_quota ||
	    pc->uid_quota != old->uid_quota || !access_list_same(&pc->read, &old->read) ||
	    !access_list_same(&pc->write, &old->write))
		log_info("reload: pool %s: max_size %" PRIu64 ", segment_size %" PRIu64
		         ", trim_threshold %" PRIu64 ", client_quota %" PRIu64
		         ", uid_quota %" PRIu64 ", %u read / %u write entries",
		         old->name, pc->max_size, pc->segment_size, pc->trim_threshold,
		         pc->client_quota, pc->uid_quota, pc->read.count, pc->write.count);
	p->cfg = *pc;
}

/* Create the pools new in nc; a pool that cannot be created is logged and
 * dropped from nc, so nc lists what runs.  Pools missing from nc stay. */
static void server_reload_pools(struct memd_server *srv, struct memd_config *nc)
{
	char err[256];
	size_t i = 0;

	while (i < nc->pool_count) {
		struct memd_pool_config *pc = &nc->pools[i];
		struct pool *p = pool_set_find(&srv->pools, pc->name);

		if (p != NULL) {
			server_reload_pool(p, pc);
		} else if (pool_set_add(&srv->pools, pc, err, sizeof(err)) == 0) {
			log_info("reload: pool %s added (%" PRIu64 " of up to %" PRIu64 " bytes)",
			         pc->name, pc->segment_size, pc->max_size);
		} else {
			log_error("reload: %s; pool %s not added", err, pc->name);
			memmove(pc, pc + 1, (nc->pool_count - i - 1) * sizeof(*pc));
			nc->pool_count--;
			continue;
		}
		i++;
	}
	for (i = 0; i < srv->pools.count; i++)
		if (config_pool_find(nc, srv->pools.pools[i].cfg.name) == NULL)
			log_warn("reload: pool %s is no longer in the configuration; it stays, "
			         "unchanged, until memd restarts",
			         srv->pools.pools[i].cfg.name);
}

int server_reload(struct memd_server *srv)
{
	struct memd_config *nc;
	struct timespec now;
	char err[512] = "";
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &now);
	sdnotify_sendf(&srv->notify,
	               "RELOADING=1\nMONOTONIC_USEC=%" PRIu64
	               "\nSTATUS=Reloading the configuration",
	               (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u);
	nc = calloc(1, sizeof(*nc));
	rc = nc == NULL ? -ENOMEM : server_reload_read(srv, nc, err, sizeof(err));
	if (rc == 0)
		rc = server_reload_fixed(srv, nc);
	if (rc < 0) {
		log_error("reload: %s; keeping the running configuration",
		          err[0] != '\0' ? err : strerror(-rc));
		goto out_ready;
	}
	server_reload_pools(srv, nc);
	log_set_level(nc->log_level);
	sched_policy_apply(nc->scheduling, &srv->sched_lowered);
	busy_poll_set(&srv->busy, nc->busy_poll_us);
	srv->pools.names.max = nc->max_names;
	srv->cfg = nc; /* max_clients and admin are read from srv->cfg */
	if (srv->cfg_owned != NULL) {
		config_free(srv->cfg_owned);
		free(srv->cfg_owned);
	}
	srv->cfg_owned = nc;
	nc = NULL;
	log_info("reload: done: %zu pool(s)%s%s", srv->pools.count,
	         srv->cfg->config_path != NULL ? " from " : "",
	         srv->cfg->config_path != NULL ? srv->cfg->config_path : "");

out_ready:
	if (nc != NULL) {
		config_free(nc);
		free(nc);
	}
	sdnotify_sendf(&srv->notify, "READY=1\nSTATUS=Serving %zu pool(s) on %s", srv->pools.count,
	               srv->listen_path);
	return rc;
}
