/*
 * memclient.h - libmemclient, the client side of memd.
 *
 * memd is a shared-memory heap for cooperating processes on one host.  A
 * process connects to the daemon, allocates blocks in named pools and gets a
 * 64-bit reference (memc_ref) that names the same block in every process.
 * memc_ptr() turns a reference into an address in the caller's own mapping
 * of the pool segment; the segment is mapped the first time it is needed.
 *
 * Conventions: every fallible call returns 0 or a negative errno value;
 * memc_strerror() explains one.  A memc_client may be used from many
 * threads at once.  After fork(), the child must connect anew; the parent's
 * client must not be used in the child.
 *
 * Errors callers can rely on:
 *   -ENOMEM       pool (or quota) exhausted
 *   -EACCES       no access to the pool
 *   -EINVAL       malformed argument, or not a live block
 *   -EPERM        not allowed (e.g. free of a block this client does not hold)
 *   -ENOENT       no such pool
 *   -EPIPE / -ECONNRESET  the daemon is gone
 *   -EPROTO       protocol version mismatch with the daemon
 */
#ifndef MEMCLIENT_H
#define MEMCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct memc_client memc_client;
typedef uint64_t memc_ref; /* 0 = no block */

#define MEMC_ZERO   0x1u /* memc_alloc: the block's bytes read as zero */
#define MEMC_SHARED 0x2u /* memc_alloc: allocate the block shared */

/* Default socket when neither the argument nor $MEMD_SOCKET names one. */
#define MEMC_DEFAULT_SOCKET "/run/memd/memd.sock"

/* Connect to memd.  socket_path NULL: $MEMD_SOCKET, else
 * MEMC_DEFAULT_SOCKET.  0 and *out set, or -ENOENT / -ECONNREFUSED (no
 * daemon there), -EACCES, -ENAMETOOLONG (path too long), -EPROTO (version
 * mismatch), -EINVAL (out is NULL), -ENOMEM. */
int memc_connect(const char *socket_path, memc_client **out);

/* Close the connection and unmap every segment.  The daemon drops every
 * hold the client had (its private blocks are freed).  NULL is a no-op. */
void memc_close(memc_client *c);

/* Allocate size bytes in pool (NULL: "default").  flags: MEMC_ZERO,
 * MEMC_SHARED.  The block is 16-byte aligned.  0 and *out set, or -EINVAL
 * (size 0, unknown flags, NULL arguments), -ENOENT (no such pool), -EACCES,
 * -ENOMEM, -EPIPE. */
int memc_alloc(memc_client *c, const char *pool, size_t size, unsigned flags, memc_ref *out);

/* Drop this client's hold on ref; a private block is freed.  0, or -EINVAL
 * (not the start of a live block), -EPERM (this client holds no such
 * block), -EPIPE. */
int memc_free(memc_client *c, memc_ref ref);

/* Address of ref in this process, mapping its segment on first use.  NULL
 * with errno set (EINVAL for a bad reference, EACCES, EPIPE) on failure.
 * The address stays valid until memc_close().  A reference this client does
 * not hold is a borrow: nothing keeps the block alive. */
void *memc_ptr(memc_client *c, memc_ref ref);

/* Reference of the byte at ptr if it lies in a mapped pool segment, else 0.
 * Interior pointers give interior references (valid for memc_ptr only). */
memc_ref memc_ref_of(memc_client *c, const void *ptr);

/* Usable size of the live block ref (at least the size allocated).  0, or
 * -EINVAL (not a live block), -EPIPE. */
int memc_size(memc_client *c, memc_ref ref, size_t *out);

/* Text for an error value returned by this library (negative errno); never
 * NULL. */
const char *memc_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* MEMCLIENT_H */
