/*
 * test_heap.c - behaviour of the heap core (daemon/heap.c), one property per
 * test: options and segments, allocation and alignment, every kind of
 * refused free, coalescing, exhaustion and growth, segment removal, dirty
 * run reporting, statistics and the integrity walker.
 */
#include <criterion/criterion.h>

#include "heap.h"
#include "heap_int.h"
#include "sizeclass.h"
#include "ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEG  1u
#define PAGE HEAP_PAGE_SIZE

static heap_t *new_heap(uint64_t seg_size)
{
	struct heap_options o = {.seg_id_base = SEG, .seg_id_count = 16};
	heap_t *h = NULL;
	cr_assert_eq(heap_create(&o, &h), 0);
	if (seg_size)
		cr_assert_eq(heap_add_segment(h, SEG, seg_size), 0);
	return h;
}

static void assert_consistent(const heap_t *h)
{
	char err[256];
	int rc = heap_check(h, err, sizeof(err));
	cr_assert_eq(rc, 0, "heap_check: %s", err);
}

static uint64_t live_blocks(const heap_t *h)
{
	struct heap_stats st;
	heap_stats(h, &st);
	return st.live_blocks;
}

Test(heap, create_refuses_bad_options)
{
	heap_t *h = NULL;
	struct heap_options o = {.seg_id_base = 0, .seg_id_count = 4};
	cr_expect_eq(heap_create(&o, &h), -EINVAL);
	o.seg_id_base = 1;
	o.seg_id_count = 0;
	cr_expect_eq(heap_create(&o, &h), -EINVAL);
	o.seg_id_base = MEMD_SEG_ID_MAX;
	o.seg_id_count = 2;
	cr_expect_eq(heap_create(&o, &h), -EINVAL);
	cr_expect_eq(heap_create(NULL, &h), -EINVAL);
	cr_expect_null(h);
}

Test(heap, add_segment_refuses_bad_sizes_and_ids)
{
	heap_t *h = new_heap(0);
	cr_expect_eq(heap_add_segment(h, SEG, 0), -EINVAL);
	cr_expect_eq(heap_add_segment(h, SEG, PAGE + 1), -EINVAL);
	cr_expect_eq(heap_add_segment(h, SEG, MEMD_SEG_SIZE_MAX), -EINVAL);
	cr_expect_eq(heap_add_segment(h, 0, PAGE), -EINVAL);
	cr_expect_eq(heap_add_segment(h, SEG + 16, PAGE), -EINVAL);
	cr_expect_eq(heap_add_segment(h, SEG, PAGE), 0);
	cr_expect_eq(heap_add_segment(h, SEG, PAGE), -EEXIST);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, alloc_without_segment_asks_for_growth)
{
	heap_t *h = new_heap(0);
	uint64_t ref = 0;
	cr_expect_eq(heap_alloc(h, 100, &ref), -ENOMEM);
	uint64_t need = heap_grow_size(100, 0);
	cr_assert_gt(need, 0);
	cr_assert_eq(need % PAGE, 0);
	cr_assert_eq(heap_add_segment(h, SEG, need), 0);
	cr_expect_eq(heap_alloc(h, 100, &ref), 0);
	cr_expect_eq(memd_ref_seg(ref), SEG);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, alloc_refuses_zero_and_impossible_sizes)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t ref = 0;
	cr_expect_eq(heap_alloc(h, 0, &ref), -EINVAL);
	cr_expect_eq(heap_alloc(h, UINT64_MAX, &ref), -EINVAL);
	cr_expect_eq(heap_alloc(h, MEMD_SEG_SIZE_MAX, &ref), -EINVAL);
	cr_expect_eq(heap_grow_size(0, 0), 0);
	cr_expect_eq(heap_grow_size(MEMD_SEG_SIZE_MAX, 0), 0);
	cr_expect_eq(live_blocks(h), 0);
	heap_destroy(h);
}

Test(heap, every_block_is_16_byte_aligned_and_big_enough)
{
	heap_t *h = new_heap(64 << 20);
	for (uint64_t size = 1; size < 200000; size = size * 5 / 4 + 1) {
		uint64_t ref, usable;
		cr_assert_eq(heap_alloc(h, size, &ref), 0, "size %lu", (unsigned long)size);
		cr_expect_eq(memd_ref_off(ref) % 16, 0, "size %lu", (unsigned long)size);
		cr_assert_eq(heap_block_size(h, ref, &usable), 0);
		cr_expect_geq(usable, size);
		cr_expect_leq(usable, size + size / 8 + 16, "size %lu usable %lu",
		              (unsigned long)size, (unsigned long)usable);
	}
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, aligned_alloc_honours_power_of_two_alignment)
{
	heap_t *h = new_heap(64 << 20);
	uint64_t aligns[] = {16, 32, 64, 256, 4096, 8192, 65536, 1 << 20};
	uint64_t sizes[] = {1, 24, 100, 4000, 5000, 40000};
	for (size_t a = 0; a < sizeof(aligns) / sizeof(*aligns); a++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
			uint64_t ref, usable;
			cr_assert_eq(heap_alloc_aligned(h, sizes[s], aligns[a], &ref), 0);
			cr_expect_eq(memd_ref_off(ref) % aligns[a], 0, "align %lu size %lu",
			             (unsigned long)aligns[a], (unsigned long)sizes[s]);
			cr_assert_eq(heap_block_size(h, ref, &usable), 0);
			cr_expect_geq(usable, sizes[s]);
		}
	assert_consistent(h);
	uint64_t ref;
	cr_expect_eq(heap_alloc_aligned(h, 64, 48, &ref), -EINVAL);
	cr_expect_eq(heap_alloc_aligned(h, 0, 64, &ref), -EINVAL);
	cr_expect_eq(heap_grow_size(64, 48), 0);
	heap_destroy(h);
}

Test(heap, aligned_alloc_slack_returns_to_free_runs)
{
	heap_t *h = new_heap(4 << 20);
	uint64_t a, b;
	cr_assert_eq(heap_alloc(h, 10 * PAGE, &a), 0);
	cr_assert_eq(heap_alloc_aligned(h, PAGE, 1 << 20, &b), 0);
	cr_expect_eq(memd_ref_off(b) % (1 << 20), 0);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_expect_eq(st.large_bytes, 11 * PAGE);
	cr_expect_eq(st.free_run_bytes, (4 << 20) - 11 * PAGE);
	cr_expect_eq(st.free_runs, 2); /* the slack before and after b */
	assert_consistent(h);
	cr_assert_eq(heap_free(h, a), 0);
	cr_assert_eq(heap_free(h, b), 0);
	heap_stats(h, &st);
	cr_expect_eq(st.free_runs, 1);
	cr_expect_eq(st.largest_free_run, 4 << 20);
	assert_consistent(h);
	heap_destroy(h);
}

/* Each refused free must leave the heap exactly as it was. */
static void expect_refused(heap_t *h, uint64_t ref)
{
	struct heap_stats before, after;
	heap_stats(h, &before);
	cr_expect_eq(heap_free(h, ref), -EINVAL, "free of %#lx accepted", (unsigned long)ref);
	uint64_t size;
	cr_expect_eq(heap_block_size(h, ref, &size), -EINVAL);
	heap_stats(h, &after);
	cr_expect_eq(memcmp(&before, &after, sizeof(before)), 0);
	assert_consistent(h);
}

Test(heap, free_of_null_ref_is_refused)
{
	heap_t *h = new_heap(1 << 20);
	expect_refused(h, 0);
	heap_destroy(h);
}

Test(heap, free_of_unknown_segment_is_refused)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t ref;
	cr_assert_eq(heap_alloc(h, 64, &ref), 0);
	expect_refused(h, memd_ref_make(SEG + 1, memd_ref_off(ref)));
	expect_refused(h, memd_ref_make(SEG + 100, 0));
	expect_refused(h, memd_ref_make(MEMD_SEG_ID_MAX, 0));
	heap_destroy(h);
}

Test(heap, free_past_the_end_is_refused)
{
	heap_t *h = new_heap(1 << 20);
	expect_refused(h, memd_ref_make(SEG, 1 << 20));
	expect_refused(h, memd_ref_make(SEG, MEMD_REF_OFFSET_MASK));
	heap_destroy(h);
}

Test(heap, free_of_interior_offset_is_refused)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t small, large;
	cr_assert_eq(heap_alloc(h, 48, &small), 0);
	cr_assert_eq(heap_alloc(h, 100000, &large), 0);
	expect_refused(h, small + 16);
	expect_refused(h, small + 1);
	expect_refused(h, large + 16);
	expect_refused(h, large + PAGE);
	expect_refused(h, large + 2 * PAGE);
	cr_expect_eq(heap_free(h, small), 0);
	cr_expect_eq(heap_free(h, large), 0);
	heap_destroy(h);
}

Test(heap, double_free_is_refused)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t a, b, big;
	cr_assert_eq(heap_alloc(h, 32, &a), 0);
	cr_assert_eq(heap_alloc(h, 32, &b), 0);
	cr_assert_eq(heap_alloc(h, 50000, &big), 0);
	cr_assert_eq(heap_free(h, a), 0);
	expect_refused(h, a);
	cr_assert_eq(heap_free(h, big), 0);
	expect_refused(h, big);
	cr_assert_eq(heap_free(h, b), 0);
	expect_refused(h, b);
	cr_expect_eq(live_blocks(h), 0);
	heap_destroy(h);
}

Test(heap, free_of_never_allocated_offsets_is_refused)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t a;
	cr_assert_eq(heap_alloc(h, 64, &a), 0);
	/* An unused slot of a live slab, a free page, the slab's tail. */
	expect_refused(h, a + 64);
	expect_refused(h, memd_ref_make(SEG, 512 << 10));
	expect_refused(h, memd_ref_make(SEG, (1 << 20) - PAGE));
	heap_destroy(h);
}

Test(heap, stale_slab_pages_are_refused_after_the_slab_is_released)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t a[2], b;
	/* Two slabs of one class: the second becomes empty and is released
	 * because the first is kept as the spare. */
	uint64_t refs[8192];
	int n = 0;
	for (; n < 8192; n++)
		cr_assert_eq(heap_alloc(h, 16, &refs[n]), 0);
	a[0] = refs[0];
	a[1] = refs[4097];
	for (int i = 0; i < n; i++)
		cr_assert_eq(heap_free(h, refs[i]), 0);
	expect_refused(h, a[0]);
	expect_refused(h, a[1]);
	cr_assert_eq(heap_alloc(h, 40000, &b), 0);
	expect_refused(h, a[1]);
	heap_destroy(h);
}

Test(heap, freed_neighbours_coalesce_immediately)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t a, b, c, d;
	cr_assert_eq(heap_alloc(h, 64 << 10, &a), 0);
	cr_assert_eq(heap_alloc(h, 64 << 10, &b), 0);
	cr_assert_eq(heap_alloc(h, 64 << 10, &c), 0);
	cr_assert_eq(heap_alloc(h, 64 << 10, &d), 0);
	cr_assert_eq(heap_free(h, b), 0);
	cr_assert_eq(heap_free(h, d), 0);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_expect_eq(st.free_runs, 2);
	cr_assert_eq(heap_free(h, c), 0); /* joins b's run and d's (the tail) */
	heap_stats(h, &st);
	cr_expect_eq(st.free_runs, 1);
	cr_assert_eq(heap_free(h, a), 0);
	heap_stats(h, &st);
	cr_expect_eq(st.free_runs, 1);
	cr_expect_eq(st.largest_free_run, 1 << 20);
	cr_expect_eq(st.fragmentation, 0.0);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, exhaustion_returns_enomem_and_growth_recovers)
{
	heap_t *h = new_heap(256 << 10);
	uint64_t ref;
	int n = 0;
	while (heap_alloc(h, 60000, &ref) == 0)
		n++;
	cr_expect_eq(n, 4); /* 15 pages each: 4 fit in 64 pages */
	cr_expect_eq(heap_alloc(h, 60000, &ref), -ENOMEM);
	assert_consistent(h);
	uint64_t need = heap_grow_size(60000, 0);
	cr_expect_eq(need, 15 * PAGE);
	cr_assert_eq(heap_add_segment(h, SEG + 1, need), 0);
	cr_expect_eq(heap_alloc(h, 60000, &ref), 0);
	cr_expect_eq(memd_ref_seg(ref), SEG + 1);
	cr_expect_eq(heap_alloc(h, 60000, &ref), -ENOMEM);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, grow_size_segment_serves_sizes_off_list_boundaries)
{
	/* 50 and 65 pages are not TLSF list boundaries: a segment of exactly
	 * heap_grow_size() must still serve them, even next to small runs. */
	uint64_t sizes[] = {200000, 65 * PAGE - 100, 1000 * PAGE + 1};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		heap_t *h = new_heap(0);
		uint64_t need = heap_grow_size(sizes[i], 0), ref;
		cr_expect_eq(need, (sizes[i] + PAGE - 1) / PAGE * PAGE);
		cr_assert_eq(heap_add_segment(h, SEG, need), 0);
		cr_expect_eq(heap_alloc(h, sizes[i], &ref), 0, "size %lu", (unsigned long)sizes[i]);
		cr_expect_eq(heap_alloc(h, 16, &ref), -ENOMEM);
		cr_assert_eq(heap_add_segment(h, SEG + 1, need), 0);
		cr_expect_eq(heap_alloc(h, sizes[i], &ref), 0);
		assert_consistent(h);
		heap_destroy(h);
	}
}

Test(heap, small_exhaustion_then_growth)
{
	heap_t *h = new_heap(64 << 10);
	uint64_t ref;
	int n = 0;
	while (heap_alloc(h, 100, &ref) == 0)
		n++;
	struct heap_class_stats cs;
	cr_assert_eq(heap_class_stats(h, 6, &cs), 0); /* the 112-byte class */
	cr_assert_eq(cs.size, 112);
	cr_expect_eq(n, (64 << 10) / cs.slab_bytes * (cs.slab_bytes / 112));
	uint64_t need = heap_grow_size(100, 0);
	cr_assert_eq(heap_add_segment(h, SEG + 3, need), 0);
	cr_expect_eq(heap_alloc(h, 100, &ref), 0);
	cr_expect_eq(memd_ref_seg(ref), SEG + 3);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, remove_segment_only_when_empty)
{
	heap_t *h = new_heap(1 << 20);
	cr_assert_eq(heap_add_segment(h, SEG + 1, 1 << 20), 0);
	cr_expect_eq(heap_remove_segment(h, SEG + 5), -ENOENT);
	uint64_t small, large;
	cr_assert_eq(heap_alloc(h, 64, &small), 0);
	cr_assert_eq(heap_alloc(h, 200000, &large), 0);
	uint32_t seg = memd_ref_seg(small);
	cr_expect_eq(heap_remove_segment(h, seg), -EBUSY);
	cr_assert_eq(heap_free(h, small), 0); /* leaves an empty spare slab */
	if (memd_ref_seg(large) == seg)
		cr_expect_eq(heap_remove_segment(h, seg), -EBUSY);
	cr_assert_eq(heap_free(h, large), 0);
	cr_expect_eq(heap_remove_segment(h, seg), 0);
	cr_expect_eq(heap_remove_segment(h, seg), -ENOENT);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_expect_eq(st.segments, 1);
	cr_expect_eq(st.reserved_bytes, 1 << 20);
	assert_consistent(h);
	/* A removed id can be added again, and the heap works on. */
	cr_expect_eq(heap_add_segment(h, seg, 2 << 20), 0);
	cr_expect_eq(heap_alloc(h, 64, &small), 0);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, segment_info_counts_blocks_and_used_pages)
{
	heap_t *h = new_heap(1 << 20);
	struct heap_segment_info si;
	cr_assert_eq(heap_segment_info(h, SEG, &si), 0);
	cr_expect_eq(si.size, 1 << 20);
	cr_expect_eq(si.used_bytes, 0);
	uint64_t a, b;
	cr_assert_eq(heap_alloc(h, 10000, &a), 0);
	cr_assert_eq(heap_alloc(h, 20, &b), 0);
	cr_assert_eq(heap_segment_info(h, SEG, &si), 0);
	cr_expect_eq(si.live_blocks, 2);
	cr_expect_gt(si.used_bytes, 10000);
	cr_expect_eq(heap_segment_info(h, SEG + 2, &si), -ENOENT);
	uint32_t ids[4];
	cr_expect_eq(heap_segments(h, ids, 4), 1);
	cr_expect_eq(ids[0], SEG);
	heap_destroy(h);
}

struct runs_seen {
	int calls;
	uint64_t bytes;
	int keep_dirty;
};

static int note_run(void *ctx, uint32_t seg_id, uint64_t off, uint64_t len)
{
	struct runs_seen *r = ctx;
	cr_expect_eq(seg_id, SEG);
	cr_expect_eq(off % PAGE, 0);
	r->calls++;
	r->bytes += len;
	return r->keep_dirty;
}

Test(heap, dirty_runs_are_reported_until_returned)
{
	heap_t *h = new_heap(1 << 20);
	struct runs_seen seen = {0};
	cr_expect_eq(heap_dirty_runs(h, 0, note_run, &seen), 0);
	cr_expect_eq(seen.calls, 0); /* a new segment is clean */
	uint64_t a, b;
	cr_assert_eq(heap_alloc(h, 256 << 10, &a), 0);
	cr_assert_eq(heap_alloc(h, 8 << 10, &b), 0);
	cr_assert_eq(heap_free(h, a), 0);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_expect_eq(st.dirty_free_bytes, 256 << 10);
	/* Below the threshold: not reported. */
	cr_expect_eq(heap_dirty_runs(h, 512 << 10, note_run, &seen), 0);
	cr_expect_eq(seen.calls, 0);
	/* The callback may refuse; the run stays dirty. */
	seen.keep_dirty = 1;
	cr_expect_eq(heap_dirty_runs(h, 64 << 10, note_run, &seen), 0);
	cr_expect_eq(seen.calls, 1);
	seen = (struct runs_seen){0};
	cr_expect_eq(heap_dirty_runs(h, 64 << 10, note_run, &seen), 256 << 10);
	cr_expect_eq(seen.calls, 1);
	cr_expect_eq(seen.bytes, 256 << 10);
	seen = (struct runs_seen){0};
	cr_expect_eq(heap_dirty_runs(h, 0, note_run, &seen), 0);
	cr_expect_eq(seen.calls, 0);
	heap_stats(h, &st);
	cr_expect_eq(st.dirty_free_bytes, 0);
	assert_consistent(h);
	heap_destroy(h);
}

Test(heap, stats_track_live_bytes_and_classes)
{
	heap_t *h = new_heap(4 << 20);
	uint64_t refs[100];
	for (int i = 0; i < 100; i++)
		cr_assert_eq(heap_alloc(h, 33, &refs[i]), 0);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_expect_eq(st.live_blocks, 100);
	cr_expect_eq(st.live_bytes, 100 * 48);
	cr_expect_eq(st.free_bytes, st.reserved_bytes - st.live_bytes);
	cr_expect_gt(st.meta_bytes, 0);
	struct heap_class_stats cs;
	cr_assert_eq(heap_class_stats(h, 2, &cs), 0);
	cr_expect_eq(cs.size, 48);
	cr_expect_eq(cs.used, 100);
	uint64_t per_slab = cs.slab_bytes / 48;
	cr_expect_eq(cs.slabs, (100 + per_slab - 1) / per_slab);
	cr_expect_eq(cs.slots, cs.slabs * per_slab);
	cr_expect_eq(heap_class_stats(h, heap_class_count(), &cs), -EINVAL);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(heap_free(h, refs[i]), 0);
	heap_stats(h, &st);
	cr_expect_eq(st.live_blocks, 0);
	cr_expect_eq(st.live_bytes, 0);
	heap_destroy(h);
}

/* The class table in heap.c is a constant; recompute every row from the
 * documented rule and compare. */
static uint32_t rule_slab_pages(uint32_t sz)
{
	uint32_t min_slots = (SLAB_MIN_BYTES + sz - 1) / sz;
	if (min_slots > 8)
		min_slots = 8;
	uint32_t lo = (min_slots * sz + PAGE - 1) / PAGE, best = lo;
	double best_waste = 1.0;
	for (uint32_t p = lo; p <= 2 * lo; p++) {
		double waste = (double)((p * PAGE) % sz) / (p * PAGE);
		if (waste < best_waste - 1e-9) {
			best_waste = waste;
			best = p;
		}
	}
	return best;
}

Test(heap, class_table_follows_its_rule)
{
	const struct heap_class *t = heap_classes();
	for (uint32_t i = 0; i < HEAP_CLASS_COUNT; i++) {
		uint32_t size = i < 16 ? 16 * (i + 1)
		                       : (256u << ((i - 16) / 8)) + ((256u << ((i - 16) / 8)) / 8) *
		                                                            ((i - 16) % 8 + 1);
		cr_expect_eq(t[i].size, size, "class %u", i);
		cr_expect_eq(t[i].pages, rule_slab_pages(size), "class %u", i);
		cr_expect_eq(t[i].slots, t[i].pages * PAGE / size, "class %u", i);
		cr_expect_leq(t[i].slots, SLAB_MAX_SLOTS);
		cr_expect_eq(t[i].nwords, (t[i].slots + 63) / 64, "class %u", i);
		cr_expect_eq(t[i].magic, ((UINT64_C(1) << 40) + size - 1) / size, "class %u", i);
		/* The multiply-shift division is exact for every offset in a slab. */
		for (uint64_t rel = 0; rel < (uint64_t)t[i].pages * PAGE; rel += 16)
			if (((rel * t[i].magic) >> 40) != rel / size)
				cr_assert_fail("class %u: magic wrong at %lu", i,
				               (unsigned long)rel);
	}
	cr_expect_eq(t[HEAP_CLASS_COUNT - 1].size, HEAP_SMALL_MAX);
}

/* The client cache bins blocks with common/sizeclass.h: it must give the
 * heap's class for every small size, and the heap's slot size. */
Test(heap, shared_size_class_rule_matches_the_heap_table)
{
	const struct heap_class *t = heap_classes();

	for (uint32_t size = 1; size <= HEAP_SMALL_MAX; size++) {
		uint32_t cls = memd_size_class(size);

		cr_assert_lt(cls, HEAP_CLASS_COUNT, "size %u", size);
		cr_assert_geq(t[cls].size, size, "size %u", size);
		cr_assert(cls == 0 || t[cls - 1].size < size,
		          "size %u is not in its smallest class", size);
	}
	for (uint32_t cls = 0; cls < HEAP_CLASS_COUNT; cls++)
		cr_expect_eq(memd_class_size(cls), t[cls].size, "class %u", cls);
}

Test(heap, class_sizes_grow_by_at_most_an_eighth)
{
	struct heap_class_stats prev = {0}, cs;
	heap_t *h = new_heap(0);
	for (unsigned i = 0; i < heap_class_count(); i++) {
		cr_assert_eq(heap_class_stats(h, i, &cs), 0);
		cr_expect_eq(cs.size % 16, 0);
		if (i > 0) {
			cr_expect_gt(cs.size, prev.size);
			cr_expect_leq(cs.size - prev.size, prev.size / 8 > 16 ? prev.size / 8 : 16);
		}
		/* At least 8 slots, or SLAB_MIN_BYTES of slots for large ones. */
		uint32_t slots = cs.slab_bytes / cs.size;
		cr_expect(slots >= 8 || (uint64_t)slots * cs.size >= SLAB_MIN_BYTES, "class %u", i);
		prev = cs;
	}
	cr_expect_eq(prev.size, HEAP_SMALL_MAX);
	heap_destroy(h);
}

struct walk_sum {
	uint64_t bytes;
	uint64_t next_off;
	int slabs, large, free;
};

static int sum_run(void *ctx, const struct heap_run *r)
{
	struct walk_sum *w = ctx;
	cr_expect_eq(r->off, w->next_off, "runs must tile the segment");
	w->next_off = r->off + r->len;
	w->bytes += r->len;
	w->slabs += r->kind == HEAP_RUN_SLAB;
	w->large += r->kind == HEAP_RUN_LARGE;
	w->free += r->kind == HEAP_RUN_FREE_DIRTY || r->kind == HEAP_RUN_FREE_CLEAN;
	return 0;
}

static int count_block(void *ctx, uint64_t ref, uint64_t size)
{
	(void)ref;
	uint64_t *n = ctx;
	n[0]++;
	n[1] += size;
	return 0;
}

Test(heap, walks_cover_every_run_and_block)
{
	heap_t *h = new_heap(2 << 20);
	uint64_t r;
	for (int i = 0; i < 50; i++)
		cr_assert_eq(heap_alloc(h, 10 + i * 7, &r), 0);
	cr_assert_eq(heap_alloc(h, 100000, &r), 0);
	struct walk_sum w = {0};
	cr_assert_eq(heap_walk(h, SEG, sum_run, &w), 0);
	cr_expect_eq(w.bytes, 2 << 20);
	cr_expect_eq(w.large, 1);
	cr_expect_gt(w.slabs, 1);
	cr_expect_eq(w.free, 1);
	cr_expect_eq(heap_walk(h, SEG + 1, sum_run, &w), -ENOENT);
	uint64_t n[2] = {0, 0};
	heap_walk_blocks(h, count_block, n);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_expect_eq(n[0], 51);
	cr_expect_eq(n[1], st.live_bytes);
	heap_destroy(h);
}

/* A realloc hook that can be told to fail, and counts live bytes. */
struct hook {
	int fail_after; /* calls allowed before failing; -1: never fail */
	int calls;
};

static void *hook_realloc(void *ctx, void *p, size_t size)
{
	struct hook *k = ctx;
	if (size == 0) {
		free(p);
		return NULL;
	}
	if (k->fail_after >= 0 && k->calls++ >= k->fail_after)
		return NULL;
	return realloc(p, size);
}

Test(heap, metadata_exhaustion_fails_cleanly)
{
	for (int limit = 0; limit < 12; limit++) {
		struct hook k = {.fail_after = limit};
		struct heap_options o = {.seg_id_base = 1,
		                         .seg_id_count = 4,
		                         .realloc = hook_realloc,
		                         .realloc_ctx = &k};
		heap_t *h = NULL;
		if (heap_create(&o, &h) != 0) {
			cr_expect_null(h);
			continue;
		}
		int rc = heap_add_segment(h, 1, 8 << 20);
		cr_expect(rc == 0 || rc == -ENOMEM);
		uint64_t r;
		for (uint64_t size = 16; rc == 0 && size < (1 << 20); size *= 3) {
			int a = heap_alloc(h, size, &r);
			cr_expect(a == 0 || a == -ENOMEM);
			if (a == 0)
				cr_expect_eq(heap_free(h, r), 0);
		}
		char err[200];
		cr_expect_eq(heap_check(h, err, sizeof(err)), 0, "limit %d: %s", limit, err);
		heap_destroy(h);
	}
}

/* heap_check against deliberately corrupted state (internals reached
 * through heap_int.h; each corruption is undone before the next). */
Test(heap, check_reports_corruption)
{
	heap_t *h = new_heap(1 << 20);
	uint64_t r, big;
	cr_assert_eq(heap_alloc(h, 64, &r), 0);
	cr_assert_eq(heap_alloc(h, 64 << 10, &big), 0);
	char err[160] = "stale";
	cr_expect_eq(heap_check(h, err, sizeof(err)), 0);
	cr_expect_str_eq(err, "");

	struct heap *in = h;
	uint64_t *word = &in->words[in->slabs[0].bm];
	*word ^= 2; /* slot 1 looks allocated */
	cr_expect_eq(heap_check(h, err, sizeof(err)), -EFAULT);
	cr_expect_neq(strstr(err, "slab"), NULL, "%s", err);
	*word ^= 2;

	in->live_bytes += 16;
	cr_expect_eq(heap_check(h, err, sizeof(err)), -EFAULT);
	in->live_bytes -= 16;

	uint32_t *pm = in->segs[0].pm;
	uint32_t page = (uint32_t)(memd_ref_off(big) / PAGE);
	uint32_t saved = pm[page + 15];
	pm[page + 15] = 0; /* the large block loses its tail tag */
	cr_expect_eq(heap_check(h, err, sizeof(err)), -EFAULT);
	cr_expect_neq(strstr(err, "large"), NULL, "%s", err);
	pm[page + 15] = saved;

	in->fl_bitmap ^= 1; /* a list bit that lies */
	cr_expect_eq(heap_check(h, err, sizeof(err)), -EFAULT);
	in->fl_bitmap ^= 1;

	cr_expect_eq(heap_check(h, err, sizeof(err)), 0, "%s", err);
	heap_destroy(h);
}
