/*
 * pool_pages.h - the page maps of a pool's segments: which pages are not
 * reserved now (holes: punched, or in a growth segment never reserved)
 * and which were never reserved since the segment was made (fresh).
 * pool.c keeps them true as it creates segments, hands blocks out
 * (reserving the holes under them first) and punches free runs; memctl's
 * figures read them through pool_memory() (pool.h).  Internal to pool.c
 * and pool_pages.c.
 */
#ifndef MEMD_POOL_PAGES_H
#define MEMD_POOL_PAGES_H

#include <stdint.h>

#include "pool.h"

/* Give a growth segment of size bytes its page maps, every page a hole
 * and fresh (nothing of it is reserved yet): holes and fresh share one
 * allocation, freed with seg->holes.  0 or -ENOMEM. */
int pages_init_fresh(struct pool_segment *seg, uint64_t size);

/* Mark pages [lo, hi) (byte offsets, page multiples) of seg, just
 * punched, as holes.  Returns the bytes of those pages that were reserved
 * before (not holes already): what the punch gave back.  The first
 * segment gets its map on its first punch; without memory for it, the
 * whole segment counts as punched from then on (every later reserve calls
 * fallocate: slower, still right).  A growth segment has its maps from
 * creation. */
uint64_t pages_mark_holes(struct pool_segment *seg, uint64_t lo, uint64_t hi);

/* Reserve whatever of pages [lo, hi) of seg is a hole (punched, or never
 * reserved): one fallocate over the span from the first to the last hole
 * page, none if there is none.  0 or -ENOMEM (maps unchanged; tmpfs keeps
 * no page of a failed fallocate). */
int pages_fill_holes(struct pool_segment *seg, uint64_t lo, uint64_t hi);

#endif
