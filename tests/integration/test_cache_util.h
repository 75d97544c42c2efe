/*
 * test_cache_util.h - what the client-cache tests (test_cache*.c) share:
 * the daemon's view of a client, read over a raw stats connection, and a
 * way for worker threads to report failures.
 *
 * The daemon's view.  memd counts every block a session holds, cached or
 * not; the client publishes how many of them sit in its caches (CACHE_PAGE)
 * and STATS_CLIENTS reports both.  So "in use" as the daemon sees it is
 * blocks - cached_blocks.  A test process has one pid for all its
 * sessions: view_of() sums the records of one pid, leaving out the stats
 * connection itself (flagged SELF).
 *
 * Threads.  Criterion's assertions belong to the test's main thread; a
 * worker calls tfail() instead, which keeps the first message and raises
 * a flag the workers poll, and the main thread asserts tfail_check() after
 * joining them.
 */
#ifndef MEMD_TEST_CACHE_UTIL_H
#define MEMD_TEST_CACHE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "memclient.h"
#include "proto.h"
#include "sizeclass.h"

#define KiB     1024u
#define WAIT_MS 5000 /* how long the daemon may take to notice a close, a kill, a return */

/* The config most cache tests run with: the default pool, the 1 MiB
 * "small" pool (harness.h's SMALL_POOL), and QUOTA_POOL, whose clients may
 * each hold QUOTA_BYTES. */
#define QUOTA_POOL  "q"
#define QUOTA_BYTES (64u * KiB)
#define CONFIG_CACHE                                                                               \
	"[memd]\n"                                                                                 \
	"log_level = info\n"                                                                       \
	"[pool default]\n"                                                                         \
	"max_size = 64M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"[pool small]\n"                                                                           \
	"max_size = 1M\n"                                                                          \
	"segment_size = 64K\n"                                                                     \
	"[pool q]\n"                                                                               \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"client_quota = 64K\n"

/* What the daemon reports for the sessions of one pid. */
struct view {
	int sessions;           /* sessions of the pid (the stats connection excluded) */
	uint64_t blocks;        /* blocks they hold */
	uint64_t bytes;         /* usable bytes of those */
	uint64_t cached_blocks; /* of the blocks, those in the clients' caches */
	uint64_t cached_bytes;  /* their bytes */
};

/* Blocks the daemon sees in use (held - cached). */
static inline uint64_t in_use(const struct view *v)
{
	return v->blocks - v->cached_blocks;
}

/* The smallest request of size class cls. */
static inline size_t class_min(uint32_t cls)
{
	return cls == 0 ? 1 : memd_class_size(cls - 1) + 1;
}

/* Assert that refs[0..n) are n distinct non-zero references. */
void assert_distinct(const memc_ref *refs, size_t n, const char *what);

/* Connect to the test's memd (H) with libmemclient or fail the test. */
memc_client *must_connect(void);

/* memc_alloc that must succeed; the new ref. */
memc_ref must_alloc(memc_client *c, const char *pool, size_t size, unsigned flags);

/* One round trip on c (a lookup of a name nobody publishes), so that the
 * daemon has done everything c sent before: it serves one connection's
 * requests in order, and the cache sends some (FREE_BATCH, leases ahead)
 * without waiting for their replies. */
void client_sync(memc_client *c);

/* client_sync(c), then the daemon's view of this process's sessions. */
struct view view_synced(memc_client *c, int stats_fd);

/* A raw connection to H's memd that said HELLO, for stats requests. */
int stats_open(void);

/* The daemon's view of pid's sessions (all pages of STATS_CLIENTS). */
struct view view_of(int stats_fd, pid_t pid);

/* Poll view_of() for up to ms until it shows blocks == want_blocks and
 * cached_blocks == want_cached; returns the last view. */
struct view view_wait(int stats_fd, pid_t pid, uint64_t want_blocks, uint64_t want_cached, int ms);

/* STATS_STATUS. */
struct memd_stats_status stats_status(int stats_fd);

/* The STATS_POOLS record of pool name (fails the test if there is none). */
struct memd_stats_pool stats_pool(int stats_fd, const char *name);

/* Poll stats_pool() for up to ms until the pool holds no block; returns
 * the last record. */
struct memd_stats_pool pool_wait_empty(int stats_fd, const char *name, int ms);

/* Record a failure from any thread (the first one is kept). */
void tfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Has any thread failed? (cheap; workers poll it to stop early) */
bool tfailed(void);

/* Main thread, after joining the workers: assert that none failed. */
void tfail_check(void);

/* xorshift64*: a fast per-thread random number generator. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

#endif /* MEMD_TEST_CACHE_UTIL_H */
