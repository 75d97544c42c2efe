/*
 * session.h - what the daemon knows about one connected client.
 *
 * A session is born with its connection and dies with it.  Its identity
 * (uid, gid, pid) comes from SO_PEERCRED at accept time, never from a
 * message.  It records every block the client holds, the pools the client
 * opened with POOL (and the access it was granted), the bytes it holds per
 * pool (client_quota), and counters.  When the connection ends for any
 * reason, session_release() drops every hold (DESIGN.md invariant 8).
 *
 * Holds (DESIGN.md section 3, issue 4):
 *  - a private block (fresh from ALLOC) has exactly one hold, its
 *    allocator's; FREE frees it;
 *  - a shared block (SHARE, PUBLISH, ALLOC with MEMD_ALLOC_SHARED) is in
 *    the pool set's block table; each session holds it a counted number
 *    of times (ALLOC, RETAIN and LOOKUP each add one, FREE drops one) and
 *    each published name holds it once; it is freed when the last hold
 *    goes;
 *  - session_release drops all of a session's holds at once.
 *
 * Quotas: a session is charged the usable size of every distinct block it
 * holds (once, however many holds it has on it), in the block's pool; a
 * uid is charged the sum of its sessions' charges (so a block two sessions
 * of one uid hold counts twice).  Names are charged to nobody.  A hold
 * that would take the session past the pool's client_quota, or its uid
 * past uid_quota, is refused with -EDQUOT; dropping the hold gives the
 * room back.
 *
 * The client cache's counters page (CACHE_PAGE, proto.h): at most one per
 * session, created on request, mapped read-only into the daemon and
 * unmapped by session_release().  Only the statistics read it.
 */
#ifndef MEMD_SESSION_H
#define MEMD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "holds.h"
#include "proto.h"

struct pool;
struct pool_set;

struct session {
	uint64_t id;                              /* unique for the daemon's lifetime, >= 1 */
	uint64_t connected_ns;                    /* CLOCK_REALTIME when the session began */
	pid_t pid;                                /* peer pid (SO_PEERCRED) */
	uid_t uid;                                /* peer effective uid (SO_PEERCRED) */
	gid_t gid;                                /* peer effective gid (SO_PEERCRED) */
	char name[MEMD_CLIENT_NAME_MAX];          /* client's name from HELLO, "" before */
	bool hello_done;                          /* a HELLO with our version succeeded */
	struct pool_set *pools;                   /* the daemon's pools (borrowed) */
	uint32_t *pool_access;                    /* [pool id - 1]: MEMD_ACCESS_* granted by
	                                             POOL, 0 = not opened; NULL until first POOL */
	struct holds holds;                       /* every block this session holds (once each) */
	uint64_t *pool_bytes;                     /* [pool id - 1]: usable bytes held there
	                                             (client_quota); NULL until first use */
	uint32_t pool_slots;                      /* entries in pool_access and pool_bytes */
	uint64_t blocks_held;                     /* == holds_count(&holds) */
	uint64_t bytes_held;                      /* usable bytes of the held blocks */
	const struct memd_cache_slot *cache_page; /* CACHE_PAGE's page, mapped read-only; or NULL */
};

/* Set up s for a peer.  Allocates nothing; cannot fail. */
void session_init(struct session *s, uint64_t id, struct pool_set *pools, pid_t pid, uid_t uid,
                  gid_t gid);

/* Record that the client opened pool_id (1-based, valid: asserted) with
 * access bits (non-zero).  0, -ENOMEM. */
int session_open_pool(struct session *s, uint32_t pool_id, uint32_t access);

/* The pool behind a pool id this session opened with POOL, and the access
 * it was granted (*access may be NULL).  NULL if the session never opened
 * pool_id (or it is out of range). */
struct pool *session_pool(const struct session *s, uint32_t pool_id, uint32_t *access);

/* Allocate a block of size bytes aligned to align (0 or a power of two)
 * in pool, shared if shared, and give the session its hold.  0 with *ref
 * and *usable set; -EINVAL (bad size or align), -ENOMEM (pool full or no
 * memory), -EDQUOT (past client_quota or uid_quota).  Write access is the
 * caller's check. */
int session_alloc(struct session *s, struct pool *pool, uint64_t size, uint64_t align, bool shared,
                  uint64_t *ref, uint64_t *usable);

/* Allocate up to count blocks of size bytes into refs[] (as session_alloc;
 * fewer when the pool or a quota runs out first).  0 with *got >= 1 and
 * *usable set, or the error that stopped the first block. */
int session_alloc_batch(struct session *s, struct pool *pool, uint64_t size, uint32_t count,
                        bool shared, uint64_t *refs, uint32_t *got, uint64_t *usable);

/* Does the session hold ref? */
bool session_holds(const struct session *s, uint64_t ref);

/* Drop one of the session's holds on ref (FREE).  A private block is
 * freed; a shared one when its last hold goes.  0, -EPERM (a live block
 * the session holds no hold on), -EINVAL (not a live block). */
int session_free(struct session *s, uint64_t ref);

/* FREE_BATCH: session_free each of the n references at refs (8 bytes
 * each, in order; refs need not be aligned), results[i] getting the result
 * of the i-th.  Returns the first error, or 0 when all succeeded. */
int session_free_batch(struct session *s, const void *refs, uint32_t n, int32_t *results);

/* Make ref, which the session holds, shared (SHARE).  Sharing a shared
 * block is a no-op.  0, -EPERM (not held), -EINVAL (not a live block),
 * -ENOMEM. */
int session_share(struct session *s, uint64_t ref);

/* Take one more hold on the shared block ref (RETAIN).  0 and *usable (may
 * be NULL) set; -EINVAL (not a live block), -EPERM (a private block),
 * -EACCES (no access to its pool), -EDQUOT, -ENOMEM, -EOVERFLOW (2^32
 * holds). */
int session_retain(struct session *s, uint64_t ref, uint64_t *usable);

/* Bind name[0..len) (valid: proto_name_valid) to ref, which the session
 * holds; the name then holds the block, which becomes shared (PUBLISH).
 * 0; -EINVAL (not a live block), -EPERM (not held), -EACCES (no write
 * access to its pool), -EEXIST (name taken), -ENOSPC (max_names), -ENOMEM. */
int session_publish(struct session *s, const char *name, size_t len, uint64_t ref);

/* The block name[0..len) names, with one more hold for the session
 * (LOOKUP).  0 with *ref and *usable set; -ENOENT (no such name), -EACCES
 * (no access to the block's pool), -EDQUOT, -ENOMEM, -EOVERFLOW. */
int session_lookup(struct session *s, const char *name, size_t len, uint64_t *ref,
                   uint64_t *usable);

/* Unbind name[0..len), dropping its hold (UNPUBLISH).  0, -ENOENT, -EACCES
 * (no write access to the block's pool). */
int session_unpublish(struct session *s, const char *name, size_t len);

/* Usable bytes the session holds in pool (what client_quota limits). */
uint64_t session_pool_bytes(const struct session *s, const struct pool *pool);

/* Create the session's client cache page (CACHE_PAGE): a sealed memfd of
 * MEMD_CACHE_PAGE_SIZE bytes, mapped read-only into s->cache_page.  0 with
 * *fd set: the caller sends it and closes its copy, the mapping stays with
 * the session.  -EEXIST (the session has its page already), -EMFILE,
 * -ENOMEM, or another -errno from the kernel; nothing changes then. */
int session_cache_page_create(struct session *s, int *fd);

/* Unmap the session's cache page, if any (s->cache_page becomes NULL). */
void session_cache_page_drop(struct session *s);

/* Drop every hold of the session: private blocks are freed, shared ones
 * when no other session or name holds them; unmap its cache page; free
 * the session's memory.
 * Returns the number of blocks freed.  s is left empty (safe to release
 * again). */
uint64_t session_release(struct session *s);

#endif /* MEMD_SESSION_H */
