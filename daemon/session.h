/*
 * session.h - what the daemon knows about one connected client.
 *
 * A session is born with its connection and dies with it.  Its identity
 * (uid, gid, pid) comes from SO_PEERCRED at accept time, never from a
 * message.  It records every block the client holds, the pools the client
 * opened with POOL (and the access it was granted), and counters.  When the
 * connection ends for any reason, session_release() gives every held block
 * back to its pool (DESIGN.md invariant 8).
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
	uint64_t id;                     /* unique for the daemon's lifetime, >= 1 */
	pid_t pid;                       /* peer pid (SO_PEERCRED) */
	uid_t uid;                       /* peer effective uid (SO_PEERCRED) */
	gid_t gid;                       /* peer effective gid (SO_PEERCRED) */
	char name[MEMD_CLIENT_NAME_MAX]; /* client's name from HELLO, "" before */
	bool hello_done;                 /* a HELLO with our version succeeded */
	struct pool_set *pools;          /* the daemon's pools (borrowed) */
	uint32_t *pool_access;           /* [pool id - 1]: MEMD_ACCESS_* granted by
	                                    POOL, 0 = not opened; NULL until first POOL */
	struct holds holds;              /* every block this session holds */
	uint64_t blocks_held;            /* == holds_count(&holds) */
	uint64_t bytes_held;             /* usable bytes of the held blocks */
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

/* Prepare for n more holds so that session_hold() cannot fail.  0,
 * -ENOMEM. */
int session_reserve(struct session *s, size_t n);

/* Record a new hold on ref (a live block, usable bytes long).  0, -ENOMEM,
 * -EEXIST (already held: a programmer error upstream, reported). */
int session_hold(struct session *s, uint64_t ref, uint64_t usable);

/* Does the session hold ref? */
bool session_holds(const struct session *s, uint64_t ref);

/* Drop the hold on ref (usable bytes long) after its block was freed.
 * 0, -ENOENT (not held). */
int session_unhold(struct session *s, uint64_t ref, uint64_t usable);

/* Give every held block back to its pool and free the session's memory.
 * Returns the number of blocks freed.  s is left empty (safe to release
 * again). */
uint64_t session_release(struct session *s);

#endif /* MEMD_SESSION_H */
