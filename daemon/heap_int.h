/*
 * heap_int.h - the heap core's private state, shared by heap.c (allocate,
 * free, grow) and heap_walk.c (stats, walks, integrity checks).
 *
 * Everything here is indices and offsets: slabs, free-run nodes and bitmap
 * words live in arrays that grow by doubling through the realloc hook; links
 * between them are uint32 indices (HEAP_NIL for none).  The only pointers
 * are the array bases themselves.
 */
#ifndef MEMD_HEAP_INT_H
#define MEMD_HEAP_INT_H

#include "heap.h"

#include <stdbool.h>

#define HEAP_NIL UINT32_MAX

/* Page map entries: a kind in the top 4 bits, a 28-bit value below. */
#define PM_KIND_SHIFT 28
#define PM_VAL_MASK   ((UINT32_C(1) << PM_KIND_SHIFT) - 1)
enum pm_kind {
	PM_BODY = 0,       /* interior page of some run; value meaningless */
	PM_FREE = 1,       /* head or tail page of a free run; value: run node */
	PM_LARGE = 2,      /* head page of a large block; value: its pages */
	PM_LARGE_TAIL = 3, /* tail page of a large block (not also its head) */
	PM_SLAB = 4,       /* any page of a slab; value: slab index */
};
#define PM_MAKE(kind, val) (((uint32_t)(kind) << PM_KIND_SHIFT) | (uint32_t)(val))
#define PM_KIND(e)         ((e) >> PM_KIND_SHIFT)
#define PM_VAL(e)          ((e)&PM_VAL_MASK)
#define HEAP_SEG_PAGES_MAX PM_VAL_MASK /* pages a segment may have */
#define HEAP_INDEX_MAX     PM_VAL_MASK /* slabs and run nodes */

/* Two-level segregated fit over free page runs. */
#define TLSF_SL_BITS  3
#define TLSF_SL_COUNT (1u << TLSF_SL_BITS)
#define TLSF_FL_COUNT 27 /* runs below 2^29 pages */

/* Free runs sit in one of two tiers of TLSF lists, each its own segregated
 * fit: tier 0 holds warm runs (dirty, i.e. pages that may be resident, and
 * not the tail of their segment), tier 1 cold ones (returned to the OS, or
 * the run that ends the segment, which is where never-touched pages are).
 * A search tries tier 0 first, so resident memory is reused before fresh
 * memory is touched.  List (tier, fl, sl) is lists[TLSF_VFL(tier, fl)][sl]
 * and bit TLSF_VFL(tier, fl) of fl_bitmap says one of its sl lists is
 * non-empty. */
#define TLSF_TIERS      2
#define TLSF_VFL(t, fl) ((t)*TLSF_FL_COUNT + (fl))
#define TLSF_VFL_COUNT  (TLSF_TIERS * TLSF_FL_COUNT)

#define HEAP_CLASS_COUNT 72
#define SLAB_MAX_SLOTS   4096 /* 64 bitmap words under one summary word */
#define SLAB_MIN_BYTES   8192 /* a slab of fewer than 8 slots still holds this */

/* A size class: fixed facts computed once. */
struct heap_class {
	uint32_t size;   /* slot size in bytes */
	uint32_t pages;  /* pages per slab */
	uint32_t slots;  /* slots per slab */
	uint32_t nwords; /* bitmap words per slab */
	uint64_t magic;  /* ceil(2^40 / size): slot = (rel * magic) >> 40 */
};

/* Per-class mutable state. */
struct heap_bin {
	uint32_t partial; /* first slab with free slots (and >= 1 live) */
	uint32_t dead;    /* recycled slab structs of this class (bitmap kept) */
	uint64_t slabs;   /* live slabs (partial and full) */
	uint64_t used;    /* live slots */
};

/* A slab: a run of pages carved into equal slots of one class. */
struct heap_slab {
	uint32_t seg;     /* segment slot (id - seg_id_base) */
	uint32_t page;    /* first page; UINT32_MAX when the struct is dead */
	uint32_t bm;      /* index of the first bitmap word (1 bit = free slot) */
	uint16_t cls;     /* size class */
	uint16_t used;    /* live slots */
	uint64_t summary; /* bit w set: bitmap word w has a free slot */
	uint32_t next;    /* partial/dead list link */
	uint32_t prev;    /* partial list back link */
};
_Static_assert(sizeof(struct heap_slab) == 32, "heap_slab size");

/* A free page run. */
struct heap_run_node {
	uint32_t seg;    /* segment slot */
	uint32_t page;   /* first page */
	uint32_t npages; /* pages; 0 when the node is unused */
	uint32_t next;   /* TLSF list (or node free list) link */
	uint32_t prev;   /* TLSF list back link */
	uint16_t dirty;  /* 1: may hold resident pages; 0: returned to OS */
	uint16_t tier;   /* TLSF tier it is listed in (see TLSF_TIERS) */
};

/* A registered segment. */
struct heap_seg {
	uint32_t *pm;        /* page map, one entry per page; NULL: unused slot */
	uint32_t npages;     /* pages in the segment */
	uint32_t used_pages; /* pages not in free runs */
	uint64_t live;       /* live blocks in this segment */
};

struct heap {
	heap_realloc_fn realloc; /* metadata memory hook */
	void *realloc_ctx;       /* its context */
	uint32_t seg_base;       /* first segment id */
	uint32_t seg_count;      /* ids in range */

	struct heap_seg *segs; /* segment slots, indexed by id - base */
	uint32_t segs_cap;     /* slots allocated (grows up to seg_count) */
	uint32_t nsegs;        /* registered segments */

	struct heap_slab *slabs; /* slab structs */
	uint32_t slab_len;       /* used prefix of slabs */
	uint32_t slab_cap;       /* capacity */

	uint64_t *words;   /* slab bitmap words */
	uint32_t word_len; /* used prefix */
	uint32_t word_cap; /* capacity */

	struct heap_run_node *runs; /* free run nodes */
	uint32_t run_len;           /* used prefix */
	uint32_t run_cap;           /* capacity */
	uint32_t run_free;          /* unused node list */

	uint64_t fl_bitmap;                            /* bit v: some sl list non-empty */
	uint8_t sl_bitmap[TLSF_VFL_COUNT];             /* bit s: list (v, s) non-empty */
	uint32_t lists[TLSF_VFL_COUNT][TLSF_SL_COUNT]; /* free run list heads */

	struct heap_bin bins[HEAP_CLASS_COUNT]; /* per-class state */

	uint64_t alloc_runs;  /* slabs + large blocks */
	uint64_t live_blocks; /* blocks allocated and not freed */
	uint64_t live_bytes;  /* their usable bytes */
	uint64_t slab_pages;  /* pages held by slabs */
	uint64_t large_pages; /* pages held by large blocks */
	uint64_t free_pages;  /* pages in free runs */
	uint64_t free_runs;   /* free runs */
	uint64_t dirty_pages; /* free run pages not returned */
	uint64_t seg_pages;   /* pages in all segments */
	uint64_t pm_bytes;    /* bytes of all page maps */
};

/* The class table (computed on first heap_create). */
extern const struct heap_class *heap_classes(void);

/* Segment slot of a segment id, or HEAP_NIL if not registered. */
static inline uint32_t heap_seg_slot(const struct heap *h, uint32_t seg_id)
{
	uint32_t s = seg_id - h->seg_base;
	if (s >= h->segs_cap || h->segs[s].pm == NULL)
		return HEAP_NIL;
	return s;
}

/* TLSF list of a run of n pages (n >= 1). */
static inline void tlsf_mapping(uint32_t n, uint32_t *fl, uint32_t *sl)
{
	if (n < TLSF_SL_COUNT) {
		*fl = 0;
		*sl = n;
		return;
	}
	uint32_t k = 31u - (uint32_t)__builtin_clz(n);
	*fl = k - TLSF_SL_BITS + 1;
	*sl = (n >> (k - TLSF_SL_BITS)) - TLSF_SL_COUNT;
}

/* The tier a free run belongs in: warm (0) when it may hold resident pages
 * and does not end its segment, else cold (1). */
static inline uint32_t tlsf_tier(const struct heap *h, const struct heap_run_node *r)
{
	return !r->dirty || r->page + r->npages == h->segs[r->seg].npages;
}

/* Number of pages in the slab or large run whose head entry is e. */
uint32_t heap_run_pages(const struct heap *h, const struct heap_seg *s, uint32_t page);

/* ---- heap_runs.c: free page runs (used by heap.c) ---------------------- */

/* realloc through the heap's allocator hook (size 0 frees). */
void *heap_meta_realloc(struct heap *h, void *p, size_t size);

/* Grow *arr (capacity *cap, keep elements live) to hold need elements of
 * esz bytes, doubling.  0 or -ENOMEM. */
int heap_grow_array(struct heap *h, void **arr, uint32_t *cap, uint64_t need, uint32_t keep,
                    size_t esz);

/* Put free run node idx on its TLSF list. */
void heap_list_insert(struct heap *h, uint32_t idx);

/* Take free run node idx off its TLSF list. */
void heap_list_remove(struct heap *h, uint32_t idx);

/* A free run node of at least n pages (the warm tier first), or HEAP_NIL. */
uint32_t heap_list_find(const struct heap *h, uint32_t n);

/* Return run node idx to the unused list. */
void heap_node_release(struct heap *h, uint32_t idx);

/* Take n pages from the front of free run idx; the first page taken. */
uint32_t heap_run_take(struct heap *h, uint32_t idx, uint32_t n, uint32_t *seg);

/* Give pages [page, page + n) of segment slot seg back, merging. */
void heap_run_give(struct heap *h, uint32_t seg, uint32_t page, uint32_t n);

/* Room for more_runs more allocated runs' free neighbours.  0, -ENOMEM. */
int heap_ensure_nodes(struct heap *h, uint32_t more_runs);

/* A run of n pages: 0 with *seg and *page, or -ENOMEM. */
int heap_pages_alloc(struct heap *h, uint32_t n, uint32_t *seg, uint32_t *page);

#endif /* MEMD_HEAP_INT_H */
