/*
 * shm.h - POSIX shared memory segments: the only place that calls
 * shm_open, shm_unlink, ftruncate, posix_fallocate and fallocate.
 *
 * Every function returns 0 (or an fd) on success and -errno on failure;
 * none of them asserts on environment errors.
 */
#ifndef MEMD_SHM_H
#define MEMD_SHM_H

#include <stdint.h>

/* Create the shm object name ("/..."), O_EXCL, mode 0600, close-on-exec,
 * size bytes, every page reserved with posix_fallocate (so a full /dev/shm
 * fails here with -ENOSPC, never later with SIGBUS in a client).  0 with
 * *fd set, or -errno (-EEXIST name taken, -ENOSPC, -EMFILE, ...); on
 * failure the name is unlinked (if this call created it) and nothing
 * stays open. */
int shm_segment_create(const char *name, uint64_t size, int *fd);

/* Close fd (if >= 0) and unlink name (if non-NULL).  Errors are ignored:
 * this is teardown. */
void shm_segment_destroy(const char *name, int fd);

/* Open the object name read-only (O_RDONLY|O_CLOEXEC) and check that it is
 * the very object behind rw_fd (same device and inode), so a name swapped
 * under us is refused.  fd >= 0, or -errno (-ESTALE if the name now names
 * another object). */
int shm_open_readonly(const char *name, int rw_fd);

/* Give the pages of [off, off + len) back to the OS (fallocate
 * PUNCH_HOLE|KEEP_SIZE); the range reads as zeros afterwards.  off and len
 * should be page multiples.  0 or -errno. */
int shm_punch(int fd, uint64_t off, uint64_t len);

/* Reserve the pages of [off, off + len) again (posix_fallocate) after a
 * punch, so writes there cannot SIGBUS.  0, -ENOSPC, or -errno. */
int shm_reserve(int fd, uint64_t off, uint64_t len);

#endif /* MEMD_SHM_H */
