/*
 * heap_runs.c - the heap core's free page runs: the metadata arrays they
 * live in, the two-tier TLSF lists that find a run in O(1), taking pages
 * from a run and giving them back with coalescing, and the walk over dirty
 * runs that the pool punches.
 *
 * heap.c's header comment has the design (warm and cold tiers, why a
 * search exhausts the warm tier first, the node budget of heap_ensure_nodes);
 * this file is its page-run half, so heap.c keeps slabs, large blocks and
 * the public entry points.  The functions heap.c calls are declared in
 * heap_int.h.
 */
#include "heap_int.h"

#include "debug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- metadata arrays ---------------------------------------------------- */

void *heap_meta_realloc(struct heap *h, void *p, size_t size)
{
	if (h->realloc)
		return h->realloc(h->realloc_ctx, p, size);
	if (size == 0) {
		free(p);
		return NULL;
	}
	return realloc(p, size);
}

/* Make the array *arr of capacity *cap hold at least need elements of size
 * esz, doubling (at least 64 elements); the first keep elements survive.
 * Only they are copied: realloc would copy, and so make resident, the whole
 * old capacity.  0 or -ENOMEM. */
int heap_grow_array(struct heap *h, void **arr, uint32_t *cap, uint64_t need, uint32_t keep,
                    size_t esz)
{
	if (need <= *cap)
		return 0;
	uint64_t ncap = *cap ? (uint64_t)*cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > HEAP_INDEX_MAX)
		ncap = HEAP_INDEX_MAX;
	if (need > ncap)
		return -ENOMEM;
	void *p;
	if (keep == *cap) {
		p = heap_meta_realloc(h, *arr, (size_t)ncap * esz);
	} else {
		p = heap_meta_realloc(h, NULL, (size_t)ncap * esz);
		if (p != NULL && *arr != NULL) {
			memcpy(p, *arr, (size_t)keep * esz);
			heap_meta_realloc(h, *arr, 0);
		}
	}
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = (uint32_t)ncap;
	return 0;
}

/* ---- TLSF free run lists ------------------------------------------------ */

void heap_list_insert(struct heap *h, uint32_t idx)
{
	struct heap_run_node *r = &h->runs[idx];
	uint32_t fl, sl;
	tlsf_mapping(r->npages, &fl, &sl);
	r->tier = (uint16_t)tlsf_tier(h, r);
	fl = TLSF_VFL(r->tier, fl);
	uint32_t head = h->lists[fl][sl];
	r->prev = HEAP_NIL;
	r->next = head;
	if (head != HEAP_NIL)
		h->runs[head].prev = idx;
	h->lists[fl][sl] = idx;
	h->fl_bitmap |= UINT64_C(1) << fl;
	h->sl_bitmap[fl] |= (uint8_t)(1u << sl);
}

void heap_list_remove(struct heap *h, uint32_t idx)
{
	struct heap_run_node *r = &h->runs[idx];
	if (r->prev != HEAP_NIL) {
		h->runs[r->prev].next = r->next;
	} else {
		uint32_t fl, sl;
		tlsf_mapping(r->npages, &fl, &sl);
		fl = TLSF_VFL(r->tier, fl);
		h->lists[fl][sl] = r->next;
		if (r->next == HEAP_NIL) {
			h->sl_bitmap[fl] &= (uint8_t) ~(1u << sl);
			if (h->sl_bitmap[fl] == 0)
				h->fl_bitmap &= ~(UINT64_C(1) << fl);
		}
	}
	if (r->next != HEAP_NIL)
		h->runs[r->next].prev = r->prev;
}

/* Head of the first list of tier t whose every run has at least n pages
 * (already rounded up by list_find), or NIL. */
static uint32_t tier_find(const struct heap *h, uint32_t t, uint32_t fl, uint32_t sl)
{
	uint32_t v = TLSF_VFL(t, fl);
	uint32_t sl_map = (uint32_t)h->sl_bitmap[v] & (~0u << sl);
	if (sl_map == 0) {
		/* Lists of tier t above v: bits (v, TLSF_VFL(t + 1, 0)). */
		uint64_t above = (UINT64_C(1) << TLSF_VFL(t + 1, 0)) - (UINT64_C(1) << (v + 1));
		uint64_t fl_map = h->fl_bitmap & above;
		if (fl_map == 0)
			return HEAP_NIL;
		v = (uint32_t)__builtin_ctzll(fl_map);
		sl_map = h->sl_bitmap[v];
	}
	return h->lists[v][__builtin_ctz(sl_map)];
}

/* A free run of at least n pages, or NIL: in the warm tier if it has one,
 * else in the cold tier.  Within a tier, the head of n's own list if it is
 * large enough (a hole a little larger than n, or a fresh segment of
 * exactly n pages, which the list as a whole does not guarantee), else the
 * head of the first list whose every run fits. */
uint32_t heap_list_find(const struct heap *h, uint32_t n)
{
	uint32_t fl, sl, rfl = TLSF_FL_COUNT, rsl = 0;
	tlsf_mapping(n, &fl, &sl);
	uint64_t up = n;
	if (n >= TLSF_SL_COUNT) {
		uint32_t k = 31u - (uint32_t)__builtin_clz(n);
		up += (UINT32_C(1) << (k - TLSF_SL_BITS)) - 1;
	}
	if (up <= HEAP_SEG_PAGES_MAX)
		tlsf_mapping((uint32_t)up, &rfl, &rsl);
	for (uint32_t t = 0; t < TLSF_TIERS; t++) {
		uint32_t idx = h->lists[TLSF_VFL(t, fl)][sl];
		if (idx != HEAP_NIL && h->runs[idx].npages >= n)
			return idx;
		if (rfl < TLSF_FL_COUNT && (idx = tier_find(h, t, rfl, rsl)) != HEAP_NIL)
			return idx;
	}
	return HEAP_NIL;
}

/* An unused run node: recycled, or the next of the array's capacity
 * (heap_ensure_nodes() keeps one available).  0 or -ENOMEM. */
static int node_new(struct heap *h, uint32_t *out)
{
	if (h->run_free != HEAP_NIL) {
		*out = h->run_free;
		h->run_free = h->runs[*out].next;
		return 0;
	}
	if (h->run_len == h->run_cap)
		return -ENOMEM;
	*out = h->run_len++;
	return 0;
}

void heap_node_release(struct heap *h, uint32_t idx)
{
	h->runs[idx].npages = 0;
	h->runs[idx].next = h->run_free;
	h->run_free = idx;
}

/* Publish node idx as the free run it describes: page map ends, list. */
static void run_publish(struct heap *h, uint32_t idx)
{
	struct heap_run_node *r = &h->runs[idx];
	uint32_t *pm = h->segs[r->seg].pm;
	pm[r->page] = PM_MAKE(PM_FREE, idx);
	pm[r->page + r->npages - 1] = PM_MAKE(PM_FREE, idx);
	heap_list_insert(h, idx);
}

/* ---- page runs ---------------------------------------------------------- */

/* Take n pages from free run node idx (which fits them): the front goes to
 * the caller, the rest stays free.  Returns the first page taken. */
uint32_t heap_run_take(struct heap *h, uint32_t idx, uint32_t n, uint32_t *seg)
{
	struct heap_run_node *r = &h->runs[idx];
	uint32_t page = r->page;
	*seg = r->seg;
	heap_list_remove(h, idx);
	h->free_pages -= n;
	if (r->dirty)
		h->dirty_pages -= n;
	h->segs[r->seg].used_pages += n;
	if (r->npages == n) {
		h->free_runs--;
		heap_node_release(h, idx);
	} else {
		r->page += n;
		r->npages -= n;
		run_publish(h, idx);
	}
	return page;
}

/* Return pages [page, page + n) of segment slot seg to the free runs,
 * merging with free neighbours.  Never allocates: see heap_ensure_nodes(). */
void heap_run_give(struct heap *h, uint32_t seg, uint32_t page, uint32_t n)
{
	struct heap_seg *s = &h->segs[seg];
	uint32_t *pm = s->pm;
	uint32_t start = page, len = n, idx = HEAP_NIL;

	s->used_pages -= n;
	h->free_pages += n;
	h->dirty_pages += n;
	pm[page] = PM_MAKE(PM_BODY, 0);
	pm[page + n - 1] = PM_MAKE(PM_BODY, 0);
	if (page > 0 && PM_KIND(pm[page - 1]) == PM_FREE) {
		idx = PM_VAL(pm[page - 1]);
		struct heap_run_node *a = &h->runs[idx];
		heap_list_remove(h, idx);
		if (!a->dirty)
			h->dirty_pages += a->npages;
		pm[page - 1] = PM_MAKE(PM_BODY, 0);
		start = a->page;
		len += a->npages;
		h->free_runs--;
	}
	if (page + n < s->npages && PM_KIND(pm[page + n]) == PM_FREE) {
		uint32_t bidx = PM_VAL(pm[page + n]);
		struct heap_run_node *b = &h->runs[bidx];
		heap_list_remove(h, bidx);
		if (!b->dirty)
			h->dirty_pages += b->npages;
		pm[page + n] = PM_MAKE(PM_BODY, 0);
		len += b->npages;
		h->free_runs--;
		if (idx == HEAP_NIL)
			idx = bidx;
		else
			heap_node_release(h, bidx);
	}
	if (idx == HEAP_NIL) {
		int rc = node_new(h, &idx);
		memd_assert(rc == 0); /* heap_ensure_nodes() made room */
		(void)rc;
	}
	struct heap_run_node *r = &h->runs[idx];
	r->seg = seg;
	r->page = start;
	r->npages = len;
	r->dirty = 1;
	h->free_runs++;
	run_publish(h, idx);
}

/* Free runs and allocated runs alternate inside a segment, so there are
 * never more free runs than allocated runs (slabs and large blocks) plus
 * segments.  Every operation that adds an allocated run or a segment first
 * makes the node array that large (plus one for run_give's transient), so
 * that freeing, which may create a run but never an allocated one, can
 * never fail for want of metadata.  0 or -ENOMEM. */
int heap_ensure_nodes(struct heap *h, uint32_t more_runs)
{
	uint64_t need = h->alloc_runs + more_runs + h->nsegs + 2;
	if (need > HEAP_INDEX_MAX)
		return -ENOMEM;
	return heap_grow_array(h, (void **)&h->runs, &h->run_cap, need, h->run_len,
	                       sizeof(*h->runs));
}

/* Allocate a run of n pages.  0 with *seg and *page set, or -ENOMEM. */
int heap_pages_alloc(struct heap *h, uint32_t n, uint32_t *seg, uint32_t *page)
{
	uint32_t idx = heap_list_find(h, n);
	if (idx == HEAP_NIL)
		return -ENOMEM;
	*page = heap_run_take(h, idx, n, seg);
	return 0;
}

/* ---- dirty runs ---------------------------------------------------------- */

uint64_t heap_dirty_runs(heap_t *h, uint64_t min_bytes, heap_run_fn fn, void *ctx)
{
	uint64_t cleaned = 0;
	for (uint32_t i = 0; i < h->run_len; i++) {
		struct heap_run_node *r = &h->runs[i];
		uint64_t len = (uint64_t)r->npages * HEAP_PAGE_SIZE;
		if (r->npages == 0 || !r->dirty || len < min_bytes)
			continue;
		if (fn(ctx, h->seg_base + r->seg, (uint64_t)r->page * HEAP_PAGE_SIZE, len) != 0)
			continue;
		heap_list_remove(h, i);
		r->dirty = 0;
		heap_list_insert(h, i); /* now cold */
		h->dirty_pages -= r->npages;
		cleaned += len;
	}
	return cleaned;
}
