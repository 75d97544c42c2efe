/*
 * cache.c - libmemclient's fast path: per-thread caches of private blocks.
 *
 * Why: a round trip to memd costs as much as ~700 mallocs (DESIGN.md §5),
 * so a small private allocation must not need one.  Each thread keeps, per
 * client, per pool and per size class (common/sizeclass.h), a stack of
 * blocks this client holds but the application does not use: memc_alloc
 * pops one, memc_free pushes one.  The daemon sees all of them as blocks
 * the session holds; it is asked only to lease blocks in batches
 * (ALLOC_BATCH) when a stack runs dry and to take them back in batches
 * (FREE_BATCH) when a stack or a thread's cache grows past its bounds.
 *
 * The record of what is ours.  The cache must refuse exactly what memd
 * refuses: a double free, an interior or unknown reference, a block this
 * client does not hold.  So every segment the cache leases from has, per
 * 256 KiB chunk, two bits per 16-byte granule (struct cmap_chunk):
 * CMAP_HELD at the start of every block the caches hold, CMAP_USED on
 * those handed to the application.  memc_free clears USED with one atomic
 * fetch-and: the old bits say "ours and in use" (free it locally), "ours
 * but cached" (a double free: -EINVAL), or "not ours" (a block from the
 * plain path, a shared block, an interior or bogus reference: the daemon
 * decides, with its own errors).  Only block starts ever have bits, so an
 * interior reference is never taken for a block.  The chunk also keeps the
 * size class of each page's slab, so a free finds its bin without asking.
 * Chunk records are made as leases land (cache_lease.c).
 *
 * Invariant: HELD is set exactly while this client holds the block through
 * a cache.  It is set after ALLOC_BATCH delivered the block and cleared,
 * under c->lock, just before FREE_BATCH returns it; both under c->lock, so
 * a memc_free of that block that finds HELD clear reaches the daemon only
 * after the FREE_BATCH, and gets the daemon's error.  A block in use that
 * is shared or published leaves the cache's care for good (cache_claim
 * clears both bits with one compare-and-swap); from then on it is an
 * ordinary held block.
 *
 * The files.  The fast path itself (a block popped from, or pushed onto,
 * a bin of the calling thread's default pool, with room, credit and no
 * housekeeping due) is inline in memc_alloc and memc_free:
 * cache_alloc_fast and cache_free_fast in cache_int.h.  This file has the
 * rest of it: memc_alloc pops a block from the calling thread's bin
 * (cache_alloc), memc_free pushes one (cache_keep),
 * a block shared or published leaves the cache (cache_claim), and a call
 * about one reference asks the record first (cache_query); and the
 * thread's entries for the pools it meets.  Only a bin's owning thread
 * touches it, so the fast path takes no lock and makes no system call.
 * Leasing blocks from memd and sending them back is cache_lease.c; the
 * thread caches themselves (how a thread finds its own, their lock, their
 * bounds, the counters memd reads, the GC) are cache_thread.c; cache_int.h
 * has what the three share.
 *
 * Adapting.  A bin's batch (blocks per refill) starts at CACHE_START_BYTES
 * of blocks (at least CACHE_BATCH_START) and doubles when the bin runs dry
 * before its lease came (or with no lease under way), and on every
 * overflow, up to CACHE_BATCH_BYTES of blocks.  A bin keeps at most four
 * times its batch; then the oldest go back, gathered with other returns
 * into one FREE_BATCH of up to CACHE_RET_BYTES.  Every CACHE_GC_TICKS
 * calls a thread looks at each bin's low-water mark since the last look:
 * blocks that sat unused the whole time (3/4 of the low water) go back,
 * and that bin's batch halves (not below two blocks where two fit in
 * CACHE_START_BYTES, so that it can still be leased ahead), unless the
 * whole cache holds no more than CACHE_GC_FLOOR bytes (not worth the
 * round trips).  So a hot class keeps big batches, and memory a phase of
 * the program stopped using returns within a few thousand calls.
 *
 * Not waiting.  A bin that runs dry while its lease is still on its way,
 * or with no lease under way, borrows a block from the next classes up
 * (at most a quarter, or 32 bytes, larger) if one is cached, and in the
 * second case sends its batch as a lease ahead: a slightly larger block
 * now costs far less than a round trip (~700 mallocs) waited for.  The
 * batch grows when the bin ran dry with no lease under way (as a refill
 * does), not when it borrows while its lease is on the way.
 */
#include "cache_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- pool entries ------------------------------------------------------- */

/* A new bin's batch: CACHE_START_BYTES of blocks, at least
 * CACHE_BATCH_START, at most the class's largest batch. */
static uint32_t bin_batch_start(uint32_t cls)
{
	uint32_t n = CACHE_START_BYTES / memd_class_size(cls);

	n = n < CACHE_BATCH_START ? CACHE_BATCH_START : n;
	return n < bin_batch_max(cls) ? n : bin_batch_max(cls);
}

/* A new pool entry in tc.  NULL on -ENOMEM. */
static struct cache_pool *tc_pool_new(struct memc_tcache *tc, uint32_t id, const char *name)
{
	struct cache_pool **v = realloc(tc->pools, (tc->npools + 1) * sizeof(*v));
	struct cache_pool *cp;

	if (v == NULL)
		return NULL;
	tc->pools = v;
	cp = calloc(1, sizeof(*cp));
	if (cp == NULL)
		return NULL;
	cp->id = id;
	if (name != NULL)
		strcpy(cp->name, name);
	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
		cp->bins[cls].batch = bin_batch_start(cls);
		cp->bins[cls].size = memd_class_size(cls);
	}
	tc->pools[tc->npools++] = cp;
	return cp;
}

/* tc's entry for pool id (made if needed), or NULL on -ENOMEM. */
static struct cache_pool *tc_pool_by_id(struct memc_tcache *tc, uint32_t id)
{
	if (memd_likely(tc->dflt != NULL && tc->dflt->id == id))
		return tc->dflt;
	for (size_t p = 0; p < tc->npools; p++)
		if (tc->pools[p]->id == id)
			return tc->pools[p];
	return tc_pool_new(tc, id, NULL);
}

/* tc's entry for the pool called name (resolved with POOL on first use).
 * 0 and *out, or -EINVAL, -ENOENT, -EACCES, -ENOMEM, a connection error. */
static int tc_pool_by_name(memc_client *c, struct memc_tcache *tc, const char *name,
                           struct cache_pool **out)
{
	struct cache_pool *cp;
	uint32_t id;
	int err;

	for (size_t p = 0; p < tc->npools; p++)
		if (strcmp(tc->pools[p]->name, name) == 0) {
			*out = tc->pools[p];
			return 0;
		}
	err = client_pool_id(c, name, &id);
	if (err < 0)
		return err;
	cp = tc_pool_by_id(tc, id);
	if (cp == NULL)
		return -ENOMEM;
	if (cp->name[0] == '\0')
		strcpy(cp->name, name);
	*out = cp;
	return 0;
}

/* ---- the fast path ------------------------------------------------------ */

/* Per-call housekeeping: every CACHE_PRESSURE_TICKS calls the pressure
 * check, every CACHE_GC_TICKS the GC look. */
_Static_assert(CACHE_GC_TICKS % CACHE_PRESSURE_TICKS == 0, "GC looks fall on pressure ticks");
static inline void tc_tick(memc_client *c, struct memc_tcache *tc)
{
	unsigned pressure;

	if (memd_likely(++tc->ticks % CACHE_PRESSURE_TICKS != 0))
		return;
	if (tc->ticks >= CACHE_GC_TICKS)
		cache_tc_gc(c, tc);
	pressure = atomic_load_explicit(&c->cache.pressure, memory_order_relaxed);
	if (memd_unlikely(pressure != tc->pressure)) {
		tc->pressure = pressure;
		cache_tc_shrink(c, tc, 0, 0);
	}
}

/* A bin of a class just above cls in cp with a block to lend, or NULL.
 * When cls's own bin is empty while its lease is on its way, a block up to
 * a quarter (or 32 bytes) larger now beats waiting for memd, which costs
 * as much as hundreds of allocations.  The block goes back to the bin of
 * its own class when freed. */
static struct cache_bin *bin_lender(struct cache_pool *cp, uint32_t cls)
{
	uint32_t size = cp->bins[cls].size, slack = size / 4 > 32 ? size / 4 : 32;

	for (uint32_t k = cls + 1; k < MEMD_CLASS_COUNT && cp->bins[k].size - size <= slack; k++)
		if (cp->bins[k].n > 0)
			return &cp->bins[k];
	return NULL;
}

/* Pop the next block of the non-empty bin b of tc. */
static memc_ref bin_pop(struct memc_tcache *tc, struct cache_bin *b)
{
	memc_ref ref = b->refs[--b->n];

	if (b->n < b->low)
		b->low = b->n;
	tc_count(tc, -1, -(int64_t)b->size);
	return ref;
}

/* The bin b (class cls of pool cp) is empty: lease its batch (as much of
 * it as tc's credit covers), hand the first block out in *out, cache the
 * rest, and let the batch grow. */
static int bin_refill(memc_client *c, struct memc_tcache *tc, struct cache_pool *cp, uint32_t cls,
                      struct cache_bin *b, memc_ref *out)
{
	uint32_t size = memd_class_size(cls), want = b->batch, got = 0;
	uint64_t refs[CACHE_BATCH_BLOCKS];
	int err;

	if (!cache_tc_credit(c, tc, (uint64_t)(want - 1) * size)) {
		uint64_t used = tc->bytes + tc->ahead + tc->ret_bytes;

		want = 1 + (uint32_t)(tc->credit > used ? (tc->credit - used) / size : 0);
	}
	if (want > b->batch)
		want = b->batch;
	if (want > 1 && bin_reserve(b, want - 1) < 0)
		want = 1;
	err = cache_lease_batch(c, cp->id, cls, want, refs, &got);
	if (err < 0)
		return err;
	*out = refs[0];
	for (uint32_t i = got; i-- > 1;)
		b->refs[b->n++] = refs[i];
	tc_count(tc, got - 1, (int64_t)(got - 1) * size);
	b->low = 0;
	bin_grow(b, cls);
	return 0;
}

/* cache_alloc with tc locked. */
static int tc_alloc(memc_client *c, struct memc_tcache *tc, const char *pool, uint32_t cls,
                    memc_ref *out)
{
	struct cache_pool *cp = tc->dflt;
	struct cache_bin *b, *lender;
	struct memc_seg *s;
	_Atomic uint64_t *w;
	unsigned sh;
	memc_ref ref;
	int err;

	tc_tick(c, tc);
	if (pool != NULL || cp == NULL) {
		err = tc_pool_by_name(c, tc, pool != NULL ? pool : "default", &cp);
		if (err == -ENOMEM)
			return 1;
		if (err < 0)
			return err;
		if (pool == NULL)
			tc->dflt = cp;
	}
	b = &cp->bins[cls];
	if (memd_unlikely(b->n == 0) && b->inflight != NULL) {
		if (!cache_lease_arrived(c, b->inflight) &&
		    (lender = bin_lender(cp, cls)) != NULL) {
			/* The batch stays (growing it for this too cost
			 * python-json +0.03 of fragmentation, no time). */
			ref = bin_pop(tc, lender);
			goto mark;
		}
		err = cache_bin_collect(c, tc, cls, b);
		if (err < 0)
			return err;
	}
	if (memd_unlikely(b->n == 0))
		b->hungry = true;
	if (memd_unlikely(b->n == 0)) {
		/* With a block to borrow, this bin's batch goes out as a
		 * lease ahead rather than a round trip waited for. */
		lender = b->batch >= CACHE_AHEAD_MIN ? bin_lender(cp, cls) : NULL;
		if (lender != NULL)
			cache_lease_ahead(c, tc, cp, cls, b);
		if (lender != NULL && b->inflight != NULL) {
			bin_grow(b, cls); /* as a refill would */
			ref = bin_pop(tc, lender);
			goto mark;
		}
		err = bin_refill(c, tc, cp, cls, b, &ref);
		if (err < 0)
			return err;
	} else {
		ref = bin_pop(tc, b);
		if (memd_unlikely(b->n <= b->batch / 2) && b->hungry && b->inflight == NULL &&
		    b->batch >= CACHE_AHEAD_MIN)
			cache_lease_ahead(c, tc, cp, cls, b);
	}
mark:
	if (cmap_locate(c, ref, &s, &w, &sh) == NULL)
		memd_assert(!"a cached block without its record");
	else
		atomic_fetch_or_explicit(w, CMAP_USED << sh, memory_order_acq_rel);
	*out = ref;
	return 0;
}

int cache_alloc(memc_client *c, const char *pool, uint32_t cls, memc_ref *out)
{
	struct memc_tcache *tc = tc_get(c);
	int err;

	if (tc == NULL)
		return 1;
	tc_lock(tc);
	err = tc_alloc(c, tc, pool, cls, out);
	tc_unlock(tc);
	return err;
}

/* Return ref (HELD, no longer USED) to the daemon now: the thread has no
 * cache, or no room in its bounds. */
static int free_direct(memc_client *c, memc_ref ref)
{
	return cache_ret_send(c, &ref, 1);
}

/* Keep ref (class cls, segment s; no longer in use) in tc, tc locked. */
static int tc_keep(memc_client *c, struct memc_tcache *tc, struct memc_seg *s, memc_ref ref,
                   uint32_t cls)
{
	uint32_t size = memd_class_size(cls), max = bin_batch_max(cls);
	struct cache_pool *cp;
	struct cache_bin *b;
	int err;

	tc_tick(c, tc);
	cp = tc_pool_by_id(tc, atomic_load_explicit(&s->cache_pool, memory_order_relaxed));
	if (cp == NULL)
		return free_direct(c, ref);
	b = &cp->bins[cls];
	if (memd_unlikely(!tc_credit(c, tc, size)))
		return cache_tc_shrink(c, tc, ref, size);
	if (memd_unlikely(b->n == b->cap) && bin_reserve(b, b->n + 1) < 0)
		return free_direct(c, ref);
	b->refs[b->n++] = ref;
	tc_count(tc, 1, size);
	if (memd_likely(b->n <= 4 * b->batch))
		return 0;
	/* Overflow: the oldest go back, and the batch grows. */
	err = cache_bin_give(c, tc, b, cls, b->n - b->batch);
	if (b->batch < max)
		b->batch = b->batch * 2 < max ? b->batch * 2 : max;
	return err;
}

int cache_keep(memc_client *c, struct memc_seg *s, struct cmap_chunk *ch, memc_ref ref)
{
	struct memc_tcache *tc = tc_get(c);
	int err;

	if (tc == NULL)
		return free_direct(c, ref);
	tc_lock(tc);
	err = tc_keep(c, tc, s, ref, cmap_class(ch, ref));
	tc_unlock(tc);
	return err;
}

int cache_claim(memc_client *c, memc_ref ref)
{
	struct memc_seg *s;
	_Atomic uint64_t *w;
	uint64_t old, both;
	unsigned sh;

	if (cmap_locate(c, ref, &s, &w, &sh) == NULL)
		return 1;
	both = (CMAP_HELD | CMAP_USED) << sh;
	old = atomic_load_explicit(w, memory_order_acquire);
	for (;;) {
		if (!(old & (CMAP_HELD << sh)))
			return 1;
		if (!(old & (CMAP_USED << sh)))
			return -EINVAL;
		if (atomic_compare_exchange_weak_explicit(
		            w, &old, old & ~both, memory_order_acq_rel, memory_order_acquire))
			return 0;
	}
}

int cache_query(memc_client *c, memc_ref ref, size_t *size)
{
	struct cmap_chunk *ch;
	struct memc_seg *s;
	_Atomic uint64_t *w;
	uint64_t old;
	unsigned sh;

	ch = cmap_locate(c, ref, &s, &w, &sh);
	if (ch == NULL)
		return 1;
	old = atomic_load_explicit(w, memory_order_acquire);
	if (!(old & (CMAP_HELD << sh)))
		return 1;
	if (!(old & (CMAP_USED << sh)))
		return -EINVAL;
	*size = memd_class_size(cmap_class(ch, ref));
	return 0;
}

/* ---- set-up ------------------------------------------------------------- */

/* A byte count from the environment: *out unchanged if unset; false if
 * set but not a plain decimal number with an optional K/M/G suffix. */
static bool cache_env_bytes(const char *name, uint64_t *out)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (s == NULL || s[0] == '\0')
		return true;
	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v > (UINT64_C(1) << 40))
		return false;
	*out = v;
	return true;
}

void cache_init(memc_client *c)
{
	struct memc_cache *k = &c->cache;

	k->max = CACHE_DEFAULT_MAX;
	k->thread_max = CACHE_DEFAULT_THREAD_MAX;
	k->enabled = cache_env_bytes("MEMC_CACHE_BYTES", &k->max) &&
	             cache_env_bytes("MEMC_THREAD_CACHE_BYTES", &k->thread_max) && k->max > 0 &&
	             k->thread_max > 0;
	if (k->thread_max > k->max)
		k->thread_max = k->max;
	atomic_init(&k->credit, (int64_t)k->max);
	atomic_init(&k->pressure, 0);
	k->threads = NULL;
	k->page = NULL;
	k->page_state = 0;
	memset(k->slot_used, 0, sizeof(k->slot_used));
}
