/*
 * test_cache_bounds.c - $MEMC_THREAD_CACHE_BYTES and $MEMC_CACHE_BYTES
 * against the real memd, under threads that cycle through every size
 * class (meson suite cache_threads: CI runs it again under
 * ThreadSanitizer).
 *
 * Four threads share one client with 64 KiB per thread and 128 KiB in all
 * (so the client-wide bound, not the per-thread one, is what binds); each
 * allocates more of a class than a thread may cache, keeps one block in
 * use and frees the rest, class after class, and meets the others at a
 * checkpoint every BOUND_GROUP classes.  At a checkpoint, after one round
 * trip on the client, the daemon must show at most 128 KiB cached and hold
 * at most 128 KiB more than the threads use; between checkpoints, any
 * sample stays within 4 x 64 KiB.  With $MEMC_CACHE_BYTES=0 nothing is
 * ever cached and the daemon holds exactly what is in use.  bound_run()
 * derives these bounds from cache.c's credit.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "sizeclass.h"
#include "test_cache_util.h"

/* ---- bounds under adversarial size mixes --------------------------------- */

#define BOUND_THREADS 4
#define BOUND_GROUP   12 /* classes between checkpoints */
#define THREAD_BOUND  (64u * KiB)
#define CLIENT_BOUND  (128u * KiB)

/* What the bound threads share with the main thread. */
struct bound {
	memc_client *c;               /* the one client */
	int rounds;                   /* passes over every class */
	uint32_t max_blocks;          /* most blocks of one class a thread allocates at once */
	pthread_mutex_t lock;         /* guards arrived and phase */
	pthread_cond_t cond;          /* phase changed */
	int arrived;                  /* threads waiting at the checkpoint */
	int phase;                    /* checkpoints passed */
	_Atomic uint64_t live_blocks; /* blocks the threads use now */
	_Atomic uint64_t live_bytes;  /* their usable bytes */
};

/* Wait at checkpoint phase until the main thread moves on. */
static void bound_checkpoint(struct bound *k, int phase)
{
	pthread_mutex_lock(&k->lock);
	k->arrived++;
	pthread_cond_broadcast(&k->cond);
	while (k->phase == phase)
		pthread_cond_wait(&k->cond, &k->lock);
	pthread_mutex_unlock(&k->lock);
}

/* What each bound thread is told. */
struct bound_arg {
	struct bound *k; /* shared */
	int tid;         /* its number: where it starts in the class list */
};

/* For every class (from a per-thread start, alternately up and down):
 * allocate more than a thread may cache, keep one block in use until the
 * next class, free the rest in a scrambled order. */
static void *bound_thread(void *argp)
{
	struct bound_arg *a = argp;
	struct bound *k = a->k;
	uint64_t rng = UINT64_C(0xD1B54A32D192ED03) * (uint64_t)(a->tid + 1);
	memc_ref kept = 0, r[1024];
	uint32_t kept_size = 0;
	int phase = 0;

	for (int round = 0; round < k->rounds; round++) {
		for (uint32_t step = 0; step < MEMD_CLASS_COUNT; step++) {
			uint32_t cls = (step * (round % 2 ? MEMD_CLASS_COUNT - 1 : 1) +
			                (uint32_t)a->tid * 18) %
			               MEMD_CLASS_COUNT;
			uint32_t size = memd_class_size(cls);
			uint32_t n = (3 * THREAD_BOUND / 2) / size + 1;

			if (n > k->max_blocks)
				n = k->max_blocks;
			for (uint32_t i = 0; i < n && !tfailed(); i++) {
				int rc = memc_alloc(k->c, NULL,
				                    size - (uint32_t)(rng_next(&rng) % 16), 0,
				                    &r[i]);

				if (rc != 0) {
					tfail("thread %d: alloc %u: %d", a->tid, size, rc);
					n = i;
				} else {
					memset(memc_ptr(k->c, r[i]), 0x17, 16);
				}
			}
			for (uint32_t i = n; i > 1; i--) { /* Fisher-Yates */
				uint32_t j = (uint32_t)(rng_next(&rng) % i);
				memc_ref x = r[i - 1];

				r[i - 1] = r[j];
				r[j] = x;
			}
			if (kept != 0 && memc_free(k->c, kept) != 0)
				tfail("thread %d: free of the kept block", a->tid);
			if (kept != 0) {
				k->live_blocks -= 1;
				k->live_bytes -= kept_size;
			}
			kept = n > 0 ? r[0] : 0;
			kept_size = size;
			if (kept != 0) {
				k->live_blocks += 1;
				k->live_bytes += size;
			}
			for (uint32_t i = 1; i < n; i++)
				if (memc_free(k->c, r[i]) != 0)
					tfail("thread %d: free of a %u-byte block", a->tid, size);
			if (step % BOUND_GROUP == BOUND_GROUP - 1)
				bound_checkpoint(k, phase++);
		}
	}
	if (kept != 0 && memc_free(k->c, kept) == 0) {
		k->live_blocks -= 1;
		k->live_bytes -= kept_size;
	}
	return NULL;
}

/* What the bounds test saw. */
struct bound_seen {
	uint64_t peak_cached;  /* largest cached_bytes at a checkpoint */
	uint64_t peak_running; /* largest cached_bytes while threads ran */
	int checkpoints;       /* checkpoints looked at */
};

/* Run the bound workload (rounds passes over every class, at most
 * max_blocks blocks at once per class and thread, max_blocks <= 1024) with
 * the current environment; cache_on says whether the client's cache is
 * expected to be on.
 *
 * The bound at a checkpoint, from cache.c's credit: the client starts
 * with CLIENT_BOUND bytes of credit (c->cache.credit); a thread takes
 * credit only with a compare-and-swap that never takes more than is
 * left, and keeps (cached bytes + bytes of leases sent ahead) within the
 * credit it took (cache_tc_credit before every keep and every lease ahead;
 * bin_refill caches at most what the credit covers, the first block of a
 * refill goes to the caller).  So at every instant the caches hold at
 * most CLIENT_BOUND bytes, and the daemon, once the client synced, holds
 * at most CLIENT_BOUND bytes more than the application uses: the
 * allowance for blocks in flight is 0 at a checkpoint, where every thread
 * waits and client_sync() made the daemon catch up with every FREE_BATCH
 * and lease.  While the threads run, the daemon reads the slots one after
 * the other, so a sum may mix moments; each slot is one thread's cache,
 * at most THREAD_BOUND bytes, so a running sample stays within
 * BOUND_THREADS * THREAD_BOUND. */
static struct bound_seen bound_run(int sfd, bool cache_on, int rounds, uint32_t max_blocks)
{
	static struct bound k;
	struct bound_arg args[BOUND_THREADS];
	pthread_t t[BOUND_THREADS];
	struct bound_seen seen = {0};
	int phases = rounds * (MEMD_CLASS_COUNT / BOUND_GROUP);
	struct view v;

	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.lock, NULL);
	pthread_cond_init(&k.cond, NULL);
	k.rounds = rounds;
	k.max_blocks = max_blocks;
	k.c = must_connect();
	for (int i = 0; i < BOUND_THREADS; i++) {
		args[i] = (struct bound_arg){.k = &k, .tid = i};
		cr_assert_eq(pthread_create(&t[i], NULL, bound_thread, &args[i]), 0);
	}
	for (int phase = 0; phase < phases; phase++) {
		uint64_t live_blocks, live_bytes;

		for (;;) { /* sample while the threads run */
			int arrived;

			pthread_mutex_lock(&k.lock);
			arrived = k.arrived;
			pthread_mutex_unlock(&k.lock);
			if (arrived == BOUND_THREADS || tfailed())
				break;
			v = view_of(sfd, getpid());
			cr_assert_leq(v.cached_bytes, (uint64_t)BOUND_THREADS * THREAD_BOUND,
			              "running: %llu bytes cached by %d threads of at most %u each",
			              (unsigned long long)v.cached_bytes, BOUND_THREADS,
			              THREAD_BOUND);
			if (!cache_on)
				cr_assert_eq(v.cached_blocks, 0, "cache off, %llu blocks cached",
				             (unsigned long long)v.cached_blocks);
			if (v.cached_bytes > seen.peak_running)
				seen.peak_running = v.cached_bytes;
			sleep_ms(1);
		}
		if (tfailed())
			break;
		client_sync(k.c);
		v = view_of(sfd, getpid());
		live_blocks = k.live_blocks;
		live_bytes = k.live_bytes;
		cr_assert_leq(v.cached_bytes, CLIENT_BOUND,
		              "checkpoint %d: %llu bytes cached, the client's bound is %u", phase,
		              (unsigned long long)v.cached_bytes, CLIENT_BOUND);
		cr_assert_geq(v.blocks, live_blocks + v.cached_blocks,
		              "checkpoint %d: %llu held, %llu cached, %llu in use", phase,
		              (unsigned long long)v.blocks, (unsigned long long)v.cached_blocks,
		              (unsigned long long)live_blocks);
		cr_assert_leq(v.bytes - live_bytes, cache_on ? CLIENT_BOUND : 0,
		              "checkpoint %d: the daemon holds %llu bytes, %llu in use", phase,
		              (unsigned long long)v.bytes, (unsigned long long)live_bytes);
		if (!cache_on) {
			cr_assert_eq(v.cached_blocks, 0);
			cr_assert_eq(v.blocks, live_blocks, "cache off: %llu held, %llu in use",
			             (unsigned long long)v.blocks, (unsigned long long)live_blocks);
		}
		if (v.cached_bytes > seen.peak_cached)
			seen.peak_cached = v.cached_bytes;
		seen.checkpoints++;
		pthread_mutex_lock(&k.lock);
		k.arrived = 0;
		k.phase++;
		pthread_cond_broadcast(&k.cond);
		pthread_mutex_unlock(&k.lock);
	}
	for (int i = 0; i < BOUND_THREADS; i++)
		pthread_join(t[i], NULL);
	tfail_check();
	cr_assert_eq(seen.checkpoints, phases);
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_assert_eq(v.blocks, 0, "after the threads exited, %llu blocks held",
	             (unsigned long long)v.blocks);
	memc_close(k.c);
	return seen;
}

Test(cache_bounds, cached_bytes_stay_within_the_bounds_under_every_class, .fini = harness_fini,
     .timeout = 200)
{
	struct bound_seen seen;
	int sfd;

	cr_assert_eq(setenv("MEMC_THREAD_CACHE_BYTES", "64K", 1), 0);
	cr_assert_eq(setenv("MEMC_CACHE_BYTES", "128K", 1), 0);
	memd_start(&H, NULL);
	sfd = stats_open();
	seen = bound_run(sfd, true, 3, 1024);
	/* The workload must press against the bound, or it proves little. */
	cr_expect_geq(seen.peak_cached, CLIENT_BOUND / 4,
	              "the caches never held more than %llu bytes at a checkpoint",
	              (unsigned long long)seen.peak_cached);
	cr_log_info("bounds: peak cached %llu at a checkpoint, %llu while running",
	            (unsigned long long)seen.peak_cached, (unsigned long long)seen.peak_running);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_bounds, cache_bytes_zero_keeps_the_cached_counters_at_zero, .fini = harness_fini,
     .timeout = 200)
{
	struct bound_seen seen;
	int sfd;

	cr_assert_eq(setenv("MEMC_CACHE_BYTES", "0", 1), 0);
	memd_start(&H, NULL);
	sfd = stats_open();
	seen = bound_run(sfd, false, 1, 64); /* every call is a round trip: keep it short */
	cr_expect_eq(seen.peak_cached, 0);
	cr_expect_eq(seen.peak_running, 0);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}
