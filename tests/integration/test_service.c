/*
 * test_service.c - memd as a system service: socket activation, readiness
 * and watchdog notifications, journal log prefixes, stale segments, a
 * too-small /dev/shm, and the informational command-line modes.
 *
 * A SIGHUP reload is checked end to end: a pool added to the file serves
 * sessions old and new, a changed quota applies, a shrink below what is in
 * use is refused with a log line, blocks survive, and a broken file
 * changes nothing.
 *
 * These tests start memd themselves (svc_spawn) rather than through
 * memd_start(), because each needs an environment the harness does not
 * set: $NOTIFY_SOCKET with a receiver the test owns, $WATCHDOG_USEC,
 * $LISTEN_PID/$LISTEN_FDS with an inherited socket on fd 3,
 * $JOURNAL_STREAM, or a private mount namespace.  The notify receiver is
 * an AF_UNIX datagram socket with SO_PASSCRED, so every notification is
 * also checked to come from memd's own pid.
 *
 * Every prefix is "memdt<pid>xs<n>" so harness_fini (every test's .fini)
 * removes whatever segments a failed test left; svc_fini additionally
 * kills and reaps the daemons started here and removes the temp dir.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"

#define SVC_MAX        8     /* daemons one test may start */
#define SVC_START_MS   10000 /* a daemon must accept within this */
#define SVC_STOP_MS    10000 /* and exit within this of SIGTERM */
#define SVC_ENV_MAX    8     /* extra environment entries per spawn */
#define EX_USAGE_CODE  64    /* sysexits EX_USAGE */
#define NOTIFY_WAIT_MS 5000  /* a notification must arrive within this */

/* What one test started, for svc_fini to clean up. */
struct svc_state {
	pid_t pids[SVC_MAX];   /* daemons still running, 0 = free slot */
	char dir[PATH_MAX];    /* temp dir for sockets, logs, configs */
	int notify_fd;         /* the test's notify receiver, -1 if none */
	char notify_path[108]; /* its path, "" if abstract or none */
	unsigned next_prefix;  /* for svc_prefix() */
};

static struct svc_state S = {.notify_fd = -1};

/* Make the temp dir (once per test). */
static void svc_dir(void)
{
	if (S.dir[0] != '\0')
		return;
	snprintf(S.dir, sizeof(S.dir), "/tmp/memd-svc-XXXXXX");
	cr_assert_not_null(mkdtemp(S.dir), "mkdtemp: %s", strerror(errno));
}

/* A path in the temp dir. */
static void svc_path(const char *name, char *buf, size_t len)
{
	svc_dir();
	cr_assert_lt((size_t)snprintf(buf, len, "%s/%s", S.dir, name), len);
}

/* A fresh shm prefix that harness_fini would clean up. */
static void svc_prefix(char *buf, size_t len)
{
	snprintf(buf, len, "memdt%dxs%u", (int)getpid(), ++S.next_prefix);
}

/* Write text to a file in the temp dir; its path goes to buf. */
static void svc_file(const char *name, const char *text, char *buf, size_t len)
{
	FILE *f;

	svc_path(name, buf, len);
	f = fopen(buf, "w");
	cr_assert_not_null(f, "%s: %s", buf, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* How to start one memd. */
struct spawn {
	const char *const *argv;      /* argv[0] is the program (NULL: $MEMD_BIN) */
	const char *env[SVC_ENV_MAX]; /* extra "K=V"; "LISTEN_PID=self" is the child's pid */
	const char *log;              /* stdout+stderr go here */
	int listen_fd;                /* becomes fd 3 if >= 0 */
	const char *shm_ns_size;      /* private tmpfs of this size on /dev/shm, or NULL */
};

/* In the child: a private mount namespace with a small tmpfs on /dev/shm.
 * Exits 125 if that is not permitted. */
static void child_private_shm(const char *size)
{
	char opts[32];

	snprintf(opts, sizeof(opts), "size=%s", size);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, opts) < 0)
		_exit(125);
}

/* In the forked child: environment, fds, exec.  Never returns. */
static void child_exec(const struct spawn *sp, pid_t parent)
{
	const char *bin = sp->argv[0] ? sp->argv[0] : getenv("MEMD_BIN");
	char pidbuf[32];
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(126);
	fd = open(sp->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(126);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (sp->listen_fd >= 0) {
		if (sp->listen_fd != 3 && dup2(sp->listen_fd, 3) < 0)
			_exit(126);
		fcntl(3, F_SETFD, 0);
		close_range(4, ~0u, 0);
	} else {
		close_range(3, ~0u, 0);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("JOURNAL_STREAM");
	unsetenv("MEMD_SOCKET");
	unsetenv("MEMD_CONFIG");
	for (int i = 0; i < SVC_ENV_MAX && sp->env[i] != NULL; i++) {
		if (strcmp(sp->env[i], "LISTEN_PID=self") == 0) {
			snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
			setenv("LISTEN_PID", pidbuf, 1);
		} else {
			putenv((char *)sp->env[i]);
		}
	}
	if (sp->shm_ns_size != NULL)
		child_private_shm(sp->shm_ns_size);
	{
		const char *argv[16] = {bin};
		for (int i = 1; i < 15 && sp->argv[i] != NULL; i++)
			argv[i] = sp->argv[i];
		execv(bin, (char *const *)argv);
	}
	dprintf(STDERR_FILENO, "execv %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* Start a process as described; it is recorded for svc_fini. */
static pid_t svc_spawn(const struct spawn *sp)
{
	pid_t parent = getpid(), pid;
	size_t slot;

	for (slot = 0; slot < SVC_MAX && S.pids[slot] != 0; slot++)
		;
	cr_assert_lt(slot, SVC_MAX, "too many daemons");
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		child_exec(sp, parent);
	S.pids[slot] = pid;
	return pid;
}

static void svc_forget(pid_t pid)
{
	for (size_t i = 0; i < SVC_MAX; i++)
		if (S.pids[i] == pid)
			S.pids[i] = 0;
}

/* Wait up to ms for pid to exit: child_wait()-style status, -1 timeout. */
static int svc_wait(pid_t pid, int ms)
{
	int64_t deadline = now_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			svc_forget(pid);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
		}
		if (now_ms() > deadline)
			return -1;
		sleep_ms(2);
	}
}

/* Print a log file to stderr (failure context). */
static void show_log(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	fprintf(stderr, "--- %s ---\n", path);
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  | %s", line);
	fclose(f);
}

/* Wait until a client can connect to sock (memd up) or pid died. */
static void svc_wait_ready(pid_t pid, const char *sock, const char *log)
{
	int64_t deadline = now_ms() + SVC_START_MS;
	char why[64];
	int st;

	for (;;) {
		memc_client *c = NULL;

		if (memc_connect(sock, &c) == 0) {
			memc_close(c);
			return;
		}
		st = svc_wait(pid, 0);
		if (st >= 0) {
			show_log(log);
			cr_assert_fail("memd exited before it served: %s",
			               child_status_str(st, why, sizeof(why)));
		}
		if (now_ms() > deadline) {
			show_log(log);
			cr_assert_fail("memd did not serve %s within %d ms", sock, SVC_START_MS);
		}
		sleep_ms(5);
	}
}

/* Assert pid exits 0 within SVC_STOP_MS. */
static void svc_expect_exit0(pid_t pid, const char *log)
{
	char why[64];
	int st = svc_wait(pid, SVC_STOP_MS);

	if (st != 0)
		show_log(log);
	cr_assert_eq(st, 0, "memd after SIGTERM: %s, want exit 0",
	             child_status_str(st, why, sizeof(why)));
}

/* SIGTERM pid and assert it exits 0. */
static void svc_stop_clean(pid_t pid, const char *log)
{
	cr_assert_eq(kill(pid, SIGTERM), 0);
	svc_expect_exit0(pid, log);
}

/* A client allocates, writes and reads back a block, and frees it. */
static void client_works(const char *sock)
{
	memc_client *c = NULL;
	memc_ref ref = 0;
	int rc = memc_connect(sock, &c);

	cr_assert_eq(rc, 0, "connect %s: %s", sock, memc_strerror(rc));
	rc = memc_alloc(c, NULL, 70000, 0, &ref);
	cr_assert_eq(rc, 0, "alloc: %s", memc_strerror(rc));
	pattern_fill(memc_ptr(c, ref), 70000, 11);
	cr_assert_eq(pattern_check(memc_ptr(c, ref), 70000, 11), -1);
	cr_assert_eq(memc_free(c, ref), 0);
	memc_close(c);
}

/* Bind the test's notify receiver: abstract (@name) or at a path. */
static void notify_open(bool abstract, char *env, size_t envlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int one = 1;

	S.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(S.notify_fd, 0);
	cr_assert_eq(setsockopt(S.notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	if (abstract) {
		int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "memdt%d-notify",
		                 (int)getpid());
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
		snprintf(env, envlen, "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
	} else {
		svc_path("notify", S.notify_path, sizeof(S.notify_path));
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", S.notify_path);
		len = sizeof(sa);
		snprintf(env, envlen, "NOTIFY_SOCKET=%s", S.notify_path);
	}
	cr_assert_eq(bind(S.notify_fd, (struct sockaddr *)&sa, len), 0, "bind notify: %s",
	             strerror(errno));
}

/* Receive one notification within ms into buf; its sender's pid into
 * *from.  false on timeout. */
static bool notify_recv(char *buf, size_t len, pid_t *from, int ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len - 1};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctl.buf,
	                    .msg_controllen = sizeof(ctl.buf)};
	struct pollfd pfd = {.fd = S.notify_fd, .events = POLLIN};
	struct cmsghdr *cm;
	ssize_t n;

	if (poll(&pfd, 1, ms) != 1)
		return false;
	n = recvmsg(S.notify_fd, &mh, 0);
	cr_assert_geq(n, 0, "recvmsg: %s", strerror(errno));
	buf[n] = '\0';
	*from = 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			*from = uc.pid;
		}
	return true;
}

/* Does the notification msg carry the assignment line? */
static bool has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = msg; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* Wait for a notification containing line (others are skipped); assert
 * it comes from pid.  The message is left in msg. */
static void notify_expect(const char *line, pid_t pid, char *msg, size_t len)
{
	int64_t deadline = now_ms() + NOTIFY_WAIT_MS;
	pid_t from;

	for (;;) {
		int left = (int)(deadline - now_ms());

		cr_assert(left > 0 && notify_recv(msg, len, &from, left),
		          "no %s notification within %d ms", line, NOTIFY_WAIT_MS);
		if (has_line(msg, line)) {
			cr_assert_eq(from, pid, "%s came from pid %d, not memd (%d)", line,
			             (int)from, (int)pid);
			return;
		}
	}
}

static void svc_fini(void)
{
	for (size_t i = 0; i < SVC_MAX; i++) {
		if (S.pids[i] == 0)
			continue;
		kill(S.pids[i], SIGKILL);
		waitpid(S.pids[i], NULL, 0);
		S.pids[i] = 0;
	}
	if (S.notify_fd >= 0)
		close(S.notify_fd);
	if (S.dir[0] != '\0') {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", S.dir);
	}
	harness_fini();
}

Test(service, notify_ready_watchdog_stopping_and_sigterm_exits_0, .fini = svc_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], prefix[64], notify_env[160], msg[512];
	char prefix_env[96];
	const char *argv[] = {NULL, "--socket", sock, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	int pings = 0;
	pid_t pid;

	svc_path("memd.sock", sock, sizeof(sock));
	svc_path("memd.log", log, sizeof(log));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	notify_open(true, notify_env, sizeof(notify_env));
	sp.env[0] = notify_env;
	sp.env[1] = "WATCHDOG_USEC=100000"; /* pings every 50 ms */
	sp.env[2] = prefix_env;
	pid = svc_spawn(&sp);

	notify_expect("READY=1", pid, msg, sizeof(msg));
	cr_assert(strstr(msg, "STATUS=") != NULL, "READY=1 came without a STATUS= line: %s", msg);
	cr_assert(strstr(msg, sock) != NULL, "STATUS does not name the socket: %s", msg);
	client_works(sock); /* READY=1 means a client is served */
	while (pings < 3) {
		notify_expect("WATCHDOG=1", pid, msg, sizeof(msg));
		pings++;
	}
	cr_assert_eq(kill(pid, SIGTERM), 0);
	notify_expect("STOPPING=1", pid, msg, sizeof(msg));
	svc_expect_exit0(pid, log);
	cr_assert_neq(access(sock, F_OK), 0, "memd left its socket");
	cr_assert_eq(shm_count(prefix, NULL), 0, "memd left segments");
}

Test(service, notify_path_socket_and_a_watchdog_meant_for_another_pid, .fini = svc_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], prefix[64], notify_env[160], msg[512];
	char prefix_env[96];
	const char *argv[] = {NULL, "--socket", sock, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	pid_t pid, from;

	svc_path("memd.sock", sock, sizeof(sock));
	svc_path("memd.log", log, sizeof(log));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	notify_open(false, notify_env, sizeof(notify_env));
	sp.env[0] = notify_env;
	sp.env[1] = "WATCHDOG_USEC=20000";
	sp.env[2] = "WATCHDOG_PID=1"; /* not memd: no pings */
	sp.env[3] = prefix_env;
	pid = svc_spawn(&sp);

	notify_expect("READY=1", pid, msg, sizeof(msg));
	while (notify_recv(msg, sizeof(msg), &from, 300))
		cr_assert(!has_line(msg, "WATCHDOG=1"), "WATCHDOG=1 sent though WATCHDOG_PID=1");
	svc_stop_clean(pid, log);
}

/* Bind and listen a Unix stream socket at path; the fd. */
static int listen_at(const char *path, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
	             strerror(errno));
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

Test(service, inherited_socket_is_served_and_never_unlinked, .fini = svc_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], other[PATH_MAX], prefix[64], prefix_env[96];
	const char *argv[] = {NULL, "--socket", other, NULL};
	struct spawn sp = {.argv = argv, .log = log};
	pid_t pid;
	int fd;

	svc_path("activated.sock", sock, sizeof(sock));
	svc_path("unused.sock", other, sizeof(other));
	svc_path("memd.log", log, sizeof(log));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	fd = listen_at(sock, SOCK_STREAM);
	sp.listen_fd = fd;
	sp.env[0] = "LISTEN_PID=self";
	sp.env[1] = "LISTEN_FDS=1";
	sp.env[2] = prefix_env;
	pid = svc_spawn(&sp);
	close(fd);
	svc_wait_ready(pid, sock, log);
	client_works(sock);
	cr_assert_neq(access(other, F_OK), 0, "memd bound --socket though it had one from fd 3");
	svc_stop_clean(pid, log);
	cr_assert_eq(access(sock, F_OK), 0, "memd unlinked a socket it did not create");
	cr_assert(file_contains(log, "socket from systemd"), "the log does not say so");
}

Test(service, inherited_fd_that_is_not_a_listening_stream_socket_is_refused, .fini = svc_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], prefix[64], prefix_env[96], why[64];
	const char *argv[] = {NULL, "--socket", sock, NULL};
	struct spawn sp = {.argv = argv, .log = log};
	pid_t pid;
	int fd, st;

	svc_path("dgram.sock", sock, sizeof(sock));
	svc_path("memd.log", log, sizeof(log));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	fd = listen_at(sock, SOCK_DGRAM);
	sp.listen_fd = fd;
	sp.env[0] = "LISTEN_PID=self";
	sp.env[1] = "LISTEN_FDS=1";
	sp.env[2] = prefix_env;
	pid = svc_spawn(&sp);
	close(fd);
	st = svc_wait(pid, SVC_STOP_MS);
	if (st <= 0 || st > 255)
		show_log(log);
	cr_assert(st > 0 && st <= 255, "memd with a datagram socket on fd 3: %s",
	          child_status_str(st, why, sizeof(why)));
	cr_assert(file_contains(log, "not a listening AF_UNIX stream socket"), "no clear message");
	cr_assert_eq(shm_count(prefix, NULL), 0, "the refused memd left segments");
}

Test(service, systemd_socket_activate_serves_a_client, .fini = svc_fini)
{
	static const char *const tools[] = {
	        "/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate",
	        "/usr/lib/systemd/systemd-activate", "/lib/systemd/systemd-activate"};
	char sock[PATH_MAX], log[PATH_MAX], prefix[64], prefix_env[96];
	const char *tool = NULL;
	const char *argv[] = {NULL, "-l", sock, "-E", "MEMD_SHM_PREFIX", NULL, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	pid_t pid;

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]) && tool == NULL; i++)
		if (access(tools[i], X_OK) == 0)
			tool = tools[i];
	if (tool == NULL)
		cr_skip_test("systemd-socket-activate is not installed (Debian package: systemd)");
	argv[0] = tool;
	argv[5] = getenv("MEMD_BIN");
	svc_path("memd.sock", sock, sizeof(sock));
	svc_path("memd.log", log, sizeof(log));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	sp.env[0] = prefix_env;
	pid = svc_spawn(&sp);
	/* The tool binds, then execs memd (same pid) on the first connection. */
	svc_wait_ready(pid, sock, log);
	client_works(sock);
	cr_assert(file_contains(log, "socket from systemd"), "memd did not take the socket");
	svc_stop_clean(pid, log);
	cr_assert_eq(shm_count(prefix, NULL), 0, "memd left segments");
}

/* Start memd with stderr to log and extra env; stop it; return. */
static void run_and_stop(const char *log, const char *env0)
{
	char sock[PATH_MAX], prefix[64], prefix_env[96];
	const char *argv[] = {NULL, "--socket", sock, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	pid_t pid;

	svc_path("memd.sock", sock, sizeof(sock));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	sp.env[0] = prefix_env;
	sp.env[1] = env0;
	pid = svc_spawn(&sp);
	svc_wait_ready(pid, sock, log);
	svc_stop_clean(pid, log);
}

/* Read the first line of a file into buf. */
static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f);
	cr_assert_not_null(fgets(buf, (int)len, f), "%s is empty", path);
	fclose(f);
}

Test(service, journal_stream_gives_priority_prefixes_else_timestamps, .fini = svc_fini)
{
	char jlog[PATH_MAX], plog[PATH_MAX], xlog[PATH_MAX], env[96], line[512];
	struct stat st;
	int fd;

	svc_path("journal.log", jlog, sizeof(jlog));
	svc_path("plain.log", plog, sizeof(plog));
	svc_path("mismatch.log", xlog, sizeof(xlog));
	fd = open(jlog, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	snprintf(env, sizeof(env), "JOURNAL_STREAM=%ju:%ju", (uintmax_t)st.st_dev,
	         (uintmax_t)st.st_ino);
	run_and_stop(jlog, env);
	first_line(jlog, line, sizeof(line));
	cr_assert(strncmp(line, "<6>", 3) == 0, "journal line without <6>: %s", line);
	cr_assert(strstr(line, "memd[") == NULL && strstr(line, "Z ") == NULL,
	          "journal line carries a timestamp or ident: %s", line);
	cr_assert(file_contains(jlog, "\n<6>stopped cleanly"), "no <6> on later lines");

	run_and_stop(plog, NULL);
	first_line(plog, line, sizeof(line));
	cr_assert(line[0] == '2' && line[4] == '-' && line[10] == 'T',
	          "plain line without a timestamp: %s", line);
	cr_assert(strstr(line, " info: ") != NULL, "plain line without its level: %s", line);

	/* Inherited from somewhere, but stderr is another file: timestamps. */
	run_and_stop(xlog, "JOURNAL_STREAM=1:1");
	first_line(xlog, line, sizeof(line));
	cr_assert(line[0] == '2', "JOURNAL_STREAM of another file switched the format: %s", line);
}

/* Run memd with args (NULL-terminated), output to log; its exit status. */
static int run_to_exit(const char *const *args, const char *log)
{
	const char *argv[12] = {NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	char why[64];
	int st, n = 1;

	for (; args[n - 1] != NULL && n < 11; n++)
		argv[n] = args[n - 1];
	st = svc_wait(svc_spawn(&sp), SVC_STOP_MS);
	cr_assert(st >= 0 && st <= 255, "memd %s: %s", args[0],
	          child_status_str(st, why, sizeof(why)));
	return st;
}

Test(service, version_help_and_check_config, .fini = svc_fini)
{
	char log[PATH_MAX], good[PATH_MAX], bad[PATH_MAX], line[256], want[PATH_MAX + 32];

	svc_path("version.log", log, sizeof(log));
	cr_assert_eq(run_to_exit((const char *[]){"--version", NULL}, log), 0);
	first_line(log, line, sizeof(line));
	cr_assert_str_eq(line, "memd " MEMD_VERSION "\n");

	svc_path("help.log", log, sizeof(log));
	cr_assert_eq(run_to_exit((const char *[]){"--help", NULL}, log), 0);
	cr_assert(file_contains(log, "--check-config"), "--help does not mention --check-config");
	cr_assert(file_contains(log, "--socket"), "--help does not mention --socket");

	svc_file("good.conf", "[memd]\nlog_level = warn\n[pool a]\nmax_size = 8M\n[pool b]\n", good,
	         sizeof(good));
	svc_path("good.log", log, sizeof(log));
	cr_assert_eq(run_to_exit((const char *[]){"--check-config", good, NULL}, log), 0);
	first_line(log, line, sizeof(line));
	snprintf(want, sizeof(want), "%s: OK (2 pools)\n", good);
	cr_assert_str_eq(line, want);

	svc_file("bad.conf", "[memd]\nlog_level = warn\n\n[pool a]\nsegment_size = lots\n", bad,
	         sizeof(bad));
	svc_path("bad.log", log, sizeof(log));
	cr_assert_eq(run_to_exit((const char *[]){"--check-config", bad, NULL}, log),
	             EX_USAGE_CODE);
	snprintf(want, sizeof(want), "%s:5: [pool a] segment_size:", bad);
	if (!file_contains(log, want))
		show_log(log);
	cr_assert(file_contains(log, want), "the error does not say %s", want);

	svc_path("missing.log", log, sizeof(log));
	cr_assert_eq(run_to_exit((const char *[]){"--check-config", "/nonexistent/memd.conf", NULL},
	                         log),
	             EX_USAGE_CODE);
}

/* Create /dev/shm/<name> with some bytes in it. */
static void shm_plant(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(ftruncate(fd, 8192), 0);
	close(fd);
}

static bool shm_exists(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return access(path, F_OK) == 0;
}

Test(service, segments_of_a_dead_daemon_are_removed_and_logged, .fini = svc_fini)
{
	char sock[PATH_MAX], sock2[PATH_MAX], log[PATH_MAX], log2[PATH_MAX], prefix[64];
	char prefix_env[96], longer[96], longer_env[128], name[160], decoy[4][160];
	const char *argv[] = {NULL, "--socket", sock, NULL};
	const char *argv2[] = {NULL, "--socket", sock2, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	struct spawn sp2 = {.argv = argv2, .log = log2, .listen_fd = -1};
	memc_client *c = NULL;
	memc_ref ref;
	pid_t pid, other;

	svc_path("memd.sock", sock, sizeof(sock));
	svc_path("other.sock", sock2, sizeof(sock2));
	svc_path("memd.log", log, sizeof(log));
	svc_path("other.log", log2, sizeof(log2));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	sp.env[0] = prefix_env;

	/* A daemon dies by SIGKILL holding a grown pool. */
	pid = svc_spawn(&sp);
	svc_wait_ready(pid, sock, log);
	cr_assert_eq(memc_connect(sock, &c), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(memc_alloc(c, NULL, 3u << 20, 0, &ref), 0);
	cr_assert_geq(shm_count(prefix, NULL), 2, "the pool did not grow");
	kill(pid, SIGKILL);
	cr_assert_eq(svc_wait(pid, SVC_STOP_MS), 1000 + SIGKILL);
	memc_close(c);

	/* A live daemon whose longer prefix also matches our pattern, and
	 * names that only look like ours. */
	snprintf(longer, sizeof(longer), "%s-live", prefix);
	snprintf(longer_env, sizeof(longer_env), "MEMD_SHM_PREFIX=%s", longer);
	sp2.env[0] = longer_env;
	other = svc_spawn(&sp2);
	svc_wait_ready(other, sock2, log2);
	snprintf(decoy[0], sizeof(decoy[0]), "%s-default-0", prefix);
	snprintf(decoy[1], sizeof(decoy[1]), "%s-default-07", prefix);
	snprintf(decoy[2], sizeof(decoy[2]), "%s-nodigits", prefix);
	snprintf(decoy[3], sizeof(decoy[3]), "%sx-default-1", prefix);
	for (int i = 0; i < 4; i++)
		shm_plant(decoy[i]);

	/* The next daemon with the prefix cleans up after the dead one. */
	pid = svc_spawn(&sp);
	svc_wait_ready(pid, sock, log);
	snprintf(name, sizeof(name), "removed stale segment /%s-default-1 ", prefix);
	if (!file_contains(log, name))
		show_log(log);
	cr_assert(file_contains(log, name), "no log line \"%s\"", name);
	snprintf(name, sizeof(name), "%s-default-1", longer);
	cr_assert(shm_exists(name), "the live daemon's segment %s was removed", name);
	for (int i = 0; i < 4; i++) {
		cr_assert(shm_exists(decoy[i]), "%s does not match the pattern but was removed",
		          decoy[i]);
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "/dev/shm/%s", decoy[i]);
		unlink(path);
	}
	client_works(sock);
	svc_stop_clean(pid, log);
	snprintf(name, sizeof(name), "%s-default-1", prefix);
	cr_assert(!shm_exists(name), "%s left behind", name);
	snprintf(name, sizeof(name), "%s-default-1", longer);
	cr_assert(shm_exists(name), "the live daemon's segment %s was removed", name);
	svc_stop_clean(other, log2);
	cr_assert_eq(shm_count(prefix, NULL), 0);
}

Test(service, dev_shm_too_small_for_the_first_segments_is_a_clear_error, .fini = svc_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], conf[PATH_MAX], prefix[64], prefix_env[96], why[64];
	const char *argv[] = {NULL, "--socket", sock, "--config", conf, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1, .shm_ns_size = "2m"};
	int st;

	if (geteuid() != 0)
		cr_skip_test("needs root for a private tmpfs on /dev/shm");
	svc_path("memd.sock", sock, sizeof(sock));
	svc_path("memd.log", log, sizeof(log));
	svc_file("memd.conf", "[pool a]\nsegment_size = 1M\n[pool b]\nsegment_size = 4M\n", conf,
	         sizeof(conf));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	sp.env[0] = prefix_env;
	st = svc_wait(svc_spawn(&sp), SVC_STOP_MS);
	if (st == 125)
		cr_skip_test("cannot mount a private tmpfs on /dev/shm here");
	if (st <= 0 || st > 255 || !file_contains(log, "/dev/shm is too small"))
		show_log(log);
	cr_assert(st > 0 && st <= 255, "memd on a 2 MiB /dev/shm: %s, want a non-zero exit",
	          child_status_str(st, why, sizeof(why)));
	cr_assert(file_contains(log, "/dev/shm is too small"), "no clear message");
	cr_assert(file_contains(log, "need 5120 KiB"), "the message does not say what is needed");
	cr_assert_neq(access(sock, F_OK), 0, "the refused memd left its socket");
}

/* Wait until log contains needle (memd logs as it goes). */
static void log_wait(const char *log, const char *needle)
{
	int64_t deadline = now_ms() + NOTIFY_WAIT_MS;

	while (!file_contains(log, needle)) {
		if (now_ms() > deadline) {
			show_log(log);
			cr_assert_fail("memd never logged \"%s\"", needle);
		}
		sleep_ms(5);
	}
}

#define RELOAD_CONF_1                                                                              \
	"[memd]\nlog_level = info\n"                                                               \
	"[pool a]\nmax_size = 4M\nsegment_size = 1M\n"

#define RELOAD_CONF_2                                                                              \
	"[memd]\nlog_level = info\n"                                                               \
	"[pool a]\nmax_size = 1M\nsegment_size = 1M\nclient_quota = 256K\n"                        \
	"[pool b]\nmax_size = 2M\nsegment_size = 64K\n"

Test(service, sighup_adds_pools_applies_quotas_refuses_shrinking_and_keeps_blocks, .fini = svc_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], conf[PATH_MAX], prefix[64], prefix_env[96];
	char notify_env[160], msg[512];
	const char *argv[] = {NULL, "--socket", sock, "--config", conf, NULL};
	struct spawn sp = {.argv = argv, .log = log, .listen_fd = -1};
	memc_client *old = NULL, *fresh = NULL;
	memc_ref big = 0, ref = 0, small = 0;
	pid_t pid;
	int rc;

	svc_path("memd.sock", sock, sizeof(sock));
	svc_path("memd.log", log, sizeof(log));
	svc_file("memd.conf", RELOAD_CONF_1, conf, sizeof(conf));
	svc_prefix(prefix, sizeof(prefix));
	snprintf(prefix_env, sizeof(prefix_env), "MEMD_SHM_PREFIX=%s", prefix);
	notify_open(true, notify_env, sizeof(notify_env));
	sp.env[0] = prefix_env;
	sp.env[1] = notify_env;
	pid = svc_spawn(&sp);
	notify_expect("READY=1", pid, msg, sizeof(msg));

	/* A session that lives across the reload, holding a block that made
	 * pool a grow past 1 MiB. */
	cr_assert_eq(memc_connect(sock, &old), 0);
	cr_assert_eq(memc_alloc(old, "a", 1536 * 1024, 0, &big), 0);
	pattern_fill(memc_ptr(old, big), 1536 * 1024, 21);
	cr_assert_eq(memc_alloc(old, "b", 4096, 0, &ref), -ENOENT, "pool b before the reload");

	svc_file("memd.conf", RELOAD_CONF_2, conf, sizeof(conf));
	cr_assert_eq(kill(pid, SIGHUP), 0);
	notify_expect("RELOADING=1", pid, msg, sizeof(msg));
	notify_expect("READY=1", pid, msg, sizeof(msg));
	log_wait(log, "reload: pool a: max_size 1048576 is below");

	/* The new pool serves old and new sessions alike. */
	cr_assert_eq(memc_connect(sock, &fresh), 0);
	rc = memc_alloc(fresh, "b", 100000, 0, &ref);
	cr_assert_eq(rc, 0, "new session, new pool: %s", memc_strerror(rc));
	pattern_fill(memc_ptr(fresh, ref), 100000, 22);
	cr_assert_eq(memc_free(fresh, ref), 0);
	rc = memc_alloc(old, "b", 100000, 0, &ref);
	cr_assert_eq(rc, 0, "old session, new pool: %s", memc_strerror(rc));
	cr_assert_eq(memc_free(old, ref), 0);

	/* The new quota of pool a applies; nothing live was lost. */
	rc = memc_alloc(fresh, "a", 512 * 1024, 0, &small);
	cr_assert_eq(rc, -EDQUOT, "alloc past the reloaded client_quota: %s", memc_strerror(rc));
	cr_assert_eq(memc_alloc(fresh, "a", 64 * 1024, 0, &small), 0);
	cr_assert_eq(pattern_check(memc_ptr(old, big), 1536 * 1024, 21), -1,
	             "a block changed across the reload");
	cr_assert_eq(memc_free(old, big), 0);
	cr_assert_eq(memc_free(fresh, small), 0);

	/* A broken file is refused; the daemon keeps serving as it was. */
	svc_file("memd.conf", "[pool a]\nmax_size = huge\n", conf, sizeof(conf));
	cr_assert_eq(kill(pid, SIGHUP), 0);
	log_wait(log, "memd.conf:2: [pool a] max_size:");
	cr_assert_eq(memc_alloc(fresh, "b", 4096, 0, &ref), 0, "pool b is gone after a bad reload");
	cr_assert_eq(memc_free(fresh, ref), 0);
	memc_close(fresh);
	memc_close(old);
	svc_stop_clean(pid, log);
	cr_assert_eq(shm_count(prefix, NULL), 0, "memd left segments");
}
