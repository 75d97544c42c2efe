/*
 * cache_int.h - what the three files of libmemclient's block cache share:
 * cache.c (the design, and the fast path: memc_alloc, memc_free),
 * cache_lease.c (leasing blocks from memd and sending them back) and
 * cache_thread.c (the thread caches: finding them, their lock, their
 * bounds, their counters, their housekeeping).  Here are the structures,
 * the bounds, the record's bits, the helpers the fast path must inline,
 * and the contracts of the functions one file calls in another.  Nothing
 * here is exported: memclient.sym keeps only memc_* in the shared library,
 * and every function or variable shared between the files is named
 * cache_* so that the static library adds no generic names either.
 */
#ifndef MEMCLIENT_CACHE_INT_H
#define MEMCLIENT_CACHE_INT_H

#include "client_int.h"

#include "debug.h"
#include "ref.h"
#include "sizeclass.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define CACHE_DEFAULT_MAX        (8u << 20)  /* all threads' caches of one client */
#define CACHE_DEFAULT_THREAD_MAX (2u << 20)  /* one thread's cache */
#define CACHE_CREDIT_CHUNK       (64u << 10) /* budget taken from the client at once */
#define CACHE_BATCH_BYTES        (64u << 10) /* a bin's largest batch, bytes */
#define CACHE_BATCH_BLOCKS       ((uint32_t)MEMD_RING_ALLOC_MAX) /* ... and blocks: a ring reply */
#define CACHE_BATCH_START        8u                              /* a new bin's batch, at least */
#define CACHE_START_BYTES        (4u << 10)                      /* ... and in bytes */
#define CACHE_AHEAD_MIN          2u                  /* smallest batch leased ahead of need */
#define CACHE_RET_BYTES          (256u << 10)        /* bytes of returns gathered before sending */
#define CACHE_RET_BLOCKS         MEMD_RING_BATCH_MAX /* ... and blocks: one ring slot */
#define CACHE_GC_TICKS           16384u              /* calls between GC looks */
#define CACHE_GC_FLOOR           (128u << 10)        /* a GC look leaves a cache this small alone */
#define CACHE_PRESSURE_TICKS     64u                 /* calls between looks at the pressure count */
#define CACHE_SLOT_SHARED        (MEMD_CACHE_SLOTS - 1) /* the slot threads share */

#define CMAP_HELD UINT64_C(1) /* at bit 2g: the block at granule g is ours */
#define CMAP_USED UINT64_C(2) /* at bit 2g: ... and handed to the application */

/* A lease sent ahead of need (ALLOC_BATCH without waiting): its reply is
 * read by whichever call reads replies next; that call records the blocks
 * (lease_reply) unless a segment must be mapped first, which takes a round
 * trip and so waits for a call outside any exchange (lease_settle). */
struct cache_lease {
	struct cache_lease *next; /* c->cache.unreg list while LEASE_UNREG */
	int state;                /* LEASE_*, or the daemon's -errno */
	uint32_t pool_id;         /* the pool */
	uint32_t cls;             /* the size class */
	uint32_t want;            /* blocks asked for */
	uint32_t got;             /* blocks delivered */
	uint64_t refs[];          /* want entries, got used */
};

#define LEASE_READY 0 /* arrived and recorded: the owner may take the blocks */
#define LEASE_SENT  1 /* reply not read yet */
#define LEASE_UNREG 2 /* arrived, not recorded yet (on c->cache.unreg) */

/* One size class of one pool in one thread. */
struct cache_bin {
	struct cache_lease *inflight; /* a lease sent ahead, or NULL */
	uint64_t *refs;               /* stack of cached blocks; refs[n - 1] goes out next */
	uint32_t n;                   /* blocks cached */
	uint32_t cap;                 /* entries allocated in refs */
	uint32_t batch;               /* blocks the next refill asks for */
	uint32_t low;                 /* fewest blocks cached since the last GC look */
	uint32_t size;                /* the class's block size, bytes */
	bool hungry;                  /* ran dry since a GC look found slack: lease ahead */
};

/* One pool in one thread. */
struct cache_pool {
	uint32_t id;                             /* pool id from the POOL reply */
	char name[MEMD_POOL_NAME_MAX];           /* its name ("" if met by a free only) */
	struct cache_bin bins[MEMD_CLASS_COUNT]; /* by size class */
};

/* One thread's cache for one client. */
struct memc_tcache {
	_Atomic int busy;             /* the owner is inside a call (tc_lock) */
	_Atomic int reclaim;          /* cache_reclaim() wants or holds the cache */
	bool owner_locked;            /* the owner went in through mutex */
	pthread_mutex_t mutex;        /* the slow side: reclaimers, and the owner
	                               * while one is at work */
	_Atomic(memc_client *) c;     /* the client; NULL once it is closed */
	struct memc_tcache *c_next;   /* the client's list (registry lock) */
	struct memc_tcache *c_prev;   /* ditto */
	struct memc_tcache *t_next;   /* the owning thread's list */
	struct memd_cache_slot *slot; /* where the counters are published */
	int slot_idx;                 /* exclusive slot index, or -1 */
	bool slot_shared;             /* slot is shared: publish by atomic adds */
	uint64_t blocks;              /* blocks cached */
	uint64_t bytes;               /* their bytes */
	uint64_t credit;              /* bytes of the client's budget taken */
	uint64_t ahead;               /* bytes of leases sent ahead, not collected */
	uint64_t ahead_blocks;        /* blocks of those leases */
	struct cache_ret *ret;        /* blocks on their way back (NULL until needed) */
	uint64_t ret_bytes;           /* their bytes */
	uint64_t ret_blocks;          /* their number (ret->n, kept here for tc_count) */
	uint32_t ticks;               /* calls since the last GC look */
	unsigned pressure;            /* the client's pressure count last seen */
	struct cache_pool *dflt;      /* the "default" pool, once met */
	struct cache_pool **pools;    /* every pool met */
	size_t npools;                /* entries in pools */
	struct memd_cache_slot local; /* the slot when the daemon gave no page */
};

/* Blocks on their way back to the daemon: one FREE_BATCH, sent when full
 * (CACHE_RET_BYTES or CACHE_RET_BLOCKS blocks, which fill one slot of the
 * request ring), at a GC look, or when the cache is drained.  Until then
 * they are still the cache's (HELD, not USED: a free of one is a double
 * free) and count as cached. */
struct cache_ret {
	uint32_t n;                      /* refs collected */
	uint64_t refs[CACHE_RET_BLOCKS]; /* the refs */
};

/* membarrier registered: the asymmetric scheme of tc_lock is on
 * (cache_thread.c).  Hidden, so that tc_lock reads it with one
 * instruction rather than through the GOT. */
extern bool cache_tc_asym __attribute__((visibility("hidden")));

/* The cache this thread used last (cache_thread.c); initial-exec: one
 * instruction to reach it, even from the shared library. */
extern __thread struct memc_tcache *cache_tls_last __attribute__((tls_model("initial-exec")));

/* ---- the owner's side of the lock on a thread's cache ------------------- */

/* Take tc as its owner without waiting (the fast paths, and tc_lock's
 * common case): true, or false (nothing taken) if a reclaimer wants tc or
 * the asymmetric scheme is off.  tc_fast_unlock() releases it. */
static inline bool tc_fast_lock(struct memc_tcache *tc)
{
	if (memd_unlikely(!cache_tc_asym))
		return false;
	atomic_store_explicit(&tc->busy, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the reclaimer's membarrier does the rest */
	if (memd_likely(atomic_load_explicit(&tc->reclaim, memory_order_acquire) == 0))
		return true;
	atomic_store_explicit(&tc->busy, 0, memory_order_release);
	return false;
}

static inline void tc_fast_unlock(struct memc_tcache *tc)
{
	atomic_store_explicit(&tc->busy, 0, memory_order_release);
}

/* Take tc as its owner, at the start of every call; tc_unlock() releases
 * it.  A plain store and a load in the steady state: the lock is
 * asymmetric, and cache_thread.c explains it (the reclaimer's side is
 * there too). */
static inline void tc_lock(struct memc_tcache *tc)
{
	if (memd_likely(tc_fast_lock(tc)))
		return;
	if (!cache_tc_asym) {
		while (atomic_exchange_explicit(&tc->busy, 1, memory_order_acquire) != 0)
			sched_yield();
		return;
	}
	pthread_mutex_lock(&tc->mutex); /* a reclaimer wants tc: wait for it */
	tc->owner_locked = true;
}

/* Release tc taken by tc_lock(). */
static inline void tc_unlock(struct memc_tcache *tc)
{
	if (memd_unlikely(tc->owner_locked)) {
		tc->owner_locked = false;
		pthread_mutex_unlock(&tc->mutex);
		return;
	}
	tc_fast_unlock(tc);
}

/* ---- the record of our blocks ------------------------------------------- */

/* The chunk record covering ref's granule, or NULL; *word and *shift locate
 * its bits.  Lock-free. */
static inline struct cmap_chunk *cmap_locate(memc_client *c, memc_ref ref, struct memc_seg **segp,
                                             _Atomic uint64_t **word, unsigned *shift)
{
	uint32_t seg_id = memd_ref_seg(ref);
	uint64_t off = memd_ref_off(ref);
	struct memc_seg *s;
	struct cmap_chunk *ch;
	uint64_t g;

	if (seg_id == 0 || (off & ((1u << CMAP_GRAN_SHIFT) - 1)) != 0)
		return NULL;
	s = segtab_find(&c->segs, seg_id);
	if (s == NULL || off >= s->size)
		return NULL;
	ch = atomic_load_explicit(&s->cmap[off >> CMAP_CHUNK_SHIFT], memory_order_acquire);
	if (ch == NULL)
		return NULL;
	g = (off & ((UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1)) >> CMAP_GRAN_SHIFT;
	*word = &ch->w[g / 32];
	*shift = (unsigned)(g % 32) * 2;
	*segp = s;
	return ch;
}

/* The word holding the bits of ref, a block in one of c's bins (so its
 * segment is mapped and its chunk record exists), and their *shift. */
static inline _Atomic uint64_t *cmap_word_of_cached(memc_client *c, memc_ref ref, unsigned *shift)
{
	uint64_t off = memd_ref_off(ref);
	struct memc_seg *s = segtab_find(&c->segs, memd_ref_seg(ref));
	struct cmap_chunk *ch;
	uint64_t g;

	memd_assert(s != NULL && off < s->size);
	ch = atomic_load_explicit(&s->cmap[off >> CMAP_CHUNK_SHIFT], memory_order_relaxed);
	memd_assert(ch != NULL);
	g = (off & ((UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1)) >> CMAP_GRAN_SHIFT;
	*shift = (unsigned)(g % 32) * 2;
	return &ch->w[g / 32];
}

/* Size class recorded for the page of ref in ch. */
static inline uint32_t cmap_class(const struct cmap_chunk *ch, memc_ref ref)
{
	uint64_t off = memd_ref_off(ref) & ((UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1);

	return atomic_load_explicit(&ch->cls[off >> CMAP_PAGE_SHIFT], memory_order_relaxed);
}

/* ---- counters and bins -------------------------------------------------- */

/* Account blocks/bytes entering (> 0) or leaving (< 0) tc's bins and
 * publish them in its slot.  Invariant, whenever tc is unlocked: an
 * exclusive slot holds tc->blocks + ahead_blocks + ret_blocks and
 * tc->bytes + ahead + ret_bytes (tc_fast_count relies on it). */
static inline void tc_count(struct memc_tcache *tc, int64_t blocks, int64_t bytes)
{
	tc->blocks += (uint64_t)blocks;
	tc->bytes += (uint64_t)bytes;
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_add(&tc->slot->blocks, (uint64_t)blocks, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tc->slot->bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&tc->slot->blocks, tc->blocks + tc->ahead_blocks + tc->ret_blocks,
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&tc->slot->bytes, tc->bytes + tc->ahead + tc->ret_bytes, __ATOMIC_RELAXED);
}

/* Largest batch for class cls. */
static inline uint32_t bin_batch_max(uint32_t cls)
{
	uint32_t n = CACHE_BATCH_BYTES / memd_class_size(cls);

	return n < 1 ? 1 : n > CACHE_BATCH_BLOCKS ? CACHE_BATCH_BLOCKS : n;
}

/* b's batch doubles (up to the class's largest): it ran dry. */
static inline void bin_grow(struct cache_bin *b, uint32_t cls)
{
	uint32_t max = bin_batch_max(cls);

	b->batch = b->batch * 2 < max ? b->batch * 2 : max;
}

/* Room for n blocks in b.  0 or -ENOMEM. */
static inline int bin_reserve(struct cache_bin *b, uint32_t n)
{
	uint32_t cap = b->cap ? b->cap : 8;
	uint64_t *refs;

	if (n <= b->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	refs = realloc(b->refs, cap * sizeof(refs[0]));
	if (refs == NULL)
		return -ENOMEM;
	b->refs = refs;
	b->cap = cap;
	return 0;
}

/* ---- cache_thread.c: thread caches -------------------------------------- */

/* The calling thread's cache for c, made on first use.  NULL if the
 * cache is off or out of memory (the caller then takes the plain path). */
struct memc_tcache *cache_tc_slow(memc_client *c);

/* The calling thread's cache for c (see cache_tc_slow). */
static inline struct memc_tcache *tc_get(memc_client *c)
{
	struct memc_tcache *tc = cache_tls_last;

	if (memd_likely(tc != NULL && atomic_load_explicit(&tc->c, memory_order_relaxed) == c))
		return tc;
	return cache_tc_slow(c);
}

/* Make room for need more cached bytes in tc: true if tc->bytes + need
 * stays within the credit tc holds (taking more from the client if it
 * may).  Never goes past thread_max. */
bool cache_tc_credit(memc_client *c, struct memc_tcache *tc, uint64_t need);

/* cache_tc_credit, with the common case (the credit tc holds covers need)
 * inline. */
static inline bool tc_credit(memc_client *c, struct memc_tcache *tc, uint64_t need)
{
	if (memd_likely(tc->credit >= tc->bytes + tc->ahead + tc->ret_bytes + need))
		return true;
	return cache_tc_credit(c, tc, need);
}

/* Halve every bin of tc and send those blocks back, with extra (a block
 * of extra_size bytes, if not 0); then give back the credit no longer
 * needed. */
int cache_tc_shrink(memc_client *c, struct memc_tcache *tc, memc_ref extra, uint32_t extra_size);

/* The periodic look at every bin: blocks that sat unused since the last
 * look (3/4 of the low-water mark) go back, and the bin's batch halves. */
void cache_tc_gc(memc_client *c, struct memc_tcache *tc);

/* ---- cache_lease.c: leasing and returning ------------------------------- */

/* Send refs[0..n) back with one FREE_BATCH (nothing if n is 0), clearing
 * their HELD bits first; takes c->lock.  The reply is not waited for.  0,
 * or the connection's error. */
int cache_ret_send(memc_client *c, const uint64_t *refs, uint32_t n);

/* Send tc's gathered returns with one FREE_BATCH. */
int cache_tc_ret_flush(memc_client *c, struct memc_tcache *tc);

/* Gather ref (size bytes, leaving a bin or never in one) for the way
 * back, sending the gathered ones first if there is no room. */
int cache_tc_ret_add(memc_client *c, struct memc_tcache *tc, memc_ref ref, uint32_t size);

/* Move the k oldest blocks of bin b (class cls) to tc's returns. */
int cache_bin_give(memc_client *c, struct memc_tcache *tc, struct cache_bin *b, uint32_t cls,
                   uint32_t k);

/* Lease up to want blocks of class cls from pool_id into refs with one
 * ALLOC_BATCH and record them as ours.  0 and *got >= 1, or an error (the
 * daemon's -ENOMEM / -EDQUOT / -EACCES, or the connection's). */
int cache_lease_batch(memc_client *c, uint32_t pool_id, uint32_t cls, uint32_t want, uint64_t *refs,
                      uint32_t *got);

/* Send a lease of b's batch ahead of need (the bin is running low), if
 * tc's credit covers it.  Failures only mean no lease ahead. */
void cache_lease_ahead(memc_client *c, struct memc_tcache *tc, struct cache_pool *cp, uint32_t cls,
                       struct cache_bin *b);

/* Has the lease l sent ahead come?  Reads, without waiting, the replies
 * that are already here.  true also when the connection broke (collecting
 * then reports it). */
bool cache_lease_arrived(memc_client *c, struct cache_lease *l);

/* Collect b's lease sent ahead into the bin (waiting for its reply, and
 * only for the replies before it, if it has not come yet).  0 if blocks
 * came, 1 if none (the daemon refused: the caller asks again the ordinary
 * way), or the connection's error. */
int cache_bin_collect(memc_client *c, struct memc_tcache *tc, uint32_t cls, struct cache_bin *b);

/* ---- cache.c: the fast paths, inline in memc_alloc and memc_free -------- */

/* The rest of memc_free for ref, whose USED bit cache_free_fast cleared
 * (chunk record ch, segment s): keep it in the calling thread's cache, or
 * send it back.  0 or the connection's error. */
int cache_keep(memc_client *c, struct memc_seg *s, struct cmap_chunk *ch, memc_ref ref);

/* One block (size bytes) into (+1) or out of (-1) tc's bins, on the fast
 * path: tc's slot is its own, and holds the sums tc_count() publishes, so
 * adding the difference keeps them. */
static inline void tc_fast_count(struct memc_tcache *tc, int64_t blocks, int64_t bytes)
{
	struct memd_cache_slot *slot = tc->slot;

	tc->blocks += (uint64_t)blocks;
	tc->bytes += (uint64_t)bytes;
	__atomic_store_n(&slot->blocks,
	                 __atomic_load_n(&slot->blocks, __ATOMIC_RELAXED) + (uint64_t)blocks,
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&slot->bytes,
	                 __atomic_load_n(&slot->bytes, __ATOMIC_RELAXED) + (uint64_t)bytes,
	                 __ATOMIC_RELAXED);
}

/* memc_alloc(c, NULL, size, 0) for 1 <= size <= MEMD_SMALL_MAX in the
 * steady state: the calling thread's bin has a block, no lease ahead is
 * due, no periodic look is due, no reclaimer is at work, its counters slot
 * is its own.  Pop the block and mark it in use.  0 and *out, or 1 (and
 * nothing changed): take cache_alloc(), which does all of those too.  No
 * system call, no call at all (so the compiler saves no registers); one
 * locked instruction (the USED bit). */
static inline int cache_alloc_fast(memc_client *c, size_t size, memc_ref *out)
{
	struct memc_tcache *tc = cache_tls_last;
	struct cache_pool *cp;
	struct cache_bin *b;
	_Atomic uint64_t *w;
	uint32_t n;
	unsigned sh;
	memc_ref ref;

	if (memd_unlikely(tc == NULL || atomic_load_explicit(&tc->c, memory_order_relaxed) != c ||
	                  (cp = tc->dflt) == NULL || tc->slot_shared))
		return 1;
	b = &cp->bins[memd_size_class(size)];
	if (memd_unlikely(!tc_fast_lock(tc)))
		return 1;
	n = b->n;
	if (memd_unlikely(n == 0 || (tc->ticks + 1) % CACHE_PRESSURE_TICKS == 0 ||
	                  (n - 1 <= b->batch / 2 && b->hungry && b->inflight == NULL))) {
		tc_fast_unlock(tc);
		return 1;
	}
	tc->ticks++;
	ref = b->refs[--n];
	b->n = n;
	if (n < b->low)
		b->low = n;
	tc_fast_count(tc, -1, -(int64_t)b->size);
	w = cmap_word_of_cached(c, ref, &sh);
	atomic_fetch_or_explicit(w, CMAP_USED << sh, memory_order_acq_rel);
	tc_fast_unlock(tc);
	*out = ref;
	return 0;
}

/* memc_free(c, ref) as far as the cache goes: 0 (kept in the calling
 * thread's cache), -EINVAL (a cached block: already freed), 1 (not a
 * cache block: ask the daemon), or 2: a cache block, now not in use, that
 * cache_keep(c, *s, *ch, ref) must take care of.  The common case (the
 * block goes into a bin of the calling thread's default pool with room
 * and credit, no periodic look due) makes no call at all. */
static inline int cache_free_fast(memc_client *c, memc_ref ref, struct memc_seg **s,
                                  struct cmap_chunk **ch)
{
	struct memc_tcache *tc;
	struct cache_pool *cp;
	struct cache_bin *b;
	_Atomic uint64_t *w;
	uint64_t used;
	uint32_t n;
	unsigned sh;

	*ch = cmap_locate(c, ref, s, &w, &sh);
	if (*ch == NULL)
		return 1;
	/* USED implies HELD, so clearing USED alone (one bit-test-and-reset,
	 * no compare-and-swap loop) settles the common case. */
	used = UINT64_C(1) << (sh + 1);
	if (memd_unlikely(!(atomic_fetch_and_explicit(w, ~used, memory_order_acq_rel) & used)))
		return atomic_load_explicit(w, memory_order_acquire) & (CMAP_HELD << sh) ? -EINVAL
		                                                                         : 1;
	tc = cache_tls_last;
	if (memd_unlikely(tc == NULL || atomic_load_explicit(&tc->c, memory_order_relaxed) != c ||
	                  (cp = tc->dflt) == NULL || tc->slot_shared ||
	                  cp->id != atomic_load_explicit(&(*s)->cache_pool, memory_order_relaxed)))
		return 2;
	b = &cp->bins[cmap_class(*ch, ref)];
	if (memd_unlikely(!tc_fast_lock(tc)))
		return 2;
	n = b->n;
	if (memd_unlikely(n == b->cap || n >= 4 * b->batch ||
	                  (tc->ticks + 1) % CACHE_PRESSURE_TICKS == 0 ||
	                  tc->credit <
	                          __atomic_load_n(&tc->slot->bytes, __ATOMIC_RELAXED) + b->size)) {
		tc_fast_unlock(tc);
		return 2;
	}
	tc->ticks++;
	b->refs[n] = ref;
	b->n = n + 1;
	tc_fast_count(tc, 1, b->size);
	tc_fast_unlock(tc);
	return 0;
}

#endif
