/*
 * test_heap_batch.c - the heap core's batch entry points (daemon/heap.c):
 * heap_free_block, which frees and reports the size and whether the
 * segment emptied, refusing every malformed reference as heap_free does;
 * and heap_alloc_batch, which must hand out exactly the blocks as many
 * single allocations would, and stop where they would.
 */
#include <criterion/criterion.h>

#include "heap.h"
#include "ref.h"

#include <errno.h>
#include <string.h>

#define SEG  1u
#define PAGE HEAP_PAGE_SIZE

/* A heap with segments seg_count segments of seg_size bytes (ids SEG..). */
static heap_t *new_heap(uint64_t seg_size, uint32_t seg_count)
{
	struct heap_options o = {.seg_id_base = SEG, .seg_id_count = 16};
	heap_t *h = NULL;

	cr_assert_eq(heap_create(&o, &h), 0);
	for (uint32_t i = 0; i < seg_count; i++)
		cr_assert_eq(heap_add_segment(h, SEG + i, seg_size), 0);
	return h;
}

static void assert_consistent(const heap_t *h)
{
	char err[256];

	cr_assert_eq(heap_check(h, err, sizeof(err)), 0, "heap_check: %s", err);
}

/* heap_free_block must refuse ref and leave the heap exactly as it was. */
static void expect_refused(heap_t *h, uint64_t ref)
{
	struct heap_stats before, after;
	uint64_t size = 12345;

	heap_stats(h, &before);
	cr_expect_eq(heap_free_block(h, ref, &size), -EINVAL, "free of %#llx accepted",
	             (unsigned long long)ref);
	heap_stats(h, &after);
	cr_expect_eq(memcmp(&before, &after, sizeof(before)), 0,
	             "refused free of %#llx changed "
	             "the heap",
	             (unsigned long long)ref);
	assert_consistent(h);
}

Test(heap_free_block, reports_the_size_heap_block_size_gave)
{
	static const uint64_t sizes[] = {
	        1, 16, 100, 4096, HEAP_SMALL_MAX, HEAP_SMALL_MAX + 1, 5 * PAGE + 3};
	heap_t *h = new_heap(1 << 20, 1);
	uint64_t keep, ref, want, got;

	/* A block that stays, so no free below empties the segment. */
	cr_assert_eq(heap_alloc(h, 64, &keep), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_assert_eq(heap_alloc(h, sizes[i], &ref), 0);
		cr_assert_eq(heap_block_size(h, ref, &want), 0);
		cr_expect_eq(heap_free_block(h, ref, &got), 0, "size %llu",
		             (unsigned long long)sizes[i]);
		cr_expect_eq(got, want, "size %llu", (unsigned long long)sizes[i]);
		cr_expect_eq(heap_block_size(h, ref, &got), -EINVAL, "still live");
	}
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap_free_block, says_when_the_segment_lost_its_last_block)
{
	heap_t *h = new_heap(4 * PAGE, 2);
	uint64_t a, b, c, size;

	/* Each 4-page block fills a segment of its own. */
	cr_assert_eq(heap_alloc(h, 4 * PAGE, &a), 0);
	cr_assert_eq(heap_alloc(h, 4 * PAGE, &b), 0);
	cr_assert_neq(memd_ref_seg(a), memd_ref_seg(b));
	cr_expect_eq(heap_free_block(h, a, &size), 1);
	cr_expect_eq(size, 4 * PAGE);
	/* Two slots of one slab in the same segment: only the second empties it. */
	cr_assert_eq(heap_alloc(h, 32, &a), 0);
	cr_assert_eq(heap_alloc(h, 32, &c), 0);
	cr_assert_eq(memd_ref_seg(a), memd_ref_seg(c));
	cr_expect_eq(heap_free_block(h, a, &size), 0);
	cr_expect_eq(size, 32);
	cr_expect_eq(heap_free_block(h, c, &size), 1);
	cr_expect_eq(heap_free_block(h, b, &size), 1);
	cr_expect_eq(size, 4 * PAGE);
	cr_expect_eq(heap_remove_segment(h, SEG), 0, "an emptied segment is removable");
	cr_expect_eq(heap_remove_segment(h, SEG + 1), 0);
	heap_destroy(h);
}

Test(heap_free_block, refuses_malformed_references)
{
	heap_t *h = new_heap(1 << 20, 2);
	uint64_t small, large, other, size;

	cr_assert_eq(heap_alloc(h, 48, &small), 0);
	cr_assert_eq(heap_alloc(h, 3 * PAGE, &large), 0);
	cr_assert_eq(memd_ref_seg(small), memd_ref_seg(large));
	other = memd_ref_seg(small) == SEG ? SEG + 1 : SEG;

	expect_refused(h, 0);                                        /* null */
	expect_refused(h, memd_ref_make(SEG + 2, 0));                /* unknown segment */
	expect_refused(h, memd_ref_make(SEG + 40, 0));               /* outside the heap's ids */
	expect_refused(h, memd_ref_make(SEG, 1 << 20));              /* past the end */
	expect_refused(h, memd_ref_make(SEG, MEMD_REF_OFFSET_MASK)); /* far past the end */
	expect_refused(h, small + 16);                               /* interior of a slot */
	expect_refused(h, small + 1);                                /* unaligned */
	expect_refused(h, large + 16);                               /* interior of a page run */
	expect_refused(h, large + PAGE);                             /* a later page of it */
	expect_refused(h, large + 2 * PAGE);                         /* its tail page */
	expect_refused(h, large + 8 * PAGE);                         /* in the free run after it */
	/* The same offsets in the other segment, where nothing lives. */
	expect_refused(h, memd_ref_make(other, memd_ref_off(small)));
	expect_refused(h, memd_ref_make(other, memd_ref_off(large)));

	/* Already free: refused, and the first free's accounting stands. */
	cr_assert_eq(heap_free_block(h, small, &size), 0);
	expect_refused(h, small);
	cr_assert_eq(heap_free_block(h, large, &size), 1);
	expect_refused(h, large);
	heap_destroy(h);
}

Test(heap_free_block, refuses_slots_of_a_released_slab_whose_pages_moved_on)
{
	heap_t *h = new_heap(1 << 20, 1);
	uint64_t keep, s[8], big, t, size;

	/* A 3-page slab of 640-byte slots at pages 8..10; slot 7 is on its
	 * middle page, whose page map entry stays behind when the slab is
	 * released. */
	cr_assert_eq(heap_alloc(h, 8 * PAGE, &keep), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(heap_alloc(h, 640, &s[i]), 0);
	cr_assert_eq(memd_ref_off(s[0]), 8 * PAGE);
	cr_assert_eq(memd_ref_off(s[7]) / PAGE, 9);
	for (int i = 7; i >= 0; i--)
		cr_assert_eq(heap_free_block(h, s[i], &size), 0);
	expect_refused(h, s[0]);
	expect_refused(h, s[7]);
	/* The pages go to a large block; the slab struct to a new slab
	 * elsewhere. */
	cr_assert_eq(heap_alloc(h, 16 * PAGE, &big), 0);
	cr_assert_eq(big, s[0]);
	cr_assert_eq(heap_alloc(h, 640, &t), 0);
	cr_assert_eq(memd_ref_off(t), 24 * PAGE);
	expect_refused(h, s[1]); /* inside the large block */
	expect_refused(h, s[7]); /* names the recycled slab, which is elsewhere */
	cr_expect_eq(heap_free_block(h, big, &size), 0);
	cr_expect_eq(size, 16 * PAGE);
	cr_expect_eq(heap_free_block(h, t, &size), 0);
	cr_expect_eq(heap_free_block(h, keep, &size), 1);
	heap_destroy(h);
}

/* Two heaps in the same state: one takes a batch, the other as many
 * single allocations; both must give the same refs and end alike. */
static void expect_batch_like_singles(heap_t *one, heap_t *many, uint64_t size, uint64_t align,
                                      uint32_t count)
{
	uint64_t refs[600], want[600];
	struct heap_stats a, b;
	uint32_t got = UINT32_MAX, n = 0;
	int rc, want_rc = 0;

	cr_assert_leq(count, 600);
	rc = heap_alloc_batch(one, size, align, count, refs, &got);
	for (; n < count; n++) {
		want_rc = heap_alloc_aligned(many, size, align, &want[n]);
		if (want_rc < 0)
			break;
	}
	cr_expect_eq(rc, want_rc, "size %llu align %llu", (unsigned long long)size,
	             (unsigned long long)align);
	cr_assert_eq(got, n, "size %llu align %llu", (unsigned long long)size,
	             (unsigned long long)align);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(refs[i], want[i], "size %llu block %u", (unsigned long long)size, i);
	heap_stats(one, &a);
	heap_stats(many, &b);
	cr_expect_eq(memcmp(&a, &b, sizeof(a)), 0, "the heaps' statistics differ");
	assert_consistent(one);
}

Test(heap_alloc_batch, hands_out_what_single_allocations_would)
{
	static const struct {
		uint64_t size, align;
		uint32_t count;
	} cases[] = {
	        {16, 0, 600},   {48, 0, 200},           {100, 16, 90}, {2048, 0, 9},
	        {4096, 0, 5},   {HEAP_SMALL_MAX, 0, 3}, {40000, 0, 4}, {64, 64, 70},
	        {100, 4096, 3}, {5000, 2 * PAGE, 3},    {1, 1, 300},
	};
	heap_t *one = new_heap(4 << 20, 1), *many = new_heap(4 << 20, 1);
	uint64_t r1[64], r2[64];

	/* Partial slabs in a scrambled list order: allocate, then free every
	 * third block, in both heaps alike. */
	for (int i = 0; i < 64; i++) {
		cr_assert_eq(heap_alloc(one, 16 + (uint64_t)(i % 4) * 32, &r1[i]), 0);
		cr_assert_eq(heap_alloc(many, 16 + (uint64_t)(i % 4) * 32, &r2[i]), 0);
	}
	for (int i = 63; i >= 0; i -= 3) {
		cr_assert_eq(heap_free(one, r1[i]), 0);
		cr_assert_eq(heap_free(many, r2[i]), 0);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_batch_like_singles(one, many, cases[i].size, cases[i].align, cases[i].count);
	heap_destroy(one);
	heap_destroy(many);
}

Test(heap_alloc_batch, stops_at_the_first_failure_with_what_it_got)
{
	heap_t *one = new_heap(8 * PAGE, 1), *many = new_heap(8 * PAGE, 1);
	uint64_t refs[32];
	uint32_t got;

	/* 2048-byte slots: 4 per 2-page slab, 16 in the segment. */
	expect_batch_like_singles(one, many, 2048, 0, 20);
	cr_assert_eq(heap_alloc_batch(one, 2048, 0, 4, refs, &got), -ENOMEM);
	cr_expect_eq(got, 0);
	/* Room again: the batch resumes where single allocations would. */
	cr_assert_eq(heap_add_segment(one, SEG + 1, 8 * PAGE), 0);
	cr_assert_eq(heap_add_segment(many, SEG + 1, 8 * PAGE), 0);
	expect_batch_like_singles(one, many, 2048, 0, 20);
	/* A large block that no longer fits. */
	expect_batch_like_singles(one, many, 3 * PAGE, 0, 2);
	heap_destroy(one);
	heap_destroy(many);
}

Test(heap_alloc_batch, refuses_bad_requests_and_allows_none)
{
	heap_t *h = new_heap(1 << 20, 1);
	uint64_t refs[4];
	struct heap_stats st;
	uint32_t got = 99;

	cr_expect_eq(heap_alloc_batch(h, 0, 0, 4, refs, &got), -EINVAL);
	cr_expect_eq(got, 0);
	got = 99;
	cr_expect_eq(heap_alloc_batch(h, 64, 48, 4, refs, &got), -EINVAL, "align not a power of 2");
	cr_expect_eq(got, 0);
	got = 99;
	cr_expect_eq(heap_alloc_batch(h, MEMD_SEG_SIZE_MAX, 0, 4, refs, &got), -EINVAL);
	cr_expect_eq(got, 0);
	got = 99;
	cr_expect_eq(heap_alloc_batch(h, 64, 0, 0, refs, &got), 0);
	cr_expect_eq(got, 0);
	heap_stats(h, &st);
	cr_expect_eq(st.live_blocks, 0);
	assert_consistent(h);
	heap_destroy(h);
}
