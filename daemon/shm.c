/*
 * shm.c - POSIX shared memory segments, and sealed memfd pages.
 *
 * What it does: creates, reserves, punches and destroys the shm objects
 * that back the pools, and makes the sealed memfd pages the daemon shares
 * with one client (the client cache's counters and the request ring,
 * proto.h).  This is the only file in memd that calls shm_open,
 * shm_unlink, memfd_create, ftruncate, posix_fallocate and fallocate, so
 * every way the kernel can refuse memory is handled here and surfaces as
 * -errno.
 *
 * Invariants:
 *  - A segment is created O_CREAT|O_EXCL, mode 0600, close-on-exec: the
 *    daemon never adopts an object somebody else made, and only the
 *    daemon's uid can open it by name.  Clients get fds over the socket.
 *  - After shm_segment_create() returns 0 every page of the segment is
 *    allocated in tmpfs (posix_fallocate), so a full /dev/shm is -ENOSPC
 *    here and never a SIGBUS in a client touching the mapping later.
 *    posix_fallocate returns the error number itself (not -1/errno).
 *  - shm_segment_create_sparse() only sizes the object (ftruncate): none
 *    of its pages is allocated, and a write to one that tmpfs cannot back
 *    is a SIGBUS.  The pool layer (which makes every segment but a pool's
 *    first one this way) reserves each range with shm_reserve() before a
 *    block over it leaves the daemon, which keeps the no-SIGBUS promise.
 *  - Punching a range (fallocate PUNCH_HOLE|KEEP_SIZE) frees its pages;
 *    madvise(MADV_DONTNEED) would free nothing on shared memory.  A range
 *    punched and later handed out again is re-reserved with shm_reserve()
 *    by the pool layer, likewise.
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
 * Instance lock and stale segments: a daemon that died by SIGKILL (or a
 * crash, or a power cut of a non-tmpfs /dev/shm) leaves its segments
 * behind, and the next daemon with the same prefix would fail its O_EXCL
 * creates.  To tell "left behind" from "in use by a live daemon", every
 * daemon holds an exclusive OFD lock (fcntl F_OFD_SETLK) on the object
 * "/<prefix>.lock" for its whole life; the kernel drops the lock when the
 * process dies, however it dies.  A starting daemon that gets the lock
 * knows no live daemon uses the prefix and removes the segment names that
 * match the naming pattern exactly.  OFD locks (rather than flock) are
 * used because F_OFD_GETLK can test somebody else's lock without taking
 * it: the stale sweep probes the locks of longer prefixes that could also
 * own a name, and must never make their starting daemon fail.  The lock
 * object is unlinked at a clean shutdown while the lock is still held; a
 * starter that opened the name just before checks after locking that the
 * name still denotes the object it locked, and retries otherwise.
 *
 * Sealed pages: a page the daemon reads while a client writes it must not
 * shrink under the daemon's mapping (reading past the end of a shrunk
 * file is SIGBUS, in the daemon).  memfd_create(MFD_ALLOW_SEALING) makes
 * an anonymous file; it is sized, its pages reserved (as for segments: a
 * client writing its page never faults for lack of memory), then sealed
 * F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL before the daemon maps it or
 * anyone else sees the fd; F_SEAL_SEAL then stops the client from
 * changing the seals in any way.  A client may still punch holes in its
 * page (only F_SEAL_WRITE forbids that, and it forbids writing too): the
 * daemon then reads zeros, never a fault.  MFD_NOEXEC_SEAL (Linux 6.3) is
 * asked for first, so a host with vm.memfd_noexec = 2 still gives us a
 * memfd; older kernels refuse the flag with EINVAL and get the plain one.
 * The request ring (ring.c) is such a page mapped read-write
 * (shm_sealed_rw_create): the daemon also writes there, two words on its
 * first page.  A client that punches that page makes the kernel back the
 * daemon's next store with a fresh zero page (memfds live on the kernel's
 * internal tmpfs, which has no size limit: never a SIGBUS).
 *
 * Ownership: the caller owns the fds, names and mappings; this file keeps
 * nothing.
 */
#include "shm.h"

#include "debug.h"
#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SHM_LOCK_TRIES 8 /* lock-then-verify rounds before giving up */

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008u /* Linux 6.3: not executable, F_SEAL_EXEC set */
#endif

/* posix_fallocate that retries EINTR and returns -errno. */
static int reserve_range(int fd, uint64_t off, uint64_t len)
{
	int rc;

	do {
		rc = posix_fallocate(fd, (off_t)off, (off_t)len);
	} while (rc == EINTR);
	return -rc;
}

/* Create the object name of size bytes, every page reserved if reserve.
 * 0 with *fd set, or -errno with nothing left behind. */
static int segment_create(const char *name, uint64_t size, bool reserve, int *fd)
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
	if (reserve) {
		rc = reserve_range(f, 0, size);
		if (rc < 0)
			goto fail_unlink;
	}
	*fd = f;
	return 0;

fail_unlink:
	shm_unlink(name);
	close(f);
	return rc;
}

int shm_segment_create(const char *name, uint64_t size, int *fd)
{
	return segment_create(name, size, true, fd);
}

int shm_segment_create_sparse(const char *name, uint64_t size, int *fd)
{
	return segment_create(name, size, false, fd);
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

/* "/<prefix>.lock" into buf.  0 or -ENAMETOOLONG. */
static int lock_name(const char *prefix, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/%s.lock", prefix);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* An OFD write lock over the whole file, for F_OFD_SETLK / F_OFD_GETLK. */
static struct flock whole_file_lock(void)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	return fl;
}

/* Does the name still denote the object behind fd?  1, 0, or -errno. */
static int name_is_fd(const char *name, int fd)
{
	struct stat a, b;
	int f = shm_open(name, O_RDONLY | O_CLOEXEC, 0);

	if (f < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(f, &a) < 0 || fstat(fd, &b) < 0) {
		int rc = -errno;
		close(f);
		return rc;
	}
	close(f);
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int shm_prefix_lock(const char *prefix, int *fd)
{
	char name[128];
	struct flock fl;
	int rc, f = -1;

	rc = lock_name(prefix, name, sizeof(name));
	if (rc < 0)
		return rc;
	for (int tries = 0; tries < SHM_LOCK_TRIES; tries++) {
		f = shm_open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (f < 0)
			return -errno;
		fl = whole_file_lock();
		if (fcntl(f, F_OFD_SETLK, &fl) < 0) {
			rc = (errno == EAGAIN || errno == EACCES) ? -EBUSY : -errno;
			goto fail_close;
		}
		rc = name_is_fd(name, f);
		if (rc < 0)
			goto fail_close;
		if (rc == 1) {
			*fd = f;
			return 0;
		}
		close(f); /* unlinked by its previous holder meanwhile: again */
	}
	return -EBUSY;

fail_close:
	close(f);
	return rc;
}

void shm_prefix_unlock(const char *prefix, int fd)
{
	char name[128];

	if (fd < 0)
		return;
	if (lock_name(prefix, name, sizeof(name)) == 0)
		shm_unlink(name);
	close(fd);
}

/* Is the lock object of prefix (given as the first len bytes of s) held
 * by a live process other than us? */
static bool prefix_is_live(const char *s, size_t len)
{
	char name[320];
	struct flock fl;
	bool live;
	int f;

	if (snprintf(name, sizeof(name), "/%.*s.lock", (int)len, s) >= (int)sizeof(name))
		return false;
	f = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	if (f < 0)
		return false;
	fl = whole_file_lock();
	live = fcntl(f, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(f);
	return live;
}

static bool pool_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* Is name (a SHM_DIR entry, no leading '/') "<prefix>-<pool>-<id>" with
 * id in 1..max_id, and no live longer prefix that could own it? */
static bool stale_name_matches(const char *name, const char *prefix, uint32_t max_id)
{
	size_t plen = strlen(prefix), len = strlen(name);
	const char *pool, *dash, *id;
	unsigned long long v;
	char *end;

	if (len <= plen + 1 || strncmp(name, prefix, plen) != 0 || name[plen] != '-')
		return false;
	pool = name + plen + 1;
	dash = strrchr(pool, '-');
	if (dash == NULL || dash == pool || dash - pool > 63)
		return false;
	for (const char *c = pool; c < dash; c++)
		if (!pool_char(*c))
			return false;
	id = dash + 1;
	if (!isdigit((unsigned char)id[0]) || id[0] == '0')
		return false;
	errno = 0;
	v = strtoull(id, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > max_id)
		return false;
	/* "<prefix>-a-b-1" is also "<prefix>-a"'s pool "b": leave it to a
	 * live daemon with such a prefix. */
	for (const char *c = pool; c < dash; c++)
		if (*c == '-' && prefix_is_live(name, (size_t)(c - name)))
			return false;
	return true;
}

int shm_remove_stale(const char *prefix, uint32_t max_id)
{
	struct dirent *de;
	struct stat st;
	char name[NAME_MAX + 2];
	int removed = 0;
	DIR *d;

	d = opendir(SHM_DIR);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (!stale_name_matches(de->d_name, prefix, max_id))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		snprintf(name, sizeof(name), "/%s", de->d_name);
		if (shm_unlink(name) < 0) {
			log_warn("cannot remove stale segment %s: %s", name, strerror(errno));
			continue;
		}
		log_info("removed stale segment %s (%" PRIu64 " bytes) left by a dead memd", name,
		         (uint64_t)st.st_size);
		removed++;
	}
	closedir(d);
	return removed;
}

/* memfd_create(name), close-on-exec and sealable; not executable where
 * the kernel knows MFD_NOEXEC_SEAL.  fd or -errno. */
static int sealable_memfd(const char *name)
{
	int f = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);

	if (f < 0 && errno == EINVAL)
		f = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	return f < 0 ? -errno : f;
}

/* Make a sealed memfd of size bytes, every page reserved, and map it
 * MAP_SHARED with prot: shm_sealed_page_create and shm_sealed_rw_create. */
static int sealed_create(const char *name, uint64_t size, int prot, int *fd, void **map)
{
	void *m;
	int rc, f;

	memd_assert(name != NULL && fd != NULL && map != NULL);
	if (size == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	f = sealable_memfd(name);
	if (f < 0)
		return f;
	if (ftruncate(f, (off_t)size) < 0) {
		rc = -errno;
		goto fail_close;
	}
	rc = reserve_range(f, 0, size);
	if (rc < 0)
		goto fail_close;
	if (fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto fail_close;
	}
	m = mmap(NULL, (size_t)size, prot, MAP_SHARED, f, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto fail_close;
	}
	*fd = f;
	*map = m;
	return 0;

fail_close:
	close(f);
	return rc;
}

int shm_sealed_page_create(const char *name, uint64_t size, int *fd, const void **map)
{
	void *m;
	int rc = sealed_create(name, size, PROT_READ, fd, &m);

	if (rc == 0)
		*map = m;
	return rc;
}

int shm_sealed_rw_create(const char *name, uint64_t size, int *fd, void **map)
{
	return sealed_create(name, size, PROT_READ | PROT_WRITE, fd, map);
}

void shm_sealed_page_unmap(const void *map, uint64_t size)
{
	if (map != NULL)
		munmap((void *)map, (size_t)size);
}

int shm_free_bytes(uint64_t *out)
{
	struct statvfs sv;

	if (statvfs(SHM_DIR, &sv) < 0)
		return -errno;
	*out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}
