/*
 * test_session_batch.c - the session's batch calls (daemon/session.c)
 * against their single-block meaning: session_free_batch gives every
 * reference the result session_free would and leaves the same charges;
 * session_alloc_batch keeps exactly the blocks that one quota check per
 * block, each after the previous block was charged, would let through.
 *
 * Sessions here are bare structs over a real pool set (shm prefix
 * "memdtsb-<pid>"), one uid for all of them, as the daemon would make for
 * clients of one user.
 */
#include "shm_entries.h"
#include "session.h"

#include "pool.h"
#include "ref.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ACCESS_RW (MEMD_ACCESS_READ | MEMD_ACCESS_WRITE)

static struct memd_config cfg;
static struct pool_set set;
static struct pool *pool;
static uint64_t next_session = 1;

static void sweep(void)
{
	shm_entries_of("memdtsb", true);
}

TestSuite(session_batch, .fini = sweep);

/* The pool set, its pool "default" limited by the two quotas (0: none). */
static void open_set(uint64_t client_quota, uint64_t uid_quota)
{
	char err[512];

	cr_assert_eq(config_load_file(&cfg, NULL, err, sizeof(err)), 0, "%s", err);
	snprintf(cfg.shm_prefix, sizeof(cfg.shm_prefix), "memdtsb-%d", (int)getpid());
	cfg.pools[0].segment_size = 1 << 20;
	cfg.pools[0].max_size = 16 << 20;
	cfg.pools[0].client_quota = client_quota;
	cfg.pools[0].uid_quota = uid_quota;
	cr_assert_eq(pool_set_create(&set, &cfg, err, sizeof(err)), 0, "%s", err);
	pool = pool_set_find(&set, "default");
}

static void close_set(void)
{
	pool_set_destroy(&set);
	config_free(&cfg);
}

static void new_session(struct session *s)
{
	session_init(s, next_session++, &set, getpid(), getuid(), getgid());
	cr_assert_eq(session_open_pool(s, pool->id, ACCESS_RW), 0);
}

/* The session's charges must be those of the blocks it holds. */
static void expect_charges_match_holds(const struct session *s)
{
	uint64_t ref, size, bytes = 0, blocks = 0;
	size_t cursor = 0;

	while (holds_next(&s->holds, &cursor, &ref)) {
		cr_assert_eq(pool_block_size(pool, ref, &size), 0, "held %#llx is not live",
		             (unsigned long long)ref);
		bytes += size;
		blocks++;
	}
	cr_expect_eq(s->blocks_held, blocks);
	cr_expect_eq(s->bytes_held, bytes);
	cr_expect_eq(session_pool_bytes(s, pool), bytes);
}

/* What one FREE_BATCH run of the scenario below saw. */
struct outcome {
	int32_t results[24];
	int32_t status;
	uint64_t a_blocks, a_bytes, b_blocks, b_bytes, uid_bytes;
	bool shared_live, foreign_live;
};

/* Session a holds 16 private blocks and one shared block that b holds
 * too; b holds a private block; one block is dead.  a then frees a list
 * of refs mixing all of them, with repeats and junk, through a batch or
 * one by one. */
static void run_scenario(bool batch, struct outcome *o)
{
	struct session a, b;
	uint64_t mine[16], shared, foreign, dead, usable, refs[24];
	uint8_t unaligned[sizeof(refs) + 4];
	uint32_t got;
	size_t n = 0;

	new_session(&a);
	new_session(&b);
	cr_assert_eq(session_alloc_batch(&a, pool, 100, 16, false, mine, &got, &usable), 0);
	cr_assert_eq(got, 16);
	cr_assert_eq(session_alloc(&a, pool, 5000, 0, true, &shared, &usable), 0);
	cr_assert_eq(session_retain(&b, shared, NULL), 0);
	cr_assert_eq(session_alloc(&b, pool, 300, 0, false, &foreign, &usable), 0);
	cr_assert_eq(session_alloc(&a, pool, 100, 0, false, &dead, &usable), 0);
	cr_assert_eq(session_free(&a, dead), 0);

	refs[n++] = mine[0];
	refs[n++] = mine[1];
	refs[n++] = foreign;      /* b's: -EPERM */
	refs[n++] = dead;         /* -EINVAL */
	refs[n++] = shared;       /* a's hold goes, b keeps it */
	refs[n++] = mine[0];      /* already freed: -EINVAL */
	refs[n++] = 0;            /* -EINVAL */
	refs[n++] = shared;       /* a holds it no more: -EPERM */
	refs[n++] = mine[2] + 16; /* interior: -EINVAL */
	for (int i = 2; i < 16; i++)
		refs[n++] = mine[i];
	refs[n++] = mine[15]; /* -EINVAL */
	cr_assert_eq(n, 24);

	o->status = 0;
	if (batch) {
		memcpy(unaligned + 4, refs, sizeof(refs));
		o->status = session_free_batch(&a, unaligned + 4, (uint32_t)n, o->results);
	} else {
		for (size_t i = 0; i < n; i++) {
			o->results[i] = session_free(&a, refs[i]);
			if (o->results[i] < 0 && o->status == 0)
				o->status = o->results[i];
		}
	}
	expect_charges_match_holds(&a);
	expect_charges_match_holds(&b);
	o->a_blocks = a.blocks_held;
	o->a_bytes = a.bytes_held;
	o->b_blocks = b.blocks_held;
	o->b_bytes = b.bytes_held;
	o->uid_bytes = pool_uid_bytes(pool, getuid());
	o->shared_live = pool_block_size(pool, shared, &usable) == 0;
	o->foreign_live = pool_block_size(pool, foreign, &usable) == 0;
	session_release(&a);
	session_release(&b);
	cr_expect_eq(pool_uid_bytes(pool, getuid()), 0);
}

Test(session_batch, free_batch_gives_each_ref_what_session_free_would)
{
	static const int32_t want[24] = {0,       0, -EPERM, -EINVAL, 0, -EINVAL, -EINVAL, -EPERM,
	                                 -EINVAL, 0, 0,      0,       0, 0,       0,       0,
	                                 0,       0, 0,      0,       0, 0,       0,       -EINVAL};
	struct outcome one, many;

	open_set(0, 0);
	run_scenario(false, &many);
	run_scenario(true, &one);
	for (int i = 0; i < 24; i++) {
		cr_expect_eq(many.results[i], want[i], "single free %d: %d", i, many.results[i]);
		cr_expect_eq(one.results[i], want[i], "batch free %d: %d", i, one.results[i]);
	}
	cr_expect_eq(one.status, -EPERM, "the first error");
	cr_expect_eq(one.status, many.status);
	cr_expect_eq(one.a_blocks, 0);
	cr_expect_eq(one.a_bytes, 0);
	cr_expect_eq(one.b_blocks, 2);
	cr_expect_eq(one.b_bytes, many.b_bytes);
	cr_expect_eq(one.uid_bytes, one.b_bytes, "the uid is charged for b's blocks alone");
	cr_expect_eq(one.uid_bytes, many.uid_bytes);
	cr_expect(one.shared_live && one.foreign_live);
	close_set();
}

Test(session_batch, free_batch_of_the_last_holds_frees_shared_blocks)
{
	struct session a;
	uint64_t refs[8], usable;
	int32_t results[8];
	uint32_t got;

	open_set(0, 0);
	new_session(&a);
	cr_assert_eq(session_alloc_batch(&a, pool, 64, 4, true, refs, &got, &usable), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(session_alloc_batch(&a, pool, 64, 4, false, refs + 4, &got, &usable), 0);
	cr_assert_eq(session_retain(&a, refs[0], NULL), 0); /* a second hold */
	cr_assert_eq(session_free_batch(&a, refs, 8, results), 0);
	for (int i = 0; i < 8; i++) {
		cr_expect_eq(results[i], 0);
		cr_expect_eq(pool_block_size(pool, refs[i], &usable), i == 0 ? 0 : -EINVAL,
		             "block %d", i);
	}
	cr_expect_eq(a.blocks_held, 1);
	expect_charges_match_holds(&a);
	cr_assert_eq(session_free_batch(&a, refs, 1, results), 0);
	cr_expect_eq(pool_block_size(pool, refs[0], &usable), -EINVAL);
	cr_expect_eq(a.blocks_held, 0);
	cr_expect_null(blocks_find(&set.blocks, refs[0]));
	session_release(&a);
	close_set();
}

/* How many blocks of size a session gets one ALLOC at a time. */
static uint32_t singles_until_refused(struct session *s, uint64_t size, uint32_t max)
{
	uint64_t ref, usable;
	uint32_t n = 0;
	int err;

	while (n < max && (err = session_alloc(s, pool, size, 0, false, &ref, &usable)) == 0)
		n++;
	if (n < max)
		cr_expect_eq(err, -EDQUOT);
	return n;
}

Test(session_batch, alloc_batch_stops_exactly_at_the_client_quota)
{
	uint64_t refs[32], usable = 0;
	struct session a, b;
	uint32_t got = 0;

	/* 100 bytes are 112 usable: 8 fit in 1000 bytes, and 8 in 896. */
	open_set(1000, 0);
	new_session(&a);
	new_session(&b);
	cr_assert_eq(session_alloc_batch(&a, pool, 100, 32, false, refs, &got, &usable), 0);
	cr_expect_eq(usable, 112);
	cr_expect_eq(got, 8);
	cr_expect_eq(got, singles_until_refused(&b, 100, 32));
	expect_charges_match_holds(&a);
	cr_expect_eq(session_alloc_batch(&a, pool, 100, 32, false, refs, &got, &usable), -EDQUOT);
	cr_expect_eq(got, 0);
	session_release(&a);
	new_session(&a);
	pool->cfg.client_quota = 8 * 112;
	cr_assert_eq(session_alloc_batch(&a, pool, 100, 32, false, refs, &got, &usable), 0);
	cr_expect_eq(got, 8, "a quota of exactly 8 blocks");
	/* A quota lowered below what the session holds refuses outright. */
	pool->cfg.client_quota = 500;
	cr_expect_eq(session_alloc_batch(&a, pool, 16, 4, false, refs, &got, &usable), -EDQUOT);
	cr_expect_eq(got, 0);
	expect_charges_match_holds(&a);
	session_release(&a);
	session_release(&b);
	close_set();
}

Test(session_batch, alloc_batch_gives_back_blocks_whose_usable_size_is_past_the_quota)
{
	uint64_t refs[4], usable = 0;
	struct heap_stats before, after;
	struct session a;
	uint32_t got = 0;

	/* 100 bytes pass a 100-byte quota, their 112 usable do not. */
	open_set(100, 0);
	new_session(&a);
	heap_stats(pool->heap, &before);
	cr_expect_eq(session_alloc_batch(&a, pool, 100, 4, false, refs, &got, &usable), -EDQUOT);
	cr_expect_eq(got, 0);
	heap_stats(pool->heap, &after);
	cr_expect_eq(after.live_blocks, before.live_blocks, "blocks kept");
	cr_expect_eq(a.blocks_held, 0);
	cr_expect_eq(pool_uid_bytes(pool, getuid()), 0);
	session_release(&a);
	close_set();
}

Test(session_batch, alloc_batch_shares_the_uid_quota_with_other_sessions)
{
	uint64_t ra[32], rb[64], usable = 0;
	struct session a, b;
	int32_t results[2];
	uint32_t got = 0;

	/* client_quota 1000 (8 blocks of 112), uid_quota 1500 (13). */
	open_set(1000, 1500);
	new_session(&a);
	new_session(&b);
	cr_assert_eq(session_alloc_batch(&a, pool, 100, 32, true, ra, &got, &usable), 0);
	cr_expect_eq(got, 8, "client_quota binds first");
	for (uint32_t i = 0; i < got; i++)
		cr_expect_not_null(blocks_find(&set.blocks, ra[i]), "block %u not shared", i);
	cr_assert_eq(session_alloc_batch(&b, pool, 100, 32, false, rb, &got, &usable), 0);
	cr_expect_eq(got, 5, "then uid_quota: (1500 - 896) / 112");
	cr_expect_eq(pool_uid_bytes(pool, getuid()), 13 * 112);
	cr_expect_eq(session_alloc_batch(&b, pool, 100, 32, false, rb + 5, &got, &usable), -EDQUOT);
	cr_assert_eq(session_free_batch(&a, ra, 2, results), 0);
	cr_assert_eq(session_alloc_batch(&b, pool, 100, 32, false, rb + 5, &got, &usable), 0);
	cr_expect_eq(got, 2, "room of the two blocks a gave back");
	expect_charges_match_holds(&a);
	expect_charges_match_holds(&b);
	cr_expect_eq(pool_uid_bytes(pool, getuid()), 13 * 112);
	session_release(&a);
	session_release(&b);
	cr_expect_eq(pool_uid_bytes(pool, getuid()), 0);
	close_set();
}
