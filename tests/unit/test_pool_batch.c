/*
 * test_pool_batch.c - the pool layer's batch paths (daemon/pool.c):
 * pool_free_block (one validation for the size and the free, the segment
 * looked up only when it empties) and pool_alloc_batch across growth and
 * the spare segment.
 *
 * Each test uses the shm prefix "memdtpb-<pid>" and ends by asserting that
 * nothing with it is left in /dev/shm.
 */
#include "shm_entries.h"
#include "pool.h"

#include "ref.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

static struct memd_config cfg;
static struct pool_set set;

/* Entries of /dev/shm under this process's prefix; with unlink, remove
 * them (a failed test's leftovers). */
static size_t shm_entries(bool unlink)
{
	long n = shm_entries_of("memdtpb", unlink);

	cr_assert_geq(n, 0, "cannot read /dev/shm");
	return (size_t)n;
}

static void sweep(void)
{
	shm_entries(true);
}

TestSuite(pool_batch, .fini = sweep);

/* The set's one pool "default" with these limits. */
static struct pool *open_pool(uint64_t seg, uint64_t max, uint64_t trim)
{
	return pool_fixture_open(&cfg, &set, "memdtpb", seg, max, trim);
}

static void close_pool(struct pool *p)
{
	pool_fixture_close(&cfg, &set, p, "memdtpb");
}

Test(pool_batch, free_block_reports_the_usable_size_and_counts_it_for_trim)
{
	static const uint64_t sizes[] = {1, 48, 1000, 32 * KiB, 40 * KiB, 300 * KiB};
	struct pool *p = open_pool(MiB, 4 * MiB, 64 * MiB);
	uint64_t keep, ref, want, got, trimmed;

	cr_assert_eq(pool_alloc(p, 16, 0, &keep, NULL), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_assert_eq(pool_alloc(p, sizes[i], 0, &ref, NULL), 0);
		cr_assert_eq(pool_block_size(p, ref, &want), 0);
		trimmed = p->freed_since_trim;
		cr_expect_eq(pool_free_block(p, ref, &got), 0);
		cr_expect_eq(got, want, "size %llu", (unsigned long long)sizes[i]);
		cr_expect_eq(p->freed_since_trim, trimmed + want);
		cr_expect_eq(pool_block_size(p, ref, &got), -EINVAL);
	}
	cr_assert_eq(pool_free(p, keep), 0);
	close_pool(p);
}

Test(pool_batch, free_block_refuses_what_pool_free_refuses)
{
	struct pool *p = open_pool(MiB, 4 * MiB, 64 * KiB);
	uint64_t small, large, usable;

	cr_assert_eq(pool_alloc(p, 64, 0, &small, NULL), 0);
	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &large, NULL), 0);
	cr_expect_eq(pool_free_block(p, 0, &usable), -EINVAL);
	cr_expect_eq(pool_free_block(p, small + 16, &usable), -EINVAL);
	cr_expect_eq(pool_free_block(p, large + 4 * KiB, &usable), -EINVAL);
	cr_expect_eq(pool_free_block(p, memd_ref_make(2, 0), &usable), -EINVAL, "no segment 2");
	cr_expect_eq(pool_free_block(p, memd_ref_make(4097, 0), &usable), -EINVAL,
	             "another pool's id");
	cr_expect_eq(pool_free_block(p, memd_ref_make(1, MiB), &usable), -EINVAL, "past the end");
	cr_expect_eq(p->freed_since_trim, 0, "a refused free counted");
	cr_expect_eq(pool_free_block(p, large, &usable), 0);
	cr_expect_eq(pool_free_block(p, large, &usable), -EINVAL, "double free");
	cr_expect_eq(pool_free_block(p, small, &usable), 0);
	cr_expect_eq(pool_free_block(p, small, &usable), -EINVAL, "double free");
	close_pool(p);
}

Test(pool_batch, free_block_of_a_segments_last_block_makes_it_the_spare)
{
	struct pool *p = open_pool(64 * KiB, MiB, 256 * KiB);
	uint64_t a, b, usable;

	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &a, NULL), 0);
	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &b, NULL), 0);
	cr_assert_eq(memd_ref_seg(b), 2);
	cr_assert_eq(pool_free_block(p, b, &usable), 0);
	cr_expect_eq(usable, 64 * KiB);
	cr_expect_eq(p->spare_id, 2);
	cr_expect_eq(p->seg_count, 2);
	cr_assert_eq(pool_free_block(p, a, &usable), 0);
	cr_expect_eq(p->seg_count, 2, "the first segment stays");
	close_pool(p);
}

Test(pool_batch, batch_grows_the_pool_as_single_allocations_would)
{
	struct pool *p = open_pool(64 * KiB, MiB, 256 * KiB);
	uint64_t refs[20], usable = 0;
	uint32_t got = 0;

	/* 16K slots: 4 in the first 64K segment, 8 in the 128K one, the
	 * rest in a 256K one. */
	cr_assert_eq(pool_alloc_batch(p, 16 * KiB, 20, refs, &got, &usable), 0);
	cr_expect_eq(got, 20);
	cr_expect_eq(usable, 16 * KiB);
	cr_expect_eq(p->seg_count, 3);
	cr_expect_eq(p->reserved, 64 * KiB + 128 * KiB + 256 * KiB);
	for (uint32_t i = 0; i < got; i++) {
		cr_expect_eq(memd_ref_seg(refs[i]), i < 4 ? 1u : i < 12 ? 2u : 3u, "block %u", i);
		cr_assert_eq(pool_free(p, refs[i]), 0);
	}
	close_pool(p);
}

Test(pool_batch, batch_that_fills_the_spare_keeps_it_when_growth_fails)
{
	/* 64K first segment, 128K second, and 16K of room beyond them. */
	struct pool *p = open_pool(64 * KiB, 208 * KiB, 256 * KiB);
	uint64_t a, b, refs[6], usable = 0;
	uint32_t got = 0;

	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &a, NULL), 0);
	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &b, NULL), 0);
	cr_assert_eq(memd_ref_seg(b), 2);
	cr_assert_eq(pool_free(p, b), 0);
	cr_assert_eq(p->spare_id, 2);
	/* The first segment is full: four 32K blocks take the spare, which
	 * is a spare no more, so the growth the fifth needs (32K, beyond
	 * max_size) must not drop it but fail. */
	cr_assert_eq(pool_alloc_batch(p, 32 * KiB, 6, refs, &got, &usable), 0);
	cr_expect_eq(got, 4);
	cr_expect_eq(p->spare_id, 0);
	cr_expect_eq(p->seg_count, 2);
	cr_expect_eq(p->counters.enomem, 1);
	for (uint32_t i = 0; i < got; i++) {
		cr_expect_eq(memd_ref_seg(refs[i]), 2);
		cr_expect_eq(pool_block_size(p, refs[i], &usable), 0, "block %u not live", i);
	}
	for (uint32_t i = 0; i < got; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);
	cr_expect_eq(p->spare_id, 2, "empty again: the spare again");
	cr_assert_eq(pool_free(p, a), 0);
	close_pool(p);
}
