/*
 * server.h - the daemon: one libuv loop, the listening socket, the pools,
 * every connection, and orderly shutdown on SIGTERM/SIGINT.
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

#include "config.h"
#include "pool.h"
#include "proto.h"

struct conn;

struct memd_server {
	uv_loop_t loop;                /* the daemon's only event loop */
	const struct memd_config *cfg; /* configuration (borrowed from main) */
	struct pool_set pools;         /* every pool and its segments */
	uv_pipe_t listener;            /* the listening Unix socket */
	uv_signal_t sigterm;           /* SIGTERM: shut down */
	uv_signal_t sigint;            /* SIGINT: shut down */
	struct conn *conns;            /* open connections (doubly linked) */
	size_t conn_count;             /* entries in conns */
	uint64_t next_session_id;      /* id of the next session, from 1 */
	pid_t pid;                     /* the daemon's pid (HELLO replies) */
	dev_t sock_dev;                /* device of the socket file we bound */
	ino_t sock_ino;                /* inode of the socket file we bound */
	bool stopping;                 /* shutdown began: accept nothing more */
	/* Reply bodies of batch requests are built here (one request at a
	 * time on the loop thread); 8-byte aligned. */
	uint64_t scratch[MEMD_FRAME_MAX / sizeof(uint64_t)];
};

/* Set srv up from cfg (which must outlive srv): loop, pools (first segment
 * of each created), signal handlers, SIGPIPE ignored, and the listening
 * socket at cfg->socket_path with mode cfg->socket_mode.  A stale socket
 * file is removed only when connecting to it is refused; if another daemon
 * answers there, -EADDRINUSE.  0, or -errno with a one-line message in err
 * (nothing is left behind: no socket file, no segment). */
int server_init(struct memd_server *srv, const struct memd_config *cfg, char *err, size_t errlen);

/* Run the loop until shutdown (server_stop, SIGTERM or SIGINT) has closed
 * every handle.  0, or a negative libuv error. */
int server_run(struct memd_server *srv);

/* Begin an orderly shutdown: stop accepting, remove the socket file, close
 * every connection (their sessions release their blocks) and the signal
 * handles.  server_run() returns once all of them are closed.
 * Idempotent. */
void server_stop(struct memd_server *srv);

/* After server_run(): destroy every pool (unlinking all segments) and
 * close the loop.  0, or -EBUSY if the loop still had handles (a bug,
 * logged). */
int server_fini(struct memd_server *srv);

/* Link a new connection into srv->conns (conn.c). */
void server_conn_link(struct memd_server *srv, struct conn *c);

/* Unlink a connection from srv->conns before it is freed (conn.c). */
void server_conn_unlink(struct memd_server *srv, struct conn *c);

#endif /* MEMD_SERVER_H */
