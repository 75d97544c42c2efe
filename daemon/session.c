/*
 * session.c - per-connection state: identity, opened pools, holds, quotas.
 *
 * Identity is set once at accept time from SO_PEERCRED and never changes.
 * The pool table is indexed by the set-wide 1-based pool id (the id a POOL
 * reply returns), so a pool id means the same pool in every session, but a
 * session may only use the ids it resolved itself: an ALLOC naming any
 * other id is refused as unknown.  Each entry stores the MEMD_ACCESS_* bits
 * computed when the pool was opened.
 *
 * Holds: the session's hash set records every block the session holds,
 * once per block.  For a private block that one entry is the block's only
 * hold.  For a shared block the count lives in the block table
 * (blocks.h): the session is listed among the block's holders with the
 * number of holds it took (ALLOC, RETAIN and LOOKUP add one each, FREE
 * drops one); the session's set has the block while that count is >= 1.
 * Both sides change together in this file, which is what keeps the
 * invariant "in s->holds <=> listed in the block's holders" for shared
 * blocks.
 *
 * Charging: when a block enters the hold set its usable size is added to
 * pool_bytes[pool] (client_quota), to blocks_held/bytes_held, and to the
 * pool's per-uid usage (uid_quota); when it leaves the set, the same
 * amounts go back.  Every check against a quota happens before a hold is
 * added; room (hash set slots, the pool_bytes array, the uid entry) is
 * reserved first so that recording a hold cannot fail after a pool handed
 * a block out.  The batches (ALLOC_BATCH, FREE_BATCH) charge or give back
 * their blocks' amounts together: their blocks are all of one size, and
 * nothing reads the charges in the middle of a batch, so the quotas say at
 * once how many blocks fit and the totals come out as block by block.
 *
 * Access: RETAIN and LOOKUP need read access to the block's pool, PUBLISH
 * and UNPUBLISH write access (pool_access, computed afresh: a session may
 * meet a block of a pool it never opened).  ALLOC's write check is the
 * caller's (dispatch.c, from the POOL grant).
 *
 * The per-pool arrays (pool_access, pool_bytes) are sized to the pool set
 * when first needed and grown if the set has more pools later.
 *
 * Cache page: the daemon's read-only mapping of the memfd it sent the
 * client with the CACHE_PAGE reply (shm.c makes it).  The daemon keeps no
 * fd of its own: the mapping keeps the memfd alive, and the client's
 * copies are the client's business.  The counters in it are the client's
 * claims and are only ever reported (stats.c clamps them); nothing here
 * depends on them.
 *
 * Ownership: the session owns the pool table, pool_bytes, the hold set
 * and the cache page mapping; the pool set (pools, block table, names) is
 * borrowed from the server and outlives every session.
 */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "debug.h"
#include "log.h"
#include "pool.h"
#include "shm.h"

void session_init(struct session *s, uint64_t id, struct pool_set *pools, pid_t pid, uid_t uid,
                  gid_t gid)
{
	struct timespec now;

	memset(s, 0, sizeof(*s));
	s->id = id;
	clock_gettime(CLOCK_REALTIME, &now);
	s->connected_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	s->pid = pid;
	s->uid = uid;
	s->gid = gid;
	s->pools = pools;
	holds_init(&s->holds);
}

/* Make pool_access and pool_bytes cover every pool of the set (which may
 * have grown since they were allocated).  0, -ENOMEM (arrays unchanged in
 * size, contents kept). */
static int session_pool_slots(struct session *s)
{
	size_t n = s->pools->count;
	uint32_t *acc;
	uint64_t *bytes;

	if (n <= s->pool_slots)
		return 0;
	acc = realloc(s->pool_access, n * sizeof(*acc));
	if (acc == NULL)
		return -ENOMEM;
	s->pool_access = acc;
	bytes = realloc(s->pool_bytes, n * sizeof(*bytes));
	if (bytes == NULL)
		return -ENOMEM;
	s->pool_bytes = bytes;
	memset(acc + s->pool_slots, 0, (n - s->pool_slots) * sizeof(*acc));
	memset(bytes + s->pool_slots, 0, (n - s->pool_slots) * sizeof(*bytes));
	s->pool_slots = (uint32_t)n;
	return 0;
}

int session_open_pool(struct session *s, uint32_t pool_id, uint32_t access)
{
	int err;

	memd_assert(pool_id >= 1 && pool_id <= s->pools->count);
	memd_assert(access != 0);
	err = session_pool_slots(s);
	if (err < 0)
		return err;
	s->pool_access[pool_id - 1] = access;
	return 0;
}

struct pool *session_pool(const struct session *s, uint32_t pool_id, uint32_t *access)
{
	if (pool_id == 0 || pool_id > s->pool_slots)
		return NULL;
	if (s->pool_access[pool_id - 1] == 0)
		return NULL;
	if (access != NULL)
		*access = s->pool_access[pool_id - 1];
	return pool_set_get(s->pools, pool_id);
}

uint64_t session_pool_bytes(const struct session *s, const struct pool *pool)
{
	return pool->id <= s->pool_slots ? s->pool_bytes[pool->id - 1] : 0;
}

/* How many more blocks of n bytes, up to max, fit in quota (0: none) on
 * top of held bytes: block i (from 0) fits when held + (i + 1) * n <= quota. */
static uint32_t session_quota_fit(uint64_t quota, uint64_t held, uint64_t n, uint32_t max)
{
	uint64_t k;

	if (quota == 0)
		return max;
	if (held > quota)
		return 0;
	if (n == 0)
		return max;
	k = (quota - held) / n;
	return k < max ? (uint32_t)k : max;
}

/* How many more blocks of n bytes, up to max, the session may hold in pool
 * within both quotas: what as many session_quota_check calls, each after
 * the previous block was charged, would let through. */
static uint32_t session_quota_room(const struct session *s, const struct pool *pool, uint64_t n,
                                   uint32_t max)
{
	max = session_quota_fit(pool->cfg.client_quota, session_pool_bytes(s, pool), n, max);
	return session_quota_fit(pool->cfg.uid_quota, pool_uid_bytes(pool, s->uid), n, max);
}

/* Would n more bytes held in pool stay within both quotas?  0, -EDQUOT. */
static int session_quota_check(const struct session *s, const struct pool *pool, uint64_t n)
{
	return session_quota_room(s, pool, n, 1) == 1 ? 0 : -EDQUOT;
}

/* Reserve room for n new holds in pool.  0, -ENOMEM. */
static int session_prepare(struct session *s, struct pool *pool, size_t n)
{
	int err;

	err = session_pool_slots(s);
	if (err < 0)
		return err;
	err = pool_uid_reserve(pool, s->uid);
	if (err < 0)
		return err;
	return holds_reserve(&s->holds, n);
}

/* Put refs[0..n) (usable bytes each, in pool) into the hold set and charge
 * them, all at once.  Room was prepared; no ref is in the set (asserted). */
static void session_hold(struct session *s, struct pool *pool, const uint64_t *refs, uint32_t n,
                         uint64_t usable)
{
	for (uint32_t i = 0; i < n; i++) {
		int err;

		if (i + 8 < n)
			holds_prefetch(&s->holds, refs[i + 8]);
		err = holds_insert(&s->holds, refs[i]);
		memd_assert(err == 0);
	}
	s->blocks_held += n;
	s->bytes_held += n * usable;
	s->pool_bytes[pool->id - 1] += n * usable;
	pool_uid_charge(pool, s->uid, n * usable);
}

/* Give back the charge of n held blocks of bytes usable bytes in all, in
 * pool (their holds have just left the set). */
static void session_uncharge(struct session *s, struct pool *pool, uint64_t n, uint64_t bytes)
{
	memd_assert(s->blocks_held >= n && s->bytes_held >= bytes &&
	            s->pool_bytes[pool->id - 1] >= bytes);
	s->blocks_held -= n;
	s->bytes_held -= bytes;
	s->pool_bytes[pool->id - 1] -= bytes;
	pool_uid_uncharge(pool, s->uid, bytes);
}

/* Take ref out of the hold set and give its charge back. */
static void session_unhold(struct session *s, struct pool *pool, uint64_t ref, uint64_t usable)
{
	int err = holds_remove(&s->holds, ref);

	memd_assert(err == 0);
	(void)err;
	session_uncharge(s, pool, 1, usable);
}

/* The pool and usable size of the live block ref.  0, -EINVAL. */
static int session_block(const struct session *s, uint64_t ref, struct pool **pool,
                         uint64_t *usable)
{
	*pool = pool_set_pool_of_ref(s->pools, ref);
	if (*pool == NULL)
		return -EINVAL;
	return pool_block_size(*pool, ref, usable);
}

/* Make the held private block ref (usable bytes, in pool) shared with the
 * session as its one holder.  0 and *out set, or -ENOMEM (still private). */
static int session_make_shared(struct session *s, struct pool *pool, uint64_t ref, uint64_t usable,
                               struct shared_block **out)
{
	struct blocks *t = &s->pools->blocks;
	int err;

	err = blocks_add(t, ref, usable, pool, out);
	memd_assert(err != -EEXIST);
	if (err < 0)
		return err;
	err = block_holder_add(*out, s);
	if (err < 0) {
		blocks_remove(t, *out);
		return err;
	}
	return 0;
}

/* Allocate one block and hold it (private or shared).  See session_alloc;
 * the pre-check on size was done. */
static int session_alloc_one(struct session *s, struct pool *pool, uint64_t size, uint64_t align,
                             bool shared, uint64_t *ref, uint64_t *usable)
{
	struct shared_block *b;
	int err;

	err = session_prepare(s, pool, 1);
	if (err < 0)
		return err;
	err = pool_alloc(pool, size, align, ref, usable);
	if (err < 0)
		return err;
	err = session_quota_check(s, pool, *usable);
	if (err < 0)
		goto fail_free_block;
	if (shared) {
		err = session_make_shared(s, pool, *ref, *usable, &b);
		if (err < 0)
			goto fail_free_block;
	}
	session_hold(s, pool, ref, 1, *usable);
	return 0;

fail_free_block:
	pool_free(pool, *ref);
	return err;
}

int session_alloc(struct session *s, struct pool *pool, uint64_t size, uint64_t align, bool shared,
                  uint64_t *ref, uint64_t *usable)
{
	int err = session_quota_check(s, pool, size);

	if (err < 0)
		return err;
	return session_alloc_one(s, pool, size, align, shared, ref, usable);
}

int session_alloc_batch(struct session *s, struct pool *pool, uint64_t size, uint32_t count,
                        bool shared, uint64_t *refs, uint32_t *got, uint64_t *usable)
{
	struct shared_block *b;
	uint32_t n;
	int err;

	*got = 0;
	err = session_quota_check(s, pool, size);
	if (err < 0)
		return err;
	err = session_prepare(s, pool, count);
	if (err < 0)
		return err;
	err = pool_alloc_batch(pool, size, count, refs, got, usable);
	if (err < 0)
		return err;
	/* Keep what fits in the quotas (and, for shared blocks, what the
	 * block table could take); give the rest straight back.  The blocks
	 * are all of one size, so the quotas tell at once how many fit. */
	n = session_quota_room(s, pool, *usable, *got);
	err = n > 0 ? 0 : -EDQUOT;
	for (uint32_t i = 0; shared && i < n; i++) {
		err = session_make_shared(s, pool, refs[i], *usable, &b);
		if (err < 0) {
			n = i;
			break;
		}
	}
	session_hold(s, pool, refs, n, *usable);
	for (uint32_t i = n; i < *got; i++)
		pool_free(pool, refs[i]);
	*got = n;
	return n > 0 ? 0 : err;
}

bool session_holds(const struct session *s, uint64_t ref)
{
	return holds_contains(&s->holds, ref);
}

/* Free the private block ref in its pool.  0 with *pool and *usable set
 * (the block's pool and size), or -EINVAL (ref is not a live block). */
static int session_free_private(const struct session *s, uint64_t ref, struct pool **pool,
                                uint64_t *usable)
{
	*pool = pool_set_pool_of_ref(s->pools, ref);
	if (*pool == NULL)
		return -EINVAL;
	return pool_free_block(*pool, ref, usable);
}

/* The session's hold on ref, which is not a live block (err says why), was
 * just dropped: a daemon bug.  The stale hold is gone, so it is not freed
 * again at release. */
static void session_stale_hold(const struct session *s, uint64_t ref, int err)
{
	log_error("session %llu: held block %#llx is not live (%s)", (unsigned long long)s->id,
	          (unsigned long long)ref, strerror(-err));
}

/* Drop one of the session's holds on ref, as session_free does, except
 * that the charge of a private block it frees stays for the caller to give
 * back (a batch gives the charges back together): then 1 with *pool and
 * *usable set.  0 or -errno as session_free.  Always inlined: FREE_BATCH
 * calls it for every block. */
__attribute__((always_inline)) static inline int
session_free_hold(struct session *s, uint64_t ref, struct pool **pool, uint64_t *usable)
{
	struct blocks *t = &s->pools->blocks;
	struct shared_block *b = blocks_find(t, ref);
	int err;

	if (b == NULL && holds_remove(&s->holds, ref) == 0) {
		/* Private and held (the common FREE): one probe of the hold
		 * set both checked and dropped the hold, and one look at the
		 * heap both validates and frees the block. */
		err = session_free_private(s, ref, pool, usable);
		if (err < 0) {
			session_stale_hold(s, ref, err);
			return -EINVAL;
		}
		return 1;
	}
	/* Some error, or a shared block: validity decides between -EINVAL
	 * and -EPERM, as it would have first. */
	err = session_block(s, ref, pool, usable);
	if (err < 0) {
		if (holds_remove(&s->holds, ref) == 0)
			session_stale_hold(s, ref, err);
		return -EINVAL;
	}
	if (b == NULL || !session_holds(s, ref))
		return -EPERM;
	if (block_holder_drop(b, s, false) > 0)
		return 0;
	session_unhold(s, *pool, ref, b->size);
	blocks_release_if_unheld(t, b);
	return 0;
}

int session_free(struct session *s, uint64_t ref)
{
	struct pool *pool;
	uint64_t usable;
	int err = session_free_hold(s, ref, &pool, &usable);

	if (err <= 0)
		return err;
	session_uncharge(s, pool, 1, usable);
	return 0;
}

int session_free_batch(struct session *s, const void *refs, uint32_t n, int32_t *results)
{
	const uint8_t *in = refs;
	struct pool *pool, *charged = NULL; /* the pool of the pending charges */
	uint64_t ref, usable, blocks = 0, bytes = 0;
	int32_t status = 0;
	int err;

	for (uint32_t i = 0; i < n; i++) {
		if (i + 8 < n) {
			memcpy(&ref, in + (size_t)(i + 8) * sizeof(ref), sizeof(ref));
			holds_prefetch(&s->holds, ref);
		}
		memcpy(&ref, in + (size_t)i * sizeof(ref), sizeof(ref));
		err = session_free_hold(s, ref, &pool, &usable);
		if (err == 1) {
			/* Nothing reads the charges before the batch ends:
			 * give them back once per run of one pool's blocks. */
			if (pool != charged) {
				if (charged != NULL)
					session_uncharge(s, charged, blocks, bytes);
				charged = pool;
				blocks = bytes = 0;
			}
			blocks++;
			bytes += usable;
			err = 0;
		}
		results[i] = err;
		if (err < 0 && status == 0)
			status = err;
	}
	if (charged != NULL)
		session_uncharge(s, charged, blocks, bytes);
	return status;
}

int session_share(struct session *s, uint64_t ref)
{
	struct shared_block *b;
	struct pool *pool;
	uint64_t usable;
	int err;

	err = session_block(s, ref, &pool, &usable);
	if (err < 0)
		return err;
	if (!session_holds(s, ref))
		return -EPERM;
	if (blocks_find(&s->pools->blocks, ref) != NULL)
		return 0;
	return session_make_shared(s, pool, ref, usable, &b);
}

/* One more hold of the session on the shared block b.  0, -EDQUOT,
 * -ENOMEM, -EOVERFLOW. */
static int session_take_hold(struct session *s, struct shared_block *b)
{
	int err;

	if (block_holder_find(b, s) != NULL)
		return block_holder_add(b, s);
	err = session_quota_check(s, b->pool, b->size);
	if (err < 0)
		return err;
	err = session_prepare(s, b->pool, 1);
	if (err < 0)
		return err;
	err = block_holder_add(b, s);
	if (err < 0)
		return err;
	session_hold(s, b->pool, &b->ref, 1, b->size);
	return 0;
}

int session_retain(struct session *s, uint64_t ref, uint64_t *usable)
{
	struct shared_block *b;
	struct pool *pool;
	uint64_t size;
	int err;

	err = session_block(s, ref, &pool, &size);
	if (err < 0)
		return err;
	b = blocks_find(&s->pools->blocks, ref);
	if (b == NULL)
		return -EPERM;
	if (pool_access(pool, s->uid, s->gid) == 0)
		return -EACCES;
	err = session_take_hold(s, b);
	if (err == 0 && usable != NULL)
		*usable = b->size;
	return err;
}

int session_publish(struct session *s, const char *name, size_t len, uint64_t ref)
{
	struct shared_block *b;
	struct pool *pool;
	uint64_t usable;
	bool made = false;
	int err;

	err = session_block(s, ref, &pool, &usable);
	if (err < 0)
		return err;
	if (!session_holds(s, ref))
		return -EPERM;
	if (!(pool_access(pool, s->uid, s->gid) & MEMD_ACCESS_WRITE))
		return -EACCES;
	b = blocks_find(&s->pools->blocks, ref);
	if (b == NULL) {
		err = session_make_shared(s, pool, ref, usable, &b);
		if (err < 0)
			return err;
		made = true;
	}
	err = names_add(&s->pools->names, name, len, ref, NULL);
	if (err < 0)
		goto fail_unshare;
	b->names++;
	return 0;

fail_unshare:
	if (made) {
		/* Back to private: the session is its only holder. */
		block_holder_drop(b, s, true);
		blocks_remove(&s->pools->blocks, b);
	}
	return err;
}

int session_lookup(struct session *s, const char *name, size_t len, uint64_t *ref, uint64_t *usable)
{
	struct name_entry *e = names_find(&s->pools->names, name, len);
	struct shared_block *b;
	int err;

	if (e == NULL)
		return -ENOENT;
	b = blocks_find(&s->pools->blocks, e->ref);
	memd_assert(b != NULL && b->names > 0);
	if (pool_access(b->pool, s->uid, s->gid) == 0)
		return -EACCES;
	err = session_take_hold(s, b);
	if (err < 0)
		return err;
	*ref = b->ref;
	*usable = b->size;
	return 0;
}

int session_unpublish(struct session *s, const char *name, size_t len)
{
	struct name_entry *e = names_find(&s->pools->names, name, len);
	struct shared_block *b;

	if (e == NULL)
		return -ENOENT;
	b = blocks_find(&s->pools->blocks, e->ref);
	memd_assert(b != NULL && b->names > 0);
	if (!(pool_access(b->pool, s->uid, s->gid) & MEMD_ACCESS_WRITE))
		return -EACCES;
	names_remove(&s->pools->names, e);
	b->names--;
	blocks_release_if_unheld(&s->pools->blocks, b);
	return 0;
}

int session_cache_page_create(struct session *s, int *fd)
{
	char name[40];
	const void *map;
	int err;

	if (s->cache_page != NULL)
		return -EEXIST;
	snprintf(name, sizeof(name), "memd-cache-%llu", (unsigned long long)s->id);
	err = shm_sealed_page_create(name, MEMD_CACHE_PAGE_SIZE, fd, &map);
	if (err < 0)
		return err;
	s->cache_page = map;
	return 0;
}

void session_cache_page_drop(struct session *s)
{
	shm_sealed_page_unmap(s->cache_page, MEMD_CACHE_PAGE_SIZE);
	s->cache_page = NULL;
}

/* Drop every hold the session has on ref.  1 if the block was freed, 0 if
 * others keep it, -errno if it was not live (a daemon bug). */
static int session_drop_all(struct session *s, uint64_t ref)
{
	struct blocks *t = &s->pools->blocks;
	struct shared_block *b = blocks_find(t, ref);
	struct pool *pool;
	uint64_t usable;
	int err;

	if (b != NULL) {
		err = block_holder_drop(b, s, true);
		memd_assert(err == 0);
		pool_uid_uncharge(b->pool, s->uid, b->size);
		return blocks_release_if_unheld(t, b) ? 1 : 0;
	}
	err = session_free_private(s, ref, &pool, &usable);
	if (err < 0)
		return err;
	pool_uid_uncharge(pool, s->uid, usable);
	return 1;
}

uint64_t session_release(struct session *s)
{
	uint64_t ref, freed = 0;
	size_t cursor = 0;
	int err;

	while (holds_next(&s->holds, &cursor, &ref)) {
		err = session_drop_all(s, ref);
		if (err < 0) {
			/* A held block must be live: this is a daemon bug,
			 * but losing track of one block beats crashing. */
			log_error("session %llu: held block %#llx could not be freed: %s",
			          (unsigned long long)s->id, (unsigned long long)ref,
			          strerror(-err));
			continue;
		}
		freed += (uint64_t)err;
	}
	holds_fini(&s->holds);
	session_cache_page_drop(s);
	free(s->pool_access);
	s->pool_access = NULL;
	free(s->pool_bytes);
	s->pool_bytes = NULL;
	s->pool_slots = 0;
	s->blocks_held = 0;
	s->bytes_held = 0;
	return freed;
}
