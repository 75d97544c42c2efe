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
 * A chunk record is created under c->lock when a lease first lands in it,
 * published with a release store, and lives until memc_close.
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
 * Threads.  The per-thread state (struct memc_tcache) is reached through a
 * thread-local pointer; only its owning thread touches its bins, so the
 * fast path takes no lock and makes no system call.  What it shares with
 * other threads: the chunk bits (atomic, one word per 32 granules) and the
 * read-mostly pressure counter.  Round trips (refill, return) take c->lock
 * as every request does.  A thread's caches are drained at thread exit (a
 * pthread key destructor); memc_close frees the caller's own caches and
 * marks the others dead (their threads free them later); the blocks go
 * back anyway when the connection closes.
 *
 * Bounds.  Each thread's cache holds at most thread_max bytes, all of them
 * together at most max ($MEMC_THREAD_CACHE_BYTES, $MEMC_CACHE_BYTES).  The
 * total is enforced with credit: a thread takes budget from the client's
 * atomic pool in CACHE_CREDIT_CHUNK steps (on the slow path only) and
 * never caches more than it took; when the pool is dry the thread returns
 * the block instead and bumps `pressure`, which makes every thread halve
 * its cache and give credit back at its next call.
 *
 * Not waiting.  A round trip is mostly waiting, so the cache waits as
 * little as it can.  FREE_BATCH is sent without waiting for its reply
 * (client_send_async: the reply is checked by whichever call reads replies
 * next; at most MEMC_PENDING_MAX are outstanding).  And when a bin with a
 * batch of at least CACHE_AHEAD_MIN falls to half its batch, the next
 * batch is leased ahead (struct cache_lease), provided the bin ran dry
 * since its last GC look found it with slack (a bin that allocation and
 * free keep in balance never needs the daemon, and leasing ahead there
 * would only feed the GC): the daemon works on it while
 * the application goes on, and the bin collects it when it runs dry.  The
 * reply handler records the blocks (HELD) as soon as the reply is read;
 * if that needs a segment mapped (a round trip, which a handler cannot
 * make), the lease waits on c->cache.unreg until a call outside any
 * exchange settles it (cache_settle: every slow-path request about a
 * reference settles first, so the daemon is never asked about a block
 * that is really in a cache).
 *
 * Adapting.  A bin's batch (blocks per refill) starts at CACHE_START_BYTES
 * of blocks (at least CACHE_BATCH_START) and doubles when the bin runs dry
 * before its lease came (or with no lease under way), and on every
 * overflow, up to CACHE_BATCH_BYTES of blocks.  A bin keeps at most four
 * times its batch; then the oldest go back, gathered with other returns
 * into one FREE_BATCH of up to CACHE_RET_BYTES.  Every CACHE_GC_TICKS
 * calls a thread looks at each bin's low-water mark since the last look:
 * blocks that sat unused the whole time (3/4 of the low water) go back,
 * and that bin's batch halves.  So a hot class keeps big batches, and
 * memory a phase of the program stopped using returns within a few
 * thousand calls.
 *
 * Counters.  memd shows each client's cached blocks apart from those in
 * use; only the client knows which are which, so it writes them into a
 * page the daemon gave it (CACHE_PAGE, see proto.h): each thread cache its
 * own 64-byte slot with plain stores, threads past the exclusive slots
 * into the last slot with atomic adds.  Without the page the counters are
 * kept locally only.
 */
#include "client_int.h"

#include "debug.h"
#include "ref.h"
#include "sizeclass.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_DEFAULT_MAX        (8u << 20)   /* all threads' caches of one client */
#define CACHE_DEFAULT_THREAD_MAX (2u << 20)   /* one thread's cache */
#define CACHE_CREDIT_CHUNK       (64u << 10)  /* budget taken from the client at once */
#define CACHE_BATCH_BYTES        (64u << 10)  /* a bin's largest batch, bytes */
#define CACHE_BATCH_BLOCKS       512u         /* ... and blocks */
#define CACHE_BATCH_START        8u           /* a new bin's batch, at least */
#define CACHE_START_BYTES        (4u << 10)   /* ... and in bytes */
#define CACHE_AHEAD_MIN          8u           /* smallest batch leased ahead of need */
#define CACHE_RET_BYTES          (256u << 10) /* bytes of returns gathered before sending */
#define CACHE_GC_TICKS           16384u       /* calls between GC looks */
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
	uint32_t ticks;               /* calls since the last GC look */
	unsigned pressure;            /* the client's pressure count last seen */
	struct cache_pool *dflt;      /* the "default" pool, once met */
	struct cache_pool **pools;    /* every pool met */
	size_t npools;                /* entries in pools */
	struct memd_cache_slot local; /* the slot when the daemon gave no page */
};

/* Blocks on their way back to the daemon: one FREE_BATCH, sent when full
 * (CACHE_RET_BYTES or MEMD_BATCH_MAX blocks), at a GC look, or when the
 * cache is drained.  Until then they are still the cache's (HELD, not
 * USED: a free of one is a double free) and count as cached. */
struct cache_ret {
	uint32_t n;                    /* refs collected */
	uint64_t refs[MEMD_BATCH_MAX]; /* the refs */
};

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER; /* every c->cache.threads list */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key; /* only for its exit destructor */
static int tls_key_ok;        /* tls_key was created */
/* initial-exec: one instruction to reach them, even from the shared library */
static __thread struct memc_tcache *tls_last
        __attribute__((tls_model("initial-exec"))); /* the cache this thread used last */
static __thread struct memc_tcache *tls_list
        __attribute__((tls_model("initial-exec"))); /* every cache this thread owns */

/* The lock on a thread's cache.  Its owner takes it in every call and is
 * the only taker in the steady state; cache_reclaim() takes it, rarely, to
 * drain the cache from another thread.  A lock instruction per call would
 * cost as much as the rest of the fast path, so the lock is asymmetric
 * (Dekker's, with membarrier(2) standing in for the owner's fence): the
 * owner marks itself busy with a plain store and then looks for a
 * reclaimer; a reclaimer announces itself, makes every thread of the
 * process execute a full barrier (MEMBARRIER_CMD_PRIVATE_EXPEDITED), and
 * waits until the owner is not busy.  After the barrier either the
 * reclaimer sees the owner busy or the owner sees the reclaimer, never
 * neither; an owner that sees one goes in through the mutex, behind it.
 * Where membarrier is not available, busy is an ordinary spin lock taken
 * with an atomic exchange by both sides. */
static bool tc_asym; /* membarrier registered: the asymmetric scheme is on */

static inline void tc_lock(struct memc_tcache *tc)
{
	if (memd_unlikely(!tc_asym)) {
		while (atomic_exchange_explicit(&tc->busy, 1, memory_order_acquire) != 0)
			sched_yield();
		return;
	}
	atomic_store_explicit(&tc->busy, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the reclaimer's membarrier does the rest */
	if (memd_likely(atomic_load_explicit(&tc->reclaim, memory_order_acquire) == 0))
		return;
	atomic_store_explicit(&tc->busy, 0, memory_order_release);
	pthread_mutex_lock(&tc->mutex);
	tc->owner_locked = true;
}

static inline void tc_unlock(struct memc_tcache *tc)
{
	if (memd_unlikely(tc->owner_locked)) {
		tc->owner_locked = false;
		pthread_mutex_unlock(&tc->mutex);
		return;
	}
	atomic_store_explicit(&tc->busy, 0, memory_order_release);
}

/* Take tc from another thread (cache_reclaim). */
static void tc_lock_remote(struct memc_tcache *tc)
{
	if (!tc_asym) {
		tc_lock(tc);
		return;
	}
	pthread_mutex_lock(&tc->mutex);
	atomic_store_explicit(&tc->reclaim, 1, memory_order_relaxed);
	syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	while (atomic_load_explicit(&tc->busy, memory_order_acquire) != 0)
		sched_yield();
}

static void tc_unlock_remote(struct memc_tcache *tc)
{
	if (!tc_asym) {
		tc_unlock(tc);
		return;
	}
	atomic_store_explicit(&tc->reclaim, 0, memory_order_release);
	pthread_mutex_unlock(&tc->mutex);
}

/* Turn the asymmetric scheme on if the kernel has what it needs. */
static void tc_asym_setup(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	tc_asym = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	          syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* ---- the record of our blocks ------------------------------------------ */

/* The chunk record covering ref's granule, or NULL; *word and *shift locate
 * its bits.  Lock-free. */
static struct cmap_chunk *cmap_locate(memc_client *c, memc_ref ref, struct memc_seg **segp,
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

/* Size class recorded for the page of ref in ch. */
static uint32_t cmap_class(const struct cmap_chunk *ch, memc_ref ref)
{
	uint64_t off = memd_ref_off(ref) & ((UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1);

	return atomic_load_explicit(&ch->cls[off >> CMAP_PAGE_SHIFT], memory_order_relaxed);
}

void cache_seg_free(struct memc_seg *s)
{
	size_t n = (s->size + (UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1) >> CMAP_CHUNK_SHIFT;

	for (size_t i = 0; s->cmap != NULL && i < n; i++)
		free(atomic_load_explicit(&s->cmap[i], memory_order_relaxed));
	free(s->cmap);
	s->cmap = NULL;
}

/* ---- counters ----------------------------------------------------------- */

/* Account blocks/bytes entering (> 0) or leaving (< 0) tc's bins and
 * publish them in its slot. */
static inline void tc_count(struct memc_tcache *tc, int64_t blocks, int64_t bytes)
{
	tc->blocks += (uint64_t)blocks;
	tc->bytes += (uint64_t)bytes;
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_add(&tc->slot->blocks, (uint64_t)blocks, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tc->slot->bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&tc->slot->blocks,
	                 tc->blocks + tc->ahead_blocks + (tc->ret != NULL ? tc->ret->n : 0),
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&tc->slot->bytes, tc->bytes + tc->ahead + tc->ret_bytes, __ATOMIC_RELAXED);
}

/* Account blocks of leases sent ahead in the published counters only
 * (tc->blocks/bytes count what the bins hold). */
static void tc_count_ahead(struct memc_tcache *tc, int64_t blocks, int64_t bytes)
{
	tc->ahead_blocks += (uint64_t)blocks;
	tc_count(tc, 0, 0);
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_add(&tc->slot->blocks, (uint64_t)blocks, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tc->slot->bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
	}
}

/* Ask the daemon for the counters page; c->lock held, page not asked yet.
 * Failure only leaves the counters local. */
static void cache_page_get(memc_client *c)
{
	struct memd_cache_page_req req = {.flags = 0, .pad = 0};
	struct memd_cache_page_rep rep;
	struct stat st;
	void *p;
	int fd, err;

	c->cache.page_state = -1;
	err = client_call(c, 1, MEMD_OP_CACHE_PAGE, &req, sizeof(req), &rep, sizeof(rep), NULL,
	                  &fd);
	if (err < 0)
		return;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < MEMD_CACHE_PAGE_SIZE ||
	    rep.size != MEMD_CACHE_PAGE_SIZE)
		goto out_close_fd;
	p = mmap(NULL, MEMD_CACHE_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out_close_fd;
	c->cache.page = p;
	c->cache.page_state = 1;
out_close_fd:
	close(fd);
}

/* Give tc a slot of the counters page (or its local one).  Takes c->lock. */
static void tc_slot_attach(memc_client *c, struct memc_tcache *tc)
{
	tc->slot = &tc->local;
	tc->slot_idx = -1;
	tc->slot_shared = false;
	pthread_mutex_lock(&c->lock);
	if (c->cache.page_state == 0)
		cache_page_get(c);
	if (c->cache.page != NULL) {
		for (unsigned i = 0; i < CACHE_SLOT_SHARED; i++) {
			if (c->cache.slot_used[i / 64] & (UINT64_C(1) << (i % 64)))
				continue;
			c->cache.slot_used[i / 64] |= UINT64_C(1) << (i % 64);
			tc->slot = &c->cache.page[i];
			tc->slot_idx = (int)i;
			break;
		}
		if (tc->slot_idx < 0) {
			tc->slot = &c->cache.page[CACHE_SLOT_SHARED];
			tc->slot_shared = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* Take tc's counts out of its slot and free the slot.  c->lock held. */
static void tc_slot_detach(memc_client *c, struct memc_tcache *tc)
{
	tc_count(tc, -(int64_t)tc->blocks, -(int64_t)tc->bytes);
	if (tc->slot_idx >= 0)
		c->cache.slot_used[tc->slot_idx / 64] &= ~(UINT64_C(1) << (tc->slot_idx % 64));
	tc->slot = &tc->local;
	tc->slot_idx = -1;
	tc->slot_shared = false;
}

/* ---- credit: the client-wide bound -------------------------------------- */

/* Make room for need more cached bytes in tc: true if tc->bytes + need
 * stays within the credit tc holds (taking more from the client if it
 * may).  Never goes past thread_max. */
static bool tc_credit(memc_client *c, struct memc_tcache *tc, uint64_t need)
{
	uint64_t used = tc->bytes + tc->ahead + tc->ret_bytes;
	uint64_t want, have = tc->credit > used ? tc->credit - used : 0;
	int64_t avail;

	if (have >= need)
		return true;
	if (used + need > c->cache.thread_max)
		return false;
	want = need - have > CACHE_CREDIT_CHUNK ? need - have : CACHE_CREDIT_CHUNK;
	if (tc->credit + want > c->cache.thread_max)
		want = c->cache.thread_max - tc->credit;
	avail = atomic_load_explicit(&c->cache.credit, memory_order_relaxed);
	for (;;) {
		int64_t take = avail < (int64_t)want ? avail : (int64_t)want;

		if (take < (int64_t)(need - have)) {
			atomic_fetch_add_explicit(&c->cache.pressure, 1, memory_order_relaxed);
			return false;
		}
		if (atomic_compare_exchange_weak_explicit(&c->cache.credit, &avail, avail - take,
		                                          memory_order_relaxed,
		                                          memory_order_relaxed)) {
			tc->credit += (uint64_t)take;
			return true;
		}
	}
}

/* Give back credit tc holds beyond one chunk of slack. */
static void tc_credit_trim(memc_client *c, struct memc_tcache *tc, uint64_t keep)
{
	uint64_t used = tc->bytes + tc->ahead + tc->ret_bytes;
	uint64_t spare = tc->credit > used ? tc->credit - used : 0;

	if (spare <= keep)
		return;
	atomic_fetch_add_explicit(&c->cache.credit, (int64_t)(spare - keep), memory_order_relaxed);
	tc->credit -= spare - keep;
}

/* ---- leasing and returning ---------------------------------------------- */

/* Largest batch for class cls. */
static uint32_t bin_batch_max(uint32_t cls)
{
	uint32_t n = CACHE_BATCH_BYTES / memd_class_size(cls);

	return n < 1 ? 1 : n > CACHE_BATCH_BLOCKS ? CACHE_BATCH_BLOCKS : n;
}

/* A new bin's batch: CACHE_START_BYTES of blocks, at least
 * CACHE_BATCH_START, at most the class's largest batch. */
static uint32_t bin_batch_start(uint32_t cls)
{
	uint32_t n = CACHE_START_BYTES / memd_class_size(cls);

	n = n < CACHE_BATCH_START ? CACHE_BATCH_START : n;
	return n < bin_batch_max(cls) ? n : bin_batch_max(cls);
}

/* Room for n blocks in b.  0 or -ENOMEM. */
static int bin_reserve(struct cache_bin *b, uint32_t n)
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

/* Reply handler of FREE_BATCH: every block must have gone back (a refused
 * one is a protocol error: nobody but us could have dropped our hold). */
static int ret_reply(memc_client *c, void *arg, const struct memd_hdr *h, const void *body,
                     size_t len)
{
	(void)arg;
	(void)body;
	(void)len;
	return h->status == 0 ? 0 : client_protocol_error(c);
}

/* Send refs[0..n) back with one FREE_BATCH, clearing their HELD bits first;
 * c->lock held.  The reply is not waited for (ret_reply checks it when it
 * is read).  0, or the connection's error. */
static int ret_send_locked(memc_client *c, const uint64_t *refs, uint32_t n)
{
	static const size_t hdr = sizeof(struct memd_free_batch_req);
	unsigned char req[MEMC_REQ_MAX];
	struct memd_free_batch_req fb = {.count = n, .pad = 0};

	memd_assert(n >= 1 && n <= MEMD_BATCH_MAX);
	for (uint32_t i = 0; i < n; i++) {
		struct memc_seg *s;
		_Atomic uint64_t *w;
		unsigned sh;

		if (cmap_locate(c, refs[i], &s, &w, &sh) != NULL)
			atomic_fetch_and_explicit(w, ~(CMAP_HELD << sh), memory_order_release);
	}
	memcpy(req, &fb, hdr);
	memcpy(req + hdr, refs, n * sizeof(uint64_t));
	return client_send_async(c, MEMD_OP_FREE_BATCH, req, hdr + n * sizeof(uint64_t), ret_reply,
	                         NULL);
}

/* ret_send_locked, taking c->lock. */
static int ret_send(memc_client *c, const uint64_t *refs, uint32_t n)
{
	int err;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	err = ret_send_locked(c, refs, n);
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* Send tc's gathered returns with one FREE_BATCH. */
static int tc_ret_flush(memc_client *c, struct memc_tcache *tc)
{
	int err;

	if (tc->ret == NULL || tc->ret->n == 0)
		return 0;
	err = ret_send(c, tc->ret->refs, tc->ret->n);
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_sub(&tc->slot->blocks, (uint64_t)tc->ret->n, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&tc->slot->bytes, tc->ret_bytes, __ATOMIC_RELAXED);
	}
	tc->ret->n = 0;
	tc->ret_bytes = 0;
	tc_count(tc, 0, 0);
	return err;
}

/* Gather ref (size bytes, leaving a bin or never in one) for the way
 * back, sending the gathered ones first if there is no room. */
static int tc_ret_add(memc_client *c, struct memc_tcache *tc, memc_ref ref, uint32_t size)
{
	int err = 0;

	if (memd_unlikely(tc->ret == NULL)) {
		tc->ret = malloc(sizeof(*tc->ret));
		if (tc->ret == NULL)
			return ret_send(c, &ref, 1);
		tc->ret->n = 0;
	}
	if (tc->ret->n == MEMD_BATCH_MAX || tc->ret_bytes + size > CACHE_RET_BYTES)
		err = tc_ret_flush(c, tc);
	tc->ret->refs[tc->ret->n++] = ref;
	tc->ret_bytes += size;
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_add(&tc->slot->blocks, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tc->slot->bytes, (uint64_t)size, __ATOMIC_RELAXED);
	}
	return err;
}

/* Move the k oldest blocks of bin b (class cls) to tc's returns. */
static int bin_give(memc_client *c, struct memc_tcache *tc, struct cache_bin *b, uint32_t cls,
                    uint32_t k)
{
	uint32_t size = memd_class_size(cls);
	int err = 0;

	if (k > b->n)
		k = b->n;
	if (k == 0) /* b->refs may be NULL: no memmove(NULL, ...) */
		return 0;
	tc_count(tc, -(int64_t)k, -(int64_t)k * size);
	for (uint32_t i = 0; i < k; i++) {
		int e = tc_ret_add(c, tc, b->refs[i], size);

		err = err < 0 ? err : e;
	}
	memmove(b->refs, b->refs + k, (b->n - k) * sizeof(b->refs[0]));
	b->n -= k;
	if (b->low > b->n)
		b->low = b->n;
	tc_count(tc, 0, 0);
	return err;
}

/* Make sure the chunk record covering off exists in s and that s belongs
 * to pool_id.  c->lock held.  0, -ENOMEM, or -EPROTO. */
static int lease_chunk(memc_client *c, struct memc_seg *s, uint64_t off, uint32_t pool_id)
{
	_Atomic(struct cmap_chunk *) *slot = &s->cmap[off >> CMAP_CHUNK_SHIFT];
	uint32_t owner = atomic_load_explicit(&s->cache_pool, memory_order_relaxed);
	struct cmap_chunk *ch;

	if (owner != 0 && owner != pool_id)
		return client_protocol_error(c);
	atomic_store_explicit(&s->cache_pool, pool_id, memory_order_relaxed);
	if (atomic_load_explicit(slot, memory_order_relaxed) != NULL)
		return 0;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	atomic_store_explicit(slot, ch, memory_order_release);
	return 0;
}

/* Check one leased block and get its segment mapped and its chunk record
 * made; c->lock held.  0, -EPROTO (the daemon sent nonsense), or an error
 * mapping the segment. */
static int lease_prepare(memc_client *c, memc_ref ref, uint32_t size, uint32_t pool_id)
{
	uint64_t off = memd_ref_off(ref);
	struct memc_seg *s;
	int err;

	if (memd_ref_seg(ref) == 0 || (off & ((1u << CMAP_GRAN_SHIFT) - 1)) != 0)
		return client_protocol_error(c);
	err = segtab_map_held(c, memd_ref_seg(ref), &s);
	if (err < 0)
		return err;
	if (off + size > s->size || off + size < off)
		return client_protocol_error(c);
	err = lease_chunk(c, s, off, pool_id);
	if (err < 0)
		return err;
	return lease_chunk(c, s, off + size - 1, pool_id);
}

/* Record a prepared block as ours (HELD, not in use).  c->lock held.  0,
 * or -EPROTO if we hold it already. */
static int lease_register(memc_client *c, memc_ref ref, uint32_t cls, uint32_t size)
{
	struct memc_seg *s;
	struct cmap_chunk *ch;
	_Atomic uint64_t *w;
	uint64_t off = memd_ref_off(ref), old;
	unsigned sh;

	ch = cmap_locate(c, ref, &s, &w, &sh);
	if (ch == NULL) /* lease_prepare made it: cannot happen */
		return client_protocol_error(c);
	for (uint64_t p = off >> CMAP_PAGE_SHIFT; p <= (off + size - 1) >> CMAP_PAGE_SHIFT; p++) {
		struct cmap_chunk *pc = atomic_load_explicit(
		        &s->cmap[(p << CMAP_PAGE_SHIFT) >> CMAP_CHUNK_SHIFT], memory_order_relaxed);

		atomic_store_explicit(&pc->cls[p & (CMAP_PAGES - 1)], (uint8_t)cls,
		                      memory_order_relaxed);
	}
	old = atomic_fetch_or_explicit(w, CMAP_HELD << sh, memory_order_release);
	if (old & ((CMAP_HELD | CMAP_USED) << sh))
		return client_protocol_error(c);
	return 0;
}

/* Lease up to want blocks of class cls from pool_id into refs with one
 * ALLOC_BATCH and record them as ours.  0 and *got >= 1, or an error (the
 * daemon's -ENOMEM / -EDQUOT / -EACCES, or the connection's). */
static int lease(memc_client *c, uint32_t pool_id, uint32_t cls, uint32_t want, uint64_t *refs,
                 uint32_t *got)
{
	static const size_t hdr = sizeof(struct memd_alloc_batch_rep);
	struct memd_alloc_batch_req req = {
	        .pool_id = pool_id, .size = memd_class_size(cls), .count = want};
	unsigned char rep[sizeof(struct memd_alloc_batch_rep) + MEMD_BATCH_MAX * sizeof(uint64_t)];
	struct memd_alloc_batch_rep br;
	size_t len = 0;
	int err;

	pthread_mutex_lock(&c->lock);
	err = client_call(c, 1, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), rep, sizeof(rep), &len,
	                  NULL);
	if (err < 0)
		goto out_unlock;
	memcpy(&br, rep, hdr);
	if (br.count < 1 || br.count > want || br.size != req.size) {
		err = client_protocol_error(c);
		goto out_unlock;
	}
	memcpy(refs, rep + hdr, br.count * sizeof(uint64_t));
	for (uint32_t i = 0; i < br.count && err == 0; i++)
		err = lease_prepare(c, refs[i], req.size, pool_id);
	if (err < 0)
		goto fail_return;
	for (uint32_t i = 0; i < br.count && err == 0; i++)
		err = lease_register(c, refs[i], cls, (uint32_t)req.size);
	*got = br.count;
	goto out_unlock;

fail_return:
	/* None is registered yet: give them all back as they came. */
	if (atomic_load(&c->broken) == 0 && ret_send_locked(c, refs, br.count) < 0)
		err = atomic_load(&c->broken);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* Check and prepare the blocks of lease l without mapping anything
 * (reply handler).  0, 1 if a segment is not mapped yet (or memory is
 * short: lease_settle retries), or -EPROTO. */
static int lease_try_prepare(memc_client *c, struct cache_lease *l)
{
	uint32_t size = memd_class_size(l->cls);

	for (uint32_t i = 0; i < l->got; i++) {
		uint64_t off = memd_ref_off(l->refs[i]);
		struct memc_seg *s;

		if (memd_ref_seg(l->refs[i]) == 0 || (off & ((1u << CMAP_GRAN_SHIFT) - 1)) != 0)
			return client_protocol_error(c);
		s = segtab_find(&c->segs, memd_ref_seg(l->refs[i]));
		if (s == NULL)
			return 1;
		if (off + size > s->size || off + size < off)
			return client_protocol_error(c);
		if (lease_chunk(c, s, off, l->pool_id) < 0 ||
		    lease_chunk(c, s, off + size - 1, l->pool_id) < 0)
			return atomic_load(&c->broken) < 0 ? atomic_load(&c->broken) : 1;
	}
	return 0;
}

/* Record the prepared blocks of l as ours; LEASE_READY.  0 or -EPROTO. */
static int lease_record(memc_client *c, struct cache_lease *l)
{
	int err = 0;

	for (uint32_t i = 0; i < l->got && err == 0; i++)
		err = lease_register(c, l->refs[i], l->cls, memd_class_size(l->cls));
	l->state = err < 0 ? err : LEASE_READY;
	return err;
}

/* Reply handler of a lease sent ahead. */
static int lease_reply(memc_client *c, void *arg, const struct memd_hdr *h, const void *body,
                       size_t len)
{
	struct cache_lease *l = arg;
	struct memd_alloc_batch_rep br;
	int err;

	if (h->status < 0) {
		l->state = h->status;
		return 0;
	}
	memd_assert(len >= sizeof(br));
	memcpy(&br, body, sizeof(br));
	if (br.count < 1 || br.count > l->want || br.size != memd_class_size(l->cls)) {
		l->state = -EPROTO;
		return client_protocol_error(c);
	}
	memcpy(l->refs, (const unsigned char *)body + sizeof(br), br.count * sizeof(uint64_t));
	l->got = br.count;
	err = lease_try_prepare(c, l);
	if (err < 0) {
		l->state = err;
		return err;
	}
	if (err > 0) {
		l->state = LEASE_UNREG;
		l->next = c->cache.unreg;
		c->cache.unreg = l;
		return 0;
	}
	return lease_record(c, l);
}

/* Record an arrived lease that needed a segment mapped; c->lock held, l
 * off the unreg list.  If the mapping fails, its blocks go back. */
static void lease_settle(memc_client *c, struct cache_lease *l)
{
	uint32_t size = memd_class_size(l->cls);
	int err = 0;

	for (uint32_t i = 0; i < l->got && err == 0; i++)
		err = lease_prepare(c, l->refs[i], size, l->pool_id);
	if (err == 0) {
		lease_record(c, l);
		return;
	}
	l->state = err;
	if (atomic_load(&c->broken) == 0)
		ret_send_locked(c, l->refs, l->got);
}

int cache_settle(memc_client *c)
{
	int err = client_drain(c);

	while (err == 0 && c->cache.unreg != NULL) {
		struct cache_lease *l = c->cache.unreg;

		c->cache.unreg = l->next;
		lease_settle(c, l);
		err = atomic_load(&c->broken);
	}
	return err;
}

/* Take l off the unreg list if it is there; c->lock held. */
static void lease_unlist(memc_client *c, struct cache_lease *l)
{
	for (struct cache_lease **pp = &c->cache.unreg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			return;
		}
}

/* Send a lease of b's batch ahead of need (the bin is running low), if
 * tc's credit covers it.  Failures only mean no lease ahead. */
static void lease_ahead(memc_client *c, struct memc_tcache *tc, struct cache_pool *cp, uint32_t cls,
                        struct cache_bin *b)
{
	uint32_t size = memd_class_size(cls), want = b->batch;
	struct memd_alloc_batch_req req = {.pool_id = cp->id, .size = size, .count = want};
	struct cache_lease *l;
	int err;

	if (!tc_credit(c, tc, (uint64_t)want * size) || bin_reserve(b, b->n + want) < 0)
		return;
	l = malloc(sizeof(*l) + want * sizeof(l->refs[0]));
	if (l == NULL)
		return;
	*l = (struct cache_lease){.state = LEASE_SENT, .pool_id = cp->id, .cls = cls, .want = want};
	pthread_mutex_lock(&c->lock);
	err = client_send_async(c, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), lease_reply, l);
	pthread_mutex_unlock(&c->lock);
	if (err < 0) {
		free(l);
		return;
	}
	b->inflight = l;
	tc->ahead += (uint64_t)want * size;
	/* Published as cached from now on: the daemon may hold them any
	 * moment (it clamps what it shows to what the session holds). */
	tc_count_ahead(tc, want, (int64_t)want * size);
}

/* Collect b's lease sent ahead into the bin (waiting for its reply if it
 * has not come yet).  0 if blocks came, 1 if none (the daemon refused:
 * the caller asks again the ordinary way), or the connection's error. */
static int bin_collect(memc_client *c, struct memc_tcache *tc, uint32_t cls, struct cache_bin *b)
{
	struct cache_lease *l = b->inflight;
	uint32_t size = memd_class_size(cls);
	int err = 0;

	b->inflight = NULL;
	tc->ahead -= (uint64_t)l->want * size;
	tc_count_ahead(tc, -(int64_t)l->want, -(int64_t)l->want * size);
	pthread_mutex_lock(&c->lock);
	if (l->state == LEASE_SENT) {
		/* The bin ran dry before the lease came: lease more ahead. */
		if (b->batch < bin_batch_max(cls))
			b->batch = b->batch * 2 < bin_batch_max(cls) ? b->batch * 2
			                                             : bin_batch_max(cls);
		err = client_drain(c);
	}
	if (l->state == LEASE_UNREG) {
		lease_unlist(c, l);
		lease_settle(c, l);
	}
	pthread_mutex_unlock(&c->lock);
	if (err < 0 || l->state != LEASE_READY) {
		err = err < 0 ? err : atomic_load(&c->broken) < 0 ? atomic_load(&c->broken) : 1;
		free(l);
		return err;
	}
	if (bin_reserve(b, b->n + l->got) < 0) {
		/* No room to keep them: they go straight back. */
		err = ret_send(c, l->refs, l->got);
		free(l);
		return err < 0 ? err : 1;
	}
	for (uint32_t i = l->got; i-- > 0;)
		b->refs[b->n++] = l->refs[i];
	tc_count(tc, l->got, (int64_t)l->got * size);
	free(l);
	return 0;
}

/* Collect every lease tc sent ahead (before its bins are emptied). */
static void tc_collect(memc_client *c, struct memc_tcache *tc)
{
	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++)
			if (tc->pools[p]->bins[cls].inflight != NULL)
				bin_collect(c, tc, cls, &tc->pools[p]->bins[cls]);
}

/* ---- thread caches ------------------------------------------------------ */

/* Send every block of tc's bins (all pools) back, leases sent ahead
 * included. */
static int tc_drain(memc_client *c, struct memc_tcache *tc)
{
	int err = 0;

	tc_collect(c, tc);
	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			struct cache_bin *b = &tc->pools[p]->bins[cls];
			int e = bin_give(c, tc, b, cls, b->n);

			err = err < 0 ? err : e;
		}
	return err < 0 ? err : tc_ret_flush(c, tc);
}

/* Free tc and everything it owns (not its blocks). */
static void tc_free(struct memc_tcache *tc)
{
	for (size_t p = 0; p < tc->npools; p++) {
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			free(tc->pools[p]->bins[cls].inflight);
			free(tc->pools[p]->bins[cls].refs);
		}
		free(tc->pools[p]);
	}
	free(tc->pools);
	free(tc->ret);
	pthread_mutex_destroy(&tc->mutex);
	free(tc);
}

/* Take tc off its client's list.  registry held. */
static void tc_unlink(memc_client *c, struct memc_tcache *tc)
{
	if (tc->c_prev != NULL)
		tc->c_prev->c_next = tc->c_next;
	else
		c->cache.threads = tc->c_next;
	if (tc->c_next != NULL)
		tc->c_next->c_prev = tc->c_prev;
	tc->c_next = tc->c_prev = NULL;
}

/* The thread-exit destructor: give every live client its blocks back. */
static void tls_exit(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&registry);
	while (tls_list != NULL) {
		struct memc_tcache *tc = tls_list;
		memc_client *c = atomic_load_explicit(&tc->c, memory_order_relaxed);

		tls_list = tc->t_next;
		if (c != NULL) {
			tc_drain(c, tc);
			tc_unlink(c, tc);
			pthread_mutex_lock(&c->lock);
			tc_slot_detach(c, tc);
			pthread_mutex_unlock(&c->lock);
			tc_credit_trim(c, tc, 0);
		}
		tc_free(tc);
	}
	tls_last = NULL;
	pthread_mutex_unlock(&registry);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&registry);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&registry);
}

static void tls_setup(void)
{
	tc_asym_setup();
	tls_key_ok = pthread_key_create(&tls_key, tls_exit) == 0;
	pthread_atfork(fork_prepare, fork_parent, fork_parent);
}

/* Free the dead caches (of closed clients) on the calling thread's list. */
static void tls_reap(void)
{
	struct memc_tcache **pp = &tls_list;

	pthread_mutex_lock(&registry);
	while (*pp != NULL) {
		struct memc_tcache *tc = *pp;

		if (atomic_load_explicit(&tc->c, memory_order_relaxed) != NULL) {
			pp = &tc->t_next;
			continue;
		}
		*pp = tc->t_next;
		if (tls_last == tc)
			tls_last = NULL;
		tc_free(tc);
	}
	pthread_mutex_unlock(&registry);
}

/* The calling thread's cache for c, made on first use.  NULL if the
 * cache is off or out of memory (the caller then takes the plain path). */
static struct memc_tcache *tc_slow(memc_client *c)
{
	struct memc_tcache *tc;

	if (!c->cache.enabled)
		return NULL;
	for (tc = tls_list; tc != NULL; tc = tc->t_next)
		if (atomic_load_explicit(&tc->c, memory_order_relaxed) == c)
			return tls_last = tc;
	pthread_once(&tls_once, tls_setup);
	if (!tls_key_ok || pthread_setspecific(tls_key, (void *)1) != 0)
		return NULL;
	tls_reap();
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return NULL;
	if (pthread_mutex_init(&tc->mutex, NULL) != 0) {
		free(tc);
		return NULL;
	}
	tc->pressure = atomic_load_explicit(&c->cache.pressure, memory_order_relaxed);
	tc_slot_attach(c, tc);
	atomic_init(&tc->c, c);
	pthread_mutex_lock(&registry);
	tc->c_next = c->cache.threads;
	if (tc->c_next != NULL)
		tc->c_next->c_prev = tc;
	c->cache.threads = tc;
	tc->t_next = tls_list;
	tls_list = tc;
	pthread_mutex_unlock(&registry);
	return tls_last = tc;
}

/* The calling thread's cache for c (see tc_slow). */
static inline struct memc_tcache *tc_get(memc_client *c)
{
	struct memc_tcache *tc = tls_last;

	if (memd_likely(tc != NULL && atomic_load_explicit(&tc->c, memory_order_relaxed) == c))
		return tc;
	return tc_slow(c);
}

/* Halve every bin of tc and send those blocks back, with extra (a block
 * of extra_size bytes, if not 0); then give back the credit no longer
 * needed. */
static int tc_shrink(memc_client *c, struct memc_tcache *tc, memc_ref extra, uint32_t extra_size)
{
	int err = 0;

	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			struct cache_bin *b = &tc->pools[p]->bins[cls];
			int e = bin_give(c, tc, b, cls, (b->n + 1) / 2);

			err = err < 0 ? err : e;
		}
	if (extra != 0) {
		int e = tc_ret_add(c, tc, extra, extra_size);

		err = err < 0 ? err : e;
	}
	if (err == 0)
		err = tc_ret_flush(c, tc);
	tc_credit_trim(c, tc, CACHE_CREDIT_CHUNK);
	return err;
}

/* The periodic look at every bin: blocks that sat unused since the last
 * look (3/4 of the low-water mark) go back, and the bin's batch halves. */
static void tc_gc(memc_client *c, struct memc_tcache *tc)
{
	tc->ticks = 0;
	tc_collect(c, tc);
	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			struct cache_bin *b = &tc->pools[p]->bins[cls];

			if (b->low > 0) {
				if (b->low >= b->batch)
					b->hungry = false; /* a batch of slack all along */
				bin_give(c, tc, b, cls, b->low - b->low / 4);
				b->batch = b->batch > 1 ? b->batch / 2 : 1;
			}
			b->low = b->n;
		}
	tc_ret_flush(c, tc);
	tc_credit_trim(c, tc, CACHE_CREDIT_CHUNK);
}

/* Per-call housekeeping: the GC tick and the pressure check. */
static inline void tc_tick(memc_client *c, struct memc_tcache *tc)
{
	unsigned pressure = atomic_load_explicit(&c->cache.pressure, memory_order_relaxed);

	if (memd_unlikely(++tc->ticks >= CACHE_GC_TICKS))
		tc_gc(c, tc);
	if (memd_unlikely(pressure != tc->pressure)) {
		tc->pressure = pressure;
		tc_shrink(c, tc, 0, 0);
	}
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
	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++)
		cp->bins[cls].batch = bin_batch_start(cls);
	tc->pools[tc->npools++] = cp;
	return cp;
}

/* tc's entry for pool id (made if needed), or NULL on -ENOMEM. */
static struct cache_pool *tc_pool_by_id(struct memc_tcache *tc, uint32_t id)
{
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

/* The bin b (class cls of pool cp) is empty: lease its batch (as much of
 * it as tc's credit covers), hand the first block out in *out, cache the
 * rest, and let the batch grow. */
static int bin_refill(memc_client *c, struct memc_tcache *tc, struct cache_pool *cp, uint32_t cls,
                      struct cache_bin *b, memc_ref *out)
{
	uint32_t size = memd_class_size(cls), want = b->batch, max = bin_batch_max(cls), got = 0;
	uint64_t refs[CACHE_BATCH_BLOCKS];
	int err;

	if (!tc_credit(c, tc, (uint64_t)(want - 1) * size)) {
		uint64_t used = tc->bytes + tc->ahead + tc->ret_bytes;

		want = 1 + (uint32_t)(tc->credit > used ? (tc->credit - used) / size : 0);
	}
	if (want > b->batch)
		want = b->batch;
	if (want > 1 && bin_reserve(b, want - 1) < 0)
		want = 1;
	err = lease(c, cp->id, cls, want, refs, &got);
	if (err < 0)
		return err;
	*out = refs[0];
	for (uint32_t i = got; i-- > 1;)
		b->refs[b->n++] = refs[i];
	tc_count(tc, got - 1, (int64_t)(got - 1) * size);
	b->low = 0;
	if (b->batch < max)
		b->batch = b->batch * 2 < max ? b->batch * 2 : max;
	return 0;
}

/* cache_alloc with tc locked. */
static int tc_alloc(memc_client *c, struct memc_tcache *tc, const char *pool, uint32_t cls,
                    memc_ref *out)
{
	struct cache_pool *cp = tc->dflt;
	struct cache_bin *b;
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
		err = bin_collect(c, tc, cls, b);
		if (err < 0)
			return err;
	}
	if (memd_unlikely(b->n == 0))
		b->hungry = true;
	if (memd_unlikely(b->n == 0)) {
		err = bin_refill(c, tc, cp, cls, b, &ref);
		if (err < 0)
			return err;
	} else {
		ref = b->refs[--b->n];
		if (b->n < b->low)
			b->low = b->n;
		tc_count(tc, -1, -(int64_t)memd_class_size(cls));
		if (memd_unlikely(b->n <= b->batch / 2) && b->hungry && b->inflight == NULL &&
		    b->batch >= CACHE_AHEAD_MIN)
			lease_ahead(c, tc, cp, cls, b);
	}
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
	return ret_send(c, &ref, 1);
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
		return tc_shrink(c, tc, ref, size);
	if (memd_unlikely(b->n == b->cap) && bin_reserve(b, b->n + 1) < 0)
		return free_direct(c, ref);
	b->refs[b->n++] = ref;
	tc_count(tc, 1, size);
	if (memd_likely(b->n <= 4 * b->batch))
		return 0;
	/* Overflow: the oldest go back, and the batch grows. */
	err = bin_give(c, tc, b, cls, b->n - b->batch);
	if (b->batch < max)
		b->batch = b->batch * 2 < max ? b->batch * 2 : max;
	return err;
}

int cache_free(memc_client *c, memc_ref ref)
{
	struct memc_tcache *tc;
	struct cmap_chunk *ch;
	struct memc_seg *s;
	_Atomic uint64_t *w;
	uint64_t used;
	unsigned sh;
	int err;

	ch = cmap_locate(c, ref, &s, &w, &sh);
	if (ch == NULL)
		return 1;
	/* USED implies HELD, so clearing USED alone (one bit-test-and-reset,
	 * no compare-and-swap loop) settles the common case. */
	used = UINT64_C(1) << (sh + 1);
	if (memd_unlikely(!(atomic_fetch_and_explicit(w, ~used, memory_order_acq_rel) & used)))
		return atomic_load_explicit(w, memory_order_acquire) & (CMAP_HELD << sh) ? -EINVAL
		                                                                         : 1;
	tc = tc_get(c);
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

size_t cache_reclaim(memc_client *c)
{
	size_t returned = 0;

	pthread_mutex_lock(&registry);
	for (struct memc_tcache *tc = c->cache.threads; tc != NULL; tc = tc->c_next) {
		tc_lock_remote(tc);
		returned += tc->blocks + tc->ahead_blocks + (tc->ret != NULL ? tc->ret->n : 0);
		tc_drain(c, tc);
		tc_credit_trim(c, tc, 0);
		tc_unlock_remote(tc);
	}
	pthread_mutex_unlock(&registry);
	return returned;
}

/* ---- set-up and tear-down ----------------------------------------------- */

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

void cache_fini(memc_client *c)
{
	struct memc_tcache *tc, *next;

	pthread_mutex_lock(&registry);
	for (tc = c->cache.threads; tc != NULL; tc = next) {
		next = tc->c_next;
		tc->c_next = tc->c_prev = NULL;
		atomic_store_explicit(&tc->c, NULL, memory_order_relaxed);
	}
	c->cache.threads = NULL;
	pthread_mutex_unlock(&registry);
	if (tls_list != NULL)
		tls_reap();
	if (c->cache.page != NULL)
		munmap(c->cache.page, MEMD_CACHE_PAGE_SIZE);
	c->cache.page = NULL;
}
