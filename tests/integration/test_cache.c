/*
 * test_cache.c - libmemclient's per-thread block cache (issue 7, client/
 * cache.c) against the real memd: what a client sees of it, one thread at
 * a time.  Refused batches, a killed client and the environment knobs are
 * in test_cache_limits.c; the threaded tests in test_cache_threads.c and
 * test_cache_bounds.c (meson suite cache_threads, also run under
 * ThreadSanitizer).
 *
 * The promise under test: with the cache on, a client sees exactly the
 * errors it would see without it.  A double free, an interior or unknown
 * reference is -EINVAL; another client's private block is -EPERM; a freed
 * block cannot be shared, published, retained or sized (-EINVAL); an own
 * private block cannot be retained (-EPERM); a shared block is freed
 * through memd.  MEMC_ZERO zeroes a recycled block over its whole usable
 * size.  And the point of it all: allocating from the cache, freeing into
 * it and asking a cached block's size need no round trip (they work with
 * memd stopped).
 *
 * What the cache does is observed from the daemon (test_cache_util.h):
 * STATS_CLIENTS shows the blocks a session holds and, of those, the ones
 * its caches hold; blocks - cached are in use.  Each test ends with
 * memd_stop_clean() (memd exits 0, nothing left in /dev/shm).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "ref.h"
#include "sizeclass.h"
#include "test_cache_util.h"

/* ---- strict validation with the cache on -------------------------------- */

Test(cache, double_free_is_einval_and_the_block_is_never_handed_out_twice, .fini = harness_fini)
{
	enum { N = 2000 };
	static memc_ref refs[N];
	struct view v0, v;
	memc_client *c;
	memc_ref x;
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	sfd = stats_open();
	x = must_alloc(c, NULL, 64, 0);
	pattern_fill(memc_ptr(c, x), 64, 1);
	v0 = view_synced(c, sfd);
	cr_assert_eq(in_use(&v0), 1, "one block in use, the daemon sees %llu",
	             (unsigned long long)in_use(&v0));

	cr_assert_eq(memc_free(c, x), 0);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, v0.blocks, "a free of a cache block went to the daemon");
	cr_expect_eq(in_use(&v), 0, "freed, but %llu in use", (unsigned long long)in_use(&v));
	cr_assert_eq(memc_free(c, x), -EINVAL, "second free of a cached block");
	cr_assert_eq(memc_free(c, x), -EINVAL, "third free of a cached block");
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, v0.blocks, "the refused frees changed what the session holds");
	cr_expect_eq(in_use(&v), 0);

	/* Had the double free pushed x twice, two of these would be x. */
	for (int i = 0; i < N; i++) {
		refs[i] = must_alloc(c, NULL, 64, 0);
		pattern_fill(memc_ptr(c, refs[i]), 64, 100 + (uint32_t)i);
	}
	assert_distinct(refs, N, "64-byte blocks after a double free");
	for (int i = 0; i < N; i++)
		cr_assert_eq(pattern_check(memc_ptr(c, refs[i]), 64, 100 + (uint32_t)i), -1,
		             "block %d was overwritten: it overlaps another", i);
	v = view_synced(c, sfd);
	cr_expect_eq(in_use(&v), N, "%d blocks in use, the daemon sees %llu held, %llu cached", N,
	             (unsigned long long)v.blocks, (unsigned long long)v.cached_blocks);
	for (int i = 0; i < N; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0, "free of block %d", i);
	memc_close(c);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, interior_reference_is_einval_and_the_block_stays_usable, .fini = harness_fini)
{
	static const uint64_t deltas[] = {16, 32, 48, 8, 1};
	memc_client *c;
	struct view v;
	size_t size = 0;
	memc_ref x;
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	sfd = stats_open();
	x = must_alloc(c, NULL, 64, 0);
	pattern_fill(memc_ptr(c, x), 64, 7);
	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		memc_ref in = x + deltas[i];

		cr_expect_eq(memc_free(c, in), -EINVAL, "free of ref+%llu",
		             (unsigned long long)deltas[i]);
		cr_expect_eq(memc_size(c, in, &size), -EINVAL, "size of ref+%llu",
		             (unsigned long long)deltas[i]);
		cr_expect_eq(memc_share(c, in), -EINVAL, "share of ref+%llu",
		             (unsigned long long)deltas[i]);
		cr_expect_eq(memc_retain(c, in), -EINVAL, "retain of ref+%llu",
		             (unsigned long long)deltas[i]);
	}
	cr_assert_eq(memc_size(c, x, &size), 0);
	cr_assert_eq(size, 64);
	cr_assert_eq(pattern_check(memc_ptr(c, x), 64, 7), -1, "the block changed");
	v = view_synced(c, sfd);
	cr_assert_eq(in_use(&v), 1, "the block is no longer in use for the daemon");
	pattern_fill(memc_ptr(c, x), 64, 8);
	cr_assert_eq(pattern_check(memc_ptr(c, x), 64, 8), -1);
	cr_assert_eq(memc_free(c, x), 0, "the block itself frees");
	cr_assert_eq(memc_free(c, x), -EINVAL);
	memc_close(c);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, unknown_reference_is_einval, .fini = harness_fini)
{
	memc_client *c;
	memc_ref x, bogus[5];
	size_t size;
	uint32_t seg;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	x = must_alloc(c, NULL, 64, 0); /* so the segment is mapped and recorded */
	seg = memd_ref_seg(x);
	bogus[0] = memd_ref_make(seg + 1000, 0x1000);             /* no such segment */
	bogus[1] = memd_ref_make(MEMD_SEG_ID_MAX, 16);            /* the largest segment id */
	bogus[2] = memd_ref_make(seg, UINT64_C(1) << 39);         /* far past the segment's end */
	bogus[3] = memd_ref_make(seg, (UINT64_C(64) << 20) + 16); /* past the pool's max_size */
	bogus[4] = memd_ref_make(0, memd_ref_off(x));             /* segment 0 */
	for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		cr_expect_eq(memc_free(c, bogus[i]), -EINVAL, "free of bogus ref %#llx",
		             (unsigned long long)bogus[i]);
		cr_expect_eq(memc_size(c, bogus[i], &size), -EINVAL, "size of bogus ref %#llx",
		             (unsigned long long)bogus[i]);
		cr_expect_eq(memc_share(c, bogus[i]), -EINVAL, "share of bogus ref %#llx",
		             (unsigned long long)bogus[i]);
		cr_expect_eq(memc_retain(c, bogus[i]), -EINVAL, "retain of bogus ref %#llx",
		             (unsigned long long)bogus[i]);
	}
	cr_expect_eq(memc_free(c, 0), -EINVAL, "free of the null reference");
	cr_assert_eq(memc_free(c, x), 0, "the connection still serves");
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, free_of_another_clients_private_block_is_eperm, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref xa, xb;
	size_t size;

	memd_start(&H, CONFIG_CACHE);
	a = must_connect();
	b = must_connect();
	xa = must_alloc(a, NULL, 64, 0);
	xb = must_alloc(b, NULL, 64, 0); /* b maps the segment and keeps records there too */
	pattern_fill(memc_ptr(a, xa), 64, 21);
	cr_expect_eq(memd_ref_seg(xa), memd_ref_seg(xb), "both blocks should share a segment");

	cr_assert_eq(memc_free(b, xa), -EPERM, "b freed a's private block");
	cr_assert_eq(memc_retain(b, xa), -EPERM, "b retained a's private block");
	cr_assert_eq(memc_share(b, xa), -EPERM, "b shared a's private block");
	cr_assert_eq(memc_free(a, xb), -EPERM, "a freed b's private block");
	cr_assert_eq(memc_size(a, xa, &size), 0);
	cr_assert_eq(size, 64);
	cr_assert_eq(pattern_check(memc_ptr(a, xa), 64, 21), -1, "a's block changed");
	cr_assert_eq(memc_free(a, xa), 0, "a frees its own block");
	cr_assert_eq(memc_free(b, xb), 0, "b frees its own block");
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, share_publish_retain_and_size_of_a_freed_block_are_einval, .fini = harness_fini)
{
	memc_client *c;
	memc_ref x, y, got = 0;
	size_t size;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	x = must_alloc(c, NULL, 64, 0);
	cr_assert_eq(memc_free(c, x), 0);
	cr_expect_eq(memc_share(c, x), -EINVAL, "share of a freed block");
	cr_expect_eq(memc_publish(c, "cache-freed", x), -EINVAL, "publish of a freed block");
	cr_expect_eq(memc_lookup(c, "cache-freed", &got), -ENOENT, "the refused name exists");
	cr_expect_eq(memc_retain(c, x), -EINVAL, "retain of a freed block");
	cr_expect_eq(memc_size(c, x, &size), -EINVAL, "size of a freed block");
	cr_expect_eq(memc_free(c, x), -EINVAL, "the refusals brought the block back to life");

	/* The cache is a stack: the same block comes back, fully usable. */
	y = must_alloc(c, NULL, 64, 0);
	cr_assert_eq(y, x, "the freed block was not recycled (%#llx, then %#llx)",
	             (unsigned long long)x, (unsigned long long)y);
	cr_assert_eq(memc_share(c, y), 0, "share of the recycled block");
	cr_assert_eq(memc_free(c, y), 0);
	cr_assert_eq(memc_free(c, y), -EINVAL);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, retain_of_an_own_private_block_is_eperm, .fini = harness_fini)
{
	static const size_t sizes[] = {16, 64, 1000, 32 * KiB, 64 * KiB}; /* cached and plain */
	memc_client *c;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memc_ref x = must_alloc(c, NULL, sizes[i], 0);

		cr_expect_eq(memc_retain(c, x), -EPERM, "retain of an own private %zu-byte block",
		             sizes[i]);
		cr_assert_eq(memc_share(c, x), 0);
		cr_expect_eq(memc_retain(c, x), 0, "retain once shared (%zu bytes)", sizes[i]);
		cr_assert_eq(memc_free(c, x), 0, "first of two holds");
		cr_assert_eq(memc_free(c, x), 0, "second of two holds");
		cr_expect_eq(memc_free(c, x), -EINVAL, "a third free (%zu bytes)", sizes[i]);
	}
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, size_of_a_live_small_block_is_its_class_size_and_of_a_freed_one_einval,
     .fini = harness_fini)
{
	static memc_ref refs[MEMD_CLASS_COUNT];
	memc_client *c;
	size_t size;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
		cr_assert_eq(memd_size_class(class_min(cls)), cls);
		refs[cls] = must_alloc(c, NULL, class_min(cls), 0);
		size = 0;
		cr_assert_eq(memc_size(c, refs[cls], &size), 0);
		cr_expect_eq(size, memd_class_size(cls), "a %zu-byte request: size %zu, want %u",
		             class_min(cls), size, memd_class_size(cls));
	}
	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
		cr_assert_eq(memc_free(c, refs[cls]), 0);
		cr_expect_eq(memc_size(c, refs[cls], &size), -EINVAL,
		             "size of a freed %u-byte block", memd_class_size(cls));
	}
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* An allocation whose bin is empty borrows a block of a class just above,
 * when one is cached, and leases its own batch ahead instead of waiting;
 * never a block more than a quarter (or 32 bytes) larger. */
Test(cache, an_empty_bin_borrows_from_the_next_classes_up_within_a_quarter, .fini = harness_fini)
{
	static const struct {
		size_t lend, ask, want; /* cached class, request, usable size */
	} cases[] = {
	        {128, 100, 128},       /* 112-byte class: 16 bytes more */
	        {48, 16, 48},          /* 16-byte class: 32 bytes more is allowed */
	        {64, 16, 16},          /* ... 48 is not: leased and waited for */
	        {20480, 16384, 20480}, /* a quarter of 16 KiB more */
	        {22528, 16384, 16384}, /* more than a quarter */
	};
	memc_client *c;
	size_t size;

	memd_start(&H, CONFIG_CACHE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memc_ref lent, got, again;

		c = must_connect();
		lent = must_alloc(c, NULL, cases[i].lend, 0);
		cr_assert_eq(memc_free(c, lent), 0); /* now cached */
		got = must_alloc(c, NULL, cases[i].ask, 0);
		size = 0;
		cr_assert_eq(memc_size(c, got, &size), 0);
		cr_expect_eq(size, cases[i].want,
		             "%zu bytes with %zu-byte blocks cached: usable %zu", cases[i].ask,
		             cases[i].lend, size);
		pattern_fill(memc_ptr(c, got), size, 40 + (uint32_t)i);
		/* The next one of that size is of its own class or borrowed,
		 * and never the same block. */
		again = must_alloc(c, NULL, cases[i].ask, 0);
		cr_expect_neq(again, got);
		cr_assert_eq(memc_size(c, again, &size), 0);
		cr_expect_geq(size, memd_class_size(memd_size_class(cases[i].ask)));
		cr_expect_eq(pattern_check(memc_ptr(c, got), cases[i].want, 40 + (uint32_t)i), -1);
		/* A borrowed block is freed like any other, once. */
		cr_expect_eq(memc_free(c, got), 0);
		cr_expect_eq(memc_free(c, got), -EINVAL, "second free of a borrowed block");
		cr_expect_eq(memc_free(c, again), 0);
		memc_close(c);
	}
	memd_stop_clean(&H, SIGTERM);
}

Test(cache, shared_blocks_are_freed_through_memd, .fini = harness_fini)
{
	memc_client *c;
	struct view v0, v;
	memc_ref s, p, q, got = 0;
	size_t size = 0;
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	sfd = stats_open();
	cr_assert_eq(memc_free(c, must_alloc(c, NULL, 64, 0)), 0); /* warm the 64-byte bin */

	/* Shared from the start: not a cache block. */
	v0 = view_synced(c, sfd);
	s = must_alloc(c, NULL, 64, MEMC_SHARED);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, v0.blocks + 1, "a MEMC_SHARED alloc did not reach the daemon");
	cr_assert_eq(memc_free(c, s), 0);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, v0.blocks, "the shared block's free did not reach the daemon");
	cr_expect_eq(v.cached_blocks, v0.cached_blocks, "a shared block went into the cache");
	cr_expect_eq(memc_free(c, s), -EINVAL, "second free of a shared block");

	/* A cache block shared after the fact leaves the cache for good. */
	p = must_alloc(c, NULL, 64, 0);
	v0 = view_synced(c, sfd);
	cr_assert_eq(memc_share(c, p), 0);
	cr_assert_eq(memc_size(c, p, &size), 0);
	cr_expect_eq(size, 64);
	cr_assert_eq(memc_retain(c, p), 0, "retain of a block just shared");
	cr_assert_eq(memc_free(c, p), 0);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, v0.blocks, "one of two holds dropped: still held");
	cr_assert_eq(memc_free(c, p), 0);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, v0.blocks - 1, "the last hold's free did not reach the daemon");
	cr_expect_eq(v.cached_blocks, v0.cached_blocks, "the shared block went into the cache");
	cr_expect_eq(memc_free(c, p), -EINVAL, "free after the last hold");

	/* Published: the name keeps it alive after our free. */
	q = must_alloc(c, NULL, 64, 0);
	pattern_fill(memc_ptr(c, q), 64, 5);
	cr_assert_eq(memc_publish(c, "cache-published", q), 0);
	cr_assert_eq(memc_free(c, q), 0);
	cr_expect_eq(memc_free(c, q), -EPERM, "free of a block only the name holds");
	cr_assert_eq(memc_lookup(c, "cache-published", &got), 0);
	cr_assert_eq(got, q);
	cr_assert_eq(pattern_check(memc_ptr(c, q), 64, 5), -1, "the published block changed");
	cr_assert_eq(memc_unpublish(c, "cache-published"), 0);
	cr_assert_eq(memc_free(c, q), 0);
	cr_expect_eq(memc_size(c, q, &size), -EINVAL, "the published block outlived its holds");
	v = view_synced(c, sfd);
	cr_expect_eq(in_use(&v), 0, "%llu blocks in use at the end",
	             (unsigned long long)in_use(&v));
	memc_close(c);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

/* What no_round_trip_watchdog needs. */
struct watchdog {
	pthread_mutex_t lock; /* guards done */
	pthread_cond_t cond;  /* signalled when done is set */
	bool done;            /* the timed calls are over */
	bool fired;           /* the watchdog had to wake memd */
};

/* Wake memd (SIGCONT) after 3 s unless the calls ended first. */
static void *no_round_trip_watchdog(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	pthread_mutex_lock(&w->lock);
	while (!w->done)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
			break;
	if (!w->done) {
		w->fired = true;
		kill(H.pid, SIGCONT);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

Test(cache, cached_alloc_free_and_size_need_no_round_trip, .fini = harness_fini)
{
	struct watchdog w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
	memc_client *c;
	memc_ref a, b, x = 0;
	pthread_t t;
	size_t size = 0;
	int64_t t0, took;
	int rc[8];

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	a = must_alloc(c, NULL, 64, 0);
	b = must_alloc(c, NULL, 64, 0);
	cr_assert_eq(memc_free(c, a), 0);
	cr_assert_eq(memc_free(c, b), 0);

	/* With memd stopped, any round trip waits for the watchdog (3 s). */
	cr_assert_eq(kill(H.pid, SIGSTOP), 0);
	cr_assert_eq(pthread_create(&t, NULL, no_round_trip_watchdog, &w), 0);
	t0 = now_ms();
	rc[0] = memc_alloc(c, NULL, 50, 0, &x);
	rc[1] = memc_size(c, x, &size);
	rc[2] = memc_retain(c, x);
	rc[3] = memc_ref_of(c, memc_ptr(c, x)) == x ? 0 : -1;
	rc[4] = memc_free(c, x);
	rc[5] = memc_free(c, x);
	rc[6] = memc_size(c, x, &size);
	rc[7] = memc_share(c, x);
	took = now_ms() - t0;
	pthread_mutex_lock(&w.lock);
	w.done = true;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(t, NULL);
	kill(H.pid, SIGCONT);

	cr_expect(!w.fired && took < 1000, "cached calls took %lld ms with memd stopped",
	          (long long)took);
	cr_expect_eq(rc[0], 0, "alloc from the cache: %d", rc[0]);
	cr_expect_eq(rc[1], 0, "size of a block in use: %d", rc[1]);
	cr_expect_eq(size, 64);
	cr_expect_eq(rc[2], -EPERM, "retain of an own private block: %d", rc[2]);
	cr_expect_eq(rc[3], 0, "memc_ref_of(memc_ptr(ref)) != ref");
	cr_expect_eq(rc[4], 0, "free into the cache: %d", rc[4]);
	cr_expect_eq(rc[5], -EINVAL, "double free: %d", rc[5]);
	cr_expect_eq(rc[6], -EINVAL, "size of a freed block: %d", rc[6]);
	cr_expect_eq(rc[7], -EINVAL, "share of a freed block: %d", rc[7]);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- MEMC_ZERO ------------------------------------------------------------ */

Test(cache, zeroed_alloc_of_a_recycled_block_reads_zero_over_its_usable_size, .fini = harness_fini)
{
	memd_start(&H, CONFIG_CACHE);
	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
		/* A fresh client per class, so the freed block surely fits the
		 * cache's bounds and is the next one out. */
		memc_client *c = must_connect();
		uint32_t usable = memd_class_size(cls);
		memc_ref x = must_alloc(c, NULL, usable, 0), y;
		const uint8_t *p;

		memset(memc_ptr(c, x), 0xa5, usable);
		cr_assert_eq(memc_free(c, x), 0);
		/* The smallest request of the class, zeroed: the whole
		 * usable size reads zero, not just the bytes asked for. */
		y = must_alloc(c, NULL, class_min(cls), MEMC_ZERO);
		cr_assert_eq(y, x, "class %u: the block was not recycled", cls);
		p = memc_ptr(c, y);
		for (uint32_t i = 0; i < usable; i++)
			cr_assert_eq(p[i], 0, "class %u (%u bytes): byte %u is %#x after MEMC_ZERO",
			             cls, usable, i, p[i]);
		cr_assert_eq(memc_free(c, y), 0);
		memc_close(c);
	}
	memd_stop_clean(&H, SIGTERM);
}
