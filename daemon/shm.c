/*
 * shm.c - POSIX shared memory segments.
 *
 * What it does: creates, reserves, punches and destroys the shm objects
 * that back the pools.  This is the only file in memd that calls
 * shm_open, shm_unlink, ftruncate, posix_fallocate and fallocate, so every
 * way the kernel can refuse memory is handled here and surfaces as -errno.
 *
 * Invariants:
 *  - A segment is created O_CREAT|O_EXCL, mode 0600, close-on-exec: the
 *    daemon never adopts an object somebody else made, and only the
 *    daemon's uid can open it by name.  Clients get fds over the socket.
 *  - After shm_segment_create() returns 0 every page of the segment is
 *    allocated in tmpfs (posix_fallocate), so a full /dev/shm is -ENOSPC
 *    here and never a SIGBUS in a client touching the mapping later.
 *    posix_fallocate returns the error number itself (not -1/errno).
 *  - Punching a range (fallocate PUNCH_HOLE|KEEP_SIZE) frees its pages;
 *    madvise(MADV_DONTNEED) would free nothing on shared memory.  A range
 *    punched and later handed out again is re-reserved with shm_reserve()
 *    by the pool layer, which keeps the no-SIGBUS promise.
 *
 * Read-only fds: the segment stays named for the daemon's lifetime (it is
 * unlinked when its pool releases it or at shutdown), so a read-only fd is
 * made by opening the name again O_RDONLY.  The alternative, reopening
 * /proc/self/fd/N, needs /proc mounted and goes through a magic link; the
 * name is simpler and visible to operators in /dev/shm.  To make sure the
 * name still denotes our object (mode 0600 means only our own uid could
 * have swapped it), the new fd's device and inode are compared with the
 * read-write fd's, and a mismatch is -ESTALE.  The read-only open cannot
 * be upgraded: mmap(PROT_WRITE, MAP_SHARED) of an O_RDONLY fd is EACCES,
 * and mprotect cannot add PROT_WRITE to it later.
 *
 * Ownership: the caller owns the fds and names; this file keeps nothing.
 */
#include "shm.h"

#include "debug.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* posix_fallocate that retries EINTR and returns -errno. */
static int reserve_range(int fd, uint64_t off, uint64_t len)
{
	int rc;

	do {
		rc = posix_fallocate(fd, (off_t)off, (off_t)len);
	} while (rc == EINTR);
	return -rc;
}

int shm_segment_create(const char *name, uint64_t size, int *fd)
{
	int rc, f;

	memd_assert(name != NULL && name[0] == '/' && fd != NULL);
	if (size == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	f = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f < 0)
		return -errno;
	if (ftruncate(f, (off_t)size) < 0) {
		rc = -errno;
		goto fail_unlink;
	}
	rc = reserve_range(f, 0, size);
	if (rc < 0)
		goto fail_unlink;
	*fd = f;
	return 0;

fail_unlink:
	shm_unlink(name);
	close(f);
	return rc;
}

void shm_segment_destroy(const char *name, int fd)
{
	if (fd >= 0)
		close(fd);
	if (name != NULL)
		shm_unlink(name);
}

int shm_open_readonly(const char *name, int rw_fd)
{
	struct stat a, b;
	int f, rc;

	memd_assert(name != NULL && rw_fd >= 0);
	f = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	if (f < 0)
		return -errno;
	if (fstat(f, &a) < 0 || fstat(rw_fd, &b) < 0) {
		rc = -errno;
		goto fail_close;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		rc = -ESTALE;
		goto fail_close;
	}
	return f;

fail_close:
	close(f);
	return rc;
}

int shm_punch(int fd, uint64_t off, uint64_t len)
{
	memd_assert(fd >= 0);
	if (len == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

int shm_reserve(int fd, uint64_t off, uint64_t len)
{
	memd_assert(fd >= 0);
	if (len == 0)
		return 0;
	return reserve_range(fd, off, len);
}
