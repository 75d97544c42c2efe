/*
 * test_cache_threads.c - libmemclient's per-thread caches with many
 * threads on one client (suite cache_threads; CI runs it again under
 * ThreadSanitizer, see scripts/setup-and-test).
 *
 * What is promised and checked here:
 *  - Threads may allocate, write, share, retain, publish and free at the
 *    same time, and free blocks other threads allocated; no block is ever
 *    handed out twice, every pattern survives, memc_ref_of(memc_ptr(ref))
 *    is ref, and once the threads are gone the session holds nothing.
 *  - A thread that exits gives its cached blocks back (its pthread key
 *    destructor), for every client it used; closing a client while other
 *    threads still have caches for it is safe.
 *  - A quota refusal in one thread takes every thread's cached blocks back
 *    (cache_reclaim) while the others keep using their caches: nothing is
 *    lost or handed out twice.
 *
 * The daemon's view (STATS_CLIENTS through test_cache_util.c) is the
 * judge.  Frees the cache sends back (FREE_BATCH) do not wait for their
 * reply, so before a view must be exact the test makes one round trip on
 * the client (client_sync): the daemon serves one connection's requests in
 * order, so by its reply everything sent before has been done.  Worker
 * threads never use Criterion's assertions; they report with tfail().
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

/* ---- many threads at once ------------------------------------------------ */

#define CHURN_THREADS 8
#define CHURN_ITERS   12000 /* per thread */
#define CHURN_LOCAL   48    /* blocks a thread keeps at most */
#define CHURN_QUEUE   512   /* blocks in transit between threads */
#define CHECK_MAX     4096  /* bytes of a block's head that carry its pattern */
#define CHECK_TAIL    64    /* ... and of its tail */

/* A block as the test knows it. */
struct blk {
	memc_ref ref;  /* the block */
	size_t size;   /* bytes asked for */
	uint32_t seed; /* its pattern */
	int holds;     /* this client's holds on it */
	char name[32]; /* published under this name, or "" */
};

/* The set of live refs: open addressing, linear probing, deletion by
 * backward shift.  One lock: it is there to catch a block handed out
 * twice, not to be fast. */
#define LIVE_BITS 14
#define LIVE_CAP  (1u << LIVE_BITS)
struct liveset {
	pthread_mutex_t lock;    /* guards the table */
	memc_ref slot[LIVE_CAP]; /* 0: empty */
	size_t n;                /* refs in the table */
};

/* What the churn threads share. */
struct churn {
	memc_client *c;                /* the one client */
	pthread_mutex_t qlock;         /* guards the queue */
	struct blk queue[CHURN_QUEUE]; /* blocks handed to other threads */
	size_t qhead, qn;              /* ring position and fill */
	struct liveset live;           /* every block in use */
	pthread_barrier_t done;        /* every thread finished its iterations */
	_Atomic unsigned long shared, published, retained, crossed; /* what happened */
};

static size_t live_hash(memc_ref r)
{
	return (size_t)((r * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - LIVE_BITS));
}

/* Add r; false if it was already there (a block handed out twice). */
static bool live_add(struct liveset *s, memc_ref r)
{
	bool ok = true;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = live_hash(r); s->slot[i] != 0; i = (i + 1) & (LIVE_CAP - 1))
		if (s->slot[i] == r) {
			ok = false;
			break;
		}
	if (ok && s->n + 1 < LIVE_CAP / 2) {
		s->slot[i] = r;
		s->n++;
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* Remove r; false if it was not there. */
static bool live_del(struct liveset *s, memc_ref r)
{
	size_t i, j;

	pthread_mutex_lock(&s->lock);
	for (i = live_hash(r); s->slot[i] != r; i = (i + 1) & (LIVE_CAP - 1))
		if (s->slot[i] == 0) {
			pthread_mutex_unlock(&s->lock);
			return false;
		}
	s->slot[i] = 0;
	s->n--;
	/* Backward shift: move later entries of the run into the hole when
	 * their home is not between the hole and them. */
	for (j = (i + 1) & (LIVE_CAP - 1); s->slot[j] != 0; j = (j + 1) & (LIVE_CAP - 1)) {
		size_t home = live_hash(s->slot[j]);

		if (((j - home) & (LIVE_CAP - 1)) >= ((j - i) & (LIVE_CAP - 1))) {
			s->slot[i] = s->slot[j];
			s->slot[j] = 0;
			i = j;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

static bool queue_push(struct churn *k, const struct blk *b)
{
	bool ok = false;

	pthread_mutex_lock(&k->qlock);
	if (k->qn < CHURN_QUEUE) {
		k->queue[(k->qhead + k->qn++) % CHURN_QUEUE] = *b;
		ok = true;
	}
	pthread_mutex_unlock(&k->qlock);
	return ok;
}

static bool queue_pop(struct churn *k, struct blk *b)
{
	bool ok = false;

	pthread_mutex_lock(&k->qlock);
	if (k->qn > 0) {
		*b = k->queue[k->qhead];
		k->qhead = (k->qhead + 1) % CHURN_QUEUE;
		k->qn--;
		ok = true;
	}
	pthread_mutex_unlock(&k->qlock);
	return ok;
}

/* Does a block of size bytes carry its pattern in a head and a tail
 * (else over all of it)? */
static bool split_pattern(size_t size)
{
	return size > CHECK_MAX + CHECK_TAIL;
}

/* Bytes of a block's head that carry the pattern. */
static size_t head_len(size_t size)
{
	return split_pattern(size) ? CHECK_MAX : size;
}

/* Write b's pattern (head, and the tail of a large block). */
static void blk_fill(memc_client *c, const struct blk *b)
{
	char *p = memc_ptr(c, b->ref);

	pattern_fill(p, head_len(b->size), b->seed);
	if (split_pattern(b->size))
		pattern_fill(p + b->size - CHECK_TAIL, CHECK_TAIL, b->seed ^ 0x5555);
}

/* Check what every thread may check of b at any time; false (after
 * tfail) if something is wrong. */
static bool blk_check(memc_client *c, const struct blk *b, const char *when)
{
	char *p = memc_ptr(c, b->ref);
	size_t usable = 0;
	long at;
	int rc;

	if (p == NULL) {
		tfail("%s: memc_ptr(%#llx) = NULL", when, (unsigned long long)b->ref);
		return false;
	}
	if (memc_ref_of(c, p) != b->ref ||
	    memc_ref_of(c, p + b->size - 1) != b->ref + b->size - 1) {
		tfail("%s: memc_ref_of(memc_ptr(%#llx)) = %#llx", when, (unsigned long long)b->ref,
		      (unsigned long long)memc_ref_of(c, p));
		return false;
	}
	at = pattern_check(p, head_len(b->size), b->seed);
	if (at < 0 && split_pattern(b->size))
		at = pattern_check(p + b->size - CHECK_TAIL, CHECK_TAIL, b->seed ^ 0x5555);
	if (at >= 0) {
		tfail("%s: block %#llx (%zu bytes) overwritten near byte %ld", when,
		      (unsigned long long)b->ref, b->size, at);
		return false;
	}
	rc = memc_size(c, b->ref, &usable);
	if (rc != 0 || usable < b->size) {
		tfail("%s: memc_size(%#llx) = %d, %zu for %zu bytes", when,
		      (unsigned long long)b->ref, rc, usable, b->size);
		return false;
	}
	return true;
}

/* A random size: mostly small, sometimes up to 32 KiB, rarely large. */
static size_t churn_size(uint64_t *rng)
{
	unsigned r = (unsigned)(rng_next(rng) % 100);

	if (r < 70)
		return 1 + rng_next(rng) % 256;
	if (r < 95)
		return 257 + rng_next(rng) % 3840;
	if (r < 99)
		return 4097 + rng_next(rng) % (MEMD_SMALL_MAX - 4096);
	return MEMD_SMALL_MAX + 1 + rng_next(rng) % (64 * KiB);
}

/* Allocate a block into *b, with the extras a churn thread tries on it.
 * false (after tfail) on failure. */
static bool churn_alloc(struct churn *k, int tid, uint64_t *rng, unsigned long *names,
                        struct blk *b)
{
	memc_client *c = k->c;
	unsigned flags = 0;
	bool shared;
	int rc;

	memset(b, 0, sizeof(*b));
	b->size = churn_size(rng);
	if (rng_next(rng) % 100 < 8)
		flags |= MEMC_SHARED;
	if (rng_next(rng) % 100 < 10)
		flags |= MEMC_ZERO;
	shared = flags & MEMC_SHARED;
	rc = memc_alloc(c, NULL, b->size, flags, &b->ref);
	if (rc != 0) {
		tfail("thread %d: alloc %zu (flags %#x): %d (%s)", tid, b->size, flags, rc,
		      memc_strerror(rc));
		return false;
	}
	if (!live_add(&k->live, b->ref)) {
		tfail("thread %d: block %#llx handed out while in use", tid,
		      (unsigned long long)b->ref);
		return false;
	}
	b->holds = 1;
	if (flags & MEMC_ZERO) {
		const unsigned char *p = memc_ptr(c, b->ref);

		for (size_t i = 0; p != NULL && i < head_len(b->size); i++)
			if (p[i] != 0) {
				tfail("thread %d: MEMC_ZERO block %#llx has %#x at %zu", tid,
				      (unsigned long long)b->ref, p[i], i);
				return false;
			}
	}
	b->seed = (uint32_t)rng_next(rng);
	blk_fill(c, b);
	if (!shared && b->size <= MEMD_SMALL_MAX) {
		size_t usable = 0, cls = memd_class_size(memd_size_class(b->size));

		/* Its class's size, or a little more: a thread whose bin
		 * is empty while its lease is on the way borrows from the
		 * next classes up (at most a quarter, or 32 bytes, more). */
		rc = memc_size(c, b->ref, &usable);
		if (rc != 0 || usable < cls || usable - cls > (cls / 4 > 32 ? cls / 4 : 32)) {
			tfail("thread %d: size of a %zu-byte block: %d, %zu", tid, b->size, rc,
			      usable);
			return false;
		}
	}
	if (!shared && rng_next(rng) % 100 < 3 && (rc = memc_retain(c, b->ref)) != -EPERM) {
		tfail("thread %d: retain of a private block: %d, want -EPERM", tid, rc);
		return false;
	}
	if (!shared && rng_next(rng) % 100 < 6) {
		if ((rc = memc_share(c, b->ref)) != 0) {
			tfail("thread %d: share: %d (%s)", tid, rc, memc_strerror(rc));
			return false;
		}
		shared = true;
		k->shared++;
	}
	if (shared && rng_next(rng) % 100 < 30) {
		if ((rc = memc_retain(c, b->ref)) != 0) {
			tfail("thread %d: retain of a shared block: %d (%s)", tid, rc,
			      memc_strerror(rc));
			return false;
		}
		b->holds++;
		k->retained++;
	}
	if (rng_next(rng) % 100 < 2) {
		memc_ref got = 0;

		snprintf(b->name, sizeof(b->name), "churn-%d-%lu", tid, (*names)++);
		rc = memc_publish(c, b->name, b->ref);
		if (rc == 0)
			rc = memc_lookup(c, b->name, &got);
		if (rc != 0 || got != b->ref) {
			tfail("thread %d: publish/lookup %s: %d, %#llx for %#llx", tid, b->name, rc,
			      (unsigned long long)got, (unsigned long long)b->ref);
			return false;
		}
		b->holds++;
		k->published++;
	}
	return blk_check(c, b, "after alloc");
}

/* Check b and drop every hold this client has on it. */
static bool churn_free(struct churn *k, int tid, const struct blk *b)
{
	int rc;

	if (!blk_check(k->c, b, "before free"))
		return false;
	if (b->name[0] != '\0' && (rc = memc_unpublish(k->c, b->name)) != 0) {
		tfail("thread %d: unpublish %s: %d", tid, b->name, rc);
		return false;
	}
	/* Out of the set before the last free: once freed, another thread
	 * may get the same block at once. */
	if (!live_del(&k->live, b->ref)) {
		tfail("thread %d: block %#llx was not in use", tid, (unsigned long long)b->ref);
		return false;
	}
	for (int h = 0; h < b->holds; h++)
		if ((rc = memc_free(k->c, b->ref)) != 0) {
			tfail("thread %d: free %d of %d of %#llx (%zu bytes): %d (%s)", tid, h + 1,
			      b->holds, (unsigned long long)b->ref, b->size, rc, memc_strerror(rc));
			return false;
		}
	return true;
}

/* What each churn thread is told. */
struct churn_arg {
	struct churn *k; /* shared */
	int tid;         /* its number */
};

static void *churn_thread(void *argp)
{
	struct churn_arg *a = argp;
	struct churn *k = a->k;
	struct blk local[CHURN_LOCAL], b;
	uint64_t rng = UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(a->tid + 1);
	unsigned long names = 0;
	size_t n = 0;

	for (int it = 0; it < CHURN_ITERS && !tfailed(); it++) {
		unsigned r = (unsigned)(rng_next(&rng) % 100);

		if (r < 12 && queue_pop(k, &b)) { /* a block from another thread */
			k->crossed++;
			if (!churn_free(k, a->tid, &b))
				break;
		} else if (r < 50 && n > 0) {
			size_t j = rng_next(&rng) % n;

			b = local[j];
			local[j] = local[--n];
			if (rng_next(&rng) % 2 == 0 && queue_push(k, &b))
				continue;
			if (!churn_free(k, a->tid, &b))
				break;
		} else if (n < CHURN_LOCAL) {
			if (!churn_alloc(k, a->tid, &rng, &names, &local[n]))
				break;
			n++;
		}
	}
	/* Nobody pushes after the barrier: drain what is left. */
	pthread_barrier_wait(&k->done);
	while (n > 0 && churn_free(k, a->tid, &local[n - 1]))
		n--;
	while (queue_pop(k, &b))
		churn_free(k, a->tid, &b);
	return NULL;
}

Test(cache_threads, many_threads_sharing_and_freeing_across_threads_leave_nothing_held,
     .fini = harness_fini, .timeout = 200)
{
	static struct churn k;
	struct churn_arg args[CHURN_THREADS];
	pthread_t t[CHURN_THREADS];
	struct memd_stats_status st;
	struct view v;
	int sfd;

	memd_start(&H, NULL);
	sfd = stats_open();
	memset(&k, 0, sizeof(k));
	k.c = must_connect();
	pthread_mutex_init(&k.qlock, NULL);
	pthread_mutex_init(&k.live.lock, NULL);
	pthread_barrier_init(&k.done, NULL, CHURN_THREADS);
	for (int i = 0; i < CHURN_THREADS; i++) {
		args[i] = (struct churn_arg){.k = &k, .tid = i};
		cr_assert_eq(pthread_create(&t[i], NULL, churn_thread, &args[i]), 0);
	}
	for (int i = 0; i < CHURN_THREADS; i++)
		pthread_join(t[i], NULL);
	tfail_check();
	cr_assert_eq(k.live.n, 0, "%zu blocks still in use", k.live.n);
	cr_assert_eq(k.qn, 0);
	cr_expect_gt(k.shared, 0, "no block was shared");
	cr_expect_gt(k.published, 0, "no block was published");
	cr_expect_gt(k.retained, 0, "no block was retained");
	cr_expect_gt(k.crossed, 0, "no block went to another thread");

	/* Every thread is gone, and with it its cache. */
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_expect_eq(v.blocks - v.cached_blocks, 0, "%llu blocks in use after every free",
	             (unsigned long long)(v.blocks - v.cached_blocks));
	cr_expect_eq(v.blocks, 0,
	             "the session holds %llu blocks (%llu cached) after the threads "
	             "exited",
	             (unsigned long long)v.blocks, (unsigned long long)v.cached_blocks);
	memc_close(k.c);
	st = stats_status(sfd);
	cr_expect_eq(st.names, 0, "%llu names left", (unsigned long long)st.names);
	pool_wait_empty(sfd, "default", WAIT_MS);
	cr_expect_eq(stats_status(sfd).blocks, 0);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- thread exit and close ------------------------------------------------ */

/* What a caching thread is told and tells back. */
struct exit_arg {
	memc_client *c[2];        /* the clients it caches for */
	int nclients;             /* how many of c */
	pthread_barrier_t filled; /* its caches are full: the main thread looks */
	pthread_barrier_t go;     /* the main thread is done looking */
	const char *sock;         /* if set: after go, connect anew and cache again */
};

/* Allocate and free blocks of many classes on c, so its caches fill. */
static void fill_caches(memc_client *c, const char *who)
{
	for (uint32_t cls = 0; cls < MEMD_CLASS_COUNT && !tfailed(); cls += 3) {
		uint32_t size = memd_class_size(cls);
		memc_ref r[24];

		for (int i = 0; i < 24; i++) {
			int rc = memc_alloc(c, NULL, size, 0, &r[i]);

			if (rc != 0) {
				tfail("%s: alloc %u: %d", who, size, rc);
				return;
			}
			memset(memc_ptr(c, r[i]), 0x42, size < 64 ? size : 64);
		}
		for (int i = 0; i < 24; i++) {
			int rc = memc_free(c, r[i]);

			if (rc != 0) {
				tfail("%s: free: %d", who, rc);
				return;
			}
		}
	}
}

static void *exit_thread(void *argp)
{
	struct exit_arg *a = argp;

	for (int i = 0; i < a->nclients; i++)
		fill_caches(a->c[i], "caching thread");
	pthread_barrier_wait(&a->filled);
	pthread_barrier_wait(&a->go);
	if (a->sock != NULL) {
		memc_client *c = NULL;
		int rc = memc_connect(a->sock, &c);

		if (rc != 0) {
			tfail("reconnect after close: %d", rc);
			return NULL;
		}
		fill_caches(c, "thread after its client was closed");
		a->c[0] = c; /* the main thread closes it after the join */
	}
	return NULL;
}

Test(cache_threads, a_thread_that_exits_gives_its_cached_blocks_back, .fini = harness_fini)
{
	struct exit_arg a = {.nclients = 2};
	struct view v;
	pthread_t t;
	int sfd;

	memd_start(&H, NULL);
	sfd = stats_open();
	a.c[0] = must_connect();
	a.c[1] = must_connect();
	pthread_barrier_init(&a.filled, NULL, 2);
	pthread_barrier_init(&a.go, NULL, 2);
	cr_assert_eq(pthread_create(&t, NULL, exit_thread, &a), 0);
	pthread_barrier_wait(&a.filled);
	client_sync(a.c[0]);
	client_sync(a.c[1]);
	v = view_of(sfd, getpid());
	cr_expect_eq(v.sessions, 2);
	cr_assert_gt(v.cached_blocks, 0, "the thread cached nothing: the test proves nothing");
	cr_expect_eq(v.blocks - v.cached_blocks, 0, "nothing is in use, the daemon sees %llu",
	             (unsigned long long)(v.blocks - v.cached_blocks));
	pthread_barrier_wait(&a.go);
	pthread_join(t, NULL);
	tfail_check();

	/* The destructor sent both caches back before the thread ended. */
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_expect_eq(v.blocks, 0,
	             "after the thread exited its clients hold %llu blocks (%llu "
	             "cached)",
	             (unsigned long long)v.blocks, (unsigned long long)v.cached_blocks);
	cr_expect_eq(v.cached_blocks, 0);
	memc_close(a.c[0]);
	memc_close(a.c[1]);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_threads, closing_a_client_while_other_threads_keep_caches_is_safe, .fini = harness_fini)
{
	struct exit_arg a = {.nclients = 1};
	struct view v;
	pthread_t t;
	int sfd;

	memd_start(&H, NULL);
	sfd = stats_open();
	a.c[0] = must_connect();
	a.sock = H.sock;
	pthread_barrier_init(&a.filled, NULL, 2);
	pthread_barrier_init(&a.go, NULL, 2);
	cr_assert_eq(pthread_create(&t, NULL, exit_thread, &a), 0);
	pthread_barrier_wait(&a.filled);
	/* The thread is idle, its cache full: close the client under it. */
	memc_close(a.c[0]);
	a.c[0] = NULL;
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_expect_eq(v.sessions, 0, "the closed client's session lingers");
	/* The thread then uses a new client (reaping the dead cache) and
	 * exits (its new cache goes back). */
	pthread_barrier_wait(&a.go);
	pthread_join(t, NULL);
	tfail_check();
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_expect_eq(v.sessions, 1);
	cr_expect_eq(v.blocks, 0, "after the thread exited, %llu blocks held",
	             (unsigned long long)v.blocks);
	memc_close(a.c[0]);
	pool_wait_empty(sfd, "default", WAIT_MS);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- quota refusals while other threads cache ----------------------------- */

#define RECLAIM_THREADS 4
#define RECLAIM_ITERS   4000
#define RECLAIM_LOCAL   64
#define RECLAIM_POOL    "q"
#define CONFIG_RECLAIM                                                                             \
	"[pool default]\n"                                                                         \
	"max_size = 16M\n"                                                                         \
	"[pool q]\n"                                                                               \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"client_quota = 256K\n"

/* What the reclaim threads share. */
struct reclaim {
	memc_client *c;                /* the one client */
	struct liveset live;           /* every block in use */
	_Atomic unsigned long refused; /* -EDQUOT answers seen */
};

/* What each reclaim thread is told. */
struct reclaim_arg {
	struct reclaim *k; /* shared */
	int tid;           /* its number */
};

/* Drop local[j] (check its pattern, free it). */
static bool reclaim_drop(struct reclaim *k, int tid, struct blk *local, size_t *n, size_t j)
{
	struct blk b = local[j];
	int rc;

	local[j] = local[--*n];
	if (!blk_check(k->c, &b, "reclaim: before free"))
		return false;
	if (!live_del(&k->live, b.ref)) {
		tfail("thread %d: block %#llx was not in use", tid, (unsigned long long)b.ref);
		return false;
	}
	if ((rc = memc_free(k->c, b.ref)) != 0) {
		tfail("thread %d: free: %d (%s)", tid, rc, memc_strerror(rc));
		return false;
	}
	return true;
}

/* Allocate in the quota pool until refused, then give half back; every
 * refusal makes the client take back every thread's cached blocks
 * (cache_reclaim) while the other threads go on using their caches. */
static void *reclaim_thread(void *argp)
{
	struct reclaim_arg *a = argp;
	struct reclaim *k = a->k;
	struct blk local[RECLAIM_LOCAL];
	uint64_t rng = UINT64_C(0xA0761D6478BD642F) * (uint64_t)(a->tid + 1);
	size_t n = 0;

	for (int it = 0; it < RECLAIM_ITERS && !tfailed(); it++) {
		struct blk b = {0};
		int rc;

		if (n == RECLAIM_LOCAL || (n > 0 && rng_next(&rng) % 100 < 35)) {
			if (!reclaim_drop(k, a->tid, local, &n, rng_next(&rng) % n))
				break;
			continue;
		}
		b.size = 16 + rng_next(&rng) % 4080;
		rc = memc_alloc(k->c, RECLAIM_POOL, b.size, 0, &b.ref);
		if (rc == -EDQUOT) {
			k->refused++;
			while (n > RECLAIM_LOCAL / 4 && reclaim_drop(k, a->tid, local, &n, 0))
				;
			continue;
		}
		if (rc != 0) {
			tfail("thread %d: alloc %zu: %d (%s)", a->tid, b.size, rc,
			      memc_strerror(rc));
			break;
		}
		if (!live_add(&k->live, b.ref)) {
			tfail("thread %d: block %#llx handed out while in use", a->tid,
			      (unsigned long long)b.ref);
			break;
		}
		b.holds = 1;
		b.seed = (uint32_t)rng_next(&rng);
		blk_fill(k->c, &b);
		local[n++] = b;
	}
	while (n > 0 && reclaim_drop(k, a->tid, local, &n, n - 1))
		;
	return NULL;
}

Test(cache_threads, quota_refusals_take_back_other_threads_caches_safely, .fini = harness_fini,
     .timeout = 200)
{
	static struct reclaim k;
	struct reclaim_arg args[RECLAIM_THREADS];
	pthread_t t[RECLAIM_THREADS];
	struct view v;
	int sfd;

	memd_start(&H, CONFIG_RECLAIM);
	sfd = stats_open();
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.live.lock, NULL);
	k.c = must_connect();
	for (int i = 0; i < RECLAIM_THREADS; i++) {
		args[i] = (struct reclaim_arg){.k = &k, .tid = i};
		cr_assert_eq(pthread_create(&t[i], NULL, reclaim_thread, &args[i]), 0);
	}
	for (int i = 0; i < RECLAIM_THREADS; i++)
		pthread_join(t[i], NULL);
	tfail_check();
	cr_assert_eq(k.live.n, 0);
	cr_expect_gt(k.refused, 0, "the quota never refused: no cache was taken back");
	v = view_wait(sfd, getpid(), 0, 0, WAIT_MS);
	cr_expect_eq(v.blocks, 0, "after the threads exited, %llu blocks held",
	             (unsigned long long)v.blocks);
	memc_close(k.c);
	close(sfd);
	memd_stop_clean(&H, SIGTERM);
}
