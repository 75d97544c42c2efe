/*
 * test_cache_limits.c - libmemclient's per-thread block cache (issue 7)
 * at its limits, against the real memd: refused batches, a client killed
 * with full caches, and the environment knobs.
 *
 * Quotas and a full pool behave as if nothing were cached: a refusal
 * (-EDQUOT, -ENOMEM) gives every cached block back and the call is tried
 * once more, so exactly the quota fits and a full pool loses no block.  A
 * client killed with SIGKILL while its threads' caches are full gives
 * everything back: its pools return to their empty state.
 * $MEMC_CACHE_BYTES=0, or any invalid setting of it or of
 * $MEMC_THREAD_CACHE_BYTES, turns the cache off: every call is then a round
 * trip, and the daemon holds exactly the blocks in use at all times.
 *
 * The daemon's view comes from STATS_CLIENTS (test_cache_util.h), taken
 * after a round trip on the client when it must be exact.  Each test ends
 * with memd_stop_clean() (memd exits 0, nothing left in /dev/shm).
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

/* ---- refused batches ----------------------------------------------------- */

Test(cache_limits, quota_refusal_gives_cached_blocks_back_and_retries, .fini = harness_fini)
{
	enum { N64 = QUOTA_BYTES / 64, N32 = QUOTA_BYTES / 32 };
	static memc_ref small[N32];
	memc_client *c;
	struct view v;
	memc_ref big, x;
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	sfd = stats_open();

	/* Exactly the quota in 64-byte blocks; nothing is left to cache. */
	for (int i = 0; i < N64; i++)
		small[i] = must_alloc(c, QUOTA_POOL, 64, 0);
	cr_expect_eq(memc_alloc(c, QUOTA_POOL, 1, 0, &x), -EDQUOT, "one block past the quota");
	v = view_synced(c, sfd);
	cr_expect_eq(v.bytes, QUOTA_BYTES, "held %llu bytes at the quota",
	             (unsigned long long)v.bytes);
	cr_expect_eq(v.cached_blocks, 0);

	/* Freed, they stay with the cache, still charged to us. */
	for (int i = 0; i < N64; i++)
		cr_assert_eq(memc_free(c, small[i]), 0);
	v = view_synced(c, sfd);
	cr_assert_gt(v.cached_bytes, 0, "nothing was cached: the test proves nothing");
	cr_expect_eq(in_use(&v), 0);

	/* A large block needs the room: refused, cache returned, retried. */
	big = must_alloc(c, QUOTA_POOL, QUOTA_BYTES, 0);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, 1, "after the retry: %llu blocks held",
	             (unsigned long long)v.blocks);
	cr_expect_eq(v.bytes, QUOTA_BYTES);
	cr_expect_eq(v.cached_blocks, 0);
	cr_expect_eq(memc_alloc(c, QUOTA_POOL, 16, 0, &x), -EDQUOT);
	cr_assert_eq(memc_free(c, big), 0);

	/* Another class: the quota in 32-byte blocks, one more refused. */
	for (int i = 0; i < N32; i++)
		small[i] = must_alloc(c, QUOTA_POOL, 32, 0);
	cr_expect_eq(memc_alloc(c, QUOTA_POOL, 32, 0, &x), -EDQUOT);
	for (int i = 0; i < N32; i++)
		cr_assert_eq(memc_free(c, small[i]), 0);
	/* The cached 32-byte blocks make room for 64-byte ones. */
	for (int i = 0; i < N64; i++)
		small[i] = must_alloc(c, QUOTA_POOL, 64, 0);
	cr_expect_eq(memc_alloc(c, QUOTA_POOL, 64, 0, &x), -EDQUOT);
	v = view_synced(c, sfd);
	cr_expect_eq(v.blocks, N64, "%llu blocks held, want %d", (unsigned long long)v.blocks, N64);
	cr_expect_eq(v.cached_blocks, 0);
	for (int i = 0; i < N64; i++)
		cr_assert_eq(memc_free(c, small[i]), 0);
	memc_close(c);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_limits, quota_refusal_of_retain_and_lookup_gives_cached_blocks_back,
     .fini = harness_fini)
{
	enum { N64 = QUOTA_BYTES / 64 };
	static memc_ref small[N64];
	memc_client *a, *b;
	memc_ref s, got = 0;
	struct view v;
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	a = must_connect();
	b = must_connect();
	sfd = stats_open();
	s = must_alloc(b, QUOTA_POOL, QUOTA_BYTES / 2, MEMC_SHARED);

	/* a: half the quota in use, the other half cached. */
	for (int i = 0; i < N64; i++)
		small[i] = must_alloc(a, QUOTA_POOL, 64, 0);
	for (int i = N64 / 2; i < N64; i++)
		cr_assert_eq(memc_free(a, small[i]), 0);
	/* The view sums a and b (one pid); b holds half the quota, so a holds
	 * more than its half in use exactly when the sum passes the quota:
	 * then s fits a's quota only once a's cache is given back. */
	v = view_synced(a, sfd);
	cr_assert_gt(v.bytes, QUOTA_BYTES, "a holds no more than its half in use: nothing cached");
	cr_assert_eq(memc_retain(a, s), 0, "retain needing the cached half's room");
	cr_assert_eq(memc_free(a, s), 0);

	for (int i = N64 / 2; i < N64; i++)
		small[i] = must_alloc(a, QUOTA_POOL, 64, 0);
	for (int i = N64 / 2; i < N64; i++)
		cr_assert_eq(memc_free(a, small[i]), 0);
	v = view_synced(a, sfd);
	cr_assert_gt(v.bytes, QUOTA_BYTES, "nothing cached before the lookup");
	cr_assert_eq(memc_publish(b, "cache-quota", s), 0);
	cr_assert_eq(memc_lookup(a, "cache-quota", &got), 0, "lookup needing the cached room");
	cr_assert_eq(got, s);
	cr_assert_eq(memc_free(a, s), 0);
	cr_assert_eq(memc_unpublish(b, "cache-quota"), 0);
	for (int i = 0; i < N64 / 2; i++)
		cr_assert_eq(memc_free(a, small[i]), 0);
	cr_assert_eq(memc_free(b, s), 0);
	memc_close(a);
	memc_close(b);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

/* Allocate size-byte blocks in the small pool until it refuses; each gets
 * pattern i.  Returns how many; *last the refusal. */
static int fill_small(memc_client *c, size_t size, memc_ref *refs, int max, int *last)
{
	int n = 0;

	*last = 0;
	while (n < max) {
		int rc = memc_alloc(c, SMALL_POOL, size, 0, &refs[n]);

		if (rc != 0) {
			*last = rc;
			break;
		}
		pattern_fill(memc_ptr(c, refs[n]), size, (uint32_t)(n * 31 + size));
		n++;
	}
	return n;
}

/* Check the patterns and sizes of refs[0..n) and free them all. */
static void check_and_free(memc_client *c, size_t size, const memc_ref *refs, int n)
{
	for (int i = 0; i < n; i++) {
		size_t got = 0;

		cr_assert_eq(pattern_check(memc_ptr(c, refs[i]), size, (uint32_t)(i * 31 + size)),
		             -1, "%zu-byte block %d was overwritten", size, i);
		cr_assert_eq(memc_size(c, refs[i], &got), 0);
		cr_assert_eq(got, memd_class_size(memd_size_class(size)));
	}
	for (int i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0, "free of %zu-byte block %d", size, i);
}

Test(cache_limits, pool_exhaustion_loses_no_block, .fini = harness_fini)
{
	static const size_t sizes[] = {48, 1000, 4000, 30000, 48};
	enum { MAX = 40000 };
	memc_ref *refs = calloc(MAX, sizeof(*refs));
	memc_client *c;
	struct view v;
	int sfd;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	sfd = stats_open();
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n1, n2, rc;

		/* The previous size's blocks sit in the cache: -ENOMEM must
		 * give them back before it is final. */
		n1 = fill_small(c, sizes[s], refs, MAX, &rc);
		cr_assert_eq(rc, -ENOMEM, "%zu-byte fill ended with %d after %d", sizes[s], rc, n1);
		cr_assert_geq((uint64_t)n1 * sizes[s], SMALL_POOL_MAX / 2,
		              "only %d blocks of %zu bytes fit in the 1 MiB pool", n1, sizes[s]);
		assert_distinct(refs, (size_t)n1, "blocks of a full pool");
		v = view_synced(c, sfd);
		cr_expect_eq(in_use(&v), (uint64_t)n1);
		check_and_free(c, sizes[s], refs, n1);
		n2 = fill_small(c, sizes[s], refs, MAX, &rc);
		cr_assert_eq(rc, -ENOMEM);
		/* A block lost (held by nobody, or kept in a cache that
		 * -ENOMEM did not give back) would make n2 < n1.  More may
		 * fit the second time: where memd puts the 60 KiB slabs of
		 * the largest class depends on the order its free runs are
		 * found in, which trims change (30 then 32 here since trims
		 * run after each round of requests). */
		cr_expect_geq(n2, n1, "%zu bytes: %d blocks fit, then after freeing them only %d",
		              sizes[s], n1, n2);
		assert_distinct(refs, (size_t)n2, "blocks of a full pool, again");
		check_and_free(c, sizes[s], refs, n2);
	}
	v = view_synced(c, sfd);
	cr_expect_eq(in_use(&v), 0);
	memc_close(c);
	close(sfd);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- a client killed with full caches ------------------------------------ */

#define KILL_THREADS 4

/* What the child with full caches shares between its threads. */
struct kill_arg {
	const char *sock;          /* daemon socket */
	int report_fd;             /* child -> parent: blocks in use */
	int go_fd;                 /* parent -> child: die now */
	memc_client *c;            /* the child's client */
	pthread_barrier_t filled;  /* the threads filled their caches */
	pthread_barrier_t forever; /* never released: threads keep their caches */
};

/* One thread of the child. */
struct kill_thread_arg {
	struct kill_arg *a; /* shared */
	int kept;           /* blocks it keeps in use, or < 0: what failed */
};

/* Cache blocks of every class of the default pool and some of the small
 * pool, keep some in use, hold two shared blocks (one retained twice).
 * Returns the blocks kept in use, or < 0. */
static int kill_fill(memc_client *c)
{
	int kept = 0;
	memc_ref ref, s;

	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT; cls++) {
		uint32_t size = memd_class_size(cls), k = size <= 1024 ? 8 : 2;
		memc_ref r[8];

		for (uint32_t i = 0; i < k; i++) {
			if (memc_alloc(c, NULL, size, 0, &r[i]) != 0)
				return -1;
			memset(memc_ptr(c, r[i]), 0x3c, size);
		}
		for (uint32_t i = 1; i < k; i++)
			if (memc_free(c, r[i]) != 0)
				return -2;
		kept++;
	}
	for (int i = 0; i < 100; i++) {
		if (memc_alloc(c, SMALL_POOL, 1000, 0, &ref) != 0)
			return -3;
		if (i % 5 == 0)
			kept++;
		else if (memc_free(c, ref) != 0)
			return -4;
	}
	if (memc_alloc(c, NULL, 5000, MEMC_SHARED, &s) != 0 || memc_retain(c, s) != 0)
		return -5;
	if (memc_alloc(c, SMALL_POOL, 100, 0, &s) != 0 || memc_share(c, s) != 0)
		return -6;
	return kept + 2;
}

/* Thread body: fill, meet the others, then keep the caches until killed. */
static void *kill_thread(void *argp)
{
	struct kill_thread_arg *t = argp;

	t->kept = kill_fill(t->a->c);
	pthread_barrier_wait(&t->a->filled);
	pthread_barrier_wait(&t->a->forever);
	return NULL;
}

/* The child: KILL_THREADS threads fill their caches; report the blocks
 * in use; raise SIGKILL when told. */
static int full_cache_child(void *argp)
{
	struct kill_arg *a = argp;
	struct kill_thread_arg ta[KILL_THREADS];
	pthread_t t[KILL_THREADS];
	int total = 0;
	char go;

	if (memc_connect(a->sock, &a->c) != 0)
		return 10;
	pthread_barrier_init(&a->filled, NULL, KILL_THREADS + 1);
	pthread_barrier_init(&a->forever, NULL, KILL_THREADS + 1);
	for (int i = 0; i < KILL_THREADS; i++) {
		ta[i] = (struct kill_thread_arg){.a = a};
		if (pthread_create(&t[i], NULL, kill_thread, &ta[i]) != 0)
			return 11;
	}
	pthread_barrier_wait(&a->filled);
	for (int i = 0; i < KILL_THREADS; i++) {
		if (ta[i].kept < 0)
			return 20 - ta[i].kept;
		total += ta[i].kept;
	}
	/* One round trip, so the daemon has done every request the threads
	 * sent without waiting (FREE_BATCH, leases ahead) before the parent
	 * looks. */
	if (memc_lookup(a->c, "cache-test-sync-no-such-name", &(memc_ref){0}) != -ENOENT)
		return 15;
	if (write(a->report_fd, &total, sizeof(total)) != sizeof(total))
		return 12;
	if (read(a->go_fd, &go, 1) != 1)
		return 13;
	raise(SIGKILL);
	return 14;
}

/* Blocks of 4 KiB the small pool holds for a fresh client (which then
 * closes; waits until the daemon has dropped them). */
static int small_capacity(int sfd)
{
	enum { MAX = 1000 };
	memc_ref refs[MAX];
	memc_client *c = must_connect();
	int n, rc;

	n = fill_small(c, 4096, refs, MAX, &rc);
	cr_assert_eq(rc, -ENOMEM, "filling the small pool: %d after %d", rc, n);
	memc_close(c);
	pool_wait_empty(sfd, SMALL_POOL, WAIT_MS);
	return n;
}

Test(cache_limits, client_killed_with_full_caches_gives_everything_back, .fini = harness_fini)
{
	struct kill_arg a = {0};
	struct memd_stats_pool def0, small0, p;
	struct memd_stats_status st;
	int up[2], down[2], reported = 0, cap0, cap1, status;
	struct view v;
	char why[64];
	pid_t pid;
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	sfd = stats_open();
	cap0 = small_capacity(sfd);
	def0 = stats_pool(sfd, "default");
	small0 = stats_pool(sfd, SMALL_POOL);
	cr_assert_eq(def0.blocks + small0.blocks, 0);

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	a.sock = H.sock;
	a.report_fd = up[1];
	a.go_fd = down[0];
	pid = child_fork(full_cache_child, &a);
	close(up[1]);
	close(down[0]);
	cr_assert_eq(read(up[0], &reported, sizeof(reported)), (ssize_t)sizeof(reported),
	             "the child died before its caches were full (%s)",
	             child_status_str(child_wait(pid, 5000), why, sizeof(why)));
	v = view_of(sfd, pid);
	cr_assert_eq(v.sessions, 1);
	cr_assert_gt(v.cached_blocks, 0, "the child's caches are empty: nothing is tested");
	cr_expect_eq(in_use(&v), (uint64_t)reported,
	             "the child uses %d blocks, the daemon sees %llu held - %llu cached", reported,
	             (unsigned long long)v.blocks, (unsigned long long)v.cached_blocks);

	cr_assert_eq(write(down[1], "x", 1), 1);
	status = child_wait(pid, 10000);
	cr_assert_eq(status, 1000 + SIGKILL, "child: %s",
	             child_status_str(status, why, sizeof(why)));
	close(up[0]);
	close(down[1]);

	v = view_wait(sfd, pid, 0, 0, WAIT_MS);
	cr_expect_eq(v.sessions, 0, "the killed child's session is still there");
	p = pool_wait_empty(sfd, "default", WAIT_MS);
	cr_expect_eq(p.blocks, 0, "default pool: %llu blocks left", (unsigned long long)p.blocks);
	cr_expect_eq(p.in_use_bytes, 0);
	cr_expect_eq(p.shared_blocks, 0);
	cr_expect_eq(p.used_bytes, def0.used_bytes,
	             "default pool: %llu bytes of pages used, %llu before",
	             (unsigned long long)p.used_bytes, (unsigned long long)def0.used_bytes);
	p = pool_wait_empty(sfd, SMALL_POOL, WAIT_MS);
	cr_expect_eq(p.blocks, 0, "small pool: %llu blocks left", (unsigned long long)p.blocks);
	cr_expect_eq(p.in_use_bytes, 0);
	cr_expect_eq(p.used_bytes, small0.used_bytes);
	st = stats_status(sfd);
	cr_expect_eq(st.blocks, 0);
	cr_expect_eq(st.shared_blocks, 0);
	cap1 = small_capacity(sfd);
	cr_expect_eq(cap1, cap0, "the small pool held %d 4 KiB blocks before, %d after", cap0,
	             cap1);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- the environment knobs ----------------------------------------------- */

/* One setting of the knobs and whether the cache must be on. */
struct knob_case {
	const char *cache_bytes;  /* $MEMC_CACHE_BYTES, NULL: unset */
	const char *thread_bytes; /* $MEMC_THREAD_CACHE_BYTES, NULL: unset */
	bool on;                  /* the cache is expected on */
};

/* Run a mix of small allocations and frees on a client made with the
 * current environment, checking after every call what the daemon holds:
 * exactly the live blocks when the cache is off; more (a leased batch)
 * at some point when it is on. */
static void knob_check(int sfd, const struct knob_case *k)
{
	enum { LIVE = 16, OPS = 120 };
	memc_ref live[LIVE] = {0};
	uint64_t n = 0, bytes = 0, extra = 0;
	memc_client *c = must_connect();
	struct view v;

	for (int op = 0; op < OPS; op++) {
		int slot = (op * 7) % LIVE;
		size_t size = 16 + (size_t)(op * 389) % 3000;

		if (live[slot] != 0) {
			size_t usable = 0;

			cr_assert_eq(memc_size(c, live[slot], &usable), 0);
			cr_assert_eq(memc_free(c, live[slot]), 0);
			live[slot] = 0;
			n--;
			bytes -= usable;
		} else {
			live[slot] = must_alloc(c, NULL, size, 0);
			n++;
			bytes += memd_class_size(memd_size_class(size));
		}
		v = view_synced(c, sfd);
		if (!k->on) {
			cr_assert_eq(v.blocks, n,
			             "cache off (MEMC_CACHE_BYTES=%s, MEMC_THREAD_CACHE_BYTES=%s): "
			             "op %d: the daemon holds %llu blocks, %llu live",
			             k->cache_bytes ? k->cache_bytes : "(unset)",
			             k->thread_bytes ? k->thread_bytes : "(unset)", op,
			             (unsigned long long)v.blocks, (unsigned long long)n);
			cr_assert_eq(v.bytes, bytes);
			cr_assert_eq(v.cached_blocks, 0);
			cr_assert_eq(v.cached_bytes, 0);
		} else {
			cr_assert_eq(in_use(&v), n);
			extra += v.cached_blocks;
		}
	}
	if (k->on)
		cr_assert_gt(extra, 0,
		             "cache on (MEMC_CACHE_BYTES=%s), but nothing was ever cached",
		             k->cache_bytes ? k->cache_bytes : "(unset)");
	for (int i = 0; i < LIVE; i++)
		if (live[i] != 0)
			cr_assert_eq(memc_free(c, live[i]), 0);
	memc_close(c);
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_assert_eq(v.sessions, 0, "the closed client's session lingers");
}

Test(cache_limits, cache_bytes_zero_or_invalid_makes_every_call_a_round_trip, .fini = harness_fini)
{
	static const struct knob_case cases[] = {
	        {"0", NULL, false},      {"garbage", NULL, false},   {"12Q", NULL, false},
	        {"-1", NULL, false},     {" 1M", NULL, false},       {"1MB", NULL, false},
	        {"0K", NULL, false},     {"99999999G", NULL, false}, {NULL, "0", false},
	        {NULL, "lots", false},   {"1M", "x", false},         {NULL, NULL, true},
	        {"", NULL, true},        {"1M", NULL, true},         {"256k", "64K", true},
	        {"8388608", NULL, true},
	};
	int sfd;

	memd_start(&H, CONFIG_CACHE);
	sfd = stats_open();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct knob_case *k = &cases[i];

		if (k->cache_bytes)
			cr_assert_eq(setenv("MEMC_CACHE_BYTES", k->cache_bytes, 1), 0);
		else
			unsetenv("MEMC_CACHE_BYTES");
		if (k->thread_bytes)
			cr_assert_eq(setenv("MEMC_THREAD_CACHE_BYTES", k->thread_bytes, 1), 0);
		else
			unsetenv("MEMC_THREAD_CACHE_BYTES");
		knob_check(sfd, k);
	}
	unsetenv("MEMC_CACHE_BYTES");
	unsetenv("MEMC_THREAD_CACHE_BYTES");
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}
