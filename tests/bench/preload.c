/*
 * preload.c - run a malloc replay under another allocator (jemalloc)
 * through LD_PRELOAD.
 *
 * An allocator can only be put in front of glibc's when a process starts,
 * so a preload run's child (a fork of memd-bench, see run.c) executes
 * /proc/self/exe again as `__replay-child` with LD_PRELOAD set.  That
 * process loads the trace itself (the trace lives in anonymous memory that
 * exec does not keep), replays it with the preloaded malloc and reports
 * like any other run.  Loading the trace uses mmap only (trace.h), so the
 * preloaded allocator starts the replay as fresh as glibc does in a forked
 * child; its own set-up happens in the replay's untimed warm-up.
 *
 * Finding jemalloc runs in the parent, which must not touch the C heap
 * before its children have run (memd-bench.c): paths live in static
 * buffers, `ldconfig -p` is read through a pipe into a fixed buffer, no
 * stdio.  A candidate counts only if it is an ELF object of this
 * executable's class and machine (a 32-bit jemalloc on a multilib system
 * would not load).  A build with AddressSanitizer cannot preload anything
 * (the ASan runtime must come first), so there every preload is refused.
 *
 * MEMD_BENCH_MULTIARCH (the compiler's -print-multiarch, from meson.build)
 * names Debian's library directory; it may be empty.
 */
#include "preload.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MEMD_BENCH_MULTIARCH
#define MEMD_BENCH_MULTIARCH ""
#endif

#if defined(__SANITIZE_ADDRESS__)
#define PRELOAD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRELOAD_SANITIZED 1
#endif
#endif
#ifndef PRELOAD_SANITIZED
#define PRELOAD_SANITIZED 0
#endif

#define JEMALLOC_SONAME "libjemalloc.so.2"
#define PATH_BYTES      512

/* The first bytes of an ELF header that say whom the file is for. */
struct elf_id {
	unsigned char ident[EI_NIDENT]; /* magic, class, data encoding, ... */
	uint16_t type;                  /* e_type */
	uint16_t machine;               /* e_machine */
};

static char found[PATH_BYTES];           /* preload_find_jemalloc's answer */
static char unusable[PATH_BYTES + 64];   /* preload_usable's last why */
static char not_found[PATH_BYTES + 160]; /* preload_find_jemalloc's last why */

/* Read the ELF identification of path.  true on success. */
static bool elf_id_read(const char *path, struct elf_id *id)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, id, sizeof(*id));
	close(fd);
	return n == (ssize_t)sizeof(*id) && !memcmp(id->ident, ELFMAG, SELFMAG);
}

/* true if path is a shared object this executable could load. */
static bool elf_matches_self(const char *path)
{
	struct elf_id self, lib;

	if (!elf_id_read("/proc/self/exe", &self) || !elf_id_read(path, &lib))
		return false;
	return lib.type == ET_DYN && lib.ident[EI_CLASS] == self.ident[EI_CLASS] &&
	       lib.ident[EI_DATA] == self.ident[EI_DATA] && lib.machine == self.machine;
}

bool preload_usable(const char *lib, const char **why)
{
	if (PRELOAD_SANITIZED) {
		*why = "memd-bench is built with AddressSanitizer, which cannot run under "
		       "LD_PRELOAD";
		return false;
	}
	if (access(lib, R_OK) < 0) {
		snprintf(unusable, sizeof unusable, "%s: %s", lib, strerror(errno));
		*why = unusable;
		return false;
	}
	if (!elf_matches_self(lib)) {
		snprintf(unusable, sizeof unusable, "%s: not a shared object for this machine",
		         lib);
		*why = unusable;
		return false;
	}
	return true;
}

/* Keep path as the answer if it is usable.  true if kept. */
static bool try_path(const char *path)
{
	const char *why;

	if (strlen(path) >= sizeof found || !preload_usable(path, &why))
		return false;
	memcpy(found, path, strlen(path) + 1);
	return true;
}

/* The fixed places: Debian's multiarch directories, then the usual ones. */
static bool try_directories(void)
{
	static const char *const dirs[] = {"/usr/lib/" MEMD_BENCH_MULTIARCH,
	                                   "/lib/" MEMD_BENCH_MULTIARCH, "/usr/lib64",
	                                   "/usr/local/lib", "/usr/lib"};
	char path[PATH_BYTES];

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (!MEMD_BENCH_MULTIARCH[0] && i < 2)
			continue;
		snprintf(path, sizeof path, "%s/%s", dirs[i], JEMALLOC_SONAME);
		if (try_path(path))
			return true;
	}
	return false;
}

/* One line of `ldconfig -p`: "\tlibjemalloc.so.2 (libc6,x86-64) => PATH". */
static bool try_ldconfig_line(char *line)
{
	const char *arrow;

	while (*line == ' ' || *line == '\t')
		line++;
	if (strncmp(line, JEMALLOC_SONAME " ", strlen(JEMALLOC_SONAME) + 1))
		return false;
	arrow = strstr(line, "=> ");
	return arrow && try_path(arrow + 3);
}

/* Start `ldconfig -p` with its stdout on a pipe.  The read end, or -1. */
static int ldconfig_spawn(pid_t *pid)
{
	static char *const argv[] = {"ldconfig", "-p", NULL};
	int fds[2], null;

	if (pipe(fds) < 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		close(fds[0]);
		null = open("/dev/null", O_WRONLY);
		dup2(fds[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execvp("ldconfig", argv);
		execv("/sbin/ldconfig", argv);
		execv("/usr/sbin/ldconfig", argv);
		_exit(127);
	}
	close(fds[1]);
	if (*pid < 0) {
		close(fds[0]);
		return -1;
	}
	return fds[0];
}

/* Read lines from fd until one names a usable jemalloc or the end. */
static bool ldconfig_scan(int fd)
{
	char buf[4096], line[PATH_BYTES + 64];
	size_t len = 0;
	bool hit = false;
	ssize_t n;

	while (!hit && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))) {
		for (ssize_t i = 0; i < n && !hit; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof line - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			hit = try_ldconfig_line(line);
		}
	}
	return hit;
}

/* What the dynamic linker's cache says.  true if it names a usable one. */
static bool try_ldconfig(void)
{
	pid_t pid;
	int fd = ldconfig_spawn(&pid), ws;
	bool hit;

	if (fd < 0)
		return false;
	hit = ldconfig_scan(fd);
	close(fd); /* an early stop leaves ldconfig a broken pipe */
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	return hit;
}

const char *preload_find_jemalloc(const char **why)
{
	const char *env = getenv("MEMD_BENCH_JEMALLOC");

	if (PRELOAD_SANITIZED) {
		(void)preload_usable(JEMALLOC_SONAME, why);
		return NULL;
	}
	if (env && env[0]) {
		if (try_path(env))
			return found;
		if (preload_usable(env, why))
			*why = "path too long";
		snprintf(not_found, sizeof not_found,
		         PRELOAD_NO_JEMALLOC " (MEMD_BENCH_JEMALLOC: %s)", *why);
		*why = not_found;
		return NULL;
	}
	if (try_directories() || try_ldconfig())
		return found;
	*why = PRELOAD_NO_JEMALLOC " (no usable " JEMALLOC_SONAME
	                           " found; Debian: apt-get install libjemalloc2)";
	return NULL;
}

int preload_exec(const char *lib, const char *mode, unsigned run, int fd, const char *trace)
{
	char run_s[16], fd_s[16];
	char *argv[] = {"memd-bench", "__replay-child", (char *)mode, run_s,
	                fd_s,         (char *)trace,    NULL};

	snprintf(run_s, sizeof run_s, "%u", run);
	snprintf(fd_s, sizeof fd_s, "%d", fd);
	if (setenv("LD_PRELOAD", lib, 1) < 0)
		return -errno;
	execv("/proc/self/exe", argv);
	return -errno;
}

bool preload_jemalloc_active(void)
{
	return dlsym(RTLD_DEFAULT, "mallctl") != NULL;
}
