/*
 * server.c - the daemon's skeleton: loop, listener, signals, shutdown.
 *
 * One struct memd_server holds everything the daemon has; there are no
 * globals.  Handles reach it through their data pointer.  The server owns
 * the loop, the pool set, the listening pipe, the two signal handles and
 * the list of connections (each connection owns itself and unlinks itself
 * in its close callback).
 *
 * Startup, in order: ignore SIGPIPE (libuv writes with write(2); a peer
 * that vanished must give EPIPE, not kill the daemon), loop, pools (each
 * pool's first segment is created now, so a full /dev/shm or a clashing
 * prefix fails at startup), signal handles, then the socket.  A socket
 * file already at the path is probed with connect(): if a daemon answers,
 * we refuse to start (-EADDRINUSE); if the connection is refused the file
 * is stale and removed; anything that is not a socket is never removed.
 * After bind the file gets cfg->socket_mode, and its device and inode are
 * remembered so shutdown removes our socket and never a successor's.
 *
 * Shutdown (SIGTERM, SIGINT or server_stop): close the listener and remove
 * the socket file, close every connection now (each close callback
 * releases its session's blocks back to the pools), close the signal
 * handles.  uv_run() then returns because no handle is left, and
 * server_fini() destroys the pools, which unlinks every segment, and
 * closes the loop.  A failure halfway through server_init() undoes what
 * was done, in reverse order, through the labels at its end.
 */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "debug.h"
#include "log.h"
#include "sock.h"

#define SERVER_BACKLOG 1024 /* pending connections the kernel may queue */

void server_conn_link(struct memd_server *srv, struct conn *c)
{
	c->prev = NULL;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->conn_count++;
}

void server_conn_unlink(struct memd_server *srv, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	memd_assert(srv->conn_count > 0);
	srv->conn_count--;
}

static void server_connection_cb(uv_stream_t *listener, int status)
{
	struct memd_server *srv = listener->data;
	int err;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	err = conn_accept(srv);
	if (err < 0)
		log_warn("accept: could not set up a connection: %s", strerror(-err));
}

/* Remove the socket file if it is still the one we bound. */
static void server_unlink_socket(struct memd_server *srv)
{
	const char *path = srv->cfg->socket_path;
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (st.st_dev != srv->sock_dev || st.st_ino != srv->sock_ino) {
		log_warn("%s was replaced by another file; leaving it", path);
		return;
	}
	if (unlink(path) < 0)
		log_warn("unlink %s: %s", path, strerror(errno));
}

/* Deal with whatever already sits at path.  0 (nothing there, or a stale
 * socket that was removed), -EADDRINUSE (a daemon answers), -EEXIST (not
 * a socket), or -errno. */
static int server_clear_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not touching it", path);
		return -EEXIST;
	}
	fd = sock_connect_unix(path);
	if (fd >= 0) {
		close(fd);
		snprintf(err, errlen, "another memd is already serving %s", path);
		return -EADDRINUSE;
	}
	if (fd != -ECONNREFUSED) {
		snprintf(err, errlen, "%s: cannot probe existing socket: %s", path, strerror(-fd));
		return fd;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove stale socket: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* libuv reports a missing directory as EACCES (for Windows' sake); say
 * ENOENT when the socket's directory really is missing. */
static int server_bind_error(const char *path, int rc)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (rc != UV_EACCES || slash == NULL || slash == path)
		return rc;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) < 0 && errno == ENOENT)
		return -ENOENT;
	return rc;
}

/* Bind, chmod and listen on cfg->socket_path.  The listener handle must
 * be initialized.  0 or -errno (the socket file is removed on failure). */
static int server_listen(struct memd_server *srv, char *err, size_t errlen)
{
	const char *path = srv->cfg->socket_path;
	struct sockaddr_un sa;
	socklen_t sa_len;
	struct stat st;
	mode_t old_mask;
	int rc;

	rc = sock_unix_addr(path, &sa, &sa_len);
	if (rc < 0) {
		snprintf(err, errlen, "socket path '%s': %s", path, strerror(-rc));
		return rc;
	}
	rc = server_clear_stale(path, err, errlen);
	if (rc < 0)
		return rc;
	/* Bind under umask 0177 so the socket is never wider than 0600
	 * before the chmod below (startup is single-threaded). */
	old_mask = umask(0177);
	rc = uv_pipe_bind(&srv->listener, path);
	umask(old_mask);
	if (rc < 0) {
		rc = server_bind_error(path, rc);
		snprintf(err, errlen, "bind %s: %s", path, strerror(-rc));
		return rc;
	}
	if (stat(path, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "stat %s: %s", path, strerror(errno));
		goto fail_unlink_socket;
	}
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	if (chmod(path, (mode_t)srv->cfg->socket_mode) < 0) {
		rc = -errno;
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		goto fail_unlink_socket;
	}
	rc = uv_listen((uv_stream_t *)&srv->listener, SERVER_BACKLOG, server_connection_cb);
	if (rc < 0) {
		snprintf(err, errlen, "listen %s: %s", path, uv_strerror(rc));
		goto fail_unlink_socket;
	}
	return 0;

fail_unlink_socket:
	unlink(path);
	return rc;
}

static void server_signal_cb(uv_signal_t *h, int signum)
{
	struct memd_server *srv = h->data;

	log_info("received %s", strsignal(signum));
	server_stop(srv);
}

static int server_signal_start(struct memd_server *srv, uv_signal_t *h, int signum)
{
	int rc = uv_signal_init(&srv->loop, h);

	if (rc < 0)
		return rc;
	h->data = srv;
	rc = uv_signal_start(h, server_signal_cb, signum);
	if (rc < 0)
		uv_close((uv_handle_t *)h, NULL);
	return rc;
}

int server_init(struct memd_server *srv, const struct memd_config *cfg, char *err, size_t errlen)
{
	int rc;

	memd_assert(errlen > 0);
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->pid = getpid();
	srv->next_session_id = 1;
	err[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
	rc = uv_loop_init(&srv->loop);
	if (rc < 0) {
		snprintf(err, errlen, "event loop: %s", uv_strerror(rc));
		return rc;
	}
	srv->loop.data = srv;
	rc = pool_set_create(&srv->pools, cfg, err, errlen);
	if (rc < 0)
		goto fail_close_loop;
	rc = server_signal_start(srv, &srv->sigterm, SIGTERM);
	if (rc < 0)
		goto fail_destroy_pools;
	rc = server_signal_start(srv, &srv->sigint, SIGINT);
	if (rc < 0)
		goto fail_close_sigterm;
	rc = uv_pipe_init(&srv->loop, &srv->listener, 0);
	if (rc < 0)
		goto fail_close_sigint;
	srv->listener.data = srv;
	rc = server_listen(srv, err, errlen);
	if (rc < 0)
		goto fail_close_listener;
	log_info("listening on %s (mode %04o), %zu pool(s), shm prefix '%s'", cfg->socket_path,
	         (unsigned)cfg->socket_mode, srv->pools.count, cfg->shm_prefix);
	return 0;

fail_close_listener:
	uv_close((uv_handle_t *)&srv->listener, NULL);
fail_close_sigint:
	uv_close((uv_handle_t *)&srv->sigint, NULL);
fail_close_sigterm:
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	uv_run(&srv->loop, UV_RUN_DEFAULT); /* finish the closes */
fail_destroy_pools:
	pool_set_destroy(&srv->pools);
fail_close_loop:
	uv_loop_close(&srv->loop);
	if (err[0] == '\0')
		snprintf(err, errlen, "startup failed: %s", strerror(-rc));
	return rc;
}

int server_run(struct memd_server *srv)
{
	int rc = uv_run(&srv->loop, UV_RUN_DEFAULT);

	return rc < 0 ? rc : 0;
}

void server_stop(struct memd_server *srv)
{
	struct conn *c, *next;

	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("shutting down: closing %zu session(s)", srv->conn_count);
	uv_close((uv_handle_t *)&srv->listener, NULL);
	server_unlink_socket(srv);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next; /* conn_close frees nothing synchronously */
		conn_close(c);
	}
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	uv_close((uv_handle_t *)&srv->sigint, NULL);
}

static void server_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	log_error("handle still open at exit: %s%s", uv_handle_type_name(uv_handle_get_type(h)),
	          uv_is_closing(h) ? " (closing)" : "");
}

int server_fini(struct memd_server *srv)
{
	int rc;

	memd_assert(srv->conns == NULL);
	pool_set_destroy(&srv->pools);
	rc = uv_loop_close(&srv->loop);
	if (rc < 0) {
		uv_walk(&srv->loop, server_walk_cb, NULL);
		return rc;
	}
	log_info("stopped cleanly");
	return 0;
}
