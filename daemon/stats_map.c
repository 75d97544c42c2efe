/*
 * stats_map.c - STATS_MAP: a pool's page runs, one record per run, in
 * (segment, offset) order, paged like the other lists (stats_int.h).
 *
 * A free run the heap calls clean is punched only if its segment was ever
 * punched (in a first segment never punched it is still reserved), except
 * for the pages of a growth segment never reserved, shown as free: the
 * map has no kind of its own for them, and they were never given back.
 * Shared blocks are marked from the set's table of shared blocks.  The
 * pool's segment ids are copied into a malloc'd array freed in the same
 * call; the loop thread is the only caller.
 */
#include "stats.h"
#include "stats_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "heap.h"
#include "pool.h"
#include "ref.h"
#include "server.h"
#include "session.h"

/* ---- map ---------------------------------------------------------------- */

/* State of one heap_walk pass for a page of runs. */
struct stats_map_walk {
	struct stats_page *page;        /* the page being filled */
	uint64_t cursor;                /* first (segment, offset) key wanted */
	const struct pool_segment *seg; /* the walked segment; NULL if not found */
	bool seg_punched;               /* the walked segment was ever punched */
	bool full;                      /* the page is full: stop */
};

static const uint32_t stats_run_kinds[] = {
        [HEAP_RUN_FREE_DIRTY] = MEMD_RUN_FREE,
        [HEAP_RUN_FREE_CLEAN] = MEMD_RUN_PUNCHED,
        [HEAP_RUN_SLAB] = MEMD_RUN_SLAB,
        [HEAP_RUN_LARGE] = MEMD_RUN_LARGE,
};

/* Add rec to the page if it starts at or after the cursor.  false when
 * the page is full (the walk must stop). */
static bool stats_map_emit(struct stats_map_walk *w, const struct memd_stats_run *rec)
{
	uint64_t key = memd_ref_make(rec->seg_id, rec->off);

	if (key < w->cursor || rec->len == 0)
		return true;
	if (!stats_page_room(w->page, key)) {
		w->full = true;
		return false;
	}
	stats_page_add(w->page, rec);
	return true;
}

/* Add the clean free run rec of a growth segment as pieces: its pages
 * never reserved as free (they were never given back), the others
 * punched.  false when the page is full. */
static bool stats_map_emit_clean(struct stats_map_walk *w, struct memd_stats_run *rec)
{
	uint64_t off = rec->off, end = rec->off + rec->len, next;
	bool fresh;

	while (off < end) {
		fresh = pool_segment_page_fresh(w->seg, off);
		for (next = off + HEAP_PAGE_SIZE; next < end; next += HEAP_PAGE_SIZE)
			if (pool_segment_page_fresh(w->seg, next) != fresh)
				break;
		rec->kind = fresh ? MEMD_RUN_FREE : MEMD_RUN_PUNCHED;
		rec->off = off;
		rec->len = next - off;
		if (!stats_map_emit(w, rec))
			return false;
		off = next;
	}
	return true;
}

static int stats_map_visit(void *ctx, const struct heap_run *run)
{
	struct stats_map_walk *w = ctx;
	struct memd_stats_run rec;

	memset(&rec, 0, sizeof(rec));
	rec.seg_id = run->seg_id;
	rec.kind = stats_run_kinds[run->kind];
	/* A clean free run of a segment never punched is still reserved
	 * (a first segment, by posix_fallocate): backed by memory, not
	 * returned.  A growth segment's clean runs are split below. */
	if (run->kind == HEAP_RUN_FREE_CLEAN && !w->seg_punched)
		rec.kind = MEMD_RUN_FREE;
	rec.off = run->off;
	rec.len = run->len;
	rec.slot_size = run->slot_size;
	rec.slots = run->slots;
	rec.used = run->used;
	if (run->kind == HEAP_RUN_FREE_CLEAN && w->seg != NULL && w->seg->fresh_pages > 0)
		return stats_map_emit_clean(w, &rec) ? 0 : 1;
	return stats_map_emit(w, &rec) ? 0 : 1;
}

/* Count, in each run of the page, the shared blocks of pool that lie in
 * it (the runs are in key order: binary search). */
static void stats_map_shared(const struct pool_set *set, const struct pool *pool,
                             struct stats_page *page)
{
	uint8_t *recs = page->buf + sizeof(struct memd_stats_page);
	struct memd_stats_run run;
	struct shared_block *b;
	size_t cur = 0;

	while (blocks_next(&set->blocks, &cur, &b)) {
		size_t lo = 0, hi = page->count;

		if (b->pool != pool)
			continue;
		while (hi - lo > 1) { /* last run whose key is <= b->ref */
			size_t mid = lo + (hi - lo) / 2;

			memcpy(&run, recs + mid * page->rec_size, sizeof(run));
			if (memd_ref_make(run.seg_id, run.off) <= b->ref)
				lo = mid;
			else
				hi = mid;
		}
		if (page->count == 0)
			return;
		memcpy(&run, recs + lo * page->rec_size, sizeof(run));
		if (run.seg_id != memd_ref_seg(b->ref) || memd_ref_off(b->ref) < run.off ||
		    memd_ref_off(b->ref) >= run.off + run.len)
			continue;
		run.shared++;
		memcpy(recs + lo * page->rec_size, &run, sizeof(run));
	}
}

int stats_map(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	struct memd_stats_req r = stats_req(body);
	struct stats_map_walk w = {.cursor = r.cursor};
	const struct pool *pool;
	struct stats_page page;
	uint32_t *ids;
	size_t n;

	(void)body_len;
	pool = pool_set_get(&c->srv->pools, r.pool_id);
	if (pool == NULL)
		return -ENOENT;
	ids = malloc((pool->seg_count + 1) * sizeof(*ids));
	if (ids == NULL)
		return -ENOMEM;
	n = heap_segments(pool->heap, ids, pool->seg_count + 1);
	stats_page_init(&page, c, sizeof(struct memd_stats_run));
	w.page = &page;
	for (size_t i = 0; i < n && !w.full; i++) {
		struct pool_segment *seg;
		struct pool *owner;

		if (memd_ref_make(ids[i], MEMD_REF_OFFSET_MASK) < r.cursor)
			continue;
		w.seg = pool_segment_lookup(&c->srv->pools, ids[i], &owner, &seg) == 0 ? seg : NULL;
		w.seg_punched = w.seg == NULL || w.seg->punched;
		heap_walk(pool->heap, ids[i], stats_map_visit, &w);
	}
	free(ids);
	stats_map_shared(&c->srv->pools, pool, &page);
	return stats_page_reply(&page, c, h);
}
