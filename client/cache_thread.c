/*
 * cache_thread.c - the client cache's per-thread state: how a thread finds
 * its cache for a client, the lock on it, the bounds on what it may hold,
 * the counters memd reads, the housekeeping that gives blocks back (the GC
 * look, described in cache.c, and the shrink under pressure, under Bounds
 * below; the FREE_BATCHes themselves are cache_lease.c's), and draining
 * and freeing the caches (thread exit, cache_reclaim, cache_fini).
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
 * The lock.  A thread's cache has a lock.  Its owner takes it in every
 * call and is the only taker in the steady state; cache_reclaim() takes
 * it, rarely, to drain the cache from another thread.  A lock instruction
 * per call would cost as much as the rest of the fast path, so the lock is
 * asymmetric (Dekker's, with membarrier(2) standing in for the owner's
 * fence): the owner marks itself busy with a plain store and then looks
 * for a reclaimer (tc_lock, in cache_int.h); a reclaimer announces itself,
 * makes every thread of the process execute a full barrier
 * (MEMBARRIER_CMD_PRIVATE_EXPEDITED), and waits until the owner is not
 * busy (tc_lock_remote).  After the barrier either the reclaimer sees the
 * owner busy or the owner sees the reclaimer, never neither; an owner that
 * sees one goes in through the mutex, behind it.  Where membarrier is not
 * available, busy is an ordinary spin lock taken with an atomic exchange
 * by both sides.
 *
 * Bounds.  Each thread's cache holds at most thread_max bytes, all of them
 * together at most max ($MEMC_THREAD_CACHE_BYTES, $MEMC_CACHE_BYTES).  The
 * total is enforced with credit: a thread takes budget from the client's
 * atomic pool in CACHE_CREDIT_CHUNK steps (on the slow path only) and
 * never caches more than it took; when the pool is dry the thread returns
 * the block instead and bumps `pressure`, which makes every thread halve
 * its cache and give credit back within CACHE_PRESSURE_TICKS of its calls.
 *
 * Counters.  memd shows each client's cached blocks apart from those in
 * use; only the client knows which are which, so it writes them into a
 * page the daemon gave it (CACHE_PAGE, see proto.h): each thread cache its
 * own 64-byte slot with plain stores, threads past the exclusive slots
 * into the last slot with atomic adds.  Without the page the counters are
 * kept locally only.
 */
#include "cache_int.h"

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

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER; /* every c->cache.threads list */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key; /* only for its exit destructor */
static int tls_key_ok;        /* tls_key was created */
/* initial-exec: one instruction to reach them, even from the shared library */
__thread struct memc_tcache *cache_tls_last
        __attribute__((tls_model("initial-exec"))); /* the cache this thread used last */
static __thread struct memc_tcache *tls_list
        __attribute__((tls_model("initial-exec"))); /* every cache this thread owns */

bool cache_tc_asym; /* membarrier registered: the asymmetric scheme is on */

/* ---- the lock, from other threads --------------------------------------- */

/* Take tc from another thread (cache_reclaim). */
static void tc_lock_remote(struct memc_tcache *tc)
{
	if (!cache_tc_asym) {
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
	if (!cache_tc_asym) {
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

	cache_tc_asym =
	        cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* ---- counters ----------------------------------------------------------- */

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
	client_ring_get(c); /* the cache's requests: leases ahead, returns */
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

bool cache_tc_credit(memc_client *c, struct memc_tcache *tc, uint64_t need)
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

/* ---- thread caches ------------------------------------------------------ */

/* Collect every lease tc sent ahead (before its bins are emptied). */
static void tc_collect(memc_client *c, struct memc_tcache *tc)
{
	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++)
			if (tc->pools[p]->bins[cls].inflight != NULL)
				cache_bin_collect(c, tc, cls, &tc->pools[p]->bins[cls]);
}

/* Send every block of tc's bins (all pools) back, leases sent ahead
 * included. */
static int tc_drain(memc_client *c, struct memc_tcache *tc)
{
	int err = 0;

	tc_collect(c, tc);
	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			struct cache_bin *b = &tc->pools[p]->bins[cls];
			int e = cache_bin_give(c, tc, b, cls, b->n);

			err = err < 0 ? err : e;
		}
	return err < 0 ? err : cache_tc_ret_flush(c, tc);
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
	cache_tls_last = NULL;
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

/* In the child: the membarrier registration belongs to the parent's
 * address space, so register again (the child has one thread yet, so
 * turning the scheme off here, if that fails, races with nobody). */
static void fork_child(void)
{
	pthread_mutex_unlock(&registry);
	if (cache_tc_asym)
		tc_asym_setup();
}

static void tls_setup(void)
{
	tc_asym_setup();
	tls_key_ok = pthread_key_create(&tls_key, tls_exit) == 0;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
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
		if (cache_tls_last == tc)
			cache_tls_last = NULL;
		tc_free(tc);
	}
	pthread_mutex_unlock(&registry);
}

struct memc_tcache *cache_tc_slow(memc_client *c)
{
	struct memc_tcache *tc;

	if (!c->cache.enabled)
		return NULL;
	for (tc = tls_list; tc != NULL; tc = tc->t_next)
		if (atomic_load_explicit(&tc->c, memory_order_relaxed) == c)
			return cache_tls_last = tc;
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
	return cache_tls_last = tc;
}

/* ---- giving blocks back: shrink and GC ---------------------------------- */

int cache_tc_shrink(memc_client *c, struct memc_tcache *tc, memc_ref extra, uint32_t extra_size)
{
	int err = 0;

	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			struct cache_bin *b = &tc->pools[p]->bins[cls];
			int e = cache_bin_give(c, tc, b, cls, (b->n + 1) / 2);

			err = err < 0 ? err : e;
		}
	if (extra != 0) {
		int e = cache_tc_ret_add(c, tc, extra, extra_size);

		err = err < 0 ? err : e;
	}
	if (err == 0)
		err = cache_tc_ret_flush(c, tc);
	tc_credit_trim(c, tc, CACHE_CREDIT_CHUNK);
	return err;
}

/* The smallest batch a GC look leaves b: one that can be leased ahead
 * (a bin of one-block batches waits for memd every time it runs dry),
 * unless even two blocks are more than CACHE_START_BYTES.  Two 20 KiB
 * blocks per idle class cost powerlaw +0.04 of fragmentation. */
static uint32_t gc_batch_floor(const struct cache_bin *b)
{
	return CACHE_AHEAD_MIN * b->size <= CACHE_START_BYTES ? CACHE_AHEAD_MIN : 1;
}

void cache_tc_gc(memc_client *c, struct memc_tcache *tc)
{
	tc->ticks = 0;
	tc_collect(c, tc);
	if (tc->bytes <= CACHE_GC_FLOOR) {
		/* Too little to be worth round trips: just start a new look. */
		for (size_t p = 0; p < tc->npools; p++)
			for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++)
				tc->pools[p]->bins[cls].low = tc->pools[p]->bins[cls].n;
		return;
	}
	for (size_t p = 0; p < tc->npools; p++)
		for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
			struct cache_bin *b = &tc->pools[p]->bins[cls];

			if (b->low > 0) {
				if (b->low >= b->batch)
					b->hungry = false; /* a batch of slack all along */
				cache_bin_give(c, tc, b, cls, b->low - b->low / 4);
				b->batch = b->batch / 2 > gc_batch_floor(b) ? b->batch / 2
				                                            : gc_batch_floor(b);
			}
			b->low = b->n;
		}
	cache_tc_ret_flush(c, tc);
	tc_credit_trim(c, tc, CACHE_CREDIT_CHUNK);
}

/* ---- draining every thread, tear-down ----------------------------------- */

size_t cache_reclaim(memc_client *c)
{
	size_t returned = 0;

	pthread_mutex_lock(&registry);
	for (struct memc_tcache *tc = c->cache.threads; tc != NULL; tc = tc->c_next) {
		tc_lock_remote(tc);
		returned += tc->blocks + tc->ahead_blocks + tc->ret_blocks;
		tc_drain(c, tc);
		tc_credit_trim(c, tc, 0);
		tc_unlock_remote(tc);
	}
	pthread_mutex_unlock(&registry);
	return returned;
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
