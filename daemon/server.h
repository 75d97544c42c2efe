/*
 * server.h - the daemon: one libuv loop, the listening socket (bound here
 * or inherited from systemd), the pools, every connection, readiness and
 * watchdog notifications, and orderly shutdown on SIGTERM/SIGINT.
 *
 * There are no globals: everything lives in one struct memd_server, which
 * every handle reaches through its data pointer (connections through
 * conn->srv).
 */
#ifndef MEMD_SERVER_H
#define MEMD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "busy_poll.h"
#include "config.h"
#include "pool.h"
#include "proto.h"
#include "sdnotify.h"

struct conn;

struct memd_server {
	uv_loop_t loop;                /* the daemon's only event loop */
	const struct memd_config *cfg; /* configuration in force (main's or cfg_owned) */
	struct memd_config *cfg_owned; /* the last reloaded configuration, or NULL */
	int argc;                      /* main's argc, for reloads (server_set_args) */
	char **argv;                   /* main's argv, or NULL: reload cfg->config_path */
	struct pool_set pools;         /* every pool and its segments */
	uv_pipe_t listener;            /* the listening Unix socket */
	uv_signal_t sigterm;           /* SIGTERM: shut down */
	uv_signal_t sigint;            /* SIGINT: shut down */
	uv_signal_t sighup;            /* SIGHUP: reload the configuration */
	uv_timer_t watchdog;           /* sends WATCHDOG=1 at half WATCHDOG_USEC */
	struct busy_poll busy;         /* polling on after requests (busy_poll.h) */
	uv_check_t trims;              /* after each round of I/O: drains the request
	                                  rings, then runs due trim passes */
	uv_prepare_t sleep_prep;       /* before each poll: the rings' sleeping flags
	                                  (ring_before_sleep) */
	struct sdnotify notify;        /* the service manager's notify socket */
	int prefix_lock_fd;            /* holds /dev/shm/<prefix>.lock; -1 if none */
	bool activated;                /* listener inherited (LISTEN_FDS); never unlink it */
	char listen_path[108];         /* path actually listened on, for messages */
	struct conn *conns;            /* open connections (doubly linked) */
	size_t conn_count;             /* entries in conns */
	struct conn *rings;            /* connections with a request ring (ring.h links) */
	bool rings_asleep;             /* sleeping = 1 was stored in every ring */
	uint64_t next_session_id;      /* id of the next session, from 1 */
	pid_t pid;                     /* the daemon's pid (HELLO replies) */
	dev_t sock_dev;                /* device of the socket file we bound */
	ino_t sock_ino;                /* inode of the socket file we bound */
	bool stopping;                 /* shutdown began: accept nothing more */
	bool sched_lowered;            /* memd moved itself to SCHED_BATCH (sched_policy.h) */
	/* Reply bodies of batch requests are built here (one request at a
	 * time on the loop thread); 8-byte aligned. */
	uint64_t scratch[MEMD_FRAME_MAX / sizeof(uint64_t)];
};

/* Set srv up from cfg (which must outlive srv): loop, the shm prefix's
 * instance lock (-EEXIST if a live daemon holds it) and removal of the
 * segments a dead daemon with the prefix left behind, a check that
 * /dev/shm can hold every pool's first segment (-ENOSPC), pools (first
 * segment of each created), signal handlers, SIGPIPE ignored, and the
 * listening socket: the one systemd passed (LISTEN_PID is ours and
 * LISTEN_FDS is 1: fd 3 must be a listening AF_UNIX stream socket, else
 * -EINVAL), otherwise a socket bound at cfg->socket_path with mode
 * cfg->socket_mode.  A stale socket file is removed only when connecting to
 * it is refused; if another daemon answers there, -EADDRINUSE.  0, or
 * -errno with a one-line message in err (nothing is left behind: no socket
 * file, no segment, no lock). */
int server_init(struct memd_server *srv, const struct memd_config *cfg, char *err, size_t errlen);

/* Remember the command line, so a reload (SIGHUP) re-reads the
 * configuration exactly the way it was first read: config_load() with the
 * same flags, environment and file.  argv must outlive srv.  Without it a
 * reload reads cfg->config_path alone. */
void server_set_args(struct memd_server *srv, int argc, char **argv);

/* Reload the configuration (what SIGHUP does): read it again; on an error
 * log it and change nothing.  Otherwise pools that are new in the file are
 * created, existing pools take the new limits, quotas and access lists
 * (but a max_size below the bytes a pool's segments hold is refused with a
 * log line and the old limit stays), [memd] limits, admin list, log
 * level, scheduling and busy_poll_us change, and settings only a restart can change (socket,
 * shm_prefix) are logged and kept.  Pools missing from the file stay.
 * Sessions, blocks and names are untouched.  Sends RELOADING=1, then
 * READY=1 with a new STATUS=.  0, or the -errno of a failed read. */
int server_reload(struct memd_server *srv);

/* Tell the service manager READY=1 and a STATUS= summary, start the
 * watchdog pings if WATCHDOG_USEC asks for them, and run the loop until
 * shutdown (server_stop, SIGTERM or SIGINT) has closed every handle.  0,
 * or a negative libuv error. */
int server_run(struct memd_server *srv);

/* Begin an orderly shutdown: send STOPPING=1, stop accepting, remove the
 * socket file (unless it was inherited from systemd), close every
 * connection (their sessions release their blocks) and the watchdog timer.
 * The signal handles stay installed until server_fini(), unreferenced, so
 * repeated signals are harmless.  server_run() returns once all of them
 * are closed.  Idempotent. */
void server_stop(struct memd_server *srv);

/* After server_run(): destroy every pool (unlinking all segments), close
 * the signal handles, release the shm prefix lock, close the notify socket
 * and the loop.  0, or -EBUSY
 * if the loop still had handles (a bug, logged). */
int server_fini(struct memd_server *srv);

/* Link a new connection into srv->conns (conn.c). */
void server_conn_link(struct memd_server *srv, struct conn *c);

/* Unlink a connection from srv->conns before it is freed (conn.c). */
void server_conn_unlink(struct memd_server *srv, struct conn *c);

#endif /* MEMD_SERVER_H */
