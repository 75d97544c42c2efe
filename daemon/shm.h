/*
 * shm.h - POSIX shared memory segments and sealed memfd pages: the only
 * place that calls shm_open, shm_unlink, memfd_create, ftruncate,
 * posix_fallocate and fallocate.
 *
 * Every function returns 0 (or an fd) on success and -errno on failure;
 * none of them asserts on environment errors.
 */
#ifndef MEMD_SHM_H
#define MEMD_SHM_H

#include <stdint.h>

#define SHM_DIR "/dev/shm" /* where glibc's shm_open() keeps the objects */

/* Create the shm object name ("/..."), O_EXCL, mode 0600, close-on-exec,
 * size bytes, every page reserved with posix_fallocate (so a full /dev/shm
 * fails here with -ENOSPC, never later with SIGBUS in a client).  0 with
 * *fd set, or -errno (-EEXIST name taken, -ENOSPC, -EMFILE, ...); on
 * failure the name is unlinked (if this call created it) and nothing
 * stays open. */
int shm_segment_create(const char *name, uint64_t size, int *fd);

/* As shm_segment_create, but sized with ftruncate only: no page is
 * reserved, so /dev/shm may be unable to back any of them.  Whoever hands
 * out a range of it must shm_reserve() that range first (a write to a page
 * tmpfs cannot back is SIGBUS in the writer).  -ENOSPC is then not
 * possible here; the other errors are shm_segment_create's. */
int shm_segment_create_sparse(const char *name, uint64_t size, int *fd);

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

/* Reserve the pages of [off, off + len) (posix_fallocate): after a punch,
 * or for the first time in a sparse segment, so writes there cannot
 * SIGBUS.  0, -ENOSPC, or -errno (on failure tmpfs keeps none of the pages
 * this call would have added). */
int shm_reserve(int fd, uint64_t off, uint64_t len);

/* Take the instance lock of prefix: the shm object "/<prefix>.lock"
 * (created mode 0600 if missing) with an exclusive open-file-description
 * lock on it, held through *fd for the caller's lifetime.  While one
 * process holds it, no other memd can claim the prefix, and segments named
 * for the prefix belong to a live daemon.  0 with *fd set; -EBUSY (another
 * live process holds it), or -errno. */
int shm_prefix_lock(const char *prefix, int *fd);

/* Release the lock taken by shm_prefix_lock(): unlink the lock object
 * (while still holding the lock, so a successor never locks an unlinked
 * object) and close fd.  fd < 0 is a no-op. */
void shm_prefix_unlock(const char *prefix, int fd);

/* With the prefix lock held: unlink every object in SHM_DIR whose name is
 * exactly "<prefix>-<pool>-<id>" (pool: 1..63 of [A-Za-z0-9._-], id: a
 * decimal 1..max_id without leading zeros), owned by our euid, and not
 * claimable by a live daemon whose longer prefix would also match it
 * ("<prefix>-a" owning "<prefix>-a-b-1").  Each removal is logged at info
 * with its size.  The number removed, or -errno if SHM_DIR cannot be
 * read. */
int shm_remove_stale(const char *prefix, uint32_t max_id);

/* Create a sealed page for a client: a memfd called name (shown in
 * /proc/PID/fd and maps as "memfd:NAME"), close-on-exec, size bytes (> 0)
 * all reserved, sealed with F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL (and
 * F_SEAL_EXEC where the kernel knows it), and mapped PROT_READ, MAP_SHARED
 * into the daemon.  The seals come before anyone else can see the fd, so
 * whoever it is sent to can write the page but never resize it under the
 * daemon's mapping (no SIGBUS here) nor lift the seals.  0 with *fd and
 * *map set, the caller owning both (shm_sealed_page_unmap, close); or
 * -errno (-EMFILE, -ENOMEM, -ENOSPC, ...) with nothing left open or
 * mapped. */
int shm_sealed_page_create(const char *name, uint64_t size, int *fd, const void **map);

/* As shm_sealed_page_create, but mapped PROT_READ | PROT_WRITE, for a
 * page both the daemon and the client write (the request ring).  The
 * page reads as zeros. */
int shm_sealed_rw_create(const char *name, uint64_t size, int *fd, void **map);

/* Unmap a page mapped by shm_sealed_page_create or shm_sealed_rw_create;
 * size as given there.  map NULL is a no-op. */
void shm_sealed_page_unmap(const void *map, uint64_t size);

/* Bytes an unprivileged process can still allocate in SHM_DIR (statvfs
 * f_bavail * f_frsize) into *out.  0 or -errno. */
int shm_free_bytes(uint64_t *out);

#endif /* MEMD_SHM_H */
