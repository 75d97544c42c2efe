/*
 * main.c - memd's entry point: configuration, server, exit status.
 *
 * memd runs in the foreground until SIGTERM or SIGINT, then closes every
 * session, removes its socket file and the segments it created, and exits.
 * Before anything is logged the log format is chosen: "<N>" priority
 * prefixes when stderr is systemd's journal ($JOURNAL_STREAM), timestamps
 * otherwise.
 * Exit statuses (sysexits.h):
 *   0   clean shutdown (also after --help / --version);
 *   64  EX_USAGE: bad command line or configuration (file, env, value);
 *   69  EX_UNAVAILABLE: the service cannot start because the place is
 *       taken: another memd answers on the socket, a non-socket file sits
 *       at its path, or shm segment names with our prefix already exist;
 *   71  EX_OSERR: any other runtime failure of the system (loop, bind,
 *       /dev/shm full, out of memory, an unclean loop at exit).
 * main() owns the configuration and the server; nothing is global.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "config.h"
#include "log.h"
#include "server.h"

/* Exit status for a server_init() failure. */
static int main_init_status(int rc)
{
	switch (rc) {
	case -EADDRINUSE:
	case -EEXIST:
		return EX_UNAVAILABLE;
	case -EINVAL:
	case -ENAMETOOLONG:
		return EX_USAGE;
	default:
		return EX_OSERR;
	}
}

int main(int argc, char **argv)
{
	struct memd_config cfg = {0};
	struct memd_server *srv;
	char err[512] = "";
	int rc, status = EX_OSERR;

	log_detect_journal();
	rc = config_load(&cfg, argc, argv, err, sizeof(err));
	if (rc == CONFIG_EXIT) {
		status = 0;
		goto out_free_config;
	}
	if (rc < 0) {
		if (log_get_format() == LOG_FORMAT_JOURNAL)
			log_error("%s", err);
		else
			fprintf(stderr, "memd: %s\n", err);
		status = EX_USAGE;
		goto out_free_config;
	}
	log_set_level(cfg.log_level);
	/* The server is large (it embeds a frame-sized scratch buffer). */
	srv = malloc(sizeof(*srv));
	if (srv == NULL) {
		log_error("out of memory");
		goto out_free_config;
	}
	rc = server_init(srv, &cfg, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		status = main_init_status(rc);
		goto out_free_server;
	}
	server_set_args(srv, argc, argv);
	rc = server_run(srv);
	status = rc < 0 ? EX_OSERR : 0;
	if (server_fini(srv) < 0)
		status = EX_OSERR;

out_free_server:
	free(srv);
out_free_config:
	config_free(&cfg);
	return status;
}
