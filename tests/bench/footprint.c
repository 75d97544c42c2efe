/*
 * footprint.c - resident-memory high-water marks from /proc/self.
 *
 * The mechanism: writing "5" to /proc/self/clear_refs sets the process's
 * high-water RSS (VmHWM) to its current RSS; afterwards the kernel raises
 * VmHWM whenever RSS grows, so VmHWM - VmRSS(at reset) is the peak growth
 * over the interval.  Checked on this project's kernel (6.18) with both
 * anonymous memory and MAP_SHARED POSIX shm: touching N pages of a shm
 * mapping raises VmRSS (via RssShmem) and VmHWM by exactly N * 4 KiB, and
 * the peak survives a later munmap or MADV_DONTNEED.  One caveat: when a
 * peak is followed by an unmap, the kernel records it from its per-CPU
 * approximate counters, so such a peak may read up to ~128 KiB per CPU
 * low (observed: 150-180 KiB under an 8 MiB peak).
 *
 * Nothing here may disturb what it measures: the files are read with
 * open/read into fixed buffers (stdio would malloc a FILE and a buffer,
 * leaving free chunks a malloc replay would then reuse for free).
 *
 * footprint_prepare() exists because a replay would otherwise fault in
 * program text (fault-around maps up to 16 pages at once) and stack, and
 * count that as allocator footprint.  It reads one byte of every page of
 * every file-backed mapping that is readable and not writable.
 */
#include "footprint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

/* Read all of path (up to len - 1 bytes) into buf, NUL-terminated.
 * Returns bytes read or -errno. */
static long slurp(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return (long)got;
}

/* Value in bytes of the "NAME:  N kB" line of /proc/self/status.  0 or
 * -errno (-ENOENT when the field is absent). */
static int status_field(const char *name, uint64_t *bytes)
{
	char buf[8192];
	size_t n = strlen(name);
	long got = slurp("/proc/self/status", buf, sizeof buf);

	if (got < 0)
		return (int)got;
	for (char *line = buf; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (!strncmp(line, name, n) && line[n] == ':') {
			*bytes = strtoull(line + n + 1, NULL, 10) * 1024;
			return 0;
		}
	}
	return -ENOENT;
}

/* Read one byte of each page of [lo, hi).  These reads land between the
 * objects a sanitizer knows about, so it is told to look away. */
__attribute__((no_sanitize_address)) static void touch_range(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t a = lo; a < hi; a += PAGE)
		(void)*(volatile const char *)a;
}

/* Handle one line of /proc/self/maps: fault in the mapping if it is a
 * readable, non-writable mapping of a file. */
static void prefault_line(const char *line)
{
	unsigned long lo, hi;
	char perms[5];
	int path_at = 0;

	if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &lo, &hi, perms, &path_at) < 3)
		return;
	if (perms[0] != 'r' || perms[1] == 'w' || path_at == 0 || line[path_at] != '/')
		return;
	touch_range(lo, hi);
}

/* Touch 64 KiB of stack below the caller. */
__attribute__((noinline)) static void prefault_stack(void)
{
	volatile char pad[64 * 1024];

	for (size_t i = 0; i < sizeof pad; i += PAGE)
		pad[i] = 0;
}

void footprint_prepare(void)
{
	static char maps[256 * 1024];
	struct timespec ts;

	if (slurp("/proc/self/maps", maps, sizeof maps) > 0) {
		for (char *line = maps; line && *line;) {
			char *nl = strchr(line, '\n');

			if (nl)
				*nl = '\0';
			prefault_line(line);
			line = nl ? nl + 1 : NULL;
		}
	}
	prefault_stack();
	clock_gettime(CLOCK_MONOTONIC, &ts);
}

int footprint_begin(uint64_t *rss)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, "5", 1);
	if (n != 1) {
		n = n < 0 ? -errno : -EIO;
		close(fd);
		return (int)n;
	}
	close(fd);
	return status_field("VmRSS", rss);
}

int footprint_end(uint64_t *hwm)
{
	return status_field("VmHWM", hwm);
}
