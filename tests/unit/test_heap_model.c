/*
 * test_heap_model.c - model-based randomized tests of the heap core.
 *
 * Each test drives the core with millions of random operations from a fixed
 * seed and compares it with a simple reference model: an array of the live
 * blocks (ref, asked size, usable size) plus a shadow bitmap with one bit per
 * 16-byte granule of every segment.  After every allocation the new block
 * must be aligned, at least as large as asked, inside its segment and over
 * granules no other live block covers; every free of a live block must
 * succeed and every refused free (interior, double, foreign) must fail with
 * -EINVAL and change nothing.  Counters are compared with the model at
 * intervals and heap_check() must pass.  When the core runs out of room the
 * test adds a segment of heap_grow_size() or geometric size, as the pool
 * layer will; empty segments are removed now and then.
 */
#include <criterion/criterion.h>

#include "heap.h"
#include "ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEG_BASE  1u
#define SEG_COUNT 64u
#define GRAN      16u

struct blk {
	uint64_t ref;    /* the block */
	uint64_t size;   /* asked */
	uint64_t usable; /* what heap_block_size says */
};

struct model {
	heap_t *h;
	struct blk *live;             /* live blocks, unordered */
	size_t nlive, cap;            /* count, capacity */
	uint64_t live_bytes;          /* sum of usable sizes */
	uint64_t *shadow[SEG_COUNT];  /* one bit per granule, per segment */
	uint64_t seg_size[SEG_COUNT]; /* bytes, 0 = absent */
	uint32_t next_seg;            /* next id slot to try */
	uint64_t last_seg;            /* size of the last segment added */
	uint64_t rng;                 /* xorshift state */
};

static uint64_t rnd(struct model *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

/* Set (on) or clear the shadow bits of [off, off + len) in slot s; assert
 * each was clear before setting / set before clearing. */
static void shadow_mark(struct model *m, uint32_t s, uint64_t off, uint64_t len, int on)
{
	uint64_t *bits = m->shadow[s];
	for (uint64_t g = off / GRAN; g < (off + len) / GRAN; g++) {
		uint64_t bit = UINT64_C(1) << (g % 64);
		if ((g % 64) == 0 && (off + len) / GRAN - g >= 64) {
			uint64_t want = on ? 0 : ~UINT64_C(0);
			cr_assert_eq(bits[g / 64], want, "overlap near offset %lu",
			             (unsigned long)(g * GRAN));
			bits[g / 64] = ~want;
			g += 63;
			continue;
		}
		cr_assert_eq(!!(bits[g / 64] & bit), !on, "overlap at offset %lu",
		             (unsigned long)(g * GRAN));
		bits[g / 64] ^= bit;
	}
}

static void add_segment(struct model *m, uint64_t need)
{
	uint64_t size = m->last_seg ? m->last_seg * 2 : (1 << 20);
	if (size > (64 << 20))
		size = 64 << 20;
	if (size < need)
		size = need;
	for (uint32_t i = 0; i < SEG_COUNT; i++) {
		uint32_t s = (m->next_seg + i) % SEG_COUNT;
		if (m->seg_size[s])
			continue;
		cr_assert_eq(heap_add_segment(m->h, SEG_BASE + s, size), 0);
		m->seg_size[s] = size;
		m->shadow[s] = calloc(size / GRAN / 64 + 1, 8);
		cr_assert_not_null(m->shadow[s]);
		m->next_seg = s + 1;
		m->last_seg = size;
		return;
	}
	cr_assert_fail("out of segment ids");
}

static void model_init(struct model *m, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	struct heap_options o = {.seg_id_base = SEG_BASE, .seg_id_count = SEG_COUNT};
	cr_assert_eq(heap_create(&o, &m->h), 0);
	m->rng = seed * 2654435761u + 1;
	m->cap = 1024;
	m->live = malloc(m->cap * sizeof(*m->live));
}

static void model_fini(struct model *m)
{
	heap_destroy(m->h);
	for (uint32_t s = 0; s < SEG_COUNT; s++)
		free(m->shadow[s]);
	free(m->live);
}

static void do_alloc(struct model *m, uint64_t size, uint64_t align)
{
	uint64_t ref;
	int rc;
	while ((rc = heap_alloc_aligned(m->h, size, align, &ref)) == -ENOMEM)
		add_segment(m, heap_grow_size(size, align));
	cr_assert_eq(rc, 0, "alloc %lu align %lu: %d", (unsigned long)size, (unsigned long)align,
	             rc);
	uint32_t s = memd_ref_seg(ref) - SEG_BASE;
	uint64_t off = memd_ref_off(ref), usable;
	cr_assert_lt(s, SEG_COUNT);
	cr_assert_eq(heap_block_size(m->h, ref, &usable), 0);
	cr_assert_geq(usable, size);
	cr_assert_eq(off % (align > GRAN ? align : GRAN), 0);
	cr_assert_leq(off + usable, m->seg_size[s]);
	shadow_mark(m, s, off, usable, 1);
	if (m->nlive == m->cap) {
		m->cap *= 2;
		m->live = realloc(m->live, m->cap * sizeof(*m->live));
	}
	m->live[m->nlive++] = (struct blk){ref, size, usable};
	m->live_bytes += usable;
}

static void expect_refused(struct model *m, uint64_t ref)
{
	uint64_t before = m->nlive;
	cr_assert_eq(heap_free(m->h, ref), -EINVAL, "bad free of %#lx accepted",
	             (unsigned long)ref);
	struct heap_stats st;
	heap_stats(m->h, &st);
	cr_assert_eq(st.live_blocks, before);
}

static void do_free(struct model *m, size_t i)
{
	struct blk b = m->live[i];
	uint32_t s = memd_ref_seg(b.ref) - SEG_BASE;
	/* Interior offsets of a live block are refused. */
	if (b.usable > GRAN && (rnd(m) & 7) == 0)
		expect_refused(m, b.ref + GRAN * (1 + rnd(m) % (b.usable / GRAN - 1)));
	cr_assert_eq(heap_free(m->h, b.ref), 0);
	shadow_mark(m, s, memd_ref_off(b.ref), b.usable, 0);
	m->live[i] = m->live[--m->nlive];
	m->live_bytes -= b.usable;
	if ((rnd(m) & 15) == 0)
		expect_refused(m, b.ref); /* double free */
}

static void compare(struct model *m)
{
	struct heap_stats st;
	heap_stats(m->h, &st);
	cr_assert_eq(st.live_blocks, m->nlive);
	cr_assert_eq(st.live_bytes, m->live_bytes);
	char err[256];
	cr_assert_eq(heap_check(m->h, err, sizeof(err)), 0, "heap_check: %s", err);
}

/* Remove every segment that holds nothing (not the most recent one). */
static void remove_empty_segments(struct model *m)
{
	for (uint32_t s = 0; s < SEG_COUNT; s++) {
		struct heap_segment_info si;
		if (!m->seg_size[s] || s + 1 == m->next_seg)
			continue;
		cr_assert_eq(heap_segment_info(m->h, SEG_BASE + s, &si), 0);
		int rc = heap_remove_segment(m->h, SEG_BASE + s);
		cr_assert_eq(rc, si.live_blocks ? -EBUSY : 0);
		if (rc == 0) {
			free(m->shadow[s]);
			m->shadow[s] = NULL;
			m->seg_size[s] = 0;
		}
	}
}

/* Sizes: mostly small, a tail of medium and large ones. */
static uint64_t pick_size(struct model *m, int mix)
{
	uint64_t r = rnd(m) % 1000;
	if (mix == 0) { /* allocator-like: small-heavy */
		if (r < 700)
			return 1 + rnd(m) % 128;
		if (r < 950)
			return 1 + rnd(m) % 2048;
		if (r < 995)
			return 1 + rnd(m) % 40000;
		return 1 + rnd(m) % (1 << 20);
	}
	/* mix 1: every size class and page counts evenly, log-uniform */
	return 1 + rnd(m) % (UINT64_C(1) << (rnd(m) % 19));
}

static void run_model(uint64_t seed, long ops, int mix, size_t target_live)
{
	struct model m;
	model_init(&m, seed);
	for (long op = 0; op < ops; op++) {
		/* Drift the live set around target_live. */
		int grow =
		        m.nlive < target_live / 2 || (m.nlive < target_live * 2 && (rnd(&m) & 1));
		if (grow || m.nlive == 0) {
			uint64_t align = 0;
			if ((rnd(&m) & 63) == 0)
				align = UINT64_C(32) << (rnd(&m) % 12);
			do_alloc(&m, pick_size(&m, mix), align);
		} else {
			do_free(&m, rnd(&m) % m.nlive);
		}
		if (op % 50000 == 0)
			compare(&m);
		if (op % 200000 == 0)
			remove_empty_segments(&m);
		/* Now and then empty the heap almost completely. */
		if (op % 400000 == 399999)
			while (m.nlive > 10)
				do_free(&m, rnd(&m) % m.nlive);
	}
	compare(&m);
	while (m.nlive)
		do_free(&m, m.nlive - 1);
	compare(&m);
	remove_empty_segments(&m);
	struct heap_stats st;
	heap_stats(m.h, &st);
	cr_expect_eq(st.live_bytes, 0);
	cr_expect_leq(st.segments, 1);
	model_fini(&m);
}

Test(heap_model, small_heavy_mix_matches_model_seed_1, .timeout = 300)
{
	run_model(1, 4000000, 0, 20000);
}

Test(heap_model, small_heavy_mix_matches_model_seed_2, .timeout = 300)
{
	run_model(2, 2000000, 0, 2000);
}

Test(heap_model, log_uniform_sizes_match_model_seed_3, .timeout = 300)
{
	run_model(3, 2000000, 1, 3000);
}

Test(heap_model, tiny_live_set_churn_matches_model_seed_4, .timeout = 300)
{
	run_model(4, 2000000, 1, 16);
}
