/*
 * pool_pages.c - the page maps of a pool's segments (pool_pages.h), and
 * the resident and punched figures memctl shows (pool_memory, pool.h).
 *
 * A segment's holes map has a bit per page not reserved now: punched by a
 * trim and not reserved again, or (in a growth segment) never reserved.
 * Handing a block out reserves the holes under it first (one fallocate
 * over the span), so no client can fault on a page /dev/shm cannot back.
 * A growth segment's fresh map marks the pages never reserved since it was
 * made: they are neither resident nor "punched" (memory given back), so
 * memctl counts them apart.  The first segment of a pool is reserved whole
 * at creation and gets a holes map only when something is first punched
 * in it; it never has a fresh map.
 */
#include "pool_pages.h"

#include "debug.h"
#include "heap.h"
#include "shm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 64-bit words of a page map (a bit per page) of a segment of size bytes. */
static size_t map_words(uint64_t size)
{
	return (size_t)((size / HEAP_PAGE_SIZE + 63) / 64);
}

static bool bit_test(const uint64_t *map, uint64_t pg)
{
	return (map[pg / 64] >> (pg % 64)) & 1;
}

static void bit_set(uint64_t *map, uint64_t pg)
{
	map[pg / 64] |= UINT64_C(1) << (pg % 64);
}

static void bit_clear(uint64_t *map, uint64_t pg)
{
	map[pg / 64] &= ~(UINT64_C(1) << (pg % 64));
}

int pages_init_fresh(struct pool_segment *seg, uint64_t size)
{
	size_t words = map_words(size);
	uint64_t pages = size / HEAP_PAGE_SIZE;

	seg->holes = malloc(2 * words * sizeof(uint64_t));
	if (seg->holes == NULL)
		return -ENOMEM;
	seg->fresh = seg->holes + words;
	memset(seg->holes, 0xff, words * sizeof(uint64_t));
	if (pages % 64 != 0) /* no bits past the last page */
		seg->holes[words - 1] = (UINT64_C(1) << (pages % 64)) - 1;
	memcpy(seg->fresh, seg->holes, words * sizeof(uint64_t));
	seg->fresh_pages = pages;
	return 0;
}

uint64_t pages_mark_holes(struct pool_segment *seg, uint64_t lo, uint64_t hi)
{
	uint64_t given = 0;

	if (seg->holes == NULL) {
		seg->holes = calloc(map_words(seg->size), sizeof(uint64_t));
		if (seg->holes == NULL) {
			seg->punched = true;
			return hi - lo;
		}
	}
	for (uint64_t pg = lo / HEAP_PAGE_SIZE; pg < hi / HEAP_PAGE_SIZE; pg++) {
		if (!bit_test(seg->holes, pg))
			given += HEAP_PAGE_SIZE;
		bit_set(seg->holes, pg);
	}
	return given;
}

int pages_fill_holes(struct pool_segment *seg, uint64_t lo, uint64_t hi)
{
	uint64_t first = UINT64_MAX, last = 0;

	if (seg->holes == NULL)
		return seg->punched && shm_reserve(seg->fd, lo, hi - lo) < 0 ? -ENOMEM : 0;
	for (uint64_t pg = lo / HEAP_PAGE_SIZE; pg < hi / HEAP_PAGE_SIZE; pg++) {
		if (!bit_test(seg->holes, pg))
			continue;
		first = first == UINT64_MAX ? pg : first;
		last = pg;
	}
	if (first == UINT64_MAX)
		return 0;
	if (shm_reserve(seg->fd, first * HEAP_PAGE_SIZE, (last - first + 1) * HEAP_PAGE_SIZE) < 0)
		return -ENOMEM;
	for (uint64_t pg = first; pg <= last; pg++) {
		bit_clear(seg->holes, pg);
		if (seg->fresh != NULL && bit_test(seg->fresh, pg)) {
			bit_clear(seg->fresh, pg);
			seg->fresh_pages--;
		}
	}
	return 0;
}

bool pool_segment_page_fresh(const struct pool_segment *seg, uint64_t off)
{
	memd_assert(off < seg->size);
	return seg->fresh != NULL && bit_test(seg->fresh, off / HEAP_PAGE_SIZE);
}

/* Bytes of seg backed by memory now: tmpfs blocks, at most its size.  A
 * segment fstat cannot describe counts as backed wherever it was ever
 * reserved. */
static uint64_t seg_resident(const struct pool_segment *seg)
{
	struct stat st;

	if (fstat(seg->fd, &st) < 0)
		return seg->size - seg->fresh_pages * HEAP_PAGE_SIZE;
	if ((uint64_t)st.st_blocks * 512u < seg->size)
		return (uint64_t)st.st_blocks * 512u;
	return seg->size;
}

/* A client writing where it holds no block can make a growth segment more
 * resident than the pool reserved it: its punched bytes then stop at 0. */
void pool_memory(const struct pool *pool, uint64_t *resident, uint64_t *punched)
{
	*resident = 0;
	*punched = 0;
	for (size_t i = 0; i < pool->seg_count; i++) {
		const struct pool_segment *seg = &pool->segs[i];
		uint64_t res = seg_resident(seg), fresh = seg->fresh_pages * HEAP_PAGE_SIZE;

		*resident += res;
		if (seg->size - res > fresh)
			*punched += seg->size - res - fresh;
	}
}
