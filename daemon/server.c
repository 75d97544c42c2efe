/*
 * server.c - the daemon's skeleton: loop, listener, signals, shutdown.
 *
 * One struct memd_server holds everything the daemon has; there are no
 * globals.  Handles reach it through their data pointer.  The server owns
 * the loop, the pool set, the listening pipe, the signal handles, the
 * watchdog timer, the busy-poll idle handle, the check and prepare
 * handles around each poll, the notify socket, the shm prefix lock, the
 * list of connections and the list of those with a request ring (each
 * connection owns itself and unlinks itself from both in its close
 * callback).
 *
 * Around each poll: a check handle runs after every round of I/O: it
 * drains the request rings (ring.c: frames clients wrote into shared
 * memory) and then the pools' deferred trim passes, once the replies of
 * that round are written.  A prepare handle runs just before libuv
 * computes the poll's timeout: when the loop may block (no busy-poll
 * window open) it tells the rings so and takes a last look at them
 * (ring_before_sleep).  Both are unreferenced: neither keeps the loop
 * alive.
 *
 * Startup, in order: ignore SIGPIPE (libuv writes with write(2); a peer
 * that vanished must give EPIPE, not kill the daemon), the scheduling
 * policy (SCHED_BATCH unless scheduling = normal: sched_policy.c; a
 * reload applies the key again, like log_level), loop, the notify
 * socket ($NOTIFY_SOCKET; a bad value is logged and ignored), the shm
 * prefix (take its instance lock, so a live daemon with the same prefix
 * makes us refuse, then remove the segments a dead one left: shm.c), a
 * statvfs of /dev/shm against the sum of the pools' first segments (so a
 * too-small /dev/shm is one clear sentence, not an ENOSPC from the Nth
 * pool), pools (each pool's first segment is created now), signal
 * handles, the watchdog timer, the busy-poll window (busy_poll.c; a
 * reload applies busy_poll_us again), the check and prepare handles, then
 * the socket.
 *
 * The socket: under systemd socket activation ($LISTEN_PID is our pid,
 * $LISTEN_FDS is 1) fd 3 is the listening socket; it is checked (a
 * listening AF_UNIX SOCK_STREAM socket, else we refuse: serving a wrong fd
 * would be worse), marked close-on-exec, and served through uv_pipe_open
 * as a non-IPC pipe.  The LISTEN_* variables are then unset, as
 * sd_listen_fds(1) does.  We did not create that socket file, so we never
 * unlink it.  Otherwise a socket file already at cfg->socket_path is
 * probed with connect(): if a daemon answers, we refuse to start
 * (-EADDRINUSE); if the connection is refused the file is stale and
 * removed; anything that is not a socket is never removed.  After bind the
 * file gets cfg->socket_mode, and its device and inode are remembered so
 * shutdown removes our socket and never a successor's.
 *
 * Readiness: server_run() sends READY=1 with a STATUS= line just before
 * entering the loop (the socket is listening, so connections queue in the
 * backlog from now on), and starts the watchdog timer at half of
 * $WATCHDOG_USEC when the manager asked for pings.
 *
 * Shutdown (SIGTERM, SIGINT or server_stop): send STOPPING=1, close the
 * listener and remove the socket file, close every connection now (each
 * close callback releases its session's blocks back to the pools), close
 * the timer and the idle, check and prepare handles, and unreference the
 * signal handles (they stay installed until server_fini, so a second
 * SIGTERM during shutdown is not fatal).  uv_run() then returns because
 * no referenced handle is left, and server_fini() destroys the pools,
 * which unlinks every segment, closes the signal handles, releases the
 * prefix lock and closes the loop.  A failure halfway through
 * server_init() undoes what was done, in reverse order, through the
 * labels at its end.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "debug.h"
#include "log.h"
#include "ring.h"
#include "sched_policy.h"
#include "shm.h"
#include "sock.h"

#define SERVER_BACKLOG   1024 /* pending connections the kernel may queue */
#define SD_LISTEN_FD     3    /* first fd passed by socket activation */
#define SERVER_MAX_SEGID (CONFIG_POOLS_MAX * POOL_SEGS_PER_POOL) /* highest seg id */

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

	if (srv->activated)
		return; /* systemd's socket: not ours to remove */
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

/* Parse a decimal environment variable into *out.  0, or -EINVAL. */
static int env_long(const char *name, long *out)
{
	const char *v = getenv(name);
	char *end;

	if (v == NULL)
		return -ENOENT;
	errno = 0;
	*out = strtol(v, &end, 10);
	return (errno != 0 || end == v || *end != '\0') ? -EINVAL : 0;
}

/* Is fd a listening AF_UNIX SOCK_STREAM socket?  0 or -EINVAL with err. */
static int server_check_inherited(int fd, char *err, size_t errlen)
{
	int domain = 0, type = 0, listening = 0;
	socklen_t dlen = sizeof(domain), tlen = sizeof(type), llen = sizeof(listening);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "socket activation: fd %d is not a socket", fd);
		return -EINVAL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0 || domain != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) < 0 || !listening) {
		snprintf(err, errlen,
		         "socket activation: fd %d is not a listening AF_UNIX stream socket "
		         "(use ListenStream= with a path)",
		         fd);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "socket activation: fd %d: %s", fd, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Was a socket passed to us by the service manager?  1 (fd 3 checked and
 * usable; LISTEN_* unset), 0 (no activation for this process), or -errno
 * with err. */
static int server_activation(char *err, size_t errlen)
{
	long pid, fds;
	int rc;

	if (env_long("LISTEN_PID", &pid) < 0 || pid != (long)getpid())
		return 0;
	rc = env_long("LISTEN_FDS", &fds);
	if (rc < 0 || fds < 0) {
		snprintf(err, errlen, "socket activation: bad $LISTEN_FDS");
		return -EINVAL;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (fds == 0)
		return 0;
	if (fds != 1) {
		snprintf(err, errlen,
		         "socket activation: memd serves one socket, got LISTEN_FDS=%ld", fds);
		return -EINVAL;
	}
	rc = server_check_inherited(SD_LISTEN_FD, err, errlen);
	return rc < 0 ? rc : 1;
}

/* Serve the inherited socket fd 3 on the (initialized) listener. */
static int server_adopt(struct memd_server *srv, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int rc;

	rc = uv_pipe_open(&srv->listener, SD_LISTEN_FD);
	if (rc < 0) {
		snprintf(err, errlen, "socket activation: %s", uv_strerror(rc));
		return rc;
	}
	srv->activated = true;
	memset(&sa, 0, sizeof(sa));
	if (getsockname(SD_LISTEN_FD, (struct sockaddr *)&sa, &len) == 0 && sa.sun_path[0] != '\0')
		snprintf(srv->listen_path, sizeof(srv->listen_path), "%.*s",
		         (int)sizeof(sa.sun_path), sa.sun_path);
	else
		snprintf(srv->listen_path, sizeof(srv->listen_path), "fd %d", SD_LISTEN_FD);
	rc = uv_listen((uv_stream_t *)&srv->listener, SERVER_BACKLOG, server_connection_cb);
	if (rc < 0) {
		snprintf(err, errlen, "socket activation: listen: %s", uv_strerror(rc));
		return rc;
	}
	return 0;
}

/* The inherited socket if there is one, else bind cfg->socket_path. */
static int server_open_listener(struct memd_server *srv, char *err, size_t errlen)
{
	int rc = server_activation(err, errlen);

	if (rc < 0)
		return rc;
	if (rc == 1)
		return server_adopt(srv, err, errlen);
	snprintf(srv->listen_path, sizeof(srv->listen_path), "%s", srv->cfg->socket_path);
	return server_listen(srv, err, errlen);
}

/* Take the shm prefix's instance lock and remove what a dead daemon with
 * the same prefix left in /dev/shm.  0, or -EEXIST / -errno with err. */
static int server_claim_prefix(struct memd_server *srv, char *err, size_t errlen)
{
	const char *prefix = srv->cfg->shm_prefix;
	int rc = shm_prefix_lock(prefix, &srv->prefix_lock_fd);

	if (rc == -EBUSY) {
		snprintf(err, errlen,
		         "another memd is running with shm prefix '%s' (it holds %s/%s.lock); "
		         "give this one another shm_prefix",
		         prefix, SHM_DIR, prefix);
		return -EEXIST;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot lock %s/%s.lock: %s", SHM_DIR, prefix, strerror(-rc));
		return rc;
	}
	rc = shm_remove_stale(prefix, SERVER_MAX_SEGID);
	if (rc > 0)
		log_info("removed %d stale segment(s) with prefix '%s' from %s", rc, prefix,
		         SHM_DIR);
	else if (rc < 0)
		log_warn("cannot look for stale segments in %s: %s", SHM_DIR, strerror(-rc));
	return 0;
}

/* Can /dev/shm hold every pool's first segment?  0, or -ENOSPC with err. */
static int server_check_room(struct memd_server *srv, char *err, size_t errlen)
{
	const struct memd_config *cfg = srv->cfg;
	uint64_t need = 0, avail;
	const char *big = NULL;
	uint64_t big_size = 0;

	for (size_t i = 0; i < cfg->pool_count; i++) {
		need += cfg->pools[i].segment_size;
		if (cfg->pools[i].segment_size > big_size) {
			big_size = cfg->pools[i].segment_size;
			big = cfg->pools[i].name;
		}
	}
	if (shm_free_bytes(&avail) < 0 || need <= avail)
		return 0; /* unknown: segment creation reports ENOSPC itself */
	snprintf(err, errlen,
	         "%s is too small: the first segments of the %zu pool(s) need %" PRIu64
	         " KiB but only %" PRIu64 " KiB are free (largest: pool %s, %" PRIu64
	         " KiB); enlarge %s or lower segment_size",
	         SHM_DIR, cfg->pool_count, need >> 10, avail >> 10, big, big_size >> 10, SHM_DIR);
	return -ENOSPC;
}

static void server_watchdog_cb(uv_timer_t *t)
{
	struct memd_server *srv = t->data;
	int rc = sdnotify_send(&srv->notify, "WATCHDOG=1");

	if (rc < 0)
		log_warn("watchdog notification: %s", strerror(-rc));
}

/* READY=1 with a status line, and the watchdog timer if one is wanted. */
static void server_notify_ready(struct memd_server *srv)
{
	uint64_t usec = sdnotify_watchdog_usec(&srv->notify), ms;
	int rc;

	rc = sdnotify_sendf(&srv->notify, "READY=1\nSTATUS=Serving %zu pool(s) on %s",
	                    srv->pools.count, srv->listen_path);
	if (rc < 0)
		log_warn("readiness notification: %s", strerror(-rc));
	if (usec == 0 || srv->stopping)
		return;
	ms = usec / 2000 > 0 ? usec / 2000 : 1; /* half the interval */
	rc = uv_timer_start(&srv->watchdog, server_watchdog_cb, ms, ms);
	if (rc < 0)
		log_warn("watchdog timer: %s", uv_strerror(rc));
	else
		log_debug("watchdog: pinging every %" PRIu64 " ms", ms);
	server_watchdog_cb(&srv->watchdog);
}

static void server_signal_cb(uv_signal_t *h, int signum)
{
	struct memd_server *srv = h->data;

	log_info("received %s", strsignal(signum));
	if (signum == SIGHUP && !srv->stopping)
		server_reload(srv);
	else if (signum != SIGHUP)
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

static void server_trims_cb(uv_check_t *h)
{
	struct memd_server *srv = h->data;

	ring_after_poll(srv);
	pool_set_trim_due(&srv->pools);
}

/* After each round of I/O (the replies of that round are written by
 * then), drain the request rings and run the pools' deferred trim passes:
 * a check handle, unreferenced so that it never keeps the loop alive.  0
 * or a libuv error. */
static int server_trims_start(struct memd_server *srv)
{
	int rc = uv_check_init(&srv->loop, &srv->trims);

	if (rc < 0)
		return rc;
	srv->trims.data = srv;
	rc = uv_check_start(&srv->trims, server_trims_cb);
	if (rc < 0) {
		uv_close((uv_handle_t *)&srv->trims, NULL);
		return rc;
	}
	uv_unref((uv_handle_t *)&srv->trims);
	srv->pools.defer_trims = true;
	return 0;
}

static void server_sleep_prep_cb(uv_prepare_t *h)
{
	ring_before_sleep(h->data);
}

/* Before each poll, tell the request rings when the loop may sleep
 * (ring.c): a prepare handle, unreferenced.  0 or a libuv error. */
static int server_sleep_prep_start(struct memd_server *srv)
{
	int rc = uv_prepare_init(&srv->loop, &srv->sleep_prep);

	if (rc < 0)
		return rc;
	srv->sleep_prep.data = srv;
	rc = uv_prepare_start(&srv->sleep_prep, server_sleep_prep_cb);
	if (rc < 0) {
		uv_close((uv_handle_t *)&srv->sleep_prep, NULL);
		return rc;
	}
	uv_unref((uv_handle_t *)&srv->sleep_prep);
	return 0;
}

int server_init(struct memd_server *srv, const struct memd_config *cfg, char *err, size_t errlen)
{
	int rc;

	memd_assert(errlen > 0);
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->pid = getpid();
	srv->next_session_id = 1;
	srv->prefix_lock_fd = -1;
	err[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
	/* Before the first client can wake us: a request must not preempt
	 * the application that sent it (sched_policy.c). */
	sched_policy_apply(cfg->scheduling, &srv->sched_lowered);
	rc = uv_loop_init(&srv->loop);
	if (rc < 0) {
		snprintf(err, errlen, "event loop: %s", uv_strerror(rc));
		return rc;
	}
	srv->loop.data = srv;
	rc = sdnotify_init(&srv->notify);
	if (rc < 0)
		log_warn("$NOTIFY_SOCKET/$WATCHDOG_*: %s; not notifying", strerror(-rc));
	rc = server_claim_prefix(srv, err, errlen);
	if (rc < 0)
		goto fail_close_notify;
	rc = server_check_room(srv, err, errlen);
	if (rc < 0)
		goto fail_unlock_prefix;
	rc = pool_set_create(&srv->pools, cfg, err, errlen);
	if (rc < 0)
		goto fail_unlock_prefix;
	rc = server_signal_start(srv, &srv->sigterm, SIGTERM);
	if (rc < 0)
		goto fail_destroy_pools;
	rc = server_signal_start(srv, &srv->sigint, SIGINT);
	if (rc < 0)
		goto fail_close_sigterm;
	rc = server_signal_start(srv, &srv->sighup, SIGHUP);
	if (rc < 0)
		goto fail_close_sigint;
	rc = uv_timer_init(&srv->loop, &srv->watchdog);
	if (rc < 0)
		goto fail_close_sighup;
	srv->watchdog.data = srv;
	rc = busy_poll_init(&srv->busy, &srv->loop);
	if (rc < 0)
		goto fail_close_watchdog;
	busy_poll_set(&srv->busy, cfg->busy_poll_us);
	rc = server_trims_start(srv);
	if (rc < 0)
		goto fail_close_busy;
	rc = server_sleep_prep_start(srv);
	if (rc < 0)
		goto fail_close_trims;
	rc = uv_pipe_init(&srv->loop, &srv->listener, 0);
	if (rc < 0)
		goto fail_close_sleep_prep;
	srv->listener.data = srv;
	rc = server_open_listener(srv, err, errlen);
	if (rc < 0)
		goto fail_close_listener;
	if (srv->activated)
		log_info("listening on %s (socket from systemd), %zu pool(s), shm prefix '%s'",
		         srv->listen_path, srv->pools.count, cfg->shm_prefix);
	else
		log_info("listening on %s (mode %04o), %zu pool(s), shm prefix '%s'",
		         srv->listen_path, (unsigned)cfg->socket_mode, srv->pools.count,
		         cfg->shm_prefix);
	return 0;

fail_close_listener:
	uv_close((uv_handle_t *)&srv->listener, NULL);
fail_close_sleep_prep:
	uv_close((uv_handle_t *)&srv->sleep_prep, NULL);
fail_close_trims:
	uv_close((uv_handle_t *)&srv->trims, NULL);
fail_close_busy:
	busy_poll_close(&srv->busy);
fail_close_watchdog:
	uv_close((uv_handle_t *)&srv->watchdog, NULL);
fail_close_sighup:
	uv_close((uv_handle_t *)&srv->sighup, NULL);
fail_close_sigint:
	uv_close((uv_handle_t *)&srv->sigint, NULL);
fail_close_sigterm:
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	uv_run(&srv->loop, UV_RUN_DEFAULT); /* finish the closes */
fail_destroy_pools:
	pool_set_destroy(&srv->pools);
fail_unlock_prefix:
	shm_prefix_unlock(cfg->shm_prefix, srv->prefix_lock_fd);
	srv->prefix_lock_fd = -1;
fail_close_notify:
	sdnotify_close(&srv->notify);
	uv_loop_close(&srv->loop);
	if (err[0] == '\0')
		snprintf(err, errlen, "startup failed: %s", strerror(-rc));
	return rc;
}

int server_run(struct memd_server *srv)
{
	int rc;

	server_notify_ready(srv);
	rc = uv_run(&srv->loop, UV_RUN_DEFAULT);

	return rc < 0 ? rc : 0;
}

void server_stop(struct memd_server *srv)
{
	struct conn *c, *next;
	int rc;

	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("shutting down: closing %zu session(s)", srv->conn_count);
	rc = sdnotify_sendf(&srv->notify,
	                    "STOPPING=1\nSTATUS=Shutting down, closing %zu session(s)",
	                    srv->conn_count);
	if (rc < 0)
		log_warn("stopping notification: %s", strerror(-rc));
	uv_close((uv_handle_t *)&srv->watchdog, NULL);
	busy_poll_close(&srv->busy);
	uv_close((uv_handle_t *)&srv->trims, NULL);
	uv_close((uv_handle_t *)&srv->sleep_prep, NULL);
	uv_close((uv_handle_t *)&srv->listener, NULL);
	server_unlink_socket(srv);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next; /* conn_close frees nothing synchronously */
		conn_close(c);
	}
	/* The signal handles stay installed (unreferenced, so uv_run can
	 * return): a second SIGTERM during shutdown must not kill us with the
	 * default action halfway through.  server_fini closes them. */
	uv_unref((uv_handle_t *)&srv->sigterm);
	uv_unref((uv_handle_t *)&srv->sigint);
	uv_unref((uv_handle_t *)&srv->sighup);
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

	memd_assert(srv->conns == NULL && srv->rings == NULL);
	pool_set_destroy(&srv->pools);
	uv_close((uv_handle_t *)&srv->sigterm, NULL);
	uv_close((uv_handle_t *)&srv->sigint, NULL);
	uv_close((uv_handle_t *)&srv->sighup, NULL);
	uv_run(&srv->loop, UV_RUN_DEFAULT); /* finish the closes */
	shm_prefix_unlock(srv->cfg->shm_prefix, srv->prefix_lock_fd);
	srv->prefix_lock_fd = -1;
	if (srv->cfg_owned != NULL) {
		config_free(srv->cfg_owned);
		free(srv->cfg_owned);
		srv->cfg_owned = NULL;
	}
	sdnotify_close(&srv->notify);
	rc = uv_loop_close(&srv->loop);
	if (rc < 0) {
		uv_walk(&srv->loop, server_walk_cb, NULL);
		return rc;
	}
	log_info("stopped cleanly");
	return 0;
}
