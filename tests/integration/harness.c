/*
 * harness.c - the integration tests' memd launcher and child-process kit.
 *
 * Every integration test runs the real daemon: the binary Meson built,
 * named by $MEMD_BIN.  memd_start() makes a private directory with
 * mkdtemp(), puts the listening socket (and, when asked, a config file and
 * always memd's output log) there, and chooses a shm prefix no other test
 * run can share ("memdt<pid>x<n>": Criterion runs each test in its own
 * process, so the pid is unique among concurrent tests).  It then polls
 * connect() until the daemon accepts, failing at once with memd's output
 * if the daemon exits first.
 *
 * memd_stop_clean() is the promise of DESIGN.md's shutdown contract turned
 * into assertions: after SIGTERM (or SIGINT) memd exits 0 within a
 * deadline, its socket file is gone and no /dev/shm/<prefix>-* segment
 * remains.  Whatever it finds wrong it first cleans up (SIGKILL, unlink),
 * then fails the test, so one broken run never poisons the next.
 *
 * Ownership: the harness signals only pids it forked itself: memd (h->pid)
 * and the children started with child_fork(), kept in a small table so that
 * harness_fini() can reap them when a test body ended early.  memd is
 * started with PR_SET_PDEATHSIG(SIGTERM), so even a crashed test process
 * does not leave a daemon behind.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_DEADLINE_MS 10000 /* memd must accept within this */
#define STOP_DEADLINE_MS  10000 /* memd must exit within this of SIGTERM */
#define KIDS_MAX          1024  /* children one test may have alive */
#define LOG_TAIL_BYTES    6000  /* how much of memd's log a failure shows */

struct memd_harness H;

static pid_t kids[KIDS_MAX]; /* live children from child_fork(), 0 = free */

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void harness_path(const struct memd_harness *h, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", h->dir, name);

	cr_assert(n > 0 && (size_t)n < len, "path %s/%s too long", h->dir, name);
}

/* Append printf-style text to a bounded message buffer. */
static void msg_add(char *msg, size_t cap, const char *fmt, ...)
{
	size_t used = strlen(msg);
	va_list ap;

	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + used, cap - used, fmt, ap);
	va_end(ap);
}

/* Copy the last LOG_TAIL_BYTES of memd's log into msg. */
static void msg_add_log(char *msg, size_t cap, const struct memd_harness *h)
{
	char buf[LOG_TAIL_BYTES + 1];
	ssize_t n;
	off_t size;
	int fd;

	if (h->log[0] == '\0')
		return;
	fd = open(h->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		msg_add(msg, cap, "\n(no memd log: %s)", strerror(errno));
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size > LOG_TAIL_BYTES)
		lseek(fd, size - LOG_TAIL_BYTES, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, LOG_TAIL_BYTES);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	msg_add(msg, cap, "\n--- memd output (%s) ---\n%s--- end ---", h->log, buf);
}

int shm_count(const char *prefix, uint64_t *bytes)
{
	char want[80];
	struct dirent *de;
	struct stat st;
	int count = 0;
	DIR *d;

	if (bytes)
		*bytes = 0;
	snprintf(want, sizeof(want), "%s-", prefix);
	d = opendir("/dev/shm");
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, want, strlen(want)) != 0)
			continue;
		count++;
		if (bytes && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	return count;
}

uint64_t shm_resident(const char *prefix)
{
	char want[80];
	struct dirent *de;
	struct stat st;
	uint64_t bytes = 0;
	DIR *d;

	snprintf(want, sizeof(want), "%s-", prefix);
	d = opendir("/dev/shm");
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, want, strlen(want)) == 0 &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			bytes += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return bytes;
}

/* Unlink every /dev/shm/<prefix>-* entry (every /dev/shm/<prefix>* one
 * if dash is false), listing the names into msg.  Returns how many there
 * were. */
static int shm_remove_matching(const char *prefix, bool dash, char *msg, size_t cap)
{
	char want[80];
	struct dirent *de;
	int count = 0;
	DIR *d;

	if (prefix[0] == '\0')
		return 0;
	snprintf(want, sizeof(want), "%s%s", prefix, dash ? "-" : "");
	d = opendir("/dev/shm");
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, want, strlen(want)) != 0)
			continue;
		if (msg)
			msg_add(msg, cap, " /dev/shm/%s", de->d_name);
		unlinkat(dirfd(d), de->d_name, 0);
		count++;
	}
	closedir(d);
	return count;
}

/* Unlink every /dev/shm/<prefix>-* entry, listing them into msg. */
static int shm_remove_all(const char *prefix, char *msg, size_t cap)
{
	return shm_remove_matching(prefix, true, msg, cap);
}

/* Remove the temp dir and the plain files in it. */
static void dir_remove(struct memd_harness *h)
{
	struct dirent *de;
	DIR *d;

	if (h->dir[0] == '\0')
		return;
	d = opendir(h->dir);
	if (d) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR)
				unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		}
		closedir(d);
	}
	rmdir(h->dir);
	h->dir[0] = '\0';
}

/* Write text to path, or fail the test. */
static void file_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL, "cannot create %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert(fclose(f) == 0, "cannot write %s: %s", path, strerror(errno));
}

/* In the forked child: wire stdio, arm the parent-death signal, exec memd.
 * Never returns. */
static void memd_exec(const struct memd_harness *h, const char *bin, pid_t parent)
{
	const char *argv[32];
	const char *level = getenv("MEMD_TEST_LOG_LEVEL");
	char *wrapper = getenv("MEMD_TEST_WRAPPER") ? strdup(getenv("MEMD_TEST_WRAPPER")) : NULL;
	char *save = NULL;
	int argc = 0;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(126);
	fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(126);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		dup2(fd, STDIN_FILENO);
	close_range(3, ~0u, 0);
	setenv("MEMD_SHM_PREFIX", h->prefix, 1);
	unsetenv("MEMD_SOCKET");
	unsetenv("MEMD_CONFIG");
	/* $MEMD_TEST_WRAPPER: words to run memd under, e.g. "valgrind
	 * --error-exitcode=99 --leak-check=full" (memd keeps the pid). */
	for (char *w = wrapper ? strtok_r(wrapper, " ", &save) : NULL; w && argc < 20;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc++] = bin;
	argv[argc++] = "--socket";
	argv[argc++] = h->sock;
	if (h->config[0] != '\0') {
		argv[argc++] = "--config";
		argv[argc++] = h->config;
	}
	if (level) {
		argv[argc++] = "--log-level";
		argv[argc++] = level;
	}
	argv[argc] = NULL;
	execv(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "harness: execv %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Try one connect() to the socket: true if it was accepted. */
static bool sock_accepts(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool ok;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Fail the test because memd did not come up; cleans up first. */
static void start_failed(struct memd_harness *h, const char *why)
{
	char msg[LOG_TAIL_BYTES + 1024] = "";

	msg_add(msg, sizeof(msg), "memd did not start: %s", why);
	msg_add_log(msg, sizeof(msg), h);
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
	shm_remove_all(h->prefix, NULL, 0);
	dir_remove(h);
	h->stopped_clean = true; /* nothing left for harness_fini to report */
	cr_assert_fail("%s", msg);
}

void harness_cache_off(void)
{
	cr_assert_eq(setenv("MEMC_CACHE_BYTES", "0", 1), 0);
}

void memd_start(struct memd_harness *h, const char *config_ini)
{
	static unsigned counter;
	const char *bin = getenv("MEMD_BIN");
	const char *tmp = getenv("TMPDIR");
	char why[256];
	int64_t deadline;
	pid_t parent = getpid();
	int st;

	cr_assert(bin != NULL && bin[0] != '\0', "MEMD_BIN is not set (run through meson test)");
	cr_assert(access(bin, X_OK) == 0, "MEMD_BIN=%s: %s", bin, strerror(errno));
	memset(h, 0, sizeof(*h));
	if (!tmp || tmp[0] == '\0' || strlen(tmp) > 60)
		tmp = "/tmp";
	snprintf(h->dir, sizeof(h->dir), "%s/memd-it-XXXXXX", tmp);
	cr_assert(mkdtemp(h->dir) != NULL, "mkdtemp %s: %s", h->dir, strerror(errno));
	snprintf(h->prefix, sizeof(h->prefix), "memdt%dx%u", (int)getpid(), ++counter);
	harness_path(h, "memd.sock", h->sock, sizeof(h->sock));
	harness_path(h, "memd.log", h->log, sizeof(h->log));
	if (config_ini) {
		harness_path(h, "memd.conf", h->config, sizeof(h->config));
		file_write(h->config, config_ini);
	}
	fflush(NULL);
	h->pid = fork();
	cr_assert(h->pid >= 0, "fork: %s", strerror(errno));
	if (h->pid == 0)
		memd_exec(h, bin, parent);

	deadline = now_ms() + START_DEADLINE_MS;
	for (;;) {
		pid_t r = waitpid(h->pid, &st, WNOHANG);

		if (r == h->pid) {
			h->pid = 0;
			child_status_str(WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st), why,
			                 sizeof(why));
			start_failed(h, why);
		}
		if (sock_accepts(h->sock))
			return;
		if (now_ms() > deadline)
			start_failed(h, "socket did not accept within 10 s");
		sleep_ms(5);
	}
}

/* waitpid with a deadline.  Returns the child_wait()-style status, or -1
 * on timeout (the process is left running). */
static int wait_deadline(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
		if (r < 0 && errno != EINTR)
			return -2;
		if (now_ms() > deadline)
			return -1;
		sleep_ms(2);
	}
}

void memd_stop_clean(struct memd_harness *h, int sig)
{
	char msg[LOG_TAIL_BYTES + 2048] = "";
	char why[128];
	bool bad = false;
	int st;

	if (h->pid <= 0) {
		msg_add(msg, sizeof(msg), "memd was not running at stop; ");
		bad = true;
		goto check_files;
	}
	st = wait_deadline(h->pid, 0);
	if (st >= 0) {
		msg_add(msg, sizeof(msg), "memd had already died (%s) before the stop signal; ",
		        child_status_str(st, why, sizeof(why)));
		h->pid = 0;
		bad = true;
		goto check_files;
	}
	kill(h->pid, sig);
	st = wait_deadline(h->pid, STOP_DEADLINE_MS);
	if (st == -1) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		msg_add(msg, sizeof(msg), "memd did not exit within %d ms of signal %d; ",
		        STOP_DEADLINE_MS, sig);
		bad = true;
	} else if (st != 0) {
		msg_add(msg, sizeof(msg), "memd exited with %s after signal %d (want exit 0); ",
		        child_status_str(st, why, sizeof(why)), sig);
		bad = true;
	}
	h->pid = 0;
check_files:
	if (access(h->sock, F_OK) == 0) {
		msg_add(msg, sizeof(msg), "socket file %s still exists; ", h->sock);
		bad = true;
	}
	if (shm_count(h->prefix, NULL) > 0) {
		msg_add(msg, sizeof(msg), "shm segments left behind:");
		shm_remove_all(h->prefix, msg, sizeof(msg));
		msg_add(msg, sizeof(msg), "; ");
		bad = true;
	}
	if (bad)
		msg_add_log(msg, sizeof(msg), h);
	dir_remove(h);
	h->stopped_clean = true;
	cr_assert(!bad, "%s", msg);
}

void harness_fini(void)
{
	char msg[LOG_TAIL_BYTES + 256] = "";

	for (size_t i = 0; i < KIDS_MAX; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	}
	if (H.pid > 0) {
		int st = wait_deadline(H.pid, 0);
		char why[64];

		if (st >= 0) /* it died during the test: say how */
			fprintf(stderr, "memd (pid %d) died during the test: %s\n", (int)H.pid,
			        child_status_str(st, why, sizeof(why)));
		else
			kill(H.pid, SIGTERM);
		if (st < 0 && wait_deadline(H.pid, STOP_DEADLINE_MS) == -1) {
			kill(H.pid, SIGKILL);
			waitpid(H.pid, NULL, 0);
		}
		H.pid = 0;
	}
	/* After memd exited, so its log is complete. */
	if (H.dir[0] != '\0' && !H.stopped_clean) {
		msg_add_log(msg, sizeof(msg), &H);
		fprintf(stderr, "test body did not finish; %s\n", msg);
	}
	/* Every prefix this test process used: "memdt<pid>x". */
	{
		char mine[64];

		snprintf(mine, sizeof(mine), "memdt%dx", (int)getpid());
		shm_remove_matching(mine, false, NULL, 0);
	}
	dir_remove(&H);
}

int memd_run_expect_exit(const char *const *extra_args, const char *prefix, const char *log_path,
                         int timeout_ms)
{
	const char *bin = getenv("MEMD_BIN");
	const char *argv[16];
	pid_t parent = getpid(), pid;
	int argc = 0, st, fd;

	cr_assert(bin != NULL, "MEMD_BIN is not set");
	argv[argc++] = bin;
	for (; extra_args[argc - 1] && argc < 15; argc++)
		argv[argc] = extra_args[argc - 1];
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close_range(3, ~0u, 0);
		setenv("MEMD_SHM_PREFIX", prefix, 1);
		unsetenv("MEMD_SOCKET");
		unsetenv("MEMD_CONFIG");
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	st = wait_deadline(pid, timeout_ms);
	if (st == -1) {
		kill(pid, SIGTERM);
		if (wait_deadline(pid, STOP_DEADLINE_MS) == -1) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	return st;
}

int file_count(const char *path, const char *needle)
{
	static char buf[1 << 20];
	const char *p = buf;
	size_t n;
	int count = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (needle[0] == '\0')
		return 1; /* as strstr: the empty string is everywhere, once is enough */
	while ((p = strstr(p, needle)) != NULL) {
		count++;
		p += strlen(needle);
	}
	return count;
}

long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			kb = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return kb;
}

int proc_maps_count(pid_t pid, const char *needle)
{
	char path[64], line[1024];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

bool file_contains(const char *path, const char *needle)
{
	return file_count(path, needle) > 0;
}

pid_t child_fork(int (*fn)(void *arg), void *arg)
{
	size_t slot;
	pid_t pid;

	for (slot = 0; slot < KIDS_MAX && kids[slot] != 0; slot++)
		;
	cr_assert(slot < KIDS_MAX, "more than %d children alive", KIDS_MAX);
	fflush(NULL);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int rc = fn(arg);

		fflush(NULL);
		_exit(rc < 0 || rc > 255 ? 255 : rc);
	}
	kids[slot] = pid;
	return pid;
}

/* Forget a reaped child. */
static void kid_forget(pid_t pid)
{
	for (size_t i = 0; i < KIDS_MAX; i++) {
		if (kids[i] == pid)
			kids[i] = 0;
	}
}

int child_wait(pid_t pid, int timeout_ms)
{
	int st = wait_deadline(pid, timeout_ms);

	if (st == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	kid_forget(pid);
	return st;
}

int child_run(int (*fn)(void *arg), void *arg, int timeout_ms)
{
	return child_wait(child_fork(fn, arg), timeout_ms);
}

int child_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	return child_wait(pid, STOP_DEADLINE_MS);
}

const char *child_status_str(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "timeout");
	else if (st >= 1000)
		snprintf(buf, len, "signal %d (%s)", st - 1000, strsignal(st - 1000));
	else if (st < 0)
		snprintf(buf, len, "waitpid error");
	else
		snprintf(buf, len, "exit %d", st);
	return buf;
}

/* Byte i of the pattern for seed: cheap, position-dependent, and different
 * for different seeds at almost every offset. */
static uint8_t pattern_byte(size_t i, uint32_t seed)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ seed * 40503u;

	return (uint8_t)(x >> 13 ^ x ^ seed);
}

void pattern_fill(void *p, size_t len, uint32_t seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		b[i] = pattern_byte(i, seed);
}

long pattern_check(const void *p, size_t len, uint32_t seed)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		if (b[i] != pattern_byte(i, seed))
			return (long)i;
	}
	return -1;
}
