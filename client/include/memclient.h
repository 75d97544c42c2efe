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
 *   -ENOMEM       pool exhausted
 *   -EDQUOT       a quota of the pool (client_quota, uid_quota) would be exceeded
 *   -EACCES       no access to the pool (or no write access, for a writing call)
 *   -EINVAL       malformed argument, or not a live block
 *   -EPERM        not allowed: retain of a private block, free of a block
 *                 this client does not hold
 *   -ENOENT       no such pool or published name
 *   -EEXIST       name already published
 *   -ENOSPC       the daemon's limit on published names (max_names) is reached
 *   -EUSERS       memc_connect: the daemon's max_clients is reached
 *   -EPIPE / -ECONNRESET  the daemon is gone
 *   -EPROTO       protocol version mismatch with the daemon
 *
 * Blocks, holds and sharing.  A block stays alive while something holds it.
 * memc_alloc() returns a private block: its allocating client holds it once
 * and memc_free() frees it.  memc_share() (or memc_publish(), or
 * memc_alloc() with MEMC_SHARED) makes a block shared; then other clients
 * take holds with memc_retain() or memc_lookup().  Holds are counted per
 * client: every memc_alloc, memc_retain and memc_lookup gives the caller one
 * hold, every memc_free drops one, so a client that retained a block twice
 * frees it twice.  A published name holds its block once until
 * memc_unpublish().  A shared block is freed when its last hold, a client's
 * or a name's, is dropped.  memc_close(), exit, or a crash drops all the
 * client's holds at once; blocks others hold stay intact.
 *
 * Access.  Pools may limit who reads and writes them (the daemon's
 * configuration, by uid and group).  A client with read access only gets a
 * read-only mapping (writing through memc_ptr() then faults with SIGSEGV);
 * it may memc_retain, memc_lookup, memc_size and read, but memc_alloc and
 * memc_publish/memc_unpublish there fail with -EACCES.
 *
 * The fast path.  Private blocks of up to 32 KiB come from caches in the
 * calling thread (one per client, pool and size class) that the library
 * fills from memd many blocks per message and empties back the same way;
 * memc_free of such a block keeps it in the freeing thread's cache for the
 * next memc_alloc of its size class.  So most memc_alloc and memc_free
 * calls make no system call and take no lock another thread holds.  When
 * a class's cache is empty while more blocks are on their way, memc_alloc
 * may hand out a block of a class just above (at most a quarter, or 32
 * bytes, larger) rather than wait; memc_size tells the usable size.
 * Larger blocks, MEMC_SHARED, sharing, names and memc_retain always ask
 * memd.  To memd, cached blocks are blocks the client holds: they count in
 * quotas and in the pool until the cache gives them back; `memctl clients`
 * shows them apart from the blocks in use.  When memd refuses a request
 * with -EDQUOT or -ENOMEM, the library first gives every thread's cached
 * blocks back and tries once more, so a quota holds exactly as if there
 * were no cache.  A thread's cache is given back when the thread exits,
 * all of them at memc_close().  Each cache is bounded in bytes, and so are
 * all of a client's caches together, read from the environment at
 * memc_connect():
 *   MEMC_THREAD_CACHE_BYTES  one thread's cache (default 2M)
 *   MEMC_CACHE_BYTES         all the client's caches (default 8M); 0 turns
 *                            the cache off (every call asks memd)
 * Values are bytes with an optional K, M or G suffix; an invalid value
 * turns the cache off.  A call that waits for memd polls for the reply
 * without sleeping for MEMC_SPIN_US microseconds (0..10000, default 50;
 * 0 or an invalid value: never) before it sleeps, since a reply that
 * comes that soon is then read without an idle CPU's wake-up; on a
 * machine with one CPU online it never polls.  The requests the cache
 * does not wait for (leases ahead, returns) go to memd through a ring in
 * shared memory rather than the socket, which saves a system call each;
 * MEMC_RING=0 sends them on the socket.  The cache refuses what
 * memd refuses: freeing a block twice or by an interior reference gives
 * -EINVAL, a block this
 * client does not hold -EPERM, and neither is ever cached.
 *
 * Quotas.  A pool may cap the bytes one client (client_quota) or all the
 * clients of one uid (uid_quota) hold in it; a call that would pass either
 * fails with -EDQUOT and dropping holds gives the room back.  A client is
 * charged the usable size of each distinct block it holds (once, however
 * many holds it has on it), shared blocks included; published names are
 * charged to nobody.
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
 * mismatch), -EUSERS (the daemon serves max_clients clients already),
 * -EINVAL (out is NULL), -ENOMEM. */
int memc_connect(const char *socket_path, memc_client **out);

/* Close the connection and unmap every segment.  The daemon drops every
 * hold the client had (its private blocks are freed; shared ones when no
 * other client or name holds them).  NULL is a no-op. */
void memc_close(memc_client *c);

/* Allocate size bytes in pool (NULL: "default"); the caller holds the new
 * block once.  flags: MEMC_ZERO, MEMC_SHARED (the block is shared from the
 * start, as after memc_share).  The block is 16-byte aligned.  0 and *out
 * set, or -EINVAL (size 0, unknown flags, NULL arguments), -ENOENT (no such
 * pool), -EACCES (no write access), -ENOMEM, -EDQUOT, -EPIPE. */
int memc_alloc(memc_client *c, const char *pool, size_t size, unsigned flags, memc_ref *out);

/* Drop one of this client's holds on ref; a private block is freed, a
 * shared one when its last hold goes.  0, or -EINVAL (not the start of a
 * live block), -EPERM (this client holds no hold on it), -EPIPE. */
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

/* Make ref, a block this client holds, shared, so other clients may
 * memc_retain() it.  Sharing a shared block is a no-op.  The client keeps
 * its hold.  0, or -EINVAL (not a live block), -EPERM (this client holds no
 * hold on it), -ENOMEM, -EPIPE. */
int memc_share(memc_client *c, memc_ref ref);

/* Take one more hold on the shared block ref (memc_free() drops it).  Needs
 * read access to the block's pool.  0, or -EINVAL (not a live block),
 * -EPERM (the block is private), -EACCES, -EDQUOT, -EPIPE. */
int memc_retain(memc_client *c, memc_ref ref);

/* Publish ref, a block this client holds, under name: 1..255 printable
 * ASCII bytes (0x20..0x7e), NUL-terminated.  The name holds the block (which
 * becomes shared) until memc_unpublish(); the caller keeps its own hold.
 * Needs write access to the block's pool.  0, or -EINVAL (bad name, not a
 * live block), -EPERM (this client holds no hold on ref), -EACCES, -EEXIST
 * (the name is taken), -ENOSPC (max_names reached), -EPIPE. */
int memc_publish(memc_client *c, const char *name, memc_ref ref);

/* The block published as name, with one more hold for this client (drop it
 * with memc_free()).  Needs read access to the block's pool.  0 and *out
 * set, or -EINVAL (bad name), -ENOENT (no such name), -EACCES, -EDQUOT,
 * -EPIPE. */
int memc_lookup(memc_client *c, const char *name, memc_ref *out);

/* Remove name; its hold on the block goes (the block is freed if nothing
 * else holds it).  Needs write access to the block's pool (any writer may
 * unpublish, not only the publisher).  0, or -EINVAL (bad name), -ENOENT,
 * -EACCES, -EPIPE. */
int memc_unpublish(memc_client *c, const char *name);

/* Text for an error value returned by this library (negative errno); never
 * NULL. */
const char *memc_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* MEMCLIENT_H */
