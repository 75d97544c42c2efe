/*
 * heap.c - the allocator core: slabs for small blocks, a two-level
 * segregated fit over page runs for large ones, all metadata out of band.
 *
 * Pages.  Each segment is an array of HEAP_PAGE_SIZE pages, and every page
 * belongs to exactly one run: a free run, a large block, or a slab.  The
 * private page map (one uint32 per page) describes runs by their boundary
 * pages: a free run has PM_FREE(node) at its first and last page; a large
 * block has PM_LARGE(npages) at its first page and PM_LARGE_TAIL at its
 * last; a slab has PM_SLAB(index) on every page (so a free of any slot
 * finds its slab).  Interior entries of free runs and large blocks may be
 * stale, and nothing trusts them: freeing looks only at the page of the
 * reference, and refuses anything but PM_LARGE at a page boundary or
 * PM_SLAB naming a live slab that really covers the page.  Coalescing looks
 * only at the pages just before and after a run, which are always boundary
 * pages of the neighbouring runs, so it is O(1).
 *
 * Free runs.  Every free run has a node (struct heap_run_node) on one of the
 * TLSF lists, chosen by its page count: the first level is the power of
 * two, the second splits it in 8.  A search looks at the head of the
 * request's own list (it may fit), then rounds the request up to the next
 * list boundary so that the head of any non-empty list at or above it fits;
 * two bitmaps make that O(1).  Allocation takes the front of the run and
 * returns the rest to its list.
 *
 * Warm and cold runs.  A page that was handed out once stays resident (in
 * the clients' memory and the pool's footprint) until the pool punches it
 * out, so the lists come in two tiers, each a full TLSF: warm runs (dirty,
 * and not ending their segment) and cold ones (returned to the OS, or the
 * run that ends a segment, where the never-used pages are).  A search
 * exhausts the warm tier before it looks at the cold one, so freed memory
 * is reused before fresh memory is touched; within a segment allocations
 * gather at the front, leaving the tail free to punch or release.
 *
 * Slabs.  A block of at most HEAP_SMALL_MAX bytes takes a slot in a slab of
 * its size class (16-byte steps to 256 bytes, then 8 classes per doubling,
 * so rounding wastes at most 12.5%).  A slab is one or two pages for small
 * classes (at least 8 slots, or SLAB_MIN_BYTES for large slots: see
 * slab_pages_for).  It keeps one bit per slot (set = free) in the shared
 * word array, and a summary word whose bit w says bitmap word w has a free
 * slot, so finding a slot is two ctz.  Each class keeps a list of partial
 * slabs and the dead slab structs it may recycle with their bitmap storage.
 * A slab that becomes empty goes back to the page runs at once (as a warm
 * run, so any class or large block reuses its pages first).
 *
 * Ownership.  The heap owns every array it points to; they are obtained and
 * released through the realloc hook and grow by doubling, so no operation
 * but growth allocates (and growth copies only the used prefix, so a
 * reserve that was never used never becomes resident).  The managed memory
 * is never touched.
 */
#include "heap_int.h"

#include "debug.h"
#include "ref.h"
#include "sizeclass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The size classes: 16-byte steps to 256 bytes, then 8 classes per
 * doubling up to HEAP_SMALL_MAX, so rounding wastes at most 12.5%.  Each
 * slab holds at least 8 slots, or at least SLAB_MIN_BYTES when 8 slots would
 * be more (a used slot stays resident after it is freed, and one survivor
 * keeps a whole slab, so large slots come in small slabs); from that minimum
 * up to twice it, the page count that wastes the smallest fraction on the
 * tail.  magic = ceil(2^40 / size) turns a division by the size into a
 * multiplication.  The table is a constant so that it is no state at all;
 * tests/unit/test_heap.c recomputes every row from the rule above.
 * Columns: size, pages, slots, bitmap words, magic. */
static const struct heap_class class_table[HEAP_CLASS_COUNT] = {
        {16, 1, 256, 4, UINT64_C(68719476736)}, {32, 1, 128, 2, UINT64_C(34359738368)},
        {48, 1, 85, 2, UINT64_C(22906492246)},  {64, 1, 64, 1, UINT64_C(17179869184)},
        {80, 1, 51, 1, UINT64_C(13743895348)},  {96, 2, 85, 2, UINT64_C(11453246123)},
        {112, 2, 73, 2, UINT64_C(9817068106)},  {128, 1, 32, 1, UINT64_C(8589934592)},
        {144, 1, 28, 1, UINT64_C(7635497416)},  {160, 2, 51, 1, UINT64_C(6871947674)},
        {176, 1, 23, 1, UINT64_C(6247225158)},  {192, 1, 21, 1, UINT64_C(5726623062)},
        {208, 2, 39, 1, UINT64_C(5286113596)},  {224, 1, 18, 1, UINT64_C(4908534053)},
        {240, 1, 17, 1, UINT64_C(4581298450)},  {256, 1, 16, 1, UINT64_C(4294967296)},
        {288, 1, 14, 1, UINT64_C(3817748708)},  {320, 2, 25, 1, UINT64_C(3435973837)},
        {352, 2, 23, 1, UINT64_C(3123612579)},  {384, 2, 21, 1, UINT64_C(2863311531)},
        {416, 2, 19, 1, UINT64_C(2643056798)},  {448, 1, 9, 1, UINT64_C(2454267027)},
        {480, 2, 17, 1, UINT64_C(2290649225)},  {512, 1, 8, 1, UINT64_C(2147483648)},
        {576, 2, 14, 1, UINT64_C(1908874354)},  {640, 3, 19, 1, UINT64_C(1717986919)},
        {704, 4, 23, 1, UINT64_C(1561806290)},  {768, 3, 16, 1, UINT64_C(1431655766)},
        {832, 4, 19, 1, UINT64_C(1321528399)},  {896, 2, 9, 1, UINT64_C(1227133514)},
        {960, 4, 17, 1, UINT64_C(1145324613)},  {1024, 2, 8, 1, UINT64_C(1073741824)},
        {1152, 4, 14, 1, UINT64_C(954437177)},  {1280, 5, 16, 1, UINT64_C(858993460)},
        {1408, 6, 17, 1, UINT64_C(780903145)},  {1536, 3, 8, 1, UINT64_C(715827883)},
        {1664, 5, 12, 1, UINT64_C(660764200)},  {1792, 4, 9, 1, UINT64_C(613566757)},
        {1920, 3, 6, 1, UINT64_C(572662307)},   {2048, 2, 4, 1, UINT64_C(536870912)},
        {2304, 4, 7, 1, UINT64_C(477218589)},   {2560, 5, 8, 1, UINT64_C(429496730)},
        {2816, 5, 7, 1, UINT64_C(390451573)},   {3072, 3, 4, 1, UINT64_C(357913942)},
        {3328, 5, 6, 1, UINT64_C(330382100)},   {3584, 3, 3, 1, UINT64_C(306783379)},
        {3840, 3, 3, 1, UINT64_C(286331154)},   {4096, 2, 2, 1, UINT64_C(268435456)},
        {4608, 6, 5, 1, UINT64_C(238609295)},   {5120, 5, 4, 1, UINT64_C(214748365)},
        {5632, 3, 2, 1, UINT64_C(195225787)},   {6144, 3, 2, 1, UINT64_C(178956971)},
        {6656, 5, 3, 1, UINT64_C(165191050)},   {7168, 7, 4, 1, UINT64_C(153391690)},
        {7680, 4, 2, 1, UINT64_C(143165577)},   {8192, 2, 1, 1, UINT64_C(134217728)},
        {9216, 5, 2, 1, UINT64_C(119304648)},   {10240, 5, 2, 1, UINT64_C(107374183)},
        {11264, 3, 1, 1, UINT64_C(97612894)},   {12288, 3, 1, 1, UINT64_C(89478486)},
        {13312, 7, 2, 1, UINT64_C(82595525)},   {14336, 7, 2, 1, UINT64_C(76695845)},
        {15360, 4, 1, 1, UINT64_C(71582789)},   {16384, 4, 1, 1, UINT64_C(67108864)},
        {18432, 9, 2, 1, UINT64_C(59652324)},   {20480, 5, 1, 1, UINT64_C(53687092)},
        {22528, 11, 2, 1, UINT64_C(48806447)},  {24576, 6, 1, 1, UINT64_C(44739243)},
        {26624, 13, 2, 1, UINT64_C(41297763)},  {28672, 7, 1, 1, UINT64_C(38347923)},
        {30720, 15, 2, 1, UINT64_C(35791395)},  {32768, 8, 1, 1, UINT64_C(33554432)},
};

const struct heap_class *heap_classes(void)
{
	return class_table;
}

/* Size class of a small request (1..HEAP_SMALL_MAX bytes): the rule
 * common/sizeclass.h shares with the client cache. */
static inline uint32_t size_class(uint64_t size)
{
	return memd_size_class(size);
}

_Static_assert(HEAP_CLASS_COUNT == MEMD_CLASS_COUNT, "heap and client agree on the classes");
_Static_assert(HEAP_SMALL_MAX == MEMD_SMALL_MAX, "heap and client agree on the small limit");

unsigned heap_class_count(void)
{
	return HEAP_CLASS_COUNT;
}

/* ---- slabs -------------------------------------------------------------- */

static void partial_push(struct heap *h, struct heap_bin *b, uint32_t idx)
{
	struct heap_slab *sl = &h->slabs[idx];
	sl->prev = HEAP_NIL;
	sl->next = b->partial;
	if (b->partial != HEAP_NIL)
		h->slabs[b->partial].prev = idx;
	b->partial = idx;
}

static void partial_remove(struct heap *h, struct heap_bin *b, uint32_t idx)
{
	struct heap_slab *sl = &h->slabs[idx];
	if (sl->prev != HEAP_NIL)
		h->slabs[sl->prev].next = sl->next;
	else
		b->partial = sl->next;
	if (sl->next != HEAP_NIL)
		h->slabs[sl->next].prev = sl->prev;
}

/* A slab struct for class cls, recycled or new (with its bitmap words). */
static int slab_struct_get(struct heap *h, uint32_t cls, uint32_t *out)
{
	struct heap_bin *b = &h->bins[cls];
	if (b->dead != HEAP_NIL) {
		*out = b->dead;
		b->dead = h->slabs[*out].next;
		return 0;
	}
	uint32_t nwords = heap_classes()[cls].nwords;
	int rc = heap_grow_array(h, (void **)&h->words, &h->word_cap,
	                         (uint64_t)h->word_len + nwords, h->word_len, sizeof(*h->words));
	if (rc < 0)
		return rc;
	rc = heap_grow_array(h, (void **)&h->slabs, &h->slab_cap, (uint64_t)h->slab_len + 1,
	                     h->slab_len, sizeof(*h->slabs));
	if (rc < 0)
		return rc;
	*out = h->slab_len++;
	h->slabs[*out].bm = h->word_len;
	h->slabs[*out].cls = (uint16_t)cls;
	h->word_len += nwords;
	return 0;
}

/* Create a slab of class cls and make it the head of the partial list.
 * Not inlined, nor is slab_release(): on the slot paths they are rare, and
 * inlined they cost small_alloc() and heap_free() registers on every call. */
__attribute__((noinline)) static int slab_new(struct heap *h, uint32_t cls)
{
	const struct heap_class *c = &heap_classes()[cls];
	uint32_t idx, seg, page;
	int rc = heap_ensure_nodes(h, 1);
	if (rc < 0)
		return rc;
	rc = slab_struct_get(h, cls, &idx);
	if (rc < 0)
		return rc;
	rc = heap_pages_alloc(h, c->pages, &seg, &page);
	if (rc < 0) {
		h->slabs[idx].next = h->bins[cls].dead;
		h->bins[cls].dead = idx;
		return rc;
	}
	struct heap_slab *sl = &h->slabs[idx];
	sl->seg = seg;
	sl->page = page;
	sl->used = 0;
	uint64_t *w = &h->words[sl->bm];
	for (uint32_t i = 0; i < c->nwords; i++)
		w[i] = ~UINT64_C(0);
	if (c->slots % 64)
		w[c->nwords - 1] = (UINT64_C(1) << (c->slots % 64)) - 1;
	sl->summary = c->nwords == 64 ? ~UINT64_C(0) : (UINT64_C(1) << c->nwords) - 1;
	uint32_t *pm = h->segs[seg].pm;
	for (uint32_t i = 0; i < c->pages; i++)
		pm[page + i] = PM_MAKE(PM_SLAB, idx);
	h->slab_pages += c->pages;
	h->alloc_runs++;
	h->bins[cls].slabs++;
	partial_push(h, &h->bins[cls], idx);
	return 0;
}

/* Give an empty slab's pages back and recycle its struct. */
__attribute__((noinline)) static void slab_release(struct heap *h, uint32_t idx)
{
	struct heap_slab *sl = &h->slabs[idx];
	const struct heap_class *c = &heap_classes()[sl->cls];
	struct heap_bin *b = &h->bins[sl->cls];
	memd_assert(sl->used == 0);
	heap_run_give(h, sl->seg, sl->page, c->pages);
	h->slab_pages -= c->pages;
	h->alloc_runs--;
	b->slabs--;
	sl->page = UINT32_MAX;
	sl->next = b->dead;
	b->dead = idx;
}

/* The first partial slab of class cls, made if there is none.  0 with
 * *idx set, or slab_new's error. */
static inline int slab_partial(struct heap *h, uint32_t cls, uint32_t *idx)
{
	*idx = h->bins[cls].partial;
	if (memd_likely(*idx != HEAP_NIL))
		return 0;
	int rc = slab_new(h, cls);
	*idx = h->bins[cls].partial;
	return rc;
}

/* Take the lowest free slot of slab sl (it has one); its reference. */
static inline uint64_t slab_take(struct heap *h, struct heap_slab *sl, const struct heap_class *c)
{
	uint32_t w = (uint32_t)__builtin_ctzll(sl->summary);
	uint64_t *word = &h->words[sl->bm + w];
	uint32_t bit = (uint32_t)__builtin_ctzll(*word);
	*word &= *word - 1;
	if (*word == 0)
		sl->summary &= ~(UINT64_C(1) << w);
	uint64_t off = (uint64_t)sl->page * HEAP_PAGE_SIZE + (uint64_t)(w * 64 + bit) * c->size;
	return memd_ref_make(h->seg_base + sl->seg, off);
}

/* Account for n slots just taken from slab idx of class cls. */
static inline void slab_taken(struct heap *h, uint32_t cls, uint32_t idx, uint32_t n)
{
	struct heap_slab *sl = &h->slabs[idx];
	struct heap_bin *b = &h->bins[cls];
	const struct heap_class *c = &class_table[cls];
	sl->used = (uint16_t)(sl->used + n);
	if (sl->used == c->slots)
		partial_remove(h, b, idx);
	b->used += n;
	h->segs[sl->seg].live += n;
	h->live_blocks += n;
	h->live_bytes += (uint64_t)n * c->size;
}

static int small_alloc(struct heap *h, uint32_t cls, uint64_t *ref)
{
	uint32_t idx;
	int rc = slab_partial(h, cls, &idx);
	if (memd_unlikely(rc < 0))
		return rc;
	*ref = slab_take(h, &h->slabs[idx], &class_table[cls]);
	slab_taken(h, cls, idx, 1);
	return 0;
}

/* Take count slots of class cls into refs[0..count), each the one
 * small_alloc() would take next, but with the counters updated once per
 * slab.  0, or slab_new's error with *got slots taken. */
static int small_alloc_batch(struct heap *h, uint32_t cls, uint32_t count, uint64_t *refs,
                             uint32_t *got)
{
	const struct heap_class *c = &class_table[cls];
	uint32_t n = 0, idx;
	int rc = 0;
	while (n < count && (rc = slab_partial(h, cls, &idx)) == 0) {
		struct heap_slab *sl = &h->slabs[idx];
		uint32_t take = c->slots - sl->used;
		if (take > count - n)
			take = count - n;
		for (uint32_t k = 0; k < take; k++)
			refs[n++] = slab_take(h, sl, c);
		slab_taken(h, cls, idx, take);
	}
	*got = n;
	return rc;
}

/* Slab slot of (seg, off) if it is the start of a live slot, else NIL.
 * Always inlined: it is most of the work of every free. */
__attribute__((always_inline)) static inline uint32_t slab_slot(const struct heap *h, uint32_t seg,
                                                                uint64_t off, uint32_t idx)
{
	if (idx >= h->slab_len)
		return HEAP_NIL;
	const struct heap_slab *sl = &h->slabs[idx];
	const struct heap_class *c = &class_table[sl->cls];
	uint64_t page = off >> HEAP_PAGE_SHIFT;
	if (sl->page == UINT32_MAX || sl->seg != seg || page < sl->page ||
	    page >= (uint64_t)sl->page + c->pages)
		return HEAP_NIL;
	uint64_t rel = off - (uint64_t)sl->page * HEAP_PAGE_SIZE;
	uint32_t slot = (uint32_t)((rel * c->magic) >> 40);
	if ((uint64_t)slot * c->size != rel || slot >= c->slots)
		return HEAP_NIL;
	if (h->words[sl->bm + slot / 64] & (UINT64_C(1) << (slot % 64)))
		return HEAP_NIL; /* already free */
	return slot;
}

/* Free slot (seg, off) of slab idx; *size gets its class size. */
static int small_free(struct heap *h, uint32_t seg, uint64_t off, uint32_t idx, uint64_t *size)
{
	uint32_t slot = slab_slot(h, seg, off, idx);
	if (slot == HEAP_NIL)
		return -EINVAL;
	struct heap_slab *sl = &h->slabs[idx];
	struct heap_bin *b = &h->bins[sl->cls];
	const struct heap_class *c = &class_table[sl->cls];
	*size = c->size;
	h->words[sl->bm + slot / 64] |= UINT64_C(1) << (slot % 64);
	sl->summary |= UINT64_C(1) << (slot / 64);
	if (sl->used-- == c->slots)
		partial_push(h, b, idx);
	b->used--;
	h->segs[seg].live--;
	h->live_blocks--;
	h->live_bytes -= c->size;
	if (sl->used == 0) {
		partial_remove(h, b, idx);
		slab_release(h, idx);
	}
	return 0;
}

/* ---- large blocks ------------------------------------------------------- */

static uint64_t pages_of(uint64_t size)
{
	return (size >> HEAP_PAGE_SHIFT) + ((size & (HEAP_PAGE_SIZE - 1)) != 0);
}

/* Mark [page, page + n) of seg as a large block and account for it. */
static uint64_t large_publish(struct heap *h, uint32_t seg, uint32_t page, uint32_t n)
{
	uint32_t *pm = h->segs[seg].pm;
	pm[page] = PM_MAKE(PM_LARGE, n);
	if (n > 1)
		pm[page + n - 1] = PM_MAKE(PM_LARGE_TAIL, 0);
	h->large_pages += n;
	h->alloc_runs++;
	h->segs[seg].live++;
	h->live_blocks++;
	h->live_bytes += (uint64_t)n * HEAP_PAGE_SIZE;
	return memd_ref_make(h->seg_base + seg, (uint64_t)page * HEAP_PAGE_SIZE);
}

/* Allocate n pages whose first page index is a multiple of align_pages
 * (a power of two); the slack before and after goes back to free runs. */
static int large_alloc(struct heap *h, uint64_t npages, uint64_t align_pages, uint64_t *ref)
{
	uint64_t want = npages + align_pages - 1;
	if (want > HEAP_SEG_PAGES_MAX)
		return -ENOMEM;
	/* The block plus up to two slack runs. */
	int rc = heap_ensure_nodes(h, 3);
	if (rc < 0)
		return rc;
	uint32_t seg, page;
	rc = heap_pages_alloc(h, (uint32_t)want, &seg, &page);
	if (rc < 0)
		return rc;
	uint32_t lead = (uint32_t)((align_pages - page % align_pages) % align_pages);
	uint32_t trail = (uint32_t)(want - npages - lead);
	/* Publish first: the slack runs must see the block as their neighbour,
	 * not the stale entries heap_run_take() left behind. */
	*ref = large_publish(h, seg, page + lead, (uint32_t)npages);
	if (lead)
		heap_run_give(h, seg, page, lead);
	if (trail)
		heap_run_give(h, seg, page + lead + (uint32_t)npages, trail);
	return 0;
}

/* Free the large block of n pages at page of seg; *size gets its size. */
static int large_free(struct heap *h, uint32_t seg, uint32_t page, uint32_t n, uint64_t *size)
{
	*size = (uint64_t)n * HEAP_PAGE_SIZE;
	h->large_pages -= n;
	h->alloc_runs--;
	h->segs[seg].live--;
	h->live_blocks--;
	h->live_bytes -= (uint64_t)n * HEAP_PAGE_SIZE;
	heap_run_give(h, seg, page, n);
	return 0;
}

/* ---- public entry points ----------------------------------------------- */

int heap_create(const struct heap_options *opt, heap_t **out)
{
	if (opt == NULL || out == NULL || opt->seg_id_base == 0 || opt->seg_id_count == 0 ||
	    (uint64_t)opt->seg_id_base + opt->seg_id_count - 1 > MEMD_SEG_ID_MAX)
		return -EINVAL;
	struct heap tmp = {.realloc = opt->realloc, .realloc_ctx = opt->realloc_ctx};
	struct heap *h = heap_meta_realloc(&tmp, NULL, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	memset(h, 0, sizeof(*h));
	h->realloc = opt->realloc;
	h->realloc_ctx = opt->realloc_ctx;
	h->seg_base = opt->seg_id_base;
	h->seg_count = opt->seg_id_count;
	h->run_free = HEAP_NIL;
	for (uint32_t f = 0; f < TLSF_VFL_COUNT; f++)
		for (uint32_t s = 0; s < TLSF_SL_COUNT; s++)
			h->lists[f][s] = HEAP_NIL;
	for (uint32_t i = 0; i < HEAP_CLASS_COUNT; i++) {
		h->bins[i].partial = HEAP_NIL;
		h->bins[i].dead = HEAP_NIL;
	}
	*out = h;
	return 0;
}

void heap_destroy(heap_t *h)
{
	if (h == NULL)
		return;
	if (h->segs) {
		for (uint32_t i = 0; i < h->segs_cap; i++)
			if (h->segs[i].pm)
				heap_meta_realloc(h, h->segs[i].pm, 0);
		heap_meta_realloc(h, h->segs, 0);
	}
	heap_meta_realloc(h, h->slabs, 0);
	heap_meta_realloc(h, h->words, 0);
	heap_meta_realloc(h, h->runs, 0);
	heap_meta_realloc(h, h, 0);
}

int heap_add_segment(heap_t *h, uint32_t seg_id, uint64_t size)
{
	uint32_t slot = seg_id - h->seg_base;
	if (seg_id < h->seg_base || slot >= h->seg_count || size == 0 ||
	    size % HEAP_PAGE_SIZE != 0 || size / HEAP_PAGE_SIZE > HEAP_SEG_PAGES_MAX)
		return -EINVAL;
	if (slot >= h->segs_cap) {
		uint32_t old = h->segs_cap;
		int rc = heap_grow_array(h, (void **)&h->segs, &h->segs_cap, (uint64_t)slot + 1,
		                         old, sizeof(*h->segs));
		if (rc < 0)
			return rc;
		memset(h->segs + old, 0, (size_t)(h->segs_cap - old) * sizeof(*h->segs));
	}
	struct heap_seg *s = &h->segs[slot];
	if (s->pm != NULL)
		return -EEXIST;
	uint32_t npages = (uint32_t)(size / HEAP_PAGE_SIZE);
	int rc = heap_ensure_nodes(h, 1);
	if (rc < 0)
		return rc;
	s->pm = heap_meta_realloc(h, NULL, (size_t)npages * sizeof(uint32_t));
	if (s->pm == NULL)
		return -ENOMEM;
	memset(s->pm, 0, (size_t)npages * sizeof(uint32_t));
	s->npages = npages;
	s->used_pages = npages; /* heap_run_give subtracts them again */
	s->live = 0;
	h->nsegs++;
	h->seg_pages += npages;
	h->pm_bytes += (uint64_t)npages * sizeof(uint32_t);
	heap_run_give(h, slot, 0, npages);
	h->dirty_pages -= npages; /* a new segment holds no resident pages */
	uint32_t idx = PM_VAL(s->pm[0]);
	heap_list_remove(h, idx);
	h->runs[idx].dirty = 0;
	heap_list_insert(h, idx);
	return 0;
}

int heap_remove_segment(heap_t *h, uint32_t seg_id)
{
	uint32_t slot = heap_seg_slot(h, seg_id);
	if (slot == HEAP_NIL)
		return -ENOENT;
	struct heap_seg *s = &h->segs[slot];
	if (s->live != 0)
		return -EBUSY;
	memd_assert(s->used_pages == 0);
	uint32_t idx = PM_VAL(s->pm[0]);
	struct heap_run_node *r = &h->runs[idx];
	memd_assert(PM_KIND(s->pm[0]) == PM_FREE && r->npages == s->npages);
	heap_list_remove(h, idx);
	h->free_pages -= r->npages;
	if (r->dirty)
		h->dirty_pages -= r->npages;
	h->free_runs--;
	heap_node_release(h, idx);
	h->seg_pages -= s->npages;
	h->pm_bytes -= (uint64_t)s->npages * sizeof(uint32_t);
	heap_meta_realloc(h, s->pm, 0);
	memset(s, 0, sizeof(*s));
	h->nsegs--;
	return 0;
}

int heap_alloc(heap_t *h, uint64_t size, uint64_t *ref)
{
	if (memd_likely(size - 1 < HEAP_SMALL_MAX))
		return small_alloc(h, size_class(size), ref);
	if (size == 0 || pages_of(size) > HEAP_SEG_PAGES_MAX)
		return -EINVAL;
	return large_alloc(h, pages_of(size), 1, ref);
}

/* Smallest class at or above size whose slots are all aligned to align
 * (align <= HEAP_PAGE_SIZE, a power of two), or HEAP_CLASS_COUNT. */
static uint32_t aligned_class(uint64_t size, uint64_t align)
{
	const struct heap_class *ct = heap_classes();
	uint32_t cls = size_class(size < align ? align : size);
	while (cls < HEAP_CLASS_COUNT && ct[cls].size % align != 0)
		cls++;
	return cls;
}

int heap_alloc_aligned(heap_t *h, uint64_t size, uint64_t align, uint64_t *ref)
{
	if (align <= HEAP_MIN_ALIGN)
		return heap_alloc(h, size, ref);
	if (size == 0 || (align & (align - 1)) != 0 || align > MEMD_SEG_SIZE_MAX / 2)
		return -EINVAL;
	if (align <= HEAP_PAGE_SIZE && size <= HEAP_SMALL_MAX) {
		uint32_t cls = aligned_class(size, align);
		if (cls < HEAP_CLASS_COUNT)
			return small_alloc(h, cls, ref);
	}
	uint64_t align_pages = align > HEAP_PAGE_SIZE ? align / HEAP_PAGE_SIZE : 1;
	if (pages_of(size) + align_pages - 1 > HEAP_SEG_PAGES_MAX)
		return -EINVAL;
	return large_alloc(h, pages_of(size), align_pages, ref);
}

int heap_alloc_batch(heap_t *h, uint64_t size, uint64_t align, uint32_t count, uint64_t *refs,
                     uint32_t *got)
{
	uint32_t n = 0;
	int rc = 0;
	if (align <= HEAP_MIN_ALIGN && size - 1 < HEAP_SMALL_MAX) {
		/* The common batch: slots of one class, slab by slab. */
		rc = small_alloc_batch(h, size_class(size), count, refs, &n);
	} else {
		while (n < count && (rc = heap_alloc_aligned(h, size, align, &refs[n])) == 0)
			n++;
	}
	*got = n;
	return rc;
}

uint64_t heap_grow_size(uint64_t size, uint64_t align)
{
	if (size == 0 || (align & (align - 1)) != 0 || align > MEMD_SEG_SIZE_MAX / 2)
		return 0;
	if (align < HEAP_MIN_ALIGN)
		align = HEAP_MIN_ALIGN;
	if (size <= HEAP_SMALL_MAX && align <= HEAP_PAGE_SIZE) {
		uint32_t cls = aligned_class(size, align);
		if (cls < HEAP_CLASS_COUNT)
			return (uint64_t)heap_classes()[cls].pages * HEAP_PAGE_SIZE;
	}
	uint64_t align_pages = align > HEAP_PAGE_SIZE ? align / HEAP_PAGE_SIZE : 1;
	uint64_t pages = pages_of(size) + align_pages - 1;
	if (pages > HEAP_SEG_PAGES_MAX)
		return 0;
	/* Exact: a new segment's run is the head of its list, and heap_list_find()
	 * looks at the head of the request's own list first. */
	return pages * HEAP_PAGE_SIZE;
}

/* Decode ref into a segment slot and offset; NIL slot when out of range. */
static uint32_t ref_locate(const struct heap *h, uint64_t ref, uint64_t *off)
{
	uint32_t slot = heap_seg_slot(h, memd_ref_seg(ref));
	if (slot == HEAP_NIL)
		return HEAP_NIL;
	*off = memd_ref_off(ref);
	if ((*off >> HEAP_PAGE_SHIFT) >= h->segs[slot].npages)
		return HEAP_NIL;
	return slot;
}

/* heap_free_block's work, inlined into both entry points so that
 * heap_free pays neither a call nor the segment check it does not need. */
__attribute__((always_inline)) static inline int free_block(struct heap *h, uint64_t ref,
                                                            uint64_t *size)
{
	uint64_t off;
	uint32_t seg = ref_locate(h, ref, &off);
	if (memd_unlikely(seg == HEAP_NIL))
		return -EINVAL;
	uint32_t page = (uint32_t)(off >> HEAP_PAGE_SHIFT);
	uint32_t e = h->segs[seg].pm[page];
	int rc = -EINVAL;
	if (memd_likely(PM_KIND(e) == PM_SLAB))
		rc = small_free(h, seg, off, PM_VAL(e), size);
	else if (PM_KIND(e) == PM_LARGE && (off & (HEAP_PAGE_SIZE - 1)) == 0)
		rc = large_free(h, seg, page, PM_VAL(e), size);
	if (rc < 0)
		return rc;
	return h->segs[seg].live == 0;
}

int heap_free_block(heap_t *h, uint64_t ref, uint64_t *size)
{
	return free_block(h, ref, size);
}

int heap_free(heap_t *h, uint64_t ref)
{
	uint64_t size;
	int rc = free_block(h, ref, &size);
	return rc < 0 ? rc : 0;
}

int heap_block_size(const heap_t *h, uint64_t ref, uint64_t *size)
{
	uint64_t off;
	uint32_t seg = ref_locate(h, ref, &off);
	if (seg == HEAP_NIL)
		return -EINVAL;
	uint32_t e = h->segs[seg].pm[off >> HEAP_PAGE_SHIFT];
	if (PM_KIND(e) == PM_SLAB && slab_slot(h, seg, off, PM_VAL(e)) != HEAP_NIL) {
		*size = heap_classes()[h->slabs[PM_VAL(e)].cls].size;
		return 0;
	}
	if (PM_KIND(e) == PM_LARGE && (off & (HEAP_PAGE_SIZE - 1)) == 0) {
		*size = (uint64_t)PM_VAL(e) * HEAP_PAGE_SIZE;
		return 0;
	}
	return -EINVAL;
}
