/*
 * heap_walk.c - looking at the heap core: statistics, walks over runs and
 * blocks, and the integrity walker heap_check().
 *
 * Nothing here is on an allocation path.  Statistics come from counters
 * that heap.c maintains; walks follow the page map run by run (the first
 * page of every run describes it exactly, see heap.c); heap_check() rebuilds
 * every counter and list from scratch and compares.
 */
#include "heap_int.h"

#include "ref.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

uint32_t heap_run_pages(const struct heap *h, const struct heap_seg *s, uint32_t page)
{
	uint32_t e = s->pm[page];
	switch (PM_KIND(e)) {
	case PM_FREE:
		return PM_VAL(e) < h->run_len ? h->runs[PM_VAL(e)].npages : 0;
	case PM_LARGE:
		return PM_VAL(e);
	case PM_SLAB:
		return PM_VAL(e) < h->slab_len ? heap_classes()[h->slabs[PM_VAL(e)].cls].pages : 0;
	default:
		return 0;
	}
}

/* Bytes in the largest free run: the last non-empty TLSF list of each
 * tier holds it. */
static uint64_t largest_free_run(const struct heap *h)
{
	uint32_t best = 0;
	for (uint32_t t = 0; t < TLSF_TIERS; t++) {
		uint64_t map = h->fl_bitmap & ((UINT64_C(1) << TLSF_VFL(t + 1, 0)) -
		                               (UINT64_C(1) << TLSF_VFL(t, 0)));
		if (map == 0)
			continue;
		uint32_t v = 63u - (uint32_t)__builtin_clzll(map);
		uint32_t sl = 31u - (uint32_t)__builtin_clz(h->sl_bitmap[v]);
		for (uint32_t i = h->lists[v][sl]; i != HEAP_NIL; i = h->runs[i].next)
			if (h->runs[i].npages > best)
				best = h->runs[i].npages;
	}
	return (uint64_t)best * HEAP_PAGE_SIZE;
}

static uint64_t meta_bytes(const struct heap *h)
{
	uint64_t b = sizeof(*h) + h->pm_bytes;
	b += (uint64_t)h->slab_cap * sizeof(*h->slabs);
	b += (uint64_t)h->word_cap * sizeof(*h->words);
	b += (uint64_t)h->run_cap * sizeof(*h->runs);
	b += (uint64_t)h->segs_cap * sizeof(*h->segs);
	return b;
}

void heap_stats(const heap_t *h, struct heap_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->segments = h->nsegs;
	st->reserved_bytes = h->seg_pages * HEAP_PAGE_SIZE;
	st->live_blocks = h->live_blocks;
	st->live_bytes = h->live_bytes;
	st->slab_bytes = h->slab_pages * HEAP_PAGE_SIZE;
	st->large_bytes = h->large_pages * HEAP_PAGE_SIZE;
	st->free_bytes = st->reserved_bytes - st->live_bytes;
	st->free_run_bytes = h->free_pages * HEAP_PAGE_SIZE;
	st->free_runs = h->free_runs;
	st->largest_free_run = largest_free_run(h);
	st->dirty_free_bytes = h->dirty_pages * HEAP_PAGE_SIZE;
	st->meta_bytes = meta_bytes(h);
	st->fragmentation =
	        st->free_run_bytes ? 1.0 - (double)st->largest_free_run / (double)st->free_run_bytes
	                           : 0.0;
	uint64_t held = st->slab_bytes + st->large_bytes;
	st->utilization = held ? (double)st->live_bytes / (double)held : 1.0;
}

int heap_class_stats(const heap_t *h, unsigned cls, struct heap_class_stats *out)
{
	if (cls >= HEAP_CLASS_COUNT)
		return -EINVAL;
	const struct heap_class *c = &heap_classes()[cls];
	out->size = c->size;
	out->slab_bytes = c->pages * HEAP_PAGE_SIZE;
	out->slabs = h->bins[cls].slabs;
	out->slots = h->bins[cls].slabs * c->slots;
	out->used = h->bins[cls].used;
	return 0;
}

size_t heap_segments(const heap_t *h, uint32_t *ids, size_t cap)
{
	size_t n = 0;
	for (uint32_t i = 0; i < h->segs_cap && n < cap; i++)
		if (h->segs[i].pm)
			ids[n++] = h->seg_base + i;
	return n;
}

int heap_segment_info(const heap_t *h, uint32_t seg_id, struct heap_segment_info *out)
{
	uint32_t slot = heap_seg_slot(h, seg_id);
	if (slot == HEAP_NIL)
		return -ENOENT;
	const struct heap_seg *s = &h->segs[slot];
	out->size = (uint64_t)s->npages * HEAP_PAGE_SIZE;
	out->used_bytes = (uint64_t)s->used_pages * HEAP_PAGE_SIZE;
	out->live_blocks = s->live;
	return 0;
}

/* Describe the run starting at page of segment slot seg. */
static void run_describe(const struct heap *h, uint32_t seg, uint32_t page, struct heap_run *r)
{
	const struct heap_seg *s = &h->segs[seg];
	uint32_t e = s->pm[page];
	memset(r, 0, sizeof(*r));
	r->seg_id = h->seg_base + seg;
	r->off = (uint64_t)page * HEAP_PAGE_SIZE;
	r->len = (uint64_t)heap_run_pages(h, s, page) * HEAP_PAGE_SIZE;
	switch (PM_KIND(e)) {
	case PM_FREE:
		r->kind = h->runs[PM_VAL(e)].dirty ? HEAP_RUN_FREE_DIRTY : HEAP_RUN_FREE_CLEAN;
		break;
	case PM_LARGE:
		r->kind = HEAP_RUN_LARGE;
		r->slots = r->used = 1;
		break;
	default: {
		const struct heap_slab *sl = &h->slabs[PM_VAL(e)];
		const struct heap_class *c = &heap_classes()[sl->cls];
		r->kind = HEAP_RUN_SLAB;
		r->slot_size = c->size;
		r->slots = c->slots;
		r->used = sl->used;
	}
	}
}

int heap_walk(const heap_t *h, uint32_t seg_id, int (*fn)(void *ctx, const struct heap_run *run),
              void *ctx)
{
	uint32_t seg = heap_seg_slot(h, seg_id);
	if (seg == HEAP_NIL)
		return -ENOENT;
	const struct heap_seg *s = &h->segs[seg];
	for (uint32_t page = 0; page < s->npages;) {
		struct heap_run r;
		run_describe(h, seg, page, &r);
		if (r.len == 0 || fn(ctx, &r) != 0)
			break;
		page += (uint32_t)(r.len / HEAP_PAGE_SIZE);
	}
	return 0;
}

/* Visit the live slots of one slab; non-zero from fn stops. */
static int slab_blocks(const struct heap *h, uint32_t seg, uint32_t idx,
                       int (*fn)(void *ctx, uint64_t ref, uint64_t size), void *ctx)
{
	const struct heap_slab *sl = &h->slabs[idx];
	const struct heap_class *c = &heap_classes()[sl->cls];
	uint64_t base = (uint64_t)sl->page * HEAP_PAGE_SIZE;
	for (uint32_t i = 0; i < c->slots; i++) {
		if (h->words[sl->bm + i / 64] & (UINT64_C(1) << (i % 64)))
			continue;
		uint64_t ref = memd_ref_make(h->seg_base + seg, base + (uint64_t)i * c->size);
		if (fn(ctx, ref, c->size) != 0)
			return 1;
	}
	return 0;
}

void heap_walk_blocks(const heap_t *h, int (*fn)(void *ctx, uint64_t ref, uint64_t size), void *ctx)
{
	for (uint32_t seg = 0; seg < h->segs_cap; seg++) {
		const struct heap_seg *s = &h->segs[seg];
		for (uint32_t page = 0; s->pm && page < s->npages;) {
			uint32_t e = s->pm[page], n = heap_run_pages(h, s, page);
			int stop = 0;
			if (PM_KIND(e) == PM_SLAB)
				stop = slab_blocks(h, seg, PM_VAL(e), fn, ctx);
			else if (PM_KIND(e) == PM_LARGE)
				stop = fn(ctx,
				          memd_ref_make(h->seg_base + seg,
				                        (uint64_t)page * HEAP_PAGE_SIZE),
				          (uint64_t)n * HEAP_PAGE_SIZE);
			if (stop || n == 0)
				return;
			page += n;
		}
	}
}

/* ---- integrity walker ---------------------------------------------------- */

/* Totals rebuilt from scratch by check_segment and check_slab. */
struct tally {
	uint64_t live_blocks, live_bytes, slab_pages, large_pages;
	uint64_t free_pages, free_runs, dirty_pages, alloc_runs;
	uint64_t bin_slabs[HEAP_CLASS_COUNT], bin_used[HEAP_CLASS_COUNT];
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EFAULT;
}

static int check_slab(const struct heap *h, uint32_t seg, uint32_t page, uint32_t idx,
                      struct tally *t, char *err, size_t errlen)
{
	if (idx >= h->slab_len)
		return fail(err, errlen, "seg %u page %u: slab index %u out of range", seg, page,
		            idx);
	const struct heap_slab *sl = &h->slabs[idx];
	const struct heap_class *c = &heap_classes()[sl->cls];
	if (sl->seg != seg || sl->page != page)
		return fail(err, errlen, "slab %u: page map says seg %u page %u, slab says %u/%u",
		            idx, seg, page, sl->seg, sl->page);
	if (page + c->pages > h->segs[seg].npages)
		return fail(err, errlen, "slab %u overruns its segment", idx);
	for (uint32_t i = 0; i < c->pages; i++)
		if (h->segs[seg].pm[page + i] != h->segs[seg].pm[page])
			return fail(err, errlen, "slab %u: page %u not mapped to it", idx,
			            page + i);
	uint32_t freebits = 0;
	for (uint32_t w = 0; w < c->nwords; w++) {
		uint64_t word = h->words[sl->bm + w];
		if (w == c->nwords - 1 && c->slots % 64 && (word >> (c->slots % 64)) != 0)
			return fail(err, errlen, "slab %u: bits set past its last slot", idx);
		if (((sl->summary >> w) & 1) != (word != 0))
			return fail(err, errlen, "slab %u: summary bit %u wrong", idx, w);
		freebits += (uint32_t)__builtin_popcountll(word);
	}
	if (c->nwords < 64 && (sl->summary >> c->nwords) != 0)
		return fail(err, errlen, "slab %u: summary bits past its bitmap", idx);
	if (freebits + sl->used != c->slots)
		return fail(err, errlen, "slab %u: %u free bits + %u used != %u slots", idx,
		            freebits, sl->used, c->slots);
	t->bin_slabs[sl->cls]++;
	t->bin_used[sl->cls] += sl->used;
	t->live_blocks += sl->used;
	t->live_bytes += (uint64_t)sl->used * c->size;
	t->slab_pages += c->pages;
	t->alloc_runs++;
	return 0;
}

static int check_free_run(const struct heap *h, uint32_t seg, uint32_t page, uint32_t idx,
                          uint32_t prev_kind, struct tally *t, char *err, size_t errlen)
{
	if (idx >= h->run_len)
		return fail(err, errlen, "seg %u page %u: run node %u out of range", seg, page,
		            idx);
	const struct heap_run_node *r = &h->runs[idx];
	const uint32_t *pm = h->segs[seg].pm;
	if (r->seg != seg || r->page != page || r->npages == 0)
		return fail(err, errlen, "run node %u: says seg %u page %u, found at %u/%u", idx,
		            r->seg, r->page, seg, page);
	if (page + r->npages > h->segs[seg].npages ||
	    pm[page + r->npages - 1] != PM_MAKE(PM_FREE, idx))
		return fail(err, errlen, "free run at seg %u page %u: bad tail", seg, page);
	if (prev_kind == PM_FREE)
		return fail(err, errlen, "seg %u page %u: two free runs not coalesced", seg, page);
	uint32_t fl, sl, i;
	tlsf_mapping(r->npages, &fl, &sl);
	if (r->tier != tlsf_tier(h, r))
		return fail(err, errlen, "free run %u in the wrong tier", idx);
	for (i = h->lists[TLSF_VFL(r->tier, fl)][sl]; i != HEAP_NIL && i != idx;
	     i = h->runs[i].next)
		;
	if (i != idx)
		return fail(err, errlen, "free run %u not on its list (%u,%u,%u)", idx, r->tier, fl,
		            sl);
	t->free_pages += r->npages;
	t->free_runs++;
	if (r->dirty)
		t->dirty_pages += r->npages;
	return 0;
}

static int check_segment(const struct heap *h, uint32_t seg, struct tally *t, char *err,
                         size_t errlen)
{
	const struct heap_seg *s = &h->segs[seg];
	uint32_t prev_kind = PM_BODY, used = 0;
	uint64_t live = 0;
	for (uint32_t page = 0; page < s->npages;) {
		uint32_t e = s->pm[page], n = heap_run_pages(h, s, page);
		int rc = 0;
		switch (PM_KIND(e)) {
		case PM_FREE:
			rc = check_free_run(h, seg, page, PM_VAL(e), prev_kind, t, err, errlen);
			break;
		case PM_SLAB:
			rc = check_slab(h, seg, page, PM_VAL(e), t, err, errlen);
			used += n;
			live += h->slabs[PM_VAL(e)].used;
			break;
		case PM_LARGE:
			if (n == 0 || page + n > s->npages ||
			    (n > 1 && s->pm[page + n - 1] != PM_MAKE(PM_LARGE_TAIL, 0)))
				return fail(err, errlen, "large block at seg %u page %u: bad tags",
				            seg, page);
			t->large_pages += n;
			t->live_blocks++;
			t->live_bytes += (uint64_t)n * HEAP_PAGE_SIZE;
			t->alloc_runs++;
			used += n;
			live++;
			break;
		default:
			return fail(err, errlen, "seg %u page %u: no run starts here", seg, page);
		}
		if (rc < 0)
			return rc;
		prev_kind = PM_KIND(e);
		page += n;
	}
	if (used != s->used_pages || live != s->live)
		return fail(err, errlen,
		            "seg %u: counted %u used pages / %llu live, recorded %u / %llu", seg,
		            used, (unsigned long long)live, s->used_pages,
		            (unsigned long long)s->live);
	return 0;
}

/* Every list's bitmap bit matches its emptiness and every node on a list
 * belongs there; count the listed runs. */
static int check_lists(const struct heap *h, uint64_t *listed, char *err, size_t errlen)
{
	*listed = 0;
	if (h->fl_bitmap >> TLSF_VFL_COUNT)
		return fail(err, errlen, "first-level bits past the last list");
	for (uint32_t v = 0; v < TLSF_VFL_COUNT; v++) {
		uint32_t tier = v / TLSF_FL_COUNT, fl = v % TLSF_FL_COUNT;
		if (((h->fl_bitmap >> v) & 1) != (h->sl_bitmap[v] != 0))
			return fail(err, errlen, "first-level bit (%u,%u) wrong", tier, fl);
		for (uint32_t sl = 0; sl < TLSF_SL_COUNT; sl++) {
			uint32_t head = h->lists[v][sl];
			if (((h->sl_bitmap[v] >> sl) & 1) != (head != HEAP_NIL))
				return fail(err, errlen, "second-level bit (%u,%u,%u) wrong", tier,
				            fl, sl);
			uint32_t prev = HEAP_NIL;
			for (uint32_t i = head; i != HEAP_NIL; prev = i, i = h->runs[i].next) {
				uint32_t f, s;
				if (i >= h->run_len || h->runs[i].prev != prev)
					return fail(err, errlen, "list (%u,%u,%u) broken at %u",
					            tier, fl, sl, i);
				tlsf_mapping(h->runs[i].npages, &f, &s);
				if (f != fl || s != sl || h->runs[i].tier != tier)
					return fail(err, errlen, "run %u on wrong list", i);
				if (++*listed > h->run_len)
					return fail(err, errlen, "list (%u,%u,%u) has a cycle",
					            tier, fl, sl);
			}
		}
	}
	return 0;
}

/* Walk a bin's partial list: every slab there is live, of the bin's class,
 * and neither full nor empty.  Count them. */
static int check_bin(const struct heap *h, uint32_t cls, char *err, size_t errlen)
{
	const struct heap_bin *b = &h->bins[cls];
	const struct heap_class *c = &heap_classes()[cls];
	uint32_t prev = HEAP_NIL, n = 0;
	for (uint32_t i = b->partial; i != HEAP_NIL; prev = i, i = h->slabs[i].next) {
		const struct heap_slab *sl = &h->slabs[i];
		if (i >= h->slab_len || sl->prev != prev || sl->cls != cls ||
		    sl->page == UINT32_MAX || sl->used == 0 || sl->used >= c->slots)
			return fail(err, errlen, "class %u: partial list bad at slab %u", cls, i);
		if (++n > h->slab_len)
			return fail(err, errlen, "class %u: partial list has a cycle", cls);
	}
	return 0;
}

int heap_check(const heap_t *h, char *err, size_t errlen)
{
	struct tally t;
	memset(&t, 0, sizeof(t));
	int rc;
	for (uint32_t seg = 0; seg < h->segs_cap; seg++)
		if (h->segs[seg].pm && (rc = check_segment(h, seg, &t, err, errlen)) < 0)
			return rc;
	uint64_t listed;
	if ((rc = check_lists(h, &listed, err, errlen)) < 0)
		return rc;
	if (listed != t.free_runs)
		return fail(err, errlen, "%llu runs on lists, %llu in segments",
		            (unsigned long long)listed, (unsigned long long)t.free_runs);
	for (uint32_t cls = 0; cls < HEAP_CLASS_COUNT; cls++) {
		if ((rc = check_bin(h, cls, err, errlen)) < 0)
			return rc;
		if (t.bin_slabs[cls] != h->bins[cls].slabs || t.bin_used[cls] != h->bins[cls].used)
			return fail(err, errlen, "class %u: counters disagree with slabs", cls);
	}
	if (t.live_blocks != h->live_blocks || t.live_bytes != h->live_bytes ||
	    t.slab_pages != h->slab_pages || t.large_pages != h->large_pages ||
	    t.free_pages != h->free_pages || t.free_runs != h->free_runs ||
	    t.dirty_pages != h->dirty_pages || t.alloc_runs != h->alloc_runs)
		return fail(err, errlen, "heap totals disagree with a walk of the segments");
	if (h->slab_pages + h->large_pages + h->free_pages != h->seg_pages)
		return fail(err, errlen, "pages do not add up to the segments' size");
	if (errlen > 0)
		err[0] = '\0';
	return 0;
}
