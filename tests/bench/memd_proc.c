/*
 * memd_proc.c - start, watch and stop a private memd (see memd_proc.h).
 *
 * Everything here uses fixed buffers and raw system calls (no stdio
 * streams, no malloc) so that memd-bench's parent keeps a pristine C heap
 * for the children it forks.  Messages go to stderr with dprintf.
 */
#include "memd_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MEMD_BENCH_MEMD_PATH
#define MEMD_BENCH_MEMD_PATH "memd"
#endif

#define START_DEADLINE_MS 10000
#define STOP_DEADLINE_MS  10000
#define LOG_TAIL          4000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *memd_proc_binary(void)
{
	const char *env = getenv("MEMD_BIN");

	return env && env[0] ? env : MEMD_BENCH_MEMD_PATH;
}

/* Copy the tail of memd's log to stderr. */
static void log_dump(const struct memd_proc *m)
{
	char buf[LOG_TAIL + 1];
	off_t size;
	ssize_t n;
	int fd = open(m->log, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > LOG_TAIL ? size - LOG_TAIL : 0, SEEK_SET);
	n = read(fd, buf, LOG_TAIL);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		dprintf(STDERR_FILENO, "--- memd log (%s) ---\n%s--- end ---\n", m->log, buf);
	}
}

/* Visit /dev/shm/<prefix>-*: sum st_size into *bytes and, if unlink_them,
 * remove each.  Returns how many there were.  getdents64 into a stack
 * buffer: opendir() would malloc. */
static int shm_scan(const struct memd_proc *m, uint64_t *bytes, int unlink_them)
{
	struct linux_dirent64 {
		uint64_t d_ino;
		int64_t d_off;
		unsigned short d_reclen;
		unsigned char d_type;
		char d_name[];
	};
	char buf[16384] __attribute__((aligned(8)));
	char want[64];
	struct stat st;
	int count = 0;
	long n;
	int fd;

	if (bytes)
		*bytes = 0;
	if (m->prefix[0] == '\0')
		return 0;
	fd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	snprintf(want, sizeof want, "%s-", m->prefix);
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);

			off += de->d_reclen;
			if (strncmp(de->d_name, want, strlen(want)) != 0)
				continue;
			count++;
			if (bytes && fstatat(fd, de->d_name, &st, 0) == 0)
				*bytes += (uint64_t)st.st_size;
			if (unlink_them)
				unlinkat(fd, de->d_name, 0);
		}
	}
	close(fd);
	return count;
}

uint64_t memd_proc_shm_bytes(const struct memd_proc *m)
{
	uint64_t bytes;

	shm_scan(m, &bytes, 0);
	return bytes;
}

/* Remove the log, the socket (if still there) and the directory. */
static void dir_remove(struct memd_proc *m)
{
	if (m->dir[0] == '\0')
		return;
	unlink(m->log);
	unlink(m->sock);
	if (rmdir(m->dir) < 0)
		dprintf(STDERR_FILENO, "memd-bench: cannot remove %s: %s\n", m->dir,
		        strerror(errno));
	m->dir[0] = '\0';
}

int memd_proc_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set) < 0 ? -errno : 0;
}

/* In the forked child: stdio to the log, parent-death signal, CPU, exec
 * memd. */
static void memd_exec(const struct memd_proc *m, pid_t parent, int cpu)
{
	const char *bin = memd_proc_binary();
	const char *argv[] = {bin,       "--socket",    m->sock, "--shm-prefix",
	                      m->prefix, "--log-level", "warn",  NULL};
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(126);
	if (cpu >= 0 && memd_proc_pin(cpu) < 0)
		_exit(126);
	fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(126);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		dup2(fd, STDIN_FILENO);
	close_range(3, ~0u, 0);
	unsetenv("MEMD_CONFIG");
	unsetenv("MEMD_SOCKET");
	unsetenv("MEMD_SHM_PREFIX");
	execv(bin, (char *const *)argv);
	dprintf(STDERR_FILENO, "memd-bench: execv %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* One connect() attempt: 1 if the daemon accepted. */
static int sock_accepts(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* Kill and reap whatever runs, remove everything, show the log. */
static void start_failed(struct memd_proc *m, const char *why)
{
	dprintf(STDERR_FILENO, "memd-bench: memd (%s) did not start: %s\n", memd_proc_binary(),
	        why);
	log_dump(m);
	if (m->pid > 0) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
		m->pid = 0;
	}
	shm_scan(m, NULL, 1);
	dir_remove(m);
}

int memd_proc_start(struct memd_proc *m, int cpu)
{
	static unsigned counter;
	const char *tmp = getenv("TMPDIR");
	pid_t parent = getpid();
	int64_t deadline;
	int st;

	memset(m, 0, sizeof(*m));
	if (access(memd_proc_binary(), X_OK) < 0) {
		dprintf(STDERR_FILENO, "memd-bench: memd binary %s: %s (set $MEMD_BIN)\n",
		        memd_proc_binary(), strerror(errno));
		return -1;
	}
	if (!tmp || tmp[0] == '\0' || strlen(tmp) > 60)
		tmp = "/tmp";
	snprintf(m->dir, sizeof m->dir, "%s/memd-bench-XXXXXX", tmp);
	if (!mkdtemp(m->dir)) {
		dprintf(STDERR_FILENO, "memd-bench: mkdtemp %s: %s\n", m->dir, strerror(errno));
		m->dir[0] = '\0';
		return -1;
	}
	snprintf(m->sock, sizeof m->sock, "%s/memd.sock", m->dir);
	snprintf(m->log, sizeof m->log, "%s/memd.log", m->dir);
	snprintf(m->prefix, sizeof m->prefix, "memdb%dx%u", (int)getpid(), ++counter);
	fflush(NULL);
	m->pid = fork();
	if (m->pid < 0) {
		m->pid = 0;
		start_failed(m, strerror(errno));
		return -1;
	}
	if (m->pid == 0)
		memd_exec(m, parent, cpu);
	deadline = now_ms() + START_DEADLINE_MS;
	for (;;) {
		pid_t w = waitpid(m->pid, &st, WNOHANG);

		if (w == m->pid) {
			m->pid = 0;
			start_failed(m, WIFEXITED(st) ? "it exited" : "it was killed");
			return -1;
		}
		if (sock_accepts(m->sock))
			return 0;
		if (now_ms() > deadline) {
			start_failed(m, "no connection accepted within 10 s");
			return -1;
		}
		sleep_ms(2);
	}
}

int memd_proc_stop(struct memd_proc *m)
{
	int64_t deadline;
	int st = 0, bad = 0, left;
	pid_t w = 0;

	if (m->pid == 0)
		return 0;
	kill(m->pid, SIGTERM);
	deadline = now_ms() + STOP_DEADLINE_MS;
	while ((w = waitpid(m->pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
		sleep_ms(2);
	if (w == 0) {
		dprintf(STDERR_FILENO, "memd-bench: memd did not exit within 10 s of SIGTERM\n");
		kill(m->pid, SIGKILL);
		waitpid(m->pid, &st, 0);
		bad = 1;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			dprintf(STDERR_FILENO, "memd-bench: memd was killed by signal %d\n",
			        WTERMSIG(st));
		else
			dprintf(STDERR_FILENO, "memd-bench: memd exited with status %d\n",
			        WEXITSTATUS(st));
		bad = 1;
	}
	m->pid = 0;
	if (access(m->sock, F_OK) == 0) {
		dprintf(STDERR_FILENO, "memd-bench: memd left its socket %s behind\n", m->sock);
		bad = 1;
	}
	left = shm_scan(m, NULL, 1);
	if (left > 0) {
		dprintf(STDERR_FILENO, "memd-bench: memd left %d segment(s) /dev/shm/%s-*\n", left,
		        m->prefix);
		bad = 1;
	}
	if (bad)
		log_dump(m);
	dir_remove(m);
	return bad ? -1 : 0;
}

/* "NAME: N kB" of /proc/<pid>/status in bytes.  0 or -errno. */
static int pid_status_field(pid_t pid, const char *name, uint64_t *bytes)
{
	char path[64], buf[8192];
	size_t n = strlen(name), got = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	for (char *line = buf; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (!strncmp(line, name, n) && line[n] == ':') {
			*bytes = strtoull(line + n + 1, NULL, 10) * 1024;
			return 0;
		}
	}
	return -ENOENT;
}

int memd_proc_hwm_begin(pid_t pid, uint64_t *rss)
{
	char path[64];
	int fd;

	snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "5", 1) != 1) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	return pid_status_field(pid, "VmRSS", rss);
}

int memd_proc_hwm_end(pid_t pid, uint64_t *hwm)
{
	return pid_status_field(pid, "VmHWM", hwm);
}
