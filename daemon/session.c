/*
 * session.c - per-connection state: identity, opened pools, held blocks.
 *
 * Identity is set once at accept time from SO_PEERCRED and never changes.
 * The pool table is indexed by the set-wide 1-based pool id (the id a POOL
 * reply returns), so a pool id means the same pool in every session, but a
 * session may only use the ids it resolved itself: an ALLOC naming any
 * other id is refused as unknown.  Each entry stores the MEMD_ACCESS_* bits
 * computed when the pool was opened.
 *
 * Holds: the session's hash set records every block allocated through it
 * and not yet freed.  blocks_held and bytes_held mirror it (bytes use the
 * blocks' usable sizes, as the pool reported them).  session_release()
 * walks the set and frees each block through its pool, which is how a
 * client's exit, crash or SIGKILL gives its memory back at once.
 *
 * Ownership: the session owns the pool table and the hold set; the pool
 * set is borrowed from the server and outlives every session.
 */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "log.h"
#include "pool.h"

void session_init(struct session *s, uint64_t id, struct pool_set *pools, pid_t pid, uid_t uid,
                  gid_t gid)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->pid = pid;
	s->uid = uid;
	s->gid = gid;
	s->pools = pools;
	holds_init(&s->holds);
}

int session_open_pool(struct session *s, uint32_t pool_id, uint32_t access)
{
	memd_assert(pool_id >= 1 && pool_id <= s->pools->count);
	memd_assert(access != 0);
	if (s->pool_access == NULL) {
		s->pool_access = calloc(s->pools->count, sizeof(*s->pool_access));
		if (s->pool_access == NULL)
			return -ENOMEM;
	}
	s->pool_access[pool_id - 1] = access;
	return 0;
}

struct pool *session_pool(const struct session *s, uint32_t pool_id, uint32_t *access)
{
	if (s->pool_access == NULL || pool_id == 0 || pool_id > s->pools->count)
		return NULL;
	if (s->pool_access[pool_id - 1] == 0)
		return NULL;
	if (access != NULL)
		*access = s->pool_access[pool_id - 1];
	return pool_set_get(s->pools, pool_id);
}

int session_reserve(struct session *s, size_t n)
{
	return holds_reserve(&s->holds, n);
}

int session_hold(struct session *s, uint64_t ref, uint64_t usable)
{
	int err = holds_insert(&s->holds, ref);

	if (err < 0)
		return err;
	s->blocks_held++;
	s->bytes_held += usable;
	return 0;
}

bool session_holds(const struct session *s, uint64_t ref)
{
	return holds_contains(&s->holds, ref);
}

int session_unhold(struct session *s, uint64_t ref, uint64_t usable)
{
	int err = holds_remove(&s->holds, ref);

	if (err < 0)
		return err;
	memd_assert(s->blocks_held > 0 && s->bytes_held >= usable);
	s->blocks_held--;
	s->bytes_held -= usable;
	return 0;
}

/* Free one held block through the pool that owns its segment. */
static int session_free_one(struct session *s, uint64_t ref)
{
	struct pool *pool = pool_set_pool_of_ref(s->pools, ref);

	if (pool == NULL)
		return -EINVAL;
	return pool_free(pool, ref);
}

uint64_t session_release(struct session *s)
{
	uint64_t ref, freed = 0;
	size_t cursor = 0;
	int err;

	while (holds_next(&s->holds, &cursor, &ref)) {
		err = session_free_one(s, ref);
		if (err < 0) {
			/* A held block must be live: this is a daemon bug,
			 * but losing track of one block beats crashing. */
			log_error("session %llu: held block %#llx could not be freed: %s",
			          (unsigned long long)s->id, (unsigned long long)ref,
			          strerror(-err));
			continue;
		}
		freed++;
	}
	holds_fini(&s->holds);
	free(s->pool_access);
	s->pool_access = NULL;
	s->blocks_held = 0;
	s->bytes_held = 0;
	return freed;
}
