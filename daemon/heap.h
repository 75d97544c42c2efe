/*
 * heap.h - the allocator core: a pure, out-of-band heap over segments.
 *
 * The core manages byte offsets inside segments it is told about and hands
 * out references (common/ref.h: segment id << 40 | offset).  It never reads
 * or writes the managed memory; every header, bitmap and free list lives in
 * memory the core owns (obtained through the realloc hook, in large steps).
 * It performs no I/O and no system calls, and its state is made of indices
 * and offsets, never raw pointers into managed memory.
 *
 * Layout: a segment is an array of HEAP_PAGE_SIZE pages.  Blocks up to
 * HEAP_SMALL_MAX bytes come from size-class slabs (runs of pages carved into
 * equal slots, one bit per slot); larger blocks are page runs found with a
 * two-level segregated fit (TLSF) over free runs, coalesced immediately via
 * boundary tags kept in a private per-segment page map.  Allocation and free
 * are O(1).  Every block is at least 16-byte aligned; slab slots whose size
 * is a power of two are aligned to that size (up to a page); page runs are
 * page aligned.
 *
 * Growth: when no segment can satisfy a request, heap_alloc() returns
 * -ENOMEM; heap_grow_size() says how large a new segment must be, the caller
 * creates one and registers it with heap_add_segment(), then retries.
 *
 * Thread safety: none.  A heap is used by one thread at a time.
 */
#ifndef MEMD_HEAP_H
#define MEMD_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_PAGE_SHIFT 12
#define HEAP_PAGE_SIZE  (1u << HEAP_PAGE_SHIFT) /* granule of page runs */
#define HEAP_MIN_ALIGN  16u                     /* every block's alignment */
#define HEAP_SMALL_MAX  (32u * 1024u)           /* largest slab-class size */

typedef struct heap heap_t;

/* Memory hook for the core's own metadata: realloc semantics (size 0
 * frees).  NULL in heap_options means the C library's realloc/free. */
typedef void *(*heap_realloc_fn)(void *ctx, void *ptr, size_t size);

struct heap_options {
	uint32_t seg_id_base;    /* first segment id this heap may use (>= 1) */
	uint32_t seg_id_count;   /* ids [base, base + count) are this heap's */
	heap_realloc_fn realloc; /* metadata memory; NULL: libc realloc */
	void *realloc_ctx;       /* passed to realloc */
};

/* Create an empty heap (no segments).  0, -EINVAL on a bad option (base 0,
 * count 0, range past MEMD_SEG_ID_MAX), -ENOMEM. */
int heap_create(const struct heap_options *opt, heap_t **out);

/* Destroy a heap and all its metadata.  Live blocks are forgotten. */
void heap_destroy(heap_t *h);

/* Register a segment of size bytes under seg_id.  size must be a non-zero
 * multiple of HEAP_PAGE_SIZE, at most MEMD_SEG_SIZE_MAX.  0, -EINVAL (bad
 * size or id outside the heap's range), -EEXIST (id in use), -ENOMEM. */
int heap_add_segment(heap_t *h, uint32_t seg_id, uint64_t size);

/* Forget an empty segment.  0, -ENOENT (unknown id), -EBUSY (it still holds
 * live blocks). */
int heap_remove_segment(heap_t *h, uint32_t seg_id);

/* Allocate size bytes (16-byte aligned).  0 and *ref set; -EINVAL (size 0
 * or larger than any segment can be); -ENOMEM (no segment has room: see
 * heap_grow_size) or metadata exhausted. */
int heap_alloc(heap_t *h, uint64_t size, uint64_t *ref);

/* Allocate size bytes aligned to align (a power of two; values below 16
 * mean 16).  Same errors as heap_alloc, plus -EINVAL for a bad align. */
int heap_alloc_aligned(heap_t *h, uint64_t size, uint64_t align, uint64_t *ref);

/* Allocate up to count blocks as count calls of heap_alloc_aligned(size,
 * align) would, into refs[0..], stopping at the first error.  *got is the
 * number allocated; returns 0 when all count were, else the error that
 * stopped the batch. */
int heap_alloc_batch(heap_t *h, uint64_t size, uint64_t align, uint32_t count, uint64_t *refs,
                     uint32_t *got);

/* Smallest segment size (a multiple of HEAP_PAGE_SIZE) that lets
 * heap_alloc_aligned(size, align) succeed when a segment of that size is
 * added just before the call; 0 if the request can never be satisfied
 * (bad size or align). */
uint64_t heap_grow_size(uint64_t size, uint64_t align);

/* Free the live block that starts at ref.  0, or -EINVAL (and nothing
 * changes) when ref is not the start of a live block: null, unknown
 * segment, past the end, interior offset, or already free. */
int heap_free(heap_t *h, uint64_t ref);

/* heap_free, saying what it freed: *size is the block's usable size (what
 * heap_block_size said of it).  1 when it was the last live block of its
 * segment, 0 when the segment holds others, -EINVAL (and nothing changes)
 * as heap_free.  One validation of ref serves both the size and the free. */
int heap_free_block(heap_t *h, uint64_t ref, uint64_t *size);

/* Usable size of the live block at ref (its size class or page run, >= the
 * size asked for).  0, or -EINVAL as heap_free would refuse ref. */
int heap_block_size(const heap_t *h, uint64_t ref, uint64_t *size);

/* Totals, maintained incrementally (heap_stats is O(classes)). */
struct heap_stats {
	uint64_t segments;         /* registered segments */
	uint64_t reserved_bytes;   /* sum of segment sizes */
	uint64_t live_blocks;      /* blocks allocated and not freed */
	uint64_t live_bytes;       /* usable bytes of live blocks */
	uint64_t slab_bytes;       /* pages held by slabs (incl. free slots) */
	uint64_t large_bytes;      /* pages held by large blocks */
	uint64_t free_bytes;       /* reserved - live (free pages + free slots) */
	uint64_t free_run_bytes;   /* bytes in free page runs */
	uint64_t free_runs;        /* number of free page runs */
	uint64_t largest_free_run; /* bytes in the largest free page run */
	uint64_t dirty_free_bytes; /* free run bytes not yet returned to the OS */
	uint64_t meta_bytes;       /* bytes of metadata the core holds */
	double fragmentation;      /* 1 - largest_free_run / free_run_bytes */
	double utilization;        /* live_bytes / (slab_bytes + large_bytes) */
};

/* Fill *st.  Never fails. */
void heap_stats(const heap_t *h, struct heap_stats *st);

/* Per-size-class occupancy. */
struct heap_class_stats {
	uint32_t size;       /* slot size in bytes */
	uint32_t slab_bytes; /* bytes of one slab of this class */
	uint64_t slabs;      /* slabs of this class */
	uint64_t slots;      /* slots in those slabs */
	uint64_t used;       /* slots holding live blocks */
};

/* Number of size classes (classes are 0 .. count-1). */
unsigned heap_class_count(void);

/* Fill *out for class cls.  0, -EINVAL (cls out of range). */
int heap_class_stats(const heap_t *h, unsigned cls, struct heap_class_stats *out);

/* Callback for heap_dirty_runs: a free run [off, off + len) of seg_id that
 * has not been returned to the OS.  Return 0 once the caller returned it
 * (the run is then marked clean), non-zero to leave it dirty. */
typedef int (*heap_run_fn)(void *ctx, uint32_t seg_id, uint64_t off, uint64_t len);

/* Visit every dirty free run of at least min_bytes.  Returns the number of
 * bytes marked clean.  O(free runs); meant for periodic trimming. */
uint64_t heap_dirty_runs(heap_t *h, uint64_t min_bytes, heap_run_fn fn, void *ctx);

/* Kinds of page runs reported by heap_walk. */
enum heap_run_kind {
	HEAP_RUN_FREE_DIRTY, /* free pages that may still be resident */
	HEAP_RUN_FREE_CLEAN, /* free pages returned to the OS */
	HEAP_RUN_SLAB,       /* a slab; used/slots tell its occupancy */
	HEAP_RUN_LARGE,      /* one large block */
};

struct heap_run {
	uint32_t seg_id;         /* segment */
	enum heap_run_kind kind; /* what the run is */
	uint64_t off;            /* byte offset of the run */
	uint64_t len;            /* bytes in the run */
	uint32_t slot_size;      /* slabs: slot size; else 0 */
	uint32_t slots;          /* slabs: slots; large: 1; free: 0 */
	uint32_t used;           /* slabs: live slots; large: 1; free: 0 */
};

/* Visit the runs of one segment in address order.  fn returns non-zero to
 * stop early.  0, -ENOENT (unknown segment). */
int heap_walk(const heap_t *h, uint32_t seg_id, int (*fn)(void *ctx, const struct heap_run *run),
              void *ctx);

/* Visit every live block (ref and usable size) in address order of each
 * segment.  fn returns non-zero to stop.  O(pages + slots). */
void heap_walk_blocks(const heap_t *h, int (*fn)(void *ctx, uint64_t ref, uint64_t size),
                      void *ctx);

/* Integrity walker: verify every invariant (page map and free lists agree,
 * runs tile each segment, free runs are coalesced, bitmaps match counters,
 * stats add up).  0 when consistent; -EFAULT with a description of the
 * first problem in err (if errlen > 0). */
int heap_check(const heap_t *h, char *err, size_t errlen);

/* Ids of the registered segments: fills up to cap ids, returns the count. */
size_t heap_segments(const heap_t *h, uint32_t *ids, size_t cap);

/* Segment facts for the pool layer. */
struct heap_segment_info {
	uint64_t size;        /* bytes */
	uint64_t used_bytes;  /* bytes not in free runs */
	uint64_t live_blocks; /* live blocks in this segment */
};

/* 0, -ENOENT. */
int heap_segment_info(const heap_t *h, uint32_t seg_id, struct heap_segment_info *out);

#endif /* MEMD_HEAP_H */
